// Observers (`#/observers`): the receiving stations that feed the analyzer — status
// (online / stale / offline by the last time each was heard), region, packet counts and the
// metadata their status messages carry; the MQTT sources the server reads; and, under
// `#/observers/<id>`, one observer's detail (observer-detail.js).
//
// URL state (all optional): `#/observers?sort=<col>[:asc]&region=<IATA>[,<IATA>…]
// &status=online,stale,offline&q=<text>`. Visible columns are a preference (localStorage).
// Live: every packet on the socket refreshes its observer's "last seen"; the list is
// re-read every 30 s, the MQTT sources every 10 s.

import { h, replace, stored, store, debounce } from '../dom.js';
import { api, listOf } from '../api.js';
import { subscribe } from '../ws.js';
import * as router from '../router.js';
import { ago, absolute, toMillis } from '../time.js';
import { DataTable } from '../components/table.js';
import { iataBadge } from '../components/ui.js';
import { observerDetail } from './observer-detail.js';

const REFRESH_MS = 30_000;
const TICK_MS = 10_000;
const MQTT_MS = 10_000;
const COLS_KEY = 'observers-visible-cols';
/** Status within this much past a threshold still counts as the better state (clock jitter). */
const TOLERANCE_MS = 30_000;
/** "Alive but not forwarding": last status this much newer than the last packet. */
const NOT_FORWARDING_MS = 10 * 60_000;
const DEFAULT_THRESHOLDS = { online: 3_600_000, stale: 86_400_000 };

export const STATUS = {
  online: { icon: '●', label: 'Online', rank: 0 },
  stale: { icon: '▲', label: 'Stale', rank: 1 },
  offline: { icon: '✕', label: 'Offline', rank: 2 },
};

/** The server's observer thresholds (`/api/config/client` healthThresholds), in ms. */
export async function observerThresholds() {
  try {
    const c = await api('/api/config/client', { ttl: 300_000 });
    const t = c?.healthThresholds || {};
    return {
      online: Number(t.observerOnlineMs) > 0 ? Number(t.observerOnlineMs) : DEFAULT_THRESHOLDS.online,
      stale: Number(t.observerStaleMs) > 0 ? Number(t.observerStaleMs) : DEFAULT_THRESHOLDS.stale,
    };
  } catch {
    return DEFAULT_THRESHOLDS;
  }
}

/** When the observer was last heard (status message or packet), ms; NaN if never. */
export function lastHeard(o) {
  const times = [toMillis(o.last_seen), toMillis(o.last_packet_at)].filter(Number.isFinite);
  return times.length ? Math.max(...times) : NaN;
}

/** 'online' | 'stale' | 'offline'. */
export function statusOf(o, thresholds, now = Date.now()) {
  const ms = lastHeard(o);
  if (!Number.isFinite(ms)) return 'offline';
  const age = now - ms - TOLERANCE_MS;
  if (age < thresholds.online) return 'online';
  if (age < thresholds.stale) return 'stale';
  return 'offline';
}

function duration(ms) {
  const m = Math.round(ms / 60_000);
  if (m < 60) return `${m} min`;
  const hours = Math.round(m / 60);
  return hours < 48 ? `${hours} h` : `${Math.round(hours / 24)} days`;
}

/** The status as shape + colour + word, with the rule in the tooltip. */
export function statusBadge(status, thresholds, compact = false) {
  const s = STATUS[status] || STATUS.offline;
  const rule = status === 'online' ? `heard within ${duration(thresholds.online)}`
    : status === 'stale' ? `last heard ${duration(thresholds.online)} – ${duration(thresholds.stale)} ago`
      : `not heard for ${duration(thresholds.stale)}`;
  return h('span.obs-status', { class: `st-${status}${compact ? ' compact' : ''}`, title: `${s.label}: ${rule}` },
    h('span.st-icon', { 'aria-hidden': 'true', text: s.icon }), h('span.st-label', { text: s.label }));
}

