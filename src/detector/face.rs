//! A detected face and the crops the backbone sees of it.

use crate::preprocess::RgbImage;

/// The backbone crop around a detected box (see `Face::backbone_crop`).
const CROP_SCALE: f32 = 1.22;
const CROP_SHIFT_UP: f32 = 0.15;

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

    /// Intersection over union of the two boxes.
    pub(super) fn iou(&self, other: &Face) -> f32 {
        let [ax, ay, aw, ah] = self.bbox;
        let [bx, by, bw, bh] = other.bbox;
        let w = ((ax + aw).min(bx + bw) - ax.max(bx)).max(0.0);
        let h = ((ay + ah).min(by + bh) - ay.max(by)).max(0.0);
        let overlap = w * h;
        overlap / (aw * ah + bw * bh - overlap).max(1e-9)
    }

    /// The backbone crop's centre and side (a whole number of pixels, at least 1).
    fn crop_square(&self) -> ((f32, f32), f32) {
        let [x, y, w, h] = self.bbox;
        let box_side = w.max(h);
        let side = (box_side * CROP_SCALE).round().max(1.0);
        ((x + w / 2.0, y + h / 2.0 - CROP_SHIFT_UP * box_side), side)
    }

    /// What the backbone sees of this face: the square the reference experiment's LFW crop is to
    /// a detected face (measured on LFW-5 by tests/detector.rs: the crop's side is 1.22 times the
    /// box's, its centre 0.15 box sides above the box's), which may reach past the image.
    pub fn backbone_crop(&self, image: &RgbImage) -> RgbImage {
        let ((cx, cy), side) = self.crop_square();
        image.crop_padded((cx - side / 2.0).round() as i64, (cy - side / 2.0).round() as i64, side as usize)
    }

    /// `backbone_crop`, turned so that the eyes are level (bilinear sampling, black outside).
    pub fn upright_crop(&self, image: &RgbImage) -> RgbImage {
        let ((cx, cy), side) = self.crop_square();
        let ([rx, ry], [lx, ly]) = (self.keypoints[0], self.keypoints[1]);
        let angle = (ly - ry).atan2(lx - rx);
        let (sin, cos) = angle.sin_cos();
        let half = side / 2.0;
        let side = side as usize;
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
