//! The page's link to its storage: restore what this browser saved, then save every change
//! (the roster debounced: enrolling a batch is saved once, after the last photo; only the photos
//! new or changed since the last save are written). What was just
//! restored is not written back: a write at start-up would be wasted, and it would fix the
//! browser's view of the quota before the user's first change.

use std::collections::BTreeMap;

use facelab::roster::PhotoVersion;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::state::AppState;
use super::{sleep_ms, storage};

/// Whether saving has begun, and which restored values are still to be passed over once.
#[derive(Clone, Copy)]
pub struct Saving {
    restored: StoredValue<bool>,
    skip_roster: StoredValue<bool>,
    skip_model: StoredValue<bool>,
    /// Counts the roster's changes: a debounced save runs only if none came after it.
    latest_change: StoredValue<u32>,
    /// The photos as the storage has them.
    saved: StoredValue<BTreeMap<u32, PhotoVersion>>,
}

impl Saving {
    /// Whether this change of a signal is one to save (and not the restored value itself).
    fn wanted(skip: StoredValue<bool>, restored: StoredValue<bool>) -> bool {
        if !restored.get_value() {
            return false;
        }
        let is_restored_value = skip.get_value();
        skip.set_value(false);
        !is_restored_value
    }
}

/// Restores the roster and the model, then lets every later change be saved. Returns a line for
/// the user.
pub async fn restore(state: AppState, saving: Saving) -> String {
    let note = match storage::load().await {
        Ok((mut roster, models)) => {
            // Checked (and brought to the current version); kept even where damaged, so that
            // nothing is lost, with a line saying what is wrong.
            let damage = roster.check().err().map_or(String::new(), |e| format!(" Some of it is damaged: {e}."));
            let note = if roster.is_empty() {
                String::new()
            } else {
                let with_models = match models.len() {
                    0 => String::new(),
                    1 => " and the trained model".to_string(),
                    n => format!(" and {n} trained models (one per backbone)"),
                };
                format!("Restored {} people, {} photos{with_models} from this browser's storage.{damage}", roster.people().len(), roster.photo_count())
            };
            saving.skip_roster.set_value(true);
            saving.skip_model.set_value(true);
            saving.saved.set_value(roster.photo_versions());
            state.roster.set(roster);
            state.models.set(models);
            note
        }
        Err(e) => format!("Could not read saved data ({e}); new data will not be kept."),
    };
    saving.restored.set_value(true);
    note
}

/// Saves the roster and the model after every change once they are restored.
pub fn keep_saved(state: AppState, set_note: WriteSignal<String>) -> Saving {
    let saving = Saving {
        restored: StoredValue::new(false),
        skip_roster: StoredValue::new(false),
        skip_model: StoredValue::new(false),
        latest_change: StoredValue::new(0),
        saved: StoredValue::new(BTreeMap::new()),
    };
    let failed = move |e: storage::StorageError| {
        set_note.set(match e {
            storage::StorageError::Full => "The browser's storage for this page is full: the newest photos are on this page only, and what was saved before is kept as it was. \
                Export your data (Your data, below) to keep a copy, then free space (remove photos here, or other sites' data in the browser's settings): the next change saves everything again."
                .into(),
            e => format!("Could not save to this browser's storage ({e}); what is enrolled stays on this page until it is closed."),
        })
    };
    let latest_change = saving.latest_change;
    Effect::new(move |_| {
        // Track only: the roster is copied once, when the debounced save runs, not per change.
        state.roster.track();
        if !Saving::wanted(saving.skip_roster, saving.restored) {
            return;
        }
        latest_change.update_value(|n| *n += 1);
        let change = latest_change.get_value();
        spawn_local(async move {
            sleep_ms(400).await;
            if latest_change.get_value() != change {
                return;
            }
            match save_roster(state, saving).await {
                Ok(()) if state.persistent.get_untracked().is_none() && !state.roster.with_untracked(|r| r.is_empty()) => {
                    state.persistent.set(storage::ask_to_persist().await);
                }
                Ok(()) => {}
                Err(e) => failed(e),
            }
        });
    });
    Effect::new(move |_| {
        let models = state.models.get();
        if Saving::wanted(saving.skip_model, saving.restored) {
            spawn_local(async move {
                if let Err(e) = storage::save_models(&models).await {
                    failed(e);
                }
            });
        }
    });
    saving
}

/// Saves the roster and the models now, and nothing after: another tab takes the data over.
pub async fn save_now_and_stop(state: AppState, saving: Saving) {
    if !saving.restored.get_value() {
        return;
    }
    saving.restored.set_value(false);
    // A debounced save still waiting finds a newer change and does nothing.
    saving.latest_change.update_value(|n| *n += 1);
    let models = state.models.get_untracked();
    if let Err(e) = save_roster(state, saving).await.and(storage::save_models(&models).await) {
        leptos::logging::warn!("saving before another tab takes over: {e}");
    }
}

/// Writes the roster's index and the photos changed since the last save.
async fn save_roster(state: AppState, saving: Saving) -> Result<(), storage::StorageError> {
    let (save, versions) = state.roster.with_untracked(|roster| {
        saving.saved.with_value(|saved| {
            let mut changes = roster.changes_since(saved);
            let versions = std::mem::take(&mut changes.versions);
            (storage::RosterSave::new(roster, changes), versions)
        })
    });
    storage::save_roster(&save).await?;
    saving.saved.set_value(versions);
    Ok(())
}
