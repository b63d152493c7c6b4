// Browser checks of the map building block (app/components/map.js) and the mini-maps of the
// node and observer pages. There is no network in the test: every request to a tile host is
// stubbed with `page.route` to fail (an empty 204 answer: no image). Checks: the node page's
// mini-map is a Leaflet map with the node's marker at its position and its name as text; with
// the server's own Content-Security-Policy (which does not list a tile host) and with a policy
// that allows OpenStreetMap (tiles requested, all failing) the note "map tiles unavailable"
// shows and nothing is logged; the dark theme dims the tiles; a node named with the --xss
// string gets a text label, no <img>; nodes/observers without a position get no map; the map
// is removed when the page goes; phone width has no sideways scroll.
//   node map.test.mjs --url http://127.0.0.1:PORT [--xss '<img src=x onerror=alert(1)>']

import { args, BASE, XSS, check, assert, until, watch, finish, launch, TIMEOUT } from './harness.mjs';
import { TILE_HOSTS } from './browser.mjs';

let tileRequests = 0;

const browser = await launch();
const ctx = browser.context;
// Counted here; this route takes precedence over the stub every script gets (browser.mjs).
await ctx.route(TILE_HOSTS, (route) => {
  tileRequests += 1;
  return route.fulfill({ status: 204, body: '' }); // no network: no tile
});
const page = await ctx.newPage();
watch(page, 'map');

const api = async (path) => (await fetch(`${BASE}${path}`)).json();
const nodes = (await api('/api/nodes?limit=500')).nodes || [];
const located = (n) => Number.isFinite(n.lat) && Number.isFinite(n.lon) && !(n.lat === 0 && n.lon === 0);
const placed = nodes.find((n) => located(n) && n.name && /^[\w .-]+$/.test(n.name));
const unplaced = nodes.find((n) => !located(n) && n.name && n.name !== XSS);
const observers = (await api('/api/observers')).observers || [];
const placedObserver = observers.find((o) => located(o));
const unplacedObserver = observers.find((o) => !located(o));
const xssNode = (await api(`/api/nodes/search?q=${encodeURIComponent('onerror')}`)).nodes?.find((n) => n.name === XSS);

/** Where the page's node marker is drawn vs. where Leaflet projects the node (container px). */
const markerPlacement = (lat, lon) => page.evaluate(async ([la, lo]) => {
  const { mapOf } = await import('/app/components/map.js');
  const box = document.querySelector('.node-minimap .mc-map');
  const map = mapOf(box);
  const want = map.latLngToContainerPoint([la, lo]);
  const r = document.querySelector('.node-minimap .map-node-primary').getBoundingClientRect();
  const c = box.getBoundingClientRect();
  return {
    dx: Math.abs(r.left + r.width / 2 - c.left - want.x), dy: Math.abs(r.top + r.height / 2 - c.top - want.y),
    inside: want.x > 0 && want.y > 0 && want.x < c.width && want.y < c.height,
    offCentre: Math.hypot(want.x - c.width / 2, want.y - c.height / 2),
  };
}, [lat, lon]);

const openNode = async (p, key) => {
  await p.goto('about:blank');
  await p.goto(`${BASE}/#/nodes/${key}?section=contact`);
  await p.waitForSelector('h1.node-name', { timeout: TIMEOUT });
};

