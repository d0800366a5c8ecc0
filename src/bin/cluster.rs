//! Groups a folder of photos without labels, as the page's photo library will: every photo's
//! central face (the detector's crop, or the aligned chip for an aligned backbone) embedded,
//! grouped by `facelab::cluster`, then scored against the folders (one person each).
//!
//! `cargo run --release --bin cluster -- --data DIR --backbone faceres [--cut 0.55] [--min-size 2]`

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use facelab::backbone::BackboneId;
use facelab::cluster::{Clustering, Groups, bcubed};
use facelab::dataset::{data_root, folder_per_person, load_backbone, load_detector};
use facelab::experiment::{detected_face_crops, embed_all};
use facelab::head::CentroidClassifier;
use facelab::openset::balanced;

const USAGE: &str = "usage: cluster [--data DIR] [--per-person N|all] [--backbone NAME] [--cut SIMILARITY] [--min-size N]";

fn fail(message: &str) -> ! {
    eprintln!("cluster: {message}\n{USAGE}");
    std::process::exit(2);
}

/// Photos a person is enrolled with when measuring the match threshold.
const ENROLLED: usize = 10;

/// The library's case of one person enrolled with a few photos: each person's centroid of their
/// first `ENROLLED` faces against their other faces (genuine) and everyone else's (impostors);
/// the balanced threshold and the shares it gets right.
fn match_threshold(embeddings: &[Vec<f32>], truth: &[usize], people: usize) -> Option<(f32, f64, f64)> {
    let (mut genuine, mut impostors) = (Vec::new(), Vec::new());
    for person in 0..people {
        let own: Vec<usize> = (0..truth.len()).filter(|&i| truth[i] == person).collect();
        if own.len() <= ENROLLED {
            continue;
        }
        let enrolled: Vec<Vec<f32>> = own[..ENROLLED].iter().map(|&i| embeddings[i].clone()).collect();
        let centroid = CentroidClassifier::fit(&enrolled, &[0; ENROLLED], 1);
        for (i, embedding) in embeddings.iter().enumerate() {
            if own[..ENROLLED].contains(&i) {
                continue;
            }
            let similarity = centroid.similarities(embedding)[0];
            if truth[i] == person { genuine.push(similarity) } else { impostors.push(similarity) }
        }
    }
    let threshold = balanced(&genuine, &impostors)?;
    let share = |scores: &[f32], above: bool| scores.iter().filter(|&&s| (s >= threshold) == above).count() as f64 / scores.len() as f64;
    Some((threshold, share(&genuine, true), share(&impostors, false)))
}

fn main() {
    let mut data = data_root().join("lfw5/lfw");
    let mut per_person = Some(100);
    let mut backbone = BackboneId::FaceRes;
    let (mut cut, mut min_size) = (None, Clustering::default().min_size);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let value = iter.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        let number = |v: &str| v.parse::<f64>().unwrap_or_else(|_| fail(&format!("{flag}: not a number: {v}")));
        match flag.as_str() {
            "--data" => data = PathBuf::from(value),
            "--per-person" => per_person = (value != "all").then(|| number(value) as usize),
            "--backbone" => backbone = BackboneId::from_name(value).unwrap_or_else(|| fail(&format!("unknown backbone {value}"))),
            "--cut" => cut = Some(number(value) as f32),
            "--min-size" => min_size = number(value) as usize,
            other => fail(&format!("unknown argument {other}")),
        }
    }
    if !data.exists() {
        fail(&format!("{} not found: a folder with one sub-folder of photos per person (LFW-5: shared/data/lfw5/lfw; set FACELAB_DATA)", data.display()));
    }
    let order = data.parent().map(|p| p.join("sklearn_order.csv")).filter(|p| p.exists());
    let photos = folder_per_person(&data, order.as_deref(), per_person, 1).unwrap_or_else(|e| fail(&e.to_string()));
    let device = Device::flex();
    let backbone = load_backbone(backbone, &device).unwrap_or_else(|e| fail(&e.to_string()));
    // Each backbone's similarities live on their own scale: its own cut unless one is given.
    let clustering = Clustering { cut: cut.unwrap_or(backbone.spec.cluster_cut), min_size };
    let detector = load_detector(&device).unwrap_or_else(|e| fail(&e.to_string()));

    let started = Instant::now();
    let paths: Vec<PathBuf> = photos.items.iter().map(|(p, _)| p.clone()).collect();
    let aligned_side = backbone.spec.aligned.then_some(backbone.spec.input_size);
    let found = detected_face_crops(&paths, &detector, aligned_side).unwrap_or_else(|e| fail(&e.to_string()));
    let (crops, truth): (Vec<_>, Vec<usize>) = found.into_iter().zip(&photos.items).filter_map(|(crop, (_, label))| Some((crop?, *label))).unzip();
    let embeddings = embed_all(&backbone, &crops, 16);
    let embedded_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let labels = Groups::new(clustering, &embeddings).labels();
    let grouped_s = started.elapsed().as_secs_f64();

    let (precision, recall, f1) = bcubed(&truth, &labels);
    let matching = match_threshold(&embeddings, &truth, photos.names.len());
    let clusters = labels.iter().flatten().max().map_or(0, |m| m + 1);
    let noise = labels.iter().filter(|l| l.is_none()).count();
    println!("data: {} ({} people, {} photos, {} faces found)", data.display(), photos.names.len(), paths.len(), crops.len());
    println!("backbone: {}, cut {}, min size {}", backbone.spec.name, clustering.cut, clustering.min_size);
    println!("bcubed f1: {f1:.4} (precision {precision:.4}, recall {recall:.4})");
    println!("clusters: {clusters}");
    println!("noise: {noise}");
    if let Some((threshold, genuine, impostors)) = matching {
        println!("one person enrolled ({ENROLLED} photos), the rest compared with their centroid: balanced cosine {threshold:.3} (genuine >= it {:.3}, impostors below {:.3})", genuine, impostors);
    }
    println!("time per photo: {:.1} ms (decode, detect, crop, embed) + {:.2} ms grouping", 1e3 * embedded_s / paths.len() as f64, 1e3 * grouped_s / paths.len() as f64);
}
