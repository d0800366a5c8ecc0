//! dlib-resnet against dlib itself: `../shared/testvectors/dlib/vectors.json` holds dlib's own
//! descriptors (Python binding, dlib 20.0.1) of ten aligned 150x150 LFW face chips.
// Native only (files, rayon): `wasm-pack test` builds every test target for wasm32.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::tensor::Device;
use facelab::backbone::{Backbone, BackboneId, DLIB_RESNET};
use facelab::convert::{ConvertError, DlibError, convert_dlib};
use facelab::dataset::{load_backbone, require, weights_dir};
use facelab::preprocess::RgbImage;
use facelab::weights::to_safetensors;

use common::{cosine, max_abs_diff, reference_vectors};

/// Each chip with dlib's descriptor of it.
fn references() -> Vec<(String, RgbImage, Vec<f32>)> {
    let (root, json) = reference_vectors("dlib", "dlib's reference vectors (shared/testvectors/dlib)");
    json["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|image| {
            let png = std::fs::read(root.join(image["chip_png"].as_str().unwrap())).unwrap();
            let descriptor = image["descriptor"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
            (image["name"].as_str().unwrap().to_string(), RgbImage::decode(&png).unwrap(), descriptor)
        })
        .collect()
}

/// The ten chips through `backbone`: cosine >= `min_cosine` and max abs diff <= `max_diff` to
/// dlib's descriptors (compared by Euclidean distance, 0.6 = same person: stay far below).
fn parity(backbone: &Backbone, what: &str, min_cosine: f64, max_diff: f32) {
    let references = references();
    assert_eq!(references.len(), 10);
    let chips: Vec<RgbImage> = references.iter().map(|(_, chip, _)| chip.clone()).collect();
    let ours = backbone.embed_inputs(&chips);
    for ((name, _, expected), embedding) in references.iter().zip(&ours) {
        let cos = cosine(embedding, expected);
        let diff = max_abs_diff(embedding, expected);
        println!("dlib-resnet ({what}) {name}: cosine {cos:.8}, max abs diff {diff:.2e}");
        assert!(cos >= min_cosine && diff <= max_diff, "{name}: cosine {cos}, max abs diff {diff}");
    }
}

/// The network itself, on the .dat's exact f32 values (measured: max abs diff 3.3e-7).
#[test]
fn dlib_resnet_matches_dlibs_descriptors() {
    let tensors = convert_dlib(&std::fs::read(dat_path()).unwrap()).unwrap();
    let exact = to_safetensors(&tensors, Default::default()).unwrap();
    let backbone = Backbone::from_safetensors(BackboneId::DlibResNet, &exact, &Device::flex()).unwrap();
    parity(&backbone, "f32", 0.999_999, 1e-5);
}

/// The weights the page serves, rounded to f16 (measured: cosine >= 0.9999998, max abs diff <= 2.5e-4).
#[test]
fn served_f16_weights_stay_within_dlibs_noise() {
    let backbone = load_backbone(BackboneId::DlibResNet, &Device::flex()).unwrap_or_else(|e| panic!("{e}"));
    parity(&backbone, "f16", 0.9999, 1e-3);
}

fn dat_path() -> std::path::PathBuf {
    let path = weights_dir().join("cache").join(DLIB_RESNET.name).join(DLIB_RESNET.source.files[0].0);
    require(&path, "run `cargo run --release --bin weights -- fetch` to fetch dlib's .dat").unwrap_or_else(|e| panic!("{e}"))
}

/// A truncated or foreign file is refused with where it went wrong, not read as weights.
#[test]
fn damaged_dat_files_are_refused() {
    let bytes = std::fs::read(dat_path()).unwrap();
    assert_eq!(convert_dlib(&bytes).map(|t| t.len()).ok(), Some(2 * 29 + 1));
    let truncated = convert_dlib(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(truncated, ConvertError::Dlib(DlibError::Truncated(_))), "{truncated}");
    let mut extended = bytes.clone();
    extended.push(0);
    assert!(matches!(convert_dlib(&extended), Err(ConvertError::Dlib(DlibError::TrailingBytes(1)))));
    let foreign = convert_dlib(b"PK\x03\x04 not a dlib file").unwrap_err();
    println!("foreign file: {foreign}");
    assert!(matches!(foreign, ConvertError::Dlib(DlibError::Unexpected { .. })), "{foreign}");
}
