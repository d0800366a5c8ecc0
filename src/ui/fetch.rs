//! Bytes from the page's own origin (with download progress) and from files the user picked.

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Why bytes could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: HTTP {status}")]
    Http { url: String, status: u16 },
    /// The network or the browser refused (offline, blocked, the file gone).
    #[error("{0}")]
    Failed(String),
}

fn failed(e: JsValue) -> FetchError {
    FetchError::Failed(e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

/// Fetches `url`, calling `progress(received, total)` as chunks arrive.
pub async fn bytes_with_progress(url: &str, progress: impl Fn(f64, Option<f64>)) -> Result<Vec<u8>, FetchError> {
    let window = web_sys::window().ok_or_else(|| FetchError::Failed("no window".into()))?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url)).await.map_err(failed)?.unchecked_into();
    if !response.ok() {
        return Err(FetchError::Http { url: url.into(), status: response.status() });
    }
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<f64>().ok());
    let body = response.body().ok_or_else(|| FetchError::Failed(format!("{url}: empty response")))?;
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total.unwrap_or(0.0) as usize);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(failed)?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map_err(failed)?;
        if done.as_bool() == Some(true) {
            break;
        }
        let value: Uint8Array = js_sys::Reflect::get(&chunk, &"value".into()).map_err(failed)?.unchecked_into();
        bytes.extend(value.to_vec());
        progress(bytes.len() as f64, total);
    }
    Ok(bytes)
}

/// Cache Storage bucket for the weights; a new app version starts a new one.
const WEIGHTS_CACHE: &str = concat!("facelab-weights-", env!("CARGO_PKG_VERSION"));

async fn weights_cache() -> Option<web_sys::Cache> {
    let caches = web_sys::window()?.caches().ok()?;
    Some(JsFuture::from(caches.open(WEIGHTS_CACHE)).await.ok()?.unchecked_into())
}

/// Drops a cached file (one found damaged), so that the next visit downloads it again.
pub async fn evict(url: &str) {
    if let Some(cache) = weights_cache().await {
        let _ = JsFuture::from(cache.delete_with_str(url)).await;
    }
}

/// The cached copy of `url`, if any.
pub async fn cached(url: &str) -> Option<Vec<u8>> {
    let cache = weights_cache().await?;
    let response = JsFuture::from(cache.match_with_str(url)).await.ok()?.dyn_into::<web_sys::Response>().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// Keeps `bytes` in the cache as `url`'s (where the cache is unavailable or full, nothing is kept).
pub async fn keep(url: &str, bytes: &mut [u8]) {
    if let Some(cache) = weights_cache().await
        && let Ok(response) = web_sys::Response::new_with_opt_u8_array(Some(bytes))
    {
        let _ = JsFuture::from(cache.put_with_str(url, &response)).await;
    }
}

/// Like `bytes_with_progress`, but kept in the browser's Cache Storage: a second visit reads the
/// file from there instead of downloading it again. Where the cache is unavailable or full, the
/// file is downloaded every time.
pub async fn cached_bytes(url: &str, progress: impl Fn(f64, Option<f64>)) -> Result<Vec<u8>, FetchError> {
    if let Some(bytes) = cached(url).await {
        progress(bytes.len() as f64, Some(bytes.len() as f64));
        return Ok(bytes);
    }
    let mut bytes = bytes_with_progress(url, progress).await?;
    keep(url, &mut bytes).await;
    Ok(bytes)
}

/// `url` from the network, kept in the cache; the cached copy where the network fails.
pub async fn fresh_or_cached(url: &str) -> Result<Vec<u8>, FetchError> {
    match bytes_with_progress(url, |_, _| {}).await {
        Ok(mut bytes) => {
            keep(url, &mut bytes).await;
            Ok(bytes)
        }
        Err(e) => cached(url).await.ok_or(e),
    }
}

/// The contents of a file the user picked.
pub async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, FetchError> {
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(failed)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
