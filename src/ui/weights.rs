//! The backbones' weights in the page: what the weights tool's manifest says of each (size,
//! sha256), downloaded only when a backbone is first chosen, kept in Cache Storage, and checked
//! against the manifest's sha256 before use. The user's own vggface2-resnet50 file, converted in
//! the worker, is kept in the same cache under the URL it would have.

use std::collections::BTreeMap;

use facelab::backbone::{BackboneId, BackboneSpec};
use sha2::{Digest, Sha256};

use super::fetch::{self, FetchError};

const MANIFEST_URL: &str = "weights/manifest.json";
pub const DETECTOR_URL: &str = "weights/blazeface-front.safetensors";

/// Where the page serves (or keeps) a backbone's converted weights.
pub fn url(spec: &BackboneSpec) -> String {
    format!("weights/{}", spec.weights_file)
}

/// What the manifest says of one converted file.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct Entry {
    pub bytes: f64,
    pub sha256: String,
}

/// The manifest's entries by backbone, for the backbones this build serves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest(pub BTreeMap<BackboneId, Entry>);

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("this page does not serve {0}")]
    NotServed(&'static str),
    #[error("the {backbone} download is damaged (sha256 {found}, expected {expected}); it was removed: choose it again to download it anew")]
    Damaged { backbone: &'static str, found: String, expected: String },
}

impl Manifest {
    /// The served manifest (the network first, so that a new build's weights are seen; the
    /// cached copy where the network fails).
    pub async fn load() -> Result<Self, FetchError> {
        let bytes = fetch::fresh_or_cached(MANIFEST_URL).await?;
        let entries: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&bytes).map_err(|e| FetchError::Failed(format!("{MANIFEST_URL}: {e}")))?;
        let served = entries
            .into_iter()
            .filter_map(|(name, entry)| Some((BackboneId::from_name(&name)?, serde_json::from_value(entry).ok()?)))
            .collect();
        Ok(Self(served))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A backbone's weights from the cache or the network (`progress(received, total)`), checked
/// against the manifest; a damaged copy is evicted so the next try downloads it again.
pub async fn verified(spec: &'static BackboneSpec, manifest: &Manifest, progress: impl Fn(f64, Option<f64>)) -> Result<Vec<u8>, WeightsError> {
    let entry = manifest.0.get(&spec.id).ok_or(WeightsError::NotServed(spec.name))?;
    let url = url(spec);
    let bytes = fetch::cached_bytes(&url, progress).await?;
    let found = sha256_hex(&bytes);
    if found != entry.sha256 {
        fetch::evict(&url).await;
        return Err(WeightsError::Damaged { backbone: spec.name, found, expected: entry.sha256.clone() });
    }
    Ok(bytes)
}

/// The user's own converted weights (vggface2-resnet50), kept in this browser, if any.
pub async fn users_own(spec: &BackboneSpec) -> Option<Vec<u8>> {
    fetch::cached(&url(spec)).await
}

/// Keeps the user's converted weights for the next visit.
pub async fn keep_users_own(spec: &BackboneSpec, bytes: &mut [u8]) {
    fetch::keep(&url(spec), bytes).await;
}
