//! Everything heavy the app does, behind one message protocol: load a backbone, embed a photo,
//! train the head, recognise a photo. The page runs a `ComputeService` in a Web Worker and talks
//! to it with `Request`/`Reply` (JSON) plus one byte buffer per message, so the UI thread never
//! runs a backbone pass. Natively the same service runs in tests.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::backbone::{Backbone, BackboneId};
use crate::detector::{Detector, Face};
use crate::head::{EpochStats, HeadConfig, TrainedHead};
use crate::preprocess::RgbImage;
use crate::weights::{f32_bytes, f32_values};

/// Side of the face thumbnails the page shows and keeps.
pub const THUMBNAIL_SIDE: usize = 64;

/// Where the backbone runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Backend {
    WebGpu,
    Flex,
    NdArray,
}

impl Backend {
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
        [Self::WebGpu, Self::Flex, Self::NdArray].into_iter().find(|b| b.key() == key)
    }

    /// A device of this backend; WebGPU asks the browser for an adapter (only in a browser).
    pub async fn device(self) -> Result<Device, String> {
        match self {
            Self::Flex => Ok(Device::flex()),
            // Deprecated in Burn 0.22; kept selectable to compare against.
            #[allow(deprecated)]
            Self::NdArray => Ok(Device::ndarray()),
            Self::WebGpu => webgpu_device().await,
        }
    }
}

#[cfg(target_arch = "wasm32")]
async fn webgpu_device() -> Result<Device, String> {
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
        if why.contains("No adapter") || why.contains("no adapters") {
            "the browser offers no WebGPU adapter".to_string()
        } else {
            format!("WebGPU could not start: {why}")
        }
    })?;
    DEVICE.with_borrow_mut(|slot| *slot = Some(device.clone()));
    Ok(device)
}

#[cfg(not(target_arch = "wasm32"))]
async fn webgpu_device() -> Result<Device, String> {
    Err("WebGPU is only used in the browser".into())
}

/// How a photo becomes the face crops the backbone sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Crop {
    /// Every face the detector finds (falls back to `Reference` while no detector is loaded).
    Detect,
    /// Only the detected face nearest the centre (LFW's subject).
    DetectCentral,
    /// The reference experiment's fixed crop (LFW rows/cols 60..188, else the centred square).
    Reference,
}

/// What the page asks of the worker. Bytes travel beside the request (see each variant).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Bytes: the backbone's converted weights.
    Load { backbone: BackboneId, backend: Backend },
    /// Bytes: the face detector's converted weights; it runs on the backbone's backend.
    LoadDetector,
    /// Bytes: an image file. Replies `Embedded`, one entry per face.
    Embed { crop: Crop },
    /// Bytes: `count` images already cropped to the backbone's input size, 8-bit RGB, row-major,
    /// one after another; embedded in one batch. Replies `EmbeddedPixels` with the embeddings as
    /// little-endian f32 bytes, `count` rows.
    EmbedPixels { count: usize },
    /// Bytes: little-endian f32 embeddings, the training rows then `test_rows` test rows.
    /// Replies `Epoch` per epoch, then `Trained` with the head's safetensors as bytes.
    Train { labels: Vec<usize>, classes: usize, test_rows: usize, seed: u64 },
    /// Bytes: a head saved earlier (`Trained`'s bytes), used for `Recognise` from now on.
    SetHead,
    /// Bytes: an image file. Replies `Recognised`, one entry per face.
    Recognise,
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
    Loaded { backend: Backend },
    DetectorLoaded,
    /// The photo's size and its faces, largest first.
    Embedded { width: usize, height: usize, faces: Vec<EmbeddedFace> },
    EmbeddedPixels { dim: usize },
    Epoch(EpochStats),
    Trained { test_predictions: Vec<usize> },
    HeadSet,
    Recognised { width: usize, height: usize, faces: Vec<RecognisedFace> },
    Failed { error: String },
}

impl Reply {
    /// Whether this reply ends its request (progress replies do not).
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Epoch(_))
    }
}


fn f32_rows(bytes: &[u8], dim: usize) -> Result<Vec<Vec<f32>>, String> {
    if dim == 0 || bytes.len() % (4 * dim) != 0 {
        return Err(format!("{} bytes are not rows of {dim} f32 values", bytes.len()));
    }
    Ok(f32_values(bytes).chunks_exact(dim).map(<[f32]>::to_vec).collect())
}

/// The worker's state: the loaded backbone, detector and current head.
#[derive(Default)]
pub struct ComputeService {
    backbone: Option<Backbone>,
    detector: Option<Detector>,
    head: Option<TrainedHead>,
    device: Option<Device>,
}

/// Faces the backbone should see in a photo: (box, score, crop).
type Crops = Vec<([f32; 4], f32, RgbImage)>;

pub const NO_FACE: &str = "no face found in this photo: use one where a face is clearly visible";

impl ComputeService {
    /// Handles one request; `send` gets progress replies and, last, the final reply with its bytes.
    pub async fn handle(&mut self, request: Request, bytes: Vec<u8>, mut send: impl FnMut(Reply, Vec<u8>)) {
        let (reply, out) = match self.run(request, bytes, &mut send).await {
            Ok(done) => done,
            Err(error) => (Reply::Failed { error }, Vec::new()),
        };
        send(reply, out);
    }

