// Hash router: `#/<route>/<param…>?<query>`, the reference's URL scheme, so its deep links
// keep working. A page is `{ title, init(el, ctx), destroy() }`; `ctx` holds `route`,
// `segments` (the path after the route), `param` (segments joined with "/") and `query`
// (URLSearchParams). Navigation between pages goes through `location.hash`; state changes
// inside a page (filters, selection, sort) go through `setQuery`/`replacePath`, which use
// history.replaceState and do not re-run the router.

const pages = new Map();
const redirects = new Map();
let fallbackPage = null;
let current = null; // { name, page, el }
let outlet = null;
const listeners = new Set();

/** Registers a page under a route name (the first path segment). */
export function register(name, page) {
  pages.set(name, page);
}

/** Registers a redirect from one route to a hash (e.g. "" → "#/home"). */
export function redirect(from, toHash) {
  redirects.set(from, toHash);
}

/** The page shown for routes nobody registered. */
export function setFallback(page) {
  fallbackPage = page;
}

/** Called with the route name after every page change (navigation highlighting). */
export function onRouteChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

/** Parses a hash (`#/packets/abc?x=1`) into `{ route, segments, param, query }`. */
export function parseHash(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const parts = path.split('/').filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  const route = parts.shift() || '';
  return { route, segments: parts, param: parts.join('/'), query };
}

/** The current route state. */
export function currentRoute() {
  return parseHash(location.hash);
}

/** Builds a hash from a path ("packets/abc") and query entries (empty values dropped). */
export function buildHash(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    params.set(k, String(v));
  }
  const qs = params.toString();
  return `#/${path}${qs ? `?${qs}` : ''}`;
}

/** Replaces the URL's hash without navigating (page-internal state). */
export function replaceHash(hash) {
  if (hash === location.hash) return;
  history.replaceState(history.state, '', hash);
}

/** Navigates to another page. */
export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

/** Starts routing into `el`. */
export function start(el) {
  outlet = el;
  window.addEventListener('hashchange', render);
  render();
}

function render() {
  const ctx = currentRoute();
  if (redirects.has(ctx.route)) {
    const to = redirects.get(ctx.route);
    history.replaceState(history.state, '', to);
    return render();
  }
  if (current) {
    try { current.page.destroy?.(); } catch (e) { console.error('page destroy failed', e); }
    current = null;
  }
  const page = pages.get(ctx.route) || fallbackPage;
  const el = document.createElement('div');
  el.className = 'page';
  outlet.replaceChildren(el);
  document.body.classList.toggle('app-fixed', Boolean(page?.fixed));
  current = { name: ctx.route, page, el };
  document.title = `${page?.title || 'Page'} · MeshCore Analyzer`;
  try {
    page.init(el, ctx);
  } catch (e) {
    console.error('page init failed', e);
  }
  for (const fn of listeners) fn(ctx.route);
  // SPA focus management: move focus to the page heading so screen readers announce it.
  const heading = el.querySelector('h1');
  if (heading && document.activeElement !== document.body) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}
