//! facelab's core: backbones, preprocessing, the trainable head and metrics. Free of UI and
//! browser code so that it builds and tests natively and for wasm32 alike.

pub mod archive;
pub mod backbone;
pub mod compute;
#[cfg(not(target_arch = "wasm32"))]
pub mod convert;
#[cfg(not(target_arch = "wasm32"))]
pub mod dataset;
pub mod detector;
pub mod experiment;
pub mod head;
pub mod metrics;
#[cfg(not(target_arch = "wasm32"))]
pub mod onnx;
pub mod openset;
pub mod preprocess;
pub mod roster;
pub mod weights;
