//! The photo library: the user's own folder of photos, scanned on the device (every face found
//! and embedded in the workers), named where a face is like an enrolled person, grouped where
//! not, curated by the user (each action undoable), kept in IndexedDB, exported as JSON or CSV.
//! The rules are the core's (`facelab::library`); this is the view of them.

mod files;
mod scan;
mod views;

use facelab::cluster::Clustering;
use facelab::library::{FILE_FORMAT, Library, Recogniser, Sorting};
use facelab::roster::Roster;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::data::download;
use super::sealing::{self, PassphraseField};
use super::state::AppState;
use super::{fetch, storage};
use scan::ScanProgress;

/// A group needs this many unknown faces (fewer stay ungrouped).
const MIN_GROUP: usize = 2;

/// The library's signals, shared by its views.
#[derive(Clone, Copy)]
pub struct LibraryState {
    pub library: RwSignal<Library>,
    /// Every face's label for the current roster.
    pub sorting: Memo<Sorting>,
    pub scan: RwSignal<Option<ScanProgress>>,
    pub paused: RwSignal<bool>,
    pub cancelled: StoredValue<bool>,
    pub message: RwSignal<String>,
    /// Whether the saved library has been read (nothing is saved before).
    pub restored: RwSignal<bool>,
}

impl LibraryState {
    fn new(state: AppState) -> Self {
        let library = RwSignal::new(Library::new(state.backbone.get_untracked()));
        let sorting = Memo::new(move |_| {
            library.with(|l| state.roster.with(|r| state.models.with(|m| l.sorting(&Recogniser::new(r, l.backbone, m.get(&l.backbone)), MIN_GROUP))))
        });
        Self {
            library,
            sorting,
            scan: RwSignal::new(None),
            paused: RwSignal::new(false),
            cancelled: StoredValue::new(false),
            message: RwSignal::new(String::new()),
            restored: RwSignal::new(false),
        }
    }

    pub fn clustering(&self) -> Clustering {
        Clustering { cut: self.library.with_untracked(|l| l.backbone.spec().cluster_cut), min_size: MIN_GROUP }
    }

    /// A recogniser for the roster as it is now.
    pub fn recogniser(&self, state: AppState) -> Recogniser {
        self.library.with_untracked(|l| state.roster.with_untracked(|r| state.models.with_untracked(|m| Recogniser::new(r, l.backbone, m.get(&l.backbone)))))
    }

    /// Saves the library (and `new_photos`, the photos not saved yet); says so where it fails.
    pub fn save(self, new_photos: Vec<facelab::library::ScannedPhoto>) {
        if !self.restored.get_untracked() {
            return;
        }
        spawn_local(async move {
            // The small record only: the photos saved before stay as they are.
            let record = self.library.with_untracked(|l| {
                let empty = l.photos().is_empty() && l.skipped.is_empty();
                (!empty).then(|| storage::LibraryRecord { backbone: l.backbone, skipped: l.skipped.clone(), curation: l.curation.clone() })
            });
            if let Err(e) = storage::save_library(record, &new_photos).await {
                self.message.set(match e {
                    storage::StorageError::Full => "The browser's storage for this page is full: the newest results are on this page only. Free space (or export the library and forget it) and scan again.".into(),
                    other => format!("Could not save the library ({other}); it stays on this page until it is closed."),
                });
            }
        });
    }

    /// A curation action on the library (and the roster, for naming): the view follows at once
    /// and the change is saved.
    pub fn act<T>(self, state: AppState, action: impl FnOnce(&mut Library, &mut Roster) -> T) -> T {
        let mut roster = state.roster.get_untracked();
        let before = roster.clone();
        let result = self.library.try_update(|l| action(l, &mut roster)).expect("the library lives as long as the page");
        if roster != before {
            state.roster.set(roster);
        }
        self.save(Vec::new());
        result
    }

    pub fn name(state: AppState, person: u32) -> String {
        state.roster.with(|r| r.person(person).map(|p| p.name.clone()).unwrap_or_else(|| "someone removed".into()))
    }
}

/// Reads the saved library once the page has started.
async fn restore(lib: LibraryState) {
    match storage::load_library().await {
        Ok(Some(library)) => {
            let (photos, faces) = (library.photos().len(), library.face_count());
            lib.library.set(library);
            lib.message.set(format!(
                "Restored the library: {photos} photos, {faces} faces. Adding the folder again scans only the photos not in it yet (an interrupted scan goes on where it stopped)."
            ));
        }
        Ok(None) => {}
        Err(e) => lib.message.set(format!("Could not read the saved library ({e}); new results will not be kept.")),
    }
    lib.restored.set(true);
}

