/**
 * When to try the server again after a sync failed, and what a failure says about the
 * server. Pure (no DOM, no timers): the scheduler in app.js uses it, the unit tests run it.
 *
 *   network error, 5xx, 429, any other non-rejection → retry after 1 s, 2 s, 4 s … 30 s
 *   (each a little early, at random, so devices that lost the server together do not all
 *   come back in the same second); a `Retry-After` is a floor; success resets the count.
 *   A rejected mutation is a result of a successful push, not a failure: never retried.
 */

export const RETRY_BASE_MS = 1000;
export const RETRY_CAP_MS = 30000;
/** A Retry-After longer than this is not believed (a misconfigured proxy must not park
 * a device's changes for a day). */
export const RETRY_AFTER_CAP_MS = 10 * 60 * 1000;

/**
 * Milliseconds before try number `attempt + 1`, given `attempt` failures in a row (≥ 1).
 * @param {number} attempt failures in a row
 * @param {number | null} retryAfterS the server's Retry-After, in seconds
 * @param {() => number} random in [0, 1)
 */
export function retryDelay(attempt, retryAfterS = null, random = Math.random) {
  const step = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(step * (0.75 + 0.25 * random()));
  const floor = retryAfterS > 0 ? Math.min(retryAfterS * 1000, RETRY_AFTER_CAP_MS) : 0;
  return Math.max(jittered, floor);
}

/**
 * A `Retry-After` header in seconds (it may be a number of seconds or an HTTP date), or
 * null when absent or unreadable.
 */
export function parseRetryAfter(value, now = Date.now()) {
  if (value === null || value === undefined || String(value).trim() === '') return null;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/**
 * What a failed request says about the connection to the server:
 * 'offline' (the browser has no network), 'unreachable' (it has, but no answer came:
 * server down, DNS, TLS, a dropped connection), 'unavailable' (a gateway or the server
 * answered that it cannot serve now: 502, 503, 504), or null (the server answered).
 */
export function reachability(err, browserOnline) {
  if (!err) return null;
  if (err.status === 0) return browserOnline ? 'unreachable' : 'offline';
  if ([502, 503, 504].includes(err.status)) return 'unavailable';
  return null;
}
