//! The page's compute client: the core's typed `ComputeClient` over Web Workers, with what the
//! page needs around it. It starts the backbone on the backend asked for (falling back to the
//! CPU where that fails), restarts a worker that dies on the CPU and sends the request once more,
//! keeps the head so that a new worker recognises like the old one, and on the CPU runs helper
//! workers (one per extra core, at most 3) so that several photos are embedded at once.

mod worker_channel;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use facelab::backbone::BackboneSpec;
use facelab::compute::{BurnBackend, ComputeClient, ComputeError, CropMode, EmbeddedFace, EmbeddedPhoto, RecognisedPhoto};
use facelab::head::EpochStats;
use facelab::library::ScannedPhoto;
use facelab::model::{TrainedModel, TrainingPlan};
use facelab::roster::FacePicture;
use leptos::task::spawn_local;
use worker_channel::WorkerChannel;

use super::sleep_ms;

type Worker = Rc<ComputeClient<WorkerChannel>>;

/// What the page shows of the client's state.
pub enum ComputeEvent {
    Starting(BurnBackend),
    Ready(BurnBackend),
    /// Something the user should know (a fallback, a restart, a part that did not load).
    Note(String),
}

pub struct Compute {
    pub spec: &'static BackboneSpec,
    weights: Rc<Vec<u8>>,
    /// The face detector's weights; without them photos are centre-cropped.
    detector: Option<Rc<Vec<u8>>>,
    /// The head in use, restored into every new main worker.
    head: RefCell<Option<Rc<Vec<u8>>>>,
    main: RefCell<Option<Worker>>,
    /// More CPU workers with the same backbone and detector (none on WebGPU). A wasm module runs
    /// on one thread; separate workers use the other cores without cross-origin isolation.
    helpers: RefCell<Vec<Worker>>,
    backend: Cell<Option<BurnBackend>>,
    /// Bumped by every start, so that helpers of an earlier start are not kept.
    generation: Cell<u32>,
    /// A restart after the main worker stopped is under way (the other requests wait for it).
    restarting: Cell<bool>,
    events: Box<dyn Fn(ComputeEvent)>,
}

impl Compute {
    pub fn new(spec: &'static BackboneSpec, weights: Vec<u8>, detector: Option<Rc<Vec<u8>>>, events: impl Fn(ComputeEvent) + 'static) -> Rc<Self> {
        Rc::new(Self {
            spec,
            weights: Rc::new(weights),
            detector,
            head: RefCell::new(None),
            main: RefCell::new(None),
            helpers: RefCell::new(Vec::new()),
            backend: Cell::new(None),
            generation: Cell::new(0),
            restarting: Cell::new(false),
            events: Box::new(events),
        })
    }

    fn note(&self, note: String) {
        (self.events)(ComputeEvent::Note(note));
    }

    /// Starts the backbone on `choice`, replacing any running workers; where that fails and
    /// `choice` is not the CPU, says why and starts on the CPU instead.
    pub async fn start(self: &Rc<Self>, choice: BurnBackend) -> Result<BurnBackend, ComputeError> {
        self.generation.set(self.generation.get() + 1);
        self.main.replace(None);
        self.helpers.replace(Vec::new());
        self.backend.set(None);
        (self.events)(ComputeEvent::Starting(choice));
        match self.start_main(choice).await {
            Ok(worker) => {
                self.main.replace(Some(worker));
                self.backend.set(Some(choice));
                (self.events)(ComputeEvent::Ready(choice));
                if choice != BurnBackend::WebGpu {
                    spawn_local(self.clone().start_helpers(choice, self.generation.get()));
                }
                Ok(choice)
            }
            Err(e) if choice != BurnBackend::Flex => {
                self.note(format!("{} could not run the backbone ({e}); using the CPU (burn-flex) instead.", choice.label()));
                Box::pin(self.start(BurnBackend::Flex)).await
            }
            Err(e) => Err(e),
        }
    }

