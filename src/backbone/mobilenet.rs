//! MobileNetV1 (width 1.0, ReLU6), the architecture of the HSE FaceRes face descriptor.
//!
//! BatchNorm is folded into every convolution when the weights are converted, so each layer is a
//! convolution with bias followed by ReLU6.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;

/// Output channels and depthwise stride of the 13 depthwise-separable blocks.
const BLOCKS: [(usize, usize); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

#[derive(Config, Debug)]
pub struct MobileNetV1Config {
    /// Channels of the first (stride 2) convolution.
    #[config(default = 32)]
    pub stem_channels: usize,
}

#[derive(Module, Debug)]
pub struct DepthwiseSeparable {
    pub depthwise: Conv2d,
    pub pointwise: Conv2d,
}

#[derive(Module, Debug)]
pub struct MobileNetV1 {
    pub stem: Conv2d,
    pub blocks: Vec<DepthwiseSeparable>,
}

impl MobileNetV1Config {
    pub fn init(&self, device: &Device) -> MobileNetV1 {
        // TensorFlow's "SAME" padding: asymmetric (extra row/column at the end) for stride 2.
        let stem = Conv2dConfig::new([3, self.stem_channels], [3, 3])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Same)
            .init(device);
        let mut channels = self.stem_channels;
        let blocks = BLOCKS
            .iter()
            .map(|&(out, stride)| {
                let block = DepthwiseSeparable {
                    depthwise: Conv2dConfig::new([channels, channels], [3, 3])
                        .with_stride([stride, stride])
                        .with_groups(channels)
                        .with_padding(PaddingConfig2d::Same)
                        .init(device),
                    pointwise: Conv2dConfig::new([channels, out], [1, 1]).init(device),
                };
                channels = out;
                block
            })
            .collect();
        MobileNetV1 { stem, blocks }
    }
}

fn relu6(x: Tensor<4>) -> Tensor<4> {
    x.clamp(0.0, 6.0)
}

impl MobileNetV1 {
    /// `[batch, 3, H, W]` normalised pixels to `[batch, 1024]` globally averaged features.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = relu6(self.stem.forward(input));
        for block in &self.blocks {
            x = relu6(block.depthwise.forward(x));
            x = relu6(block.pointwise.forward(x));
        }
        super::global_average_pool(x)
    }
}
