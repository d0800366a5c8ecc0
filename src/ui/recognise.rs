//! Recognise a new photo with the trained head; below the confidence threshold it is "unknown".

use facelab::head::argmax;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::{AppState, photo_from_file};

#[component]
pub fn Recognise() -> impl IntoView {
    let state = expect_context::<AppState>();
    let (threshold, set_threshold) = signal(50.0f64);
    let (result, set_result) = signal(String::new());
    let trained = move || {
        state.trained_version.track();
        state.trained.with_value(Option::is_some)
    };
    let on_photo = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
        let Some(file) = input.files().and_then(|files| files.get(0)) else { return };
        input.set_value("");
        spawn_local(async move {
            let name = file.name();
            let embedding = match photo_from_file(&state, &file).await {
                Ok(photo) => photo.embedding,
                Err(e) => return set_result.set(format!("{name}: {e}")),
            };
            let answer = state.trained.with_value(|trained| {
                trained.as_ref().map(|t| {
                    let p = t.head.predict_proba(&[embedding])[0].clone();
                    let best = argmax(&p);
                    let confidence = 100.0 * p[best] as f64;
                    if confidence >= threshold.get_untracked() {
                        format!("{name}: {} ({confidence:.1}% confident)", t.names[best])
                    } else {
                        format!("{name}: unknown (closest: {}, {confidence:.1}%)", t.names[best])
                    }
                })
            });
            set_result.set(answer.unwrap_or_else(|| "train the model first".into()));
        });
    };
    view! {
        <section class="card">
            <h2>"3. Recognise"</h2>
            <div class="row">
                <label class="button">"Choose a photo"
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
        </section>
    }
}
