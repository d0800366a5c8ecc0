// The app without a network, once visited: every same-origin GET goes to the network first (so a
// new version is picked up on the next visit) and the answer is kept; without a network, the
// kept copy answers. The shell is kept at install, since the first visit's page loaded before
// this worker ran. Weights are not kept here: the page keeps the ones the user chose in Cache
// Storage itself (checked by their sha256).
const CACHE = 'facelab-shell';
const SHELL = ['./', './index.html', './main.css', './facelab.js', './facelab_bg.wasm', './public/boot.js', './public/worker.js', './weights/manifest.json', './manifest.webmanifest', './icon.svg'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin || url.pathname.endsWith('.safetensors')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(event.request);
      // Kept for later, and never in the way: a full quota leaves the older copy in place.
      if (response.ok) event.waitUntil(cache.put(event.request, response.clone()).catch(() => {}));
      return response;
    } catch (offline) {
      const kept = await cache.match(event.request, { ignoreSearch: true });
      if (kept) return kept;
      throw offline;
    }
  })());
});
