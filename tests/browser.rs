//! The core in headless Chromium (wasm-bindgen-test; scripts/test.sh runs it): a real backbone
//! forward on real LFW inputs on the CPU backend matches the independent reference (which the
//! native parity test matches to cosine 1.0000000), WebGPU runs the same forward on Chromium's
//! software adapter, the face detector finds the face in each reference input, and the head
//! trains and is scored in the browser.
#![cfg(target_arch = "wasm32")]

mod common;

use burn::tensor::Device;
use facelab::backbone::{Backbone, BackboneId};
use facelab::compute::BurnBackend;
use facelab::detector::Detector;
use facelab::head::HeadConfig;
use facelab::metrics::{ConfusionMatrix, Split, stratified_split};
use facelab::preprocess::RgbImage;
use wasm_bindgen_test::*;

use common::{cosine, max_abs_diff};

wasm_bindgen_test_configure!(run_in_browser);

const WEIGHTS: &[u8] = include_bytes!(concat!(env!("FACELAB_WEIGHTS_DIR"), "/faceres.safetensors"));
const DETECTOR: &[u8] = include_bytes!(concat!(env!("FACELAB_WEIGHTS_DIR"), "/blazeface-front.safetensors"));
const VECTORS: &str = include_str!(concat!(env!("FACELAB_TESTVECTORS_DIR"), "/vectors.json"));
/// The reference's 224x224 inputs (LFW crop, Pillow bilinear), in `vectors.json`'s order.
const INPUTS: [(&str, &[u8]); 3] = [
    ("George_W_Bush_0432", include_bytes!(concat!(env!("FACELAB_TESTVECTORS_DIR"), "/inputs/George_W_Bush_0432_224.png"))),
    ("Donald_Rumsfeld_0054", include_bytes!(concat!(env!("FACELAB_TESTVECTORS_DIR"), "/inputs/Donald_Rumsfeld_0054_224.png"))),
    ("Gerhard_Schroeder_0018", include_bytes!(concat!(env!("FACELAB_TESTVECTORS_DIR"), "/inputs/Gerhard_Schroeder_0018_224.png"))),
];

fn reference(person_photo: &str) -> Vec<f32> {
    let json: serde_json::Value = serde_json::from_str(VECTORS).expect("vectors.json");
    let entry = json["embeddings"]["faceres"]["per_image"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"].as_str().unwrap().contains(person_photo))
        .unwrap_or_else(|| panic!("no reference for {person_photo}"));
    entry["full"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

fn inputs() -> Vec<RgbImage> {
    INPUTS.iter().map(|(_, png)| RgbImage::decode(png).unwrap()).collect()
}

#[wasm_bindgen_test]
async fn cpu_forward_matches_the_reference() {
    let backbone = Backbone::from_safetensors(BackboneId::FaceRes, WEIGHTS, &Device::flex()).unwrap();
    let embeddings = backbone.embed_async(&inputs()).await.unwrap();
    for ((name, _), embedding) in INPUTS.iter().zip(&embeddings) {
        let expected = reference(name);
        let (cos, diff) = (cosine(embedding, &expected), max_abs_diff(embedding, &expected));
        web_sys::console::log_1(&format!("{name}: cosine {cos:.7}, max abs diff {diff:.2e}").into());
        assert!(cos > 0.999_999 && diff < 1e-4, "{name}: cosine {cos}, max abs diff {diff}");
    }
}

#[wasm_bindgen_test]
async fn webgpu_runs_the_same_forward() {
    // The runner starts Chromium with --enable-unsafe-webgpu: a software (SwiftShader) adapter.
    let device = BurnBackend::WebGpu.device().await.expect("WebGPU adapter in headless Chromium");
    let backbone = Backbone::from_safetensors(BackboneId::FaceRes, WEIGHTS, &device).unwrap();
    let face = &inputs()[..1];
    let gpu = backbone.embed_async(face).await.unwrap().remove(0);
    let expected = reference(INPUTS[0].0);
    let cos = cosine(&gpu, &expected);
    web_sys::console::log_1(&format!("WebGPU: cosine {cos:.7}, max abs diff {:.2e}", max_abs_diff(&gpu, &expected)).into());
    assert!(cos > 0.9999, "WebGPU embedding cosine {cos}");
}

#[wasm_bindgen_test]
async fn detector_finds_the_face_in_each_reference_input() {
    let detector = Detector::from_safetensors(DETECTOR, &Device::flex()).unwrap();
    let faces = inputs();
    detector.detect(&faces[0]).await.unwrap(); // warm-up
    let started = js_sys::Date::now();
    for (face, (name, _)) in faces.iter().zip(INPUTS) {
        let found = detector.detect(face).await.unwrap();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        let [x, y, w, h] = found[0].bbox;
        assert!((x + w / 2.0 - 112.0).abs() < 40.0 && (y + h / 2.0 - 112.0).abs() < 50.0 && w > 60.0, "{name}: {found:?}");
    }
    let ms = (js_sys::Date::now() - started) / faces.len() as f64;
    web_sys::console::log_1(&format!("detection (CPU, flex, wasm, 1 thread): {ms:.1} ms per 224x224 image").into());
}

#[wasm_bindgen_test]
async fn head_trains_and_scores_in_the_browser() {
    let backbone = Backbone::from_safetensors(BackboneId::FaceRes, WEIGHTS, &Device::flex()).unwrap();
    let faces = backbone.embed_async(&inputs()).await.unwrap();
    // Ten photos per person: each real embedding with a small deterministic perturbation.
    let (mut embeddings, mut labels) = (Vec::new(), Vec::new());
    for (label, face) in faces.iter().enumerate() {
        for k in 0..10 {
            embeddings.push(face.iter().enumerate().map(|(i, v)| v + 0.3 * (((i * 7 + k * 13) % 11) as f32 / 11.0 - 0.5)).collect());
            labels.push(label);
        }
    }
    let split = stratified_split(&labels, 0.2, 42);
    let (train_x, train_y) = Split::pick(&embeddings, &labels, &split.train);
    let (test_x, test_y) = Split::pick(&embeddings, &labels, &split.test);
    let head = HeadConfig::new().train(&train_x, &train_y, 3, &Device::flex(), |_| {});
    assert!(head.history.last().unwrap().loss < head.history[0].loss);
    let confusion = ConfusionMatrix::new(3, &test_y, &head.predict(&test_x));
    assert_eq!((confusion.total(), confusion.accuracy()), (6, 1.0), "{confusion:?}");
}
