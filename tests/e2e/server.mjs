// A static file server for the built page (dist/) on 127.0.0.1, and Chromium launched the way
// this machine allows (Debian's binary, no background networking), shared by the e2e tests.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.json': 'application/json', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.txt': 'text/plain', '.safetensors': 'application/octet-stream',
};

export const repoRoot = resolve(new URL('../..', import.meta.url).pathname);
export const dataRoot = resolve(process.env.FACELAB_DATA ?? join(repoRoot, '../shared/data'));
export const outputDir = join(repoRoot, 'tests/output');

export async function serveDist(dir = join(repoRoot, 'dist')) {
  await stat(join(dir, 'index.html')).catch(() => {
    throw new Error(`${dir}/index.html not found: build the page first (trunk build --release)`);
  });
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
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

/// Records every request the page makes, for the privacy checks.
export function recordRequests(page) {
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), method: r.method(), body: r.postDataBuffer() }));
  return requests;
}
