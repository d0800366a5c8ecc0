//! Enrolling people: add, rename, delete; photos from files or the camera, each embedded once on
//! arrival (in the compute worker).

use facelab::roster::validate_name;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;

use super::camera::{Camera, CameraView};
use facelab::compute::{Crop, EmbeddedFace};

use super::{AppState, blob_url, fetch, next_frame, now_ms};

#[component]
pub fn People() -> impl IntoView {
    let state = expect_context::<AppState>();
    let (new_name, set_new_name) = signal(String::new());
    let (error, set_error) = signal(String::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let people = state.people.get_untracked();
        match validate_name(&new_name.get_untracked(), people.iter().map(|p| p.name.as_str())) {
            Ok(name) => {
                state.add_person(name);
                set_new_name.set(String::new());
                set_error.set(String::new());
            }
            Err(e) => set_error.set(e),
        }
    };
    view! {
        <section class="card">
            <h2>"1. People"</h2>
            <form class="row" on:submit=add>
                <input data-testid="new-person-name" placeholder="Name" prop:value=new_name
                    on:input=move |ev| set_new_name.set(event_target_value(&ev))/>
                <button data-testid="add-person" type="submit">"Add person"</button>
            </form>
            <p class="error" data-testid="people-error">{error}</p>
            <div class="people">
                <For each=move || state.people.get() key=|p| p.id let:person>
                    <PersonCard id=person.id/>
                </For>
            </div>
        </section>
    }
}

const SEVERAL_FACES: &str = "several faces; pick the one to enroll below";

