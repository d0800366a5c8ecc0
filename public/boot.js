// Starts the app. A file of its own (not Trunk's inline loader) so that the page's
// Content-Security-Policy can forbid inline scripts.
import init from '../facelab.js';

await init({ module_or_path: new URL('../facelab_bg.wasm', import.meta.url) });
