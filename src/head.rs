//! The only trained part: a dense softmax layer over cached embeddings, and a
//! nearest-class-centroid classifier that needs no training at all.
//!
//! The head reads unit-length embeddings, centred on the training set's mean, and minimises
//! cross-entropy plus a small L2 penalty: a convex problem, solved with a thousand full-batch
//! steps of Nesterov's accelerated gradient in plain f32. The steps run in the training set's Gram
//! coordinates (W = Xᵀ A), so one step costs n² x classes, not n x dim x classes: 400 photos of
//! 2048 values train in well under a second, in the page too. (The head used to be the reference's
//! Dense(1024, relu) -> Dense(n), trained with Adam for 10 epochs; heads saved then still load.)

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::activation::{relu, softmax};

#[derive(Config, Debug)]
pub struct HeadConfig {
    /// Full-batch gradient steps; the problem is convex, so more only polish the optimum.
    #[config(default = 1000)]
    pub steps: usize,
    /// Rounds the steps are reported in (the page's training chart, the tools' log).
    #[config(default = 10)]
    pub epochs: usize,
    /// The L2 penalty on the weights: it keeps them finite when the people are separable and makes
    /// the optimum unique. Small: on LFW-5, resnet50-imagenet over 5 splits tests 0.914 at 1e-6,
    /// 0.908 at 1e-5, 0.880 at 1e-4, 0.830 at 1e-3 (faceres 1.000 at each).
    #[config(default = 1e-6)]
    pub weight_decay: f64,
}

#[derive(Module, Debug)]
pub struct DenseHead {
    /// Only in a head saved by the earlier two-layer design: a hidden Dense(relu) layer reading the
    /// raw embeddings.
    pub hidden: Option<Linear>,
    pub output: Linear,
}

impl DenseHead {
    pub fn logits(&self, embeddings: Tensor<2>) -> Tensor<2> {
        match &self.hidden {
            Some(hidden) => self.output.forward(relu(hidden.forward(embeddings))),
            None => {
                let norms = embeddings.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(f32::EPSILON);
                self.output.forward(embeddings / norms)
            }
        }
    }
}

/// Loss (the objective minimised: cross-entropy plus the L2 penalty) and training accuracy after
/// one round of steps.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f32,
    pub accuracy: f32,
}

/// A trained head, ready to classify embeddings.
pub struct TrainedHead {
    head: DenseHead,
    device: Device,
    pub history: Vec<EpochStats>,
}

fn matrix(rows: &[&[f32]], device: &Device) -> Tensor<2> {
    let dim = rows.first().map_or(0, |r| r.len());
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), dim]), device)
}

/// Eight running sums, so the compiler can keep them in SIMD lanes (one sum is a serial chain).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            sums[lane] += x[lane] * y[lane];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// Softmax regression in the Gram coordinates of n training rows: the weights are Xᵀ A, with A
/// kept one class per row (`classes` x n), so every product is a dot product of length n.
struct GramSoftmax<'a> {
    gram: &'a [f32],
    labels: &'a [usize],
    classes: usize,
    decay: f32,
}

/// The objective (mean cross-entropy plus the penalty), training accuracy and the gradient's
/// parts: each row's residual (per class) and the bias's.
struct Evaluation {
    loss: f64,
    correct: usize,
    residual: Vec<f32>,
    bias_gradient: Vec<f32>,
}

impl GramSoftmax<'_> {
    fn n(&self) -> usize {
        self.labels.len()
    }

    /// At the weights Xᵀ`a` and `bias`: each row's softmax minus its one-hot label, over n.
    fn evaluate(&self, a: &[f32], bias: &[f32]) -> Evaluation {
        let (n, k) = (self.n(), self.classes);
        let mut residual = vec![0f32; k * n];
        let mut bias_gradient = vec![0f32; k];
        let (mut loss, mut correct, mut squared_weights) = (0f64, 0, 0f64);
        let mut logits = vec![0f32; k];
        for (i, &label) in self.labels.iter().enumerate() {
            let row = &self.gram[i * n..(i + 1) * n];
            for (c, logit) in logits.iter_mut().enumerate() {
                let product = dot(row, &a[c * n..(c + 1) * n]);
                // |W|² = Σ_c a_cᵀ K a_c, from the same products.
                squared_weights += f64::from(a[c * n + i] * product);
                *logit = product + bias[c];
            }
            let top = argmax(&logits);
            correct += usize::from(top == label);
            let exps: Vec<f32> = logits.iter().map(|z| (z - logits[top]).exp()).collect();
            let total: f32 = exps.iter().sum();
            loss += f64::from(total.ln() - (logits[label] - logits[top]));
            for (c, e) in exps.iter().enumerate() {
                let g = (e / total - f32::from(u8::from(c == label))) / n as f32;
                residual[c * n + i] = g;
                bias_gradient[c] += g;
            }
        }
        let penalty = f64::from(self.decay) / 2.0 * squared_weights;
        Evaluation { loss: loss / n as f64 + penalty, correct, residual, bias_gradient }
    }

    /// The Gram matrix's largest eigenvalue (power iteration), which bounds the loss's curvature.
    fn largest_eigenvalue(&self) -> f32 {
        let n = self.n();
        // Not the ones vector: centred rows make it an eigenvector of eigenvalue 0.
        let mut v: Vec<f32> = (0..n).map(|i| ((i * 7919 % 61) as f32) - 30.0).collect();
        let mut eigenvalue = 0.0;
        for _ in 0..50 {
            let norm = dot(&v, &v).sqrt().max(f32::MIN_POSITIVE);
            let w: Vec<f32> = (0..n).map(|i| dot(&self.gram[i * n..(i + 1) * n], &v) / norm).collect();
            eigenvalue = dot(&w, &v) / norm;
            v = w;
        }
        eigenvalue
    }
}

