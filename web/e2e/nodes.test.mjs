// Browser checks of the Nodes pages: the directory (rows, role tabs, search, sort through the
// URL, favourites that survive a reload, the side pane), the node page on a cold deep link
// (name, QR code of the contact), node analytics, the hostile node name rendered as text, and
// the phone layout. Run by crates/meshcore-analyzer/tests/e2e.rs after packets.test.mjs, whose
// live ADVERT created the node named with the --xss string:
//   node nodes.test.mjs --url http://127.0.0.1:PORT [--xss '<img src=x onerror=alert(1)>']

import { BASE, XSS, check, assert, until, watch, finish, launch, TIMEOUT, EXPECTED_404 } from './harness.mjs';

const browser = await launch();
const ctx = browser.context;
const page = await ctx.newPage();
watch(page, 'nodes');

const hashOf = () => page.evaluate(() => location.hash);
const rowKeys = () => page.$$eval('#nodes-list tbody tr[data-key]', (trs) => trs.map((tr) => tr.dataset.key));
const rowNames = () => page.$$eval('#nodes-list tbody tr[data-key] .node-name-text', (els) => els.map((e) => e.textContent));
/** No element the hostile name could have created, and no image at all in the page body. */
const noInjectedImg = () => page.evaluate(() => document.querySelectorAll('img[src="x"], main img:not(.leaflet-tile)').length === 0);

const api = async (path) => (await fetch(`${BASE}${path}`)).json();
const listed = await api('/api/nodes?limit=500');
const nodes = listed.nodes || [];
const named = nodes.find((n) => n.name && n.name !== XSS && /^[\w .-]+$/.test(n.name)) || nodes[0];
const xssNode = (await api(`/api/nodes/search?q=${encodeURIComponent('onerror')}`)).nodes?.find((n) => n.name === XSS);

