//! Comparisons shared by the parity tests (native) and the browser tests (wasm32).

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The reference folder `sub` of `../shared/testvectors` (`""`: the folder itself) and its
/// `vectors.json`; fails saying where the vectors belong.
#[cfg(not(target_arch = "wasm32"))]
pub fn reference_vectors(sub: &str, what: &str) -> (std::path::PathBuf, serde_json::Value) {
    use facelab::dataset::{require, testvectors_root};
    let root = require(&testvectors_root().join(sub), &format!("{what} belong here; set FACELAB_TESTVECTORS")).unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::from_slice(&std::fs::read(root.join("vectors.json")).expect("vectors.json")).expect("valid JSON");
    (root, json)
}