impl HeadConfig {
    /// Trains on `embeddings` labelled `labels` (0..classes); `on_epoch` sees each round's stats.
    pub fn train(
        &self,
        embeddings: &[Vec<f32>],
        labels: &[usize],
        classes: usize,
        device: &Device,
        mut on_epoch: impl FnMut(&EpochStats),
    ) -> TrainedHead {
        assert_eq!(embeddings.len(), labels.len());
        assert!(!embeddings.is_empty(), "no training embeddings");
        let (n, dim) = (embeddings.len(), embeddings[0].len());
        let units: Vec<Vec<f32>> = embeddings.iter().map(|e| l2_normalized(e)).collect();
        let mut mean = vec![0f32; dim];
        for unit in &units {
            mean.iter_mut().zip(unit).for_each(|(m, x)| *m += x / n as f32);
        }
        let centred: Vec<f32> = units.iter().flat_map(|u| u.iter().zip(&mean).map(|(x, m)| x - m)).collect();
        let x = Tensor::<2>::from_data(TensorData::new(centred, [n, dim]), device);
        let gram: Vec<f32> = x.clone().matmul(x.clone().transpose()).into_data().convert::<f32>().try_into_vec().unwrap();
        let decay = self.weight_decay as f32;
        let problem = GramSoftmax { gram: &gram, labels, classes, decay };

        // Step 1/L for the curvature bound L = spread/2 + decay (softmax's Hessian is at most 1/2);
        // the bias is scaled to the same curvature, and the momentum is the strongly convex one.
        let spread = (problem.largest_eigenvalue() / n as f32).max(1e-3);
        let step = 1.0 / (spread / 2.0 + decay);
        let bias_step = step * spread;
        let condition = ((spread / 2.0 + decay) / decay.max(f32::EPSILON)).sqrt();
        let momentum = (condition - 1.0) / (condition + 1.0);

        let (mut a, mut bias) = (vec![0f32; classes * n], vec![0f32; classes]);
        let (mut a_before, mut bias_before) = (a.clone(), bias.clone());
        let rounds = self.epochs.max(1);
        let per_round = self.steps.div_ceil(rounds).max(1);
        let mut history = Vec::with_capacity(rounds);
        let mut last_loss = f64::INFINITY;
        for epoch in 1..=rounds {
            for _ in 0..per_round {
                let ahead = |now: &[f32], before: &[f32]| -> Vec<f32> { now.iter().zip(before).map(|(x, p)| x + momentum * (x - p)).collect() };
                let (a_ahead, bias_ahead) = (ahead(&a, &a_before), ahead(&bias, &bias_before));
                let at = problem.evaluate(&a_ahead, &bias_ahead);
                // Adaptive restart: where the objective rose, the momentum overshot; drop it.
                let restart = at.loss > last_loss;
                last_loss = at.loss;
                a_before = std::mem::replace(&mut a, a_ahead.iter().zip(&at.residual).map(|(v, g)| v - step * (g + decay * v)).collect());
                bias_before = std::mem::replace(&mut bias, bias_ahead.iter().zip(&at.bias_gradient).map(|(v, g)| v - bias_step * g).collect());
                if restart {
                    (a_before, bias_before) = (a.clone(), bias.clone());
                }
            }
            let now = problem.evaluate(&a, &bias);
            let stats = EpochStats { epoch, loss: now.loss as f32, accuracy: now.correct as f32 / n as f32 };
            on_epoch(&stats);
            history.push(stats);
        }

        // Back to the embedding's coordinates: W = Xᵀ A, and the mean folded into the bias.
        let a_rows = Tensor::<2>::from_data(TensorData::new(a, [classes, n]), device);
        let weight = x.transpose().matmul(a_rows.transpose());
        let weights: Vec<f32> = weight.clone().into_data().convert::<f32>().try_into_vec().unwrap();
        let folded: Vec<f32> = (0..classes).map(|c| bias[c] - (0..dim).map(|d| mean[d] * weights[d * classes + c]).sum::<f32>()).collect();
        let mut output = LinearConfig::new(dim, classes).init(device);
        output.weight = burn::module::Param::from_tensor(weight);
        output.bias = Some(burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(folded, [classes]), device)));
        TrainedHead { head: DenseHead { hidden: None, output }, device: device.clone(), history }
    }
}

