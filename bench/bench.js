// The side-by-side benchmark page: our backbones (the app's own compute worker, in the SIMD and
// the non-SIMD build) and TensorFlow.js on the original model files, on the same images, in the
// same page, interleaved. `runBench(options)` returns the rows; bench/run.mjs drives it.

const log = (line) => {
  console.log(line);
  document.querySelector('#log').textContent += `${line}\n`;
};

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function cosine(a, b) {
  let [dot, na, nb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; }
  return dot / Math.sqrt(na * nb);
}

function concat(parts) {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/// The reference inputs (LFW crops already resized to 224x224 by Pillow) as 8-bit RGB.
async function referencePixels(side) {
  const vectors = await (await fetch('/testvectors/vectors.json')).json();
  const images = [];
  for (const image of vectors.images) {
    const stem = image.file.split('/').pop().replace(/\.jpg$/, '');
    const bitmap = await createImageBitmap(new Blob([await fetchBytes(`/testvectors/inputs/${stem}_224.png`)]));
    const canvas = new OffscreenCanvas(side, side);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0, side, side);
    const rgba = context.getImageData(0, 0, side, side).data;
    const rgb = new Uint8Array(side * side * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) rgb.set(rgba.subarray(i, i + 3), j);
    images.push({ name: stem, rgb });
  }
  return images;
}

/// One of our compute workers (a build's public/worker.js, or on WebGPU its worker-webgpu.js),
/// spoken to in the app's wire format.
class FacelabWorker {
  constructor(build, backend) {
    const script = backend === 'WebGpu' ? 'worker-webgpu.js' : 'worker.js';
    this.worker = new Worker(`/${build}/public/${script}`, { type: 'module' });
    this.next = 1;
    this.open = new Map();
    this.started = new Promise((ok, fail) => { this.open.set(0, { ok, fail }); });
    this.worker.onmessage = ({ data }) => {
      const call = this.open.get(data.job);
      if (!call) return;
      const reply = data.job === 0 ? {} : JSON.parse(data.body);
      if (reply.Epoch) return;
      this.open.delete(data.job);
      if (reply.Failed) call.fail(new Error(reply.Failed.error));
      else call.ok({ reply, bytes: data.bytes });
    };
    this.worker.onerror = (event) => {
      event.preventDefault();
      for (const call of this.open.values()) call.fail(new Error(`worker stopped: ${event.message}`));
      this.open.clear();
    };
  }

  async call(request, bytes = new Uint8Array()) {
    await this.started;
    const job = this.next++;
    const done = new Promise((ok, fail) => { this.open.set(job, { ok, fail }); });
    this.worker.postMessage({ job, body: JSON.stringify(request), bytes }, [bytes.buffer]);
    return done;
  }

  terminate() { this.worker.terminate(); }
}

/// Ours: `workers` instances of the module, each with the backbone, the batch split between them.
class Ours {
  constructor({ build, backend, threads, oneByOne }) {
    this.backend = backend;
    this.oneByOne = oneByOne;
    this.workers = Array.from({ length: threads }, () => new FacelabWorker(build, backend));
  }

  async load(backbone, weights) {
    await Promise.all(this.workers.map((w) => w.call({ Load: { backbone, backend: this.backend } }, weights.slice())));
    return {};
  }

  async embed(pixels, count, side) {
    if (this.oneByOne) {
      const size = side * side * 3;
      const parts = [];
      for (let i = 0; i < count; i++) parts.push(await this.embedBatch(pixels.subarray(i * size, (i + 1) * size), 1, side));
      return concat(parts);
    }
    return this.embedBatch(pixels, count, side);
  }

