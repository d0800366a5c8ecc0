//! The reference experiment's steps, shared by the `evaluate` command and the tests: embed a
//! photo collection once, then train and test on any split of the cached embeddings.

use burn::tensor::Device;

use crate::backbone::Backbone;
use crate::head::{CentroidClassifier, EpochStats, HeadConfig};
use crate::metrics::{ConfusionMatrix, Split};
use crate::preprocess::RgbImage;

/// Decodes and crops each photo file (the LFW reference crop, or the centred square).
#[cfg(not(target_arch = "wasm32"))]
pub fn face_crops(paths: &[std::path::PathBuf]) -> Result<Vec<RgbImage>, crate::dataset::DataError> {
    paths.iter().map(|path| Ok(crate::dataset::read_photo(path)?.face_crop())).collect()
}

/// Decodes each photo and crops the face the detector finds nearest its centre (`None` where
/// it finds none), as an aligned chip of `aligned_side` pixels where given: the reference
/// experiment without the reference crop.
#[cfg(not(target_arch = "wasm32"))]
pub fn detected_face_crops(
    paths: &[std::path::PathBuf],
    detector: &crate::detector::Detector,
    aligned_side: Option<usize>,
) -> Result<Vec<Option<RgbImage>>, crate::dataset::DataError> {
    paths
        .iter()
        .map(|path| {
            let photo = crate::dataset::read_photo(path)?;
            let faces = detector.detect_now(&photo);
            let face = crate::detector::Face::central(&faces, photo.width, photo.height);
            Ok(face.map(|face| match aligned_side {
                Some(side) => face.aligned_chip(&photo, side),
                None => face.backbone_crop(&photo),
            }))
        })
        .collect()
}

/// One embedding per face, computed in batches of `batch`.
pub fn embed_all(backbone: &Backbone, faces: &[RgbImage], batch: usize) -> Vec<Vec<f32>> {
    faces.chunks(batch.max(1)).flat_map(|chunk| backbone.embed(chunk)).collect()
}

/// Test results of the dense head and of the centroid classifier on one split.
pub struct SplitOutcome {
    pub head: ConfusionMatrix,
    pub centroid: ConfusionMatrix,
    pub history: Vec<EpochStats>,
}

pub fn evaluate_split(
    embeddings: &[Vec<f32>],
    labels: &[usize],
    classes: usize,
    split: &Split,
    head: &HeadConfig,
    device: &Device,
    on_epoch: impl FnMut(&EpochStats),
) -> SplitOutcome {
    let (train_x, train_y) = Split::pick(embeddings, labels, &split.train);
    let (test_x, test_y) = Split::pick(embeddings, labels, &split.test);
    let trained = head.train(&train_x, &train_y, classes, device, on_epoch);
    let centroid = CentroidClassifier::fit(&train_x, &train_y, classes);
    SplitOutcome {
        head: ConfusionMatrix::new(classes, &test_y, &trained.predict(&test_x)),
        centroid: ConfusionMatrix::new(classes, &test_y, &centroid.predict(&test_x)),
        history: trained.history,
    }
}
