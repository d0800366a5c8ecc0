#!/usr/bin/env bash
# Runs every test of facelab, installing what is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facelab/target}"
# Absolute paths: the browser tests include these files at compile time (build.rs), and a target
# dir shared by two checkouts must not keep one checkout's paths for the other.
export FACELAB_TESTVECTORS="${FACELAB_TESTVECTORS:-$(realpath -m ../shared/testvectors)}"
export FACELAB_WEIGHTS="${FACELAB_WEIGHTS:-$PWD/weights}"
# Each step prints the seconds since the start (README "Developer loop" quotes them).
step() { echo "test: [${SECONDS}s] $*"; }
scripts/setup.sh

step "native tests (core, parity, converters)"
cargo test --release --locked

step "the core in headless Chromium (wasm-pack test; webdriver.json names the browser)"
# --mode no-install: the wasm-bindgen-cli that setup installed, Debian's chromedriver; nothing downloaded.
WASM_BINDGEN_TEST_TIMEOUT=900 wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver --mode no-install --release \
  -- --locked --no-default-features --features simd,webgpu --test browser

step "building the page (trunk build --release)"
export PATH="$HOME/.cache/facelab/tools/node_modules/.bin:$PATH" TRUNK_SKIP_VERSION_CHECK=true
trunk build --release

step "end-to-end tests in headless Chromium"
mkdir -p tests/output
# keras-vggface-shaped .h5 files (random weights; the real one is in no registry) for the
# page's "use your own file" path: complete, and without one layer.
cargo run --release --locked --quiet --bin weights -- synthetic-h5 tests/output/synthetic-vggface2.h5
cargo run --release --locked --quiet --bin weights -- synthetic-h5 tests/output/vggface2-missing-layer.h5 --drop conv4_2_3x3/bn/gamma
node --test --test-concurrency=1 --test-reporter=spec tests/e2e/*.test.mjs
step "done"
