//! The worker's protocol, natively: the page's sequence of requests (load, detect and embed,
//! train, recognise, restore a saved head) on real weights and real LFW photos, and the replies to
//! bad input and to photos without a face.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use facelab::backbone::{BackboneId, FACERES};
use facelab::compute::{Backend, Crop, ComputeService, NO_FACE, Reply, Request};
use facelab::detector::DETECTOR;
use facelab::preprocess::RgbImage;
use facelab::weights::{f32_bytes, f32_values};
use facelab::dataset::{data_root, require, weights_dir};

/// The CPU backends finish every future at once; nothing here waits on I/O.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
    }
}

/// Sends a request; returns the progress replies and the final reply with its bytes.
fn ask(service: &mut ComputeService, request: Request, bytes: Vec<u8>) -> (Vec<Reply>, Reply, Vec<u8>) {
    let mut replies = Vec::new();
    block_on(service.handle(request, bytes, |reply, out| replies.push((reply, out))));
    let (last, out) = replies.pop().expect("a final reply");
    assert!(last.is_final() && replies.iter().all(|(r, _)| !r.is_final()));
    (replies.into_iter().map(|(r, _)| r).collect(), last, out)
}

fn photo(person: &str, number: usize) -> Vec<u8> {
    let lfw = require(&data_root().join("lfw5/lfw"), "the LFW-5 data (shared/data/lfw5) belongs here; set FACELAB_DATA")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::read(lfw.join(person).join(format!("{person}_{number:04}.jpg"))).unwrap()
}

#[test]
fn the_pages_requests_on_real_photos() {
    let weights = std::fs::read(weights_dir().join(FACERES.weights_file))
        .expect("faceres weights: run `cargo run --release --bin weights -- fetch`");
    let mut service = ComputeService::default();

    let embed = Request::Embed { crop: Crop::Detect };
    let (_, reply, _) = ask(&mut service, embed.clone(), photo("Tony_Blair", 1));
    assert_eq!(reply, Reply::Failed { error: "the backbone is not loaded yet".into() });
    let (_, reply, _) = ask(&mut service, Request::Load { backbone: BackboneId::FaceRes, backend: Backend::WebGpu }, weights.clone());
    assert!(matches!(reply, Reply::Failed { error } if error.contains("WebGPU")), "natively there is no WebGPU");
    let (_, reply, _) = ask(&mut service, Request::Load { backbone: BackboneId::FaceRes, backend: Backend::Flex }, weights);
    assert_eq!(reply, Reply::Loaded { backend: Backend::Flex });
    let detector = std::fs::read(weights_dir().join(DETECTOR.weights_file)).expect("detector weights: run the weights tool");
    assert_eq!(ask(&mut service, Request::LoadDetector, detector.clone()).1, Reply::DetectorLoaded);

    let people = ["Colin_Powell", "Tony_Blair"];
    let mut rows = Vec::new();
    for person in people {
        for number in 1..=6 {
            let (_, reply, _) = ask(&mut service, Request::Embed { crop: Crop::DetectCentral }, photo(person, number));
            let Reply::Embedded { width: 250, height: 250, mut faces } = reply else { panic!("{person} {number}: {reply:?}") };
            assert_eq!(faces.len(), 1, "the central face only");
            let face = faces.remove(0);
            assert_eq!(face.embedding.len(), 1024);
            assert!(face.thumbnail_png.starts_with(b"\x89PNG") && face.score > 0.75);
            rows.push(face.embedding);
        }
    }
    // Photos 1-5 of each train, photo 6 of each tests.
    let train: Vec<Vec<f32>> = [&rows[0..5], &rows[6..11]].concat();
    let test = vec![rows[5].clone(), rows[11].clone()];
    let labels = [vec![0; 5], vec![1; 5]].concat();
    let request = Request::Train { labels, classes: 2, test_rows: 2, seed: 42 };
    let (epochs, reply, saved_head) = ask(&mut service, request, f32_bytes(train.iter().chain(&test).flatten()));
    assert_eq!(epochs.len(), 10);
    assert_eq!(reply, Reply::Trained { test_predictions: vec![0, 1] });

    let recognise = |service: &mut ComputeService| {
        let (_, reply, _) = ask(service, Request::Recognise, photo("Tony_Blair", 7));
        let Reply::Recognised { faces, .. } = reply else { panic!("{reply:?}") };
        let central = faces.iter().min_by(|a, b| (a.bbox[0] - 100.0).abs().total_cmp(&(b.bbox[0] - 100.0).abs())).unwrap();
        central.probabilities.clone()
    };
    let before = recognise(&mut service);
    assert!(before[1] > 0.5, "an unseen Blair photo is Blair: {before:?}");

    // A fresh worker (a reload) gets the saved head and answers the same.
    let mut restored = ComputeService::default();
    let weights = std::fs::read(weights_dir().join(FACERES.weights_file)).unwrap();
    ask(&mut restored, Request::Load { backbone: BackboneId::FaceRes, backend: Backend::Flex }, weights);
    ask(&mut restored, Request::LoadDetector, detector);
    assert_eq!(ask(&mut restored, Request::SetHead, saved_head).1, Reply::HeadSet);
    assert_eq!(recognise(&mut restored), before);

    // The reference crop skips the detector: one face, LFW's rows/cols 60..188.
    let (_, reply, _) = ask(&mut service, Request::Embed { crop: Crop::Reference }, photo("Tony_Blair", 1));
    assert!(matches!(&reply, Reply::Embedded { faces, .. } if faces.len() == 1 && faces[0].bbox == [60.0, 60.0, 128.0, 128.0]), "{reply:?}");
    let gradient: Vec<u8> = (0..256 * 256).flat_map(|i| [(i % 256) as u8, (i / 256) as u8, 128]).collect();
    let no_face = RgbImage::new(256, 256, gradient).to_png();
    for (bytes, expected) in [(b"not an image".to_vec(), "image"), (Vec::new(), "image"), (no_face, NO_FACE)] {
        let (_, reply, _) = ask(&mut service, embed.clone(), bytes);
        assert!(matches!(&reply, Reply::Failed { error } if error.contains(expected)), "{reply:?}");
    }
    let (_, reply, _) = ask(&mut service, Request::SetHead, b"garbage".to_vec());
    assert!(matches!(reply, Reply::Failed { .. }));
}

