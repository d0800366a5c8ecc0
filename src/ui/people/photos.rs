//! A person's enrolled photos as thumbnails, each with a button to remove it.

use leptos::prelude::*;

use crate::ui::state::AppState;
use crate::ui::thumbnail::Thumbnail;

#[component]
pub fn PhotoGrid(person: u32) -> impl IntoView {
    let state = expect_context::<AppState>();
    // Ids only: a photo's thumbnail and embedding are read once, when it is shown.
    let photos = move || state.roster.with(|r| r.person(person).map(|p| p.photos.iter().map(|f| f.id).collect::<Vec<_>>()).unwrap_or_default());
    view! {
        <div class="thumbs">
            <For each=photos key=|id| *id let:photo>
                <PhotoThumb person=person photo=photo/>
            </For>
        </div>
    }
}

#[component]
fn PhotoThumb(person: u32, photo: u32) -> impl IntoView {
    let state = expect_context::<AppState>();
    let shown = state.roster.with_untracked(|r| {
        let found = r.person(person)?.photos.iter().find(|f| f.id == photo)?;
        Some((found.file_name.clone(), found.thumbnail_png.clone()))
    });
    // The length of the chosen backbone's embedding (empty while it has none), exposed for
    // tests that compare it with the reference.
    let norm = move || {
        let backbone = state.backbone.get();
        state.roster.with(|r| {
            let found = r.person(person)?.photos.iter().find(|f| f.id == photo)?;
            let embedding = found.embeddings.get(&backbone)?;
            Some(format!("{:.4}", embedding.iter().map(|x| x * x).sum::<f32>().sqrt()))
        })
    };
    let remove = move |_| state.roster.update(|r| r.remove_photo(person, photo));
    shown.map(|(file_name, png)| view! {
        <figure class="thumb" title=file_name.clone() data-testid="photo" data-file=file_name.clone() data-embedding-norm=norm>
            <Thumbnail png=png alt=file_name.clone()/>
            <button class="remove" title="Remove this photo" on:click=remove>"×"</button>
        </figure>
    })
}
