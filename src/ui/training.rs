//! Train and test: a per-person split, the dense head trained epoch by epoch in the page, then
//! test accuracy, per-person accuracy and the confusion matrix as a heatmap.

use facelab::compute::{Reply, Request};
use facelab::head::{CentroidClassifier, EpochStats};
use facelab::openset::calibrate;
use facelab::weights::f32_bytes;
use facelab::metrics::{ConfusionMatrix, Split, stratified_split};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{AppState, Report, Trained};

#[component]
pub fn Training() -> impl IntoView {
    let state = expect_context::<AppState>();
    let (test_percent, set_test_percent) = signal(20.0f64);
    let (seed, set_seed) = signal(42u64);
    let (history, set_history) = signal(Vec::<EpochStats>::new());
    let (message, set_message) = signal(String::new());
    let (busy, set_busy) = signal(false);
    let report = move || state.trained.get().and_then(|t| t.report);

    let train = move |_| {
        let all = state.people.get_untracked();
        let (people, empty): (Vec<_>, Vec<_>) = all.into_iter().partition(|p| !p.photos.is_empty());
        if people.len() < 2 {
            set_message.set("Enroll at least two people with photos first.".into());
            return;
        }
        let skipped = if empty.is_empty() {
            String::new()
        } else {
            let names: Vec<_> = empty.iter().map(|p| p.name.as_str()).collect();
            format!("Not in the model (no photos yet): {}. ", names.join(", "))
        };
        let names: Vec<String> = people.iter().map(|p| p.name.clone()).collect();
        let (embeddings, labels): (Vec<Vec<f32>>, Vec<usize>) = people
            .iter()
            .enumerate()
            .flat_map(|(label, p)| p.photos.iter().map(move |photo| (photo.embedding.clone(), label)))
            .unzip();
        let seed = seed.get_untracked();
        let split = stratified_split(&labels, test_percent.get_untracked() / 100.0, seed);
        let (train_x, train_y) = Split::pick(&embeddings, &labels, &split.train);
        let (test_x, test_y) = Split::pick(&embeddings, &labels, &split.test);
        set_busy.set(true);
        set_message.set(skipped);
        set_history.set(Vec::new());
        spawn_local(async move {
            let request = Request::Train { labels: train_y.clone(), classes: names.len(), test_rows: test_x.len(), seed };
            let rows = f32_bytes(train_x.iter().chain(&test_x).flatten());
            let on_epoch = move |reply| {
                if let Reply::Epoch(stats) = reply {
                    set_history.update(|h| h.push(stats));
                }
            };
            match state.call(request, &rows, on_epoch).await {
                Ok((Reply::Trained { test_predictions }, head)) => {
                    let confusion = ConfusionMatrix::new(names.len(), &test_y, &test_predictions);
                    let report = Report { names: names.clone(), confusion, train_photos: split.train.len() };
                    // The open-set threshold, from the same held-out photos.
                    let centroids = CentroidClassifier::fit(&train_x, &train_y, names.len());
                    let unknown = calibrate(&centroids, &test_x, &test_y);
                    state.trained.set(Some(Trained { names, head, report: Some(report), unknown }));
                }
                Ok((other, _)) => set_message.set(format!("unexpected reply {other:?}")),
                Err(e) => set_message.set(format!("Training failed: {e}")),
            }
            set_busy.set(false);
        });
    };

    view! {
        <section class="card">
            <h2>"2. Train and test"</h2>
            <div class="row">
                <label>"Hold out for testing (%) "
                    <input type="number" min="0" max="90" step="5" data-testid="test-percent" prop:value=test_percent
                        on:change=move |ev| set_test_percent.set(event_target_value(&ev).parse::<f64>().unwrap_or(20.0).clamp(0.0, 90.0))/>
                </label>
                <label>" Seed "
                    <input type="number" min="0" data-testid="split-seed" prop:value=seed
                        on:change=move |ev| set_seed.set(event_target_value(&ev).parse().unwrap_or(42))/>
                </label>
                <button data-testid="train" disabled=move || busy.get() || !state.ready.get() on:click=train>"Train"</button>
            </div>
            <p class="error" data-testid="train-message">{message}</p>
            <EpochChart history=history/>
            {move || report().map(|r| view! { <ReportView report=r/> })}
            <Show when=move || state.trained.with(|t| t.as_ref().is_some_and(|t| t.report.is_none()))>
                <p data-testid="test-accuracy">"The model was imported from a file; train again to see its test accuracy here."</p>
            </Show>
        </section>
    }
}

