// Node reach (`#/nodes/<pk>/reach?days=1|7|14|30&in=0&out=0&sort=<col>[:asc]`): a relay's
// radio links both ways, from the paths its reliable tokens (key prefixes no other repeater or
// room shares) appear on. Header with the tokens and what they mean, range buttons, stat cards
// (neighbours and rank in the neighbour graph, links, two-way links, relay observations,
// direct observers), a map with a line to each neighbour that has a position (tier by the
// bottleneck: strong ≥300, medium 100–299, weak <100, one-way dashed; glyphs ●●● ●● ● ○ so
// colour is not the only cue), toggles for one-way links heard in / out, a sortable link table,
// the observers that hear the node directly, and a print stylesheet (css/node-reach.css).
//
// URL state: `days` (7 when absent), `in=0` / `out=0` hide one-way links we only hear / that
// only hear us, `sort` (`idx` is the server's order: two-way first, then by bottleneck).
// Data: /api/nodes/{pk}/reach?days= (a full 64-hex key; a unique prefix is resolved first
// through /api/nodes/{prefix}).

import { h, replace } from '../dom.js';
import { api } from '../api.js';
import * as router from '../router.js';
import { absolute } from '../time.js';
import { createMap, loadLeaflet } from '../components/map.js';
import { roleBadge, fmtNum, hasPosition } from './node-common.js';

const RANGES = [[1, '24h', 'Last 24 hours'], [7, '7d', 'Last 7 days'], [14, '14d', 'Last 14 days'], [30, '30d', 'Last 30 days']];
const DEFAULT_DAYS = 7;
const TIERS = {
  strong: { glyph: '●●●', label: 'Strong', note: 'two-way, bottleneck ≥ 300' },
  medium: { glyph: '●●', label: 'Medium', note: 'two-way, bottleneck 100–299' },
  weak: { glyph: '●', label: 'Weak', note: 'two-way, bottleneck < 100' },
  oneway: { glyph: '○', label: 'One-way', note: 'heard in one direction only' },
};
const WEIGHT = { strong: 5, medium: 4, weak: 3, oneway: 2 };
/** Sortable columns: key → [value of a link, first direction]. */
const SORTS = {
  idx: [(l) => l._idx, 'asc'],
  name: [(l) => (l.name || `\uffff${l.pubkey}`).toLowerCase(), 'asc'],
  we: [(l) => l.we_hear, 'desc'],
  they: [(l) => l.they_hear, 'desc'],
  bottleneck: [(l) => l.bottleneck * 1e6 + (l.bidir ? 1e5 : 0) + l.we_hear + l.they_hear, 'desc'],
  dist: [(l) => (Number.isFinite(l.distance_km) ? l.distance_km : Infinity), 'asc'],
};
const collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true });
const FULL_KEY = /^[0-9a-f]{64}$/i;

/** strong | medium | weak | oneway. */
export function tierOf(link) {
  if (!link.bidir) return 'oneway';
  if (link.bottleneck >= 300) return 'strong';
  if (link.bottleneck >= 100) return 'medium';
  return 'weak';
}

/** 'in' (we hear it only), 'out' (it hears us only) or 'both'. */
function direction(link) {
  if (link.bidir) return 'both';
  return link.we_hear > 0 ? 'in' : 'out';
}

function shortKey(k) {
  return `${String(k).slice(0, 8)}…`;
}

function card(label, value, note, id) {
  return h('div.stat-card', { dataset: { stat: id } },
    h('div.stat-label', { text: label }), h('div.stat-value', { text: value }), h('div.stat-note.muted', { text: note }));
}

function section(id, title, ...children) {
  return h('section.node-section', { id, 'aria-labelledby': `${id}-h` }, h('h2', { id: `${id}-h`, text: title }), ...children);
}

function tierBadge(link) {
  const t = tierOf(link);
  const dir = direction(link);
  const text = t === 'oneway' ? (dir === 'in' ? 'one-way in' : 'one-way out') : TIERS[t].label.toLowerCase();
  return h('span.tier', { class: `tier-${t}`, title: `${TIERS[t].label}: ${TIERS[t].note}` },
    h('span.tier-glyph', { 'aria-hidden': 'true', text: TIERS[t].glyph }),
    h('span.tier-text', { text }));
}

