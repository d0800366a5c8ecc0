//! Conversion of the original weight files (TensorFlow.js graph and layers models, Keras HDF5)
//! into the project's format: Burn module paths, Burn layouts, BatchNorm folded into the
//! convolutions. Every produced tensor is checked against the network's own parameter list.

use std::collections::HashMap;

use crate::backbone::{BackboneId, Network};
use crate::weights::NamedTensor;

/// A tensor from a source file, in the source's layout (TensorFlow: HWIO kernels).
#[derive(Clone, Debug, PartialEq)]
pub struct SourceTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// All tensors of a source file by name (layer/weight, without Keras' `:0` suffix).
pub type SourceTensors = HashMap<String, SourceTensor>;

#[derive(Debug)]
pub struct ConvertError(pub String);

impl std::fmt::Display for ConvertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConvertError {}

fn err<T>(message: impl Into<String>) -> Result<T, ConvertError> {
    Err(ConvertError(message.into()))
}

#[derive(serde::Deserialize)]
struct TfjsModel {
    #[serde(rename = "weightsManifest")]
    weights_manifest: Vec<TfjsWeightGroup>,
    #[serde(rename = "modelTopology")]
    model_topology: serde_json::Value,
}

#[derive(serde::Deserialize)]
struct TfjsWeightGroup {
    paths: Vec<String>,
    weights: Vec<TfjsWeightEntry>,
}

#[derive(serde::Deserialize)]
struct TfjsWeightEntry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    quantization: Option<TfjsQuantization>,
}

#[derive(serde::Deserialize)]
struct TfjsQuantization {
    dtype: String,
    scale: Option<f32>,
    min: Option<f32>,
}

/// Reads one stored value (its bytes) as f32, given the entry's quantization.
type DecodeValue = fn(&[u8], &TfjsQuantization) -> f32;

/// A parsed TensorFlow.js model: its topology (JSON) and its weights.
pub struct TfjsModelFiles {
    pub topology: serde_json::Value,
    pub tensors: SourceTensors,
}

/// Reads a tfjs `model.json` and its weight shards (`read_shard` gets each path named in it).
pub fn read_tfjs(
    model_json: &[u8],
    mut read_shard: impl FnMut(&str) -> std::io::Result<Vec<u8>>,
) -> Result<TfjsModelFiles, ConvertError> {
    let model: TfjsModel =
        serde_json::from_slice(model_json).map_err(|e| ConvertError(format!("model.json: {e}")))?;
    let mut tensors = SourceTensors::new();
    for group in &model.weights_manifest {
        let mut bytes = Vec::new();
        for path in &group.paths {
            bytes.extend(read_shard(path).map_err(|e| ConvertError(format!("weight shard {path}: {e}")))?);
        }
        let mut offset = 0;
        for entry in &group.weights {
            let count: usize = entry.shape.iter().product();
            let (width, decode): (usize, DecodeValue) =
                match (entry.dtype.as_str(), entry.quantization.as_ref().map(|q| q.dtype.as_str())) {
                    ("float32", None) => (4, |b, _| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    ("int32", None) => (4, |b, _| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32),
                    ("float32", Some("float16")) => (2, |b, _| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
                    ("float32", Some("uint8")) => (1, |b, q| b[0] as f32 * q.scale.unwrap_or(1.0) + q.min.unwrap_or(0.0)),
                    ("float32", Some("uint16")) => {
                        (2, |b, q| u16::from_le_bytes([b[0], b[1]]) as f32 * q.scale.unwrap_or(1.0) + q.min.unwrap_or(0.0))
                    }
                    (dtype, quantization) => {
                        return err(format!("{}: unsupported dtype {dtype} / quantization {quantization:?}", entry.name));
                    }
                };
            let end = offset + count * width;
            if end > bytes.len() {
                return err(format!("weight shards end before {} (truncated download?)", entry.name));
            }
            let default = TfjsQuantization { dtype: String::new(), scale: None, min: None };
            let quantization = entry.quantization.as_ref().unwrap_or(&default);
            let values = bytes[offset..end].chunks_exact(width).map(|b| decode(b, quantization)).collect();
            tensors.insert(entry.name.clone(), SourceTensor { shape: entry.shape.clone(), values });
            offset = end;
        }
        if offset != bytes.len() {
            return err(format!("weight shards hold {} bytes, the manifest describes {offset}", bytes.len()));
        }
    }
    Ok(TfjsModelFiles { topology: model.model_topology, tensors })
}

fn take<'a>(tensors: &'a SourceTensors, name: &str, shape_rank: usize) -> Result<&'a SourceTensor, ConvertError> {
    let tensor = tensors.get(name).ok_or_else(|| ConvertError(format!("missing weight {name}")))?;
    if tensor.shape.len() != shape_rank {
        return err(format!("{name} has shape {:?}, expected rank {shape_rank}", tensor.shape));
    }
    Ok(tensor)
}

