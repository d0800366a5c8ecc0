//! The converted weight format: a safetensors file whose keys are the Burn module paths and whose
//! tensors are already in Burn's layout. Tensors are stored as f16 where that loses nothing (every
//! value exactly representable) and as f32 otherwise, or all as f16 where a backbone's spec says
//! rounding costs nothing measurable (half the download); loading widens them all to f32.

use std::collections::BTreeMap;

use half::f16;
use safetensors::tensor::{Dtype, SafeTensorError, TensorView};

/// A named f32 tensor in Burn's layout, ready to be written.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Whether every value survives a round trip through f16 exactly.
fn f16_is_lossless(values: &[f32]) -> bool {
    values.iter().all(|&v| f16::from_f32(v).to_f32() == v)
}

/// Serializes already-encoded tensors (name, dtype, shape, little-endian bytes).
fn serialize(
    encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
    metadata: Option<BTreeMap<String, String>>,
) -> Result<Vec<u8>, SafeTensorError> {
    let views = encoded
        .iter()
        .map(|(name, dtype, shape, bytes)| Ok((name.clone(), TensorView::new(*dtype, shape.clone(), bytes)?)))
        .collect::<Result<Vec<_>, SafeTensorError>>()?;
    safetensors::serialize(views, metadata.map(|m| m.into_iter().collect()))
}

/// f32 values as little-endian bytes (the layout of safetensors, ONNX and the worker's messages).
pub fn f32_bytes<'a>(values: impl IntoIterator<Item = &'a f32>) -> Vec<u8> {
    values.into_iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian bytes as f32 values (a trailing partial value is ignored).
pub fn f32_values(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// Serializes tensors (f16 where lossless, else f32) with string metadata.
pub fn to_safetensors(tensors: &[NamedTensor], metadata: BTreeMap<String, String>) -> Result<Vec<u8>, SafeTensorError> {
    encode(tensors, metadata, false)
}

/// Serializes tensors all as f16 (rounded to nearest) with string metadata.
pub fn to_safetensors_f16(tensors: &[NamedTensor], metadata: BTreeMap<String, String>) -> Result<Vec<u8>, SafeTensorError> {
    encode(tensors, metadata, true)
}

fn encode(tensors: &[NamedTensor], metadata: BTreeMap<String, String>, round_to_f16: bool) -> Result<Vec<u8>, SafeTensorError> {
    let encoded = tensors
        .iter()
        .map(|t| {
            if round_to_f16 || f16_is_lossless(&t.values) {
                let bytes = t.values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect();
                (t.name.clone(), Dtype::F16, t.shape.clone(), bytes)
            } else {
                (t.name.clone(), Dtype::F32, t.shape.clone(), f32_bytes(&t.values))
            }
        })
        .collect();
    serialize(encoded, Some(metadata))
}

/// Reads every tensor of a converted file as f32.
pub fn read_f32(bytes: &[u8]) -> Result<Vec<NamedTensor>, SafeTensorError> {
    let file = safetensors::SafeTensors::deserialize(bytes)?;
    let mut tensors = Vec::new();
    for (name, view) in file.tensors() {
        let data = view.data();
        let values = match view.dtype() {
            Dtype::F16 => data.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::F32 => f32_values(data),
            other => {
                return Err(SafeTensorError::InvalidTensorView(other, view.shape().to_vec(), data.len()));
            }
        };
        tensors.push(NamedTensor { name, shape: view.shape().to_vec(), values });
    }
    Ok(tensors)
}

/// Re-encodes a converted file with every tensor as f32, the element type the networks compute in.
pub fn widen_to_f32(bytes: &[u8]) -> Result<Vec<u8>, SafeTensorError> {
    let encoded = read_f32(bytes)?
        .into_iter()
        .map(|t| (t.name, Dtype::F32, t.shape, f32_bytes(&t.values)))
        .collect();
    serialize(encoded, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_storage_only_where_lossless_and_round_trips() {
        let exact = NamedTensor { name: "a".into(), shape: vec![2], values: vec![0.5, -3.0] };
        let inexact = NamedTensor { name: "b".into(), shape: vec![1], values: vec![0.1] };
        let bytes = to_safetensors(&[exact.clone(), inexact.clone()], BTreeMap::new()).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(file.tensor("a").unwrap().dtype(), Dtype::F16);
        assert_eq!(file.tensor("b").unwrap().dtype(), Dtype::F32);
        let mut back = read_f32(&widen_to_f32(&bytes).unwrap()).unwrap();
        back.sort_by(|x, y| x.name.cmp(&y.name));
        assert_eq!(back, vec![exact, inexact]);
    }
}
