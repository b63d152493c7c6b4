// Home (`#/home`): the front door. A node finder (claim a node as yours), "My Mesh" cards for
// claimed and favourite nodes with their health, and a network overview: totals, nodes by
// status and by role, transmissions per hour over the last 24 h, observers online, and the
// latest packets and adverts, kept current by the live feed (rows are added, moved or updated
// in place; nothing is re-rendered wholesale per packet).
//
// URL state: `#/home?q=<node finder text>`. Browser-local lists (shared with the Nodes page,
// the reference's keys): `meshcore-my-nodes` = [{pubkey, name, addedAt}] (claimed),
// `meshcore-favorites` = [pubkey] (starred).

import { h, replace, stored, store, debounce } from '../dom.js';
import { api, withQuery, listOf } from '../api.js';
import { subscribe } from '../ws.js';
import * as router from '../router.js';
import { typeName, parseJson, summary } from '../packet-format.js';
import { typeBadge, iataBadge, toast } from '../components/ui.js';
import { openSearch, searchIcon } from '../components/search.js';
import { loadUplot } from '../components/charts.js';
import { ago, absolute, toMillis } from '../time.js';

export const MY_NODES_KEY = 'meshcore-my-nodes';
export const FAVORITES_KEY = 'meshcore-favorites';
const ROLES = [['repeater', 'Repeaters'], ['room', 'Rooms'], ['companion', 'Companions'], ['sensor', 'Sensors']];
const ADVERT_ROLES = ['none', 'companion', 'repeater', 'room', 'sensor'];
const HOUR = 3_600_000;
const LIST_ROWS = 10;
const MAX_CARDS = 12;
const DEFAULT_THRESHOLDS = {
  infraDegradedMs: 24 * HOUR, infraSilentMs: 72 * HOUR, nodeDegradedMs: HOUR, nodeSilentMs: 24 * HOUR,
  observerOnlineMs: HOUR, observerStaleMs: 24 * HOUR,
};

// ---- browser-local lists ----

/** Claimed nodes: `[{pubkey, name, addedAt}]` (anything malformed is ignored). */
export function myNodes() {
  const list = stored(MY_NODES_KEY, []);
  return Array.isArray(list) ? list.filter((n) => n && typeof n.pubkey === 'string' && n.pubkey) : [];
}

/** Starred nodes: public keys. */
export function favorites() {
  const list = stored(FAVORITES_KEY, []);
  return Array.isArray(list) ? list.filter((k) => typeof k === 'string' && k) : [];
}

function setClaimed(node, claimed) {
  const list = myNodes().filter((n) => n.pubkey.toLowerCase() !== node.public_key.toLowerCase());
  if (claimed) list.push({ pubkey: node.public_key, name: node.name || '', addedAt: new Date().toISOString() });
  store(MY_NODES_KEY, list);
}

// ---- status vocabulary ----

/** Active / degraded / silent from the last time a node was heard and its role. */
export function nodeStatus(node, t, now = Date.now()) {
  const last = Math.max(toMillis(node?.last_heard) || 0, toMillis(node?.last_seen) || 0,
    toMillis(node?.stats?.lastHeard) || 0);
  if (!last) return 'silent';
  const infra = node?.role === 'repeater' || node?.role === 'room';
  const age = now - last;
  if (age < (infra ? t.infraDegradedMs : t.nodeDegradedMs)) return 'active';
  if (age < (infra ? t.infraSilentMs : t.nodeSilentMs)) return 'degraded';
  return 'silent';
}

function observerStatus(o, t, now = Date.now()) {
  const last = toMillis(o.last_seen);
  if (!Number.isFinite(last)) return 'offline';
  const age = now - last;
  if (age < t.observerOnlineMs + 30_000) return 'online';
  if (age < t.observerStaleMs + 30_000) return 'stale';
  return 'offline';
}

const STATUS_LABEL = { active: 'Active', degraded: 'Degraded', silent: 'Silent', online: 'Online', stale: 'Stale', offline: 'Offline' };
const STATUS_SHAPE = { active: '●', degraded: '▲', silent: '✕', online: '●', stale: '▲', offline: '✕' };

function statusDot(status) {
  return h('span.hm-dot', { class: `st-${status}`, 'aria-hidden': 'true', text: STATUS_SHAPE[status] || '●' });
}

function snrQuality(snr) {
  if (snr === null || snr === undefined || !Number.isFinite(Number(snr))) return null;
  const v = Number(snr);
  if (v >= 5) return ['Excellent', 'q-excellent'];
  if (v >= 0) return ['Good', 'q-good'];
  if (v >= -7) return ['Marginal', 'q-marginal'];
  return ['Poor', 'q-poor'];
}

function roleBadge(role) {
  const r = String(role || 'unknown');
  return h('span.badge.hm-role', { class: `role-${r}`, text: r });
}

function fmt(n) {
  return Number.isFinite(Number(n)) ? Number(n).toLocaleString() : '—';
}

function timeEl(value) {
  return h('time.hm-ago', { datetime: Number.isFinite(toMillis(value)) ? new Date(toMillis(value)).toISOString() : null, title: absolute(value), dataset: { t: String(value ?? '') }, text: ago(value) });
}


// ---- the page ----

export const homePage = {
  title: 'Home',
  init(el, ctx) {
    this.cleanup = homeView(el, ctx);
  },
  destroy() {
    this.cleanup?.();
    this.cleanup = null;
  },
};

