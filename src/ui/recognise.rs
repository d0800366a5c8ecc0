//! Recognise the faces in a new photo, or in the camera's picture continuously, with the trained
//! head. A face is "unknown" when it is less similar to the nearest enrolled person's photos than
//! the threshold calibrated at training (see `facelab::openset`), or when the head's confidence is
//! below the user's minimum.

use facelab::compute::ComputeError;
use facelab::openset::OpenSet;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::camera::{Camera, CameraView, Overlay};
use super::state::AppState;
use super::{dropped_files, fetch, next_frame, now_ms, picked_files};

/// Every face in the photo with its verdict, largest face first.
async fn recognise(state: AppState, bytes: Vec<u8>, min_confidence_percent: f64) -> Result<(usize, usize, Vec<([f32; 4], String)>), ComputeError> {
    // Read in place: this runs for every camera frame, and the roster holds every thumbnail.
    let open_set = state.model.with_untracked(|model| {
        let model = model.as_ref().ok_or(ComputeError::NotTrained)?;
        Ok::<_, ComputeError>(state.roster.with_untracked(|roster| OpenSet::new(model, roster, (min_confidence_percent / 100.0) as f32)))
    })?;
    let mut photo = state.compute()?.recognise(&bytes).await?;
    photo.faces.sort_by(|a, b| (b.bbox[2] * b.bbox[3]).total_cmp(&(a.bbox[2] * a.bbox[3])));
    let verdicts = photo.faces.iter().map(|f| (f.bbox, open_set.verdict(&f.probabilities, &f.embedding).to_string())).collect();
    Ok((photo.width, photo.height, verdicts))
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
    let trained = move || state.model.with(Option::is_some) && state.ready.get();
    let recognise_file = Action::new_local(move |file: &web_sys::File| {
        let file = file.clone();
        async move {
            let answer = match fetch::file_bytes(&file).await {
                Ok(bytes) => recognise(state, bytes, threshold.get_untracked()).await.map(|(_, _, faces)| summary(&faces)).unwrap_or_else(|e| e.to_string()),
                Err(e) => e.to_string(),
            };
            set_result.set(format!("{}: {answer}", file.name()));
        }
    });
    let first = move |files: Vec<web_sys::File>| {
        if let Some(file) = files.into_iter().next()
            && trained()
        {
            recognise_file.dispatch_local(file);
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
                    Ok(bytes) => recognise(state, bytes, threshold.get_untracked()).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
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
        <section class="card" data-testid="recognise" on:dragover=|ev: leptos::ev::DragEvent| ev.prevent_default() on:drop=move |ev| first(dropped_files(&ev))>
            <h2>"3. Recognise"</h2>
            <div class="row">
                <label class="button">"Choose a photo (or drop it here)"
                    <input type="file" accept="image/*" class="hidden" data-testid="recognise-input"
                        disabled=move || !trained() on:change=move |ev| first(picked_files(&ev))/>
                </label>
                <label>" Unknown below a confidence of "
                    <input type="number" min="0" max="100" step="5" data-testid="threshold" prop:value=threshold
                        on:change=move |ev| set_threshold.set(event_target_value(&ev).parse().unwrap_or(50.0))/>
                    "%"
                </label>
            </div>
            <p class="muted" data-testid="unknown-threshold">{move || state.model.get().map(|m| match m.unknown {
                Some(u) => format!(
                    "A face is unknown when its similarity to the closest person's enrolled photos is below {:.2}: calibrated on {} held-out photos, where it kept {:.0}% of genuine faces and turned away {:.0}% of faces compared with someone else's photos.",
                    u.similarity, u.held_out, 100.0 * u.genuine_accepted, 100.0 * u.impostors_rejected),
                None => "No photos were held out at training, so only the confidence minimum decides \"unknown\".".into(),
            })}</p>
            <p class="big" data-testid="recognise-result">{move || if trained() { result.get() } else { "Train the model to recognise photos.".into() }}</p>
            <Show when=trained>
                <CameraView camera=camera overlay=overlay>
                    <span class="big" data-testid="live-result">{live}</span>
                </CameraView>
            </Show>
        </section>
    }
}
