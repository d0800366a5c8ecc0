//! Open set: telling "someone not enrolled" apart from the enrolled people. A softmax head always
//! names somebody, so the page also measures how similar a face is to the nearest enrolled
//! person's photos (cosine to their centroid) and calls it unknown below a threshold calibrated on
//! the held-out photos: genuine pairs (a photo and its own person) against impostor pairs (a photo
//! and the most similar other person, which is what a stranger looks like to the model).

use serde::{Deserialize, Serialize};

use crate::head::{CentroidClassifier, argmax};
use crate::model::TrainedModel;
use crate::roster::Roster;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnknownThreshold {
    /// Cosine similarity to the nearest person's centroid below which a face is unknown.
    pub similarity: f32,
    /// On the held-out photos: the share of genuine pairs at or above it...
    pub genuine_accepted: f64,
    /// ...and the share of impostor pairs below it.
    pub impostors_rejected: f64,
    pub held_out: usize,
    /// Each person's own threshold (in the model's name order), balanced the same way on their
    /// held-out photos against everyone else's; `None` where they had none held out.
    #[serde(default)]
    pub per_person: Vec<Option<f32>>,
}

impl UnknownThreshold {
    /// The threshold for the person at `index` in the model's names: their own, else the shared one.
    pub fn for_person(&self, index: usize) -> f32 {
        self.per_person.get(index).copied().flatten().unwrap_or(self.similarity)
    }
}

/// The share of genuine scores at or above `t`, and of impostor scores below it.
fn rates(genuine: &[f32], impostors: &[f32], t: f32) -> (f64, f64) {
    let accepted = genuine.iter().filter(|&&s| s >= t).count() as f64 / genuine.len() as f64;
    let rejected = impostors.iter().filter(|&&s| s < t).count() as f64 / impostors.len() as f64;
    (accepted, rejected)
}

/// The threshold where the share of genuine scores refused equals the share of impostor scores
/// accepted: halfway between neighbouring observed scores, ties going to the higher accuracy.
pub fn balanced(genuine: &[f32], impostors: &[f32]) -> Option<f32> {
    if genuine.is_empty() || impostors.is_empty() {
        return None;
    }
    let mut scores: Vec<f32> = genuine.iter().chain(impostors).copied().collect();
    scores.sort_by(f32::total_cmp);
    let best = scores
        .windows(2)
        .map(|w| (w[0] + w[1]) / 2.0)
        .map(|t| {
            let (accepted, rejected) = rates(genuine, impostors, t);
            (((1.0 - accepted) - (1.0 - rejected)).abs(), -(accepted + rejected), t)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)))?;
    Some(best.2)
}

/// Calibrates on held-out photos (`None` without any, or with a single person): the threshold
/// where the share of genuine pairs refused equals the share of impostor pairs accepted.
pub fn calibrate(centroids: &CentroidClassifier, held_out: &[Vec<f32>], labels: &[usize]) -> Option<UnknownThreshold> {
    let mut genuine = Vec::new();
    let mut impostors = Vec::new();
    for (embedding, &label) in held_out.iter().zip(labels) {
        let similarities = centroids.similarities(embedding);
        if similarities.len() < 2 {
            return None;
        }
        genuine.push(similarities[label]);
        let nearest_other = similarities.iter().enumerate().filter(|(c, _)| *c != label).map(|(_, s)| *s).fold(f32::MIN, f32::max);
        impostors.push(nearest_other);
    }
    let similarity = balanced(&genuine, &impostors)?;
    let (genuine_accepted, impostors_rejected) = rates(&genuine, &impostors, similarity);
    // Per person: their held-out photos' similarity to their own centroid against the others'.
    let people = centroids.similarities(&held_out[0]).len();
    let per_person = (0..people)
        .map(|person| {
            let scores = |own: bool| -> Vec<f32> {
                let photos = held_out.iter().zip(labels).filter(|&(_, &l)| (l == person) == own);
                photos.map(|(embedding, _)| centroids.similarities(embedding)[person]).collect()
            };
            balanced(&scores(true), &scores(false))
        })
        .collect();
    Some(UnknownThreshold { similarity, genuine_accepted, impostors_rejected, held_out: genuine.len(), per_person })
}

/// What the page says of a face.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Known { name: String, confidence: f32 },
    /// Less similar to the closest person's photos than the calibrated threshold.
    UnlikeAnyone { closest: String, similarity: f32, threshold: f32 },
    /// The head's confidence is below the user's minimum.
    Unsure { closest: String, confidence: f32 },
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Known { name, confidence } => write!(f, "{name} ({:.1}% confident)", 100.0 * confidence),
            Self::UnlikeAnyone { closest, similarity, threshold } => {
                write!(f, "unknown (closest: {closest}, similarity {similarity:.2} < {threshold:.2})")
            }
            Self::Unsure { closest, confidence } => write!(f, "unknown (closest: {closest}, {:.1}%)", 100.0 * confidence),
        }
    }
}

