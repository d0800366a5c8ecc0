//! The user's photo library sorted by person, on the device. The worker scans each photo (every
//! face found, embedded with the chosen backbone: a `ScannedPhoto`); the library then names a
//! face only where it is at least as similar to an enrolled person as that person's threshold
//! (no forced matches), groups the other faces with similar ones (incrementally: new faces join
//! a group or are grouped among the ungrouped, nothing else is redone), and keeps the user's
//! decisions, each undoable. `Library::sorting` is the view of it all for a roster.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::backbone::BackboneId;
use crate::cluster::{Clustering, Groups};
use crate::head::{CentroidClassifier, l2_normalized};
use crate::model::TrainedModel;
use crate::roster::{FacePicture, NameError, Photo, Roster, validate_name};

pub const LIBRARY_VERSION: u32 = 1;
/// How many actions can be undone.
const UNDO_DEPTH: usize = 50;
/// "Is this X?" asks about unknown faces this much less similar to X than X's threshold.
const SUGGESTION_MARGIN: f32 = 0.15;

/// A face the worker found in a library photo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LibraryFace {
    /// Unique in its library (set when the photo joins it).
    #[serde(default)]
    pub id: u32,
    /// Left, top, width, height in the photo's pixels (after its EXIF orientation).
    pub bbox: [f32; 4],
    pub score: f32,
    #[serde(with = "crate::encoding::base64_f32s")]
    pub embedding: Vec<f32>,
    /// A small JPEG of the face (empty in an export without pictures).
    #[serde(default, with = "crate::encoding::base64_bytes")]
    pub thumbnail_jpeg: Vec<u8>,
    /// The face and its surroundings: what naming enrols, for other backbones later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<FacePicture>,
}

/// A photo of the library and the faces in it (none is a result too).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScannedPhoto {
    /// Its path in the folder the user gave (or its file name).
    pub path: String,
    pub width: usize,
    pub height: usize,
    /// A small JPEG of the whole photo (empty in an export without pictures).
    #[serde(default, with = "crate::encoding::base64_bytes")]
    pub thumbnail_jpeg: Vec<u8>,
    pub faces: Vec<LibraryFace>,
}

/// A file that could not be scanned, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What the user said about a face.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Decision {
    /// This is that person (confirmed, moved, or named with its group).
    Person(u32),
    /// Not any of these people (rejected suggestions).
    NotPerson(BTreeSet<u32>),
    NotAFace,
}

/// The user's decisions and the groups: small, saved after every change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Curation {
    pub decisions: BTreeMap<u32, Decision>,
    /// Each grouped face's group.
    pub groups: BTreeMap<u32, u32>,
    /// Faces the user split off: left alone when the ungrouped are grouped again.
    pub kept_apart: BTreeSet<u32>,
    /// Groups the user ignores ("not someone to sort"), faces joining them later included.
    pub ignored: BTreeSet<u32>,
    pub next_group: u32,
}

/// Where a face stands now.
#[derive(Clone, Debug, PartialEq)]
pub enum FaceLabel {
    /// The user said who it is.
    Confirmed(u32),
    /// At least as similar to this person as their threshold; the user can confirm or reject.
    Suggested { person: u32, similarity: f32 },
    /// Unknown, in a group of similar faces.
    Group(u32),
    /// Unknown and like no other face enough.
    Ungrouped,
    NotAFace,
    Ignored,
}

/// Telling the enrolled people in library faces: cosine similarity to each person's centroid
/// (their photos' unit embeddings averaged), accepted at that person's threshold: calibrated by
/// the trained model where it knows them, else the backbone's `match_similarity`.
pub struct Recogniser {
    people: Vec<u32>,
    centroids: Option<CentroidClassifier>,
    thresholds: Vec<f32>,
}

impl Recogniser {
    pub fn new(roster: &Roster, backbone: BackboneId, model: Option<&TrainedModel>) -> Self {
        let enrolled: Vec<_> = roster.people().iter().filter(|p| p.photos.iter().any(|f| f.embeddings.contains_key(&backbone))).collect();
        let names: Vec<String> = enrolled.iter().map(|p| p.name.clone()).collect();
        let (embeddings, labels) = roster.labelled_embeddings(&names, backbone);
        let calibrated = model.filter(|m| m.backbone == backbone).and_then(|m| Some((m, m.unknown.as_ref()?)));
        let thresholds = names
            .iter()
            .map(|name| match calibrated {
                Some((model, unknown)) => model.names.iter().position(|n| n == name).map_or(unknown.similarity, |i| unknown.for_person(i)),
                None => backbone.spec().match_similarity,
            })
            .collect();
        let centroids = (!names.is_empty()).then(|| CentroidClassifier::fit(&embeddings, &labels, names.len()));
        Self { people: enrolled.iter().map(|p| p.id).collect(), centroids, thresholds }
    }