function homeView(el, ctx) {
  let thresholds = { ...DEFAULT_THRESHOLDS };
  let heroTitle = 'MeshCore Analyzer';
  const timers = [];
  const unsubs = [];
  let alive = true;
  const fail = (box, what, e) => replace(box, h('p.error-text', { role: 'alert', text: `Could not load ${what}: ${e.message}` }));

  // ---- layout ----
  const title = h('h1.hm-title', { text: 'MeshCore Analyzer' });
  const subtitle = h('p.hm-subtitle.muted');
  const finder = nodeFinder(ctx.query.get('q') || '', () => renderMine());
  const hero = h('section.hm-hero', { 'aria-labelledby': 'hm-title' }, title, subtitle, finder.el);
  title.id = 'hm-title';

  const mineBody = h('div.hm-mine-body');
  const mineSection = h('section.hm-section.hm-mine', { 'aria-labelledby': 'hm-mine-title' },
    h('div.hm-section-head', null, h('h2', { id: 'hm-mine-title', text: 'My nodes' }),
      h('a.hm-more', { href: '#/nodes', text: 'All nodes →' })),
    mineBody);

  const tiles = h('div.hm-tiles', { 'aria-live': 'off' });
  const statusBox = h('div.hm-card-body', { 'aria-busy': 'true' }, h('p.muted', { text: 'Loading…' }));
  const chartBox = h('div.hm-card-body', { 'aria-busy': 'true' }, h('p.muted', { text: 'Loading…' }));
  const observersBox = h('div.hm-card-body', { 'aria-busy': 'true' }, h('p.muted', { text: 'Loading…' }));
  const packetsList = h('ol.hm-feed', { 'aria-label': 'Latest packets' });
  const advertsList = h('ol.hm-feed', { 'aria-label': 'Recently heard nodes' });
  const packetsBox = h('div.hm-card-body', null, packetsList);
  const advertsBox = h('div.hm-card-body', null, advertsList);
  const guide = h('div.hm-guide');
  const footer = h('nav.hm-footer', { 'aria-label': 'More pages' });

  const card = (id, heading, body, link, cls) => h('section.hm-card', { 'aria-labelledby': id, class: cls },
    h('div.hm-section-head', null, h('h2', { id, text: heading }), link || null), body);

  el.classList.add('home-page');
  el.append(
    hero,
    mineSection,
    h('section.hm-section', { 'aria-labelledby': 'hm-net-title' },
      h('div.hm-section-head', null, h('h2', { id: 'hm-net-title', text: 'Network' })),
      tiles,
      h('div.hm-grid', null,
        card('hm-status-title', 'Nodes', statusBox, h('a.hm-more', { href: '#/nodes', text: 'Nodes →' })),
        card('hm-volume-title', 'Transmissions per hour, last 24 h', chartBox, h('a.hm-more', { href: '#/packets?timeWindow=1440', text: 'Packets →' })),
        card('hm-packets-title', 'Latest packets', packetsBox, h('a.hm-more', { href: '#/packets', text: 'All packets →' })),
        card('hm-adverts-title', 'Recently heard nodes', advertsBox, h('a.hm-more', { href: '#/packets?filter=type%20%3D%3D%20ADVERT', text: 'Adverts →' })),
        card('hm-observers-title', 'Observers', observersBox, h('a.hm-more', { href: '#/observers', text: 'Observers →' }), 'hm-wide'))),
    guide,
    footer);

  // ---- config (hero text, thresholds, guide, footer links) ----
  const configReady = Promise.all([
    api('/api/config/client', { ttl: 300_000 }).catch(() => null),
    api('/api/config/theme', { ttl: 300_000 }).catch(() => null),
  ]).then(([client, theme]) => {
    if (client?.healthThresholds) {
      for (const [k, v] of Object.entries(client.healthThresholds)) if (Number(v) > 0) thresholds[k] = Number(v);
    }
    const home = theme?.home || {};
    heroTitle = home.heroTitle || theme?.branding?.siteName || heroTitle;
    subtitle.textContent = home.heroSubtitle || theme?.branding?.tagline || 'Is my node heard, by which observers, and how well?';
    renderGuide(guide, home);
    renderFooter(footer, home.footerLinks);
  });

  // ---- My Mesh ----
  const cards = new Map(); // pubkey → { el, refresh }
  function renderMine() {
    const claimed = myNodes();
    title.textContent = claimed.length ? 'My Mesh' : heroTitle;
    const claimedKeys = new Set(claimed.map((n) => n.pubkey.toLowerCase()));
    const entries = [
      ...claimed.map((n) => ({ pubkey: n.pubkey, name: n.name, kind: 'mine' })),
      ...favorites().filter((k) => !claimedKeys.has(k.toLowerCase())).map((k) => ({ pubkey: k, name: '', kind: 'fav' })),
    ];
    if (!entries.length) {
      cards.clear();
      replace(mineBody, h('div.hm-onboard', null,
        h('p', null, h('strong', { text: 'Follow your own nodes here. ' }),
          'Find your node with the search above and press ', h('em', { text: '+ Claim' }),
          ': its status, the observers that hear it and its signal show up on this page. Nodes you star ★ on the Nodes page appear too.')));
      return;
    }
    const shown = entries.slice(0, MAX_CARDS);
    const keep = new Set(shown.map((e) => `${e.kind}:${e.pubkey}`));
    for (const key of [...cards.keys()]) if (!keep.has(key)) cards.delete(key);
    const grid = h('div.hm-mine-grid');
    for (const entry of shown) {
      const key = `${entry.kind}:${entry.pubkey}`;
      if (!cards.has(key)) cards.set(key, nodeCard(entry, () => thresholds, () => renderMine()));
      grid.appendChild(cards.get(key).el);
    }
    replace(mineBody, grid, entries.length > shown.length
      ? h('p.muted', null, `${entries.length - shown.length} more on the `, h('a', { href: '#/nodes', text: 'Nodes page' }), '.')
      : null);
  }
  const refreshCards = () => { for (const c of cards.values()) c.refresh(); };
  const onStorage = (e) => {
    if (e.key === MY_NODES_KEY || e.key === FAVORITES_KEY) { renderMine(); finder.sync(); }
  };
  window.addEventListener('storage', onStorage);
  configReady.then(() => { if (alive) renderMine(); });

  // ---- totals ----
  async function loadStats() {
    try {
      const s = await api('/api/stats', { ttl: 10_000 });
      if (!alive) return;
      const tile = (key, label, value, href, hint) => h(href ? 'a.hm-tile' : 'div.hm-tile', { href, title: hint },
        h('span.hm-tile-value', { dataset: { count: key }, text: fmt(value) }), h('span.hm-tile-label', { text: label }));
      replace(tiles,
        tile('transmissions', 'Transmissions', s.totalTransmissions, '#/packets', 'Distinct packets stored (one per hash)'),
        tile('observations', 'Observations', s.totalObservations, '#/packets?group=0', 'Receptions of those packets by observers'),
        tile('nodes', 'Nodes (7 days)', s.totalNodes, '#/nodes', `Nodes heard in the last 7 days; ${fmt(s.totalNodesAllTime)} ever`),
        tile('observers', 'Observers', s.totalObservers, '#/observers', 'Stations feeding this analyzer'),
        tile('lastHour', 'Observations, last hour', s.packetsLastHour, '#/packets?timeWindow=60'),
        tile('last24h', 'Observations, last 24 h', s.packetsLast24h, '#/packets?timeWindow=1440'));
    } catch (e) {
      if (alive) fail(tiles, 'the totals', e);
    }
  }

  // ---- nodes by status and role ----
  async function loadStatus() {
    try {
      const [ns] = await Promise.all([api('/api/nodes/network-status', { ttl: 30_000 }), configReady]);
      if (!alive) return;
      const total = Number(ns.total) || 0;
      const parts = ['active', 'degraded', 'silent'].map((k) => [k, Number(ns[k]) || 0]);
      const bar = h('div.hm-bar', { role: 'img', 'aria-label': parts.map(([k, n]) => `${STATUS_LABEL[k]} ${n}`).join(', ') },
        ...parts.filter(([, n]) => n > 0).map(([k, n]) => {
          const seg = h('span.hm-bar-seg', { class: `st-${k}` });
          seg.style.flexGrow = String(n);
          return seg;
        }));
      const t = thresholds;
      const hours = (ms) => (ms % HOUR === 0 ? `${ms / HOUR} h` : `${Math.round(ms / 60_000)} min`);
      const roles = ns.roleCounts || {};
      const known = new Set(ROLES.map(([r]) => r));
      const extra = Object.keys(roles).filter((r) => !known.has(r));
      replace(statusBox,
        h('p.hm-total', null, h('span.hm-big', { dataset: { count: 'total' }, text: fmt(total) }), ' nodes'),
        bar,
        h('ul.hm-legend', null, ...parts.map(([k, n]) => h('li', null,
          h('a.hm-legend-link', { href: `#/nodes?status=${k}`, title: `${STATUS_LABEL[k]} nodes on the Nodes page` }, statusDot(k),
            h('span.hm-legend-label', { text: STATUS_LABEL[k] }),
            h('span.hm-legend-count', { dataset: { count: k }, text: fmt(n) }),
            h('span.muted', { text: total ? ` ${Math.round((n / total) * 100)} %` : '' }))))),
        h('p.hm-note.muted', {
          text: `Active: heard within ${hours(t.nodeDegradedMs)} (repeaters and rooms ${hours(t.infraDegradedMs)}); `
            + `silent after ${hours(t.nodeSilentMs)} (repeaters and rooms ${hours(t.infraSilentMs)}).`,
        }),
        h('h3.hm-sub', { text: 'By role' }),
        h('ul.hm-roles', null, ...[...ROLES, ...extra.map((r) => [r, r])].map(([role, label]) => h('li', null,
          h('a.hm-role-link', { href: `#/nodes?tab=${encodeURIComponent(role)}` },
            h('span.hm-swatch', { class: `role-${role}`, 'aria-hidden': 'true' }), h('span.hm-role-label', { text: label }),
            h('span.hm-role-count', { dataset: { count: `role-${role}` }, text: fmt(roles[role] ?? 0) }))))));
      statusBox.removeAttribute('aria-busy');
    } catch (e) {
      if (alive) { fail(statusBox, 'the node status', e); statusBox.removeAttribute('aria-busy'); }
    }
  }

  // ---- observers ----
  async function loadObservers() {
    try {
      const [body] = await Promise.all([api('/api/observers', { ttl: 30_000 }), configReady]);
      if (!alive) return;
      const list = listOf(body, 'observers');
      const counts = { online: 0, stale: 0, offline: 0 };
      const rows = list.map((o) => ({ o, st: observerStatus(o, thresholds) }));
      for (const r of rows) counts[r.st] += 1;
      rows.sort((a, b) => (Number(b.o.packetsLastHour) || 0) - (Number(a.o.packetsLastHour) || 0)
        || (toMillis(b.o.last_seen) || 0) - (toMillis(a.o.last_seen) || 0));
      const max = Math.max(1, ...rows.map((r) => Number(r.o.packetsLastHour) || 0));
      replace(observersBox,
        h('ul.hm-legend.hm-obs-legend', null, ...Object.entries(counts).map(([k, n]) => h('li', null, statusDot(k),
          h('span.hm-legend-label', { text: STATUS_LABEL[k] }), h('span.hm-legend-count', { dataset: { count: `obs-${k}` }, text: fmt(n) })))),
        rows.length ? h('ol.hm-obs', null, ...rows.slice(0, 8).map(({ o, st }) => {
          const meter = h('span.hm-meter-fill');
          meter.style.width = `${Math.round(((Number(o.packetsLastHour) || 0) / max) * 100)}%`;
          return h('li', null,
            h('a.hm-obs-link', { href: `#/observers/${encodeURIComponent(o.id)}`, title: `${STATUS_LABEL[st]} · last seen ${absolute(o.last_seen)}` },
              statusDot(st), h('span.sr-only', { text: `${STATUS_LABEL[st]}: ` }),
              h('span.hm-obs-name', { text: o.name || o.id }), iataBadge(o.iata)),
            h('span.hm-meter', { 'aria-hidden': 'true' }, meter),
            h('span.hm-obs-rate', { text: `${fmt(o.packetsLastHour ?? 0)}/h` }),
            timeEl(o.last_seen));
        })) : h('p.muted', { text: 'No observer has reported yet.' }),
        rows.length > 8 ? h('p.hm-note', null, h('a', { href: '#/observers', text: `All ${rows.length} observers →` })) : null);
      observersBox.removeAttribute('aria-busy');
    } catch (e) {
      if (alive) { fail(observersBox, 'the observers', e); observersBox.removeAttribute('aria-busy'); }
    }
  }

  // ---- transmissions per hour ----
  const volume = { start: 0, counts: new Array(24).fill(0), boundary: '', chart: null, uPlot: null };
  const chartWrap = h('div.hm-chart', { role: 'img' });
  const chartSummary = h('p.hm-note.muted');
  async function loadVolume() {
    const now = Date.now();
    const start = Math.floor(now / HOUR) * HOUR - 23 * HOUR;
    try {
      const [times, mod] = await Promise.all([
        api(withQuery('/api/packets/timestamps', { since: new Date(start).toISOString() })),
        loadUplot(),
      ]);
      if (!alive) return;
      volume.uPlot = mod;
      volume.start = start;
      volume.counts = new Array(24).fill(0);
      const list = Array.isArray(times) ? times : [];
      for (const t of list) bump(t);
      volume.boundary = list.length ? list[list.length - 1] : new Date(start).toISOString();
      if (!chartWrap.isConnected) replace(chartBox, chartWrap, chartSummary);
      chartBox.removeAttribute('aria-busy');
      drawChart(true);
    } catch (e) {
      if (alive) { fail(chartBox, 'the packet volume', e); chartBox.removeAttribute('aria-busy'); }
    }
  }
  function bump(t) {
    const ms = toMillis(t);
    if (!Number.isFinite(ms)) return false;
    let i = Math.floor((ms - volume.start) / HOUR);
    if (i < 0) return false;
    // The clock moved into a new hour since the load: shift the window.
    while (i > 23) {
      volume.counts.shift();
      volume.counts.push(0);
      volume.start += HOUR;
      i -= 1;
    }
    volume.counts[i] += 1;
    return true;
  }
  function css(name) {
    return getComputedStyle(el).getPropertyValue(name).trim() || '#888';
  }
  function drawChart(rebuild) {
    if (!volume.uPlot || !chartWrap.isConnected) return;
    const xs = volume.counts.map((_, i) => (volume.start + i * HOUR) / 1000);
    const data = [xs, volume.counts.slice()];
    const total = volume.counts.reduce((a, b) => a + b, 0);
    const peak = Math.max(...volume.counts);
    const peakAt = volume.counts.indexOf(peak);
    const hourText = (i) => new Date(volume.start + i * HOUR).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    chartSummary.textContent = total
      ? `${fmt(total)} transmissions in 24 h · busiest hour ${hourText(peakAt)} with ${fmt(peak)} · current hour ${fmt(volume.counts[23])}`
      : 'No transmissions in the last 24 hours.';
    chartWrap.setAttribute('aria-label', `Bar chart of transmissions per hour over the last 24 hours. ${chartSummary.textContent}`);
    if (volume.chart && !rebuild) {
      volume.chart.setData(data);
      return;
    }
    volume.chart?.destroy();
    const width = Math.max(240, chartWrap.clientWidth || 600);
    const U = volume.uPlot;
    const text = css('--muted');
    const grid = css('--border');
    volume.chart = new U({
      width,
      height: 180,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
      axes: [
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '11px system-ui, sans-serif' },
        { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '11px system-ui, sans-serif', size: 44 },
      ],
      series: [
        {},
        { label: 'Transmissions', stroke: css('--accent'), fill: css('--accent'), width: 0, paths: U.paths.bars({ size: [0.8, 40], gap: 1 }), points: { show: false } },
      ],
    }, data, chartWrap);
  }
  const redrawSoon = debounce(() => drawChart(false), 2000);
  const resize = new ResizeObserver(() => {
    if (volume.chart && chartWrap.clientWidth) volume.chart.setSize({ width: chartWrap.clientWidth, height: 180 });
  });
  resize.observe(chartWrap);
  const themeObserver = new MutationObserver(() => drawChart(true));
  themeObserver.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
  const scheme = window.matchMedia('(prefers-color-scheme: dark)');
  const onScheme = () => drawChart(true);
  scheme.addEventListener('change', onScheme);

  // ---- latest packets and recently heard nodes ----
  const packetRows = new Map(); // hash → { li, count, time }
  const advertRows = new Map(); // pubkey → { li }
  function packetItem(p) {
    const payload = parseJson(p.decoded_json) || {};
    const count = h('span.hm-count', { title: 'Observations', text: `×${fmt(p.observation_count ?? p.count ?? 1)}` });
    const time = timeEl(p.latest || p.timestamp || p.first_seen);
    const li = h('li.hm-row', { dataset: { hash: p.hash } },
      h('a.hm-row-link', { href: `#/packets/${encodeURIComponent(p.hash)}` },
        typeBadge(typeName(Number(p.payload_type))),
        h('span.hm-row-text', { text: summary(payload, Number(p.payload_type)) || String(p.hash) }),
        h('span.hm-row-meta', null, h('span.hm-row-obs', { text: p.observer_name || '' }), count, time)));
    return { li, count, time };
  }
  function advertItem(pubkey, name, role, when, observer) {
    const time = timeEl(when);
    const li = h('li.hm-row', { dataset: { pubkey } },
      h('a.hm-row-link', { href: `#/nodes/${encodeURIComponent(pubkey)}` },
        roleBadge(role),
        h('span.hm-row-text', { text: name || `${pubkey.slice(0, 8)}…` }),
        h('span.hm-row-meta', null, h('span.hm-row-obs', { text: observer ? `via ${observer}` : '' }), time)));
    return { li, time };
  }
  function advertFacts(p) {
    const d = parseJson(p.decoded_json) || {};
    const pubkey = typeof d.pubKey === 'string' ? d.pubKey.toLowerCase() : '';
    const role = d.flags ? ADVERT_ROLES[d.flags.type] || 'unknown' : 'unknown';
    return { pubkey, name: typeof d.name === 'string' ? d.name : '', role };
  }
  function trim(list, map, attr) {
    while (list.children.length > LIST_ROWS) {
      const last = list.lastElementChild;
      map.delete(last.dataset[attr]);
      last.remove();
    }
  }
  async function loadFeeds() {
    try {
      const [latest, adverts] = await Promise.all([
        api(withQuery('/api/packets', { groupByHash: 'true', limit: LIST_ROWS })),
        api(withQuery('/api/packets', { groupByHash: 'true', type: 4, limit: LIST_ROWS * 3 })),
      ]);
      if (!alive) return;
      packetRows.clear();
      const items = listOf(latest, 'packets').slice(0, LIST_ROWS).map((p) => {
        const item = packetItem(p);
        packetRows.set(p.hash, item);
        return item.li;
      });
      replace(packetsList, ...items);
      if (!items.length) replace(packetsBox, packetsList, h('p.muted.hm-empty', { text: 'No packets yet. They appear here as observers report them.' }));
      advertRows.clear();
      const rows = [];
      for (const p of listOf(adverts, 'packets')) {
        const f = advertFacts(p);
        if (!f.pubkey || advertRows.has(f.pubkey) || rows.length >= LIST_ROWS) continue;
        const item = advertItem(f.pubkey, f.name, f.role, p.latest || p.first_seen, p.observer_name);
        advertRows.set(f.pubkey, item);
        rows.push(item.li);
      }
      replace(advertsList, ...rows);
      if (!rows.length) replace(advertsBox, advertsList, h('p.muted.hm-empty', { text: 'No adverts yet.' }));
    } catch (e) {
      if (alive) fail(packetsBox, 'the latest packets', e);
    }
  }

  // Live: batch messages and apply them a few times a second.
  let queue = [];
  let flushTimer = 0;
  function flush() {
    flushTimer = 0;
    const batch = queue;
    queue = [];
    let chartDirty = false;
    const now = new Date().toISOString();
    for (const d of batch) {
      if (!d || typeof d.hash !== 'string') continue;
      // Packet volume: a transmission first seen after what the chart already counted.
      const first = d.first_seen || d.timestamp;
      if (first && volume.boundary && toMillis(first) > toMillis(volume.boundary)
        && Number(d.observation_count ?? 1) <= 1) {
        if (bump(first)) chartDirty = true;
      }
    }
    // Only the newest messages can end up in the ten-row lists: a busy mesh does not cost
    // more DOM work than a quiet one.
    for (const d of batch.slice(-LIST_ROWS * 3)) {
      if (!d || typeof d.hash !== 'string') continue;
      // Latest packets: update in place and move to the top, or add a row.
      const existing = packetRows.get(d.hash);
      if (existing) {
        existing.count.textContent = `×${fmt(d.observation_count ?? 1)}`;
        existing.time.dataset.t = now;
        existing.time.textContent = ago(now);
        if (packetsList.firstElementChild !== existing.li) packetsList.prepend(existing.li);
        flash(existing.li);
      } else {
        const item = packetItem({ ...d, latest: now });
        packetRows.set(d.hash, item);
        packetsList.prepend(item.li);
        flash(item.li);
        packetsBox.querySelector('.hm-empty')?.remove();
        trim(packetsList, packetRows, 'hash');
      }
      // Recently heard nodes: adverts.
      if (Number(d.payload_type) === 4) {
        const f = advertFacts(d);
        if (f.pubkey) {
          advertRows.get(f.pubkey)?.li.remove();
          const item = advertItem(f.pubkey, f.name, f.role, now, d.observer_name);
          advertRows.set(f.pubkey, item);
          advertsList.prepend(item.li);
          flash(item.li);
          advertsBox.querySelector('.hm-empty')?.remove();
          trim(advertsList, advertRows, 'pubkey');
        }
      }
    }
    if (chartDirty) redrawSoon();
  }
  function flash(li) {
    li.classList.remove('fresh');
    void li.offsetWidth;
    li.classList.add('fresh');
  }
  const reloadAfterLag = debounce(() => { loadFeeds(); loadVolume(); }, 1000);
  unsubs.push(subscribe((message) => {
    if (message.type === 'lagged') { reloadAfterLag(); return; }
    if (message.type !== 'packet') return;
    queue.push(message.data?.packet ? { ...message.data, ...message.data.packet } : message.data);
    if (queue.length > 500) queue.splice(0, queue.length - 500);
    if (!flushTimer) flushTimer = setTimeout(() => requestAnimationFrame(flush), 300);
  }));

  // Relative times tick in place.
  timers.push(setInterval(() => {
    const now = Date.now();
    el.querySelectorAll('time.hm-ago').forEach((t) => { t.textContent = ago(t.dataset.t, now); });
  }, 15_000));

  // ---- start and periodic refresh ----
  loadStats();
  loadStatus();
  loadObservers();
  loadVolume();
  loadFeeds();
  const every = (ms, fn) => timers.push(setInterval(() => { if (!document.hidden) fn(); }, ms));
  every(15_000, loadStats);
  every(60_000, loadStatus);
  every(30_000, loadObservers);
  every(60_000, refreshCards);
  every(10 * 60_000, loadVolume);

  return () => {
    alive = false;
    unsubs.forEach((u) => u());
    timers.forEach(clearInterval);
    clearTimeout(flushTimer);
    resize.disconnect();
    themeObserver.disconnect();
    scheme.removeEventListener('change', onScheme);
    window.removeEventListener('storage', onStorage);
    finder.destroy();
    volume.chart?.destroy();
  };
}

