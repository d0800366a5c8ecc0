//! Bad input, bounded: every parser of a file a user (or a damaged download) can hand the app is
//! fed mutated copies of a valid file (bits flipped, bytes set, cut short, spliced, JSON tokens
//! swapped for hostile ones) and must answer with an error or a value, never a panic; and no
//! single allocation may exceed `ALLOCATION_LIMIT` (a length read from the file and trusted would).
//! `FACELAB_FUZZ_CASES` sets the cases per parser (default 20,000: about 6 s for all of them in CI).
// Native only (files, a global allocator): `wasm-pack test` builds every test target for wasm32.
#![cfg(not(target_arch = "wasm32"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::OnceLock;

use burn::tensor::Device;
use facelab::archive::Archive;
use facelab::backbone::{BackboneId, DLIB_RESNET};
use facelab::convert::{dlib::convert_dlib_resnet, onnx, read_keras_h5, read_tfjs};
use facelab::dataset::{data_root, require, weights_dir};
use facelab::head::{HeadConfig, TrainedHead};
use facelab::library::{Library, LibraryFace, Recogniser, ScannedPhoto};
use facelab::model::TrainedModel;
use facelab::preprocess::{Normalization, RgbImage};
use facelab::roster::{FacePicture, Photo, Roster};
use facelab::sealed::Sealed;
use facelab::weights::{NamedTensor, read_f32, to_safetensors, widen_to_f32};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Larger than any allocation the seeds need (the biggest legitimate one: an image at the
/// pixel limit, 100 M pixels x 3 bytes), far smaller than a length field's worst.
const ALLOCATION_LIMIT: usize = 512 << 20;

struct Bounded;

// SAFETY: forwards to the system allocator, refusing (null, which Rust reports and aborts on)
// only requests past the limit.
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > ALLOCATION_LIMIT {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > ALLOCATION_LIMIT {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;

/// JSON a hand-edited or hostile file might hold where a value belongs.
const TOKENS: &[&str] = &[
    "null", "-1", "0", "4294967296", "18446744073709551616", "1e309", "-0.0", "\"\"", "[]", "{}", "true", "\"AAAA\"",
    "\"////\"", "[1e38,1e38]", "\"\\u0000\"", "{\"version\":99}", "[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]",
];

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(prop::sample::Index, u8),
    SetByte(prop::sample::Index, u8),
    CutAt(prop::sample::Index),
    Remove(prop::sample::Index, usize),
    Insert(prop::sample::Index, Vec<u8>),
    /// Repeats a stretch of the file (lengths and counts then disagree with what follows).
    Repeat(prop::sample::Index, usize),
    /// Puts a hostile JSON token in place of what follows a `:` or `[`.
    Token(prop::sample::Index, prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<prop::sample::Index>;
    prop_oneof![
        4 => (at(), 0..8u8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        3 => (at(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        1 => at().prop_map(Mutation::CutAt),
        1 => (at(), 1..64usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
        1 => (at(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (at(), 1..256usize).prop_map(|(i, n)| Mutation::Repeat(i, n)),
        2 => (at(), at()).prop_map(|(i, t)| Mutation::Token(i, t)),
    ]
}

fn apply(seed: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        let len = bytes.len();
        match m {
            Mutation::FlipBit(i, bit) => bytes[i.index(len)] ^= 1 << bit,
            Mutation::SetByte(i, b) => bytes[i.index(len)] = *b,
            Mutation::CutAt(i) => bytes.truncate(i.index(len)),
            Mutation::Remove(i, n) => {
                let at = i.index(len);
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Insert(i, new) => {
                let at = i.index(len);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Repeat(i, n) => {
                let at = i.index(len);
                let stretch = bytes[at..(at + n).min(len)].to_vec();
                bytes.splice(at..at, stretch);
            }
            Mutation::Token(i, t) => {
                let from = i.index(len);
                let Some(start) = bytes[from..].iter().position(|&b| b == b':' || b == b'[').map(|p| from + p + 1) else { continue };
                let end = bytes[start..].iter().position(|&b| b == b',' || b == b'}' || b == b']').map_or(len, |p| start + p);
                bytes.splice(start..end, TOKENS[t.index(TOKENS.len())].bytes());
            }
        }
    }
    bytes
}

fn cases() -> u32 {
    std::env::var("FACELAB_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(20_000)
}

/// Feeds `parse` (true: the input was read) the seeds themselves, then `cases()` mutated copies
/// of them; a panic fails the test with the smallest input proptest finds.
fn fuzz(name: &str, seeds: &[Vec<u8>], parse: impl Fn(&[u8]) -> bool) {
    let seeds_read = seeds.iter().filter(|seed| parse(seed)).count();
    let (tried, read) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let mut runner = TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() });
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 1..8));
    let result = runner.run(&strategy, |(seed, mutations)| {
        let bytes = apply(&seeds[seed], &mutations);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(&bytes)));
        tried.set(tried.get() + 1);
        read.set(read.get() + usize::from(matches!(outcome, Ok(true))));
        prop_assert!(outcome.is_ok(), "{name} panicked on {} bytes (seed {seed}, {mutations:?})", bytes.len());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let (tried, read) = (tried.get(), read.get());
    println!("{name}: {seeds_read} of {} seeds read; {tried} damaged copies: {} refused with an error, {read} still read; no panic", seeds.len(), tried - read);
}

fn device() -> Device {
    Device::flex()
}

fn tiny_image() -> RgbImage {
    RgbImage::new(40, 40, (0..40 * 40 * 3).map(|i| (i * 7 % 251) as u8).collect())
}

fn head_bytes() -> &'static [u8] {
    static HEAD: OnceLock<Vec<u8>> = OnceLock::new();
    HEAD.get_or_init(|| {
        let config = HeadConfig::new().with_epochs(1);
        let dim = BackboneId::FaceRes.spec().embedding_dim;
        config.train(&[vec![1.0; dim], vec![-1.0; dim]], &[0, 1], 2, &device(), |_| {}).to_safetensors().unwrap()
    })
}

/// A roster of two people (one photo each, faceres-sized embeddings) and a model of them.
fn roster_and_model() -> (Roster, TrainedModel) {
    let mut roster = Roster::default();
    for (name, value) in [("Ada", 0.5f32), ("Bob", -0.5)] {
        let id = roster.add_person(name).unwrap();
        let picture = FacePicture { jpeg: tiny_image().to_jpeg(80), face: None };
        let embedding = vec![value; BackboneId::FaceRes.spec().embedding_dim];
        roster.add_photo(id, Photo::new(format!("{name}.jpg"), BackboneId::FaceRes, embedding, tiny_image().to_png(), Some(picture)));
    }
    let model = TrainedModel { backbone: BackboneId::FaceRes, names: vec!["Ada".into(), "Bob".into()], head: head_bytes().to_vec(), unknown: None, report: None };
    (roster, model)
}

#[test]
fn the_export_file_reader_refuses_damage_without_panicking() {
    let (roster, model) = roster_and_model();
    let seeds = [Archive::new(&roster, [&model]).to_json(), Archive::new(&roster, []).to_json()];
    fuzz("archive import", &seeds, |bytes| {
        Archive::import(bytes, &device()).is_ok()
    });
}

#[test]
fn the_protected_file_reader_refuses_damage_without_panicking() {
    let seeds = [Sealed::new("facelab-export", vec![7; 16], vec![9; 12], vec![1; 64]).to_json()];
    fuzz("sealed envelope", &seeds, |bytes| {
        matches!(Sealed::detect(bytes), Some(Ok(_)))
    });
}

#[test]
fn the_library_file_reader_refuses_damage_without_panicking() {
    let (roster, _) = roster_and_model();
    let dim = BackboneId::FaceRes.spec().embedding_dim;
    let mut library = Library::new(BackboneId::FaceRes);
    for (path, value) in [("a/1.jpg", 0.5f32), ("a/2.jpg", -0.5)] {
        let face = LibraryFace { id: 0, bbox: [1.0, 2.0, 20.0, 20.0], score: 0.9, embedding: vec![value; dim], thumbnail_jpeg: tiny_image().to_jpeg(70), picture: None };
        library.add(ScannedPhoto { path: path.into(), width: 40, height: 40, thumbnail_jpeg: tiny_image().to_jpeg(70), faces: vec![face] });
    }
    library.skip("b/broken.jpg".into(), "not an image".into());
    let sorting = library.sorting(&Recogniser::new(&roster, BackboneId::FaceRes, None), 2);
    let seeds = [library.to_file_json(&sorting, &roster, true).into_bytes(), library.to_file_json(&sorting, &roster, false).into_bytes()];
    fuzz("library import", &seeds, |bytes| {
        let mut roster = roster.clone();
        Library::from_file_json(&String::from_utf8_lossy(bytes), &mut roster).is_ok()
    });
}

#[test]
fn the_safetensors_readers_refuse_damage_without_panicking() {
    let tensors = vec![
        NamedTensor { name: "a.weight".into(), shape: vec![2, 3], values: vec![0.5; 6] },
        NamedTensor { name: "b.bias".into(), shape: vec![3], values: vec![1.0, 2.0, 3.0] },
    ];
    let seeds = [to_safetensors(&tensors, Default::default()).unwrap(), head_bytes().to_vec()];
    fuzz("safetensors", &seeds, |bytes| {
        let read = read_f32(bytes).is_ok();
        let _ = widen_to_f32(bytes);
        TrainedHead::from_safetensors(bytes, &device()).is_ok() || read
    });
}

#[test]
fn the_tfjs_reader_refuses_damage_without_panicking() {
    let model_json = br#"{"modelTopology":{"class_name":"Model"},"weightsManifest":[{"paths":["group1-shard1of1.bin"],
        "weights":[{"name":"conv/kernel","shape":[2,2],"dtype":"float32"},
                   {"name":"conv/bias","shape":[2],"dtype":"float32","quantization":{"dtype":"uint8","scale":0.5,"min":-1.0}}]}]}"#;
    let shard: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|v| v.to_le_bytes()).chain([3u8, 200]).collect();
    // Either file damaged: the model.json (seed 0) or the shard behind an intact one (seed 1).
    let seeds = [model_json.to_vec(), shard.clone()];
    let intact = model_json.to_vec();
    fuzz("tfjs", &seeds, |bytes| {
        let as_model = read_tfjs(bytes, |_| Ok(shard.clone())).is_ok();
        read_tfjs(&intact, |_| Ok(bytes.to_vec())).is_ok() || as_model
    });
}

#[test]
fn the_keras_h5_reader_refuses_damage_without_panicking() {
    let mut builder = hdf5_pure::FileBuilder::new();
    let mut layer = builder.create_group("conv1");
    let mut inner = layer.create_group("conv1");
    inner.create_dataset("kernel:0").with_f32_data(&[0.25; 12]).with_shape(&[2, 2, 1, 3]);
    inner.create_dataset("bias:0").with_f32_data(&[0.5; 3]).with_shape(&[3]);
    layer.add_group(inner.finish());
    builder.add_group(layer.finish());
    let seeds = [builder.finish().unwrap()];
    assert!(read_keras_h5(&seeds[0]).is_ok(), "the seed itself reads");
    fuzz("keras .h5 (HDF5)", &seeds, |bytes| {
        read_keras_h5(bytes).is_ok()
    });
}

#[test]
fn the_dlib_reader_refuses_damage_without_panicking() {
    let path = weights_dir().join("cache").join(DLIB_RESNET.name).join(DLIB_RESNET.source.files[0].0);
    let path = require(&path, "run `cargo run --release --bin weights -- fetch` to fetch dlib's .dat").unwrap_or_else(|e| panic!("{e}"));
    // Its first 64 KiB: the header and the first layers, where a damaged length would be read.
    let mut seed = std::fs::read(path).unwrap();
    seed.truncate(64 << 10);
    fuzz("dlib .dat", &[seed], |bytes| {
        convert_dlib_resnet(bytes, &Normalization::DLIB).is_ok()
    });
}

#[test]
fn the_onnx_reader_refuses_damage_without_panicking() {
    // No small ONNX file is at hand: protobuf-shaped bytes (field tags, lengths) and noise.
    let seeds = [vec![0x08, 0x07, 0x12, 0x04, b't', b'o', b'r', b'c', 0x3a, 0x06, 0x0a, 0x01, b'x', 0x12, 0x01, b'y'], (0..=255u8).collect()];
    fuzz("onnx", &seeds, |bytes| {
        onnx::read(bytes).is_ok()
    });
}

#[test]
fn the_image_decoder_refuses_damage_without_panicking() {
    let lfw = data_root().join("lfw5/lfw/Colin_Powell/Colin_Powell_0001.jpg");
    let lfw = require(&lfw, "LFW-5's photos belong here (../shared/data/lfw5; set FACELAB_DATA)").unwrap_or_else(|e| panic!("{e}"));
    let seeds = [std::fs::read(lfw).unwrap(), tiny_image().to_png(), tiny_image().to_jpeg(90)];
    fuzz("image decode", &seeds, |bytes| {
        RgbImage::decode(bytes).is_ok()
    });
}