    /// Each enrolled person with the face's similarity to them and their threshold.
    pub fn similarities(&self, embedding: &[f32]) -> Vec<(u32, f32, f32)> {
        let Some(centroids) = &self.centroids else { return Vec::new() };
        let similarities = centroids.similarities(embedding);
        self.people.iter().zip(similarities).zip(&self.thresholds).map(|((&p, s), &t)| (p, s, t)).collect()
    }

    /// The person the face is, if any: the most similar of those it reaches the threshold of.
    pub fn recognise(&self, embedding: &[f32], rejected: &BTreeSet<u32>) -> Option<(u32, f32)> {
        let accepted = self.similarities(embedding).into_iter().filter(|&(p, s, t)| s >= t && !rejected.contains(&p));
        accepted.map(|(p, s, _)| (p, s)).max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// Every face's label, and the views built on them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sorting {
    pub labels: BTreeMap<u32, FaceLabel>,
}

impl Sorting {
    /// Each person's faces, confirmed ones first, then suggestions by similarity.
    pub fn people(&self) -> BTreeMap<u32, Vec<u32>> {
        let mut people: BTreeMap<u32, Vec<(u32, f32)>> = BTreeMap::new();
        for (&face, label) in &self.labels {
            match *label {
                FaceLabel::Confirmed(person) => people.entry(person).or_default().push((face, 2.0)),
                FaceLabel::Suggested { person, similarity } => people.entry(person).or_default().push((face, similarity)),
                _ => {}
            }
        }
        people
            .into_iter()
            .map(|(person, mut faces)| {
                faces.sort_by(|a, b| b.1.total_cmp(&a.1));
                (person, faces.into_iter().map(|(f, _)| f).collect())
            })
            .collect()
    }

    /// The groups of unknown faces, largest first.
    pub fn groups(&self) -> Vec<(u32, Vec<u32>)> {
        let mut groups: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (&face, label) in &self.labels {
            if let FaceLabel::Group(group) = *label {
                groups.entry(group).or_default().push(face);
            }
        }
        let mut groups: Vec<(u32, Vec<u32>)> = groups.into_iter().collect();
        groups.sort_by_key(|(_, faces)| std::cmp::Reverse(faces.len()));
        groups
    }

    /// The faces with this label.
    pub fn with(&self, wanted: &FaceLabel) -> Vec<u32> {
        self.labels.iter().filter(|(_, l)| *l == wanted).map(|(&f, _)| f).collect()
    }

    /// The person a face is (confirmed or suggested).
    pub fn person(&self, face: u32) -> Option<u32> {
        match self.labels.get(&face)? {
            FaceLabel::Confirmed(p) | FaceLabel::Suggested { person: p, .. } => Some(*p),
            _ => None,
        }
    }
}

/// An action that can be taken back: the curation before it, and the roster where it changed.
#[derive(Clone, Debug, PartialEq)]
struct Undo {
    what: String,
    curation: Curation,
    roster: Option<Roster>,
}

/// The photos scanned so far, the files skipped, and the curation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Library {
    pub version: u32,
    /// The backbone every face was embedded with.
    pub backbone: BackboneId,
    photos: Vec<ScannedPhoto>,
    pub skipped: Vec<Skipped>,
    pub curation: Curation,
    #[serde(skip)]
    undo: Vec<Undo>,
    /// Face id -> (photo, face) positions.
    #[serde(skip)]
    index: BTreeMap<u32, (usize, usize)>,
}

impl Library {
    pub fn new(backbone: BackboneId) -> Self {
        Self { version: LIBRARY_VERSION, backbone, photos: Vec::new(), skipped: Vec::new(), curation: Curation::default(), undo: Vec::new(), index: BTreeMap::new() }
    }

    /// A library from its saved parts (the storage keeps photos one record each).
    pub fn restore(backbone: BackboneId, photos: Vec<ScannedPhoto>, skipped: Vec<Skipped>, curation: Curation) -> Self {
        let mut library = Self { photos, skipped, curation, ..Self::new(backbone) };
        library.reindex();
        library
    }

    fn reindex(&mut self) {
        self.index = self.photos.iter().enumerate().flat_map(|(p, photo)| photo.faces.iter().enumerate().map(move |(f, face)| (face.id, (p, f)))).collect();
    }

    pub fn photos(&self) -> &[ScannedPhoto] {
        &self.photos
    }

    pub fn face_count(&self) -> usize {
        self.index.len()
    }

    /// A face and the photo it is in.
    pub fn face(&self, id: u32) -> Option<(&ScannedPhoto, &LibraryFace)> {
        let &(p, f) = self.index.get(&id)?;
        Some((&self.photos[p], &self.photos[p].faces[f]))
    }

