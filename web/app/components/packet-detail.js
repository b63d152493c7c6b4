// The packet detail view: summary, facts, the byte-level breakdown of the frame (coloured
// hex dump + field table) and the observations. Used by the Packets pane and the standalone
// packet page. Every value is set as text.

import { h } from '../dom.js';
import { breakdown, frameForHops, hopsOf, parseJson, summary, typeName, ROUTE_TYPES, isTransport } from '../packet-format.js';
import { absolute, ago, toMillis } from '../time.js';
import { typeBadge, iataBadge, copyText } from './ui.js';
import { hopChips, hopDescription, directoryReady, loadDirectory } from './hops.js';

const SECTIONS = [
  ['header', 'Header'], ['transport', 'Transport codes'], ['pathlen', 'Path length'], ['path', 'Path'],
  ['payload', 'Payload'], ['pubkey', 'Public key'], ['timestamp', 'Timestamp'], ['signature', 'Signature'],
  ['flags', 'Flags'], ['location', 'Location'], ['name', 'Name'], ['mac', 'MAC'], ['cipher', 'Ciphertext'],
];

/**
 * Builds the detail of one packet.
 * @param {object} data  `/api/packets/{hash}` answer: `{packet, observations}`
 * @param {object} options  `{ obsId, onSelectObs(obs), onClose(), standalone }`
 */
export function packetDetail(data, options = {}) {
  const packet = data.packet || {};
  const observations = Array.isArray(data.observations) ? data.observations : [];
  const index = Math.max(0, observations.findIndex((o) => String(o.id) === String(options.obsId)));
  const obs = observations[index] || null;
  const txRaw = obs?.raw_hex || packet.raw_hex || '';
  const decodedJson = obs?.decoded_json || packet.decoded_json;
  const payload = parseJson(decodedJson) || {};
  const typeCode = Number(packet.payload_type);
  const route = Number(packet.route_type);
  const type = typeName(typeCode);
  const hops = hopsOf(obs ? obs.path_json : packet.path_json);
  // The bytes this observer received: its own path in the transmission's frame.
  const raw = frameForHops(txRaw, hops);
  const bd = breakdown(raw, payload);
  const resolvedPath = obs ? obs.resolved_path : packet.resolved_path;

  const title = h('div.detail-title', null,
    typeBadge(type, isTransport(route)),
    h('h2.detail-summary', { text: summary(payload, typeCode) || type }),
    h('span.badge.hops-badge', { text: `${hops.length} hop${hops.length === 1 ? '' : 's'}` }));
  const head = h('header.detail-head', null, title,
    options.onClose ? h('button.icon-button.detail-close', {
      type: 'button', 'aria-label': 'Close packet detail', title: 'Close (Esc)', onclick: options.onClose, text: '✕',
    }) : null);

  const sub = h('p.detail-hash', null, h('code', { text: packet.hash || '' }),
    observations.length ? h('span.muted', { text: ` (observation ${index + 1} of ${observations.length})` }) : null);

  const message = payload.type === 'CHAN'
    ? h('blockquote.message-box', null,
      h('div.message-meta', { text: `#${String(payload.channel ?? '').replace(/^#/, '')}${payload.sender ? ` · ${payload.sender}` : ''}` }),
      h('div.message-text', { text: payload.text ?? '' }))
    : (type === 'GRP_TXT' || type === 'GRP_DATA')
      ? h('p.message-box.locked', { text: `Channel hash 0x${payload.channelHashHex ?? '??'} (${payload.decryptionStatus === 'no_key' ? 'no key' : 'decryption failed'})` })
      : null;

  const facts = h('dl.facts');
  const fact = (label, ...value) => {
    facts.appendChild(h('dt', { text: label }));
    facts.appendChild(h('dd', null, ...value));
  };
  fact('Payload type', `${type} (${typeCode})`);
  fact('Route', `${ROUTE_TYPES[route] ?? route}`);
  fact('Path', hopChips(hops, { link: true, resolvedPath }));
  const time = obs?.timestamp || packet.first_seen || packet.timestamp;
  fact('Time', h('span', { title: ago(time), text: absolute(time) }));
  if (obs) fact('Observer', obs.observer_name || obs.observer_id || '—', ' ', iataBadge(obs.observer_iata));
  if (obs) fact('SNR / RSSI', `${fmt(obs.snr, ' dB')} / ${fmt(obs.rssi, ' dBm')}`);
  if (bd.head) fact('Hash size', `${bd.head.hashSize} byte${bd.head.hashSize === 1 ? '' : 's'}`);
  if (bd.head?.codes) fact('Transport codes', `${bd.head.codes[0]} / ${bd.head.codes[1]}`);
  if (payload.type === 'ADVERT' && Number.isFinite(payload.lat) && Number.isFinite(payload.lon)) {
    fact('Location', `${payload.name ?? ''} — ${payload.lat}, ${payload.lon}`);
  }
  if (observations.length > 1) {
    const times = observations.map((o) => toMillis(o.timestamp)).filter(Number.isFinite);
    const spread = times.length ? (Math.max(...times) - Math.min(...times)) / 1000 : 0;
    const observers = new Set(observations.map((o) => o.observer_id)).size;
    fact('Propagation', `${spread.toFixed(1)} s (${observations.length} obs × ${observers} observers)`);
  }
  if (obs?.direction) fact('Direction', obs.direction);
  if (payload.anomaly || packet.anomaly) fact('Anomaly', String(payload.anomaly || packet.anomaly));

  const actions = h('div.detail-actions', null,
    h('button.button', {
      type: 'button',
      onclick: () => copyText(`${location.origin}/#/packets/${packet.hash}${obs ? `?obs=${obs.id}` : ''}`, 'Link copied'),
      text: 'Copy link',
    }),
    h('button.button', { type: 'button', onclick: () => copyText(raw, 'Raw hex copied'), text: 'Copy hex' }),
    options.standalone ? null : h('a.button', { href: `#/packet/${packet.hash}`, text: 'Open page' }));

  const bytes = h('details.bytes', { open: window.innerWidth > 480 },
    h('summary', { text: `Raw bytes (${bd.bytes.length})` }),
    raw !== txRaw ? h('p.muted.note', { text: "Path bytes as this observer received them (the stored frame carries another observer's path)." }) : null,
    byteView(bd));
  nameHopFields(bytes, bd, hops);

  const parts = [head, sub, message, facts, actions, bytes];
  if (observations.length) parts.push(observationsTable(observations, obs, options.onSelectObs));
  return h('article.packet-detail', { 'aria-label': 'Packet detail' }, ...parts);
}