/// Why a saved head could not be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum HeadError {
    #[error("not a saved model ({0})")]
    NotAHead(String),
    #[error("the saved model has no {0}")]
    MissingTensor(String),
    #[error("the saved model's layers do not fit together")]
    Misshapen,
    #[error("the saved model does not load ({0})")]
    Unloadable(String),
    #[error("the model could not be saved ({0})")]
    Unsavable(String),
}

impl TrainedHead {
    /// The head's weights as safetensors (for the page's storage and its export file).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, HeadError> {
        let mut store = SafetensorsStore::from_bytes(None);
        self.head.save_into(&mut store).map_err(|e| HeadError::Unsavable(e.to_string()))?;
        store.get_bytes().map_err(|e| HeadError::Unsavable(e.to_string()))
    }

    /// A head saved by `to_safetensors` (or an earlier two-layer one); its sizes come from
    /// the file, every tensor must be there.
    pub fn from_safetensors(bytes: &[u8], device: &Device) -> Result<Self, HeadError> {
        let file = safetensors::SafeTensors::deserialize(bytes).map_err(|e| HeadError::NotAHead(e.to_string()))?;
        let shape = |name: &str| file.tensor(name).map(|t| t.shape().to_vec()).map_err(|_| HeadError::MissingTensor(name.into()));
        let &[width, classes] = &shape("output.weight")?[..] else {
            return Err(HeadError::Misshapen);
        };
        let hidden = match file.tensor("hidden.weight") {
            Err(_) => None,
            Ok(hidden) => match hidden.shape() {
                &[inputs, w] if w == width => Some(LinearConfig::new(inputs, width).init(device)),
                _ => return Err(HeadError::Misshapen),
            },
        };
        let mut head = DenseHead { hidden, output: LinearConfig::new(width, classes).init(device) };
        head.load_from(&mut SafetensorsStore::from_bytes(Some(bytes.to_vec())))
            .map_err(|e| HeadError::Unloadable(e.to_string()))?;
        Ok(Self { head, device: device.clone(), history: Vec::new() })
    }

    /// How many embedding values it reads and how many people it tells apart.
    pub fn sizes(&self) -> (usize, usize) {
        let [width, classes] = self.head.output.weight.dims();
        (self.head.hidden.as_ref().map_or(width, |h| h.weight.dims()[0]), classes)
    }

    /// Class probabilities (softmax) for each embedding.
    pub fn predict_proba(&self, embeddings: &[Vec<f32>]) -> Vec<Vec<f32>> {
        if embeddings.is_empty() {
            return Vec::new();
        }
        let rows: Vec<&[f32]> = embeddings.iter().map(Vec::as_slice).collect();
        let probabilities = softmax(self.head.logits(matrix(&rows, &self.device)), 1);
        let classes = probabilities.dims()[1];
        let values: Vec<f32> = probabilities.into_data().try_to_vec().unwrap();
        values.chunks_exact(classes).map(<[f32]>::to_vec).collect()
    }

    pub fn predict(&self, embeddings: &[Vec<f32>]) -> Vec<usize> {
        self.predict_proba(embeddings).iter().map(|p| argmax(p)).collect()
    }
}

pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .expect("non-empty")
}

/// The vector scaled to unit length (a zero vector stays zero).
pub fn l2_normalized(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::EPSILON);
    v.iter().map(|x| x / norm).collect()
}

/// Nearest class centroid by cosine similarity: each class is the mean of its unit-length
/// embeddings, and a photo goes to the most similar class.
pub struct CentroidClassifier {
    centroids: Vec<Vec<f32>>,
}

impl CentroidClassifier {
    pub fn fit(embeddings: &[Vec<f32>], labels: &[usize], classes: usize) -> Self {
        let dim = embeddings.first().map_or(0, Vec::len);
        let mut sums = vec![vec![0f32; dim]; classes];
        for (embedding, &label) in embeddings.iter().zip(labels) {
            for (s, x) in sums[label].iter_mut().zip(l2_normalized(embedding)) {
                *s += x;
            }
        }
        Self { centroids: sums.iter().map(|s| l2_normalized(s)).collect() }
    }