/** "24d 3h", "5h 12m", "12m". */
export function formatUptime(secs) {
  if (secs === null || secs === undefined || secs === '') return '—';
  const s = Number(secs);
  if (!Number.isFinite(s) || s < 0) return '—';
  const d = Math.floor(s / 86400);
  const hrs = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${hrs}h`;
  if (hrs) return `${hrs}h ${m}m`;
  return `${m}m`;
}

/** "910.525 MHz · SF11 · BW250 · CR5" from "freq,bw,sf,cr"; the raw text otherwise. */
export function formatRadio(radio) {
  if (radio === null || radio === undefined || radio === '') return '—';
  const parts = String(radio).split(',').map((x) => x.trim());
  if (parts.length === 4 && parts.every((x) => x !== '' && Number.isFinite(Number(x)))) {
    const [freq, bw, sf, cr] = parts;
    return `${freq} MHz · SF${sf} · BW${bw} · CR${cr}`;
  }
  return String(radio);
}

/** Firmware without its "Build: …" suffix (the full text goes in a tooltip). */
export function shortFirmware(fw) {
  if (fw === null || fw === undefined || fw === '') return '';
  return String(fw).replace(/\s*[([]?\s*Build:.*$/i, '').trim() || String(fw);
}

export function num(v, unit = '', digits = null) {
  if (v === null || v === undefined || v === '' || !Number.isFinite(Number(v))) return '—';
  const n = Number(v);
  return `${digits === null ? n.toLocaleString() : n.toFixed(digits)}${unit}`;
}

/** Clock offset text and severity (the node clock-skew classes: ≥5 min warning, ≥1 h critical). */
export function skewInfo(o) {
  const s = Number(o.clock_skew_seconds);
  if (o.clock_skew_seconds === null || o.clock_skew_seconds === undefined || !Number.isFinite(s)) return null;
  const a = Math.abs(s);
  const text = a < 90 ? `${s > 0 ? '+' : s < 0 ? '−' : ''}${a.toFixed(0)} s`
    : a < 5400 ? `${s > 0 ? '+' : '−'}${(a / 60).toFixed(0)} min`
      : a < 172_800 ? `${s > 0 ? '+' : '−'}${(a / 3600).toFixed(1)} h`
        : `${s > 0 ? '+' : '−'}${(a / 86400).toFixed(0)} d`;
  return { text, level: a >= 3600 ? 'bad' : a >= 300 ? 'warn' : 'ok' };
}

/** The naive-clock chip: the observer sends zone-less times that were >15 min off. */
export function naiveChip(o) {
  if (!o.clock_naive) return null;
  const skew = skewInfo(o);
  return h('span.badge.naive-chip', {
    title: `This observer's clock sends times without a time zone that were more than 15 min off${skew ? ` (last offset ${skew.text})` : ''}; `
      + `${o.clock_skew_count_24h ? `${o.clock_skew_count_24h} time(s) in 24 h; ` : ''}the arrival time was used instead.`,
    text: '⚠ clock',
  });
}

/** "relay" / "listener" from `can_relay`, else the node role when the observer is also a node. */
export function roleBadge(o) {
  if (o.can_relay === true) return h('span.badge.role-chip', { title: 'This observer also relays packets', text: 'relay' });
  if (o.can_relay === false) return h('span.badge.role-chip', { title: 'This observer only listens', text: 'listener' });
  if (o.nodeRole) return h('span.badge.role-chip', { title: 'Role of the node with this key', text: String(o.nodeRole) });
  return null;
}

/** "ok" / "not forwarding" / "never" from the last status and the last packet. */
export function packetHealth(o) {
  const packet = toMillis(o.last_packet_at);
  const seen = toMillis(o.last_seen);
  if (!Number.isFinite(packet)) return { level: 'bad', text: 'never', title: 'No packet from this observer yet' };
  if (Number.isFinite(seen) && seen - packet > NOT_FORWARDING_MS) {
    return { level: 'warn', text: '⚠ not forwarding', title: `Alive (status ${ago(seen)}) but no packet since ${ago(packet)}` };
  }
  return { level: 'ok', text: 'ok', title: `Last packet ${ago(packet)}` };
}