    /// A worker with the backbone and, where it loads, the detector (else why it did not).
    async fn spawn(&self, backend: BurnBackend) -> Result<(Worker, Option<ComputeError>), ComputeError> {
        let worker = ComputeClient::new(WorkerChannel::spawn(backend).await?);
        worker.load(self.spec.id, backend, &self.weights).await?;
        let no_detector = match &self.detector {
            Some(detector) => worker.load_detector(detector).await.err(),
            None => None,
        };
        Ok((Rc::new(worker), no_detector))
    }

    async fn start_main(&self, backend: BurnBackend) -> Result<Worker, ComputeError> {
        let (worker, no_detector) = self.spawn(backend).await?;
        if let Some(e) = no_detector {
            self.note(format!("Face detection is unavailable ({e}); photos are cropped to their centre."));
        }
        let head = self.head.borrow().clone();
        if let Some(head) = head
            && let Err(e) = worker.set_head(&head).await
        {
            self.note(format!("The saved model could not be restored ({e}); train again."));
        }
        Ok(worker)
    }

    /// Starts the helpers one after the other while the page works with the main worker. Stops
    /// where one fails (each is a whole wasm instance: memory may run short) or a newer start
    /// replaced this one.
    async fn start_helpers(self: Rc<Self>, backend: BurnBackend, generation: u32) {
        let cores = web_sys::window().map_or(1.0, |w| w.navigator().hardware_concurrency()) as usize;
        for _ in 1..cores.clamp(1, 4) {
            let Ok((helper, None)) = self.spawn(backend).await else { return };
            if self.generation.get() != generation {
                return;
            }
            self.helpers.borrow_mut().push(helper);
        }
    }

    /// Drops a helper that stopped (once, though several of its requests fail) and starts another.
    fn replace_helper(self: &Rc<Self>, stopped: &Worker, why: &str) {
        let mut helpers = self.helpers.borrow_mut();
        let Some(at) = helpers.iter().position(|h| Rc::ptr_eq(h, stopped)) else { return };
        helpers.remove(at);
        drop(helpers);
        self.note(format!("A helper worker stopped ({why}); its photo went to the main worker and a new helper is starting."));
        let (this, backend, generation) = (self.clone(), self.backend.get(), self.generation.get());
        spawn_local(async move {
            if let Some(backend) = backend
                && let Ok((helper, None)) = this.spawn(backend).await
                && this.generation.get() == generation
            {
                this.helpers.borrow_mut().push(helper);
            }
        });
    }

    fn main(&self) -> Result<Worker, ComputeError> {
        self.main.borrow().clone().ok_or(ComputeError::NotLoaded)
    }

    /// Runs `call` on the main worker. If the worker dies or hangs (WebGPU lost, say), a new one
    /// starts on the CPU and `call` runs once more.
    async fn on_main<T>(self: &Rc<Self>, call: impl AsyncFn(Worker) -> Result<T, ComputeError>) -> Result<T, ComputeError> {
        let worker = self.ready_main().await?;
        match call(worker.clone()).await {
            Err(ComputeError::WorkerStopped(why)) => {
                self.restart_after(&worker, &why).await?;
                call(self.ready_main().await?).await
            }
            other => other,
        }
    }

    /// The main worker, once a restart under way has finished.
    async fn ready_main(&self) -> Result<Worker, ComputeError> {
        while self.restarting.get() {
            sleep_ms(50).await;
        }
        self.main()
    }

    /// Restarts on the CPU after `stopped` (the main worker) stopped, unless another request that
    /// failed with it has restarted already.
    async fn restart_after(self: &Rc<Self>, stopped: &Worker, why: &str) -> Result<(), ComputeError> {
        if self.restarting.get() || !self.main.borrow().as_ref().is_some_and(|main| Rc::ptr_eq(main, stopped)) {
            return Ok(());
        }
        self.restarting.set(true);
        let was = self.backend.get().map_or("the backend", BurnBackend::label);
        self.note(format!("The computation on {was} stopped ({why}); restarted on the CPU (burn-flex)."));
        let started = self.start(BurnBackend::Flex).await;
        self.restarting.set(false);
        started.map(|_| ())
    }

