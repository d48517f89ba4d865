/**
 * The service worker (a module, served at /sw.js so that it controls `/`).
 *
 * - App shell: precached at install into a versioned cache; the server prepends
 *   `self.DRIVESYNC_BUILD = {version, files}` (a hash of the shell's files), so any change
 *   to the shell installs a new worker and a new cache, and old caches are deleted on
 *   activate. Shell requests are answered from the cache first: first paint needs no
 *   network, and the app starts with the network off; a second visit costs no shell bytes.
 *   The server sends the shell gzip-compressed (server/shell.py).
 * - API calls (`/v1/…`) are never cached or intercepted: the app's data lives in IndexedDB.
 * - Background Sync (`sync` tag `outbox`): push the outbox and pull, with the page closed if
 *   need be, under the same Web Lock as the page so the two never flush at once.
 * - Push: show the notification the server sent; a click opens the app.
 */

import { openUserDb } from '/app/js/db.js';
import { clientId, getSession } from '/app/js/session.js';
import { SyncEngine } from '/app/js/sync.js';

const BUILD = self.DRIVESYNC_BUILD || { version: 'dev', files: ['/', '/app/app.css', '/app/js/app.js'] };
const CACHE = `drivesync-shell-${BUILD.version}`;

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // `no-cache`: revalidate with the server (never a stale copy from the HTTP cache), so
    // a file the page has just loaded on a first visit comes back as a bodiless 304.
    await cache.addAll(BUILD.files.map((url) => new Request(url, { cache: 'no-cache' })));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith('drivesync-shell-') && key !== CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'claim') event.waitUntil(self.clients.claim());
});

async function shell(request) {
  const cache = await caches.open(CACHE);
  const url = new URL(request.url);
  const key = request.mode === 'navigate' ? '/' : url.pathname;
  const hit = await cache.match(key);
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && url.pathname.startsWith('/app/')) cache.put(key, response.clone());
  return response;
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/v1/') || url.pathname === '/sw.js') return; // network only
  if (event.request.mode === 'navigate' || url.pathname.startsWith('/app/')) event.respondWith(shell(event.request));
});

const channel = new BroadcastChannel('drivesync');

async function backgroundSync() {
  const session = await getSession();
  if (!session) return;
  const db = await openUserDb(session.user.tenant_id, session.user.id);
  try {
    const engine = new SyncEngine({
      db, user: session.user, clientId: await clientId(),
      onChange: (what) => channel.postMessage({ type: 'changed', what, from: 'worker' }),
    });
    await engine.flush();
    await engine.pull();
  } finally {
    db.close();
  }
}

self.addEventListener('sync', (event) => {
  // A rejection (still offline, server down) makes the browser retry later with backoff.
  if (event.tag === 'outbox') event.waitUntil(backgroundSync());
});

self.addEventListener('push', (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { body: event.data && event.data.text() }; }
  const title = data.title || 'DriveSync';
  event.waitUntil(self.registration.showNotification(title, {
    body: data.body || '', icon: '/app/icons/icon-192.png', badge: '/app/icons/icon-192.png',
    tag: data.tag, data: { url: data.url || '/' },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = (event.notification.data && event.notification.data.url) || '/';
  event.waitUntil((async () => {
    const all = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const c of all) {
      if ('focus' in c) { await c.focus(); if ('navigate' in c) await c.navigate(target); return; }
    }
    await self.clients.openWindow(target);
  })());
});
