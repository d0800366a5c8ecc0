//! Training as the page does it, minus the worker: which photos train and which test (a
//! stratified split of the roster), and what is kept of a trained head: its class names, its
//! weights, its test report and the calibrated unknown threshold.

use serde::{Deserialize, Serialize};

use crate::backbone::BackboneId;
use crate::head::CentroidClassifier;
use crate::metrics::{ConfusionMatrix, Split, stratified_split};
use crate::openset::{UnknownThreshold, calibrate};
use crate::roster::Roster;

/// What training measured on the held-out photos.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub names: Vec<String>,
    pub confusion: ConfusionMatrix,
    pub train_photos: usize,
}

fn faceres() -> BackboneId {
    BackboneId::FaceRes
}

/// A trained head (safetensors, as the worker saved it) with the names of its classes, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    /// The backbone whose embeddings it was trained on (models saved before there was a choice:
    /// faceres).
    #[serde(default = "faceres")]
    pub backbone: BackboneId,
    /// The people the head tells apart, in the order of its outputs.
    pub names: Vec<String>,
    #[serde(rename = "safetensors", with = "crate::encoding::base64_bytes")]
    pub head: Vec<u8>,
    /// Calibrated on the held-out photos; absent where none were held out.
    #[serde(default)]
    pub unknown: Option<UnknownThreshold>,
    /// The test report; absent for a model imported from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("Enroll at least two people with photos first.")]
    TooFewPeople,
    #[error("{missing} photo(s) are not embedded with {backbone} yet: wait until they are, or embed them (Backbone panel).")]
    NotEmbedded { backbone: &'static str, missing: usize },
    #[error("Nobody's photos can be embedded with {0} (saved before face pictures were kept): add them again.")]
    NothingEmbedded(&'static str),
}

/// The photos of a training run, split per person; people without photos are left out.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingPlan {
    pub backbone: BackboneId,
    pub names: Vec<String>,
    /// People left out for having no photo yet.
    pub skipped: Vec<String>,
    pub train: (Vec<Vec<f32>>, Vec<usize>),
    pub test: (Vec<Vec<f32>>, Vec<usize>),
}

impl TrainingPlan {
    /// Holds out `test_fraction` of each person's photos (see `stratified_split`), shuffled by
    /// `seed`, with their `backbone` embeddings.
    pub fn new(roster: &Roster, backbone: BackboneId, test_fraction: f64, seed: u64) -> Result<Self, PlanError> {
        let (people, empty): (Vec<_>, Vec<_>) = roster.people().iter().partition(|p| !p.photos.is_empty());
        if people.len() < 2 {
            return Err(PlanError::TooFewPeople);
        }
        let names: Vec<String> = people.iter().map(|p| p.name.clone()).collect();
        // A photo the backbone can still embed is waited for, not silently left out.
        let missing = roster.missing_embeddings(backbone).0;
        if missing > 0 {
            return Err(PlanError::NotEmbedded { backbone: backbone.spec().name, missing });
        }
        let (embeddings, labels) = roster.labelled_embeddings(&names, backbone);
        if (0..names.len()).any(|label| !labels.contains(&label)) {
            return Err(PlanError::NothingEmbedded(backbone.spec().name));
        }
        let split = stratified_split(&labels, test_fraction, seed);
        Ok(Self {
            backbone,
            names,
            skipped: empty.iter().map(|p| p.name.clone()).collect(),
            train: Split::pick(&embeddings, &labels, &split.train),
            test: Split::pick(&embeddings, &labels, &split.test),
        })
    }

    /// The model from the head trained on this plan and its predictions for the test photos:
    /// the test report, and the unknown threshold calibrated on the same held-out photos.
    pub fn finish(self, head: Vec<u8>, test_predictions: &[usize]) -> TrainedModel {
        let classes = self.names.len();
        let confusion = ConfusionMatrix::new(classes, &self.test.1, test_predictions);
        let centroids = CentroidClassifier::fit(&self.train.0, &self.train.1, classes);
        let unknown = calibrate(&centroids, &self.test.0, &self.test.1);
        let report = Report { names: self.names.clone(), confusion, train_photos: self.train.0.len() };
        TrainedModel { backbone: self.backbone, names: self.names, head, unknown, report: Some(report) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roster::Photo;

    const FACERES: BackboneId = BackboneId::FaceRes;

    fn roster(photos_per_person: &[usize]) -> Roster {
        let mut roster = Roster::default();
        for (i, &n) in photos_per_person.iter().enumerate() {
            let id = roster.add_person(&format!("P{i}")).unwrap();
            for k in 0..n {
                let mut embedding = vec![0.1 * k as f32; 4];
                embedding[i] = 1.0;
                let photo = Photo::new(format!("{i}-{k}.jpg"), FACERES, embedding, b"\x89PNG\r\n\x1a\n".to_vec(), None);
                roster.add_photo(id, photo);
            }
        }
        roster
    }

    #[test]
    fn splits_each_person_and_leaves_out_people_without_photos() {
        let plan = TrainingPlan::new(&roster(&[10, 5, 0]), FACERES, 0.2, 42).unwrap();
        assert_eq!((plan.names.clone(), plan.skipped.clone()), (vec!["P0".to_string(), "P1".into()], vec!["P2".to_string()]));
        assert_eq!((plan.train.0.len(), plan.test.0.len()), (12, 3));
        assert_eq!(plan.test.1, vec![0, 0, 1]);
        assert_eq!(TrainingPlan::new(&roster(&[3, 0]), FACERES, 0.2, 42), Err(PlanError::TooFewPeople));
        // Photos without pictures (saved before they were kept) cannot be embedded by another backbone.
        let not_embedded = TrainingPlan::new(&roster(&[3, 3]), BackboneId::DlibResNet, 0.2, 42);
        assert_eq!(not_embedded, Err(PlanError::NothingEmbedded("dlib-resnet")));
        let mut waiting = roster(&[3, 3]);
        for person in waiting.people().to_vec() {
            for photo in &person.photos {
                waiting.set_embedding(photo.id, BackboneId::DlibResNet, vec![1.0; 4]);
            }
        }
        let last = waiting.people()[1].id;
        let mut photo = Photo::new("new.jpg".into(), FACERES, vec![0.5; 4], Vec::new(), None);
        photo.picture = Some(crate::roster::FacePicture { jpeg: b"\xff\xd8\xff".to_vec(), face: None });
        waiting.add_photo(last, photo);
        let plan = TrainingPlan::new(&waiting, BackboneId::DlibResNet, 0.2, 42);
        assert_eq!(plan, Err(PlanError::NotEmbedded { backbone: "dlib-resnet", missing: 1 }));
    }

    #[test]
    fn finishing_reports_the_test_photos_and_calibrates() {
        let plan = TrainingPlan::new(&roster(&[10, 10]), FACERES, 0.2, 1).unwrap();
        let truth = plan.test.1.clone();
        let model = plan.finish(vec![1, 2, 3], &truth);
        let report = model.report.as_ref().unwrap();
        assert_eq!((report.confusion.accuracy(), report.train_photos), (1.0, 16));
        assert_eq!(model.unknown.as_ref().map(|u| u.held_out), Some(4));
        let json = serde_json::to_string(&model).unwrap();
        assert_eq!(serde_json::from_str::<TrainedModel>(&json).unwrap(), model);
        // Nothing held out: no test photo, no threshold.
        let untested = TrainingPlan::new(&roster(&[1, 1]), FACERES, 0.2, 1).unwrap().finish(Vec::new(), &[]);
        assert_eq!((untested.report.unwrap().confusion.total(), untested.unknown), (0, None));
    }
}
