//! What the panels share: the roster, the trained model and the compute client, as signals.

use std::rc::Rc;

use facelab::backbone::LoadError;
use facelab::compute::{BurnBackend, ComputeError, EmbeddedFace};
use facelab::model::TrainedModel;
use facelab::roster::Roster;
use leptos::prelude::*;

use super::compute::{Compute, ComputeEvent};
use super::fetch;

/// Where Trunk puts the converted weights (copied from `weights/` at build time).
pub const WEIGHTS_URL: &str = "weights/faceres.safetensors";
pub const DETECTOR_URL: &str = "weights/blazeface-front.safetensors";

#[derive(Clone, PartialEq)]
pub enum Loading {
    Progress { received: f64, total: Option<f64> },
    Starting(BurnBackend),
    Ready(BurnBackend),
    Failed(String),
}

#[derive(Clone, Copy)]
pub struct AppState {
    compute: StoredValue<Option<Rc<Compute>>, LocalStorage>,
    pub loading: RwSignal<Loading>,
    /// What happened to the backend the user would have wanted (no WebGPU, a fallback).
    pub backend_note: RwSignal<String>,
    pub ready: Signal<bool>,
    pub roster: RwSignal<Roster>,
    pub model: RwSignal<Option<TrainedModel>>,
}

impl AppState {
    pub fn new() -> Self {
        let loading = RwSignal::new(Loading::Progress { received: 0.0, total: None });
        Self {
            compute: StoredValue::new_local(None),
            loading,
            backend_note: RwSignal::new(String::new()),
            ready: Signal::derive(move || matches!(loading.get(), Loading::Ready(_))),
            roster: RwSignal::new(Roster::default()),
            model: RwSignal::new(None),
        }
    }

    /// The compute client, once the weights are here.
    pub fn compute(&self) -> Result<Rc<Compute>, ComputeError> {
        self.compute.get_value().ok_or(ComputeError::NotLoaded)
    }

    /// A client for these weights whose events show in the status line and the note.
    pub fn set_up_compute(self, weights: Vec<u8>, detector: Option<Vec<u8>>) -> Rc<Compute> {
        let compute = Compute::new(weights, detector, move |event| match event {
            ComputeEvent::Starting(backend) => self.loading.set(Loading::Starting(backend)),
            ComputeEvent::Ready(backend) => self.loading.set(Loading::Ready(backend)),
            ComputeEvent::Note(note) => self.backend_note.set(note),
        });
        self.compute.set_value(Some(compute.clone()));
        compute
    }

    /// Starts the backbone on `choice` (or the CPU); where nothing could start, says why and
    /// what to do.
    pub async fn start_backend(self, choice: BurnBackend) {
        let Ok(compute) = self.compute() else { return };
        let failure = match compute.start(choice).await {
            Ok(_) => return,
            Err(e @ ComputeError::Weights(LoadError::Corrupt { .. })) => {
                // A damaged copy in the cache would fail every visit: drop it.
                fetch::evict(WEIGHTS_URL).await;
                format!("{e}. It was removed from this browser's cache: reload the page to download it again.")
            }
            Err(e @ ComputeError::WorkerStart(_)) => {
                format!("{e}. This browser does not let the page start a Web Worker (a strict privacy setting or an old browser?).")
            }
            Err(e) => format!("the backbone could not be loaded: {e}"),
        };
        self.loading.set(Loading::Failed(failure));
    }

    /// Changes the roster where `edit` succeeds (and only then tells the page and the storage).
    pub fn edit_roster<T, E>(&self, edit: impl FnOnce(&mut Roster) -> Result<T, E>) -> Result<T, E> {
        let result = self.roster.try_maybe_update(|roster| {
            let result = edit(roster);
            (result.is_ok(), result)
        });
        result.expect("the roster lives as long as the page")
    }

    /// Enrolls a face found in a photo; false where the person was deleted meanwhile.
    pub fn enroll_face(&self, person: u32, file_name: String, face: EmbeddedFace) -> bool {
        self.edit_roster(|roster| roster.add_photo(person, file_name, face.embedding, face.thumbnail_png).ok_or(())).is_ok()
    }

    /// Replaces the model (or removes it) here and in the worker.
    pub async fn use_model(self, model: Option<TrainedModel>) {
        let head = model.as_ref().map(|m| m.head.clone());
        self.model.set(model);
        if let Ok(compute) = self.compute()
            && let Err(e) = compute.set_head(head.as_deref()).await
        {
            self.backend_note.set(format!("The model could not be used ({e}); train again."));
        }
    }
}
