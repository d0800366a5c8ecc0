// The dlib-resnet peer: face-api.js (@vladmandic/face-api, from npm; it bundles TensorFlow.js
// 4.22.0, the version of the other rows) running its FaceRecognitionNet, a TF.js port of the same
// dlib ResNet, on its own weights. Same messages as tfjs-worker.js: {op: 'load', ...} then
// {op: 'run', pixels, count}; replies {ok, ...}.
importScripts('/faceapi/dist/face-api.js');

const tf = faceapi.tf;
// face-api.js finds no environment in a worker (no document): it is given one. Only `fetch` is
// used (the weights); the input is a tensor, never an image element.
const noElements = () => { throw new Error('face-api.js in a worker has no DOM elements'); };
faceapi.env.setEnv({
  Canvas: OffscreenCanvas, CanvasRenderingContext2D: OffscreenCanvasRenderingContext2D, ImageData,
  Image: class {}, Video: class {}, createCanvasElement: () => new OffscreenCanvas(1, 1),
  createImageElement: noElements, createVideoElement: noElements, fetch: self.fetch.bind(self), readFile: noElements,
});
let side;

async function load({ backend, threads, side: inputSide }) {
  if (backend !== 'wasm') throw new Error(`the face-api.js row runs on TF.js's wasm backend only, not ${backend}`);
  // The bundle exports the wasm backend's functions at the top level (no `tf.wasm` namespace).
  tf.setWasmPaths('/tfjs/tfjs-backend-wasm/dist/');
  if (threads === 1) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  else tf.setThreadsCount(threads);
  if (!(await tf.setBackend('wasm'))) throw new Error('TF.js (face-api.js) could not start its wasm backend here');
  await tf.ready();
  await faceapi.nets.faceRecognitionNet.loadFromUri('/faceapi/model');
  side = inputSide;
  const details = { backend: tf.getBackend(), version: `${tf.version.tfjs} (face-api.js ${faceapi.version})`, isolated: self.crossOriginIsolated };
  details.simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  details.threads = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) ? tf.getThreadsCount() : 1;
  return details;
}

onmessage = async ({ data }) => {
  try {
    if (data.op === 'load') {
      postMessage({ ok: true, details: await load(data) });
    } else {
      // 150x150 already: face-api.js's own preprocessing (its mean, /255) is all that happens.
      // face-api.js batches a list of 3-d tensors (a 4-d one only with batch size 1).
      const input = tf.tensor4d(data.pixels, [data.count, side, side, 3], 'int32');
      const images = tf.unstack(input);
      const result = await faceapi.nets.faceRecognitionNet.forward(images);
      const embeddings = await result.data();
      tf.dispose([input, ...images, result]);
      postMessage({ ok: true, embeddings }, [embeddings.buffer]);
    }
  } catch (e) {
    postMessage({ ok: false, error: String(e?.message ?? e) });
  }
};