#[test]
fn a_batch_of_pixels_embeds_like_the_photos_one_by_one() {
    let weights = std::fs::read(weights_dir().join(FACERES.weights_file))
        .expect("faceres weights: run `cargo run --release --bin weights -- fetch`");
    let mut service = ComputeService::default();
    ask(&mut service, Request::Load { backbone: BackboneId::FaceRes, backend: Backend::Flex }, weights);
    let side = FACERES.input_size;
    let inputs: Vec<RgbImage> = [("Colin_Powell", 1), ("Tony_Blair", 2), ("Tony_Blair", 3)]
        .iter()
        .map(|&(person, number)| RgbImage::decode(&photo(person, number)).unwrap().face_crop().resize_bilinear(side, side))
        .collect();

    let pixels: Vec<u8> = inputs.iter().flat_map(|i| i.pixels.clone()).collect();
    let (_, reply, bytes) = ask(&mut service, Request::EmbedPixels { count: 3 }, pixels.clone());
    assert_eq!(reply, Reply::EmbeddedPixels { dim: 1024 });
    let batch = f32_values(&bytes);
    assert_eq!(batch.len(), 3 * 1024);
    for (i, input) in inputs.iter().enumerate() {
        let (_, _, one) = ask(&mut service, Request::EmbedPixels { count: 1 }, input.pixels.clone());
        let one = f32_values(&one);
        let diff = one.iter().zip(&batch[i * 1024..(i + 1) * 1024]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-3, "image {i}: batch and single differ by {diff}");
    }
    let (_, reply, _) = ask(&mut service, Request::EmbedPixels { count: 2 }, pixels);
    assert!(matches!(&reply, Reply::Failed { error } if error.contains("not 2 RGB images of 224x224")), "{reply:?}");
}
