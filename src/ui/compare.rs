//! "Compare backbones": the user's photos (or the LFW-5 sample) through every backbone the page
//! has, on the same splits: test accuracy with its spread, per-person accuracy, the confusion
//! matrices, the calibrated unknown threshold, ms/photo and download size, side by side, and
//! the table as CSV or Markdown. Each backbone runs in its own workers, started and dropped in
//! turn; the embeddings it makes are kept (switching to it later is instant); the models the
//! comparison trains are not (the user's own stay as they are).

use facelab::backbone::{ALL, BackboneSpec};
use facelab::comparison::{BackboneRow, Comparison};
use facelab::model::TrainingPlan;
use leptos::prelude::*;

use super::data::download;
use super::fields::NumberField;
use super::state::AppState;
use super::training::ConfusionHeatmap;
use super::weights;

/// The backbones this page can run now: those it serves, and the user's own where kept.
async fn available(state: AppState) -> Vec<&'static BackboneSpec> {
    let mut specs = Vec::new();
    for &spec in ALL.iter() {
        let served = state.manifest.with_untracked(|m| m.0.contains_key(&spec.id));
        if served || (spec.source.package.is_none() && weights::users_own(spec).await.is_some()) {
            specs.push(spec);
        }
    }
    specs
}

/// One backbone's row: its weights, its workers, the photos it has not embedded, then
/// `repeats` splits trained and tested.
async fn compare_one(state: AppState, spec: &'static BackboneSpec, repeats: usize, fraction: f64, seed: u64, status: RwSignal<String>) -> Result<BackboneRow, String> {
    let say = move |what: String| status.set(format!("{}: {what}", spec.name));
    say("loading the weights…".into());
    let bytes = state.weights(spec, move |received, total| {
        say(format!("downloading {:.1} of {} MB…", received / 1e6, total.map_or("?".into(), |t| format!("{:.1}", t / 1e6))))
    });
    let compute = state.spare_compute(spec, bytes.await?);
    compute.start(state.backend()).await.map_err(|e| format!("{} could not start: {e}", spec.name))?;
    state.embed_with(&compute, move |done, total| say(format!("embedding photos: {done} of {total}…")), || true).await;
    let mut row = BackboneRow::new(spec.id, 0);
    for repeat in 0..repeats {
        say(format!("training and testing split {} of {repeats}…", repeat + 1));
        let split_seed = seed + repeat as u64;
        let plan = TrainingPlan::new(&state.roster.get_untracked(), spec.id, fraction, split_seed).map_err(|e| e.to_string())?;
        if repeat == 0 {
            row = BackboneRow::new(spec.id, plan.names.len());
        }
        let model = compute.train(plan, |_| {}).await.map_err(|e| e.to_string())?;
        row.add(&model);
    }
    row.ms_per_photo = state.speed.with_untracked(|s| s.get(&spec.id).and_then(|s| s.ms_per_photo()));
    row.download_bytes = state.manifest.with_untracked(|m| m.0.get(&spec.id).map(|e| e.bytes));
    Ok(row)
}

