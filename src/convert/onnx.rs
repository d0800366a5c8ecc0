//! Just enough of ONNX's protobuf to read a model's weights (float initializers) and its Conv
//! nodes in graph order, for the weights tool. No operator is run from here.

use std::collections::HashMap;

/// Why an ONNX file could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnnxError {
    #[error("protobuf: varint runs past the end")]
    VarintPastEnd,
    #[error("protobuf: varint too long")]
    VarintTooLong,
    #[error("protobuf: field runs past the end")]
    FieldPastEnd,
    #[error("protobuf: unsupported wire type {0}")]
    UnsupportedWireType(u64),
    #[error("ONNX: a name is not UTF-8")]
    NameNotUtf8,
    #[error("ONNX: {name} has {values} values for shape {dims:?}")]
    ValueCount { name: String, values: usize, dims: Vec<usize> },
    #[error("not an ONNX model (no graph)")]
    NoGraph,
    #[error("ONNX: a Conv node without weights")]
    ConvWithoutWeights,
}

/// A Conv node: its weight and (optional) bias initializer names.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvNode {
    pub weight: String,
    pub bias: Option<String>,
}

/// A float initializer's dims and values.
pub type Initializer = (Vec<usize>, Vec<f32>);

#[derive(Debug, Default)]
pub struct OnnxModel {
    /// Float initializers by name.
    pub tensors: HashMap<String, Initializer>,
    pub convs: Vec<ConvNode>,
}

/// A protobuf field: its number and its value (varint, or the bytes of a length-delimited or
/// fixed-size field).
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn varint(&mut self) -> Result<u64, OnnxError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.bytes.get(self.at).ok_or(OnnxError::VarintPastEnd)?;
            self.at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(OnnxError::VarintTooLong)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], OnnxError> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or(OnnxError::FieldPastEnd)?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn next(&mut self) -> Result<Option<(u64, Value<'a>)>, OnnxError> {
        if self.at >= self.bytes.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Bytes(self.take(8)?),
            2 => {
                let n = self.varint()? as usize;
                Value::Bytes(self.take(n)?)
            }
            5 => Value::Bytes(self.take(4)?),
            other => return Err(OnnxError::UnsupportedWireType(other)),
        };
        Ok(Some((key >> 3, value)))
    }
}

/// Every field of a message, in order.
fn fields(bytes: &[u8]) -> Result<Vec<(u64, Value<'_>)>, OnnxError> {
    let mut reader = Reader::new(bytes);
    let mut out = Vec::new();
    while let Some(field) = reader.next()? {
        out.push(field);
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> Result<String, OnnxError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| OnnxError::NameNotUtf8)
}

/// Packed (or single) varints.
fn push_varints(value: &Value, out: &mut Vec<u64>) -> Result<(), OnnxError> {
    match value {
        Value::Varint(v) => out.push(*v),
        Value::Bytes(bytes) => {
            let mut reader = Reader::new(bytes);
            while reader.at < bytes.len() {
                out.push(reader.varint()?);
            }
        }
    }
    Ok(())
}

const FLOAT: u64 = 1;

/// A TensorProto; `None` for non-float tensors (shapes and the like).
fn tensor(bytes: &[u8]) -> Result<Option<(String, Initializer)>, OnnxError> {
    let (mut name, mut dims, mut data_type, mut values) = (String::new(), Vec::new(), 0, Vec::new());
    for (field, value) in fields(bytes)? {
        match (field, &value) {
            (1, _) => push_varints(&value, &mut dims)?,
            (2, Value::Varint(t)) => data_type = *t,
            (4, Value::Bytes(b)) | (9, Value::Bytes(b)) => {
                values.extend(crate::weights::f32_values(b))
            }
            (8, Value::Bytes(b)) => name = text(b)?,
            _ => {}
        }
    }
    if data_type != FLOAT {
        return Ok(None);
    }
    let dims: Vec<usize> = dims.into_iter().map(|d| d as usize).collect();
    if dims.iter().product::<usize>() != values.len() {
        return Err(OnnxError::ValueCount { name, values: values.len(), dims });
    }
    Ok(Some((name, (dims, values))))
}

fn node(bytes: &[u8]) -> Result<Option<ConvNode>, OnnxError> {
    let (mut inputs, mut op) = (Vec::new(), String::new());
    for (field, value) in fields(bytes)? {
        match (field, value) {
            (1, Value::Bytes(b)) => inputs.push(text(b)?),
            (4, Value::Bytes(b)) => op = text(b)?,
            _ => {}
        }
    }
    if op != "Conv" {
        return Ok(None);
    }
    let weight = inputs.get(1).cloned().ok_or(OnnxError::ConvWithoutWeights)?;
    Ok(Some(ConvNode { weight, bias: inputs.get(2).cloned() }))
}

/// Reads a model file: its float initializers and its Conv nodes in graph order.
pub fn read(bytes: &[u8]) -> Result<OnnxModel, OnnxError> {
    let graph = fields(bytes)?
        .into_iter()
        .find_map(|(field, value)| match (field, value) {
            (7, Value::Bytes(b)) => Some(b),
            _ => None,
        })
        .ok_or(OnnxError::NoGraph)?;
    let mut model = OnnxModel::default();
    for (field, value) in fields(graph)? {
        match (field, value) {
            (1, Value::Bytes(b)) => model.convs.extend(node(b)?),
            (5, Value::Bytes(b)) => model.tensors.extend(tensor(b)?),
            _ => {}
        }
    }
    Ok(model)
}
