//! Conversion of the original weight files (TensorFlow.js graph and layers models, Keras HDF5,
//! ONNX) into the project's format: Burn module paths, Burn layouts, BatchNorm folded into the
//! convolutions. Every produced tensor is checked against the network's own parameter list.

mod blazeface;
pub mod dlib;
mod faceres;
mod keras_h5;
pub mod onnx;
mod resnet;
mod tfjs;

use std::collections::HashMap;

use crate::backbone::{BackboneId, Network};
use crate::weights::NamedTensor;

pub use blazeface::convert_blazeface;
pub use dlib::DlibError;
pub use keras_h5::{check_vggface2_layout, convert_vggface2_h5, read_keras_h5, synthetic_vggface2_h5, vggface2_resnet50_layout};
pub use tfjs::{TfjsModelFiles, read_tfjs};

/// A tensor from a source file, in the source's layout (TensorFlow: HWIO kernels).
#[derive(Clone, Debug, PartialEq)]
pub struct SourceTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// All tensors of a source file by name (layer/weight, without Keras' `:0` suffix).
pub type SourceTensors = HashMap<String, SourceTensor>;

/// A parameter's Burn path and shape.
type ParameterShape = (String, Vec<usize>);

/// Why a source file could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("model.json: {0}")]
    ModelJson(#[source] serde_json::Error),
    #[error("weight shard {path}: {source}")]
    MissingShard { path: String, source: std::io::Error },
    #[error("{name}: unsupported dtype {dtype} / quantization {quantization:?}")]
    UnsupportedDtype { name: String, dtype: String, quantization: Option<String> },
    #[error("weight shards end before {0} (truncated download?)")]
    TruncatedShards(String),
    #[error("weight shards hold {held} bytes, the manifest describes {described}")]
    ShardSize { held: usize, described: usize },
    #[error("missing weight {0}")]
    MissingWeight(String),
    #[error("{name} has shape {shape:?}, expected rank {rank}")]
    WrongRank { name: String, shape: Vec<usize>, rank: usize },
    #[error("{name} has {values} values, {conv} has {channels} channels")]
    WrongLength { name: String, values: usize, conv: String, channels: usize },
    #[error("{name} is {values:?}: not the ReLU6 this network implements")]
    NotRelu6 { name: String, values: Vec<f32> },
    #[error("expected {expected} BatchNormalization layers in model.json, found {found}")]
    BatchNormCount { expected: usize, found: usize },
    #[error("unexpected head with {0} outputs")]
    UnexpectedHead(usize),
    /// At most five of each, enough to see what went wrong.
    #[error("converted tensors do not match the network: missing {missing:?}, unexpected {unexpected:?}")]
    NotTheNetwork { missing: Vec<ParameterShape>, unexpected: Vec<ParameterShape> },
    #[error(transparent)]
    Onnx(#[from] onnx::OnnxError),
    #[error("not dlib's face-recognition ResNet: {0}")]
    Dlib(#[from] DlibError),
    #[error("not a readable HDF5 file ({0})")]
    NotHdf5(String),
    #[error("HDF5 {at}: {why} (a damaged or truncated file?)")]
    Hdf5 { at: String, why: String },
    /// Each problem says which layer is missing or has the wrong shape.
    #[error("not keras-vggface's ResNet50 weights ({} problems): {}", .problems.len(), .problems.iter().take(5).cloned().collect::<Vec<_>>().join("; "))]
    NotVggFace2Layout { problems: Vec<String> },
}

/// Tensor `name`, which must have `rank` dimensions.
fn take<'a>(tensors: &'a SourceTensors, name: &str, rank: usize) -> Result<&'a SourceTensor, ConvertError> {
    let tensor = tensors.get(name).ok_or_else(|| ConvertError::MissingWeight(name.to_string()))?;
    if tensor.shape.len() != rank {
        return Err(ConvertError::WrongRank { name: name.to_string(), shape: tensor.shape.clone(), rank });
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

/// The weight and bias of the convolution at Burn path `path`.
fn conv(path: &str, kernel: (Vec<usize>, Vec<f32>), bias: Vec<f32>) -> [NamedTensor; 2] {
    let channels = kernel.0[0];
    assert_eq!(bias.len(), channels);
    [
        NamedTensor { name: format!("{path}.weight"), shape: kernel.0, values: kernel.1 },
        NamedTensor { name: format!("{path}.bias"), shape: vec![channels], values: bias },
    ]
}

/// Converts a parsed source model into the backbone's tensors, checking them against the network.
pub fn convert(id: BackboneId, tensors: &SourceTensors, topology: Option<&serde_json::Value>) -> Result<Vec<NamedTensor>, ConvertError> {
    let converted = match id {
        BackboneId::FaceRes => faceres::faceres(tensors)?,
        BackboneId::ResNet50ImageNet => resnet::resnet50(tensors, &resnet::KerasApplicationsNaming::from_topology(topology)?)?,
        BackboneId::VggFace2ResNet50 => resnet::resnet50(tensors, &resnet::KerasVggFaceNaming)?,
        BackboneId::DlibResNet => unreachable!("dlib's .dat is converted by convert_dlib"),
    };
    check_against_network(id, &converted)?;
    Ok(converted)
}

/// Converts dlib's `.dat` network file, checking the result against the network.
pub fn convert_dlib(bytes: &[u8]) -> Result<Vec<NamedTensor>, ConvertError> {
    let spec = BackboneId::DlibResNet.spec();
    let converted = dlib::convert_dlib_resnet(bytes, &spec.normalization)?;
    check_against_network(spec.id, &converted)?;
    Ok(converted)
}

/// The converted tensors must be exactly the network's parameters, with the same shapes.
fn check_against_network(id: BackboneId, converted: &[NamedTensor]) -> Result<(), ConvertError> {
    let network = Network::init(id, &burn::tensor::Device::flex());
    check_shapes(network.parameter_shapes(), converted)
}

fn check_shapes(mut expected: Vec<ParameterShape>, converted: &[NamedTensor]) -> Result<(), ConvertError> {
    let mut produced: Vec<ParameterShape> = converted.iter().map(|t| (t.name.clone(), t.shape.clone())).collect();
    expected.sort();
    produced.sort();
    if expected != produced {
        let absent_from = |these: &[ParameterShape], those: &[ParameterShape]| -> Vec<ParameterShape> {
            these.iter().filter(|t| !those.contains(t)).take(5).cloned().collect()
        };
        return Err(ConvertError::NotTheNetwork {
            missing: absent_from(&expected, &produced),
            unexpected: absent_from(&produced, &expected),
        });
    }
    Ok(())
}
