// Starts the app. A file of its own (not Trunk's inline loader) so that the page's
// Content-Security-Policy can forbid inline scripts.
import init from '../facelab.js';

await init({ module_or_path: new URL('../facelab_bg.wasm', import.meta.url) });

// Offline once visited (app/sw.js). A page that cannot have one (a private window, say) runs as it is.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register(new URL('../sw.js', import.meta.url)).catch((e) => console.warn('no offline copy:', e));
}
