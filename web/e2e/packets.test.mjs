// End-to-end checks of the shell and the Packets page in headless Chromium against a real
// `meshcore-analyzer serve`. Started by crates/meshcore-analyzer/tests/e2e.rs:
//
//   node packets.test.mjs --url http://127.0.0.1:PORT --live-hash <hash> --live-raw <hex> \
//        --xss '<img src=x onerror=alert(1)>'
//
// When the page is ready for live traffic the script prints `@@publish live` on stdout; the
// harness then publishes the live frame over MQTT (an ADVERT whose node name and observer
// name are the XSS string). Prints one `ok`/`not ok` line per check and exits 1 if any
// check failed (screenshots of failures go to $MESHCORE_E2E_ARTIFACTS or the temp dir).

import { connect } from 'node:net';
import {
  args, BASE, XSS, TIMEOUT, EXPECTED_404, dialogs, check, assert, until, watch, finish, launch,
} from './harness.mjs';

const LIVE_HASH = args['live-hash'];
const LIVE_RAW = args['live-raw'];

// A check asks for this one knowing it does not exist (the browser logs its 404).
EXPECTED_404.push('/api/packets/ffffffffffffffff');

/** GET with the path sent byte for byte (fetch would normalise `%2e%2e` away). */
function rawStatus(path) {
  const { hostname, port } = new URL(BASE);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    socket.on('data', (chunk) => { data += chunk; });
    socket.on('end', () => resolve(Number(data.split(' ')[1])));
    socket.on('error', reject);
  });
}

const hashOf = (page) => page.evaluate(() => location.hash);

