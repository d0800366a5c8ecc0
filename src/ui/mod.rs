//! Leptos components over the facelab core. The page loads the default backbone (with a
//! byte-accurate progress bar), says which backend runs it, enrolls people from photos, trains
//! the head, reports test accuracy and the confusion matrix, and recognises new photos, all on
//! the device.

mod fetch;
mod people;
mod recognise;
mod sample;
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

/// Lets the browser render before the next long step on this thread.
pub async fn next_frame() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        }
    });
    let _ = JsFuture::from(promise).await;
}

#[derive(Clone)]
pub struct Photo {
    pub id: u32,
    pub file_name: String,
    /// An object URL of the original file, for the thumbnail.
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

    /// Decodes a photo, crops the face and embeds it with the loaded backbone.
    pub fn embed_bytes(&self, bytes: &[u8]) -> Result<Vec<f32>, String> {
        let photo = RgbImage::decode(bytes).map_err(|e| e.to_string())?;
        self.backbone
            .with_value(|b| b.as_ref().map(|b| b.embed(&[photo.face_crop()]).remove(0)))
            .ok_or_else(|| "the backbone is not loaded yet".to_string())
    }
}

/// Reads a photo file the user picked and embeds it.
pub async fn embed_file(state: &AppState, file: &web_sys::File) -> Result<Vec<f32>, String> {
    state.embed_bytes(&fetch::file_bytes(file).await?)
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
            <sample::Sample/>
            <people::People/>
            <training::Training/>
            <recognise::Recognise/>
        </main>
    }
}
