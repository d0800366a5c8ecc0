// The WebGPU compute worker (src/webgpu_worker.rs): a module of its own, which the page starts
// only where the browser gives a WebGPU adapter. Loaded by URL, like public/worker.js.
import init from '../facelab-webgpu.js';

await init({ module_or_path: new URL('../facelab-webgpu_bg.wasm', import.meta.url) });
