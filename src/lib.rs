//! facelab's core: backbones, detection, preprocessing, the trainable head, the roster and the
//! model, the open-set verdict and the compute protocol. Free of UI and browser code so that it
//! builds and tests natively and for wasm32 alike (see ARCHITECTURE.md).

pub mod archive;
pub mod backbone;
pub mod cluster;
pub mod comparison;
pub mod compute;
pub mod convert;
#[cfg(not(target_arch = "wasm32"))]
pub mod dataset;
pub mod detector;
pub mod encoding;
pub mod experiment;
pub mod head;
pub mod library;
pub mod metrics;
pub mod model;
pub mod openset;
pub mod preprocess;
pub mod roster;
pub mod sealed;
pub mod weights;
