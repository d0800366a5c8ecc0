// The compute worker: the app's own module, which serves backbone and training requests when it
// finds itself in a worker (src/worker.rs). Loaded by URL so that the page's CSP needs no inline
// script or blob: worker.
import init from '../facelab.js';

await init({ module_or_path: new URL('../facelab_bg.wasm', import.meta.url) });
