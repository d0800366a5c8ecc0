//! The people a user enrolls and their photos' embeddings: one serializable `Roster`, the same
//! value in the page's state, in its IndexedDB storage and in the export file. Each photo keeps
//! one embedding per backbone that has seen it, and a small picture of the face, so that another
//! backbone can embed it later without the original photo.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::backbone::BackboneId;
use crate::detector::Face;
use crate::head::CentroidClassifier;

/// Longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 60;
/// The roster's own format version (the storage and the export file carry it). Version 2 keeps
/// embeddings per backbone and the face pictures; version 1 (one faceres embedding) still reads.
pub const ROSTER_VERSION: u32 = 2;
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const JPEG_SIGNATURE: &[u8] = b"\xff\xd8\xff";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a person needs a name")]
    Empty,
    #[error("a name can have at most {MAX_NAME_CHARS} characters")]
    TooLong,
    #[error("there is already someone called {0}")]
    Taken(String),
}

/// What makes a roster unusable (a damaged or hand-edited file).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RosterError {
    #[error("roster version {0}; this page reads versions 1 to {ROSTER_VERSION}")]
    Version(u32),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{person}'s photo {photo} has a damaged embedding")]
    DamagedEmbedding { person: String, photo: String },
    #[error("{person}'s photo {photo} has a damaged thumbnail")]
    DamagedThumbnail { person: String, photo: String },
    #[error("{person}'s photo {photo} has a damaged face picture")]
    DamagedPicture { person: String, photo: String },
}

/// Checks a new (or renamed) person's name against the others: trimmed, not empty, not too
/// long, and not already taken (ignoring case). Markup is allowed; the UI shows names as text.
pub fn validate_name<'a>(name: &str, others: impl IntoIterator<Item = &'a str>) -> Result<String, NameError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if others.into_iter().any(|other| other.trim().to_lowercase() == name.to_lowercase()) {
        return Err(NameError::Taken(name.into()));
    }
    Ok(name.to_string())
}

/// The face and what surrounds it, kept so that any backbone can embed the face again: a JPEG
/// and where the face is in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FacePicture {
    #[serde(with = "crate::encoding::base64_bytes")]
    pub jpeg: Vec<u8>,
    /// The detected face in the picture's pixels; `None`: the picture is itself the crop every
    /// backbone sees (the reference experiment's fixed crop).
    pub face: Option<Face>,
}

/// An enrolled photo: what the backbones made of the face, and small pictures of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "PhotoFields")]
pub struct Photo {
    /// Unique in its roster (files of version 1 exports have none: they are numbered on import).
    pub id: u32,
    pub file_name: String,
    /// One embedding per backbone that has embedded the face (once, when it was first needed).
    #[serde(with = "crate::encoding::base64_f32s_by_backbone")]
    pub embeddings: BTreeMap<BackboneId, Vec<f32>>,
    /// A 64x64 PNG of the face crop the first backbone saw (a JPEG for a face named in the photo
    /// library; empty where a library export without pictures was imported).
    #[serde(with = "crate::encoding::base64_bytes")]
    pub thumbnail_png: Vec<u8>,
    /// Absent in version 1 rosters: such a photo keeps only its faceres embedding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<FacePicture>,
}

/// A photo as either version writes it (version 1: one `embedding`, faceres's).
#[derive(Deserialize)]
struct PhotoFields {
    #[serde(default)]
    id: u32,
    file_name: String,
    #[serde(default, with = "crate::encoding::base64_f32s_by_backbone")]
    embeddings: BTreeMap<BackboneId, Vec<f32>>,
    #[serde(default, deserialize_with = "version_1_embedding")]
    embedding: Option<Vec<f32>>,
    #[serde(with = "crate::encoding::base64_bytes")]
    thumbnail_png: Vec<u8>,
    #[serde(default)]
    picture: Option<FacePicture>,
}

fn version_1_embedding<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<f32>>, D::Error> {
    crate::encoding::base64_f32s::deserialize(d).map(Some)
}

impl From<PhotoFields> for Photo {
    fn from(fields: PhotoFields) -> Self {
        let mut embeddings = fields.embeddings;
        if let Some(embedding) = fields.embedding {
            embeddings.entry(BackboneId::FaceRes).or_insert(embedding);
        }
        Self { id: fields.id, file_name: fields.file_name, embeddings, thumbnail_png: fields.thumbnail_png, picture: fields.picture }
    }
}

