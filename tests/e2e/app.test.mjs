// The built page in headless Chromium, as a user would drive it: the backbone loads, people are
// enrolled from real LFW photos through the file inputs, the head is trained in the page, the
// test accuracy and confusion matrix appear, a new photo is recognised, bad input gets a clear
// message, everything survives a reload, an export imports back (bad files change nothing), and
// no request leaves the page's origin or carries a body.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchChromium, lfwOrder, outputDir, recordFigures, recordRequests, serveDist } from './server.mjs';

const PER_PERSON = 10;
// A valid 1x1 PNG.
const ONE_PIXEL_PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC', 'base64');

const text = async (locator) => (await locator.textContent()) ?? '';

test('enroll, train, test and recognise on the device, talking only to its own origin', async () => {
  const people = await lfwOrder();
  const { server, origin } = await serveDist();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const requests = recordRequests(page);
    await mkdir(outputDir, { recursive: true });

    await page.goto(origin);
    const status = page.getByTestId('backbone-status');
    await status.waitFor({ timeout: 120_000 });
    assert.match(await text(status), /Backbone: faceres .*Backend: CPU \(burn-flex/);
    // Headless Chromium has no WebGPU adapter unless told to: the page says so and uses the CPU.
    assert.match(await text(page.getByTestId('backend-note')), /WebGPU.*CPU/);

    const card = (name) => page.locator(`[data-testid=person][data-person="${name}"]`);
    const addPerson = async (name) => {
      await page.getByTestId('new-person-name').fill(name);
      await page.getByTestId('add-person').click();
    };
    const enroll = async (name, files) => {
      await card(name).getByTestId('photo-input').setInputFiles(files);
      await page.waitForFunction((n) => {
        const el = document.querySelector(`[data-testid=person][data-person="${n}"]`);
        return el && !el.querySelector('[data-testid=enroll-progress]').textContent
          && (el.querySelector('[data-testid=enroll-summary]').textContent || el.querySelector('[data-testid=person-message]').textContent);
      }, name, { timeout: 300_000 });
      // LFW photos can show other people too: the page asks which face; the subject is the largest.
      while (await card(name).getByTestId('face-choice').count() > 0) {
        await card(name).getByTestId('face-choice').first().getByTestId('pick-face').first().click();
      }
      return text(card(name).getByTestId('enroll-summary'));
    };

    // Enroll the five people, PER_PERSON photos each (faces found by the detector), timing the
    // embeddings (flex).
    const flexMs = [];
    for (const [name, files] of people) {
      await addPerson(name);
      const summary = await enroll(name, files.slice(0, PER_PERSON));
      flexMs.push(Number(summary.match(/(\d+) ms per photo/)?.[1]));
      assert.match(await text(card(name).getByTestId('photo-count')), new RegExp(` ${PER_PERSON} photo`));
    }

    // Bad input: duplicate name, non-image, tiny image; nothing enrolled is lost.
    await addPerson(people[0][0].toLowerCase());
    assert.match(await text(page.getByTestId('people-error')), /already/);
    await card(people[0][0]).getByTestId('photo-input').setInputFiles([
      { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a photo at all') },
      { name: 'dot.png', mimeType: 'image/png', buffer: ONE_PIXEL_PNG },
    ]);
    await page.waitForFunction((n) => /dot\.png/.test(document.querySelector(`[data-testid=person][data-person="${n}"] [data-testid=person-message]`)?.textContent ?? ''), people[0][0]);
    const message = await text(card(people[0][0]).getByTestId('person-message'));
    assert.match(message, /notes\.jpg: not a readable PNG, JPEG or WebP image/);
    assert.match(message, /dot\.png: image is 1x1 pixels/);
    assert.match(await text(card(people[0][0]).getByTestId('photo-count')), new RegExp(`${PER_PERSON} photo`));
    // Markup in a name is shown as text, not interpreted.
    await addPerson('<b>Mallory</b>');
    assert.equal(await text(card('<b>Mallory</b>').getByTestId('person-name')), '<b>Mallory</b>');
    await card('<b>Mallory</b>').getByTestId('delete-person').click();
    assert.equal(await card('<b>Mallory</b>').count(), 0);

    // Train the head in the page and read the test results.
    await page.getByTestId('train').click();
    const accuracy = page.getByTestId('test-accuracy');
    await accuracy.waitFor({ timeout: 300_000 });
    const accuracyText = await text(accuracy);
    const percent = Number(accuracyText.match(/Test accuracy: ([\d.]+)%/)[1]);
    assert.match(accuracyText, new RegExp(`of ${people.length * 2} held-out photos; trained on ${people.length * (PER_PERSON - 2)}`));
    assert.ok(percent >= 90, `test accuracy ${percent}% (the native run on this backbone reaches 100%)`);
    assert.match(await text(page.getByTestId('epoch-status')), /epoch 10:/);
    const matrix = page.getByTestId('confusion-matrix');
    for (const [name] of people) assert.ok((await text(matrix)).includes(name), `${name} in the confusion matrix`);
    await page.screenshot({ path: join(outputDir, 'trained.png'), fullPage: true });

    // Recognise photos that were not enrolled.
    const recognise = async (name, file) => {
      await page.getByTestId('recognise-input').setInputFiles(file);
      await page.waitForFunction((f) => (document.querySelector('[data-testid=recognise-result]')?.textContent ?? '').startsWith(f),
        file.split('/').pop(), { timeout: 120_000 });
      assert.match(await text(page.getByTestId('recognise-result')), new RegExp(`: ${name} \\(\\d+\\.\\d% confident\\)`));
    };
    for (const [name, files] of [people[4], people[1]]) await recognise(name, files[PER_PERSON + 1]);
    await page.screenshot({ path: join(outputDir, 'recognised.png'), fullPage: true });

    // Enrolled people and the trained model survive a reload (IndexedDB), and the weights come
    // from the browser's cache instead of the network.
    await page.waitForTimeout(1500); // the debounced save
    const beforeReload = requests.length;
    await page.reload();
    await page.getByTestId('storage-status').filter({ hasText: 'Restored' }).waitFor({ timeout: 60_000 });
    assert.match(await text(page.getByTestId('storage-status')),
      new RegExp(`Restored ${people.length} people, ${people.length * PER_PERSON} photos and the trained model`));
    for (const [name] of people) {
      assert.match(await text(card(name).getByTestId('photo-count')), new RegExp(`${PER_PERSON} photo`));
    }
    assert.equal(await text(page.getByTestId('test-accuracy')), accuracyText, 'the test report is restored');
    await status.waitFor({ timeout: 120_000 });
    const weightRequests = requests.slice(beforeReload).filter((r) => r.url.endsWith('.safetensors'));
    assert.deepEqual(weightRequests, [], 'weights downloaded again after a reload');
    await recognise(people[2][0], people[2][1][PER_PERSON + 1]);

    // Export, then bad imports change nothing, then delete everything, then import it back.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
    const exported = join(outputDir, 'facelab-export.json');
    await download.saveAs(exported);
    const exportBytes = await readFile(exported);
    const archive = JSON.parse(exportBytes.toString('utf8'));
    assert.equal(archive.version, 2);
    assert.ok(archive.people.every((p) => p.photos.every((f) => f.embeddings.faceres && f.picture?.jpeg)), 'every photo with its embedding and face picture');
    assert.equal(archive.people.length, people.length);
    const importFile = async (name, buffer, expected) => {
      await page.getByTestId('import-input').setInputFiles({ name, mimeType: 'application/json', buffer });
      await page.getByTestId('data-status').filter({ hasText: expected }).waitFor();
    };
    await importFile('cut.json', exportBytes.subarray(0, exportBytes.length / 2), /cut\.json was not imported: .*cut short.*Nothing was changed/);
    await importFile('future.json', Buffer.from(JSON.stringify({ ...archive, version: 3 })), /future\.json.*version 3; this page reads versions 1 to 2/);
    await importFile('photo.json', await readFile(people[0][1][0]), /photo\.json.*not a facelab export/);
    assert.equal(await page.getByTestId('person').count(), people.length, 'bad imports change nothing');
    await page.getByTestId('delete-everything').click();
    assert.equal(await page.getByTestId('person').count(), 0);
    await importFile('facelab-export.json', exportBytes, new RegExp(`Imported ${people.length} people and ${people.length * PER_PERSON} photos, with the trained model`));
    for (const [name] of people) {
      assert.match(await text(card(name).getByTestId('photo-count')), new RegExp(`${PER_PERSON} photo`));
    }
    await recognise(people[3][0], people[3][1][PER_PERSON + 1]);

    // Speed per CPU backend in this page (a report, not an assertion).
    await page.getByTestId('backend-select').selectOption('ndarray');
    await page.waitForFunction(() => /burn-ndarray/.test(document.querySelector('[data-testid=backbone-status]')?.textContent ?? ''));
    await addPerson('Timing');
    const ndarraySummary = await enroll('Timing', people[3][1].slice(PER_PERSON, PER_PERSON + 3));
    const ndarrayMs = Number(ndarraySummary.match(/(\d+) ms per photo/)?.[1]);
    const flex = flexMs.reduce((a, b) => a + b) / flexMs.length;
    // "Delete everything" empties the page and the storage.
    await page.getByTestId('delete-everything').click();
    assert.equal(await page.getByTestId('person').count(), 0);
    await page.waitForTimeout(1500);
    await page.reload();
    await status.waitFor({ timeout: 120_000 });
    assert.equal(await page.getByTestId('person').count(), 0);
    assert.doesNotMatch(await text(page.getByTestId('storage-status')), /Restored/);

    // Photos dropped onto a person's card are enrolled like picked ones.
    await addPerson('Dropped');
    const jpeg = (await readFile(people[0][1][PER_PERSON])).toString('base64');
    const transfer = await page.evaluateHandle((b64) => {
      const transfer = new DataTransfer();
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      transfer.items.add(new File([bytes], 'dropped.jpg', { type: 'image/jpeg' }));
      return transfer;
    }, jpeg);
    await card('Dropped').dispatchEvent('drop', { dataTransfer: transfer });
    await page.waitForFunction(() => {
      const el = document.querySelector('[data-testid=person][data-person="Dropped"]');
      return /added 1 photo/.test(el.querySelector('[data-testid=enroll-summary]').textContent) || el.querySelector('[data-testid=face-choice]');
    }, null, { timeout: 60_000 });
    if (await card('Dropped').getByTestId('face-choice').count() > 0) await card('Dropped').getByTestId('pick-face').first().click();
    assert.match(await text(card('Dropped').getByTestId('photo-count')), / 1 photo/);

    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    console.log(`faceres enrollment in headless Chromium (detection + embedding; wasm, a worker per core up to 4, ${cores} cores): flex ${flex.toFixed(0)} ms/photo (mean of ${flexMs.length * PER_PERSON}), ndarray ${ndarrayMs} ms/photo (3), flex/ndarray ${(flex / ndarrayMs).toFixed(3)}`);

    await recordFigures('app: enrolment', {
      enrol_ms_per_photo_faceres_flex: { value: flex, unit: `ms/photo (detect + embed, ${cores} cores, workers)` },
      enrol_ms_per_photo_faceres_ndarray: { value: ndarrayMs, unit: 'ms/photo (detect + embed)' },
    });
    assert.deepEqual(errors, []);
    // The compute worker's own requests (its script) are among those recorded.
    assert.ok(requests.some((r) => r.url.endsWith('/public/worker.js')), 'worker requests are recorded');
    const foreign = requests.filter((r) => new URL(r.url).origin !== origin && !/^(data|blob):/.test(r.url));
    assert.deepEqual(foreign, [], 'requests to another origin');
    const withBody = requests.filter((r) => r.method !== 'GET' || (r.body && r.body.length > 0));
    assert.deepEqual(withBody, [], 'requests that carry a body');
  } finally {
    await browser.close();
    server.close();
  }
});