  /// The batch split evenly between the workers, one request each.
  async embedBatch(pixels, count, side) {
    const per = Math.ceil(count / this.workers.length);
    const parts = await Promise.all(this.workers.map((worker, i) => {
      const n = Math.max(0, Math.min(per, count - i * per));
      if (n === 0) return new Float32Array();
      const slice = pixels.slice(i * per * side * side * 3, (i * per + n) * side * side * 3);
      return worker.call({ EmbedPixels: { count: n } }, slice).then(({ bytes }) => new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    }));
    return concat(parts);
  }

  close() { this.workers.forEach((w) => w.terminate()); }
}

/// dlib-resnet's peer is face-api.js (its own TF.js port of dlib's network); the others' the
/// original model files on TF.js.
const faceApi = (backbone) => backbone === 'dlib-resnet';

class TfjsRow {
  constructor({ backend, threads, backbone }) {
    this.backend = backend;
    this.threads = threads;
    this.worker = new Worker(faceApi(backbone) ? '/bench/faceapi-worker.js' : '/bench/tfjs-worker.js');
  }

  call(message, transfer = []) {
    return new Promise((ok, fail) => {
      this.worker.onmessage = ({ data }) => (data.ok ? ok(data) : fail(new Error(data.error)));
      this.worker.onerror = (event) => { event.preventDefault(); fail(new Error(`TF.js worker stopped: ${event.message}`)); };
      this.worker.postMessage(message, transfer);
    });
  }

  async load(backbone, _weights, entry) {
    if (faceApi(backbone)) return (await this.call({ op: 'load', backend: this.backend, threads: this.threads, side: entry.input_size })).details;
    const model = entry.source.files[0].path;
    const { details } = await this.call({
      op: 'load', backend: this.backend, threads: this.threads, modelUrl: `/models/${backbone}/${model}`,
      format: model.endsWith('faceres.json') ? 'graph-model' : 'layers-model',
      outputName: backbone === 'faceres' ? 'global_pooling/Mean' : 'avg_pool',
      side: entry.input_size, preprocessing: entry.preprocessing,
    });
    return details;
  }

  async embed(pixels, count) {
    const copy = pixels.slice();
    return (await this.call({ op: 'run', pixels: copy, count }, [copy.buffer])).embeddings;
  }

