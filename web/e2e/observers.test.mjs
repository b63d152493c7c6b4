// End-to-end checks of the Observers pages (`#/observers`, `#/observers/<id>`) in headless
// Chromium. Run by crates/meshcore-analyzer/tests/e2e.rs after packets.test.mjs, so the
// observer named with the XSS string (id E2E0…01, region SEA) exists. See harness.mjs.
//
//   node observers.test.mjs --url http://127.0.0.1:PORT --xss '<img src=x onerror=alert(1)>'

import { BASE, XSS, EXPECTED_404, check, assert, until, watch, finish, launch, TIMEOUT } from './harness.mjs';

const XSS_OBSERVER = 'E2E0000000000000000000000000000000000000000000000000000000000001';
const MISSING = 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF';
EXPECTED_404.push(`/api/observers/${MISSING}`);

const getJson = async (path) => {
  const r = await fetch(`${BASE}${path}`);
  assert(r.ok, `${path} → ${r.status}`);
  return r.json();
};
const hashOf = (page) => page.evaluate(() => location.hash);
const rowKeys = (page) => page.locator('.observers-page .data-table tbody tr[data-key]')
  .evaluateAll((trs) => trs.map((tr) => tr.dataset.key));
/** The text of column `label` in every visible row, in order. */
const columnTexts = (page, label) => page.evaluate((name) => {
  const heads = [...document.querySelectorAll('.observers-page .data-table thead th')];
  const i = heads.findIndex((th) => th.textContent.replace(/[▲▼]/g, '').trim() === name);
  if (i < 0) return null;
  return [...document.querySelectorAll('.observers-page .data-table tbody tr[data-key]')].map((tr) => tr.children[i]?.textContent.trim());
}, label);
const number = (t) => Number(String(t).replace(/[^0-9.-]/g, ''));

const browser = await launch();
const page = await browser.context.newPage();
watch(page, 'observers');

const api = await getJson('/api/observers');
const observers = api.observers;
const regions = Object.keys(await getJson('/api/config/regions'));
// An observer with status metadata and RF metrics (the simulated ones report both).
const withMeta = observers.find((o) => o.model && o.firmware && o.id !== XSS_OBSERVER);

await check('observers: the list shows every observer the API lists', page, async () => {
  assert(observers.length >= 2, `the API lists ${observers.length} observers`);
  await page.goto(`${BASE}/#/observers`);
  await page.waitForSelector('.observers-page .data-table tbody tr[data-key]', { timeout: TIMEOUT });
  await until('all rows', async () => (await rowKeys(page)).length === observers.length);
  const keys = new Set(await rowKeys(page));
  for (const o of observers) assert(keys.has(o.id), `no row for ${o.id}`);
  assert((await page.getAttribute('a.nav-link[data-route="observers"]', 'aria-current')) === 'page', 'Observers is the current nav link');
  // The status chips count every observer once.
  const counts = await page.locator('.obs-summary .status-chip strong').allInnerTexts();
  assert(counts.length === 3 && counts.map(Number).reduce((a, b) => a + b, 0) === observers.length, `status counts ${counts}`);
  // Metadata from the API is on the row.
  const row = page.locator(`.observers-page tr[data-key="${withMeta.id}"]`);
  const text = await row.innerText();
  assert(text.includes(withMeta.name), `row shows the name: ${text}`);
  assert(text.includes(withMeta.model), `row shows the model ${withMeta.model}: ${text}`);
  assert(text.includes(Number(withMeta.packet_count).toLocaleString('en-US')) || text.includes(String(withMeta.packet_count)), `row shows the packet count ${withMeta.packet_count}`);
  assert(/Online|Stale|Offline/.test(await row.locator('.obs-status').getAttribute('title')), 'status has a tooltip');
  // The MQTT sources panel lists the server's source.
  await page.locator('.mqtt-table tbody tr').first().waitFor({ timeout: TIMEOUT });
});

await check('observers: the XSS-named observer renders as text', page, async () => {
  const link = page.locator(`.observers-page tr[data-key="${XSS_OBSERVER}"] a.obs-link`);
  await link.waitFor({ timeout: TIMEOUT });
  assert((await link.innerText()) === XSS, `name shown literally: ${await link.innerText()}`);
  assert(await page.locator('main img:not(.leaflet-tile)').count() === 0, 'no <img> element in the page');
});