function parseSort(value, columns) {
  const [key, dir] = String(value || '').split(':');
  if (key && columns.some((c) => c.key === key && c.sortable)) return { key, dir: dir === 'asc' ? 'asc' : 'desc' };
  return { key: 'status', dir: 'asc' };
}

/** The Observers page (list, or one observer's detail under `#/observers/<id>`). */
export const observersPage = {
  title: 'Observers',
  init(el, ctx) {
    this.cleanup = ctx.segments[0] ? observerDetail(el, ctx) : observersList(el, ctx);
  },
  destroy() {
    this.cleanup?.();
    this.cleanup = null;
  },
};

function observersList(el, ctx) {
  const q = ctx.query;
  const phone = window.matchMedia('(max-width: 640px)').matches;
  const state = {
    region: new Set((q.get('region') || '').split(',').map((r) => r.trim().toUpperCase()).filter(Boolean)),
    status: new Set((q.get('status') || '').split(',').filter((s) => STATUS[s])),
    q: q.get('q') || '',
    sort: null,
  };
  let thresholds = DEFAULT_THRESHOLDS;
  let observers = []; // API objects
  let byId = new Map();
  let updatedAt = 0;
  let maxRate = 1;
  let loadSeq = 0;
  let regions = [];
  const unsubs = [];
  const timers = [];

  // ---- columns ----
  const text = (v) => (v === null || v === undefined || v === '' ? '—' : String(v));
  const numOrNull = (v) => (v === null || v === undefined || v === '' || !Number.isFinite(Number(v)) ? null : Number(v));
  const columns = [
    { key: 'status', label: 'Status', width: phone ? 62 : 96, sortable: true, defaultDir: 'asc',
      sortValue: (o) => STATUS[o._status].rank * 1e15 - (Number.isFinite(lastHeard(o)) ? lastHeard(o) : 0) / 1e3,
      render: (o) => statusBadge(o._status, thresholds, true) },
    { key: 'name', label: 'Name', width: phone ? 156 : 250, sortable: true, defaultDir: 'asc',
      sortValue: (o) => String(o.name || o.id).toLowerCase(),
      render: (o) => h('span.name-cell', null,
        h('a.obs-link.ellipsis', { href: `#/observers/${encodeURIComponent(o.id)}`, title: o.id, text: o.name || `${o.id.slice(0, 12)}…` }),
        naiveChip(o), roleBadge(o)) },
    { key: 'region', label: 'Region', width: 74, sortable: true, defaultDir: 'asc', sortValue: (o) => (o.iata ? String(o.iata) : null), render: (o) => iataBadge(o.iata) },
    { key: 'seen', label: 'Last seen', width: phone ? 80 : 96, sortable: true, title: 'Last status message or packet',
      sortValue: (o) => lastHeard(o), render: (o) => h('span', { title: absolute(lastHeard(o)), text: ago(lastHeard(o)) }) },
    { key: 'packet', label: 'Last packet', width: 100, sortable: true, sortValue: (o) => toMillis(o.last_packet_at),
      render: (o) => h('span', { title: absolute(o.last_packet_at), text: ago(o.last_packet_at) }) },
    { key: 'health', label: 'Packet health', width: 130, sortable: true, defaultDir: 'asc',
      title: 'Warns when the observer reports status but has sent no packet for 10 min',
      sortValue: (o) => ({ bad: 0, warn: 1, ok: 2 })[packetHealth(o).level],
      render: (o) => { const p = packetHealth(o); return h('span.health', { class: `lvl-${p.level}`, title: p.title, text: p.text }); } },
    { key: 'packets', label: 'Packets', width: 86, sortable: true, className: 'num', title: 'Total packets received',
      sortValue: (o) => Number(o.packet_count) || 0, render: (o) => num(o.packet_count) },
    { key: 'rate', label: 'Pkts/h', width: phone ? 68 : 120, sortable: true, title: 'Packets in the last hour',
      sortValue: (o) => Number(o.packetsLastHour) || 0, render: (o) => rateBar(o) },
    { key: 'uptime', label: 'Uptime', width: 86, sortable: true, sortValue: (o) => numOrNull(o.uptime_secs), render: (o) => formatUptime(o.uptime_secs) },
    { key: 'battery', label: 'Battery', width: 84, sortable: true, className: 'num', sortValue: (o) => numOrNull(o.battery_mv), render: (o) => num(o.battery_mv, ' mV') },
    { key: 'noise', label: 'Noise floor', width: 96, sortable: true, className: 'num', sortValue: (o) => numOrNull(o.noise_floor), render: (o) => num(o.noise_floor, ' dBm') },
    { key: 'clock', label: 'Clock offset', width: 100, sortable: true, title: 'Offset of the observer\'s clock when it sent zone-less times',
      sortValue: (o) => (numOrNull(o.clock_skew_seconds) === null ? null : Math.abs(Number(o.clock_skew_seconds))),
      render: (o) => { const s = skewInfo(o); return s ? h('span.badge.skew', { class: `lvl-${s.level}`, text: s.text }) : '—'; } },
    { key: 'model', label: 'Model', width: 120, sortable: true, defaultDir: 'asc', sortValue: (o) => (o.model ? String(o.model).toLowerCase() : null), render: (o) => text(o.model) },
    { key: 'firmware', label: 'Firmware', width: 130, sortable: true, defaultDir: 'asc', sortValue: (o) => (o.firmware ? String(o.firmware) : null),
      render: (o) => (o.firmware ? h('span', { title: String(o.firmware), text: shortFirmware(o.firmware) }) : '—') },
    { key: 'client', label: 'Client', width: 170, sortable: true, defaultDir: 'asc', sortValue: (o) => (o.client_version ? String(o.client_version) : null), render: (o) => text(o.client_version) },
    { key: 'radio', label: 'Radio', width: 210, sortable: true, defaultDir: 'asc', sortValue: (o) => (o.radio ? String(o.radio) : null), render: (o) => formatRadio(o.radio) },
    { key: 'first', label: 'First seen', width: 100, sortable: true, sortValue: (o) => toMillis(o.first_seen),
      render: (o) => h('span', { title: absolute(o.first_seen), text: ago(o.first_seen) }) },
  ];
  const defaultHidden = phone
    ? ['region', 'packet', 'health', 'packets', 'uptime', 'battery', 'noise', 'clock', 'model', 'firmware', 'client', 'radio', 'first']
    : ['client', 'radio', 'first', 'clock'];
  const hiddenCols = new Set(stored(COLS_KEY, null) ?? defaultHidden);
  state.sort = parseSort(q.get('sort'), columns);

  function rateBar(o) {
    const n = Number(o.packetsLastHour) || 0;
    const bar = h('span.rate-bar', { 'aria-hidden': 'true' });
    bar.style.setProperty('--w', `${Math.round((n / maxRate) * 100)}%`);
    return h('span.rate-cell', null, bar, h('span.rate-num', { text: n.toLocaleString() }));
  }

  // ---- layout ----
  const countEl = h('span.count', { 'aria-live': 'polite' });
  const updatedBtn = h('button.button.updated-pill', { type: 'button', title: 'Refresh now' });
  const summary = h('div.obs-summary', { role: 'group', 'aria-label': 'Filter by status' });
  const search = h('input', { type: 'search', value: state.q, placeholder: 'Find observer', 'aria-label': 'Find observer by name or id' });
  const regionBox = h('div.region-filter', { role: 'group', 'aria-label': 'Region', hidden: true });
  const columnsMenu = h('details.popover.menu', null, h('summary.button', { text: 'Columns ▾' }),
    h('div.menu-body', { role: 'group', 'aria-label': 'Visible columns' }));
  const mqttBody = h('div.mqtt-body', null, h('p.muted', { text: 'Loading…' }));
  const mqttSummary = h('summary', null, h('span', { text: 'MQTT sources' }), h('span.muted.mqtt-count'));
  const mqtt = h('details.mqtt-panel', { open: !phone }, mqttSummary, mqttBody);
  const listStatus = h('div.list-status', { role: 'status' });
  const table = new DataTable({
    label: 'Observers',
    rowHeight: phone ? 44 : 36,
    widthsKey: 'meshcore-obs-col-widths',
    rowKey: (o) => o.id,
    rowClass: (o) => `st-row-${o._status}${o._fresh ? ' fresh' : ''}`,
    onActivate: (o) => router.navigate(`#/observers/${encodeURIComponent(o.id)}`),
    onSort: (sort) => { state.sort = sort; writeUrl(); render(); },
    emptyText: 'No observers',
    columns,
  });
  table.setSort(state.sort);
  table.setHidden([...hiddenCols]);

  el.classList.add('observers-page');
  el.append(
    h('div.page-head', null, h('h1', { text: 'Observers' }), countEl, h('div.head-actions', null, updatedBtn)),
    mqtt,
    h('div.obs-controls', null, summary, h('div.obs-filters', null, search, regionBox, columnsMenu)),
    listStatus,
    table.el);

  // ---- behaviour ----
  function writeUrl() {
    const sort = state.sort.key === 'status' && state.sort.dir === 'asc' ? '' : `${state.sort.key}${state.sort.dir === 'asc' ? ':asc' : ''}`;
    router.replaceHash(router.buildHash('observers', {
      sort,
      region: [...state.region].sort().join(','),
      status: ['online', 'stale', 'offline'].filter((s) => state.status.has(s)).join(','),
      q: state.q,
    }));
  }

  function buildColumnsMenu() {
    const body = columnsMenu.querySelector('.menu-body');
    replace(body, ...columns.filter((c) => c.key !== 'name').map((c) => {
      const box = h('input', { type: 'checkbox', checked: !hiddenCols.has(c.key), value: c.key });
      box.addEventListener('change', () => {
        if (box.checked) hiddenCols.delete(c.key); else hiddenCols.add(c.key);
        store(COLS_KEY, [...hiddenCols]);
        table.setHidden([...hiddenCols]);
      });
      return h('label.check', null, box, c.label);
    }));
  }

  function buildRegions() {
    if (regions.length < 2) { regionBox.hidden = true; return; }
    regionBox.hidden = false;
    const pill = (code, label) => {
      const on = code === '' ? state.region.size === 0 : state.region.has(code);
      const b = h('button.button.pill', { type: 'button', 'aria-pressed': on ? 'true' : 'false', 'data-region': code, text: label });
      b.addEventListener('click', () => {
        if (code === '') state.region.clear();
        else if (state.region.has(code)) state.region.delete(code);
        else state.region.add(code);
        // Every region chosen is the same as none.
        if (state.region.size === regions.length) state.region.clear();
        writeUrl();
        buildRegions();
        render();
      });
      return b;
    };
    if (regions.length <= 6) {
      replace(regionBox, h('span.muted.region-label', { text: 'Region' }), pill('', 'All'), ...regions.map((r) => pill(r, r)));
    } else {
      const menu = h('details.popover.menu', null,
        h('summary.button', { text: state.region.size ? `Regions: ${[...state.region].sort().join(', ')} ▾` : 'All regions ▾' }),
        h('div.menu-body', { role: 'group', 'aria-label': 'Regions' }, ...regions.map((r) => {
          const box = h('input', { type: 'checkbox', value: r, checked: state.region.has(r) });
          box.addEventListener('change', () => {
            if (box.checked) state.region.add(r); else state.region.delete(r);
            if (state.region.size === regions.length) state.region.clear();
            writeUrl();
            render();
            menu.querySelector('summary').textContent = state.region.size ? `Regions: ${[...state.region].sort().join(', ')} ▾` : 'All regions ▾';
          });
          return h('label.check', { 'data-region': r }, box, r);
        })));
      replace(regionBox, menu);
    }
  }

  function inRegion(o) {
    return !state.region.size || state.region.has(String(o.iata || '').trim().toUpperCase());
  }

  function matchesSearch(o) {
    if (!state.q) return true;
    const needle = state.q.toLowerCase();
    return String(o.name || '').toLowerCase().includes(needle) || String(o.id).toLowerCase().includes(needle);
  }

  function render() {
    const now = Date.now();
    for (const o of observers) o._status = statusOf(o, thresholds, now);
    const scoped = observers.filter((o) => inRegion(o) && matchesSearch(o));
    const counts = { online: 0, stale: 0, offline: 0 };
    for (const o of scoped) counts[o._status] += 1;
    const visible = state.status.size ? scoped.filter((o) => state.status.has(o._status)) : scoped;
    const col = columns.find((c) => c.key === state.sort.key) || columns[0];
    const dir = state.sort.dir === 'asc' ? 1 : -1;
    const value = (o) => { const v = col.sortValue(o); return typeof v === 'number' && !Number.isFinite(v) ? null : v; };
    visible.sort((a, b) => {
      const x = value(a);
      const y = value(b);
      if (x === y) return String(a.name || a.id).localeCompare(String(b.name || b.id));
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * dir;
    });
    maxRate = Math.max(1, ...observers.map((o) => Number(o.packetsLastHour) || 0));
    table.setRows(visible);
    table.empty.textContent = observers.length ? 'No observers match these filters' : 'No observers have reported yet';
    countEl.textContent = `(${visible.length.toLocaleString()}${visible.length !== observers.length ? ` of ${observers.length.toLocaleString()}` : ''})`;
    renderSummary(counts);
    renderUpdated();
  }

  function renderSummary(counts) {
    replace(summary, ...Object.entries(STATUS).map(([key, s]) => {
      const on = state.status.has(key);
      const b = h('button.button.status-chip', {
        type: 'button', class: `st-${key}`, 'aria-pressed': on ? 'true' : 'false', 'data-status': key,
        title: on ? `Show all statuses` : `Show only ${s.label.toLowerCase()} observers`,
      }, h('span.st-icon', { 'aria-hidden': 'true', text: s.icon }), h('span', { text: `${s.label} ` }), h('strong', { text: String(counts[key]) }));
      b.addEventListener('click', () => {
        if (state.status.has(key)) state.status.delete(key); else state.status.add(key);
        if (state.status.size === 3) state.status.clear();
        writeUrl();
        render();
        summary.querySelector(`[data-status="${key}"]`)?.focus();
      });
      return b;
    }));
  }

  function renderUpdated() {
    updatedBtn.textContent = updatedAt ? `↻ Updated ${ago(updatedAt)}` : '↻ Refresh';
  }

  async function load({ bust = false } = {}) {
    const seq = ++loadSeq;
    if (!observers.length) listStatus.textContent = 'Loading observers…';
    try {
      const body = await api('/api/observers', { bust });
      if (seq !== loadSeq) return;
      observers = listOf(body, 'observers').filter((o) => o && typeof o.id === 'string');
      byId = new Map(observers.map((o) => [o.id, o]));
      updatedAt = Date.now();
      replace(listStatus);
      render();
    } catch (e) {
      if (seq !== loadSeq) return;
      replace(listStatus, h('p.error-text', { role: 'alert', text: `Could not load observers: ${e.message}` }));
    }
  }

  async function loadMqtt() {
    try {
      const body = await api('/api/mqtt/status', { bust: true });
      const sources = Array.isArray(body?.sources) ? body.sources : [];
      renderMqtt(sources, Number(body?.sampleAt) || Date.now() / 1000);
    } catch (e) {
      replace(mqttBody, h('p.error-text', { text: `Could not read the MQTT status: ${e.message}` }));
    }
  }

  function renderMqtt(sources, sampleAt) {
    const count = mqttSummary.querySelector('.mqtt-count');
    if (!sources.length) {
      count.textContent = ' (none configured)';
      replace(mqttBody, h('p.muted', { text: 'No MQTT source is configured: packets arrive only through the API.' }));
      return;
    }
    const connected = sources.filter((s) => s.connected).length;
    count.textContent = ` (${connected} of ${sources.length} connected)`;
    const rows = sources.map((s) => {
      const lastPacket = Number(s.lastPacketUnix) || 0;
      const recent = lastPacket && sampleAt - lastPacket < 300;
      const level = !s.connected ? 'bad' : recent ? 'ok' : 'warn';
      const stateText = !s.connected ? 'disconnected' : recent ? 'connected' : 'connected, quiet';
      return h('tr', { class: `lvl-${level}` },
        h('td', { 'data-label': 'Source' }, h('span.mqtt-dot', { 'aria-hidden': 'true' }), text(s.name)),
        h('td.mono', { 'data-label': 'Broker', text: text(s.broker) }),
        h('td', { 'data-label': 'State', title: s.lastError ? `Last error: ${s.lastError}` : null, text: stateText }),
        h('td', { 'data-label': 'Last packet', title: lastPacket ? absolute(lastPacket) : null, text: lastPacket ? ago(lastPacket) : 'never' }),
        h('td.num', { 'data-label': '5 min', text: num(s.packetsLast5m) }),
        h('td.num', { 'data-label': 'Total', text: num(s.packetsTotal) }),
        h('td.num', { 'data-label': 'Disconnects', text: num(s.disconnectCount) }));
    });
    replace(mqttBody, h('div.table-wrap', null, h('table.mqtt-table', null,
      h('thead', null, h('tr', null, ...['Source', 'Broker', 'State', 'Last packet', '5 min', 'Total', 'Disconnects']
        .map((t, i) => h('th', { scope: 'col', class: i >= 4 ? 'num' : null, text: t })))),
      h('tbody', null, ...rows))));
  }

  // ---- live ----
  const renderSoon = debounce(render, 500);
  const reloadSoon = debounce(() => load({ bust: true }), 2000);
  unsubs.push(subscribe((message) => {
    if (message.type !== 'packet') return;
    const d = message.data?.packet || message.data;
    const id = d?.observer_id;
    if (typeof id !== 'string') return;
    const o = byId.get(id);
    if (!o) { reloadSoon(); return; }
    const now = new Date().toISOString();
    o.last_seen = now;
    o.last_packet_at = now;
    o.packet_count = (Number(o.packet_count) || 0) + 1;
    o.packetsLastHour = (Number(o.packetsLastHour) || 0) + 1;
    o._fresh = true;
    setTimeout(() => { o._fresh = false; }, 1200);
    renderSoon();
  }));

  // ---- controls ----
  const applySearch = debounce(() => { state.q = search.value.trim(); writeUrl(); render(); }, 250);
  search.addEventListener('input', applySearch);
  updatedBtn.addEventListener('click', () => { load({ bust: true }); loadMqtt(); });

  // ---- start ----
  buildColumnsMenu();
  writeUrl();
  observerThresholds().then((t) => { thresholds = t; if (observers.length) render(); });
  api('/api/config/regions', { ttl: 300_000 }).then((r) => {
    regions = r && typeof r === 'object' ? Object.keys(r).map((c) => c.toUpperCase()).sort() : [];
    buildRegions();
  }).catch(() => {});
  load();
  loadMqtt();
  timers.push(setInterval(() => load({ bust: true }), REFRESH_MS));
  timers.push(setInterval(() => { if (observers.length) render(); }, TICK_MS));
  timers.push(setInterval(loadMqtt, MQTT_MS));

  return () => {
    unsubs.forEach((u) => u());
    timers.forEach((t) => clearInterval(t));
    loadSeq += 1;
  };
}
