//! Leptos components over the facelab core. The page loads the default backbone (with a
//! byte-accurate progress bar), says which backend runs it, enrolls people from photos, trains
//! the head, reports test accuracy and the confusion matrix, and recognises new photos, all on
//! the device.

mod camera;
mod compute;
mod data;
mod fetch;
mod people;
mod recognise;
mod sample;
mod storage;
mod training;

use std::rc::Rc;

use compute::{CallError, ComputeClient};
use facelab::backbone::FACERES;
use facelab::compute::{Backend, Crop, EmbeddedFace, Reply, Request};
use facelab::metrics::ConfusionMatrix;
use facelab::openset::UnknownThreshold;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

/// Where Trunk puts the converted weights (copied from `weights/` at build time).
const WEIGHTS_URL: &str = "weights/faceres.safetensors";
const DETECTOR_URL: &str = "weights/blazeface-front.safetensors";

#[derive(Clone, PartialEq)]
enum Loading {
    Progress { received: f64, total: Option<f64> },
    Starting(Backend),
    Ready(Backend),
    Failed(String),
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

/// Lets the browser render before the next step.
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

/// What training measured on the held-out photos.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub names: Vec<String>,
    pub confusion: ConfusionMatrix,
    pub train_photos: usize,
}

/// A trained head (safetensors, as the worker saved it) with the names of its classes, in order.
#[derive(Clone, PartialEq)]
pub struct Trained {
    pub names: Vec<String>,
    pub head: Vec<u8>,
    /// Absent for a model imported from a file.
    pub report: Option<Report>,
    /// Calibrated on the held-out photos; absent where none were held out.
    pub unknown: Option<UnknownThreshold>,
}

/// What the panels share.
#[derive(Clone, Copy)]
pub struct AppState {
    compute: StoredValue<Option<Rc<ComputeClient>>, LocalStorage>,
    /// More CPU workers with the same backbone and detector, so that several photos are embedded
    /// at once (one per core beyond the first, at most 3; none on WebGPU). A wasm module runs on
    /// one thread; separate workers use the other cores without cross-origin isolation.
    helpers: StoredValue<Vec<Rc<ComputeClient>>, LocalStorage>,
    weights: StoredValue<Option<Rc<Vec<u8>>>, LocalStorage>,
    /// The face detector's weights; without them photos are centre-cropped.
    detector: StoredValue<Option<Rc<Vec<u8>>>, LocalStorage>,
    loading: RwSignal<Loading>,
    /// What happened to the backend the user would have wanted (no WebGPU, a fallback).
    pub backend_note: RwSignal<String>,
    pub ready: Signal<bool>,
    pub people: RwSignal<Vec<Person>>,
    pub trained: RwSignal<Option<Trained>>,
    ids: StoredValue<u32>,
}

/// Whether the browser exposes WebGPU at all (an adapter may still be refused).
fn browser_has_webgpu() -> bool {
    web_sys::window().is_some_and(|w| js_sys::Reflect::has(&w.navigator(), &"gpu".into()).unwrap_or(false))
}

impl AppState {
    pub fn next_id(&self) -> u32 {
        self.ids.update_value(|id| *id += 1);
        self.ids.get_value()
    }

    pub fn backend(&self) -> Option<Backend> {
        match self.loading.get() {
            Loading::Ready(backend) => Some(backend),
            _ => None,
        }
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

    /// Starts a compute worker with the backbone on `choice`; where that fails and `choice` is not
    /// the CPU, says why and starts one on the CPU instead.
    pub async fn start_backend(self, choice: Backend) {
        let Some(weights) = self.weights.get_value() else { return };
        self.compute.set_value(None);
        self.helpers.set_value(Vec::new());
        self.loading.set(Loading::Starting(choice));
        match self.load_on(choice, &weights).await {
            Ok(client) => {
                self.compute.set_value(Some(client));
                self.loading.set(Loading::Ready(choice));
                if choice != Backend::WebGpu {
                    spawn_local(self.start_helpers(choice, weights));
                }
            }
            Err(e) if choice != Backend::Flex => {
                self.backend_note.set(format!("{} could not run the backbone ({e}); using the CPU (burn-flex) instead.", choice.label()));
                Box::pin(self.start_backend(Backend::Flex)).await;
            }
            Err(e) => self.loading.set(Loading::Failed(format!("the backbone could not be loaded: {e}"))),
        }
    }

    /// Starts the helper workers one after the other while the page works with the main one.
    /// Stops where one fails (each is a whole wasm instance: memory may run short) or the main
    /// worker is replaced (another backend, a restart).
    async fn start_helpers(self, backend: Backend, weights: Rc<Vec<u8>>) {
        let main = self.compute.get_value();
        let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency()) as usize;
        for _ in 1..cores.clamp(1, 4) {
            let Ok((helper, None)) = self.start_worker(backend, &weights).await else { return };
            let current = self.compute.get_value();
            if !matches!((&main, &current), (Some(a), Some(b)) if Rc::ptr_eq(a, b)) {
                return;
            }
            self.helpers.update_value(|helpers| helpers.push(helper));
        }
    }

