//! The library's views: people (face counts, a cover face, their photos with the face box, "Is
//! this X?"), the groups of unknown faces (name, merge, ignore), the ungrouped faces, and every
//! photo with the people in it; sorting and a search by name or path. Each action goes through
//! `LibraryState::act`, so it shows at once, is saved and can be undone.

use facelab::library::{FaceLabel, Sorting};
use leptos::prelude::*;

use super::LibraryState;
use crate::ui::state::AppState;
use crate::ui::thumbnail::Thumbnail;

/// Faces shown at a time in a person's or a group's row, photos in the photo list.
const FACES_SHOWN: usize = 12;
const PHOTOS_SHOWN: usize = 60;
const GROUPS_SHOWN: usize = 30;

#[component]
pub fn Views() -> impl IntoView {
    let state = expect_context::<AppState>();
    let lib = expect_context::<LibraryState>();
    let search = RwSignal::new(String::new());
    let by_count = RwSignal::new(true);
    let summary = move || {
        let sorting = lib.sorting.get();
        let (photos, faces) = lib.library.with(|l| (l.photos().len(), l.face_count()));
        let people = sorting.people().len();
        let groups = sorting.groups().len();
        let ungrouped = sorting.with(&FaceLabel::Ungrouped).len();
        format!("{photos} photos, {faces} faces: {people} people named, {groups} groups of unknown faces, {ungrouped} ungrouped.")
    };
    view! {
        <Show when=move || lib.library.with(|l| !l.photos().is_empty())>
            <p data-testid="library-summary">{summary}</p>
            <div class="row">
                <input data-testid="library-search" placeholder="Search a name or a file" prop:value=search
                    on:input=move |ev| search.set(event_target_value(&ev))/>
                <label>" Sort people by "
                    <select data-testid="library-sort" on:change=move |ev| by_count.set(event_target_value(&ev) == "count")>
                        <option value="count">"faces"</option>
                        <option value="name">"name"</option>
                    </select>
                </label>
            </div>
            <h3>"People"</h3>
            <div data-testid="library-people">
                {move || {
                    let sorting = lib.sorting.get();
                    let wanted = search.get().to_lowercase();
                    let mut people: Vec<(u32, String, Vec<u32>)> = sorting.people().into_iter()
                        .map(|(p, faces)| (p, LibraryState::name(state, p), faces))
                        .filter(|(_, name, _)| name.to_lowercase().contains(&wanted))
                        .collect();
                    if by_count.get() { people.sort_by_key(|(_, _, f)| std::cmp::Reverse(f.len())) } else { people.sort_by(|a, b| a.1.cmp(&b.1)) }
                    people.into_iter().map(|(person, name, faces)| view! { <PersonRow person=person name=name faces=faces/> }).collect_view()
                }}
            </div>
            <datalist id="library-names">
                {move || state.roster.with(|r| r.people().iter().map(|p| view! { <option value=p.name.clone()/> }).collect_view())}
            </datalist>
            <h3>"Unknown faces, grouped"</h3>
            <div data-testid="library-groups">
                {move || lib.sorting.get().groups().into_iter().take(GROUPS_SHOWN).map(|(group, faces)| view! { <GroupCard group=group faces=faces/> }).collect_view()}
            </div>
            <h3>"Ungrouped"</h3>
            <div class="faces" data-testid="library-ungrouped">
                {move || lib.sorting.get().with(&FaceLabel::Ungrouped).into_iter().take(FACES_SHOWN * 2).map(|face| view! { <FaceTile face=face/> }).collect_view()}
            </div>
            <h3>"Photos"</h3>
            <PhotoList search=search/>
        </Show>
    }
}