  close() { this.worker.terminate(); }
}

/// What the browser offers for GPU rows: WebGPU's adapter and WebGL's renderer, software or not.
async function gpuInfo() {
  const info = { webgpu: null, webgl: null };
  if (navigator.gpu) {
    const adapter = await navigator.gpu.requestAdapter().catch(() => null);
    if (adapter) {
      const a = adapter.info ?? {};
      info.webgpu = { name: [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'unnamed adapter' };
      info.webgpu.software = /swiftshader|cpu/i.test(info.webgpu.name) || a.isFallbackAdapter === true;
    }
  }
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
  if (gl) {
    const debug = gl.getExtension('WEBGL_debug_renderer_info');
    const name = debug ? gl.getParameter(debug.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    info.webgl = { name, software: /swiftshader|llvmpipe|software/i.test(name) };
  }
  return info;
}

/// The rows of one backbone, in the order they are printed.
function rowsFor(options, gpu, backbone) {
  const threads = options.threads;
  const rows = [];
  for (const build of options.builds) {
    for (const backend of ['Flex', 'NdArray']) {
      rows.push({ engine: 'facelab', build, backend, threads: 1 });
    }
  }
  if (options.builds.includes('app')) {
    rows.push({ engine: 'facelab', build: 'app', backend: 'Flex', threads: 1, oneByOne: true });
    if (threads > 1) rows.push({ engine: 'facelab', build: 'app', backend: 'Flex', threads });
  }
  rows.push({ engine: 'tfjs', backend: 'wasm', threads: 1, reference: true });
  if (threads > 1) {
    rows.push(crossOriginIsolated
      ? { engine: 'tfjs', backend: 'wasm', threads }
      : { engine: 'tfjs', backend: 'wasm', threads, skip: 'the page is not cross-origin isolated (no COOP/COEP): TF.js gets one thread' });
  }
  const gpuRow = (row, adapter, what) => {
    if (!adapter) return { ...row, skip: `no ${what} here` };
    if (adapter.software && !options.softwareGpu) return { ...row, skip: `only a software ${what} (${adapter.name}); --software-gpu measures it` };
    return row;
  };
  rows.push(gpuRow({ engine: 'facelab', build: 'app', backend: 'WebGpu', threads: 1 }, gpu.webgpu, 'WebGPU adapter'));
  if (!faceApi(backbone)) {
    rows.push(gpuRow({ engine: 'tfjs', backend: 'webgpu', threads: 1 }, gpu.webgpu, 'WebGPU adapter'));
    rows.push(gpuRow({ engine: 'tfjs', backend: 'webgl', threads: 1 }, gpu.webgl, 'WebGL renderer'));
  }
  return rows;
}

function label(row) {
  if (row.engine === 'tfjs') {
    const threads = row.backend !== 'wasm' ? '' : row.threads > 1 ? `, threaded module, ${row.threads} threads asked` : ', 1 thread';
    return `${faceApi(row.backbone) ? 'face-api.js on ' : ''}TF.js ${row.backend}${row.backend === 'wasm' ? ' SIMD' : ''}${threads}`;
  }
  const simd = row.backend === 'WebGpu' ? '' : row.build === 'app' ? ' SIMD' : ' no SIMD';
  const workers = row.backend === 'WebGpu' ? '' : row.threads > 1 ? `, ${row.threads} workers` : ', 1 thread';
  return `facelab ${row.backend.toLowerCase()}${simd}${workers}${row.oneByOne ? ', one image per call' : ''}`;
}

/// Runs the benchmark: options {backbones, builds, batch, rounds, warmup, threads, softwareGpu}.
window.runBench = async function runBench(options) {
  const manifest = await (await fetch('/weights/manifest.json')).json();
  const gpu = await gpuInfo();
  const results = { crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency, gpu, userAgent: navigator.userAgent, rows: [] };
  log(`cross-origin isolated: ${crossOriginIsolated}; cores: ${navigator.hardwareConcurrency}; WebGPU: ${gpu.webgpu?.name ?? 'none'}; WebGL: ${gpu.webgl?.name ?? 'none'}`);
  for (const backbone of options.backbones) {
    const entry = manifest[backbone];
    if (!entry) throw new Error(`${backbone} is not in weights/manifest.json: run the weights tool`);
    const side = entry.input_size;
    const images = await referencePixels(side);
    const count = options.batch;
    const pixels = new Uint8Array(count * side * side * 3);
    for (let i = 0; i < count; i++) pixels.set(images[i % images.length].rgb, i * side * side * 3);
    const weights = await fetchBytes(`/weights/${entry.file}`);

    const rows = rowsFor(options, gpu, backbone).map((row) => ({ ...row, backbone })).map((row) => ({ ...row, label: label(row), times: [] }));
    for (const row of rows.filter((r) => !r.skip)) {
      const runner = row.engine === 'tfjs' ? new TfjsRow(row) : new Ours(row);
      try {
        row.details = await runner.load(backbone, weights, entry);
        // Warm-up: the first passes allocate, compile shaders and fill caches.
        for (let i = 0; i < options.warmup; i++) row.embedding = await runner.embed(pixels, count, side);
        row.runner = runner;
        log(`${backbone}: ${row.label} loaded ${JSON.stringify(row.details)}`);
      } catch (e) {
        runner.close();
        row.skip = `failed: ${e.message}`;
        log(`${backbone}: ${row.label} ${row.skip}`);
      }
    }
    const live = rows.filter((r) => r.runner);
    for (let round = 0; round < options.rounds; round++) {
      // Interleaved, starting one row later each round, so that no row always runs first.
      for (let k = 0; k < live.length; k++) {
        const row = live[(k + round) % live.length];
        const started = performance.now();
        const embedding = await row.runner.embed(pixels, count, side);
        row.times.push((performance.now() - started) / count);
        // Compared with the peer's below (also where there is no warm-up pass).
        row.embedding = embedding;
      }
      log(`${backbone}: round ${round + 1}/${options.rounds} done`);
    }
    const reference = rows.find((r) => r.reference && r.runner);
    const dim = entry.embedding_dim;
    for (const row of rows) {
      row.runner?.close();
      delete row.runner;
      if (row.times.length) {
        row.median = median(row.times);
        row.min = Math.min(...row.times);
        row.max = Math.max(...row.times);
        if (reference) {
          row.ratio = row.median / median(reference.times);
          // Round by round (in a round the rows run back to back), which cancels the machine's drift.
          row.pairedRatio = median(row.times.map((t, round) => t / reference.times[round]));
          // Same outputs as the peer's, image by image (the first `images.length` of the batch).
          const cosines = images.slice(0, count).map((_, i) => cosine(row.embedding.subarray(i * dim, (i + 1) * dim), reference.embedding.subarray(i * dim, (i + 1) * dim)));
          row.cosine = Math.min(...cosines);
        }
      }
    }
    for (const row of rows) {
      delete row.embedding;
      results.rows.push(row);
    }
  }
  results.training = await trainingBench(options, manifest);
  return results;
};

/// Deterministic pseudo-random numbers in [0, 1) (mulberry32), so every run trains on the same rows.
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/// Head training: 400 training + 100 test rows of 5 people, faceres-sized (1024-d, non-negative
/// like its pooled ReLU features: a centre per person plus noise), trained by our worker's `Train`
/// (the app's request) and by TF.js (a dense softmax layer, 300 full-batch Adam epochs, wasm, one
/// thread), interleaved for `options.rounds` rounds. Milliseconds per training and test accuracy.
async function trainingBench(options, manifest) {
  const [people, perPerson, trainPerPerson, dim] = [5, 100, 80, manifest.faceres.embedding_dim];
  const next = random(15);
  const centres = Array.from({ length: people }, () => Float32Array.from({ length: dim }, () => Math.max(0, next() * 2 - 0.8)));
  const labels = [];
  const testLabels = [];
  const trainRows = [];
  const testRows = [];
  for (let person = 0; person < people; person++) {
    for (let i = 0; i < perPerson; i++) {
      const row = centres[person].map((c) => Math.max(0, c + (next() - 0.5) * 1.5));
      (i < trainPerPerson ? trainRows : testRows).push(row);
      (i < trainPerPerson ? labels : testLabels).push(person);
    }
  }
  const rows = concat([...trainRows, ...testRows]);
  const accuracy = (predicted) => predicted.filter((p, i) => p === testLabels[i]).length / testLabels.length;

  const ours = new FacelabWorker('app', 'Flex');
  await ours.call({ Load: { backbone: 'faceres', backend: 'Flex' } }, await fetchBytes(`/weights/${manifest.faceres.file}`));
  const tfjs = new TfjsRow({ backend: 'wasm', threads: 1 });
  const sides = {
    ours: async () => {
      const { reply } = await ours.call({ Train: { labels, classes: people, test_rows: testRows.length } }, new Uint8Array(rows.slice().buffer));
      return reply.Trained.test_predictions;
    },
    tfjs: async () => (await tfjs.call({ op: 'train', backend: 'wasm', threads: 1, rows: rows.slice(), dim, labels, classes: people, testRows: testRows.length, epochs: 300 })).testPredictions,
  };
  const result = { photos: labels.length, people, dim, tfjsEpochs: 300, ours: { times: [] }, tfjs: { times: [] } };
  try {
    for (const side of Object.keys(sides)) result[side].accuracy = accuracy(await sides[side]()); // warm-up
    for (let round = 0; round < options.rounds; round++) {
      for (const side of round % 2 ? ['tfjs', 'ours'] : ['ours', 'tfjs']) {
        const started = performance.now();
        await sides[side]();
        result[side].times.push(performance.now() - started);
      }
      log(`head training: round ${round + 1}/${options.rounds} done`);
    }
  } finally {
    ours.terminate();
    tfjs.close();
  }
  for (const side of ['ours', 'tfjs']) result[side].median = median(result[side].times);
  result.ratio = result.ours.median / result.tfjs.median;
  result.pairedRatio = median(result.ours.times.map((t, round) => t / result.tfjs.times[round]));
  return result;
}

document.querySelector('#status').textContent = 'ready';
