// Path hops shown as node names. A hop is a 1–3-byte prefix of the key of the node that
// relayed the packet, so a short hop may name several nodes. Only repeaters and rooms relay
// (the server attributes hops by the same rule, see crates/analyzer-server/src/routes/
// nodes.rs), so a hop is shown as a name only when exactly one known repeater, room or node
// of unknown role has a key with that prefix. Several such nodes: the hex with a ⚠N marker
// and the candidates in the tooltip. None: the hex. A resolution is never guessed.
//
// The node directory is read once from `/api/nodes` (paged), shared by every page, and
// re-read every five minutes while a page watches it. Chips built before it arrives fill
// themselves in when it does. "Hex paths" (a preference) shows raw prefixes everywhere.

import { h, replace, stored, store } from '../dom.js';
import { api, listOf } from '../api.js';

const PAGE = 2000;
const MAX_PAGES = 50;
const REFRESH_MS = 5 * 60_000;
const HEX_KEY = 'meshcore-hex-paths';
const TOOLTIP_CANDIDATES = 12;

let directory = null; // [{ key, name, role }]
let byKey = new Map();
let loadedAt = 0;
let loading = null;
let memo = new Map(); // lower-case prefix → resolution
const listeners = new Set();
let timer = 0;
let hexPaths = Boolean(stored(HEX_KEY, false));
const hexListeners = new Set();

/** Whether a role relays packets (repeaters, rooms; unknown roles are not ruled out). */
function relays(role) {
  if (!role) return true;
  const r = String(role).trim().toLowerCase();
  return r === 'repeater' || r === 'room' || r === 'room_server';
}

/** Loads (or re-reads, when older than the refresh interval or `force`) the node directory. */
export function loadDirectory({ force = false } = {}) {
  if (loading) return loading;
  if (directory && !force && Date.now() - loadedAt < REFRESH_MS) return Promise.resolve(directory);
  loading = (async () => {
    const all = [];
    for (let page = 0; page < MAX_PAGES; page += 1) {
      // Name order is stable while new nodes are heard (last-seen order would shift pages).
      const body = await api(`/api/nodes?limit=${PAGE}&offset=${page * PAGE}&sortBy=name`, { bust: true });
      const list = listOf(body, 'nodes');
      for (const n of list) {
        if (!n || typeof n.public_key !== 'string' || !/^[0-9a-fA-F]+$/.test(n.public_key)) continue;
        all.push({
          key: n.public_key.toLowerCase(),
          name: typeof n.name === 'string' && n.name.trim() ? n.name : null,
          role: typeof n.role === 'string' ? n.role : null,
        });
      }
      const total = Number(body?.total);
      if (list.length < PAGE || (Number.isFinite(total) && all.length >= total)) break;
    }
    directory = all;
    byKey = new Map(all.map((n) => [n.key, n]));
    memo = new Map();
    loadedAt = Date.now();
    for (const fn of listeners) {
      try { fn(); } catch (e) { console.error('hop directory listener failed', e); }
    }
    return directory;
  })().catch(() => directory).finally(() => { loading = null; });
  return loading;
}

/**
 * `fn()` whenever the directory is (re)loaded; starts the periodic refresh while anyone
 * watches. Returns the unsubscribe function.
 */
export function watchDirectory(fn) {
  listeners.add(fn);
  loadDirectory();
  if (!timer) timer = setInterval(() => loadDirectory({ force: true }), REFRESH_MS);
  return () => {
    listeners.delete(fn);
    if (!listeners.size && timer) { clearInterval(timer); timer = 0; }
  };
}

/** Whether the directory has been read. */
export function directoryReady() {
  return directory !== null;
}

/**
 * What a hop names: `{ state: 'resolved', node }`, `{ state: 'ambiguous', candidates }`,
 * `{ state: 'unknown', others }` (no relaying node has the prefix; `others` lists
 * companions/sensors that do), or `null` before the directory is loaded.
 */
export function resolveHop(hop) {
  if (!directory) return null;
  const prefix = String(hop ?? '').toLowerCase();
  if (!prefix || !/^[0-9a-f]+$/.test(prefix)) return { state: 'unknown', others: [] };
  let r = memo.get(prefix);
  if (r) return r;
  const matches = directory.filter((n) => n.key.startsWith(prefix));
  const relaying = matches.filter((n) => relays(n.role));
  if (relaying.length === 1) r = { state: 'resolved', node: relaying[0] };
  else if (relaying.length > 1) r = { state: 'ambiguous', candidates: relaying };
  else r = { state: 'unknown', others: matches };
  memo.set(prefix, r);
  return r;
}

/** The node of a full key from the server's `resolved_path` (name when known). */
function nodeOfKey(key) {
  if (typeof key !== 'string' || !/^[0-9a-fA-F]{16,}$/.test(key)) return null;
  const k = key.toLowerCase();
  return byKey.get(k) || { key: k, name: null, role: null };
}

/** Whether raw hex prefixes are preferred over names. */
export function hexPathsPreferred() {
  return hexPaths;
}

