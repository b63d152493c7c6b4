// Nodes (`#/nodes`): the directory of every node — role tabs with counts, search, status
// (active / degraded / silent by role), last heard, sortable columns in a virtual-scrolling
// table, ★ favourites and claimed "My Nodes" pinned first (and as views), the region filter,
// a side pane on row select, and live updates from adverts. Also dispatches the node page
// (`#/nodes/<pk>`), its analytics (`#/nodes/<pk>/analytics`) and reach.
//
// URL state (all optional): `#/nodes?tab=<role>&search=&status=active|degraded|silent
// &lastHeard=<dur>&view=fav|mine&region=A,B&area=<key>&sort=<col>[:asc]&node=<pubkey>` — `node` is the
// row shown in the side pane (a `#/nodes/<pubkey>` link is the full page).

import { h, replace, stored, store, debounce } from '../dom.js';
import { api, withQuery, listOf } from '../api.js';
import { subscribe } from '../ws.js';
import * as router from '../router.js';
import { ago, absolute, toMillis } from '../time.js';
import { parseJson } from '../packet-format.js';
import { DataTable } from '../components/table.js';
import {
  ROLES, favorites, myNodes, favButton, syncClaimedIntoFavorites, thresholds, DEFAULT_THRESHOLDS,
  nodeStatus, statusExplanation, statusBadge, roleBadge, roleFromFlags, lastHeardMs,
} from './node-common.js';
import { renderNode, nodePage } from './node-detail.js';
import { analyticsPage } from './node-analytics.js';
import { reachPage } from './node-reach.js';

const PAGE = 2000;
const LIVE_BATCH_MS = 1000;
const TABS = [['all', 'All'], ...ROLES.map(([role, label]) => [role, label])];
const STATUSES = [['', 'Any status'], ['active', 'Active'], ['degraded', 'Degraded'], ['silent', 'Silent']];
const LAST_HEARD = [['', 'Heard: any time'], ['1h', '1 h'], ['2h', '2 h'], ['6h', '6 h'], ['12h', '12 h'], ['24h', '24 h'],
  ['48h', '48 h'], ['3d', '3 d'], ['7d', '7 d'], ['14d', '14 d'], ['30d', '30 d']];
const LAST_HEARD_MS = { h: 3_600_000, d: 86_400_000 };
const VIEWS = [['', 'All nodes'], ['fav', '★ Favourites'], ['mine', 'My nodes']];
const SORT_KEY = 'meshcore-nodes-sort';
const STATUS_KEY = 'meshcore-nodes-status-filter';
const LAST_HEARD_KEY = 'meshcore-nodes-last-heard';
const REGION_KEY = 'meshcore-region-filter';
const AREA_KEY = 'meshcore-area-filter';
const DEFAULT_SORT = { key: 'last', dir: 'desc' };
const phone = () => window.matchMedia('(max-width: 640px)').matches;

const collator = new Intl.Collator(undefined, { sensitivity: 'base' });
const STATUS_RANK = { active: 0, degraded: 1, silent: 2 };
const SORTERS = {
  name: (n) => (n.name || '\uffff').toLowerCase(),
  key: (n) => n.public_key,
  role: (n) => n.role || '~',
  status: (n) => STATUS_RANK[n._status] ?? 3,
  last: (n) => n._last || 0,
  first: (n) => toMillis(n.first_seen) || 0,
  adverts: (n) => Number(n.advert_count) || 0,
};

/** The Nodes page and its sub-pages. */
export const nodesPage = {
  title: 'Nodes',
  fixed: true,
  init(el, ctx) {
    const [pk, sub] = ctx.segments;
    if (pk) {
      document.body.classList.remove('app-fixed');
      if (sub === 'analytics') this.cleanup = analyticsPage(el, ctx);
      else if (sub === 'reach') this.cleanup = reachPage(el, ctx);
      else this.cleanup = nodePage(el, ctx);
      return;
    }
    this.cleanup = directory(el, ctx);
  },
  destroy() {
    this.cleanup?.();
    this.cleanup = null;
  },
};

