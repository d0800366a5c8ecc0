//! The only trained part: a dense head over cached embeddings, Dense(hidden, relu) ->
//! Dense(n, softmax), trained with Adam and cross-entropy (the reference's Keras defaults), and a
//! nearest-class-centroid classifier that needs no training at all.

use burn::module::Param;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::activation::{relu, softmax};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand::seq::SliceRandom;

#[derive(Config, Debug)]
pub struct HeadConfig {
    #[config(default = 1024)]
    pub hidden: usize,
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    #[config(default = 10)]
    pub batch_size: usize,
    #[config(default = 10)]
    pub epochs: usize,
    /// Seeds the initial weights and the shuffling of each epoch.
    #[config(default = 0)]
    pub seed: u64,
}

#[derive(Module, Debug)]
pub struct DenseHead {
    pub hidden: Linear,
    pub output: Linear,
}

/// Keras' Dense: Glorot-uniform kernel, zero bias. Drawn from our own seeded generator, not the
/// device's shared one, so that a seed gives the same head whatever else runs at the same time.
fn dense(inputs: usize, outputs: usize, rng: &mut SmallRng, device: &Device) -> Linear {
    let mut linear = LinearConfig::new(inputs, outputs).init(device);
    let limit = (6.0 / (inputs + outputs) as f32).sqrt();
    let kernel: Vec<f32> = (0..inputs * outputs).map(|_| rng.random_range(-limit..limit)).collect();
    linear.weight = Param::from_tensor(Tensor::from_data(TensorData::new(kernel, [inputs, outputs]), device));
    linear.bias = Some(Param::from_tensor(Tensor::zeros([outputs], device)));
    linear
}

impl DenseHead {
    pub fn new(config: &HeadConfig, inputs: usize, classes: usize, device: &Device) -> Self {
        let mut rng = SmallRng::seed_from_u64(config.seed);
        Self {
            hidden: dense(inputs, config.hidden, &mut rng, device),
            output: dense(config.hidden, classes, &mut rng, device),
        }
    }

    pub fn logits(&self, embeddings: Tensor<2>) -> Tensor<2> {
        self.output.forward(relu(self.hidden.forward(embeddings)))
    }
}

/// Loss and training accuracy after one epoch.
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

impl HeadConfig {
    /// Trains on `embeddings` labelled `labels` (0..classes); `on_epoch` sees each epoch's stats.
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
        let train_device = device.clone().autodiff();
        let mut head = DenseHead::new(self, embeddings[0].len(), classes, &train_device);
        // Keras' Adam epsilon (Burn's default is 1e-5).
        let mut optimizer = AdamConfig::new().with_epsilon(1e-7).init();
        let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
        let mut rng = SmallRng::seed_from_u64(self.seed.wrapping_add(1));
        let mut order: Vec<usize> = (0..embeddings.len()).collect();
        let mut history = Vec::with_capacity(self.epochs);
        for epoch in 1..=self.epochs {
            // One pass over the shuffled training set in mini-batches.
            order.shuffle(&mut rng);
            let (mut loss_sum, mut correct) = (0.0f64, 0usize);
            for batch in order.chunks(self.batch_size.max(1)) {
                let rows: Vec<&[f32]> = batch.iter().map(|&i| embeddings[i].as_slice()).collect();
                let targets: Vec<i64> = batch.iter().map(|&i| labels[i] as i64).collect();
                let x = matrix(&rows, &train_device);
                let y = Tensor::<1, Int>::from_data(TensorData::new(targets.clone(), [batch.len()]), &train_device);
                let logits = head.logits(x);
                let predicted: Vec<i64> = logits.clone().argmax(1).into_data().convert::<i64>().try_to_vec().unwrap();
                correct += predicted.iter().zip(&targets).filter(|(p, t)| p == t).count();
                let loss = loss_fn.forward(logits, y);
                loss_sum += loss.clone().into_scalar::<f32>() as f64 * batch.len() as f64;
                let grads = GradientsParams::from_grads(loss.backward(), &head);
                head = optimizer.step(self.learning_rate, head, grads);
            }
            let n = embeddings.len();
            let stats = EpochStats { epoch, loss: (loss_sum / n as f64) as f32, accuracy: correct as f32 / n as f32 };
            on_epoch(&stats);
            history.push(stats);
        }
        TrainedHead { head: head.valid(), device: device.clone(), history }
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

    /// A head saved by `to_safetensors`; its sizes come from the file, every tensor must be there.
    pub fn from_safetensors(bytes: &[u8], device: &Device) -> Result<Self, HeadError> {
        let file = safetensors::SafeTensors::deserialize(bytes).map_err(|e| HeadError::NotAHead(e.to_string()))?;
        let shape = |name: &str| file.tensor(name).map(|t| t.shape().to_vec()).map_err(|_| HeadError::MissingTensor(name.into()));
        let (hidden, output) = (shape("hidden.weight")?, shape("output.weight")?);
        let (&[inputs, width], &[width_again, classes]) = (&hidden[..], &output[..]) else {
            return Err(HeadError::Misshapen);
        };
        if width != width_again {
            return Err(HeadError::Misshapen);
        }
        let config = HeadConfig::new().with_hidden(width);
        let mut head = DenseHead::new(&config, inputs, classes, device);
        head.load_from(&mut SafetensorsStore::from_bytes(Some(bytes.to_vec())))
            .map_err(|e| HeadError::Unloadable(e.to_string()))?;
        Ok(Self { head, device: device.clone(), history: Vec::new() })
    }

    /// How many embedding values it reads and how many people it tells apart.
    pub fn sizes(&self) -> (usize, usize) {
        let [inputs, _] = self.head.hidden.weight.dims();
        let [_, classes] = self.head.output.weight.dims();
        (inputs, classes)
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
        let config = HeadConfig::new().with_hidden(32).with_epochs(15);
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
        let trained = HeadConfig::new().with_hidden(32).with_epochs(3).train(&embeddings, &labels, 3, &Device::flex(), |_| {});
        let bytes = trained.to_safetensors().unwrap();
        let restored = TrainedHead::from_safetensors(&bytes, &Device::flex()).unwrap();
        assert_eq!(restored.sizes(), (16, 3));
        assert_eq!(restored.predict_proba(&embeddings), trained.predict_proba(&embeddings));
        assert!(TrainedHead::from_safetensors(&bytes[..bytes.len() / 2], &Device::flex()).is_err());
        assert!(TrainedHead::from_safetensors(b"not a head", &Device::flex()).is_err());
    }

    #[test]
    fn same_seed_same_head() {
        let (embeddings, labels) = clusters();
        let config = HeadConfig::new().with_hidden(8).with_epochs(2).with_seed(3);
        let a = config.train(&embeddings, &labels, 3, &Device::flex(), |_| {});
        let b = config.train(&embeddings, &labels, 3, &Device::flex(), |_| {});
        assert_eq!(a.predict_proba(&embeddings), b.predict_proba(&embeddings));
    }

    #[test]
    fn centroid_classifier_separates_clusters() {
        let (embeddings, labels) = clusters();
        let classifier = CentroidClassifier::fit(&embeddings, &labels, 3);
        assert_eq!(classifier.predict(&embeddings), labels);
    }
}
