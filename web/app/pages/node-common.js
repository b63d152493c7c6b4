// Pieces shared by the Nodes directory, the node page and the node analytics page: the
// browser-local favourite / claimed lists (the reference's localStorage keys, which the Home
// page reads too), the status vocabulary (active / degraded / silent by role, thresholds from
// /api/config/client), role badges, and the contact QR code.

import { h, stored, store } from '../dom.js';
import { api } from '../api.js';
import { toMillis } from '../time.js';
import qrcode from '/vendor/qrcode-generator-2.0.4/qrcode.mjs';

/** Starred nodes: a JSON array of public keys. */
export const FAVORITES_KEY = 'meshcore-favorites';
/** Claimed nodes ("My Mesh"): a JSON array of `{pubkey, name, addedAt}`. */
export const MY_NODES_KEY = 'meshcore-my-nodes';

export const ROLES = [
  ['repeater', 'Repeaters', 'Repeater'],
  ['companion', 'Companions', 'Companion'],
  ['room', 'Rooms', 'Room'],
  ['sensor', 'Sensors', 'Sensor'],
];
/** MeshCore advert types (the `type` of a contact URL). */
const ADVERT_TYPES = { companion: 1, repeater: 2, room: 3, sensor: 4 };
const ADVERT_ROLES = ['', 'companion', 'repeater', 'room', 'sensor'];

const HOUR = 3_600_000;
export const DEFAULT_THRESHOLDS = {
  infraDegradedMs: 24 * HOUR, infraSilentMs: 72 * HOUR, nodeDegradedMs: HOUR, nodeSilentMs: 24 * HOUR,
};

// ---- favourites and claimed nodes ----

/** Starred public keys (lower case; anything malformed in storage is ignored). */
export function favorites() {
  const list = stored(FAVORITES_KEY, []);
  return Array.isArray(list) ? list.filter((k) => typeof k === 'string' && k).map((k) => k.toLowerCase()) : [];
}

/** Claimed nodes `[{pubkey, name, addedAt}]`. */
export function myNodes() {
  const list = stored(MY_NODES_KEY, []);
  return Array.isArray(list) ? list.filter((n) => n && typeof n.pubkey === 'string' && n.pubkey) : [];
}

export function isFavorite(pubkey) {
  return favorites().includes(String(pubkey).toLowerCase());
}

export function isClaimed(pubkey) {
  const key = String(pubkey).toLowerCase();
  return myNodes().some((n) => n.pubkey.toLowerCase() === key);
}

/** Stars or unstars a node; returns the new state. */
export function setFavorite(pubkey, on) {
  const key = String(pubkey).toLowerCase();
  const list = favorites().filter((k) => k !== key);
  if (on) list.push(key);
  store(FAVORITES_KEY, list);
  return on;
}

/** Claims ("My Mesh") or releases a node; returns the new state. */
export function setClaimed(node, on) {
  const key = String(node.public_key).toLowerCase();
  const list = myNodes().filter((n) => n.pubkey.toLowerCase() !== key);
  if (on) list.push({ pubkey: node.public_key, name: node.name || '', addedAt: new Date().toISOString() });
  store(MY_NODES_KEY, list);
  return on;
}

/** As the reference does on the Nodes page: claimed nodes are also favourites. */
export function syncClaimedIntoFavorites() {
  const fav = favorites();
  const missing = myNodes().map((n) => n.pubkey.toLowerCase()).filter((k) => !fav.includes(k));
  if (missing.length) store(FAVORITES_KEY, [...fav, ...missing]);
}

/** A ★ toggle button for a node (aria-pressed); `onChange(on)` after it flips. */
export function favButton(node, onChange) {
  const on = isFavorite(node.public_key);
  const button = h('button.fav-toggle', {
    type: 'button',
    'aria-pressed': on ? 'true' : 'false',
    'aria-label': `${on ? 'Remove' : 'Add'} ${node.name || 'node'} ${on ? 'from' : 'to'} favourites`,
    title: on ? 'Favourite (click to remove)' : 'Add to favourites',
    text: on ? '★' : '☆',
  });
  button.addEventListener('click', (e) => {
    e.stopPropagation();
    const next = setFavorite(node.public_key, button.getAttribute('aria-pressed') !== 'true');
    button.setAttribute('aria-pressed', next ? 'true' : 'false');
    button.textContent = next ? '★' : '☆';
    button.title = next ? 'Favourite (click to remove)' : 'Add to favourites';
    button.setAttribute('aria-label', `${next ? 'Remove' : 'Add'} ${node.name || 'node'} ${next ? 'from' : 'to'} favourites`);
    onChange?.(next);
  });
  return button;
}

// ---- status ----

/** Health thresholds from the server (`healthThresholds` of /api/config/client). */
export async function thresholds() {
  try {
    const c = await api('/api/config/client', { ttl: 300_000 });
    return { ...DEFAULT_THRESHOLDS, ...(c?.healthThresholds || {}) };
  } catch {
    return { ...DEFAULT_THRESHOLDS };
  }
}

export function isInfra(role) {
  return role === 'repeater' || role === 'room';
}