await check('observers: sorting by a column round-trips through the URL', page, async () => {
  await page.locator('.observers-page th button', { hasText: 'Packets' }).click();
  await until('sort in the URL', async () => (await hashOf(page)).includes('sort=packets'));
  let values = (await columnTexts(page, 'Packets')).map(number);
  assert(values.every((v, i) => i === 0 || values[i - 1] >= v), `descending: ${values}`);
  await page.locator('.observers-page th button', { hasText: 'Packets' }).click();
  await until('ascending in the URL', async () => (await hashOf(page)).includes('sort=packets%3Aasc') || (await hashOf(page)).includes('sort=packets:asc'));
  // Cold load of the sorted URL.
  await page.goto(`${BASE}/#/observers?sort=name:asc`);
  await page.waitForSelector('.observers-page .data-table tbody tr[data-key]', { timeout: TIMEOUT });
  await until('all rows', async () => (await rowKeys(page)).length === observers.length);
  assert((await page.getAttribute('.observers-page th[aria-sort="ascending"]', 'aria-sort')) === 'ascending', 'aria-sort ascending');
  assert((await page.locator('.observers-page th[aria-sort="ascending"]').innerText()).includes('Name'), 'Name is the sorted column');
  const names = await page.locator('.observers-page tbody a.obs-link').allInnerTexts();
  const sorted = [...names].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  assert(JSON.stringify(names) === JSON.stringify(sorted), `names ascending: ${names.join(' | ')}`);
});

await check('observers: region filter round-trips through the URL', page, async () => {
  assert(regions.length >= 2, `the test database has ${regions.length} regions`);
  const region = 'SEA';
  const expected = observers.filter((o) => String(o.iata || '').toUpperCase() === region).map((o) => o.id).sort();
  assert(expected.length > 0 && expected.length < observers.length, `observers in ${region}: ${expected.length}`);
  await page.goto(`${BASE}/#/observers`);
  await page.locator('.region-filter [data-region="SEA"]').click();
  await until('region in the URL', async () => (await hashOf(page)).includes('region=SEA'));
  await until('filtered rows', async () => JSON.stringify((await rowKeys(page)).sort()) === JSON.stringify(expected));
  assert((await page.getAttribute('.region-filter [data-region="SEA"]', 'aria-pressed')) === 'true', 'pill pressed');
  // Cold load with the region (and a status filter) in the URL.
  await page.goto(`${BASE}/#/observers?region=SEA&status=online`);
  await page.waitForSelector('.region-filter [data-region="SEA"][aria-pressed="true"]', { timeout: TIMEOUT });
  const online = await page.locator('.obs-summary [data-status="online"]').getAttribute('aria-pressed');
  assert(online === 'true', 'status chip restored');
  const keys = await rowKeys(page);
  assert(keys.length > 0 && keys.every((k) => expected.includes(k)), `rows after a cold load: ${keys}`);
  const statuses = await page.locator('.observers-page tbody .obs-status').evaluateAll((els) => els.map((e) => e.className));
  assert(statuses.every((c) => c.includes('st-online')), `only online rows: ${statuses}`);
  // "All" clears it.
  await page.locator('.region-filter [data-region=""]').click();
  await until('region gone from the URL', async () => !(await hashOf(page)).includes('region='));
});

await check('observers: a row opens the observer detail', page, async () => {
  await page.goto(`${BASE}/#/observers`);
  const row = page.locator(`.observers-page tr[data-key="${withMeta.id}"]`);
  await row.waitFor({ timeout: TIMEOUT });
  await row.locator('td').first().click();
  await until('the detail URL', async () => (await hashOf(page)).startsWith(`#/observers/${withMeta.id}`));
  await page.locator('.observer-detail-page h1', { hasText: withMeta.name }).waitFor({ timeout: TIMEOUT });
  // Back, then the keyboard: Enter on a focused row.
  await page.goBack();
  const again = page.locator(`.observers-page tr[data-key="${withMeta.id}"]`);
  await again.waitFor({ timeout: TIMEOUT });
  await again.focus();
  await page.keyboard.press('Enter');
  await until('the detail URL again', async () => (await hashOf(page)).startsWith(`#/observers/${withMeta.id}`));
});

