//! "Try it without your own photos": enrolls the LFW-5 sample that the build copied from the
//! configured data path (scripts/sample.sh), first N photos of each person in scikit-learn's
//! order, so the reference experiment runs in the page with one click.

use facelab::compute::{ComputeError, CropMode};
use leptos::prelude::*;

use super::fetch::{self, FetchError};
use super::fields::NumberField;
use super::next_frame;
use super::state::AppState;

const INDEX_URL: &str = "sample/lfw5.json";

#[derive(serde::Deserialize)]
struct SampleIndex {
    #[serde(default)]
    people: Vec<SamplePerson>,
    /// Set where the build found no LFW-5 data: the path it looked in.
    missing: Option<String>,
}

#[derive(serde::Deserialize)]
struct SamplePerson {
    name: String,
    files: Vec<String>,
}

/// Why the sample could not be enrolled.
#[derive(Debug, thiserror::Error)]
enum SampleError {
    #[error(
        "This build has no LFW-5 sample: it looked in {0}. Put the LFW photos of Colin_Powell, \
         Donald_Rumsfeld, George_W_Bush, Gerhard_Schroeder and Tony_Blair there (one folder each, with \
         scikit-learn's sklearn_order.csv beside them; see the README), or set FACELAB_DATA, and rebuild."
    )]
    NotBuiltIn(String),
    #[error("{INDEX_URL}: {0}")]
    Index(String),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{0}")]
    Name(#[from] facelab::roster::NameError),
    #[error(transparent)]
    Compute(#[from] ComputeError),
    #[error("{file}: {error}")]
    Photo { file: String, error: ComputeError },
}

#[component]
pub fn Sample() -> impl IntoView {
    let state = expect_context::<AppState>();
    let per_person = RwSignal::new(100usize);
    let (status, set_status) = signal(String::new());
    let load = Action::new_local(move |&per_person: &usize| async move {
        set_status.set(match enroll_sample(state, per_person, set_status).await {
            Ok(count) => format!("LFW-5 sample: enrolled {count} photos. Train the model below."),
            Err(e) => e.to_string(),
        });
    });

    view! {
        <section class="card">
            <h2>"Try it with a sample"</h2>
            <p class="muted">"Enrolls the reference experiment's photos: LFW's 5 people with at least 100 photos, the first N of each, with the experiment's fixed face crop (rows/cols 60..188)."</p>
            <div class="row">
                <NumberField label="Photos per person " testid="sample-count" min=1 max=100 value=per_person/>
                <button data-testid="load-sample" disabled=move || load.pending().get() || !state.ready.get()
                    on:click=move |_| { load.dispatch_local(per_person.get_untracked()); }>"Load LFW-5 sample"</button>
            </div>
            <p data-testid="sample-status">{status}</p>
        </section>
    }
}

async fn enroll_sample(state: AppState, per_person: usize, set_status: WriteSignal<String>) -> Result<usize, SampleError> {
    let index = fetch::bytes_with_progress(INDEX_URL, |_, _| {}).await?;
    let index: SampleIndex = serde_json::from_slice(&index).map_err(|e| SampleError::Index(e.to_string()))?;
    if let Some(path) = index.missing {
        return Err(SampleError::NotBuiltIn(path));
    }
    let mut people = index.people;
    people.sort_by(|a, b| a.name.cmp(&b.name));
    let total: usize = people.iter().map(|p| p.files.len().min(per_person)).sum();
    let (mut done, started) = (0, super::now_ms());
    for person in people {
        let existing = state.roster.with_untracked(|r| r.by_name(&person.name).map(|p| p.id));
        let id = match existing {
            Some(id) => id,
            None => state.edit_roster(|r| r.add_person(&person.name))?,
        };
        let files: Vec<String> = person.files.into_iter().take(per_person).collect();
        let compute = state.compute()?;
        // As many photos at once as the page has workers.
        for group in files.chunks(compute.parallel_photos()) {
            set_status.set(format!("embedding sample photo {} of {total}…", done + group.len()));
            next_frame().await;
            let mut photos = Vec::new();
            for file in group {
                photos.push(fetch::bytes_with_progress(&format!("sample/lfw5/{file}"), |_, _| {}).await?);
            }
            let photos: Vec<&[u8]> = photos.iter().map(Vec::as_slice).collect();
            // The reference experiment's crop, so the page reproduces the native `evaluate`.
            for (file, faces) in group.iter().zip(compute.embed_each(&photos, CropMode::Reference).await) {
                let mut faces = faces.map_err(|error| SampleError::Photo { file: file.clone(), error })?;
                let file_name = file.rsplit('/').next().unwrap_or(file).to_string();
                state.enroll_face(id, file_name, faces.remove(0));
                done += 1;
            }
        }
    }
    state.count_speed(state.backbone.get_untracked(), done, super::now_ms() - started);
    Ok(done)
}
