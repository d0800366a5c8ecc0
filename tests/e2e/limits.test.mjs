// The page at its edges, in headless Chromium: the camera (Chromium's fake device) and a denied
// camera, a 6000x6000 photo, storage that is full, and the app on WebGPU (Chromium's software
// adapter). Each case checks the message next to where it happened and that nothing is lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dataRoot, launchChromium, outputDir, serveDist } from './server.mjs';

const text = async (locator) => (await locator.textContent()) ?? '';
const BLAIR = join(dataRoot, 'lfw5/lfw/Tony_Blair/Tony_Blair_0001.jpg');

/// Opens the page in a fresh browser with extra Chromium flags and waits for the backbone.
async function open(t, flags = [], contextOptions = {}) {
  const { server, origin } = await serveDist();
  const browser = await launchChromium(flags);
  t.after(async () => { await browser.close(); server.close(); });
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, ...contextOptions });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(origin);
  await page.getByTestId('backbone-status').waitFor({ timeout: 180_000 });
  const card = (name) => page.locator(`[data-testid=person][data-person="${name}"]`);
  const addPerson = async (name) => {
    await page.getByTestId('new-person-name').fill(name);
    await page.getByTestId('add-person').click();
    return card(name);
  };
  return { page, context, origin, errors, card, addPerson };
}

/// Waits until a person card shows `count` photos.
async function photoCount(person, count) {
  await person.getByTestId('photo-count').filter({ hasText: new RegExp(` ${count} photo`) }).waitFor({ timeout: 120_000 });
}

test('camera: several captures in a row enroll several photos', async (t) => {
  const { page, errors, addPerson } = await open(t, ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']);
  const person = await addPerson('Camera person');
  await person.getByTestId('camera-toggle').click();
  const capture = person.getByTestId('camera-capture');
  await capture.waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid=camera-preview]')?.videoWidth > 0);
  for (const n of [1, 2, 3]) {
    await capture.click();
    await photoCount(person, n);
  }
  await mkdir(outputDir, { recursive: true });
  await page.screenshot({ path: join(outputDir, 'camera.png'), fullPage: true });
  await person.getByTestId('camera-toggle').click();
  assert.equal(await text(person.getByTestId('camera-error')), '');
  assert.deepEqual(errors, []);
});

test('camera denied: a clear message, files still work', async (t) => {
  // No fake UI: headless Chromium refuses the permission prompt.
  const { page, errors, addPerson } = await open(t, ['--use-fake-device-for-media-stream']);
  const person = await addPerson('No camera');
  await person.getByTestId('camera-toggle').click();
  await person.getByTestId('camera-error').filter({ hasText: /Camera permission was denied/ }).waitFor({ timeout: 30_000 });
  await person.getByTestId('photo-input').setInputFiles(BLAIR);
  await photoCount(person, 1);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a 6000x6000 photo is enrolled and the page stays responsive', async (t) => {
  const { page, errors, addPerson } = await open(t);
  const person = await addPerson('Huge');
  // Made in the page from a real photo: a 6000x6000 JPEG dropped onto the card.
  const jpeg = (await readFile(BLAIR)).toString('base64');
  const transfer = await page.evaluateHandle(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const image = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
    const canvas = new OffscreenCanvas(6000, 6000);
    canvas.getContext('2d').drawImage(image, 0, 0, 6000, 6000);
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.9 });
    const transfer = new DataTransfer();
    transfer.items.add(new File([blob], 'huge.jpg', { type: 'image/jpeg' }));
    return transfer;
  }, jpeg);
  await person.dispatchEvent('drop', { dataTransfer: transfer });
  // While the worker decodes and embeds it, the UI thread answers at once.
  await person.getByTestId('enroll-progress').filter({ hasText: 'embedding' }).waitFor();
  const started = Date.now();
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => resolve())));
  const frameMs = Date.now() - started;
  await photoCount(person, 1);
  console.log(`6000x6000 photo: a frame was drawn ${frameMs} ms into its embedding; ${await text(person.getByTestId('enroll-summary'))}`);
  assert.deepEqual(errors, []);
});

test('storage full: a clear message, nothing enrolled is lost from the page', async (t) => {
  const { page, origin, context, errors, addPerson } = await open(t);
  const cdp = await context.newCDPSession(page);
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 1 });
  const person = await addPerson('Full');
  await person.getByTestId('photo-input').setInputFiles(BLAIR);
  await photoCount(person, 1);
  await page.getByTestId('storage-status').filter({ hasText: /storage for this page is full/ }).waitFor({ timeout: 30_000 });
  assert.match(await text(page.getByTestId('storage-status')), /stays on this page/);
  assert.match(await text(person.getByTestId('photo-count')), / 1 photo/);
  assert.deepEqual(errors, []);
});

test('WebGPU where the browser has an adapter', async (t) => {
  const { page, errors, addPerson } = await open(t, ['--enable-unsafe-webgpu']);
  assert.match(await text(page.getByTestId('backbone-status')), /Backend: WebGPU/);
  const person = await addPerson('On the GPU');
  await person.getByTestId('photo-input').setInputFiles(BLAIR);
  await photoCount(person, 1);
  const gpuSummary = await text(person.getByTestId('enroll-summary'));
  // The same photo on the CPU gives the same embedding.
  await page.getByTestId('backend-select').selectOption('flex');
  await page.getByTestId('backbone-status').filter({ hasText: 'burn-flex' }).waitFor({ timeout: 120_000 });
  const cpuPerson = await addPerson('On the CPU');
  await cpuPerson.getByTestId('photo-input').setInputFiles(BLAIR);
  await photoCount(cpuPerson, 1);
  const norm = async (p) => Number(await p.getByTestId('photo').getAttribute('data-embedding-norm'));
  const [gpu, cpu] = [await norm(person), await norm(cpuPerson)];
  console.log(`WebGPU (software adapter) in the page: ${gpuSummary}; embedding norm ${gpu} vs CPU ${cpu}`);
  assert.ok(cpu > 1 && Math.abs(gpu - cpu) < 1e-3 * cpu, `WebGPU norm ${gpu} vs CPU ${cpu}`);
  assert.deepEqual(errors, []);
});
