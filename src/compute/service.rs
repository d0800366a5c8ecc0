//! The worker's side of the protocol: the loaded backbone, detector and head, and one handler
//! per request.

use burn::tensor::Device;

use super::{ComputeError, CropMode, EmbeddedFace, RecognisedFace, Reply, Request};
use crate::backbone::Backbone;
use crate::detector::{Detector, Face};
use crate::head::{HeadConfig, TrainedHead};
use crate::library::LibraryFace;
use crate::preprocess::RgbImage;
use crate::roster::FacePicture;
use crate::weights::{f32_bytes, f32_values};

/// Side of the face thumbnails the page shows and keeps.
const THUMBNAIL_SIDE: usize = 64;
/// The kept face picture: twice the face box's side around its centre (room for every
/// backbone's crop), at most this many pixels a side, as a JPEG of this quality.
const PICTURE_SIDE: usize = 256;
const PICTURE_QUALITY: u8 = 90;

/// A library keeps many faces: smaller pictures (the face about 80 px in them), and a photo
/// thumbnail to draw the boxes on.
const LIBRARY_PICTURE_SIDE: usize = 160;
const LIBRARY_QUALITY: u8 = 80;
const LIBRARY_THUMBNAIL_SIDE: usize = 192;

/// The square around a detected face that `FacePicture` keeps, at most `max_side` pixels, and
/// the face in its coordinates.
fn picture_of(face: &Face, image: &RgbImage, max_side: usize, quality: u8) -> FacePicture {
    let [x, y, w, h] = face.bbox;
    let side = (2.0 * w.max(h)).round().max(1.0);
    let (left, top) = ((x + w / 2.0 - side / 2.0).round(), (y + h / 2.0 - side / 2.0).round());
    let region = image.crop_padded(left as i64, top as i64, side as usize);
    let scale = (max_side as f32 / side).min(1.0);
    let kept = if scale < 1.0 { region.resize_bilinear(max_side, max_side) } else { region };
    let moved = |[px, py]: [f32; 2]| [(px - left) * scale, (py - top) * scale];
    let [bx, by] = moved([x, y]);
    let face = Face { bbox: [bx, by, w * scale, h * scale], keypoints: face.keypoints.map(moved), score: face.score };
    FacePicture { jpeg: kept.to_jpeg(quality), face: Some(face) }
}

