//! What training shows: the loss and accuracy per epoch as a chart, then the test accuracy,
//! per-person accuracy and the confusion matrix as a heatmap.

use facelab::head::EpochStats;
use facelab::metrics::ConfusionMatrix;
use facelab::model::Report;
use leptos::prelude::*;

/// Loss and training accuracy per epoch, as a small SVG line chart.
#[component]
pub fn EpochChart(history: ReadSignal<Vec<EpochStats>>) -> impl IntoView {
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
pub fn ReportView(report: Report) -> impl IntoView {
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
pub fn ConfusionHeatmap(names: Vec<String>, confusion: ConfusionMatrix) -> impl IntoView {
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