try {
  await check('map: the node page shows a Leaflet mini-map with the node at its position and its name as text', page, async () => {
    assert(placed, 'a node with a position exists');
    await page.emulateMedia({ colorScheme: 'light' });
    await openNode(page, placed.public_key);
    await page.waitForSelector('.node-minimap .mc-map.leaflet-container .map-node-primary', { timeout: TIMEOUT });
    const at = await markerPlacement(placed.lat, placed.lon);
    assert(at.inside && at.dx < 2 && at.dy < 2, `marker drawn at the node's position: ${JSON.stringify(at)}`);
    assert(at.offCentre < 3, `map centred on the node: ${at.offCentre.toFixed(1)} px off`);
    const label = await page.textContent('.node-minimap .leaflet-tooltip .map-label');
    assert(label === placed.name, `label: ${label}`);
    const colour = await page.$eval('.node-minimap .map-node-primary', (e) => e.getAttribute('fill'));
    const badge = await page.$eval(`.role-badge.role-${placed.role}`, (e) => getComputedStyle(e).backgroundColor).catch(() => null);
    assert(!badge || colour === badge, `marker in the role colour of the Nodes page: ${colour} vs ${badge}`);
    assert(await page.$eval('.node-minimap .mc-map', (e, name) => e.getAttribute('role') === 'region' && e.getAttribute('aria-label').includes(name), placed.name), 'map is a labelled region');
  });

  await check('map: the server policy allows OpenStreetMap; failing tiles are requested and the note shows', page, async () => {
    const csp = (await fetch(`${BASE}/`)).headers.get('content-security-policy') || '';
    assert(/img-src [^;]*https:\/\/tile\.openstreetmap\.org/.test(csp), `img-src lists the default tile host: ${csp}`);
    await until('tile requests', async () => tileRequests > 0);
    await until('the note', () => page.isVisible('.node-minimap .map-note'));
    assert((await page.textContent('.node-minimap .map-note')) === 'map tiles unavailable', 'note text');
    assert(await page.locator('.node-minimap .leaflet-tile-pane img').count() > 0, 'a tile layer was added');
    assert(await page.locator('.node-minimap .leaflet-container').count() === 1, 'markers stay on a plain background');
  });

  await check('map: tiles a policy does not allow are not requested (no CSP violation); the note shows', null, async () => {
    const p2 = await ctx.newPage();
    watch(p2, 'map-no-tiles');
    // A server whose policy lists no tile host: rewrite the policy of the page here.
    await p2.route((url) => url.origin === BASE && url.pathname === '/', async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers() };
      headers['content-security-policy'] = headers['content-security-policy']
        .replace(/img-src [^;]*;/, "img-src 'self' data:;");
      await route.fulfill({ response, headers });
    });
    // A rewritten document loses its loopback address space, so Chromium's local network
    // checks would refuse the live socket: answer it here (nothing is sent on it).
    await p2.routeWebSocket(/\/ws$/, () => {});
    const before = tileRequests;
    try {
      await openNode(p2, placed.public_key);
      await p2.waitForSelector('.node-minimap .map-node-primary', { timeout: TIMEOUT });
      await until('the note', () => p2.isVisible('.node-minimap .map-note'));
      await p2.waitForTimeout(500);
      assert(tileRequests === before, 'no tile request against the policy');
      assert(await p2.locator('.node-minimap .leaflet-tile-pane img').count() === 0, 'no tile layer');
    } finally {
      await p2.close();
    }
  });

  await check('map: the dark theme dims the tiles (filter class), the light theme does not', page, async () => {
    assert(!(await page.$eval('.node-minimap .mc-map', (e) => e.classList.contains('map-tiles-dim'))), 'no dimming in light');
    await page.emulateMedia({ colorScheme: 'dark' });
    await until('map-tiles-dim', () => page.$eval('.node-minimap .mc-map', (e) => e.classList.contains('map-tiles-dim')));
    const filter = await page.$eval('.node-minimap .leaflet-tile-pane', (e) => getComputedStyle(e).filter);
    assert(filter.includes('invert'), `tile pane filter: ${filter}`);
    const bg = await page.$eval('.node-minimap .mc-map', (e) => getComputedStyle(e).backgroundColor);
    assert(bg !== 'rgb(221, 221, 221)', `themed plain background in dark: ${bg}`);
    await page.emulateMedia({ colorScheme: 'light' });
  });

  await check('map: the hostile node name is a text label in the map, no <img> from it', page, async () => {
    if (!xssNode) {
      assert(!args.xss, `a node named ${XSS} exists (packets.test.mjs published it)`);
      console.log('#   (no hostile node on this server: skipped)');
      return;
    }
    // Its advert has no position: give it one in the answer so its mini-map is drawn.
    const where = placed || { lat: 47.6, lon: -122.3 };
    await page.route(new RegExp(`/api/nodes/${xssNode.public_key}$`, 'i'), async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      const node = body.node || body;
      node.lat = where.lat + 0.01;
      node.lon = where.lon + 0.01;
      await route.fulfill({ response, json: body });
    });
    try {
      await openNode(page, xssNode.public_key);
      await page.waitForSelector('.node-minimap .leaflet-tooltip .map-label', { timeout: TIMEOUT });
      assert((await page.textContent('.node-minimap .leaflet-tooltip .map-label')) === XSS, 'label is the literal name');
      assert(await page.locator('.node-minimap .leaflet-tooltip img, .node-minimap .leaflet-tooltip *:not(span)').count() === 0, 'the tooltip holds only text');
      assert(await page.locator('img[src="x"]').count() === 0, 'no <img src=x> anywhere');
      assert((await page.getAttribute('.node-minimap .mc-map', 'aria-label')).includes(XSS), 'accessible name carries the name as text');
    } finally {
      await page.unroute(new RegExp(`/api/nodes/${xssNode.public_key}$`, 'i'));
    }
  });

  await check('map: a node without a position has no map and no error', page, async () => {
    assert(unplaced, 'a node without a position exists');
    await openNode(page, unplaced.public_key);
    await page.waitForSelector('.position p.muted', { timeout: TIMEOUT });
    await page.waitForTimeout(500);
    assert(await page.locator('.mc-map').count() === 0, 'no map');
  });

  await check('map: the observer page maps a located observer, not one without a position', page, async () => {
    assert(placedObserver, 'an observer with a position exists');
    await page.goto(`${BASE}/#/observers/${encodeURIComponent(placedObserver.id)}`);
    await page.waitForSelector('.od-minimap .mc-map.leaflet-container .map-node-primary', { timeout: TIMEOUT });
    assert((await page.textContent('.od-minimap .map-label')) === (placedObserver.name || placedObserver.id.slice(0, 8)), 'observer name as label');
    if (unplacedObserver) {
      await page.goto(`${BASE}/#/observers/${encodeURIComponent(unplacedObserver.id)}`);
      await page.waitForSelector('.od-cards .od-card', { timeout: TIMEOUT });
      await page.waitForTimeout(500);
      assert(await page.locator('.od-minimap').count() === 0, 'no map for an observer without a position');
    }
  });

  await check('map: leaving the page removes the map; phone width has no sideways scroll', page, async () => {
    await openNode(page, placed.public_key);
    await page.waitForSelector('.node-minimap .map-node-primary', { timeout: TIMEOUT });
    await page.goto(`${BASE}/#/packets`);
    await until('map gone', async () => (await page.locator('.mc-map').count()) === 0);
    await page.setViewportSize({ width: 390, height: 844 });
    await openNode(page, placed.public_key);
    await page.waitForSelector('.node-minimap .map-node-primary', { timeout: TIMEOUT });
    const wide = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, win: window.innerWidth, map: document.querySelector('.node-minimap .mc-map').getBoundingClientRect().right }));
    assert(wide.doc <= wide.win && wide.map <= wide.win, `no sideways scroll: ${JSON.stringify(wide)}`);
    const zoom = await page.$eval('.node-minimap .leaflet-control-zoom-in', (e) => e.getBoundingClientRect().height);
    assert(zoom >= 36, `touch-sized zoom buttons: ${zoom}px`);
    await page.setViewportSize({ width: 1280, height: 860 });
  });
} finally {
  await finish(browser);
}
