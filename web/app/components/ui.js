// Small shared widgets: toasts, the warm-up banner, badges, copy-to-clipboard.

import { h, replace } from '../dom.js';
import { TYPE_LABELS } from '../packet-format.js';

/** Shows a short message at the bottom of the screen. */
export function toast(message, kind = 'info', ms = 3000) {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div.toast', { class: `toast-${kind}`, text: message });
  box.appendChild(el);
  setTimeout(() => el.remove(), ms);
}

/** Copies text, with a toast either way. */
export async function copyText(text, what = 'Copied') {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} to clipboard`);
  } catch {
    toast('Copy failed: the browser refused clipboard access', 'error');
  }
}

/** The coloured payload type badge (plus "T" for transport routes). */
export function typeBadge(typeName, transport = false) {
  const label = TYPE_LABELS[typeName] || typeName || '?';
  return h('span.type-cell', null,
    h('span.badge.type-badge', { class: `t-${typeName || 'UNKNOWN'}`, title: typeName, text: label }),
    transport ? h('span.badge.transport-badge', { title: 'Transport route (carries region scope codes)', text: 'T' }) : null);
}

/** An IATA region badge. */
export function iataBadge(code) {
  return code ? h('span.badge.iata-badge', { text: String(code) }) : null;
}

/** Path hops as chips with arrows; `max` chips, then a "+N" pill. */
export function pathChips(hops, max = Infinity) {
  if (!hops.length) return h('span.muted', { text: 'direct' });
  const el = h('span.path');
  hops.slice(0, max).forEach((hop, i) => {
    if (i) el.appendChild(h('span.path-arrow', { 'aria-hidden': 'true', text: '→' }));
    el.appendChild(h('span.hop', { text: String(hop) }));
  });
  if (hops.length > max) el.appendChild(h('span.badge.more', { title: hops.join(' → '), text: `+${hops.length - max}` }));
  return el;
}

/** Shows or hides the warm-up banner with a list of lines. */
export function setBanner(lines) {
  const el = document.getElementById('load-banner');
  if (!el) return;
  if (!lines.length) {
    el.hidden = true;
    replace(el);
    return;
  }
  replace(el, ...lines.map((line) => h('span.banner-line', { text: line })));
  el.hidden = false;
}
