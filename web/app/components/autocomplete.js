// Token-aware suggestions under a text input (ARIA combobox + listbox): the caller says what
// fits at the caret; ↑/↓ move, Enter or Tab accepts, Esc closes. Suggestions are text.

import { h, replace } from '../dom.js';

let counter = 0;

/**
 * Attaches suggestions to `input`.
 * @param {HTMLInputElement} input
 * @param {(text: string, caret: number) => {start: number, items: {value: string, hint?: string}[]}} suggest
 *   the items for the word that starts at `start` and ends at the caret
 * @param {() => void} onAccept  called after a suggestion was inserted
 */
export function attachAutocomplete(input, suggest, onAccept) {
  const id = `ac-${++counter}`;
  const list = h('ul.autocomplete', { id, role: 'listbox', hidden: true, 'aria-label': 'Suggestions' });
  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', id);
  input.setAttribute('aria-expanded', 'false');
  input.insertAdjacentElement('afterend', list);
  let items = [];
  let start = 0;
  let active = -1;

  const close = () => {
    list.hidden = true;
    items = [];
    active = -1;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  };
  const highlight = (i) => {
    active = i;
    [...list.children].forEach((li, k) => li.setAttribute('aria-selected', k === i ? 'true' : 'false'));
    if (i >= 0) {
      input.setAttribute('aria-activedescendant', `${id}-${i}`);
      list.children[i]?.scrollIntoView({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  };
  const accept = (i) => {
    const item = items[i];
    if (!item) return;
    const caret = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, start);
    const after = input.value.slice(caret);
    const insert = `${item.value} `;
    input.value = `${before}${insert}${after.replace(/^\S*/, '')}`;
    const pos = before.length + insert.length;
    input.setSelectionRange(pos, pos);
    close();
    onAccept?.();
  };
  const open = () => {
    const caret = input.selectionStart ?? input.value.length;
    const answer = suggest(input.value, caret);
    items = answer.items.slice(0, 12);
    start = answer.start;
    if (!items.length) { close(); return; }
    replace(list, ...items.map((item, i) => {
      const li = h('li', { id: `${id}-${i}`, role: 'option', 'aria-selected': 'false' },
        h('code', { text: item.value }), item.hint ? h('span.muted', { text: ` ${item.hint}` }) : null);
      li.addEventListener('mousedown', (e) => { e.preventDefault(); accept(i); });
      return li;
    }));
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    highlight(-1);
  };

  input.addEventListener('input', open);
  input.addEventListener('blur', () => setTimeout(close, 100));
  input.addEventListener('keydown', (e) => {
    if (list.hidden) {
      if (e.key === 'ArrowDown' && e.altKey) { open(); e.preventDefault(); }
      return;
    }
    if (e.key === 'ArrowDown') { e.preventDefault(); highlight(Math.min(items.length - 1, active + 1)); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); highlight(Math.max(-1, active - 1)); }
    else if ((e.key === 'Enter' || e.key === 'Tab') && active >= 0) {
      e.preventDefault();
      e.stopImmediatePropagation();
      accept(active);
    } else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); close(); }
  });
  return { close };
}
