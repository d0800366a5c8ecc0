//! BlazeFace's SSD side: MediaPipe's anchors, which the regressions are relative to, and the
//! weighted non-maximum suppression that merges the detections of neighbouring anchors.

use super::face::Face;
use super::network::{COARSE_ANCHORS, FINE_ANCHORS};

/// Anchor centres in [0, 1] (MediaPipe's SSD anchors for this model: strides 8, 16, 16, 16,
/// offset 0.5, fixed size; the three stride-16 layers share one 8x8 grid).
pub(super) fn anchors() -> Vec<(f32, f32)> {
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
}