try {
  await page.goto(`${BASE}/#/nodes`);

  await check('nodes: the directory loads with rows, role counts and the Nodes nav link current', page, async () => {
    await page.waitForSelector('h1:has-text("Nodes")', { timeout: TIMEOUT });
    await page.waitForSelector('#nodes-list tbody tr[data-key]', { timeout: TIMEOUT });
    const all = await page.textContent('#nodes-tab-all .tab-count');
    assert(Number(all) > 0, `All tab count: ${all}`);
    assert(Number(all) >= Math.min(nodes.length, 1), 'count matches the API');
    assert((await page.getAttribute('a.nav-link[data-route="nodes"]', 'aria-current')) === 'page', 'Nodes nav link is current');
    assert((await page.getAttribute('#nodes-tab-all', 'aria-selected')) === 'true', 'All tab selected');
  });

  await check('nodes: a role tab changes the URL and the rows', page, async () => {
    await page.click('#nodes-tab-repeater');
    await until('tab=repeater in the URL', async () => (await hashOf()).includes('tab=repeater'));
    assert((await page.getAttribute('#nodes-tab-repeater', 'aria-selected')) === 'true', 'Repeaters tab selected');
    const roles = await page.$$eval('#nodes-list tbody tr[data-key] .role-badge', (els) => els.map((e) => e.textContent));
    assert(roles.length > 0 && roles.every((r) => r === 'Repeater'), `roles shown: ${[...new Set(roles)].join(',')}`);
    const expected = await page.textContent('#nodes-tab-repeater .tab-count');
    assert(Number(expected) === (await page.evaluate(() => Number(document.querySelector('.data-table').getAttribute('aria-rowcount')) - 1)), 'row count = tab count');
    // Arrow keys move between tabs (ARIA tablist).
    await page.focus('#nodes-tab-repeater');
    await page.keyboard.press('ArrowLeft');
    await until('tab back to All', async () => !(await hashOf()).includes('tab='));
  });

  await check('nodes: search narrows the rows and is in the URL', page, async () => {
    const word = named.name.split(' ')[0];
    await page.fill('.node-search', word);
    await until('search= in the URL', async () => (await hashOf()).includes(`search=${encodeURIComponent(word)}`));
    await until('filtered rows', async () => {
      const names = await rowNames();
      return names.length > 0 && names.length < nodes.length && names.every((n) => n.toLowerCase().includes(word.toLowerCase()) || n.endsWith('…'));
    });
    await page.fill('.node-search', 'zzzz-no-such-node');
    await until('the empty state', async () => page.isVisible('.table-empty'));
    await page.fill('.node-search', '');
    await until('search cleared', async () => !(await hashOf()).includes('search='));
  });

  await check('nodes: sorting by name round-trips through the URL (cold load)', page, async () => {
    await page.click('#nodes-list th button.th-sort:has-text("Name")');
    await until('sort=name:asc', async () => (await hashOf()).includes('sort=name%3Aasc') || (await hashOf()).includes('sort=name:asc'));
    const url = page.url();
    await page.goto('about:blank');
    await page.goto(url);
    await page.waitForSelector('#nodes-list tbody tr[data-key]', { timeout: TIMEOUT });
    const sortAttr = await page.$eval('#nodes-list th[aria-sort="ascending"]', (th) => th.textContent);
    assert(sortAttr.includes('Name'), `sorted column after reload: ${sortAttr}`);
    const names = (await rowNames()).slice(0, 10).map((n) => n.toLowerCase());
    const sorted = names.slice().sort((a, b) => a.localeCompare(b));
    assert(JSON.stringify(names) === JSON.stringify(sorted), `first rows not by name: ${names.join(' | ')}`);
    await page.click('#nodes-list th button.th-sort:has-text("Name")');
    await until('sort=name (desc)', async () => /sort=name(&|$)/.test(await hashOf()));
  });

  await check('nodes: a ★ favourite persists across a reload and is pinned first', page, async () => {
    await page.goto(`${BASE}/#/nodes`);
    await page.waitForSelector('#nodes-list tbody tr[data-key]', { timeout: TIMEOUT });
    const keys = await rowKeys();
    const key = keys[Math.min(5, keys.length - 1)];
    await page.click(`#nodes-list tr[data-key="${key}"] .fav-toggle`);
    await until('the star pressed', async () => (await page.getAttribute(`#nodes-list tr[data-key="${key}"] .fav-toggle`, 'aria-pressed')) === 'true');
    const storedKeys = await page.evaluate(() => JSON.parse(localStorage.getItem('meshcore-favorites') || '[]'));
    assert(storedKeys.includes(key), 'meshcore-favorites holds the key');
    await page.reload();
    await page.waitForSelector('#nodes-list tbody tr[data-key]', { timeout: TIMEOUT });
    assert((await rowKeys())[0] === key, 'the favourite is the first row after reload');
    assert((await page.getAttribute(`#nodes-list tr[data-key="${key}"] .fav-toggle`, 'aria-pressed')) === 'true', 'star still pressed');
    await page.click('.view-btn[data-view="fav"]').catch(async () => { await page.click('.filters-toggle'); await page.click('.view-btn[data-view="fav"]'); });
    await until('view=fav', async () => (await hashOf()).includes('view=fav'));
    await until('only the favourite', async () => JSON.stringify(await rowKeys()) === JSON.stringify([key]));
    await page.click('.view-btn[data-view=""]');
    await page.click(`#nodes-list tr[data-key="${key}"] .fav-toggle`);
    const after = await page.evaluate(() => JSON.parse(localStorage.getItem('meshcore-favorites') || '[]'));
    assert(!after.includes(key), 'unstarring removes it');
  });

  await check('nodes: a row opens the side pane with the QR code, URL follows, Esc closes', page, async () => {
    const key = (await rowKeys())[0];
    await page.click(`#nodes-list tr[data-key="${key}"] td:nth-child(3)`);
    await until('node= in the URL', async () => (await hashOf()).includes(`node=${key}`));
    await page.waitForSelector('.node-pane .node-name', { timeout: TIMEOUT });
    await page.waitForSelector('.node-pane svg.qr-svg path.qr-fg', { timeout: TIMEOUT });
    assert(await page.isVisible('.node-pane a:has-text("Full page")'), 'link to the full page');
    await page.keyboard.press('Escape');
    await until('the pane closes', async () => !(await page.isVisible('.node-pane')) && !(await hashOf()).includes('node='));
  });

  await check('node page: a cold deep link shows the name, identity and a QR code of the contact', page, async () => {
    await page.goto('about:blank');
    await page.goto(`${BASE}/#/nodes/${named.public_key}`);
    await page.waitForSelector('h1.node-name', { timeout: TIMEOUT });
    assert((await page.textContent('h1.node-name')) === named.name, 'the node name is the heading');
    assert((await page.textContent('.full-key')) === named.public_key, 'full public key shown');
    const qr = await page.$eval('svg.qr-svg', (svg) => ({ d: svg.querySelector('path.qr-fg').getAttribute('d').length, modules: Number(svg.dataset.modules), label: svg.getAttribute('aria-label') }));
    assert(qr.d > 100 && qr.modules >= 21, `QR code drawn (${qr.modules} modules)`);
    const url = await page.textContent('.contact-url code');
    assert(url.startsWith('meshcore://contact/add?') && url.includes(`public_key=${named.public_key}`), `contact URL: ${url}`);
    await page.waitForSelector('#heard-by table, #heard-by p', { timeout: TIMEOUT });
    await page.waitForSelector('#paths .path-item, #paths p.muted', { timeout: TIMEOUT });
    const packetsHref = await page.getAttribute('#recent-packets a[href^="#/packets"]', 'href');
    assert(packetsHref.includes(`node=${named.public_key}`), `packets link: ${packetsHref}`);
    // The 8-character short URL resolves to the same node.
    await page.goto(`${BASE}/#/nodes/${named.public_key.slice(0, 8)}`);
    await until('short URL resolves', async () => (await page.textContent('h1.node-name').catch(() => '')) === named.name);
  });

  await check('node page: unknown key shows "Node not found" with a way back', page, async () => {
    EXPECTED_404.push('/api/nodes/ffffffffffffffffffffffffffffffff', '/api/nodes/ffffffffffffffffffffffffffffffff/health');
    await page.goto(`${BASE}/#/nodes/ffffffffffffffffffffffffffffffff`);
    await page.waitForSelector('.not-found h1:has-text("Node not found")', { timeout: TIMEOUT });
    assert(await page.isVisible('.not-found a[href="#/nodes"]'), 'link back to the directory');
  });

  await check('node analytics: stat cards and charts for the range in the URL', page, async () => {
    await page.goto(`${BASE}/#/nodes/${named.public_key}/analytics?days=30`);
    await page.waitForSelector('.stat-cards .stat-card', { timeout: TIMEOUT });
    assert((await page.getAttribute('.view-btn[data-days="30"]', 'aria-pressed')) === 'true', '30 days selected from the URL');
    await page.waitForSelector('#activity .uplot, #activity p.muted', { timeout: TIMEOUT });
    await page.click('.view-btn[data-days="1"]');
    await until('days=1 in the URL', async () => (await hashOf()).includes('days=1'));
    // The time axis spans the 24 h window even when the node was heard in one hour only
    // (uPlot alone stretched a single bucket over years).
    await page.waitForSelector('#activity .uplot, #activity p.muted', { timeout: TIMEOUT });
    const range = await until('the activity chart for 24 h', () => page.evaluate(() => {
      const holder = document.querySelector('#activity [data-x-range]');
      if (holder) return holder.dataset.xRange;
      return document.querySelector('#activity p.muted') ? 'none' : null;
    }));
    assert(range !== 'none', 'the node has packets in the last 24 h (the test database is that recent)');
    const [min, max] = range.split(',').map(Number);
    assert(max - min <= 26 * 3600 && max - min >= 22 * 3600, `x axis spans about a day: ${range}`);
  });

  await check('nodes: the hostile node name renders as text in the list and on its page', page, async () => {
    assert(xssNode, `a node named ${XSS} exists (packets.test.mjs published it)`);
    await page.goto(`${BASE}/#/nodes?search=onerror`);
    await page.waitForSelector('#nodes-list tbody tr[data-key]', { timeout: TIMEOUT });
    const names = await rowNames();
    assert(names.includes(XSS), `the name is shown as text: ${names.join(' | ')}`);
    assert(await noInjectedImg(), 'no <img> was created');
    await page.click(`#nodes-list tr[data-key="${xssNode.public_key}"] td:nth-child(3)`);
    await page.waitForSelector('.node-pane .node-name', { timeout: TIMEOUT });
    assert((await page.textContent('.node-pane .node-name')) === XSS, 'pane heading is the literal name');
    await page.goto(`${BASE}/#/nodes/${xssNode.public_key}`);
    await page.waitForSelector('h1.node-name', { timeout: TIMEOUT });
    assert((await page.textContent('h1.node-name')) === XSS, 'page heading is the literal name');
    assert(await noInjectedImg(), 'no <img> was created on the node page');
  });

  await check('nodes: phone layout has no sideways scroll and touch-sized rows', page, async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto('about:blank');
    await page.goto(`${BASE}/#/nodes`);
    await page.waitForSelector('#nodes-list tbody tr[data-key]', { timeout: TIMEOUT });
    const wide = await page.evaluate(() => ({
      doc: document.documentElement.scrollWidth, win: window.innerWidth,
      table: document.querySelector('#nodes-list').scrollWidth, box: document.querySelector('#nodes-list').clientWidth,
      row: document.querySelector('#nodes-list tbody tr[data-key]').getBoundingClientRect().height,
    }));
    assert(wide.doc <= wide.win, `page ${wide.doc}px wider than ${wide.win}px`);
    assert(wide.table <= wide.box + 1, `table ${wide.table}px scrolls sideways in ${wide.box}px`);
    assert(wide.row >= 40, `rows ${wide.row}px tall`);
    // A row opens the full page on phones.
    const key = (await rowKeys())[0];
    await page.click(`#nodes-list tr[data-key="${key}"] td:nth-child(3)`);
    await until('the node page', async () => (await hashOf()) === `#/nodes/${key}`);
    await page.waitForSelector('h1.node-name', { timeout: TIMEOUT });
    await page.waitForSelector('svg.qr-svg', { timeout: TIMEOUT });
    const doc = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(doc <= 0, `node page ${doc}px too wide`);
    await page.setViewportSize({ width: 1280, height: 860 });
  });
} finally {
  await finish(browser);
}
