//! The reference experiment, natively: embed a folder-per-person photo set with a frozen
//! backbone, split per person, train the dense head (and the centroid classifier), and report
//! test accuracy, per-person accuracy, the confusion matrix and the time of each stage.
//!
//! `cargo run --release --bin evaluate -- --backbone faceres` runs LFW-5 as the blog did.

use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::Device;
use facelab::backbone::BackboneId;
use facelab::dataset::{data_root, folder_per_person, load_backbone, load_detector};
use facelab::experiment::{detected_face_crops, embed_all, evaluate_split, face_crops};
use facelab::head::HeadConfig;
use facelab::metrics::{ConfusionMatrix, Split, shots_split, stratified_split};

const USAGE: &str = "usage: evaluate [--data DIR] [--order CSV] [--per-person N|all] [--min-per-person N]
                [--backbone faceres|resnet50-imagenet|vggface2-resnet50|dlib-resnet] [--backend flex|ndarray]
                [--test-fraction F | --shots K] [--repeats R] [--seed S]
                [--steps N] [--weight-decay L] [--embed-batch N]
                [--crop reference|detect|aligned] [--align on|off]
  --align on = --crop aligned (the detector's keypoints, dlib's face chip), off = --crop reference;
  the default is the backbone's own: aligned for dlib-resnet, reference for the others";

/// What the backbone sees of each photo.
#[derive(Clone, Copy, PartialEq)]
enum Crop {
    /// LFW rows/cols 60..188.
    Reference,
    /// The detector's loose square around the face nearest the centre.
    Detect,
    /// That face as an aligned chip at the backbone's input size.
    Aligned,
}

struct Args {
    data: PathBuf,
    order: Option<PathBuf>,
    per_person: Option<usize>,
    min_per_person: Option<usize>,
    backbone: BackboneId,
    backend: String,
    test_fraction: f64,
    shots: Option<usize>,
    repeats: usize,
    seed: u64,
    head: HeadConfig,
    embed_batch: usize,
    /// `None`: the backbone's own (`BackboneSpec::aligned`).
    crop: Option<Crop>,
}

