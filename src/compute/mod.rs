//! Everything heavy the app does, behind one message protocol: load a backbone, embed a photo,
//! train the head, recognise a photo. The page runs a `ComputeService` (service.rs) in a Web
//! Worker and talks to it with `Request`/`Reply` (JSON) plus one byte buffer per message, so the
//! UI thread never runs a backbone pass; `ComputeClient` (client.rs) gives one typed async
//! method per request over any `Channel` to a service. Natively the same service runs in tests.

mod client;
mod service;

pub use client::{Channel, ComputeClient, EmbeddedPhoto, InProcess, RecognisedPhoto};
pub use service::ComputeService;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::backbone::{BackboneId, LoadError, ReadbackError};
use crate::detector::DetectorError;
use crate::roster::FacePicture;
use crate::head::{EpochStats, HeadError};
use crate::preprocess::ImageError;

/// The Burn backend the backbone runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BurnBackend {
    WebGpu,
    Flex,
    NdArray,
}

impl BurnBackend {
    pub const ALL: [Self; 3] = [Self::WebGpu, Self::Flex, Self::NdArray];

    pub fn label(self) -> &'static str {
        match self {
            Self::WebGpu => "WebGPU (burn-wgpu)",
            Self::Flex => "CPU (burn-flex, WebAssembly)",
            Self::NdArray => "CPU (burn-ndarray, WebAssembly)",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Self::WebGpu => "webgpu",
            Self::Flex => "flex",
            Self::NdArray => "ndarray",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.key() == key)
    }

    /// A device of this backend; WebGPU asks the browser for an adapter (only in a browser).
    pub async fn device(self) -> Result<Device, ComputeError> {
        match self {
            Self::Flex => Ok(Device::flex()),
            // Deprecated in Burn 0.22; kept selectable to compare against.
            #[allow(deprecated)]
            Self::NdArray => Ok(Device::ndarray()),
            Self::WebGpu => webgpu_device().await,
        }
    }
}

#[cfg(all(target_arch = "wasm32", feature = "webgpu"))]
async fn webgpu_device() -> Result<Device, ComputeError> {
    thread_local! {
        // Burn's wgpu runtime is initialised once per worker; later loads reuse its device.
        static DEVICE: std::cell::RefCell<Option<Device>> = const { std::cell::RefCell::new(None) };
    }
    if let Some(device) = DEVICE.with_borrow(Clone::clone) {
        return Ok(device);
    }
    let device = Device::wgpu_options().init_async().await.map_err(|e| {
        let why = e.to_string();
        // wgpu's own text lists every native API it did not try; the gist is enough here.
        if why.contains("No adapter") || why.contains("no adapters") { ComputeError::NoWebGpu } else { ComputeError::WebGpuStart(why) }
    })?;
    DEVICE.with_borrow_mut(|slot| *slot = Some(device.clone()));
    Ok(device)
}

#[cfg(not(all(target_arch = "wasm32", feature = "webgpu")))]
async fn webgpu_device() -> Result<Device, ComputeError> {
    // Natively the tools and tests use the CPU backends only; in the browser only the WebGPU
    // worker's module (the `webgpu` feature) has burn-wgpu in it.
    Err(ComputeError::NoWebGpu)
}

/// How a photo becomes the face crops the backbone sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CropMode {
    /// Every face the detector finds (falls back to `Reference` while no detector is loaded).
    Detect,
    /// Only the detected face nearest the centre (LFW's subject).
    DetectCentral,
    /// The reference experiment's fixed crop (LFW rows/cols 60..188, else the centred square).
    Reference,
}

/// Why a request failed, from the worker or from the way to it. Serializable: it is the
/// worker's `Reply::Failed`, and the page matches on it to say what to do next.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize, Deserialize)]
pub enum ComputeError {
    #[error("the backbone is not loaded yet")]
    NotLoaded,
    #[error("the browser offers no WebGPU adapter")]
    NoWebGpu,
    #[error("WebGPU could not start: {0}")]
    WebGpuStart(String),
    #[error(transparent)]
    Weights(#[from] LoadError),
    #[error(transparent)]
    Detector(#[from] DetectorError),
    #[error(transparent)]
    Readback(#[from] ReadbackError),
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("no face found in this photo: use one where a face is clearly visible")]
    NoFace,
    #[error("train the model first")]
    NotTrained,
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("the saved model was trained on another backbone's embeddings")]
    HeadForOtherBackbone,
    /// The request's bytes or fields do not fit it (a bug in the caller, not the user's input).
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("the compute worker could not start: {0}")]
    WorkerStart(String),
    /// The worker died (a panic, or the GPU lost); the client restarts it.
    #[error("the compute worker stopped ({0})")]
    WorkerStopped(String),
    /// A weights file that could not be converted: what is wrong with it.
    #[error("{0}")]
    Convert(String),
    #[error("unexpected reply from the compute worker: {0}")]
    UnexpectedReply(String),
}