    /// A worker with the backbone and, where it loads, the detector (else the reason it did not).
    async fn start_worker(self, backend: Backend, weights: &[u8]) -> Result<(Rc<ComputeClient>, Option<String>), String> {
        let client = ComputeClient::start().await?;
        let load = Request::Load { backbone: FACERES.id, backend };
        client.call(&load, weights, |_| {}).await.map_err(|e| e.to_string())?;
        let mut no_detector = None;
        if let Some(detector) = self.detector.get_value() {
            if let Err(e) = client.call(&Request::LoadDetector, &detector, |_| {}).await {
                no_detector = Some(e.to_string());
            }
        }
        Ok((client, no_detector))
    }

    async fn load_on(self, backend: Backend, weights: &[u8]) -> Result<Rc<ComputeClient>, String> {
        let (client, no_detector) = self.start_worker(backend, weights).await?;
        if let Some(e) = no_detector {
            self.backend_note.set(format!("Face detection is unavailable ({e}); photos are cropped to their centre."));
        }
        if let Some(trained) = self.trained.get_untracked() {
            if let Err(e) = client.call(&Request::SetHead, &trained.head, |_| {}).await {
                self.backend_note.set(format!("The saved model could not be restored ({e}); train again."));
            }
        }
        Ok(client)
    }

    /// Sends a request to the worker. If the worker dies (WebGPU lost, say), a new one starts on
    /// the CPU and the request is sent once more.
    pub async fn call(self, request: Request, bytes: &[u8], progress: impl FnMut(Reply) + Clone + 'static) -> Result<(Reply, Vec<u8>), String> {
        let client = self.compute.get_value().ok_or("the backbone is not loaded yet")?;
        match client.call(&request, bytes, progress.clone()).await {
            Err(CallError::Crashed(why)) => {
                let was = self.backend().map_or("the backend", Backend::label);
                self.backend_note.set(format!("The computation on {was} stopped ({why}); restarted on the CPU (burn-flex)."));
                self.start_backend(Backend::Flex).await;
                let client = self.compute.get_value().ok_or("the backbone could not be restarted")?;
                client.call(&request, bytes, progress).await.map_err(|e| e.to_string())
            }
            other => other.map_err(|e| e.to_string()),
        }
    }

    /// Finds and embeds the faces in a photo file, in the worker.
    pub async fn faces_in(self, bytes: &[u8], crop: Crop) -> Result<Vec<EmbeddedFace>, String> {
        embedded_faces(self.call(Request::Embed { crop }, bytes, |_| {}).await?)
    }

    /// How many photos `faces_in_each` embeds at once.
    pub fn lanes(&self) -> usize {
        1 + self.helpers.with_value(Vec::len)
    }

    /// `faces_in` for up to `lanes()` photos at once, one per worker; results in the photos' order.
    pub async fn faces_in_each(self, photos: &[&[u8]], crop: Crop) -> Vec<Result<Vec<EmbeddedFace>, String>> {
        let helpers = self.helpers.get_value();
        let helpers = &helpers;
        let jobs = photos.iter().enumerate().map(|(i, &bytes)| async move {
            let Some(helper) = i.checked_sub(1).and_then(|h| helpers.get(h)) else { return self.faces_in(bytes, crop).await };
            match helper.call(&Request::Embed { crop }, bytes, |_| {}).await {
                Ok(reply) => embedded_faces(reply),
                Err(CallError::Failed(e)) => Err(e),
                // A helper that stopped leaves its photo to the main worker.
                Err(CallError::Crashed(_)) => self.faces_in(bytes, crop).await,
            }
        });
        futures::future::join_all(jobs).await
    }

    /// A face found in a photo, as an enrolled photo.
    pub fn photo_from_face(&self, file_name: String, face: EmbeddedFace) -> Photo {
        Photo { id: self.next_id(), file_name, thumbnail: blob_url(&face.thumbnail_png), thumbnail_png: face.thumbnail_png, embedding: face.embedding }
    }
}

fn embedded_faces(reply: (Reply, Vec<u8>)) -> Result<Vec<EmbeddedFace>, String> {
    match reply {
        (Reply::Embedded { faces, .. }, _) => Ok(faces),
        (other, _) => Err(format!("unexpected reply {other:?}")),
    }
}

/// An object URL for bytes made in the page (thumbnails, the export file); released with the page.
pub fn blob_url(png: &[u8]) -> String {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(png));
    web_sys::Blob::new_with_u8_array_sequence(&parts)
        .and_then(|blob| web_sys::Url::create_object_url_with_blob(&blob))
        .unwrap_or_default()
}