    /// The paths of the files scanned or skipped already (a resumed scan passes over them).
    pub fn known_paths(&self) -> BTreeSet<&str> {
        self.photos.iter().map(|p| p.path.as_str()).chain(self.skipped.iter().map(|s| s.path.as_str())).collect()
    }

    /// Adds a scanned photo (its faces get their ids); returns its faces' ids. Call
    /// `group_new_faces` after a batch.
    pub fn add(&mut self, mut photo: ScannedPhoto) -> Vec<u32> {
        let first = self.index.keys().next_back().map_or(1, |id| id + 1);
        for (id, face) in (first..).zip(&mut photo.faces) {
            face.id = id;
        }
        let ids: Vec<u32> = photo.faces.iter().map(|f| f.id).collect();
        let p = self.photos.len();
        self.index.extend(ids.iter().enumerate().map(|(f, &id)| (id, (p, f))));
        self.photos.push(photo);
        ids
    }

    pub fn skip(&mut self, path: String, reason: String) {
        self.skipped.push(Skipped { path, reason });
    }

    fn unit(&self, face: u32) -> Vec<f32> {
        l2_normalized(&self.face(face).expect("an indexed face").1.embedding)
    }

    fn new_group(&mut self) -> u32 {
        self.curation.next_group += 1;
        self.curation.next_group
    }

    /// Adds a face's unit embedding to its group's sum and count.
    fn add_to_sum(sums: &mut BTreeMap<u32, (Vec<f32>, usize)>, group: u32, unit: &[f32]) {
        let (sum, n) = sums.entry(group).or_insert_with(|| (vec![0.0; unit.len()], 0));
        sum.iter_mut().zip(unit).for_each(|(s, u)| *s += u);
        *n += 1;
    }

    /// Groups the faces that have no group yet: each joins the existing group it is most similar
    /// to on average (at least the cut), and those that join none are grouped among themselves
    /// together with the faces still alone in a group (not those the user split off).
    pub fn group_new_faces(&mut self, clustering: Clustering) {
        let mut sums: BTreeMap<u32, (Vec<f32>, usize)> = BTreeMap::new();
        for (&face, &group) in &self.curation.groups {
            Self::add_to_sum(&mut sums, group, &self.unit(face));
        }
        let new: Vec<u32> = self.index.keys().filter(|f| !self.curation.groups.contains_key(f)).copied().collect();
        for face in new {
            let unit = self.unit(face);
            let average = |(sum, n): &(Vec<f32>, usize)| sum.iter().zip(&unit).map(|(s, u)| s * u).sum::<f32>() / *n as f32;
            let nearest = sums.iter().map(|(&g, s)| (g, average(s))).max_by(|a, b| a.1.total_cmp(&b.1));
            let group = match nearest {
                Some((g, similarity)) if similarity >= clustering.cut => g,
                _ => self.new_group(),
            };
            Self::add_to_sum(&mut sums, group, &unit);
            self.curation.groups.insert(face, group);
        }
        let alone: Vec<u32> = self
            .curation
            .groups
            .iter()
            .filter(|&(face, group)| sums[group].1 == 1 && !self.curation.kept_apart.contains(face))
            .map(|(&face, _)| face)
            .collect();
        let embeddings: Vec<Vec<f32>> = alone.iter().map(|&f| self.unit(f)).collect();
        for members in Groups::new(clustering, &embeddings).members() {
            if members.len() > 1 {
                let group = self.new_group();
                for &m in members {
                    self.curation.groups.insert(alone[m], group);
                }
            }
        }
    }

    /// Every face's label for this roster: the user's decision, else a recognised person, else
    /// its group (where at least `min_size` unknown faces share it) or ungrouped.
    pub fn sorting(&self, recogniser: &Recogniser, min_size: usize) -> Sorting {
        let no_rejections = BTreeSet::new();
        let mut labels = BTreeMap::new();
        let mut unknown: Vec<u32> = Vec::new();
        for &id in self.index.keys() {
            let group = self.curation.groups.get(&id);
            let decision = self.curation.decisions.get(&id);
            let label = match decision {
                Some(Decision::Person(p)) => FaceLabel::Confirmed(*p),
                Some(Decision::NotAFace) => FaceLabel::NotAFace,
                _ if group.is_some_and(|g| self.curation.ignored.contains(g)) => FaceLabel::Ignored,
                _ => {
                    let rejected = match decision {
                        Some(Decision::NotPerson(people)) => people,
                        _ => &no_rejections,
                    };
                    match recogniser.recognise(&self.face(id).expect("indexed").1.embedding, rejected) {
                        Some((person, similarity)) => FaceLabel::Suggested { person, similarity },
                        None => {
                            unknown.push(id);
                            FaceLabel::Ungrouped
                        }
                    }
                }
            };
            labels.insert(id, label);
        }
        let mut sizes: BTreeMap<u32, usize> = BTreeMap::new();
        for face in &unknown {
            if let Some(&g) = self.curation.groups.get(face) {
                *sizes.entry(g).or_default() += 1;
            }
        }
        for face in unknown {
            if let Some(&g) = self.curation.groups.get(&face).filter(|g| sizes[g] >= min_size) {
                labels.insert(face, FaceLabel::Group(g));
            }
        }
        Sorting { labels }
    }