// ---- the node finder in the hero ----

function nodeFinder(initial, onChange) {
  const input = h('input.hm-search-input', {
    type: 'search', id: 'home-search', value: initial, autocomplete: 'off', spellcheck: 'false',
    placeholder: 'Find a node by name or public key…', 'aria-label': 'Find a node by name or public key',
    'aria-controls': 'home-suggestions', 'aria-describedby': 'home-search-status',
  });
  const list = h('ul.hm-suggestions', { id: 'home-suggestions', 'aria-label': 'Matching nodes', hidden: true });
  const statusEl = h('p.hm-search-status.muted', { id: 'home-search-status', role: 'status', 'aria-live': 'polite' });
  const everything = h('button.button.hm-everything', { type: 'button', title: 'Search nodes, packets, channels and observers (Ctrl+K)' },
    'Search everything ', h('kbd', { text: navigator.platform?.startsWith('Mac') ? '⌘K' : 'Ctrl K' }));
  everything.addEventListener('click', () => openSearch(input.value.trim()));
  const el = h('div.hm-finder', { role: 'search' },
    h('div.hm-search-row', null, searchIcon('hm-search-icon'), input, everything),
    statusEl, list);
  let seq = 0;
  let results = [];

  const claimButton = (n) => {
    const mine = myNodes().some((m) => m.pubkey.toLowerCase() === n.public_key.toLowerCase());
    const b = h('button.button.hm-claim', {
      type: 'button', 'aria-pressed': mine ? 'true' : 'false',
      'aria-label': `${mine ? 'Remove' : 'Claim'} ${n.name || n.public_key.slice(0, 8)} ${mine ? 'from' : 'as'} my node${mine ? 's' : ''}`,
      text: mine ? '✓ Mine' : '+ Claim',
    });
    b.addEventListener('click', () => {
      const now = b.getAttribute('aria-pressed') !== 'true';
      setClaimed(n, now);
      b.setAttribute('aria-pressed', now ? 'true' : 'false');
      b.textContent = now ? '✓ Mine' : '+ Claim';
      b.setAttribute('aria-label', `${now ? 'Remove' : 'Claim'} ${n.name || n.public_key.slice(0, 8)} ${now ? 'from my nodes' : 'as my node'}`);
      toast(now ? `Added ${n.name || 'the node'} to My Mesh` : `Removed ${n.name || 'the node'} from My Mesh`);
      onChange();
    });
    return b;
  };
  const render = () => {
    replace(list, ...results.map((n) => h('li.hm-suggestion', null,
      h('a.hm-suggestion-link', { href: `#/nodes/${encodeURIComponent(n.public_key)}` },
        h('span.hm-suggestion-name', { text: n.name || `${n.public_key.slice(0, 8)}…` }),
        h('span.mono.muted', { text: n.public_key.slice(0, 8) }),
        roleBadge(n.role),
        h('span.muted.hm-suggestion-ago', { title: absolute(n.last_heard || n.last_seen), text: ago(n.last_heard || n.last_seen) })),
      claimButton(n))));
    list.hidden = results.length === 0;
  };
  let dead = false;
  const run = async () => {
    if (dead) return;
    const mine = ++seq;
    const q = input.value.trim();
    router.replaceHash(router.buildHash('home', { q }));
    if (!q) { results = []; render(); statusEl.textContent = ''; return; }
    try {
      const body = await api(withQuery('/api/nodes/search', { q }), { ttl: 5000 });
      if (mine !== seq) return;
      results = listOf(body, 'nodes').filter((n) => typeof n.public_key === 'string');
      render();
      statusEl.textContent = results.length ? `${results.length} node${results.length === 1 ? '' : 's'} found` : `No node matches “${q}”`;
    } catch (e) {
      if (mine !== seq) return;
      results = [];
      render();
      statusEl.textContent = `Search error: ${e.message}`;
    }
  };
  const later = debounce(run, 200);
  input.addEventListener('input', later);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' && !list.hidden) {
      e.preventDefault();
      list.querySelector('a')?.focus();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      run().then(() => { const a = list.querySelector('a'); if (a && results.length === 1) a.click(); });
    } else if (e.key === 'Escape' && input.value) {
      e.preventDefault();
      input.value = '';
      run();
    }
  });
  list.addEventListener('keydown', (e) => {
    const links = [...list.querySelectorAll('a')];
    const i = links.indexOf(document.activeElement);
    if (e.key === 'ArrowDown' && i >= 0) { e.preventDefault(); links[Math.min(links.length - 1, i + 1)].focus(); }
    else if (e.key === 'ArrowUp' && i >= 0) { e.preventDefault(); if (i === 0) input.focus(); else links[i - 1].focus(); }
    else if (e.key === 'Escape') { e.preventDefault(); input.focus(); }
  });
  if (initial) run();
  return { el, sync: render, destroy: () => { dead = true; seq += 1; } };
}

