// API client: JSON over fetch with a small per-path cache (TTL), de-duplication of identical
// requests in flight, retries of `503 + Retry-After` (the server computing something) with
// exponential back-off, and a hook on the `X-CoreScope-Load-Status` header so the shell can
// show its warm-up banner.

const cache = new Map(); // path → { at, ttl, value }
const inFlight = new Map(); // path → Promise
const loadStatusListeners = new Set();
let retrying = 0;
const retryListeners = new Set();

/** An API error with the HTTP status and the server's `{"error": "..."}` message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Called with the value of `X-CoreScope-Load-Status` on every API answer. */
export function onLoadStatus(fn) {
  loadStatusListeners.add(fn);
  return () => loadStatusListeners.delete(fn);
}

/** Called with the number of requests currently waiting to retry a 503. */
export function onRetrying(fn) {
  retryListeners.add(fn);
  return () => retryListeners.delete(fn);
}

function noteHeaders(response) {
  const status = response.headers.get('x-corescope-load-status');
  if (status !== null) for (const fn of loadStatusListeners) fn(status);
}

async function request(path, init) {
  let delay = 1000;
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetch(path, { headers: { Accept: 'application/json' }, ...init });
    noteHeaders(response);
    if (response.status === 503 && response.headers.has('retry-after') && attempt < 6) {
      retrying += 1;
      retryListeners.forEach((fn) => fn(retrying));
      await new Promise((r) => setTimeout(r, delay));
      retrying -= 1;
      retryListeners.forEach((fn) => fn(retrying));
      delay = Math.min(delay * 2, 30_000);
      continue;
    }
    let body = null;
    const text = await response.text();
    if (text) {
      try { body = JSON.parse(text); } catch { body = text; }
    }
    if (!response.ok) {
      const message = (body && typeof body === 'object' && body.error) || response.statusText;
      throw new ApiError(response.status, String(message));
    }
    return body;
  }
}

/**
 * GET `path` (e.g. "/api/stats"). `ttl` (ms) caches the answer; `bust` skips the cache.
 * Identical requests in flight share one fetch.
 */
export function api(path, { ttl = 0, bust = false } = {}) {
  const hit = cache.get(path);
  if (!bust && hit && Date.now() - hit.at < hit.ttl) return Promise.resolve(hit.value);
  if (inFlight.has(path)) return inFlight.get(path);
  const promise = request(path)
    .then((value) => {
      if (ttl > 0) cache.set(path, { at: Date.now(), ttl, value });
      return value;
    })
    .finally(() => inFlight.delete(path));
  inFlight.set(path, promise);
  return promise;
}

/** POST a JSON body. */
export function post(path, body) {
  return request(path, {
    method: 'POST',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** Drops cached answers whose path starts with `prefix` (all when omitted). */
export function invalidate(prefix = '') {
  for (const key of cache.keys()) if (key.startsWith(prefix)) cache.delete(key);
}

/** Builds "/api/x?a=1&b=2" from an object, skipping empty values. */
export function withQuery(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** The list inside a wrapped answer (`{packets:[…]}`, `{observers:[…]}`) or a bare array. */
export function listOf(body, key) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body[key])) return body[key];
  return [];
}
