//! The files the user gives the library, with their paths: a folder input (`webkitdirectory`),
//! a many-files input, or folders and files dropped (folders walked through their entries).

use js_sys::{Array, Function, Promise};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, FileSystemDirectoryEntry, FileSystemEntry, FileSystemFileEntry};

/// What the library does with a file, by its name.
pub enum Kind {
    Photo,
    /// Not scanned, with the reason shown to the user.
    Skip(&'static str),
}

pub fn kind(path: &str) -> Kind {
    let extension = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" | "png" | "webp" => Kind::Photo,
        "heic" | "heif" => Kind::Skip("HEIC photos are not decoded in this browser: export them as JPEG"),
        _ => Kind::Skip("not a photo this page reads (JPEG, PNG or WebP)"),
    }
}

/// The files of an input, with their path in the picked folder (or their name).
pub fn picked(ev: &leptos::ev::Event) -> Vec<(String, File)> {
    crate::ui::picked_files(ev)
        .into_iter()
        .map(|file| {
            // Where a folder was picked, its path in it (web-sys does not bind the property).
            let path = js_sys::Reflect::get(&file, &"webkitRelativePath".into()).ok().and_then(|p| p.as_string()).unwrap_or_default();
            (if path.is_empty() { file.name() } else { path }, file)
        })
        .collect()
}

/// The entries of a drop, taken while the event lasts (the browser empties them after).
pub fn dropped_entries(ev: &leptos::ev::DragEvent) -> Vec<FileSystemEntry> {
    ev.prevent_default();
    let Some(items) = ev.data_transfer().map(|t| t.items()) else { return Vec::new() };
    (0..items.length()).filter_map(|i| items.get(i)?.webkit_get_as_entry().ok().flatten()).collect()
}

/// A promise settled by a callback API: `arm` gets the success and the error callbacks.
async fn called_back(arm: impl FnOnce(&Function, &Function) -> Result<(), JsValue>) -> Result<JsValue, JsValue> {
    let mut arm = Some(arm);
    let mut armed = Ok(());
    let promise = Promise::new(&mut |resolve, reject| {
        if let Some(arm) = arm.take() {
            armed = arm(&resolve, &reject);
        }
    });
    armed?;
    JsFuture::from(promise).await
}

/// Every file under the dropped entries, folders walked, with paths relative to the drop.
pub async fn walk(entries: Vec<FileSystemEntry>) -> Vec<(String, File)> {
    let mut files = Vec::new();
    let mut to_visit = entries;
    while let Some(entry) = to_visit.pop() {
        let path = entry.full_path().trim_start_matches('/').to_string();
        if entry.is_file() {
            let entry: FileSystemFileEntry = entry.unchecked_into();
            if let Ok(file) = called_back(|ok, fail| {
                entry.file_with_callback_and_callback(ok, fail);
                Ok(())
            })
            .await
            {
                files.push((path, file.unchecked_into()));
            }
        } else if entry.is_directory() {
            let reader = entry.unchecked_into::<FileSystemDirectoryEntry>().create_reader();
            // A reader hands out its entries in parts, until an empty one.
            loop {
                let Ok(part) = called_back(|ok, fail| reader.read_entries_with_callback_and_callback(ok, fail)).await else { break };
                let part: Array = part.unchecked_into();
                if part.length() == 0 {
                    break;
                }
                to_visit.extend(part.iter().map(JsCast::unchecked_into));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}