/// What the page asks of the worker. Bytes travel beside the request (see each variant).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Bytes: the backbone's converted weights.
    Load { backbone: BackboneId, backend: BurnBackend },
    /// Bytes: the face detector's converted weights; it runs on the backbone's backend.
    LoadDetector,
    /// Bytes: an image file. Replies `Embedded`, one entry per face.
    Embed { crop: CropMode },
    /// Bytes: keras-vggface's ResNet50 `.h5` (the user's file). Replies `Converted`, the bytes:
    /// the converted safetensors for `Load`. Needs no backbone loaded.
    ConvertVggFace2,
    /// Bytes: a kept face picture's JPEG (`FacePicture`), the face in it at `face`. Replies
    /// `Embedding`.
    EmbedPicture { face: Option<crate::detector::Face> },
    /// Bytes: `count` images already cropped to the backbone's input size, 8-bit RGB, row-major,
    /// one after another; embedded in one batch. Replies `EmbeddedPixels` with the embeddings as
    /// little-endian f32 bytes, `count` rows.
    EmbedPixels { count: usize },
    /// Bytes: little-endian f32 embeddings, the training rows then `test_rows` test rows.
    /// Replies `Epoch` per epoch, then `Trained` with the head's safetensors as bytes.
    Train { labels: Vec<usize>, classes: usize, test_rows: usize },
    /// Bytes: a head saved earlier (`Trained`'s bytes), used for `Recognise` from now on.
    SetHead,
    /// Bytes: an image file. Replies `Recognised`, one entry per face.
    Recognise,
    /// Bytes: a photo of the user's library. Replies `Scanned` with every face found (none is
    /// a result, not an error); its bytes: a small JPEG of the whole photo.
    Scan,
}

impl Request {
    /// How many photos the request embeds (0 for the others).
    pub fn photos(&self) -> usize {
        match self {
            Request::Embed { .. } | Request::EmbedPicture { .. } | Request::Recognise | Request::Scan => 1,
            Request::EmbedPixels { count } => *count,
            Request::Load { .. } | Request::LoadDetector | Request::ConvertVggFace2 | Request::Train { .. } | Request::SetHead => 0,
        }
    }

    /// How long the worker may stay silent on this request before the client takes it for hung
    /// (each progress reply starts the wait anew). `photo_ms`: how long a photo has taken on this
    /// worker, where known; a photo request may take 30 times that (at least 15 s; 60 s per photo
    /// before the first is timed, which covers WebGPU compiling its shaders).
    pub fn patience_ms(&self, photo_ms: Option<f64>) -> f64 {
        match (self, self.photos()) {
            // Weights parsed and moved to the device (a WebGPU start compiles shaders too).
            (Request::Load { .. } | Request::LoadDetector, _) => 180_000.0,
            (Request::ConvertVggFace2, _) => 600_000.0,
            (_, 0) => 60_000.0,
            (_, photos) => photo_ms.map_or(60_000.0, |ms| (30.0 * ms).max(500.0)) * photos as f64,
        }
        .max(15_000.0)
    }
}

/// A face in a photo and what the backbone made of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedFace {
    /// Left, top, width, height in the photo's pixels.
    pub bbox: [f32; 4],
    /// The detector's confidence (1 for a fixed crop).
    pub score: f32,
    pub embedding: Vec<f32>,
    /// A small PNG of the crop the backbone saw.
    pub thumbnail_png: Vec<u8>,
    /// The face and its surroundings, for other backbones later.
    pub picture: FacePicture,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecognisedFace {
    pub bbox: [f32; 4],
    pub probabilities: Vec<f32>,
    /// For the open-set check (similarity to the enrolled people's photos).
    pub embedding: Vec<f32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Loaded { backend: BurnBackend },
    DetectorLoaded,
    /// The photo's size and its faces, largest first.
    Embedded { width: usize, height: usize, faces: Vec<EmbeddedFace> },
    EmbeddedPixels { dim: usize },
    Embedding(Vec<f32>),
    Converted,
    Epoch(EpochStats),
    Trained { test_predictions: Vec<usize> },
    HeadSet,
    Recognised { width: usize, height: usize, faces: Vec<RecognisedFace> },
    Scanned { width: usize, height: usize, faces: Vec<crate::library::LibraryFace> },
    Failed { error: ComputeError },
}

impl Reply {
    /// Whether this reply ends its request (progress replies do not).
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Epoch(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_scales_with_the_photos_and_their_time() {
        let scan = Request::Scan;
        assert_eq!(scan.patience_ms(None), 60_000.0);
        assert_eq!(scan.patience_ms(Some(100.0)), 15_000.0, "never less than 15 s");
        assert_eq!(scan.patience_ms(Some(2_000.0)), 60_000.0);
        assert_eq!(Request::EmbedPixels { count: 40 }.patience_ms(Some(100.0)), 120_000.0);
        assert_eq!(Request::EmbedPixels { count: 40 }.patience_ms(None), 2_400_000.0);
        assert_eq!(Request::SetHead.patience_ms(Some(1.0)), 60_000.0);
        assert!(Request::Load { backbone: BackboneId::FaceRes, backend: BurnBackend::Flex }.patience_ms(None) >= 180_000.0);
    }
}
