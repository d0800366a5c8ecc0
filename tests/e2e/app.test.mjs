// The built page in headless Chromium: the backbone's weights load with progress, the backend
// is shown, a real LFW photo is embedded on the device, and nothing leaves the page's origin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { dataRoot, launchChromium, outputDir, recordRequests, serveDist } from './server.mjs';

test('loads the backbone, embeds a photo on the device, and talks only to its own origin', async () => {
  const { server, origin } = await serveDist();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    const requests = recordRequests(page);
    await mkdir(outputDir, { recursive: true });

    await page.goto(origin);
    const status = page.getByTestId('backbone-status');
    await status.waitFor({ timeout: 120_000 });
    assert.match(await status.textContent(), /Backbone: faceres .*Backend: CPU/);

    const photo = join(dataRoot, 'lfw5/lfw/George_W_Bush/George_W_Bush_0432.jpg');
    await page.getByTestId('photo-input').setInputFiles(photo);
    const result = page.getByTestId('embed-result');
    await page.waitForFunction(() => /embedding/.test(document.querySelector('[data-testid=embed-result]')?.textContent ?? ''), null, { timeout: 120_000 });
    const text = await result.textContent();
    assert.match(text, /George_W_Bush_0432\.jpg: 1024-d embedding, L2 norm \d+\.\d+/);
    // The reference implementation's faceres embedding of this photo has L2 norm 14.005.
    const norm = Number(text.match(/L2 norm (\d+\.\d+)/)[1]);
    assert.ok(Math.abs(norm - 14.005) < 0.05, `L2 norm ${norm} far from the reference 14.005`);
    await page.screenshot({ path: join(outputDir, 'app-embedded.png'), fullPage: true });

    // Speed in this page, per CPU backend (a report, not an assertion): median of 3 photos
    // after the one above warmed flex up (and one warm-up photo for ndarray).
    const others = ['Colin_Powell/Colin_Powell_0001.jpg', 'Tony_Blair/Tony_Blair_0001.jpg',
      'Donald_Rumsfeld/Donald_Rumsfeld_0001.jpg', 'Gerhard_Schroeder/Gerhard_Schroeder_0001.jpg'];
    const embedMs = async (file) => {
      await page.getByTestId('photo-input').setInputFiles(join(dataRoot, 'lfw5/lfw', file));
      const name = file.split('/')[1];
      await page.waitForFunction((n) => (document.querySelector('[data-testid=embed-result]')?.textContent ?? '').startsWith(n), name, { timeout: 300_000 });
      return Number((await result.textContent()).match(/computed in (\d+) ms/)[1]);
    };
    const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
    const flex = median([await embedMs(others[0]), await embedMs(others[1]), await embedMs(others[2])]);
    await page.getByTestId('backend-select').selectOption('ndarray');
    await page.waitForFunction(() => /burn-ndarray/.test(document.querySelector('[data-testid=backbone-status]')?.textContent ?? ''), null, { timeout: 120_000 });
    await embedMs(others[3]);
    const ndarray = median([await embedMs(others[0]), await embedMs(others[1]), await embedMs(others[2])]);
    console.log(`faceres in headless Chromium (wasm, 1 thread): flex ${flex} ms/photo, ndarray ${ndarray} ms/photo, flex/ndarray ${(flex / ndarray).toFixed(3)}`);

    assert.deepEqual(errors, []);
    const foreign = requests.filter((r) => new URL(r.url).origin !== origin && !r.url.startsWith('data:') && !r.url.startsWith('blob:'));
    assert.deepEqual(foreign, [], 'requests to another origin');
    const withBody = requests.filter((r) => r.method !== 'GET' || (r.body && r.body.length > 0));
    assert.deepEqual(withBody, [], 'requests that carry a body');
  } finally {
    await browser.close();
    server.close();
  }
});
