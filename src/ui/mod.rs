//! Leptos components over the facelab core: small panels that share an `AppState` (the roster,
//! the model and the compute client as signals). The page loads the default backbone (with a
//! byte-accurate progress bar), says which backend runs it, enrolls people from photos, trains
//! the head, reports test accuracy and the confusion matrix, and recognises new photos, all on
//! the device.

mod backend;
mod camera;
mod compute;
mod data;
mod fetch;
mod people;
mod persist;
mod recognise;
mod sample;
mod state;
mod storage;
mod thumbnail;
mod training;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

use state::{AppState, DETECTOR_URL, Loading, WEIGHTS_URL};

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

/// Restores what this browser saved, downloads the weights (or reads them from the cache) and
/// starts the backbone on the best backend the browser has.
async fn start_up(state: AppState, saving: persist::Saving, set_storage_note: WriteSignal<String>) {
    set_storage_note.set(persist::restore(state, saving).await);
    let progress = move |received: f64, total: Option<f64>| state.loading.set(Loading::Progress { received, total });
    let weights = match fetch::cached_bytes(WEIGHTS_URL, progress).await {
        Ok(bytes) => bytes,
        Err(e) => return state.loading.set(Loading::Failed(format!("could not download the backbone weights: {e}"))),
    };
    let detector = fetch::cached_bytes(DETECTOR_URL, |_, _| {}).await;
    if let Err(e) = &detector {
        state.backend_note.set(format!("The face detector could not be downloaded ({e}); photos are cropped to their centre."));
    }
    let compute = state.set_up_compute(weights, detector.ok());
    // Kept for the worker about to start (it restores the saved model).
    let head = state.model.with_untracked(|m| m.as_ref().map(|m| m.head.clone()));
    let _ = compute.set_head(head.as_deref()).await;
    let preferred = backend::preferred(state);
    state.start_backend(preferred).await;
}

#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    let (storage_note, set_storage_note) = signal(String::new());
    let saving = persist::keep_saved(state, set_storage_note);
    spawn_local(start_up(state, saving, set_storage_note));

    view! {
        <main>
            <h1>"facelab"</h1>
            <p class="tagline">"Recognise the people you care about. Every photo stays on this device."</p>
            <backend::BackendStatus/>
            <backend::BackendPicker/>
            <p class="muted" data-testid="storage-status">{storage_note}</p>
            <sample::Sample/>
            <people::People/>
            <training::Training/>
            <recognise::Recognise/>
            <data::YourData/>
        </main>
    }
}
