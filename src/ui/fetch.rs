//! Bytes from the page's own origin (with download progress) and from files the user picked.

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

fn describe(e: JsValue) -> String {
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}

/// Fetches `url`, calling `progress(received, total)` as chunks arrive.
pub async fn bytes_with_progress(url: &str, progress: impl Fn(f64, Option<f64>)) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_str(url)).await.map_err(describe)?.unchecked_into();
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<f64>().ok());
    let body = response.body().ok_or("empty response")?;
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(total.unwrap_or(0.0) as usize);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(describe)?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).map_err(describe)?;
        if done.as_bool() == Some(true) {
            break;
        }
        let value: Uint8Array = js_sys::Reflect::get(&chunk, &"value".into()).map_err(describe)?.unchecked_into();
        bytes.extend(value.to_vec());
        progress(bytes.len() as f64, total);
    }
    Ok(bytes)
}

/// Cache Storage bucket for the weights; a new app version starts a new one.
const WEIGHTS_CACHE: &str = concat!("facelab-weights-", env!("CARGO_PKG_VERSION"));

async fn weights_cache() -> Result<web_sys::Cache, String> {
    let caches = web_sys::window().ok_or("no window")?.caches().map_err(describe)?;
    Ok(JsFuture::from(caches.open(WEIGHTS_CACHE)).await.map_err(describe)?.unchecked_into())
}

/// Like `bytes_with_progress`, but kept in the browser's Cache Storage: a second visit reads the
/// file from there instead of downloading it again. Where the cache is unavailable or full, the
/// file is downloaded every time.
pub async fn cached_bytes(url: &str, progress: impl Fn(f64, Option<f64>)) -> Result<Vec<u8>, String> {
    let cache = weights_cache().await.ok();
    if let Some(cache) = &cache
        && let Ok(hit) = JsFuture::from(cache.match_with_str(url)).await
        && let Ok(response) = hit.dyn_into::<web_sys::Response>()
        && let Ok(buffer) = response.array_buffer()
        && let Ok(buffer) = JsFuture::from(buffer).await
    {
        let bytes = Uint8Array::new(&buffer).to_vec();
        progress(bytes.len() as f64, Some(bytes.len() as f64));
        return Ok(bytes);
    }
    let mut bytes = bytes_with_progress(url, progress).await?;
    if let Some(cache) = cache
        && let Ok(response) = web_sys::Response::new_with_opt_u8_array(Some(&mut bytes))
    {
        let _ = JsFuture::from(cache.put_with_str(url, &response)).await;
    }
    Ok(bytes)
}

/// The contents of a file the user picked.
pub async fn file_bytes(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buffer = JsFuture::from(file.array_buffer()).await.map_err(describe)?;
    Ok(Uint8Array::new(&buffer).to_vec())
}