fn f32_rows(bytes: &[u8], dim: usize) -> Result<Vec<Vec<f32>>, ComputeError> {
    if dim == 0 || !bytes.len().is_multiple_of(4 * dim) {
        return Err(ComputeError::Malformed(format!("{} bytes are not rows of {dim} f32 values", bytes.len())));
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

/// A face the backbone should see in a photo.
struct FaceCrop {
    /// Left, top, width, height in the photo's pixels.
    bbox: [f32; 4],
    score: f32,
    image: RgbImage,
    /// The detected face (`None` for the fixed crop).
    face: Option<Face>,
}

impl ComputeService {
    /// Handles one request; `send` gets progress replies and, last, the final reply with its bytes.
    pub async fn handle(&mut self, request: Request, bytes: Vec<u8>, mut send: impl FnMut(Reply, Vec<u8>)) {
        let (reply, out) = match self.run(request, bytes, &mut send).await {
            Ok(done) => done,
            Err(error) => (Reply::Failed { error }, Vec::new()),
        };
        send(reply, out);
    }

    async fn run(&mut self, request: Request, bytes: Vec<u8>, send: &mut impl FnMut(Reply, Vec<u8>)) -> Result<(Reply, Vec<u8>), ComputeError> {
        match request {
            Request::Load { backbone, backend } => {
                self.backbone = None;
                self.detector = None;
                let device = backend.device().await?;
                let loaded = Backbone::from_safetensors(backbone, &bytes, &device)?;
                // One pass now, so that a backend that cannot run the network fails here, not on
                // the user's first photo.
                loaded.embed_async(&[RgbImage::new(8, 8, vec![128; 8 * 8 * 3])]).await?;
                self.backbone = Some(loaded);
                self.device = Some(device);
                Ok((Reply::Loaded { backend }, Vec::new()))
            }
            Request::LoadDetector => {
                let device = self.device.clone().ok_or(ComputeError::NotLoaded)?;
                self.detector = Some(Detector::from_safetensors(&bytes, &device)?);
                Ok((Reply::DetectorLoaded, Vec::new()))
            }
            Request::Embed { crop } => {
                let (image, crops) = self.faces(&bytes, crop).await?;
                let embeddings = self.embed_crops(&crops).await?;
                let faces = crops
                    .into_iter()
                    .zip(embeddings)
                    .map(|(crop, embedding)| EmbeddedFace {
                        bbox: crop.bbox,
                        score: crop.score,
                        embedding,
                        thumbnail_png: crop.image.resize_bilinear(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_png(),
                        picture: match &crop.face {
                            Some(face) => picture_of(face, &image, PICTURE_SIDE, PICTURE_QUALITY),
                            None => FacePicture { jpeg: crop.image.to_jpeg(PICTURE_QUALITY), face: None },
                        },
                    })
                    .collect();
                Ok((Reply::Embedded { width: image.width, height: image.height, faces }, Vec::new()))
            }
            Request::ConvertVggFace2 => {
                let tensors = crate::convert::convert_vggface2_h5(&bytes).map_err(|e| ComputeError::Convert(e.to_string()))?;
                let metadata = [("model".to_string(), "vggface2-resnet50".to_string())].into();
                let converted = crate::weights::to_safetensors(&tensors, metadata).map_err(|e| ComputeError::Convert(e.to_string()))?;
                Ok((Reply::Converted, converted))
            }
            Request::EmbedPicture { face } => {
                let backbone = self.backbone()?;
                let picture = RgbImage::decode(&bytes)?;
                let view = match &face {
                    Some(face) => backbone_view(backbone, face, &picture),
                    None => picture,
                };
                let embedding = backbone.embed_async(&[view]).await?.remove(0);
                Ok((Reply::Embedding(embedding), Vec::new()))
            }
            Request::EmbedPixels { count } => {
                let backbone = self.backbone()?;
                let side = backbone.spec.input_size;
                if count == 0 || bytes.len() != count * side * side * 3 {
                    return Err(ComputeError::Malformed(format!("{} bytes are not {count} RGB images of {side}x{side}", bytes.len())));
                }
                let inputs: Vec<RgbImage> =
                    bytes.chunks_exact(side * side * 3).map(|pixels| RgbImage::new(side, side, pixels.to_vec())).collect();
                let embeddings = backbone.embed_async(&inputs).await?;
                Ok((Reply::EmbeddedPixels { dim: backbone.spec.embedding_dim }, f32_bytes(embeddings.iter().flatten())))
            }
            Request::Train { labels, classes, test_rows } => {
                let dim = self.backbone()?.spec.embedding_dim;
                let rows = f32_rows(&bytes, dim)?;
                if rows.len() != labels.len() + test_rows {
                    return Err(ComputeError::Malformed(format!("{} embeddings for {} labels and {test_rows} test rows", rows.len(), labels.len())));
                }
                if labels.is_empty() || labels.iter().any(|&l| l >= classes) {
                    return Err(ComputeError::Malformed("training needs photos labelled with the people enrolled".into()));
                }
                let (train, test) = rows.split_at(labels.len());
                // The head is small: the CPU trains it fast and the same on every machine.
                let head = HeadConfig::new().train(train, &labels, classes, &Device::flex(), |stats| send(Reply::Epoch(stats.clone()), Vec::new()));
                let test_predictions = head.predict(test);
                let saved = head.to_safetensors()?;
                self.head = Some(head);
                Ok((Reply::Trained { test_predictions }, saved))
            }
            Request::SetHead => {
                let head = TrainedHead::from_safetensors(&bytes, &Device::flex())?;
                if head.sizes().0 != self.backbone()?.spec.embedding_dim {
                    return Err(ComputeError::HeadForOtherBackbone);
                }
                self.head = Some(head);
                Ok((Reply::HeadSet, Vec::new()))
            }
            Request::Recognise => {
                let head = self.head.as_ref().ok_or(ComputeError::NotTrained)?;
                let (image, crops) = self.faces(&bytes, CropMode::Detect).await?;
                let embeddings = self.embed_crops(&crops).await?;
                let probabilities = head.predict_proba(&embeddings);
                let faces = crops
                    .iter()
                    .zip(probabilities)
                    .zip(embeddings)
                    .map(|((crop, probabilities), embedding)| RecognisedFace { bbox: crop.bbox, probabilities, embedding })
                    .collect();
                Ok((Reply::Recognised { width: image.width, height: image.height, faces }, Vec::new()))
            }
            Request::Scan => {
                let image = RgbImage::decode(&bytes)?;
                let crops = self.crops(&image, CropMode::Detect).await?;
                let embeddings = self.embed_crops(&crops).await?;
                let faces = crops
                    .into_iter()
                    .zip(embeddings)
                    .map(|(crop, embedding)| LibraryFace {
                        id: 0,
                        bbox: crop.bbox,
                        score: crop.score,
                        embedding,
                        thumbnail_jpeg: crop.image.resize_bilinear(THUMBNAIL_SIDE, THUMBNAIL_SIDE).to_jpeg(LIBRARY_QUALITY),
                        picture: crop.face.as_ref().map(|face| picture_of(face, &image, LIBRARY_PICTURE_SIDE, LIBRARY_QUALITY)),
                    })
                    .collect();
                let scale = (LIBRARY_THUMBNAIL_SIDE as f32 / image.width.max(image.height) as f32).min(1.0);
                let (w, h) = (((image.width as f32 * scale).round() as usize).max(1), ((image.height as f32 * scale).round() as usize).max(1));
                let thumbnail = image.resize_bilinear(w, h).to_jpeg(LIBRARY_QUALITY);
                Ok((Reply::Scanned { width: image.width, height: image.height, faces }, thumbnail))
            }
        }
    }

    fn backbone(&self) -> Result<&Backbone, ComputeError> {
        self.backbone.as_ref().ok_or(ComputeError::NotLoaded)
    }

    async fn embed_crops(&self, crops: &[FaceCrop]) -> Result<Vec<Vec<f32>>, ComputeError> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let images: Vec<RgbImage> = crops.iter().map(|crop| crop.image.clone()).collect();
        Ok(self.backbone()?.embed_async(&images).await?)
    }

    /// Decodes an image file and crops the faces in it as `mode` says, largest first; no face
    /// is an error.
    async fn faces(&self, bytes: &[u8], mode: CropMode) -> Result<(RgbImage, Vec<FaceCrop>), ComputeError> {
        let image = RgbImage::decode(bytes)?;
        let crops = self.crops(&image, mode).await?;
        if crops.is_empty() {
            return Err(ComputeError::NoFace);
        }
        Ok((image, crops))
    }

    /// The faces in an image as `mode` says, largest first.
    async fn crops(&self, image: &RgbImage, mode: CropMode) -> Result<Vec<FaceCrop>, ComputeError> {
        let detector = self.detector.as_ref().filter(|_| mode != CropMode::Reference);
        let crops: Vec<FaceCrop> = match detector {
            Some(detector) => {
                let mut faces = detector.detect(image).await?;
                if mode == CropMode::DetectCentral {
                    faces = Face::central(&faces, image.width, image.height).into_iter().cloned().collect();
                }
                // Largest first: in a photo of someone, they are usually the largest face.
                faces.sort_by(|a, b| (b.bbox[2] * b.bbox[3]).total_cmp(&(a.bbox[2] * a.bbox[3])));
                let backbone = self.backbone()?;
                let crop = |f: Face| FaceCrop { bbox: f.bbox, score: f.score, image: backbone_view(backbone, &f, image), face: Some(f) };
                faces.into_iter().map(crop).collect()
            }
            None => {
                let (left, top, side) = image.face_crop_square();
                let bbox = [left as f32, top as f32, side as f32, side as f32];
                vec![FaceCrop { bbox, score: 1.0, image: image.face_crop(), face: None }]
            }
        };
        Ok(crops)
    }
}

/// What `backbone` sees of a detected face: the aligned chip where it was trained on those,
/// else the loose square around the box.
fn backbone_view(backbone: &Backbone, face: &Face, image: &RgbImage) -> RgbImage {
    if backbone.spec.aligned { face.aligned_chip(image, backbone.spec.input_size) } else { face.backbone_crop(image) }
}
