//! The page's flow, natively, through the same typed client the page uses (over a service in this
//! process instead of a Web Worker): load, detect and embed real LFW photos into a roster, plan
//! and train, recognise with the open-set verdict, restore a saved head; and the typed errors for
//! bad input and photos without a face.
// Native only (files, rayon): `wasm-pack test` builds every test target for wasm32.
#![cfg(not(target_arch = "wasm32"))]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use facelab::backbone::{BackboneId, DLIB_RESNET, FACERES};
use facelab::compute::{BurnBackend, ComputeClient, ComputeError, CropMode, InProcess};
use facelab::dataset::{data_root, require, weights_dir};
use facelab::detector::DETECTOR;
use facelab::model::TrainingPlan;
use facelab::openset::{OpenSet, Verdict};
use facelab::preprocess::{ImageError, RgbImage};
use facelab::roster::{Photo, Roster};

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

fn photo(person: &str, number: usize) -> Vec<u8> {
    let lfw = require(&data_root().join("lfw5/lfw"), "the LFW-5 data (shared/data/lfw5) belongs here; set FACELAB_DATA")
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::read(lfw.join(person).join(format!("{person}_{number:04}.jpg"))).unwrap()
}

fn weights(file: &str) -> Vec<u8> {
    std::fs::read(weights_dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}: run `cargo run --release --bin weights -- fetch`"))
}

/// A client with faceres on the CPU and the detector.
fn loaded() -> ComputeClient<InProcess> {
    let client = ComputeClient::new(InProcess::default());
    assert_eq!(block_on(client.load(BackboneId::FaceRes, BurnBackend::Flex, &weights(FACERES.weights_file))), Ok(BurnBackend::Flex));
    block_on(client.load_detector(&weights(DETECTOR.weights_file))).unwrap();
    client
}

#[test]
fn the_pages_flow_on_real_photos() {
    let client = ComputeClient::new(InProcess::default());
    let blair = photo("Tony_Blair", 1);
    assert_eq!(block_on(client.embed(&blair, CropMode::Detect)), Err(ComputeError::NotLoaded));
    let faceres = weights(FACERES.weights_file);
    assert_eq!(block_on(client.load(BackboneId::FaceRes, BurnBackend::WebGpu, &faceres)), Err(ComputeError::NoWebGpu), "natively there is no WebGPU");
    let client = loaded();

    // Photos 1-6 of two people enrolled (the central face of each), one held out per person.
    let people = ["Colin_Powell", "Tony_Blair"];
    let mut roster = Roster::default();
    for person in people {
        let id = roster.add_person(person).unwrap();
        for number in 1..=6 {
            let embedded = block_on(client.embed(&photo(person, number), CropMode::DetectCentral)).unwrap();
            assert_eq!((embedded.width, embedded.height, embedded.faces.len()), (250, 250, 1), "{person} {number}: the central face only");
            let face = embedded.faces.into_iter().next().unwrap();
            assert_eq!(face.embedding.len(), 1024);
            assert!(face.thumbnail_png.starts_with(b"\x89PNG") && face.score > 0.75);
            assert!(face.picture.jpeg.starts_with(b"\xff\xd8") && face.picture.face.is_some(), "a face picture is kept");
            roster.add_photo(id, Photo::new(format!("{number}.jpg"), BackboneId::FaceRes, face.embedding, face.thumbnail_png, Some(face.picture)));
        }
    }
    roster.check().unwrap();
    let plan = TrainingPlan::new(&roster, BackboneId::FaceRes, 1.0 / 6.0, 42).unwrap();
    assert_eq!((plan.train.0.len(), plan.test.0.len()), (10, 2));
    let mut epochs = 0;
    let model = block_on(client.train(plan, &mut |_| epochs += 1)).unwrap();
    assert_eq!(epochs, 10);
    let report = model.report.clone().unwrap();
    assert_eq!((report.confusion.accuracy(), report.train_photos), (1.0, 10));
    assert!(model.unknown.is_some(), "calibrated on the held-out photos");

    // An unseen Blair photo: the central face is Blair, by the head and the open-set verdict.
    let recognise = |client: &ComputeClient<InProcess>| {
        let recognised = block_on(client.recognise(&photo("Tony_Blair", 7))).unwrap();
        let central = recognised.faces.into_iter().min_by(|a, b| (a.bbox[0] - 100.0).abs().total_cmp(&(b.bbox[0] - 100.0).abs())).unwrap();
        (central.probabilities, central.embedding)
    };
    let (before, embedding) = recognise(&client);
    assert!(before[1] > 0.5, "an unseen Blair photo is Blair: {before:?}");
    let verdict = OpenSet::new(&model, &roster, 0.5).verdict(&before, &embedding);
    assert!(matches!(&verdict, Verdict::Known { name, .. } if name == "Tony_Blair"), "{verdict:?}");

    // A fresh worker (a reload) gets the saved head and answers the same.
    let restored = loaded();
    assert_eq!(block_on(restored.recognise(&blair)).unwrap_err(), ComputeError::NotTrained);
    block_on(restored.set_head(&model.head)).unwrap();
    assert_eq!(recognise(&restored).0, before);

    // The reference crop skips the detector: one face, LFW's rows/cols 60..188.
    let reference = block_on(client.embed(&blair, CropMode::Reference)).unwrap();
    assert_eq!(reference.faces.iter().map(|f| f.bbox).collect::<Vec<_>>(), vec![[60.0, 60.0, 128.0, 128.0]]);
    let gradient: Vec<u8> = (0..256 * 256).flat_map(|i| [(i % 256) as u8, (i / 256) as u8, 128]).collect();
    let no_face = RgbImage::new(256, 256, gradient).to_png();
    for bytes in [b"not an image".to_vec(), Vec::new()] {
        let error = block_on(client.embed(&bytes, CropMode::Detect)).unwrap_err();
        assert!(matches!(error, ComputeError::Image(ImageError::Undecodable(_))), "{error:?}");
    }
    assert_eq!(block_on(client.embed(&no_face, CropMode::Detect)), Err(ComputeError::NoFace));
    assert!(matches!(block_on(client.set_head(b"garbage")), Err(ComputeError::Head(_))));
}