#[component]
pub fn PhotoLibrary() -> impl IntoView {
    let state = expect_context::<AppState>();
    let lib = LibraryState::new(state);
    provide_context(lib);
    spawn_local(restore(lib));
    let (dragging, set_dragging) = signal(false);
    let start = move |files: Vec<(String, web_sys::File)>| spawn_local(scan::scan(lib, state, files));
    let on_drop = move |ev: leptos::ev::DragEvent| {
        set_dragging.set(false);
        let entries = files::dropped_entries(&ev);
        spawn_local(async move { start(files::walk(entries).await) });
    };
    let scanning = move || lib.scan.with(|s| s.as_ref().is_some_and(|s| !s.finished));
    let can_scan = move || state.ready.get() && lib.restored.get() && !scanning();
    let undo = move |_| {
        if let Some(what) = lib.act(state, |l, r| l.undo(r)) {
            lib.message.set(format!("Undone: {what}."));
        }
    };
    let forget = move |_| {
        lib.library.set(Library::new(state.backbone.get_untracked()));
        lib.scan.set(None);
        lib.save(Vec::new());
        lib.message.set("The library is forgotten (the people enrolled stay).".into());
    };
    view! {
        <section class="card" class:dragging=dragging data-testid="library"
            on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); set_dragging.set(true); }
            on:dragleave=move |_| set_dragging.set(false)
            on:drop=on_drop>
            <h2>"4. Your photo library"</h2>
            <p class="muted">"Point the page at a folder of your photos (or drop it here): it finds every face, names the people you enrolled and groups the others, on this device."</p>
            <div class="row">
                <label class="button">"Choose a folder"
                    <input type="file" class="hidden" data-testid="library-folder" prop:webkitdirectory=true multiple=true
                        disabled=move || !can_scan() on:change=move |ev| start(files::picked(&ev))/>
                </label>
                <label class="button">"Choose photos"
                    <input type="file" class="hidden" data-testid="library-files" multiple=true accept="image/*,.heic,.heif"
                        disabled=move || !can_scan() on:change=move |ev| start(files::picked(&ev))/>
                </label>
                <button class="small" data-testid="library-undo" disabled=move || lib.library.with(|l| l.can_undo().is_none()) on:click=undo>
                    {move || lib.library.with(|l| l.can_undo().map_or("Undo".to_string(), |w| format!("Undo ({w})")))}
                </button>
                <button class="small danger" data-testid="library-forget" disabled=scanning on:click=forget>"Forget the library"</button>
            </div>
            <scan::ScanStatus/>
            <p class="error" data-testid="library-message">{move || lib.message.get()}</p>
            <views::Views/>
            <LibraryFile/>
        </section>
    }
}

/// Export (JSON to import again, CSV of file -> people) and import.
#[component]
fn LibraryFile() -> impl IntoView {
    let state = expect_context::<AppState>();
    let lib = expect_context::<LibraryState>();
    let (with_pictures, set_with_pictures) = signal(false);
    let passphrase = RwSignal::new(String::new());
    let export = move |csv: bool| {
        let sorting = lib.sorting.get_untracked();
        let (text, file) = lib.library.with_untracked(|l| {
            state.roster.with_untracked(|r| {
                if csv { (l.to_csv(&sorting, r), "facelab-library.csv") } else { (l.to_file_json(&sorting, r, with_pictures.get_untracked()), "facelab-library.json") }
            })
        });
        let passphrase = passphrase.get_untracked();
        spawn_local(async move {
            // The CSV is for spreadsheets, which could not open it protected.
            let bytes = match passphrase.is_empty() || csv {
                true => Ok(text.into_bytes()),
                false => sealing::seal(text.as_bytes(), FILE_FORMAT, &passphrase).await,
            };
            match bytes.map(|bytes| download(&bytes, file)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => lib.message.set(format!("Could not offer the file: {e:?}")),
                Err(e) => lib.message.set(format!("Export failed: {e}")),
            }
        });
    };
    let import = move |ev: leptos::ev::Event| {
        let Some(file) = super::picked_files(&ev).into_iter().next() else { return };
        spawn_local(async move {
            let bytes = match fetch::file_bytes(&file).await {
                Ok(bytes) => sealing::open(bytes, &passphrase.get_untracked()).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            let text = match bytes {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => return lib.message.set(format!("{} was not imported: {e}", file.name())),
            };
            let mut roster = state.roster.get_untracked();
            match Library::from_file_json(&text, &mut roster) {
                Ok(library) => {
                    let photos = library.photos().to_vec();
                    lib.message.set(format!("Imported {}: {} photos, {} faces.", file.name(), photos.len(), library.face_count()));
                    state.roster.set(roster);
                    lib.library.set(library);
                    lib.save(photos);
                }
                Err(e) => lib.message.set(format!("{} was not imported: {e}", file.name())),
            }
        });
    };
    view! {
        <div class="row">
            <button class="small" data-testid="library-export-json" on:click=move |_| export(false)>"Export JSON"</button>
            <label><input type="checkbox" data-testid="library-export-pictures" prop:checked=with_pictures
                on:change=move |ev| set_with_pictures.set(event_target_checked(&ev))/>" with the face pictures"</label>
            <button class="small" data-testid="library-export-csv" on:click=move |_| export(true)>"Export CSV"</button>
            <label class="button">"Import a library file"
                <input type="file" class="hidden" accept=".json,application/json" data-testid="library-import" on:change=import/>
            </label>
        </div>
        <PassphraseField value=passphrase testid="library-passphrase"/>
    }
}
