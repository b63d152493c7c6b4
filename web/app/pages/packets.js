// Packets (`#/packets`): the live feed of every transmission, the filter language, grouping
// by hash, a detail pane with the byte-level breakdown, and a paste-a-frame decoder.
//
// URL state (all optional): `#/packets[/<hash>|/<pubkey>|/id/<n>]?timeWindow=<min>&region=
// &observer=<id>[,<id>…]&hash=&node=&type=<codes>&filter=<expr>&sort=<col>[:asc]&group=0&obs=<id>`.
// `#/packet/<hash|id>` is the standalone detail page.
//
// Path hops show node names where the prefix names one known relay (components/hops.js).
// A row's context menu (right click, long press, the ContextMenu key or Shift+F10) copies
// the hash or the raw frame, opens the packet page, or filters by the row's observer, node
// or type.

import { h, replace, stored, store, debounce } from '../dom.js';
import { api, post, withQuery, listOf } from '../api.js';
import { subscribe } from '../ws.js';
import * as router from '../router.js';
import { compileFilter, dig, FIELDS, FilterError, filterSuggestions } from '../filter.js';
import { attachAutocomplete } from '../components/autocomplete.js';
import {
  PAYLOAD_TYPES, TYPE_LABELS, ROUTE_TYPES, typeName, isTransport, hopsOf, parseJson, summary,
  hashHue, frameHeader, hexBytes,
} from '../packet-format.js';
import { ago, absolute, toMillis, isFuture } from '../time.js';
import { DataTable } from '../components/table.js';
import { packetDetail, byteView } from '../components/packet-detail.js';
import { breakdown } from '../packet-format.js';
import { typeBadge, iataBadge, toast, copyText } from '../components/ui.js';
import { hopChips, watchDirectory, hexPathsPreferred, setHexPaths, onHexPaths } from '../components/hops.js';

const WINDOWS = [[15, '15 min'], [30, '30 min'], [60, '1 hour'], [180, '3 hours'], [360, '6 hours'],
  [720, '12 hours'], [1440, '24 hours'], [0, 'All time']];
const DEFAULT_WINDOW = 15;
const PAGE_LIMIT = 2000;
const MAX_ROWS = window.matchMedia('(max-width: 640px)').matches ? 1000 : 50_000;
const MAX_PAUSED = 2000;
const LIVE_BATCH_MS = 250;
const SAVED_FILTERS = [
  ['Adverts only', 'type == ADVERT'],
  ['Channel traffic', 'type == GRP_TXT'],
  ['Direct messages', 'type == TXT_MSG'],
  ['Strong signal', 'snr > 5'],
  ['Multi-hop', 'hops > 1'],
  ['Repeater adverts', 'type == ADVERT && payload.flags.repeater'],
  ['Recent', 'age < 5m'],
];
const COLS_KEY = 'packets-visible-cols';
const USER_FILTERS_KEY = 'corescope_saved_filters_v1';

/** Builds a table row from a grouped `/api/packets` row or a transmission. */
function groupRow(p) {
  return {
    key: `g:${p.hash}`,
    kind: 'group',
    hash: p.hash,
    time: p.latest || p.timestamp || p.first_seen,
    first_seen: p.first_seen,
    raw_hex: p.raw_hex || '',
    payload_type: Number(p.payload_type),
    route_type: Number(p.route_type),
    decoded_json: p.decoded_json,
    observer_id: p.observer_id,
    observer_name: p.observer_name,
    observer_iata: p.observer_iata,
    iatas: Array.isArray(p.distinct_iatas) ? p.distinct_iatas : (p.observer_iata ? [p.observer_iata] : []),
    path_json: p.path_json,
    resolved_path: p.resolved_path,
    count: Number(p.observation_count ?? p.count ?? 1),
    snr: p.snr,
    rssi: p.rssi,
  };
}

/** One observation as a row (ungrouped mode, and child rows of an expanded group). */
function obsRow(tx, o, kind) {
  return {
    key: `${kind === 'child' ? 'c' : 'o'}:${o.id ?? `${tx.hash}:${o.observer_id}:${o.timestamp}`}`,
    kind,
    obsId: o.id,
    hash: tx.hash,
    time: o.timestamp || tx.timestamp,
    raw_hex: o.raw_hex || tx.raw_hex || '',
    payload_type: Number(tx.payload_type),
    route_type: Number(tx.route_type),
    decoded_json: o.decoded_json || tx.decoded_json,
    observer_id: o.observer_id,
    observer_name: o.observer_name,
    observer_iata: o.observer_iata,
    iatas: o.observer_iata ? [o.observer_iata] : [],
    path_json: o.path_json,
    resolved_path: o.resolved_path,
    count: Number(tx.observation_count ?? 1),
    snr: o.snr,
    rssi: o.rssi,
  };
}

/** Lazily computed facts of a row (parsed JSON, hops, header). */
function facts(row) {
  if (!row._f) {
    const bytes = hexBytes(row.raw_hex);
    const head = bytes ? frameHeader(bytes) : null;
    row._f = {
      payload: parseJson(row.decoded_json) || {},
      hops: hopsOf(row.path_json),
      size: bytes ? bytes.length : 0,
      head,
      time: toMillis(row.time),
    };
  }
  return row._f;
}

/** The filter language's view of a row. */
function fieldGetter(row) {
  const f = facts(row);
  return (field) => {
    if (field.startsWith('payload.')) return dig(f.payload, field.slice(8));
    switch (field) {
      case 'type': return typeName(row.payload_type);
      case 'route': return ROUTE_TYPES[row.route_type];
      case 'transport': return isTransport(row.route_type);
      case 'hash': return row.hash;
      case 'raw': return row.raw_hex;
      case 'size': return f.size;
      case 'snr': return row.snr ?? undefined;
      case 'rssi': return row.rssi ?? undefined;
      case 'hops': return f.hops.length;
      case 'observer': return row.observer_name ?? undefined;
      case 'observer_id': return row.observer_id ?? undefined;
      case 'iata': case 'observer_iata': return row.observer_iata ?? undefined;
      case 'observations': return row.count;
      case 'path': case 'path_prefixes': return f.hops.join(' → ');
      case 'routed_through': return Array.isArray(row.resolved_path) ? row.resolved_path.filter(Boolean).join(' ') : undefined;
      case 'payload_bytes': return f.head ? f.size - f.head.payloadStart : undefined;
      case 'payload_hex': return f.head ? row.raw_hex.slice(f.head.payloadStart * 2) : undefined;
      case 'time': case 'timestamp': return Number.isFinite(f.time) ? f.time : undefined;
      case 'age': return Number.isFinite(f.time) ? (Date.now() - f.time) / 1000 : undefined;
      case 'code1': return f.head?.codes?.[0];
      case 'code2': return f.head?.codes?.[1];
      default: return undefined;
    }
  };
}