    async fn run(&mut self, request: Request, bytes: Vec<u8>, send: &mut impl FnMut(Reply, Vec<u8>)) -> Result<(Reply, Vec<u8>), String> {
        match request {
            Request::Load { backbone, backend } => {
                self.backbone = None;
                self.detector = None;
                let device = backend.device().await?;
                let loaded = Backbone::from_safetensors(backbone, &bytes, &device).map_err(|e| e.to_string())?;
                // One pass now, so that a backend that cannot run the network fails here, not on
                // the user's first photo.
                loaded.embed_async(&[RgbImage::new(8, 8, vec![128; 8 * 8 * 3])]).await?;
                self.backbone = Some(loaded);
                self.device = Some(device);
                Ok((Reply::Loaded { backend }, Vec::new()))
            }
            Request::LoadDetector => {
                let device = self.device.clone().ok_or("load the backbone first")?;
                self.detector = Some(Detector::from_safetensors(&bytes, &device)?);
                Ok((Reply::DetectorLoaded, Vec::new()))
            }
            Request::Embed { crop } => {
                let (image, crops) = self.faces(&bytes, crop).await?;
                let embeddings = self.embed_crops(&crops).await?;
                let faces = crops
                    .into_iter()
                    .zip(embeddings)
                    .map(|((bbox, score, face), embedding)| EmbeddedFace {
                        bbox,
                        score,
                        embedding,
                        thumbnail_png: face.resize_bilinear(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_png(),
                    })
                    .collect();
                Ok((Reply::Embedded { width: image.width, height: image.height, faces }, Vec::new()))
            }
            Request::EmbedPixels { count } => {
                let backbone = self.backbone()?;
                let side = backbone.spec.input_size;
                if count == 0 || bytes.len() != count * side * side * 3 {
                    return Err(format!("{} bytes are not {count} RGB images of {side}x{side}", bytes.len()));
                }
                let inputs: Vec<RgbImage> =
                    bytes.chunks_exact(side * side * 3).map(|pixels| RgbImage::new(side, side, pixels.to_vec())).collect();
                let embeddings = backbone.embed_async(&inputs).await?;
                Ok((Reply::EmbeddedPixels { dim: backbone.spec.embedding_dim }, f32_bytes(embeddings.iter().flatten())))
            }
            Request::Train { labels, classes, test_rows, seed } => {
                let dim = self.backbone()?.spec.embedding_dim;
                let rows = f32_rows(&bytes, dim)?;
                if rows.len() != labels.len() + test_rows {
                    return Err(format!("{} embeddings for {} labels and {test_rows} test rows", rows.len(), labels.len()));
                }
                if labels.is_empty() || labels.iter().any(|&l| l >= classes) {
                    return Err("training needs photos labelled with the people enrolled".into());
                }
                let (train, test) = rows.split_at(labels.len());
                // The head is small: the CPU trains it fast and the same on every machine.
                let config = HeadConfig::new().with_seed(seed);
                let head = config.train(train, &labels, classes, &Device::flex(), |stats| send(Reply::Epoch(stats.clone()), Vec::new()));
                let test_predictions = head.predict(test);
                let saved = head.to_safetensors()?;
                self.head = Some(head);
                Ok((Reply::Trained { test_predictions }, saved))
            }
            Request::SetHead => {
                let head = TrainedHead::from_safetensors(&bytes, &Device::flex())?;
                if head.sizes().0 != self.backbone()?.spec.embedding_dim {
                    return Err("the saved model was trained on another backbone's embeddings".into());
                }
                self.head = Some(head);
                Ok((Reply::HeadSet, Vec::new()))
            }
            Request::Recognise => {
                let head = self.head.as_ref().ok_or("train the model first")?;
                let (image, crops) = self.faces(&bytes, Crop::Detect).await?;
                let embeddings = self.embed_crops(&crops).await?;
                let probabilities = head.predict_proba(&embeddings);
                let faces = crops
                    .iter()
                    .zip(probabilities)
                    .zip(embeddings)
                    .map(|(((bbox, _, _), probabilities), embedding)| RecognisedFace { bbox: *bbox, probabilities, embedding })
                    .collect();
                Ok((Reply::Recognised { width: image.width, height: image.height, faces }, Vec::new()))
            }
        }
    }

    fn backbone(&self) -> Result<&Backbone, String> {
        self.backbone.as_ref().ok_or_else(|| "the backbone is not loaded yet".to_string())
    }

    async fn embed_crops(&self, crops: &Crops) -> Result<Vec<Vec<f32>>, String> {
        let images: Vec<RgbImage> = crops.iter().map(|(_, _, face)| face.clone()).collect();
        self.backbone()?.embed_async(&images).await
    }

    /// Decodes an image file and crops the faces in it as `crop` says.
    async fn faces(&self, bytes: &[u8], crop: Crop) -> Result<(RgbImage, Crops), String> {
        let image = RgbImage::decode(bytes).map_err(|e| e.to_string())?;
        let detector = self.detector.as_ref().filter(|_| crop != Crop::Reference);
        let crops: Crops = match detector {
            Some(detector) => {
                let mut faces = detector.detect(&image).await?;
                if crop == Crop::DetectCentral {
                    faces = Face::central(&faces, image.width, image.height).into_iter().cloned().collect();
                }
                // Largest first: in a photo of someone, they are usually the largest face.
                faces.sort_by(|a, b| (b.bbox[2] * b.bbox[3]).total_cmp(&(a.bbox[2] * a.bbox[3])));
                faces.iter().map(|f| (f.bbox, f.score, f.backbone_crop(&image))).collect()
            }
            None => {
                let (left, top, side) = image.face_crop_square();
                vec![([left as f32, top as f32, side as f32, side as f32], 1.0, image.face_crop())]
            }
        };
        if crops.is_empty() {
            return Err(NO_FACE.into());
        }
        Ok((image, crops))
    }
}
