//! Numerical parity with an independent implementation (onnxruntime over the original weights):
//! `../shared/testvectors/vectors.json` holds its inputs and embeddings for three LFW photos.
// Native only (files, rayon): `wasm-pack test` builds every test target for wasm32.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use burn::tensor::Device;
use facelab::backbone::{Backbone, BackboneId};
use facelab::dataset::{data_root, load_backbone, require, testvectors_root};
use facelab::preprocess::RgbImage;

use common::{cosine, max_abs_diff, reference_vectors};

struct Reference {
    /// `lfw5/lfw/Person/Person_NNNN.jpg`, relative to the data root.
    file: String,
    crop_png: String,
    input_224_png: String,
    embeddings: Vec<(String, Vec<f32>)>,
}

fn references() -> Vec<Reference> {
    let (_, json) = reference_vectors("", "the reference vectors (shared/testvectors)");
    json["images"]
        .as_array()
        .expect("images")
        .iter()
        .map(|image| {
            let file = image["file"].as_str().unwrap().to_string();
            let embeddings = ["faceres", "resnet50"]
                .iter()
                .map(|model| {
                    let entry = json["embeddings"][model]["per_image"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|e| e["file"] == file.as_str())
                        .expect("embedding for every image");
                    let full = entry["full"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
                    (model.to_string(), full)
                })
                .collect();
            Reference {
                crop_png: image["crop_png"].as_str().unwrap().to_string(),
                input_224_png: image["resized"]["224"]["png"].as_str().unwrap().to_string(),
                file,
                embeddings,
            }
        })
        .collect()
}

fn read_png(path: &str) -> RgbImage {
    let bytes = std::fs::read(testvectors_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    RgbImage::decode(&bytes).unwrap()
}

fn reference_key(id: BackboneId) -> &'static str {
    match id {
        BackboneId::FaceRes => "faceres",
        BackboneId::ResNet50ImageNet => "resnet50",
        BackboneId::VggFace2ResNet50 => unreachable!("no reference vectors for vggface2-resnet50"),
        BackboneId::DlibResNet => unreachable!("dlib-resnet's reference vectors are dlib's own (tests/dlib_parity.rs)"),
    }
}

fn backbone(id: BackboneId) -> Backbone {
    load_backbone(id, &Device::flex()).unwrap_or_else(|e| panic!("{e}"))
}

/// The exact 224x224 reference inputs through our backbone: cosine >= 0.9999 with the reference.
fn parity_on_reference_inputs(id: BackboneId) {
    let backbone = backbone(id);
    let refs = references();
    let inputs: Vec<RgbImage> = refs.iter().map(|r| read_png(&r.input_224_png)).collect();
    let ours = backbone.embed_inputs(&inputs);
    for (r, embedding) in refs.iter().zip(&ours) {
        let expected = &r.embeddings.iter().find(|(m, _)| m == reference_key(id)).unwrap().1;
        assert_eq!(embedding.len(), expected.len());
        let cos = cosine(embedding, expected);
        println!(
            "{} {}: cosine {cos:.7}, max abs diff {:.2e} (max |ref| {:.3})",
            backbone.spec.name,
            r.file,
            max_abs_diff(embedding, expected),
            expected.iter().fold(0f32, |m, v| m.max(v.abs()))
        );
        assert!(cos >= 0.9999, "{} on {}: cosine {cos} < 0.9999", backbone.spec.name, r.file);
    }
}

#[test]
fn faceres_matches_reference_embeddings() {
    parity_on_reference_inputs(BackboneId::FaceRes);
}

#[test]
fn resnet50_imagenet_matches_reference_embeddings() {
    parity_on_reference_inputs(BackboneId::ResNet50ImageNet);
}

/// Our resize reproduces Pillow's bilinear bit for bit on the reference crops.
#[test]
fn resize_is_pillow_exact() {
    for r in references() {
        let crop = read_png(&r.crop_png);
        assert_eq!(crop.resize_bilinear(224, 224), read_png(&r.input_224_png), "{}", r.file);
    }
}

/// Our whole pipeline from the JPEG (decode, crop, resize): reports how close it lands.
#[test]
fn pipeline_from_jpeg_lands_within_decoder_noise() {
    let faceres = backbone(BackboneId::FaceRes);
    for r in references() {
        let path = data_root().join(&r.file);
        let path = require(&path, "the LFW-5 photos (shared/data/lfw5) belong here; set FACELAB_DATA")
            .unwrap_or_else(|e| panic!("{e}"));
        let photo = RgbImage::decode(&std::fs::read(path).unwrap()).unwrap();
        let crop = photo.face_crop();
        let reference_crop = read_png(&r.crop_png);
        let differing = crop.pixels.iter().zip(&reference_crop.pixels).filter(|(a, b)| a != b).count();
        let largest = crop.pixels.iter().zip(&reference_crop.pixels).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        let ours = &faceres.embed(std::slice::from_ref(&crop))[0];
        let expected = &r.embeddings.iter().find(|(m, _)| m == "faceres").unwrap().1;
        let cos = cosine(ours, expected);
        println!(
            "{}: {differing} of {} crop values differ from libjpeg-turbo's (largest {largest}); faceres cosine {cos:.6}",
            r.file,
            crop.pixels.len()
        );
        // The reference's sensitivity table: +-1 decoder noise costs faceres >= 0.9998.
        assert!(cos >= 0.999, "{}: cosine {cos}", r.file);
    }
}