/// HWIO kernel to Burn's OIHW, each output channel multiplied by `scale`.
fn kernel_to_oihw(kernel: &SourceTensor, scale: &[f64]) -> (Vec<usize>, Vec<f32>) {
    let [kh, kw, cin, cout] = [kernel.shape[0], kernel.shape[1], kernel.shape[2], kernel.shape[3]];
    let mut out = vec![0f32; kernel.values.len()];
    for h in 0..kh {
        for w in 0..kw {
            for i in 0..cin {
                for o in 0..cout {
                    let value = kernel.values[((h * kw + w) * cin + i) * cout + o] as f64 * scale[o];
                    out[((o * cin + i) * kh + h) * kw + w] = value as f32;
                }
            }
        }
    }
    (vec![cout, cin, kh, kw], out)
}

fn conv(path: &str, kernel: (Vec<usize>, Vec<f32>), bias: Vec<f32>) -> [NamedTensor; 2] {
    let channels = kernel.0[0];
    assert_eq!(bias.len(), channels);
    [
        NamedTensor { name: format!("{path}.weight"), shape: kernel.0, values: kernel.1 },
        NamedTensor { name: format!("{path}.bias"), shape: vec![channels], values: bias },
    ]
}

/// HSE FaceRes (tfjs graph model, BatchNorm partly pre-merged by the tfjs converter).
fn faceres(tensors: &SourceTensors) -> Result<Vec<NamedTensor>, ConvertError> {
    // Each activation is ReLU6: clip_by_value(relu(x), 0, 6) in the graph.
    for (name, tensor) in tensors {
        let expected = if name.ends_with("_relu/Cast") {
            6.0
        } else if name.ends_with("_relu/Const_1") {
            0.0
        } else {
            continue;
        };
        if tensor.values != [expected] {
            return err(format!("{name} is {:?}: not the ReLU6 this network implements", tensor.values));
        }
    }
    let ones = |n: usize| vec![1f64; n];
    let stem = take(tensors, "conv1/convolution/merged_input", 4)?;
    let mut out = Vec::new();
    out.extend(conv(
        "stem",
        kernel_to_oihw(stem, &ones(stem.shape[3])),
        take(tensors, "conv1_bn/batchnorm_1/sub", 1)?.values.clone(),
    ));
    for block in 1..=13 {
        let depthwise = take(tensors, &format!("conv_dw_{block}/depthwise_kernel"), 4)?;
        let scale: Vec<f64> = take(tensors, &format!("conv_dw_{block}_bn/batchnorm_1/mul"), 1)?
            .values
            .iter()
            .map(|&v| v as f64)
            .collect();
        // Depthwise HWC1 is HWIO with I = 1 once the channel axis plays "output".
        let as_hwio = SourceTensor {
            shape: vec![depthwise.shape[0], depthwise.shape[1], 1, depthwise.shape[2]],
            values: depthwise.values.clone(),
        };
        out.extend(conv(
            &format!("blocks.{}.depthwise", block - 1),
            kernel_to_oihw(&as_hwio, &scale),
            take(tensors, &format!("conv_dw_{block}_bn/batchnorm_1/sub"), 1)?.values.clone(),
        ));
        let pointwise = take(tensors, &format!("conv_pw_{block}/convolution/merged_input"), 4)?;
        out.extend(conv(
            &format!("blocks.{}.pointwise", block - 1),
            kernel_to_oihw(pointwise, &ones(pointwise.shape[3])),
            take(tensors, &format!("conv_pw_{block}_bn/batchnorm_1/sub"), 1)?.values.clone(),
        ));
    }
    Ok(out)
}

