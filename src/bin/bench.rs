//! Benchmark (not a test): milliseconds per image of each backbone on each CPU backend, natively,
//! on real LFW inputs, and the flex/ndarray ratio measured in the same process.
//!
//! `cargo run --release --bin bench -- [--batch N] [--runs N] [--backbones faceres,...] [--backends flex,ndarray] [--json FILE]`
//! (`RAYON_NUM_THREADS=1` for one thread; `--json` is what bench/ort.py, run by scripts/bench.sh, reads.)

use std::time::Instant;

use burn::tensor::Device;
use facelab::backbone::BackboneId;
use facelab::dataset::{load_backbone, testvectors_root};
use facelab::preprocess::RgbImage;

/// Median, min and max.
fn summary(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    (median, values[0], values[n - 1])
}

#[allow(deprecated)] // burn-ndarray is deprecated in Burn 0.22; it is measured as the reference.
fn ndarray() -> Device {
    Device::ndarray()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let batch: usize = value("--batch").map_or(8, |v| v.parse().expect("--batch N"));
    let runs: usize = value("--runs").map_or(3, |v| v.parse().expect("--runs N"));
    let names = value("--backbones").unwrap_or_else(|| "faceres,resnet50-imagenet,dlib-resnet".into());
    let backends: Vec<(&str, Device)> = value("--backends")
        .unwrap_or_else(|| "flex,ndarray".into())
        .split(',')
        .map(|name| match name {
            "flex" => ("flex", Device::flex()),
            "ndarray" => ("ndarray", ndarray()),
            other => panic!("unknown backend {other} (flex, ndarray)"),
        })
        .collect();

    let inputs_dir = testvectors_root().join("inputs");
    let mut images: Vec<RgbImage> = std::fs::read_dir(&inputs_dir)
        .unwrap_or_else(|e| panic!("{}: {e} (reference inputs needed; set FACELAB_TESTVECTORS)", inputs_dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with("_224.png"))
        .map(|p| RgbImage::decode(&std::fs::read(p).unwrap()).unwrap())
        .collect();
    assert!(!images.is_empty(), "no *_224.png inputs in {}", inputs_dir.display());
    images = images.iter().cycle().take(batch).cloned().collect();

    // Burn's CPU backends use rayon natively: its pool is as large as this says.
    let threads: usize = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("native CPU, batch {batch}, median of {runs} runs after a warm-up, {threads} threads");
    let mut rows = Vec::new();
    let header: Vec<String> = backends.iter().map(|(name, _)| format!("{name} ms/img")).collect();
    println!("{:<20} {:>14}", "backbone", header.join(" "));
    for name in names.split(',') {
        let id = BackboneId::from_name(name).unwrap_or_else(|| panic!("unknown backbone {name}"));
        let spec = id.spec();
        // At the backbone's input size before the clock starts (dlib-resnet takes 150x150).
        let side = spec.input_size;
        let inputs: Vec<RgbImage> = images.iter().map(|image| image.resize_bilinear(side, side)).collect();
        let mut per_image = Vec::new();
        for (backend, device) in &backends {
            let backbone = load_backbone(id, device).unwrap_or_else(|e| panic!("{e}"));
            backbone.embed_inputs(&inputs); // warm-up
            let times: Vec<f64> = (0..runs)
                .map(|_| {
                    let started = Instant::now();
                    backbone.embed_inputs(&inputs);
                    started.elapsed().as_secs_f64() * 1e3 / batch as f64
                })
                .collect();
            let (median, min, max) = summary(times);
            per_image.push(median);
            rows.push(serde_json::json!({
                "backbone": spec.name, "backend": backend, "threads": threads, "batch": batch,
                "median": median, "min": min, "max": max,
            }));
        }
        let cells: Vec<String> = per_image.iter().map(|ms| format!("{ms:>14.1}")).collect();
        let ratio = match backends.as_slice() {
            [(a, _), (b, _)] => format!("  {a}/{b} {:.3}", per_image[0] / per_image[1]),
            _ => String::new(),
        };
        println!("{:<20} {}{ratio}", spec.name, cells.join(" "));
    }
    if let Some(path) = value("--json") {
        let json = serde_json::json!({ "threads": threads, "batch": batch, "runs": runs, "rows": rows });
        std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}