    /// Cosine similarity of the embedding to each class.
    pub fn similarities(&self, embedding: &[f32]) -> Vec<f32> {
        let unit = l2_normalized(embedding);
        self.centroids.iter().map(|c| c.iter().zip(&unit).map(|(a, b)| a * b).sum()).collect()
    }

    pub fn predict(&self, embeddings: &[Vec<f32>]) -> Vec<usize> {
        embeddings.iter().map(|e| argmax(&self.similarities(e))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Three well-separated clusters in 16 dimensions.
    fn clusters() -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut embeddings = Vec::new();
        let mut labels = Vec::new();
        for class in 0..3 {
            for _ in 0..12 {
                let v = (0..16)
                    .map(|d| if d % 3 == class { 2.0 } else { 0.0 } + rng.random_range(-0.5..0.5))
                    .collect();
                embeddings.push(v);
                labels.push(class);
            }
        }
        (embeddings, labels)
    }

    #[test]
    fn head_learns_separable_clusters_and_loss_falls() {
        let (embeddings, labels) = clusters();
        let config = HeadConfig::new().with_epochs(15);
        let trained = config.train(&embeddings, &labels, 3, &Device::flex(), |_| {});
        assert_eq!(trained.history.len(), 15);
        assert!(trained.history.last().unwrap().loss < trained.history[0].loss);
        assert_eq!(trained.predict(&embeddings), labels);
        let p = &trained.predict_proba(&embeddings[..1])[0];
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn saved_head_predicts_the_same_and_bad_bytes_are_refused() {
        let (embeddings, labels) = clusters();
        let trained = HeadConfig::new().with_epochs(3).train(&embeddings, &labels, 3, &Device::flex(), |_| {});
        let bytes = trained.to_safetensors().unwrap();
        let restored = TrainedHead::from_safetensors(&bytes, &Device::flex()).unwrap();
        assert_eq!(restored.sizes(), (16, 3));
        assert_eq!(restored.predict_proba(&embeddings), trained.predict_proba(&embeddings));
        assert!(TrainedHead::from_safetensors(&bytes[..bytes.len() / 2], &Device::flex()).is_err());
        assert!(TrainedHead::from_safetensors(b"not a head", &Device::flex()).is_err());
    }

    #[test]
    fn a_two_layer_head_saved_before_still_loads() {
        let (embeddings, _) = clusters();
        let device = Device::flex();
        let head = DenseHead { hidden: Some(LinearConfig::new(16, 8).init(&device)), output: LinearConfig::new(8, 3).init(&device) };
        let saved = TrainedHead { head, device: device.clone(), history: Vec::new() };
        let restored = TrainedHead::from_safetensors(&saved.to_safetensors().unwrap(), &device).unwrap();
        assert_eq!(restored.sizes(), (16, 3));
        assert_eq!(restored.predict_proba(&embeddings), saved.predict_proba(&embeddings));
    }

    #[test]
    fn training_reaches_the_optimum_whatever_the_scale_of_the_embeddings() {
        // Unit-length inputs: a scaled copy of the data trains the same head. And the optimum is
        // one: more steps change the loss by little once it has converged.
        let (embeddings, labels) = clusters();
        let scaled: Vec<Vec<f32>> = embeddings.iter().map(|e| e.iter().map(|x| x * 40.0).collect()).collect();
        let config = HeadConfig::new().with_steps(300).with_weight_decay(1e-3);
        let a = config.train(&embeddings, &labels, 3, &Device::flex(), |_| {});
        let b = config.train(&scaled, &labels, 3, &Device::flex(), |_| {});
        for (p, q) in a.predict_proba(&embeddings).iter().flatten().zip(b.predict_proba(&scaled).iter().flatten()) {
            assert!((p - q).abs() < 1e-4, "{p} vs {q}");
        }
        let longer = config.clone().with_steps(1000).train(&embeddings, &labels, 3, &Device::flex(), |_| {});
        let (loss, longer_loss) = (a.history.last().unwrap().loss, longer.history.last().unwrap().loss);
        assert!(longer_loss <= loss + 1e-4 && loss - longer_loss < 0.01 * loss, "{loss} after 300 steps, {longer_loss} after 1000");
    }

    #[test]
    fn centroid_classifier_separates_clusters() {
        let (embeddings, labels) = clusters();
        let classifier = CentroidClassifier::fit(&embeddings, &labels, 3);
        assert_eq!(classifier.predict(&embeddings), labels);
    }
}
