//! Enrolling people: add, rename, delete; photos from files or the camera, each embedded once on
//! arrival (in the compute worker). A card per person, made of small parts.

mod card;
mod choices;
mod enroll;
mod photos;

use leptos::prelude::*;

use super::state::AppState;

#[component]
pub fn People() -> impl IntoView {
    let state = expect_context::<AppState>();
    let (new_name, set_new_name) = signal(String::new());
    let (error, set_error) = signal(String::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match state.edit_roster(|roster| roster.add_person(&new_name.get_untracked())) {
            Ok(_) => {
                set_new_name.set(String::new());
                set_error.set(String::new());
            }
            Err(e) => set_error.set(e.to_string()),
        }
    };
    let ids = move || state.roster.with(|roster| roster.people().iter().map(|p| p.id).collect::<Vec<_>>());
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
                <For each=ids key=|id| *id let:id>
                    <card::PersonCard id=id/>
                </For>
            </div>
        </section>
    }
}
