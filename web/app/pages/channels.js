// Channels (`#/channels[/<channel>]`): group chat read like a messenger, and keys for
// private channels kept in this browser.
//
// URL state: `#/channels/<channel>?region=<codes>` where <channel> is a channel name the
// server decrypts ("Public", "#test"), the name of a channel whose key the user added here,
// or `enc_XX` for a channel hash nobody has the key of.
//
// Keys the user adds (32 hex characters, or a hashtag name whose SHA-256 is the key) live in
// localStorage (`corescope_channel_keys`, name → hex key) and are used only in this page: it
// asks the server for the still-encrypted packets of the key's channel hash byte
// (`/api/packets?channel=enc_XX`, `/api/channels/enc_XX/messages`) and decrypts them with
// components/channel-crypto.js. No request carries a key or a hashtag name (the name of a
// hashtag channel *is* its key).

import { h, replace, stored, store, debounce } from '../dom.js';
import { api, withQuery, listOf } from '../api.js';
import { subscribe } from '../ws.js';
import * as router from '../router.js';
import { hopsOf, parseJson } from '../packet-format.js';
import { ago, absolute, toMillis } from '../time.js';
import { toast, copyText } from '../components/ui.js';
import {
  parseKeyInput, channelHash, hashHex, hexToBytes, bytesToHex, decryptPacket, splitSender,
} from '../components/channel-crypto.js';

const KEYS_KEY = 'corescope_channel_keys';
const WIDTH_KEY = 'channels-sidebar-width';
const ENC_COLLAPSED_KEY = 'ch-encrypted-collapsed';
const SERVER_PAGE = 100;
const KEY_PAGE = 200;
const LIVE_BATCH_MS = 200;
const NEAR_BOTTOM_PX = 48;
const NEAR_TOP_PX = 120;
const MAX_SHOWN = 1500;
const KEEP_SHOWN = 1000;
const MIN_WIDTH = 220;
const MAX_WIDTH = 560;

/** The keys saved in this browser: `[{ name, key (Uint8Array), hex, hash }]`. */
function savedKeys() {
  const raw = stored(KEYS_KEY, {});
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return [];
  const out = [];
  for (const [name, hex] of Object.entries(raw)) {
    const key = typeof hex === 'string' && /^[0-9a-fA-F]{32}$/.test(hex) ? hexToBytes(hex) : null;
    if (key && name) out.push({ name, key, hex: hex.toLowerCase(), hash: channelHash(key) });
  }
  return out;
}

function saveKeys(list) {
  store(KEYS_KEY, Object.fromEntries(list.map((k) => [k.name, k.hex])));
}

/** "Public" → "PU", "#wardriving" → "WA", "Bob's net" → "BN". */
function abbreviation(name) {
  // Letters and digits only: an emoji first "letter" would need a colour font.
  const words = String(name || '').split(/[\s_-]+/).map((w) => w.replace(/[^\p{L}\p{N}]/gu, '')).filter(Boolean);
  if (!words.length) return '?';
  const letters = words.length > 1 ? [...words[0]][0] + [...words[1]][0] : [...words[0]].slice(0, 2).join('');
  return letters.toUpperCase();
}

/** A padlock drawn as SVG (an emoji would depend on the system's fonts). */
function lockIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('class', 'lock-icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const body = document.createElementNS(ns, 'rect');
  for (const [k, v] of Object.entries({ x: '3', y: '7', width: '10', height: '7.5', rx: '1.5' })) body.setAttribute(k, v);
  const shackle = document.createElementNS(ns, 'path');
  shackle.setAttribute('d', 'M5 7V5a3 3 0 0 1 6 0v2');
  shackle.setAttribute('fill', 'none');
  svg.append(body, shackle);
  return svg;
}

/** A stable hue for a name (sender avatars, channel avatars). */
function hueOf(text) {
  let n = 0;
  for (const ch of String(text || '')) n = (n * 31 + ch.codePointAt(0)) >>> 0;
  return n % 360;
}

/** Message text with `@[name]` mentions marked (text nodes only). */
function messageBody(text) {
  const out = [];
  const re = /@\[[^\]\n]{1,48}\]/g;
  let last = 0;
  let m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(h('span.mention', { text: m[0] }));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

