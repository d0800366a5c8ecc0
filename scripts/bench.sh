#!/usr/bin/env bash
# The side-by-side benchmark: our backbones vs TensorFlow.js (same model files, same images, same
# page) in headless Chromium, plus our native numbers against ONNX Runtime (bench/ort.py). Prints a Markdown table and writes
# tests/output/bench.md and bench.json. Options go to bench/run.mjs (--backbones faceres --batch 4
# --rounds 5 --warmup 2 --threads N --software-gpu --no-isolation).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/facelab/target}"
export FACELAB_TESTVECTORS="${FACELAB_TESTVECTORS:-$(realpath -m ../shared/testvectors)}"
scripts/setup.sh
export PATH="$HOME/.cache/facelab/tools/node_modules/.bin:$PATH" TRUNK_SKIP_VERSION_CHECK=true

echo "bench: building the page with wasm SIMD (dist/)"
trunk build --release
# The same code without SIMD (no `simd` feature, no simd128 instructions), for the comparison:
# its own target dir, since other RUSTFLAGS would rebuild every dependency in the shared one.
echo "bench: building the page without wasm SIMD (dist-nosimd/)"
# Without the WebGPU worker (its link sets its own features; the comparison runs on the CPU).
grep -v 'data-bin="facelab-webgpu"' index.html > index-nosimd.html
trap 'rm -f index-nosimd.html' EXIT
CARGO_TARGET_DIR="$CARGO_TARGET_DIR-nosimd" RUSTFLAGS="-C target-feature=-simd128" \
  trunk build --release --no-default-features --dist dist-nosimd index-nosimd.html

backbones=faceres,resnet50-imagenet,dlib-resnet
for ((i = 1; i <= $#; i++)); do [ "${!i}" = --backbones ] && { j=$((i + 1)); backbones=${!j}; }; done
mkdir -p tests/output
# ONNX Runtime, the native reference, from PyPI into a venv of its own (bench/requirements-ort.txt).
ORT_VENV="$HOME/.cache/facelab/tools/ort-venv"
if ! "$ORT_VENV/bin/pip" freeze 2>/dev/null | diff -q <(grep -v '^#' bench/requirements-ort.txt) - >/dev/null; then
  echo "bench: installing onnxruntime and what it needs from PyPI into $ORT_VENV"
  python3 -m venv "$ORT_VENV"
  "$ORT_VENV/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements-ort.txt
fi
echo "bench: native, ours (burn-flex) vs ONNX Runtime, paired rounds, 1 thread and all cores"
cargo build --release --locked --quiet --bin bench
"$ORT_VENV/bin/python" bench/ort.py --bench-bin "$CARGO_TARGET_DIR/release/bench" --backbones "$backbones" --json tests/output/bench-ort.json

echo "bench: bytes on the wire for a first and a second visit (tests/e2e/load.test.mjs, into figures.json)"
node --test --test-reporter=dot tests/e2e/load.test.mjs

echo "bench: headless Chromium"
node bench/run.mjs --native tests/output/bench-ort.json --figures tests/output/figures.json "$@"
