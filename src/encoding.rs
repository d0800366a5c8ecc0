//! Byte fields in JSON documents (the roster, the trained model, the export file): base64 of the
//! raw bytes, and of little-endian f32 for embeddings (a tenth of a JSON number list, and exact).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serializer};

/// `#[serde(with = "crate::encoding::base64_bytes")]` on a `Vec<u8>`.
pub mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        STANDARD.decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// `#[serde(with = "crate::encoding::base64_f32s")]` on a `Vec<f32>`.
pub mod base64_f32s {
    use super::*;

    pub fn serialize<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
        base64_bytes::serialize(&crate::weights::f32_bytes(values), s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
        let bytes = base64_bytes::deserialize(d)?;
        if bytes.len() % 4 != 0 {
            return Err(serde::de::Error::custom("an embedding's byte length is not a multiple of 4"));
        }
        Ok(crate::weights::f32_values(&bytes))
    }
}

/// `#[serde(with = "crate::encoding::base64_f32s_by_backbone")]` on a map of embeddings by backbone.
pub mod base64_f32s_by_backbone {
    use std::collections::BTreeMap;

    use super::*;
    use crate::backbone::BackboneId;
    use serde::ser::SerializeMap;

    pub fn serialize<S: Serializer>(map: &BTreeMap<BackboneId, Vec<f32>>, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_map(Some(map.len()))?;
        for (backbone, values) in map {
            out.serialize_entry(backbone, &STANDARD.encode(crate::weights::f32_bytes(values)))?;
        }
        out.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<BackboneId, Vec<f32>>, D::Error> {
        BTreeMap::<BackboneId, String>::deserialize(d)?
            .into_iter()
            .map(|(backbone, text)| {
                let bytes = STANDARD.decode(text).map_err(serde::de::Error::custom)?;
                if bytes.len() % 4 != 0 {
                    return Err(serde::de::Error::custom("an embedding's byte length is not a multiple of 4"));
                }
                Ok((backbone, crate::weights::f32_values(&bytes)))
            })
            .collect()
    }
}

/// A CSV field, quoted (commas, quotes and line breaks in names and paths stay in their field).
pub fn csv_quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}