/// Loss and training accuracy per epoch, as a small SVG line chart.
#[component]
fn EpochChart(history: ReadSignal<Vec<EpochStats>>) -> impl IntoView {
    let (width, height) = (320.0, 120.0);
    let points = move |value: fn(&EpochStats) -> f32, scale: f32| {
        let h = history.get();
        let n = h.len().max(2) as f64 - 1.0;
        h.iter()
            .enumerate()
            .map(|(i, s)| format!("{:.1},{:.1}", i as f64 / n * width, height - (value(s) / scale).min(1.0) as f64 * height))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let max_loss = move || history.get().iter().map(|s| s.loss).fold(1e-6f32, f32::max);
    view! {
        <Show when=move || !history.get().is_empty()>
            <div class="chart" data-testid="training-chart">
                <svg viewBox=format!("0 0 {width} {height}") width=width height=height>
                    <polyline class="loss" points=move || points(|s| s.loss, max_loss())/>
                    <polyline class="accuracy" points=move || points(|s| s.accuracy, 1.0)/>
                </svg>
                <p class="muted" data-testid="epoch-status">{move || history.get().last().map(|s| format!(
                    "epoch {}: loss {:.4}, training accuracy {:.1}%", s.epoch, s.loss, 100.0 * s.accuracy)).unwrap_or_default()}</p>
            </div>
        </Show>
    }
}

#[component]
fn ReportView(report: Report) -> impl IntoView {
    let tested = report.confusion.total();
    let accuracy = report.confusion.accuracy();
    let per_person = report.confusion.per_class_accuracy();
    view! {
        <div data-testid="report">
            {if tested == 0 {
                view! { <p data-testid="test-accuracy">{format!(
                    "Trained on {} photos. No photo was held out, so there is no test accuracy.", report.train_photos)}</p> }.into_any()
            } else {
                view! { <p class="big" data-testid="test-accuracy">{format!(
                    "Test accuracy: {:.1}% ({} of {tested} held-out photos; trained on {})",
                    100.0 * accuracy, (accuracy * tested as f64).round(), report.train_photos)}</p> }.into_any()
            }}
            <ul class="per-person" data-testid="per-person-accuracy">
                {report.names.iter().zip(per_person).map(|(name, a)| view! {
                    <li>{format!("{name}: {}", a.map_or("no test photo".to_string(), |a| format!("{:.1}%", 100.0 * a)))}</li>
                }).collect_view()}
            </ul>
            <ConfusionHeatmap names=report.names.clone() confusion=report.confusion.clone()/>
        </div>
    }
}

/// Rows: the true person; columns: the prediction. Each row is shaded by its share.
#[component]
fn ConfusionHeatmap(names: Vec<String>, confusion: ConfusionMatrix) -> impl IntoView {
    let n = names.len();
    let (cell, label) = (44.0, 150.0);
    let size = label + cell * n as f64;
    // Room on the right for the slanted column names.
    let width = size + label / 2.0;
    let cells = confusion.counts.iter().enumerate().flat_map(|(row, counts)| {
        let total: usize = counts.iter().sum();
        counts.iter().enumerate().map(move |(col, &count)| {
            let share = if total == 0 { 0.0 } else { count as f64 / total as f64 };
            let (x, y) = (label + col as f64 * cell, label + row as f64 * cell);
            view! {
                <rect x=x y=y width=cell height=cell fill=format!("rgba(37, 99, 235, {:.3})", 0.08 + 0.92 * share) class="cell"/>
                <text x={x + cell / 2.0} y={y + cell / 2.0 + 5.0} text-anchor="middle" class={if share > 0.5 { "count light" } else { "count" }}>{count}</text>
            }
        }).collect_view()
    }).collect_view();
    let row_labels = names.iter().enumerate().map(|(i, name)| view! {
        <text x={label - 6.0} y={label + i as f64 * cell + cell / 2.0 + 5.0} text-anchor="end" class="name">{name.clone()}</text>
    }).collect_view();
    let column_labels = names.iter().enumerate().map(|(i, name)| {
        let (x, y) = (label + i as f64 * cell + cell / 2.0, label - 6.0);
        view! { <text x=x y=y transform=format!("rotate(-45 {x} {y})") class="name">{name.clone()}</text> }
    }).collect_view();
    view! {
        <figure data-testid="confusion-matrix">
            <svg viewBox=format!("0 0 {width} {size}") width=width height=size role="img" aria-label="Confusion matrix">
                {cells}{row_labels}{column_labels}
            </svg>
            <figcaption class="muted">"Confusion matrix: rows are the true person, columns the prediction."</figcaption>
        </figure>
    }
}
