// The reference experiment in the page with one click: the LFW-5 sample that the build copied
// from the data path is enrolled, the head is trained on an 80/20 split (seed 42, as the native
// `evaluate`), and the accuracy and confusion matrix are read from the page.
// FACELAB_SAMPLE_PER_PERSON=100 runs the full experiment (about 3 minutes of embedding).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { launchChromium, outputDir, recordFigures, recordRequests, serveDist } from './server.mjs';

const PER_PERSON = Number(process.env.FACELAB_SAMPLE_PER_PERSON ?? 20);

test(`LFW-5 sample (${PER_PERSON} per person) enrolls, trains and tests in the page`, async () => {
  const { server, origin } = await serveDist();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const requests = recordRequests(page);
    await mkdir(outputDir, { recursive: true });
    await page.goto(origin);
    await page.getByTestId('backbone-status').waitFor({ timeout: 120_000 });

    await page.getByTestId('sample-count').fill(String(PER_PERSON));
    await page.getByTestId('sample-count').dispatchEvent('change');
    const started = Date.now();
    await page.getByTestId('load-sample').click();
    await page.waitForFunction(() => /enrolled|no LFW-5 sample|:/.test(document.querySelector('[data-testid=sample-status]')?.textContent ?? '')
      && !/embedding sample photo/.test(document.querySelector('[data-testid=sample-status]').textContent), null, { timeout: 900_000 });
    const status = await page.getByTestId('sample-status').textContent();
    assert.match(status, new RegExp(`enrolled ${5 * PER_PERSON} photos`), status);
    const seconds = (Date.now() - started) / 1000;
    // The sample uses the reference crop, so the in-page embedding matches the independent
    // reference (faceres, L2 norm 14.0051 for this photo; our JPEG decoder differs from
    // libjpeg-turbo by a few levels, cosine 0.99987).
    const norm = Number(await page.locator('[data-testid=photo][data-file="George_W_Bush_0432.jpg"]').getAttribute('data-embedding-norm'));
    assert.ok(Math.abs(norm - 14.0051) < 0.05, `in-page embedding norm ${norm} vs reference 14.0051`);

    const trainStarted = Date.now();
    await page.getByTestId('train').click();
    await page.getByTestId('test-accuracy').waitFor({ timeout: 300_000 });
    const trainSeconds = (Date.now() - trainStarted) / 1000;
    const accuracy = await page.getByTestId('test-accuracy').textContent();
    const percent = Number(accuracy.match(/Test accuracy: ([\d.]+)%/)[1]);
    // The worker's training as the page sees it (request to model), on the split's training photos.
    const trainTime = page.getByTestId('train-time');
    const trainMs = Number(await trainTime.getAttribute('data-ms'));
    const trainPhotos = Number((await trainTime.textContent()).match(/on (\d+) photos/)[1]);
    assert.equal(trainPhotos, 4 * PER_PERSON);
    await recordFigures(`sample (${PER_PERSON} per person)`, {
      head_training_ms: { value: trainMs, unit: `ms to train on ${trainPhotos} photos of 5 people (faceres, 1024-d embeddings)` },
      sample_ms_per_photo_faceres_flex: { value: (1000 * seconds) / (5 * PER_PERSON), unit: 'ms/photo (fetch, decode, embed; reference crop)' },
      sample_test_accuracy_faceres: { value: percent, unit: '%' },
    });
    console.log(`in-page LFW-5 (${PER_PERSON}/person): ${accuracy}; embedding ${(1000 * seconds / (5 * PER_PERSON)).toFixed(0)} ms/photo incl. fetch+decode; training ${trainSeconds.toFixed(1)} s (the worker: ${trainMs} ms on ${trainPhotos} photos)`);
    assert.ok(percent >= 95, `test accuracy ${percent}% (native evaluate on the same backbone: 100%)`);
    await page.screenshot({ path: join(outputDir, `sample-${PER_PERSON}.png`), fullPage: true });

    const foreign = requests.filter((r) => new URL(r.url).origin !== origin && !/^(data|blob):/.test(r.url));
    assert.deepEqual(foreign, [], 'requests to another origin');
  } finally {
    await browser.close();
    server.close();
  }
});
