//! Leptos components over the facelab core. The page loads the default backbone (with a
//! byte-accurate progress bar), says which backend runs it, enrolls people from photos, trains
//! the head, reports test accuracy and the confusion matrix, and recognises new photos, all on
//! the device.

mod fetch;
mod people;
mod recognise;
mod sample;
mod storage;
mod training;

use burn::tensor::Device;
use facelab::backbone::{Backbone, FACERES};
use facelab::head::TrainedHead;
use facelab::preprocess::RgbImage;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

/// Where Trunk puts the converted weights (copied from `weights/` at build time).
const WEIGHTS_URL: &str = "weights/faceres.safetensors";

/// The CPU backends the user can choose between (WebGPU comes with the worker-based app).
#[derive(Clone, Copy, PartialEq)]
pub enum CpuBackend {
    Flex,
    NdArray,
}

impl CpuBackend {
    fn device(self) -> Device {
        match self {
            Self::Flex => Device::flex(),
            // Deprecated in Burn 0.22; kept selectable to compare against.
            #[allow(deprecated)]
            Self::NdArray => Device::ndarray(),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Flex => "CPU (burn-flex, WebAssembly)",
            Self::NdArray => "CPU (burn-ndarray, WebAssembly)",
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Loading {
    Progress { received: f64, total: Option<f64> },
    Ready,
    Failed,
}

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

/// Lets the browser render before the next long step on this thread.
pub async fn next_frame() {
    sleep_ms(0).await;
}

#[derive(Clone)]
pub struct Photo {
    pub id: u32,
    pub file_name: String,
    /// A 64x64 PNG of the face crop (kept so that it survives a reload) and its object URL.
    pub thumbnail_png: Vec<u8>,
    pub thumbnail: String,
    /// Computed once when the photo is added.
    pub embedding: Vec<f32>,
}

#[derive(Clone)]
pub struct Person {
    pub id: u32,
    pub name: String,
    pub photos: Vec<Photo>,
}

/// A trained head with the names of its classes, in order.
pub struct Trained {
    pub head: TrainedHead,
    pub names: Vec<String>,
}

/// What the panels share.
#[derive(Clone, Copy)]
pub struct AppState {
    pub backbone: StoredValue<Option<Backbone>, LocalStorage>,
    pub backend: ReadSignal<CpuBackend>,
    pub ready: Signal<bool>,
    pub people: RwSignal<Vec<Person>>,
    pub trained: StoredValue<Option<Trained>, LocalStorage>,
    pub trained_version: RwSignal<u32>,
    ids: StoredValue<u32>,
}

impl AppState {
    pub fn next_id(&self) -> u32 {
        self.ids.update_value(|id| *id += 1);
        self.ids.get_value()
    }

    pub fn device(&self) -> Device {
        self.backend.get_untracked().device()
    }

    /// Adds a person (the name already validated) and returns their id.
    pub fn add_person(&self, name: String) -> u32 {
        let id = self.next_id();
        self.people.update(|people| people.push(Person { id, name, photos: Vec::new() }));
        id
    }

    pub fn add_photo(&self, person: u32, photo: Photo) {
        self.people.update(|people| {
            if let Some(p) = people.iter_mut().find(|p| p.id == person) {
                p.photos.push(photo);
            }
        });
    }

    /// Decodes a photo, crops the face and embeds it with the loaded backbone: a new `Photo`.
    pub fn photo_from_bytes(&self, file_name: String, bytes: &[u8]) -> Result<Photo, String> {
        let face = RgbImage::decode(bytes).map_err(|e| e.to_string())?.face_crop();
        let embedding = self
            .backbone
            .with_value(|b| b.as_ref().map(|b| b.embed(std::slice::from_ref(&face)).remove(0)))
            .ok_or_else(|| "the backbone is not loaded yet".to_string())?;
        let thumbnail_png = thumbnail_png(&face);
        Ok(Photo { id: self.next_id(), file_name, thumbnail: thumbnail_url(&thumbnail_png), thumbnail_png, embedding })
    }
}

/// Reads a photo file the user picked and embeds it.
pub async fn photo_from_file(state: &AppState, file: &web_sys::File) -> Result<Photo, String> {
    state.photo_from_bytes(file.name(), &fetch::file_bytes(file).await?)
}

const THUMBNAIL_SIDE: usize = 64;

fn thumbnail_png(face: &RgbImage) -> Vec<u8> {
    let small = face.resize_bilinear(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new(&mut png);
    let side = THUMBNAIL_SIDE as u32;
    image::ImageEncoder::write_image(encoder, &small.pixels, side, side, image::ExtendedColorType::Rgb8)
        .map(|_| png)
        .unwrap_or_default()
}

/// An object URL showing PNG bytes (released with the page).
pub fn thumbnail_url(png: &[u8]) -> String {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(png));
    web_sys::Blob::new_with_u8_array_sequence(&parts)
        .and_then(|blob| web_sys::Url::create_object_url_with_blob(&blob))
        .unwrap_or_default()
}

/// Restores the people saved in this browser, then saves them (debounced) after every change.
/// Returns a line for the user about what storage did.
fn keep_people_stored(state: AppState) -> ReadSignal<String> {
    let (note, set_note) = signal(String::new());
    let restored = StoredValue::new(false);
    spawn_local(async move {
        match storage::load().await {
            Ok(people) => {
                let highest = people.iter().flat_map(|p| std::iter::once(p.id).chain(p.photos.iter().map(|f| f.id))).max();
                state.ids.set_value(highest.unwrap_or(0));
                if !people.is_empty() {
                    let photos: usize = people.iter().map(|p| p.photos.len()).sum();
                    set_note.set(format!("Restored {} people and {photos} photos from this browser's storage.", people.len()));
                }
                state.people.set(people);
            }
            Err(e) => set_note.set(format!("Could not read saved people ({e}); new ones will not be kept.")),
        }
        restored.set_value(true);
    });
    let latest_change = StoredValue::new(0u32);
    Effect::new(move |_| {
        // Track only: the roster is copied once, when the debounced save runs, not per change.
        state.people.track();
        if !restored.get_value() {
            return;
        }
        latest_change.update_value(|n| *n += 1);
        let change = latest_change.get_value();
        spawn_local(async move {
            // Many changes in a row (enrolling a batch) are saved once, after the last.
            sleep_ms(400).await;
            if latest_change.get_value() != change {
                return;
            }
            let people = state.people.get_untracked();
            if let Err(e) = storage::save(&people).await {
                set_note.set(format!("Could not save to this browser's storage ({e}); what is enrolled stays on this page until it is closed."));
            }
        });
    });
    note
}

#[component]
pub fn App() -> impl IntoView {
    let (loading, set_loading) = signal(Loading::Progress { received: 0.0, total: None });
    let (message, set_message) = signal(String::new());
    let (backend, set_backend) = signal(CpuBackend::Flex);
    let backbone: StoredValue<Option<Backbone>, LocalStorage> = StoredValue::new_local(None);
    let weights: StoredValue<Option<Vec<u8>>, LocalStorage> = StoredValue::new_local(None);

    // (Re)builds the backbone from the downloaded weights on the chosen backend.
    let build = move |choice: CpuBackend| {
        let built = weights.with_value(|bytes| {
            bytes.as_ref().map(|bytes| Backbone::from_safetensors(FACERES.id, bytes, &choice.device()))
        });
        match built {
            Some(Ok(loaded)) => {
                backbone.set_value(Some(loaded));
                set_loading.set(Loading::Ready);
            }
            Some(Err(e)) => {
                set_message.set(e.to_string());
                set_loading.set(Loading::Failed);
            }
            None => {}
        }
    };

    spawn_local(async move {
        let progress = move |received: f64, total: Option<f64>| set_loading.set(Loading::Progress { received, total });
        match fetch::bytes_with_progress(WEIGHTS_URL, progress).await {
            Ok(bytes) => {
                weights.set_value(Some(bytes));
                build(backend.get_untracked());
            }
            Err(e) => {
                set_message.set(format!("could not download the backbone weights: {e}"));
                set_loading.set(Loading::Failed);
            }
        }
    });

    let on_backend = move |ev: leptos::ev::Event| {
        let choice = if event_target_value(&ev) == "ndarray" { CpuBackend::NdArray } else { CpuBackend::Flex };
        set_backend.set(choice);
        build(choice);
    };

    let state = AppState {
        backbone,
        backend,
        ready: Signal::derive(move || loading.get() == Loading::Ready),
        people: RwSignal::new(Vec::new()),
        trained: StoredValue::new_local(None),
        trained_version: RwSignal::new(0),
        ids: StoredValue::new(0),
    };
    provide_context(state);
    let storage_note = keep_people_stored(state);

    view! {
        <main>
            <h1>"facelab"</h1>
            <p class="tagline">"Recognise the people you care about. Every photo stays on this device."</p>
            <section class="status">
                {move || match loading.get() {
                    Loading::Progress { received, total } => view! {
                        <div>
                            <progress data-testid="weights-progress" max=total.unwrap_or(0.0) value=received></progress>
                            <span>{format!(" loading {} weights: {:.1} of {} MB", FACERES.name, received / 1e6,
                                total.map_or("?".to_string(), |t| format!("{:.1}", t / 1e6)))}</span>
                        </div>
                    }.into_any(),
                    Loading::Ready => view! {
                        <p data-testid="backbone-status">
                            {format!("Backbone: {} ({}, {}-d). Backend: {}.",
                                FACERES.name, FACERES.architecture, FACERES.embedding_dim, backend.get().label())}
                        </p>
                    }.into_any(),
                    Loading::Failed => view! { <p class="error" data-testid="load-error">{message}</p> }.into_any(),
                }}
            </section>
            <section>
                <label>"CPU backend: "
                    <select data-testid="backend-select" on:change=on_backend>
                        <option value="flex" selected>"burn-flex (fast)"</option>
                        <option value="ndarray">"burn-ndarray (reference)"</option>
                    </select>
                </label>
            </section>
            <p class="muted" data-testid="storage-status">{storage_note}</p>
            <sample::Sample/>
            <people::People/>
            <training::Training/>
            <recognise::Recognise/>
            <section class="card">
                <h2>"Your data"</h2>
                <p class="muted">"People, embeddings and face thumbnails are kept in this browser's storage and never leave this device."</p>
                <button class="danger-fill" data-testid="delete-everything" on:click=move |_| {
                    state.people.set(Vec::new());
                    state.trained.set_value(None);
                    state.trained_version.update(|v| *v += 1);
                }>"Delete everything"</button>
            </section>
        </main>
    }
}
