//! Keeps the enrolled people (names, embeddings, small face thumbnails) and the trained model in
//! the browser's IndexedDB, so that they survive a reload. Nothing leaves the device.

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode};

use super::{Person, Photo, Report, Trained};

const DATABASE: &str = "facelab";
const PEOPLE: &str = "people";
/// One record, under `MODEL_KEY`: the trained head, its class names and its test report.
const MODEL: &str = "model";
const MODEL_KEY: &str = "current";
/// Version 2 added the model store.
const VERSION: u32 = 2;

fn describe(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Resolves when an IndexedDB request succeeds (with its result) or fails (with its error).
async fn settle(request: &IdbRequest) -> Result<JsValue, String> {
    if request.ready_state() == web_sys::IdbRequestReadyState::Done {
        return match request.error() {
            Ok(Some(e)) => Err(e.message()),
            _ => request.result().map_err(describe),
        };
    }
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let ok = Closure::once_into_js(move || resolve.call0(&JsValue::NULL));
        let fail = Closure::once_into_js(move || reject.call0(&JsValue::NULL));
        request.set_onsuccess(Some(ok.unchecked_ref()));
        request.set_onerror(Some(fail.unchecked_ref()));
    });
    match JsFuture::from(promise).await {
        Ok(_) => request.result().map_err(describe),
        Err(_) => Err(request.error().ok().flatten().map_or("storage request failed".into(), |e| e.message())),
    }
}

/// Why storing failed, in words; a full quota is named as such.
fn storage_error(error: Option<web_sys::DomException>) -> String {
    match error {
        Some(e) if e.name() == "QuotaExceededError" => "the browser's storage for this page is full".into(),
        Some(e) => e.message(),
        None => "storage request failed".into(),
    }
}

/// Resolves when a write transaction has committed, or fails with the reason it aborted.
async fn commit(transaction: &IdbTransaction) -> Result<(), String> {
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let ok = Closure::once_into_js(move || resolve.call0(&JsValue::NULL));
        let fail = Closure::once_into_js(move || reject.call0(&JsValue::NULL));
        transaction.set_oncomplete(Some(ok.unchecked_ref()));
        transaction.set_onabort(Some(fail.unchecked_ref()));
    });
    JsFuture::from(promise).await.map(|_| ()).map_err(|_| storage_error(transaction.error()))
}

async fn open() -> Result<IdbDatabase, String> {
    let factory = web_sys::window()
        .and_then(|w| w.indexed_db().ok().flatten())
        .ok_or("this browser offers no IndexedDB storage")?;
    let request: IdbOpenDbRequest = factory.open_with_u32(DATABASE, VERSION).map_err(describe)?;
    let upgrade = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let request: IdbOpenDbRequest = event.target().unwrap().unchecked_into();
        let db: IdbDatabase = request.result().unwrap().unchecked_into();
        for store in [PEOPLE, MODEL] {
            if !db.object_store_names().contains(store) {
                let _ = db.create_object_store(store);
            }
        }
    });
    request.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
    let db = settle(&request).await?;
    drop(upgrade);
    Ok(db.unchecked_into())
}

