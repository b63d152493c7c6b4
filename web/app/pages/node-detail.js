// One node: the full page (`#/nodes/<pubkey or unique prefix>[?section=<id>]`) and the
// compact summary the Nodes directory shows in its side pane. Identity (name, role, key with
// copy, first/last seen, adverts), status with its explanation, the contact QR code, position,
// health (observers that hear it with SNR/RSSI and packet counts), a 24 h activity chart,
// recent packets and adverts, and the paths through the node.
//
// Data: /api/nodes/{pk}, /api/nodes/{pk}/health, /api/nodes/{pk}/paths, and (the chart, loaded
// when it scrolls into view) /api/nodes/{pk}/analytics?days=1. Neighbours and clock skew are
// not in this API yet, so those panels of the reference are absent; reach is its own page
// (node-reach.js), linked from repeaters and rooms.

import { h, replace } from '../dom.js';
import { api } from '../api.js';
import * as router from '../router.js';
import { ago, absolute, toMillis } from '../time.js';
import { parseJson, summary, typeName, hopsOf } from '../packet-format.js';
import { typeBadge, iataBadge, pathChips, copyText } from '../components/ui.js';
import { nodeMiniMap } from '../components/map.js';
import { loadUplot, cssVar, padToWindow } from '../components/charts.js';
import {
  favButton, isClaimed, setClaimed, thresholds, nodeStatus, statusExplanation, statusBadge,
  roleBadge, roleLabel, hashPrefix, hasPosition, fmtNum, contactQr, contactUrl, isInfra, lastHeardMs,
} from './node-common.js';


export function timeEl(value) {
  return h('time', { datetime: Number.isFinite(toMillis(value)) ? new Date(toMillis(value)).toISOString() : null, title: absolute(value), text: ago(value) });
}

function dl(pairs) {
  return h('dl.node-facts', null, ...pairs.filter(Boolean).flatMap(([k, v, title]) => [
    h('dt', { text: k, title }),
    h('dd', null, v === null || v === undefined || v === '' ? '—' : v),
  ]));
}

function snrText(v) {
  return v === null || v === undefined || !Number.isFinite(Number(v)) ? '—' : `${Number(v).toFixed(1)} dB`;
}

function rssiText(v) {
  return v === null || v === undefined || !Number.isFinite(Number(v)) ? '—' : `${Math.round(Number(v))} dBm`;
}

function section(id, title, ...children) {
  return h('section.node-section', { id, 'aria-labelledby': `${id}-h` },
    h('h2', { id: `${id}-h`, text: title }), ...children);
}

/** The packets page filtered to this node (its `node` query; a day, so it is not empty). */
export function packetsLink(pk) {
  return router.buildHash('packets', { node: pk, timeWindow: 1440 });
}

function nodeLink(pk, name) {
  return h('a', { href: `#/nodes/${encodeURIComponent(pk)}`, text: name || `${String(pk).slice(0, 8)}…` });
}

