//! The caller's side of the protocol: one typed async method per request over any `Channel` (the
//! page's Web Worker, or a service in this process), so that no caller matches replies itself.

use std::cell::RefCell;

use super::{BurnBackend, ComputeError, ComputeService, CropMode, EmbeddedFace, RecognisedFace, Reply, Request};
use crate::backbone::BackboneId;
use crate::head::EpochStats;
use crate::library::ScannedPhoto;
use crate::model::{TrainedModel, TrainingPlan};
use crate::roster::FacePicture;
use crate::weights::{f32_bytes, f32_values};

/// A way to a `ComputeService`: sends one request with its bytes and returns the final reply
/// with its bytes (`progress` sees the replies before it). A `Reply::Failed` comes back as `Err`.
#[allow(async_fn_in_trait)] // used on one thread (the page, a test), never across threads
pub trait Channel {
    async fn call(&self, request: Request, bytes: &[u8], progress: &mut dyn FnMut(Reply)) -> Result<(Reply, Vec<u8>), ComputeError>;
}

/// A service in this process (tests and native tools); every call runs to its end at once.
#[derive(Default)]
pub struct InProcess(RefCell<ComputeService>);

impl Channel for InProcess {
    async fn call(&self, request: Request, bytes: &[u8], progress: &mut dyn FnMut(Reply)) -> Result<(Reply, Vec<u8>), ComputeError> {
        // Taken out for the call: a service handles one request at a time.
        let mut service = self.0.take();
        let mut last = None;
        service
            .handle(request, bytes.to_vec(), |reply, out| if reply.is_final() { last = Some((reply, out)) } else { progress(reply) })
            .await;
        *self.0.borrow_mut() = service;
        match last {
            Some((Reply::Failed { error }, _)) => Err(error),
            Some(done) => Ok(done),
            None => Err(ComputeError::UnexpectedReply("no final reply".into())),
        }
    }
}

/// A photo's size and the faces found in it, largest first.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddedPhoto {
    pub width: usize,
    pub height: usize,
    pub faces: Vec<EmbeddedFace>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecognisedPhoto {
    pub width: usize,
    pub height: usize,
    pub faces: Vec<RecognisedFace>,
}

fn unexpected(reply: Reply) -> ComputeError {
    ComputeError::UnexpectedReply(format!("{reply:?}"))
}

/// The compute protocol as methods.
pub struct ComputeClient<C> {
    pub channel: C,
}

impl<C: Channel> ComputeClient<C> {
    pub fn new(channel: C) -> Self {
        Self { channel }
    }

    async fn call(&self, request: Request, bytes: &[u8]) -> Result<(Reply, Vec<u8>), ComputeError> {
        self.channel.call(request, bytes, &mut |_| {}).await
    }

    /// Loads a backbone's converted weights on `backend` (and runs one pass there).
    pub async fn load(&self, backbone: BackboneId, backend: BurnBackend, weights: &[u8]) -> Result<BurnBackend, ComputeError> {
        match self.call(Request::Load { backbone, backend }, weights).await? {
            (Reply::Loaded { backend }, _) => Ok(backend),
            (other, _) => Err(unexpected(other)),
        }
    }

    pub async fn load_detector(&self, weights: &[u8]) -> Result<(), ComputeError> {
        match self.call(Request::LoadDetector, weights).await? {
            (Reply::DetectorLoaded, _) => Ok(()),
            (other, _) => Err(unexpected(other)),
        }
    }

    /// Finds the faces in an image file (as `crop` says) and embeds each.
    pub async fn embed(&self, photo: &[u8], crop: CropMode) -> Result<EmbeddedPhoto, ComputeError> {
        match self.call(Request::Embed { crop }, photo).await? {
            (Reply::Embedded { width, height, faces }, _) => Ok(EmbeddedPhoto { width, height, faces }),
            (other, _) => Err(unexpected(other)),
        }
    }

    /// Converts the user's keras-vggface `.h5` into weights `load` takes.
    pub async fn convert_vggface2(&self, h5: &[u8]) -> Result<Vec<u8>, ComputeError> {
        match self.call(Request::ConvertVggFace2, h5).await? {
            (Reply::Converted, converted) => Ok(converted),
            (other, _) => Err(unexpected(other)),
        }
    }

    /// Embeds a kept face picture (another backbone's photo, say) as this backbone sees faces.
    pub async fn embed_picture(&self, picture: &FacePicture) -> Result<Vec<f32>, ComputeError> {
        match self.call(Request::EmbedPicture { face: picture.face.clone() }, &picture.jpeg).await? {
            (Reply::Embedding(embedding), _) => Ok(embedding),
            (other, _) => Err(unexpected(other)),
        }
    }

    /// Embeds `count` RGB images already at the backbone's input size, in one batch.
    pub async fn embed_pixels(&self, pixels: &[u8], count: usize) -> Result<Vec<Vec<f32>>, ComputeError> {
        match self.call(Request::EmbedPixels { count }, pixels).await? {
            (Reply::EmbeddedPixels { dim }, bytes) => Ok(f32_values(&bytes).chunks_exact(dim.max(1)).map(<[f32]>::to_vec).collect()),
            (other, _) => Err(unexpected(other)),
        }
    }

    /// Trains the head on the plan's training photos (`on_epoch` sees each epoch), tests it on
    /// the held-out ones and returns the model with its report and unknown threshold. The worker
    /// keeps the new head for `recognise`.
    pub async fn train(&self, plan: TrainingPlan, on_epoch: &mut dyn FnMut(EpochStats)) -> Result<TrainedModel, ComputeError> {
        let request = Request::Train { labels: plan.train.1.clone(), classes: plan.names.len(), test_rows: plan.test.0.len() };
        let rows = f32_bytes(plan.train.0.iter().chain(&plan.test.0).flatten());
        let mut progress = |reply| {
            if let Reply::Epoch(stats) = reply {
                on_epoch(stats);
            }
        };
        match self.channel.call(request, &rows, &mut progress).await? {
            (Reply::Trained { test_predictions }, head) => Ok(plan.finish(head, &test_predictions)),
            (other, _) => Err(unexpected(other)),
        }
    }

    /// Uses a head saved earlier (a model restored or imported) for `recognise`.
    pub async fn set_head(&self, head: &[u8]) -> Result<(), ComputeError> {
        match self.call(Request::SetHead, head).await? {
            (Reply::HeadSet, _) => Ok(()),
            (other, _) => Err(unexpected(other)),
        }
    }

    /// Every face in a library photo, embedded, with a small JPEG of the photo (path left empty).
    pub async fn scan(&self, photo: &[u8]) -> Result<ScannedPhoto, ComputeError> {
        match self.call(Request::Scan, photo).await? {
            (Reply::Scanned { width, height, faces }, thumbnail_jpeg) => Ok(ScannedPhoto { path: String::new(), width, height, thumbnail_jpeg, faces }),
            (other, _) => Err(unexpected(other)),
        }
    }

    /// Every face in an image file with the head's probabilities.
    pub async fn recognise(&self, photo: &[u8]) -> Result<RecognisedPhoto, ComputeError> {
        match self.call(Request::Recognise, photo).await? {
            (Reply::Recognised { width, height, faces }, _) => Ok(RecognisedPhoto { width, height, faces }),
            (other, _) => Err(unexpected(other)),
        }
    }
}