const SORTERS = {
  time: (r) => facts(r).time,
  hash: (r) => r.hash,
  size: (r) => facts(r).size,
  hb: (r) => facts(r).head?.hashSize ?? 0,
  type: (r) => typeName(r.payload_type),
  observer: (r) => (r.observer_name || '').toLowerCase(),
  region: (r) => r.observer_iata || '',
  path: (r) => facts(r).hops.length,
  count: (r) => r.count,
  snr: (r) => (r.snr === null || r.snr === undefined ? -Infinity : Number(r.snr)),
};

/** The Packets page. */
export const packetsPage = {
  title: 'Packets',
  fixed: true,
  init(el, ctx) {
    if (ctx.route === 'packet') {
      this.fixedOff = true;
      document.body.classList.remove('app-fixed');
      standalone(el, ctx.param);
      this.cleanup = () => {};
      return;
    }
    this.cleanup = packetsView(el, ctx);
  },
  destroy() {
    this.cleanup?.();
    this.cleanup = null;
  },
};

function standalone(el, id) {
  const body = h('div.standalone-body', { 'aria-busy': 'true' }, h('p.muted', { text: 'Loading…' }));
  el.appendChild(h('section.standalone', null,
    h('p', null, h('a.back-link', { href: '#/packets', text: '← Back to packets' })),
    h('h1', { text: 'Packet' }), body));
  api(`/api/packets/${encodeURIComponent(id)}`).then((data) => {
    replace(body, packetDetail(data, { standalone: true, obsId: router.currentRoute().query.get('obs'), onSelectObs: (o) => {
      router.replaceHash(router.buildHash(`packet/${encodeURIComponent(id)}`, { obs: o.id }));
      standalone(replace(el), id);
    } }));
    body.removeAttribute('aria-busy');
  }).catch((e) => {
    replace(body, h('p.error-text', { role: 'alert', text: e.status === 404 ? 'Packet not found' : `Could not load the packet: ${e.message}` }));
    body.removeAttribute('aria-busy');
  });
}

