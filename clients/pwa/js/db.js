/**
 * IndexedDB, promise-shaped. Two kinds of database live here:
 *
 * - `drivesync-meta` (one per installation): the client_id, the signed-in session, the
 *   per-user seq counters and the hybrid logical clock. Survives logout.
 * - `drivesync-<tenant>-<user>` (one per user and school): the replica (`records`), the
 *   `outbox` of unpushed mutations, sync `meta` (cursor, last synced), `problems` shown to
 *   the user, `drafts` (a trip being recorded, a mock test in progress) and `routes` (trip
 *   routes fetched when viewed: pulls leave trip segments out). Logout deletes it.
 *
 * Works the same in a page and in the service worker (no DOM here).
 */

export const META_DB = 'drivesync-meta';

/** Wrap an IDBRequest in a promise. */
export function req(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function open(name, version, upgrade) {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(name, version);
    r.onupgradeneeded = (event) => upgrade(r.result, event.oldVersion);
    r.onsuccess = () => {
      const db = r.result;
      // Another tab or the worker wants to delete or upgrade it (logout): let go.
      db.onversionchange = () => db.close();
      resolve(db);
    };
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(new Error(`database ${name} is blocked by another tab`));
  });
}

/**
 * Run `fn(stores)` in one transaction over `names` and resolve with its result once the
 * transaction has committed (so the caller knows the write is durable).
 */
export function tx(db, names, mode, fn) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(names, mode, { durability: 'strict' });
    const stores = {};
    for (const n of [].concat(names)) stores[n] = t.objectStore(n);
    let result;
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('transaction aborted'));
    Promise.resolve()
      .then(() => fn(stores, t))
      .then((value) => { result = value; }, (err) => { try { t.abort(); } catch { /* done */ } reject(err); });
  });
}

export function openMeta() {
  return open(META_DB, 1, (db) => {
    db.createObjectStore('kv');
  });
}

export function userDbName(tenantId, userId) {
  return `drivesync-${tenantId}-${userId}`;
}

export function openUserDb(tenantId, userId) {
  return open(userDbName(tenantId, userId), 2, (db, oldVersion) => {
    if (oldVersion < 1) {
      const records = db.createObjectStore('records', { keyPath: ['_e', 'id'] });
      records.createIndex('entity', '_e');
      const outbox = db.createObjectStore('outbox', { keyPath: 'seq' });
      outbox.createIndex('record', ['entity', 'id']);
      db.createObjectStore('meta');
      db.createObjectStore('problems', { keyPath: 'key', autoIncrement: true });
      db.createObjectStore('drafts');
    }
    // 2: routes fetched when viewed ({trip_id, rev, segments}), kept for offline viewing.
    if (oldVersion < 2) db.createObjectStore('routes', { keyPath: 'trip_id' });
  });
}

export function deleteDb(name) {
  return new Promise((resolve, reject) => {
    const r = indexedDB.deleteDatabase(name);
    r.onsuccess = () => resolve();
    r.onerror = () => reject(r.error);
    r.onblocked = () => { /* resolves once other connections close (onversionchange) */ };
  });
}

/** Read one key of a key-value store. */
export async function kvGet(db, store, key) {
  return tx(db, store, 'readonly', (s) => req(s[store].get(key)));
}

/** Write one key of a key-value store. */
export async function kvSet(db, store, key, value) {
  return tx(db, store, 'readwrite', (s) => { s[store].put(value, key); });
}
