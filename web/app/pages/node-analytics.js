// Node analytics (`#/nodes/<pk>/analytics?days=1|7|30|365`): stat cards (availability,
// signal grade, packets/day, observers, relay share, longest silence), an activity timeline
// and an SNR trend (uPlot), packet types, observer coverage and hop distribution (bars),
// battery voltage when the node reports it, an hour × weekday heatmap, and peers.
// Data: /api/nodes/{pk}/analytics?days=, /api/nodes/{pk}/battery?days=.

import { h, replace } from '../dom.js';
import { api } from '../api.js';
import * as router from '../router.js';
import { toMillis } from '../time.js';
import { typeName, TYPE_LABELS } from '../packet-format.js';
import { roleLabel, fmtNum } from './node-common.js';
import { timeEl } from './node-detail.js';
import { loadUplot, cssVar, padToWindow } from '../components/charts.js';

const RANGES = [[1, '24 h'], [7, '7 days'], [30, '30 days'], [365, 'All']];
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function card(label, value, note) {
  return h('div.stat-card', null, h('div.stat-label', { text: label }), h('div.stat-value', { text: value }), h('div.stat-note.muted', { text: note }));
}

function duration(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return '—';
  const hrs = ms / 3_600_000;
  return hrs >= 48 ? `${(hrs / 24).toFixed(1)} d` : `${hrs.toFixed(hrs < 10 ? 1 : 0)} h`;
}

/** Horizontal bars: `[label, value, title?]`. */
function bars(items, unit = '') {
  const max = Math.max(1, ...items.map(([, v]) => v));
  return h('ul.hbars', null, ...items.map(([label, v, title]) => {
    const fill = h('span.hbar-fill');
    fill.style.width = `${(v / max) * 100}%`;
    return h('li.hbar', { title },
      h('span.hbar-label.ellipsis', { text: label }),
      h('span.hbar-track', { 'aria-hidden': 'true' }, fill),
      h('span.hbar-value', { text: `${fmtNum(v)}${unit}` }));
  }));
}

function block(id, title, ...children) {
  return h('section.node-section', { id, 'aria-labelledby': `${id}-h` }, h('h2', { id: `${id}-h`, text: title }), ...children);
}