impl Photo {
    /// A new photo (its id is set when it joins a roster) with its first backbone's embedding.
    pub fn new(file_name: String, backbone: BackboneId, embedding: Vec<f32>, thumbnail_png: Vec<u8>, picture: Option<FacePicture>) -> Self {
        Self { id: 0, file_name, embeddings: BTreeMap::from([(backbone, embedding)]), thumbnail_png, picture }
    }
}

/// A photo some backbone has not embedded yet, with what it needs to.
#[derive(Clone, Debug, PartialEq)]
pub struct Unembedded {
    pub photo: u32,
    pub picture: FacePicture,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Person {
    #[serde(default)]
    pub id: u32,
    pub name: String,
    pub photos: Vec<Photo>,
}

/// A roster without its photos' contents: the storage keeps this as one small record and each
/// photo as a record of its own, so a save writes only the photos that changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RosterIndex {
    pub version: u32,
    pub people: Vec<PersonIndex>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonIndex {
    pub id: u32,
    pub name: String,
    /// Their photos' ids, in order.
    pub photos: Vec<u32>,
}

/// Tells a saved photo from a changed one under the same id: a backbone added its embedding, or
/// the id now names another photo (the roster was imported, or an id freed and given again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PhotoVersion {
    backbones: Vec<BackboneId>,
    content: u64,
}

impl PhotoVersion {
    fn of(photo: &Photo) -> Self {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (&photo.file_name, &photo.thumbnail_png, photo.picture.as_ref().map(|p| p.jpeg.len())).hash(&mut hasher);
        Self { backbones: photo.embeddings.keys().copied().collect(), content: hasher.finish() }
    }
}

/// What a save writes: the photos new or changed since `saved`, and the ids no longer there;
/// `versions`, every photo's, is what the next save compares with once this one is written.
pub struct RosterChanges<'a> {
    pub changed: Vec<&'a Photo>,
    pub removed: Vec<u32>,
    pub versions: BTreeMap<u32, PhotoVersion>,
}

/// Everyone enrolled, in the order they were added. Ids are unique across people and photos.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Roster {
    pub version: u32,
    people: Vec<Person>,
}

impl Default for Roster {
    fn default() -> Self {
        Self { version: ROSTER_VERSION, people: Vec::new() }
    }
}

impl Roster {
    /// A roster of these people with fresh ids (as an export file holds them).
    pub fn from_people(people: Vec<Person>) -> Self {
        let mut roster = Self::default();
        for mut person in people {
            person.id = roster.next_id();
            let photos = std::mem::take(&mut person.photos);
            roster.people.push(person);
            for photo in photos {
                roster.push_photo(roster.people.len() - 1, photo);
            }
        }
        roster
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    pub fn person(&self, id: u32) -> Option<&Person> {
        self.people.iter().find(|p| p.id == id)
    }

    pub fn by_name(&self, name: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.name == name)
    }