await check('observer detail: a deep link shows metadata, charts and recent packets', page, async () => {
  await page.goto(`${BASE}/#/observers/${withMeta.id}?days=1`);
  await page.locator('.observer-detail-page h1', { hasText: withMeta.name }).waitFor({ timeout: TIMEOUT });
  assert((await page.locator('#od-range').inputValue()) === '1', 'range restored from the URL');
  const cards = await page.locator('.od-cards').innerText();
  for (const want of [withMeta.model, withMeta.iata, withMeta.client_version].filter(Boolean)) {
    assert(cards.includes(want), `cards show ${want}: ${cards.replace(/\n/g, ' ')}`);
  }
  assert(cards.includes('MHz'), 'radio settings shown');
  // uPlot charts: packets per hour and the SNR histogram at least.
  await page.locator('.chart-card[data-chart="rate"] .chart-host canvas').waitFor({ timeout: TIMEOUT });
  await page.locator('.chart-card[data-chart="snr"] .chart-host canvas').waitFor({ timeout: TIMEOUT });
  const label = await page.getAttribute('.chart-card[data-chart="rate"] .chart-host', 'aria-label');
  assert(/Packets per hour\. Packets\/h: latest/.test(label || ''), `chart described for screen readers: ${label}`);
  const canvases = await page.locator('.od-charts canvas').count();
  assert(canvases >= 3, `${canvases} chart canvases`);
  // Recent packets link into Packets filtered by this observer.
  const rows = page.locator('.od-recent-table tbody tr');
  await rows.first().waitFor({ timeout: TIMEOUT });
  const href = await rows.first().locator('a[href^="#/packets/"]').getAttribute('href');
  assert(href.includes(`observer=${withMeta.id}`), `packet link filters by the observer: ${href}`);
  // The range select writes the URL.
  await page.selectOption('#od-range', '30');
  await until('days in the URL', async () => (await hashOf(page)).includes('days=30'));
  await page.locator('.chart-card[data-chart="rate"] .chart-host canvas').waitFor({ timeout: TIMEOUT });
});

await check('observer detail: "packets heard" opens Packets filtered by this observer', page, async () => {
  await page.locator('.od-actions a', { hasText: 'Packets heard' }).click();
  await until('the packets URL', async () => (await hashOf(page)).startsWith('#/packets') && (await hashOf(page)).includes(`observer=${withMeta.id}`));
  await page.waitForSelector('.data-table tbody tr[data-key]', { timeout: TIMEOUT });
  const summary = await page.locator('.observer-menu > summary').innerText();
  assert(summary.includes(withMeta.name), `observer filter shown: ${summary}`);
});

await check('observer detail: the XSS-named observer and an unknown id', page, async () => {
  await page.goto(`${BASE}/#/observers/${XSS_OBSERVER}`);
  const h1 = page.locator('.observer-detail-page h1');
  await until('the name', async () => (await h1.innerText()) === XSS);
  await page.locator('.od-recent-table, .od-recent p').first().waitFor({ timeout: TIMEOUT });
  assert(await page.locator('main img:not(.leaflet-tile)').count() === 0, 'no <img> element in the page');
  assert((await page.title()).includes(XSS), 'title holds the name as text');
  await page.goto(`${BASE}/#/observers/${MISSING}`);
  await page.locator('.observer-detail-page [role="alert"]', { hasText: 'Observer not found' }).waitFor({ timeout: TIMEOUT });
});

await check('observers: dark theme renders the charts again', page, async () => {
  await page.goto(`${BASE}/#/observers/${withMeta.id}?days=1`);
  await page.locator('.chart-card[data-chart="rate"] canvas').waitFor({ timeout: TIMEOUT });
  const before = await page.evaluate(() => document.documentElement.getAttribute('data-theme'));
  await page.click('#theme-switch');
  await until('the theme to change', async () => (await page.evaluate(() => document.documentElement.getAttribute('data-theme'))) !== before);
  await page.waitForTimeout(300);
  assert(await page.locator('.chart-card[data-chart="rate"] canvas').count() >= 1, 'chart still drawn');
  await page.click('#theme-switch');
});
await page.close();

const phone = await browser.context.newPage();
watch(phone, 'observers-phone');
await phone.setViewportSize({ width: 390, height: 844 });
await check('observers: phone layout has no sideways scroll and touch-sized controls', phone, async () => {
  await phone.goto(`${BASE}/#/observers`);
  await phone.waitForSelector('.observers-page .data-table tbody tr[data-key]', { timeout: TIMEOUT });
  let overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `list scrolls sideways by ${overflow}px`);
  const chip = await phone.locator('.obs-summary .status-chip').first().boundingBox();
  assert(chip.height >= 40, `status chip ${chip.height}px high`);
  const row = await phone.locator('.observers-page .data-table tbody tr[data-key]').first().boundingBox();
  assert(row.height >= 40, `row ${row.height}px high`);
  assert(await phone.locator('#bottom-nav').isVisible(), 'bottom nav visible');
  await phone.goto(`${BASE}/#/observers/${withMeta.id}?days=1`);
  await phone.locator('.chart-card[data-chart="rate"] canvas').waitFor({ timeout: TIMEOUT });
  await phone.locator('.od-recent-table, .od-recent p').first().waitFor({ timeout: TIMEOUT });
  overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, `detail scrolls sideways by ${overflow}px`);
  const canvas = await phone.locator('.chart-card[data-chart="rate"] canvas').boundingBox();
  assert(canvas.x >= 0 && canvas.x + canvas.width <= 390, `chart fits the screen: ${canvas.x}+${canvas.width}`);
});
await phone.close();

await finish(browser);
