//! Which backbone runs where: the loading progress, the backend in use (and why, where it is not
//! the one wanted), and the picker to run it on another backend.

use facelab::compute::BurnBackend;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::state::{AppState, Loading};

/// Whether the browser gives a WebGPU adapter: asked here, in the page, so that the WebGPU
/// worker's module (several MB) is downloaded only where it can run.
async fn browser_has_webgpu_adapter() -> bool {
    let Some(gpu) = web_sys::window().and_then(|w| js_sys::Reflect::get(&w.navigator(), &"gpu".into()).ok()).filter(|g| g.is_object()) else {
        return false;
    };
    let Ok(request) = js_sys::Reflect::get(&gpu, &"requestAdapter".into()).and_then(|f| f.dyn_into::<js_sys::Function>().map_err(Into::into)) else {
        return false;
    };
    let Ok(promise) = request.call0(&gpu).and_then(|p| p.dyn_into::<js_sys::Promise>().map_err(Into::into)) else { return false };
    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok_and(|adapter| adapter.is_object())
}

/// WebGPU where the browser gives an adapter, else the CPU (and a note saying so).
pub async fn preferred(state: AppState) -> BurnBackend {
    let adapter = browser_has_webgpu_adapter().await;
    state.webgpu_adapter.set(Some(adapter));
    if adapter {
        BurnBackend::WebGpu
    } else {
        state.backend_note.set("This browser offers no WebGPU adapter; the backbone runs on the CPU.".into());
        BurnBackend::Flex
    }
}

#[component]
pub fn BackendStatus() -> impl IntoView {
    let state = expect_context::<AppState>();
    let spec = move || state.backbone.get().spec();
    view! {
        <section class="status">
            {move || match state.loading.get() {
                Loading::Progress { received, total } => view! {
                    <div>
                        <progress data-testid="weights-progress" max=total.unwrap_or(0.0) value=received></progress>
                        <span>{format!(" loading {} weights: {:.1} of {} MB", spec().name, received / 1e6,
                            total.map_or("?".to_string(), |t| format!("{:.1}", t / 1e6)))}</span>
                    </div>
                }.into_any(),
                Loading::Starting(backend) => view! {
                    <p data-testid="backbone-starting">{format!("Starting {} on {}…", spec().name, backend.label())}</p>
                }.into_any(),
                Loading::Ready(backend) => view! {
                    <p data-testid="backbone-status">
                        {format!("Backbone: {} ({}, {}-d). Backend: {}.",
                            spec().name, spec().architecture, spec().embedding_dim, backend.label())}
                    </p>
                }.into_any(),
                Loading::Failed(message) => view! { <p class="error" data-testid="load-error">{message}</p> }.into_any(),
            }}
            <p class="note" data-testid="backend-note">{move || state.backend_note.get()}</p>
        </section>
    }
}

#[component]
pub fn BackendPicker() -> impl IntoView {
    let state = expect_context::<AppState>();
    let on_change = move |ev: leptos::ev::Event| {
        let Some(choice) = BurnBackend::from_key(&event_target_value(&ev)) else { return };
        state.backend_note.set(String::new());
        spawn_local(state.start_backend(choice));
    };
    let selected = move || match state.loading.get() {
        Loading::Starting(backend) | Loading::Ready(backend) => Some(backend),
        _ => None,
    };
    view! {
        <section>
            <label>"Compute backend: "
                <select data-testid="backend-select" on:change=on_change disabled=move || !state.ready.get()>
                    {BurnBackend::ALL.into_iter().map(|b| view! {
                        <option value=b.key() prop:selected=move || selected() == Some(b)
                            disabled=move || b == BurnBackend::WebGpu && state.webgpu_adapter.get() != Some(true)>{b.label()}</option>
                    }).collect_view()}
                </select>
            </label>
        </section>
    }
}