    pub fn photo_count(&self) -> usize {
        self.people.iter().map(|p| p.photos.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    fn next_id(&self) -> u32 {
        let ids = self.people.iter().flat_map(|p| std::iter::once(p.id).chain(p.photos.iter().map(|f| f.id)));
        ids.max().map_or(1, |highest| highest + 1)
    }

    fn push_photo(&mut self, index: usize, mut photo: Photo) -> u32 {
        photo.id = self.next_id();
        let id = photo.id;
        self.people[index].photos.push(photo);
        id
    }

    /// Adds a person under a valid, unused name; returns their id.
    pub fn add_person(&mut self, name: &str) -> Result<u32, NameError> {
        let name = validate_name(name, self.people.iter().map(|p| p.name.as_str()))?;
        let id = self.next_id();
        self.people.push(Person { id, name, photos: Vec::new() });
        Ok(id)
    }

    pub fn rename(&mut self, id: u32, name: &str) -> Result<(), NameError> {
        let name = validate_name(name, self.people.iter().filter(|p| p.id != id).map(|p| p.name.as_str()))?;
        if let Some(person) = self.people.iter_mut().find(|p| p.id == id) {
            person.name = name;
        }
        Ok(())
    }

    pub fn remove_person(&mut self, id: u32) {
        self.people.retain(|p| p.id != id);
    }

    /// Adds a photo to a person (its id is assigned here); `None` if the person is gone.
    pub fn add_photo(&mut self, person: u32, photo: Photo) -> Option<u32> {
        let index = self.people.iter().position(|p| p.id == person)?;
        Some(self.push_photo(index, photo))
    }

    /// The photos `backbone` has not embedded that it can (those with a face picture).
    pub fn unembedded(&self, backbone: BackboneId) -> Vec<Unembedded> {
        self.photos()
            .filter(|photo| !photo.embeddings.contains_key(&backbone))
            .filter_map(|photo| Some(Unembedded { photo: photo.id, picture: photo.picture.clone()? }))
            .collect()
    }

    /// How many photos have no `backbone` embedding: those it can embed (from their picture),
    /// and those it cannot (saved before pictures were kept).
    pub fn missing_embeddings(&self, backbone: BackboneId) -> (usize, usize) {
        let missing = self.photos().filter(|p| !p.embeddings.contains_key(&backbone));
        missing.fold((0, 0), |(can, cannot), p| if p.picture.is_some() { (can + 1, cannot) } else { (can, cannot + 1) })
    }

    /// Keeps `backbone`'s embedding of a photo; false where the photo is gone.
    pub fn set_embedding(&mut self, photo: u32, backbone: BackboneId, embedding: Vec<f32>) -> bool {
        let found = self.people.iter_mut().flat_map(|p| p.photos.iter_mut()).find(|p| p.id == photo);
        found.map(|photo| photo.embeddings.insert(backbone, embedding)).is_some()
    }

    /// The roster without its photos' contents.
    pub fn index(&self) -> RosterIndex {
        let people = self.people.iter().map(|p| PersonIndex { id: p.id, name: p.name.clone(), photos: p.photos.iter().map(|f| f.id).collect() }).collect();
        RosterIndex { version: self.version, people }
    }

    /// The roster an index and its photos make; a photo the index names but `photos` lacks is
    /// left out (its record was lost), one not named is dropped.
    pub fn from_index(index: RosterIndex, mut photos: BTreeMap<u32, Photo>) -> Self {
        let people = index.people.into_iter().map(|p| Person { id: p.id, name: p.name, photos: p.photos.iter().filter_map(|id| photos.remove(id)).collect() });
        Self { version: index.version, people: people.collect() }
    }

    /// Each photo's version, to compare with at the next save.
    pub fn photo_versions(&self) -> BTreeMap<u32, PhotoVersion> {
        self.photos().map(|p| (p.id, PhotoVersion::of(p))).collect()
    }

    /// The photos new or changed since the versions `saved`, and those removed.
    /// Each photo is hashed once: the versions come back for the next save to compare with.
    pub fn changes_since(&self, saved: &BTreeMap<u32, PhotoVersion>) -> RosterChanges<'_> {
        let mut changed = Vec::new();
        let mut versions = BTreeMap::new();
        for photo in self.photos() {
            let version = PhotoVersion::of(photo);
            if saved.get(&photo.id) != Some(&version) {
                changed.push(photo);
            }
            versions.insert(photo.id, version);
        }
        RosterChanges { changed, removed: saved.keys().filter(|id| !versions.contains_key(id)).copied().collect(), versions }
    }

    fn photos(&self) -> impl Iterator<Item = &Photo> {
        self.people.iter().flat_map(|p| p.photos.iter())
    }

    pub fn remove_photo(&mut self, person: u32, photo: u32) {
        if let Some(p) = self.people.iter_mut().find(|p| p.id == person) {
            p.photos.retain(|f| f.id != photo);
        }
    }

    /// Every photo's `backbone` embedding labelled by the position of its person's name in
    /// `names` (people not named, and photos that backbone has not embedded, are left out).
    pub fn labelled_embeddings(&self, names: &[String], backbone: BackboneId) -> (Vec<Vec<f32>>, Vec<usize>) {
        names
            .iter()
            .enumerate()
            .flat_map(|(label, name)| {
                let photos = self.by_name(name).into_iter().flat_map(|p| p.photos.iter());
                photos.filter_map(move |f| Some((f.embeddings.get(&backbone)?.clone(), label)))
            })
            .unzip()
    }

    /// The centroid of each named person's photos, or `None` where one of them has no photo any
    /// more (renamed or deleted since training).
    pub fn centroids(&self, names: &[String], backbone: BackboneId) -> Option<CentroidClassifier> {
        let (embeddings, labels) = self.labelled_embeddings(names, backbone);
        (0..names.len()).all(|l| labels.contains(&l)).then(|| CentroidClassifier::fit(&embeddings, &labels, names.len()))
    }

    /// Checks what a file or the storage gave: the version, names (unique, valid), embeddings of
    /// each backbone's size with finite values, PNG thumbnails, JPEG pictures. A version 1 roster
    /// passes and is version 2 from then on.
    pub fn check(&mut self) -> Result<(), RosterError> {
        if !(1..=ROSTER_VERSION).contains(&self.version) {
            return Err(RosterError::Version(self.version));
        }
        self.version = ROSTER_VERSION;
        let mut names: Vec<&str> = Vec::new();
        for person in &self.people {
            let name = validate_name(&person.name, names.iter().copied())?;
            for photo in &person.photos {
                let damaged = |name: &str| (name.to_string(), photo.file_name.clone());
                let fits = |(backbone, embedding): (&BackboneId, &Vec<f32>)| {
                    embedding.len() == backbone.spec().embedding_dim && embedding.iter().all(|v| v.is_finite())
                };
                if !photo.embeddings.iter().all(fits) {
                    let (person, photo) = damaged(&name);
                    return Err(RosterError::DamagedEmbedding { person, photo });
                }
                if photo.picture.as_ref().is_some_and(|p| !p.jpeg.starts_with(JPEG_SIGNATURE)) {
                    let (person, photo) = damaged(&name);
                    return Err(RosterError::DamagedPicture { person, photo });
                }
                let thumbnail = &photo.thumbnail_png;
                if !(thumbnail.is_empty() || thumbnail.starts_with(PNG_SIGNATURE) || thumbnail.starts_with(JPEG_SIGNATURE)) {
                    let (person, photo) = damaged(&name);
                    return Err(RosterError::DamagedThumbnail { person, photo });
                }
            }
            names.push(&person.name);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FACERES: BackboneId = BackboneId::FaceRes;

    /// A photo with a faceres embedding of `dim` values.
    fn photo(value: f32, dim: usize) -> Photo {
        let mut embedding = vec![0.0; dim];
        embedding[0] = value;
        embedding[1] = 1.0;
        Photo::new(format!("{value}.jpg"), FACERES, embedding, PNG_SIGNATURE.to_vec(), None)
    }

    #[test]
    fn names_are_trimmed_unique_and_bounded() {
        assert_eq!(validate_name("  Ada ", ["Bob"]), Ok("Ada".into()));
        assert_eq!(validate_name("   ", []), Err(NameError::Empty));
        assert_eq!(validate_name("ada", ["Ada"]), Err(NameError::Taken("ada".into())));
        assert_eq!(validate_name(&"x".repeat(61), []), Err(NameError::TooLong));
        assert_eq!(validate_name("<b>Eve</b>", []), Ok("<b>Eve</b>".into()));
    }

    #[test]
    fn ids_are_unique_and_edits_keep_the_rest() {
        let mut roster = Roster::default();
        let ada = roster.add_person("Ada").unwrap();
        let bob = roster.add_person(" Bob ").unwrap();
        assert_eq!(roster.add_person("bob"), Err(NameError::Taken("bob".into())));
        let first = roster.add_photo(ada, photo(1.0, 1024)).unwrap();
        let second = roster.add_photo(bob, photo(2.0, 1024)).unwrap();
        assert_eq!(roster.add_photo(999, photo(3.0, 1024)), None);
        let mut ids = vec![ada, bob, first, second];
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4);
        assert_eq!(roster.rename(ada, "BOB"), Err(NameError::Taken("BOB".into())));
        roster.rename(bob, "Bob").unwrap();
        roster.remove_photo(ada, first);
        assert_eq!((roster.photo_count(), roster.person(bob).unwrap().name.as_str()), (1, "Bob"));
        roster.remove_person(bob);
        assert_eq!(roster.people().len(), 1);
        assert_eq!(roster.check(), Ok(()));
    }

    #[test]
    fn renumbers_people_from_a_file_and_finds_damage() {
        let people = vec![
            Person { id: 0, name: "Ada".into(), photos: vec![photo(1.0, 1024)] },
            Person { id: 0, name: "Bob".into(), photos: vec![photo(-1.0, 1024)] },
        ];
        let mut roster = Roster::from_people(people);
        let ids: Vec<u32> = roster.people().iter().flat_map(|p| [p.id, p.photos[0].id]).collect();
        assert_eq!(ids, vec![1, 2, 3, 4]);
        assert_eq!(roster.check(), Ok(()));
        let centroids = roster.centroids(&["Bob".into(), "Ada".into()], FACERES).unwrap();
        let mut probe = vec![0.0; 1024];
        probe[0] = 1.0;
        assert_eq!(centroids.predict(&[probe]), vec![1]);
        assert!(roster.centroids(&["Eve".into()], FACERES).is_none());
        assert!(roster.centroids(&["Ada".into()], BackboneId::DlibResNet).is_none());
        let mut short = roster.clone();
        short.people[0].photos[0].embeddings.get_mut(&FACERES).unwrap().truncate(10);
        assert!(matches!(short.check(), Err(RosterError::DamagedEmbedding { .. })));
        let mut twins = roster.clone();
        twins.people[1].name = "ada".into();
        assert!(matches!(twins.check(), Err(RosterError::Name(NameError::Taken(_)))));
        let json = serde_json::to_string(&roster).unwrap();
        assert_eq!(serde_json::from_str::<Roster>(&json).unwrap(), roster);
    }

    #[test]
    fn other_backbones_embed_the_photos_with_pictures() {
        let mut roster = Roster::default();
        let ada = roster.add_person("Ada").unwrap();
        let picture = FacePicture { jpeg: JPEG_SIGNATURE.to_vec(), face: None };
        let mut pictured = photo(1.0, 1024);
        pictured.picture = Some(picture.clone());
        let with_picture = roster.add_photo(ada, pictured).unwrap();
        roster.add_photo(ada, photo(2.0, 1024)).unwrap();
        let dlib = BackboneId::DlibResNet;
        assert_eq!(roster.unembedded(dlib), vec![Unembedded { photo: with_picture, picture }]);
        assert_eq!(roster.missing_embeddings(dlib), (1, 1));
        assert!(roster.set_embedding(with_picture, dlib, vec![0.5; 128]));
        assert!(!roster.set_embedding(999, dlib, vec![0.5; 128]));
        assert!(roster.unembedded(dlib).is_empty());
        assert_eq!(roster.labelled_embeddings(&["Ada".into()], dlib).0, vec![vec![0.5; 128]]);
        assert_eq!(roster.labelled_embeddings(&["Ada".into()], FACERES).0.len(), 2);
        assert_eq!(roster.check(), Ok(()));
        roster.people[0].photos[0].picture.as_mut().unwrap().jpeg = b"GIF89a".to_vec();
        assert!(matches!(roster.check(), Err(RosterError::DamagedPicture { .. })));
    }

    #[test]
    fn a_save_writes_only_what_changed_and_the_index_rebuilds_the_roster() {
        let photo = |name: &str| Photo::new(name.into(), BackboneId::FaceRes, vec![1.0, 2.0], PNG_SIGNATURE.to_vec(), None);
        let mut roster = Roster::default();
        let ada = roster.add_person("Ada").unwrap();
        let first = roster.add_photo(ada, photo("a.jpg")).unwrap();
        let second = roster.add_photo(ada, photo("b.jpg")).unwrap();
        let ids = |changes: RosterChanges| (changes.changed.iter().map(|p| p.id).collect::<Vec<_>>(), changes.removed);
        assert_eq!(ids(roster.changes_since(&BTreeMap::new())), (vec![first, second], vec![]));
        let saved = roster.changes_since(&BTreeMap::new()).versions;
        assert_eq!(saved, roster.photo_versions());
        assert_eq!(ids(roster.changes_since(&saved)), (vec![], vec![]));
        // Another backbone's embedding changes the photo; a removed photo's id given again to
        // another file is a new photo, not the saved one.
        roster.set_embedding(first, BackboneId::DlibResNet, vec![3.0]);
        roster.remove_photo(ada, second);
        assert_eq!(ids(roster.changes_since(&saved)), (vec![first], vec![second]));
        assert_eq!(roster.add_photo(ada, photo("c.jpg")), Some(second));
        assert_eq!(ids(roster.changes_since(&saved)), (vec![first, second], vec![]));
        // The index and the photos' records make the same roster again; a lost record is left out.
        let records: BTreeMap<u32, Photo> = roster.people()[0].photos.iter().map(|p| (p.id, p.clone())).collect();
        assert_eq!(Roster::from_index(roster.index(), records.clone()), roster);
        let mut lost = records;
        lost.remove(&first);
        assert_eq!(Roster::from_index(roster.index(), lost).photo_count(), 1);
    }

    #[test]
    fn version_1_rosters_read_as_faceres_embeddings() {
        let version_1 = r#"{"version":1,"people":[{"id":1,"name":"Ada","photos":[{"id":2,"file_name":"a.jpg","embedding":"AACAPwAAAEA=","thumbnail_png":"iVBORw0KGgo="}]}]}"#;
        let mut roster: Roster = serde_json::from_str(version_1).unwrap();
        assert_eq!(roster.people()[0].photos[0].embeddings, BTreeMap::from([(FACERES, vec![1.0, 2.0])]));
        assert!(matches!(roster.check(), Err(RosterError::DamagedEmbedding { .. })), "2 values are not a faceres embedding");
        let mut future: Roster = serde_json::from_str(&version_1.replace("\"version\":1", "\"version\":3")).unwrap();
        assert_eq!(future.check(), Err(RosterError::Version(3)));
    }
}
