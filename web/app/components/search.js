// Global search (Ctrl+K / ⌘K, `/` outside text fields, or the 🔍 button in the top bar): one
// modal dialog with an ARIA combobox over a grouped listbox of nodes, packets, channels and
// observers. Queries are debounced; answers that arrive after a newer query are dropped.
// ↑/↓ move through the results, Enter opens one, Esc (or the backdrop) closes, Tab wraps
// inside the dialog. Every name shown comes from the mesh and is rendered as text.
//
// Sources: `/api/nodes/search?q=` (name or public-key prefix), `/api/packets?hash=` (a full
// 16-hex hash) or, for a shorter hex prefix, the latest grouped packets matched locally,
// `/api/channels` and `/api/observers` filtered here by name.

import { h, replace, debounce } from '../dom.js';
import { api, withQuery, listOf } from '../api.js';
import { typeName } from '../packet-format.js';
import { typeBadge, iataBadge } from './ui.js';
import { ago, absolute } from '../time.js';

const DEBOUNCE_MS = 200;
const PER_GROUP = 6;
const RECENT_FOR_PREFIX = 1000;

let dialog = null;
let input = null;
let listbox = null;
let status = null;
let options = []; // [{ el, href }]
let active = -1;
let seq = 0;
let opener = null;

const SVG = 'http://www.w3.org/2000/svg';

/** A magnifying-glass icon (SVG, so it needs no emoji font). */
export function searchIcon(className) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', className);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const circle = document.createElementNS(SVG, 'circle');
  circle.setAttribute('cx', '10.5');
  circle.setAttribute('cy', '10.5');
  circle.setAttribute('r', '6.5');
  const line = document.createElementNS(SVG, 'path');
  line.setAttribute('d', 'M15.5 15.5 21 21');
  svg.append(circle, line);
  return svg;
}

/** Hooks the search up: the top-bar button and the global shortcuts. Call once. */
export function initSearch() {
  const button = document.getElementById('search-open');
  button?.addEventListener('click', () => openSearch());
  document.addEventListener('keydown', (e) => {
    if ((e.key === 'k' || e.key === 'K') && (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey) {
      e.preventDefault();
      if (dialog?.open) input.select();
      else openSearch();
      return;
    }
    if (e.key === '/' && !e.ctrlKey && !e.metaKey && !e.altKey && !isTyping(e.target)
      && !document.querySelector('dialog[open]')) {
      e.preventDefault();
      openSearch();
    }
  });
}

function isTyping(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]'));
}

/** Opens the search dialog, optionally with a query already typed. */
export function openSearch(query = '') {
  if (!dialog) build();
  if (dialog.open) return;
  opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  input.value = query;
  dialog.showModal();
  input.focus();
  run();
}

/** Closes the dialog (focus returns to what had it). */
export function closeSearch() {
  if (dialog?.open) dialog.close();
}

function build() {
  input = h('input.search-input', {
    type: 'search', id: 'global-search-input', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'Search nodes, packets, channels, observers…',
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false',
    'aria-controls': 'global-search-results', 'aria-label': 'Search',
    'aria-describedby': 'global-search-hint',
  });
  listbox = h('div.search-results', { id: 'global-search-results', role: 'listbox', 'aria-label': 'Search results' });
  status = h('p.search-status', { role: 'status', 'aria-live': 'polite' });
  const closeBtn = h('button.icon-button.search-close', { type: 'button', 'aria-label': 'Close search', text: '✕' });
  const hint = h('p.search-hint.muted', { id: 'global-search-hint' },
    h('kbd', { text: '↑' }), h('kbd', { text: '↓' }), ' move · ', h('kbd', { text: 'Enter' }), ' open · ',
    h('kbd', { text: 'Esc' }), ' close');
  const panel = h('div.search-panel', null,
    h('div.search-bar', null, searchIcon('search-icon'), input, closeBtn),
    status, listbox, hint);
  dialog = h('dialog.search-dialog', { 'aria-label': 'Global search' }, panel);
  document.body.appendChild(dialog);

  const later = debounce(run, DEBOUNCE_MS);
  input.addEventListener('input', () => {
    // Say at once that the shown results are for older text; the query itself waits.
    seq += 1;
    status.textContent = input.value.trim() ? 'Searching…' : '';
    later();
  });
  input.addEventListener('keydown', onKey);
  listbox.addEventListener('keydown', onKey);
  closeBtn.addEventListener('click', closeSearch);
  // A click on the backdrop (the dialog element itself, outside the panel) closes.
  dialog.addEventListener('mousedown', (e) => { if (e.target === dialog) closeSearch(); });
  dialog.addEventListener('keydown', (e) => {
    if (e.key === 'Tab') trapTab(e);
  });
  dialog.addEventListener('close', () => {
    seq += 1;
    setActive(-1);
    input.setAttribute('aria-expanded', 'false');
    if (opener && opener.isConnected) opener.focus({ preventScroll: true });
    opener = null;
  });
}