    /// "Is this X?": unknown faces nearest to the person, most similar first, down to a margin
    /// below their threshold (those above it are suggested already).
    pub fn is_this(&self, person: u32, recogniser: &Recogniser, sorting: &Sorting, count: usize) -> Vec<(u32, f32)> {
        let mut near: Vec<(u32, f32)> = sorting
            .labels
            .iter()
            .filter(|(_, l)| matches!(l, FaceLabel::Group(_) | FaceLabel::Ungrouped))
            .filter(|(f, _)| !matches!(self.curation.decisions.get(f), Some(Decision::NotPerson(p)) if p.contains(&person)))
            .filter_map(|(&f, _)| {
                let similarities = recogniser.similarities(&self.face(f)?.1.embedding);
                let (_, s, t) = similarities.into_iter().find(|(p, _, _)| *p == person)?;
                (s >= t - SUGGESTION_MARGIN).then_some((f, s))
            })
            .collect();
        near.sort_by(|a, b| b.1.total_cmp(&a.1));
        near.truncate(count);
        near
    }

    fn remember(&mut self, what: String, roster: Option<&Roster>) {
        self.undo.push(Undo { what, curation: self.curation.clone(), roster: roster.cloned() });
        if self.undo.len() > UNDO_DEPTH {
            self.undo.remove(0);
        }
    }

    /// What the next undo takes back.
    pub fn can_undo(&self) -> Option<&str> {
        self.undo.last().map(|u| u.what.as_str())
    }

    /// Takes the last action back (the roster too, where it changed); says what was undone.
    pub fn undo(&mut self, roster: &mut Roster) -> Option<String> {
        let undo = self.undo.pop()?;
        self.curation = undo.curation;
        if let Some(before) = undo.roster {
            *roster = before;
        }
        Some(undo.what)
    }

    /// The user says who a face is (confirming a suggestion, or moving it to someone else).
    pub fn confirm(&mut self, face: u32, person: u32, name: &str) {
        self.remember(format!("this is {name}"), None);
        self.curation.decisions.insert(face, Decision::Person(person));
    }

    /// The user says a face is not this person.
    pub fn reject(&mut self, face: u32, person: u32, name: &str) {
        self.remember(format!("not {name}"), None);
        let mut rejected = match self.curation.decisions.remove(&face) {
            Some(Decision::NotPerson(people)) => people,
            _ => BTreeSet::new(),
        };
        rejected.insert(person);
        self.curation.decisions.insert(face, Decision::NotPerson(rejected));
    }

    pub fn not_a_face(&mut self, face: u32) {
        self.remember("not a face".into(), None);
        self.curation.decisions.insert(face, Decision::NotAFace);
    }

    /// Takes a face out of its group (it stays alone, and unknown).
    pub fn split_off(&mut self, face: u32) {
        self.remember("split off".into(), None);
        let group = self.new_group();
        self.curation.groups.insert(face, group);
        self.curation.kept_apart.insert(face);
        self.curation.decisions.remove(&face);
    }

    /// Puts group `from`'s faces into group `into`.
    pub fn merge(&mut self, into: u32, from: u32) {
        if into == from {
            return;
        }
        self.remember("merge".into(), None);
        for group in self.curation.groups.values_mut().filter(|g| **g == from) {
            *group = into;
        }
    }

    pub fn ignore_group(&mut self, group: u32) {
        self.remember("ignore".into(), None);
        self.curation.ignored.insert(group);
    }

    /// A face as an enrolled photo: its embedding, thumbnail and picture, under its file's path.
    fn enrolled_photo(&self, face: u32) -> Option<Photo> {
        let (photo, found) = self.face(face)?;
        Some(Photo::new(photo.path.clone(), self.backbone, found.embedding.clone(), found.thumbnail_jpeg.clone(), found.picture.clone()))
    }

    /// Names a group's unknown faces: they enrol a new person of that name, or join the person
    /// already called so, and are theirs from now on. Returns the person's id.
    pub fn name_group(&mut self, group: u32, name: &str, sorting: &Sorting, roster: &mut Roster) -> Result<u32, NameError> {
        let existing = roster.people().iter().find(|p| p.name.trim().to_lowercase() == name.trim().to_lowercase()).map(|p| p.id);
        let name = validate_name(name, roster.people().iter().filter(|p| Some(p.id) != existing).map(|p| p.name.as_str()))?;
        let faces = sorting.with(&FaceLabel::Group(group));
        self.remember(format!("naming {name}"), Some(roster));
        let person = match existing {
            Some(id) => id,
            None => roster.add_person(&name)?,
        };
        for face in faces {
            roster.add_photo(person, self.enrolled_photo(face).expect("a sorted face"));
            self.curation.decisions.insert(face, Decision::Person(person));
        }
        Ok(person)
    }
}

