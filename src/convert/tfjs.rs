//! TensorFlow.js models: `model.json` (topology and weights manifest) and its weight shards,
//! with tfjs' dtypes and quantizations widened to f32.

use super::{ConvertError, SourceTensor, SourceTensors};

#[derive(serde::Deserialize)]
struct TfjsModel {
    #[serde(rename = "weightsManifest")]
    weights_manifest: Vec<TfjsWeightGroup>,
    #[serde(rename = "modelTopology")]
    model_topology: serde_json::Value,
}

#[derive(serde::Deserialize)]
struct TfjsWeightGroup {
    paths: Vec<String>,
    weights: Vec<TfjsWeightEntry>,
}

#[derive(serde::Deserialize)]
struct TfjsWeightEntry {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    quantization: Option<TfjsQuantization>,
}

#[derive(serde::Deserialize)]
struct TfjsQuantization {
    dtype: String,
    scale: Option<f32>,
    min: Option<f32>,
}

/// Reads one stored value (its bytes) as f32, given the entry's quantization.
type DecodeValue = fn(&[u8], &TfjsQuantization) -> f32;

/// A parsed TensorFlow.js model: its topology (JSON) and its weights.
pub struct TfjsModelFiles {
    pub topology: serde_json::Value,
    pub tensors: SourceTensors,
}

/// Reads a tfjs `model.json` and its weight shards (`read_shard` gets each path named in it).
pub fn read_tfjs(
    model_json: &[u8],
    mut read_shard: impl FnMut(&str) -> std::io::Result<Vec<u8>>,
) -> Result<TfjsModelFiles, ConvertError> {
    let model: TfjsModel = serde_json::from_slice(model_json).map_err(ConvertError::ModelJson)?;
    let mut tensors = SourceTensors::new();
    for group in &model.weights_manifest {
        let mut bytes = Vec::new();
        for path in &group.paths {
            bytes.extend(read_shard(path).map_err(|source| ConvertError::MissingShard { path: path.clone(), source })?);
        }
        let mut offset = 0;
        for entry in &group.weights {
            let count: usize = entry.shape.iter().product();
            let (width, decode): (usize, DecodeValue) =
                match (entry.dtype.as_str(), entry.quantization.as_ref().map(|q| q.dtype.as_str())) {
                    ("float32", None) => (4, |b, _| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                    ("int32", None) => (4, |b, _| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32),
                    ("float32", Some("float16")) => (2, |b, _| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
                    ("float32", Some("uint8")) => (1, |b, q| b[0] as f32 * q.scale.unwrap_or(1.0) + q.min.unwrap_or(0.0)),
                    ("float32", Some("uint16")) => {
                        (2, |b, q| u16::from_le_bytes([b[0], b[1]]) as f32 * q.scale.unwrap_or(1.0) + q.min.unwrap_or(0.0))
                    }
                    (dtype, quantization) => {
                        return Err(ConvertError::UnsupportedDtype {
                            name: entry.name.clone(),
                            dtype: dtype.to_string(),
                            quantization: quantization.map(String::from),
                        });
                    }
                };
            let end = offset + count * width;
            if end > bytes.len() {
                return Err(ConvertError::TruncatedShards(entry.name.clone()));
            }
            let default = TfjsQuantization { dtype: String::new(), scale: None, min: None };
            let quantization = entry.quantization.as_ref().unwrap_or(&default);
            let values = bytes[offset..end].chunks_exact(width).map(|b| decode(b, quantization)).collect();
            tensors.insert(entry.name.clone(), SourceTensor { shape: entry.shape.clone(), values });
            offset = end;
        }
        if offset != bytes.len() {
            return Err(ConvertError::ShardSize { held: bytes.len(), described: offset });
        }
    }
    Ok(TfjsModelFiles { topology: model.model_topology, tensors })
}