/// Decides "unknown" for a trained model: the calibrated similarity to the enrolled photos'
/// centroids (where every person the head knows still has photos), then the minimum confidence.
pub struct OpenSet {
    names: Vec<String>,
    centroids: Option<(CentroidClassifier, UnknownThreshold)>,
    min_confidence: f32,
}

impl OpenSet {
    /// `min_confidence` is a probability (0..1).
    pub fn new(model: &TrainedModel, roster: &Roster, min_confidence: f32) -> Self {
        let centroids = model.unknown.clone().and_then(|t| Some((roster.centroids(&model.names, model.backbone)?, t)));
        Self { names: model.names.clone(), centroids, min_confidence }
    }

    /// The verdict on a face from the head's probabilities and the face's embedding.
    pub fn verdict(&self, probabilities: &[f32], embedding: &[f32]) -> Verdict {
        let best = argmax(probabilities);
        let confidence = probabilities[best];
        let closest = self.names.get(best).cloned().unwrap_or_else(|| "?".into());
        let similarity = self.centroids.as_ref().map(|(c, t)| (c.similarities(embedding)[best], t.similarity));
        match similarity {
            Some((similarity, threshold)) if similarity < threshold => Verdict::UnlikeAnyone { closest, similarity, threshold },
            _ if confidence < self.min_confidence => Verdict::Unsure { closest, confidence },
            _ => Verdict::Known { name: closest, confidence },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::BackboneId;
    use crate::roster::Photo;

    #[test]
    fn threshold_separates_genuine_from_impostor_similarities() {
        let train = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]];
        let centroids = CentroidClassifier::fit(&train, &[0, 1, 2], 3);
        let held_out = vec![vec![0.9, 0.1, 0.0], vec![0.1, 0.9, 0.1], vec![0.0, 0.2, 0.9]];
        let t = calibrate(&centroids, &held_out, &[0, 1, 2]).unwrap();
        assert_eq!((t.genuine_accepted, t.impostors_rejected, t.held_out), (1.0, 1.0, 3));
        // Halfway between the best impostor (0.2 / |(0, .2, .9)|) and the worst genuine pair.
        assert!(t.similarity > 0.3 && t.similarity < 0.95, "{t:?}");
        assert_eq!(t.per_person.len(), 3);
        assert!(t.per_person.iter().all(|p| p.is_some_and(|s| s > 0.0 && s < 0.95)), "{t:?}");
        assert_eq!(t.for_person(7), t.similarity);
        assert_eq!(calibrate(&centroids, &[], &[]), None);
    }

    #[test]
    fn verdicts_follow_the_threshold_then_the_confidence() {
        let mut roster = Roster::default();
        for (name, embedding) in [("Ada", vec![1.0, 0.0]), ("Bob", vec![0.0, 1.0])] {
            let id = roster.add_person(name).unwrap();
            roster.add_photo(id, Photo::new(format!("{name}.jpg"), BackboneId::FaceRes, embedding, Vec::new(), None));
        }
        let threshold = UnknownThreshold { similarity: 0.8, genuine_accepted: 1.0, impostors_rejected: 1.0, held_out: 2, per_person: Vec::new() };
        let names = vec!["Ada".into(), "Bob".into()];
        let model = TrainedModel { backbone: BackboneId::FaceRes, names, head: Vec::new(), unknown: Some(threshold), report: None };
        let open_set = OpenSet::new(&model, &roster, 0.5);
        let known = open_set.verdict(&[0.9, 0.1], &[1.0, 0.1]);
        assert_eq!(known.to_string(), "Ada (90.0% confident)");
        assert!(matches!(open_set.verdict(&[0.9, 0.1], &[1.0, 1.0]), Verdict::UnlikeAnyone { ref closest, .. } if closest == "Ada"));
        let strict = OpenSet::new(&model, &roster, 0.7);
        assert_eq!(strict.verdict(&[0.4, 0.6], &[0.0, 1.0]).to_string(), "unknown (closest: Bob, 60.0%)");
        // Bob deleted since training: no centroids, only the confidence decides.
        roster.remove_person(roster.by_name("Bob").unwrap().id);
        let without = OpenSet::new(&model, &roster, 0.5);
        assert!(matches!(without.verdict(&[0.9, 0.1], &[1.0, 1.0]), Verdict::Known { .. }));
    }
}
