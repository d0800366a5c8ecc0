// Faults, protected files and no network, in headless Chromium: the compute workers stop answering
// in the middle of an enrolment (one closes itself, the others hang) and the watchdog restarts them
// with nothing lost; an export protected with a passphrase opens only with it (checked
// independently with Node's WebCrypto), and a wrong passphrase or a changed file is refused with
// nothing changed; once visited, the app loads and enrols with the network off and the server gone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import { dataRoot, launchChromium, outputDir, recordRequests, serveDist } from './server.mjs';

const text = async (locator) => (await locator.textContent()) ?? '';
const POWELL = Array.from({ length: 30 }, (_, i) => join(dataRoot, `lfw5/lfw/Colin_Powell/Colin_Powell_${String(i + 1).padStart(4, '0')}.jpg`));

async function open(t) {
  const { server, origin } = await serveDist();
  const browser = await launchChromium();
  t.after(async () => { await browser.close(); if (server.listening) server.close(); });
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const requests = recordRequests(page);
  await page.goto(origin);
  await page.getByTestId('backbone-status').filter({ hasText: /Backend:/ }).waitFor({ timeout: 180_000 });
  const card = (name) => page.locator(`[data-testid=person][data-person="${name}"]`);
  const addPerson = async (name) => {
    await page.getByTestId('new-person-name').fill(name);
    await page.getByTestId('add-person').click();
    return card(name);
  };
  const photos = async (person) => Number((await text(person.getByTestId('photo-count'))).match(/(\d+) photo/)[1]);
  const noForeignRequests = () => {
    const foreign = requests.filter((r) => new URL(r.url).origin !== origin && !/^(data|blob):/.test(r.url));
    assert.deepEqual(foreign.map((r) => r.url), [], 'requests left the page');
  };
  return { page, context, server, errors, card, addPerson, photos, noForeignRequests };
}

/// Starts enrolling files into a person.
async function enrollAll(person, files) {
  await person.getByTestId('photo-input').setInputFiles(files);
  return person;
}

/// Waits until an enrolment is over, picking the largest face where a photo shows several.
async function settle(person) {
  await person.page().waitForFunction((el) => !el.querySelector('[data-testid=enroll-progress]').textContent
    && el.querySelector('[data-testid=enroll-summary]').textContent, await person.elementHandle(), { timeout: 240_000 });
  while (await person.getByTestId('face-choice').count() > 0) await person.getByTestId('pick-face').first().click();
}

test('the workers stop answering mid-enrolment: restarted, every photo enrolled once, kept', async (t) => {
  const { page, errors, addPerson, photos, card, noForeignRequests } = await open(t);
  const person = await enrollAll(await addPerson('Colin Powell'), POWELL);
  await person.getByTestId('photo-count').filter({ hasText: /[1-9]\d* photo/ }).waitFor({ timeout: 120_000 });
  const before = await photos(person);
  assert.ok(before < POWELL.length, `the fault must come mid-enrolment (${before} of ${POWELL.length} done)`);
  // The page hears nothing of either fault: a worker that closed itself, and ones stuck in a loop.
  const workers = page.workers();
  assert.ok(workers.length >= 1);
  const [main, ...helpers] = workers;
  main.evaluate(() => close()).catch(() => {});
  for (const helper of helpers) helper.evaluate(() => { for (;;); }).catch(() => {});
  await settle(person);
  assert.equal(await photos(person), POWELL.length, 'every photo enrolled, none twice');
  const note = await text(page.getByTestId('backend-note'));
  assert.match(note, /stopped \(no answer for \d+ s\); restarted on the CPU/);
  console.log(`watchdog: faults after ${before} of ${POWELL.length} photos; the page said: ${note}`);
  // The restarted workers go on: one more photo, and everything survives a reload.
  await settle(await enrollAll(person, join(dataRoot, 'lfw5/lfw/Colin_Powell/Colin_Powell_0031.jpg')));
  assert.equal(await photos(person), POWELL.length + 1);
  await page.waitForTimeout(1500);
  await page.reload();
  await card('Colin Powell').waitFor({ timeout: 120_000 });
  assert.equal(await photos(card('Colin Powell')), POWELL.length + 1);
  noForeignRequests();
  assert.deepEqual(errors, []);
});

/// Decrypts a protected export as an independent reader would: Node's WebCrypto, from the
/// envelope's own fields.
async function decrypt(envelope, passphrase) {
  const b64 = (s) => Buffer.from(s, 'base64');
  const base = await webcrypto.subtle.importKey('raw', new TextEncoder().encode(passphrase), 'PBKDF2', false, ['deriveKey']);
  const key = await webcrypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt: b64(envelope.salt), iterations: envelope.iterations },
    base, { name: 'AES-GCM', length: 256 }, false, ['decrypt']);
  const header = [envelope.format, envelope.version, envelope.contents, envelope.cipher, envelope.kdf, envelope.iterations].join('\n');
  const plain = await webcrypto.subtle.decrypt({ name: 'AES-GCM', iv: b64(envelope.nonce), additionalData: new TextEncoder().encode(header) },
    key, b64(envelope.ciphertext));
  return JSON.parse(Buffer.from(plain).toString('utf8'));
}

