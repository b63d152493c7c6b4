// The map building block: a Leaflet map (vendored, loaded on first use) with the tile layer
// the server configures, node markers coloured by role, observer markers, paths, and labels
// built from DOM nodes (names are mesh data: never markup).
//
// Tiles: `map.tiles` of /api/config/client — `url` (a `{z}/{x}/{y}` template, optional `{s}`,
// `subdomains`, `maxZoom`), `attribution` (plain text), `darkUrl` (a dark variant: no CSS
// dimming then); `lightDefault`/`darkDefault` may also name a built-in provider (`osm`,
// `positron`, `voyager`, `dark_all`) or be a URL template. Default: OpenStreetMap, dimmed by a
// CSS filter in the dark theme. Tiles are only requested from a host the page's
// Content-Security-Policy allows for images (read from the policy header of this origin), so a
// blocked host costs no console noise; when tiles are blocked or fail to load (no network) the
// markers stay on a plain themed background and a small note says "map tiles unavailable".
// Where the view opens without markers: /api/config/map (`center`, `zoom`).
//
//   const m = createMap(el, { markers: [{ lat, lon, role, label, kind, primary }], center, zoom });
//   ...
//   m.destroy();   // on page destroy

import { h } from '../dom.js';
import { api } from '../api.js';
import { onTheme } from '../theme.js';

const LEAFLET = '/vendor/leaflet-1.9.4/leaflet-src.esm.js';
const LEAFLET_CSS = '/vendor/leaflet-1.9.4/leaflet.css';
const OSM = {
  url: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png',
  attribution: '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
  maxZoom: 19,
};
const CARTO_ATTR = `${OSM.attribution} &copy; <a href="https://carto.com/attributions">CARTO</a>`;
const PROVIDERS = {
  osm: OSM,
  openstreetmap: OSM,
  positron: { url: 'https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}{r}.png', attribution: CARTO_ATTR, maxZoom: 20 },
  voyager: { url: 'https://{s}.basemaps.cartocdn.com/rastertiles/voyager/{z}/{x}/{y}{r}.png', attribution: CARTO_ATTR, maxZoom: 20 },
  dark_all: { url: 'https://{s}.basemaps.cartocdn.com/dark_all/{z}/{x}/{y}{r}.png', attribution: CARTO_ATTR, maxZoom: 20, dark: true },
};
PROVIDERS['dark-matter'] = PROVIDERS.dark_all;
PROVIDERS.darkmatter = PROVIDERS.dark_all;

let leaflet = null;
/** Leaflet's module and stylesheet (once; the stylesheet goes before ours so map.css wins). */
export function loadLeaflet() {
  leaflet ??= new Promise((resolve, reject) => {
    let link = document.querySelector(`link[href="${LEAFLET_CSS}"]`);
    const mod = import(LEAFLET);
    if (link) { mod.then(resolve, reject); return; }
    link = h('link', { rel: 'stylesheet', href: LEAFLET_CSS });
    const css = new Promise((done) => { link.onload = done; link.onerror = done; });
    const first = document.head.querySelector('link[rel="stylesheet"]');
    document.head.insertBefore(link, first);
    Promise.all([mod, css]).then(([m]) => resolve(m), reject);
  });
  leaflet.catch(() => { leaflet = null; });
  return leaflet;
}

function escapeText(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function provider(value) {
  if (typeof value !== 'string' || !value) return null;
  if (value.includes('{z}')) return { url: value };
  return PROVIDERS[value.toLowerCase()] || null;
}

/** `{ light, dark }` tile layers (`dark.dark`: already dark, no dimming) from the server config. */
async function tileConfig() {
  const client = await api('/api/config/client', { ttl: 300_000 }).catch(() => null);
  const tiles = client?.map?.tiles && typeof client.map.tiles === 'object' ? client.map.tiles : {};
  const attribution = typeof tiles.attribution === 'string' && tiles.attribution ? escapeText(tiles.attribution) : null;
  const base = (p) => p && {
    maxZoom: p.maxZoom || 19,
    subdomains: 'abcd',
    ...p,
    ...(Number.isFinite(tiles.maxZoom) ? { maxZoom: tiles.maxZoom } : {}),
    ...(tiles.subdomains ? { subdomains: tiles.subdomains } : {}),
    attribution: attribution || p.attribution || '',
  };
  const light = base(provider(tiles.url) || provider(tiles.lightDefault)) || base(OSM);
  const darkChoice = provider(tiles.darkUrl) || provider(tiles.darkDefault);
  // A dark URL template is taken as dark; a named provider says whether it is.
  const dark = darkChoice ? { ...base(darkChoice), dark: darkChoice.dark ?? !PROVIDERS[String(tiles.darkUrl || tiles.darkDefault).toLowerCase()] } : light;
  return { light, dark };
}

// ---- Content-Security-Policy: may images come from this tile host? ----
let imgSources = null;
function policySources() {
  imgSources ??= fetch('/', { method: 'HEAD', cache: 'no-store' }).then((r) => {
    const csp = r.headers.get('content-security-policy');
    if (!csp) return null; // no policy: everything allowed
    const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([k, ...v]) => [k.toLowerCase(), v]));
    return directives['img-src'] || directives['default-src'] || null;
  }).catch(() => null);
  return imgSources;
}