const dayKey = (ms) => (Number.isFinite(ms) ? new Date(ms).toDateString() : '');
function dayLabel(ms) {
  if (!Number.isFinite(ms)) return 'Unknown date';
  const today = new Date();
  const yesterday = new Date(Date.now() - 86_400_000);
  const d = new Date(ms);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return d.toLocaleDateString(undefined, { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric' });
}
const clock = (ms) => (Number.isFinite(ms)
  ? new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' }) : '—');

/** A message from `/api/channels/{x}/messages` in the page's shape. */
function fromApi(m) {
  return {
    key: m.packetHash || `id:${m.packetId}`,
    packetId: m.packetId,
    packetHash: m.packetHash,
    sender: m.sender ?? null,
    text: m.text ?? null,
    time: toMillis(m.timestamp || m.first_seen),
    repeats: Number(m.repeats) || 0,
    observers: Array.isArray(m.observers) ? m.observers.map(String) : [],
    hops: Number(m.hops) || 0,
    snr: m.snr,
    encrypted: m.text === null && m.sender === null,
  };
}

/** Sender and message of a decoded CHAN payload (its `text` is "sender: message"). */
function chanText(payload) {
  const text = typeof payload.text === 'string' ? payload.text : '';
  const sender = typeof payload.sender === 'string' && payload.sender ? payload.sender : null;
  if (sender) {
    return { sender, text: text.startsWith(`${sender}: `) ? text.slice(sender.length + 2) : text };
  }
  const split = splitSender(text);
  return { sender: split.sender, text: split.message };
}

/** The Channels page. */
export const channelsPage = {
  title: 'Channels',
  fixed: true,
  init(el, ctx) {
    this.cleanup = channelsView(el, ctx);
  },
  destroy() {
    this.cleanup?.();
    this.cleanup = null;
  },
};

function channelsView(el, ctx) {
  const state = {
    selected: ctx.segments[0] || null,
    region: ctx.query.get('region') || '',
  };
  /** Sidebar rows by channel id: `{ id, kind: 'server'|'enc'|'mine', name, ... }`. */
  const channels = new Map();
  let mine = savedKeys();
  let observers = new Map();
  let listSeq = 0;
  let disposed = false;
  let open = null; // the open conversation (see openChannel)
  const unsubs = [];
  const timers = [];

  // ---- layout ----
  const heading = h('h1', { text: 'Channels' });
  const addBtn = h('button.button.primary', { type: 'button', text: '+ Add key', title: 'Add a private channel key or a #hashtag channel (kept in this browser)' });
  const regionSelect = h('select', { 'aria-label': 'Region', hidden: true }, h('option', { value: '', text: 'All regions' }));
  const listStatus = h('div.ch-list-status', { role: 'status' });
  const mineList = h('ul.ch-rows', { 'aria-label': 'My channels' });
  const networkList = h('ul.ch-rows', { 'aria-label': 'Network channels' });
  const encList = h('ul.ch-rows', { 'aria-label': 'Encrypted channels' });
  const mineSection = h('section.ch-section', { 'aria-labelledby': 'ch-mine-h' },
    h('h2.ch-section-title', { id: 'ch-mine-h' }, 'My channels ', h('span.muted', { text: '(this browser)' })),
    mineList);
  const networkSection = h('section.ch-section', { 'aria-labelledby': 'ch-net-h' },
    h('h2.ch-section-title', { id: 'ch-net-h', text: 'Network' }), networkList);
  const encSummary = h('summary.ch-section-title', { text: 'Encrypted' });
  const encSection = h('details.ch-section.ch-encrypted', { open: !stored(ENC_COLLAPSED_KEY, true) }, encSummary,
    h('p.ch-note.muted', { text: 'Channels no configured key decrypts, by channel hash. Add the key to read one here.' }),
    encList);
  encSection.addEventListener('toggle', () => store(ENC_COLLAPSED_KEY, !encSection.open));

  const sidebar = h('aside.ch-sidebar', { 'aria-label': 'Channel list' },
    h('div.ch-sidebar-head', null, heading, addBtn),
    h('div.ch-sidebar-tools', null, regionSelect),
    h('div.ch-sidebar-scroll', null, listStatus, mineSection, networkSection, encSection));
  const resizer = h('div.ch-resizer', {
    role: 'separator', 'aria-orientation': 'vertical', tabindex: '0', 'aria-label': 'Resize the channel list',
    'aria-valuemin': String(MIN_WIDTH), 'aria-valuemax': String(MAX_WIDTH),
  });
  const chat = h('section.ch-chat', { 'aria-label': 'Conversation' });
  const announcer = h('div.sr-only', { role: 'status', 'aria-live': 'polite' });
  el.classList.add('channels-page');
  el.append(h('div.ch-layout', null, sidebar, resizer, chat), announcer);

  // ---- sidebar width (persisted) ----
  const setWidth = (px) => {
    const w = Math.max(MIN_WIDTH, Math.min(MAX_WIDTH, Math.round(px)));
    el.style.setProperty('--ch-sidebar-w', `${w}px`);
    resizer.setAttribute('aria-valuenow', String(w));
    return w;
  };
  setWidth(Number(stored(WIDTH_KEY, 300)) || 300);
  resizer.addEventListener('pointerdown', (e) => {
    e.preventDefault();
    resizer.setPointerCapture(e.pointerId);
    const startX = e.clientX;
    const startW = sidebar.getBoundingClientRect().width;
    const move = (ev) => setWidth(startW + ev.clientX - startX);
    const up = () => {
      resizer.removeEventListener('pointermove', move);
      resizer.removeEventListener('pointerup', up);
      resizer.removeEventListener('pointercancel', up);
      store(WIDTH_KEY, Math.round(sidebar.getBoundingClientRect().width));
    };
    resizer.addEventListener('pointermove', move);
    resizer.addEventListener('pointerup', up);
    resizer.addEventListener('pointercancel', up);
  });
  resizer.addEventListener('keydown', (e) => {
    const step = e.shiftKey ? 60 : 20;
    const now = sidebar.getBoundingClientRect().width;
    if (e.key === 'ArrowLeft') store(WIDTH_KEY, setWidth(now - step));
    else if (e.key === 'ArrowRight') store(WIDTH_KEY, setWidth(now + step));
    else return;
    e.preventDefault();
  });

  // ---- URL ----
  function writeUrl() {
    const path = state.selected ? `channels/${encodeURIComponent(state.selected)}` : 'channels';
    router.replaceHash(router.buildHash(path, { region: state.region }));
    el.classList.toggle('has-selection', Boolean(state.selected));
  }

  // ---- channel list ----
  function rowFor(c) {
    const avatar = h('span.ch-avatar', { 'aria-hidden': 'true' }, c.kind === 'enc' ? lockIcon() : abbreviation(c.name));
    if (c.kind !== 'enc') avatar.style.setProperty('--ch-hue', String(hueOf(c.name)));
    else avatar.classList.add('locked');
    const name = h('span.ch-name', { text: c.kind === 'enc' ? `Encrypted 0x${c.hex}` : c.name });
    const age = h('span.ch-age', { title: absolute(c.lastActivity), text: c.lastActivity ? ago(c.lastActivity) : '' });
    const preview = h('span.ch-preview');
    const unread = h('span.badge.ch-unread', { hidden: true });
    const button = h('button.ch-row', { type: 'button', dataset: { id: c.id } },
      avatar,
      h('span.ch-row-main', null, h('span.ch-row-top', null, name, age), h('span.ch-row-bottom', null, preview, unread)));
    button.addEventListener('click', () => select(c.id));
    const li = h('li', null, button);
    c.el = { li, button, age, preview, unread, name };
    paintRow(c);
    return li;
  }

  function paintRow(c) {
    if (!c.el) return;
    const { preview, age, unread, button } = c.el;
    if (c.preview && (c.preview.text || c.preview.sender)) {
      replace(preview, c.preview.sender ? h('span.ch-preview-sender', { text: `${c.preview.sender}: ` }) : null, c.preview.text || '');
    } else if (c.kind === 'enc') {
      preview.textContent = `${c.count.toLocaleString()} encrypted message${c.count === 1 ? '' : 's'}`;
    } else if (c.kind === 'mine' && c.pending) {
      preview.textContent = 'Decrypting…';
    } else {
      preview.textContent = c.count ? `${c.count.toLocaleString()} message${c.count === 1 ? '' : 's'}` : 'No messages yet';
    }
    age.textContent = c.lastActivity ? ago(c.lastActivity) : '';
    age.title = c.lastActivity ? absolute(c.lastActivity) : '';
    unread.hidden = !c.unread;
    unread.textContent = c.unread > 99 ? '99+' : String(c.unread || '');
    unread.setAttribute('aria-label', `${c.unread} new`);
    button.title = c.kind === 'mine' ? `${c.name} — key kept in this browser (hash 0x${c.hex})` : (c.kind === 'enc' ? `Channel hash 0x${c.hex}: no key` : c.name);
    if (state.selected === c.id) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');
  }

  function renderList() {
    const byActivity = (a, b) => (b.lastActivity || 0) - (a.lastActivity || 0) || a.name.localeCompare(b.name);
    const all = [...channels.values()];
    const mineRows = all.filter((c) => c.kind === 'mine').sort(byActivity);
    const netRows = all.filter((c) => c.kind === 'server').sort(byActivity);
    const encRows = all.filter((c) => c.kind === 'enc').sort(byActivity);
    replace(mineList, ...mineRows.map(rowFor));
    if (!mineRows.length) {
      mineList.appendChild(h('li.ch-empty.muted', null, 'None yet. ',
        h('button.link-button', { type: 'button', text: 'Add a key', onclick: () => openAddDialog() }),
        ' to read a private or #hashtag channel here.'));
    }
    replace(networkList, ...netRows.map(rowFor));
    if (!netRows.length) networkList.appendChild(h('li.ch-empty.muted', { text: 'No decrypted channel traffic yet.' }));
    replace(encList, ...encRows.map(rowFor));
    encSummary.textContent = `Encrypted (${encRows.length})`;
    encSection.hidden = !encRows.length;
    if (encRows.some((c) => c.id === state.selected)) encSection.open = true;
  }

  /** Rows for the saved keys, with the traffic of their hash byte (`enc_XX`) as a start. */
  function addMineRows() {
    for (const k of mine) {
      const hex = hashHex(k.hash);
      const server = channels.get(k.name);
      channels.set(k.name, {
        id: k.name, kind: 'mine', name: k.name, key: k.key, keyHex: k.hex, hash: k.hash, hex,
        // A key the server also has: its messages are already decrypted there.
        serverChannel: server?.kind === 'server' ? server : null,
        count: server?.kind === 'server' ? server.count : 0,
        lastActivity: server?.kind === 'server' ? server.lastActivity : 0,
        preview: server?.kind === 'server' ? server.preview : null,
        pending: server?.kind !== 'server',
        unread: 0,
      });
    }
  }

  async function loadList() {
    const seq = ++listSeq;
    if (!channels.size) listStatus.textContent = 'Loading channels…';
    try {
      const body = await api(withQuery('/api/channels', { includeEncrypted: 'true', region: state.region }));
      if (seq !== listSeq || disposed) return;
      const oldUnread = new Map([...channels].map(([id, c]) => [id, c.unread || 0]));
      channels.clear();
      for (const c of listOf(body, 'channels')) {
        const id = String(c.hash ?? c.name ?? '');
        if (!id) continue;
        const enc = c.encrypted === true || id.startsWith('enc_');
        channels.set(id, {
          id, kind: enc ? 'enc' : 'server', name: enc ? id : String(c.name ?? id),
          hex: enc ? id.slice(4).toUpperCase() : null,
          count: Number(c.messageCount) || 0,
          lastActivity: toMillis(c.lastActivity) || 0,
          preview: enc ? null : { sender: c.lastSender ?? null, text: c.lastMessage ?? '' },
          unread: oldUnread.get(id) || 0,
        });
      }
      addMineRows();
      if (open && channels.has(open.id)) {
        const fresh = channels.get(open.id);
        if (fresh.kind === open.channel.kind) { fresh.unread = 0; open.channel = fresh; }
      }
      listStatus.textContent = '';
      renderList();
      for (const c of channels.values()) if (c.kind === 'mine' && c.pending) previewMine(c);
      if (state.selected && (!open || open.id !== state.selected)) openChannel(state.selected);
      else if (!state.selected) showIntro();
    } catch (e) {
      if (seq !== listSeq || disposed) return;
      replace(listStatus, h('p.error-text', { role: 'alert', text: `Could not load channels: ${e.message}` }));
      if (state.selected && !open) openChannel(state.selected);
    }
  }

  /** Newest decrypted message and a count for a saved key's row. */
  async function previewMine(c) {
    const enc = channels.get(`enc_${c.hex}`);
    try {
      const body = await api(withQuery('/api/packets', { channel: `enc_${c.hex}`, limit: KEY_PAGE, region: state.region }));
      if (disposed) return;
      let count = 0;
      let newest = null;
      for (const p of listOf(body, 'packets')) {
        const plain = decryptPacket(c.key, c.hash, p);
        if (!plain) continue;
        count += 1;
        if (!newest) newest = { plain, time: toMillis(p.first_seen || p.timestamp) };
      }
      const more = Number(body?.total) > listOf(body, 'packets').length;
      c.pending = false;
      c.count = count;
      c.countIsLowerBound = more;
      if (newest) {
        c.lastActivity = newest.time;
        c.preview = { sender: newest.plain.sender, text: newest.plain.message };
      } else if (!enc) {
        c.preview = { sender: null, text: `No traffic on channel hash 0x${c.hex} yet` };
      } else {
        c.preview = { sender: null, text: `No messages decrypt with this key (hash 0x${c.hex})` };
      }
      paintRow(c);
    } catch (e) {
      c.pending = false;
      c.preview = { sender: null, text: `Could not load: ${e.message}` };
      paintRow(c);
    }
  }

  // ---- conversation ----
  function showIntro() {
    open = null;
    replace(chat, h('div.ch-intro', null,
      h('p.ch-intro-title', { text: 'Choose a channel' }),
      h('p.muted', { text: 'Messages decrypted by the server are under Network. Channels nobody has the key of are listed by their hash under Encrypted: add the key (or the #hashtag name) and this browser decrypts them itself — the key is never sent anywhere.' })));
  }

  function select(id) {
    if (state.selected === id && open) return;
    state.selected = id;
    writeUrl();
    for (const c of channels.values()) paintRow(c);
    openChannel(id);
  }

  function back() {
    state.selected = null;
    writeUrl();
    for (const c of channels.values()) paintRow(c);
    showIntro();
    const first = sidebar.querySelector('.ch-row');
    first?.focus({ preventScroll: true });
  }

  /** Which channel an id names: a decrypted server channel, a saved key, or `enc_XX`. */
  function resolve(id) {
    const c = channels.get(id);
    if (c) return c;
    if (/^enc_[0-9a-f]{2}$/i.test(id)) {
      const hex = id.slice(4).toUpperCase();
      return { id: `enc_${hex}`, kind: 'enc', name: `enc_${hex}`, hex, count: 0, lastActivity: 0, unread: 0 };
    }
    return { id, kind: 'server', name: id, count: 0, lastActivity: 0, unread: 0, unknown: true };
  }

  function openChannel(id) {
    const c = resolve(id);
    if (c.id !== state.selected) { state.selected = c.id; writeUrl(); } // enc_d9 → enc_D9
    c.unread = 0;
    paintRow(c);
    const source = c.kind === 'mine' && c.serverChannel ? { kind: 'server', name: c.name } : { kind: c.kind, name: c.name };
    const title = h('h2.ch-title', { text: c.kind === 'enc' ? `Encrypted channel 0x${c.hex}` : c.name });
    const sub = h('span.ch-subtitle.muted');
    const backBtn = h('button.icon-button.ch-back', { type: 'button', 'aria-label': 'Back to the channel list', text: '‹' });
    backBtn.addEventListener('click', back);
    const actions = h('div.ch-actions');
    const avatar = h('span.ch-avatar', { 'aria-hidden': 'true' }, c.kind === 'enc' ? lockIcon() : abbreviation(c.name));
    if (c.kind !== 'enc') avatar.style.setProperty('--ch-hue', String(hueOf(c.name)));
    else avatar.classList.add('locked');
    const keyBox = h('div.ch-keybox', { hidden: true });
    if (c.kind === 'mine') {
      const keyBtn = h('button.button', { type: 'button', 'aria-expanded': 'false', text: 'Key' });
      keyBtn.addEventListener('click', () => {
        const show = keyBox.hidden;
        keyBox.hidden = !show;
        keyBtn.setAttribute('aria-expanded', show ? 'true' : 'false');
        if (show) {
          replace(keyBox,
            h('label.ch-keylabel', { for: 'ch-key-show', text: 'Channel key (share it only with members):' }),
            h('div.ch-keyrow', null,
              h('input.mono', { id: 'ch-key-show', type: 'text', readonly: true, value: c.keyHex, spellcheck: 'false' }),
              h('button.button', { type: 'button', text: 'Copy', onclick: () => copyText(c.keyHex, 'Key copied') })),
            h('p.ch-note.muted', { text: 'Kept only in this browser\'s storage; never sent to the server.' }));
        } else replace(keyBox);
      });
      const removeBtn = h('button.button', { type: 'button', text: 'Remove' });
      removeBtn.addEventListener('click', () => confirmRemove(c));
      actions.append(keyBtn, removeBtn);
    } else if (c.kind === 'enc') {
      actions.append(h('button.button', { type: 'button', text: 'Add key…', onclick: () => openAddDialog(c.hex) }));
    }
    const olderBtn = h('button.button.ch-older', { type: 'button', hidden: true, text: 'Load older messages' });
    const topStatus = h('p.ch-top-status.muted', { role: 'status' });
    const list = h('ol.ch-messages', { 'aria-label': `Messages in ${c.kind === 'enc' ? `channel 0x${c.hex}` : c.name}` });
    const scroller = h('div.ch-scroll', { tabindex: '0', 'aria-label': 'Message history' },
      h('div.ch-top', null, olderBtn, topStatus), list);
    const jump = h('button.button.ch-jump', { type: 'button', hidden: true, text: '↓ New messages' });
    const note = c.kind === 'mine'
      ? h('p.ch-banner', null, c.serverChannel
        ? 'The server has this key too: these messages were decrypted there.'
        : `Decrypted in this browser with your key (channel hash 0x${c.hex}). The key is never sent to the server.`)
      : (c.kind === 'enc' ? h('p.ch-banner', { text: `No key for channel hash 0x${c.hex}: message contents are encrypted. Add the key to read them in this browser.` }) : null);
    replace(chat,
      h('header.ch-chat-head', null, backBtn, avatar, h('div.ch-head-text', null, title, sub), actions),
      keyBox, note, h('div.ch-scroll-wrap', null, scroller, jump));

    const conv = {
      id: c.id, channel: c, source, list, scroller, sub, olderBtn, topStatus, jump,
      byKey: new Map(), offset: 0, total: null, done: false, loading: false, seq: 0,
      firstDay: null, lastDay: null, fresh: 0, decrypted: 0, scanned: 0,
    };
    open = conv;
    jump.addEventListener('click', () => { scrollToBottom(conv); });
    olderBtn.addEventListener('click', () => loadOlder(conv));
    scroller.addEventListener('scroll', () => {
      if (scroller.scrollTop < NEAR_TOP_PX) loadOlder(conv);
      if (atBottom(conv)) { conv.fresh = 0; jump.hidden = true; }
    }, { passive: true });
    updateSub(conv);
    loadOlder(conv, true);
  }

  function updateSub(conv) {
    const c = conv.channel;
    if (conv.source.kind === 'mine') {
      const n = conv.decrypted;
      conv.sub.textContent = conv.done
        ? `${n.toLocaleString()} decrypted here · hash 0x${c.hex}`
        : `${n.toLocaleString()} decrypted so far (${conv.scanned.toLocaleString()} of ${(conv.total ?? 0).toLocaleString()} packets with hash 0x${c.hex} read)`;
    } else if (conv.total !== null) {
      conv.sub.textContent = `${conv.total.toLocaleString()} message${conv.total === 1 ? '' : 's'}${c.kind === 'enc' ? ' · encrypted' : ''}`;
    } else conv.sub.textContent = 'Loading…';
  }

  const atBottom = (conv) => conv.scroller.scrollHeight - conv.scroller.scrollTop - conv.scroller.clientHeight < NEAR_BOTTOM_PX;
  function scrollToBottom(conv) {
    conv.scroller.scrollTop = conv.scroller.scrollHeight;
    conv.fresh = 0;
    conv.jump.hidden = true;
  }

  /** One page of older messages (the first call loads the newest page). */
  async function loadOlder(conv, first = false) {
    if (conv.loading || conv.done || open !== conv) return;
    conv.loading = true;
    const seq = ++conv.seq;
    conv.topStatus.textContent = first ? 'Loading messages…' : 'Loading older messages…';
    conv.olderBtn.hidden = true;
    try {
      let batch = [];
      // A saved key reads pages of its hash byte's packets until some decrypt (or none are left).
      for (let round = 0; round < 5 && !batch.length && !conv.done; round += 1) {
        batch = conv.source.kind === 'mine' ? await keyPage(conv) : await serverPage(conv);
        if (open !== conv || seq !== conv.seq || disposed) return;
      }
      const fresh = batch.filter((m) => !conv.byKey.has(m.key));
      const before = conv.scroller.scrollHeight - conv.scroller.scrollTop;
      prepend(conv, fresh);
      if (first) scrollToBottom(conv);
      else conv.scroller.scrollTop = conv.scroller.scrollHeight - before; // keep the view still
      conv.topStatus.textContent = '';
      if (conv.done) {
        if (!conv.byKey.size) {
          conv.topStatus.textContent = conv.channel.unknown
            ? (state.region ? `No traffic on this channel heard in ${state.region}.` : 'No channel by this name has traffic (yet).')
            : (conv.source.kind === 'mine' ? `No packet of channel hash 0x${conv.channel.hex} decrypts with this key.` : 'No messages.');
        } else conv.topStatus.textContent = 'Beginning of the conversation';
      }
      conv.olderBtn.hidden = conv.done;
      updateSub(conv);
    } catch (e) {
      if (open !== conv) return;
      replace(conv.topStatus, h('span.error-text', { role: 'alert', text: `Could not load messages: ${e.message}` }));
      conv.olderBtn.hidden = false;
    } finally {
      if (seq === conv.seq) conv.loading = false;
    }
    // The first page may not fill the pane: keep going while there is no scrollbar.
    if (open === conv && !conv.done && conv.scroller.scrollHeight <= conv.scroller.clientHeight + NEAR_TOP_PX) loadOlder(conv);
  }

  async function serverPage(conv) {
    const name = conv.source.kind === 'enc' ? conv.channel.id : conv.source.name;
    const body = await api(withQuery(`/api/channels/${encodeURIComponent(name)}/messages`, {
      limit: SERVER_PAGE, offset: conv.offset, region: state.region,
    }));
    const list = listOf(body, 'messages');
    conv.total = Number(body?.total ?? list.length);
    conv.offset += list.length;
    if (!list.length || conv.offset >= conv.total) conv.done = true;
    return list.map(fromApi);
  }

  /** A page of a saved key's channel: message facts from the server, text decrypted here. */
  async function keyPage(conv) {
    const c = conv.channel;
    const enc = `enc_${c.hex}`;
    const query = { limit: KEY_PAGE, offset: conv.offset, region: state.region };
    const [meta, packets] = await Promise.all([
      api(withQuery(`/api/channels/${enc}/messages`, query)),
      api(withQuery('/api/packets', { channel: enc, ...query })),
    ]);
    const list = listOf(meta, 'messages');
    const rows = listOf(packets, 'packets');
    conv.total = Number(meta?.total ?? list.length);
    conv.offset += list.length;
    conv.scanned += list.length;
    if (!list.length || conv.offset >= conv.total) conv.done = true;
    const plainById = new Map();
    for (const p of rows) {
      const plain = decryptPacket(c.key, c.hash, p);
      if (plain) plainById.set(String(p.id), plain);
    }
    const out = [];
    for (const m of list) {
      const plain = plainById.get(String(m.packetId));
      if (!plain) continue;
      out.push({ ...fromApi(m), sender: plain.sender, text: plain.message, senderTs: plain.timestamp, encrypted: false, local: true });
    }
    conv.decrypted += out.length;
    return out;
  }

  // ---- message DOM ----
  function messageEl(m) {
    const senderName = m.sender || (m.encrypted ? 'Encrypted' : 'Unknown sender');
    const avatar = h('span.msg-avatar', { 'aria-hidden': 'true' }, m.encrypted ? lockIcon() : abbreviation(senderName));
    if (!m.encrypted) avatar.style.setProperty('--ch-hue', String(hueOf(senderName)));
    else avatar.classList.add('locked');
    const sender = m.sender
      ? h('a.msg-sender', { href: `#/nodes?search=${encodeURIComponent(m.sender)}`, title: 'Find this sender among the nodes', text: m.sender })
      : h('span.msg-sender.muted', { text: senderName });
    const body = m.encrypted
      ? h('p.msg-text.msg-locked', { text: 'Encrypted message — no key for this channel' })
      : h('p.msg-text', null, ...messageBody(String(m.text ?? '')));
    const meta = h('p.msg-meta');
    const li = h('li.msg', { dataset: { key: m.key } }, avatar,
      h('div.msg-bubble', null, h('div.msg-head', null, sender), body, meta));
    if (m.local) li.classList.add('msg-local');
    m.el = { li, meta };
    paintMeta(m);
    return li;
  }

  function paintMeta(m) {
    const parts = [
      h('time', { datetime: Number.isFinite(m.time) ? new Date(m.time).toISOString() : null, title: absolute(m.time), text: clock(m.time) }),
    ];
    const add = (node) => { parts.push(h('span.sep', { 'aria-hidden': 'true', text: ' · ' }), node); };
    if (m.repeats) add(h('span', { title: 'Times observers heard it', text: `${m.repeats}× heard` }));
    if (m.observers.length) {
      add(h('span', { title: m.observers.join(', '), text: `${m.observers.length} observer${m.observers.length === 1 ? '' : 's'}` }));
    }
    add(h('span', { text: `${m.hops} hop${m.hops === 1 ? '' : 's'}` }));
    if (m.snr !== null && m.snr !== undefined && Number.isFinite(Number(m.snr))) add(h('span', { text: `SNR ${Number(m.snr)} dB` }));
    if (m.packetHash) add(h('a.msg-link', { href: `#/packets/${encodeURIComponent(m.packetHash)}`, text: 'View packet →' }));
    replace(m.el.meta, ...parts);
  }

  function daySep(ms) {
    return h('li.day-sep', { dataset: { day: dayKey(ms) } }, h('span', { text: dayLabel(ms) }));
  }

  function prepend(conv, batch) {
    if (!batch.length) return;
    const frag = document.createDocumentFragment();
    let day = null;
    for (const m of batch) {
      const d = dayKey(m.time);
      if (d !== day) { frag.appendChild(daySep(m.time)); day = d; }
      frag.appendChild(messageEl(m));
      conv.byKey.set(m.key, m);
    }
    // The old first separator is redundant when the batch ends on the same day.
    const firstOld = conv.list.firstElementChild;
    if (firstOld?.classList.contains('day-sep') && firstOld.dataset.day === day) firstOld.remove();
    conv.list.insertBefore(frag, conv.list.firstChild);
    if (conv.lastDay === null) conv.lastDay = day;
  }

  function append(conv, m) {
    const stick = atBottom(conv);
    const d = dayKey(m.time);
    if (d !== conv.lastDay) { conv.list.appendChild(daySep(m.time)); conv.lastDay = d; }
    const li = messageEl(m);
    li.classList.add('msg-new');
    conv.list.appendChild(li);
    conv.byKey.set(m.key, m);
    const top = conv.list.querySelector('.ch-empty');
    if (top) top.remove();
    if (conv.topStatus.textContent && !conv.topStatus.querySelector('.error-text') && conv.done) {
      conv.topStatus.textContent = 'Beginning of the conversation';
    }
    if (stick) {
      trim(conv);
      scrollToBottom(conv);
    } else {
      conv.fresh += 1;
      conv.jump.hidden = false;
      conv.jump.textContent = `↓ ${conv.fresh} new message${conv.fresh === 1 ? '' : 's'}`;
    }
    announcer.textContent = m.encrypted ? 'New encrypted message' : `New message from ${m.sender || 'unknown sender'}`;
  }

  /**
   * A long-open busy channel keeps at most MAX_SHOWN messages in the page: the oldest go
   * (only while the reader follows the newest) and come back by paging up.
   */
  function trim(conv) {
    if (conv.source.kind === 'mine' || conv.byKey.size <= MAX_SHOWN) return;
    let drop = conv.byKey.size - KEEP_SHOWN;
    let removed = 0;
    while (drop > 0 && conv.list.firstElementChild) {
      const li = conv.list.firstElementChild;
      if (li.classList.contains('msg')) {
        conv.byKey.delete(li.dataset.key);
        drop -= 1;
        removed += 1;
      }
      li.remove();
    }
    const first = conv.list.firstElementChild;
    if (first && !first.classList.contains('day-sep')) {
      const m = conv.byKey.get(first.dataset.key);
      if (m) conv.list.insertBefore(daySep(m.time), first);
    }
    conv.offset = Math.max(0, conv.offset - removed);
    conv.done = false;
    conv.olderBtn.hidden = false;
    conv.topStatus.textContent = '';
  }

  // ---- live updates ----
  const seenLive = new Map(); // packet hash → decryption result for saved keys (or null)
  let queue = [];
  let timer = 0;

  function liveMessage(d, text) {
    return {
      key: d.hash,
      packetId: d.id,
      packetHash: d.hash,
      sender: text ? text.sender : null,
      text: text ? text.text : null,
      time: toMillis(d.first_seen || d.timestamp) || Date.now(),
      repeats: Number(d.observation_count) || 1,
      observers: d.observer_name || d.observer_id ? [String(d.observer_name || d.observer_id)] : [],
      hops: hopsOf(d.path_json).length,
      snr: d.snr,
      encrypted: !text,
    };
  }

  /** A new observation of a message already shown: counts and observers grow in place. */
  function bump(m, d) {
    m.repeats = Math.max(m.repeats + 1, Number(d.observation_count) || 0);
    const name = d.observer_name || d.observer_id;
    if (name && !m.observers.includes(String(name))) m.observers.push(String(name));
    if (m.el) paintMeta(m);
  }

  function touch(c, time, preview, isNew, unread = true) {
    if (!c) return;
    if (isNew) {
      c.count = (c.count || 0) + 1;
      if (time > (c.lastActivity || 0)) c.lastActivity = time;
      if (preview) c.preview = preview;
      if (unread && (!open || open.channel !== c)) c.unread = (c.unread || 0) + 1;
    }
    paintRow(c);
  }

  function inRegion(d) {
    if (!state.region) return true;
    const iata = observers.get(d.observer_id)?.iata;
    return Boolean(iata) && state.region.split(',').includes(String(iata).toUpperCase());
  }

  function handle(batch) {
    let listChanged = false;
    for (const msg of batch) {
      const d = msg.data?.packet ? { ...msg.data.packet, decoded: msg.data.decoded } : msg.data;
      if (!d || Number(d.payload_type) !== 5 || typeof d.hash !== 'string' || !inRegion(d)) continue;
      const payload = d.decoded?.payload || parseJson(d.decoded_json) || {};
      const firstTime = !seenLive.has(d.hash);
      const time = toMillis(d.first_seen || d.timestamp) || Date.now();
      if (payload.type === 'CHAN' && typeof payload.channel === 'string') {
        if (firstTime) seenLive.set(d.hash, null);
        const text = chanText(payload);
        let c = channels.get(payload.channel);
        if (!c) {
          c = { id: payload.channel, kind: 'server', name: payload.channel, count: 0, lastActivity: 0, unread: 0 };
          channels.set(c.id, c);
          listChanged = true;
        }
        touch(c, time, text, firstTime);
        if (c.kind === 'server') for (const k of channels.values()) if (k.kind === 'mine' && k.serverChannel === c) touch(k, time, text, firstTime);
        if (open && open.source.kind === 'server' && open.source.name === payload.channel) deliver(open, d, text, firstTime);
        continue;
      }
      const hex = String(payload.channelHashHex || '').toUpperCase();
      if (!/^[0-9A-F]{2}$/.test(hex)) continue;
      const byte = parseInt(hex, 16);
      const encId = `enc_${hex}`;
      let enc = channels.get(encId);
      if (!enc) {
        enc = { id: encId, kind: 'enc', name: encId, hex, count: 0, lastActivity: 0, unread: 0 };
        channels.set(encId, enc);
        listChanged = true;
      }
      // Saved keys of this hash byte: decrypt once per packet, here.
      if (firstTime) {
        let hit = null;
        for (const k of channels.values()) {
          if (k.kind !== 'mine' || k.hash !== byte || k.serverChannel) continue;
          const plain = decryptPacket(k.key, k.hash, d);
          if (plain) { hit = { channel: k, text: { sender: plain.sender, text: plain.message } }; break; }
        }
        seenLive.set(d.hash, hit);
        if (hit) touch(hit.channel, time, hit.text, true);
      }
      // A message one of the saved keys reads is not also "unread" under its hash.
      touch(enc, time, null, firstTime, !seenLive.get(d.hash));
      if (open && open.source.kind === 'enc' && open.channel.hex === hex) deliver(open, d, null, firstTime);
      if (open && open.source.kind === 'mine' && open.channel.hash === byte) {
        // Every packet of the hash byte shifts the server's paging by one.
        if (firstTime) open.offset += 1;
        const hit = seenLive.get(d.hash);
        if (hit && hit.channel === open.channel) deliver(open, d, hit.text, firstTime, true);
      }
    }
    if (listChanged) renderList();
    if (seenLive.size > 5000) {
      for (const key of [...seenLive.keys()].slice(0, 2500)) seenLive.delete(key);
    }
  }

  function deliver(conv, d, text, firstTime, local = false) {
    const existing = conv.byKey.get(d.hash);
    if (existing) { bump(existing, d); return; }
    if (conv.source.kind !== 'mine' && firstTime) conv.offset += 1;
    if (conv.total !== null && firstTime) conv.total += 1;
    const m = liveMessage(d, text);
    if (local) { m.local = true; conv.decrypted += 1; }
    append(conv, m);
    updateSub(conv);
  }

  unsubs.push(subscribe((message) => {
    if (message.type === 'lagged') { reloadAfterLag(); return; }
    if (message.type !== 'packet' && message.type !== 'message') return;
    queue.push(message);
    if (!timer) {
      timer = setTimeout(() => {
        timer = 0;
        const batch = queue;
        queue = [];
        handle(batch);
      }, LIVE_BATCH_MS);
    }
  }));
  const reloadAfterLag = debounce(() => { if (!disposed) loadList(); }, 1000);

  // Ages in the list tick.
  timers.push(setInterval(() => {
    for (const c of channels.values()) {
      if (c.el && c.lastActivity) {
        const text = ago(c.lastActivity);
        if (c.el.age.textContent !== text) c.el.age.textContent = text;
      }
    }
  }, 1000));

  // ---- keys: add, remove ----
  function openAddDialog(hint = '') {
    const keyInput = h('input.mono', {
      id: 'ch-key-input', type: 'text', autocomplete: 'off', spellcheck: 'false', required: true,
      placeholder: '#hashtag or 32 hex characters', 'aria-describedby': 'ch-key-help ch-key-error',
    });
    const nameInput = h('input', { id: 'ch-name-input', type: 'text', autocomplete: 'off', placeholder: 'Optional, e.g. Hiking club', maxlength: '40' });
    const error = h('p.error-text', { id: 'ch-key-error', role: 'alert' });
    const result = h('p.ch-note.muted', { 'aria-live': 'polite' });
    const genBtn = h('button.button', { type: 'button', text: 'Generate a new key' });
    const closeBtn = h('button.icon-button', { type: 'button', 'aria-label': 'Close', text: '✕' });
    const form = h('form.ch-add-form', { method: 'dialog' },
      h('label', { for: 'ch-key-input', text: 'Channel key or hashtag' }),
      keyInput,
      h('p.ch-note.muted', { id: 'ch-key-help' },
        'A private channel\'s 16-byte key as 32 hex characters, or a hashtag channel\'s name with its # (case matters: ',
        h('code', { text: '#Test' }), ' and ', h('code', { text: '#test' }), ' are different channels).',
        hint ? ` This channel's hash is 0x${hint}.` : ''),
      h('label', { for: 'ch-name-input', text: 'Name (private keys)' }),
      nameInput,
      error, result,
      h('p.ch-warning', { text: 'The key is saved only in this browser (localStorage) and used only here: it is never sent to the server. Anyone with access to this browser profile can read it.' }),
      h('div.dialog-actions', null, h('button.button.primary', { type: 'submit', text: 'Add channel' }), genBtn));
    const dialog = h('dialog.ch-dialog', { 'aria-labelledby': 'ch-add-title' },
      h('header.dialog-head', null, h('h2', { id: 'ch-add-title', text: 'Add a channel key' }), closeBtn), form);
    document.body.appendChild(dialog);
    genBtn.addEventListener('click', () => {
      const bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      keyInput.value = bytesToHex(bytes);
      result.textContent = 'A new random key. Give it a name, add it, then share the key with the members (Key button).';
      keyInput.focus();
    });
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const parsed = parseKeyInput(keyInput.value);
      if (!parsed) {
        error.textContent = 'Enter 32 hex characters (0-9, a-f) or a name starting with #.';
        keyInput.setAttribute('aria-invalid', 'true');
        keyInput.focus();
        return;
      }
      const hex = bytesToHex(parsed.key);
      const existing = mine.find((k) => k.hex === hex);
      if (existing) {
        dialog.close();
        toast(`You already have this key as "${existing.name}"`);
        select(existing.name);
        return;
      }
      const hash = channelHash(parsed.key);
      let name = parsed.kind === 'hashtag' ? parsed.name : nameInput.value.trim() || `Private 0x${hashHex(hash)}`;
      if (parsed.kind !== 'hashtag' && (mine.some((k) => k.name === name) || name.startsWith('enc_') || channels.get(name)?.kind === 'server')) {
        let n = 2;
        while (mine.some((k) => k.name === `${name} (${n})`)) n += 1;
        name = `${name} (${n})`;
      }
      mine = [...mine, { name, key: parsed.key, hex, hash }];
      saveKeys(mine);
      dialog.close();
      toast(`Added ${name}: decrypting in this browser`);
      addMineRows();
      renderList();
      const c = channels.get(name);
      if (c?.pending) previewMine(c);
      state.selected = null;
      select(name);
    });
    keyInput.addEventListener('input', () => { error.textContent = ''; keyInput.removeAttribute('aria-invalid'); });
    closeBtn.addEventListener('click', () => dialog.close());
    const opener = document.activeElement;
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
    });
    dialog.showModal();
    keyInput.focus();
  }

  function confirmRemove(c) {
    const yes = h('button.button.danger', { type: 'submit', text: 'Remove key' });
    const no = h('button.button', { type: 'button', text: 'Cancel' });
    const dialog = h('dialog.ch-dialog', { 'aria-labelledby': 'ch-rm-title' },
      h('header.dialog-head', null, h('h2', { id: 'ch-rm-title', text: `Remove ${c.name}?` })),
      h('form.ch-add-form', { method: 'dialog' },
        h('p', { text: 'The key is deleted from this browser. Keep a copy if you want to read this channel again later.' }),
        h('div.dialog-actions', null, yes, no)));
    document.body.appendChild(dialog);
    no.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => dialog.remove());
    dialog.querySelector('form').addEventListener('submit', (e) => {
      e.preventDefault();
      mine = mine.filter((k) => k.name !== c.name);
      saveKeys(mine);
      channels.delete(c.id);
      const server = c.serverChannel;
      if (server) channels.set(server.id, server);
      dialog.close();
      toast(`Removed ${c.name}`);
      renderList();
      back();
    });
    dialog.showModal();
    no.focus();
  }

  addBtn.addEventListener('click', () => openAddDialog());
  // Esc goes back to the list where the list and the chat are separate views.
  const narrow = window.matchMedia('(max-width: 768px)');
  const onKey = (e) => {
    if (e.key === 'Escape' && narrow.matches && state.selected && !document.querySelector('dialog[open]')) back();
  };
  document.addEventListener('keydown', onKey);
  regionSelect.addEventListener('change', () => {
    state.region = regionSelect.value;
    writeUrl();
    open = null;
    loadList();
  });

  // ---- start ----
  writeUrl();
  if (state.selected) {
    replace(chat, h('p.muted.pad', { text: 'Loading…' }));
  } else showIntro();
  Promise.all([
    api('/api/observers', { ttl: 60_000 }).catch(() => null),
    api('/api/config/regions', { ttl: 300_000 }).catch(() => null),
  ]).then(([obsBody, regions]) => {
    if (disposed) return;
    observers = new Map(listOf(obsBody, 'observers').map((o) => [o.id, o]));
    const codes = regions && typeof regions === 'object' ? Object.keys(regions) : [];
    if (codes.length > 1) {
      codes.sort().forEach((code) => regionSelect.appendChild(h('option', { value: code, text: code === regions[code] ? code : `${code} – ${regions[code]}` })));
      if (state.region && !codes.includes(state.region)) regionSelect.appendChild(h('option', { value: state.region, text: state.region }));
      regionSelect.value = state.region;
      regionSelect.hidden = false;
    }
  });
  loadList();

  return () => {
    disposed = true;
    document.removeEventListener('keydown', onKey);
    unsubs.forEach((u) => u());
    timers.forEach((t) => clearInterval(t));
    clearTimeout(timer);
    document.querySelectorAll('dialog.ch-dialog').forEach((d) => d.remove());
    open = null;
  };
}
