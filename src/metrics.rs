//! Train/test splits per person, accuracy and the confusion matrix.

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand::seq::SliceRandom;

/// Indices of the training and the test photos.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
}

fn indices_by_class(labels: &[usize]) -> Vec<Vec<usize>> {
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    let mut by_class = vec![Vec::new(); classes];
    for (i, &label) in labels.iter().enumerate() {
        by_class[label].push(i);
    }
    by_class
}

/// Splits each person's photos, shuffled with `seed`, keeping `take_train(n)` of their `n` photos
/// for training and the rest for testing.
fn split_per_class(labels: &[usize], seed: u64, take_train: impl Fn(usize) -> usize) -> Split {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut split = Split { train: Vec::new(), test: Vec::new() };
    for mut members in indices_by_class(labels) {
        members.shuffle(&mut rng);
        let train = take_train(members.len()).min(members.len());
        split.train.extend_from_slice(&members[..train]);
        split.test.extend_from_slice(&members[train..]);
    }
    split.train.sort_unstable();
    split.test.sort_unstable();
    split
}

/// A stratified split: `test_fraction` of each person's photos (rounded) are held out, at least
/// one where the person has two or more, never all of them.
pub fn stratified_split(labels: &[usize], test_fraction: f64, seed: u64) -> Split {
    split_per_class(labels, seed, |n| {
        if n < 2 {
            return n;
        }
        let test = ((n as f64) * test_fraction).round() as usize;
        n - test.clamp(1, n - 1)
    })
}

/// A few-shot split: `shots` photos of each person to enroll, the rest to test on.
pub fn shots_split(labels: &[usize], shots: usize, seed: u64) -> Split {
    split_per_class(labels, seed, |_| shots)
}

impl Split {
    /// The embeddings and labels at `indices` (one side of a split).
    pub fn pick<T: Clone>(items: &[T], labels: &[usize], indices: &[usize]) -> (Vec<T>, Vec<usize>) {
        (indices.iter().map(|&i| items[i].clone()).collect(), indices.iter().map(|&i| labels[i]).collect())
    }
}

/// Rows are the true person, columns the predicted one.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfusionMatrix {
    pub counts: Vec<Vec<usize>>,
}

impl ConfusionMatrix {
    pub fn new(classes: usize, truth: &[usize], predicted: &[usize]) -> Self {
        assert_eq!(truth.len(), predicted.len());
        let mut counts = vec![vec![0; classes]; classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            counts[t][p] += 1;
        }
        Self { counts }
    }

    /// Adds another matrix's counts (e.g. summing over repeated splits).
    pub fn add(&mut self, other: &ConfusionMatrix) {
        for (row, other_row) in self.counts.iter_mut().zip(&other.counts) {
            for (cell, add) in row.iter_mut().zip(other_row) {
                *cell += add;
            }
        }
    }

    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    pub fn accuracy(&self) -> f64 {
        let correct: usize = (0..self.counts.len()).map(|i| self.counts[i][i]).sum();
        correct as f64 / self.total().max(1) as f64
    }

    /// Accuracy for each true person (`None` where they had no test photo).
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        self.counts
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let n: usize = row.iter().sum();
                (n > 0).then(|| row[i] as f64 / n as f64)
            })
            .collect()
    }

    /// A text table with the people's names, true persons down, predictions across.
    pub fn render(&self, names: &[String]) -> String {
        let label_width = names.iter().map(String::len).max().unwrap_or(0).max(10);
        let column_width = names.iter().map(|n| short(n).len()).max().unwrap_or(0).max(5);
        let mut out = format!("{:label_width$}", "true \\ predicted");
        for name in names {
            out += &format!(" {:>column_width$}", short(name));
        }
        out += "   accuracy\n";
        for ((name, row), accuracy) in names.iter().zip(&self.counts).zip(self.per_class_accuracy()) {
            out += &format!("{name:label_width$}");
            for count in row {
                out += &format!(" {count:>column_width$}");
            }
            out += &match accuracy {
                Some(a) => format!("   {:.3}\n", a),
                None => "   -\n".to_string(),
            };
        }
        out
    }
}

/// A column header: the last part of a name (`George_W_Bush` -> `Bush`).
fn short(name: &str) -> &str {
    name.rsplit(['_', ' ']).next().unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_split_holds_out_a_fifth_of_each_person() {
        let labels: Vec<usize> = (0..5).flat_map(|c| std::iter::repeat_n(c, 100)).collect();
        let split = stratified_split(&labels, 0.2, 42);
        assert_eq!((split.train.len(), split.test.len()), (400, 100));
        for class in 0..5 {
            assert_eq!(split.test.iter().filter(|&&i| labels[i] == class).count(), 20);
        }
        assert_ne!(split, stratified_split(&labels, 0.2, 43));
        assert_eq!(split, stratified_split(&labels, 0.2, 42));
    }

    #[test]
    fn small_classes_keep_one_test_photo_and_singletons_train() {
        let labels = vec![0, 0, 1, 2, 2, 2];
        let split = stratified_split(&labels, 0.2, 1);
        let test_labels: Vec<usize> = split.test.iter().map(|&i| labels[i]).collect();
        assert_eq!(test_labels.iter().filter(|&&l| l == 0).count(), 1);
        assert_eq!(test_labels.iter().filter(|&&l| l == 1).count(), 0);
        assert_eq!(test_labels.iter().filter(|&&l| l == 2).count(), 1);
    }

    #[test]
    fn shots_split_enrolls_k_per_person() {
        let labels = vec![0, 0, 0, 0, 1, 1, 1];
        let split = shots_split(&labels, 2, 0);
        assert_eq!((split.train.len(), split.test.len()), (4, 3));
    }

    #[test]
    fn confusion_matrix_counts_and_accuracy() {
        let m = ConfusionMatrix::new(3, &[0, 0, 1, 2, 2], &[0, 1, 1, 2, 0]);
        assert_eq!(m.counts, vec![vec![1, 1, 0], vec![0, 1, 0], vec![1, 0, 1]]);
        assert!((m.accuracy() - 0.6).abs() < 1e-9);
        assert_eq!(m.per_class_accuracy(), vec![Some(0.5), Some(1.0), Some(0.5)]);
        let names: Vec<String> = ["Colin_Powell", "Tony_Blair", "George_W_Bush"].map(String::from).to_vec();
        let table = m.render(&names);
        assert!(table.contains("Powell") && table.contains("George_W_Bush"), "{table}");
    }
}