    /// Finds and embeds the faces in a photo file.
    pub async fn embed(self: &Rc<Self>, photo: &[u8], crop: CropMode) -> Result<EmbeddedPhoto, ComputeError> {
        self.on_main(async |worker| worker.embed(photo, crop).await).await
    }

    /// How many photos `embed_each` embeds at once.
    pub fn parallel_photos(&self) -> usize {
        1 + self.helpers.borrow().len()
    }

    /// Runs `job` for each item, up to `parallel_photos()` at once, one per worker; results in
    /// the items' order. A helper that stopped leaves its item to the main worker.
    async fn spread<I, T>(self: &Rc<Self>, items: &[I], job: impl AsyncFn(&Worker, &I) -> Result<T, ComputeError>) -> Vec<Result<T, ComputeError>> {
        let helpers = self.helpers.borrow().clone();
        let job = &job;
        let jobs = items.iter().enumerate().map(|(i, item)| {
            let helper = i.checked_sub(1).and_then(|h| helpers.get(h)).cloned();
            async move {
                match helper {
                    Some(helper) => match job(&helper, item).await {
                        Err(ComputeError::WorkerStopped(why)) => {
                            self.replace_helper(&helper, &why);
                            self.on_main(async |worker| job(&worker, item).await).await
                        }
                        other => other,
                    },
                    None => self.on_main(async |worker| job(&worker, item).await).await,
                }
            }
        });
        futures::future::join_all(jobs).await
    }

    /// `embed` for up to `parallel_photos()` photos at once; results in the photos' order.
    pub async fn embed_each(self: &Rc<Self>, photos: &[&[u8]], crop: CropMode) -> Vec<Result<Vec<EmbeddedFace>, ComputeError>> {
        self.spread(photos, async |worker, photo| worker.embed(photo, crop).await.map(|photo| photo.faces)).await
    }

    /// Scans up to `parallel_photos()` library photos at once (every face, embedded); results in
    /// the photos' order.
    pub async fn scan_each(self: &Rc<Self>, photos: &[&[u8]]) -> Vec<Result<ScannedPhoto, ComputeError>> {
        self.spread(photos, async |worker, photo| worker.scan(photo).await).await
    }

    /// Converts the user's keras-vggface `.h5` (in the main worker: it is heavy).
    pub async fn convert_vggface2(self: &Rc<Self>, h5: &[u8]) -> Result<Vec<u8>, ComputeError> {
        self.on_main(async |worker| worker.convert_vggface2(h5).await).await
    }

    /// Embeds kept face pictures (photos enrolled with another backbone), several at once.
    pub async fn embed_pictures(self: &Rc<Self>, pictures: &[&FacePicture]) -> Vec<Result<Vec<f32>, ComputeError>> {
        self.spread(pictures, async |worker, picture| worker.embed_picture(picture).await).await
    }

    /// Trains the head on the plan (`on_epoch` sees each epoch) and uses it from now on.
    pub async fn train(self: &Rc<Self>, plan: TrainingPlan, on_epoch: impl Fn(EpochStats)) -> Result<TrainedModel, ComputeError> {
        let model = self.on_main(async |worker| worker.train(plan.clone(), &mut |stats| on_epoch(stats)).await).await?;
        self.head.replace(Some(Rc::new(model.head.clone())));
        Ok(model)
    }

    /// The head to recognise with (a restored or imported model), or none.
    pub async fn set_head(self: &Rc<Self>, head: Option<&[u8]>) -> Result<(), ComputeError> {
        self.head.replace(head.map(|h| Rc::new(h.to_vec())));
        match head {
            Some(head) if self.main.borrow().is_some() => self.on_main(async |worker| worker.set_head(head).await).await,
            _ => Ok(()),
        }
    }

    /// Every face in a photo file with the head's probabilities.
    pub async fn recognise(self: &Rc<Self>, photo: &[u8]) -> Result<RecognisedPhoto, ComputeError> {
        self.on_main(async |worker| worker.recognise(photo).await).await
    }
}