/** Adds the node a hop names to the "Hop N" rows of the field table (when the directory is read). */
function nameHopFields(container, bd, hops) {
  const hopFields = bd.fields.map((f, i) => [f, i]).filter(([f]) => /^Hop \d+$/.test(f.name));
  if (!hopFields.length || hopFields.length !== hops.length) return;
  const fill = () => {
    for (const [f, i] of hopFields) {
      const text = hopDescription(f.value);
      const cell = container.querySelector(`.field-table tr[data-field="${i}"] td:last-child`);
      if (cell && text) cell.textContent = `${f.description} — ${text}`;
    }
  };
  if (directoryReady()) fill();
  else loadDirectory().then(fill);
}

function fmt(v, unit) {
  return v === null || v === undefined || v === '' ? '—' : `${v}${unit}`;
}

/** Coloured hex dump + legend + field table of a breakdown. */
export function byteView(bd) {
  const owner = new Array(bd.bytes.length).fill(null);
  bd.fields.forEach((f, i) => { for (let k = f.start; k < f.start + f.len; k += 1) owner[k] = i; });
  const dump = h('div.hexdump', { role: 'group', 'aria-label': 'Frame bytes, coloured by field' });
  for (let k = 0; k < bd.bytes.length; k += 1) {
    const f = owner[k] === null ? null : bd.fields[owner[k]];
    const byte = h('span.hexbyte', {
      class: f ? `sec-${f.section}` : 'sec-none',
      title: f ? `${f.name} (offset ${k})` : `offset ${k}`,
      'data-field': owner[k] === null ? null : String(owner[k]),
      text: bd.bytes[k].toString(16).padStart(2, '0').toUpperCase(),
    });
    dump.appendChild(byte);
  }
  const used = new Set(bd.fields.map((f) => f.section));
  const legend = h('ul.byte-legend', { 'aria-label': 'Colour legend' },
    ...SECTIONS.filter(([k]) => used.has(k)).map(([k, label]) => h('li', null,
      h('span.swatch', { class: `sec-${k}`, 'aria-hidden': 'true' }), label)));
  const table = h('table.field-table', null,
    h('thead', null, h('tr', null, ...['Offset', 'Field', 'Value', 'Description'].map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', null, ...bd.fields.map((f, i) => h('tr', { 'data-field': String(i) },
      h('td.num', { text: f.len > 1 ? `${f.start}–${f.start + f.len - 1}` : String(f.start) }),
      h('td', null, h('span.swatch', { class: `sec-${f.section}`, 'aria-hidden': 'true' }), f.name),
      h('td.value', { text: f.value }),
      h('td.muted', { text: f.description })))));
  // Hovering a byte highlights its field row and the other way round.
  const highlight = (i, on) => {
    if (i === undefined || i === null) return;
    dump.querySelectorAll(`[data-field="${i}"]`).forEach((b) => b.classList.toggle('hl', on));
    table.querySelectorAll(`tr[data-field="${i}"]`).forEach((r) => r.classList.toggle('hl', on));
  };
  for (const el of [dump, table]) {
    el.addEventListener('mouseover', (e) => highlight(e.target.closest('[data-field]')?.dataset.field, true));
    el.addEventListener('mouseout', (e) => highlight(e.target.closest('[data-field]')?.dataset.field, false));
  }
  return h('div.byte-view', null,
    bd.error ? h('p.error-text', { role: 'alert', text: bd.error }) : null, legend, dump,
    h('div.table-wrap', null, table));
}

function observationsTable(observations, current, onSelect) {
  const rows = observations.map((o) => {
    const hops = hopsOf(o.path_json);
    const tr = h('tr', {
      tabindex: '0',
      'aria-selected': o === current ? 'true' : 'false',
      class: o === current ? 'current' : null,
    },
    h('td', null, o.observer_name || o.observer_id || '—', ' ', iataBadge(o.observer_iata)),
    h('td.num', { text: String(hops.length) }),
    h('td.num', { text: fmt(o.snr, '') }),
    h('td.num', { text: fmt(o.rssi, '') }),
    h('td', { title: absolute(o.timestamp), text: ago(o.timestamp) }),
    h('td', null, hopChips(hops, { max: 4, resolvedPath: o.resolved_path })));
    const pick = () => onSelect?.(o);
    tr.addEventListener('click', pick);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } });
    return tr;
  });
  return h('section.observations', { 'aria-label': 'Observations' },
    h('h3', { text: `Observations (${observations.length})` }),
    h('div.table-wrap', null, h('table.obs-table', null,
      h('thead', null, h('tr', null, ...['Observer', 'Hops', 'SNR', 'RSSI', 'Time', 'Path'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', null, ...rows))));
}
