//! dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1`, dlib's
//! `dnn_face_recognition_ex.cpp`): 29 convolutions in 14 residual blocks of two 3x3
//! convolutions, average pooling over everything and a 256 -> 128 fully connected layer
//! without bias. dlib's `affine_` layers (BatchNorm, already folded by dlib) are folded into
//! the convolutions when the weights are converted.
//!
//! dlib pads stride-2 operations by 0 and stride-1 3x3 convolutions by 1. A down-sampling block
//! adds an average-pooled (2x2/2) shortcut to its residual, zero-padding whichever is smaller:
//! missing channels, and missing rows/columns at the bottom and right (8x8 -> 3x3 + 4x4, 4x4 ->
//! 1x1 + 2x2 in the last two levels).

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

/// Filters, blocks and whether the first block down-samples, from the input side: dlib's
/// `alevel4` .. `alevel0`.
pub const LEVELS: [(usize, usize, bool); 5] = [(32, 3, false), (64, 4, true), (128, 3, true), (256, 3, true), (256, 1, true)];
/// Stem convolution: filters, kernel side and stride (then a 3x3/2 max pool).
pub const STEM: (usize, usize, usize) = (32, 7, 2);
pub const DESCRIPTOR_DIM: usize = 128;

#[derive(Config, Debug)]
pub struct DlibResNetConfig {
    #[config(default = 128)]
    pub descriptor_dim: usize,
}

/// `relu(second(relu(first(x))) + shortcut(x))`, the shortcut average-pooled where `first`
/// has stride 2.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    pub first: Conv2d,
    pub second: Conv2d,
    pub shortcut_pool: Option<AvgPool2d>,
}

#[derive(Module, Debug)]
pub struct DlibResNet {
    pub stem: Conv2d,
    pub pool: MaxPool2d,
    pub blocks: Vec<ResidualBlock>,
    pub fc: Linear,
}

/// Each block's input channels, filters and whether it down-samples, in forward order.
pub fn block_shapes() -> Vec<(usize, usize, bool)> {
    let mut channels = STEM.0;
    LEVELS
        .iter()
        .flat_map(|&(filters, blocks, down)| (0..blocks).map(move |block| (filters, down && block == 0)))
        .map(|(filters, down)| {
            let shape = (channels, filters, down);
            channels = filters;
            shape
        })
        .collect()
}

impl DlibResNetConfig {
    pub fn init(&self, device: &Device) -> DlibResNet {
        let (stem_filters, stem_kernel, stem_stride) = STEM;
        let stem = Conv2dConfig::new([3, stem_filters], [stem_kernel, stem_kernel])
            .with_stride([stem_stride, stem_stride])
            .init(device);
        let pool = MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).init();
        let blocks = block_shapes()
            .into_iter()
            .map(|(input, filters, down)| {
                let stride = if down { 2 } else { 1 };
                let padding = if down { PaddingConfig2d::Valid } else { PaddingConfig2d::Explicit(1, 1, 1, 1) };
                ResidualBlock {
                    first: Conv2dConfig::new([input, filters], [3, 3])
                        .with_stride([stride, stride])
                        .with_padding(padding)
                        .init(device),
                    second: Conv2dConfig::new([filters, filters], [3, 3])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device),
                    shortcut_pool: down.then(|| AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
                }
            })
            .collect::<Vec<_>>();
        let last = LEVELS[LEVELS.len() - 1].0;
        let fc = LinearConfig::new(last, self.descriptor_dim).with_bias(false).init(device);
        DlibResNet { stem, pool, blocks, fc }
    }
}

/// `a + b` after zero-padding both to their common (largest) shape, top-left aligned: dlib's
/// `add_prev` on tensors of different shapes.
fn add_zero_padded(a: Tensor<4>, b: Tensor<4>) -> Tensor<4> {
    let (da, db) = (a.dims(), b.dims());
    if da == db {
        return a + b;
    }
    let shape: [usize; 4] = std::array::from_fn(|i| da[i].max(db[i]));
    let padded = |t: Tensor<4>, d: [usize; 4]| {
        Tensor::<4>::zeros(shape, &t.device()).slice_assign([0..d[0], 0..d[1], 0..d[2], 0..d[3]], t)
    };
    padded(a, da) + padded(b, db)
}

impl ResidualBlock {
    fn forward(&self, input: Tensor<4>) -> Tensor<4> {
        let x = self.first.forward(input.clone()).clamp_min(0.0);
        let x = self.second.forward(x);
        let shortcut = match &self.shortcut_pool {
            Some(pool) => pool.forward(input),
            None => input,
        };
        add_zero_padded(x, shortcut).clamp_min(0.0)
    }
}

impl DlibResNet {
    /// `[batch, 3, 150, 150]` normalised pixels to `[batch, 128]` descriptors (not normalised).
    pub fn forward(&self, input: Tensor<4>) -> Tensor<2> {
        let mut x = self.pool.forward(self.stem.forward(input).clamp_min(0.0));
        for block in &self.blocks {
            x = block.forward(x);
        }
        self.fc.forward(super::global_average_pool(x))
    }
}
