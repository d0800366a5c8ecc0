//! BlazeFace on real photos: in every LFW-5 photo a face is found on the reference crop (LFW
//! centres its subject; others may be found at the edges), a photo of several people gives
//! several faces, and an image without a face gives none.
// Native only (files, rayon): `wasm-pack test` builds every test target for wasm32.
#![cfg(not(target_arch = "wasm32"))]

use burn::tensor::Device;
use facelab::dataset::{data_root, folder_per_person, load_detector, require};
use facelab::detector::{Detector, Face};
use facelab::preprocess::{LFW_CROP_SIDE, LFW_CROP_START, RgbImage};

fn detector() -> Detector {
    load_detector(&Device::flex()).unwrap_or_else(|e| panic!("{e}"))
}

fn lfw5_photos(per_person: usize) -> Vec<std::path::PathBuf> {
    let lfw5 = require(&data_root().join("lfw5"), "the LFW-5 data (shared/data/lfw5) belongs here; set FACELAB_DATA")
        .unwrap_or_else(|e| panic!("{e}"));
    let photos = folder_per_person(&lfw5.join("lfw"), Some(&lfw5.join("sklearn_order.csv")), Some(per_person), per_person).unwrap();
    photos.items.into_iter().map(|(path, _)| path).collect()
}

fn decode(path: &std::path::Path) -> RgbImage {
    RgbImage::decode(&std::fs::read(path).unwrap()).unwrap()
}

fn centre(face: &Face) -> (f32, f32) {
    let [x, y, w, h] = face.bbox;
    (x + w / 2.0, y + h / 2.0)
}

#[test]
fn every_lfw5_face_is_found_on_the_reference_crop() {
    let detector = detector();
    let (low, high) = (LFW_CROP_START as f32, (LFW_CROP_START + LFW_CROP_SIDE) as f32);
    let (mut ratios, mut offsets) = (Vec::new(), Vec::new());
    for path in lfw5_photos(20) {
        let faces = detector.detect_now(&decode(&path));
        let on_crop = |f: &&Face| {
            let (cx, cy) = centre(f);
            (low..high).contains(&cx) && (low..high).contains(&cy)
        };
        let subject = faces.iter().find(on_crop).unwrap_or_else(|| panic!("{}: no face on the reference crop: {faces:?}", path.display()));
        let side = subject.bbox[2].max(subject.bbox[3]);
        ratios.push(LFW_CROP_SIDE as f32 / side);
        let (cx, cy) = centre(subject);
        let middle = (LFW_CROP_START + LFW_CROP_SIDE / 2) as f32;
        offsets.push(((middle - cx) / side, (middle - cy) / side));
    }
    ratios.sort_by(f32::total_cmp);
    let n = offsets.len() as f32;
    let (dx, dy) = offsets.iter().fold((0.0, 0.0), |(x, y), (a, b)| (x + a / n, y + b / n));
    println!("reference crop centre - detected box centre, in box sides: mean ({dx:.3}, {dy:.3})");
    println!("reference crop side / detected box side: median {:.3}, range {:.3}..{:.3} over {}", ratios[ratios.len() / 2], ratios[0], ratios[ratios.len() - 1], ratios.len());
}

#[test]
fn several_people_give_several_faces_and_no_face_gives_none() {
    let detector = detector();
    // Four LFW photos side by side, 2x2: one image with four people.
    let photos: Vec<RgbImage> = lfw5_photos(1).iter().take(4).map(|p| decode(p)).collect();
    let side = photos[0].width;
    let mut pixels = vec![0u8; 4 * side * side * 3];
    for (i, photo) in photos.iter().enumerate() {
        let (ox, oy) = ((i % 2) * side, (i / 2) * side);
        for row in 0..side {
            let to = ((oy + row) * 2 * side + ox) * 3;
            pixels[to..to + side * 3].copy_from_slice(&photo.pixels[row * side * 3..(row + 1) * side * 3]);
        }
    }
    let group = RgbImage::new(2 * side, 2 * side, pixels);
    let faces = detector.detect_now(&group);
    println!("2x2 group: {:?}", faces.iter().map(|f| (centre(f), f.score)).collect::<Vec<_>>());
    assert_eq!(faces.len(), 4, "one face per photo in the 2x2 group");
    for (i, _) in photos.iter().enumerate() {
        let (ox, oy) = (((i % 2) * side) as f32, ((i / 2) * side) as f32);
        assert!(faces.iter().any(|f| {
            let (cx, cy) = centre(f);
            (ox..ox + side as f32).contains(&cx) && (oy..oy + side as f32).contains(&cy)
        }), "a face in quadrant {i}");
    }

    // A smooth colour gradient: nothing like a face.
    let gradient: Vec<u8> = (0..256 * 256).flat_map(|i| [(i % 256) as u8, (i / 256) as u8, 128]).collect();
    assert_eq!(detector.detect_now(&RgbImage::new(256, 256, gradient)), vec![]);
}