/// A face's thumbnail.
#[component]
fn FaceImage(face: u32) -> impl IntoView {
    let lib = expect_context::<LibraryState>();
    let bytes = lib.library.with_untracked(|l| l.face(face).map(|(_, f)| f.thumbnail_jpeg.clone()).unwrap_or_default());
    let path = lib.library.with_untracked(|l| l.face(face).map(|(p, _)| p.path.clone()).unwrap_or_default());
    if bytes.is_empty() { view! { <span class="face-missing" title=path>"?"</span> }.into_any() } else { view! { <Thumbnail png=bytes alt=path/> }.into_any() }
}

/// "Move to…": every enrolled person.
#[component]
fn MoveTo(face: u32) -> impl IntoView {
    let state = expect_context::<AppState>();
    let lib = expect_context::<LibraryState>();
    let people = move || state.roster.with(|r| r.people().iter().map(|p| (p.id, p.name.clone())).collect::<Vec<_>>());
    let moved = move |ev: leptos::ev::Event| {
        if let Ok(person) = event_target_value(&ev).parse::<u32>() {
            let name = LibraryState::name(state, person);
            lib.act(state, |l, _| l.confirm(face, person, &name));
        }
    };
    view! {
        <select class="small" data-testid="face-move" on:change=moved>
            <option value="">"This is…"</option>
            {move || people().into_iter().map(|(id, name)| view! { <option value=id.to_string()>{name}</option> }).collect_view()}
        </select>
    }
}

/// A face with what can be done to it, as it stands.
#[component]
fn FaceTile(face: u32) -> impl IntoView {
    let state = expect_context::<AppState>();
    let lib = expect_context::<LibraryState>();
    let label = lib.sorting.with_untracked(|s| s.labels.get(&face).cloned());
    let actions = match label {
        Some(FaceLabel::Suggested { person, similarity }) => {
            let name = LibraryState::name(state, person);
            let (yes, no) = (name.clone(), name.clone());
            view! {
                <span class="muted">{format!("{similarity:.2}")}</span>
                <button class="small" data-testid="face-confirm" title=format!("Yes, {name}") on:click=move |_| lib.act(state, |l, _| l.confirm(face, person, &yes))>"✓"</button>
                <button class="small" data-testid="face-reject" title=format!("Not {name}") on:click=move |_| lib.act(state, |l, _| l.reject(face, person, &no))>"✗"</button>
            }
            .into_any()
        }
        Some(FaceLabel::Group(_)) => view! {
            <button class="small" data-testid="face-split" on:click=move |_| lib.act(state, |l, _| l.split_off(face))>"Split off"</button>
            <button class="small" data-testid="face-not-a-face" on:click=move |_| lib.act(state, |l, _| l.not_a_face(face))>"Not a face"</button>
            <MoveTo face=face/>
        }
        .into_any(),
        Some(FaceLabel::Ungrouped) => view! {
            <button class="small" data-testid="face-not-a-face" on:click=move |_| lib.act(state, |l, _| l.not_a_face(face))>"Not a face"</button>
            <MoveTo face=face/>
        }
        .into_any(),
        Some(FaceLabel::Confirmed(_)) => view! { <MoveTo face=face/> }.into_any(),
        _ => ().into_any(),
    };
    view! { <div class="face" data-testid="library-face" data-face=face.to_string()><FaceImage face=face/>{actions}</div> }
}

/// The paths of the photos these faces are in, in order, without repeats.
fn photos_of(lib: LibraryState, faces: &[u32]) -> Vec<String> {
    let mut paths: Vec<String> = Vec::new();
    lib.library.with_untracked(|l| {
        for &face in faces {
            if let Some((photo, _)) = l.face(face)
                && !paths.contains(&photo.path)
            {
                paths.push(photo.path.clone());
            }
        }
    });
    paths
}