#[component]
fn ComparisonTable(comparison: Comparison) -> impl IntoView {
    let names = comparison.names.clone();
    view! {
        <table class="comparison" data-testid="comparison-table">
            <thead><tr>
                <th>"backbone"</th><th>"test accuracy"</th><th>"unknown threshold"</th><th>"ms/photo"</th><th>"download"</th>
                {names.iter().map(|n| view! { <th>{n.clone()}</th> }).collect_view()}
            </tr></thead>
            <tbody>
                {comparison.rows.iter().map(|row| {
                    let (mean, sd) = row.accuracy();
                    view! {
                        <tr data-testid=format!("comparison-{}", row.backbone.spec().name) data-accuracy=format!("{mean:.4}")>
                            <td>{row.backbone.spec().name}</td>
                            <td>{format!("{:.1}% ± {:.1}", 100.0 * mean, 100.0 * sd)}</td>
                            <td>{row.threshold().map_or("—".into(), |t| format!("{t:.3}"))}</td>
                            <td>{row.ms_per_photo.map_or("—".into(), |ms| format!("{ms:.0}"))}</td>
                            <td>{row.download_bytes.map_or("—".into(), |b| format!("{:.1} MB", b / 1e6))}</td>
                            {row.confusion.per_class_accuracy().into_iter().map(|a| view! {
                                <td>{a.map_or("—".into(), |a| format!("{:.0}%", 100.0 * a))}</td>
                            }).collect_view()}
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <div class="matrices">
            {comparison.rows.iter().map(|row| view! {
                <div><h3>{row.backbone.spec().name}</h3><ConfusionHeatmap names=names.clone() confusion=row.confusion.clone()/></div>
            }).collect_view()}
        </div>
    }
}

#[component]
pub fn Compare() -> impl IntoView {
    let state = expect_context::<AppState>();
    let repeats = RwSignal::new(3usize);
    let test_percent = RwSignal::new(20.0f64);
    let status = RwSignal::new(String::new());
    let result = RwSignal::new(None::<Comparison>);
    let cancel = StoredValue::new(false);
    let run = Action::new_local(move |_: &()| async move {
        cancel.set_value(false);
        let (repeats, fraction) = (repeats.get_untracked(), test_percent.get_untracked() / 100.0);
        let mut comparison = Comparison { names: Vec::new(), test_fraction: fraction, repeats, rows: Vec::new() };
        for spec in available(state).await {
            if cancel.get_value() {
                status.set("cancelled".into());
                return;
            }
            match compare_one(state, spec, repeats, fraction, 42, status).await {
                Ok(row) => comparison.rows.push(row),
                Err(e) => return status.set(format!("The comparison stopped: {e}")),
            }
            comparison.names = TrainingPlan::new(&state.roster.get_untracked(), spec.id, fraction, 42).map(|p| p.names).unwrap_or_default();
            result.set(Some(comparison.clone()));
        }
        status.set(format!("Compared {} backbones on the same {repeats} split(s).", comparison.rows.len()));
    });
    let export = move |markdown: bool| {
        if let Some(comparison) = result.get_untracked() {
            let (text, file) = if markdown { (comparison.to_markdown(), "facelab-comparison.md") } else { (comparison.to_csv(), "facelab-comparison.csv") };
            if let Err(e) = download(text.as_bytes(), file) {
                status.set(format!("Export failed: {e:?}"));
            }
        }
    };
    view! {
        <section class="card">
            <h2>"Compare backbones"</h2>
            <p class="muted">"Every backbone this page has, on the same splits of your photos: why face-trained weights matter. Photos a backbone has not seen are embedded first (and kept)."</p>
            <div class="row">
                <NumberField label="Splits " testid="compare-repeats" min=1 max=10 value=repeats/>
                <NumberField label=" Hold out (%) " testid="compare-test-percent" min=5.0 max=90.0 step=5.0 value=test_percent/>
                <button data-testid="compare" disabled=move || run.pending().get() || !state.ready.get() || state.reembedding.get().is_some()
                    on:click=move |_| { run.dispatch_local(()); }>"Compare backbones"</button>
                <Show when=move || run.pending().get()>
                    <button class="small" data-testid="cancel-compare" on:click=move |_| cancel.set_value(true)>"Cancel"</button>
                </Show>
            </div>
            <p data-testid="compare-status">{move || status.get()}</p>
            {move || result.get().map(|comparison| view! {
                <ComparisonTable comparison=comparison/>
                <div class="row">
                    <button data-testid="export-csv" on:click=move |_| export(false)>"Export CSV"</button>
                    <button data-testid="export-markdown" on:click=move |_| export(true)>"Export Markdown"</button>
                </div>
            })}
        </section>
    }
}
