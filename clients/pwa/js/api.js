/**
 * HTTP to the DriveSync server: JSON in and out, the bearer token, one token refresh on
 * 401 (serialised with a Web Lock across tabs and the service worker, because refresh
 * tokens rotate and a spent one revokes the whole family), and errors as `ApiError` with
 * the server's stable `code`.
 */

import { parseRetryAfter } from './retry.js';
import { getSession, setSession } from './session.js';

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

async function send(method, path, body, token, headers = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers } };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
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
    const resp = await send('POST', '/v1/auth/refresh', { refresh_token: session.refresh_token });
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
 * rejects with ApiError.
 */
export async function call(method, path, body, { auth = true, headers = {} } = {}) {
  let token = null;
  if (auth) {
    const session = await getSession();
    if (!session) throw new ApiError(401, 'unauthenticated', 'Signed out');
    token = session.access_token;
  }
  let resp = await send(method, path, body, token, headers);
  if (resp.status === 401 && auth) {
    const session = await refreshTokens(token);
    resp = await send(method, path, body, session.access_token, headers);
  }
  if (!resp.ok) throw await parseError(resp);
  if (resp.status === 204) return null;
  return resp.json();
}

/** A fresh access token (for the WebSocket's auth message). */
export async function accessToken({ refresh = false } = {}) {
  const session = await getSession();
  if (!session) return null;
  if (!refresh) return session.access_token;
  return (await refreshTokens(session.access_token)).access_token;
}
