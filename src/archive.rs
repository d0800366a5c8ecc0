//! The export file: everything a user enrolled (names, face thumbnails, embeddings) and the trained
//! head, as one JSON document with a format name and version, so that it can be imported into this
//! or another browser. Import validates everything before anything replaces what is enrolled.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use burn::tensor::Device;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::backbone::BackboneSpec;
use crate::head::TrainedHead;
use crate::roster::validate_name;

pub const FORMAT: &str = "facelab-export";
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Archive {
    pub format: String,
    pub version: u32,
    /// The backbone whose embeddings these are; another backbone's embeddings mean nothing here.
    pub backbone: String,
    pub embedding_dim: usize,
    pub people: Vec<ArchivedPerson>,
    pub head: Option<ArchivedHead>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchivedPerson {
    pub name: String,
    pub photos: Vec<ArchivedPhoto>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchivedPhoto {
    pub file_name: String,
    /// Little-endian f32, base64: a tenth of the size of a JSON number list, and exact.
    #[serde(serialize_with = "f32s_to_base64", deserialize_with = "f32s_from_base64")]
    pub embedding: Vec<f32>,
    #[serde(serialize_with = "bytes_to_base64", deserialize_with = "bytes_from_base64")]
    pub thumbnail_png: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArchivedHead {
    /// The people the head tells apart, in the order of its outputs.
    pub names: Vec<String>,
    #[serde(serialize_with = "bytes_to_base64", deserialize_with = "bytes_from_base64")]
    pub safetensors: Vec<u8>,
    /// The calibrated unknown threshold, where one was calibrated.
    #[serde(default)]
    pub unknown: Option<crate::openset::UnknownThreshold>,
}

fn bytes_to_base64<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(bytes))
}

fn bytes_from_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    STANDARD.decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
}

fn f32s_to_base64<S: Serializer>(values: &[f32], s: S) -> Result<S::Ok, S::Error> {
    bytes_to_base64(&crate::weights::f32_bytes(values), s)
}

fn f32s_from_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
    let bytes = bytes_from_base64(d)?;
    if bytes.len() % 4 != 0 {
        return Err(serde::de::Error::custom("an embedding's byte length is not a multiple of 4"));
    }
    Ok(crate::weights::f32_values(&bytes))
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

impl Archive {
    pub fn new(spec: &BackboneSpec, people: Vec<ArchivedPerson>, head: Option<ArchivedHead>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            backbone: spec.name.into(),
            embedding_dim: spec.embedding_dim,
            people,
            head,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an archive serializes")
    }

    /// Reads and checks an export file for the backbone in use; every problem is a sentence for
    /// the user. `device` is where the saved head is test-loaded.
    pub fn from_json(bytes: &[u8], spec: &BackboneSpec, device: &Device) -> Result<Self, String> {
        // The envelope first, so that another format or version is named as such rather than as
        // a missing field.
        #[derive(Deserialize)]
        struct Envelope {
            format: Option<String>,
            version: Option<u32>,
        }
        let envelope: Envelope = serde_json::from_slice(bytes).map_err(|e| {
            if e.is_eof() {
                "the file is cut short (truncated): export again from the page that has the data".to_string()
            } else {
                format!("this is not a facelab export file ({e})")
            }
        })?;
        if envelope.format.as_deref() != Some(FORMAT) {
            return Err("this is not a facelab export file (no \"format\": \"facelab-export\")".into());
        }
        match envelope.version {
            Some(VERSION) => {}
            Some(other) => {
                return Err(format!("this file is export version {other}; this page reads version {VERSION}"));
            }
            None => return Err("the file has no version field".into()),
        }
        let archive: Archive = serde_json::from_slice(bytes).map_err(|e| format!("the export file is damaged: {e}"))?;
        archive.validate(spec, device)?;
        Ok(archive)
    }

