//! Keeps the roster (names, embeddings, face thumbnails and pictures) and each backbone's trained
//! model in the browser's IndexedDB, so that they survive a reload: each as the JSON of the
//! core's own type, the roster as a small index plus one record per photo (a save writes only
//! the photos that changed, so thousands of photos cost no more per save than a few). Each save
//! is one transaction: where it fails (a full quota), what was saved before stays as it was.
//! Nothing leaves the device.

use std::collections::BTreeMap;

use facelab::backbone::BackboneId;
use facelab::library::{Curation, Library, ScannedPhoto, Skipped};
use facelab::model::{Report, TrainedModel};
use facelab::roster::{Person, Photo, Roster, RosterChanges, RosterIndex};
use js_sys::{Array, Float32Array, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode};

const DATABASE: &str = "facelab";
/// The roster: its index under `KEY`, and one record per photo, keyed by the photo's id.
const ROSTER_INDEX: &str = "roster-index";
const ROSTER_PHOTOS: &str = "roster-photos";
/// Version 4's roster, one record under `KEY`, read where no index is saved yet.
const ROSTER: &str = "roster";
/// The models' JSON under `KEY`.
const MODEL: &str = "model";
const KEY: &str = "current";
/// Version 2's store of one record per person, read once where no roster is saved yet.
const PEOPLE_V2: &str = "people";
/// The photo library: one record under `KEY` (its backbone, skipped files and curation), and
/// one record per scanned photo, keyed by its path.
const LIBRARY: &str = "library";
const LIBRARY_PHOTOS: &str = "library-photos";
/// Version 2 added the model store, version 3 the roster store, version 4 the library's,
/// version 5 the roster's index and photo stores.
const VERSION: u32 = 5;

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
    if let Some(e) = e.dyn_ref::<web_sys::DomException>() {
        return storage_error(Some(e.clone()));
    }
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
        for store in [ROSTER, MODEL, PEOPLE_V2, LIBRARY, LIBRARY_PHOTOS, ROSTER_INDEX, ROSTER_PHOTOS] {
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

/// Runs `write` in one read-write transaction over `stores` and waits for it to commit: all of
/// it is saved, or (a request refused, the quota full) none of it.
async fn write(stores: &[&str], write: impl FnOnce(&IdbTransaction) -> Result<(), JsValue>) -> Result<(), StorageError> {
    let db = open().await?;
    let names: Array = stores.iter().map(|store| JsValue::from(*store)).collect();
    let transaction = db.transaction_with_str_sequence_and_mode(&names, IdbTransactionMode::Readwrite).map_err(failed)?;
    let committed = match write(&transaction) {
        Ok(()) => commit(&transaction).await,
        Err(e) => {
            let _ = transaction.abort();
            Err(failed(e))
        }
    };
    // Closed at once, not when collected: an open connection keeps the browser's view of this
    // origin's quota from before it opened, and blocks a newer version in another tab.
    db.close();
    committed
}

/// A roster's save, serialized: its index and the photos that changed.
pub struct RosterSave {
    index: String,
    changed: Vec<(u32, String)>,
    removed: Vec<u32>,
}

impl RosterSave {
    pub fn new(roster: &Roster, changes: RosterChanges) -> Self {
        let changed = changes.changed.iter().map(|p| (p.id, serde_json::to_string(p).expect("a photo serializes"))).collect();
        Self { index: serde_json::to_string(&roster.index()).expect("an index serializes"), changed, removed: changes.removed }
    }
}

/// Saves the roster's index and its changed photos in one transaction (the older versions'
/// records go with the first save).
pub async fn save_roster(save: &RosterSave) -> Result<(), StorageError> {
    write(&[ROSTER_INDEX, ROSTER_PHOTOS, ROSTER, PEOPLE_V2], |transaction| {
        let photos = transaction.object_store(ROSTER_PHOTOS)?;
        for (id, json) in &save.changed {
            photos.put_with_key(&json.into(), &(*id).into())?;
        }
        for id in &save.removed {
            photos.delete(&(*id).into())?;
        }
        transaction.object_store(ROSTER_INDEX)?.put_with_key(&save.index.as_str().into(), &KEY.into())?;
        transaction.object_store(ROSTER)?.clear()?;
        transaction.object_store(PEOPLE_V2)?.clear()?;
        Ok(())
    })
    .await
}

/// Asks the browser to keep this page's storage when the disk runs short (it may say no);
/// `None` where it cannot be asked.
pub async fn ask_to_persist() -> Option<bool> {
    let manager = web_sys::window()?.navigator().storage();
    JsFuture::from(manager.persist().ok()?).await.ok()?.as_bool()
}

pub type Models = BTreeMap<BackboneId, TrainedModel>;

/// Replaces the stored models (one per backbone).
pub async fn save_models(models: &Models) -> Result<(), StorageError> {
    let json = serde_json::to_string(models).expect("models serialize");
    write(&[MODEL], |transaction| transaction.object_store(MODEL)?.put_with_key(&json.into(), &KEY.into()).map(drop)).await
}

/// The stored models: one per backbone, or the single faceres model saved before there was a
/// choice.
fn models_from_json(json: &str) -> Result<Models, serde_json::Error> {
    serde_json::from_str::<Models>(json).or_else(|_| serde_json::from_str::<TrainedModel>(json).map(|m| Models::from([(m.backbone, m)])))
}

/// The stored roster and models.
pub async fn load() -> Result<(Roster, Models), StorageError> {
    let db = open().await?;
    let names: Array = [ROSTER_INDEX, ROSTER_PHOTOS, ROSTER, MODEL, PEOPLE_V2].into_iter().map(JsValue::from).collect();
    let transaction = db.transaction_with_str_sequence(&names).map_err(failed)?;
    // Every request goes out before any is awaited: the transaction must not end in between.
    let get = |store: &str| transaction.object_store(store).and_then(|s| s.get(&KEY.into())).map_err(failed);
    let get_all = |store: &str| transaction.object_store(store).and_then(|s| s.get_all()).map_err(failed);
    let (index, photos, roster_v4, model, people_v2) = (get(ROSTER_INDEX)?, get_all(ROSTER_PHOTOS)?, get(ROSTER)?, get(MODEL)?, get_all(PEOPLE_V2)?);
    let read = async {
        Ok::<_, StorageError>((settle(&index).await?, settle(&photos).await?, settle(&roster_v4).await?, settle(&model).await?, settle(&people_v2).await?))
    };
    let read = read.await;
    db.close();
    let (index, photos, roster_v4, model, people_v2) = read?;
    let unreadable = |e: serde_json::Error| StorageError::Unreadable("people", e.to_string());
    let roster = match (index.as_string(), roster_v4.as_string()) {
        (Some(index), _) => {
            let index: RosterIndex = serde_json::from_str(&index).map_err(unreadable)?;
            let photos: Array = photos.unchecked_into();
            let photos = photos.iter().filter_map(|p| p.as_string()).map(|json| serde_json::from_str::<Photo>(&json).map(|p| (p.id, p)));
            Roster::from_index(index, photos.collect::<Result<_, _>>().map_err(unreadable)?)
        }
        (None, Some(json)) => serde_json::from_str(&json).map_err(unreadable)?,
        (None, None) => v2::roster(&people_v2.unchecked_into()),
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
    write(&[LIBRARY, LIBRARY_PHOTOS], |transaction| {
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
    })
    .await
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