/// Names of the source layers of a ResNet-50 and the BatchNorm epsilon each was trained with.
trait ResNetNaming {
    fn stem(&self) -> (String, String);
    /// `stage` 0..4, `block` 0.., `role` one of reduce/spatial/expand/projection.
    fn block(&self, stage: usize, block: usize, role: &str) -> (String, String);
    fn epsilon(&self, bn: &str) -> f64;
    /// Weight name inside a layer, e.g. `kernel`, `moving_mean`.
    fn weight(&self, layer: &str, weight: &str) -> String {
        format!("{layer}/{weight}")
    }
}

/// Keras Applications' ResNet50: `res2a_branch2a` / `bn2a_branch2a`, epsilons from model.json.
struct KerasApplicationsNaming {
    epsilons: HashMap<String, f64>,
}

impl ResNetNaming for KerasApplicationsNaming {
    fn stem(&self) -> (String, String) {
        ("conv1".into(), "bn_conv1".into())
    }
    fn block(&self, stage: usize, block: usize, role: &str) -> (String, String) {
        let branch = match role {
            "reduce" => "2a",
            "spatial" => "2b",
            "expand" => "2c",
            _ => "1",
        };
        let name = format!("{}{}_branch{branch}", stage + 2, (b'a' + block as u8) as char);
        (format!("res{name}"), format!("bn{name}"))
    }
    fn epsilon(&self, bn: &str) -> f64 {
        self.epsilons.get(bn).copied().unwrap_or(1e-3)
    }
}

/// keras-vggface's RESNET50: `conv2_1_1x1_reduce` + `/bn`; BatchNorm epsilon 1e-4 in the blocks,
/// Keras' default 1e-3 after the stem.
struct KerasVggFaceNaming;

