#!/usr/bin/env bash
# Runs every test of facelab, installing what is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facelab/target}"
scripts/setup.sh
cargo test --release --locked