#[component]
fn PersonCard(id: u32) -> impl IntoView {
    let state = expect_context::<AppState>();
    let person = move || state.people.with(|people| people.iter().find(|p| p.id == id).cloned());
    let name = move || person().map(|p| p.name).unwrap_or_default();
    let (message, set_message) = signal(String::new());
    let (progress, set_progress) = signal(String::new());
    let (summary, set_summary) = signal(String::new());
    let cancel = StoredValue::new(false);
    let (renaming, set_renaming) = signal(None::<String>);
    // Photos with several faces, waiting for the user to pick the one to enroll.
    let (choices, set_choices) = signal(Vec::<(u32, String, Vec<EmbeddedFace>)>::new());

    // One face: enrolled. Several: the user picks. None: the error says so.
    let enroll_faces = move |file_name: String, faces: Result<Vec<EmbeddedFace>, String>| {
        let mut faces = faces?;
        if faces.len() == 1 {
            state.add_photo(id, state.photo_from_face(file_name, faces.remove(0)));
            Ok(true)
        } else {
            set_choices.update(|c| c.push((state.next_id(), file_name, faces)));
            Ok::<bool, String>(false)
        }
    };

    // Photos arrive from the file picker or by drag-and-drop onto the card; as many are embedded
    // at once as the page has workers.
    let enroll = move |list: web_sys::FileList| {
        if !state.ready.get_untracked() {
            set_message.set("wait until the backbone has loaded".into());
            return;
        }
        let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
        cancel.set_value(false);
        spawn_local(async move {
            let mut problems = Vec::new();
            let mut added = 0usize;
            let started = now_ms();
            let total = files.len();
            let mut done = 0;
            while done < total {
                if cancel.get_value() {
                    problems.push(format!("cancelled: {} photo(s) not added", total - done));
                    break;
                }
                let group = &files[done..total.min(done + state.lanes())];
                let last = done + group.len();
                set_progress.set(if group.len() == 1 {
                    format!("embedding photo {last} of {total}…")
                } else {
                    format!("embedding photos {}-{last} of {total}…", done + 1)
                });
                next_frame().await;
                let mut readable = Vec::new();
                for file in group {
                    match fetch::file_bytes(file).await {
                        Ok(bytes) => readable.push((file.name(), bytes)),
                        Err(e) => problems.push(format!("{}: {e}", file.name())),
                    }
                }
                let photos: Vec<&[u8]> = readable.iter().map(|(_, bytes)| bytes.as_slice()).collect();
                let results = state.faces_in_each(&photos, Crop::Detect).await;
                for ((name, _), faces) in readable.iter().zip(results) {
                    match enroll_faces(name.clone(), faces) {
                        Ok(true) => added += 1,
                        Ok(false) => problems.push(format!("{name}: {SEVERAL_FACES}")),
                        Err(e) => problems.push(format!("{name}: {e}")),
                    }
                }
                done = last;
            }
            set_progress.set(String::new());
            set_summary.set(if added > 0 {
                // Wall-clock time over the photos processed, with the workers running side by side.
                format!("added {added} photo(s), {:.0} ms per photo", (now_ms() - started) / done as f64)
            } else {
                String::new()
            });
            set_message.set(problems.join("\n"));
        });
    };
    let on_files = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = ev.target().unwrap().unchecked_into();
        if let Some(list) = input.files() {
            enroll(list);
        }
        input.set_value("");
    };
    let (dragging, set_dragging) = signal(false);
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        set_dragging.set(false);
        if let Some(list) = ev.data_transfer().and_then(|transfer| transfer.files()) {
            enroll(list);
        }
    };

    let save_name = move |_| {
        let Some(proposed) = renaming.get_untracked() else { return };
        let people = state.people.get_untracked();
        let others = people.iter().filter(|p| p.id != id).map(|p| p.name.as_str());
        match validate_name(&proposed, others) {
            Ok(valid) => {
                state.people.update(|people| {
                    if let Some(p) = people.iter_mut().find(|p| p.id == id) {
                        p.name = valid;
                    }
                });
                set_renaming.set(None);
                set_message.set(String::new());
            }
            Err(e) => set_message.set(e),
        }
    };

    let camera = Camera::new();
    let (captures, set_captures) = signal(0usize);
    let capture = move |_| {
        set_captures.update(|n| *n += 1);
        let name = format!("camera-{}.jpg", captures.get_untracked());
        spawn_local(async move {
            let result = match camera.capture().await {
                Ok(bytes) => enroll_faces(name.clone(), state.faces_in(&bytes, Crop::Detect).await),
                Err(e) => Err(e),
            };
            set_message.set(match result {
                Ok(true) => String::new(),
                Ok(false) => format!("{name}: {SEVERAL_FACES}"),
                Err(e) => format!("camera: {e}"),
            });
        });
    };

    let remove_photo = move |photo_id: u32| {
        state.people.update(|people| {
            if let Some(p) = people.iter_mut().find(|p| p.id == id) {
                p.photos.retain(|photo| photo.id != photo_id);
            }
        });
    };

    view! {
        <div class="person" class:dragging=dragging data-testid="person" data-person=name
            on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); set_dragging.set(true); }
            on:dragleave=move |_| set_dragging.set(false)
            on:drop=on_drop>
            <div class="row">
                {move || match renaming.get() {
                    None => view! {
                        <strong data-testid="person-name">{name}</strong>
                        <span class="muted" data-testid="photo-count">
                            {move || format!(" {} photo(s)", person().map_or(0, |p| p.photos.len()))}
                        </span>
                        <button class="small" data-testid="rename-person" on:click=move |_| set_renaming.set(Some(name()))>"Rename"</button>
                        <button class="small danger" data-testid="delete-person"
                            on:click=move |_| state.people.update(|people| people.retain(|p| p.id != id))>"Delete"</button>
                    }.into_any(),
                    Some(current) => view! {
                        <input data-testid="rename-input" prop:value=current
                            on:input=move |ev| set_renaming.set(Some(event_target_value(&ev)))/>
                        <button class="small" data-testid="save-name" on:click=save_name>"Save"</button>
                        <button class="small" on:click=move |_| { set_renaming.set(None); set_message.set(String::new()); }>"Cancel"</button>
                    }.into_any(),
                }}
            </div>
            <div class="row">
                <label class="button">"Add photos (or drop them here)"
                    <input type="file" accept="image/*" multiple data-testid="photo-input" class="hidden"
                        disabled=move || !state.ready.get() on:change=on_files/>
                </label>
                <span data-testid="enroll-progress">{progress}</span>
                <Show when=move || !progress.get().is_empty()>
                    <button class="small" data-testid="cancel-enroll" on:click=move |_| cancel.set_value(true)>"Cancel"</button>
                </Show>
            </div>
            <CameraView camera=camera>
                <Show when=move || camera.on.get()>
                    <button class="small" data-testid="camera-capture" disabled=move || !state.ready.get() on:click=capture>"Capture"</button>
                </Show>
            </CameraView>
            <p class="muted" data-testid="enroll-summary">{summary}</p>
            <For each=move || choices.get() key=|c| c.0 let:choice>
                {
                    let (key, file_name, faces) = choice;
                    let on_done = {
                        let file_name = file_name.clone();
                        move |picked: Option<EmbeddedFace>| {
                            if let Some(face) = picked {
                                state.add_photo(id, state.photo_from_face(file_name.clone(), face));
                            }
                            set_choices.update(|c| c.retain(|other| other.0 != key));
                            // The "pick one" line for this photo has been answered.
                            let asked = format!("{file_name}: {SEVERAL_FACES}");
                            set_message.update(|m| *m = m.lines().filter(|line| *line != asked).collect::<Vec<_>>().join("\n"));
                        }
                    };
                    view! { <FaceChoice file_name=file_name faces=faces on_done=on_done/> }
                }
            </For>
            <p class="error" data-testid="person-message">{message}</p>
            <div class="thumbs">
                <For each=move || person().map(|p| p.photos).unwrap_or_default() key=|photo| photo.id let:photo>
                    // The embedding's length, exposed for tests that compare it with the reference.
                    <figure class="thumb" title=photo.file_name.clone() data-testid="photo"
                        data-file=photo.file_name.clone()
                        data-embedding-norm=format!("{:.4}", photo.embedding.iter().map(|x| x * x).sum::<f32>().sqrt())>
                        <img src=photo.thumbnail.clone() alt=photo.file_name.clone()/>
                        <button class="remove" title="Remove this photo" on:click=move |_| remove_photo(photo.id)>"×"</button>
                    </figure>
                </For>
            </div>
        </div>
    }
}

/// A photo with several faces: the crop of each, to pick the one to enroll (or skip the photo).
#[component]
fn FaceChoice(file_name: String, faces: Vec<EmbeddedFace>, on_done: impl Fn(Option<EmbeddedFace>) + Clone + 'static) -> impl IntoView {
    view! {
        <div class="choice" data-testid="face-choice">
            <span>{format!("{file_name}: {} faces. Which one is this person? ", faces.len())}</span>
            {faces.into_iter().map(|face| {
                let url = blob_url(&face.thumbnail_png);
                let on_done = on_done.clone();
                view! {
                    <button class="face" data-testid="pick-face" title=format!("detector confidence {:.0}%", 100.0 * face.score)
                        on:click=move |_| on_done(Some(face.clone()))>
                        <img src=url alt="a face in the photo"/>
                    </button>
                }
            }).collect_view()}
            <button class="small" data-testid="skip-photo" on:click=move |_| on_done(None)>"None of them"</button>
        </div>
    }
}
