//! The page's link to its storage: restore what this browser saved, then save every change
//! (the roster debounced: enrolling a batch is saved once, after the last photo).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::state::AppState;
use super::{sleep_ms, storage};

/// Restores the roster and the model. Returns a line for the user.
pub async fn restore(state: AppState) -> String {
    match storage::load().await {
        Ok((roster, model)) => {
            let note = if roster.is_empty() {
                String::new()
            } else {
                let with_model = if model.is_some() { " and the trained model" } else { "" };
                format!("Restored {} people, {} photos{with_model} from this browser's storage.", roster.people().len(), roster.photo_count())
            };
            state.roster.set(roster);
            state.model.set(model);
            note
        }
        Err(e) => format!("Could not read saved data ({e}); new data will not be kept."),
    }
}

/// Saves the roster and the model after every change once `restored` is set.
pub fn keep_saved(state: AppState, restored: StoredValue<bool>, set_note: WriteSignal<String>) {
    let failed = move |e: storage::StorageError| {
        set_note.set(format!("Could not save to this browser's storage ({e}); what is enrolled stays on this page until it is closed."))
    };
    let latest_change = StoredValue::new(0u32);
    Effect::new(move |_| {
        // Track only: the roster is copied once, when the debounced save runs, not per change.
        state.roster.track();
        if !restored.get_value() {
            return;
        }
        latest_change.update_value(|n| *n += 1);
        let change = latest_change.get_value();
        spawn_local(async move {
            sleep_ms(400).await;
            if latest_change.get_value() != change {
                return;
            }
            if let Err(e) = storage::save_roster(&state.roster.get_untracked()).await {
                failed(e);
            }
        });
    });
    Effect::new(move |_| {
        let model = state.model.get();
        if restored.get_value() {
            spawn_local(async move {
                if let Err(e) = storage::save_model(model.as_ref()).await {
                    failed(e);
                }
            });
        }
    });
}
