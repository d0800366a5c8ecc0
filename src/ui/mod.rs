//! Leptos components. The first screen loads the default backbone with a byte-accurate progress
//! bar, says which backend runs it, and embeds a photo the user picks, all on the device.

mod fetch;

use burn::tensor::Device;
use facelab::backbone::{Backbone, FACERES};
use facelab::preprocess::RgbImage;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

/// Where Trunk puts the converted weights (copied from `weights/` at build time).
const WEIGHTS_URL: &str = "weights/faceres.safetensors";

/// The CPU backends the user can choose between (WebGPU comes with the worker-based app).
#[derive(Clone, Copy, PartialEq)]
enum CpuBackend {
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

fn now_ms() -> f64 {
    web_sys::window().and_then(|w| w.performance()).map_or(0.0, |p| p.now())
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

    let (result, set_result) = signal(String::new());
    let on_photo = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
        let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
        let name = file.name();
        spawn_local(async move {
            let bytes = match fetch::file_bytes(&file).await {
                Ok(bytes) => bytes,
                Err(e) => return set_result.set(format!("{name}: cannot read the file ({e})")),
            };
            let photo = match RgbImage::decode(&bytes) {
                Ok(photo) => photo,
                Err(e) => return set_result.set(format!("{name}: {e}")),
            };
            let started = now_ms();
            let embedding = backbone.with_value(|b| b.as_ref().map(|b| b.embed(&[photo.face_crop()]).remove(0)));
            let Some(embedding) = embedding else { return set_result.set("the backbone is not loaded yet".into()) };
            let norm = embedding.iter().map(|x| x * x).sum::<f32>().sqrt();
            set_result.set(format!(
                "{name}: {}-d embedding, L2 norm {norm:.3}, computed in {:.0} ms on this device",
                embedding.len(),
                now_ms() - started
            ));
        });
    };

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
            <section>
                <label>"Embed a photo: "
                    <input type="file" accept="image/*" data-testid="photo-input"
                        disabled=move || loading.get() != Loading::Ready on:change=on_photo/>
                </label>
                <p data-testid="embed-result">{result}</p>
            </section>
        </main>
    }
}
