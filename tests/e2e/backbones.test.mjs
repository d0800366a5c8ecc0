// Every backbone in the page (CPU): the picker lists them, weights download only when a backbone
// is first chosen (then come from Cache Storage), switching re-embeds the enrolled photos from
// the kept face pictures (each backbone's embeddings and model are kept, so switching back is
// instant), the comparison reproduces the contrast on the LFW-5 sample (resnet50-imagenet well
// below the face backbones) and exports CSV and Markdown, and the user's own vggface2 file is
// converted in the worker, or refused with what is wrong while the backbone in use stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { launchChromium, outputDir, recordFigures, recordRequests, serveDist } from './server.mjs';

const PER_PERSON = Number(process.env.FACELAB_COMPARE_PER_PERSON ?? 20);
const weightsRequests = (requests, name) => requests.filter((r) => r.url.endsWith(`/weights/${name}.safetensors`));

async function statusText(page) {
  return (await page.getByTestId('backbone-status').textContent({ timeout: 300_000 })) ?? '';
}

/// Waits until `name` runs and every enrolled photo has its embedding.
async function waitForBackbone(page, name) {
  await page.waitForFunction((name) => {
    const status = document.querySelector('[data-testid=backbone-status]')?.textContent ?? '';
    return status.includes(`Backbone: ${name} `) && !document.querySelector('[data-testid=reembed-progress]');
  }, name, { timeout: 600_000 });
}

async function train(page) {
  await page.getByTestId('train').click();
  await page.waitForFunction(() => /Test accuracy: [\d.]+%/.test(document.querySelector('[data-testid=test-accuracy]')?.textContent ?? ''), null, { timeout: 300_000 });
  return Number((await page.getByTestId('test-accuracy').textContent()).match(/Test accuracy: ([\d.]+)%/)[1]);
}

async function downloaded(page, click) {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  return readFile(await download.path(), 'utf8');
}

async function useOwnFile(page, path) {
  await page.getByTestId('vggface2-file').setInputFiles(path);
  await page.waitForFunction(() => / was not used: | runs on your /.test(document.querySelector('[data-testid=vggface2-status]')?.textContent ?? ''), null, { timeout: 600_000 });
  return page.getByTestId('vggface2-status').textContent();
}