/// What a library export file says of one face.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceResult {
    pub face: u32,
    pub bbox: [f32; 4],
    pub person: Option<String>,
    /// "confirmed", "suggested", "group N", "ungrouped", "not a face" or "ignored".
    pub status: String,
    /// Similarity to the person, for a suggestion.
    pub similarity: Option<f32>,
}

/// Every file of the library with who is in it (a skipped file says why).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoResult {
    pub path: String,
    pub faces: Vec<FaceResult>,
    pub skipped: Option<String>,
}

/// The library export's format name.
pub const FILE_FORMAT: &str = "facelab-library";

/// The export file: the results per file, and the library itself (to import again), with the
/// names of the people its decisions refer to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LibraryFile {
    pub format: String,
    pub version: u32,
    pub people: BTreeMap<u32, String>,
    pub results: Vec<PhotoResult>,
    pub library: Library,
}

/// Why an export file was refused.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LibraryImportError {
    #[error("this is not a facelab library export ({0})")]
    NotALibrary(String),
    #[error("this file is library version {0}; this page reads version {LIBRARY_VERSION}")]
    Version(u32),
    #[error("the file is damaged: {0}")]
    Damaged(String),
    #[error("the file names someone the page cannot enrol: {0}")]
    Name(#[from] NameError),
}

fn status(label: &FaceLabel) -> String {
    match label {
        FaceLabel::Confirmed(_) => "confirmed".into(),
        FaceLabel::Suggested { .. } => "suggested".into(),
        FaceLabel::Group(g) => format!("group {g}"),
        FaceLabel::Ungrouped => "ungrouped".into(),
        FaceLabel::NotAFace => "not a face".into(),
        FaceLabel::Ignored => "ignored".into(),
    }
}

impl Library {
    /// Every file, scanned or skipped, with its faces as `sorting` labels them.
    pub fn results(&self, sorting: &Sorting, roster: &Roster) -> Vec<PhotoResult> {
        let name = |p: u32| roster.person(p).map(|p| p.name.clone());
        let scanned = self.photos.iter().map(|photo| PhotoResult {
            path: photo.path.clone(),
            skipped: None,
            faces: photo
                .faces
                .iter()
                .map(|face| {
                    let label = sorting.labels.get(&face.id).cloned().unwrap_or(FaceLabel::Ungrouped);
                    let similarity = match label {
                        FaceLabel::Suggested { similarity, .. } => Some(similarity),
                        _ => None,
                    };
                    FaceResult { face: face.id, bbox: face.bbox, person: sorting.person(face.id).and_then(name), status: status(&label), similarity }
                })
                .collect(),
        });
        let skipped = self.skipped.iter().map(|s| PhotoResult { path: s.path.clone(), faces: Vec::new(), skipped: Some(s.reason.clone()) });
        scanned.chain(skipped).collect()
    }

    /// The export file's JSON; without the face and photo pictures unless `with_pictures`.
    pub fn to_file_json(&self, sorting: &Sorting, roster: &Roster, with_pictures: bool) -> String {
        let mut library = self.clone();
        library.undo.clear();
        if !with_pictures {
            for photo in &mut library.photos {
                photo.thumbnail_jpeg.clear();
                for face in &mut photo.faces {
                    face.thumbnail_jpeg.clear();
                    face.picture = None;
                }
            }
        }
        let people = roster.people().iter().map(|p| (p.id, p.name.clone())).collect();
        let file = LibraryFile { format: FILE_FORMAT.into(), version: LIBRARY_VERSION, people, results: self.results(sorting, roster), library };
        serde_json::to_string(&file).expect("a library serializes")
    }

    /// The results as CSV: one row per face (a file without faces, or skipped, has one row).
    pub fn to_csv(&self, sorting: &Sorting, roster: &Roster) -> String {
        use crate::encoding::csv_quoted as quote;
        let mut csv = String::from("path,face,person,status,similarity,left,top,width,height\n");
        for result in self.results(sorting, roster) {
            let path = quote(&result.path);
            if let Some(reason) = &result.skipped {
                csv += &format!("{path},,,{},,,,,\n", quote(&format!("skipped: {reason}")));
            } else if result.faces.is_empty() {
                csv += &format!("{path},,,\"no face\",,,,,\n");
            }
            for face in &result.faces {
                let [left, top, width, height] = face.bbox;
                let similarity = face.similarity.map_or(String::new(), |s| format!("{s:.3}"));
                let person = quote(face.person.as_deref().unwrap_or(""));
                csv += &format!("{path},{},{person},{},{similarity},{left:.0},{top:.0},{width:.0},{height:.0}\n", face.face, quote(&face.status));
            }
        }
        csv
    }