export function analyticsPage(el, ctx) {
  const pk = ctx.segments[0];
  const enc = encodeURIComponent(pk);
  let days = Number(ctx.query.get('days')) || 7;
  if (!RANGES.some(([d]) => d === days)) days = 7;
  let alive = true;
  let charts = [];
  let seq = 0;
  const ro = new ResizeObserver(() => { for (const [c, holder] of charts) c.setSize({ width: Math.max(260, holder.clientWidth), height: 200 }); });

  const title = h('h1', { text: 'Node analytics' });
  const sub = h('p.muted');
  const rangeGroup = h('div.view-group', { role: 'group', 'aria-label': 'Time range' },
    ...RANGES.map(([d, label]) => h('button.button.view-btn', { type: 'button', 'aria-pressed': d === days ? 'true' : 'false', dataset: { days: String(d) }, text: label })));
  const body = h('div.analytics-body', { 'aria-busy': 'true' }, h('p.muted', { text: 'Loading…' }));
  el.classList.add('node-page');
  el.appendChild(h('div.node-full', null,
    h('a.back-link', { href: `#/nodes/${enc}`, text: '← Node' }),
    h('header.analytics-head', null, h('div', null, title, sub), rangeGroup),
    body));
  rangeGroup.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-days]');
    if (!b) return;
    days = Number(b.dataset.days);
    rangeGroup.querySelectorAll('button').forEach((x) => x.setAttribute('aria-pressed', x === b ? 'true' : 'false'));
    router.replaceHash(router.buildHash(`nodes/${enc}/analytics`, { days: days === 7 ? '' : days }));
    load();
  });

  function destroyCharts() {
    for (const [c, holder] of charts) { ro.unobserve(holder); c.destroy(); }
    charts = [];
  }

  async function chart(holder, data, series, opts = {}) {
    const uPlot = await loadUplot();
    if (!alive || !holder.isConnected) return;
    replace(holder);
    const axis = { stroke: cssVar('--muted', '#5b6474'), grid: { stroke: cssVar('--surface-2', '#eee') }, ticks: { stroke: cssVar('--border', '#ddd') } };
    const c = new uPlot({
      width: Math.max(260, holder.clientWidth), height: 200,
      series: [{}, ...series(uPlot)],
      axes: [axis, { ...axis, size: 44 }],
      // The drawn time range, for whoever checks that the axis spans the window.
      hooks: { draw: [(u) => { holder.dataset.xRange = `${u.scales.x.min},${u.scales.x.max}`; }] },
      ...opts,
    }, data, holder);
    charts.push([c, holder]);
    ro.observe(holder);
  }

  async function load() {
    const my = ++seq;
    body.setAttribute('aria-busy', 'true');
    let a; let battery;
    try {
      [a, battery] = await Promise.all([
        api(`/api/nodes/${enc}/analytics?days=${days}`),
        api(`/api/nodes/${enc}/battery?days=${days}`).catch(() => null),
      ]);
    } catch (e) {
      if (my !== seq || !alive) return;
      body.removeAttribute('aria-busy');
      replace(body, h('div.node-card', { role: 'alert' },
        h('p', { text: e.status === 404 ? 'Node not found.' : `Could not load the analytics: ${e.message}` }),
        h('p.actions', null, h('a.button', { href: '#/nodes', text: '← All nodes' }), h('button.button', { type: 'button', text: 'Try again', onclick: load }))));
      return;
    }
    if (my !== seq || !alive) return;
    destroyCharts();
    body.removeAttribute('aria-busy');
    const node = a.node || {};
    const s = a.computedStats || {};
    title.textContent = `${node.name || String(node.public_key || pk).slice(0, 8)} — analytics`;
    document.title = `${node.name || 'Node'} analytics · MeshCore Analyzer`;
    sub.textContent = `${roleLabel(node.role)} · ${fmtNum(s.totalPackets)} packets in ${a.timeRange?.days ?? days} day window`;

    const accent = cssVar('--accent', '#0b66c3');
    const ok = cssVar('--ok', '#1a7f37');
    const timeline = Array.isArray(a.activityTimeline) ? a.activityTimeline : [];
    const snr = Array.isArray(a.snrTrend) ? a.snrTrend : [];
    const types = Array.isArray(a.packetTypeBreakdown) ? a.packetTypeBreakdown : [];
    const coverage = Array.isArray(a.observerCoverage) ? a.observerCoverage : [];
    const hopsDist = Array.isArray(a.hopDistribution) ? a.hopDistribution : [];
    const peers = Array.isArray(a.peerInteractions) ? a.peerInteractions : [];
    const heat = Array.isArray(a.uptimeHeatmap) ? a.uptimeHeatmap : [];
    const samples = Array.isArray(battery?.samples) ? battery.samples : [];

    const activityHolder = h('div.chart-holder', { role: 'img', 'aria-label': 'Packets per time bucket' });
    const snrHolder = h('div.chart-holder', { role: 'img', 'aria-label': 'SNR of each observation over time' });
    const batteryHolder = h('div.chart-holder', { role: 'img', 'aria-label': 'Battery voltage over time' });

    replace(body,
      h('div.stat-cards', null,
        card('Availability', s.availabilityPct === undefined ? '—' : `${fmtNum(s.availabilityPct, 1)} %`, 'Share of hours in the window in which the node was heard'),
        card('Signal grade', s.signalGrade || '—', s.snrMean === undefined ? 'No SNR samples' : `Mean SNR ${fmtNum(s.snrMean, 1)} dB, σ ${fmtNum(s.snrStdDev, 1)}`),
        card('Packets / day', fmtNum(s.avgPacketsPerDay, 1), 'Average over the window'),
        card('Observers', fmtNum(s.uniqueObservers), 'Distinct observers that heard it'),
        card('Relay', s.relayPct === undefined ? '—' : `${fmtNum(s.relayPct, 1)} %`, 'Share of its packets it relayed rather than sent'),
        card('Longest silence', duration(s.longestSilenceMs), s.longestSilenceStart ? `from ${new Date(toMillis(s.longestSilenceStart)).toISOString().slice(0, 16).replace('T', ' ')} UTC` : 'Longest gap between packets')),
      h('div.node-grid', null,
        block('activity', 'Activity timeline', timeline.length ? activityHolder : h('p.muted', { text: 'No packets in this window.' })),
        block('snr', 'SNR trend', snr.length ? snrHolder : h('p.muted', { text: 'No SNR samples in this window.' }))),
      h('div.node-grid', null,
        block('types', 'Packet types', types.length
          ? bars(types.map((x) => [TYPE_LABELS[typeName(Number(x.payload_type))] || typeName(Number(x.payload_type)), Number(x.count) || 0]))
          : h('p.muted', { text: 'None.' })),
        block('hops', 'Hop distribution', hopsDist.length
          ? bars(hopsDist.map((x) => [`${x.hops} hop${x.hops === '1' ? '' : 's'}`, Number(x.count) || 0]))
          : h('p.muted', { text: 'None.' }))),
      block('coverage', 'Observer coverage', coverage.length
        ? bars(coverage.slice(0, 25).map((o) => [o.observer_name || o.observer_id, Number(o.packetCount) || 0,
          `avg SNR ${fmtNum(o.avgSnr, 1)} dB, avg RSSI ${fmtNum(o.avgRssi)} dBm`]))
        : h('p.muted', { text: 'No observer heard it in this window.' }),
      coverage.length > 25 ? h('p.muted.small', { text: `and ${coverage.length - 25} more` }) : null),
      block('heatmap', 'When it is heard (hour × weekday, UTC)', heatmap(heat)),
      block('battery', 'Battery voltage', samples.length ? batteryHolder
        : h('p.muted', { text: 'This node reports no battery telemetry in this window.' })),
      block('peers', 'Peer interactions', peers.length ? h('div.table-wrap', null, h('table.node-table', null,
        h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Peer' }), h('th.num', { scope: 'col', text: 'Messages' }), h('th', { scope: 'col', text: 'Last contact' }))),
        h('tbody', null, ...peers.map((p) => h('tr', null,
          h('td', null, p.peer_key || p.pubkey ? h('a', { href: `#/nodes/${encodeURIComponent(p.peer_key || p.pubkey)}`, text: p.peer_name || p.name || String(p.peer_key || p.pubkey).slice(0, 8) }) : (p.peer_name || p.name || '—')),
          h('td.num', { text: fmtNum(p.messageCount ?? p.count) }),
          h('td', null, p.lastContact || p.last_contact ? timeEl(p.lastContact || p.last_contact) : '—'))))))
        : h('p.muted', { text: 'No direct messages with other nodes in this window.' })));

    // Time axes span the analytics window, so a node heard only lately (one bucket, one
    // sample) is not stretched over uPlot's automatic range of several years.
    const from = toMillis(a.timeRange?.from) / 1000;
    const to = toMillis(a.timeRange?.to) / 1000;
    const windowRange = (u, min, max) => (Number.isFinite(from) && Number.isFinite(to) && to > from
      ? [Math.min(from, min), Math.max(to, max)] : [min - 1800, max + 1800]);
    const time = { x: { time: true, range: windowRange } };
    if (timeline.length) {
      const xs = timeline.map((b) => toMillis(b.bucket) / 1000);
      const ys = timeline.map((b) => Number(b.count) || 0);
      padToWindow(xs, ys, from, to);
      chart(activityHolder, [xs, ys],
        (uPlot) => [{ label: 'Packets', stroke: accent, fill: `${accent}33`, width: 1.5, paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false } }],
        { scales: { ...time, y: { range: (u, min, max) => [0, Math.max(1, max)] } } });
    }
    if (snr.length) {
      const pts = snr.map((p) => [toMillis(p.timestamp) / 1000, Number(p.snr)]).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((p, q) => p[0] - q[0]);
      chart(snrHolder, [pts.map((p) => p[0]), pts.map((p) => p[1])],
        () => [{ label: 'SNR (dB)', stroke: ok, width: 0, points: { show: true, size: 4, fill: ok, stroke: ok } }],
        { scales: time });
    }
    if (samples.length) {
      const pts = samples.map((p) => [toMillis(p.timestamp ?? p.ts ?? p.time) / 1000, Number(p.mv ?? p.battery_mv ?? p.value) / 1000])
        .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)).sort((p, q) => p[0] - q[0]);
      chart(batteryHolder, [pts.map((p) => p[0]), pts.map((p) => p[1])],
        () => [{ label: 'Battery (V)', stroke: accent, width: 1.5 }]);
    }
  }

  load();
  return () => { alive = false; seq += 1; destroyCharts(); ro.disconnect(); };
}