/// A person: cover face, counts, their faces and photos, and "Is this X?".
#[component]
fn PersonRow(person: u32, name: String, faces: Vec<u32>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let lib = expect_context::<LibraryState>();
    let open = RwSignal::new(false);
    let photos = photos_of(lib, &faces);
    let count = faces.len();
    let counts = format!("{count} faces in {} photos", photos.len());
    let cover = faces[0];
    let asking = {
        let name = name.clone();
        move || {
            let recogniser = lib.recogniser(state);
            let sorting = lib.sorting.get();
            let near = lib.library.with(|l| l.is_this(person, &recogniser, &sorting, 5));
            let name = name.clone();
            (!near.is_empty()).then(|| {
                view! {
                    <div class="row" data-testid="is-this">
                        <span>{format!("Is this {name}?")}</span>
                        {near.into_iter().map(|(face, _)| {
                            let (yes, no) = (name.clone(), name.clone());
                            view! {
                                <span class="face"><FaceImage face=face/>
                                    <button class="small" data-testid="is-this-yes" on:click=move |_| lib.act(state, |l, _| l.confirm(face, person, &yes))>"Yes"</button>
                                    <button class="small" data-testid="is-this-no" on:click=move |_| lib.act(state, |l, _| l.reject(face, person, &no))>"No"</button>
                                </span>
                            }
                        }).collect_view()}
                    </div>
                }
            })
        }
    };
    view! {
        <div class="person" data-testid="library-person" data-person=name.clone() data-faces=count.to_string()>
            <div class="row">
                <FaceImage face=cover/>
                <strong>{name.clone()}</strong>
                <span class="muted">{counts}</span>
                <button class="small" data-testid="library-person-open" on:click=move |_| open.update(|o| *o = !*o)>
                    {move || if open.get() { "Hide" } else { "Show faces and photos" }}
                </button>
            </div>
            <Show when=move || open.get()>
                <div class="faces">{faces.iter().take(FACES_SHOWN).map(|&face| view! { <FaceTile face=face/> }).collect_view()}</div>
                <div class="faces">{photos.iter().take(FACES_SHOWN).map(|path| view! { <PhotoWithBoxes path=path.clone()/> }).collect_view()}</div>
            </Show>
            {asking}
        </div>
    }
}

/// A group of unknown faces: name it (enrols the person), merge it into another, or ignore it.
#[component]
fn GroupCard(group: u32, faces: Vec<u32>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let lib = expect_context::<LibraryState>();
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(String::new());
    let size = faces.len();
    let save = move |_| {
        let sorting = lib.sorting.get_untracked();
        let proposed = name.get_untracked();
        match lib.act(state, |l, r| l.name_group(group, &proposed, &sorting, r)) {
            Ok(_) => lib.message.set(format!("{size} faces are {} now (enrolled).", proposed.trim())),
            Err(e) => error.set(e.to_string()),
        }
    };
    let others = move || lib.sorting.with(|s: &Sorting| s.groups().into_iter().filter(|(g, _)| *g != group).map(|(g, f)| (g, f.len())).collect::<Vec<_>>());
    let merge = move |ev: leptos::ev::Event| {
        if let Ok(into) = event_target_value(&ev).parse::<u32>() {
            lib.act(state, |l, _| l.merge(into, group));
        }
    };
    view! {
        <div class="person" data-testid="library-group" data-group=group.to_string() data-faces=size.to_string()>
            <div class="row">
                <strong>{format!("{size} faces")}</strong>
                <input data-testid="group-name-input" placeholder="Who is this?" list="library-names" prop:value=name
                    on:input=move |ev| name.set(event_target_value(&ev))/>
                <button class="small" data-testid="group-name-save" on:click=save>"Name"</button>
                <select class="small" data-testid="group-merge" on:change=merge>
                    <option value="">"Merge into…"</option>
                    {move || others().into_iter().map(|(g, n)| view! { <option value=g.to_string()>{format!("the group of {n}")}</option> }).collect_view()}
                </select>
                <button class="small" data-testid="group-ignore" on:click=move |_| lib.act(state, |l, _| l.ignore_group(group))>"Ignore this person"</button>
            </div>
            <p class="error">{move || error.get()}</p>
            <div class="faces">{faces.iter().take(FACES_SHOWN).map(|&face| view! { <FaceTile face=face/> }).collect_view()}</div>
        </div>
    }
}

