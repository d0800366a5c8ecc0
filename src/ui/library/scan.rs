//! Scanning the user's files into the library: as many photos at once as the page has workers,
//! the results added (and grouped, and saved) a batch at a time, with progress, pause, resume
//! and cancel. Files already in the library are passed over, so adding the folder again after a
//! reload goes on where a scan stopped.

use facelab::library::ScannedPhoto;
use leptos::prelude::*;

use super::LibraryState;
use super::files::{Kind, kind};
use crate::ui::state::AppState;
use crate::ui::{fetch, now_ms, sleep_ms};

/// Results are added, grouped and saved after this many photos (and at the end).
const BATCH: usize = 12;

#[derive(Clone, Debug, PartialEq)]
pub struct ScanProgress {
    pub total: usize,
    /// Scanned or skipped in this scan.
    pub done: usize,
    /// Already in the library.
    pub passed_over: usize,
    pub faces: usize,
    pub skipped: usize,
    pub elapsed_ms: f64,
    pub finished: bool,
    pub cancelled: bool,
}

impl ScanProgress {
    fn photos_per_second(&self) -> f64 {
        1000.0 * self.done as f64 / self.elapsed_ms.max(1.0)
    }

    fn summary(&self) -> String {
        let rate = self.photos_per_second();
        let mut line = format!("{} of {} photos scanned · {} faces found · {:.1} photos/s", self.done, self.total, self.faces, rate);
        if self.skipped > 0 {
            line += &format!(" · {} skipped", self.skipped);
        }
        if self.passed_over > 0 {
            line += &format!(" · {} already in the library", self.passed_over);
        }
        if self.cancelled {
            line += " · cancelled (add the folder again to go on)";
        } else if self.finished {
            line += &format!(" · done in {:.1} s", self.elapsed_ms / 1000.0);
        } else if self.done > 0 {
            line += &format!(" · about {:.0} s left", (self.total - self.done) as f64 / rate.max(0.01));
        }
        line
    }
}

/// Scans `files` (path, file) into the library.
pub async fn scan(lib: LibraryState, state: AppState, files: Vec<(String, web_sys::File)>) {
    let backbone = state.backbone.get_untracked();
    let other = lib.library.with_untracked(|l| (!l.photos().is_empty() && l.backbone != backbone).then_some(l.backbone));
    if let Some(scanned_with) = other {
        let name = scanned_with.spec().name;
        return lib.message.set(format!("This library was scanned with {name}: choose {name} to add photos, or forget the library to scan again with {}.", backbone.spec().name));
    }
    lib.library.update(|l| {
        if l.photos().is_empty() {
            l.backbone = backbone;
        }
    });
    let (new, passed_over): (Vec<_>, Vec<_>) = lib.library.with_untracked(|l| {
        let known = l.known_paths();
        files.into_iter().partition(|(path, _)| !known.contains(path.as_str()))
    });
    let started_ms = now_ms();
    let mut progress = ScanProgress {
        total: new.len(),
        done: 0,
        passed_over: passed_over.len(),
        faces: 0,
        skipped: 0,
        elapsed_ms: 0.0,
        finished: false,
        cancelled: false,
    };
    lib.cancelled.set_value(false);
    lib.paused.set(false);
    lib.message.set(String::new());
    lib.scan.set(Some(progress.clone()));
    let mut batch: Vec<ScannedPhoto> = Vec::new();
    let mut skipped: Vec<(String, String)> = Vec::new();
    let mut skipped_before = 0;
    let mut queue = new.into_iter().peekable();
    while queue.peek().is_some() {
        while lib.paused.get_untracked() && !lib.cancelled.get_value() {
            sleep_ms(150).await;
        }
        if lib.cancelled.get_value() {
            progress.cancelled = true;
            break;
        }
        let compute = match state.compute() {
            Ok(compute) => compute,
            Err(e) => {
                lib.message.set(format!("The scan stopped: {e}. Add the folder again to go on."));
                progress.cancelled = true;
                break;
            }
        };
        // One photo per worker; files of other kinds are listed as skipped.
        let mut reading = Vec::new();
        while reading.len() < compute.parallel_photos() {
            let Some((path, file)) = queue.next() else { break };
            match kind(&path) {
                Kind::Photo => reading.push((path, file)),
                Kind::Skip(reason) => skipped.push((path, reason.to_string())),
            }
        }
        let mut photos = Vec::new();
        for (path, file) in reading {
            match fetch::file_bytes(&file).await {
                Ok(bytes) => photos.push((path, bytes)),
                Err(e) => skipped.push((path, e.to_string())),
            }
        }
        let inputs: Vec<&[u8]> = photos.iter().map(|(_, b)| b.as_slice()).collect();
        let results = compute.scan_each(&inputs).await;
        for ((path, _), result) in photos.iter().zip(results) {
            match result {
                Ok(mut photo) => {
                    photo.path = path.clone();
                    progress.faces += photo.faces.len();
                    batch.push(photo);
                }
                Err(e) => skipped.push((path.clone(), e.to_string())),
            }
        }
        progress.done = progress.total - queue.len();
        progress.skipped = skipped_before + skipped.len();
        if batch.len() + skipped.len() >= BATCH || queue.peek().is_none() {
            skipped_before += skipped.len();
            add(lib, std::mem::take(&mut batch), std::mem::take(&mut skipped));
        }
        progress.elapsed_ms = now_ms() - started_ms;
        lib.scan.set(Some(progress.clone()));
    }
    progress.skipped = skipped_before + skipped.len();
    add(lib, batch, skipped);
    progress.elapsed_ms = now_ms() - started_ms;
    progress.finished = true;
    lib.scan.set(Some(progress));
}

