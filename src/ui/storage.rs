//! Keeps the roster (names, embeddings, face thumbnails and pictures) and each backbone's trained
//! model in the browser's IndexedDB, so that they survive a reload: each as the JSON of the
//! core's own type. Nothing leaves the device.

use std::collections::BTreeMap;

use facelab::backbone::BackboneId;
use facelab::library::{Curation, Library, ScannedPhoto, Skipped};
use facelab::model::{Report, TrainedModel};
use facelab::roster::{Person, Photo, Roster};
use js_sys::{Array, Float32Array, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode};

const DATABASE: &str = "facelab";
/// One record each, under `KEY`: the roster's and the model's JSON.
const ROSTER: &str = "roster";
const MODEL: &str = "model";
const KEY: &str = "current";
/// Version 2's store of one record per person, read once where no roster is saved yet.
const PEOPLE_V2: &str = "people";
/// The photo library: one record under `KEY` (its backbone, skipped files and curation), and
/// one record per scanned photo, keyed by its path.
const LIBRARY: &str = "library";
const LIBRARY_PHOTOS: &str = "library-photos";
/// Version 2 added the model store, version 3 the roster store, version 4 the library's.
const VERSION: u32 = 4;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("this browser offers no IndexedDB storage")]
    Unavailable,
    #[error("the browser's storage for this page is full")]
    Full,
    #[error("{0}")]
    Failed(String),
    #[error("the saved {0} could not be read ({1})")]
    Unreadable(&'static str, String),
}

fn failed(e: JsValue) -> StorageError {
    let text = e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).or_else(|| e.as_string());
    StorageError::Failed(text.unwrap_or_else(|| format!("{e:?}")))
}

/// Why a request or a transaction failed; a full quota is named as such.
fn storage_error(error: Option<web_sys::DomException>) -> StorageError {
    match error {
        Some(e) if e.name() == "QuotaExceededError" => StorageError::Full,
        Some(e) => StorageError::Failed(e.message()),
        None => StorageError::Failed("storage request failed".into()),
    }
}

/// A promise that resolves when `on_done` is called and rejects when `on_fail` is.
async fn settled(arm: impl FnOnce(&js_sys::Function, &js_sys::Function)) -> bool {
    let mut arm = Some(arm);
    let promise = js_sys::Promise::new(&mut |resolve, reject| {
        let ok = Closure::once_into_js(move || resolve.call0(&JsValue::NULL));
        let fail = Closure::once_into_js(move || reject.call0(&JsValue::NULL));
        if let Some(arm) = arm.take() {
            arm(ok.unchecked_ref(), fail.unchecked_ref());
        }
    });
    JsFuture::from(promise).await.is_ok()
}

/// Resolves when an IndexedDB request succeeds (with its result) or fails (with its error).
async fn settle(request: &IdbRequest) -> Result<JsValue, StorageError> {
    let done = request.ready_state() == web_sys::IdbRequestReadyState::Done
        || settled(|ok, fail| {
            request.set_onsuccess(Some(ok));
            request.set_onerror(Some(fail));
        })
        .await;
    match request.error() {
        Ok(Some(e)) => Err(storage_error(Some(e))),
        _ if !done => Err(storage_error(None)),
        _ => request.result().map_err(failed),
    }
}

/// Resolves when a write transaction has committed, or fails with the reason it aborted.
async fn commit(transaction: &IdbTransaction) -> Result<(), StorageError> {
    let committed = settled(|ok, fail| {
        transaction.set_oncomplete(Some(ok));
        transaction.set_onabort(Some(fail));
    })
    .await;
    if committed { Ok(()) } else { Err(storage_error(transaction.error())) }
}