function packetsView(el, ctx) {
  const q = ctx.query;
  // ---- state, from the URL ----
  const state = {
    window: q.has('timeWindow') ? Number(q.get('timeWindow')) || 0 : stored('meshcore-time-window', DEFAULT_WINDOW),
    region: q.get('region') || '',
    observer: q.get('observer') || '',
    hash: q.get('hash') || '',
    node: q.get('node') || '',
    types: new Set((q.get('type') || '').split(',').filter((t) => t !== '').map(Number).filter(Number.isInteger)),
    filter: q.get('filter') || '',
    sort: parseSort(q.get('sort')),
    group: q.get('group') !== '0',
    selected: null, // hash
    obs: q.get('obs') || null,
    selectById: null,
    paused: false,
  };
  if (!WINDOWS.some(([m]) => m === state.window)) state.window = DEFAULT_WINDOW;
  const seg = ctx.segments;
  if (seg[0] === 'id' && seg[1]) state.selectById = seg[1];
  else if (seg[0] && seg[0].length <= 16) state.selected = seg[0].toLowerCase();
  else if (seg[0]) state.node = seg[0];

  let rows = []; // base rows (groups or observations), newest first
  let byHash = new Map();
  let total = 0;
  let predicate = () => true;
  let filterError = '';
  let expanded = new Set();
  const children = new Map(); // hash → child rows
  let paused = [];
  let observers = new Map();
  let loadSeq = 0;
  let detailSeq = 0;
  const unsubs = [];

  // ---- layout ----
  const heading = h('h1', { text: 'Latest packets' });
  const countEl = h('span.count', { 'aria-live': 'polite' });
  const pauseBtn = h('button.button', { type: 'button', 'aria-pressed': 'false', text: 'Pause' });
  const refreshBtn = h('button.button', { type: 'button', text: 'Refresh' });
  const byopBtn = h('button.button', { type: 'button', title: 'Decode a frame you paste (Bring Your Own Packet)', text: 'Decode…' });
  const filtersToggle = h('button.button.filters-toggle', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'packet-filters', text: 'Filters ▾' });

  const exprInput = h('input.expr-input', {
    type: 'text', id: 'filter-expr', value: state.filter, spellcheck: 'false', autocomplete: 'off',
    placeholder: 'Filter: type == ADVERT && snr > 5', 'aria-label': 'Filter expression', 'aria-describedby': 'filter-error',
  });
  const exprError = h('span.error-text', { id: 'filter-error', role: 'alert' });
  const shown = h('span.muted.showing', { 'aria-live': 'polite' });
  const savedSelect = h('select', { 'aria-label': 'Saved filters' });
  const fillSaved = () => {
    const mine = userFilters();
    replace(savedSelect,
      h('option', { value: '', text: '★ Saved filters' }),
      h('optgroup', { label: 'Built in' }, ...SAVED_FILTERS.map(([label, expr]) => h('option', { value: `use:${expr}`, text: `${label}: ${expr}` }))),
      Array.isArray(mine) && mine.length ? h('optgroup', { label: 'Mine (this browser)' },
        ...mine.map((f) => h('option', { value: `use:${f.expr}`, text: `${f.name}: ${f.expr}` }))) : null,
      h('optgroup', { label: 'Manage' },
        h('option', { value: 'save', text: 'Save current filter…' }),
        Array.isArray(mine) && mine.length ? h('option', { value: 'delete', text: 'Delete a saved filter…' }) : null));
  };
  fillSaved();
  const help = h('details.popover.help', null, h('summary.button', { title: 'Filter language help', text: '? Help' }), filterHelp());

  const windowSelect = h('select', { 'aria-label': 'Time window' },
    ...WINDOWS.map(([m, label]) => h('option', { value: String(m), selected: m === state.window, text: label })));
  const groupBox = h('input', { type: 'checkbox', checked: state.group, id: 'group-by-hash' });
  const hashInput = h('input', { type: 'search', value: state.hash, placeholder: 'Hash prefix', 'aria-label': 'Packet hash', size: '10' });
  const nodeInput = h('input', { type: 'search', value: state.node, placeholder: 'Node key', 'aria-label': 'Node public key or prefix', size: '12' });
  // Observers: a checkbox menu (several may be chosen), `observer=<id>,<id>` in the URL.
  const observerSummary = h('summary.button', { text: 'All observers ▾' });
  const observerFind = h('input', { type: 'search', placeholder: 'Find observer', 'aria-label': 'Find observer', hidden: true });
  const observerAll = h('input', { type: 'checkbox', checked: !state.observer, value: '' });
  const observerOptions = h('div.observer-options');
  const observerMenu = h('details.popover.menu.observer-menu', null, observerSummary,
    h('div.menu-body', { role: 'group', 'aria-label': 'Observers' },
      observerFind, h('label.check.all-observers', null, observerAll, 'All observers'), observerOptions));
  const hexBox = h('input', { type: 'checkbox', checked: hexPathsPreferred(), id: 'hex-paths' });
  const regionSelect = h('select', { 'aria-label': 'Region', hidden: true }, h('option', { value: '', text: 'All regions' }));
  const typeMenu = h('details.popover.menu', null, h('summary.button', { text: 'Types ▾' }),
    h('div.menu-body', { role: 'group', 'aria-label': 'Payload types' },
      ...Object.entries(PAYLOAD_TYPES).map(([code, name]) => h('label.check', null,
        h('input', { type: 'checkbox', value: code, checked: state.types.has(Number(code)) }), TYPE_LABELS[name]))));
  const clearBtn = h('button.button.clear', { type: 'button', text: '✕ Clear' });

  const hiddenCols = new Set(stored(COLS_KEY, null) ?? (window.matchMedia('(max-width: 640px)').matches
    ? ['region', 'hash', 'size', 'hb', 'path', 'count'] : ['region']));
  const columnsMenu = h('details.popover.menu', null, h('summary.button', { text: 'Columns ▾' }), h('div.menu-body', { role: 'group', 'aria-label': 'Visible columns' }));

  const filters = h('div.filters', { id: 'packet-filters' },
    h('div.filter-group', null, hashInput, nodeInput),
    h('div.filter-group', null,
      h('label.check', null, groupBox, 'Group by hash'),
      windowSelect),
    h('div.filter-group', null, observerMenu, regionSelect, typeMenu, columnsMenu,
      h('label.check', { title: 'Show path hops as raw key prefixes instead of node names' }, hexBox, 'Hex paths')),
    clearBtn);

  const table = new DataTable({
    label: 'Packets',
    rowHeight: window.matchMedia('(max-width: 640px)').matches ? 44 : 34,
    widthsKey: 'meshcore-pkt-col-widths',
    rowKey: (r) => r.key,
    rowClass: (r) => [r.kind === 'child' ? 'child-row' : '', r.fresh ? 'fresh' : ''].join(' ').trim(),
    rowStyle: (r) => ({ '--hash-hue': String(hashHue(r.hash)) }),
    onActivate: (row) => select(row),
    onSort: (sort) => { state.sort = sort; writeUrl(); refresh(); },
    emptyText: 'No packets found',
    columns: columns(),
  });
  table.setSort(state.sort);
  table.setHidden([...hiddenCols]);

  const pane = h('aside.detail-pane', { 'aria-label': 'Packet detail', hidden: true, tabindex: '-1' });
  // Below 1024 px the pane overlays the list; the backdrop closes it.
  const backdrop = h('div.detail-backdrop', { hidden: true, 'aria-hidden': 'true' });
  backdrop.addEventListener('click', () => closeDetail());
  const overlay = window.matchMedia('(max-width: 1023px)');
  const listStatus = h('div.list-status', { role: 'status' });

  el.classList.add('packets-page');
  el.append(
    h('div.page-head', null, heading, countEl,
      h('div.head-actions', null, refreshBtn, pauseBtn, byopBtn, filtersToggle)),
    h('div.expr-bar', null, exprInput, savedSelect, help, h('div.expr-status', null, exprError, shown)),
    filters,
    h('div.split', null, h('div.list', null, listStatus, table.el), backdrop, pane));

  buildColumnsMenu();

  // ---- behaviour ----
  function columns() {
    const caret = (r) => {
      if (r.kind === 'child') return h('span.child-mark', { 'aria-hidden': 'true', text: '└' });
      if (r.kind !== 'group' || r.count <= 1) return null;
      const open = expanded.has(r.hash);
      return h('button.caret', {
        type: 'button', 'aria-expanded': open ? 'true' : 'false',
        'aria-label': `${open ? 'Collapse' : 'Expand'} ${r.count} observations`,
        text: open ? '▾' : '▸',
        onclick: (e) => { e.stopPropagation(); toggle(r); },
      });
    };
    return [
      { key: 'caret', label: '', width: 30, render: caret, className: 'c-caret' },
      { key: 'region', label: 'Region', width: 70, sortable: true, defaultDir: 'asc', render: (r) => iataBadge(r.observer_iata) },
      { key: 'time', label: 'Time', width: 90, sortable: true, render: (r) => {
        const future = isFuture(r.time);
        return h('span', { title: absolute(r.time) + (future ? ' — in the future: the clock may be skewed' : '') },
          future ? '⚠ ' : '', future ? absolute(r.time) : ago(r.time));
      } },
      { key: 'hash', label: 'Hash', width: 90, sortable: true, defaultDir: 'asc', className: 'mono', render: (r) => String(r.hash || '').slice(0, 8) },
      { key: 'size', label: 'Size', width: 56, sortable: true, className: 'num', title: 'Frame size in bytes', render: (r) => facts(r).size },
      { key: 'hb', label: 'HB', width: 44, sortable: true, className: 'num', title: 'Path hash size in bytes', render: (r) => (r.payload_type === 9 ? '—' : facts(r).head?.hashSize ?? '') },
      { key: 'type', label: 'Type', width: 130, sortable: true, defaultDir: 'asc', render: (r) => typeBadge(typeName(r.payload_type), isTransport(r.route_type)) },
      { key: 'observer', label: 'Observer', width: 230, sortable: true, defaultDir: 'asc', render: (r) => h('span.observer-cell', null,
        h('span.ellipsis', { text: r.observer_name || r.observer_id || '—' }),
        ...(r.iatas || []).slice(0, 2).map(iataBadge),
        (r.iatas || []).length > 2 ? h('span.badge.more', { text: `+${r.iatas.length - 2}` }) : null) },
      { key: 'path', label: 'Path', width: 260, sortable: true, render: (r) => hopChips(facts(r).hops, { max: 3, resolvedPath: r.resolved_path }) },
      { key: 'count', label: 'Rpt', width: 56, sortable: true, className: 'num', title: 'Observations (how many times observers heard it)', render: (r) => (r.kind === 'child' ? '' : r.count) },
      { key: 'details', label: 'Details', width: 320, render: (r) => h('span.ellipsis', { text: summary(facts(r).payload, r.payload_type) }) },
    ];
  }

  function buildColumnsMenu() {
    const body = columnsMenu.querySelector('.menu-body');
    replace(body, ...columns().filter((c) => c.key !== 'caret').map((c) => {
      const box = h('input', { type: 'checkbox', checked: !hiddenCols.has(c.key), value: c.key });
      box.addEventListener('change', () => {
        if (box.checked) hiddenCols.delete(c.key); else hiddenCols.add(c.key);
        store(COLS_KEY, [...hiddenCols]);
        table.setHidden([...hiddenCols]);
      });
      return h('label.check', null, box, c.label);
    }));
  }

  function writeUrl() {
    const path = state.selected ? `packets/${state.selected}` : 'packets';
    router.replaceHash(router.buildHash(path, {
      timeWindow: state.window === DEFAULT_WINDOW ? '' : String(state.window),
      region: state.region, observer: state.observer, hash: state.hash, node: state.node,
      type: [...state.types].sort((a, b) => a - b).join(','),
      filter: state.filter,
      sort: state.sort.key === 'time' && state.sort.dir === 'desc' ? '' : `${state.sort.key}${state.sort.dir === 'asc' ? ':asc' : ''}`,
      group: state.group ? '' : '0',
      obs: state.selected && state.obs ? state.obs : '',
    }));
    clearBtn.hidden = !isFiltered();
  }

  function isFiltered() {
    return Boolean(state.region || state.observer || state.hash || state.node || state.types.size
      || state.filter || state.window !== DEFAULT_WINDOW || !state.group);
  }

  function compile() {
    try {
      predicate = compileFilter(state.filter);
      filterError = '';
    } catch (e) {
      predicate = () => true;
      filterError = e instanceof FilterError ? e.message : String(e);
    }
    exprError.textContent = filterError;
    exprInput.classList.toggle('invalid', Boolean(filterError));
    exprInput.classList.toggle('active', Boolean(state.filter) && !filterError);
    exprInput.setAttribute('aria-invalid', filterError ? 'true' : 'false');
  }

  function passes(row) {
    if (state.types.size && !state.types.has(row.payload_type)) return false;
    return predicate(fieldGetter(row));
  }

  function refresh() {
    const visible = rows.filter(passes);
    const sorter = SORTERS[state.sort.key] || SORTERS.time;
    const dir = state.sort.dir === 'asc' ? 1 : -1;
    visible.sort((a, b) => {
      const x = sorter(a);
      const y = sorter(b);
      if (x === y) return 0;
      if (x === undefined || Number.isNaN(x)) return 1;
      if (y === undefined || Number.isNaN(y)) return -1;
      return (x < y ? -1 : 1) * dir;
    });
    const display = [];
    for (const r of visible) {
      display.push(r);
      if (r.kind === 'group' && expanded.has(r.hash)) display.push(...(children.get(r.hash) || []));
    }
    table.setRows(display);
    // An empty list under a time window says so, rather than suggesting there is no data.
    const windowLabel = (WINDOWS.find(([m]) => m === state.window) || [])[1];
    table.empty.textContent = state.window && windowLabel
      ? `No packets in the last ${windowLabel}. Choose a wider time window to see older traffic.`
      : 'No packets found';
    const n = rows.length;
    shown.textContent = state.filter || state.types.size ? `Showing ${visible.length} of ${n} packets` : '';
    countEl.textContent = `(${visible.length.toLocaleString()}${total > n ? ` of ${total.toLocaleString()}` : ''})`;
  }

  async function load() {
    const seq = ++loadSeq;
    listStatus.textContent = 'Loading packets…';
    el.setAttribute('aria-busy', 'true');
    const query = {
      limit: PAGE_LIMIT,
      groupByHash: state.group ? 'true' : '',
      expand: state.group ? '' : 'observations',
      since: state.window ? new Date(Date.now() - state.window * 60_000).toISOString() : '',
      region: state.region, observer: state.observer, hash: state.hash, node: state.node,
    };
    try {
      const body = await api(withQuery('/api/packets', query));
      if (seq !== loadSeq) return;
      const list = listOf(body, 'packets');
      total = Number(body?.total ?? list.length);
      rows = [];
      if (state.group) {
        for (const p of list) rows.push(groupRow(p));
      } else {
        for (const tx of list) {
          const obs = Array.isArray(tx.observations) && tx.observations.length ? tx.observations : [tx];
          for (const o of obs) rows.push(obsRow(tx, o, 'obs'));
        }
      }
      byHash = new Map();
      for (const r of rows) if (!byHash.has(r.hash)) byHash.set(r.hash, r);
      children.clear();
      listStatus.textContent = '';
      refresh();
      for (const hash of expanded) loadChildren(hash);
      if (state.selectById) {
        const id = state.selectById;
        state.selectById = null;
        openDetail(id, state.obs);
      } else if (state.selected) {
        table.setSelected(`g:${state.selected}`, true);
        openDetail(state.selected, state.obs);
      }
    } catch (e) {
      if (seq !== loadSeq) return;
      listStatus.textContent = '';
      replace(listStatus, h('p.error-text', { role: 'alert', text: `Could not load packets: ${e.message}` }));
    } finally {
      if (seq === loadSeq) el.removeAttribute('aria-busy');
    }
  }

  async function loadChildren(hash) {
    try {
      const data = await api(`/api/packets/${encodeURIComponent(hash)}`);
      const tx = data.packet || {};
      const list = Array.isArray(data.observations) ? data.observations : [];
      children.set(hash, list.map((o) => obsRow(tx, o, 'child')));
      refresh();
    } catch (e) {
      toast(`Could not load observations: ${e.message}`, 'error');
    }
  }

  function toggle(row) {
    if (expanded.has(row.hash)) {
      expanded.delete(row.hash);
      refresh();
      return;
    }
    expanded.add(row.hash);
    loadChildren(row.hash);
    select(row);
  }

  function select(row) {
    state.selected = row.hash;
    state.obs = row.kind === 'group' ? null : String(row.obsId ?? '') || null;
    table.setSelected(row.key);
    writeUrl();
    openDetail(row.hash, state.obs);
  }

  async function openDetail(id, obsId) {
    const seq = ++detailSeq;
    const wasHidden = pane.hidden;
    pane.hidden = false;
    backdrop.hidden = false;
    el.classList.add('has-detail');
    pane.setAttribute('aria-busy', 'true');
    if (!pane.firstChild) pane.appendChild(h('p.muted.pad', { text: 'Loading…' }));
    try {
      const data = await api(`/api/packets/${encodeURIComponent(id)}`);
      if (seq !== detailSeq) return;
      const hash = data.packet?.hash;
      if (hash && hash !== state.selected) {
        state.selected = hash;
        writeUrl();
        table.setSelected(`g:${hash}`, true);
      }
      if (wasHidden && overlay.matches) setTimeout(() => pane.focus({ preventScroll: true }), 0);
      replace(pane, packetDetail(data, {
        obsId,
        onClose: closeDetail,
        onSelectObs: (o) => {
          state.obs = String(o.id);
          writeUrl();
          openDetail(state.selected, state.obs);
        },
      }));
    } catch (e) {
      if (seq !== detailSeq) return;
      replace(pane, h('div.pad', null,
        h('button.icon-button.detail-close', { type: 'button', 'aria-label': 'Close packet detail', onclick: closeDetail, text: '✕' }),
        h('p.error-text', { role: 'alert', text: e.status === 404 ? 'Packet not found' : `Could not load the packet: ${e.message}` })));
    } finally {
      if (seq === detailSeq) pane.removeAttribute('aria-busy');
    }
  }

  function closeDetail() {
    detailSeq += 1;
    const key = state.selected ? `g:${state.selected}` : null;
    state.selected = null;
    state.obs = null;
    pane.hidden = true;
    backdrop.hidden = true;
    replace(pane);
    el.classList.remove('has-detail');
    table.setSelected(null);
    writeUrl();
    const row = key && table.body.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
    if (row) row.focus();
  }

  // ---- observers menu ----
  function observerLabel(id) {
    const o = observers.get(id);
    return o ? `${o.name || o.id}` : `${id.slice(0, 8)}…`;
  }

  /** Fills the observer checkboxes: known observers by name, plus ids from the URL not listed. */
  function fillObserverMenu() {
    const chosen = new Set(state.observer ? state.observer.split(',') : []);
    const list = [...observers.values()].sort((a, b) => String(a.name || a.id).localeCompare(String(b.name || b.id)));
    for (const id of chosen) if (!observers.has(id)) list.push({ id, name: null, iata: null });
    replace(observerOptions, ...list.map((o) => h('label.check', { dataset: { search: `${o.name || ''} ${o.id} ${o.iata || ''}`.toLowerCase() } },
      h('input', { type: 'checkbox', value: o.id, checked: chosen.has(o.id) }),
      h('span.ellipsis', { text: o.name || o.id }), iataBadge(o.iata))));
    observerFind.hidden = list.length <= 8;
    syncObserverSummary();
  }

  const refillObservers = debounce(() => fillObserverMenu(), 1000);

  function syncObserverSummary() {
    const ids = state.observer ? state.observer.split(',') : [];
    observerAll.checked = ids.length === 0;
    observerSummary.textContent = ids.length === 0 ? 'All observers ▾'
      : ids.length === 1 ? `Observer: ${observerLabel(ids[0])} ▾` : `Observers (${ids.length}) ▾`;
    observerSummary.title = ids.map(observerLabel).join(', ');
    observerMenu.classList.toggle('active', ids.length > 0);
  }

  /** Sets the observer filter (`reload` fetches the list now). */
  function setObservers(ids, reload = true) {
    state.observer = [...new Set(ids.filter(Boolean))].join(',');
    const chosen = new Set(ids);
    observerOptions.querySelectorAll('input').forEach((i) => { i.checked = chosen.has(i.value); });
    syncObserverSummary();
    writeUrl();
    if (reload) load();
  }

  function syncTypeMenu() {
    typeMenu.querySelectorAll('input').forEach((i) => { i.checked = state.types.has(Number(i.value)); });
    typeMenu.querySelector('summary').textContent = state.types.size ? `Types (${state.types.size}) ▾` : 'Types ▾';
  }

  // ---- row context menu (right click, long press, ContextMenu key, Shift+F10) ----
  let menu = null; // { el, key, at }
  let longPress = null;
  let swallowClick = false;

  function closeMenu(refocus = false) {
    if (!menu) return;
    const { el: m, key } = menu;
    menu = null;
    m.remove();
    document.removeEventListener('pointerdown', onOutside, true);
    window.removeEventListener('resize', onViewportChange);
    table.el.removeEventListener('scroll', onViewportChange);
    if (refocus) table.body.querySelector(`tr[data-key="${CSS.escape(key)}"]`)?.focus({ preventScroll: true });
  }
  function onOutside(e) { if (menu && !menu.el.contains(e.target)) closeMenu(false); }
  function onViewportChange() { closeMenu(false); }

  function menuItems(row) {
    const f = facts(row);
    const type = typeName(row.payload_type);
    const typeLabel = TYPE_LABELS[type] || type;
    const pubKey = type === 'ADVERT' && typeof f.payload.pubKey === 'string' && /^[0-9a-fA-F]{64}$/.test(f.payload.pubKey) ? f.payload.pubKey.toLowerCase() : null;
    const nodeLabel = pubKey ? (typeof f.payload.name === 'string' && f.payload.name ? f.payload.name : `${pubKey.slice(0, 8)}…`) : '';
    const observerName = row.observer_name || (row.observer_id ? observerLabel(row.observer_id) : '');
    return [
      ['copy-hash', 'Copy hash', () => copyText(row.hash, 'Hash copied')],
      row.raw_hex ? ['copy-hex', 'Copy raw hex', () => copyText(row.raw_hex, 'Raw hex copied')] : null,
      ['copy-link', 'Copy link', () => copyText(`${location.origin}/#/packets/${row.hash}`, 'Link copied')],
      ['open', 'Open packet page', () => router.navigate(`#/packet/${encodeURIComponent(row.hash)}`)],
      'separator',
      row.observer_id ? ['filter-observer', `Filter by observer: ${observerName}`, () => setObservers([row.observer_id])] : null,
      pubKey ? ['filter-node', `Filter by node: ${nodeLabel}`, () => {
        state.node = pubKey;
        nodeInput.value = pubKey;
        writeUrl();
        load();
      }] : null,
      ['filter-type', `Only ${typeLabel} packets`, () => {
        state.types = new Set([row.payload_type]);
        syncTypeMenu();
        writeUrl();
        refresh();
      }],
      ['hide-type', `Hide ${typeLabel} packets`, () => {
        const clause = `type != ${type}`;
        exprInput.value = state.filter && !filterError ? `(${state.filter}) && ${clause}` : clause;
        state.filter = exprInput.value;
        compile();
        writeUrl();
        refresh();
      }],
    ].filter(Boolean);
  }

  /** Opens the menu of `row` at (x, y) in viewport pixels. */
  function openMenu(row, x, y) {
    closeMenu(false);
    const buttons = [];
    const m = h('div.context-menu', { role: 'menu', 'aria-label': `Packet ${String(row.hash).slice(0, 8)}` },
      ...menuItems(row).map((item) => {
        if (item === 'separator') return h('div.menu-sep', { role: 'separator' });
        const [action, text, run] = item;
        const b = h('button.menu-item', { type: 'button', role: 'menuitem', tabindex: '-1', 'data-action': action, text });
        b.addEventListener('click', () => { closeMenu(true); run(); });
        buttons.push(b);
        return b;
      }));
    m.addEventListener('keydown', (e) => {
      const i = buttons.indexOf(document.activeElement);
      let next = null;
      if (e.key === 'ArrowDown') next = (i + 1) % buttons.length;
      else if (e.key === 'ArrowUp') next = (i - 1 + buttons.length) % buttons.length;
      else if (e.key === 'Home') next = 0;
      else if (e.key === 'End') next = buttons.length - 1;
      else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); closeMenu(true); return; }
      else if (e.key === 'Tab') { e.preventDefault(); closeMenu(true); return; }
      if (next === null) return;
      e.preventDefault();
      buttons[next].focus();
    });
    document.body.appendChild(m);
    // Keep the menu inside the viewport (above the bottom navigation on phones).
    const box = m.getBoundingClientRect();
    const bottomNav = document.getElementById('bottom-nav');
    const limitY = window.innerHeight - (bottomNav && bottomNav.offsetHeight ? bottomNav.offsetHeight : 0) - 4;
    m.style.left = `${Math.max(4, Math.min(x, window.innerWidth - box.width - 4))}px`;
    m.style.top = `${Math.max(4, y + box.height > limitY ? y - box.height : y)}px`;
    menu = { el: m, key: row.key, at: Date.now() };
    document.addEventListener('pointerdown', onOutside, true);
    window.addEventListener('resize', onViewportChange);
    table.el.addEventListener('scroll', onViewportChange, { passive: true });
    buttons[0]?.focus({ preventScroll: true });
  }

  function openMenuForRow(tr, x, y) {
    const row = table.rowAt(tr);
    if (row === undefined) return;
    if (menu && menu.key === row.key && Date.now() - menu.at < 600) return; // one gesture, two events
    if (x === undefined) {
      const r = tr.getBoundingClientRect();
      x = r.left + Math.min(160, r.width / 3);
      y = r.bottom;
    }
    openMenu(row, x, y);
  }

  table.body.addEventListener('contextmenu', (e) => {
    const tr = e.target.closest('tr[data-key]');
    if (!tr || e.target.closest('a[href]')) return;
    e.preventDefault();
    // A contextmenu from the keyboard has no pointer position: place the menu under the row.
    if (e.button !== 2 && e.clientX === 0 && e.clientY === 0) openMenuForRow(tr);
    else openMenuForRow(tr, e.clientX, e.clientY);
  });
  table.body.addEventListener('keydown', (e) => {
    if (e.key !== 'ContextMenu' && !(e.key === 'F10' && e.shiftKey)) return;
    const tr = e.target.closest('tr[data-key]');
    if (!tr) return;
    e.preventDefault();
    openMenuForRow(tr);
  });
  // Long press on touch screens (iOS Safari sends no contextmenu event).
  table.body.addEventListener('pointerdown', (e) => {
    if (e.pointerType !== 'touch') return;
    const tr = e.target.closest('tr[data-key]');
    if (!tr) return;
    clearTimeout(longPress?.timer);
    longPress = {
      x: e.clientX, y: e.clientY,
      timer: setTimeout(() => {
        swallowClick = true;
        setTimeout(() => { swallowClick = false; }, 800);
        openMenuForRow(tr, longPress.x, longPress.y);
        longPress = null;
      }, 500),
    };
  });
  const cancelLongPress = (e) => {
    if (!longPress) return;
    if (e.type === 'pointermove' && Math.hypot(e.clientX - longPress.x, e.clientY - longPress.y) < 10) return;
    clearTimeout(longPress.timer);
    longPress = null;
  };
  for (const type of ['pointermove', 'pointerup', 'pointercancel']) table.body.addEventListener(type, cancelLongPress);
  // The click that ends a long press must not also select the row.
  table.el.addEventListener('click', (e) => {
    if (!swallowClick) return;
    swallowClick = false;
    e.stopPropagation();
    e.preventDefault();
  }, true);

  // ---- live updates ----
  let queue = [];
  let frame = 0;
  const refetchSelected = debounce(() => { if (state.selected) openDetail(state.selected, state.obs); }, 1500);

  function liveAccepts(d) {
    if (!d || typeof d.hash !== 'string') return false;
    if (state.hash && !d.hash.startsWith(state.hash.toLowerCase())) return false;
    if (state.observer && !state.observer.split(',').includes(d.observer_id)) return false;
    if (state.region) {
      const iata = observers.get(d.observer_id)?.iata;
      if (!iata || !state.region.split(',').includes(String(iata).toUpperCase())) return false;
    }
    if (state.node) {
      const key = state.node.toLowerCase();
      const text = `${d.decoded_json || ''} ${d.path_json || ''} ${JSON.stringify(d.resolved_path || [])}`.toLowerCase();
      if (!text.includes(key) && !hopsOf(d.path_json).some((hop) => key.startsWith(hop.toLowerCase()))) return false;
    }
    return true;
  }

  function merge(batch) {
    const nowIso = new Date().toISOString();
    const fresh = [];
    for (const d of batch) {
      const obs = {
        id: undefined, observer_id: d.observer_id, observer_name: d.observer_name,
        observer_iata: observers.get(d.observer_id)?.iata ?? null, snr: d.snr, rssi: d.rssi,
        path_json: d.path_json, timestamp: nowIso, resolved_path: d.resolved_path,
      };
      const tx = { ...d, timestamp: d.first_seen || nowIso };
      if (state.group) {
        const existing = byHash.get(d.hash);
        if (existing) {
          existing.count = Number(d.observation_count ?? existing.count + 1);
          existing.time = nowIso;
          existing._f = null;
          if (obs.observer_iata && !existing.iatas.includes(obs.observer_iata)) existing.iatas.push(obs.observer_iata);
          if (expanded.has(d.hash)) loadChildren(d.hash);
          existing.fresh = true;
          fresh.push(existing);
        } else {
          const row = groupRow({ ...tx, latest: nowIso, observer_iata: obs.observer_iata });
          row.fresh = true;
          fresh.push(row);
          rows.unshift(row);
          byHash.set(d.hash, row);
          total += 1;
        }
      } else {
        const row = obsRow(tx, obs, 'obs');
        row.key = `l:${d.hash}:${d.observer_id}:${Math.random().toString(36).slice(2)}`;
        row.fresh = true;
        fresh.push(row);
        rows.unshift(row);
        if (!byHash.has(d.hash)) byHash.set(d.hash, row);
        total += 1;
      }
      if (d.hash === state.selected) refetchSelected();
    }
    if (rows.length > MAX_ROWS) {
      for (const r of rows.splice(MAX_ROWS)) if (byHash.get(r.hash) === r) byHash.delete(r.hash);
    }
    refresh();
    setTimeout(() => { for (const r of fresh) r.fresh = false; }, 1200);
  }

  const reloadAfterLag = debounce(() => { if (!state.paused) load(); }, 1000);
  unsubs.push(subscribe((message) => {
    // The server skipped messages for this client: reload what was missed.
    if (message.type === 'lagged') { reloadAfterLag(); return; }
    if (message.type !== 'packet') return;
    const d = message.data?.packet || message.data;
    // An observer first heard live joins the observers menu.
    if (d && typeof d.observer_id === 'string' && observers.size && !observers.has(d.observer_id)) {
      observers.set(d.observer_id, { id: d.observer_id, name: d.observer_name || null, iata: null });
      refillObservers();
    }
    if (!liveAccepts(d)) return;
    if (state.paused) {
      if (paused.length < MAX_PAUSED) paused.push(d);
      pauseBtn.textContent = `Resume (${paused.length})`;
      return;
    }
    queue.push(d);
    // Merge in batches (at most four re-sorts a second, then on the next animation frame),
    // so a busy mesh does not re-sort a large list for every message.
    if (!frame) {
      frame = setTimeout(() => requestAnimationFrame(() => {
        frame = 0;
        const batch = queue;
        queue = [];
        merge(batch);
      }), LIVE_BATCH_MS);
    }
  }));

  /** `payload.*` paths seen in a sample of the loaded rows, for autocomplete. */
  function payloadKeys() {
    const keys = new Set();
    for (const row of rows.slice(0, 300)) {
      for (const [k, v] of Object.entries(facts(row).payload)) {
        if (v && typeof v === 'object' && !Array.isArray(v)) {
          for (const sub of Object.keys(v)) keys.add(`payload.${k}.${sub}`);
        } else keys.add(`payload.${k}`);
      }
    }
    return [...keys].sort();
  }

  // ---- controls ----
  const applyExpr = debounce(() => {
    state.filter = exprInput.value.trim();
    compile();
    writeUrl();
    refresh();
  }, 300);
  attachAutocomplete(exprInput, (text, caret) => filterSuggestions(text, caret, payloadKeys()), applyExpr);
  exprInput.addEventListener('input', applyExpr);
  exprInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); applyExpr(); } });
  savedSelect.addEventListener('change', () => {
    const value = savedSelect.value;
    savedSelect.value = '';
    const list = userFilters();
    if (value.startsWith('use:')) {
      exprInput.value = value.slice(4);
      applyExpr();
    } else if (value === 'save') {
      const expr = exprInput.value.trim();
      if (!expr || filterError) { toast('Type a valid filter expression first', 'error'); return; }
      const name = window.prompt('Name for this filter', expr)?.trim();
      if (!name) return;
      store(USER_FILTERS_KEY, [...list.filter((f) => f.name !== name), { name, expr }]);
      fillSaved();
      toast(`Saved "${name}"`);
    } else if (value === 'delete') {
      const name = window.prompt(`Delete which filter? (${list.map((f) => f.name).join(', ')})`)?.trim();
      if (!name) return;
      store(USER_FILTERS_KEY, list.filter((f) => f.name !== name));
      fillSaved();
    }
  });
  windowSelect.addEventListener('change', () => {
    state.window = Number(windowSelect.value) || 0;
    store('meshcore-time-window', state.window);
    writeUrl();
    load();
  });
  groupBox.addEventListener('change', () => {
    state.group = groupBox.checked;
    expanded = new Set();
    writeUrl();
    load();
  });
  const reloadInputs = debounce(() => {
    state.hash = hashInput.value.trim().toLowerCase();
    state.node = nodeInput.value.trim();
    writeUrl();
    load();
  }, 400);
  hashInput.addEventListener('input', reloadInputs);
  nodeInput.addEventListener('input', reloadInputs);
  const reloadObservers = debounce(() => load(), 350);
  observerMenu.addEventListener('change', (e) => {
    if (e.target === observerFind) return;
    if (e.target === observerAll) {
      observerOptions.querySelectorAll('input').forEach((i) => { i.checked = false; });
    }
    setObservers([...observerOptions.querySelectorAll('input:checked')].map((i) => i.value), false);
    reloadObservers();
  });
  observerFind.addEventListener('input', () => {
    const q = observerFind.value.trim().toLowerCase();
    observerOptions.querySelectorAll('label').forEach((l) => { l.hidden = Boolean(q) && !l.dataset.search.includes(q); });
  });
  hexBox.addEventListener('change', () => setHexPaths(hexBox.checked));
  unsubs.push(onHexPaths((on) => {
    hexBox.checked = on;
    table.render(true);
    if (state.selected && !pane.hidden) openDetail(state.selected, state.obs);
  }));
  unsubs.push(watchDirectory(() => table.render(true)));
  regionSelect.addEventListener('change', () => { state.region = regionSelect.value; writeUrl(); load(); });
  typeMenu.addEventListener('change', () => {
    state.types = new Set([...typeMenu.querySelectorAll('input:checked')].map((i) => Number(i.value)));
    typeMenu.querySelector('summary').textContent = state.types.size ? `Types (${state.types.size}) ▾` : 'Types ▾';
    writeUrl();
    refresh();
  });
  if (state.types.size) typeMenu.querySelector('summary').textContent = `Types (${state.types.size}) ▾`;
  clearBtn.addEventListener('click', () => {
    Object.assign(state, { region: '', observer: '', hash: '', node: '', filter: '', window: DEFAULT_WINDOW, group: true });
    state.types = new Set();
    exprInput.value = ''; hashInput.value = ''; nodeInput.value = '';
    regionSelect.value = ''; windowSelect.value = String(DEFAULT_WINDOW);
    setObservers([], false);
    groupBox.checked = true;
    typeMenu.querySelectorAll('input').forEach((i) => { i.checked = false; });
    typeMenu.querySelector('summary').textContent = 'Types ▾';
    store('meshcore-time-window', DEFAULT_WINDOW);
    compile();
    writeUrl();
    load();
  });
  refreshBtn.addEventListener('click', () => load());
  pauseBtn.addEventListener('click', () => {
    state.paused = !state.paused;
    pauseBtn.setAttribute('aria-pressed', state.paused ? 'true' : 'false');
    pauseBtn.textContent = state.paused ? 'Resume (0)' : 'Pause';
    if (!state.paused && paused.length) {
      const batch = paused;
      paused = [];
      merge(batch);
    }
  });
  filtersToggle.addEventListener('click', () => {
    const open = !filters.classList.contains('open');
    filters.classList.toggle('open', open);
    filtersToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  });
  byopBtn.addEventListener('click', () => openDecoder(byopBtn));
  const onKey = (e) => {
    if (e.key === 'Escape' && !pane.hidden && !document.querySelector('dialog[open]')) closeDetail();
  };
  document.addEventListener('keydown', onKey);

  // ---- start ----
  compile();
  clearBtn.hidden = !isFiltered();
  Promise.all([
    api('/api/observers', { ttl: 60_000 }).catch(() => null),
    api('/api/config/regions', { ttl: 300_000 }).catch(() => null),
  ]).then(([obsBody, regions]) => {
    const list = listOf(obsBody, 'observers');
    observers = new Map(list.map((o) => [o.id, o]));
    fillObserverMenu();
    const codes = regions && typeof regions === 'object' ? Object.keys(regions) : [];
    if (codes.length > 1) {
      codes.sort().forEach((code) => regionSelect.appendChild(h('option', { value: code, text: code === regions[code] ? code : `${code} – ${regions[code]}` })));
      regionSelect.hidden = false;
      regionSelect.value = state.region;
    }
  });
  load();
  writeUrl();

  return () => {
    unsubs.forEach((u) => u());
    closeMenu(false);
    clearTimeout(longPress?.timer);
    clearTimeout(frame);
    document.removeEventListener('keydown', onKey);
    loadSeq += 1;
    detailSeq += 1;
  };
}

