//! The shape of every message between the page and its compute worker, both ways:
//! `{ job, body, bytes }`, where `body` is the JSON of a `Request` or `Reply` and `bytes` a
//! `Uint8Array` (transferred, not copied). Job 0 is the worker saying it has started.

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};

/// The message and the list of buffers to transfer with it.
pub fn message(job: u32, body: &str, bytes: &[u8]) -> (JsValue, Array) {
    let object = Object::new();
    let data = Uint8Array::from(bytes);
    let _ = Reflect::set(&object, &"job".into(), &job.into());
    let _ = Reflect::set(&object, &"body".into(), &body.into());
    let _ = Reflect::set(&object, &"bytes".into(), &data);
    (object.into(), Array::of1(&data.buffer()))
}

/// Job, body and bytes of a message; `None` for anything else.
pub fn parse(value: &JsValue) -> Option<(u32, String, Vec<u8>)> {
    let get = |key: &str| Reflect::get(value, &key.into()).ok();
    let job = get("job")?.as_f64()? as u32;
    let body = get("body")?.as_string()?;
    let bytes = get("bytes")?.dyn_into::<Uint8Array>().ok()?.to_vec();
    Some((job, body, bytes))
}