/** Hour × weekday grid; cell shade by count (CSS variable), count in the tooltip. */
function heatmap(cells) {
  if (!cells.length) return h('p.muted', { text: 'No packets in this window.' });
  const counts = new Map(cells.map((c) => [`${c.dayOfWeek}:${c.hour}`, Number(c.count) || 0]));
  const max = Math.max(1, ...counts.values());
  const grid = h('div.heatmap', { role: 'table', 'aria-label': 'Packets per hour of the day and weekday' });
  grid.appendChild(h('div.nh-row', { role: 'row' }, h('span.nh-day', { role: 'columnheader', text: '' }),
    ...Array.from({ length: 24 }, (_, hr) => h('span.nh-hour', { role: 'columnheader', text: hr % 3 === 0 ? String(hr) : '' }))));
  for (let d = 0; d < 7; d += 1) {
    grid.appendChild(h('div.nh-row', { role: 'row' }, h('span.nh-day', { role: 'rowheader', text: DAYS[d] }),
      ...Array.from({ length: 24 }, (_, hr) => {
        const n = counts.get(`${d}:${hr}`) || 0;
        const cell = h('span.nh-cell', { role: 'cell', title: `${DAYS[d]} ${String(hr).padStart(2, '0')}:00 — ${n} packets`, 'aria-label': `${DAYS[d]} ${hr}:00, ${n} packets` });
        cell.style.setProperty('--heat', String(n / max));
        if (!n) cell.classList.add('empty');
        return cell;
      })));
  }
  return h('div.heatmap-wrap', null, grid);
}
