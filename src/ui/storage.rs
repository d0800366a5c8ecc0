//! Keeps the enrolled people (names, embeddings, small face thumbnails) in the browser's
//! IndexedDB, so that they survive a reload. Nothing leaves the device.

use js_sys::{Array, Float32Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransactionMode};

use super::{Person, Photo};

const DATABASE: &str = "facelab";
const STORE: &str = "people";
const VERSION: u32 = 1;

fn describe(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// Resolves when an IndexedDB request succeeds (with its result) or fails (with its error).
async fn settle(request: &IdbRequest) -> Result<JsValue, String> {
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

async fn open() -> Result<IdbDatabase, String> {
    let factory = web_sys::window()
        .and_then(|w| w.indexed_db().ok().flatten())
        .ok_or("this browser offers no IndexedDB storage")?;
    let request: IdbOpenDbRequest = factory.open_with_u32(DATABASE, VERSION).map_err(describe)?;
    let upgrade = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let request: IdbOpenDbRequest = event.target().unwrap().unchecked_into();
        let db: IdbDatabase = request.result().unwrap().unchecked_into();
        if !db.object_store_names().contains(STORE) {
            let _ = db.create_object_store(STORE);
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
                    thumbnail: super::thumbnail_url(&thumbnail_png),
                    thumbnail_png,
                    embedding: get(&p, "embedding").dyn_into::<Float32Array>().ok()?.to_vec(),
                })
            })
            .collect(),
    })
}

/// Replaces what is stored with `people`.
pub async fn save(people: &[Person]) -> Result<(), String> {
    let db = open().await?;
    let transaction = db.transaction_with_str_and_mode(STORE, IdbTransactionMode::Readwrite).map_err(describe)?;
    let store = transaction.object_store(STORE).map_err(describe)?;
    // Requests of one transaction run in order and a failure aborts them all, so the last one
    // settling tells about every one.
    let mut last = store.clear().map_err(describe)?;
    for person in people {
        last = store.put_with_key(&person_to_js(person), &person.id.into()).map_err(describe)?;
    }
    settle(&last).await.map(|_| ())
}

/// Everyone stored, in the order they were added.
pub async fn load() -> Result<Vec<Person>, String> {
    let db = open().await?;
    let transaction = db.transaction_with_str(STORE).map_err(describe)?;
    let store = transaction.object_store(STORE).map_err(describe)?;
    let all: Array = settle(&store.get_all().map_err(describe)?).await?.unchecked_into();
    let mut people: Vec<Person> = all.iter().filter_map(|v| person_from_js(&v)).collect();
    people.sort_by_key(|p| p.id);
    Ok(people)
}
