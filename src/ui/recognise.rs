//! Recognise the faces in a new photo, or in the camera's picture continuously, with the trained
//! head; below the confidence threshold a face is "unknown".

use facelab::compute::{RecognisedFace, Reply, Request};
use facelab::head::argmax;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::camera::{Camera, CameraView, Overlay};
use super::{AppState, fetch, next_frame, now_ms};

/// "Name (87.5% confident)" or "unknown (closest: Name, 41.0%)".
fn verdict(names: &[String], face: &RecognisedFace, threshold: f64) -> String {
    let best = argmax(&face.probabilities);
    let confidence = 100.0 * face.probabilities[best] as f64;
    let name = names.get(best).map_or("?", String::as_str);
    if confidence >= threshold {
        format!("{name} ({confidence:.1}% confident)")
    } else {
        format!("unknown (closest: {name}, {confidence:.1}%)")
    }
}

/// Every face in the photo with its verdict, largest face first.
async fn recognise(state: AppState, bytes: Vec<u8>, threshold: f64) -> Result<(usize, usize, Vec<([f32; 4], String)>), String> {
    let names = state.trained.get_untracked().ok_or("train the model first")?.names;
    let (Reply::Recognised { width, height, mut faces }, _) = state.call(Request::Recognise, &bytes, |_| {}).await? else {
        return Err("unexpected reply".into());
    };
    faces.sort_by(|a, b| (b.bbox[2] * b.bbox[3]).total_cmp(&(a.bbox[2] * a.bbox[3])));
    Ok((width, height, faces.iter().map(|f| (f.bbox, verdict(&names, f, threshold))).collect()))
}

fn summary(faces: &[([f32; 4], String)]) -> String {
    faces.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join("; ")
}

#[component]
pub fn Recognise() -> impl IntoView {
    let state = expect_context::<AppState>();
    let (threshold, set_threshold) = signal(50.0f64);
    let (result, set_result) = signal(String::new());
    let (live, set_live) = signal(String::new());
    let overlay = RwSignal::new(Overlay::None);
    let trained = move || state.trained.with(Option::is_some) && state.ready.get();
    let recognise_file = move |file: web_sys::File| {
        spawn_local(async move {
            let name = file.name();
            let answer = match fetch::file_bytes(&file).await {
                Ok(bytes) => recognise(state, bytes, threshold.get_untracked()).await.map(|(_, _, faces)| summary(&faces)),
                Err(e) => Err(e),
            };
            set_result.set(format!("{name}: {}", answer.unwrap_or_else(|e| e)));
        });
    };
    let on_photo = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
        if let Some(file) = input.files().and_then(|files| files.get(0)) {
            recognise_file(file);
        }
        input.set_value("");
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        if let Some(file) = ev.data_transfer().and_then(|t| t.files()).and_then(|files| files.get(0))
            && trained()
        {
            recognise_file(file);
        }
    };

    // While the camera is on, recognise one frame after another (each waits for the previous),
    // drawing every face's box and name over the picture.
    let camera = Camera::new();
    Effect::new(move |_| {
        if !camera.on.get() {
            return;
        }
        spawn_local(async move {
            while camera.on.get_untracked() {
                let started = now_ms();
                let seen = match camera.capture().await {
                    Ok(bytes) => recognise(state, bytes, threshold.get_untracked()).await,
                    Err(e) => Err(e),
                };
                let rate = 1000.0 / (now_ms() - started).max(1.0);
                if camera.on.get_untracked() {
                    match seen {
                        Ok(seen) => {
                            set_live.set(format!("{} · {rate:.1} frames/s", summary(&seen.2)));
                            overlay.set(Some(seen));
                        }
                        Err(e) => {
                            set_live.set(format!("{e} · {rate:.1} frames/s"));
                            overlay.set(None);
                        }
                    }
                }
                next_frame().await;
            }
            set_live.set(String::new());
            overlay.set(None);
        });
    });

    view! {
        <section class="card" data-testid="recognise" on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=on_drop>
            <h2>"3. Recognise"</h2>
            <div class="row">
                <label class="button">"Choose a photo (or drop it here)"
                    <input type="file" accept="image/*" class="hidden" data-testid="recognise-input"
                        disabled=move || !trained() on:change=on_photo/>
                </label>
                <label>" Unknown below "
                    <input type="number" min="0" max="100" step="5" data-testid="threshold" prop:value=threshold
                        on:change=move |ev| set_threshold.set(event_target_value(&ev).parse().unwrap_or(50.0))/>
                    "% confidence"
                </label>
            </div>
            <p class="big" data-testid="recognise-result">{move || if trained() { result.get() } else { "Train the model to recognise photos.".into() }}</p>
            <Show when=trained>
                <CameraView camera=camera overlay=overlay>
                    <span class="big" data-testid="live-result">{live}</span>
                </CameraView>
            </Show>
        </section>
    }
}
