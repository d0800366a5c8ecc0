//! Train and test: the core's per-person split of the roster, the dense head trained epoch by
//! epoch in the worker, then the report (see report.rs).

mod report;

use facelab::head::EpochStats;
use facelab::model::TrainingPlan;
use leptos::prelude::*;

use super::fields::NumberField;
use super::state::AppState;
pub use report::ConfusionHeatmap;
use report::{EpochChart, ReportView};

#[component]
pub fn Training() -> impl IntoView {
    let state = expect_context::<AppState>();
    let test_percent = RwSignal::new(20.0f64);
    let (seed, set_seed) = signal(42u64);
    let (history, set_history) = signal(Vec::<EpochStats>::new());
    let (message, set_message) = signal(String::new());
    // How long the last training took, from the request to the model (shown, and read by the benchmarks).
    let (took, set_took) = signal(None::<(usize, f64)>);
    let report = move || state.model.get().and_then(|m| m.report);

    let train = Action::new_local(move |plan: &TrainingPlan| {
        let plan = plan.clone();
        async move {
            let (photos, started) = (plan.train.0.len(), super::now_ms());
            let trained = match state.compute() {
                Ok(compute) => compute.train(plan, move |stats| set_history.update(|h| h.push(stats))).await,
                Err(e) => Err(e),
            };
            match trained {
                Ok(model) => {
                    set_took.set(Some((photos, super::now_ms() - started)));
                    state.models.update(|models| {
                        models.insert(model.backbone, model);
                    })
                }
                Err(e) => set_message.set(format!("Training failed: {e}")),
            }
        }
    });
    let start = move |_| match TrainingPlan::new(&state.roster.get_untracked(), state.backbone.get_untracked(), test_percent.get_untracked() / 100.0, seed.get_untracked()) {
        Ok(plan) => {
            set_message.set(if plan.skipped.is_empty() {
                String::new()
            } else {
                format!("Not in the model (no photos yet): {}. ", plan.skipped.join(", "))
            });
            set_history.set(Vec::new());
            set_took.set(None);
            train.dispatch_local(plan);
        }
        Err(e) => set_message.set(e.to_string()),
    };

    view! {
        <section class="card">
            <h2>"2. Train and test"</h2>
            <div class="row">
                <NumberField label="Hold out for testing (%) " testid="test-percent" min=0.0 max=90.0 step=5.0 value=test_percent/>
                <label>" Seed "
                    <input type="number" min="0" data-testid="split-seed" prop:value=seed
                        on:change=move |ev| set_seed.set(event_target_value(&ev).parse().unwrap_or(42))/>
                </label>
                <button data-testid="train" disabled=move || train.pending().get() || !state.ready.get() || state.reembedding.get().is_some() on:click=start>"Train"</button>
            </div>
            <p class="error" data-testid="train-message">{message}</p>
            <EpochChart history=history/>
            {move || took.get().map(|(photos, ms)| view! {
                <p class="muted" data-testid="train-time" data-ms=format!("{ms:.0}")>{format!("Trained on {photos} photos in {ms:.0} ms.")}</p>
            })}
            {move || report().map(|r| view! { <ReportView report=r/> })}
            <Show when=move || state.model.with(|m| m.as_ref().is_some_and(|m| m.report.is_none()))>
                <p data-testid="test-accuracy">"The model was imported from a file; train again to see its test accuracy here."</p>
            </Show>
        </section>
    }
}
