//! The browser tests (tests/browser.rs) run in Chromium, where there is no file system: they
//! include the reference vectors and the converted weights at compile time, from the same
//! configurable places the native tests read (`FACELAB_TESTVECTORS`, `FACELAB_WEIGHTS`).

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    for (var, default, exported) in [
        ("FACELAB_TESTVECTORS", "../shared/testvectors", "FACELAB_TESTVECTORS_DIR"),
        ("FACELAB_WEIGHTS", "weights", "FACELAB_WEIGHTS_DIR"),
    ] {
        println!("cargo:rerun-if-env-changed={var}");
        let dir = std::env::var_os(var).map_or_else(|| root.join(default), PathBuf::from);
        println!("cargo:rustc-env={exported}={}", dir.display());
    }
}
