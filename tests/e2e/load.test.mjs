// What a visit downloads, counted at the server (gzip and ETags as a static host sends them): a
// first visit without a WebGPU adapter gets the page's module (no burn-wgpu) and the default
// backbone's weights, never the WebGPU worker; a second visit only revalidates the shell (the
// weights are kept in Cache Storage); a browser with an adapter also gets the WebGPU worker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { launchChromium, recordFigures, serveDist } from './server.mjs';

const WEBGPU_MODULE = '/facelab-webgpu_bg.wasm';
const PAGE_MODULE = '/facelab_bg.wasm';
const MB = 1e6;

async function visitor(t, flags = []) {
  const { server, origin } = await serveDist();
  const browser = await launchChromium(flags);
  t.after(async () => { await browser.close(); server.close(); });
  const context = await browser.newContext();
  const errors = [];
  const visit = async () => {
    server.sent.length = 0;
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(origin);
    const status = await page.getByTestId('backbone-status').filter({ hasText: /Backend:/ }).textContent({ timeout: 180_000 });
    // The service worker's install (the shell, revalidated) is part of the visit too.
    await page.evaluate(() => navigator.serviceWorker.ready);
    await page.waitForLoadState('networkidle');
    const sent = [...server.sent];
    await page.close();
    const bytes = (test = () => true) => sent.filter((r) => test(r.path)).reduce((sum, r) => sum + r.bytes, 0);
    return { status, sent, bytes };
  };
  return { visit, errors };
}

test('first and second visit: the bytes on the wire, and no WebGPU code without an adapter', async (t) => {
  const { visit, errors } = await visitor(t);
  const first = await visit();
  assert.match(first.status, /Backend: CPU/);
  assert.ok(!first.sent.some((r) => r.path === WEBGPU_MODULE), 'a visitor without a WebGPU adapter downloaded the WebGPU module');
  const module = first.bytes((p) => p === PAGE_MODULE);
  const weights = first.bytes((p) => p.endsWith('.safetensors'));
  assert.ok(module > 0 && weights > 0, `first visit: module ${module} B, weights ${weights} B`);
  const second = await visit();
  assert.match(second.status, /Backend: CPU/);
  assert.equal(second.bytes((p) => p.endsWith('.safetensors')), 0, 'the second visit downloaded weights again');
  assert.equal(second.bytes((p) => p === PAGE_MODULE), 0, 'the second visit downloaded the module again');
  console.log(`first visit: ${(first.bytes() / MB).toFixed(2)} MB on the wire (module ${(module / MB).toFixed(2)} MB gzip, `
    + `weights ${(weights / MB).toFixed(2)} MB) in ${first.sent.length} responses; second visit: ${(second.bytes() / 1e3).toFixed(1)} kB in ${second.sent.length}`);
  await recordFigures('load: first and second visit', {
    first_visit_bytes: { value: first.bytes(), unit: 'bytes on the wire (gzip), CPU visitor, faceres and the detector' },
    first_visit_module_bytes: { value: module, unit: 'bytes on the wire (gzip), the page and CPU worker module' },
    first_visit_weights_bytes: { value: weights, unit: 'bytes, weights (not compressed)' },
    second_visit_bytes: { value: second.bytes(), unit: 'bytes on the wire, weights cached, shell revalidated' },
  });
  assert.deepEqual(errors, []);
});

test('a browser with a WebGPU adapter downloads the WebGPU worker and runs on it', async (t) => {
  const { visit, errors } = await visitor(t, ['--enable-unsafe-webgpu']);
  const first = await visit();
  assert.match(first.status, /Backend: WebGPU/);
  const gpuModule = first.bytes((p) => p === WEBGPU_MODULE);
  assert.ok(gpuModule > 0, 'the WebGPU module was not downloaded');
  console.log(`WebGPU visitor: ${(first.bytes() / MB).toFixed(2)} MB on the wire, of it the WebGPU module ${(gpuModule / MB).toFixed(2)} MB gzip`);
  await recordFigures('load: a WebGPU visitor', {
    webgpu_first_visit_bytes: { value: first.bytes(), unit: 'bytes on the wire (gzip), WebGPU visitor' },
    webgpu_module_bytes: { value: gpuModule, unit: 'bytes on the wire (gzip), the WebGPU worker module' },
  });
  assert.deepEqual(errors, []);
});