/** The filters this browser saved (`[{name, expr}]`; anything else in the key is ignored). */
function userFilters() {
  const list = stored(USER_FILTERS_KEY, []);
  return Array.isArray(list)
    ? list.filter((f) => f && typeof f.name === 'string' && typeof f.expr === 'string')
    : [];
}

function parseSort(value) {
  const [key, dir] = String(value || '').split(':');
  if (key && SORTERS[key]) return { key, dir: dir === 'asc' ? 'asc' : 'desc' };
  return { key: 'time', dir: 'desc' };
}

function filterHelp() {
  return h('div.popover-body.help-body', { role: 'note' },
    h('p', null, 'Combine conditions with ', h('code', { text: '&&' }), ', ', h('code', { text: '||' }), ', ', h('code', { text: '!' }), ' and parentheses. Text comparisons ignore case.'),
    h('table.help-table', null, h('tbody', null, ...FIELDS.map(([name, what]) => h('tr', null, h('td', null, h('code', { text: name })), h('td', { text: what }))))),
    h('p', null, 'Operators: ', ...['==', '!=', '>', '<', '>=', '<=', 'contains', 'starts_with', 'ends_with', 'in (…)', 'between a b', 'after', 'before']
      .flatMap((op, i) => [i ? ' ' : '', h('code', { text: op })])),
    h('p', { text: 'Examples:' }),
    h('ul', null, ...['type == ADVERT && snr > 5', 'payload.name contains "Roof"', 'iata in ("SEA", "PAE")', 'age < 1h', 'hops >= 2 && !(type == ACK)', 'hash starts_with "a1"']
      .map((ex) => h('li', null, h('code', { text: ex })))));
}

