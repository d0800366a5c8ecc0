//! ResNet-50 (bottleneck v1, stride on the first 1x1 convolution), in the two flavours the
//! project's backbones were trained with: Keras Applications' (ImageNet) and keras-vggface's
//! (VGGFace2). They differ only in how the stem pads; BatchNorm (and its epsilon) and the conv
//! biases are folded into the convolutions when the weights are converted.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;

/// Blocks per stage and the bottleneck width of each stage.
const STAGES: [(usize, usize); 4] = [(3, 64), (4, 128), (6, 256), (3, 512)];
const EXPANSION: usize = 4;

/// How the 7x7 stem convolution and the 3x3 max pool pad their input.
#[derive(Config, Debug, PartialEq, Copy)]
pub enum StemPadding {
    /// Keras Applications: `ZeroPadding2D(3)` + valid conv, `ZeroPadding2D(1)` + valid pool.
    Symmetric,
    /// keras-vggface: conv with TensorFlow "SAME" padding (2 before, 3 after), unpadded pool.
    TensorflowSame,
}

#[derive(Config, Debug)]
pub struct ResNet50Config {
    #[config(default = "StemPadding::Symmetric")]
    pub stem_padding: StemPadding,
}

#[derive(Module, Debug)]
pub struct Bottleneck {
    pub reduce: Conv2d,
    pub spatial: Conv2d,
    pub expand: Conv2d,
    pub projection: Option<Conv2d>,
}

#[derive(Module, Debug)]
pub struct Stage {
    pub blocks: Vec<Bottleneck>,
}

#[derive(Module, Debug)]
pub struct ResNet50 {
    pub stem: Conv2d,
    pub pool: MaxPool2d,
    pub stages: Vec<Stage>,
}

impl ResNet50Config {
    pub fn init(&self, device: &Device) -> ResNet50 {
        let (stem_padding, pool_padding) = match self.stem_padding {
            StemPadding::Symmetric => (PaddingConfig2d::Explicit(3, 3, 3, 3), PaddingConfig2d::Explicit(1, 1, 1, 1)),
            StemPadding::TensorflowSame => (PaddingConfig2d::Same, PaddingConfig2d::Valid),
        };
        let stem = Conv2dConfig::new([3, 64], [7, 7])
            .with_stride([2, 2])
            .with_padding(stem_padding)
            .init(device);
        let pool = MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).with_padding(pool_padding).init();
        let mut channels = 64;
        let stages = STAGES
            .iter()
            .enumerate()
            .map(|(index, &(depth, width))| {
                let first_stride = if index == 0 { 1 } else { 2 };
                let blocks = (0..depth)
                    .map(|block| {
                        let stride = if block == 0 { first_stride } else { 1 };
                        let out = width * EXPANSION;
                        let bottleneck = Bottleneck {
                            reduce: Conv2dConfig::new([channels, width], [1, 1])
                                .with_stride([stride, stride])
                                .init(device),
                            spatial: Conv2dConfig::new([width, width], [3, 3])
                                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                                .init(device),
                            expand: Conv2dConfig::new([width, out], [1, 1]).init(device),
                            projection: (block == 0).then(|| {
                                Conv2dConfig::new([channels, out], [1, 1])
                                    .with_stride([stride, stride])
                                    .init(device)
                            }),
                        };
                        channels = out;
                        bottleneck
                    })
                    .collect();
                Stage { blocks }
            })
            .collect();
        ResNet50 { stem, pool, stages }
    }
}

impl Bottleneck {
    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = self.reduce.forward(input.clone()).clamp_min(0.0);
        let x = self.spatial.forward(x).clamp_min(0.0);
        let x = self.expand.forward(x);
        let shortcut = match &self.projection {
            Some(projection) => projection.forward(input),
            None => input,
        };
        (x + shortcut).clamp_min(0.0)
    }
}

impl ResNet50 {
    /// `[batch, 3, 224, 224]` normalised pixels to `[batch, 2048]` globally averaged features.
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        // Max pooling after ReLU: zero and -inf padding give the same result.
        let mut x = self.pool.forward(self.stem.forward(input).clamp_min(0.0));
        for stage in &self.stages {
            for block in &stage.blocks {
                x = block.forward(x);
            }
        }
        super::global_average_pool(x)
    }
}