    /// Reads an export file back. The people its decisions name join the roster where they are
    /// not in it yet, enrolled with the faces confirmed as theirs.
    pub fn from_file_json(json: &str, roster: &mut Roster) -> Result<Self, LibraryImportError> {
        let value: serde_json::Value = serde_json::from_str(json).map_err(|e| LibraryImportError::NotALibrary(e.to_string()))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FILE_FORMAT) {
            return Err(LibraryImportError::NotALibrary("no \"format\": \"facelab-library\"".into()));
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == LIBRARY_VERSION as u64 => {}
            other => return Err(LibraryImportError::Version(other.unwrap_or(0) as u32)),
        }
        let file: LibraryFile = serde_json::from_value(value).map_err(|e| LibraryImportError::Damaged(e.to_string()))?;
        let parts = file.library;
        let dim = parts.backbone.spec().embedding_dim;
        let faces = parts.photos.iter().flat_map(|p| &p.faces);
        if let Some(bad) = faces.clone().find(|f| f.embedding.len() != dim || !f.embedding.iter().all(|v| v.is_finite())) {
            return Err(LibraryImportError::Damaged(format!("face {} has no {} embedding", bad.id, parts.backbone.spec().name)));
        }
        let ids: BTreeSet<u32> = faces.clone().map(|f| f.id).collect();
        if ids.len() != faces.count() {
            return Err(LibraryImportError::Damaged("two faces share an id".into()));
        }
        let mut library = Library::restore(parts.backbone, parts.photos, parts.skipped, parts.curation);
        // The file's person ids are its own page's: matched to this roster by name.
        let mut ids = BTreeMap::new();
        let mut new_people = BTreeSet::new();
        for (old, name) in &file.people {
            let id = match roster.people().iter().find(|p| p.name.trim().to_lowercase() == name.trim().to_lowercase()) {
                Some(person) => person.id,
                None if library.curation.decisions.values().any(|d| *d == Decision::Person(*old)) => {
                    let id = roster.add_person(name)?;
                    new_people.insert(id);
                    id
                }
                None => continue,
            };
            ids.insert(*old, id);
        }
        let decisions = std::mem::take(&mut library.curation.decisions);
        for (face, decision) in decisions {
            let decision = match decision {
                Decision::Person(p) => match ids.get(&p) {
                    Some(&id) => Decision::Person(id),
                    None => continue,
                },
                Decision::NotPerson(people) => Decision::NotPerson(people.iter().filter_map(|p| ids.get(p).copied()).collect()),
                Decision::NotAFace => Decision::NotAFace,
            };
            if let Decision::Person(id) = &decision
                && new_people.contains(id)
                && let Some(enrolled) = library.enrolled_photo(face)
            {
                roster.add_photo(*id, enrolled);
            }
            library.curation.decisions.insert(face, decision);
        }
        Ok(library)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(embedding: Vec<f32>) -> LibraryFace {
        LibraryFace { id: 0, bbox: [0.0, 0.0, 10.0, 10.0], score: 0.9, embedding, thumbnail_jpeg: Vec::new(), picture: None }
    }

    fn photo(path: &str, faces: Vec<Vec<f32>>) -> ScannedPhoto {
        ScannedPhoto { path: path.into(), width: 100, height: 100, thumbnail_jpeg: Vec::new(), faces: faces.into_iter().map(face).collect() }
    }

    /// A faceres-sized vector near axis `axis` (of the first 8), nudged by `wobble` on the next.
    fn near(axis: usize, wobble: f32) -> Vec<f32> {
        let mut v = vec![0.0; BackboneId::FaceRes.spec().embedding_dim];
        v[axis] = 1.0;
        v[(axis + 1) % 8] = wobble;
        v
    }

    fn clustering() -> Clustering {
        Clustering { cut: 0.8, min_size: 2 }
    }

    /// Ada enrolled (axis 0); the library: 3 photos of Ada, 3 of someone else (axis 2), one
    /// stranger (axis 5) and one photo without a face.
    fn scanned() -> (Roster, Library) {
        let mut roster = Roster::default();
        let ada = roster.add_person("Ada").unwrap();
        roster.add_photo(ada, Photo::new("ada.jpg".into(), BackboneId::FaceRes, near(0, 0.0), Vec::new(), None));
        let mut library = Library::new(BackboneId::FaceRes);
        for (i, wobble) in [0.05, 0.1, 0.15].into_iter().enumerate() {
            library.add(photo(&format!("ada/{i}.jpg"), vec![near(0, wobble)]));
            library.add(photo(&format!("bob/{i}.jpg"), vec![near(2, wobble)]));
        }
        library.add(photo("stranger.jpg", vec![near(5, 0.0)]));
        library.add(photo("empty.jpg", vec![]));
        library.group_new_faces(clustering());
        (roster, library)
    }