fn fail(message: &str) -> ! {
    eprintln!("evaluate: {message}\n{USAGE}");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = Args {
        data: data_root().join("lfw5/lfw"),
        order: None,
        per_person: Some(100),
        min_per_person: None,
        backbone: BackboneId::FaceRes,
        backend: "flex".into(),
        test_fraction: 0.2,
        shots: None,
        repeats: 1,
        seed: 42,
        head: HeadConfig::new(),
        embed_batch: 16,
        crop: None,
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut iter = raw.iter();
    while let Some(flag) = iter.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = iter.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        let number = |v: &str| v.parse::<f64>().unwrap_or_else(|_| fail(&format!("{flag}: not a number: {v}")));
        match flag.as_str() {
            "--data" => args.data = PathBuf::from(value),
            "--order" => args.order = Some(PathBuf::from(value)),
            "--per-person" => args.per_person = (value != "all").then(|| number(value) as usize),
            "--min-per-person" => args.min_per_person = Some(number(value) as usize),
            "--backbone" => {
                args.backbone = BackboneId::from_name(value).unwrap_or_else(|| fail(&format!("unknown backbone {value}")))
            }
            "--backend" => args.backend = value.clone(),
            "--test-fraction" => args.test_fraction = number(value),
            "--shots" => args.shots = Some(number(value) as usize),
            "--repeats" => args.repeats = (number(value) as usize).max(1),
            "--seed" => args.seed = number(value) as u64,
            "--steps" => args.head.steps = number(value) as usize,
            "--weight-decay" => args.head.weight_decay = number(value),
            "--embed-batch" => args.embed_batch = (number(value) as usize).max(1),
            "--crop" => {
                args.crop = Some(match value.as_str() {
                    "reference" => Crop::Reference,
                    "detect" => Crop::Detect,
                    "aligned" => Crop::Aligned,
                    other => fail(&format!("--crop: reference, detect or aligned, not {other}")),
                })
            }
            "--align" => {
                args.crop = Some(match value.as_str() {
                    "on" => Crop::Aligned,
                    "off" => Crop::Reference,
                    other => fail(&format!("--align: on or off, not {other}")),
                })
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    args
}

fn device(backend: &str) -> Device {
    match backend {
        "flex" => Device::flex(),
        // Deprecated in Burn 0.22 but kept as the reference CPU backend.
        #[allow(deprecated)]
        "ndarray" => Device::ndarray(),
        other => fail(&format!("unknown backend {other} (flex or ndarray)")),
    }
}

fn mean_and_spread(values: &[f64]) -> String {
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    if values.len() < 2 {
        return format!("{mean:.3}");
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64;
    let (min, max) = values.iter().fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    format!("{mean:.3} (sd {:.3}, min {min:.3}, max {max:.3}, n={})", var.sqrt(), values.len())
}

fn main() {
    let args = parse_args();
    let device = device(&args.backend);
    let order = args.order.clone().or_else(|| {
        let beside = args.data.parent()?.join("sklearn_order.csv");
        beside.exists().then_some(beside)
    });
    if !args.data.exists() {
        fail(&format!(
            "{} not found: put a folder with one sub-folder of photos per person there (LFW-5 is in shared/data/lfw5/lfw; set FACELAB_DATA or pass --data)",
            args.data.display()
        ));
    }
    let min_per_person = args.min_per_person.or(args.per_person).unwrap_or(2);
    let photos = folder_per_person(&args.data, order.as_deref(), args.per_person, min_per_person)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let classes = photos.names.len();
    println!(
        "data: {} ({} people, {} photos; order: {})",
        args.data.display(),
        classes,
        photos.items.len(),
        order.as_ref().map_or("by file name".to_string(), |p| p.display().to_string())
    );

    let started = Instant::now();
    let backbone = load_backbone(args.backbone, &device).unwrap_or_else(|e| fail(&e.to_string()));
    let load_s = started.elapsed().as_secs_f64();
    println!("backbone: {} ({}), backend: {}", backbone.spec.name, backbone.spec.architecture, args.backend);

    let started = Instant::now();
    let paths: Vec<PathBuf> = photos.items.iter().map(|(path, _)| path.clone()).collect();
    let crop = args.crop.unwrap_or(if backbone.spec.aligned { Crop::Aligned } else { Crop::Reference });
    let detect = crop != Crop::Reference;
    let (crops, items): (Vec<_>, Vec<_>) = if detect {
        let detector = load_detector(&device).unwrap_or_else(|e| fail(&e.to_string()));
        let aligned_side = (crop == Crop::Aligned).then_some(backbone.spec.input_size);
        let found = detected_face_crops(&paths, &detector, aligned_side).unwrap_or_else(|e| fail(&e.to_string()));
        let missed: Vec<_> = paths.iter().zip(&found).filter(|(_, f)| f.is_none()).map(|(p, _)| p.display().to_string()).collect();
        let how = aligned_side.map_or(String::new(), |side| format!(", aligned ({side}x{side} chip from its keypoints)"));
        println!("crop: the detected face nearest each photo's centre{how} (none found, left out: {} {missed:?})", missed.len());
        found.into_iter().zip(&photos.items).filter_map(|(crop, item)| Some((crop?, item.clone()))).unzip()
    } else {
        println!("crop: the reference crop (LFW rows/cols 60..188)");
        (face_crops(&paths).unwrap_or_else(|e| fail(&e.to_string())), photos.items.clone())
    };
    let decode_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let embeddings = embed_all(&backbone, &crops, args.embed_batch);
    let embed_s = started.elapsed().as_secs_f64();
    let labels: Vec<usize> = items.iter().map(|(_, label)| *label).collect();

    let (mut head_accuracies, mut centroid_accuracies) = (Vec::new(), Vec::new());
    let mut head_confusion = ConfusionMatrix::new(classes, &[], &[]);
    let mut centroid_confusion = head_confusion.clone();
    let (mut train_s, mut split_sizes) = (0.0, (0, 0));
    for repeat in 0..args.repeats {
        let split_seed = args.seed + repeat as u64;
        let split: Split = match args.shots {
            Some(k) => shots_split(&labels, k, split_seed),
            None => stratified_split(&labels, args.test_fraction, split_seed),
        };
        split_sizes = (split.train.len(), split.test.len());
        let started = Instant::now();
        let outcome = evaluate_split(&embeddings, &labels, classes, &split, &args.head, &device, |stats| {
            if args.repeats == 1 {
                println!("  epoch {:2}: loss {:.4}, train accuracy {:.3}", stats.epoch, stats.loss, stats.accuracy);
            }
        });
        train_s += started.elapsed().as_secs_f64();
        head_accuracies.push(outcome.head.accuracy());
        head_confusion.add(&outcome.head);
        centroid_accuracies.push(outcome.centroid.accuracy());
        centroid_confusion.add(&outcome.centroid);
    }

    println!(
        "split: {} train / {} test per repeat ({}), {} repeat(s)",
        split_sizes.0,
        split_sizes.1,
        args.shots.map_or(format!("stratified, test fraction {}", args.test_fraction), |k| format!("{k} shots per person")),
        args.repeats
    );
    println!("\ntest accuracy, dense head:        {}", mean_and_spread(&head_accuracies));
    println!("test accuracy, nearest centroid:  {}", mean_and_spread(&centroid_accuracies));
    println!("\nconfusion matrix, dense head (summed over repeats):\n{}", head_confusion.render(&photos.names));
    println!("confusion matrix, nearest centroid (summed over repeats):\n{}", centroid_confusion.render(&photos.names));
    let n = paths.len() as f64;
    println!("time per stage:");
    println!("  load weights       {:8.2} s", load_s);
    println!("  decode + crop      {:8.2} s  ({:.2} ms/photo{})", decode_s, 1e3 * decode_s / n, if detect { ", with detection" } else { "" });
    println!("  embed (backbone)   {:8.2} s  ({:.1} ms/photo, batch {})", embed_s, 1e3 * embed_s / n, args.embed_batch);
    println!(
        "  train + test       {:8.2} s  ({:.2} s per split: dense head and centroid)",
        train_s,
        train_s / args.repeats as f64
    );
}