/** Overview facts (both views). */
function overview(node, health, t) {
  const s = health?.stats || {};
  const infra = isInfra(node.role);
  const share = Number(node.traffic_share_score);
  return dl([
    ['Status', h('span.status-line', null, statusBadge(nodeStatus(node, t)), h('span.muted', { text: statusExplanation(node, t) }))],
    ['Last heard', Number.isFinite(lastHeardMs(node)) ? timeEl(new Date(lastHeardMs(node)).toISOString()) : null],
    ['Last advert', node.last_seen ? timeEl(node.last_seen) : null],
    infra && ['Last relayed', node.last_relayed
      ? h('span', null, timeEl(node.last_relayed), ' ', h('span.muted', { text: `${node.relay_active ? 'actively relaying' : 'alive (idle)'} · ${fmtNum(node.relay_count_1h)}/h · ${fmtNum(node.relay_count_24h)}/24 h` }))
      : h('span.muted', { text: 'no relays seen' }), 'When a path last went through this node'],
    infra && Number.isFinite(share) && ['Traffic share', shareBar(share), 'Share of the traffic in its area that went through this node'],
    ['First seen', node.first_seen ? timeEl(node.first_seen) : null],
    ['Adverts', fmtNum(node.advert_count)],
    health && ['Total packets', `${fmtNum(s.totalTransmissions ?? s.totalPackets)}${s.totalObservations ? ` (seen ${fmtNum(s.totalObservations)}×)` : ''}`],
    health && ['Packets today', fmtNum(s.packetsToday)],
    health && ['Avg SNR', snrText(s.avgSnr)],
    health && ['Avg hops', s.avgHops === null || s.avgHops === undefined ? '—' : fmtNum(s.avgHops, 1)],
    ['Location', hasPosition(node) ? `${node.lat.toFixed(5)}, ${node.lon.toFixed(5)}` : h('span.muted', { text: 'not advertised' })],
    ['Hash prefix', h('span', null, h('code', { text: hashPrefix(node) }), ` · ${Number(node.hash_size) || 1}-byte`,
      node.hash_size_inconsistent ? h('span.warn-text', { text: ' · varies between adverts' }) : null)],
    node.battery_mv ? ['Battery', `${(node.battery_mv / 1000).toFixed(2)} V`] : null,
    Number.isFinite(node.temperature_c) ? ['Temperature', `${node.temperature_c} °C`] : null,
    node.default_scope ? ['Scope', String(node.default_scope)] : null,
  ]);
}

function shareBar(v) {
  const word = v >= 0.8 ? 'Critical' : v >= 0.6 ? 'Valuable' : v >= 0.3 ? 'Moderate' : v >= 0.1 ? 'Marginal' : 'Redundant';
  const bar = h('span.share-fill');
  bar.style.width = `${Math.max(2, Math.min(100, v * 100))}%`;
  return h('span.share', null, h('span.share-bar', { 'aria-hidden': 'true' }, bar), h('span', { text: `${Math.round(v * 100)} % · ${word}` }));
}

function badges(node) {
  return h('div.node-badges', null, roleBadge(node.role),
    h('span.badge', { title: 'Hash prefix used in paths', text: hashPrefix(node) }),
    Number(node.multi_byte_max_hash_size) > 1 ? h('span.badge', { title: `Multi-byte hashes: ${node.multi_byte_status || ''}`, text: `Multibyte: ${node.multi_byte_max_hash_size}-byte` }) : null,
    node.hash_size_inconsistent ? h('span.badge.warn-badge', { title: 'Adverts of this node use different hash sizes', text: '⚠ variable hash size' }) : null,
    node.foreign ? h('span.badge', { title: 'Heard outside the configured area', text: 'foreign' }) : null);
}

function keyBlock(node) {
  return h('div.key-block', null,
    h('code.full-key', { text: node.public_key }),
    h('button.button.small', { type: 'button', 'aria-label': 'Copy public key', text: 'Copy key', onclick: () => copyText(node.public_key, 'Public key copied') }));
}

function claimButton(node) {
  const b = h('button.button', { type: 'button' });
  const paint = () => {
    const on = isClaimed(node.public_key);
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
    b.textContent = on ? '✓ My node' : '+ My node';
    b.title = on ? 'Claimed: shown on Home under My Mesh (click to release)' : 'Claim: show it on Home under My Mesh';
  };
  paint();
  b.addEventListener('click', () => { setClaimed(node, !isClaimed(node.public_key)); paint(); });
  return b;
}

