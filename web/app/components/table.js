// A data table for large, live lists: virtual scrolling (only the visible rows are in the
// DOM), sortable headers (click, Enter or Space; aria-sort), drag-resizable columns (widths
// persisted), column visibility, and keyboard row navigation (↑/↓, Home/End, Enter/Space
// to activate). Cells are built with DOM nodes; a column's `render` must never return
// markup strings (strings become text).

import { h, clear, stored, store } from '../dom.js';

/**
 * @typedef {object} Column
 * @property {string} key
 * @property {string} label
 * @property {number} width  default width in px
 * @property {boolean} [sortable]
 * @property {'asc'|'desc'} [defaultDir]
 * @property {(row: any) => any} [sortValue]
 * @property {(row: any) => (Node|string|number|null)} render
 * @property {string} [className]
 * @property {string} [title]  header tooltip
 */

const MIN_WIDTH = 40;

export class DataTable {
  /**
   * @param {object} options
   * @param {Column[]} options.columns
   * @param {string} options.label  accessible name of the table
   * @param {number} [options.rowHeight]
   * @param {string} [options.widthsKey]  localStorage key for column widths
   * @param {(row:any) => string} options.rowKey
   * @param {(row:any) => string} [options.rowClass]
   * @param {(row:any) => object} [options.rowStyle]  CSSOM style (e.g. a CSS variable)
   * @param {(row:any, event:Event) => void} [options.onActivate]
   * @param {(sort:{key:string,dir:string}) => void} [options.onSort]
   * @param {string} [options.emptyText]
   */
  constructor(options) {
    this.o = options;
    this.rowHeight = options.rowHeight || 34;
    this.rows = [];
    this.hidden = new Set();
    this.sort = null;
    this.selectedKey = null;
    this.widths = stored(options.widthsKey, {}) || {};
    this.focusIndex = -1;

    this.colgroup = h('colgroup');
    this.headRow = h('tr', { role: 'row' });
    this.body = h('tbody');
    this.table = h('table.data-table', { 'aria-label': options.label, 'aria-rowcount': '0' },
      this.colgroup, h('thead', null, this.headRow), this.body);
    this.empty = h('div.table-empty', { role: 'status', hidden: true, text: options.emptyText || 'Nothing to show' });
    this.el = h('div.table-scroll', { tabindex: '-1' }, this.table, this.empty);
    this.el.addEventListener('scroll', () => this.schedule(), { passive: true });
    this.body.addEventListener('click', (e) => this.onClick(e));
    this.body.addEventListener('keydown', (e) => this.onKey(e));
    new ResizeObserver(() => this.schedule()).observe(this.el);
    this.buildHead();
  }

  /** Columns currently shown. */
  visibleColumns() {
    return this.o.columns.filter((c) => !this.hidden.has(c.key));
  }

  /** Hides the columns whose keys are in `keys`. */
  setHidden(keys) {
    this.hidden = new Set(keys);
    this.buildHead();
    this.render(true);
  }

  /** Shows the sort arrow for `{key, dir}` (the caller sorts the data). */
  setSort(sort) {
    this.sort = sort;
    this.buildHead();
  }

  /** Replaces the rows (already sorted and filtered) and re-renders the visible window. */
  setRows(rows) {
    this.rows = rows;
    this.table.setAttribute('aria-rowcount', String(rows.length + 1));
    this.empty.hidden = rows.length > 0;
    this.render(true);
  }

  /** Marks the row with this key as selected (aria-selected) and scrolls it into view. */
  setSelected(key, scroll = false) {
    this.selectedKey = key;
    if (scroll) {
      const i = this.rows.findIndex((r) => this.o.rowKey(r) === key);
      if (i >= 0) this.scrollToIndex(i);
    }
    this.render(true);
  }

  /** Scrolls so that row `i` is visible. */
  scrollToIndex(i) {
    const top = i * this.rowHeight;
    const head = this.headRow.offsetHeight || this.rowHeight;
    const view = this.el.clientHeight - head;
    if (top < this.el.scrollTop) this.el.scrollTop = top;
    else if (top + this.rowHeight > this.el.scrollTop + view) this.el.scrollTop = top + this.rowHeight - view;
  }

  buildHead() {
    clear(this.colgroup);
    clear(this.headRow);
    const cols = this.visibleColumns();
    this.fitWidth();
    cols.forEach((col, index) => {
      const width = this.widths[col.key] || col.width;
      const c = h('col');
      c.style.width = `${width}px`;
      this.colgroup.appendChild(c);
      const sorted = this.sort && this.sort.key === col.key;
      const th = h('th', {
        scope: 'col',
        class: col.className,
        title: col.title,
        'aria-sort': col.sortable ? (sorted ? (this.sort.dir === 'asc' ? 'ascending' : 'descending') : 'none') : null,
      });
      if (col.sortable) {
        const button = h('button.th-sort', { type: 'button' }, col.label,
          h('span.sort-arrow', { 'aria-hidden': 'true', text: sorted ? (this.sort.dir === 'asc' ? '▲' : '▼') : '' }));
        button.addEventListener('click', () => {
          const dir = sorted ? (this.sort.dir === 'asc' ? 'desc' : 'asc') : (col.defaultDir || 'desc');
          this.sort = { key: col.key, dir };
          this.buildHead();
          this.o.onSort?.(this.sort);
        });
        th.appendChild(button);
      } else {
        th.appendChild(h('span.th-label', { text: col.label }));
      }
      if (index < cols.length - 1 || cols.length === 1) th.appendChild(this.resizer(col, c));
      this.headRow.appendChild(th);
    });
  }

