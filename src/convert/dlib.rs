//! dlib's `.dat` network file (dlib/serialize.h, dlib/dnn/core.h, layers.h, loss.h, input.h):
//! read exactly as dlib writes `anet_type` of `dnn_face_recognition_ex.cpp`, every layer's tag,
//! shape, stride and padding checked against `backbone::dlib`, and the whole file consumed.
//!
//! Stream order: the loss layer, each layer wrapper's version from the output to the input, the
//! input layer, then each layer's details and bookkeeping from the input to the output.

use crate::backbone::dlib::{DESCRIPTOR_DIM, LEVELS, STEM, block_shapes};
use crate::preprocess::Normalization;
use crate::weights::NamedTensor;

/// Why a `.dat` file is not dlib's face-recognition ResNet.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum DlibError {
    #[error("the file ends at byte {0}, inside the network (truncated?)")]
    Truncated(usize),
    #[error("byte {at}: expected {expected}, found {found}")]
    Unexpected { at: usize, expected: String, found: String },
    #[error("{0} bytes are left after the network")]
    TrailingBytes(usize),
}

/// A layer of the network in forward order, as dlib serializes it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Layer {
    Con { filters: usize, kernel: usize, stride: usize },
    Affine,
    Relu,
    MaxPool { size: usize, stride: usize },
    /// `size` 0 is `avg_pool_everything`.
    AvgPool { size: usize, stride: usize },
    AddPrev,
    /// `tag1`/`tag2`/`skip1`: a version number only.
    TagOrSkip,
    Fc { outputs: usize },
}

