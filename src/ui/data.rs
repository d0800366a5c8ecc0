//! The user's data as a whole: export it to a file, import such a file (here or in another
//! browser), or delete everything. Import checks the whole file (`facelab::archive`) before it
//! replaces anything.

use burn::tensor::Device;
use facelab::archive::{self, Archive};
use facelab::roster::Roster;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::sealing::{self, PassphraseField};
use super::state::AppState;
use super::thumbnail::blob_url;
use super::{fetch, picked_files};

const EXPORT_FILE: &str = "facelab-export.json";

/// Offers `bytes` as a download, made in the page (a blob URL: nothing is sent anywhere).
pub fn download(bytes: &[u8], file_name: &str) -> Result<(), wasm_bindgen::JsValue> {
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let link: web_sys::HtmlAnchorElement = document.create_element("a")?.unchecked_into();
    link.set_href(&blob_url(bytes));
    link.set_download(file_name);
    link.click();
    Ok(())
}

#[component]
pub fn YourData() -> impl IntoView {
    let state = expect_context::<AppState>();
    let (status, set_status) = signal(String::new());
    let passphrase = RwSignal::new(String::new());
    let export = Action::new_local(move |_: &()| async move {
        let archive = state.roster.with_untracked(|roster| state.models.with_untracked(|models| Archive::new(roster, models.values())));
        let passphrase = passphrase.get_untracked();
        let (bytes, kept) = match passphrase.is_empty() {
            true => (Ok(archive.to_json()), "keep it private"),
            false => (sealing::seal(&archive.to_json(), archive::FORMAT, &passphrase).await, "protected with your passphrase: without it, it cannot be read"),
        };
        set_status.set(match bytes.map(|bytes| download(&bytes, EXPORT_FILE)) {
            Ok(Ok(())) => format!("Exported to {EXPORT_FILE}. It holds face thumbnails and names: {kept}."),
            Ok(Err(e)) => format!("Export failed: {e:?}"),
            Err(e) => format!("Export failed: {e}"),
        });
    });
    let import = Action::new_local(move |file: &web_sys::File| {
        let file = file.clone();
        async move {
            let imported = match fetch::file_bytes(&file).await {
                Ok(bytes) => match sealing::open(bytes, &passphrase.get_untracked()).await {
                    Ok(bytes) => Archive::import(&bytes, &Device::flex()).map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e.to_string()),
            };
            let (roster, models) = match imported {
                Ok(contents) => contents,
                Err(e) => return set_status.set(format!("{} was not imported: {e}. Nothing was changed.", file.name())),
            };
            let with_models = match models.len() {
                0 => String::new(),
                1 => ", with the trained model".to_string(),
                n => format!(", with {n} trained models (one per backbone)"),
            };
            set_status.set(format!("Imported {} people and {} photos{with_models}.", roster.people().len(), roster.photo_count()));
            state.roster.set(roster);
            state.use_models(models.into_iter().map(|m| (m.backbone, m)).collect()).await;
            // Photos the file has no embedding of for the backbone in use.
            state.embed_unseen().await;
        }
    });
    let delete_everything = move |_| {
        state.roster.set(Roster::default());
        spawn_local(state.use_models(Default::default()));
        set_status.set("Everything enrolled was deleted from this page and its storage.".into());
    };
    view! {
        <section class="card">
            <h2>"Your data"</h2>
            <p class="muted">"People, embeddings, face pictures and the trained models are kept in this browser's storage and never leave this device."</p>
            <p class="muted" data-testid="storage-persistence">{move || match state.persistent.get() {
                Some(true) => "The browser keeps this storage even when the disk runs short.",
                Some(false) => "The browser may clear this storage when the disk runs short (it keeps it for sites you use often, or that you install): export a copy now and then.",
                None => "",
            }}</p>
            <div class="row">
                <button data-testid="export" on:click=move |_| { export.dispatch_local(()); } disabled=move || export.pending().get()>"Export to a file"</button>
                <label class="button">"Import a file"
                    <input type="file" accept=".json,application/json" class="hidden" data-testid="import-input"
                        on:change=move |ev| if let Some(file) = picked_files(&ev).into_iter().next() { import.dispatch_local(file); }/>
                </label>
                <button class="danger-fill" data-testid="delete-everything" on:click=delete_everything>"Delete everything"</button>
            </div>
            <PassphraseField value=passphrase testid="data-passphrase"/>
            <p data-testid="data-status">{status}</p>
        </section>
    }
}
