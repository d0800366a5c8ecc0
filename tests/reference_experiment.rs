//! The reference experiment end to end on real photos: LFW, the 5 people with >= 100 photos,
//! the first 100 of each in scikit-learn's order, reference crop, 80/20 stratified split, with
//! the default backbone. An independent implementation measured 1.00 for the dense head and
//! the centroid classifier on this set. The same with the face detector's crops instead of the
//! reference crop (what the page does with a user's photos).

use burn::tensor::Device;
use facelab::backbone::BackboneId;
use facelab::dataset::{data_root, folder_per_person, load_backbone, load_detector, require};
use facelab::experiment::{detected_face_crops, embed_all, evaluate_split, face_crops};
use facelab::head::HeadConfig;
use facelab::metrics::stratified_split;

#[test]
fn lfw5_faceres_reaches_the_reference_accuracy() {
    lfw5_faceres(false);
}

#[test]
fn lfw5_faceres_on_detected_faces_reaches_the_reference_accuracy() {
    lfw5_faceres(true);
}

fn lfw5_faceres(detect: bool) {
    let lfw5 = require(&data_root().join("lfw5"), "the LFW-5 data (shared/data/lfw5) belongs here; set FACELAB_DATA")
        .unwrap_or_else(|e| panic!("{e}"));
    let photos = folder_per_person(&lfw5.join("lfw"), Some(&lfw5.join("sklearn_order.csv")), Some(100), 100).unwrap();
    assert_eq!(photos.names, ["Colin_Powell", "Donald_Rumsfeld", "George_W_Bush", "Gerhard_Schroeder", "Tony_Blair"]);
    assert_eq!(photos.items.len(), 500);
    // scikit-learn's order: its first photo is George_W_Bush_0432.
    let bush_first = photos.items.iter().find(|(_, label)| *label == 2).unwrap();
    assert!(bush_first.0.ends_with("George_W_Bush/George_W_Bush_0432.jpg"), "{:?}", bush_first.0);

    let device = Device::flex();
    let backbone = load_backbone(BackboneId::FaceRes, &device).unwrap_or_else(|e| panic!("{e}"));
    let paths: Vec<_> = photos.items.iter().map(|(p, _)| p.clone()).collect();
    let crops = if detect {
        let detector = load_detector(&device).unwrap_or_else(|e| panic!("{e}"));
        let found = detected_face_crops(&paths, &detector).unwrap();
        let missed = found.iter().filter(|f| f.is_none()).count();
        assert!(missed <= 2, "no face found in {missed} of 500 LFW photos");
        // For the same split, a photo without a detected face keeps the reference crop.
        found.into_iter().zip(face_crops(&paths).unwrap()).map(|(found, reference)| found.unwrap_or(reference)).collect()
    } else {
        face_crops(&paths).unwrap()
    };
    let embeddings = embed_all(&backbone, &crops, 16);
    let labels: Vec<usize> = photos.items.iter().map(|(_, l)| *l).collect();
    let split = stratified_split(&labels, 0.2, 42);
    assert_eq!((split.train.len(), split.test.len()), (400, 100));

    let outcome = evaluate_split(&embeddings, &labels, 5, &split, &HeadConfig::new(), &device, |_| {});
    println!("dense head:\n{}", outcome.head.render(&photos.names));
    println!("centroid:\n{}", outcome.centroid.render(&photos.names));
    assert_eq!(outcome.history.len(), 10);
    assert!(outcome.history[9].loss < outcome.history[0].loss, "training loss fell");
    assert!(outcome.head.accuracy() >= 0.98, "dense head test accuracy {}", outcome.head.accuracy());
    assert!(outcome.centroid.accuracy() >= 0.98, "centroid test accuracy {}", outcome.centroid.accuracy());
}
