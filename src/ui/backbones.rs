//! The backbone picker: every backbone the page knows, with what it is (architecture, training
//! data, embedding size, download size, licence, measured speed here), the one in use, and a
//! switch that downloads, starts and re-embeds (see `AppState::switch_backbone`).

use facelab::backbone::{ALL, BackboneId, BackboneSpec};
use leptos::prelude::*;

use super::state::AppState;
use super::users_weights::UsersWeights;

fn megabytes(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

#[component]
fn BackboneRow(spec: &'static BackboneSpec, switch: Action<BackboneId, ()>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let id = spec.id;
    let size = move || match state.manifest.with(|m| m.0.get(&id).map(|e| e.bytes)) {
        Some(bytes) => megabytes(bytes),
        None if spec.source.package.is_none() => "your own file".to_string(),
        None => "not served".to_string(),
    };
    let speed = move || state.speed.with(|s| s.get(&id).and_then(|s| s.ms_per_photo())).map_or("—".to_string(), |ms| format!("{ms:.0} ms"));
    let in_use = move || state.backbone.get() == id;
    let servable = move || state.manifest.with(|m| m.0.contains_key(&id)) || spec.source.package.is_none();
    view! {
        <tr data-testid=format!("backbone-{}", spec.name) class:current=in_use>
            <td>
                <label>
                    <input type="radio" name="backbone" value=spec.name data-testid=format!("choose-{}", spec.name)
                        prop:checked=in_use
                        disabled=move || switch.pending().get() || !state.ready.get() || !servable() || state.reembedding.get().is_some()
                        on:change=move |_| { switch.dispatch_local(id); }/>
                    " " <b>{spec.name}</b>
                </label>
            </td>
            <td>{spec.architecture}</td>
            <td>{spec.trained_on}</td>
            <td class="number">{spec.embedding_dim}</td>
            <td class="number" data-testid="download-size">{size}</td>
            <td>{spec.source.licence}</td>
            <td class="number" data-testid="ms-per-photo">{speed}</td>
        </tr>
    }
}

#[component]
pub fn BackbonePicker() -> impl IntoView {
    let state = expect_context::<AppState>();
    let (message, set_message) = signal(String::new());
    let switch = Action::new_local(move |id: &BackboneId| {
        let id = *id;
        async move {
            set_message.set(String::new());
            if let Err(e) = state.switch_backbone(id).await {
                set_message.set(e);
            }
        }
    });
    let download = move || {
        state.download.get().map(|(id, received, total)| {
            view! {
                <div>
                    <progress data-testid="backbone-download" max=total.unwrap_or(0.0) value=received></progress>
                    {format!(" downloading {}: {} of {}", id.spec().name, megabytes(received), total.map_or("?".into(), megabytes))}
                </div>
            }
        })
    };
    let reembedding = move || {
        state.reembedding.get().map(|r| {
            view! {
                <div class="row">
                    <progress data-testid="reembed-progress" max=r.total value=r.done></progress>
                    <span data-testid="reembed-status">{format!("embedding your photos with {}: {} of {}", state.backbone.get().spec().name, r.done, r.total)}</span>
                    <button class="small" data-testid="cancel-reembed" on:click=move |_| state.cancel_reembedding()>"Cancel"</button>
                </div>
            }
        })
    };
    // After a cancel: what is left, and a way to finish it.
    let remaining = move || {
        let backbone = state.backbone.get();
        let n = state.roster.with(|r| r.missing_embeddings(backbone).0);
        (n > 0 && state.reembedding.get().is_none() && state.ready.get()).then(|| view! {
            <div class="row">
                <span data-testid="unembedded">{format!("{n} photo(s) are not embedded with {} yet (training waits for them).", backbone.spec().name)}</span>
                <button class="small" data-testid="embed-remaining" on:click=move |_| leptos::task::spawn_local(state.embed_unseen())>"Embed them"</button>
            </div>
        })
    };
    let unembeddable = move || {
        let backbone = state.backbone.get();
        let n = state.roster.with(|r| r.missing_embeddings(backbone).1);
        (n > 0).then(|| format!("{n} photo(s) saved before face pictures were kept cannot be embedded with {}: add them again.", backbone.spec().name))
    };
    view! {
        <section class="card">
            <h2>"Backbone"</h2>
            <p class="muted">"The frozen network that turns each face into an embedding. Your photos are embedded again when you switch (each backbone's embeddings and trained model are kept, so switching back is instant)."</p>
            <table class="backbones" data-testid="backbone-picker">
                <thead><tr><th>"backbone"</th><th>"architecture"</th><th>"trained on"</th><th>"embedding"</th><th>"download"</th><th>"licence"</th><th>"per photo here"</th></tr></thead>
                <tbody>
                    {ALL.iter().map(|&spec| view! { <BackboneRow spec=spec switch=switch/> }).collect_view()}
                </tbody>
            </table>
            {download}
            {reembedding}
            {remaining}
            <p class="muted">{unembeddable}</p>
            <p class="error" data-testid="backbone-message">{message}</p>
            <UsersWeights switch=switch/>
        </section>
    }
}