test('a passphrase protects the export: opened only with it, a changed file refused', async (t) => {
  const { page, errors, addPerson, photos, card, noForeignRequests } = await open(t);
  const person = await enrollAll(await addPerson('Colin Powell'), POWELL.slice(0, 3));
  await settle(person);
  assert.equal(await photos(person), 3);
  const PASSPHRASE = 'correct horse battery staple';
  await page.getByTestId('data-passphrase').fill(PASSPHRASE);
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
  const exported = JSON.parse(await readFile(await download.path(), 'utf8'));
  await writeFile(join(outputDir, 'protected-export.json'), JSON.stringify(exported, null, 2));
  assert.equal(exported.format, 'facelab-sealed');
  assert.equal(exported.cipher, 'AES-256-GCM');
  assert.equal(exported.kdf, 'PBKDF2-SHA-256');
  assert.ok(exported.iterations >= 600_000, `${exported.iterations} rounds`);
  assert.equal(Buffer.from(exported.salt, 'base64').length, 16);
  assert.equal(Buffer.from(exported.nonce, 'base64').length, 12);
  assert.doesNotMatch(JSON.stringify(exported), /Powell/, 'a name is readable in the protected file');
  const inside = await decrypt(exported, PASSPHRASE);
  assert.equal(inside.format, 'facelab-export');
  assert.deepEqual(inside.people.map((p) => p.name), ['Colin Powell']);
  await assert.rejects(decrypt(exported, 'wrong'), 'Node opened it with a wrong passphrase');
  // A second export gets a fresh salt and nonce.
  const [again] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
  const second = JSON.parse(await readFile(await again.path(), 'utf8'));
  assert.notEqual(second.salt, exported.salt);
  assert.notEqual(second.nonce, exported.nonce);

  // Everything deleted; then each bad file is refused and nothing appears.
  await page.getByTestId('delete-everything').click();
  await card('Colin Powell').waitFor({ state: 'detached' });
  const status = page.getByTestId('data-status');
  const importFile = async (name, contents, passphrase) => {
    await page.getByTestId('data-passphrase').fill(passphrase);
    const path = join(outputDir, name);
    await writeFile(path, typeof contents === 'string' ? contents : JSON.stringify(contents));
    await page.getByTestId('import-input').setInputFiles(path);
    await status.filter({ hasText: new RegExp(name.replace('.', '\\.')) }).or(status.filter({ hasText: /^Imported/ })).waitFor({ timeout: 60_000 });
    return text(status);
  };
  const flipped = Buffer.from(exported.ciphertext, 'base64');
  flipped[100] ^= 1;
  const refusals = {
    'no passphrase': await importFile('protected-a.json', exported, ''),
    'wrong passphrase': await importFile('protected-b.json', exported, 'Correct horse battery staple'),
    'one ciphertext bit changed': await importFile('protected-c.json', { ...exported, ciphertext: flipped.toString('base64') }, PASSPHRASE),
    'rounds changed in the header': await importFile('protected-d.json', { ...exported, iterations: exported.iterations + 1 }, PASSPHRASE),
    'cut short': await importFile('protected-e.json', JSON.stringify(exported).slice(0, 500), PASSPHRASE),
  };
  console.log('protected export, refused:', refusals);
  assert.match(refusals['no passphrase'], /protected with a passphrase/);
  assert.match(refusals['wrong passphrase'], /passphrase is wrong, or the file was changed/);
  assert.match(refusals['one ciphertext bit changed'], /passphrase is wrong, or the file was changed/);
  assert.match(refusals['rounds changed in the header'], /passphrase is wrong, or the file was changed/);
  assert.match(refusals['cut short'], /cut short/);
  for (const refusal of Object.values(refusals)) assert.match(refusal, /was not imported/);
  assert.equal(await card('Colin Powell').count(), 0, 'a refused file changed what is enrolled');
  // The right passphrase brings everyone back.
  assert.match(await importFile('protected-f.json', exported, PASSPHRASE), /Imported 1 people and 3 photos/);
  assert.equal(await photos(card('Colin Powell')), 3);
  noForeignRequests();
  assert.deepEqual(errors, []);
});

test('offline once visited: installable, and with no network the app loads and enrols', async (t) => {
  const { page, context, server, errors, addPerson, photos, card } = await open(t);
  assert.equal(await page.evaluate(async () => (await navigator.serviceWorker.ready).active.scriptURL.replace(location.origin, '')), '/sw.js');
  const cdp = await context.newCDPSession(page);
  const manifest = await cdp.send('Page.getAppManifest');
  assert.deepEqual(manifest.errors, [], 'the web app manifest has errors');
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  // Playwright's contexts are incognito ones, where Chromium installs nothing: the only error allowed.
  console.log('installability errors:', installabilityErrors);
  assert.deepEqual(installabilityErrors.map((e) => e.errorId).filter((id) => id !== 'in-incognito'), []);
  // The network goes, and the server with it.
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
  await context.setOffline(true);
  await page.reload();
  await page.getByTestId('backbone-status').filter({ hasText: /Backend:/ }).waitFor({ timeout: 180_000 });
  const person = await enrollAll(await addPerson('Offline'), POWELL.slice(0, 2));
  await settle(person);
  assert.equal(await photos(card('Offline')), 2);
  assert.deepEqual(errors, []);
});
