// Observer detail (`#/observers/<id>?days=<1|3|7|30>`): identity and the metadata of the
// observer's status messages, packets per hour and distinct nodes heard (from
// `/api/observers/{id}/analytics`), the SNR histogram of what it heard, its RF metrics over
// time (noise floor, airtime, battery: `/api/observers/{id}/metrics`), packet types, and the
// newest packets it heard with links into the Packets page filtered by this observer.
// Charts are uPlot (vendored), redrawn on theme change and resized with their box.

import { h, replace, debounce } from '../dom.js';
import { api, withQuery } from '../api.js';
import { subscribe } from '../ws.js';
import * as router from '../router.js';
import { ago, absolute, toMillis } from '../time.js';
import { onTheme } from '../theme.js';
import { iataBadge, typeBadge, copyText } from '../components/ui.js';
import { typeName, isTransport, hopsOf, parseJson, summary } from '../packet-format.js';
import { hopChips } from '../components/hops.js';
import { observerMiniMap } from '../components/map.js';
import { loadUplot, cssVar } from '../components/charts.js';
import {
  observerThresholds, statusOf, statusBadge, formatUptime, formatRadio, shortFirmware, num, skewInfo,
  naiveChip, roleBadge, packetHealth, lastHeard,
} from './observers.js';

const RANGES = [[1, '24 hours'], [3, '3 days'], [7, '7 days'], [30, '30 days']];
const DEFAULT_DAYS = 7;
const REFRESH_MS = 60_000;
const WEEKDAYS = ['Thu', 'Fri', 'Sat', 'Sun', 'Mon', 'Tue', 'Wed'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];


/** Timeline bucket of the analytics (the server's rule): 1 h up to a day, 4 h up to a week, else a day. */
function bucketSecs(days) {
  return days <= 1 ? 3600 : days <= 7 ? 4 * 3600 : 86_400;
}

/** The server's bucket label for a bucket start (UTC): "15:04", "Mon 15:04", "Jan 02". */
function bucketLabel(start, bucket) {
  const iso = new Date(start * 1000).toISOString();
  const hhmm = iso.slice(11, 16);
  if (bucket === 3600) return hhmm;
  if (bucket < 86_400) return `${WEEKDAYS[((Math.floor(start / 86_400) % 7) + 7) % 7]} ${hhmm}`;
  return `${MONTHS[Number(iso.slice(5, 7)) - 1]} ${iso.slice(8, 10)}`;
}

/**
 * Places the analytics timeline (labels only, empty buckets left out) on a time axis:
 * every bucket of the window, zero where the server listed none. Labels repeat once a day
 * or once a week, so they are matched newest first, within the time the observer was heard.
 * Returns null when a label cannot be placed (the caller then plots by label).
 */
function placeTimeline(timeline, days, firstMs, lastMs) {
  const bucket = bucketSecs(days);
  const now = Math.floor(Date.now() / 1000);
  const base = Math.floor((now - days * 86_400) / bucket) * bucket;
  const starts = [];
  for (let t = base; t <= now + bucket; t += bucket) starts.push(t);
  const labels = starts.map((t) => bucketLabel(t, bucket));
  const lo = Number.isFinite(firstMs) ? Math.floor(firstMs / 1000 / bucket) * bucket : -Infinity;
  const hi = Number.isFinite(lastMs) ? lastMs / 1000 : Infinity;
  const counts = new Array(starts.length).fill(0);
  const nodes = new Array(starts.length).fill(0);
  let j = starts.length - 1;
  for (let i = timeline.length - 1; i >= 0; i -= 1) {
    const item = timeline[i];
    let k = j;
    while (k >= 0 && !(labels[k] === item.label && starts[k] >= lo && starts[k] <= hi)) k -= 1;
    if (k < 0) {
      // Outside the heard-time bounds (clock differences): try without them.
      k = j;
      while (k >= 0 && labels[k] !== item.label) k -= 1;
      if (k < 0) return null;
    }
    counts[k] = Number(item.count) || 0;
    nodes[k] = Number(item.nodes) || 0;
    j = k - 1;
  }
  // Drop the bucket after now (kept only so a server clock slightly ahead still places).
  while (starts.length && starts[starts.length - 1] > now && counts[counts.length - 1] === 0) {
    starts.pop(); counts.pop(); nodes.pop();
  }
  return { x: starts, counts, nodes, bucket };
}


