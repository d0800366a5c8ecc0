//! Leptos components over the facelab core: small panels that share an `AppState` (the roster,
//! the models and the compute client as signals). The page loads the chosen backbone (with a
//! byte-accurate progress bar), says which backend runs it, lets the user pick another backbone
//! (downloaded when first chosen; the photos re-embedded), enrolls people from photos, trains
//! the head, reports test accuracy and the confusion matrix, and recognises new photos, all on
//! the device.

mod backbones;
mod backend;
mod camera;
mod compare;
mod compute;
mod data;
mod fetch;
mod fields;
mod library;
mod people;
mod persist;
mod recognise;
mod sealing;
mod sample;
mod state;
mod storage;
mod tabs;
mod thumbnail;
mod training;
mod users_weights;
mod weights;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

use state::AppState;
pub use tabs::Root;
use weights::{DETECTOR_URL, Manifest};

pub fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
}

/// Resolves after `ms` milliseconds, letting the browser render and handle input meanwhile.
pub async fn sleep_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// Lets the browser render before the next step.
pub async fn next_frame() {
    sleep_ms(0).await;
}

/// The files of a file input (emptied for the next pick) or of a drop.
pub fn picked_files(ev: &leptos::ev::Event) -> Vec<web_sys::File> {
    use wasm_bindgen::JsCast;
    let Some(input) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) else { return Vec::new() };
    let files = input.files().map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect()).unwrap_or_default();
    input.set_value("");
    files
}

pub fn dropped_files(ev: &leptos::ev::DragEvent) -> Vec<web_sys::File> {
    ev.prevent_default();
    let list = ev.data_transfer().and_then(|transfer| transfer.files());
    list.map(|list| (0..list.length()).filter_map(|i| list.get(i)).collect()).unwrap_or_default()
}

/// Restores what this browser saved, reads which weights the page serves, downloads the chosen
/// backbone's (or reads them from the cache) and starts it on the best backend the browser has.
async fn start_up(state: AppState, saving: persist::Saving, set_storage_note: WriteSignal<String>) {
    set_storage_note.set(persist::restore(state, saving).await);
    match Manifest::load().await {
        Ok(manifest) => state.manifest.set(manifest),
        Err(e) => state.backend_note.set(format!("The list of served weights could not be read ({e}).")),
    }
    let detector = fetch::cached_bytes(DETECTOR_URL, |_, _| {}).await;
    if let Err(e) = &detector {
        state.backend_note.set(format!("The face detector could not be downloaded ({e}); photos are cropped to their centre."));
    }
    state.set_detector(detector.ok());
    let preferred = backend::preferred(state).await;
    state.start(AppState::chosen_backbone(), preferred).await;
}

#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    let (storage_note, set_storage_note) = signal(String::new());
    let saving = persist::keep_saved(state, set_storage_note);
    expect_context::<tabs::HandOver>().before_leaving(move || persist::save_now_and_stop(state, saving));
    spawn_local(start_up(state, saving, set_storage_note));

    view! {
        <main>
            <h1>"facelab"</h1>
            <p class="tagline">"Recognise the people you care about. Every photo stays on this device."</p>
            <backend::BackendStatus/>
            <backend::BackendPicker/>
            <backbones::BackbonePicker/>
            <p class="muted" data-testid="storage-status">{storage_note}</p>
            <sample::Sample/>
            <people::People/>
            <training::Training/>
            <compare::Compare/>
            <recognise::Recognise/>
            <library::PhotoLibrary/>
            <data::YourData/>
        </main>
    }
}
