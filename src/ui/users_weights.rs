//! The user's own vggface2-resnet50 weights (keras-vggface's `.h5`, which no registry serves, or
//! the `.safetensors` the weights tool converts it to): converted in the worker, kept in this
//! browser, then switched to. A wrong, truncated or foreign file is refused with what is wrong,
//! and the backbone in use stays.

use facelab::backbone::{BackboneId, VGGFACE2_RESNET50};
use facelab::compute::ComputeError;
use leptos::prelude::*;

use super::state::AppState;
use super::{fetch, picked_files, weights};

/// HDF5's signature: an `.h5` is converted, anything else is taken as converted weights.
const HDF5_SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";

async fn users_weights(state: AppState, file: web_sys::File) -> Result<Vec<u8>, String> {
    let bytes = fetch::file_bytes(&file).await.map_err(|e| e.to_string())?;
    if !bytes.starts_with(HDF5_SIGNATURE) {
        return Ok(bytes);
    }
    let compute = state.compute().map_err(|e| e.to_string())?;
    compute.convert_vggface2(&bytes).await.map_err(|e| match e {
        ComputeError::Convert(why) => why,
        other => other.to_string(),
    })
}

#[component]
pub fn UsersWeights(switch: Action<BackboneId, ()>) -> impl IntoView {
    // The picker's switch is what runs now: no file is taken until it is done.
    let state = expect_context::<AppState>();
    let (status, set_status) = signal(String::new());
    let bring = Action::new_local(move |file: &web_sys::File| {
        let file = file.clone();
        async move {
            let name = file.name();
            set_status.set(format!("reading {name}…"));
            let mut converted = match users_weights(state, file).await {
                Ok(bytes) => bytes,
                Err(e) => return set_status.set(format!("{name} was not used: {e}. {} stays in use.", state.spec().name)),
            };
            weights::keep_users_own(&VGGFACE2_RESNET50, &mut converted).await;
            set_status.set(format!("{name} read; starting {}…", VGGFACE2_RESNET50.name));
            match state.switch_backbone(VGGFACE2_RESNET50.id).await {
                Ok(()) => set_status.set(format!("{} runs on your {name}.", VGGFACE2_RESNET50.name)),
                Err(e) => {
                    // Not kept: the next visit must not try it again.
                    fetch::evict(&weights::url(&VGGFACE2_RESNET50)).await;
                    set_status.set(format!("{name} was not used: {e}."));
                }
            }
        }
    });
    view! {
        <div class="row">
            <label class="button">"Use your own vggface2-resnet50 file (.h5 or .safetensors)"
                <input type="file" accept=".h5,.hdf5,.safetensors" class="hidden" data-testid="vggface2-file"
                    disabled=move || bring.pending().get() || switch.pending().get() || !state.ready.get()
                    on:change=move |ev| if let Some(file) = picked_files(&ev).into_iter().next() { bring.dispatch_local(file); }/>
            </label>
            <span data-testid="vggface2-status">{status}</span>
        </div>
    }
}
