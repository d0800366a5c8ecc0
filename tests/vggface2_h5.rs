//! The vggface2-resnet50 path without the real file (which no registry serves): the test writes a
//! synthetic .h5 with the real file's layer names and shapes, converts it as a user's copy would
//! be, and runs the Burn model on a real LFW face.

use std::path::Path;

use burn::tensor::Device;
use facelab::backbone::{Backbone, BackboneId};
use facelab::convert::{convert_vggface2_h5, vggface2_resnet50_layout};
use facelab::dataset::testvectors_root;
use facelab::preprocess::RgbImage;
use facelab::weights::to_safetensors;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Writes weights as Keras' `save_weights` lays them out: layer `L`, weight `w` at `L/L/w:0`.
fn write_synthetic_h5(path: &Path, skip: Option<&str>) {
    let file = hdf5::File::create(path).unwrap();
    let mut rng = SmallRng::seed_from_u64(5);
    for (name, shape) in vggface2_resnet50_layout() {
        if skip == Some(name.as_str()) {
            continue;
        }
        let (layer, weight) = name.rsplit_once('/').unwrap();
        let count: usize = shape.iter().product();
        let values: Vec<f32> = match weight {
            // He-style kernels and BatchNorm statistics of a plausible trained network.
            "kernel" => {
                let fan_in = (shape[0] * shape[1] * shape[2]) as f32;
                (0..count).map(|_| rng.random_range(-1.0..1.0) * (3.0 / fan_in).sqrt()).collect()
            }
            "gamma" => (0..count).map(|_| rng.random_range(0.5..1.0)).collect(),
            "beta" => (0..count).map(|_| rng.random_range(-0.1..0.1)).collect(),
            "moving_mean" => (0..count).map(|_| rng.random_range(-0.2..0.2)).collect(),
            _ => (0..count).map(|_| rng.random_range(0.5..2.0)).collect(),
        };
        let mut group = file.group("/").unwrap();
        for part in format!("{layer}/{layer}").split('/') {
            group = group.group(part).or_else(|_| group.create_group(part)).unwrap();
        }
        let dataset = group.new_dataset::<f32>().shape(shape.clone()).create(format!("{weight}:0").as_str()).unwrap();
        dataset.write_raw(&values).unwrap();
    }
}

#[test]
fn synthetic_keras_vggface_file_converts_and_runs() {
    let dir = tempdir();
    let path = dir.join("rcmalli_vggface_tf_notop_resnet50.h5");
    write_synthetic_h5(&path, None);
    let tensors = convert_vggface2_h5(&path).unwrap_or_else(|e| panic!("{e}"));
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
    let dir = tempdir();
    let path = dir.join("incomplete.h5");
    write_synthetic_h5(&path, Some("conv3_2_3x3/bn/moving_variance"));
    let error = convert_vggface2_h5(&path).unwrap_err().to_string();
    assert!(error.contains("missing conv3_2_3x3/bn/moving_variance"), "{error}");
}

#[test]
fn non_hdf5_file_is_rejected() {
    let dir = tempdir();
    let path = dir.join("not.h5");
    std::fs::write(&path, b"definitely not HDF5").unwrap();
    let error = convert_vggface2_h5(&path).unwrap_err().to_string();
    assert!(error.contains("not a readable HDF5 file"), "{error}");
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("facelab-h5-{}-{:?}", std::process::id(), std::thread::current().id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