function heardByTable(observers, limit = Infinity, expandable = false) {
  if (!observers?.length) return h('p.muted', { text: 'No observer has heard this node in the retained data.' });
  let shown = limit;
  let sortKey = 'packetCount';
  let dir = -1;
  const tbody = h('tbody');
  const cols = [['observer_name', 'Observer'], ['iata', 'Region'], ['packetCount', 'Packets', 'num'], ['avgSnr', 'Avg SNR', 'num'], ['avgRssi', 'Avg RSSI', 'num']];
  const ths = cols.map(([key, label, cls]) => {
    const th = h('th', { scope: 'col', class: cls, 'aria-sort': key === sortKey ? 'descending' : 'none' });
    th.appendChild(h('button.th-sort', { type: 'button', text: label, onclick: () => {
      dir = sortKey === key ? -dir : (cls ? -1 : 1);
      sortKey = key;
      ths.forEach((x, i) => x.setAttribute('aria-sort', cols[i][0] === sortKey ? (dir > 0 ? 'ascending' : 'descending') : 'none'));
      fill();
    } }));
    return th;
  });
  const fill = () => {
    const rows = observers.slice().sort((a, b) => {
      const x = a[sortKey]; const y = b[sortKey];
      if (typeof x === 'number' || typeof y === 'number') return dir * ((Number(x) || -Infinity) - (Number(y) || -Infinity));
      return dir * String(x ?? '').localeCompare(String(y ?? ''));
    }).slice(0, shown);
    replace(tbody, ...rows.map((o) => h('tr', null,
      h('td.ellipsis', null, h('a', { href: `#/observers/${encodeURIComponent(o.observer_id)}`, text: o.observer_name || o.observer_id })),
      h('td', null, iataBadge(o.iata) || '—'),
      h('td.num', { text: fmtNum(o.packetCount) }),
      h('td.num', { text: snrText(o.avgSnr) }),
      h('td.num', { text: rssiText(o.avgRssi) }))));
  };
  fill();
  let more = null;
  if (observers.length > limit) {
    more = expandable
      ? h('button.button', { type: 'button', text: `Show all ${observers.length}`, onclick: () => { shown = Infinity; more.remove(); fill(); } })
      : h('p.muted.small', { text: `${observers.length - limit} more observers on the full page` });
  }
  return h('div', null, h('div.table-wrap', null, h('table.node-table', null, h('thead', null, h('tr', null, ...ths)), tbody)), more);
}

function packetRows(list, limit) {
  if (!list?.length) return h('p.muted', { text: 'No packets in the retained data.' });
  return h('div.table-wrap', null, h('table.node-table.packet-list', null,
    h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Type' }), h('th', { scope: 'col', text: 'Summary' }),
      h('th', { scope: 'col', text: 'Observer' }), h('th.num', { scope: 'col', text: 'Seen' }), h('th.num', { scope: 'col', text: 'SNR' }),
      h('th', { scope: 'col', text: 'When' }))),
    h('tbody', null, ...list.slice(0, limit).map((p) => {
      const payload = parseJson(p.decoded_json) || {};
      return h('tr', null,
        h('td', null, typeBadge(typeName(Number(p.payload_type)), [0, 3].includes(Number(p.route_type)))),
        h('td.ellipsis.summary-cell', null, h('a', { href: `#/packet/${encodeURIComponent(p.hash)}`, title: 'Open the packet', text: summary(payload, Number(p.payload_type)) || p.hash })),
        h('td.ellipsis', { text: p.observer_name || p.observer_id || '—' }),
        h('td.num', { title: 'Observations', text: fmtNum(p.observation_count ?? 1) }),
        h('td.num', { text: snrText(p.snr) }),
        h('td', null, timeEl(p.timestamp || p.first_seen)));
    }))));
}

function advertRows(list) {
  if (!list?.length) return h('p.muted', { text: 'No adverts in the retained data.' });
  return h('div.table-wrap', null, h('table.node-table', null,
    h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'When' }), h('th', { scope: 'col', text: 'Name' }),
      h('th', { scope: 'col', text: 'Observer' }), h('th.num', { scope: 'col', text: 'SNR' }), h('th.num', { scope: 'col', text: 'RSSI' }),
      h('th', { scope: 'col', text: 'Path' }), h('th', { scope: 'col', text: '' }))),
    h('tbody', null, ...list.map((a) => {
      const payload = parseJson(a.decoded_json) || {};
      const hops = Array.isArray(a._parsedPath) ? a._parsedPath : hopsOf(a.path_json);
      return h('tr', null,
        h('td', null, timeEl(a.timestamp || a.first_seen)),
        h('td.ellipsis', { text: payload.name ?? '—' }),
        h('td.ellipsis', null, a.observer_name || a.observer_id || '—', iataBadge(a.observer_iata)),
        h('td.num', { text: snrText(a.snr) }),
        h('td.num', { text: rssiText(a.rssi) }),
        h('td', null, pathChips(hops, 6)),
        h('td', null, h('a', { href: `#/packet/${encodeURIComponent(a.hash)}`, text: 'Analyze →' })));
    }))));
}