/// Adds a batch of results to the library, groups the new faces and saves them.
fn add(lib: LibraryState, photos: Vec<ScannedPhoto>, skipped: Vec<(String, String)>) {
    if photos.is_empty() && skipped.is_empty() {
        return;
    }
    let clustering = lib.clustering();
    let added = photos.len();
    lib.library.update(|l| {
        for photo in photos {
            l.add(photo);
        }
        for (path, reason) in skipped {
            l.skip(path, reason);
        }
        l.group_new_faces(clustering);
    });
    // Saved as the library holds them (with their face ids).
    let saved: Vec<ScannedPhoto> = lib.library.with_untracked(|l| l.photos()[l.photos().len() - added..].to_vec());
    lib.save(saved);
}

/// The scan's progress bar and figures, with pause, resume and cancel.
#[component]
pub fn ScanStatus() -> impl IntoView {
    let lib = expect_context::<LibraryState>();
    let running = move || lib.scan.with(|s| s.as_ref().is_some_and(|s| !s.finished));
    view! {
        <Show when=move || lib.scan.with(Option::is_some)>
            <div class="row">
                <progress data-testid="library-progress" max=move || lib.scan.with(|s| s.as_ref().map_or(1, |s| s.total.max(1)))
                    value=move || lib.scan.with(|s| s.as_ref().map_or(0, |s| s.done))/>
                <Show when=running>
                    <Show when=move || !lib.paused.get() fallback=move || view! {
                        <button class="small" data-testid="library-resume" on:click=move |_| lib.paused.set(false)>"Resume"</button>
                    }>
                        <button class="small" data-testid="library-pause" on:click=move |_| lib.paused.set(true)>"Pause"</button>
                    </Show>
                    <button class="small danger" data-testid="library-cancel" on:click=move |_| lib.cancelled.set_value(true)>"Cancel"</button>
                </Show>
            </div>
            <p data-testid="library-status" data-finished=move || lib.scan.with(|s| s.as_ref().is_some_and(|s| s.finished).to_string())
                data-photos-per-second=move || lib.scan.with(|s| s.as_ref().map_or(String::new(), |s| format!("{:.2}", s.photos_per_second())))>
                {move || lib.scan.with(|s| s.as_ref().map(ScanProgress::summary))}
                {move || lib.paused.get().then_some(" · paused")}
            </p>
        </Show>
    }
}
