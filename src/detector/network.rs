//! BlazeFace's front model as a Burn module: a 5x5 stem, 16 BlazeBlocks, and two SSD heads (scores
//! and box regressions) on the 16x16 and the 8x8 feature maps.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

/// Output channels and depthwise stride of the 16 BlazeBlocks of the front model.
const BLOCKS: [(usize, usize); 16] = [
    (24, 1), (28, 1), (32, 2), (36, 1), (42, 1), (48, 2), (56, 1), (64, 1),
    (72, 1), (80, 1), (88, 1), (96, 2), (96, 1), (96, 1), (96, 1), (96, 1),
];
/// The 16x16 head reads the output of this many blocks; the 8x8 head reads the last.
const FINE_BLOCKS: usize = 11;
/// Anchors per cell of the 16x16 and of the 8x8 head.
pub(super) const FINE_ANCHORS: usize = 2;
pub(super) const COARSE_ANCHORS: usize = 6;
/// Per anchor: box centre offset (2), size (2), 6 keypoints (12).
pub(super) const REGRESSION: usize = 16;

#[derive(Config, Debug)]
pub struct BlazeFaceConfig {
    #[config(default = 24)]
    pub stem_channels: usize,
}

/// Depthwise 3x3 then pointwise 1x1, added to the input (max-pooled when strided, zero-padded
/// to the new channel count), then ReLU.
#[derive(Module, Debug)]
pub struct BlazeBlock {
    pub depthwise: Conv2d,
    pub pointwise: Conv2d,
}

#[derive(Module, Debug)]
pub struct BlazeFace {
    pub stem: Conv2d,
    pub blocks: Vec<BlazeBlock>,
    pub fine_scores: Conv2d,
    pub fine_boxes: Conv2d,
    pub coarse_scores: Conv2d,
    pub coarse_boxes: Conv2d,
}

impl BlazeFaceConfig {
    pub fn init(&self, device: &Device) -> BlazeFace {
        let same = |c: Conv2dConfig| c.with_padding(PaddingConfig2d::Same);
        let stem = same(Conv2dConfig::new([3, self.stem_channels], [5, 5]).with_stride([2, 2])).init(device);
        let mut channels = self.stem_channels;
        let mut widths = Vec::new();
        let blocks = BLOCKS
            .iter()
            .map(|&(out, stride)| {
                let block = BlazeBlock {
                    depthwise: same(Conv2dConfig::new([channels, channels], [3, 3]).with_stride([stride, stride]).with_groups(channels).with_bias(false)).init(device),
                    pointwise: Conv2dConfig::new([channels, out], [1, 1]).init(device),
                };
                channels = out;
                widths.push(out);
                block
            })
            .collect();
        let (fine, coarse) = (widths[FINE_BLOCKS - 1], channels);
        let head = |inputs: usize, outputs: usize| Conv2dConfig::new([inputs, outputs], [1, 1]).init(device);
        BlazeFace {
            stem,
            blocks,
            fine_scores: head(fine, FINE_ANCHORS),
            fine_boxes: head(fine, FINE_ANCHORS * REGRESSION),
            coarse_scores: head(coarse, COARSE_ANCHORS),
            coarse_boxes: head(coarse, COARSE_ANCHORS * REGRESSION),
        }
    }
}

impl BlazeBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, channels, _, _] = x.dims();
        let strided = self.depthwise.stride[0] == 2;
        let branch = self.pointwise.forward(self.depthwise.forward(x.clone()));
        let mut shortcut = if strided { max_pool2d(x, MaxPoolOptions::new([2, 2])) } else { x };
        let out = branch.dims()[1];
        if out > channels {
            let [_, _, h, w] = shortcut.dims();
            let zeros = Tensor::zeros([batch, out - channels, h, w], &shortcut.device());
            shortcut = Tensor::cat(vec![shortcut, zeros], 1);
        }
        relu(branch + shortcut)
    }
}

/// `[batch, anchors * k, H, W]` to `[batch, H * W * anchors, k]`, MediaPipe's anchor order.
fn per_anchor(x: Tensor<4>, k: usize) -> Tensor<3> {
    let [batch, channels, h, w] = x.dims();
    x.permute([0, 2, 3, 1]).reshape([batch, h * w * channels / k, k])
}

impl BlazeFace {
    /// `[batch, 3, 128, 128]` in [-1, 1] to raw scores `[batch, 896, 1]` and regressions
    /// `[batch, 896, 16]`.
    pub fn forward(&self, input: Tensor<4>) -> (Tensor<3>, Tensor<3>) {
        let mut x = relu(self.stem.forward(input));
        let mut fine = None;
        for (i, block) in self.blocks.iter().enumerate() {
            x = block.forward(x);
            if i + 1 == FINE_BLOCKS {
                fine = Some(x.clone());
            }
        }
        let fine = fine.expect("the fine head's block exists");
        let scores = Tensor::cat(vec![per_anchor(self.fine_scores.forward(fine.clone()), 1), per_anchor(self.coarse_scores.forward(x.clone()), 1)], 1);
        let boxes = Tensor::cat(vec![per_anchor(self.fine_boxes.forward(fine), REGRESSION), per_anchor(self.coarse_boxes.forward(x), REGRESSION)], 1);
        (scores, boxes)
    }
}