/** Keeps Tab and Shift+Tab inside the dialog. */
function trapTab(e) {
  const focusable = [...dialog.querySelectorAll('input, button, a[href], [tabindex]')]
    .filter((el) => !el.disabled && el.tabIndex >= 0 && el.offsetParent !== null);
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
  else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
}

function onKey(e) {
  if (e.key === 'Escape') {
    // A search field would only clear itself on Esc: here Esc closes the dialog, and only
    // the dialog (pages listening on the document must not also close their panes).
    e.preventDefault();
    e.stopPropagation();
    closeSearch();
  } else if (e.key === 'ArrowDown') {
    e.preventDefault();
    if (options.length) setActive(active < options.length - 1 ? active + 1 : 0);
  } else if (e.key === 'ArrowUp') {
    e.preventDefault();
    if (options.length) setActive(active > 0 ? active - 1 : options.length - 1);
  } else if (e.key === 'Home' && e.ctrlKey) {
    e.preventDefault();
    if (options.length) setActive(0);
  } else if (e.key === 'End' && e.ctrlKey) {
    e.preventDefault();
    if (options.length) setActive(options.length - 1);
  } else if (e.key === 'Enter') {
    e.preventDefault();
    const pick = options[active >= 0 ? active : 0];
    if (pick) go(pick.href);
  }
}

function setActive(i) {
  options.forEach((o, k) => o.el.setAttribute('aria-selected', k === i ? 'true' : 'false'));
  active = i;
  if (i >= 0 && options[i]) {
    input.setAttribute('aria-activedescendant', options[i].el.id);
    options[i].el.scrollIntoView({ block: 'nearest' });
  } else input.removeAttribute('aria-activedescendant');
}

function go(href) {
  closeSearch();
  if (location.hash === href) return;
  location.hash = href;
}

async function run() {
  const mine = ++seq;
  const q = input.value.trim();
  options = [];
  active = -1;
  input.removeAttribute('aria-activedescendant');
  if (!q) {
    replace(listbox);
    input.setAttribute('aria-expanded', 'false');
    status.textContent = 'Type a node name or key prefix, a packet hash, a channel or an observer.';
    return;
  }
  status.textContent = 'Searching…';
  listbox.setAttribute('aria-busy', 'true');
  const settled = await Promise.allSettled([findNodes(q), findPackets(q), findChannels(q), findObservers(q)]);
  if (mine !== seq) return;
  listbox.removeAttribute('aria-busy');
  const [nodes, packets, channels, observers] = settled.map((s) => (s.status === 'fulfilled' ? s.value : null));
  const failed = settled.filter((s) => s.status === 'rejected');
  const groups = [
    ['Nodes', nodes, nodeOption],
    ['Packets', packets, packetOption],
    ['Channels', channels, channelOption],
    ['Observers', observers, observerOption],
  ].filter(([, list]) => list && list.length);
  let n = 0;
  replace(listbox, ...groups.map(([label, list, make]) => {
    const id = `gs-group-${label.toLowerCase()}`;
    return h('div.search-group', { role: 'group', 'aria-labelledby': id },
      h('div.search-group-label', { id, role: 'presentation', text: label }),
      ...list.map((item) => {
        const { href, children } = make(item);
        const el = h('a.search-option', {
          id: `gs-opt-${n}`, role: 'option', href, tabindex: '-1', 'aria-selected': 'false', dataset: { kind: label.toLowerCase() },
        }, ...children);
        const index = n;
        el.addEventListener('mousemove', () => { if (active !== index) setActive(index); });
        el.addEventListener('click', (e) => { e.preventDefault(); go(href); });
        options.push({ el, href });
        n += 1;
        return el;
      }));
  }));
  input.setAttribute('aria-expanded', n ? 'true' : 'false');
  const scope = packets?.prefixScan ? ` · hash prefixes are matched among the latest ${RECENT_FOR_PREFIX.toLocaleString()} packets` : '';
  if (n) {
    setActive(0);
    status.textContent = `${n} result${n === 1 ? '' : 's'}${failed.length ? ' (some sources failed)' : ''}${scope}`;
  } else if (failed.length === settled.length) {
    status.textContent = `Search error: ${failed[0].reason?.message || 'the server did not answer'}`;
  } else {
    status.textContent = `No results found for “${q}”${scope}`;
  }
}

