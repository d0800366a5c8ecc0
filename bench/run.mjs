// Drives the benchmark page (bench/) in headless Chromium and prints the side-by-side table,
// our native numbers (from `bench --json`) and the page weight. Run by scripts/bench.sh, which
// builds what this needs; options: --backbones a,b --batch N --rounds N --warmup N --threads N
// --native FILE --builds app,app-nosimd --software-gpu --no-isolation.
import { readFile, readdir, stat, writeFile, mkdir } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ISOLATION_HEADERS, launchChromium, serveFolders, repoRoot, outputDir } from '../tests/e2e/server.mjs';

const testvectors = resolve(process.env.FACELAB_TESTVECTORS ?? join(repoRoot, '../shared/testvectors'));
/// Our builds the page can measure, by name: what scripts/bench.sh builds.
const BUILD_DIRS = { app: join(repoRoot, 'dist'), 'app-nosimd': join(repoRoot, 'dist-nosimd') };

/// Serves the benchmark page (with COOP/COEP unless `isolated` is false), runs it in headless
/// Chromium and returns its results. `builds`: which of our builds to measure ('app', 'app-nosimd').
export async function benchInChromium(options, { isolated = true, builds = ['app', 'app-nosimd'] } = {}) {
  for (const build of builds) {
    await stat(join(BUILD_DIRS[build], 'facelab_bg.wasm')).catch(() => {
      throw new Error(`${BUILD_DIRS[build]}/facelab_bg.wasm missing: scripts/bench.sh builds the ${build} build`);
    });
  }
  await stat(join(testvectors, 'vectors.json')).catch(() => {
    throw new Error(`${testvectors}/vectors.json missing: the reference inputs belong in ../shared/testvectors (or set FACELAB_TESTVECTORS)`);
  });
  const headers = isolated ? ISOLATION_HEADERS : {};
  const { server, origin } = await serveFolders({
    '/bench/': join(repoRoot, 'bench'),
    ...Object.fromEntries(builds.map((b) => [`/${b}/`, BUILD_DIRS[b]])),
    '/tfjs/': join(repoRoot, 'node_modules/@tensorflow'),
    '/models/': join(repoRoot, 'weights/cache'),
    '/weights/': join(repoRoot, 'weights'),
    '/testvectors/': testvectors,
  }, headers);
  const browser = await launchChromium(['--enable-unsafe-webgpu']);
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.error(`page: ${m.text()}`));
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${origin}/bench/`);
    await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'ready');
    const threads = options.threads || await page.evaluate(() => navigator.hardwareConcurrency);
    return { origin, results: await page.evaluate((o) => window.runBench(o), { ...options, threads, builds }) };
  } finally {
    await browser.close();
    server.close();
  }
}

async function main() {
  const args = process.argv.slice(2);
  const value = (flag, fallback) => { const i = args.indexOf(flag); return i >= 0 ? args[i + 1] : fallback; };
  const options = {
    backbones: value('--backbones', 'faceres,resnet50-imagenet').split(','),
    batch: Number(value('--batch', 4)),
    rounds: Number(value('--rounds', 5)),
    warmup: Number(value('--warmup', 2)),
    threads: Number(value('--threads', 0)),
    softwareGpu: args.includes('--software-gpu'),
  };
  const native = value('--native', null);
  const builds = value('--builds', 'app,app-nosimd').split(',');
  const { results } = await benchInChromium(options, { isolated: !args.includes('--no-isolation'), builds });

  const ms = (v) => (v === undefined ? '' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const lines = [];
  const say = (line = '') => { lines.push(line); console.log(line); };
  say(`# facelab vs TensorFlow.js ${results.rows.find((r) => r.details?.version)?.details.version ?? ''} in headless Chromium`);
  say();
  say(`${results.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? results.userAgent}; ${results.hardwareConcurrency} cores; cross-origin isolated: ${results.crossOriginIsolated}; ` +
    `batch ${options.batch} (the 3 reference LFW inputs, cycled), ${options.warmup} warm-up + ${options.rounds} interleaved rounds; ` +
    `ms per image, median and min-max over rounds; ratio = median / TF.js wasm 1-thread median; paired = median over rounds of the same round's ratio (robust to the machine's load drifting); cos = lowest cosine to TF.js wasm's embeddings.`);
  say();
  say('| backbone | row | threads used | ms/img median | min-max | ratio to TF.js wasm 1 thread | paired | cos |');
  say('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const row of results.rows) {
    if (row.skip) { say(`| ${row.backbone} | ${row.label} | | - | - | ${row.skip} | | |`); continue; }
    const threads = row.details?.threads ?? (row.engine === 'facelab' && row.backend !== 'WebGpu' ? row.threads : '');
    say(`| ${row.backbone} | ${row.label} | ${threads} | ${ms(row.median)} | ${ms(row.min)}-${ms(row.max)} | ${row.ratio?.toFixed(2) ?? ''} | ${row.pairedRatio?.toFixed(2) ?? ''} | ${row.cosine?.toFixed(6) ?? ''} |`);
  }

  if (native) {
    say();
    say('Native (same code, `bench --json`), for scale:');
    say();
    say('| backbone | backend | threads | ms/img median | min-max |');
    say('|---|---|---:|---:|---:|');
    for (const file of native.split(',')) {
      for (const r of JSON.parse(await readFile(file, 'utf8')).rows) {
        say(`| ${r.backbone} | ${r.backend} | ${r.threads} | ${ms(r.median)} | ${ms(r.min)}-${ms(r.max)} |`);
      }
    }
  }

  const size = async (path) => (await stat(path)).size;
  const gzip = async (path) => gzipSync(await readFile(path), { level: 9 }).length;
  const mb = (bytes) => `${(bytes / 1e6).toFixed(2)} MB`;
  say();
  say('Page weight (bytes on disk; gzip -9 for what a compressing server sends):');
  say();
  say('| file | raw | gzip |');
  say('|---|---:|---:|');
  for (const name of builds) {
    const wasm = join(BUILD_DIRS[name], 'facelab_bg.wasm');
    say(`| ${name} facelab_bg.wasm (after wasm-opt) | ${mb(await size(wasm))} | ${mb(await gzip(wasm))} |`);
  }
  const manifest = JSON.parse(await readFile(join(repoRoot, 'weights/manifest.json'), 'utf8'));
  for (const backbone of options.backbones) {
    const entry = manifest[backbone];
    say(`| ${backbone} weights, ours (${entry.file}) | ${mb(await size(join(repoRoot, 'weights', entry.file)))} | |`);
    const originals = entry.source.files.map((f) => join(repoRoot, 'weights/cache', backbone, f.path));
    const total = (await Promise.all(originals.map(size))).reduce((a, b) => a + b, 0);
    say(`| ${backbone} weights, TF.js's original files (${originals.length}) | ${mb(total)} | |`);
  }
  const wasmDir = join(repoRoot, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  for (const file of ['../../tfjs/dist/tf.min.js', 'tf-backend-wasm.min.js', ...(await readdir(wasmDir)).filter((f) => f.endsWith('.wasm'))]) {
    const path = join(wasmDir, file);
    say(`| TF.js ${file.split('/').pop()} | ${mb(await size(path))} | ${mb(await gzip(path))} |`);
  }

  await mkdir(outputDir, { recursive: true });
  await writeFile(join(outputDir, 'bench.json'), JSON.stringify({ options, results }, null, 2));
  await writeFile(join(outputDir, 'bench.md'), `${lines.join('\n')}\n`);
  console.error(`written: ${join(outputDir, 'bench.md')} and bench.json`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