#[test]
fn a_batch_of_pixels_embeds_like_the_photos_one_by_one() {
    let client = ComputeClient::new(InProcess::default());
    block_on(client.load(BackboneId::FaceRes, BurnBackend::Flex, &weights(FACERES.weights_file))).unwrap();
    let side = FACERES.input_size;
    let inputs: Vec<RgbImage> = [("Colin_Powell", 1), ("Tony_Blair", 2), ("Tony_Blair", 3)]
        .iter()
        .map(|&(person, number)| RgbImage::decode(&photo(person, number)).unwrap().face_crop().resize_bilinear(side, side))
        .collect();

    let pixels: Vec<u8> = inputs.iter().flat_map(|i| i.pixels.clone()).collect();
    let batch = block_on(client.embed_pixels(&pixels, 3)).unwrap();
    assert_eq!((batch.len(), batch[0].len()), (3, 1024));
    for (i, input) in inputs.iter().enumerate() {
        let one = block_on(client.embed_pixels(&input.pixels, 1)).unwrap().remove(0);
        let diff = one.iter().zip(&batch[i]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-3, "image {i}: batch and single differ by {diff}");
    }
    let error = block_on(client.embed_pixels(&pixels, 2)).unwrap_err();
    assert!(matches!(&error, ComputeError::Malformed(why) if why.contains("not 2 RGB images of 224x224")), "{error:?}");
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// What the page does when the user picks another backbone: the face pictures kept at enrolment
/// are embedded by the new one, close to what it makes of the original photos.
#[test]
fn another_backbone_embeds_the_kept_face_pictures() {
    let faceres = loaded();
    let dlib = ComputeClient::new(InProcess::default());
    block_on(dlib.load(BackboneId::DlibResNet, BurnBackend::Flex, &weights(DLIB_RESNET.weights_file))).unwrap();
    block_on(dlib.load_detector(&weights(DETECTOR.weights_file))).unwrap();
    let mut roster = Roster::default();
    for person in ["Colin_Powell", "Tony_Blair"] {
        let id = roster.add_person(person).unwrap();
        for number in 1..=5 {
            let original = photo(person, number);
            let face = block_on(faceres.embed(&original, CropMode::DetectCentral)).unwrap().faces.remove(0);
            let picture = face.picture.clone();
            let from_picture = block_on(dlib.embed_picture(&picture)).unwrap();
            let from_photo = block_on(dlib.embed(&original, CropMode::DetectCentral)).unwrap().faces.remove(0).embedding;
            let cos = cosine(&from_picture, &from_photo);
            println!("{person} {number}: dlib-resnet on the kept picture vs the photo: cosine {cos:.5}");
            assert!(cos > 0.99, "{person} {number}: cosine {cos}");
            let photo_id = roster.add_photo(id, Photo::new(format!("{number}.jpg"), BackboneId::FaceRes, face.embedding, face.thumbnail_png, Some(picture))).unwrap();
            assert!(roster.set_embedding(photo_id, BackboneId::DlibResNet, from_picture));
        }
    }
    roster.check().unwrap();
    let plan = TrainingPlan::new(&roster, BackboneId::DlibResNet, 0.2, 7).unwrap();
    let model = block_on(dlib.train(plan, &mut |_| {})).unwrap();
    assert_eq!((model.backbone, model.report.unwrap().confusion.accuracy()), (BackboneId::DlibResNet, 1.0));
    // The fixed crop keeps the crop itself: every backbone sees the same pixels.
    let reference = block_on(faceres.embed(&photo("Tony_Blair", 1), CropMode::Reference)).unwrap().faces.remove(0);
    assert!(reference.picture.face.is_none());
    assert_eq!(block_on(dlib.embed_picture(&reference.picture)).unwrap().len(), 128);
}

/// The user's keras-vggface file, converted by the worker, loads as vggface2-resnet50; a
/// foreign or incomplete file says what is wrong.
#[test]
fn the_worker_converts_a_keras_vggface_file() {
    let client = ComputeClient::new(InProcess::default());
    let converted = block_on(client.convert_vggface2(&facelab::convert::synthetic_vggface2_h5(3, None))).unwrap();
    assert_eq!(block_on(client.load(BackboneId::VggFace2ResNet50, BurnBackend::Flex, &converted)), Ok(BurnBackend::Flex));
    let incomplete = facelab::convert::synthetic_vggface2_h5(3, Some("conv5_3_1x1_increase/bn/gamma"));
    let error = block_on(client.convert_vggface2(&incomplete)).unwrap_err();
    assert!(matches!(&error, ComputeError::Convert(why) if why.contains("missing conv5_3_1x1_increase/bn/gamma")), "{error}");
    let error = block_on(client.convert_vggface2(b"\xff\xd8\xff a JPEG")).unwrap_err();
    assert!(error.to_string().contains("not a readable HDF5 file"), "{error}");
}

#[test]
fn a_library_scan_finds_every_face_and_groups_one_person() {
    use facelab::cluster::Clustering;
    use facelab::library::{FaceLabel, Library, Recogniser};
    let client = loaded();
    let mut library = Library::new(BackboneId::FaceRes);
    for number in 1..=6 {
        let mut scanned = block_on(client.scan(&photo("Gerhard_Schroeder", number))).unwrap();
        assert!(!scanned.faces.is_empty(), "photo {number}: a face");
        assert!(scanned.thumbnail_jpeg.starts_with(b"\xff\xd8\xff") && scanned.width == 250);
        let face = &scanned.faces[0];
        assert!(face.thumbnail_jpeg.starts_with(b"\xff\xd8\xff") && face.picture.is_some());
        assert_eq!(face.embedding.len(), FACERES.embedding_dim);
        scanned.path = format!("Gerhard_Schroeder/{number}.jpg");
        library.add(scanned);
    }
    // A photo without a face is a result (no faces), not an error.
    let blank = RgbImage::new(120, 120, vec![200; 120 * 120 * 3]).to_png();
    assert_eq!(block_on(client.scan(&blank)).map(|s| s.faces.len()), Ok(0));
    assert!(matches!(block_on(client.scan(b"not a photo")), Err(ComputeError::Image(ImageError::Undecodable(_)))));

    library.group_new_faces(Clustering { cut: FACERES.cluster_cut, min_size: 2 });
    let sorting = library.sorting(&Recogniser::new(&Roster::default(), BackboneId::FaceRes, None), 2);
    let largest: Vec<u32> = library.photos().iter().map(|p| p.faces[0].id).collect();
    let labels: Vec<&FaceLabel> = largest.iter().map(|f| &sorting.labels[f]).collect();
    assert!(matches!(labels[0], FaceLabel::Group(_)), "{labels:?}");
    assert!(labels.iter().all(|l| *l == labels[0]), "one person, one group: {labels:?}");
}
