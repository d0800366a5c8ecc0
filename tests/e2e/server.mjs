// A static file server for the built page (dist/) on 127.0.0.1, and Chromium launched the way
// this machine allows (Debian's binary, no background networking), shared by the e2e tests.
import { createServer } from 'node:http';
import { gzipSync } from 'node:zlib';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.txt': 'text/plain', '.svg': 'image/svg+xml', '.webmanifest': 'application/manifest+json', '.safetensors': 'application/octet-stream', '.bin': 'application/octet-stream',
};

export const repoRoot = resolve(new URL('../..', import.meta.url).pathname);
export const dataRoot = resolve(process.env.FACELAB_DATA ?? join(repoRoot, '../shared/data'));
export const outputDir = join(repoRoot, 'tests/output');

/// The headers that make a page cross-origin isolated (what wasm threads need); Trunk.toml serves
/// them and the README asks the same of a static deployment, so the tests serve them too.
export const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

export async function serveDist(dir = join(repoRoot, 'dist')) {
  await stat(join(dir, 'index.html')).catch(() => {
    throw new Error(`${dir}/index.html not found: build the page first (trunk build --release)`);
  });
  return serveFolders({ '/': dir }, ISOLATION_HEADERS);
}

/// What a static host compresses (weights are not: floats do not compress, and the page's download
/// progress reads their length).
const COMPRESSED = new Set(['.html', '.js', '.wasm', '.css', '.json', '.svg', '.webmanifest']);
const gzipped = new Map();

/// Serves folders under URL prefixes (`{ '/': dist, '/tfjs/': ... }`, longest prefix wins), with
/// extra response headers (e.g. COOP/COEP for cross-origin isolation). Like a static host: gzip
/// where the browser accepts it, an ETag to revalidate with (304). `server.sent` lists each
/// response's path and the bytes of its body on the wire, for the load-size figures.
export async function serveFolders(mounts, headers = {}) {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const sent = [];
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const prefix = prefixes.find((p) => path.startsWith(p));
    if (prefix === undefined) { res.writeHead(404).end(); return; }
    const dir = resolve(mounts[prefix]);
    const rest = path.slice(prefix.length);
    const file = join(dir, rest === '' || rest.endsWith('/') ? `${rest}index.html` : rest);
    if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
    try {
      const { mtimeMs, size } = await stat(file);
      const etag = `"${size.toString(36)}-${Math.round(mtimeMs).toString(36)}"`;
      if (req.headers['if-none-match'] === etag) {
        sent.push({ path, bytes: 0 });
        res.writeHead(304, { ...headers, etag }).end();
        return;
      }
      let body = await readFile(file);
      const extra = {};
      if (COMPRESSED.has(extname(file)) && /\bgzip\b/.test(req.headers['accept-encoding'] ?? '')) {
        const key = `${file}:${etag}`;
        if (!gzipped.has(key)) gzipped.set(key, gzipSync(body));
        body = gzipped.get(key);
        extra['content-encoding'] = 'gzip';
      }
      sent.push({ path, bytes: body.length });
      res.writeHead(200, { ...headers, ...extra, etag, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  server.sent = sent;
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

export async function launchChromium(extraFlags = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraFlags],
  });
}

/// LFW-5 photos per person in scikit-learn's order (the reference experiment's order).
export async function lfwOrder() {
  const csv = await readFile(join(dataRoot, 'lfw5/sklearn_order.csv'), 'utf8').catch(() => {
    throw new Error(`${dataRoot}/lfw5 not found: the LFW-5 data belongs there (set FACELAB_DATA)`);
  });
  const [header, ...rows] = csv.trim().split('\n');
  const col = header.split(',');
  const byPerson = new Map();
  for (const row of rows) {
    const cells = row.split(',');
    const person = cells[col.indexOf('person')];
    if (!byPerson.has(person)) byPerson.set(person, []);
    byPerson.get(person).push(join(dataRoot, 'lfw5/lfw', cells[col.indexOf('file')]));
  }
  return [...byPerson.entries()].sort(([a], [b]) => a.localeCompare(b));
}

/// Records every request the page makes, for the privacy checks.
export function recordRequests(page) {
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postDataBuffer() }));
  return requests;
}

/// Writes a Y4M video (what Chromium's fake camera plays, in a loop) of one photo, decoded in
/// `page`: `frames` identical 4:2:0 frames, BT.601 limited range.
export async function writeY4m(page, jpegPath, outPath, frames = 5) {
  const b64 = (await readFile(jpegPath)).toString('base64');
  const { width, height, rgba } = await page.evaluate(async (data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const image = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
    const [w, h] = [image.width & ~1, image.height & ~1];
    const canvas = new OffscreenCanvas(w, h);
    const context = canvas.getContext('2d');
    context.drawImage(image, 0, 0);
    return { width: w, height: h, rgba: Array.from(context.getImageData(0, 0, w, h).data) };
  }, b64);
  const px = (x, y) => { const i = 4 * (y * width + x); return [rgba[i], rgba[i + 1], rgba[i + 2]]; };
  const y = Buffer.alloc(width * height);
  const u = Buffer.alloc(width * height / 4);
  const v = Buffer.alloc(width * height / 4);
  for (let row = 0; row < height; row++) {
    for (let col = 0; col < width; col++) {
      const [r, g, b] = px(col, row);
      y[row * width + col] = Math.round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255);
    }
  }
  for (let row = 0; row < height / 2; row++) {
    for (let col = 0; col < width / 2; col++) {
      let [r, g, b] = [0, 0, 0];
      for (const [dx, dy] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
        const p = px(2 * col + dx, 2 * row + dy);
        r += p[0] / 4; g += p[1] / 4; b += p[2] / 4;
      }
      u[row * width / 2 + col] = Math.round(128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255);
      v[row * width / 2 + col] = Math.round(128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255);
    }
  }
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, u, v]);
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F5:1 Ip A1:1 C420jpeg\n`);
  await writeFile(outPath, Buffer.concat([header, ...Array(frames).fill(frame)]));
}

/// Merges `figures` ({key: {value, unit}}) into tests/output/figures.json: every figure the e2e
/// tests measured, under stable keys, each with the test that measured it and when (README).
export async function recordFigures(test, figures) {
  const path = join(outputDir, 'figures.json');
  const all = await readFile(path, 'utf8').then(JSON.parse, () => ({}));
  const measured = new Date().toISOString();
  for (const [key, figure] of Object.entries(figures)) all[key] = { ...figure, test, measured };
  await writeFile(path, `${JSON.stringify(Object.fromEntries(Object.entries(all).sort()), null, 2)}\n`);
}
