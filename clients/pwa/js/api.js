/**
 * HTTP to the DriveSync server: JSON in and out, the bearer token, one token refresh on
 * 401 (serialised with a Web Lock across tabs and the service worker, because refresh
 * tokens rotate and a spent one revokes the whole family), and errors as `ApiError` with
 * the server's stable `code`.
 *
 * For a poor link (issue 10), a caller may ask for a gzip-compressed body (`compress`:
 * bodies over GZIP_MIN_BYTES where CompressionStream exists) and for a token refresh
 * *before* the request when the access token expires within `refreshWithin` seconds, so
 * that a large upload is not sent only to be answered 401.
 */

import { parseRetryAfter } from './retry.js';
import { getSession, setSession } from './session.js';
import { GZIP_MIN_BYTES, byteLength, gzip, secondsLeft } from './transport.js';

export class ApiError extends Error {
  constructor(status, code, message, details = {}, retryAfter = null) {
    super(message || code);
    this.status = status;   // 0: no network
    this.code = code;       // the server's error code, or 'offline' / 'http_error'
    this.details = details;
    this.retryAfter = retryAfter; // seconds, from Retry-After
  }

  get offline() { return this.status === 0; }
}

async function parseError(resp) {
  let body = null;
  try { body = await resp.json(); } catch { /* not JSON */ }
  const err = (body && body.error) || {};
  const retry = parseRetryAfter(resp.headers.get('Retry-After'));
  return new ApiError(resp.status, err.code || 'http_error', err.message || resp.statusText,
    err.details || {}, retry);
}

/**
 * The body as it goes on the wire: JSON text, or gzip bytes with `Content-Encoding` when
 * asked and worth it (the server inflates gzip bodies, server/http.py read_body). Made once
 * per call, so a resend after a token refresh costs no second compression.
 */
export async function encodeBody(body, { compress = false } = {}) {
  if (body === undefined) return null;
  const text = JSON.stringify(body);
  const headers = { 'Content-Type': 'application/json' };
  if (compress && byteLength(text) > GZIP_MIN_BYTES) {
    const packed = await gzip(text);
    if (packed) return { data: packed, headers: { ...headers, 'Content-Encoding': 'gzip' } };
  }
  return { data: text, headers };
}

async function send(method, path, encoded, token, headers = {}) {
  // No Referer: it would add the page's address to every request, polls included.
  const init = { method, headers: { ...headers }, referrerPolicy: 'no-referrer' };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (encoded) {
    Object.assign(init.headers, encoded.headers);
    init.body = encoded.data;
  }
  try {
    return await fetch(path, init);
  } catch (exc) {
    throw new ApiError(0, 'offline', 'No connection to the server');
  }
}

function withLock(name, fn) {
  if (globalThis.navigator && navigator.locks) return navigator.locks.request(name, fn);
  return fn();
}

/** Spend the refresh token for a new pair, unless another context already did. */
async function refreshTokens(staleAccess) {
  return withLock('token-refresh', async () => {
    const session = await getSession();
    if (!session) throw new ApiError(401, 'unauthenticated', 'Signed out');
    if (session.access_token !== staleAccess) return session; // someone refreshed meanwhile
    const resp = await send('POST', '/v1/auth/refresh', await encodeBody({ refresh_token: session.refresh_token }));
    if (!resp.ok) {
      const err = await parseError(resp);
      if (err.status === 401) err.code = 'session_expired';
      throw err;
    }
    const fresh = await resp.json();
    const next = {
      ...session,
      access_token: fresh.access_token,
      refresh_token: fresh.refresh_token,
      user: { ...session.user, ...fresh.user },
      school: fresh.school || session.school, // a changed pass mark arrives this way
    };
    await setSession(next);
    return next;
  });
}

/**
 * Call the API as the signed-in user. Resolves with the parsed JSON (or null for 204);
 * rejects with ApiError. `compress`: gzip a large body; `refreshWithin`: refresh the access
 * token first when it expires within that many seconds.
 */
export async function call(method, path, body, { auth = true, headers = {}, compress = false, refreshWithin = 0 } = {}) {
  let token = null;
  if (auth) {
    const session = await getSession();
    if (!session) throw new ApiError(401, 'unauthenticated', 'Signed out');
    token = session.access_token;
    const left = refreshWithin ? secondsLeft(token) : null;
    if (left !== null && left < refreshWithin) {
      try {
        token = (await refreshTokens(token)).access_token;
      } catch (err) {
        // A refused refresh token ends the session; anything else (offline, 503) leaves a
        // token that still works for a few seconds: try the request with it.
        if (err.status === 401 || err.offline || left <= 0) throw err;
      }
    }
  }
  const encoded = await encodeBody(body, { compress });
  let resp = await send(method, path, encoded, token, headers);
  if (resp.status === 401 && auth) {
    const session = await refreshTokens(token);
    resp = await send(method, path, encoded, session.access_token, headers);
  }
  if (!resp.ok) throw await parseError(resp);
  if (resp.status === 204) return null;
  return resp.json();
}

/**
 * A file as the signed-in user (an invoice's PDF): resolves with `{ blob, filename }`, the
 * name from the answer's Content-Disposition; rejects with ApiError as `call` does (status
 * 0, code 'offline', without a connection). One token refresh on 401, as for `call`.
 */
export async function download(path) {
  const session = await getSession();
  if (!session) throw new ApiError(401, 'unauthenticated', 'Signed out');
  let resp = await send('GET', path, null, session.access_token);
  if (resp.status === 401) {
    const fresh = await refreshTokens(session.access_token);
    resp = await send('GET', path, null, fresh.access_token);
  }
  if (!resp.ok) throw await parseError(resp);
  const named = /filename="([^"]+)"/.exec(resp.headers.get('Content-Disposition') || '');
  return { blob: await resp.blob(), filename: named ? named[1] : null };
}

/** A fresh access token (for the WebSocket's auth message). */
export async function accessToken({ refresh = false } = {}) {
  const session = await getSession();
  if (!session) return null;
  if (!refresh) return session.access_token;
  return (await refreshTokens(session.access_token)).access_token;
}
