#!/usr/bin/env bash
# Runs the app: Trunk's dev server on http://127.0.0.1:8080, installing what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facelab/target}"
scripts/setup.sh
export PATH="$HOME/.cache/facelab/tools/node_modules/.bin:$PATH" TRUNK_SKIP_VERSION_CHECK=true
exec trunk serve --release "$@"