    #[test]
    fn enrolled_faces_are_named_the_others_grouped_and_strays_left_alone() {
        let (roster, library) = scanned();
        let recogniser = Recogniser::new(&roster, BackboneId::FaceRes, None);
        let sorting = library.sorting(&recogniser, 2);
        let ada = roster.by_name("Ada").unwrap().id;
        assert_eq!(sorting.people().get(&ada).map(Vec::len), Some(3));
        let groups = sorting.groups();
        assert_eq!(groups.len(), 1, "{sorting:?}");
        assert_eq!(groups[0].1.len(), 3);
        assert!(groups[0].1.iter().all(|&f| library.face(f).unwrap().0.path.starts_with("bob/")));
        assert_eq!(sorting.with(&FaceLabel::Ungrouped).len(), 1, "the stranger stays ungrouped");
        assert_eq!(library.photos().len(), 8);
        let known = library.known_paths();
        assert!(known.contains("empty.jpg") && !known.contains("other.jpg"));
    }

    #[test]
    fn no_forced_match_below_the_threshold() {
        let (roster, library) = scanned();
        let recogniser = Recogniser::new(&roster, BackboneId::FaceRes, None);
        // A face at 45 degrees from Ada's (cosine 0.707): Ada at faceres' own threshold (0.68),
        // nobody at a stricter one.
        let halfway: Vec<f32> = near(0, 0.0).iter().zip(near(2, 0.0)).map(|(a, b)| a + b).collect();
        assert!(recogniser.recognise(&halfway, &BTreeSet::new()).is_some(), "0.707 >= faceres' 0.68");
        let strict = Recogniser { thresholds: vec![0.8], ..recogniser };
        assert_eq!(strict.recognise(&halfway, &BTreeSet::new()), None);
        let sorting = library.sorting(&strict, 2);
        assert_eq!(sorting.people().values().map(Vec::len).sum::<usize>(), 3);
    }

    #[test]
    fn adding_photos_extends_groups_without_regrouping_the_rest() {
        let (roster, mut library) = scanned();
        let before = library.curation.groups.clone();
        library.add(photo("bob/3.jpg", vec![near(2, 0.12)]));
        library.add(photo("stranger2.jpg", vec![near(5, 0.1)]));
        library.group_new_faces(clustering());
        for (face, group) in &before {
            if library.curation.groups[face] != *group {
                // Only the stranger, alone before, may have found company.
                assert_eq!(library.face(*face).unwrap().0.path, "stranger.jpg");
            }
        }
        let recogniser = Recogniser::new(&roster, BackboneId::FaceRes, None);
        let groups = library.sorting(&recogniser, 2).groups();
        assert_eq!(groups.iter().map(|(_, f)| f.len()).collect::<Vec<_>>(), vec![4, 2], "bob's group grew, the strangers pair up");
    }

    #[test]
    fn naming_a_group_enrols_the_person_and_undo_takes_it_back() {
        let (mut roster, mut library) = scanned();
        let recogniser = Recogniser::new(&roster, BackboneId::FaceRes, None);
        let sorting = library.sorting(&recogniser, 2);
        let group = sorting.groups()[0].0;
        assert_eq!(library.name_group(group, "ada", &sorting, &mut roster.clone()).map(|_| ()), Ok(()), "joins Ada (any case)");
        let bob = library.name_group(group, "Bob", &sorting, &mut roster).unwrap();
        assert_eq!(roster.person(bob).unwrap().photos.len(), 3);
        let sorting = library.sorting(&Recogniser::new(&roster, BackboneId::FaceRes, None), 2);
        assert_eq!(sorting.people()[&bob].len(), 3);
        assert!(sorting.groups().is_empty());
        assert_eq!(library.undo(&mut roster).as_deref(), Some("naming Bob"));
        assert!(roster.by_name("Bob").is_none());
        assert!(library.undo(&mut roster).is_some(), "the trial naming of a cloned roster");
        assert_eq!(library.undo(&mut roster), None);
    }

