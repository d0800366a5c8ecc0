//! Open set: telling "someone not enrolled" apart from the enrolled people. A softmax head always
//! names somebody, so the page also measures how similar a face is to the nearest enrolled
//! person's photos (cosine to their centroid) and calls it unknown below a threshold calibrated on
//! the held-out photos: genuine pairs (a photo and its own person) against impostor pairs (a photo
//! and the most similar other person, which is what a stranger looks like to the model).

use serde::{Deserialize, Serialize};

use crate::head::CentroidClassifier;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UnknownThreshold {
    /// Cosine similarity to the nearest person's centroid below which a face is unknown.
    pub similarity: f32,
    /// On the held-out photos: the share of genuine pairs at or above it...
    pub genuine_accepted: f64,
    /// ...and the share of impostor pairs below it.
    pub impostors_rejected: f64,
    pub held_out: usize,
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
    if genuine.is_empty() {
        return None;
    }
    let rates = |t: f32| {
        let accepted = genuine.iter().filter(|&&s| s >= t).count() as f64 / genuine.len() as f64;
        let rejected = impostors.iter().filter(|&&s| s < t).count() as f64 / impostors.len() as f64;
        (accepted, rejected)
    };
    // Candidate thresholds: halfway between neighbouring observed scores; the best balances the
    // two error rates, ties going to the higher accuracy overall.
    let mut scores: Vec<f32> = genuine.iter().chain(&impostors).copied().collect();
    scores.sort_by(f32::total_cmp);
    let best = scores
        .windows(2)
        .map(|w| (w[0] + w[1]) / 2.0)
        .map(|t| {
            let (accepted, rejected) = rates(t);
            (((1.0 - accepted) - (1.0 - rejected)).abs(), -(accepted + rejected), t)
        })
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)))?;
    let similarity = best.2;
    let (genuine_accepted, impostors_rejected) = rates(similarity);
    Some(UnknownThreshold { similarity, genuine_accepted, impostors_rejected, held_out: genuine.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_separates_genuine_from_impostor_similarities() {
        let train = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]];
        let centroids = CentroidClassifier::fit(&train, &[0, 1, 2], 3);
        let held_out = vec![vec![0.9, 0.1, 0.0], vec![0.1, 0.9, 0.1], vec![0.0, 0.2, 0.9]];
        let t = calibrate(&centroids, &held_out, &[0, 1, 2]).unwrap();
        assert_eq!((t.genuine_accepted, t.impostors_rejected, t.held_out), (1.0, 1.0, 3));
        // Halfway between the best impostor (0.2 / |(0, .2, .9)|) and the worst genuine pair.
        assert!(t.similarity > 0.3 && t.similarity < 0.95, "{t:?}");
        assert_eq!(calibrate(&centroids, &[], &[]), None);
    }
}
