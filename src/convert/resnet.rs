//! ResNet-50 from Keras layer names: each convolution's BatchNorm folded into it. The two
//! sources name their layers differently (`ResNetNaming`); the network is the same.

use std::collections::HashMap;

use super::{ConvertError, SourceTensors, conv, kernel_to_oihw, take};
use crate::weights::NamedTensor;

/// Blocks per stage.
const DEPTHS: [usize; 4] = [3, 4, 6, 3];
/// Keras Applications' ResNet50 has one BatchNorm after the stem and after each convolution.
const BATCH_NORMS: usize = 53;

/// A convolution of a bottleneck block; only each stage's first block has a projection.
#[derive(Clone, Copy, Debug)]
pub(super) enum Role {
    Reduce,
    Spatial,
    Expand,
    Projection,
}

impl Role {
    const ALL: [Role; 4] = [Role::Reduce, Role::Spatial, Role::Expand, Role::Projection];

    /// Its name in the Burn module path.
    fn path(self) -> &'static str {
        ["reduce", "spatial", "expand", "projection"][self as usize]
    }
}

/// Names of the source layers of a ResNet-50 and the BatchNorm epsilon each was trained with.
pub(super) trait ResNetNaming {
    /// The stem's convolution and BatchNorm.
    fn stem(&self) -> (String, String);
    /// A block's convolution and BatchNorm; `stage` 0..4, `block` 0...
    fn block(&self, stage: usize, block: usize, role: Role) -> (String, String);
    fn epsilon(&self, bn: &str) -> f64;
    /// Weight name inside a layer, e.g. `kernel`, `moving_mean`.
    fn weight(&self, layer: &str, weight: &str) -> String {
        format!("{layer}/{weight}")
    }
}

/// Keras Applications' ResNet50: `res2a_branch2a` / `bn2a_branch2a`, epsilons from model.json.
pub(super) struct KerasApplicationsNaming {
    epsilons: HashMap<String, f64>,
}

impl KerasApplicationsNaming {
    /// The BatchNorm epsilons of a tfjs layers model's topology, which must have all 53.
    pub(super) fn from_topology(topology: Option<&serde_json::Value>) -> Result<Self, ConvertError> {
        let epsilons = topology.map(layer_epsilons).unwrap_or_default();
        if epsilons.len() != BATCH_NORMS {
            return Err(ConvertError::BatchNormCount { expected: BATCH_NORMS, found: epsilons.len() });
        }
        Ok(Self { epsilons })
    }
}

impl ResNetNaming for KerasApplicationsNaming {
    fn stem(&self) -> (String, String) {
        ("conv1".into(), "bn_conv1".into())
    }
    fn block(&self, stage: usize, block: usize, role: Role) -> (String, String) {
        let branch = ["2a", "2b", "2c", "1"][role as usize];
        let name = format!("{}{}_branch{branch}", stage + 2, (b'a' + block as u8) as char);
        (format!("res{name}"), format!("bn{name}"))
    }
    fn epsilon(&self, bn: &str) -> f64 {
        self.epsilons.get(bn).copied().unwrap_or(1e-3)
    }
}

/// keras-vggface's RESNET50: `conv2_1_1x1_reduce` + `/bn`; BatchNorm epsilon 1e-4 in the blocks,
/// Keras' default 1e-3 after the stem.
pub(super) struct KerasVggFaceNaming;

impl ResNetNaming for KerasVggFaceNaming {
    fn stem(&self) -> (String, String) {
        ("conv1/7x7_s2".into(), "conv1/7x7_s2/bn".into())
    }
    fn block(&self, stage: usize, block: usize, role: Role) -> (String, String) {
        let suffix = ["1x1_reduce", "3x3", "1x1_increase", "1x1_proj"][role as usize];
        let conv = format!("conv{}_{}_{suffix}", stage + 2, block + 1);
        let bn = format!("{conv}/bn");
        (conv, bn)
    }
    fn epsilon(&self, bn: &str) -> f64 {
        if bn.starts_with("conv1/") { 1e-3 } else { 1e-4 }
    }
}

/// BatchNorm epsilons of a tfjs layers model, by layer name.
fn layer_epsilons(topology: &serde_json::Value) -> HashMap<String, f64> {
    let layers = topology["model_config"]["config"]["layers"].as_array().cloned().unwrap_or_default();
    layers
        .iter()
        .filter(|layer| layer["class_name"] == "BatchNormalization")
        .filter_map(|layer| Some((layer["config"]["name"].as_str()?.to_string(), layer["config"]["epsilon"].as_f64()?)))
        .collect()
}