// ---- sources ----

async function findNodes(q) {
  const body = await api(withQuery('/api/nodes/search', { q }), { ttl: 5000 });
  return listOf(body, 'nodes').slice(0, PER_GROUP + 2);
}

async function findPackets(q) {
  const hex = q.toLowerCase();
  if (!/^[0-9a-f]{2,16}$/.test(hex)) return [];
  if (hex.length === 16) {
    const body = await api(withQuery('/api/packets', { hash: hex, limit: 5, groupByHash: 'true' }), { ttl: 5000 });
    return listOf(body, 'packets');
  }
  // The API matches whole hashes only: a prefix is looked up among the latest packets.
  if (hex.length < 4) return [];
  const body = await api(withQuery('/api/packets', { limit: RECENT_FOR_PREFIX, groupByHash: 'true' }), { ttl: 30_000 });
  const found = listOf(body, 'packets').filter((p) => String(p.hash || '').startsWith(hex)).slice(0, PER_GROUP);
  found.prefixScan = true;
  return found;
}

async function findChannels(q) {
  const body = await api('/api/channels', { ttl: 60_000 });
  const needle = q.toLowerCase();
  return listOf(body, 'channels')
    .filter((c) => `${c.name ?? ''} ${c.hash ?? ''}`.toLowerCase().includes(needle))
    .slice(0, PER_GROUP);
}

async function findObservers(q) {
  const body = await api('/api/observers', { ttl: 30_000 });
  const needle = q.toLowerCase();
  return listOf(body, 'observers')
    .filter((o) => String(o.name ?? '').toLowerCase().includes(needle)
      || String(o.id ?? '').toLowerCase().startsWith(needle)
      || String(o.iata ?? '').toLowerCase() === needle)
    .slice(0, PER_GROUP);
}

// ---- options ----

function kind(label) {
  return h('span.search-kind', { text: label });
}

function nodeOption(n) {
  const key = String(n.public_key || '');
  const role = String(n.role || 'unknown');
  return {
    href: `#/nodes/${encodeURIComponent(key)}`,
    children: [
      kind('Node'),
      h('span.search-main', null, h('span.search-name', { text: n.name || `${key.slice(0, 8)}…` }),
        h('span.mono.muted.search-sub', { text: key.slice(0, 12) })),
      h('span.search-meta', null,
        h('span.badge.search-role', { class: `role-${role}`, text: role }),
        h('span.muted', { title: absolute(n.last_heard || n.last_seen), text: ago(n.last_heard || n.last_seen) })),
    ],
  };
}

function packetOption(p) {
  let name = '';
  try {
    const d = JSON.parse(p.decoded_json || '{}');
    name = d.name || d.text || d.channel || '';
  } catch { /* undecodable: no summary */ }
  return {
    href: `#/packets/${encodeURIComponent(p.hash)}`,
    children: [
      kind('Packet'),
      h('span.search-main', null, h('span.mono.search-name', { text: p.hash }),
        name ? h('span.muted.search-sub', { text: String(name) }) : null),
      h('span.search-meta', null, typeBadge(typeName(Number(p.payload_type))),
        h('span.muted', { title: absolute(p.latest || p.first_seen), text: ago(p.latest || p.first_seen) })),
    ],
  };
}

function channelOption(c) {
  return {
    href: `#/channels/${encodeURIComponent(c.hash ?? c.name)}`,
    children: [
      kind('Channel'),
      h('span.search-main', null, h('span.search-name', { text: c.name || c.hash }),
        c.lastMessage ? h('span.muted.search-sub', { text: `${c.lastSender ? `${c.lastSender}: ` : ''}${c.lastMessage}` }) : null),
      h('span.search-meta', null, h('span.muted', { text: `${Number(c.messageCount ?? 0).toLocaleString()} msgs` })),
    ],
  };
}

function observerOption(o) {
  return {
    href: `#/observers/${encodeURIComponent(o.id)}`,
    children: [
      kind('Observer'),
      h('span.search-main', null, h('span.search-name', { text: o.name || o.id }),
        h('span.mono.muted.search-sub', { text: String(o.id || '').slice(0, 12) })),
      h('span.search-meta', null, iataBadge(o.iata),
        h('span.muted', { title: absolute(o.last_seen), text: ago(o.last_seen) })),
    ],
  };
}