/** Sets the "Hex paths" preference (persisted) and tells the watchers. */
export function setHexPaths(on) {
  hexPaths = Boolean(on);
  store(HEX_KEY, hexPaths);
  for (const fn of hexListeners) fn(hexPaths);
}

/** `fn(on)` when the "Hex paths" preference changes; returns the unsubscribe function. */
export function onHexPaths(fn) {
  hexListeners.add(fn);
  return () => hexListeners.delete(fn);
}

function label(node) {
  return node.name || `${node.key.slice(0, 8)}…`;
}

function candidateLines(list) {
  const lines = list.slice(0, TOOLTIP_CANDIDATES).map((n) => `• ${label(n)} (${n.key.slice(0, 8)}${n.role ? `, ${n.role}` : ''})`);
  if (list.length > TOOLTIP_CANDIDATES) lines.push(`… and ${list.length - TOOLTIP_CANDIDATES} more`);
  return lines.join('\n');
}

/**
 * One hop as a chip. `resolvedKey` (a full key from the server's `resolved_path`) wins over
 * the client-side prefix match. `link` makes resolved hops links to the node page.
 */
export function hopChip(hop, { resolvedKey = null, link = false } = {}) {
  const hex = String(hop).toUpperCase();
  if (hexPaths) return h('span.hop', { 'data-hop': hex, text: hex });
  const known = nodeOfKey(resolvedKey);
  const r = known ? { state: 'resolved', node: known } : resolveHop(hop);
  if (!r) return h('span.hop', { 'data-hop': hex, text: hex });
  if (r.state === 'resolved') {
    const name = label(r.node);
    const attrs = {
      'data-hop': hex,
      'data-key': r.node.key,
      title: `${hex} → ${name} (${r.node.key.slice(0, 12)}…${r.node.role ? `, ${r.node.role}` : ''})`,
      text: name,
    };
    return link
      ? h('a.hop.hop-named', { ...attrs, href: `#/nodes/${encodeURIComponent(r.node.key)}` })
      : h('span.hop.hop-named', attrs);
  }
  if (r.state === 'ambiguous') {
    const n = r.candidates.length;
    return h('span.hop.hop-ambiguous', {
      'data-hop': hex,
      'data-candidates': String(n),
      tabindex: link ? '0' : null,
      'aria-label': `${hex}: ambiguous, ${n} possible nodes: ${r.candidates.slice(0, TOOLTIP_CANDIDATES).map(label).join(', ')}${n > TOOLTIP_CANDIDATES ? ', …' : ''}`,
      title: `${hex}: ${n} known repeaters/rooms share this prefix, so the hop is not named:\n${candidateLines(r.candidates)}`,
    }, hex, h('span.hop-warn', { 'aria-hidden': 'true', text: `⚠${n}` }));
  }
  return h('span.hop', {
    'data-hop': hex,
    title: r.others.length
      ? `${hex}: no known repeater or room has this prefix (${r.others.length} non-relaying node${r.others.length === 1 ? '' : 's'} do:\n${candidateLines(r.others)})`
      : `${hex}: no known node has this prefix`,
    text: hex,
  });
}

/**
 * Path hops as chips with arrows; `max` chips, then a "+N" pill (its tooltip has the rest).
 * `resolvedPath` is the server's `resolved_path` (full keys or null, one per hop).
 * Chips built before the directory is loaded fill themselves in when it is.
 */
export function hopChips(hops, { max = Infinity, link = false, resolvedPath = null } = {}) {
  const list = Array.isArray(hops) ? hops : [];
  if (!list.length) return h('span.muted', { text: 'direct' });
  const el = h('span.path');
  const build = () => {
    const parts = [];
    list.slice(0, max).forEach((hop, i) => {
      if (i) parts.push(h('span.path-arrow', { 'aria-hidden': 'true', text: '→' }));
      const key = Array.isArray(resolvedPath) && resolvedPath.length === list.length ? resolvedPath[i] : null;
      parts.push(hopChip(hop, { resolvedKey: key, link }));
    });
    if (list.length > max) {
      parts.push(h('span.badge.more', { title: list.map((x) => hopText(x)).join(' → '), text: `+${list.length - max}` }));
    }
    replace(el, ...parts);
  };
  build();
  if (!directory && !hexPaths) loadDirectory().then(() => { if (directory) build(); });
  return el;
}

/** A hop as plain text: the node name when resolved, else the hex. */
export function hopText(hop) {
  const hex = String(hop).toUpperCase();
  if (hexPaths) return hex;
  const r = resolveHop(hop);
  return r?.state === 'resolved' ? label(r.node) : hex;
}

/** A description of a hop for the byte table ("Name (key…)", "ambiguous: N nodes", …). */
export function hopDescription(hop) {
  const r = resolveHop(hop);
  if (!r) return '';
  if (r.state === 'resolved') return `${label(r.node)} (${r.node.key.slice(0, 12)}…)`;
  if (r.state === 'ambiguous') return `ambiguous: ${r.candidates.length} known repeaters/rooms share this prefix`;
  return 'no known repeater or room has this prefix';
}