/** Whether a CSP source list allows an image from `origin` (`https://host`). */
export function allowsOrigin(sources, origin) {
  if (!sources) return true;
  const url = new URL(origin);
  return sources.some((raw) => {
    const s = raw.replace(/^'|'$/g, '').toLowerCase();
    if (s === '*') return url.protocol !== 'data:';
    if (s === 'self') return url.origin === location.origin;
    if (/^[a-z][a-z0-9+.-]*:$/.test(s)) return url.protocol === s;
    const m = /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\*\.)?([^/:]+)(?::(\d+|\*))?/.exec(s);
    if (!m) return false;
    const [, scheme, wild, host, port] = m;
    if (scheme && `${scheme}:` !== url.protocol) return false;
    if (!scheme && url.protocol !== 'https:' && url.protocol !== location.protocol) return false;
    const hostOk = wild ? url.hostname.endsWith(`.${host}`) : url.hostname === host;
    const portOk = !port || port === '*' || port === (url.port || (url.protocol === 'https:' ? '443' : '80'));
    return hostOk && portOk;
  });
}

/** The origins a tile URL template can reach (`{s}` expanded). */
function tileOrigins(layer) {
  const subs = Array.isArray(layer.subdomains) ? layer.subdomains : String(layer.subdomains || '').split('');
  const urls = layer.url.includes('{s}') ? subs.map((s) => layer.url.replace('{s}', s)) : [layer.url];
  return urls.map((u) => {
    try { return new URL(u.replace(/\{[^}]*\}/g, '0'), location.href).origin; } catch { return null; }
  });
}

// ---- role colours: the Nodes page's badge colours, read from its stylesheet ----
const roleColours = new Map();
export function roleColour(role) {
  const key = ['repeater', 'companion', 'room', 'sensor'].includes(role) ? role : 'unknown';
  if (!roleColours.has(key)) {
    const probe = h('span.badge.role-badge.map-probe', { class: `role-${key}`, 'aria-hidden': 'true' });
    document.body.appendChild(probe);
    const c = getComputedStyle(probe).backgroundColor;
    probe.remove();
    const usable = c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent';
    if (usable) roleColours.set(key, c);
    return usable ? c : '#6b7280';
  }
  return roleColours.get(key);
}

const maps = new WeakMap();
/** The Leaflet map inside `el` (tests and callers that need the raw map). */
export function mapOf(el) {
  return maps.get(el) || null;
}

/**
 * Creates a map in `el`. Options: `markers` [{lat, lon, role, label, kind: 'node'|'observer',
 * primary, href}], `paths` [[[lat, lon], …]], `center` [lat, lon], `zoom`, `symmetric`
 * (keep `center` in the middle while fitting the markers), `maxZoom` for fitting, `label`
 * (accessible name of the map). Returns `{ ready: Promise<map>, destroy() }`.
 */
