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

    /// The face turned, scaled and centred as dlib's `get_face_chip` (padding 0.25) does: the
    /// similarity transform that best maps dlib's mean face (eyes, nose tip, mouth) onto this
    /// face's keypoints, sampled bilinearly into a `side` x `side` chip (several samples per
    /// chip pixel where the face is larger than the chip; black outside the image).
    pub fn aligned_chip(&self, image: &RgbImage, side: usize) -> RgbImage {
        let unit = |[x, y]: [f32; 2]| [(CHIP_PADDING + x) / (1.0 + 2.0 * CHIP_PADDING), (CHIP_PADDING + y) / (1.0 + 2.0 * CHIP_PADDING)];
        let template: Vec<[f32; 2]> = MEAN_FACE.iter().map(|&p| unit(p).map(|v| v * side as f32)).collect();
        let map = Similarity::fit(&template, &self.keypoints[..MEAN_FACE.len()]);
        // Image pixels per chip pixel: that many samples per axis (at most 4) keep it from aliasing.
        let samples = map.scale().ceil().clamp(1.0, 4.0) as usize;
        let mut pixels = Vec::with_capacity(side * side * 3);
        for v in 0..side {
            for u in 0..side {
                let mut sum = [0u32; 3];
                for sy in 0..samples {
                    for sx in 0..samples {
                        let chip = [u as f32 + (sx as f32 + 0.5) / samples as f32, v as f32 + (sy as f32 + 0.5) / samples as f32];
                        let [x, y] = map.apply(chip);
                        for (total, value) in sum.iter_mut().zip(image.sample_bilinear(x, y)) {
                            *total += value as u32;
                        }
                    }
                }
                let count = (samples * samples) as u32;
                pixels.extend(sum.map(|total| ((total + count / 2) / count) as u8));
            }
        }
        RgbImage::new(side, side, pixels)
    }
}

/// dlib's `get_face_chip` padding: the chip shows this much of the mean face's size around it.
const CHIP_PADDING: f32 = 0.25;

/// dlib's mean face shape in its unit square (`get_face_chip_details`), at the detector's
/// keypoints: the person's right eye (landmarks 36-41 averaged), left eye (42-47), nose tip
/// (30), mouth centre (48-67).
const MEAN_FACE: [[f32; 2]; 4] = [[0.225_492, 0.215_990], [0.754_761, 0.215_990], [0.490_127, 0.515_625], [0.490_127, 0.804_225]];

/// `x -> scale * rotation * x + offset` in 2-D, as `[a, -b; b, a] x + offset`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Similarity {
    a: f32,
    b: f32,
    offset: [f32; 2],
}

impl Similarity {
    /// The least-squares similarity taking each `from` point onto its `to` point.
    fn fit(from: &[[f32; 2]], to: &[[f32; 2]]) -> Self {
        let mean = |points: &[[f32; 2]]| {
            let n = points.len() as f32;
            [points.iter().map(|p| p[0]).sum::<f32>() / n, points.iter().map(|p| p[1]).sum::<f32>() / n]
        };
        let (mf, mt) = (mean(from), mean(to));
        let (mut dot, mut cross, mut norm) = (0.0, 0.0, 0.0);
        for (f, t) in from.iter().zip(to) {
            let (fx, fy, tx, ty) = (f[0] - mf[0], f[1] - mf[1], t[0] - mt[0], t[1] - mt[1]);
            dot += fx * tx + fy * ty;
            cross += fx * ty - fy * tx;
            norm += fx * fx + fy * fy;
        }
        let (a, b) = if norm > 0.0 { (dot / norm, cross / norm) } else { (1.0, 0.0) };
        Self { a, b, offset: [mt[0] - (a * mf[0] - b * mf[1]), mt[1] - (b * mf[0] + a * mf[1])] }
    }

    fn apply(&self, [x, y]: [f32; 2]) -> [f32; 2] {
        [self.a * x - self.b * y + self.offset[0], self.b * x + self.a * y + self.offset[1]]
    }

    fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_similarity_is_recovered_from_its_points() {
        let truth = Similarity { a: 1.2, b: -0.5, offset: [30.0, -4.0] };
        let from = [[0.0, 0.0], [10.0, 2.0], [3.0, 9.0], [7.0, 7.0]];
        let to: Vec<[f32; 2]> = from.iter().map(|&p| truth.apply(p)).collect();
        let fitted = Similarity::fit(&from, &to);
        for (got, want) in [fitted.a, fitted.b, fitted.offset[0], fitted.offset[1]].iter().zip([1.2, -0.5, 30.0, -4.0]) {
            assert!((got - want).abs() < 1e-4, "{fitted:?}");
        }
    }

    #[test]
    fn the_chip_puts_the_eyes_where_the_mean_face_has_them() {
        // A grey image with two bright eyes; the chip must show them level, at the template's place.
        let (width, height) = (200, 200);
        let mut pixels = vec![60u8; width * height * 3];
        let eyes = [[80.0f32, 90.0], [124.0, 82.0]];
        for eye in eyes {
            for y in (eye[1] as usize - 2)..(eye[1] as usize + 2) {
                for x in (eye[0] as usize - 2)..(eye[0] as usize + 2) {
                    pixels[(y * width + x) * 3..][..3].copy_from_slice(&[250, 250, 250]);
                }
            }
        }
        let image = RgbImage::new(width, height, pixels);
        let (dx, dy) = (eyes[1][0] - eyes[0][0], eyes[1][1] - eyes[0][1]);
        // Nose and mouth below the eyes' midpoint, perpendicular to the eye line.
        let mid = [(eyes[0][0] + eyes[1][0]) / 2.0, (eyes[0][1] + eyes[1][1]) / 2.0];
        let along = |t: f32| [mid[0] - dy * t, mid[1] + dx * t];
        let face = Face { bbox: [60.0, 60.0, 90.0, 90.0], keypoints: [eyes[0], eyes[1], along(0.57), along(1.1), [0.0; 2], [0.0; 2]], score: 1.0 };
        let chip = face.aligned_chip(&image, 150);
        let brightness = |x: usize, y: usize| chip.pixels[(y * 150 + x) * 3] as u32;
        let expected = |p: [f32; 2]| ((CHIP_PADDING + p[0]) / 1.5 * 150.0, (CHIP_PADDING + p[1]) / 1.5 * 150.0);
        for eye in [MEAN_FACE[0], MEAN_FACE[1]] {
            let (x, y) = expected(eye);
            assert!(brightness(x as usize, y as usize) > 150, "no eye at {x},{y}");
        }
        assert!(brightness(75, 140) < 100);
    }
}
