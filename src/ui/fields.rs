//! Small form fields the panels share.

use leptos::prelude::*;

/// A labelled number input bound to `value`: what is typed is parsed and clamped to
/// `min..=max`; where it is not a number, the value stays as it was.
#[component]
pub fn NumberField<T>(label: &'static str, testid: &'static str, min: T, max: T, #[prop(optional)] step: Option<T>, value: RwSignal<T>) -> impl IntoView
where
    T: Copy + PartialOrd + std::str::FromStr + std::fmt::Display + Send + Sync + 'static,
{
    let set = move |ev: leptos::ev::Event| {
        if let Ok(typed) = event_target_value(&ev).parse::<T>() {
            value.set(if typed < min { min } else if typed > max { max } else { typed });
        }
    };
    view! {
        <label>{label}
            <input type="number" min=min.to_string() max=max.to_string() step=step.map(|s| s.to_string())
                data-testid=testid prop:value=move || value.get().to_string() on:change=set/>
        </label>
    }
}