function pathsView(data, pk) {
  const paths = Array.isArray(data?.paths) ? data.paths : [];
  if (!paths.length) return h('p.muted', { text: 'No path in the retained data goes through this node.' });
  const list = h('ol.path-list');
  const more = h('button.button', { type: 'button' });
  let shown = 10;
  const fill = () => {
    replace(list, ...paths.slice(0, shown).map((p) => h('li.path-item', null,
      h('span.path', null, ...(p.hops || []).flatMap((hop, i) => {
        const self = hop.pubkey && hop.pubkey.toLowerCase() === pk.toLowerCase();
        const chip = hop.pubkey && !self
          ? h('a.hop.hop-link', { href: `#/nodes/${encodeURIComponent(hop.pubkey)}`, title: hop.pubkey, text: hop.name || hop.prefix })
          : h('span.hop', { class: self ? 'hop-self' : (hop.name ? '' : 'hop-unknown'), title: hop.pubkey || `${hop.prefix}: not resolved to one node`, text: hop.name || hop.prefix });
        return i ? [h('span.path-arrow', { 'aria-hidden': 'true', text: '→' }), chip] : [chip];
      })),
      h('span.muted.path-meta', null, `${fmtNum(p.count)}× · `, timeEl(p.lastSeen)),
      p.sampleHash ? h('a.path-sample', { href: `#/packet/${encodeURIComponent(p.sampleHash)}`, text: 'Analyze →' }) : null)));
    more.hidden = shown >= paths.length;
    more.textContent = `Show all ${paths.length}`;
  };
  more.addEventListener('click', () => { shown = paths.length; fill(); });
  fill();
  return h('div', null,
    h('p.muted.small', { text: `${fmtNum(data.totalPaths ?? paths.length)} distinct paths in ${fmtNum(data.totalTransmissions)} transmissions${(data.totalPaths ?? 0) > paths.length ? ` (the ${paths.length} most frequent shown)` : ''}.` }),
    list, more);
}

/** Activity of the last 24 h (packets per hour, and SNR per observation), uPlot. */
function activityChart(pk, holder) {
  let chart = null;
  let ro = null;
  let done = false;
  const load = async () => {
    if (done) return;
    done = true;
    try {
      const [uPlot, data] = await Promise.all([loadUplot(), api(`/api/nodes/${encodeURIComponent(pk)}/analytics?days=1`, { ttl: 60_000 })]);
      if (!holder.isConnected) return;
      const buckets = Array.isArray(data?.activityTimeline) ? data.activityTimeline : [];
      if (!buckets.length) { replace(holder, h('p.muted', { text: 'No packets in the last 24 hours.' })); return; }
      const xs = buckets.map((b) => toMillis(b.bucket) / 1000);
      const ys = buckets.map((b) => Number(b.count) || 0);
      padToWindow(xs, ys, toMillis(data?.timeRange?.from) / 1000, toMillis(data?.timeRange?.to) / 1000);
      replace(holder);
      const width = () => Math.max(260, holder.clientWidth);
      const accent = cssVar('--accent', '#0b66c3');
      const axis = { stroke: cssVar('--muted', '#5b6474'), grid: { stroke: cssVar('--surface-2', '#eee') }, ticks: { stroke: cssVar('--border', '#ddd') } };
      chart = new uPlot({
        width: width(), height: 180,
        series: [{}, { label: 'Packets / hour', stroke: accent, fill: `${accent}33`, width: 1.5, paths: uPlot.paths.bars({ size: [0.8, 40] }), points: { show: false } }],
        axes: [axis, { ...axis, size: 40 }],
        scales: { y: { range: (u, min, max) => [0, Math.max(1, max)] } },
        legend: { show: true },
      }, [xs, ys], holder);
      ro = new ResizeObserver(() => chart?.setSize({ width: width(), height: 180 }));
      ro.observe(holder);
    } catch (e) {
      replace(holder, h('p.error-text', { text: `Could not load the activity: ${e.message}` }));
    }
  };
  const io = new IntersectionObserver((entries) => {
    if (entries.some((en) => en.isIntersecting)) { io.disconnect(); load(); }
  });
  io.observe(holder);
  return () => { io.disconnect(); ro?.disconnect(); chart?.destroy(); chart = null; };
}