/// A convolution followed by BatchNorm, folded into one convolution with bias.
fn fold_conv_bn(
    tensors: &SourceTensors,
    naming: &dyn ResNetNaming,
    (conv_name, bn_name): (String, String),
    path: &str,
) -> Result<[NamedTensor; 2], ConvertError> {
    let kernel = take(tensors, &naming.weight(&conv_name, "kernel"), 4)?;
    let channels = kernel.shape[3];
    let vector = |weight: &str| -> Result<Vec<f64>, ConvertError> {
        let name = naming.weight(&bn_name, weight);
        let t = take(tensors, &name, 1)?;
        if t.values.len() != channels {
            return Err(ConvertError::WrongLength { name, values: t.values.len(), conv: conv_name.clone(), channels });
        }
        Ok(t.values.iter().map(|&v| v as f64).collect())
    };
    let bias: Vec<f64> = match tensors.get(&naming.weight(&conv_name, "bias")) {
        Some(b) => b.values.iter().map(|&v| v as f64).collect(),
        None => vec![0.0; channels],
    };
    let (gamma, beta, mean, variance) = (vector("gamma")?, vector("beta")?, vector("moving_mean")?, vector("moving_variance")?);
    let epsilon = naming.epsilon(&bn_name);
    let scale: Vec<f64> = gamma.iter().zip(&variance).map(|(g, v)| g / (v + epsilon).sqrt()).collect();
    let folded_bias = (0..channels).map(|o| ((bias[o] - mean[o]) * scale[o] + beta[o]) as f32).collect();
    Ok(conv(path, kernel_to_oihw(kernel, &scale), folded_bias))
}

/// The roles of block `block`'s convolutions.
pub(super) fn roles(block: usize) -> &'static [Role] {
    if block == 0 { &Role::ALL } else { &Role::ALL[..3] }
}

pub(super) fn resnet50(tensors: &SourceTensors, naming: &dyn ResNetNaming) -> Result<Vec<NamedTensor>, ConvertError> {
    let mut out = Vec::new();
    out.extend(fold_conv_bn(tensors, naming, naming.stem(), "stem")?);
    for (stage, &depth) in DEPTHS.iter().enumerate() {
        for block in 0..depth {
            for &role in roles(block) {
                let path = format!("stages.{stage}.blocks.{block}.{}", role.path());
                out.extend(fold_conv_bn(tensors, naming, naming.block(stage, block, role), &path)?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::SourceTensor;

    /// BatchNorm folding against a hand computation on a 1x1 convolution with 2 in / 2 out.
    #[test]
    fn folding_matches_conv_then_batchnorm() {
        let mut t = SourceTensors::new();
        let v = |shape: Vec<usize>, values: Vec<f32>| SourceTensor { shape, values };
        // HWIO kernel: out0 = 1*x0 + 2*x1, out1 = 3*x0 + 4*x1
        t.insert("c/kernel".into(), v(vec![1, 1, 2, 2], vec![1.0, 3.0, 2.0, 4.0]));
        t.insert("c/bias".into(), v(vec![2], vec![0.5, -0.5]));
        t.insert("b/gamma".into(), v(vec![2], vec![2.0, 1.0]));
        t.insert("b/beta".into(), v(vec![2], vec![0.1, 0.2]));
        t.insert("b/moving_mean".into(), v(vec![2], vec![1.0, 2.0]));
        t.insert("b/moving_variance".into(), v(vec![2], vec![4.0, 1.0]));
        let naming = KerasApplicationsNaming { epsilons: HashMap::from([("b".to_string(), 0.0)]) };
        let [weight, bias] = fold_conv_bn(&t, &naming, ("c".into(), "b".into()), "x").unwrap();
        assert_eq!(weight.shape, vec![2, 2, 1, 1]);
        // scale = gamma / sqrt(var) = [1, 1]; out0 row [1, 2], out1 row [3, 4]
        assert_eq!(weight.values, vec![1.0, 2.0, 3.0, 4.0]);
        // (bias - mean) * scale + beta
        let expected = [(0.5 - 1.0) * 1.0 + 0.1, (-0.5 - 2.0) * 1.0 + 0.2];
        for (got, want) in bias.values.iter().zip(expected) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }
}
