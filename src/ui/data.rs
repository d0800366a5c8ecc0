//! The user's data as a whole: export it to a file, import such a file (here or in another
//! browser), or delete everything. Import checks the whole file before it replaces anything.

use burn::tensor::Device;
use facelab::archive::{Archive, ArchivedHead, ArchivedPerson, ArchivedPhoto};
use facelab::backbone::FACERES;
use facelab::compute::Request;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::{AppState, Person, Photo, Trained, fetch, blob_url};

const EXPORT_FILE: &str = "facelab-export.json";

fn archive(state: AppState) -> Archive {
    let people = state.people.get_untracked().into_iter().map(|p| ArchivedPerson {
        name: p.name,
        photos: p.photos.into_iter().map(|f| ArchivedPhoto {
            file_name: f.file_name,
            embedding: f.embedding,
            thumbnail_png: f.thumbnail_png,
        }).collect(),
    });
    let head = state.trained.get_untracked().map(|t| ArchivedHead { names: t.names, safetensors: t.head, unknown: t.unknown });
    Archive::new(&FACERES, people.collect(), head)
}

/// Offers `bytes` as a download, made in the page (a blob URL: nothing is sent anywhere).
fn download(bytes: &[u8], file_name: &str) -> Result<(), String> {
    let url = blob_url(bytes);
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let link: web_sys::HtmlAnchorElement = document.create_element("a").map_err(|e| format!("{e:?}"))?.unchecked_into();
    link.set_href(&url);
    link.set_download(file_name);
    link.click();
    Ok(())
}

/// Replaces what is enrolled with the file's contents (already validated).
fn replace_with(state: AppState, archive: Archive) -> String {
    let people: Vec<Person> = archive.people.into_iter().map(|p| Person {
        id: state.next_id(),
        name: p.name,
        photos: p.photos.into_iter().map(|f| Photo {
            id: state.next_id(),
            file_name: f.file_name,
            thumbnail: blob_url(&f.thumbnail_png),
            thumbnail_png: f.thumbnail_png,
            embedding: f.embedding,
        }).collect(),
    }).collect();
    let photos: usize = people.iter().map(|p| p.photos.len()).sum();
    let summary = format!("Imported {} people and {photos} photos", people.len());
    state.people.set(people);
    let trained = archive.head.map(|h| Trained { names: h.names, head: h.safetensors, report: None, unknown: h.unknown });
    let with_model = trained.is_some();
    state.trained.set(trained.clone());
    if let Some(trained) = trained {
        spawn_local(async move {
            if let Err(e) = state.call(Request::SetHead, &trained.head, |_| {}).await {
                state.backend_note.set(format!("The imported model could not be used ({e}); train again."));
            }
        });
    }
    if with_model { format!("{summary}, with the trained model.") } else { format!("{summary}.") }
}

#[component]
pub fn YourData() -> impl IntoView {
    let state = expect_context::<AppState>();
    let (status, set_status) = signal(String::new());
    let export = move |_| {
        let result = download(&archive(state).to_json(), EXPORT_FILE);
        set_status.set(match result {
            Ok(()) => format!("Exported to {EXPORT_FILE}. It holds face thumbnails and names: keep it private."),
            Err(e) => format!("Export failed: {e}"),
        });
    };
    let import = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
        let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
        input.set_value("");
        spawn_local(async move {
            let checked = match fetch::file_bytes(&file).await {
                Ok(bytes) => Archive::from_json(&bytes, &FACERES, &Device::flex()),
                Err(e) => Err(e),
            };
            set_status.set(match checked {
                Ok(archive) => replace_with(state, archive),
                Err(e) => format!("{} was not imported: {e}. Nothing was changed.", file.name()),
            });
        });
    };
    view! {
        <section class="card">
            <h2>"Your data"</h2>
            <p class="muted">"People, embeddings, face thumbnails and the trained model are kept in this browser's storage and never leave this device."</p>
            <div class="row">
                <button data-testid="export" on:click=export>"Export to a file"</button>
                <label class="button">"Import a file"
                    <input type="file" accept=".json,application/json" class="hidden" data-testid="import-input" on:change=import/>
                </label>
                <button class="danger-fill" data-testid="delete-everything" on:click=move |_| {
                    state.people.set(Vec::new());
                    state.trained.set(None);
                    set_status.set("Everything enrolled was deleted from this page and its storage.".into());
                }>"Delete everything"</button>
            </div>
            <p data-testid="data-status">{status}</p>
        </section>
    }
}