impl ResNetNaming for KerasVggFaceNaming {
    fn stem(&self) -> (String, String) {
        ("conv1/7x7_s2".into(), "conv1/7x7_s2/bn".into())
    }
    fn block(&self, stage: usize, block: usize, role: &str) -> (String, String) {
        let suffix = match role {
            "reduce" => "1x1_reduce",
            "spatial" => "3x3",
            "expand" => "1x1_increase",
            _ => "1x1_proj",
        };
        let conv = format!("conv{}_{}_{suffix}", stage + 2, block + 1);
        let bn = format!("{conv}/bn");
        (conv, bn)
    }
    fn epsilon(&self, bn: &str) -> f64 {
        if bn.starts_with("conv1/") { 1e-3 } else { 1e-4 }
    }
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
            return err(format!("{name} has {} values, {conv_name} has {channels} channels", t.values.len()));
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

fn resnet50(tensors: &SourceTensors, naming: &dyn ResNetNaming) -> Result<Vec<NamedTensor>, ConvertError> {
    const DEPTHS: [usize; 4] = [3, 4, 6, 3];
    let mut out = Vec::new();
    out.extend(fold_conv_bn(tensors, naming, naming.stem(), "stem")?);
    for (stage, &depth) in DEPTHS.iter().enumerate() {
        for block in 0..depth {
            let roles: &[&str] =
                if block == 0 { &["reduce", "spatial", "expand", "projection"] } else { &["reduce", "spatial", "expand"] };
            for role in roles {
                let path = format!("stages.{stage}.blocks.{block}.{role}");
                out.extend(fold_conv_bn(tensors, naming, naming.block(stage, block, role), &path)?);
            }
        }
    }
    Ok(out)
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

/// Converts a parsed source model into the backbone's tensors, checking them against the network.
pub fn convert(id: BackboneId, tensors: &SourceTensors, topology: Option<&serde_json::Value>) -> Result<Vec<NamedTensor>, ConvertError> {
    let converted = match id {
        BackboneId::FaceRes => faceres(tensors)?,
        BackboneId::ResNet50ImageNet => {
            let epsilons = topology.map(layer_epsilons).unwrap_or_default();
            if epsilons.len() != 53 {
                return err(format!("expected 53 BatchNormalization layers in model.json, found {}", epsilons.len()));
            }
            resnet50(tensors, &KerasApplicationsNaming { epsilons })?
        }
        BackboneId::VggFace2ResNet50 => resnet50(tensors, &KerasVggFaceNaming)?,
    };
    check_against_network(id, &converted)?;
    Ok(converted)
}

/// The converted tensors must be exactly the network's parameters, with the same shapes.
fn check_against_network(id: BackboneId, converted: &[NamedTensor]) -> Result<(), ConvertError> {
    let network = Network::init(id, &burn::tensor::Device::flex());
    check_shapes(network.parameter_shapes(), converted)
}

fn check_shapes(mut expected: Vec<(String, Vec<usize>)>, converted: &[NamedTensor]) -> Result<(), ConvertError> {
    let mut produced: Vec<(String, Vec<usize>)> = converted.iter().map(|t| (t.name.clone(), t.shape.clone())).collect();
    expected.sort();
    produced.sort();
    if expected != produced {
        let missing: Vec<_> = expected.iter().filter(|e| !produced.contains(e)).take(5).collect();
        let extra: Vec<_> = produced.iter().filter(|p| !expected.contains(p)).take(5).collect();
        return err(format!("converted tensors do not match the network: missing {missing:?}, unexpected {extra:?}"));
    }
    Ok(())
}

/// BlazeFace from its ONNX file: the Conv nodes in graph order are the stem, each block's
/// depthwise and pointwise convolutions, then the four heads (told apart by their outputs).
/// ONNX kernels are already OIHW; nothing is folded.
pub fn convert_blazeface(onnx_bytes: &[u8]) -> Result<Vec<NamedTensor>, ConvertError> {
    let model = crate::onnx::read(onnx_bytes).map_err(ConvertError)?;
    let blocks = (model.convs.len().saturating_sub(5)) / 2;
    let mut out = Vec::new();
    for (i, node) in model.convs.iter().enumerate() {
        let (dims, values) = model.tensors.get(&node.weight).ok_or_else(|| ConvertError(format!("no weights {}", node.weight)))?;
        let path = match i {
            0 => "stem".to_string(),
            i if i <= 2 * blocks => format!("blocks.{}.{}", (i - 1) / 2, if i % 2 == 1 { "depthwise" } else { "pointwise" }),
            _ => match dims[0] {
                2 => "fine_scores",
                32 => "fine_boxes",
                6 => "coarse_scores",
                96 => "coarse_boxes",
                other => return err(format!("unexpected head with {other} outputs")),
            }
            .to_string(),
        };
        out.push(NamedTensor { name: format!("{path}.weight"), shape: dims.clone(), values: values.clone() });
        if let Some(bias) = &node.bias {
            let (dims, values) = model.tensors.get(bias).ok_or_else(|| ConvertError(format!("no bias {bias}")))?;
            out.push(NamedTensor { name: format!("{path}.bias"), shape: dims.clone(), values: values.clone() });
        }
    }
    check_shapes(crate::detector::Detector::parameter_shapes(&burn::tensor::Device::flex()), &out)?;
    Ok(out)
}

/// Source tensors as keras-vggface's `rcmalli_vggface_tf_notop_resnet50.h5` holds them: every
/// layer name and shape (from the architecture). The real file's values replace these when it is
/// read; the shapes are also what a real file is checked against.
pub fn vggface2_resnet50_layout() -> Vec<(String, Vec<usize>)> {
    let naming = KerasVggFaceNaming;
    let mut layout = Vec::new();
    let mut push_conv_bn = |(conv, bn): (String, String), k: usize, cin: usize, cout: usize| {
        layout.push((format!("{conv}/kernel"), vec![k, k, cin, cout]));
        for w in ["gamma", "beta", "moving_mean", "moving_variance"] {
            layout.push((format!("{bn}/{w}"), vec![cout]));
        }
    };
    push_conv_bn(naming.stem(), 7, 3, 64);
    let mut channels = 64;
    for (stage, (depth, width)) in [(3, 64), (4, 128), (6, 256), (3, 512)].into_iter().enumerate() {
        for block in 0..depth {
            push_conv_bn(naming.block(stage, block, "reduce"), 1, channels, width);
            push_conv_bn(naming.block(stage, block, "spatial"), 3, width, width);
            push_conv_bn(naming.block(stage, block, "expand"), 1, width, width * 4);
            if block == 0 {
                push_conv_bn(naming.block(stage, block, "projection"), 1, channels, width * 4);
            }
            channels = width * 4;
        }
    }
    layout
}

/// Reads every dataset of a Keras HDF5 weights file. Keras stores layer `L`'s weight `w` at
/// `L/L/w:0` (or under `model_weights/` for a whole-model save); the key is `L/w`.
pub fn read_keras_h5(path: &std::path::Path) -> Result<SourceTensors, ConvertError> {
    let file = hdf5::File::open(path).map_err(|e| ConvertError(format!("{}: not a readable HDF5 file ({e})", path.display())))?;
    let root = if file.link_exists("model_weights") {
        file.group("model_weights").map_err(|e| ConvertError(e.to_string()))?
    } else {
        file.group("/").map_err(|e| ConvertError(e.to_string()))?
    };
    let mut tensors = SourceTensors::new();
    collect_datasets(&root, "", &mut tensors)?;
    Ok(tensors)
}

fn collect_datasets(group: &hdf5::Group, prefix: &str, out: &mut SourceTensors) -> Result<(), ConvertError> {
    let names = group.member_names().map_err(|e| ConvertError(e.to_string()))?;
    for name in names {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if let Ok(child) = group.group(&name) {
            collect_datasets(&child, &path, out)?;
        } else if let Ok(dataset) = group.dataset(&name) {
            let values: Vec<f32> = dataset.read_raw().map_err(|e| ConvertError(format!("{path}: {e}")))?;
            out.insert(keras_weight_key(&path), SourceTensor { shape: dataset.shape(), values });
        }
    }
    Ok(())
}

/// `L/L/w:0` -> `L/w` (L may itself contain slashes).
fn keras_weight_key(path: &str) -> String {
    let path = path.strip_suffix(":0").unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    let layer_parts = parts.len() - 1;
    if layer_parts.is_multiple_of(2) && parts[..layer_parts / 2] == parts[layer_parts / 2..layer_parts] {
        format!("{}/{}", parts[..layer_parts / 2].join("/"), parts[layer_parts])
    } else {
        parts[parts.len().saturating_sub(2)..].join("/")
    }
}

/// Reads, checks and converts the user's copy of `rcmalli_vggface_tf_notop_resnet50.h5`.
pub fn convert_vggface2_h5(path: &std::path::Path) -> Result<Vec<NamedTensor>, ConvertError> {
    let tensors = read_keras_h5(path)?;
    check_vggface2_layout(&tensors)?;
    convert(BackboneId::VggFace2ResNet50, &tensors, None)
}

/// Checks a keras-vggface ResNet50 file against the real file's layout: every layer name and
/// shape must be there (extra tensors, such as a classifier, are ignored).
pub fn check_vggface2_layout(tensors: &SourceTensors) -> Result<(), ConvertError> {
    let problems: Vec<String> = vggface2_resnet50_layout()
        .into_iter()
        .filter_map(|(name, shape)| match tensors.get(&name) {
            None => Some(format!("missing {name}")),
            Some(t) if t.shape != shape => Some(format!("{name} has shape {:?}, expected {shape:?}", t.shape)),
            Some(_) => None,
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        err(format!(
            "not keras-vggface's ResNet50 weights ({} problems): {}",
            problems.len(),
            problems.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keras_keys_drop_the_repeated_layer_group() {
        assert_eq!(keras_weight_key("conv1/7x7_s2/conv1/7x7_s2/kernel:0"), "conv1/7x7_s2/kernel");
        assert_eq!(keras_weight_key("conv1/7x7_s2/bn/conv1/7x7_s2/bn/gamma:0"), "conv1/7x7_s2/bn/gamma");
        assert_eq!(keras_weight_key("conv2_1_3x3/conv2_1_3x3/kernel:0"), "conv2_1_3x3/kernel");
    }

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
