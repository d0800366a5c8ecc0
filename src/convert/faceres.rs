//! HSE FaceRes: a tfjs graph model whose BatchNorms the tfjs converter partly merged into the
//! convolutions (`merged_input`) and partly left as `mul`/`sub` vectors.

use super::{ConvertError, SourceTensor, SourceTensors, conv, kernel_to_oihw, take};
use crate::weights::NamedTensor;

/// FaceRes' tensors at the Burn paths of its network (`backbone::mobilenet`'s MobileNetV1).
pub(super) fn faceres(tensors: &SourceTensors) -> Result<Vec<NamedTensor>, ConvertError> {
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
            return Err(ConvertError::NotRelu6 { name: name.clone(), values: tensor.values.clone() });
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