/// Restores what this browser saved: the people, then the trained model. Returns a line for the user.
async fn restore(state: AppState) -> String {
    match storage::load().await {
        Ok((people, trained)) => {
            let highest = people.iter().flat_map(|p| std::iter::once(p.id).chain(p.photos.iter().map(|f| f.id))).max();
            state.ids.set_value(highest.unwrap_or(0));
            let photos: usize = people.iter().map(|p| p.photos.len()).sum();
            let model = if trained.is_some() { " and the trained model" } else { "" };
            let note = if people.is_empty() {
                String::new()
            } else {
                format!("Restored {} people, {photos} photos{model} from this browser's storage.", people.len())
            };
            state.people.set(people);
            state.trained.set(trained);
            note
        }
        Err(e) => format!("Could not read saved data ({e}); new data will not be kept."),
    }
}

/// Saves the people and the model after every change once `restored` is set (people debounced:
/// enrolling a batch is saved once, after the last photo).
fn keep_stored(state: AppState, restored: StoredValue<bool>, set_note: WriteSignal<String>) {
    let failed = move |e: String| {
        set_note.set(format!("Could not save to this browser's storage ({e}); what is enrolled stays on this page until it is closed."))
    };
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
            sleep_ms(400).await;
            if latest_change.get_value() != change {
                return;
            }
            if let Err(e) = storage::save_people(&state.people.get_untracked()).await {
                failed(e);
            }
        });
    });
    Effect::new(move |_| {
        let trained = state.trained.get();
        if restored.get_value() {
            spawn_local(async move {
                if let Err(e) = storage::save_model(trained.as_ref()).await {
                    failed(e);
                }
            });
        }
    });
}

#[component]
pub fn App() -> impl IntoView {
    let loading = RwSignal::new(Loading::Progress { received: 0.0, total: None });
    let state = AppState {
        compute: StoredValue::new_local(None),
        helpers: StoredValue::new_local(Vec::new()),
        weights: StoredValue::new_local(None),
        detector: StoredValue::new_local(None),
        loading,
        backend_note: RwSignal::new(String::new()),
        ready: Signal::derive(move || matches!(loading.get(), Loading::Ready(_))),
        people: RwSignal::new(Vec::new()),
        trained: RwSignal::new(None),
        ids: StoredValue::new(0),
    };
    provide_context(state);
    let (storage_note, set_storage_note) = signal(String::new());
    let restored = StoredValue::new(false);
    keep_stored(state, restored, set_storage_note);

    spawn_local(async move {
        set_storage_note.set(restore(state).await);
        restored.set_value(true);
        let progress = move |received: f64, total: Option<f64>| loading.set(Loading::Progress { received, total });
        match fetch::cached_bytes(WEIGHTS_URL, progress).await {
            Ok(bytes) => {
                state.weights.set_value(Some(Rc::new(bytes)));
                match fetch::cached_bytes(DETECTOR_URL, |_, _| {}).await {
                    Ok(detector) => state.detector.set_value(Some(Rc::new(detector))),
                    Err(e) => state.backend_note.set(format!("The face detector could not be downloaded ({e}); photos are cropped to their centre.")),
                }
                let preferred = if browser_has_webgpu() {
                    Backend::WebGpu
                } else {
                    state.backend_note.set("This browser offers no WebGPU; the backbone runs on the CPU.".into());
                    Backend::Flex
                };
                state.start_backend(preferred).await;
            }
            Err(e) => loading.set(Loading::Failed(format!("could not download the backbone weights: {e}"))),
        }
    });

    let on_backend = move |ev: leptos::ev::Event| {
        let Some(choice) = Backend::from_key(&event_target_value(&ev)) else { return };
        state.backend_note.set(String::new());
        spawn_local(state.start_backend(choice));
    };
    let selected = move || state.backend().or(match loading.get() { Loading::Starting(b) => Some(b), _ => None });

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
                    Loading::Starting(backend) => view! {
                        <p data-testid="backbone-starting">{format!("Starting {} on {}…", FACERES.name, backend.label())}</p>
                    }.into_any(),
                    Loading::Ready(backend) => view! {
                        <p data-testid="backbone-status">
                            {format!("Backbone: {} ({}, {}-d). Backend: {}.",
                                FACERES.name, FACERES.architecture, FACERES.embedding_dim, backend.label())}
                        </p>
                    }.into_any(),
                    Loading::Failed(message) => view! { <p class="error" data-testid="load-error">{message}</p> }.into_any(),
                }}
                <p class="note" data-testid="backend-note">{move || state.backend_note.get()}</p>
            </section>
            <section>
                <label>"Compute backend: "
                    <select data-testid="backend-select" on:change=on_backend disabled=move || !state.ready.get()>
                        {[Backend::WebGpu, Backend::Flex, Backend::NdArray].into_iter().map(|b| view! {
                            <option value=b.key() prop:selected=move || selected() == Some(b)
                                disabled={b == Backend::WebGpu && !browser_has_webgpu()}>{b.label()}</option>
                        }).collect_view()}
                    </select>
                </label>
            </section>
            <p class="muted" data-testid="storage-status">{storage_note}</p>
            <sample::Sample/>
            <people::People/>
            <training::Training/>
            <recognise::Recognise/>
            <data::YourData/>
        </main>
    }
}