export function createMap(el, opts = {}) {
  let alive = true;
  let map = null;
  let layer = null;
  let loads = 0;
  let errors = 0;
  const cleanups = [];
  el.classList.add('mc-map');
  el.setAttribute('role', 'region');
  el.setAttribute('aria-label', opts.label || 'Map');
  const note = h('p.map-note', { role: 'status', hidden: true, text: 'map tiles unavailable' });

  const showNote = (why) => {
    note.hidden = false;
    if (why) note.title = why;
  };

  const ready = (async () => {
    const [L, tiles, view] = await Promise.all([
      loadLeaflet(),
      tileConfig(),
      opts.center ? null : api('/api/config/map', { ttl: 300_000 }).catch(() => null),
    ]);
    if (!alive) return null;
    const center = opts.center || view?.center || [37.45, -122.0];
    const zoom = opts.zoom ?? view?.zoom ?? 9;
    map = L.map(el, {
      center, zoom,
      scrollWheelZoom: false, // a page that scrolls past a small map must not zoom it
      dragging: !L.Browser.mobile || opts.dragOnTouch,
      zoomControl: true,
      attributionControl: true,
    });
    map.attributionControl.setPrefix('<a href="https://leafletjs.com">Leaflet</a>');
    L.control.scale({ imperial: false, maxWidth: 90 }).addTo(map);
    // The page's own node above the observers' markers (panes are z-ordered; CSSOM style).
    map.createPane('mcPrimary').style.zIndex = '620';
    maps.set(el, map);
    el.appendChild(note);

    const sources = await policySources();
    if (!alive) return null;
    const setTiles = (theme) => {
      const want = theme === 'dark' ? tiles.dark : tiles.light;
      el.classList.toggle('map-tiles-dim', theme === 'dark' && !want.dark);
      el.classList.toggle('map-dark', theme === 'dark');
      if (layer?.options.mcUrl === want.url) return;
      if (layer) { layer.remove(); layer = null; }
      loads = 0; errors = 0;
      const blocked = tileOrigins(want).filter((o) => !o || !allowsOrigin(sources, o));
      if (blocked.length) {
        showNote(`Tiles from ${blocked[0] || want.url} are not allowed by this server's Content-Security-Policy (img-src).`);
        return;
      }
      note.hidden = true;
      layer = L.tileLayer(want.url, {
        attribution: want.attribution, maxZoom: want.maxZoom, subdomains: want.subdomains, mcUrl: want.url,
        crossOrigin: false,
      });
      layer.on('tileload', () => { loads += 1; note.hidden = true; });
      layer.on('tileerror', () => { errors += 1; if (!loads) showNote('The tile server could not be reached.'); });
      layer.addTo(map);
    };
    cleanups.push(onTheme(setTiles));

    const points = [];
    for (const m of opts.markers || []) {
      if (!Number.isFinite(m.lat) || !Number.isFinite(m.lon)) continue;
      points.push([m.lat, m.lon]);
      addMarker(L, map, m);
    }
    for (const p of opts.paths || []) {
      const latlngs = p.filter((q) => Number.isFinite(q?.[0]) && Number.isFinite(q?.[1]));
      if (latlngs.length > 1) L.polyline(latlngs, { className: 'map-path', weight: 2, opacity: 0.8 }).addTo(map);
    }
    if (points.length > 1) {
      let fit = points;
      if (opts.symmetric && opts.center) {
        const [cy, cx] = opts.center;
        fit = points.flatMap(([y, x]) => [[y, x], [2 * cy - y, 2 * cx - x]]);
      }
      map.fitBounds(fit, { padding: [24, 24], maxZoom: opts.maxZoom ?? 13, animate: false });
    }
    const ro = new ResizeObserver(() => map?.invalidateSize({ animate: false })); // keeps the centre
    ro.observe(el);
    cleanups.push(() => ro.disconnect());
    return map;
  })();
  ready.catch((e) => {
    if (!alive) return;
    el.appendChild(h('p.map-note.error-text', { role: 'alert', text: `The map could not be loaded: ${e.message}` }));
  });

  return {
    ready,
    destroy() {
      alive = false;
      cleanups.forEach((f) => f());
      cleanups.length = 0;
      if (map) { map.remove(); map = null; }
      maps.delete(el);
    },
  };
}

/** A node (circle in its role colour) or observer (diamond) marker with a text label. */
function addMarker(L, map, m) {
  const label = m.label ? h('span.map-label', { text: String(m.label) }) : null;
  let marker;
  if (m.kind === 'observer') {
    marker = L.marker([m.lat, m.lon], {
      icon: L.divIcon({ className: 'map-observer-icon', html: h('span.map-observer-shape'), iconSize: [14, 14], iconAnchor: [7, 7] }),
      keyboard: true,
    });
  } else {
    const colour = roleColour(m.role);
    marker = L.circleMarker([m.lat, m.lon], {
      radius: m.primary ? 9 : 6,
      color: '#ffffff', // the primary node's ring follows the theme in map.css
      weight: 2,
      fillColor: colour,
      fillOpacity: 0.95,
      className: `map-node role-${m.role || 'unknown'}${m.primary ? ' map-node-primary' : ''}`,
      ...(m.primary ? { pane: 'mcPrimary' } : {}),
    });
  }
  if (label) {
    marker.bindTooltip(label, {
      permanent: Boolean(m.primary), direction: 'top', offset: [0, m.primary ? -10 : -7], className: 'map-tooltip',
    });
  }
  if (m.href) marker.on('click', () => { location.hash = m.href; });
  marker.addTo(map);
  const icon = m.kind === 'observer' ? marker.getElement() : null;
  if (icon) {
    // Focusable (Leaflet's keyboard option): name it, and Enter opens the observer.
    icon.setAttribute('role', m.href ? 'link' : 'img');
    icon.setAttribute('aria-label', `Observer ${m.label || ''}`.trim());
    if (m.href) icon.addEventListener('keydown', (e) => { if (e.key === 'Enter') location.hash = m.href; });
  }
  return marker;
}