// ---- a My Mesh card ----

function nodeCard(entry, getThresholds, onRemoved) {
  const { pubkey, kind } = entry;
  const statusLine = h('p.hm-node-status', null, h('span.muted', { text: 'Loading…' }));
  const nameLink = h('a.hm-node-name', { href: `#/nodes/${encodeURIComponent(pubkey)}`, text: entry.name || `${pubkey.slice(0, 8)}…` });
  const roleSlot = h('span');
  const metrics = h('dl.hm-metrics');
  const heard = h('p.hm-heard');
  const relay = h('p.hm-relay', { hidden: true });
  const spark = h('div.hm-spark', { role: 'img', 'aria-label': 'Packets per hour, last 24 hours: loading' });
  const remove = h('button.icon-button.hm-remove', {
    type: 'button', text: '✕',
    'aria-label': kind === 'mine' ? `Remove ${entry.name || 'this node'} from My Mesh` : `Unstar ${entry.name || 'this node'}`,
    title: kind === 'mine' ? 'Remove from My Mesh' : 'Remove from favourites',
  });
  remove.addEventListener('click', () => {
    if (kind === 'mine') store(MY_NODES_KEY, myNodes().filter((n) => n.pubkey !== pubkey));
    else store(FAVORITES_KEY, favorites().filter((k) => k !== pubkey));
    onRemoved();
  });
  const el = h('article.hm-node', { dataset: { pubkey }, 'aria-label': entry.name || pubkey.slice(0, 8) },
    h('div.hm-node-head', null, statusLine, remove),
    h('h3.hm-node-title', null, nameLink, ' ',
      h('span.badge.hm-kind', { class: `kind-${kind}`, title: kind === 'mine' ? 'Claimed by you' : 'Starred', text: kind === 'mine' ? 'Mine' : '★' }),
      ' ', roleSlot),
    metrics, relay, heard, spark,
    h('div.hm-node-actions', null,
      h('a.button', { href: `#/nodes/${encodeURIComponent(pubkey)}`, text: 'Full health →' }),
      h('a.button', { href: `#/packets/${encodeURIComponent(pubkey)}`, text: 'View packets →' })));

  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const [health, analytics] = await Promise.all([
        api(`/api/nodes/${encodeURIComponent(pubkey)}/health`, { ttl: 20_000 }),
        api(withQuery(`/api/nodes/${encodeURIComponent(pubkey)}/analytics`, { days: 1 }), { ttl: 120_000 }).catch(() => null),
      ]);
      fill(health, analytics);
    } catch (e) {
      if (e.status === 404) {
        el.classList.add('hm-node-unknown');
        replace(statusLine, statusDot('silent'), h('span', { text: 'Waiting for first advert' }));
        replace(metrics);
        relay.hidden = true;
        heard.textContent = 'The analyzer has not heard this node yet. It appears here once an observer hears its advert.';
        spark.hidden = true;
      } else {
        replace(statusLine, h('span.error-text', { text: `Could not load: ${e.message}` }));
      }
    } finally {
      busy = false;
    }
  }
  function fill(health, analytics) {
    el.classList.remove('hm-node-unknown');
    const node = health.node || {};
    const stats = health.stats || {};
    const st = nodeStatus({ ...node, stats }, getThresholds());
    el.dataset.status = st;
    const last = stats.lastHeard || node.last_heard || node.last_seen;
    replace(statusLine, statusDot(st), h('strong', { class: `st-text-${st}`, text: STATUS_LABEL[st] }), ' · last heard ', timeEl(last));
    if (node.name) {
      nameLink.textContent = node.name;
      el.setAttribute('aria-label', node.name);
      // Keep the stored name current for the next visit.
      if (kind === 'mine') {
        const list = myNodes();
        const mine = list.find((n) => n.pubkey === pubkey);
        if (mine && mine.name !== node.name) { mine.name = node.name; store(MY_NODES_KEY, list); }
      }
    }
    replace(roleSlot, roleBadge(node.role));
    const q = snrQuality(stats.avgSnr);
    const observers = Array.isArray(health.observers) ? health.observers.slice() : [];
    replace(metrics,
      h('div', null, h('dt', { text: 'Packets today' }), h('dd', { text: fmt(stats.packetsToday ?? 0) })),
      h('div', null, h('dt', { text: 'Observers' }), h('dd', { text: fmt(observers.length) })),
      h('div', null, h('dt', { text: 'Avg SNR' }), h('dd', null,
        stats.avgSnr === null || stats.avgSnr === undefined ? '—' : `${Number(stats.avgSnr).toFixed(1)} dB `,
        q ? h('span.hm-quality', { class: q[1], text: q[0] }) : null)),
      h('div', null, h('dt', { text: 'Avg hops' }), h('dd', { text: stats.avgHops === null || stats.avgHops === undefined ? '—' : String(Math.round(Number(stats.avgHops) * 10) / 10) })));
    // Repeaters and rooms: is it relaying, or only alive? ("Is my repeater still repeating?")
    if (node.role === 'repeater' || node.role === 'room') {
      const n24 = Number(node.relay_count_24h) || 0;
      replace(relay, node.last_relayed
        ? [h('span', { class: n24 ? 'st-text-active' : 'muted', text: n24 ? 'Relaying' : 'Alive, idle' }),
          ` · ${fmt(n24)} relayed in 24 h · last `, timeEl(node.last_relayed)]
        : h('span.muted', { text: 'Not seen relaying yet' }));
      relay.hidden = false;
    } else relay.hidden = true;
    observers.sort((a, b) => (Number(b.packetCount) || 0) - (Number(a.packetCount) || 0));
    replace(heard, observers.length ? h('span.muted', { text: 'Heard by: ' }) : h('span.muted', { text: 'Not heard by any observer recently.' }),
      ...observers.slice(0, 4).flatMap((o, i) => [i ? ', ' : '',
        h('a', { href: `#/observers/${encodeURIComponent(o.observer_id)}`, title: `${fmt(o.packetCount)} packets${o.avgSnr !== null && o.avgSnr !== undefined ? `, avg SNR ${Number(o.avgSnr).toFixed(1)} dB` : ''}`, text: o.observer_name || String(o.observer_id).slice(0, 8) })]),
      observers.length > 4 ? h('span.muted', { text: ` +${observers.length - 4} more` }) : null);
    sparkline(spark, analytics);
  }
  refresh();
  return { el, refresh };
}