/**
 * Fills `el` with a node's summary (compact: the directory's side pane) or its full page.
 * Returns a cleanup function. `onClose` adds a ✕ button (compact).
 */
export function renderNode(el, pk, { compact = false, onClose, onLoaded } = {}) {
  let alive = true;
  const cleanups = [];
  const body = h('div.node-body', { 'aria-busy': 'true' }, h('p.muted', { text: 'Loading…' }));
  replace(el, body);
  const enc = encodeURIComponent(pk);
  const t0 = thresholds();

  const load = async () => {
    replace(body, h('p.muted', { text: 'Loading…' }));
    body.setAttribute('aria-busy', 'true');
    let nodeBody;
    let health = null;
    let t;
    try {
      [nodeBody, health, t] = await Promise.all([
        api(`/api/nodes/${enc}`),
        api(`/api/nodes/${enc}/health`).catch(() => null),
        t0,
      ]);
    } catch (e) {
      if (!alive) return;
      body.removeAttribute('aria-busy');
      const notFound = e.status === 404;
      replace(body, h('div.node-card.not-found', { role: 'alert' },
        onClose ? h('button.icon-button.detail-close', { type: 'button', 'aria-label': 'Close node detail', onclick: onClose, text: '✕' }) : null,
        h(compact ? 'h2' : 'h1', { text: notFound ? 'Node not found' : 'Could not load the node' }),
        h('p.muted', { text: notFound ? `No node has the key or unique prefix “${pk}”.` : e.message }),
        h('p.actions', null,
          h('a.button', { href: '#/nodes', text: '← All nodes' }),
          h('button.button', { type: 'button', text: 'Try again', onclick: load }))));
      onLoaded?.(null);
      return;
    }
    if (!alive) return;
    const node = nodeBody?.node || nodeBody;
    const key = node.public_key;
    body.removeAttribute('aria-busy');
    const title = h(compact ? 'h2.node-name' : 'h1.node-name', { text: node.name || `${key.slice(0, 8)}…` });
    const actions = h('div.node-actions', null,
      compact ? h('a.button.primary', { href: `#/nodes/${encodeURIComponent(key)}`, text: 'Full page →' }) : null,
      h('a.button', { href: `#/nodes/${encodeURIComponent(key)}/analytics`, text: 'Analytics' }),
      isInfra(node.role) ? h('a.button', { href: `#/nodes/${encodeURIComponent(key)}/reach`, title: 'Radio links both ways, from the paths it relays' }, 'Reach') : null,
      h('a.button', { href: packetsLink(key), text: 'Packets' }),
      compact ? null : h('button.button', { type: 'button', text: 'Copy URL', onclick: () => copyText(`${location.origin}/#/nodes/${key}`, 'Link copied') }),
      compact ? null : h('button.button', { type: 'button', title: 'An 8-character link, short enough to send over the mesh', text: 'Copy short URL', onclick: () => copyText(`${location.origin}/#/nodes/${key.slice(0, 8)}`, 'Short link copied') }),
      claimButton(node));
    if (!compact) {
      // The same key is also an observer (a repeater that reports to MQTT): link to it.
      api('/api/observers', { ttl: 60_000 }).then((b) => {
        const list = Array.isArray(b) ? b : (Array.isArray(b?.observers) ? b.observers : []);
        const obs = list.find((o) => String(o.id).toLowerCase() === key.toLowerCase());
        if (obs && alive) actions.appendChild(h('a.button', { href: `#/observers/${encodeURIComponent(obs.id)}`, text: 'Observer →' }));
      }).catch(() => {});
    }
    const head = h('header.node-head', null,
      compact ? null : h('a.back-link', { href: '#/nodes', text: '← Nodes' }),
      h('div.node-title', null, favButton(node), title,
        onClose ? h('button.icon-button.detail-close', { type: 'button', 'aria-label': 'Close node detail', onclick: onClose, text: '✕' }) : null),
      badges(node));
    const position = h('div.position', null,
      hasPosition(node)
        ? h('p', null, h('span.mono', { text: `${node.lat.toFixed(5)}, ${node.lon.toFixed(5)}` }), ' ',
          h('a', { href: router.buildHash('map', { node: key }), text: 'Show on map →' }))
        : h('p.muted', { text: 'This node does not advertise a position.' }));
    const contact = h('div.contact', null, contactQr(node),
      compact ? null : h('p.contact-url', null, h('code', { text: contactUrl(node) }),
        h('button.button.small', { type: 'button', text: 'Copy', 'aria-label': 'Copy the contact URL', onclick: () => copyText(contactUrl(node), 'Contact URL copied') })));

    if (compact) {
      replace(body,
        head, actions,
        h('div.compact-grid', null, contact, h('div', null, keyBlock(node), overview(node, health, t))),
        section('pane-packets', 'Recent packets', packetRows(health?.recentPackets, 6),
          h('p', null, h('a', { href: packetsLink(key), text: 'All packets of this node →' }))),
        section('pane-heard', 'Heard by', heardByTable(health?.observers, 6)));
      onLoaded?.(node);
      return;
    }

    document.title = `${node.name || key.slice(0, 8)} · Nodes · MeshCore Analyzer`;
    const miniMap = nodeMiniMap(node, health?.observers);
    if (miniMap) { position.appendChild(miniMap.el); cleanups.push(() => miniMap.destroy()); }
    const chartHolder = h('div.chart-holder', { 'aria-label': 'Packets per hour over the last 24 hours', role: 'img' }, h('p.muted', { text: 'Loading…' }));
    const pathsHolder = h('div', { 'aria-busy': 'true' }, h('p.muted', { text: 'Loading…' }));
    replace(body,
      head,
      h('div.node-card', null, actions, keyBlock(node)),
      h('div.node-grid', null,
        section('overview', 'Overview', overview(node, health, t)),
        section('contact', 'Contact and position', contact, position)),
      section('activity', 'Activity, last 24 hours', chartHolder,
        h('p', null, h('a', { href: `#/nodes/${encodeURIComponent(key)}/analytics`, text: 'More in the node analytics →' }))),
      section('heard-by', 'Heard by', heardByTable(health?.observers, 10, true)),
      section('recent-packets', 'Recent packets', packetRows(health?.recentPackets, 20),
        h('p', null, h('a', { href: packetsLink(key), text: 'All packets of this node →' }))),
      section('adverts', 'Recent adverts', advertRows(nodeBody?.recentAdverts)),
      section('paths', 'Paths through this node', pathsHolder),
      h('p.muted.small.absent-note', { text: 'Neighbours and clock skew are not available from this server yet.' }));
    cleanups.push(activityChart(key, chartHolder));
    api(`/api/nodes/${encodeURIComponent(key)}/paths`).then((data) => {
      if (!alive) return;
      replace(pathsHolder, pathsView(data, key));
      pathsHolder.removeAttribute('aria-busy');
    }).catch((e) => {
      if (!alive) return;
      replace(pathsHolder, h('p.error-text', { text: `Could not load the paths: ${e.message}` }));
      pathsHolder.removeAttribute('aria-busy');
    });
    onLoaded?.(node);
  };
  load();
  return () => { alive = false; cleanups.forEach((f) => f()); };
}

/** The full node page. */
export function nodePage(el, ctx) {
  const pk = ctx.segments[0];
  el.classList.add('node-page');
  const holder = h('div.node-full');
  el.appendChild(holder);
  const cleanup = renderNode(holder, pk, {
    onLoaded: (node) => {
      const sectionId = ctx.query.get('section');
      if (node && sectionId) {
        const target = document.getElementById(sectionId);
        if (target) requestAnimationFrame(() => target.scrollIntoView({ block: 'start' }));
      }
    },
  });
  const onKey = (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented || document.querySelector('dialog[open], details[open]')) return;
    if (e.target.closest?.('input, textarea, select')) return;
    router.navigate('#/nodes');
  };
  document.addEventListener('keydown', onKey);
  return () => { cleanup(); document.removeEventListener('keydown', onKey); };
}

export { roleLabel };