/// A photo's thumbnail with every face's box and name.
#[component]
fn PhotoWithBoxes(path: String) -> impl IntoView {
    let state = expect_context::<AppState>();
    let lib = expect_context::<LibraryState>();
    let found = lib.library.with_untracked(|l| l.photos().iter().find(|p| p.path == path).map(|p| (p.thumbnail_jpeg.clone(), p.width as f32, p.height as f32, p.faces.iter().map(|f| (f.id, f.bbox)).collect::<Vec<_>>())));
    let Some((thumbnail, width, height, faces)) = found else { return ().into_any() };
    let sorting = lib.sorting.get_untracked();
    let boxes = faces
        .into_iter()
        .map(|(face, [x, y, w, h])| {
            let name = sorting.person(face).map(|p| LibraryState::name(state, p)).unwrap_or_default();
            let style = format!("left:{:.1}%;top:{:.1}%;width:{:.1}%;height:{:.1}%", 100.0 * x / width, 100.0 * y / height, 100.0 * w / width, 100.0 * h / height);
            view! { <div class="face-box" style=style data-testid="face-box"><span>{name}</span></div> }
        })
        .collect_view();
    let alt = path.clone();
    view! { <div class="boxed-photo" data-testid="boxed-photo" title=path><Thumbnail png=thumbnail alt=alt/>{boxes}</div> }.into_any()
}

/// Every photo with the people in it (filtered by the search), a page at a time.
#[component]
fn PhotoList(search: RwSignal<String>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let lib = expect_context::<LibraryState>();
    let shown = RwSignal::new(PHOTOS_SHOWN);
    let open = RwSignal::new(None::<String>);
    let rows = move || {
        let sorting = lib.sorting.get();
        let wanted = search.get().to_lowercase();
        let rows: Vec<(String, usize, String)> = lib.library.with(|l| {
            l.photos()
                .iter()
                .map(|p| {
                    let names: Vec<String> = p.faces.iter().filter_map(|f| sorting.person(f.id)).map(|person| LibraryState::name(state, person)).collect();
                    (p.path.clone(), p.faces.len(), names.join(", "))
                })
                .filter(|(path, _, names)| path.to_lowercase().contains(&wanted) || names.to_lowercase().contains(&wanted))
                .collect()
        });
        rows
    };
    view! {
        <table class="photos" data-testid="library-photos">
            <tbody>
                {move || rows().into_iter().take(shown.get()).map(|(path, faces, names)| {
                    let (key, toggle) = (path.clone(), path.clone());
                    view! {
                        <tr data-testid="library-photo" data-path=path.clone()>
                            <td><button class="link" on:click=move |_| open.update(|o| *o = if o.as_deref() == Some(toggle.as_str()) { None } else { Some(toggle.clone()) })>{path.clone()}</button></td>
                            <td class="muted">{format!("{faces} face(s)")}</td>
                            <td data-testid="photo-people">{names}</td>
                        </tr>
                        <Show when=move || open.get().as_deref() == Some(key.as_str())>
                            <tr><td colspan="3"><PhotoWithBoxes path=path.clone()/></td></tr>
                        </Show>
                    }
                }).collect_view()}
            </tbody>
        </table>
        <Show when=move || { rows().len() > shown.get() }>
            <button class="small" data-testid="library-more" on:click=move |_| shown.update(|n| *n += PHOTOS_SHOWN)>"More photos"</button>
        </Show>
        <Show when=move || lib.library.with(|l| !l.skipped.is_empty())>
            <details data-testid="library-skipped">
                <summary>{move || lib.library.with(|l| format!("{} file(s) skipped", l.skipped.len()))}</summary>
                <ul>{move || lib.library.with(|l| l.skipped.iter().map(|s| view! { <li>{format!("{}: {}", s.path, s.reason)}</li> }).collect_view())}</ul>
            </details>
        </Show>
    }
}