function parseSort(value) {
  const [key, dir] = String(value || '').split(':');
  if (key && SORTERS[key]) return { key, dir: dir === 'asc' ? 'asc' : 'desc' };
  return null;
}

function sortText(sort) {
  if (!sort || (sort.key === DEFAULT_SORT.key && sort.dir === DEFAULT_SORT.dir)) return '';
  return `${sort.key}${sort.dir === 'asc' ? ':asc' : ''}`;
}

function durationMs(text) {
  const m = /^(\d+)([hd])$/.exec(text || '');
  return m ? Number(m[1]) * LAST_HEARD_MS[m[2]] : 0;
}

function directory(el, ctx) {
  const q = ctx.query;
  syncClaimedIntoFavorites();
  const state = {
    tab: TABS.some(([t]) => t === q.get('tab')) ? q.get('tab') : 'all',
    search: q.get('search') || '',
    status: q.has('status') ? q.get('status') : stored(STATUS_KEY, ''),
    lastHeard: q.has('lastHeard') ? q.get('lastHeard') : stored(LAST_HEARD_KEY, ''),
    view: VIEWS.some(([v]) => v === q.get('view')) ? q.get('view') : '',
    region: q.has('region') ? q.get('region') : (stored(REGION_KEY, []) || []).join?.(',') || '',
    area: q.has('area') ? q.get('area') : (typeof stored(AREA_KEY, '') === 'string' ? stored(AREA_KEY, '') : ''),
    sort: parseSort(q.get('sort')) || parseSort(stored(SORT_KEY, '')) || DEFAULT_SORT,
    selected: q.get('node') || null,
  };
  if (!STATUSES.some(([s]) => s === state.status)) state.status = '';
  if (!LAST_HEARD.some(([s]) => s === state.lastHeard)) state.lastHeard = '';

  let all = []; // every loaded node
  const byKey = new Map();
  let t = { ...DEFAULT_THRESHOLDS };
  let observerIata = new Map();
  let regionCodes = [];
  let loadSeq = 0;
  let paneCleanup = null;
  let paneKey = null;
  const unsubs = [];
  const timers = [];

  // ---- layout ----
  const heading = h('h1', { text: 'Nodes' });
  const countEl = h('span.count', { 'aria-live': 'polite' });
  const searchInput = h('input.node-search', {
    type: 'search', value: state.search, placeholder: 'Search name or key prefix', 'aria-label': 'Search nodes by name or public key prefix',
  });
  const tabList = h('div.role-tabs', { role: 'tablist', 'aria-label': 'Role' });
  const tabButtons = new Map(TABS.map(([tab, label]) => {
    const b = h('button.role-tab', { type: 'button', role: 'tab', id: `nodes-tab-${tab}`, 'aria-controls': 'nodes-list', 'aria-selected': tab === state.tab ? 'true' : 'false', tabindex: tab === state.tab ? '0' : '-1', dataset: { tab } },
      h('span', { text: label }), h('span.tab-count', { text: '' }));
    b.addEventListener('click', () => setTab(tab));
    tabList.appendChild(b);
    return [tab, b];
  }));
  tabList.addEventListener('keydown', (e) => {
    const order = TABS.map(([tab]) => tab);
    const i = order.indexOf(state.tab);
    let next = null;
    if (e.key === 'ArrowRight') next = order[(i + 1) % order.length];
    else if (e.key === 'ArrowLeft') next = order[(i - 1 + order.length) % order.length];
    else if (e.key === 'Home') next = order[0];
    else if (e.key === 'End') next = order[order.length - 1];
    if (!next) return;
    e.preventDefault();
    setTab(next);
    tabButtons.get(next).focus();
  });
  const statusSelect = h('select', { 'aria-label': 'Status' },
    ...STATUSES.map(([v, label]) => h('option', { value: v, selected: v === state.status, text: label })));
  const lastHeardSelect = h('select', { 'aria-label': 'Last heard within' },
    ...LAST_HEARD.map(([v, label]) => h('option', { value: v, selected: v === state.lastHeard, text: v ? `Heard within ${label}` : label })));
  const viewGroup = h('div.view-group', { role: 'group', 'aria-label': 'Which nodes' },
    ...VIEWS.map(([v, label]) => h('button.button.view-btn', { type: 'button', 'aria-pressed': v === state.view ? 'true' : 'false', dataset: { view: v }, text: label })));
  const regionBox = h('div.region-filter', { role: 'group', 'aria-label': 'Region', hidden: true });
  const areaSelect = h('select', { 'aria-label': 'Area', hidden: true }, h('option', { value: '', text: 'Area: all' }));
  const filtersToggle = h('button.button.filters-toggle', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'node-filters', text: 'Filters ▾' });
  const filters = h('div.filters.node-filters', { id: 'node-filters' },
    h('div.filter-group', null, viewGroup),
    h('div.filter-group', null, statusSelect, lastHeardSelect),
    regionBox, areaSelect);
  const progress = h('div.list-status', { role: 'status' });
  const legend = h('p.status-legend.muted', null);

  const table = new DataTable({
    label: 'Nodes',
    rowHeight: phone() ? 44 : 34,
    widthsKey: phone() ? null : 'meshcore-nodes-col-widths',
    rowKey: (n) => n.public_key,
    rowClass: (n) => [n._fresh ? 'fresh' : '', `row-${n._status}`].join(' ').trim(),
    onActivate: (n) => select(n),
    onSort: (sort) => { state.sort = sort; store(SORT_KEY, sortText(sort)); writeUrl(); refresh(); },
    emptyText: 'No nodes match',
    columns: columns(),
  });
  table.el.id = 'nodes-list';
  table.el.setAttribute('role', 'tabpanel');
  table.el.setAttribute('aria-labelledby', `nodes-tab-${state.tab}`);
  table.setSort(state.sort);
  /** Columns hidden for the width; with the side pane open on a desktop, fewer. */
  function paneColumns(open) {
    if (phone()) table.setHidden(['key', 'role', 'first', 'adverts']);
    else if (open && window.matchMedia('(min-width: 1024px)').matches) table.setHidden(['key', 'first', 'adverts']);
    else if (window.matchMedia('(max-width: 1100px)').matches) table.setHidden(['first']);
    else table.setHidden([]);
  }
  paneColumns(false);

  const pane = h('aside.detail-pane.node-pane', { 'aria-label': 'Node detail', hidden: true, tabindex: '-1' });
  const backdrop = h('div.detail-backdrop', { hidden: true, 'aria-hidden': 'true' });
  backdrop.addEventListener('click', () => closePane());

  el.classList.add('nodes-page');
  el.append(
    h('div.page-head', null, heading, countEl, h('div.head-actions.node-head-actions', null, searchInput, filtersToggle)),
    tabList,
    filters,
    h('div.split', null, h('div.list', null, progress, table.el, legend), backdrop, pane));

  function columns() {
    const narrow = phone();
    return [
      { key: 'name', label: 'Name', width: narrow ? 168 : 250, sortable: true, defaultDir: 'asc', render: (n) => h('span.name-cell', null,
        favButton(n, () => refreshSoon()),
        n._claimed ? h('span.badge.claimed-badge', { title: 'Claimed: one of my nodes', text: 'mine' }) : null,
        h('span.node-name-text.ellipsis', { title: n.name || n.public_key, text: n.name || `${n.public_key.slice(0, 8)}…` }),
        n._dups?.length > 1 ? h('span.badge.dup-badge', {
          title: `${n._dups.length} nodes use this name; the others: ${n._dups.filter((k) => k !== n.public_key).slice(0, 8).map((k) => k.slice(0, 8)).join(', ')}`,
          text: `(${n._dups.length})`,
        }) : null) },
      { key: 'key', label: 'Public key', width: 150, sortable: true, defaultDir: 'asc', className: 'mono', render: (n) => h('span', { title: n.public_key, text: n.public_key.slice(0, 16) }) },
      { key: 'role', label: 'Role', width: 105, sortable: true, defaultDir: 'asc', render: (n) => roleBadge(n.role) },
      { key: 'status', label: 'Status', width: narrow ? 104 : 110, sortable: true, defaultDir: 'asc', render: (n) => statusBadge(n._status, statusExplanation(n, t)) },
      { key: 'last', label: narrow ? 'Heard' : 'Last heard', width: narrow ? 78 : 105, sortable: true, render: (n) => (n._last
        ? h('span', { title: absolute(n._last), text: ago(n._last) }) : h('span.muted', { text: '—' })) },
      { key: 'first', label: 'First seen', width: 105, sortable: true, render: (n) => h('span', { title: absolute(n.first_seen), text: ago(n.first_seen) }) },
      { key: 'adverts', label: 'Adverts', width: 80, sortable: true, className: 'num', render: (n) => String(n.advert_count ?? 0) },
    ];
  }

  function decorate(n) {
    n.public_key = String(n.public_key).toLowerCase();
    n._last = lastHeardMs(n) || 0;
    n._status = nodeStatus(n, t);
    return n;
  }

  /** The rows shown: filters, then claimed first, favourites next, then the chosen sort. */
  function visible() {
    const now = Date.now();
    const fav = new Set(favorites());
    const mine = new Set(myNodes().map((m) => m.pubkey.toLowerCase()));
    const search = state.search.trim().toLowerCase();
    const heardMs = durationMs(state.lastHeard);
    const names = new Map();
    for (const n of all) {
      if (!n.name) continue;
      const keys = names.get(n.name);
      if (keys) keys.push(n.public_key); else names.set(n.name, [n.public_key]);
    }
    const counts = { all: 0 };
    const rows = [];
    for (const n of all) {
      n._status = nodeStatus(n, t, now);
      n._claimed = mine.has(n.public_key);
      n._fav = fav.has(n.public_key);
      n._dups = n.name ? names.get(n.name) : null;
      if (search && !n.public_key.startsWith(search) && !(n.name || '').toLowerCase().includes(search)) continue;
      if (state.status && n._status !== state.status) continue;
      if (heardMs && !(n._last && now - n._last < heardMs)) continue;
      if (state.view === 'fav' && !n._fav && !n._claimed) continue;
      if (state.view === 'mine' && !n._claimed) continue;
      counts.all += 1;
      counts[n.role] = (counts[n.role] || 0) + 1;
      if (state.tab !== 'all' && n.role !== state.tab) continue;
      rows.push(n);
    }
    const get = SORTERS[state.sort.key] || SORTERS.last;
    const dir = state.sort.dir === 'asc' ? 1 : -1;
    rows.sort((a, b) => {
      const pin = (Number(b._claimed) - Number(a._claimed)) || (Number(b._fav) - Number(a._fav));
      if (pin) return pin;
      const x = get(a); const y = get(b);
      const c = typeof x === 'string' ? collator.compare(x, y) : x - y;
      return c * dir || (a.public_key < b.public_key ? -1 : 1);
    });
    return { rows, counts };
  }

  function refresh() {
    const { rows, counts } = visible();
    table.setRows(rows);
    for (const [tab, b] of tabButtons) b.querySelector('.tab-count').textContent = String(counts[tab] || 0);
    countEl.textContent = `${rows.length.toLocaleString()} of ${all.length.toLocaleString()}`;
    revealTab();
    if (state.selected) table.setSelected(state.selected);
  }
  const refreshSoon = debounce(refresh, 50);

  function writeUrl() {
    router.replaceHash(router.buildHash('nodes', {
      tab: state.tab === 'all' ? '' : state.tab,
      search: state.search.trim(),
      status: state.status,
      lastHeard: state.lastHeard,
      view: state.view,
      region: state.region,
      area: state.area,
      sort: sortText(state.sort),
      node: state.selected,
    }));
  }

  async function load() {
    const seq = ++loadSeq;
    progress.textContent = 'Loading nodes…';
    table.el.setAttribute('aria-busy', 'true');
    const got = [];
    try {
      for (let offset = 0; ; offset += PAGE) {
        const body = await api(withQuery('/api/nodes', { limit: PAGE, offset, region: state.region, area: state.area }));
        if (seq !== loadSeq) return;
        const list = listOf(body, 'nodes');
        got.push(...list);
        const total = Number(body?.total) || got.length;
        progress.textContent = `Loading nodes… ${got.length.toLocaleString()}/${total.toLocaleString()}`;
        if (!list.length || got.length >= total) break;
      }
    } catch (e) {
      if (seq !== loadSeq) return;
      if (e.status === 400 && state.area) {
        // A remembered area the server no longer has: drop it and load everything.
        state.area = '';
        store(AREA_KEY, '');
        areaSelect.value = '';
        writeUrl();
        load();
        return;
      }
      progress.textContent = '';
      replace(progress, h('p.error-text', { role: 'alert', text: `Could not load the nodes: ${e.message}` }),
        h('button.button', { type: 'button', text: 'Retry', onclick: load }));
      table.el.removeAttribute('aria-busy');
      return;
    }
    all = got.filter((n) => typeof n?.public_key === 'string' && n.public_key.length >= 16 && (n.name || Number(n.advert_count) > 0)).map(decorate);
    byKey.clear();
    for (const n of all) byKey.set(n.public_key, n);
    progress.textContent = '';
    table.el.removeAttribute('aria-busy');
    refresh();
    if (state.selected && paneKey !== state.selected) openPane(state.selected, true);
    // Claimed nodes outside the region/area filter are fetched one by one so they always appear.
    const missing = myNodes().map((m) => m.pubkey.toLowerCase()).filter((k) => !byKey.has(k)).slice(0, 20);
    if (missing.length && (state.region || state.area)) {
      const found = await Promise.all(missing.map((k) => api(`/api/nodes/${encodeURIComponent(k)}`).then((b) => b?.node).catch(() => null)));
      if (seq !== loadSeq) return;
      for (const n of found) {
        if (!n?.public_key || byKey.has(n.public_key.toLowerCase())) continue;
        decorate(n);
        all.push(n);
        byKey.set(n.public_key, n);
      }
      refresh();
    }
  }

  // ---- selection ----
  function select(n) {
    if (phone()) { router.navigate(`#/nodes/${encodeURIComponent(n.public_key)}`); return; }
    if (state.selected === n.public_key && !pane.hidden) { closePane(); return; }
    openPane(n.public_key, false);
  }

  function openPane(pk, scroll) {
    state.selected = pk.toLowerCase();
    paneKey = state.selected;
    if (!el.classList.contains('has-detail')) paneColumns(true);
    table.setSelected(state.selected);
    if (scroll) {
      // Cold load with a selection: bring its row to the middle of the list.
      const i = table.rows.findIndex((n) => n.public_key === state.selected);
      if (i >= 0) table.el.scrollTop = Math.max(0, i * table.rowHeight - table.el.clientHeight / 2);
    }
    writeUrl();
    pane.hidden = false;
    backdrop.hidden = false;
    el.classList.add('has-detail');
    paneCleanup?.();
    paneCleanup = renderNode(pane, pk, { compact: true, onClose: closePane });
    if (window.matchMedia('(max-width: 1023px)').matches) pane.focus({ preventScroll: true });
  }

  function closePane() {
    const key = state.selected;
    paneCleanup?.();
    paneCleanup = null;
    paneKey = null;
    state.selected = null;
    pane.hidden = true;
    backdrop.hidden = true;
    replace(pane);
    el.classList.remove('has-detail');
    paneColumns(false);
    table.setSelected(null);
    writeUrl();
    const row = key && table.body.querySelector(`tr[data-key="${CSS.escape(key)}"]`);
    if (row) row.focus();
  }

  // ---- controls ----
  function setTab(tab) {
    state.tab = tab;
    for (const [name, b] of tabButtons) {
      b.setAttribute('aria-selected', name === tab ? 'true' : 'false');
      b.tabIndex = name === tab ? 0 : -1;
    }
    table.el.setAttribute('aria-labelledby', `nodes-tab-${tab}`);
    revealTab();
    writeUrl();
    refresh();
  }
  /** Scrolls the tab strip (narrow screens) so the selected tab is visible. */
  function revealTab() {
    const b = tabButtons.get(state.tab);
    const left = b.offsetLeft - tabList.offsetLeft;
    if (left < tabList.scrollLeft || left + b.offsetWidth > tabList.scrollLeft + tabList.clientWidth) {
      tabList.scrollLeft = Math.max(0, left - 16);
    }
  }
  const applySearch = debounce(() => { state.search = searchInput.value; writeUrl(); refresh(); }, 250);
  searchInput.addEventListener('input', applySearch);
  statusSelect.addEventListener('change', () => { state.status = statusSelect.value; store(STATUS_KEY, state.status); writeUrl(); refresh(); });
  lastHeardSelect.addEventListener('change', () => { state.lastHeard = lastHeardSelect.value; store(LAST_HEARD_KEY, state.lastHeard); writeUrl(); refresh(); });
  viewGroup.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-view]');
    if (!b) return;
    state.view = b.dataset.view;
    viewGroup.querySelectorAll('button').forEach((x) => x.setAttribute('aria-pressed', x === b ? 'true' : 'false'));
    writeUrl();
    refresh();
  });
  filtersToggle.addEventListener('click', () => {
    const open = !filters.classList.contains('open');
    filters.classList.toggle('open', open);
    filtersToggle.setAttribute('aria-expanded', open ? 'true' : 'false');
  });
  areaSelect.addEventListener('change', () => { state.area = areaSelect.value; store(AREA_KEY, state.area); writeUrl(); load(); });
  if (state.status || state.lastHeard || state.view || state.region || state.area) filtersToggle.textContent = 'Filters • ▾';
  const onKey = (e) => {
    if (e.key === 'Escape' && !pane.hidden && !document.querySelector('dialog[open]')) closePane();
  };
  document.addEventListener('keydown', onKey);

  function buildRegions(regions) {
    regionCodes = regions && typeof regions === 'object' ? Object.keys(regions).sort() : [];
    if (regionCodes.length < 2) { regionBox.hidden = true; return; }
    const chosen = new Set(state.region.split(',').filter(Boolean));
    const apply = (codes) => {
      state.region = codes.length === regionCodes.length ? '' : codes.join(',');
      store(REGION_KEY, state.region ? state.region.split(',') : []);
      writeUrl();
      buildRegions(regions);
      load();
    };
    const label = (code) => (regions[code] && regions[code] !== code ? `${code} – ${regions[code]}` : code);
    if (regionCodes.length <= 4) {
      replace(regionBox, h('span.muted', { text: 'Region:' }),
        h('button.button.pill', { type: 'button', 'aria-pressed': chosen.size ? 'false' : 'true', text: 'All', onclick: () => apply([]) }),
        ...regionCodes.map((code) => h('button.button.pill', {
          type: 'button', 'aria-pressed': chosen.has(code) ? 'true' : 'false', title: label(code), text: code,
          onclick: () => {
            const next = new Set(chosen);
            if (next.has(code)) next.delete(code); else next.add(code);
            apply(regionCodes.filter((c) => next.has(c)));
          },
        })));
    } else {
      const menu = h('details.popover.menu', null,
        h('summary.button', { text: chosen.size ? (chosen.size <= 2 ? `Region: ${[...chosen].join(', ')} ▾` : `${chosen.size} regions ▾`) : 'All regions ▾' }),
        h('div.menu-body', { role: 'group', 'aria-label': 'Regions' },
          ...regionCodes.map((code) => h('label.check', null, h('input', { type: 'checkbox', value: code, checked: chosen.has(code) }), label(code)))));
      menu.addEventListener('change', () => apply([...menu.querySelectorAll('input:checked')].map((i) => i.value)));
      replace(regionBox, menu);
    }
    regionBox.hidden = false;
  }

  // ---- live updates: adverts move nodes and update their last heard ----
  let queue = [];
  let timer = 0;
  function applyLive() {
    timer = 0;
    const batch = queue;
    queue = [];
    const fresh = [];
    const nowIso = new Date().toISOString();
    const chosen = state.region ? new Set(state.region.split(',')) : null;
    for (const d of batch) {
      const payload = parseJson(d.decoded_json) || d.decoded?.payload || {};
      const pk = typeof payload.pubKey === 'string' ? payload.pubKey.toLowerCase() : '';
      if (pk.length < 16) continue;
      if (chosen && !chosen.has(String(observerIata.get(d.observer_id) || '').toUpperCase())) continue;
      let n = byKey.get(pk);
      const seen = d.timestamp || d.first_seen || nowIso;
      if (!n && state.area) continue; // whether it lies in the area is the server's call
      if (!n) {
        n = { public_key: pk, name: payload.name || null, role: roleFromFlags(payload.flags), first_seen: seen, advert_count: 0 };
        all.push(n);
        byKey.set(pk, n);
      }
      if (typeof payload.name === 'string' && payload.name) n.name = payload.name;
      const role = roleFromFlags(payload.flags);
      if (role) n.role = role;
      if (Number.isFinite(payload.lat) && Number.isFinite(payload.lon)) { n.lat = payload.lat; n.lon = payload.lon; }
      if (!fresh.includes(n)) n.advert_count = (Number(n.advert_count) || 0) + 1;
      n.last_seen = seen;
      if (!n.last_heard || toMillis(n.last_heard) < toMillis(seen)) n.last_heard = seen;
      decorate(n);
      n._fresh = true;
      fresh.push(n);
    }
    if (!fresh.length) return;
    refresh();
    timers.push(setTimeout(() => { for (const n of fresh) n._fresh = false; }, 1500));
  }
  unsubs.push(subscribe((message) => {
    if (message.type === 'lagged') { reloadAfterLag(); return; }
    if (message.type !== 'packet') return;
    const d = message.data?.packet || message.data;
    if (!d || Number(d.payload_type) !== 4) return;
    queue.push(d);
    // One merge a second at most: a busy mesh re-sorts the list once, not per advert.
    if (!timer) timer = setTimeout(() => requestAnimationFrame(applyLive), LIVE_BATCH_MS);
  }));
  const reloadAfterLag = debounce(load, 2000);
  // Statuses and "x ago" age without adverts: recompute every 30 s (visible rows only render).
  const tick = setInterval(() => refresh(), 30_000);

  // ---- start ----
  writeUrl();
  Promise.all([
    thresholds(),
    api('/api/config/regions', { ttl: 300_000 }).catch(() => null),
    api('/api/observers', { ttl: 60_000 }).catch(() => null),
    api('/api/config/areas', { ttl: 300_000 }).catch(() => null),
  ]).then(([th, regions, obs, areas]) => {
    const areaList = Array.isArray(areas) ? areas.filter((a) => a && typeof a.key === 'string') : [];
    if (areaList.length) {
      areaSelect.append(...areaList.map((a) => h('option', { value: a.key, text: `Area: ${a.label || a.key}` })));
      areaSelect.value = state.area;
      areaSelect.hidden = false;
    }
    t = th;
    observerIata = new Map(listOf(obs, 'observers').map((o) => [o.id, o.iata]));
    buildRegions(regions);
    replace(legend,
      statusBadge('active'), ' ', statusBadge('degraded'), ' ', statusBadge('silent'),
      h('span.legend-text', { text: ` — repeaters and rooms: degraded after ${Math.round(t.infraDegradedMs / 3_600_000)} h, silent after ${Math.round(t.infraSilentMs / 3_600_000)} h; companions and sensors: ${Math.round(t.nodeDegradedMs / 3_600_000)} h / ${Math.round(t.nodeSilentMs / 3_600_000)} h.` }));
    for (const n of all) decorate(n);
    if (all.length) refresh();
  });
  load();

  return () => {
    loadSeq += 1;
    unsubs.forEach((u) => u());
    clearTimeout(timer);
    clearInterval(tick);
    timers.forEach(clearTimeout);
    paneCleanup?.();
    document.removeEventListener('keydown', onKey);
  };
}