    #[test]
    fn curation_reject_confirm_split_merge_ignore() {
        let (roster, mut library) = scanned();
        let ada = roster.by_name("Ada").unwrap().id;
        let recogniser = Recogniser::new(&roster, BackboneId::FaceRes, None);
        let sorting = library.sorting(&recogniser, 2);
        let first_ada = sorting.people()[&ada][0];
        library.reject(first_ada, ada, "Ada");
        let sorting = library.sorting(&recogniser, 2);
        assert_eq!(sorting.people()[&ada].len(), 2, "a rejected suggestion is not Ada's");
        assert_eq!(sorting.person(first_ada), None);
        // "Is this Ada?" leaves out the face the user said is not her.
        assert!(library.is_this(ada, &recogniser, &sorting, 5).iter().all(|(f, _)| *f != first_ada));
        let stranger = sorting.with(&FaceLabel::Ungrouped)[0];
        library.confirm(stranger, ada, "Ada");
        assert_eq!(library.sorting(&recogniser, 2).labels[&stranger], FaceLabel::Confirmed(ada));
        let (group, bobs) = library.sorting(&recogniser, 2).groups()[0].clone();
        library.split_off(bobs[0]);
        let sorting = library.sorting(&recogniser, 2);
        assert_eq!(sorting.groups()[0].1.len(), 2);
        assert_eq!(sorting.labels[&bobs[0]], FaceLabel::Ungrouped);
        library.group_new_faces(clustering());
        assert_eq!(library.sorting(&recogniser, 2).labels[&bobs[0]], FaceLabel::Ungrouped, "a split face stays apart");
        library.not_a_face(bobs[1]);
        let other = library.curation.groups[&first_ada];
        library.merge(group, other);
        assert_eq!(library.curation.groups[&first_ada], group);
        library.ignore_group(group);
        let sorting = library.sorting(&recogniser, 2);
        assert_eq!(sorting.labels[&bobs[1]], FaceLabel::NotAFace);
        assert_eq!(sorting.labels[&bobs[2]], FaceLabel::Ignored);
        assert_eq!(library.can_undo(), Some("ignore"));
        let mut roster = roster;
        for _ in 0..6 {
            library.undo(&mut roster);
        }
        assert!(matches!(library.sorting(&recogniser, 2).labels[&first_ada], FaceLabel::Suggested { person, .. } if person == ada));
        assert_eq!(library.can_undo(), None);
    }

    #[test]
    fn the_export_lists_every_file_and_imports_back() {
        let (mut roster, mut library) = scanned();
        library.skip("notes.txt".into(), "not an image".into());
        let sorting = library.sorting(&Recogniser::new(&roster, BackboneId::FaceRes, None), 2);
        let group = sorting.groups()[0].0;
        library.name_group(group, "Bob, \"the builder\"", &sorting, &mut roster).unwrap();
        let sorting = library.sorting(&Recogniser::new(&roster, BackboneId::FaceRes, None), 2);
        let csv = library.to_csv(&sorting, &roster);
        for path in ["ada/0.jpg", "bob/2.jpg", "stranger.jpg", "empty.jpg", "notes.txt"] {
            assert!(csv.contains(&format!("\"{path}\"")), "{path} in {csv}");
        }
        assert!(csv.contains("\"Bob, \"\"the builder\"\"\",\"confirmed\""), "{csv}");
        assert!(csv.contains("\"Ada\",\"suggested\""));
        assert!(csv.contains("\"empty.jpg\",,,\"no face\""));
        assert!(csv.contains("\"skipped: not an image\""));

        let json = library.to_file_json(&sorting, &roster, false);
        // Into a page where only Ada is enrolled: Bob joins with his confirmed faces.
        let mut other = Roster::default();
        let ada = other.add_person("Ada").unwrap();
        other.add_photo(ada, Photo::new("ada.jpg".into(), BackboneId::FaceRes, near(0, 0.0), Vec::new(), None));
        let imported = Library::from_file_json(&json, &mut other).unwrap();
        let bob = other.by_name("Bob, \"the builder\"").unwrap();
        assert_eq!(bob.photos.len(), 3);
        let again = imported.sorting(&Recogniser::new(&other, BackboneId::FaceRes, None), 2);
        assert_eq!(imported.results(&again, &other), library.results(&sorting, &roster));
        assert!(imported.photos().iter().all(|p| p.thumbnail_jpeg.is_empty()), "no pictures unless asked");

        assert!(matches!(Library::from_file_json("{}", &mut other), Err(LibraryImportError::NotALibrary(_))));
        let future = json.replacen("\"version\":1", "\"version\":9", 1);
        assert_eq!(Library::from_file_json(&future, &mut other).unwrap_err(), LibraryImportError::Version(9));
        let damaged = json.replacen("\"embedding\":\"", "\"embedding\":\"AAAA", 1);
        assert!(matches!(Library::from_file_json(&damaged, &mut other), Err(LibraryImportError::Damaged(_))));
    }

    #[test]
    fn a_restored_library_is_the_same() {
        let (_, library) = scanned();
        let json = serde_json::to_string(&library).unwrap();
        let back: Library = serde_json::from_str(&json).unwrap();
        let restored = Library::restore(back.backbone, back.photos().to_vec(), back.skipped.clone(), back.curation.clone());
        assert_eq!(restored.face_count(), library.face_count());
        assert_eq!(restored.curation, library.curation);
        assert_eq!(restored.face(3).map(|(p, _)| p.path.clone()), library.face(3).map(|(p, _)| p.path.clone()));
    }
}
