//! Grouping faces nobody named: average-linkage agglomerative clustering on L2-normalised
//! embeddings, cut at a cosine similarity, so that a group is only made of faces that are, on
//! average, that similar to each other; groups smaller than a minimum size stay ungrouped (noise)
//! rather than being forced into one. New faces join incrementally (`Groups::add`): the nearest
//! group by average similarity above the cut, else a group of their own, without redoing the rest.
//! `bcubed` scores a grouping against the truth (precision and recall per face).

use crate::head::l2_normalized;

/// How faces are grouped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clustering {
    /// Two groups merge while their average pairwise cosine similarity is at least this.
    pub cut: f32,
    /// Groups with fewer faces are left ungrouped.
    pub min_size: usize,
}

impl Default for Clustering {
    fn default() -> Self {
        Self { cut: 0.5, min_size: 2 }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The faces grouped so far: each group's members (indices in the order faces were given).
#[derive(Clone, Debug, PartialEq)]
pub struct Groups {
    clustering: Clustering,
    faces: Vec<Vec<f32>>,
    members: Vec<Vec<usize>>,
}

impl Groups {
    /// Groups `embeddings` from scratch.
    pub fn new(clustering: Clustering, embeddings: &[Vec<f32>]) -> Self {
        let faces: Vec<Vec<f32>> = embeddings.iter().map(|e| l2_normalized(e)).collect();
        let n = faces.len();
        // Average linkage: the similarity sum between groups, updated as they merge.
        let mut sums: Vec<Vec<f32>> = (0..n).map(|i| (0..n).map(|j| dot(&faces[i], &faces[j])).collect()).collect();
        let mut members: Vec<Option<Vec<usize>>> = (0..n).map(|i| Some(vec![i])).collect();
        loop {
            let mut best: Option<(usize, usize, f32)> = None;
            for a in 0..n {
                let Some(ma) = &members[a] else { continue };
                for b in (a + 1)..n {
                    let Some(mb) = &members[b] else { continue };
                    let average = sums[a][b] / (ma.len() * mb.len()) as f32;
                    if average >= clustering.cut && best.is_none_or(|(_, _, s)| average > s) {
                        best = Some((a, b, average));
                    }
                }
            }
            let Some((a, b, _)) = best else { break };
            let merged = members[b].take().expect("b is a group");
            members[a].as_mut().expect("a is a group").extend(merged);
            let merged_row: Vec<f32> = sums[a].iter().zip(&sums[b]).map(|(x, y)| x + y).collect();
            for (row, &sum) in sums.iter_mut().zip(&merged_row) {
                row[a] = sum;
            }
            sums[a] = merged_row;
        }
        Self { clustering, faces, members: members.into_iter().flatten().collect() }
    }

    /// Adds one face: it joins the group it is most similar to on average (at least the cut),
    /// or starts its own. Returns its index.
    pub fn add(&mut self, embedding: &[f32]) -> usize {
        let face = l2_normalized(embedding);
        let index = self.faces.len();
        let average = |group: &Vec<usize>| group.iter().map(|&i| dot(&self.faces[i], &face)).sum::<f32>() / group.len() as f32;
        let nearest = self.members.iter().enumerate().map(|(g, group)| (g, average(group))).max_by(|a, b| a.1.total_cmp(&b.1));
        self.faces.push(face);
        match nearest {
            Some((g, similarity)) if similarity >= self.clustering.cut => self.members[g].push(index),
            _ => self.members.push(vec![index]),
        }
        index
    }

    /// Each group's members (indices in the order faces were given), groups of one included.
    pub fn members(&self) -> &[Vec<usize>] {
        &self.members
    }

    /// Each face's group (numbered from 0, largest first), or `None` where its group is smaller
    /// than the minimum size.
    pub fn labels(&self) -> Vec<Option<usize>> {
        let mut groups: Vec<&Vec<usize>> = self.members.iter().filter(|m| m.len() >= self.clustering.min_size).collect();
        groups.sort_by_key(|m| std::cmp::Reverse(m.len()));
        let mut labels = vec![None; self.faces.len()];
        for (label, group) in groups.iter().enumerate() {
            for &face in group.iter() {
                labels[face] = Some(label);
            }
        }
        labels
    }
}

/// BCubed precision, recall and F1 of a grouping against the truth; an ungrouped face counts as
/// a group of its own.
pub fn bcubed(truth: &[usize], predicted: &[Option<usize>]) -> (f64, f64, f64) {
    let n = truth.len();
    if n == 0 {
        return (1.0, 1.0, 1.0);
    }
    let same_group = |i: usize, j: usize| i == j || matches!((predicted[i], predicted[j]), (Some(a), Some(b)) if a == b);
    let (mut precision, mut recall) = (0.0, 0.0);
    for i in 0..n {
        let group: Vec<usize> = (0..n).filter(|&j| same_group(i, j)).collect();
        let correct = group.iter().filter(|&&j| truth[j] == truth[i]).count() as f64;
        precision += correct / group.len() as f64;
        recall += correct / truth.iter().filter(|&&t| t == truth[i]).count() as f64;
    }
    let (precision, recall) = (precision / n as f64, recall / n as f64);
    (precision, recall, 2.0 * precision * recall / (precision + recall))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// `people` tight clusters of `each` faces around random directions in 64-d, plus `strays`
    /// faces that belong to nobody.
    fn synthetic(people: usize, each: usize, strays: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let random = |rng: &mut SmallRng| (0..64).map(|_| rng.random_range(-1.0f32..1.0)).collect::<Vec<f32>>();
        let centres: Vec<Vec<f32>> = (0..people).map(|_| l2_normalized(&random(&mut rng))).collect();
        let (mut faces, mut truth) = (Vec::new(), Vec::new());
        for (p, centre) in centres.iter().enumerate() {
            for _ in 0..each {
                let noise = random(&mut rng);
                faces.push(centre.iter().zip(&noise).map(|(c, n)| c + 0.08 * n).collect());
                truth.push(p);
            }
        }
        for s in 0..strays {
            faces.push(random(&mut rng));
            truth.push(people + s);
        }
        (faces, truth)
    }

    #[test]
    fn separate_people_become_separate_groups_and_strays_stay_ungrouped() {
        let (faces, truth) = synthetic(4, 10, 3, 1);
        let labels = Groups::new(Clustering::default(), &faces).labels();
        assert_eq!(labels.iter().flatten().max(), Some(&3), "four groups: {labels:?}");
        assert!(labels[40..].iter().all(Option::is_none), "strays are not forced into a group: {labels:?}");
        assert_eq!(bcubed(&truth, &labels), (1.0, 1.0, 1.0));
    }

    #[test]
    fn adding_faces_extends_the_groups_without_regrouping() {
        let (faces, truth) = synthetic(3, 8, 0, 2);
        let mut groups = Groups::new(Clustering::default(), &faces[..18]);
        for face in &faces[18..] {
            groups.add(face);
        }
        let (_, _, f1) = bcubed(&truth, &groups.labels());
        assert!(f1 > 0.99, "incremental F1 {f1}");
        // A face unlike every group starts its own (and stays ungrouped while alone).
        let stranger: Vec<f32> = faces[0].iter().map(|v| -v).collect();
        let index = groups.add(&stranger);
        assert_eq!(groups.labels()[index], None);
    }

    #[test]
    fn bcubed_penalises_merged_and_split_people() {
        let truth = [0, 0, 1, 1];
        let (p, r, _) = bcubed(&truth, &[Some(0), Some(0), Some(0), Some(0)]);
        assert_eq!((p, r), (0.5, 1.0));
        let (p, r, _) = bcubed(&truth, &[None, None, None, None]);
        assert_eq!((p, r), (1.0, 0.5));
    }
}