/** 24 hourly bars from `/api/nodes/{pk}/analytics?days=1` (its activity timeline). */
function sparkline(box, analytics) {
  const timeline = Array.isArray(analytics?.activityTimeline) ? analytics.activityTimeline : null;
  if (!timeline) { box.hidden = true; return; }
  box.hidden = false;
  const end = Math.floor(Date.now() / HOUR) * HOUR;
  const counts = new Array(24).fill(0);
  for (const b of timeline) {
    const i = 23 - Math.round((end - toMillis(b.bucket)) / HOUR);
    if (i >= 0 && i < 24) counts[i] += Number(b.count) || 0;
  }
  const max = Math.max(1, ...counts);
  const total = counts.reduce((a, b) => a + b, 0);
  box.setAttribute('aria-label', `Packets per hour, last 24 hours: ${total} in total, at most ${Math.max(...counts)} in one hour`);
  replace(box, ...counts.map((c, i) => {
    const bar = h('span.hm-spark-bar', { class: c ? '' : 'zero', title: `${new Date(end - (23 - i) * HOUR).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: ${c}` });
    bar.style.height = `${c ? Math.max(8, Math.round((c / max) * 100)) : 4}%`;
    return bar;
  }));
}

// ---- server-configured guide and footer ----

function renderGuide(box, home) {
  const steps = Array.isArray(home.steps) ? home.steps : [];
  const faq = Array.isArray(home.faq) ? home.faq : (Array.isArray(home.checklist) ? home.checklist : []);
  if (!steps.length && !faq.length) { replace(box); return; }
  const text = (v) => (v === null || v === undefined ? '' : String(v));
  replace(box, h('section.hm-section', { 'aria-labelledby': 'hm-guide-title' },
    h('div.hm-section-head', null, h('h2', { id: 'hm-guide-title', text: 'Getting started' })),
    steps.length ? h('ol.hm-steps', null, ...steps.map((s) => h('li', null,
      h('strong', { text: `${text(s.emoji)} ${text(s.title)}`.trim() }), s.description ? h('p', { text: text(s.description) }) : null))) : null,
    ...faq.map((f) => h('details.hm-faq', null, h('summary', { text: text(f.question ?? f.title) }), h('p', { text: text(f.answer ?? f.description) })))));
}

function renderFooter(box, links) {
  const safe = (url) => /^(#\/|https?:\/\/|\/)/.test(String(url || ''));
  const list = Array.isArray(links) && links.length
    ? links.filter((l) => l && l.label && safe(l.url)).map((l) => [String(l.label), String(l.url)])
    : [['Packets', '#/packets'], ['Network map', '#/map'], ['Live', '#/live'], ['All nodes', '#/nodes'], ['Channels', '#/channels']];
  replace(box, ...list.map(([label, url]) => h('a.hm-footer-link', {
    href: url, text: label, ...(url.startsWith('http') ? { rel: 'noopener noreferrer', target: '_blank' } : {}),
  })));
}