/** `#rrggbb` with an alpha (0..1); other colour forms unchanged. */
function alpha(color, a) {
  return /^#[0-9a-f]{6}$/i.test(color) ? `${color}${Math.round(a * 255).toString(16).padStart(2, '0')}` : color;
}

function compact(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '';
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e5) return `${(v / 1e3).toFixed(0)}k`;
  if (a >= 1e3) return Math.round(v).toLocaleString();
  return Number.isInteger(v) ? String(v) : v.toFixed(a < 10 ? 1 : 0);
}

/** The Observer detail view; returns its cleanup. */
export function observerDetail(el, ctx) {
  const id = ctx.segments[0];
  const q = ctx.query;
  const wanted = Number(q.get('days'));
  let days = RANGES.some(([d]) => d === wanted) ? wanted : DEFAULT_DAYS;
  let observer = null;
  let listEntry = null;
  let thresholds = { online: 3_600_000, stale: 86_400_000 };
  let analytics = null;
  let metrics = null;
  let seq = 0;
  let alive = true;
  const charts = new Map(); // id → { u, spec, host }
  const resize = new ResizeObserver(debounce(() => {
    for (const entry of charts.values()) {
      if (!entry.u) continue;
      const width = Math.max(200, entry.host.clientWidth);
      if (Math.abs(width - entry.u.width) > 2) entry.u.setSize({ width, height: entry.u.height });
    }
  }, 120));
  const unsubs = [];
  const timers = [];

  const heading = h('h1', { text: 'Observer' });
  const badges = h('span.od-badges');
  const idLine = h('p.od-id');
  const actions = h('div.od-actions');
  const rangeSelect = h('select', { 'aria-label': 'Time range' },
    ...RANGES.map(([d, label]) => h('option', { value: String(d), selected: d === days, text: label })));
  const cards = h('dl.od-cards', { 'aria-label': 'Observer facts' });
  const chartGrid = h('div.od-charts');
  const typesBox = h('section.od-section.od-types', { 'aria-labelledby': 'od-types-h' });
  const recentBox = h('section.od-section.od-recent', { 'aria-labelledby': 'od-recent-h' });
  const status = h('div.od-status', { role: 'status' });
  // A map of the observer's position when a node with its key advertises one (list entry).
  const mapHolder = h('div.od-map-holder');
  let miniMap = null;
  const body = h('div.od-body', { 'aria-busy': 'true' }, cards, mapHolder,
    h('div.od-range', null, h('label', { for: 'od-range' }, 'Range'), rangeSelect),
    chartGrid, typesBox, recentBox);
  rangeSelect.id = 'od-range';

  el.classList.add('observer-detail-page');
  el.append(
    h('p.od-back', null, h('a.back-link', { href: '#/observers', text: '← Observers' })),
    h('header.od-head', null, heading, badges),
    idLine, actions, status, body);

  function writeUrl() {
    router.replaceHash(router.buildHash(`observers/${encodeURIComponent(id)}`, { days: days === DEFAULT_DAYS ? '' : String(days) }));
  }

  // ---- identity and facts ----
  function renderHead() {
    const o = observer;
    const merged = { ...listEntry, ...o };
    heading.textContent = o.name || `Observer ${o.id.slice(0, 12)}…`;
    document.title = `${o.name || o.id} · Observers · MeshCore Analyzer`;
    const st = statusOf(o, thresholds);
    replace(badges, statusBadge(st, thresholds), iataBadge(o.iata), roleBadge(merged), naiveChip(o));
    replace(idLine, h('code.od-key', { text: o.id }),
      h('button.button.small', { type: 'button', onclick: () => copyText(o.id, 'Observer id copied'), text: 'Copy id' }));
    const heardRecently = Date.now() - toMillis(o.last_packet_at) < 86_400_000;
    replace(actions,
      h('a.button', {
        href: router.buildHash('packets', { observer: o.id, timeWindow: heardRecently ? '1440' : '0' }),
        text: 'Packets heard by this observer →',
      }),
      listEntry?.nodeRole ? h('a.button', { href: `#/nodes/${encodeURIComponent(o.id.toLowerCase())}`, text: 'Node page →' }) : null);
  }

  function renderCards() {
    const o = observer;
    const card = (label, value, title) => h('div.od-card', { title },
      h('dt', { text: label }), h('dd', null, value === null || value === undefined || value === '' ? '—' : value));
    const when = (v) => h('span', { title: absolute(v), text: Number.isFinite(toMillis(v)) ? ago(v) : '—' });
    const health = packetHealth(o);
    const skew = skewInfo(o);
    replace(cards,
      card('Status', statusBadge(statusOf(o, thresholds), thresholds)),
      card('Last seen', when(lastHeard(o)), 'Last status message or packet'),
      card('Last packet', when(o.last_packet_at)),
      card('Packet health', h('span.health', { class: `lvl-${health.level}`, title: health.title, text: health.text })),
      card('Packets', num(o.packet_count), 'Total packets received'),
      card('Last hour', `${num(o.packetsLastHour)} packet${Number(o.packetsLastHour) === 1 ? '' : 's'}`),
      card('First seen', when(o.first_seen)),
      card('Region', o.iata ? String(o.iata) : '—'),
      card('Model', o.model),
      card('Firmware', o.firmware ? h('span', { title: String(o.firmware), text: shortFirmware(o.firmware) }) : null),
      card('Client', o.client_version),
      card('Radio', o.radio ? formatRadio(o.radio) : null, 'Frequency · spreading factor · bandwidth (kHz) · coding rate'),
      card('Battery', num(o.battery_mv, ' mV')),
      card('Uptime', formatUptime(o.uptime_secs)),
      card('Noise floor', num(o.noise_floor, ' dBm')),
      card('Clock', skew ? h('span.badge.skew', { class: `lvl-${skew.level}`, text: skew.text }) : (o.clock_naive ? 'naive' : 'ok'),
        'Offset of the clock when the observer sent zone-less times (more than 15 min off)'));
  }

  // ---- charts ----
  function chartCard(key, title, note) {
    let entry = charts.get(key);
    if (!entry) {
      const host = h('div.chart-host', { role: 'img' });
      const noteEl = h('p.muted.chart-note');
      const fig = h('figure.chart-card', { 'data-chart': key },
        h('figcaption', null, h('h2', { text: title }), noteEl), host);
      entry = { fig, host, noteEl, u: null, spec: null };
      charts.set(key, entry);
      chartGrid.appendChild(fig);
      resize.observe(host);
    }
    entry.noteEl.textContent = note || '';
    return entry;
  }

  function chartSpecs() {
    const specs = [];
    const accent = cssVar('--accent', '#0b66c3');
    const ok = cssVar('--ok', '#1a7f37');
    const warn = cssVar('--warn', '#9a6700');
    const bad = cssVar('--bad', '#c62828');
    const rangeLabel = RANGES.find(([d]) => d === days)[1];
    if (analytics) {
      const timeline = Array.isArray(analytics.timeline) ? analytics.timeline : [];
      const nodesTl = Array.isArray(analytics.nodesTimeline) ? analytics.nodesTimeline : [];
      const merged = timeline.map((t, i) => ({ label: t.label, count: t.count, nodes: nodesTl[i]?.label === t.label ? nodesTl[i].count : 0 }));
      const placed = placeTimeline(merged, days, toMillis(observer.first_seen), lastHeard(observer));
      const bucket = bucketSecs(days);
      const hours = bucket / 3600;
      const per = hours === 1 ? 'hourly buckets' : hours === 24 ? 'daily buckets' : `${hours}-hour buckets`;
      if (placed) {
        specs.push({ key: 'rate', title: 'Packets per hour', note: `Last ${rangeLabel}, ${hours === 1 ? 'per hour' : `averaged over ${per}`}`,
          x: placed.x, bucket, bars: true, series: [{ label: 'Packets/h', values: placed.counts.map((c) => c / hours), color: accent, digits: hours === 1 ? 0 : 1 }] });
        specs.push({ key: 'nodes', title: 'Distinct nodes heard', note: `Nodes named by the packets heard, ${per}`,
          x: placed.x, integer: true, series: [{ label: 'Nodes', values: placed.nodes, color: ok }] });
      } else {
        const labels = merged.map((t) => t.label);
        specs.push({ key: 'rate', title: 'Packets per hour', note: `Last ${rangeLabel}, ${per} (UTC)`, labels,
          x: labels.map((_, i) => i), bars: true, series: [{ label: 'Packets/h', values: merged.map((t) => (Number(t.count) || 0) / hours), color: accent, digits: 1 }] });
        specs.push({ key: 'nodes', title: 'Distinct nodes heard', note: `${per} (UTC)`, labels, integer: true,
          x: labels.map((_, i) => i), series: [{ label: 'Nodes', values: merged.map((t) => Number(t.nodes) || 0), color: ok }] });
      }
      const snr = Array.isArray(analytics.snrDistribution) ? analytics.snrDistribution : [];
      const labels = snr.map((s) => `${s.range} dB`);
      // The axis shows each bucket's lower edge; the legend the whole range.
      const ticks = snr.map((s) => String(s.range).split(' to ')[0]);
      specs.push({ key: 'snr', title: 'SNR distribution', note: `Packets heard per 2 dB of SNR (axis: lower edge, dB), last ${rangeLabel}`, labels, ticks,
        x: labels.map((_, i) => i), bars: true, integer: true, xLabel: 'SNR', series: [{ label: 'Packets', values: snr.map((s) => Number(s.count) || 0), color: warn }] });
    }
    if (metrics) {
      const rows = Array.isArray(metrics.metrics) ? metrics.metrics : [];
      const x = rows.map((m) => Math.floor(toMillis(m.timestamp) / 1000));
      const col = (k) => rows.map((m) => (m[k] === null || m[k] === undefined || !Number.isFinite(Number(m[k])) ? null : Number(m[k])));
      const reboots = Array.isArray(metrics.reboots) ? metrics.reboots : [];
      const rebootNote = reboots.length ? ` · ${reboots.length} reboot${reboots.length === 1 ? '' : 's'} (last ${ago(reboots[reboots.length - 1])})` : '';
      specs.push({ key: 'noise', title: 'Noise floor', note: `From the observer's status messages${rebootNote}`, x, unit: ' dBm',
        series: [{ label: 'Noise floor', values: col('noise_floor'), color: bad, unit: ' dBm' }] });
      specs.push({ key: 'airtime', title: 'Airtime', note: 'Share of time transmitting and receiving between two samples', x, unit: ' %', percent: true,
        series: [{ label: 'TX', values: col('tx_airtime_pct'), color: accent, unit: ' %', digits: 1 },
          { label: 'RX', values: col('rx_airtime_pct'), color: ok, unit: ' %', digits: 1 }] });
      specs.push({ key: 'battery', title: 'Battery', note: 'Supply voltage reported by the observer', x, unit: ' mV',
        series: [{ label: 'Battery', values: col('battery_mv'), color: warn, unit: ' mV' }] });
    }
    return specs;
  }

  function hasData(spec) {
    return spec.x.length > 0 && spec.series.some((s) => s.values.some((v) => v !== null && v !== 0))
      || (spec.key === 'noise' || spec.key === 'battery') && spec.series.some((s) => s.values.some((v) => v !== null));
  }

  function uplotOptions(uPlot, spec, width) {
    const muted = cssVar('--muted', '#5b6474');
    const grid = cssVar('--border', '#d5dae2');
    const font = `11px ${cssVar('--sans', 'system-ui, sans-serif')}`;
    const categorical = Array.isArray(spec.labels);
    const fmt = (s) => (u, v) => (v === null || v === undefined ? '—' : `${s.digits !== undefined ? v.toFixed(s.digits) : compact(v)}${s.unit || ''}`);
    const axisX = { stroke: muted, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    if (categorical) {
      const n = spec.labels.length;
      axisX.grid = { show: false };
      axisX.splits = () => {
        const step = Math.max(1, Math.ceil((n * (spec.ticks ? 34 : 64)) / Math.max(120, width - 60)));
        const out = [];
        for (let i = 0; i < n; i += step) out.push(i);
        return out;
      };
      axisX.values = (u, splits) => splits.map((i) => (spec.ticks || spec.labels)[i] ?? '');
    }
    const stacked = spec.bars;
    return {
      width,
      height: spec.height || 200,
      cursor: { drag: { x: !categorical, y: false } },
      legend: { show: true, live: true },
      scales: {
        x: categorical ? { time: false, range: (u, min, max) => [min - 0.6, max + 0.6] }
          : spec.bucket ? { time: true, range: (u, min, max) => [min - spec.bucket / 2, max + spec.bucket / 2] } : { time: true },
        y: {
          range: (u, min, max) => {
            if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
            if (stacked || spec.percent || spec.key === 'nodes') return [0, max > 0 ? max * 1.1 : 1];
            const pad = Math.max(1, (max - min) * 0.15);
            return [min - pad, max + pad];
          },
        },
      },
      axes: [axisX, { stroke: muted, font, size: 56, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 },
        // Counts get whole-number ticks.
        incrs: spec.integer ? [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 50_000, 100_000, 1e6] : undefined,
        values: (u, splits) => splits.map((v) => `${compact(v)}${spec.unit && spec.unit !== ' mV' && spec.unit !== ' dBm' ? spec.unit : ''}`) }],
      series: [
        categorical ? { label: spec.xLabel || 'Bucket', value: (u, v) => (v === null || v === undefined ? '—' : spec.labels[v] ?? '') } : { label: 'Time' },
        ...spec.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: stacked ? 0 : 2,
          // A fill runs towards zero: none for negative series (dBm), where it would cover the top.
          fill: spec.key === 'noise' ? undefined : alpha(s.color, stacked ? 0.6 : 0.12),
          paths: stacked ? uPlot.paths.bars({ size: [0.78, 48] }) : undefined,
          points: { show: false },
          spanGaps: false,
          value: fmt(s),
        })),
      ],
    };
  }

  function describe(spec) {
    const parts = spec.series.map((s) => {
      const vals = s.values.filter((v) => v !== null && Number.isFinite(v));
      if (!vals.length) return `${s.label}: no data`;
      const max = Math.max(...vals);
      const min = Math.min(...vals);
      const last = vals[vals.length - 1];
      return `${s.label}: latest ${compact(last)}${s.unit || ''}, min ${compact(min)}, max ${compact(max)}`;
    });
    return `${spec.title}. ${parts.join('; ')}`;
  }

  async function renderCharts({ rebuild = false } = {}) {
    const specs = chartSpecs();
    if (!specs.length) return;
    const uPlot = await loadUplot();
    if (!alive) return;
    const order = [];
    for (const spec of specs) {
      const entry = chartCard(spec.key, spec.title, spec.note);
      order.push(entry.fig);
      const data = [spec.x, ...spec.series.map((s) => s.values)];
      entry.host.setAttribute('aria-label', describe(spec));
      if (!hasData(spec)) {
        entry.u?.destroy();
        entry.u = null;
        replace(entry.host, h('p.muted.chart-empty', {
          text: spec.key === 'noise' || spec.key === 'airtime' || spec.key === 'battery'
            ? 'No RF metrics reported by this observer in this range.' : 'Nothing heard in this range.',
        }));
        entry.spec = spec;
        continue;
      }
      const sameShape = entry.u && entry.spec && !rebuild && Boolean(entry.spec.labels) === Boolean(spec.labels)
        && entry.spec.series.length === spec.series.length && String(entry.spec.labels) === String(spec.labels);
      entry.spec = spec;
      if (sameShape) {
        entry.u.setData(data);
        continue;
      }
      entry.u?.destroy();
      replace(entry.host);
      const width = Math.max(200, entry.host.clientWidth || 320);
      entry.u = new uPlot(uplotOptions(uPlot, spec, width), data, entry.host);
    }
    const present = new Set(order);
    for (const [key, entry] of charts) {
      if (!present.has(entry.fig)) { entry.u?.destroy(); entry.fig.remove(); charts.delete(key); }
    }
    // Keep the cards in spec order.
    order.forEach((fig) => chartGrid.appendChild(fig));
  }


  // ---- packet types and recent packets ----
  function renderTypes() {
    const entries = Object.entries(analytics?.packetTypes || {})
      .map(([code, n]) => [Number(code), Number(n) || 0]).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
    const total = entries.reduce((s, [, n]) => s + n, 0);
    replace(typesBox, h('h2', { id: 'od-types-h', text: 'Packet types' }),
      entries.length ? h('ul.type-bars', null, ...entries.map(([code, n]) => {
        const bar = h('span.type-bar', { 'aria-hidden': 'true' });
        bar.style.setProperty('--w', `${Math.max(1, Math.round((n / entries[0][1]) * 100))}%`);
        bar.style.setProperty('--c', `var(--t-${typeName(code)}, var(--t-UNKNOWN))`);
        return h('li', null, typeBadge(typeName(code)), h('span.type-track', null, bar),
          h('span.type-count', { text: `${n.toLocaleString()} (${((n / total) * 100).toFixed(n / total < 0.1 ? 1 : 0)} %)` }));
      })) : h('p.muted', { text: 'No packets in this range.' }));
  }

  function renderRecent() {
    const list = Array.isArray(analytics?.recentPackets) ? analytics.recentPackets : [];
    const all = h('a', { href: router.buildHash('packets', { observer: id, timeWindow: Date.now() - toMillis(observer.last_packet_at) < 86_400_000 ? '1440' : '0' }), text: 'All packets heard by this observer →' });
    const rows = list.map((o) => {
      const code = Number(o.payload_type);
      const payload = parseJson(o.decoded_json) || {};
      const hops = hopsOf(o.path_json);
      return h('tr', null,
        h('td', { title: absolute(o.timestamp), text: ago(o.timestamp) }),
        h('td', null, typeBadge(typeName(code), isTransport(Number(o.route_type)))),
        h('td.mono', null, h('a', {
          href: router.buildHash(`packets/${o.hash}`, { observer: id, obs: o.id, timeWindow: '0' }),
          title: 'Open in Packets (filtered by this observer)', text: String(o.hash || '').slice(0, 8),
        })),
        h('td.num', { text: num(o.snr, '', 1) }),
        h('td.num', { text: num(o.rssi) }),
        h('td', null, hopChips(hops, { max: 4, link: true, resolvedPath: o.resolved_path })),
        h('td.od-summary', { text: summary(payload, code) }));
    });
    replace(recentBox, h('div.od-section-head', null, h('h2', { id: 'od-recent-h', text: 'Recent packets heard' }), all),
      rows.length ? h('div.table-wrap', null, h('table.od-recent-table', null,
        h('thead', null, h('tr', null, ...['Time', 'Type', 'Hash', 'SNR', 'RSSI', 'Path', 'Details']
          .map((t) => h('th', { scope: 'col', class: t === 'SNR' || t === 'RSSI' ? 'num' : null, text: t })))),
        h('tbody', null, ...rows))) : h('p.muted', { text: 'No packets heard in this range.' }));
  }

  // ---- loading ----
  async function loadObserver() {
    const [o, list] = await Promise.all([
      api(`/api/observers/${encodeURIComponent(id)}`, { bust: true }),
      api('/api/observers', { ttl: 60_000 }).catch(() => null),
    ]);
    observer = o;
    listEntry = (Array.isArray(list?.observers) ? list.observers : []).find((x) => x.id === o.id) || null;
  }

  async function loadAnalytics() {
    const now = Date.now();
    const [a, m] = await Promise.all([
      api(withQuery(`/api/observers/${encodeURIComponent(id)}/analytics`, { days })).catch((e) => ({ error: e })),
      api(withQuery(`/api/observers/${encodeURIComponent(id)}/metrics`, {
        since: new Date(now - days * 86_400_000).toISOString(), resolution: days <= 3 ? '5m' : '1h',
      })).catch((e) => ({ error: e })),
    ]);
    analytics = a.error ? null : a;
    metrics = m.error ? null : m;
    const failed = [a.error && `analytics (${a.error.message})`, m.error && `metrics (${m.error.message})`].filter(Boolean);
    replace(status, failed.length ? h('p.error-text', { role: 'alert', text: `Could not load ${failed.join(' and ')}.` }) : null);
  }

  async function load({ full = true } = {}) {
    const mine = ++seq;
    try {
      if (full) {
        status.textContent = observer ? '' : 'Loading…';
        await loadObserver();
        if (mine !== seq || !alive) return;
        renderHead();
        renderCards();
        if (!miniMap) {
          miniMap = observerMiniMap(listEntry, observer.name);
          if (miniMap) mapHolder.appendChild(miniMap.el);
        }
      }
      await loadAnalytics();
      if (mine !== seq || !alive) return;
      renderTypes();
      renderRecent();
      await renderCharts();
    } catch (e) {
      if (mine !== seq || !alive) return;
      body.hidden = true;
      replace(status, h('p.error-text', { role: 'alert', text: e.status === 404 ? 'Observer not found' : `Could not load the observer: ${e.message}` }));
    } finally {
      if (mine === seq) body.removeAttribute('aria-busy');
    }
  }

  rangeSelect.addEventListener('change', () => {
    days = Number(rangeSelect.value) || DEFAULT_DAYS;
    writeUrl();
    body.setAttribute('aria-busy', 'true');
    load({ full: false });
  });

  // Live: a packet from this observer updates its facts (re-read at most every 5 s).
  const refreshFacts = debounce(async () => {
    try {
      await loadObserver();
      if (alive) { renderHead(); renderCards(); }
    } catch { /* the next packet or refresh retries */ }
  }, 5000);
  unsubs.push(subscribe((message) => {
    if (message.type !== 'packet' || !observer) return;
    const d = message.data?.packet || message.data;
    if (d?.observer_id !== observer.id) return;
    observer.last_packet_at = new Date().toISOString();
    observer.last_seen = observer.last_packet_at;
    renderCards();
    refreshFacts();
  }));
  let firstTheme = true;
  unsubs.push(onTheme(() => {
    if (firstTheme) { firstTheme = false; return; }
    // The theme's CSS applies on the next frame; redraw with its colours.
    requestAnimationFrame(() => { if (alive) renderCharts({ rebuild: true }); });
  }));
  timers.push(setInterval(() => { if (observer) load({ full: true }); }, REFRESH_MS));
  timers.push(setInterval(() => { if (observer) renderCards(); }, 15_000));

  writeUrl();
  observerThresholds().then((t) => { thresholds = t; if (observer) { renderHead(); renderCards(); } });
  load();

  return () => {
    alive = false;
    seq += 1;
    unsubs.forEach((u) => u());
    timers.forEach((t) => clearInterval(t));
    resize.disconnect();
    for (const entry of charts.values()) entry.u?.destroy();
    charts.clear();
    miniMap?.destroy();
  };
}