test('backbone picker: lazy download, switch with re-embedding, compare and export, the user\'s own file', async () => {
  const { server, origin } = await serveDist();
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ viewport: { width: 1200, height: 1000 }, acceptDownloads: true });
    const page = await context.newPage();
    const requests = recordRequests(page);
    await mkdir(outputDir, { recursive: true });
    await page.goto(origin);
    await page.getByTestId('backbone-status').waitFor({ timeout: 300_000 });
    assert.match(await statusText(page), /Backbone: faceres /);

    // The picker: every backbone with what it is; only the default's weights were fetched.
    for (const name of ['faceres', 'resnet50-imagenet', 'vggface2-resnet50', 'dlib-resnet']) {
      await page.getByTestId(`backbone-${name}`).waitFor();
    }
    assert.match(await page.getByTestId('backbone-dlib-resnet').textContent(), /128.*\d+\.\d MB.*CC0/s);
    assert.match(await page.getByTestId('backbone-vggface2-resnet50').textContent(), /your own file/);
    assert.equal(weightsRequests(requests, 'faceres').length, 1);
    assert.equal(weightsRequests(requests, 'dlib-resnet').length + weightsRequests(requests, 'resnet50-imagenet').length, 0, 'nothing downloaded before it is chosen');

    // The LFW-5 sample, embedded by faceres, then faceres's model.
    await page.getByTestId('sample-count').fill(String(PER_PERSON));
    await page.getByTestId('sample-count').dispatchEvent('change');
    await page.getByTestId('load-sample').click();
    await page.waitForFunction((n) => new RegExp(`enrolled ${n} photos`).test(document.querySelector('[data-testid=sample-status]')?.textContent ?? ''), 5 * PER_PERSON, { timeout: 900_000 });
    const faceresAccuracy = await train(page);

    // Switch to dlib-resnet: downloaded now, every photo embedded again (128-d: norms near 1.4).
    const switchStarted = Date.now();
    await page.getByTestId('choose-dlib-resnet').check();
    await page.getByTestId('reembed-status').waitFor({ timeout: 300_000 });
    await waitForBackbone(page, 'dlib-resnet');
    const reembedSeconds = (Date.now() - switchStarted) / 1000;
    assert.equal(weightsRequests(requests, 'dlib-resnet').length, 1);
    const norm = Number(await page.locator('[data-testid=photo][data-file="George_W_Bush_0432.jpg"]').getAttribute('data-embedding-norm'));
    assert.ok(norm > 1 && norm < 2, `dlib-resnet descriptor norm ${norm} (dlib's are 1.36..1.49)`);
    assert.equal(await page.getByTestId('report').count(), 0, 'the faceres model is not dlib-resnet\'s');
    const dlibAccuracy = await train(page);

    // Back to faceres: nothing to embed, its model is back.
    const backStarted = Date.now();
    await page.getByTestId('choose-faceres').check();
    await waitForBackbone(page, 'faceres');
    assert.match(await page.getByTestId('test-accuracy').textContent(), new RegExp(`Test accuracy: ${faceresAccuracy.toFixed(1)}%`));
    const backSeconds = (Date.now() - backStarted) / 1000;
    assert.equal(weightsRequests(requests, 'faceres').length, 1, 'faceres came from the cache');
    console.log(`switch to dlib-resnet with ${5 * PER_PERSON} photos re-embedded: ${reembedSeconds.toFixed(1)} s; back to faceres: ${backSeconds.toFixed(1)} s; test accuracy faceres ${faceresAccuracy}%, dlib-resnet ${dlibAccuracy}%`);

    // A re-embedding cancelled half-way: what is left is said, training waits for it, and
    // "Embed them" finishes it.
    await page.getByTestId('choose-resnet50-imagenet').check();
    await page.getByTestId('reembed-status').waitFor({ timeout: 300_000 });
    await page.waitForFunction(() => /: [1-9]\d* of /.test(document.querySelector('[data-testid=reembed-status]')?.textContent ?? ''), null, { timeout: 300_000 });
    await page.getByTestId('cancel-reembed').click();
    await page.getByTestId('unembedded').waitFor({ timeout: 300_000 });
    const left = Number((await page.getByTestId('unembedded').textContent()).match(/^(\d+) photo/)[1]);
    assert.ok(left > 0 && left < 5 * PER_PERSON, `${left} photos left after the cancel`);
    await page.getByTestId('train').click();
    await page.getByTestId('train-message').filter({ hasText: 'not embedded with resnet50-imagenet yet' }).waitFor();
    await page.getByTestId('embed-remaining').click();
    await page.getByTestId('unembedded').waitFor({ state: 'detached', timeout: 300_000 });
    await waitForBackbone(page, 'resnet50-imagenet');
    await page.getByTestId('choose-faceres').check();
    await waitForBackbone(page, 'faceres');

    // Compare every backbone on the same splits; the contrast shows.
    await page.getByTestId('compare-repeats').fill('3');
    await page.getByTestId('compare-repeats').dispatchEvent('change');
    await page.getByTestId('compare').click();
    await page.waitForFunction(() => /Compared \d+ backbones|stopped/.test(document.querySelector('[data-testid=compare-status]')?.textContent ?? ''), null, { timeout: 900_000 });
    assert.match(await page.getByTestId('compare-status').textContent(), /Compared 3 backbones/);
    const accuracy = async (name) => Number(await page.getByTestId(`comparison-${name}`).getAttribute('data-accuracy'));
    const [faceres, resnet, dlib] = [await accuracy('faceres'), await accuracy('resnet50-imagenet'), await accuracy('dlib-resnet')];
    console.log(`comparison (${PER_PERSON}/person, 3 splits): faceres ${faceres}, dlib-resnet ${dlib}, resnet50-imagenet ${resnet}`);
    assert.ok(faceres >= 0.95 && dlib >= 0.95, `face backbones: faceres ${faceres}, dlib ${dlib}`);
    assert.ok(resnet <= Math.min(faceres, dlib) - 0.03, `resnet50-imagenet ${resnet} is not well below the face backbones`);
    const csv = await downloaded(page, () => page.getByTestId('export-csv').click());
    assert.equal(csv.trim().split('\n').length, 4, csv);
    assert.match(csv, /^backbone,test_accuracy_mean/);
    const markdown = await downloaded(page, () => page.getByTestId('export-markdown').click());
    assert.match(markdown, /\| resnet50-imagenet \| 0\.\d{3} ± /);
    await writeFile(join(outputDir, 'comparison.md'), markdown);
    await writeFile(join(outputDir, 'comparison.csv'), csv);
    // ms/photo per backbone as the comparison shows it (the app's own timing of its embeddings).
    const [header, ...rows] = csv.trim().split('\n').map((line) => line.split(','));
    const column = header.indexOf('ms_per_photo');
    await recordFigures('backbones: comparison', Object.fromEntries(rows.map((row) => [
      `ms_per_photo_${row[0]}_cpu`, { value: Number(row[column]), unit: `ms/photo (${row[0]}, CPU burn-flex, embedding a kept face picture)` },
    ])));
    await page.screenshot({ path: join(outputDir, 'comparison.png'), fullPage: true });

    // The user's own vggface2 file: foreign, truncated and incomplete files are refused and
    // faceres stays; a complete one (random weights) is converted in the worker and runs.
    const foreign = join(outputDir, 'not-really.h5');
    await writeFile(foreign, await readFile(join(outputDir, 'comparison.png')));
    assert.match(await useOwnFile(page, foreign), /not used: .*(safetensors|damaged)/);
    const synthetic = join(outputDir, 'synthetic-vggface2.h5');
    const truncated = join(outputDir, 'truncated-vggface2.h5');
    const full = await readFile(synthetic);
    await writeFile(truncated, full.subarray(0, full.length / 3));
    assert.match(await useOwnFile(page, truncated), /not used: .*HDF5/);
    assert.match(await useOwnFile(page, join(outputDir, 'vggface2-missing-layer.h5')), /not used: .*missing conv4_2_3x3\/bn\/gamma/);
    assert.match(await statusText(page), /Backbone: faceres /, 'the backbone in use stayed');
    assert.match(await useOwnFile(page, synthetic), /vggface2-resnet50 runs on your synthetic-vggface2\.h5/);
    await waitForBackbone(page, 'vggface2-resnet50');

    // A second visit: the chosen backbone and its embeddings are kept; dlib-resnet's weights
    // come from the cache.
    await page.getByTestId('choose-dlib-resnet').check();
    await waitForBackbone(page, 'dlib-resnet');
    const before = requests.length;
    await page.reload();
    await waitForBackbone(page, 'dlib-resnet');
    assert.equal(weightsRequests(requests.slice(before), 'dlib-resnet').length, 0, 'dlib-resnet came from the cache');
    assert.equal(await page.locator('[data-testid=photo]').count(), 5 * PER_PERSON);

    const foreignRequests = requests.filter((r) => new URL(r.url).origin !== origin && !/^(data|blob):/.test(r.url));
    assert.deepEqual(foreignRequests, [], 'requests to another origin');
    assert.deepEqual(requests.filter((r) => r.body && r.body.length > 0).map((r) => r.url), [], 'requests with a body');
  } finally {
    await browser.close();
    server.close();
  }
});
