// The peer: TensorFlow.js (from npm, served from this origin) running the original tfjs model
// files of a backbone, in a worker of its own so that each row can have its own backend and
// thread count. Messages: {op: 'load', ...} then {op: 'run', pixels, count}, or {op: 'train', ...}
// (the head-training peer); replies {ok, ...}.
importScripts('/tfjs/tfjs/dist/tf.min.js', '/tfjs/tfjs-backend-wasm/dist/tf-backend-wasm.min.js',
  '/tfjs/tfjs-backend-webgpu/dist/tf-backend-webgpu.min.js');

let model;
let output;
let input;

async function start(backend, threads) {
  if (backend === 'wasm') {
    tf.wasm.setWasmPaths('/tfjs/tfjs-backend-wasm/dist/');
    // One thread: the plain SIMD module; more: the threaded one (needs cross-origin isolation).
    if (threads === 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    else tf.wasm.setThreadsCount(threads);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js could not start its ${backend} backend here`);
  await tf.ready();
}

async function load({ backend, threads, modelUrl, format, outputName, side, preprocessing }) {
  await start(backend, threads);
  if (format === 'graph-model') {
    model = await tf.loadGraphModel(modelUrl);
    output = outputName;
  } else {
    // The Keras ResNet50 ends in ImageNet's classifier; the embedding is its pooled layer.
    const full = await tf.loadLayersModel(modelUrl);
    model = tf.model({ inputs: full.inputs, outputs: full.getLayer(outputName).output });
  }
  input = { side, mean: tf.tensor1d(preprocessing.mean), bgr: preprocessing.bgr, scale: preprocessing.scale };
  const details = { backend: tf.getBackend(), version: tf.version.tfjs, isolated: self.crossOriginIsolated };
  if (backend === 'wasm') {
    details.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    // What XNNPACK's pool really got (TF.js may use fewer threads than asked for).
    details.threads = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) ? tf.wasm.getThreadsCount() : 1;
  }
  return details;
}

// The same preprocessing as ours (the weights manifest's): channels reversed to BGR, means subtracted.
function embed(pixels, count) {
  return tf.tidy(() => {
    let x = tf.tensor4d(pixels, [count, input.side, input.side, 3], 'int32').toFloat();
    if (input.bgr) x = tf.reverse(x, -1);
    x = tf.mul(tf.sub(x, input.mean), input.scale);
    return output ? model.execute(x, output) : model.predict(x);
  });
}

/// The head-training peer: a dense softmax layer on the training rows, full batch, Adam, a fixed
/// number of epochs (what a TF.js app would write); the test rows' predicted classes.
async function train({ backend, threads, rows, dim, labels, classes, testRows, epochs }) {
  await start(backend, threads);
  const n = labels.length;
  const head = tf.sequential({ layers: [tf.layers.dense({ inputShape: [dim], units: classes, activation: 'softmax' })] });
  head.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  const x = tf.tensor2d(rows.subarray(0, n * dim), [n, dim]);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
  await head.fit(x, y, { epochs, batchSize: n, verbose: 0 });
  const predicted = tf.tidy(() => head.predict(tf.tensor2d(rows.subarray(n * dim), [testRows, dim])).argMax(-1));
  const testPredictions = Array.from(await predicted.data());
  tf.dispose([x, y, predicted]);
  head.dispose();
  return testPredictions;
}

onmessage = async ({ data }) => {
  try {
    if (data.op === 'load') {
      postMessage({ ok: true, details: await load(data) });
    } else if (data.op === 'train') {
      postMessage({ ok: true, testPredictions: await train(data) });
    } else {
      const result = embed(data.pixels, data.count);
      const embeddings = await result.data();
      result.dispose();
      postMessage({ ok: true, embeddings }, [embeddings.buffer]);
    }
  } catch (e) {
    postMessage({ ok: false, error: String(e?.message ?? e) });
  }
};
