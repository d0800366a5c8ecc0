//! One enrolled person: their name (rename, delete), ways to add photos (files, drop, camera),
//! the photos waiting for a face to be picked, and their enrolled photos.

use leptos::prelude::*;

use super::choices::FaceChoices;
use super::enroll::{CameraCapture, EnrollControls, Feedback, FileEnrollment};
use super::photos::PhotoGrid;
use crate::ui::dropped_files;
use crate::ui::state::AppState;

#[component]
pub fn PersonCard(id: u32) -> impl IntoView {
    let state = expect_context::<AppState>();
    let name = move || state.roster.with(|r| r.person(id).map(|p| p.name.clone()).unwrap_or_default());
    let feedback = Feedback::new();
    let enrollment = FileEnrollment::new(id, feedback);
    let (dragging, set_dragging) = signal(false);
    let on_drop = move |ev: leptos::ev::DragEvent| {
        set_dragging.set(false);
        enrollment.add(dropped_files(&ev), feedback);
    };
    view! {
        <div class="person" class:dragging=dragging data-testid="person" data-person=name
            on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); set_dragging.set(true); }
            on:dragleave=move |_| set_dragging.set(false)
            on:drop=on_drop>
            <NameRow id=id feedback=feedback/>
            <EnrollControls enrollment=enrollment feedback=feedback/>
            <CameraCapture person=id feedback=feedback/>
            <FaceChoices person=id feedback=feedback/>
            <p class="error" data-testid="person-message">{feedback.message}</p>
            <PhotoGrid person=id/>
        </div>
    }
}

/// The name with its photo count, and rename / delete.
#[component]
fn NameRow(id: u32, feedback: Feedback) -> impl IntoView {
    let state = expect_context::<AppState>();
    let name = move || state.roster.with(|r| r.person(id).map(|p| p.name.clone()).unwrap_or_default());
    let count = move || state.roster.with(|r| r.person(id).map_or(0, |p| p.photos.len()));
    let (renaming, set_renaming) = signal(None::<String>);
    let save = move |_| {
        let Some(proposed) = renaming.get_untracked() else { return };
        match state.edit_roster(|r| r.rename(id, &proposed)) {
            Ok(()) => {
                set_renaming.set(None);
                feedback.message.set(String::new());
            }
            Err(e) => feedback.message.set(e.to_string()),
        }
    };
    let delete = move |_| state.roster.update(|r| r.remove_person(id));
    view! {
        <div class="row">
            {move || match renaming.get() {
                None => view! {
                    <strong data-testid="person-name">{name}</strong>
                    <span class="muted" data-testid="photo-count">{move || format!(" {} photo(s)", count())}</span>
                    <button class="small" data-testid="rename-person" on:click=move |_| set_renaming.set(Some(name()))>"Rename"</button>
                    <button class="small danger" data-testid="delete-person" on:click=delete>"Delete"</button>
                }.into_any(),
                Some(current) => view! {
                    <input data-testid="rename-input" prop:value=current
                        on:input=move |ev| set_renaming.set(Some(event_target_value(&ev)))/>
                    <button class="small" data-testid="save-name" on:click=save>"Save"</button>
                    <button class="small" on:click=move |_| { set_renaming.set(None); feedback.message.set(String::new()); }>"Cancel"</button>
                }.into_any(),
            }}
        </div>
    }
}
