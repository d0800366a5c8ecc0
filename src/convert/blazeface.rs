//! BlazeFace from its ONNX file into the detector's Burn module paths.

use super::{ConvertError, check_shapes, onnx};
use crate::weights::NamedTensor;

/// BlazeFace from its ONNX file: the Conv nodes in graph order are the stem, each block's
/// depthwise and pointwise convolutions, then the four heads (told apart by their outputs).
/// ONNX kernels are already OIHW; nothing is folded.
pub fn convert_blazeface(onnx_bytes: &[u8]) -> Result<Vec<NamedTensor>, ConvertError> {
    let model = onnx::read(onnx_bytes)?;
    let blocks = (model.convs.len().saturating_sub(5)) / 2;
    let initializer = |name: &str| model.tensors.get(name).ok_or_else(|| ConvertError::MissingWeight(name.to_string()));
    let mut out = Vec::new();
    for (i, node) in model.convs.iter().enumerate() {
        let (dims, values) = initializer(&node.weight)?;
        let path = match i {
            0 => "stem".to_string(),
            i if i <= 2 * blocks => format!("blocks.{}.{}", (i - 1) / 2, if i % 2 == 1 { "depthwise" } else { "pointwise" }),
            _ => match dims[0] {
                2 => "fine_scores",
                32 => "fine_boxes",
                6 => "coarse_scores",
                96 => "coarse_boxes",
                other => return Err(ConvertError::UnexpectedHead(other)),
            }
            .to_string(),
        };
        out.push(NamedTensor { name: format!("{path}.weight"), shape: dims.clone(), values: values.clone() });
        if let Some(bias) = &node.bias {
            let (dims, values) = initializer(bias)?;
            out.push(NamedTensor { name: format!("{path}.bias"), shape: dims.clone(), values: values.clone() });
        }
    }
    check_shapes(crate::detector::Detector::parameter_shapes(&burn::tensor::Device::flex()), &out)?;
    Ok(out)
}
