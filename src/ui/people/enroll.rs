//! Photos into a person: files (picked or dropped onto the card) or camera captures, each
//! embedded once on arrival, as many at once as the page has workers. One face is enrolled,
//! several wait for the user to pick, none is refused with the reason.

use facelab::compute::{ComputeError, CropMode, EmbeddedFace};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::choices::PendingChoice;
use crate::ui::camera::{Camera, CameraView};
use crate::ui::state::AppState;
use crate::ui::{fetch, next_frame, now_ms, picked_files};

pub const SEVERAL_FACES: &str = "several faces; pick the one to enroll below";

/// What a card tells the user about its photos, and the photos waiting for a pick.
#[derive(Clone, Copy)]
pub struct Feedback {
    pub message: RwSignal<String>,
    pub choices: RwSignal<Vec<PendingChoice>>,
    keys: StoredValue<u32>,
}

impl Feedback {
    pub fn new() -> Self {
        Self { message: RwSignal::new(String::new()), choices: RwSignal::new(Vec::new()), keys: StoredValue::new(0) }
    }

    /// The faces found in a photo: one is enrolled (`Ok(true)`), several wait for a pick
    /// (`Ok(false)`).
    fn place(self, state: AppState, person: u32, file_name: String, faces: Result<Vec<EmbeddedFace>, ComputeError>) -> Result<bool, ComputeError> {
        let mut faces = faces?;
        if faces.len() == 1 {
            state.enroll_face(person, file_name, faces.remove(0));
            return Ok(true);
        }
        self.keys.update_value(|k| *k += 1);
        let key = self.keys.get_value();
        self.choices.update(|c| c.push(PendingChoice { key, file_name, faces }));
        Ok(false)
    }

    /// The user picked a face (or none) for a photo: its "pick one" line has been answered.
    pub fn answered(self, key: u32, file_name: &str) {
        self.choices.update(|c| c.retain(|other| other.key != key));
        let asked = format!("{file_name}: {SEVERAL_FACES}");
        self.message.update(|m| *m = m.lines().filter(|line| *line != asked).collect::<Vec<_>>().join("\n"));
    }
}

/// Enrolls files into `person` a group at a time; returns the summary line and the problems.
async fn enroll_files(state: AppState, person: u32, files: Vec<web_sys::File>, feedback: Feedback, progress: RwSignal<String>, cancel: StoredValue<bool>) -> (String, Vec<String>) {
    let mut problems = Vec::new();
    let (mut added, mut done, total, started) = (0usize, 0, files.len(), now_ms());
    while done < total {
        if cancel.get_value() {
            problems.push(format!("cancelled: {} photo(s) not added", total - done));
            break;
        }
        let compute = match state.compute() {
            Ok(compute) => compute,
            Err(e) => {
                problems.push(e.to_string());
                break;
            }
        };
        let group = &files[done..total.min(done + compute.parallel_photos())];
        let last = done + group.len();
        progress.set(if group.len() == 1 { format!("embedding photo {last} of {total}…") } else { format!("embedding photos {}-{last} of {total}…", done + 1) });
        next_frame().await;
        let mut readable = Vec::new();
        for file in group {
            match fetch::file_bytes(file).await {
                Ok(bytes) => readable.push((file.name(), bytes)),
                Err(e) => problems.push(format!("{}: {e}", file.name())),
            }
        }
        let photos: Vec<&[u8]> = readable.iter().map(|(_, bytes)| bytes.as_slice()).collect();
        let results = compute.embed_each(&photos, CropMode::Detect).await;
        for ((name, _), faces) in readable.iter().zip(results) {
            match feedback.place(state, person, name.clone(), faces) {
                Ok(true) => added += 1,
                Ok(false) => problems.push(format!("{name}: {SEVERAL_FACES}")),
                Err(e) => problems.push(format!("{name}: {e}")),
            }
        }
        done = last;
    }
    progress.set(String::new());
    state.count_speed(state.backbone.get_untracked(), done, now_ms() - started);
    // Wall-clock time over the photos processed, with the workers running side by side.
    let summary = if added > 0 { format!("added {added} photo(s), {:.0} ms per photo", (now_ms() - started) / done as f64) } else { String::new() };
    (summary, problems)
}

/// Enrolling files into one person: the running action, its progress, its cancel switch.
#[derive(Clone, Copy)]
pub struct FileEnrollment {
    state: AppState,
    action: Action<Vec<web_sys::File>, ()>,
    progress: RwSignal<String>,
    summary: RwSignal<String>,
    cancel: StoredValue<bool>,
}

impl FileEnrollment {
    pub fn new(person: u32, feedback: Feedback) -> Self {
        let state = expect_context::<AppState>();
        let (progress, summary, cancel) = (RwSignal::new(String::new()), RwSignal::new(String::new()), StoredValue::new(false));
        let action = Action::new_local(move |files: &Vec<web_sys::File>| {
            let files = files.clone();
            async move {
                cancel.set_value(false);
                let (line, problems) = enroll_files(state, person, files, feedback, progress, cancel).await;
                summary.set(line);
                feedback.message.set(problems.join("\n"));
            }
        });
        Self { state, action, progress, summary, cancel }
    }

    pub fn add(self, files: Vec<web_sys::File>, feedback: Feedback) {
        if !self.state.ready.get_untracked() {
            feedback.message.set("wait until the backbone has loaded".into());
        } else if !files.is_empty() {
            self.action.dispatch_local(files);
        }
    }
}

/// The file picker, the progress of the photos being embedded with a cancel, and the summary.
#[component]
pub fn EnrollControls(enrollment: FileEnrollment, feedback: Feedback) -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <div class="row">
            <label class="button">"Add photos (or drop them here)"
                <input type="file" accept="image/*" multiple data-testid="photo-input" class="hidden"
                    disabled=move || !state.ready.get() on:change=move |ev| enrollment.add(picked_files(&ev), feedback)/>
            </label>
            <span data-testid="enroll-progress">{enrollment.progress}</span>
            <Show when=move || enrollment.action.pending().get()>
                <button class="small" data-testid="cancel-enroll" on:click=move |_| enrollment.cancel.set_value(true)>"Cancel"</button>
            </Show>
        </div>
        <p class="muted" data-testid="enroll-summary">{enrollment.summary}</p>
    }
}

/// The camera preview with a button that enrolls the current picture (several in a row).
#[component]
pub fn CameraCapture(person: u32, feedback: Feedback) -> impl IntoView {
    let state = expect_context::<AppState>();
    let camera = Camera::new();
    let captures = StoredValue::new(0usize);
    let capture = move |_| {
        captures.update_value(|n| *n += 1);
        let name = format!("camera-{}.jpg", captures.get_value());
        spawn_local(async move {
            let faces = match (camera.capture().await, state.compute()) {
                (Ok(bytes), Ok(compute)) => compute.embed(&bytes, CropMode::Detect).await.map(|photo| photo.faces),
                (Err(e), _) => return feedback.message.set(format!("camera: {e}")),
                (_, Err(e)) => Err(e),
            };
            feedback.message.set(match feedback.place(state, person, name.clone(), faces) {
                Ok(true) => String::new(),
                Ok(false) => format!("{name}: {SEVERAL_FACES}"),
                Err(e) => format!("camera: {e}"),
            });
        });
    };
    view! {
        <CameraView camera=camera>
            <Show when=move || camera.on.get()>
                <button class="small" data-testid="camera-capture" disabled=move || !state.ready.get() on:click=capture>"Capture"</button>
            </Show>
        </CameraView>
    }
}
