// The benchmark page (bench/) works and measures the same computation on both sides: a short run
// on faceres (and dlib-resnet against face-api.js) with the SIMD build. No timing is asserted (scripts/bench.sh reports speed); what is
// checked is that every row ran or says why not, and that our embeddings equal TF.js's on the
// original model files (an implementation independent of ours, in the same page), and that head
// training runs on both sides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchInChromium } from '../../bench/run.mjs';

test('the benchmark page runs ours and TF.js on the same inputs, with the same results', { timeout: 600_000 }, async () => {
  const options = { backbones: ['faceres', 'dlib-resnet'], batch: 2, rounds: 1, warmup: 1, threads: 2, softwareGpu: false };
  const { results } = await benchInChromium(options, { builds: ['app'] });
  assert.equal(results.crossOriginIsolated, true, 'COOP/COEP make the page cross-origin isolated');
  const row = (label, backbone = 'faceres') => results.rows.find((r) => r.backbone === backbone && r.label === label)
    ?? assert.fail(`no row ${backbone} ${label}: ${results.rows.map((r) => r.label)}`);

  const peer = row('TF.js wasm SIMD, 1 thread');
  assert.equal(peer.details.backend, 'wasm');
  assert.equal(peer.details.simd, true);
  assert.equal(peer.details.threads, 1);
  // The threaded module loads in the isolated page (how many threads XNNPACK then uses is TF.js's
  // choice: one on a 2-core machine).
  const threaded = row('TF.js wasm SIMD, threaded module, 2 threads asked');
  assert.equal(threaded.details?.isolated, true, `TF.js's worker is cross-origin isolated: ${threaded.skip ?? ''}`);

  for (const label of ['facelab flex SIMD, 1 thread', 'facelab ndarray SIMD, 1 thread', 'facelab flex SIMD, 2 workers', 'facelab flex SIMD, 1 thread, one image per call']) {
    const ours = row(label);
    assert.ok(ours.median > 0 && ours.times.length === 1, `${label} ran: ${ours.skip ?? ''}`);
    assert.ok(ours.cosine > 0.9999, `${label}: cosine to TF.js ${ours.cosine}`);
  }
  // dlib-resnet's peer is face-api.js's port of the same network, on its own copy of the weights
  // (quantized, pixels / 255 where dlib divides by 256): close, not equal.
  const faceapi = row('face-api.js on TF.js wasm SIMD, 1 thread', 'dlib-resnet');
  assert.ok(faceapi.median > 0, `face-api.js ran: ${faceapi.skip ?? ''}`);
  const dlib = row('facelab flex SIMD, 1 thread', 'dlib-resnet');
  assert.ok(dlib.cosine > 0.999, `dlib-resnet: cosine to face-api.js ${dlib.cosine}`);
  for (const r of results.rows) {
    assert.ok(r.median > 0 || r.skip, `${r.label} either ran or says why not`);
  }
  // Head training: our worker's Train and TF.js's dense layer both learn the 5 people.
  const { training } = results;
  for (const side of [training.ours, training.tfjs]) {
    assert.equal(side.times.length, 1);
    assert.ok(side.accuracy >= 0.95, `head training test accuracy ${side.accuracy}`);
  }
});
