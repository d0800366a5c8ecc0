//! The vggface2-resnet50 path without the real file (which no registry serves): the test writes a
//! synthetic .h5 with the real file's layer names and shapes, converts it as a user's copy would
//! be, and runs the Burn model on a real LFW face.
// Native only (files, rayon): `wasm-pack test` builds every test target for wasm32.
#![cfg(not(target_arch = "wasm32"))]

use burn::tensor::Device;
use facelab::backbone::{Backbone, BackboneId};
use facelab::convert::{convert_vggface2_h5, synthetic_vggface2_h5};
use facelab::dataset::testvectors_root;
use facelab::preprocess::RgbImage;
use facelab::weights::to_safetensors;

#[test]
fn synthetic_keras_vggface_file_converts_and_runs() {
    let tensors = convert_vggface2_h5(&synthetic_vggface2_h5(5, None)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tensors.len(), 2 * 53, "53 convolutions, each a weight and a folded bias");
    let bytes = to_safetensors(&tensors, Default::default()).unwrap();
    let backbone = Backbone::from_safetensors(BackboneId::VggFace2ResNet50, &bytes, &Device::flex()).unwrap();
    let face = RgbImage::decode(&std::fs::read(testvectors_root().join("inputs/George_W_Bush_0432_crop128.png")).unwrap())
        .unwrap();
    let embedding = &backbone.embed(&[face])[0];
    assert_eq!(embedding.len(), 2048);
    assert!(embedding.iter().all(|v| v.is_finite() && *v >= 0.0), "pooled ReLU outputs are finite and >= 0");
    assert!(embedding.iter().any(|v| *v > 0.0));
}

#[test]
fn file_missing_a_layer_is_rejected_by_name() {
    let error = convert_vggface2_h5(&synthetic_vggface2_h5(5, Some("conv3_2_3x3/bn/moving_variance"))).unwrap_err().to_string();
    assert!(error.contains("missing conv3_2_3x3/bn/moving_variance"), "{error}");
}

#[test]
fn non_hdf5_file_is_rejected() {
    let error = convert_vggface2_h5(b"definitely not HDF5").unwrap_err().to_string();
    assert!(error.contains("not a readable HDF5 file"), "{error}");
    let file = synthetic_vggface2_h5(5, None);
    let error = convert_vggface2_h5(&file[..file.len() / 3]).unwrap_err().to_string();
    println!("truncated: {error}");
    assert!(error.contains("HDF5"), "{error}");
}
