//! The people a user enrolls and their photos' embeddings: one serializable `Roster`, the same
//! value in the page's state, in its IndexedDB storage and in the export file.

use serde::{Deserialize, Serialize};

use crate::head::CentroidClassifier;

/// Longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 60;
/// The roster's own format version (the storage and the export file carry it).
pub const ROSTER_VERSION: u32 = 1;
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

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
    #[error("roster version {0}; this page reads version {ROSTER_VERSION}")]
    Version(u32),
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("{person}'s photo {photo} has a damaged embedding")]
    DamagedEmbedding { person: String, photo: String },
    #[error("{person}'s photo {photo} has a damaged thumbnail")]
    DamagedThumbnail { person: String, photo: String },
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

/// An enrolled photo: what the backbone made of the face, and a small picture of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Photo {
    /// Unique in its roster (files of version 1 exports have none: they are numbered on import).
    #[serde(default)]
    pub id: u32,
    pub file_name: String,
    /// Computed once when the photo is added.
    #[serde(with = "crate::encoding::base64_f32s")]
    pub embedding: Vec<f32>,
    /// A 64x64 PNG of the face crop the backbone saw.
    #[serde(with = "crate::encoding::base64_bytes")]
    pub thumbnail_png: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Person {
    #[serde(default)]
    pub id: u32,
    pub name: String,
    pub photos: Vec<Photo>,
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
    pub fn add_photo(&mut self, person: u32, file_name: String, embedding: Vec<f32>, thumbnail_png: Vec<u8>) -> Option<u32> {
        let index = self.people.iter().position(|p| p.id == person)?;
        Some(self.push_photo(index, Photo { id: 0, file_name, embedding, thumbnail_png }))
    }

    pub fn remove_photo(&mut self, person: u32, photo: u32) {
        if let Some(p) = self.people.iter_mut().find(|p| p.id == person) {
            p.photos.retain(|f| f.id != photo);
        }
    }

    /// Every photo's embedding labelled by the position of its person's name in `names`
    /// (people not named are left out).
    pub fn labelled_embeddings(&self, names: &[String]) -> (Vec<Vec<f32>>, Vec<usize>) {
        names
            .iter()
            .enumerate()
            .flat_map(|(label, name)| self.by_name(name).into_iter().flat_map(move |p| p.photos.iter().map(move |f| (f.embedding.clone(), label))))
            .unzip()
    }

    /// The centroid of each named person's photos, or `None` where one of them has no photo any
    /// more (renamed or deleted since training).
    pub fn centroids(&self, names: &[String]) -> Option<CentroidClassifier> {
        let (embeddings, labels) = self.labelled_embeddings(names);
        (0..names.len()).all(|l| labels.contains(&l)).then(|| CentroidClassifier::fit(&embeddings, &labels, names.len()))
    }

    /// Checks what a file or the storage gave: the version, names (unique, valid), embeddings of
    /// the backbone's size with finite values, PNG thumbnails.
    pub fn check(&self, embedding_dim: usize) -> Result<(), RosterError> {
        if self.version != ROSTER_VERSION {
            return Err(RosterError::Version(self.version));
        }
        let mut names: Vec<&str> = Vec::new();
        for person in &self.people {
            let name = validate_name(&person.name, names.iter().copied())?;
            for photo in &person.photos {
                let damaged = |name: &str| (name.to_string(), photo.file_name.clone());
                if photo.embedding.len() != embedding_dim || photo.embedding.iter().any(|v| !v.is_finite()) {
                    let (person, photo) = damaged(&name);
                    return Err(RosterError::DamagedEmbedding { person, photo });
                }
                if !photo.thumbnail_png.starts_with(PNG_SIGNATURE) {
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

    fn photo(value: f32) -> (String, Vec<f32>, Vec<u8>) {
        (format!("{value}.jpg"), vec![value, 1.0], PNG_SIGNATURE.to_vec())
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
        let (f, e, t) = photo(1.0);
        let first = roster.add_photo(ada, f, e, t).unwrap();
        let (f, e, t) = photo(2.0);
        let second = roster.add_photo(bob, f, e, t).unwrap();
        assert_eq!(roster.add_photo(999, String::new(), Vec::new(), Vec::new()), None);
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
        assert_eq!(roster.check(2), Ok(()));
    }

    #[test]
    fn renumbers_people_from_a_file_and_finds_damage() {
        let people = vec![
            Person { id: 0, name: "Ada".into(), photos: vec![Photo { id: 0, file_name: "a.jpg".into(), embedding: vec![1.0, 0.0], thumbnail_png: PNG_SIGNATURE.to_vec() }] },
            Person { id: 0, name: "Bob".into(), photos: vec![Photo { id: 0, file_name: "b.jpg".into(), embedding: vec![0.0, 1.0], thumbnail_png: PNG_SIGNATURE.to_vec() }] },
        ];
        let roster = Roster::from_people(people);
        let ids: Vec<u32> = roster.people().iter().flat_map(|p| [p.id, p.photos[0].id]).collect();
        assert_eq!(ids, vec![1, 2, 3, 4]);
        assert_eq!(roster.check(2), Ok(()));
        assert!(matches!(roster.check(3), Err(RosterError::DamagedEmbedding { .. })));
        let centroids = roster.centroids(&["Bob".into(), "Ada".into()]).unwrap();
        assert_eq!(centroids.predict(&[vec![1.0, 0.1]]), vec![1]);
        assert!(roster.centroids(&["Eve".into()]).is_none());
        let mut twins = roster.clone();
        twins.people[1].name = "ada".into();
        assert!(matches!(twins.check(2), Err(RosterError::Name(NameError::Taken(_)))));
        let json = serde_json::to_string(&roster).unwrap();
        assert_eq!(serde_json::from_str::<Roster>(&json).unwrap(), roster);
    }
}
