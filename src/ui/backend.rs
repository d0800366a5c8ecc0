//! Which backbone runs where: the loading progress, the backend in use (and why, where it is not
//! the one wanted), and the picker to run it on another backend.

use facelab::compute::BurnBackend;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::state::{AppState, Loading};

/// Whether the browser exposes WebGPU at all (an adapter may still be refused).
fn browser_has_webgpu() -> bool {
    web_sys::window().is_some_and(|w| js_sys::Reflect::has(&w.navigator(), &"gpu".into()).unwrap_or(false))
}

/// WebGPU where the browser has it, else the CPU (and a note saying so).
pub fn preferred(state: AppState) -> BurnBackend {
    if browser_has_webgpu() {
        BurnBackend::WebGpu
    } else {
        state.backend_note.set("This browser offers no WebGPU; the backbone runs on the CPU.".into());
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
                            disabled={b == BurnBackend::WebGpu && !browser_has_webgpu()}>{b.label()}</option>
                    }).collect_view()}
                </select>
            </label>
        </section>
    }
}