/** The paste-a-frame decoder (POST /api/decode) in a modal dialog. */
function openDecoder(trigger) {
  const input = h('textarea.hex-input', {
    rows: '4', spellcheck: 'false', autocomplete: 'off', 'aria-label': 'Frame as hex',
    placeholder: 'Paste a frame as hex, e.g. 11451000D818…',
  });
  const result = h('div.decode-result', { 'aria-live': 'polite' });
  const decodeBtn = h('button.button.primary', { type: 'submit', text: 'Decode' });
  const closeBtn = h('button.icon-button', { type: 'button', 'aria-label': 'Close', text: '✕' });
  const form = h('form.decode-form', { method: 'dialog' }, input,
    h('div.dialog-actions', null, decodeBtn, h('span.muted', { text: 'Ctrl+Enter' })));
  const dialog = h('dialog.decoder', { 'aria-labelledby': 'decoder-title' },
    h('header.dialog-head', null, h('h2', { id: 'decoder-title', text: 'Decode a packet' }), closeBtn),
    form, result);
  document.body.appendChild(dialog);
  const decode = async () => {
    const hex = input.value.replace(/\s+/g, '');
    if (!hex) { replace(result, h('p.error-text', { role: 'alert', text: 'Paste a frame first.' })); return; }
    if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length % 2) {
      replace(result, h('p.error-text', { role: 'alert', text: 'That is not hex: use pairs of 0-9 and A-F.' }));
      return;
    }
    replace(result, h('p.muted', { text: 'Decoding…' }));
    try {
      const body = await post('/api/decode', { hex });
      const decoded = body?.decoded || {};
      const header = decoded.header || {};
      const payload = decoded.payload || {};
      const path = decoded.path || {};
      const bd = breakdown(hex, payload);
      replace(result,
        h('h3', { text: 'Header' }),
        h('dl.facts', null,
          h('dt', { text: 'Route' }), h('dd', { text: String(header.routeTypeName ?? header.routeType ?? '') }),
          h('dt', { text: 'Payload type' }), h('dd', { text: String(header.payloadTypeName ?? header.payloadType ?? '') }),
          h('dt', { text: 'Version' }), h('dd', { text: String(header.payloadVersion ?? '') }),
          h('dt', { text: 'Size' }), h('dd', { text: `${hex.length / 2} bytes` }),
          h('dt', { text: 'Path' }), h('dd', null, hopChips(Array.isArray(path.hops) ? path.hops : [], { link: true }))),
        h('h3', { text: 'Payload' }),
        h('dl.facts', null, ...Object.entries(payload).flatMap(([k, v]) => [
          h('dt', { text: k }),
          h('dd', { class: k === 'signatureValid' ? (v ? 'ok' : 'bad') : null,
            text: k === 'signatureValid' ? (v ? 'Valid' : 'Invalid') : (typeof v === 'object' ? JSON.stringify(v) : String(v)) }),
        ])),
        h('h3', { text: 'Bytes' }),
        byteView(bd));
    } catch (e) {
      replace(result, h('p.error-text', { role: 'alert', text: `Could not decode: ${e.message}` }));
    }
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); decode(); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); decode(); }
  });
  closeBtn.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    dialog.remove();
    trigger.focus();
  });
  dialog.showModal();
  input.focus();
}