const browser = await launch();
const ctx = browser.context;
try {
  // ---- static serving ----
  await check('static: index, content types, CSP, SPA fallback, traversal refused', null, async () => {
    const index = await fetch(`${BASE}/`);
    assert(index.status === 200, `/ → ${index.status}`);
    assert(index.headers.get('content-type').startsWith('text/html'), 'index content type');
    const csp = index.headers.get('content-security-policy') || '';
    assert(csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), `CSP: ${csp}`);
    assert(csp.includes('connect-src') && csp.includes('ws:'), `CSP connect-src: ${csp}`);
    assert(index.headers.get('x-content-type-options') === 'nosniff', 'nosniff');
    assert(index.headers.get('cache-control') === 'no-cache', 'index Cache-Control');
    assert(index.headers.has('x-corescope-load-status'), 'load-status header on static answers');
    const js = await fetch(`${BASE}/app/main.js`);
    assert(js.status === 200 && js.headers.get('content-type').startsWith('text/javascript'), `main.js: ${js.status} ${js.headers.get('content-type')}`);
    const css = await fetch(`${BASE}/css/app.css`);
    assert(css.headers.get('content-type').startsWith('text/css'), 'css content type');
    const spa = await fetch(`${BASE}/nodes/some/deep/link`);
    assert(spa.status === 200 && (await spa.text()).includes('id="app"'), 'SPA fallback');
    for (const bad of ['/app/%2e%2e/%2e%2e/Cargo.toml', '/app%5c..%5cx', '/x/%2E%2E/y', '/../Cargo.toml', '/a/..%2fb']) {
      const status = await rawStatus(bad);
      assert(status === 400, `${bad} → ${status}`);
    }
    const missing = await fetch(`${BASE}/app/missing.js`);
    assert(missing.status === 404, `missing module → ${missing.status}`);
    const api = await fetch(`${BASE}/api/no-such-thing`);
    assert(api.status === 404 && api.headers.get('content-type').startsWith('application/json'), 'API 404 stays JSON');
    const e2e = await fetch(`${BASE}/e2e/package.json`);
    assert(!(await e2e.text()).includes('playwright'), 'test files are not served');
  });

  // ---- the Packets page with live traffic ----
  const page = await ctx.newPage();
  watch(page, 'packets');
  await page.goto(`${BASE}/#/packets`);

  await check('packets page loads with rows and a live socket', page, async () => {
    await page.waitForSelector('h1:has-text("Latest packets")', { timeout: TIMEOUT });
    await page.waitForSelector('.data-table tbody tr[data-key]', { timeout: TIMEOUT });
    await until('the live socket', async () => (await page.getAttribute('#ws-state', 'data-state')) === 'open');
    const current = await page.getAttribute('a.nav-link[data-route="packets"]', 'aria-current');
    assert(current === 'page', 'Packets is the current nav link');
  });

  await check('a live packet appears in the feed, names rendered as text', page, async () => {
    assert(LIVE_HASH && LIVE_RAW, 'the harness passes --live-hash and --live-raw');
    console.log('@@publish live');
    const row = page.locator(`.data-table tr[data-key="g:${LIVE_HASH}"]`);
    await row.waitFor({ timeout: TIMEOUT });
    const text = await row.innerText();
    assert(text.includes(XSS), `row shows the node/observer name literally: ${text}`);
    assert(await row.locator('img').count() === 0, 'no <img> element was created from a name');
    assert(await page.locator('main img:not(.leaflet-tile)').count() === 0, 'no <img> anywhere in the page');
    assert(dialogs.length === 0, `a script ran: ${dialogs.join('; ')}`);
  });

  await check('clicking a row opens the detail with the byte breakdown', page, async () => {
    await page.locator(`.data-table tr[data-key="g:${LIVE_HASH}"] td`).nth(2).click();
    const pane = page.locator('.detail-pane');
    await pane.locator('.packet-detail').waitFor({ timeout: TIMEOUT });
    assert((await hashOf(page)).startsWith(`#/packets/${LIVE_HASH}`), `URL holds the selection: ${await hashOf(page)}`);
    const fields = await pane.locator('.field-table tbody tr').allInnerTexts();
    const names = fields.map((f) => f.split('\t')[1]);
    for (const want of ['Header', 'Path length', 'Public key', 'Timestamp', 'Signature', 'Flags', 'Name']) {
      assert(names.includes(want), `field table lacks ${want}: ${names.join(', ')}`);
    }
    const nameRow = fields.find((f) => f.split('\t')[1] === 'Name');
    assert(nameRow.includes(XSS), `advert name shown as text in the breakdown: ${nameRow}`);
    const bytes = await pane.locator('.hexdump .hexbyte').count();
    assert(bytes === LIVE_RAW.length / 2, `hex dump has ${bytes} bytes, frame has ${LIVE_RAW.length / 2}`);
    const sig = await pane.locator('.field-table tr', { hasText: 'Signature' }).innerText();
    assert(sig.includes('valid'), `signature marked valid: ${sig}`);
    assert(await pane.locator('.obs-table tbody tr').count() >= 1, 'observations listed');
    assert(await pane.locator('img').count() === 0, 'no <img> in the detail');
  });

  await check('Esc closes the detail and the URL follows', page, async () => {
    await page.keyboard.press('Escape');
    await until('the pane to close', async () => page.locator('.detail-pane').isHidden());
    assert((await hashOf(page)) === '#/packets', `URL after close: ${await hashOf(page)}`);
  });

  await check('keyboard: arrow keys move between rows, Enter opens', page, async () => {
    const first = page.locator('.data-table tbody tr[data-key]').first();
    await first.focus();
    await page.keyboard.press('ArrowDown');
    const focusedIndex = await page.evaluate(() => document.activeElement?.dataset?.index);
    assert(focusedIndex === '1', `focus moved to row 1, is on ${focusedIndex}`);
    await page.keyboard.press('Enter');
    await page.locator('.detail-pane .packet-detail').waitFor({ timeout: TIMEOUT });
    await page.keyboard.press('Escape');
  });

  await check('filter expression filters rows and is kept in the URL', page, async () => {
    await page.fill('#filter-expr', 'type == ADVERT');
    await until('the URL to hold the filter', async () => (await hashOf(page)).includes('filter=type'));
    await page.waitForTimeout(200);
    const types = await page.locator('.data-table tbody tr[data-key] .type-badge').allInnerTexts();
    assert(types.length > 0, 'some adverts are shown');
    assert(types.every((t) => t === 'Advert'), `only adverts: ${[...new Set(types)].join(', ')}`);
    assert(await page.locator('.showing').innerText().then((t) => /Showing \d+ of \d+/.test(t)), 'counter shown');
    await page.fill('#filter-expr', `payload.name == "${XSS.replace(/"/g, '\\"')}"`);
    await until('one row', async () => (await page.locator('.data-table tbody tr[data-key]').count()) === 1);
    await page.selectOption('select[aria-label="Saved filters"]', 'use:type == GRP_TXT');
    await until('the saved filter applied', async () => (await page.inputValue('#filter-expr')) === 'type == GRP_TXT'
      && (await hashOf(page)).includes('GRP_TXT'));
    await page.fill('#filter-expr', 'snr >');
    await until('an error message', async () => (await page.locator('#filter-error').innerText()).length > 0);
    assert(await page.locator('#filter-expr.invalid').count() === 1, 'input marked invalid');
    assert((await page.getAttribute('#filter-expr', 'aria-invalid')) === 'true', 'aria-invalid');
    await page.fill('#filter-expr', '');
    await until('the filter to clear', async () => !(await hashOf(page)).includes('filter='));
  });

  await check('filter autocomplete suggests fields, operators and values', page, async () => {
    const input = page.locator('#filter-expr');
    await input.fill('');
    await input.pressSequentially('ty');
    await page.locator('.autocomplete [role="option"]', { hasText: 'type' }).first().waitFor({ timeout: TIMEOUT });
    await input.press('ArrowDown');
    await input.press('Enter');
    assert((await input.inputValue()) === 'type ', `after accepting a field: "${await input.inputValue()}"`);
    await input.pressSequentially('== AD');
    await page.locator('.autocomplete [role="option"]', { hasText: 'ADVERT' }).waitFor({ timeout: TIMEOUT });
    await input.press('ArrowDown');
    await input.press('Tab');
    assert((await input.inputValue()) === 'type == ADVERT ', `after accepting a value: "${await input.inputValue()}"`);
    await input.press('Escape');
    await input.fill('');
    await until('the filter to clear', async () => !(await hashOf(page)).includes('filter='));
  });

  await check('sorting by a column header is kept in the URL', page, async () => {
    await page.locator('.data-table th button', { hasText: 'Size' }).click();
    await until('sort in the URL', async () => (await hashOf(page)).includes('sort=size'));
    const sizes = (await page.locator('.data-table tbody tr[data-key] td.num').evaluateAll(
      (tds) => tds.filter((td, i) => i % 3 === 0).map((td) => Number(td.textContent))));
    const sorted = [...sizes].sort((a, b) => b - a);
    assert(JSON.stringify(sizes) === JSON.stringify(sorted), `sizes descending: ${sizes.slice(0, 8)}`);
    assert((await page.getAttribute('.data-table th[aria-sort="descending"]', 'aria-sort')) === 'descending', 'aria-sort');
  });

  await check('columns resize by dragging and the width is remembered', page, async () => {
    const th = page.locator('.data-table th', { hasText: 'Observer' });
    const before = (await th.boundingBox()).width;
    const handle = (await th.locator('.col-resize').boundingBox());
    await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
    await page.mouse.down();
    await page.mouse.move(handle.x + 80, handle.y + handle.height / 2, { steps: 5 });
    await page.mouse.up();
    const after = (await th.boundingBox()).width;
    assert(after > before + 50, `width ${before} → ${after}`);
    const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('meshcore-pkt-col-widths') || '{}'));
    assert(saved.observer > 0, `stored widths: ${JSON.stringify(saved)}`);
  });

  await check('group by hash off lists observations, on again groups', page, async () => {
    await page.uncheck('#group-by-hash');
    await until('ungrouped rows', async () => (await page.locator('.data-table tbody tr[data-key^="o:"]').count()) > 0);
    assert((await hashOf(page)).includes('group=0'), `URL: ${await hashOf(page)}`);
    await page.check('#group-by-hash');
    await until('grouped rows', async () => (await page.locator('.data-table tbody tr[data-key^="g:"]').count()) > 0);
    assert(!(await hashOf(page)).includes('group='), `URL: ${await hashOf(page)}`);
  });

  await check('paste-a-frame decoder decodes via POST /api/decode', page, async () => {
    await page.getByRole('button', { name: 'Decode…' }).click();
    const dialog = page.locator('dialog.decoder');
    await dialog.waitFor();
    await dialog.locator('textarea').fill(LIVE_RAW);
    await dialog.locator('textarea').press('Control+Enter');
    await dialog.locator('.decode-result h3', { hasText: 'Payload' }).waitFor({ timeout: TIMEOUT });
    const text = await dialog.innerText();
    assert(text.includes('ADVERT'), 'payload type shown');
    assert(text.includes('Valid'), 'signature validity shown');
    assert(text.includes(XSS), 'decoded name shown as text');
    assert(await dialog.locator('img').count() === 0, 'no <img> in the decoder');
    await page.keyboard.press('Escape');
    await until('the dialog to close', async () => (await page.locator('dialog.decoder').count()) === 0);
  });

  await check('theme switch toggles dark mode', page, async () => {
    const before = await page.evaluate(() => document.documentElement.getAttribute('data-theme'));
    await page.click('#theme-switch');
    const after = await page.evaluate(() => document.documentElement.getAttribute('data-theme'));
    assert(after && after !== before, `data-theme ${before} → ${after}`);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert(after !== 'dark' || bg === 'rgb(15, 20, 27)', `dark background: ${bg}`);
  });

  // ---- path hops as node names ----
  /** What a hop prefix names among the known relays (repeaters, rooms, unknown roles). */
  const nodesBody = await (await fetch(`${BASE}/api/nodes?limit=2000`)).json();
  const relayKeys = nodesBody.nodes.filter((n) => !n.role || ['repeater', 'room', 'room_server'].includes(String(n.role).toLowerCase()))
    .map((n) => ({ key: n.public_key.toLowerCase(), name: n.name }));
  const candidatesOf = (hex) => relayKeys.filter((n) => n.key.startsWith(hex.toLowerCase()));
  const chipsOf = (p) => p.locator('.data-table tbody .hop[data-hop]').evaluateAll((els) => els.map((e) => ({
    hex: e.dataset.hop, cls: e.className, key: e.dataset.key || '', n: Number(e.dataset.candidates || 0), text: e.textContent, title: e.title,
  })));

  await check('path hops show the node name when the prefix names one known relay', page, async () => {
    await page.goto(`${BASE}/#/packets?timeWindow=0`);
    await page.waitForSelector('.data-table tbody tr[data-key]', { timeout: TIMEOUT });
    await until('named hops', async () => (await page.locator('.data-table tbody .hop-named').count()) > 0);
    const chips = await chipsOf(page);
    let named = 0;
    let ambiguous = 0;
    for (const c of chips) {
      const cands = candidatesOf(c.hex);
      if (c.cls.includes('hop-named')) {
        named += 1;
        assert(cands.length === 1 && cands[0].key === c.key, `${c.hex} named ${c.text} but candidates are ${cands.map((x) => x.name).join(', ')}`);
        assert(c.text === (cands[0].name || `${cands[0].key.slice(0, 8)}…`), `${c.hex} shows ${c.text}, node is ${cands[0].name}`);
        assert(c.title.includes(c.hex), `tooltip keeps the hex: ${c.title}`);
      } else if (c.cls.includes('hop-ambiguous')) {
        ambiguous += 1;
        assert(cands.length > 1 && c.n === cands.length, `${c.hex} marked ambiguous with ${c.n}, relays with that prefix: ${cands.length}`);
        assert(c.text.startsWith(c.hex) && c.text.includes(`⚠${cands.length}`), `ambiguous hop shows hex and marker: ${c.text}`);
        const listed = cands.filter((x) => x.name && c.title.includes(x.name)).length;
        assert(listed >= Math.min(cands.filter((x) => x.name).length, 12), `tooltip lists the candidates: ${c.title}`);
      } else {
        assert(cands.length === 0, `${c.hex} shown as bare hex but ${cands.length} relays match`);
      }
    }
    assert(named > 0, 'at least one hop is named');
    console.log(`#   hops checked: ${chips.length} (${named} named, ${ambiguous} ambiguous)`);
    // The detail pane links a named hop to its node page.
    const row = page.locator('.data-table tbody tr[data-key]', { has: page.locator('.hop-named') }).first();
    await row.locator('td').nth(2).click();
    const link = page.locator('.detail-pane .facts a.hop-named').first();
    await link.waitFor({ timeout: TIMEOUT });
    assert((await link.getAttribute('href')).startsWith('#/nodes/'), 'named hop links to the node');
    await page.keyboard.press('Escape');
    // Hex paths: raw prefixes everywhere, remembered.
    await page.check('#hex-paths');
    await until('no names', async () => (await page.locator('.data-table tbody .hop-named').count()) === 0);
    assert(await page.evaluate(() => localStorage.getItem('meshcore-hex-paths')) === 'true', 'preference stored');
    await page.uncheck('#hex-paths');
    await until('names again', async () => (await page.locator('.data-table tbody .hop-named').count()) > 0);
  });

  await check('observer multi-select filters the list and round-trips through the URL', page, async () => {
    await page.goto(`${BASE}/#/packets?timeWindow=0`);
    await page.waitForSelector('.data-table tbody tr[data-key]', { timeout: TIMEOUT });
    await page.click('.observer-menu > summary');
    // Two observers the menu offers (the API's list, plus observers first heard live).
    await until('observers in the menu', async () => (await page.locator('.observer-menu .observer-options input').count()) >= 2);
    const [a, b] = (await page.locator('.observer-menu .observer-options input').evaluateAll((els) => els.map((e) => e.value))).map((id) => ({ id }));
    const request = page.waitForRequest((r) => r.url().includes('/api/packets?') && decodeURIComponent(r.url()).includes(`observer=${a.id},${b.id}`), { timeout: TIMEOUT })
      .catch((e) => e);
    await page.check(`.observer-menu input[value="${a.id}"]`);
    await page.check(`.observer-menu input[value="${b.id}"]`);
    assert(!((await request) instanceof Error), 'the list was fetched with both observers');
    await until('both in the URL', async () => decodeURIComponent(await hashOf(page)).includes(`observer=${a.id},${b.id}`));
    assert((await page.locator('.observer-menu > summary').innerText()).includes('Observers (2)'), 'summary counts the observers');
    // Cold load restores the choice.
    await page.goto(`${BASE}/#/packets?timeWindow=0&observer=${a.id},${b.id}`);
    await page.waitForSelector('.data-table tbody tr[data-key]', { timeout: TIMEOUT });
    await until('checkboxes restored', async () => (await page.locator('.observer-menu .observer-options input:checked').count()) === 2);
    assert(!(await page.isChecked('.observer-menu .all-observers input')), '"All observers" unticked');
    await page.click('.observer-menu > summary');
    await page.check('.observer-menu .all-observers input');
    await until('filter cleared', async () => !(await hashOf(page)).includes('observer='));
    assert((await page.locator('.observer-menu > summary').innerText()).includes('All observers'), 'summary says all');
    await page.keyboard.press('Escape');
  });

  await check('row context menu: right click, keyboard, copy hash, filter by type and observer', page, async () => {
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
    await page.goto(`${BASE}/#/packets?timeWindow=0`);
    const row = page.locator('.data-table tbody tr[data-key^="g:"]').nth(1);
    await row.waitFor({ timeout: TIMEOUT });
    const key = await row.getAttribute('data-key');
    const hash = key.slice(2);
    await row.locator('td').nth(3).click({ button: 'right' });
    const menu = page.locator('.context-menu[role="menu"]');
    await menu.waitFor({ timeout: TIMEOUT });
    assert(await page.locator('.detail-pane').isHidden(), 'right click does not open the detail');
    const items = await menu.locator('[role="menuitem"]').allInnerTexts();
    for (const want of ['Copy hash', 'Copy raw hex', 'Open packet page']) assert(items.includes(want), `menu has ${want}: ${items.join(' | ')}`);
    assert(items.some((t) => t.startsWith('Filter by observer')), 'menu filters by observer');
    assert(await page.evaluate(() => document.activeElement?.getAttribute('role')) === 'menuitem', 'focus in the menu');
    await page.keyboard.press('ArrowDown');
    assert((await page.evaluate(() => document.activeElement?.textContent)) === items[1], 'ArrowDown moves to the next item');
    await page.keyboard.press('Escape');
    await until('menu closed', async () => (await menu.count()) === 0);
    assert((await page.evaluate(() => document.activeElement?.dataset?.key)) === key, 'focus back on the row');
    assert(await page.locator('.detail-pane').isHidden(), 'Escape closed only the menu');
    // The keyboard's menu key on the focused row, then Copy hash.
    await page.keyboard.press('ContextMenu');
    await menu.waitFor({ timeout: TIMEOUT });
    await page.keyboard.press('Enter');
    await until('the hash on the clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === hash);
    // Shift+F10 too, then "Only <type> packets".
    await page.locator(`.data-table tbody tr[data-key="${key}"]`).focus();
    await page.keyboard.press('Shift+F10');
    await menu.waitFor({ timeout: TIMEOUT });
    const typeItem = menu.locator('[data-action="filter-type"]');
    const label = (await typeItem.innerText()).replace(/^Only | packets$/g, '');
    await typeItem.click();
    await until('type in the URL', async () => /[?&]type=\d+/.test(await hashOf(page)));
    const types = await page.locator('.data-table tbody tr[data-key] .type-badge').allInnerTexts();
    assert(types.length > 0 && types.every((t) => t === label), `only ${label}: ${[...new Set(types)].join(', ')}`);
    // Filter by observer from the menu.
    await page.locator('.data-table tbody tr[data-key]').first().locator('td').nth(3).click({ button: 'right' });
    await menu.waitFor({ timeout: TIMEOUT });
    await menu.locator('[data-action="filter-observer"]').click();
    await until('observer in the URL', async () => /[?&]observer=[0-9A-Fa-f]{8,}/.test(await hashOf(page)));
    assert((await page.locator('.observer-menu > summary').innerText()).startsWith('Observer: '), 'observer menu shows the choice');
  });

  await check('row context menu: a long press on a touch screen opens it without selecting', page, async () => {
    await page.goto(`${BASE}/#/packets?timeWindow=0`);
    const row = page.locator('.data-table tbody tr[data-key]').first();
    await row.waitFor({ timeout: TIMEOUT });
    const box = await row.locator('td').nth(3).boundingBox();
    const x = box.x + box.width / 2;
    const y = box.y + box.height / 2;
    await row.locator('td').nth(3).evaluate((td, [px, py]) => {
      td.dispatchEvent(new PointerEvent('pointerdown', { pointerType: 'touch', clientX: px, clientY: py, bubbles: true, isPrimary: true }));
    }, [x, y]);
    await page.waitForTimeout(750);
    await row.locator('td').nth(3).evaluate((td, [px, py]) => {
      td.dispatchEvent(new PointerEvent('pointerup', { pointerType: 'touch', clientX: px, clientY: py, bubbles: true, isPrimary: true }));
      td.dispatchEvent(new MouseEvent('click', { clientX: px, clientY: py, bubbles: true }));
    }, [x, y]);
    await page.locator('.context-menu[role="menu"]').waitFor({ timeout: TIMEOUT });
    assert(await page.locator('.detail-pane').isHidden(), 'the click ending the long press did not open the detail');
    await page.mouse.click(5, 5);
    await until('menu closed by a click outside', async () => (await page.locator('.context-menu').count()) === 0);
  });
  await page.close();

  // ---- deep links on a cold load ----
  const deep = await ctx.newPage();
  watch(deep, 'deep-link');
  await check('deep link restores selection, filter and window', deep, async () => {
    await deep.goto(`${BASE}/#/packets/${LIVE_HASH}?timeWindow=60&filter=${encodeURIComponent('type == ADVERT')}`);
    await deep.locator('.detail-pane .packet-detail').waitFor({ timeout: TIMEOUT });
    assert((await deep.inputValue('#filter-expr')) === 'type == ADVERT', 'filter restored');
    assert((await deep.locator('select[aria-label="Time window"]').inputValue()) === '60', 'window restored');
    const hashText = await deep.locator('.detail-hash code').innerText();
    assert(hashText === LIVE_HASH, `selected packet: ${hashText}`);
    const selected = await deep.locator('.data-table tr[aria-selected="true"]').getAttribute('data-key');
    assert(selected === `g:${LIVE_HASH}`, `row selected: ${selected}`);
  });
  await check('standalone packet page', deep, async () => {
    await deep.goto(`${BASE}/#/packet/${LIVE_HASH}`);
    await deep.locator('.standalone .packet-detail').waitFor({ timeout: TIMEOUT });
    assert(await deep.locator('a.back-link').count() === 1, 'back link');
    await deep.goto(`${BASE}/#/packet/ffffffffffffffff`);
    await deep.locator('.standalone [role="alert"]', { hasText: 'not found' }).waitFor({ timeout: TIMEOUT });
  });
  await check('unknown routes show a placeholder, #/ goes home', deep, async () => {
    await deep.goto(`${BASE}/#/`);
    await until('redirect to #/home', async () => (await hashOf(deep)) === '#/home');
    await deep.goto(`${BASE}/#/no-such-page`);
    await deep.locator('h1', { hasText: 'Page' }).waitFor({ timeout: TIMEOUT });
  });
  await deep.close();

  // ---- warm-up banner (the server's answers are intercepted to look like a startup load) ----
  const warm = await ctx.newPage();
  watch(warm, 'warm-up');
  await check('warm-up banner while the server loads, gone when ready', warm, async () => {
    let ready = false;
    await warm.route('**/api/stats', async (route) => {
      const response = await route.fetch();
      await route.fulfill({ response, headers: { ...response.headers(), 'x-corescope-load-status': ready ? 'ready' : 'loading; progress=10' } });
    });
    await warm.route('**/api/healthz', async (route) => {
      await route.fulfill({
        contentType: 'application/json',
        body: JSON.stringify(ready ? { ready: true, loadState: { loadComplete: true, backgroundLoadComplete: true } }
          : { ready: false, loadState: { loadComplete: false, backgroundLoadComplete: false, backgroundLoadProgress: 42 } }),
      });
    });
    await warm.goto(`${BASE}/#/packets`);
    const banner = warm.locator('#load-banner');
    await banner.waitFor({ state: 'visible', timeout: TIMEOUT });
    const text = await banner.innerText();
    assert(text.includes('Loading historical data') && text.includes('42'), `banner: ${text}`);
    assert((await banner.getAttribute('role')) === 'status', 'banner is a status region');
    ready = true;
    await banner.waitFor({ state: 'hidden', timeout: TIMEOUT });
  });
  await warm.close();

  // ---- phone layout ----
  const phone = await ctx.newPage();
  watch(phone, 'phone');
  await phone.setViewportSize({ width: 390, height: 844 });
  await check('phone: bottom navigation, filters collapsed, rows are touch-sized', phone, async () => {
    await phone.goto(`${BASE}/#/packets`);
    await phone.waitForSelector('.data-table tbody tr[data-key]', { timeout: TIMEOUT });
    assert(await phone.locator('#bottom-nav').isVisible(), 'bottom nav visible');
    assert(!(await phone.locator('#nav-links').isVisible()), 'top links hidden');
    assert(!(await phone.locator('#packet-filters').isVisible()), 'filters collapsed');
    await phone.click('.filters-toggle');
    assert(await phone.locator('#packet-filters').isVisible(), 'filters open');
    await until('touch-sized rows', async () => {
      const box = await phone.locator('.data-table tbody tr[data-key]').first().boundingBox();
      return box && box.height >= 40;
    });
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert(overflow <= 0, `page scrolls sideways by ${overflow}px`);
  });
  await phone.close();
} catch (e) {
  await check('the script ran to its end', null, () => { throw e; });
}
// The last check: no console errors, and no script from mesh data ran (no dialog).
await finish(browser);
