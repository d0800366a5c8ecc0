//! The export file: everything a user enrolled (the roster: names, face thumbnails and
//! pictures, every backbone's embeddings) and each backbone's trained model, as one JSON document
//! with a format name and version, so that it can be imported into this or another browser.
//! Import validates everything before anything replaces what is enrolled.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::backbone::BackboneId;
use crate::head::{HeadError, TrainedHead};
use crate::model::TrainedModel;
use crate::roster::{Person, Roster, RosterError};

pub const FORMAT: &str = "facelab-export";
/// Version 2 holds embeddings per backbone and a model per backbone; version 1 (faceres only,
/// one model in `head`) still imports.
pub const VERSION: u32 = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Archive {
    pub format: String,
    pub version: u32,
    pub people: Vec<Person>,
    /// Each backbone's model, without its test report (which describes this browser's split).
    #[serde(default)]
    pub models: Vec<TrainedModel>,
    /// Version 1: the backbone of every embedding (only faceres existed) and its model.
    #[serde(default, skip_serializing)]
    backbone: Option<String>,
    #[serde(default, skip_serializing)]
    head: Option<TrainedModel>,
}

/// Why a file was not imported; each is a sentence for the user.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("the file is cut short (truncated): export again from the page that has the data")]
    Truncated,
    #[error("this is not a facelab export file ({0})")]
    NotAnExport(String),
    #[error("this file is export version {0}; this page reads versions 1 to {VERSION}")]
    UnsupportedVersion(u32),
    #[error("the file has no version field")]
    NoVersion,
    #[error("the export file is damaged: {0}")]
    Damaged(String),
    #[error("in the file: {0}")]
    Roster(#[from] RosterError),
    #[error("the saved model knows {0}, who is not among the file's people")]
    StrangerInModel(String),
    #[error("the saved {0} model does not fit the file's people and backbone")]
    ModelMismatch(&'static str),
    #[error("the file's model: {0}")]
    Head(#[from] HeadError),
}

impl Archive {
    pub fn new<'a>(roster: &Roster, models: impl IntoIterator<Item = &'a TrainedModel>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            people: roster.people().to_vec(),
            models: models.into_iter().map(|m| TrainedModel { report: None, ..m.clone() }).collect(),
            backbone: None,
            head: None,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an archive serializes")
    }

    /// Reads and checks an export file; returns its roster (with fresh ids) and models. `device`
    /// is where the saved heads are test-loaded.
    pub fn import(bytes: &[u8], device: &Device) -> Result<(Roster, Vec<TrainedModel>), ImportError> {
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
            Some(1..=VERSION) => {}
            Some(other) => return Err(ImportError::UnsupportedVersion(other)),
            None => return Err(ImportError::NoVersion),
        }
        let mut archive: Archive = serde_json::from_slice(bytes).map_err(|e| ImportError::Damaged(e.to_string()))?;
        if let Some(backbone) = archive.backbone.as_deref().filter(|b| *b != BackboneId::FaceRes.spec().name) {
            return Err(ImportError::Damaged(format!("a version 1 file of backbone {backbone}")));
        }
        archive.models.extend(archive.head.take());
        let mut roster = Roster::from_people(archive.people);
        roster.check()?;
        for model in &archive.models {
            if let Some(stranger) = model.names.iter().find(|n| roster.by_name(n).is_none()) {
                return Err(ImportError::StrangerInModel(stranger.clone()));
            }
            let head = TrainedHead::from_safetensors(&model.head, device)?;
            let spec = model.backbone.spec();
            if head.sizes() != (spec.embedding_dim, model.names.len()) {
                return Err(ImportError::ModelMismatch(spec.name));
            }
        }
        Ok((roster, archive.models))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::HeadConfig;
    use crate::preprocess::RgbImage;
    use crate::roster::Photo;

    const FACERES: BackboneId = BackboneId::FaceRes;

    fn sample() -> (Roster, TrainedModel) {
        let mut roster = Roster::default();
        for (name, value) in [("Ada", 1.0), ("<b>Bob</b>", -1.0)] {
            let id = roster.add_person(name).unwrap();
            for i in 0..2 {
                let thumbnail = RgbImage::new(2, 2, vec![value as u8; 12]).to_png();
                roster.add_photo(id, Photo::new(format!("{name}_{i}.jpg"), FACERES, vec![value + i as f32; 1024], thumbnail, None));
            }
        }
        let (embeddings, labels) = roster.labelled_embeddings(&["Ada".into(), "<b>Bob</b>".into()], FACERES);
        let trained = HeadConfig::new().with_epochs(1).train(&embeddings, &labels, 2, &Device::flex(), |_| {});
        let unknown = Some(crate::openset::UnknownThreshold { similarity: 0.7, genuine_accepted: 1.0, impostors_rejected: 0.9, held_out: 4, per_person: Vec::new() });
        let names = vec!["Ada".into(), "<b>Bob</b>".into()];
        let model = TrainedModel { backbone: FACERES, names, head: trained.to_safetensors().unwrap(), unknown, report: None };
        (roster, model)
    }

    fn archive() -> Archive {
        let (roster, model) = sample();
        Archive::new(&roster, [&model])
    }

    fn import(archive: &Archive) -> Result<(Roster, Vec<TrainedModel>), ImportError> {
        Archive::import(&archive.to_json(), &Device::flex())
    }

    #[test]
    fn round_trips_exactly() {
        let (roster, model) = sample();
        assert_eq!(import(&Archive::new(&roster, [&model])), Ok((roster, vec![model])));
    }

    #[test]
    fn reads_version_1_files() {
        // Version 1: no ids, one `embedding` per photo, the backbone named once, the model in `head`.
        let (roster, model) = sample();
        let mut json: serde_json::Value = serde_json::from_slice(&Archive::new(&roster, [&model]).to_json()).unwrap();
        json["version"] = 1.into();
        json["backbone"] = "faceres".into();
        json["embedding_dim"] = 1024.into();
        json["head"] = json["models"][0].take();
        json.as_object_mut().unwrap().remove("models");
        json["head"].as_object_mut().unwrap().remove("backbone");
        for person in json["people"].as_array_mut().unwrap() {
            person.as_object_mut().unwrap().remove("id");
            for photo in person["photos"].as_array_mut().unwrap() {
                let photo = photo.as_object_mut().unwrap();
                photo.remove("id");
                let embedding = photo.remove("embeddings").unwrap()["faceres"].take();
                photo.insert("embedding".into(), embedding);
            }
        }
        let (imported, models) = Archive::import(json.to_string().as_bytes(), &Device::flex()).unwrap();
        // (Compared whole, not printed: the embeddings are long.)
        assert!(imported == roster, "the people differ");
        assert!(models == vec![model], "the model differs");
    }

    #[test]
    fn refuses_truncated_foreign_and_other_version_files() {
        let json = archive().to_json();
        let error = |bytes: &[u8]| Archive::import(bytes, &Device::flex()).unwrap_err();
        assert_eq!(error(&json[..json.len() / 2]), ImportError::Truncated);
        assert!(matches!(error(b"\x89PNG not json"), ImportError::NotAnExport(_)));
        assert!(matches!(error(br#"{"people": []}"#), ImportError::NotAnExport(_)));
        let newer = String::from_utf8(json.clone()).unwrap().replace("\"version\":2", "\"version\":3");
        assert_eq!(error(newer.as_bytes()), ImportError::UnsupportedVersion(3));
        assert!(error(newer.as_bytes()).to_string().contains("version 3"));
    }

    #[test]
    fn refuses_damaged_content() {
        let mut short = archive();
        short.people[0].photos[0].embeddings.get_mut(&FACERES).unwrap().truncate(10);
        assert!(matches!(import(&short), Err(ImportError::Roster(RosterError::DamagedEmbedding { .. }))));
        let mut twins = archive();
        twins.people[1].name = "ada".into();
        assert!(import(&twins).unwrap_err().to_string().contains("already"));
        let mut other = archive();
        other.models[0].backbone = BackboneId::DlibResNet;
        assert_eq!(import(&other), Err(ImportError::ModelMismatch("dlib-resnet")));
        let mut stranger = archive();
        stranger.models[0].names[1] = "Eve".into();
        assert_eq!(import(&stranger), Err(ImportError::StrangerInModel("Eve".into())));
        let mut broken = archive();
        broken.models[0].head.truncate(20);
        assert!(matches!(import(&broken), Err(ImportError::Head(_))));
    }
}
