//! Recognise the faces in a new photo, or in the camera's picture continuously, with the trained
//! head. A face is "unknown" when it is less similar to the nearest enrolled person's photos than
//! the threshold calibrated at training (see `facelab::openset`), or when the head's confidence is
//! below the user's minimum.

use facelab::compute::{RecognisedFace, Reply, Request};
use facelab::head::{CentroidClassifier, argmax};
use facelab::openset::UnknownThreshold;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::camera::{Camera, CameraView, Overlay};
use super::{AppState, fetch, next_frame, now_ms};

/// What decides "unknown": the calibrated similarity (with the enrolled photos' centroids) and
/// the user's minimum confidence.
struct OpenSet {
    names: Vec<String>,
    centroids: Option<(CentroidClassifier, UnknownThreshold)>,
    min_confidence: f64,
}

impl OpenSet {
    fn new(state: AppState, min_confidence: f64) -> Result<Self, String> {
        // Names and threshold only: the head's weights (megabytes) stay where they are.
        let (names, unknown) = state
            .trained
            .with_untracked(|t| t.as_ref().map(|t| (t.names.clone(), t.unknown.clone())))
            .ok_or("train the model first")?;
        // Read in place: this runs for every camera frame, and the roster holds every thumbnail.
        let (embeddings, labels): (Vec<Vec<f32>>, Vec<usize>) = state.people.with_untracked(|people| {
            names
                .iter()
                .enumerate()
                .flat_map(|(label, name)| people.iter().filter(move |p| &p.name == name).flat_map(move |p| p.photos.iter().map(move |f| (f.embedding.clone(), label))))
                .unzip()
        });
        // Without every person's photos (renamed or deleted since training) there is no centroid.
        let complete = (0..names.len()).all(|l| labels.contains(&l));
        let centroids = unknown.filter(|_| complete).map(|t| (CentroidClassifier::fit(&embeddings, &labels, names.len()), t));
        Ok(Self { names, centroids, min_confidence })
    }

    /// "Name (87.5% confident)" or "unknown (closest: Name, ...)".
    fn verdict(&self, face: &RecognisedFace) -> String {
        let best = argmax(&face.probabilities);
        let confidence = 100.0 * face.probabilities[best] as f64;
        let name = self.names.get(best).map_or("?", String::as_str);
        let similarity = self.centroids.as_ref().map(|(c, t)| (c.similarities(&face.embedding)[best], t.similarity));
        match similarity {
            Some((s, threshold)) if s < threshold => format!("unknown (closest: {name}, similarity {s:.2} < {threshold:.2})"),
            _ if confidence < self.min_confidence => format!("unknown (closest: {name}, {confidence:.1}%)"),
            _ => format!("{name} ({confidence:.1}% confident)"),
        }
    }
}

/// Every face in the photo with its verdict, largest face first.
async fn recognise(state: AppState, bytes: Vec<u8>, threshold: f64) -> Result<(usize, usize, Vec<([f32; 4], String)>), String> {
    let open_set = OpenSet::new(state, threshold)?;
    let (Reply::Recognised { width, height, mut faces }, _) = state.call(Request::Recognise, &bytes, |_| {}).await? else {
        return Err("unexpected reply".into());
    };
    faces.sort_by(|a, b| (b.bbox[2] * b.bbox[3]).total_cmp(&(a.bbox[2] * a.bbox[3])));
    Ok((width, height, faces.iter().map(|f| (f.bbox, open_set.verdict(f))).collect()))
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
                <label>" Unknown below a confidence of "
                    <input type="number" min="0" max="100" step="5" data-testid="threshold" prop:value=threshold
                        on:change=move |ev| set_threshold.set(event_target_value(&ev).parse().unwrap_or(50.0))/>
                    "%"
                </label>
            </div>
            <p class="muted" data-testid="unknown-threshold">{move || state.trained.get().map(|t| match t.unknown {
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