    fn validate(&self, spec: &BackboneSpec, device: &Device) -> Result<(), String> {
        if self.backbone != spec.name || self.embedding_dim != spec.embedding_dim {
            return Err(format!(
                "the file holds {} embeddings ({}-d); this page uses {} ({}-d): enroll the photos again instead",
                self.backbone, self.embedding_dim, spec.name, spec.embedding_dim
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        for person in &self.people {
            let name = validate_name(&person.name, names.iter().copied()).map_err(|e| format!("in the file: {e}"))?;
            for photo in &person.photos {
                if photo.embedding.len() != spec.embedding_dim || photo.embedding.iter().any(|v| !v.is_finite()) {
                    return Err(format!("{name}'s photo {} has a damaged embedding", photo.file_name));
                }
                if !photo.thumbnail_png.starts_with(PNG_SIGNATURE) {
                    return Err(format!("{name}'s photo {} has a damaged thumbnail", photo.file_name));
                }
            }
            names.push(&person.name);
        }
        if let Some(head) = &self.head {
            if let Some(missing) = head.names.iter().find(|n| !names.contains(&n.as_str())) {
                return Err(format!("the saved model knows {missing}, who is not among the file's people"));
            }
            let trained = TrainedHead::from_safetensors(&head.safetensors, device)?;
            if trained.sizes() != (spec.embedding_dim, head.names.len()) {
                return Err("the saved model does not fit the file's people and backbone".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::FACERES;
    use crate::head::HeadConfig;
    use crate::preprocess::RgbImage;

    fn person(name: &str, value: f32) -> ArchivedPerson {
        let thumbnail_png = RgbImage::new(2, 2, vec![value as u8; 12]).to_png();
        let photos = (0..2)
            .map(|i| ArchivedPhoto { file_name: format!("{name}_{i}.jpg"), embedding: vec![value + i as f32; 1024], thumbnail_png: thumbnail_png.clone() })
            .collect();
        ArchivedPerson { name: name.into(), photos }
    }

    fn sample() -> Archive {
        let people = vec![person("Ada", 1.0), person("<b>Bob</b>", -1.0)];
        let embeddings: Vec<Vec<f32>> = people.iter().flat_map(|p| p.photos.iter().map(|f| f.embedding.clone())).collect();
        let labels = vec![0, 0, 1, 1];
        let trained = HeadConfig::new().with_hidden(8).with_epochs(1).train(&embeddings, &labels, 2, &Device::flex(), |_| {});
        let unknown = Some(crate::openset::UnknownThreshold { similarity: 0.7, genuine_accepted: 1.0, impostors_rejected: 0.9, held_out: 4 });
        let head = ArchivedHead { names: vec!["Ada".into(), "<b>Bob</b>".into()], safetensors: trained.to_safetensors().unwrap(), unknown };
        Archive::new(&FACERES, people, Some(head))
    }

    #[test]
    fn round_trips_exactly() {
        let archive = sample();
        assert_eq!(Archive::from_json(&archive.to_json(), &FACERES, &Device::flex()), Ok(archive));
    }

    #[test]
    fn refuses_truncated_foreign_and_other_version_files() {
        let json = sample().to_json();
        let error = |bytes: &[u8]| Archive::from_json(bytes, &FACERES, &Device::flex()).unwrap_err();
        assert!(error(&json[..json.len() / 2]).contains("cut short"));
        assert!(error(b"\x89PNG not json").contains("not a facelab export"));
        assert!(error(br#"{"people": []}"#).contains("not a facelab export"));
        let newer = String::from_utf8(json.clone()).unwrap().replace("\"version\":1", "\"version\":2");
        assert!(error(newer.as_bytes()).contains("version 2"));
    }

    #[test]
    fn refuses_damaged_content() {
        let error = |archive: Archive| Archive::from_json(&archive.to_json(), &FACERES, &Device::flex()).unwrap_err();
        let mut short = sample();
        short.people[0].photos[0].embedding.truncate(10);
        assert!(error(short).contains("damaged embedding"));
        let mut twins = sample();
        twins.people[1].name = "ada".into();
        assert!(error(twins).contains("already"));
        let mut other = sample();
        other.backbone = "resnet50-imagenet".into();
        assert!(error(other).contains("enroll the photos again"));
        let mut stranger = sample();
        stranger.head.as_mut().unwrap().names[1] = "Eve".into();
        assert!(error(stranger).contains("Eve"));
    }
}
