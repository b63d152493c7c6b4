// The application shell: navigation (top bar on desktop, bottom bar on phones), theme
// switch, live-feed indicator, header stats, the warm-up banner, and the routes.

import { h, replace } from './dom.js';
import * as router from './router.js';
import { api, onLoadStatus, onRetrying } from './api.js';
import { startLive, onState, subscribe } from './ws.js';
import { initTheme } from './theme.js';
import { setBanner } from './components/ui.js';
import { packetsPage } from './pages/packets.js';
import { observersPage } from './pages/observers.js';
import { placeholderPage } from './pages/placeholder.js';
import { channelsPage } from './pages/channels.js';
import { homePage } from './pages/home.js';
import { nodesPage } from './pages/nodes.js';
import { initSearch } from './components/search.js';

/** Top-level destinations, in navbar order; `mobile` ones are in the bottom bar. */
const NAV = [
  { route: 'home', label: 'Home', mobile: true, icon: '⌂' },
  { route: 'packets', label: 'Packets', mobile: true, icon: '≡' },
  { route: 'map', label: 'Map', mobile: true, icon: '◎' },
  { route: 'live', label: 'Live', mobile: true, icon: '◉' },
  { route: 'channels', label: 'Channels', icon: '#' },
  { route: 'nodes', label: 'Nodes', mobile: true, icon: '⬡' },
  { route: 'observers', label: 'Observers', icon: '⌖' },
  { route: 'analytics', label: 'Analytics', icon: '▦' },
];

function buildNav() {
  const links = document.getElementById('nav-links');
  replace(links, ...NAV.map((item) => h('li', null,
    h('a.nav-link', { href: `#/${item.route}`, 'data-route': item.route, text: item.label }))));
  const bottom = document.getElementById('bottom-nav');
  const more = NAV.filter((i) => !i.mobile);
  const moreMenu = h('details.bottom-more', null,
    h('summary.bottom-link', { 'aria-label': 'More pages' },
      h('span.bottom-icon', { 'aria-hidden': 'true', text: '⋯' }), h('span', { text: 'More' })),
    h('div.bottom-sheet', { role: 'menu' }, ...more.map((item) => h('a.sheet-link', {
      href: `#/${item.route}`, role: 'menuitem', 'data-route': item.route, text: item.label,
    }))));
  replace(bottom, ...NAV.filter((i) => i.mobile).map((item) => h('a.bottom-link', {
    href: `#/${item.route}`, 'data-route': item.route,
  }, h('span.bottom-icon', { 'aria-hidden': 'true', text: item.icon }), h('span', { text: item.label }))), moreMenu);
  moreMenu.addEventListener('click', (e) => { if (e.target.closest('a')) moreMenu.open = false; });
  router.onRouteChange((route) => {
    const active = route === 'packet' ? 'packets' : route;
    document.querySelectorAll('[data-route]').forEach((a) => {
      if (a.dataset.route === active) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
  });
}

function wsIndicator() {
  const el = document.getElementById('ws-state');
  const label = el.querySelector('.ws-label');
  const names = { open: 'live', connecting: 'connecting', closed: 'offline' };
  onState((state) => {
    el.dataset.state = state;
    label.textContent = names[state] || state;
    el.setAttribute('aria-label', `Live feed: ${names[state] || state}`);
    document.body.classList.toggle('ws-down', state === 'closed');
  });
  let last = 0;
  subscribe(() => {
    const now = performance.now();
    if (now - last < 70) return;
    last = now;
    el.classList.remove('ping');
    void el.offsetWidth; // restart the animation
    el.classList.add('ping');
  });
}

async function refreshStats() {
  const el = document.getElementById('nav-stats');
  try {
    const s = await api('/api/stats', { ttl: 10_000 });
    el.textContent = `${(s.totalTransmissions ?? 0).toLocaleString()} pkts · ${(s.totalNodes ?? 0).toLocaleString()} nodes · ${(s.totalObservers ?? 0).toLocaleString()} obs`;
  } catch {
    el.textContent = '';
  }
}

/** Warm-up banner: shown while the server's startup load runs. */
function warmup() {
  let polling = 0;
  const check = async () => {
    try {
      const health = await api('/api/healthz', { bust: true });
      const state = health?.loadState || {};
      if (health?.ready && state.backgroundLoadComplete !== false) {
        setBanner([]);
        clearInterval(polling);
        polling = 0;
        return;
      }
      const lines = ['Loading historical data — counts may be incomplete'];
      if (typeof state.backgroundLoadProgress === 'number') {
        lines.push(`${Math.round(state.backgroundLoadProgress)} % loaded`);
      }
      setBanner(lines);
    } catch { /* the next poll retries */ }
  };
  onLoadStatus((status) => {
    if (status.toLowerCase().startsWith('loading') && !polling) {
      check();
      polling = setInterval(check, 5000);
    }
  });
  const pill = h('div.retry-pill', { role: 'status', hidden: true, text: 'Computing…' });
  document.body.appendChild(pill);
  onRetrying((n) => { pill.hidden = n === 0; });
}

function start() {
  initTheme(document.getElementById('theme-switch'));
  buildNav();
  wsIndicator();
  warmup();
  router.redirect('', '#/home');
  router.register('packets', packetsPage);
  router.register('packet', packetsPage);
  for (const item of NAV) if (item.route !== 'packets') router.register(item.route, placeholderPage(item.label));
  router.register('channels', channelsPage);
  router.register('home', homePage);
  router.register('nodes', nodesPage);
  router.register('observers', observersPage);
  initSearch();
  router.setFallback(placeholderPage('Page'));
  router.start(document.getElementById('app'));
  startLive();
  refreshStats();
  setInterval(refreshStats, 15_000);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') document.querySelectorAll('details[open]').forEach((d) => { d.open = false; });
  });
}

start();
