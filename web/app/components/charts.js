// What the pages' uPlot charts share: loading the vendored library (module and stylesheet,
// once), theme colours, and time axes that span their window.

import { h } from '../dom.js';

const UPLOT = '/vendor/uplot-1.6.32/uPlot.esm.js';
const UPLOT_CSS = '/vendor/uplot-1.6.32/uPlot.min.css';

let uPlotModule = null;

/** uPlot's constructor; adds its stylesheet (a <link>, allowed by the CSP) on first use. */
export function loadUplot() {
  if (!document.querySelector(`link[href="${UPLOT_CSS}"]`)) {
    document.head.appendChild(h('link', { rel: 'stylesheet', href: UPLOT_CSS }));
  }
  uPlotModule ??= import(UPLOT).then((m) => m.default);
  return uPlotModule;
}

/** Reads a CSS variable of the current theme (chart colours follow the theme). */
export function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/**
 * Adds the window's ends (`from`, `to`, seconds) as empty points to a time series sorted by
 * x, when they lie outside it: with a single bucket uPlot ignores any range and spreads one
 * bar over years.
 */
export function padToWindow(xs, ys, from, to) {
  if (Number.isFinite(from) && Number.isFinite(to) && xs.length
      && from < xs[0] && to > xs[xs.length - 1]) {
    xs.unshift(from); ys.unshift(null);
    xs.push(to); ys.push(null);
  }
}