/** A neighbour's page: the node, or the observer for an observer that is not a node. */
function neighbourHref(link) {
  return link.role === 'observer'
    ? `#/observers/${encodeURIComponent(link.pubkey)}`
    : `#/nodes/${encodeURIComponent(link.pubkey)}`;
}

function neighbourLink(link) {
  const named = Boolean(link.name);
  return h('a.reach-name', { href: neighbourHref(link), title: link.pubkey, class: named ? '' : 'unnamed', text: named ? link.name : shortKey(link.pubkey) });
}

/** The reach page; returns its cleanup. */
export function reachPage(el, ctx) {
  let pk = ctx.segments[0] || '';
  let days = Number(ctx.query.get('days')) || DEFAULT_DAYS;
  if (!RANGES.some(([d]) => d === days)) days = DEFAULT_DAYS;
  const show = { in: ctx.query.get('in') !== '0', out: ctx.query.get('out') !== '0' };
  const sort = parseSort(ctx.query.get('sort'));
  let alive = true;
  let seq = 0;
  let data = null;
  let mapHandle = null;
  let mapReady = null; // Promise of the map with its line layers
  let mapLayers = null; // { L, map, group }
  let fitted = false;
  let expandObservers = null; // shows every direct observer (for printing)

  el.classList.add('node-page', 'reach-page');
  const back = h('a.back-link', { href: `#/nodes/${encodeURIComponent(pk)}`, text: '← Node' });
  const title = h('h1.reach-title', { text: 'Reach' });
  const badges = h('div.node-badges.reach-badges');
  const rangeGroup = h('div.view-group.reach-range', { role: 'group', 'aria-label': 'Time window' },
    ...RANGES.map(([d, label, long]) => h('button.button.view-btn', {
      type: 'button', 'aria-pressed': d === days ? 'true' : 'false', title: long, dataset: { days: String(d) }, text: label,
    })));
  const printButton = h('button.button.reach-print', { type: 'button', title: 'Print this page or save it as a PDF', onclick: () => window.print() },
    'Print / PDF');
  const actions = h('div.reach-actions', null, rangeGroup, printButton);
  const windowLine = h('p.muted.small.reach-window');
  const note = h('div.reach-note', null,
    h('p', { text: 'Reach is built only from path hashes that name this node unambiguously: the 1–3-byte prefixes of its key that no other repeater or room shares.' }),
    h('details.reach-how', null,
      h('summary', { text: 'How are links counted?' }),
      h('p', { text: 'On every observation whose path holds one of those hashes, the hop before it is a node this one heard (“we hear”; for an advert’s first hop, its sender), and the hop after it — or the observer, when this node is the last hop — heard this one (“they hear us”). Neighbouring hops count only when they too name exactly one relay.' }),
      h('p', { text: 'A link is two-way when both directions were seen. Its bottleneck is the weaker direction, and sets its tier: strong ≥ 300 sightings, medium 100–299, weak under 100. Neighbours and rank come from the neighbour graph of the whole mesh.' })));
  const body = h('div.reach-body', { 'aria-busy': 'true' }, h('p.muted.reach-loading', { role: 'status', text: 'Loading…' }));
  el.appendChild(h('div.node-full', null,
    back,
    h('header.reach-head', null,
      h('div.reach-head-main', null, h('p.reach-eyebrow', { text: 'RF reach' }), title, badges),
      actions),
    windowLine, note, body));

  // Persistent parts of the body, filled on each load.
  const notices = h('div.reach-notices');
  const cards = h('div.stat-cards.reach-cards');
  const inToggle = h('button.button.reach-toggle', { type: 'button', dataset: { dir: 'in' } });
  const outToggle = h('button.button.reach-toggle', { type: 'button', dataset: { dir: 'out' } });
  const controls = h('div.reach-controls', { role: 'group', 'aria-label': 'One-way links shown' },
    h('span.muted.small', { text: 'One-way links:' }), inToggle, outToggle);
  const mapBox = h('div.map-box.reach-map');
  const legend = h('p.map-legend.reach-legend');
  const mapNote = h('p.muted.small.reach-map-note');
  const mapSection = section('reach-map', 'Links on the map', mapBox, legend, mapNote);
  const tableHolder = h('div.reach-table-holder');
  const tableSection = section('reach-links', 'Links', tableHolder);
  const observersHolder = h('div');
  const observersSection = section('reach-observers', 'Heard directly by observers', observersHolder);
  const emptyHolder = h('div');

  function writeUrl() {
    router.replaceHash(router.buildHash(`nodes/${encodeURIComponent(pk)}/reach`, {
      days: days === DEFAULT_DAYS ? '' : days,
      in: show.in ? '' : '0',
      out: show.out ? '' : '0',
      sort: sort.key === 'idx' && sort.dir === 'asc' ? '' : `${sort.key}${sort.dir === SORTS[sort.key][1] ? '' : `:${sort.dir}`}`,
    }));
  }

  rangeGroup.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-days]');
    if (!b || Number(b.dataset.days) === days) return;
    days = Number(b.dataset.days);
    rangeGroup.querySelectorAll('button').forEach((x) => x.setAttribute('aria-pressed', x === b ? 'true' : 'false'));
    writeUrl();
    load();
  });
  controls.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-dir]');
    if (!b) return;
    show[b.dataset.dir] = !show[b.dataset.dir];
    writeUrl();
    renderLinks();
  });

  /** Links that pass the one-way toggles. */
  function visibleLinks() {
    return (data?.links || []).filter((l) => {
      const d = direction(l);
      return d === 'both' || show[d];
    });
  }

  function renderToggles() {
    const links = data?.links || [];
    const nIn = links.filter((l) => direction(l) === 'in').length;
    const nOut = links.filter((l) => direction(l) === 'out').length;
    inToggle.setAttribute('aria-pressed', show.in ? 'true' : 'false');
    outToggle.setAttribute('aria-pressed', show.out ? 'true' : 'false');
    replace(inToggle, h('span.check', { 'aria-hidden': 'true', text: show.in ? '✓' : '' }), `Incoming (${fmtNum(nIn)})`);
    replace(outToggle, h('span.check', { 'aria-hidden': 'true', text: show.out ? '✓' : '' }), `Outgoing (${fmtNum(nOut)})`);
    inToggle.title = 'Neighbours this node hears that were never seen hearing it';
    outToggle.title = 'Neighbours that hear this node that it was never seen hearing';
  }

  function renderLinks() {
    renderToggles();
    renderTable();
    drawMap();
  }

  // ---- table ----
  function renderTable() {
    const all = data?.links || [];
    if (!all.length) {
      replace(tableHolder, h('p.muted.reach-empty', { text: `No links in the last ${windowText(days)}: no path in this window holds one of this node’s hashes next to another relay that can be named.` }));
      return;
    }
    const [value] = SORTS[sort.key];
    const dir = sort.dir === 'asc' ? 1 : -1;
    const rows = visibleLinks().slice().sort((a, b) => {
      const x = value(a);
      const y = value(b);
      const c = typeof x === 'string' ? collator.compare(x, y) : (x === y ? 0 : (x < y ? -1 : 1));
      return c * dir || a._idx - b._idx;
    });
    const cols = [
      ['idx', '#', '#', 'num col-idx', 'The server’s order: two-way links first, then by bottleneck'],
      ['name', 'Neighbour', 'Neighbour', '', null],
      ['we', 'We hear', 'In', 'num', 'Sightings of this neighbour heard by this node'],
      ['they', 'They hear us', 'Out', 'num', 'Sightings of this node heard by the neighbour'],
      ['bottleneck', 'Bottleneck', 'Min', 'num', 'The weaker direction: sets the tier'],
      ['dist', 'Distance km', 'km', 'num', 'Straight-line distance, when both advertise a position'],
    ];
    const ths = cols.map(([key, long, short, cls, tip]) => {
      const active = sort.key === key;
      const button = h('button.th-sort', { type: 'button', title: tip ? `${tip}. Sort by ${long.toLowerCase()}` : `Sort by ${long.toLowerCase()}` },
        h('span.th-long', { text: long }), h('span.th-short', { 'aria-hidden': 'true', text: short }));
      button.addEventListener('click', () => {
        if (sort.key === key) sort.dir = sort.dir === 'asc' ? 'desc' : 'asc';
        else { sort.key = key; sort.dir = SORTS[key][1]; }
        writeUrl();
        renderTable();
        tableHolder.querySelector(`th[data-col="${key}"] button`)?.focus();
      });
      return h('th', { scope: 'col', class: cls, dataset: { col: key }, 'aria-sort': active ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none' }, button);
    });
    const hidden = all.length - rows.length;
    replace(tableHolder,
      h('div.table-wrap', null, h('table.node-table.reach-table', { 'aria-label': 'Radio links of this node, one row per neighbour' },
        h('thead', null, h('tr', null, ...ths)),
        h('tbody', null, ...rows.map((l) => h('tr', { dataset: { key: l.pubkey, tier: tierOf(l) } },
          h('td.num.col-idx', { text: String(l._idx + 1) }),
          h('td.ellipsis.reach-neighbour', null, neighbourLink(l),
            l.role && l.role !== 'repeater' ? h('span.muted.reach-role', { text: l.role }) : null),
          h('td.num', { text: fmtNum(l.we_hear) }),
          h('td.num', { text: fmtNum(l.they_hear) }),
          h('td.num.reach-bottleneck', null, tierBadge(l), h('span.bn-value', { text: fmtNum(l.bottleneck) })),
          h('td.num', { text: Number.isFinite(l.distance_km) ? fmtNum(l.distance_km, 1) : '—' })))))),
      h('p.muted.small.reach-abbr', { text: 'In: we hear it · Out: it hears us · Min: the bottleneck, the weaker of the two.' }),
      hidden ? h('p.muted.small', { text: `${fmtNum(hidden)} one-way link${hidden === 1 ? '' : 's'} hidden: turn them back on under “One-way links”.` }) : null);
  }

  // ---- map ----
  function ensureMap(node) {
    if (mapReady) return mapReady;
    mapHandle = createMap(mapBox, {
      markers: [{ lat: node.lat, lon: node.lon, role: node.role, label: node.name || shortKey(node.public_key), primary: true }],
      center: [node.lat, node.lon], zoom: 11, maxZoom: 13,
      label: `Map of the radio links of ${node.name || shortKey(node.public_key)}`,
    });
    mapReady = Promise.all([mapHandle.ready, loadLeaflet()]).then(([map, L]) => {
      if (!map || !alive) return null;
      // Lines under the markers, neighbours under the node itself (pane z-order).
      map.createPane('reachLines').style.zIndex = '390';
      const group = L.layerGroup().addTo(map);
      mapLayers = { L, map, group };
      return map;
    });
    return mapReady;
  }

  function drawMap() {
    const node = data?.node;
    if (!node || !hasPosition(node) || !(data.links || []).length) return;
    const my = seq;
    ensureMap(node).then(() => {
      if (!alive || !mapLayers || my !== seq) return;
      const { L, map, group } = mapLayers;
      group.clearLayers();
      const origin = [node.lat, node.lon];
      const points = [origin];
      // Weakest first, so the strong lines are drawn on top.
      const drawn = visibleLinks().filter(hasPosition).slice().reverse();
      for (const l of drawn) {
        const t = tierOf(l);
        const to = [l.lat, l.lon];
        points.push(to);
        const tip = () => h('span.reach-tip', null,
          h('strong', { text: l.name || shortKey(l.pubkey) }), h('br'),
          `${TIERS[t].glyph} ${t === 'oneway' ? (direction(l) === 'in' ? 'one-way in' : 'one-way out') : TIERS[t].label.toLowerCase()}`, h('br'),
          `we hear ${fmtNum(l.we_hear)} · they hear us ${fmtNum(l.they_hear)}`,
          Number.isFinite(l.distance_km) ? ` · ${fmtNum(l.distance_km, 1)} km` : '');
        const line = L.polyline([origin, to], {
          pane: 'reachLines', className: `reach-line tier-${t}`, weight: WEIGHT[t], opacity: 0.85,
          dashArray: t === 'oneway' ? '6 6' : null, interactive: true,
        });
        line.bindTooltip(tip(), { sticky: true, className: 'map-tooltip' });
        line.on('click', () => { location.hash = neighbourHref(l); });
        group.addLayer(line);
        // The neighbour in its link's tier colour (CSS), so a dot and its line read as one.
        const dot = L.circleMarker(to, {
          radius: 5, weight: 1.5, fillOpacity: 0.95,
          className: `reach-neighbour-dot tier-${t}`,
        });
        dot.bindTooltip(tip(), { direction: 'top', offset: [0, -6], className: 'map-tooltip' });
        dot.on('click', () => { location.hash = neighbourHref(l); });
        group.addLayer(dot);
      }
      mapBox.dataset.lines = String(drawn.length);
      if (!fitted && points.length > 1) {
        fitted = true;
        map.invalidateSize({ animate: false });
        map.fitBounds(points, { padding: [24, 24], maxZoom: 13, animate: false });
      }
    }).catch(() => { /* createMap shows its own error note */ });
    const all = data.links || [];
    const located = visibleLinks().filter(hasPosition).length;
    const hiddenByToggle = all.length - visibleLinks().length;
    const noPos = visibleLinks().length - located;
    const parts = [`${fmtNum(located)} of ${fmtNum(all.length)} neighbours drawn.`];
    if (noPos) parts.push(`${fmtNum(noPos)} without a known position (observers that are not nodes, nodes that do not advertise one) are only in the table.`);
    if (hiddenByToggle) parts.push(`${fmtNum(hiddenByToggle)} one-way hidden.`);
    mapNote.textContent = parts.join(' ');
  }

  function renderLegend() {
    replace(legend, ...Object.entries(TIERS).map(([t, def]) => h('span.key', { title: def.note },
      h('span.reach-swatch', { class: `tier-${t}`, 'aria-hidden': 'true' }),
      h('span.tier', { class: `tier-${t}` }, h('span.tier-glyph', { 'aria-hidden': 'true', text: def.glyph })),
      h('span', { text: `${def.label} (${def.note})` }))));
  }

  // ---- observers ----
  function renderObservers(list) {
    if (!list.length) {
      replace(observersHolder, h('p.muted', { text: 'No observer heard this node as the last hop in this window.' }));
      return;
    }
    const tbody = h('tbody');
    const fill = (n) => replace(tbody, ...list.slice(0, n).map((o) => h('tr', null,
      h('td.ellipsis', null, h('a', { href: `#/observers/${encodeURIComponent(o.observer_id)}`, title: o.observer_id, text: o.observer_name || shortKey(o.observer_id) })),
      h('td.num', { text: fmtNum(o.count) }),
      h('td.num', { text: Number.isFinite(o.avg_snr) ? `${fmtNum(o.avg_snr, 1)} dB` : '—' }))));
    fill(15);
    const more = list.length > 15
      ? h('button.button.reach-more', { type: 'button', text: `Show all ${fmtNum(list.length)}`, onclick: () => { fill(list.length); more.remove(); } })
      : null;
    expandObservers = more ? () => { fill(list.length); more.remove(); } : null;
    replace(observersHolder,
      h('p.muted.small', { text: 'Observers that received this node’s transmissions straight from it (it was the last hop), with the average SNR of those receptions.' }),
      h('div.table-wrap', null, h('table.node-table.reach-observers', null,
        h('thead', null, h('tr', null, h('th', { scope: 'col', text: 'Observer' }), h('th.num', { scope: 'col', text: 'Packets' }), h('th.num', { scope: 'col', text: 'Avg SNR' }))),
        tbody)),
      more);
  }

  // ---- header, cards, notices ----
  function renderHead(r) {
    const node = r.node || {};
    const name = node.name || shortKey(node.public_key || pk);
    replace(title, h('a.reach-node-link', { href: `#/nodes/${encodeURIComponent(node.public_key || pk)}`, title: 'Open the node page', text: name }));
    document.title = `${name} · Reach · MeshCore Analyzer`;
    const tokens = Array.isArray(r.reliable_tokens) ? r.reliable_tokens : [];
    replace(badges, roleBadge(node.role),
      tokens.length
        ? h('span.reach-tokens', { title: 'Path hashes that name only this node' },
          h('span.muted', { text: 'Reliable hashes' }), ...tokens.map((t) => h('code.reach-token', { text: String(t) })))
        : h('span.muted.small', { text: 'No reliable hash' }));
    const w = r.window || {};
    windowLine.textContent = w.from && w.to ? `Window: ${absolute(w.from)} – ${absolute(w.to)}` : '';
  }

  function renderNotices(r) {
    const w = r.window || {};
    const list = [];
    if (w.truncated) {
      list.push(h('p.reach-notice', { role: 'note' }, h('strong', { text: 'Partial: ' }),
        `the scan stopped at its cap of ${fmtNum(w.scan_cap)} observations (the newest first), so older traffic in this window is not counted.`));
    }
    if (w.complete === false) {
      list.push(h('p.reach-notice', { role: 'note' }, h('strong', { text: 'Partial: ' }),
        `this server does not hold the whole ${windowText(w.days ?? days)} in memory; the counts cover only the part it holds.`));
    }
    replace(notices, ...list);
  }

  function renderCards(r) {
    const imp = r.importance || {};
    const w = r.window || {};
    const links = r.links || [];
    replace(cards,
      card('Neighbours', fmtNum(imp.degree), 'Distinct neighbours in the mesh’s neighbour graph', 'degree'),
      card('Rank', Number.isFinite(imp.rank) ? `#${fmtNum(imp.rank)} / ${fmtNum(imp.nodes_with_edges)}` : '—',
        'By neighbour count, among nodes with any neighbour', 'rank'),
      card('Links', fmtNum(links.length), `Nodes and observers linked to it in ${windowText(w.days ?? days)}`, 'links'),
      card('Two-way', fmtNum(imp.bidirectional_links), 'Links seen in both directions', 'bidir'),
      card('Relay obs', fmtNum(w.relay_observations), 'Observations with this node on the path', 'relay'),
      card('Direct observers', fmtNum(imp.direct_observers), 'Observers that heard it as the last hop', 'direct'));
  }

  function renderNoTokens(r) {
    const node = r.node || {};
    const relays = node.role === 'repeater' || node.role === 'room';
    const why = relays
      ? 'Every 1–3-byte prefix of this node’s key is shared with another repeater or room, so no path hash names it alone, and its links cannot be told apart from theirs.'
      : `${node.role === 'sensor' ? 'Sensors' : node.role === 'companion' ? 'Companions' : 'Nodes of this kind'} do not relay packets, so their hash does not appear in paths: there is no link to measure from paths.`;
    replace(emptyHolder, h('div.node-card.reach-no-tokens', { role: 'note' },
      h('h2', { text: 'No reliable path hash for this node' }),
      h('p', { text: why }),
      h('p', null, 'The ', h('a', { href: `#/nodes/${encodeURIComponent(node.public_key || pk)}?section=heard-by`, text: 'node page' }),
        ' lists the observers that hear it and the paths its packets took.')));
  }

  function windowText(d) {
    return d === 1 ? '24 hours' : `${d} days`;
  }

  async function resolveKey() {
    if (FULL_KEY.test(pk)) return pk.toLowerCase();
    // A unique prefix (the node page accepts one): the node's full key.
    const b = await api(`/api/nodes/${encodeURIComponent(pk)}`);
    const full = (b?.node || b)?.public_key;
    if (!full || !FULL_KEY.test(full)) throw Object.assign(new Error('Node not found'), { status: 404 });
    return full.toLowerCase();
  }

  async function load() {
    const my = ++seq;
    body.setAttribute('aria-busy', 'true');
    rangeGroup.setAttribute('aria-busy', 'true');
    if (!data) replace(body, h('p.muted.reach-loading', { role: 'status', text: 'Loading…' }));
    else body.classList.add('reloading');
    fitted = false;
    let r;
    try {
      const key = await resolveKey();
      if (key !== pk) {
        pk = key;
        back.href = `#/nodes/${encodeURIComponent(pk)}`;
        writeUrl();
      }
      r = await api(`/api/nodes/${encodeURIComponent(pk)}/reach?days=${days}`, { ttl: 60_000 });
    } catch (e) {
      if (my !== seq || !alive) return;
      body.removeAttribute('aria-busy');
      rangeGroup.removeAttribute('aria-busy');
      body.classList.remove('reloading');
      data = null;
      const notFound = e.status === 404 || e.status === 400;
      title.textContent = notFound ? 'Node not found' : 'Could not load the reach';
      replace(badges);
      windowLine.textContent = '';
      note.hidden = true;
      actions.hidden = true;
      replace(body, h('div.node-card.reach-error', { role: 'alert' },
        h('p', { text: notFound ? `No node that this server shows has the key “${pk}”.` : e.message }),
        h('p.actions', null,
          h('a.button', { href: '#/nodes', text: '← All nodes' }),
          h('button.button', { type: 'button', text: 'Try again', onclick: load }))));
      return;
    }
    if (my !== seq || !alive) return;
    body.removeAttribute('aria-busy');
    rangeGroup.removeAttribute('aria-busy');
    body.classList.remove('reloading');
    note.hidden = false;
    actions.hidden = false;
    rangeGroup.hidden = false;
    data = { ...r, links: (Array.isArray(r.links) ? r.links : []).map((l, i) => ({ ...l, _idx: i, we_hear: Number(l.we_hear) || 0, they_hear: Number(l.they_hear) || 0, bottleneck: Number(l.bottleneck) || 0 })) };
    renderHead(data);
    const tokens = Array.isArray(data.reliable_tokens) ? data.reliable_tokens : [];
    if (!tokens.length) {
      // Nothing can be measured: say why instead of a page of zeros (and no window to pick).
      renderNoTokens(data);
      rangeGroup.hidden = true;
      windowLine.textContent = '';
      const imp = data.importance || {};
      replace(cards,
        card('Neighbours', fmtNum(imp.degree), 'Distinct neighbours in the mesh’s neighbour graph', 'degree'),
        card('Rank', Number.isFinite(imp.rank) ? `#${fmtNum(imp.rank)} / ${fmtNum(imp.nodes_with_edges)}` : '—', 'By neighbour count, among nodes with any neighbour', 'rank'));
      replace(body, emptyHolder, cards);
      return;
    }
    renderNotices(data);
    renderCards(data);
    renderLegend();
    const node = data.node || {};
    const parts = [notices, cards];
    if (hasPosition(node) && data.links.length) {
      parts.push(h('div.reach-map-wrap', null, mapSection));
      mapSection.insertBefore(controls, mapBox);
    } else {
      parts.push(h('div.node-card.reach-map-absent', null,
        h('p.muted', { text: hasPosition(node) ? 'No links to draw on the map.' : 'This node does not advertise a position, so its links are not drawn on a map.' }),
        data.links.length ? controls : null));
    }
    parts.push(tableSection, observersSection);
    replace(body, ...parts);
    renderLinks();
    renderObservers(Array.isArray(data.direct_observers) ? data.direct_observers : []);
  }

  // The explanation belongs in a printout: open it while printing (button or Ctrl+P).
  const how = note.querySelector('details');
  let wasOpen = false;
  const beforePrint = () => { wasOpen = how.open; how.open = true; expandObservers?.(); };
  const afterPrint = () => { how.open = wasOpen; };
  window.addEventListener('beforeprint', beforePrint);
  window.addEventListener('afterprint', afterPrint);

  load();
  return () => {
    window.removeEventListener('beforeprint', beforePrint);
    window.removeEventListener('afterprint', afterPrint);
    alive = false;
    seq += 1;
    mapHandle?.destroy();
    mapHandle = null;
    mapLayers = null;
  };
}

function parseSort(value) {
  const [key, dir] = String(value || '').split(':');
  if (key && SORTS[key]) return { key, dir: dir === 'asc' || dir === 'desc' ? dir : SORTS[key][1] };
  return { key: 'idx', dir: 'asc' };
}