/**
 * The node page's mini-map: the node (centred, name in a permanent label) and the observers
 * that heard it whose position is known (an observer's position is that of the node with the
 * same key, from /api/observers). `heardBy` is `observers` of /api/nodes/{pk}/health.
 * Returns `{ el, destroy }`; `null` for a node without a position.
 */
export function nodeMiniMap(node, heardBy) {
  if (!Number.isFinite(node?.lat) || !Number.isFinite(node?.lon) || (node.lat === 0 && node.lon === 0)) return null;
  const box = h('div.map-box');
  const legend = h('p.map-legend');
  const el = h('div.node-minimap', null, box, legend);
  let handle = null;
  let alive = true;
  const primary = { lat: node.lat, lon: node.lon, role: node.role, label: node.name || `${String(node.public_key).slice(0, 8)}…`, primary: true };
  const dot = h('span.dot', { 'aria-hidden': 'true' });
  dot.style.background = roleColour(node.role);
  const heardIds = new Set((heardBy || []).map((o) => String(o.observer_id || o.id || '').toUpperCase()).filter(Boolean));
  const start = (observers) => {
    if (!alive) return;
    const located = observers.filter((o) => heardIds.has(String(o.id).toUpperCase())
      && String(o.id).toUpperCase() !== String(node.public_key).toUpperCase()
      && Number.isFinite(o.lat) && Number.isFinite(o.lon) && !(o.lat === 0 && o.lon === 0));
    const markers = [primary, ...located.map((o) => ({
      lat: o.lat, lon: o.lon, kind: 'observer', label: o.name || String(o.id).slice(0, 8), href: `#/observers/${encodeURIComponent(o.id)}`,
    }))];
    handle = createMap(box, {
      markers, center: [node.lat, node.lon], zoom: 12, symmetric: true, maxZoom: 13,
      label: `Map of ${primary.label}${located.length ? ` and ${located.length} observer${located.length === 1 ? '' : 's'} that heard it` : ''}`,
    });
    legend.append(h('span.key', null, dot, 'this node'));
    if (located.length) {
      legend.append(h('span.key', null, h('span.diamond', { 'aria-hidden': 'true' }),
        `${located.length} observer${located.length === 1 ? '' : 's'} that heard it (of ${heardIds.size})`));
    }
  };
  if (heardIds.size) {
    api('/api/observers', { ttl: 60_000 })
      .then((b) => start(Array.isArray(b) ? b : (Array.isArray(b?.observers) ? b.observers : [])))
      .catch(() => start([]));
  } else start([]);
  return { el, destroy() { alive = false; handle?.destroy(); } };
}

/**
 * The observer page's mini-map: the observer's position (known when a node with its key
 * advertises one: `lat`/`lon` of its /api/observers entry). `null` without a position.
 */
export function observerMiniMap(entry, name) {
  if (!entry || !Number.isFinite(entry.lat) || !Number.isFinite(entry.lon) || (entry.lat === 0 && entry.lon === 0)) return null;
  const box = h('div.map-box');
  const el = h('section.od-minimap', { 'aria-labelledby': 'od-map-h' }, h('h2', { id: 'od-map-h', text: 'Position' }), box,
    h('p.map-legend', null, h('span.mono', { text: `${entry.lat.toFixed(5)}, ${entry.lon.toFixed(5)}` }), ' · ',
      h('span', { text: 'from the adverts of the node with the same key' })));
  const label = name || String(entry.id).slice(0, 8);
  const handle = createMap(box, {
    markers: [{ lat: entry.lat, lon: entry.lon, role: entry.nodeRole, label, primary: true }],
    center: [entry.lat, entry.lon], zoom: 12, label: `Map of ${label}`,
  });
  return { el, destroy() { handle.destroy(); } };
}
