//! The export file: everything a user enrolled (the roster: names, face thumbnails, embeddings)
//! and the trained model, as one JSON document with a format name and version, so that it can be
//! imported into this or another browser. Import validates everything before anything replaces
//! what is enrolled.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::backbone::BackboneSpec;
use crate::head::{HeadError, TrainedHead};
use crate::model::TrainedModel;
use crate::roster::{Person, Roster, RosterError};

pub const FORMAT: &str = "facelab-export";
pub const VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Archive {
    pub format: String,
    pub version: u32,
    /// The backbone whose embeddings these are; another backbone's embeddings mean nothing here.
    pub backbone: String,
    pub embedding_dim: usize,
    pub people: Vec<Person>,
    /// The model without its test report (which describes this browser's split).
    pub head: Option<TrainedModel>,
}

/// Why a file was not imported; each is a sentence for the user.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is cut short (truncated): export again from the page that has the data")]
    Truncated,
    #[error("this is not a facelab export file ({0})")]
    NotAnExport(String),
    #[error("this file is export version {0}; this page reads version {VERSION}")]
    UnsupportedVersion(u32),
    #[error("the file has no version field")]
    NoVersion,
    #[error("the export file is damaged: {0}")]
    Damaged(String),
    #[error("the file holds {file} embeddings ({file_dim}-d); this page uses {ours} ({our_dim}-d): enroll the photos again instead")]
    OtherBackbone { file: String, file_dim: usize, ours: String, our_dim: usize },
    #[error("in the file: {0}")]
    Roster(#[from] RosterError),
    #[error("the saved model knows {0}, who is not among the file's people")]
    StrangerInModel(String),
    #[error("the saved model does not fit the file's people and backbone")]
    ModelMismatch,
    #[error("the file's model: {0}")]
    Head(#[from] HeadError),
}

impl Archive {
    pub fn new(spec: &BackboneSpec, roster: &Roster, model: Option<&TrainedModel>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            backbone: spec.name.into(),
            embedding_dim: spec.embedding_dim,
            people: roster.people().to_vec(),
            head: model.map(|m| TrainedModel { report: None, ..m.clone() }),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an archive serializes")
    }

    /// Reads and checks an export file for the backbone in use; returns its roster (with fresh
    /// ids) and model. `device` is where the saved head is test-loaded.
    pub fn import(bytes: &[u8], spec: &BackboneSpec, device: &Device) -> Result<(Roster, Option<TrainedModel>), ImportError> {
        // The envelope first, so that another format or version is named as such rather than as
        // a missing field.
        #[derive(Deserialize)]
        struct Envelope {
            format: Option<String>,
            version: Option<u32>,
        }
        let envelope: Envelope = serde_json::from_slice(bytes)
            .map_err(|e| if e.is_eof() { ImportError::Truncated } else { ImportError::NotAnExport(e.to_string()) })?;
        if envelope.format.as_deref() != Some(FORMAT) {
            return Err(ImportError::NotAnExport(format!("no \"format\": \"{FORMAT}\"")));
        }
        match envelope.version {
            Some(VERSION) => {}
            Some(other) => return Err(ImportError::UnsupportedVersion(other)),
            None => return Err(ImportError::NoVersion),
        }
        let archive: Archive = serde_json::from_slice(bytes).map_err(|e| ImportError::Damaged(e.to_string()))?;
        if archive.backbone != spec.name || archive.embedding_dim != spec.embedding_dim {
            return Err(ImportError::OtherBackbone {
                file: archive.backbone,
                file_dim: archive.embedding_dim,
                ours: spec.name.into(),
                our_dim: spec.embedding_dim,
            });
        }
        let roster = Roster::from_people(archive.people);
        roster.check(spec.embedding_dim)?;
        if let Some(model) = &archive.head {
            if let Some(stranger) = model.names.iter().find(|n| roster.by_name(n).is_none()) {
                return Err(ImportError::StrangerInModel(stranger.clone()));
            }
            let head = TrainedHead::from_safetensors(&model.head, device)?;
            if head.sizes() != (spec.embedding_dim, model.names.len()) {
                return Err(ImportError::ModelMismatch);
            }
        }
        Ok((roster, archive.head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::FACERES;
    use crate::head::HeadConfig;
    use crate::preprocess::RgbImage;

    fn sample() -> (Roster, TrainedModel) {
        let mut roster = Roster::default();
        for (name, value) in [("Ada", 1.0), ("<b>Bob</b>", -1.0)] {
            let id = roster.add_person(name).unwrap();
            for i in 0..2 {
                let thumbnail = RgbImage::new(2, 2, vec![value as u8; 12]).to_png();
                roster.add_photo(id, format!("{name}_{i}.jpg"), vec![value + i as f32; 1024], thumbnail);
            }
        }
        let (embeddings, labels) = roster.labelled_embeddings(&["Ada".into(), "<b>Bob</b>".into()]);
        let trained = HeadConfig::new().with_hidden(8).with_epochs(1).train(&embeddings, &labels, 2, &Device::flex(), |_| {});
        let unknown = Some(crate::openset::UnknownThreshold { similarity: 0.7, genuine_accepted: 1.0, impostors_rejected: 0.9, held_out: 4 });
        let model = TrainedModel { names: vec!["Ada".into(), "<b>Bob</b>".into()], head: trained.to_safetensors().unwrap(), unknown, report: None };
        (roster, model)
    }

    fn archive() -> Archive {
        let (roster, model) = sample();
        Archive::new(&FACERES, &roster, Some(&model))
    }

    fn import(archive: &Archive) -> Result<(Roster, Option<TrainedModel>), ImportError> {
        Archive::import(&archive.to_json(), &FACERES, &Device::flex())
    }

    #[test]
    fn round_trips_exactly() {
        let (roster, model) = sample();
        assert_eq!(import(&Archive::new(&FACERES, &roster, Some(&model))), Ok((roster, Some(model))));
    }

    #[test]
    fn reads_version_1_files_without_ids() {
        let json = String::from_utf8(archive().to_json()).unwrap().replace("\"id\":", "\"former_id\":");
        let (roster, _) = Archive::import(json.as_bytes(), &FACERES, &Device::flex()).unwrap();
        assert_eq!(roster, sample().0);
    }

    #[test]
    fn refuses_truncated_foreign_and_other_version_files() {
        let json = archive().to_json();
        let error = |bytes: &[u8]| Archive::import(bytes, &FACERES, &Device::flex()).unwrap_err();
        assert_eq!(error(&json[..json.len() / 2]), ImportError::Truncated);
        assert!(matches!(error(b"\x89PNG not json"), ImportError::NotAnExport(_)));
        assert!(matches!(error(br#"{"people": []}"#), ImportError::NotAnExport(_)));
        let newer = String::from_utf8(json.clone()).unwrap().replace("\"version\":1", "\"version\":2");
        assert_eq!(error(newer.as_bytes()), ImportError::UnsupportedVersion(2));
        assert!(error(newer.as_bytes()).to_string().contains("version 2"));
    }

    #[test]
    fn refuses_damaged_content() {
        let mut short = archive();
        short.people[0].photos[0].embedding.truncate(10);
        assert!(matches!(import(&short), Err(ImportError::Roster(RosterError::DamagedEmbedding { .. }))));
        let mut twins = archive();
        twins.people[1].name = "ada".into();
        assert!(import(&twins).unwrap_err().to_string().contains("already"));
        let mut other = archive();
        other.backbone = "resnet50-imagenet".into();
        assert!(import(&other).unwrap_err().to_string().contains("enroll the photos again"));
        let mut stranger = archive();
        stranger.head.as_mut().unwrap().names[1] = "Eve".into();
        assert_eq!(import(&stranger), Err(ImportError::StrangerInModel("Eve".into())));
        let mut broken = archive();
        broken.head.as_mut().unwrap().head.truncate(20);
        assert!(matches!(import(&broken), Err(ImportError::Head(_))));
    }
}
