// Browser checks of the node reach page (`#/nodes/<pk>/reach`): the repeater with the most
// links (picked through the API) shows the API's numbers in its cards, one table row per
// link and a line per located neighbour on the map; range buttons, one-way toggles and sort
// round-trip through the URL and the request; a cold deep link with `?days=1` selects 24h; a
// unique key prefix is resolved to the full key; a companion explains why it has no reach; a
// bad or unknown key shows the error state; the node page links to reach for relays only;
// Print calls window.print; the hostile node name renders as text; phone width has no
// sideways scroll. Run by crates/meshcore-analyzer/tests/e2e.rs after packets.test.mjs:
//   node reach.test.mjs --url http://127.0.0.1:PORT [--xss '<img src=x onerror=alert(1)>']

import { args, BASE, XSS, check, assert, until, watch, finish, launch, TIMEOUT, EXPECTED_404 } from './harness.mjs';

const browser = await launch();
const page = await browser.context.newPage();
watch(page, 'reach');

const api = async (path) => {
  const r = await fetch(`${BASE}${path}`);
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
};
const hashOf = () => page.evaluate(() => location.hash);
const digits = (s) => String(s ?? '').replace(/[^\d]/g, '');
const located = (x) => Number.isFinite(x?.lat) && Number.isFinite(x?.lon) && !(x.lat === 0 && x.lon === 0);
/** No element a hostile name could have created, and no image in the page but map tiles. */
const noInjectedImg = () => page.evaluate(() => document.querySelectorAll('img[src="x"], main img:not(.leaflet-tile)').length === 0);
const rowCount = () => page.$$eval('.reach-table tbody tr', (trs) => trs.length);
const lineCount = () => page.$$eval('.reach-map path.reach-line', (ps) => ps.length);
const statValue = (id) => page.textContent(`.reach-cards [data-stat="${id}"] .stat-value`);
const reachUrl = (pk, query = '') => `${BASE}/#/nodes/${pk}/reach${query}`;

// The repeater with the most links (located, so its map has lines).
const listed = await api('/api/nodes?limit=2000');
const nodes = listed.nodes || [];
const relays = nodes.filter((n) => (n.role === 'repeater' || n.role === 'room') && n.name !== XSS);
let best = null;
let xssRelay = null; // a relay that the hostile observer heard directly, if the live advert went through one
for (const n of relays.slice(0, 80)) {
  const r = await api(`/api/nodes/${n.public_key}/reach`);
  if (!xssRelay && (r.direct_observers.some((o) => o.observer_name === XSS) || r.links.some((l) => l.name === XSS))) xssRelay = n;
  if (!located(r.node) || !r.links.some(located)) continue;
  if (!best || r.links.length > best.r.links.length) best = { n, r };
}
const companion = nodes.find((n) => n.role === 'companion' && n.name !== XSS);
const xssNode = (await api(`/api/nodes/search?q=${encodeURIComponent('onerror')}`)).nodes?.find((n) => n.name === XSS);