  /** Sets the table's width to the sum of its columns (it still fills the container). */
  fitWidth() {
    const total = this.visibleColumns().reduce((sum, c) => sum + (this.widths[c.key] || c.width), 0);
    this.table.style.width = `${total}px`;
  }

  resizer(col, colEl) {
    const handle = h('span.col-resize', { 'aria-hidden': 'true', title: 'Drag to resize' });
    handle.addEventListener('pointerdown', (e) => {
      e.preventDefault();
      e.stopPropagation();
      const startX = e.clientX;
      const start = this.widths[col.key] || col.width;
      handle.setPointerCapture(e.pointerId);
      const move = (ev) => {
        const w = Math.max(MIN_WIDTH, Math.round(start + ev.clientX - startX));
        colEl.style.width = `${w}px`;
        this.widths[col.key] = w;
        this.fitWidth();
      };
      const up = () => {
        handle.removeEventListener('pointermove', move);
        handle.removeEventListener('pointerup', up);
        handle.removeEventListener('pointercancel', up);
        if (this.o.widthsKey) store(this.o.widthsKey, this.widths);
      };
      handle.addEventListener('pointermove', move);
      handle.addEventListener('pointerup', up);
      handle.addEventListener('pointercancel', up);
    });
    // Double-click restores the default width.
    handle.addEventListener('dblclick', (e) => {
      e.stopPropagation();
      delete this.widths[col.key];
      if (this.o.widthsKey) store(this.o.widthsKey, this.widths);
      this.buildHead();
    });
    return handle;
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render(false);
    });
  }

  render(force) {
    const n = this.rows.length;
    const rh = this.rowHeight;
    const viewport = Math.max(this.el.clientHeight, 400);
    const first = Math.max(0, Math.floor(this.el.scrollTop / rh) - 15);
    const last = Math.min(n, Math.ceil((this.el.scrollTop + viewport) / rh) + 15);
    if (!force && first === this.first && last === this.last) return;
    this.first = first;
    this.last = last;
    const focusedKey = document.activeElement?.closest?.('tr[data-key]')?.dataset.key;
    const cols = this.visibleColumns();
    const frag = document.createDocumentFragment();
    if (first > 0) frag.appendChild(spacer(first * rh, cols.length));
    let refocus = null;
    for (let i = first; i < last; i += 1) {
      const row = this.rows[i];
      const key = this.o.rowKey(row);
      const selected = key === this.selectedKey;
      const tr = h('tr', {
        'data-key': key,
        'data-index': String(i),
        tabindex: selected || (this.selectedKey === null && i === first) ? '0' : '-1',
        'aria-rowindex': String(i + 2),
        'aria-selected': selected ? 'true' : 'false',
        class: this.o.rowClass?.(row),
      });
      const style = this.o.rowStyle?.(row);
      if (style) for (const [k, v] of Object.entries(style)) tr.style.setProperty(k, v);
      for (const col of cols) {
        const td = h('td', { class: col.className });
        const content = col.render(row);
        if (content !== null && content !== undefined) {
          td.appendChild(content instanceof Node ? content : document.createTextNode(String(content)));
        }
        tr.appendChild(td);
      }
      if (key === focusedKey) refocus = tr;
      frag.appendChild(tr);
    }
    if (last < n) frag.appendChild(spacer((n - last) * rh, cols.length));
    this.body.replaceChildren(frag);
    if (refocus) refocus.focus({ preventScroll: true });
  }

  rowAt(tr) {
    const i = Number(tr.dataset.index);
    return Number.isInteger(i) ? this.rows[i] : undefined;
  }

  onClick(e) {
    const tr = e.target.closest('tr[data-key]');
    if (!tr || e.target.closest('a, button, input, select')) return;
    const row = this.rowAt(tr);
    if (row !== undefined) this.o.onActivate?.(row, e);
  }

  onKey(e) {
    const tr = e.target.closest('tr[data-key]');
    if (!tr || e.target !== tr) return;
    const i = Number(tr.dataset.index);
    let next = null;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      const row = this.rowAt(tr);
      if (row !== undefined) this.o.onActivate?.(row, e);
      return;
    }
    if (e.key === 'ArrowDown') next = i + 1;
    else if (e.key === 'ArrowUp') next = i - 1;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = this.rows.length - 1;
    else if (e.key === 'PageDown') next = i + 10;
    else if (e.key === 'PageUp') next = i - 10;
    if (next === null) return;
    e.preventDefault();
    next = Math.max(0, Math.min(this.rows.length - 1, next));
    this.scrollToIndex(next);
    this.render(true);
    const target = this.body.querySelector(`tr[data-index="${next}"]`);
    if (target) {
      this.body.querySelectorAll('tr[tabindex="0"]').forEach((r) => r.setAttribute('tabindex', '-1'));
      target.setAttribute('tabindex', '0');
      target.focus({ preventScroll: true });
    }
  }
}

function spacer(height, span) {
  const td = h('td', { colspan: String(span) });
  const tr = h('tr.spacer', { 'aria-hidden': 'true' }, td);
  tr.style.height = `${height}px`;
  return tr;
}