/// `anet_type`'s layers from the input to the output.
fn layers() -> Vec<Layer> {
    use Layer::*;
    let (filters, kernel, stride) = STEM;
    let mut layers = vec![Con { filters, kernel, stride }, Affine, Relu, MaxPool { size: 3, stride: 2 }];
    for (_, filters, down) in block_shapes() {
        let block = [
            Con { filters, kernel: 3, stride: if down { 2 } else { 1 } },
            Affine,
            Relu,
            Con { filters, kernel: 3, stride: 1 },
            Affine,
        ];
        layers.push(TagOrSkip); // tag1
        layers.extend(block);
        if down {
            // tag2, skip1 (back to tag1's input), avg_pool, add_prev2
            layers.extend([TagOrSkip, TagOrSkip, AvgPool { size: 2, stride: 2 }]);
        }
        layers.extend([AddPrev, Relu]);
    }
    layers.extend([AvgPool { size: 0, stride: 1 }, Fc { outputs: DESCRIPTOR_DIM }]);
    layers
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DlibError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or(DlibError::Truncated(self.bytes.len()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    /// dlib's integer: a control byte (low nibble: byte count, bit 7: negative), then the
    /// magnitude's bytes, little-endian.
    fn int(&mut self) -> Result<i64, DlibError> {
        let at = self.at;
        let control = self.take(1)?[0];
        let size = (control & 0x0f) as usize;
        if size > 8 {
            return Err(self.unexpected(at, "an integer", format!("control byte {control:#04x}")));
        }
        let magnitude = self.take(size)?.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64);
        let magnitude = i64::try_from(magnitude).map_err(|_| self.unexpected(at, "an integer", "an overflow".to_string()))?;
        Ok(if control & 0x80 != 0 { -magnitude } else { magnitude })
    }

    /// A non-negative integer that must fit in memory (counts, sizes).
    fn count(&mut self) -> Result<usize, DlibError> {
        let at = self.at;
        let value = self.int()?;
        usize::try_from(value).map_err(|_| self.unexpected(at, "a count", value.to_string()))
    }

    fn expect_int(&mut self, what: &str, expected: i64) -> Result<(), DlibError> {
        let at = self.at;
        let found = self.int()?;
        if found != expected {
            return Err(self.unexpected(at, &format!("{what} {expected}"), found.to_string()));
        }
        Ok(())
    }

    /// dlib's `float_details`: an integer mantissa and an integer exponent.
    fn float(&mut self) -> Result<f64, DlibError> {
        let mantissa = self.int()?;
        let exponent = self.int()?;
        Ok(mantissa as f64 * 2f64.powi(exponent.clamp(-2000, 2000) as i32))
    }

    fn bool(&mut self) -> Result<bool, DlibError> {
        let at = self.at;
        match self.take(1)?[0] {
            b'0' => Ok(false),
            b'1' => Ok(true),
            other => Err(self.unexpected(at, "a bool", format!("byte {other:#04x}"))),
        }
    }

    fn expect_string(&mut self, expected: &str) -> Result<(), DlibError> {
        let at = self.at;
        let length = self.count()?;
        let found = self.take(length.min(self.bytes.len()))?;
        if found != expected.as_bytes() {
            return Err(self.unexpected(at, &format!("\"{expected}\""), format!("{:?}", String::from_utf8_lossy(found))));
        }
        Ok(())
    }

    /// A tensor's shape (num_samples, k, nr, nc).
    fn shape(&mut self, version: i64) -> Result<[usize; 4], DlibError> {
        self.expect_int("tensor version", version)?;
        Ok([self.count()?, self.count()?, self.count()?, self.count()?])
    }

    /// A tensor: its shape, then its values as little-endian f32.
    fn tensor(&mut self) -> Result<Vec<f32>, DlibError> {
        let shape = self.shape(2)?;
        let values = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or(DlibError::Truncated(self.bytes.len()))?;
        let bytes = self.take(values.checked_mul(4).ok_or(DlibError::Truncated(self.bytes.len()))?)?;
        Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    /// A tensor that must hold `expected` values.
    fn params(&mut self, expected: usize) -> Result<Vec<f32>, DlibError> {
        let at = self.at;
        let values = self.tensor()?;
        if values.len() != expected {
            return Err(self.unexpected(at, &format!("{expected} parameters"), values.len().to_string()));
        }
        Ok(values)
    }

    /// An empty tensor (gradients and cached outputs, which this file does not keep).
    fn empty_tensor(&mut self) -> Result<(), DlibError> {
        let at = self.at;
        let values = self.tensor()?;
        if !values.is_empty() {
            return Err(self.unexpected(at, "an empty tensor", format!("{} values", values.len())));
        }
        Ok(())
    }

    /// Window (or kernel) rows and columns, strides and paddings, as dlib's layers write them.
    fn window(&mut self, size: usize, stride: usize, padding: usize) -> Result<(), DlibError> {
        for (what, value) in [("rows", size), ("columns", size), ("stride", stride), ("stride", stride), ("padding", padding), ("padding", padding)] {
            self.expect_int(what, value as i64)?;
        }
        Ok(())
    }

    fn unexpected(&self, at: usize, expected: &str, found: String) -> DlibError {
        DlibError::Unexpected { at, expected: expected.to_string(), found }
    }
}

/// What a layer holds: a convolution's filters and biases, an affine's gamma and beta, the
/// fully connected layer's weights.
enum Params {
    Con { filters: usize, inputs: usize, kernel: usize, values: Vec<f32> },
    Affine { gamma: Vec<f32>, beta: Vec<f32> },
    Fc(Vec<f32>),
}

/// Reads one layer's details (its tag, configuration and parameters), given its input channels.
fn read_details(reader: &mut Reader, layer: Layer, channels: usize) -> Result<Option<Params>, DlibError> {
    Ok(match layer {
        Layer::Con { filters, kernel, stride } => {
            reader.expect_string("con_4")?;
            let count = filters * channels * kernel * kernel;
            let values = reader.params(count + filters)?;
            reader.expect_int("filters", filters as i64)?;
            reader.window(kernel, stride, if stride == 1 { kernel / 2 } else { 0 })?;
            let filter_shape = reader.shape(1)?;
            let bias_shape = reader.shape(1)?;
            if filter_shape != [filters, channels, kernel, kernel] || bias_shape != [1, filters, 1, 1] {
                return Err(reader.unexpected(reader.at, "the convolution's shapes", format!("{filter_shape:?} {bias_shape:?}")));
            }
            for _ in 0..4 {
                reader.float()?; // learning-rate and weight-decay multipliers
            }
            Some(Params::Con { filters, inputs: channels, kernel, values })
        }
        Layer::Affine => {
            reader.expect_string("affine_")?;
            let values = reader.params(2 * channels)?;
            reader.shape(1)?;
            reader.shape(1)?;
            reader.expect_int("affine mode (per channel)", 0)?;
            let (gamma, beta) = values.split_at(channels);
            Some(Params::Affine { gamma: gamma.to_vec(), beta: beta.to_vec() })
        }
        Layer::Relu => {
            reader.expect_string("relu_")?;
            None
        }
        Layer::MaxPool { size, stride } => {
            reader.expect_string("max_pool_2")?;
            reader.window(size, stride, 0)?;
            None
        }
        Layer::AvgPool { size, stride } => {
            reader.expect_string("avg_pool_2")?;
            reader.window(size, stride, 0)?;
            None
        }
        Layer::AddPrev => {
            reader.expect_string("add_prev_")?;
            None
        }
        Layer::Fc { outputs } => {
            reader.expect_string("fc_2")?;
            reader.expect_int("outputs", outputs as i64)?;
            reader.expect_int("inputs", channels as i64)?;
            let values = reader.params(channels * outputs)?;
            reader.shape(1)?;
            reader.shape(1)?;
            reader.expect_int("bias mode (no bias)", 1)?;
            for _ in 0..4 {
                reader.float()?;
            }
            Some(Params::Fc(values))
        }
        Layer::TagOrSkip => unreachable!("tags and skips have no details"),
    })
}

/// Reads the whole `.dat` file and returns the network's tensors under the Burn module's paths,
/// each convolution with the affine layer after it folded in (in f64).
pub fn convert_dlib_resnet(bytes: &[u8], normalization: &Normalization) -> Result<Vec<NamedTensor>, DlibError> {
    let layers = layers();
    let mut reader = Reader { bytes, at: 0 };
    reader.expect_int("loss layer version", 1)?;
    reader.expect_string("loss_metric_2")?;
    reader.float()?; // margin
    reader.float()?; // distance threshold
    for (index, layer) in layers.iter().enumerate().rev() {
        let version = match layer {
            Layer::TagOrSkip => 1,
            _ if index == 0 => 3, // the layer on the input
            _ => 2,
        };
        reader.expect_int("layer version", version)?;
    }
    reader.expect_string("input_rgb_image_sized")?;
    for (channel, &expected) in normalization.mean.iter().enumerate() {
        let at = reader.at;
        let mean = reader.float()?;
        if (mean - expected as f64).abs() > 1e-3 {
            return Err(reader.unexpected(at, &format!("channel {channel} mean {expected}"), mean.to_string()));
        }
    }
    reader.count()?; // input rows and columns (150; any size runs)
    reader.count()?;

    let mut tensors = Vec::new();
    let mut pending_con: Option<Params> = None;
    let mut channels = 3;
    let mut convs = 0;
    for (index, &layer) in layers.iter().enumerate() {
        if layer == Layer::TagOrSkip {
            continue;
        }
        match read_details(&mut reader, layer, channels)? {
            Some(con @ Params::Con { filters, .. }) => {
                pending_con = Some(con);
                channels = filters;
            }
            Some(Params::Affine { gamma, beta }) => {
                let Some(Params::Con { filters, inputs, kernel, values }) = pending_con.take() else {
                    unreachable!("layers() puts a convolution before every affine layer")
                };
                let path = match convs {
                    0 => "stem".to_string(),
                    n => format!("blocks.{}.{}", (n - 1) / 2, if n % 2 == 1 { "first" } else { "second" }),
                };
                convs += 1;
                tensors.extend(folded_con(&path, [filters, inputs, kernel, kernel], &values, &gamma, &beta));
            }
            Some(Params::Fc(weights)) => {
                tensors.push(NamedTensor { name: "fc.weight".to_string(), shape: vec![channels, DESCRIPTOR_DIM], values: weights });
                channels = DESCRIPTOR_DIM;
            }
            None => {}
        }
        // Bookkeeping: three flags, then x_grad, cached_output and params_grad (on the input
        // layer: grad_final and the sample expansion factor), all empty here.
        for _ in 0..3 {
            reader.bool()?;
        }
        for _ in 0..3 {
            reader.empty_tensor()?;
        }
        if index == 0 {
            reader.count()?;
        }
    }
    debug_assert_eq!(convs, 1 + 2 * LEVELS.iter().map(|l| l.1).sum::<usize>());
    if reader.at != bytes.len() {
        return Err(DlibError::TrailingBytes(bytes.len() - reader.at));
    }
    Ok(tensors)
}

/// `affine(con(x))` as one convolution: filters times gamma, `bias * gamma + beta`.
fn folded_con(path: &str, shape: [usize; 4], values: &[f32], gamma: &[f32], beta: &[f32]) -> [NamedTensor; 2] {
    let per_filter = shape[1] * shape[2] * shape[3];
    let (filters, biases) = values.split_at(shape[0] * per_filter);
    let weight = filters
        .chunks_exact(per_filter)
        .zip(gamma)
        .flat_map(|(filter, &g)| filter.iter().map(move |&w| (w as f64 * g as f64) as f32))
        .collect();
    let bias = biases.iter().zip(gamma).zip(beta).map(|((&b, &g), &t)| (b as f64 * g as f64 + t as f64) as f32).collect();
    super::conv(path, (shape.to_vec(), weight), bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_read_as_dlib_writes_them() {
        // 0, 300 (two bytes), -5, then a truncated integer.
        let bytes = [0x00, 0x02, 0x2c, 0x01, 0x81, 0x05, 0x02, 0x01];
        let mut reader = Reader { bytes: &bytes, at: 0 };
        assert_eq!(reader.int(), Ok(0));
        assert_eq!(reader.int(), Ok(300));
        assert_eq!(reader.int(), Ok(-5));
        assert_eq!(reader.int(), Err(DlibError::Truncated(8)));
    }

    #[test]
    fn floats_are_mantissa_times_two_to_the_exponent() {
        // 3 * 2^-1
        let bytes = [0x01, 0x03, 0x81, 0x01];
        assert_eq!(Reader { bytes: &bytes, at: 0 }.float(), Ok(1.5));
    }

    #[test]
    fn the_layer_list_is_dlibs_130_wrapped_layers_with_29_convolutions() {
        let layers = layers();
        assert_eq!(layers.len(), 130);
        assert_eq!(layers.iter().filter(|l| matches!(l, Layer::Con { .. })).count(), 29);
    }

    #[test]
    fn a_foreign_file_names_what_it_found() {
        let error = convert_dlib_resnet(b"\x01\x01\x01\x05hello", &Normalization::DLIB).unwrap_err();
        assert!(matches!(error, DlibError::Unexpected { at: 2, .. }), "{error:?}");
    }
}
