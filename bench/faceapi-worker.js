// The dlib-resnet peer: face-api.js (@vladmandic/face-api, from npm; it bundles TensorFlow.js
// 4.22.0, the version of the other rows) running its FaceRecognitionNet, a TF.js port of the same
// dlib ResNet, on its own weights. Same messages as tfjs-worker.js: {op: 'load', ...} then
// {op: 'run', pixels, count}; replies {ok, ...}.
importScripts('/faceapi/dist/face-api.js');

const tf = faceapi.tf;
let side;

async function load({ backend, threads, side: inputSide }) {
  if (backend !== 'wasm') throw new Error(`the face-api.js row runs on TF.js's wasm backend only, not ${backend}`);
  tf.wasm.setWasmPaths('/tfjs/tfjs-backend-wasm/dist/');
  if (threads === 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  else tf.wasm.setThreadsCount(threads);
  if (!(await tf.setBackend('wasm'))) throw new Error('TF.js (face-api.js) could not start its wasm backend here');
  await tf.ready();
  await faceapi.nets.faceRecognitionNet.loadFromUri('/faceapi/model');
  side = inputSide;
  const details = { backend: tf.getBackend(), version: `${tf.version.tfjs} (face-api.js ${faceapi.version})`, isolated: self.crossOriginIsolated };
  details.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  details.threads = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) ? tf.wasm.getThreadsCount() : 1;
  return details;
}

onmessage = async ({ data }) => {
  try {
    if (data.op === 'load') {
      postMessage({ ok: true, details: await load(data) });
    } else {
      // 150x150 already: face-api.js's own preprocessing (its mean, /255) is all that happens.
      const input = tf.tensor4d(data.pixels, [data.count, side, side, 3], 'int32');
      const result = await faceapi.nets.faceRecognitionNet.forward(input);
      const embeddings = await result.data();
      tf.dispose([input, result]);
      postMessage({ ok: true, embeddings }, [embeddings.buffer]);
    }
  } catch (e) {
    postMessage({ ok: false, error: String(e?.message ?? e) });
  }
};
