//! A photo with several faces: the crop of each, to pick the one to enroll (or skip the photo).

use facelab::compute::EmbeddedFace;
use leptos::prelude::*;

use super::enroll::Feedback;
use crate::ui::state::AppState;
use crate::ui::thumbnail::Thumbnail;

/// A photo with several faces, waiting for the user to pick the person's.
#[derive(Clone)]
pub struct PendingChoice {
    pub key: u32,
    pub file_name: String,
    pub faces: Vec<EmbeddedFace>,
}

#[component]
pub fn FaceChoices(person: u32, feedback: Feedback) -> impl IntoView {
    view! {
        <For each=move || feedback.choices.get() key=|c| c.key let:choice>
            <FaceChoice person=person feedback=feedback choice=choice/>
        </For>
    }
}

#[component]
fn FaceChoice(person: u32, feedback: Feedback, choice: PendingChoice) -> impl IntoView {
    let state = expect_context::<AppState>();
    let PendingChoice { key, file_name, faces } = choice;
    let question = format!("{file_name}: {} faces. Which one is this person? ", faces.len());
    let file = StoredValue::new(file_name);
    let done = move |picked: Option<EmbeddedFace>| {
        let file_name = file.get_value();
        if let Some(face) = picked {
            state.enroll_face(person, file_name.clone(), face);
        }
        feedback.answered(key, &file_name);
    };
    view! {
        <div class="choice" data-testid="face-choice">
            <span>{question}</span>
            {faces.into_iter().map(|face| {
                let title = format!("detector confidence {:.0}%", 100.0 * face.score);
                let png = face.thumbnail_png.clone();
                view! {
                    <button class="face" data-testid="pick-face" title=title on:click=move |_| done(Some(face.clone()))>
                        <Thumbnail png=png alt="a face in the photo".to_string()/>
                    </button>
                }
            }).collect_view()}
            <button class="small" data-testid="skip-photo" on:click=move |_| done(None)>"None of them"</button>
        </div>
    }
}