/** The last time the node was heard (its adverts or anything it sent or relayed), in ms. */
export function lastHeardMs(node) {
  const a = toMillis(node?.last_heard);
  const b = toMillis(node?.last_seen);
  const m = Math.max(Number.isFinite(a) ? a : 0, Number.isFinite(b) ? b : 0);
  return m || NaN;
}

/** 'active' | 'degraded' | 'silent' by role: repeaters/rooms advertise less often. */
export function nodeStatus(node, t, now = Date.now()) {
  const last = lastHeardMs(node);
  if (!Number.isFinite(last)) return 'silent';
  const infra = isInfra(node.role);
  const age = now - last;
  if (age < (infra ? t.infraDegradedMs : t.nodeDegradedMs)) return 'active';
  if (age < (infra ? t.infraSilentMs : t.nodeSilentMs)) return 'degraded';
  return 'silent';
}

function span(ms) {
  const h = ms / HOUR;
  return h >= 48 ? `${Math.round(h / 24)} d` : `${Math.round(h)} h`;
}

/** A sentence explaining the status ("Not heard for 3d — repeaters typically …"). */
export function statusExplanation(node, t, now = Date.now()) {
  const status = nodeStatus(node, t, now);
  const infra = isInfra(node.role);
  const deg = infra ? t.infraDegradedMs : t.nodeDegradedMs;
  const sil = infra ? t.infraSilentMs : t.nodeSilentMs;
  const kind = infra ? `${node.role}s typically advertise every 12–24 h` : `${node.role || 'node'}s are heard whenever they send`;
  if (status === 'active') return `Heard within the last ${span(deg)}.`;
  if (status === 'degraded') return `Not heard for over ${span(deg)} (silent after ${span(sil)}) — ${kind}.`;
  const last = lastHeardMs(node);
  return Number.isFinite(last)
    ? `Not heard for over ${span(sil)} — ${kind}.`
    : 'Never heard.';
}

const STATUS_WORD = { active: 'Active', degraded: 'Degraded', silent: 'Silent' };
const STATUS_SHAPE = { active: '●', degraded: '◐', silent: '○' };

/** A status pill: coloured dot with a distinct shape (colour-blind safe) and the word. */
export function statusBadge(status, title) {
  return h('span.node-status', { class: `st-${status}`, title },
    h('span.st-dot', { 'aria-hidden': 'true', text: STATUS_SHAPE[status] || '●' }),
    h('span', { text: STATUS_WORD[status] || status }));
}

export function roleLabel(role) {
  return ROLES.find(([r]) => r === role)?.[2] || (role ? String(role) : 'Unknown');
}

export function roleBadge(role) {
  const known = ROLES.some(([r]) => r === role);
  return h('span.badge.role-badge', { class: `role-${known ? role : 'unknown'}`, text: roleLabel(role) });
}

/** Role from an advert's decoded flags (live updates). */
export function roleFromFlags(flags) {
  if (!flags) return undefined;
  if (flags.repeater) return 'repeater';
  if (flags.room) return 'room';
  if (flags.sensor) return 'sensor';
  if (flags.chat) return 'companion';
  return ADVERT_ROLES[Number(flags.type)] || undefined;
}

/** The hash prefix the node uses in paths (hash_size bytes of its key). */
export function hashPrefix(node) {
  const size = Number(node.hash_size) || 1;
  return String(node.public_key || '').slice(0, size * 2).toUpperCase();
}

export function hasPosition(node) {
  return Number.isFinite(node?.lat) && Number.isFinite(node?.lon) && !(node.lat === 0 && node.lon === 0);
}

export function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || !Number.isFinite(Number(n))) return '—';
  return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

// ---- contact QR ----

/** The MeshCore app's "add contact" URL for a node. */
export function contactUrl(node) {
  const params = new URLSearchParams();
  params.set('name', node.name || '');
  params.set('public_key', node.public_key);
  params.set('type', String(ADVERT_TYPES[node.role] || 1));
  return `meshcore://contact/add?${params.toString()}`;
}

const SVG = 'http://www.w3.org/2000/svg';

/** A QR code of `text` as an SVG built with DOM calls (one path of dark modules). */
export function qrSvg(text, label) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  const size = n + quiet * 2;
  let d = '';
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) {
      if (qr.isDark(r, c)) d += `M${c + quiet} ${r + quiet}h1v1h-1z`;
    }
  }
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${size} ${size}`);
  svg.setAttribute('class', 'qr-svg');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  svg.setAttribute('shape-rendering', 'crispEdges');
  const bg = document.createElementNS(SVG, 'rect');
  bg.setAttribute('width', String(size));
  bg.setAttribute('height', String(size));
  bg.setAttribute('class', 'qr-bg');
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', d);
  path.setAttribute('class', 'qr-fg');
  svg.append(bg, path);
  svg.dataset.modules = String(n);
  return svg;
}

/** The contact QR with a caption (scan with the MeshCore app to add the contact). */
export function contactQr(node) {
  const url = contactUrl(node);
  return h('figure.contact-qr', null,
    qrSvg(url, `QR code to add ${node.name || 'this node'} as a contact in the MeshCore app`),
    h('figcaption.muted', { text: 'Scan with the MeshCore app to add this contact' }));
}