fn set(object: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(object, &key.into(), value);
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn person_to_js(person: &Person) -> JsValue {
    let object = Object::new();
    set(&object, "id", &person.id.into());
    set(&object, "name", &person.name.as_str().into());
    let photos = Array::new();
    for photo in &person.photos {
        let p = Object::new();
        set(&p, "id", &photo.id.into());
        set(&p, "file_name", &photo.file_name.as_str().into());
        set(&p, "embedding", &Float32Array::from(photo.embedding.as_slice()).into());
        set(&p, "thumbnail_png", &Uint8Array::from(photo.thumbnail_png.as_slice()).into());
        photos.push(&p);
    }
    set(&object, "photos", &photos);
    object.into()
}

fn person_from_js(value: &JsValue) -> Option<Person> {
    let photos = get(value, "photos").dyn_into::<Array>().ok()?;
    Some(Person {
        id: get(value, "id").as_f64()? as u32,
        name: get(value, "name").as_string()?,
        photos: photos
            .iter()
            .filter_map(|p| {
                let thumbnail_png = get(&p, "thumbnail_png").dyn_into::<Uint8Array>().ok()?.to_vec();
                Some(Photo {
                    id: get(&p, "id").as_f64()? as u32,
                    file_name: get(&p, "file_name").as_string()?,
                    thumbnail: super::blob_url(&thumbnail_png),
                    thumbnail_png,
                    embedding: get(&p, "embedding").dyn_into::<Float32Array>().ok()?.to_vec(),
                })
            })
            .collect(),
    })
}

fn model_to_js(trained: &Trained) -> JsValue {
    let object = Object::new();
    let names: Array = trained.names.iter().map(|n| JsValue::from(n.as_str())).collect();
    set(&object, "names", &names);
    set(&object, "head", &Uint8Array::from(trained.head.as_slice()).into());
    if let Some(report) = &trained.report {
        set(&object, "report", &serde_json::to_string(report).unwrap_or_default().into());
    }
    if let Some(unknown) = &trained.unknown {
        set(&object, "unknown", &serde_json::to_string(unknown).unwrap_or_default().into());
    }
    object.into()
}

fn model_from_js(value: &JsValue) -> Option<Trained> {
    let names = get(value, "names").dyn_into::<Array>().ok()?.iter().map(|n| n.as_string()).collect::<Option<_>>()?;
    let head = get(value, "head").dyn_into::<Uint8Array>().ok()?.to_vec();
    let report: Option<Report> = get(value, "report").as_string().and_then(|json| serde_json::from_str(&json).ok());
    let unknown = get(value, "unknown").as_string().and_then(|json| serde_json::from_str(&json).ok());
    Some(Trained { names, head, report, unknown })
}

/// Replaces the stored people with `people`.
pub async fn save_people(people: &[Person]) -> Result<(), String> {
    let db = open().await?;
    let transaction = db.transaction_with_str_and_mode(PEOPLE, IdbTransactionMode::Readwrite).map_err(describe)?;
    let store = transaction.object_store(PEOPLE).map_err(describe)?;
    store.clear().map_err(describe)?;
    for person in people {
        store.put_with_key(&person_to_js(person), &person.id.into()).map_err(describe)?;
    }
    commit(&transaction).await
}

/// Replaces the stored model (or removes it).
pub async fn save_model(trained: Option<&Trained>) -> Result<(), String> {
    let db = open().await?;
    let transaction = db.transaction_with_str_and_mode(MODEL, IdbTransactionMode::Readwrite).map_err(describe)?;
    let store = transaction.object_store(MODEL).map_err(describe)?;
    match trained {
        Some(trained) => store.put_with_key(&model_to_js(trained), &MODEL_KEY.into()),
        None => store.delete(&MODEL_KEY.into()),
    }
    .map_err(describe)?;
    commit(&transaction).await
}

/// Everyone stored, in the order they were added, and the stored model.
pub async fn load() -> Result<(Vec<Person>, Option<Trained>), String> {
    let db = open().await?;
    let names: Array = [PEOPLE, MODEL].into_iter().map(JsValue::from).collect();
    let transaction = db.transaction_with_str_sequence(&names).map_err(describe)?;
    // Both requests go out before either is awaited: the transaction must not end in between.
    let people_request = transaction.object_store(PEOPLE).and_then(|s| s.get_all()).map_err(describe)?;
    let model_request = transaction.object_store(MODEL).and_then(|s| s.get(&MODEL_KEY.into())).map_err(describe)?;
    let all: Array = settle(&people_request).await?.unchecked_into();
    let model = settle(&model_request).await?;
    let mut people: Vec<Person> = all.iter().filter_map(|v| person_from_js(&v)).collect();
    people.sort_by_key(|p| p.id);
    Ok((people, model_from_js(&model)))
}
