// Drives the benchmark page (bench/) in headless Chromium and prints the side-by-side table,
// our native numbers against ONNX Runtime (bench/ort.py's JSON) and the page weight. Run by scripts/bench.sh, which
// builds what this needs; options: --backbones a,b --batch N --rounds N --warmup N --threads N
// --native FILE --figures FILE --builds app,app-nosimd --software-gpu --no-isolation.
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
    '/faceapi/': join(repoRoot, 'node_modules/@vladmandic/face-api'),
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
    backbones: value('--backbones', 'faceres,resnet50-imagenet,dlib-resnet').split(','),
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

  const training = results.training;
  say();
  say(`Head training in the page (worker, wasm, one thread): ${training.photos} training rows of ${training.people} people, ${training.dim}-d (synthetic, seeded), ` +
    `${options.rounds} interleaved rounds after a warm-up; ms per training, median and min-max; TF.js: a dense softmax layer, ${training.tfjsEpochs} full-batch Adam epochs:`);
  say();
  say('| trainer | ms median | min-max | test accuracy | ratio to TF.js | paired |');
  say('|---|---:|---:|---:|---:|---:|');
  for (const [name, side] of [['facelab `Train` (the app\'s head)', training.ours], [`TF.js wasm, ${training.tfjsEpochs} epochs`, training.tfjs]]) {
    const reference = side === training.tfjs;
    say(`| ${name} | ${ms(side.median)} | ${ms(Math.min(...side.times))}-${ms(Math.max(...side.times))} | ${(100 * side.accuracy).toFixed(1)}% | ` +
      `${reference ? '1.00' : training.ratio.toFixed(2)} | ${reference ? '1.00' : training.pairedRatio.toFixed(2)} |`);
  }

  if (native) {
    const reference = JSON.parse(await readFile(native, 'utf8'));
    say();
    say(`Native: ours (burn-flex, \`bench\`, a fresh process per round) vs ONNX Runtime ${reference.onnxruntime} (bench/ort.py: graphs built from the same original files, ` +
      `checked against the test vectors), batch ${reference.rows[0]?.batch}, ${reference.rows[0]?.rounds} paired rounds; ms per image, median and min-max over rounds:`);
    say();
    say('| backbone | threads | ours flex | min-max | onnxruntime | min-max | ratio ours/ORT | paired | ORT cos to test vectors |');
    say('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of reference.rows) {
      say(`| ${r.backbone} | ${r.threads} | ${ms(r.ours_flex)} | ${ms(r.ours_min)}-${ms(r.ours_max)} | ${ms(r.onnxruntime)} | ${ms(r.onnxruntime_min)}-${ms(r.onnxruntime_max)} | ` +
        `${r.ratio.toFixed(2)} | ${r.paired_ratio.toFixed(2)} | ${r.onnxruntime_cosine_to_testvectors.toFixed(6)} |`);
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
    for (const module of ['facelab_bg.wasm', 'facelab-webgpu_bg.wasm']) {
      const wasm = join(BUILD_DIRS[name], module);
      if (await stat(wasm).catch(() => null)) say(`| ${name} ${module} (after wasm-opt) | ${mb(await size(wasm))} | ${mb(await gzip(wasm))} |`);
    }
  }
  const manifest = JSON.parse(await readFile(join(repoRoot, 'weights/manifest.json'), 'utf8'));
  for (const backbone of options.backbones) {
    const entry = manifest[backbone];
    say(`| ${backbone} weights, ours (${entry.file}) | ${mb(await size(join(repoRoot, 'weights', entry.file)))} | |`);
    // dlib-resnet's peer is face-api.js with its own weights (bench/faceapi-worker.js).
    const faceApi = backbone === 'dlib-resnet';
    const originals = faceApi
      ? ['face_recognition_model-weights_manifest.json', 'face_recognition_model.bin'].map((f) => join(repoRoot, 'node_modules/@vladmandic/face-api/model', f))
      : entry.source.files.map((f) => join(repoRoot, 'weights/cache', backbone, f.path));
    const total = (await Promise.all(originals.map(size))).reduce((a, b) => a + b, 0);
    say(`| ${backbone} weights, ${faceApi ? "face-api.js's" : "TF.js's original"} files (${originals.length}) | ${mb(total)} | |`);
  }
  const wasmDir = join(repoRoot, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  for (const file of ['../../tfjs/dist/tf.min.js', 'tf-backend-wasm.min.js', ...(await readdir(wasmDir)).filter((f) => f.endsWith('.wasm'))]) {
    const path = join(wasmDir, file);
    say(`| TF.js ${file.split('/').pop()} | ${mb(await size(path))} | ${mb(await gzip(path))} |`);
  }

  const figuresFile = value('--figures', null);
  if (figuresFile) {
    const figures = JSON.parse(await readFile(figuresFile, 'utf8'));
    say();
    say('First load (tests/e2e/load.test.mjs: bytes the server sent, gzip where a static host compresses):');
    say();
    say('| visit | bytes | of which |');
    say('|---|---:|---|');
    const at = (key) => figures[key]?.value ?? NaN;
    say(`| first, no WebGPU adapter | ${mb(at('first_visit_bytes'))} | module ${mb(at('first_visit_module_bytes'))}, weights ${mb(at('first_visit_weights_bytes'))} |`);
    say(`| second (weights cached) | ${mb(at('second_visit_bytes'))} | revalidations only |`);
    say(`| first, with a WebGPU adapter | ${mb(at('webgpu_first_visit_bytes'))} | WebGPU module ${mb(at('webgpu_module_bytes'))} |`);
  }

  await mkdir(outputDir, { recursive: true });
  await writeFile(join(outputDir, 'bench.json'), JSON.stringify({ options, results }, null, 2));
  await writeFile(join(outputDir, 'bench.md'), `${lines.join('\n')}\n`);
  console.error(`written: ${join(outputDir, 'bench.md')} and bench.json`);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) await main();