async fn open() -> Result<IdbDatabase, StorageError> {
    let factory = web_sys::window().and_then(|w| w.indexed_db().ok().flatten()).ok_or(StorageError::Unavailable)?;
    let request: IdbOpenDbRequest = factory.open_with_u32(DATABASE, VERSION).map_err(failed)?;
    let upgrade = Closure::<dyn FnMut(web_sys::Event)>::new(move |event: web_sys::Event| {
        let request: IdbOpenDbRequest = event.target().unwrap().unchecked_into();
        let db: IdbDatabase = request.result().unwrap().unchecked_into();
        for store in [ROSTER, MODEL, PEOPLE_V2, LIBRARY, LIBRARY_PHOTOS] {
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

/// Replaces one store's record with `json` (or removes it); `also_clear` is emptied in the same
/// transaction.
async fn put(store: &str, json: Option<String>, also_clear: Option<&str>) -> Result<(), StorageError> {
    let db = open().await?;
    let names: Array = std::iter::once(store).chain(also_clear).map(JsValue::from).collect();
    let transaction = db.transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readwrite).map_err(failed)?;
    let records = transaction.object_store(store).map_err(failed)?;
    match json {
        Some(json) => records.put_with_key(&json.into(), &KEY.into()),
        None => records.delete(&KEY.into()),
    }
    .map_err(failed)?;
    if let Some(other) = also_clear {
        transaction.object_store(other).and_then(|s| s.clear()).map_err(failed)?;
    }
    let committed = commit(&transaction).await;
    // Closed at once, not when collected: an open connection keeps the browser's view of this
    // origin's quota from before it opened, and blocks a newer version in another tab.
    db.close();
    committed
}

/// Replaces the stored roster (version 2's per-person records go with the first save).
pub async fn save_roster(roster: &Roster) -> Result<(), StorageError> {
    put(ROSTER, Some(serde_json::to_string(roster).expect("a roster serializes")), Some(PEOPLE_V2)).await
}

pub type Models = BTreeMap<BackboneId, TrainedModel>;

/// Replaces the stored models (one per backbone).
pub async fn save_models(models: &Models) -> Result<(), StorageError> {
    put(MODEL, Some(serde_json::to_string(models).expect("models serialize")), None).await
}

/// The stored models: one per backbone, or the single faceres model saved before there was a
/// choice.
fn models_from_json(json: &str) -> Result<Models, serde_json::Error> {
    serde_json::from_str::<Models>(json).or_else(|_| serde_json::from_str::<TrainedModel>(json).map(|m| Models::from([(m.backbone, m)])))
}

/// The stored roster and models.
pub async fn load() -> Result<(Roster, Models), StorageError> {
    let db = open().await?;
    let names: Array = [ROSTER, MODEL, PEOPLE_V2].into_iter().map(JsValue::from).collect();
    let transaction = db.transaction_with_str_sequence(&names).map_err(failed)?;
    // Every request goes out before any is awaited: the transaction must not end in between.
    let get = |store: &str| transaction.object_store(store).and_then(|s| s.get(&KEY.into())).map_err(failed);
    let (roster, model) = (get(ROSTER)?, get(MODEL)?);
    let people_v2 = transaction.object_store(PEOPLE_V2).and_then(|s| s.get_all()).map_err(failed)?;
    let read = async { Ok::<_, StorageError>((settle(&roster).await?, settle(&model).await?, settle(&people_v2).await?)) };
    let read = read.await;
    db.close();
    let (roster, model, people_v2) = read?;
    let roster = match roster.as_string() {
        Some(json) => serde_json::from_str(&json).map_err(|e| StorageError::Unreadable("people", e.to_string()))?,
        None => v2::roster(&people_v2.unchecked_into()),
    };
    let models = match model.as_string() {
        Some(json) => models_from_json(&json).map_err(|e| StorageError::Unreadable("model", e.to_string()))?,
        None => v2::model(&model).map(|m| Models::from([(m.backbone, m)])).unwrap_or_default(),
    };
    Ok((roster, models))
}

/// The library's small record; its photos are records of their own.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct LibraryRecord {
    pub backbone: BackboneId,
    pub skipped: Vec<Skipped>,
    pub curation: Curation,
}

/// Saves the library's record and `new_photos` (photos saved before stay) in one transaction;
/// `None` (an empty library) clears both stores.
pub async fn save_library(record: Option<LibraryRecord>, new_photos: &[ScannedPhoto]) -> Result<(), StorageError> {
    let db = open().await?;
    let names: Array = [LIBRARY, LIBRARY_PHOTOS].into_iter().map(JsValue::from).collect();
    let transaction = db.transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readwrite).map_err(failed)?;
    let written = (|| {
        let (meta, photos) = (transaction.object_store(LIBRARY)?, transaction.object_store(LIBRARY_PHOTOS)?);
        let Some(record) = record else {
            meta.clear()?;
            photos.clear()?;
            return Ok(());
        };
        meta.put_with_key(&serde_json::to_string(&record).expect("a library record serializes").into(), &KEY.into())?;
        for photo in new_photos {
            photos.put_with_key(&serde_json::to_string(photo).expect("a photo serializes").into(), &photo.path.clone().into())?;
        }
        Ok(())
    })()
    .map_err(failed);
    let committed = match written {
        Ok(()) => commit(&transaction).await,
        Err(e) => Err(e),
    };
    db.close();
    committed
}

/// The saved library, if any.
pub async fn load_library() -> Result<Option<Library>, StorageError> {
    let db = open().await?;
    let names: Array = [LIBRARY, LIBRARY_PHOTOS].into_iter().map(JsValue::from).collect();
    let transaction = db.transaction_with_str_sequence(&names).map_err(failed)?;
    let meta = transaction.object_store(LIBRARY).and_then(|s| s.get(&KEY.into())).map_err(failed)?;
    let photos = transaction.object_store(LIBRARY_PHOTOS).and_then(|s| s.get_all()).map_err(failed)?;
    let read = async { Ok::<_, StorageError>((settle(&meta).await?, settle(&photos).await?)) }.await;
    db.close();
    let (meta, photos) = read?;
    let Some(meta) = meta.as_string() else { return Ok(None) };
    let unreadable = |e: serde_json::Error| StorageError::Unreadable("photo library", e.to_string());
    let record: LibraryRecord = serde_json::from_str(&meta).map_err(unreadable)?;
    let photos: Array = photos.unchecked_into();
    let photos = photos.iter().filter_map(|p| p.as_string()).map(|json| serde_json::from_str(&json)).collect::<Result<Vec<ScannedPhoto>, _>>().map_err(unreadable)?;
    Ok(Some(Library::restore(record.backbone, photos, record.skipped, record.curation)))
}

/// Version 2's records (one JS object per person, one for the model), read once after an upgrade.
mod v2 {
    use super::*;

    fn get(object: &JsValue, key: &str) -> JsValue {
        js_sys::Reflect::get(object, &key.into()).unwrap_or(JsValue::UNDEFINED)
    }

    fn person(value: &JsValue) -> Option<Person> {
        let photos = get(value, "photos").dyn_into::<Array>().ok()?;
        let photo = |p: JsValue| {
            Some(Photo::new(
                get(&p, "file_name").as_string()?,
                BackboneId::FaceRes,
                get(&p, "embedding").dyn_into::<Float32Array>().ok()?.to_vec(),
                get(&p, "thumbnail_png").dyn_into::<Uint8Array>().ok()?.to_vec(),
                None,
            ))
        };
        Some(Person { id: get(value, "id").as_f64()? as u32, name: get(value, "name").as_string()?, photos: photos.iter().filter_map(photo).collect() })
    }

    pub fn roster(records: &Array) -> Roster {
        let mut people: Vec<Person> = records.iter().filter_map(|v| person(&v)).collect();
        people.sort_by_key(|p| p.id);
        Roster::from_people(people)
    }

    pub fn model(value: &JsValue) -> Option<TrainedModel> {
        let names = get(value, "names").dyn_into::<Array>().ok()?.iter().map(|n| n.as_string()).collect::<Option<_>>()?;
        let head = get(value, "head").dyn_into::<Uint8Array>().ok()?.to_vec();
        let report: Option<Report> = get(value, "report").as_string().and_then(|json| serde_json::from_str(&json).ok());
        let unknown = get(value, "unknown").as_string().and_then(|json| serde_json::from_str(&json).ok());
        Some(TrainedModel { backbone: BackboneId::FaceRes, names, head, unknown, report })
    }
}