try {
  await check('reach: a repeater with links exists in the test data', null, async () => {
    assert(best, `no located repeater with located links among ${relays.length} relays`);
  });
  const pk = best?.n.public_key;
  const r = best?.r;

  await check('reach: the page shows the API\'s numbers, one row per link, lines on the map', page, async () => {
    const seen = page.waitForRequest((q) => q.url().includes(`/api/nodes/${pk}/reach?days=7`), { timeout: TIMEOUT });
    await page.goto(reachUrl(pk));
    await seen;
    await page.waitForSelector('.reach-table tbody tr', { timeout: TIMEOUT });
    assert((await page.textContent('h1')).trim() === (r.node.name || '').trim(), `heading: ${await page.textContent('h1')}`);
    assert((await page.getAttribute('h1 a', 'href')) === `#/nodes/${pk}`, 'the name links back to the node page');
    assert((await page.getAttribute('.reach-range button[data-days="7"]', 'aria-pressed')) === 'true', '7d is the default');
    const tokens = await page.$$eval('.reach-token', (els) => els.map((e) => e.textContent));
    assert(JSON.stringify(tokens) === JSON.stringify(r.reliable_tokens), `tokens ${tokens} vs ${r.reliable_tokens}`);
    const want = {
      degree: r.importance.degree, links: r.links.length, bidir: r.importance.bidirectional_links,
      relay: r.window.relay_observations, direct: r.importance.direct_observers,
    };
    for (const [id, v] of Object.entries(want)) {
      const got = await statValue(id);
      assert(digits(got) === String(v), `${id} card: ${got}, API ${v}`);
    }
    const rank = await statValue('rank');
    assert(digits(rank) === `${r.importance.rank}${r.importance.nodes_with_edges}`, `rank card: ${rank}`);
    assert((await rowCount()) === r.links.length, `rows ${await rowCount()} vs links ${r.links.length}`);
    const firstName = await page.textContent('.reach-table tbody tr:first-child .reach-name');
    assert(firstName === (r.links[0].name || `${r.links[0].pubkey.slice(0, 8)}…`), `first row ${firstName} vs ${r.links[0].name}`);
    const drawable = r.links.filter(located).length;
    await until('a line per located neighbour', async () => (await lineCount()) === drawable);
    const legend = await page.textContent('.reach-legend');
    for (const glyph of ['●●●', '●●', '○']) assert(legend.includes(glyph), `legend lacks ${glyph}`);
    assert(await noInjectedImg(), 'no injected image');
  });

  await check('reach: a range button changes the URL and the request', page, async () => {
    const seen = page.waitForRequest((q) => q.url().includes(`/api/nodes/${pk}/reach?days=30`), { timeout: TIMEOUT });
    await page.click('.reach-range button[data-days="30"]');
    await seen;
    await until('days=30 in the URL', async () => (await hashOf()).includes('days=30'));
    assert((await page.getAttribute('.reach-range button[data-days="30"]', 'aria-pressed')) === 'true', '30d pressed');
    assert((await page.getAttribute('.reach-range button[data-days="7"]', 'aria-pressed')) === 'false', '7d released');
    const r30 = await api(`/api/nodes/${pk}/reach?days=30`);
    await until('the 30-day numbers', async () => digits(await statValue('links')) === String(r30.links.length) && (await rowCount()) === r30.links.length);
    await page.click('.reach-range button[data-days="7"]');
    await until('days gone from the URL (7 is the default)', async () => !(await hashOf()).includes('days='));
  });

  await check('reach: a cold deep link with ?days=1 selects 24h and asks for one day', page, async () => {
    await page.goto('about:blank');
    const seen = page.waitForRequest((q) => q.url().includes(`/api/nodes/${pk}/reach?days=1`), { timeout: TIMEOUT });
    await page.goto(reachUrl(pk, '?days=1'));
    await seen;
    await page.waitForSelector('.reach-cards .stat-card', { timeout: TIMEOUT });
    assert((await page.getAttribute('.reach-range button[data-days="1"]', 'aria-pressed')) === 'true', '24h pressed');
    assert((await page.getAttribute('.reach-range button[data-days="7"]', 'aria-pressed')) === 'false', '7d not pressed');
  });

  await check('reach: the one-way toggles hide links on the map and in the table, through the URL', page, async () => {
    await page.goto(reachUrl(pk));
    await page.waitForSelector('.reach-table tbody tr', { timeout: TIMEOUT });
    const incoming = r.links.filter((l) => !l.bidir && l.we_hear > 0);
    const outgoing = r.links.filter((l) => !l.bidir && l.we_hear === 0);
    assert(incoming.length + outgoing.length > 0, 'this repeater has one-way links');
    await page.click('.reach-toggle[data-dir="in"]');
    await until('in=0 in the URL', async () => (await hashOf()).includes('in=0'));
    assert((await page.getAttribute('.reach-toggle[data-dir="in"]', 'aria-pressed')) === 'false', 'toggle released');
    await until('incoming rows gone', async () => (await rowCount()) === r.links.length - incoming.length);
    await until('incoming lines gone', async () => (await lineCount()) === r.links.filter(located).length - incoming.filter(located).length);
    await page.click('.reach-toggle[data-dir="out"]');
    await until('out=0 in the URL', async () => (await hashOf()).includes('out=0'));
    await until('only two-way rows', async () => (await rowCount()) === r.links.filter((l) => l.bidir).length);
    const url = page.url();
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForSelector('.reach-cards .stat-card', { timeout: TIMEOUT });
    assert((await page.getAttribute('.reach-toggle[data-dir="out"]', 'aria-pressed')) === 'false', 'out toggle off after reload');
    await until('two-way rows after reload', async () => (await rowCount()) === r.links.filter((l) => l.bidir).length);
  });

  await check('reach: sorting by "We hear" round-trips through the URL', page, async () => {
    await page.goto(reachUrl(pk));
    await page.waitForSelector('.reach-table tbody tr', { timeout: TIMEOUT });
    await page.click('.reach-table th[data-col="we"] button');
    await until('sort=we in the URL', async () => (await hashOf()).includes('sort=we'));
    assert((await page.getAttribute('.reach-table th[data-col="we"]', 'aria-sort')) === 'descending', 'aria-sort descending');
    const col = () => page.$$eval('.reach-table tbody tr td:nth-child(3)', (tds) => tds.map((td) => Number(td.textContent.replace(/[^\d]/g, ''))));
    const values = await col();
    assert(values[0] === Math.max(...r.links.map((l) => l.we_hear)), `first row ${values[0]}`);
    assert(values.every((v, i) => i === 0 || values[i - 1] >= v), 'descending');
    const url = page.url();
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForSelector('.reach-table tbody tr', { timeout: TIMEOUT });
    assert((await page.getAttribute('.reach-table th[data-col="we"]', 'aria-sort')) === 'descending', 'sort kept after reload');
  });

  await check('reach: a unique key prefix is resolved to the full key', page, async () => {
    await page.goto(reachUrl(pk.slice(0, 16)));
    await page.waitForSelector('.reach-cards .stat-card', { timeout: TIMEOUT });
    await until('the full key in the URL', async () => (await hashOf()).startsWith(`#/nodes/${pk}/reach`));
  });

  await check('reach: Print / PDF calls window.print', page, async () => {
    await page.evaluate(() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; });
    await page.click('.reach-print');
    assert((await page.evaluate(() => window.__printed)) === 1, 'window.print not called');
  });

  await check('reach: the node page links to reach for a repeater, not for a companion', page, async () => {
    await page.goto(`${BASE}/#/nodes/${pk}`);
    await page.waitForSelector(`.node-actions a[href="#/nodes/${pk}/reach"]`, { timeout: TIMEOUT });
    await page.click(`.node-actions a[href="#/nodes/${pk}/reach"]`);
    await page.waitForSelector('.reach-cards .stat-card', { timeout: TIMEOUT });
    if (companion) {
      await page.goto(`${BASE}/#/nodes/${companion.public_key}`);
      await page.waitForSelector('.node-actions', { timeout: TIMEOUT });
      assert(!(await page.$('.node-actions a[href$="/reach"]')), 'a companion has no Reach link');
    }
  });

  await check('reach: a companion explains that it has no reliable tokens', page, async () => {
    assert(companion, 'a companion exists');
    await page.goto(reachUrl(companion.public_key));
    await page.waitForSelector('.reach-no-tokens', { timeout: TIMEOUT });
    const text = await page.textContent('.reach-no-tokens');
    assert(/No reliable path hash/.test(text) && /do not relay/.test(text), `explanation: ${text}`);
    assert(!(await page.$('.reach-table')) && !(await page.$('.reach-map path')), 'no empty table or map');
  });

  await check('reach: a bad or unknown key shows the error state', page, async () => {
    const unknown = '0'.repeat(64);
    EXPECTED_404.push('/api/nodes/zzzz', `/api/nodes/${unknown}/reach?days=7`);
    await page.goto(reachUrl('zzzz'));
    await page.waitForSelector('.reach-error[role="alert"]', { timeout: TIMEOUT });
    assert((await page.textContent('h1')).includes('Node not found'), `heading: ${await page.textContent('h1')}`);
    assert(await page.isHidden('.reach-range'), 'no range buttons on the error state');
    await page.goto(reachUrl(unknown));
    await page.waitForSelector('.reach-error[role="alert"]', { timeout: TIMEOUT });
    assert((await page.textContent('.reach-error')).includes(unknown), 'the key is named');
  });

  await check('reach: the hostile node name renders as text', page, async () => {
    if (!xssNode && !args.xss) { console.log('# skip: no node named with the hostile string on this server'); return; }
    assert(xssNode, `a node named ${XSS} exists (packets.test.mjs published it)`);
    await page.goto(reachUrl(xssNode.public_key));
    await page.waitForSelector('.reach-cards .stat-card, .reach-no-tokens', { timeout: TIMEOUT });
    assert((await page.textContent('h1')) === XSS, `heading: ${await page.textContent('h1')}`);
    assert(await noInjectedImg(), 'an <img> was created from the name');
    assert((await page.title()).includes(XSS), 'title carries the name as text');
    if (xssRelay) {
      // The hostile node or observer in a relay's links or direct observers: text too.
      await page.goto(reachUrl(xssRelay.public_key));
      await page.waitForSelector('.reach-table tbody tr', { timeout: TIMEOUT });
      const names = await page.$$eval('.reach-observers tbody a, .reach-table .reach-name', (as) => as.map((a) => a.textContent));
      assert(names.includes(XSS), 'the hostile name is listed as text');
      assert(await noInjectedImg(), 'an <img> was created from a linked name');
    }
  });

  await check('reach: phone width has no sideways scroll and touch-sized controls', page, async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(reachUrl(pk));
    await page.waitForSelector('.reach-table tbody tr', { timeout: TIMEOUT });
    await until('lines drawn', async () => (await lineCount()) > 0);
    const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(over <= 0, `page is ${over}px wider than the screen`);
    const heights = await page.$$eval('.reach-range button, .reach-toggle, .reach-print', (bs) => bs.map((b) => b.getBoundingClientRect().height));
    assert(heights.every((x) => x >= 40), `control heights ${heights.join(',')}`);
    const table = await page.$eval('.reach-table-holder .table-wrap', (w) => w.scrollWidth - w.clientWidth);
    assert(table <= 0, `the link table scrolls sideways by ${table}px`);
    await page.setViewportSize({ width: 1280, height: 860 });
  });
} finally {
  await finish(browser);
}
