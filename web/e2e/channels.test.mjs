// End-to-end checks of the Channels page (`#/channels`, `#/channels/<channel>`), run by
// crates/meshcore-analyzer/tests/e2e.rs after packets.test.mjs against the same server:
//
//   node channels.test.mjs --url http://127.0.0.1:PORT [--xss '<img src=x onerror=alert(1)>']
//
// The database is simulated traffic: "Public" decrypts on the server, the simulator's hashtag
// channels (#test #chat #wardriving #bot #seattle) do not (the server has no hashtag keys by
// default), so they are listed as `enc_XX`. The checks add one of them as a key in the
// browser and expect the page to decrypt it there, with no request carrying the key.
// Live messages are injected into the page's own WebSocket (Playwright's routeWebSocket,
// still connected to the server), so the live path is tested without a broker.

import { readFileSync } from 'node:fs';
import { createCipheriv, createHmac } from 'node:crypto';
import { BASE, XSS, check, assert, until, watch, finish, launch, TIMEOUT } from './harness.mjs';
import {
  hashtagKey, channelHash, hashHex, bytesToHex, decryptPacket,
} from '../app/components/channel-crypto.js';

const HASHTAGS = ['#test', '#chat', '#wardriving', '#bot', '#seattle'];
const MARKUP = '<img src=x onerror=alert(1)><b>bold</b>';
const VECTORS = (() => {
  for (const path of ['../../../shared/spec/vectors.json', '../../shared/spec/vectors.json']) {
    try { return JSON.parse(readFileSync(new URL(path, import.meta.url))); } catch { /* next */ }
  }
  return null;
})();

const getJson = async (path) => {
  const r = await fetch(`${BASE}${path}`);
  if (!r.ok) throw new Error(`${path} → ${r.status}`);
  return r.json();
};
const hashOf = (page) => page.evaluate(() => location.hash);

/** A GRP_TXT frame as the server would broadcast it (not decrypted there). */
function groupTextFrame(key, text, id) {
  const body = Buffer.from(text, 'utf8');
  const plain = Buffer.alloc(Math.ceil((5 + body.length + 1) / 16) * 16);
  plain.writeUInt32LE(Math.floor(Date.now() / 1000), 0);
  body.copy(plain, 5);
  const cipher = createCipheriv('aes-128-ecb', Buffer.from(key), null);
  cipher.setAutoPadding(false);
  const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
  const secret = Buffer.alloc(32);
  Buffer.from(key).copy(secret);
  const mac = createHmac('sha256', secret).update(ct).digest().subarray(0, 2);
  const hash = channelHash(key);
  const raw = `1500${hashHex(hash)}${mac.toString('hex')}${ct.toString('hex')}`.toUpperCase();
  return liveMessage({
    id, raw, payload_type: 5,
    decoded: { type: 'GRP_TXT', mac: mac.toString('hex'), encryptedData: ct.toString('hex'), channelHash: hash, channelHashHex: hashHex(hash), decryptionStatus: 'decryption_failed' },
  });
}

/** A `{type:"packet"}` WebSocket message in the server's shape. */
let liveCounter = 0;
function liveMessage({ id, raw, payload_type, decoded, observer = 'E2E Observer' }) {
  liveCounter += 1;
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const flat = {
    id, raw_hex: raw, hash: `e2e${String(Date.now()).slice(-9)}${String(liveCounter).padStart(4, '0')}`.slice(0, 16),
    first_seen: now, timestamp: now, route_type: 1, payload_type, decoded_json: JSON.stringify(decoded),
    observer_id: 'E2E0000000000000000000000000000000000000000000000000000000000009', observer_name: observer,
    snr: 5.5, rssi: -90, path_json: '["AB"]', direction: 'rx', observation_count: 1,
  };
  return { type: 'packet', data: { ...flat, decoded: { header: { payloadTypeName: decoded.type }, payload: decoded }, packet: flat } };
}

// ---- what the server has ----
const list = (await getJson('/api/channels?includeEncrypted=true')).channels || [];
const network = list.filter((c) => !c.encrypted);
const encrypted = new Map(list.filter((c) => c.encrypted).map((c) => [c.hash, c]));
// The simulator's hashtag channel with the most traffic that the server cannot read.
const target = HASHTAGS.map((name) => {
  const key = hashtagKey(name);
  return { name, key, hex: bytesToHex(key), hash: channelHash(key), enc: `enc_${hashHex(channelHash(key))}` };
}).filter((t) => encrypted.has(t.enc)).sort((a, b) => encrypted.get(b.enc).messageCount - encrypted.get(a.enc).messageCount)[0];

const browser = await launch();
const ctx = browser.context;
try {
  const page = await ctx.newPage();
  watch(page, 'channels');
  // Every request and every WebSocket frame the page sends, for the privacy check.
  const sent = [];
  page.on('request', (r) => sent.push(`${r.method()} ${r.url()} ${r.postData() || ''}`));
  const sockets = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => { sent.push(`ws ${m}`); server.send(m); });
    server.onMessage((m) => ws.send(m));
    sockets.push(ws);
  });
  const inject = (message) => { for (const ws of sockets) ws.send(JSON.stringify(message)); };
  // Smaller pages of server-decrypted messages, so paging back is exercised on a small database.
  await page.route(/\/api\/channels\/[^/]+\/messages\?.*limit=100/, (route) => route.continue({ url: route.request().url().replace('limit=100', 'limit=30') }));
  const publicName = network[0]?.hash;

  await check('channels: the list loads (decrypted channels and encrypted hashes)', page, async () => {
    assert(network.length > 0, 'the server lists a decrypted channel');
    assert(encrypted.size > 0, 'the server lists an encrypted channel');
    await page.goto(`${BASE}/#/channels`);
    await page.waitForSelector('h1:has-text("Channels")', { timeout: TIMEOUT });
    await page.locator(`.ch-row[data-id="${publicName}"]`).waitFor({ timeout: TIMEOUT });
    const rowText = await page.locator(`.ch-row[data-id="${publicName}"]`).innerText();
    assert(rowText.includes(publicName), `row names the channel: ${rowText}`);
    const encCount = await page.locator('.ch-encrypted .ch-row').count();
    assert(encCount === encrypted.size, `encrypted rows ${encCount}, server lists ${encrypted.size}`);
    assert((await page.locator('.ch-encrypted summary').innerText()).includes(`(${encrypted.size})`), 'encrypted count in the heading');
    assert((await page.getAttribute('a.nav-link[data-route="channels"]', 'aria-current')) === 'page', 'Channels is the current nav link');
  });

  await check('the list resizes from the keyboard and remembers its width', page, async () => {
    const sidebar = page.locator('.ch-sidebar');
    const before = (await sidebar.boundingBox()).width;
    await page.locator('.ch-resizer').focus();
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    const after = (await sidebar.boundingBox()).width;
    assert(after >= before + 30, `width ${before} → ${after}`);
    const saved = await page.evaluate(() => Number(localStorage.getItem('channels-sidebar-width')));
    assert(Math.abs(saved - after) <= 1, `stored ${saved}, shown ${after}`);
  });

  await check('opening a channel shows sender and text; the URL follows', page, async () => {
    await page.locator(`.ch-row[data-id="${publicName}"]`).click();
    await until('the URL to name the channel', async () => (await hashOf(page)) === `#/channels/${encodeURIComponent(publicName)}`);
    await page.locator('.ch-messages .msg').first().waitFor({ timeout: TIMEOUT });
    const api = await getJson(`/api/channels/${encodeURIComponent(publicName)}/messages?limit=20`);
    const newest = api.messages.filter((m) => m.sender && m.text).at(-1);
    assert(newest, 'the API has a message with sender and text');
    const texts = await page.locator('.ch-messages .msg').allInnerTexts();
    assert(texts.some((t) => t.includes(newest.sender) && t.includes(newest.text)), `"${newest.sender}: ${newest.text}" is shown`);
    const meta = await page.locator('.ch-messages .msg .msg-meta').last().innerText();
    assert(/heard/.test(meta) && /hop/.test(meta) && meta.includes('View packet'), `meta line: ${meta}`);
    const link = await page.locator('.ch-messages .msg .msg-link').last().getAttribute('href');
    assert(/^#\/packets\/[0-9a-f]{16}$/.test(link), `packet link: ${link}`);
    assert((await page.locator(`.ch-row[data-id="${publicName}"]`).getAttribute('aria-current')) === 'true', 'row marked current');
  });

  await check('scrolling up loads older messages and keeps the view still', page, async () => {
    const total = (await getJson(`/api/channels/${encodeURIComponent(publicName)}/messages?limit=1`)).total;
    const before = await page.locator('.ch-messages .msg').count();
    assert(total > before, `${total} messages in the channel, ${before} shown: a page is smaller than the channel`);
    const anchor = page.locator('.ch-messages .msg').first();
    const key = await anchor.getAttribute('data-key');
    await page.locator('.ch-scroll').evaluate((s) => { s.scrollTop = 0; s.dispatchEvent(new Event('scroll')); });
    await until('older messages', async () => (await page.locator('.ch-messages .msg').count()) > before);
    const top = await page.locator(`.msg[data-key="${key}"]`).evaluate((li) => li.getBoundingClientRect().top - li.closest('.ch-scroll').getBoundingClientRect().top);
    assert(top > 0, `the message that was on top stays in view (offset ${top}px), not jumped away`);
  });

  await check('live: a new message appends in place; markup in it stays text', page, async () => {
    const scroller = page.locator('.ch-scroll');
    await scroller.evaluate((s) => { s.scrollTop = s.scrollHeight; });
    await page.locator('.ch-messages .msg').last().evaluate((li) => { li.dataset.probe = 'kept'; });
    const text = `${XSS} says ${MARKUP}`;
    const live = liveMessage({
      id: 990001, raw: '1500', payload_type: 5,
      decoded: { type: 'CHAN', channelHash: 17, channelHashHex: '11', decryptionStatus: 'decrypted', channel: publicName, text: `Mallory: ${text}`, sender: 'Mallory', sender_timestamp: 1 },
    });
    inject(live);
    const last = page.locator(`.ch-messages .msg[data-key="${live.data.hash}"]`);
    await last.waitFor({ timeout: TIMEOUT });
    // A second observation of the same packet updates its counts, it is not a second message.
    const second = { observer_name: 'Second Observer', observer_id: 'E2E0000000000000000000000000000000000000000000000000000000000008', observation_count: 2 };
    inject({ ...live, data: { ...live.data, ...second, packet: { ...live.data.packet, ...second } } });
    await until('the second observer counted', async () => (await last.locator('.msg-meta').innerText()).includes('2 observers'));
    assert(await last.count() === 1, 'one message per packet');
    assert(await page.locator('.msg[data-probe="kept"]').count() === 1, 'earlier messages were not re-rendered');
    assert((await last.locator('.msg-text').innerText()) === text, `text shown literally: ${await last.locator('.msg-text').innerText()}`);
    assert(await page.locator('main img, main b').count() === 0, 'no element was created from message text');
    const atBottom = await scroller.evaluate((s) => s.scrollHeight - s.scrollTop - s.clientHeight < 60);
    assert(atBottom, 'a reader at the bottom follows new messages');
    // Scrolled up: the position is kept and a "new messages" button appears.
    await scroller.evaluate((s) => { s.scrollTop = Math.max(200, s.scrollHeight / 2); });
    const pos = await scroller.evaluate((s) => s.scrollTop);
    inject(liveMessage({
      id: 990002, raw: '1500', payload_type: 5,
      decoded: { type: 'CHAN', channelHash: 17, channelHashHex: '11', decryptionStatus: 'decrypted', channel: publicName, text: 'Mallory: second', sender: 'Mallory' },
    }));
    await page.locator('.ch-jump:not([hidden])').waitFor({ timeout: TIMEOUT });
    const after = await scroller.evaluate((s) => s.scrollTop);
    assert(Math.abs(after - pos) < 4, `scroll position kept: ${pos} → ${after}`);
    await page.locator('.ch-jump').click();
    assert(await scroller.evaluate((s) => s.scrollHeight - s.scrollTop - s.clientHeight < 60), 'the button jumps to the newest');
  });

  await check('a message for another channel bumps its row, not the open chat', page, async () => {
    const enc = [...encrypted.keys()][0];
    const other = liveMessage({
      id: 990003, raw: '1500', payload_type: 5,
      decoded: { type: 'GRP_TXT', mac: '0000', encryptedData: '00'.repeat(16), channelHash: parseInt(enc.slice(4), 16), channelHashHex: enc.slice(4), decryptionStatus: 'decryption_failed' },
    });
    inject(other);
    await until('the unread badge', async () => page.locator(`.ch-row[data-id="${enc}"] .ch-unread:not([hidden])`).count());
    assert(await page.locator(`.ch-messages .msg[data-key="${other.data.hash}"]`).count() === 0, 'not shown in the open chat');
  });

  await check('an encrypted channel opens by hash with its messages locked', page, async () => {
    const enc = [...encrypted.keys()][0];
    await page.locator('.ch-encrypted summary').click();
    await page.locator(`.ch-row[data-id="${enc}"]`).click();
    await until('the URL', async () => (await hashOf(page)) === `#/channels/${enc}`);
    await page.locator('.ch-title', { hasText: `0x${enc.slice(4)}` }).waitFor({ timeout: TIMEOUT });
    await page.locator('.ch-messages .msg .msg-locked').first().waitFor({ timeout: TIMEOUT });
    assert(await page.getByRole('button', { name: 'Add key…' }).count() === 1, 'an Add key button');
  });

  await check('adding a hashtag key decrypts its channel in the browser; no request carries the key', page, async () => {
    assert(target, `one of ${HASHTAGS.join(' ')} is an encrypted channel on the server`);
    // What the page should find: the newest packet of the hash byte that decrypts.
    const packets = (await getJson(`/api/packets?channel=${target.enc}&limit=200`)).packets;
    const expected = packets.map((p) => decryptPacket(target.key, target.hash, p)).find(Boolean);
    assert(expected, `a ${target.name} packet decrypts with the key in Node`);
    sent.length = 0;
    await page.getByRole('button', { name: '+ Add key' }).click();
    const dialog = page.locator('dialog.ch-dialog');
    await dialog.waitFor();
    await dialog.locator('#ch-key-input').fill('not a key');
    await dialog.getByRole('button', { name: 'Add channel' }).click();
    await dialog.locator('#ch-key-error', { hasText: '32 hex' }).waitFor({ timeout: TIMEOUT });
    await dialog.locator('#ch-key-input').fill(target.name);
    await dialog.getByRole('button', { name: 'Add channel' }).click();
    await until('the URL to name the channel', async () => (await hashOf(page)) === `#/channels/${encodeURIComponent(target.name)}`);
    const msg = page.locator('.ch-messages .msg.msg-local', { hasText: expected.message });
    await msg.first().waitFor({ timeout: TIMEOUT });
    if (expected.sender) {
      const texts = await msg.allInnerTexts();
      assert(texts.some((t) => t.includes(expected.sender)), `sender ${expected.sender} shown with "${expected.message}"`);
    }
    const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('corescope_channel_keys') || '{}'));
    assert(saved[target.name] === target.hex, `stored under corescope_channel_keys: ${JSON.stringify(saved)}`);
    assert(await page.locator(`.ch-row[data-id="${target.name}"]`).count() === 1, 'listed under My channels');
    // A live packet of this channel is decrypted on arrival; its markup stays text.
    inject(groupTextFrame(target.key, `Mallory: ${MARKUP}`, 990004));
    await page.locator('.ch-messages .msg.msg-local .msg-text', { hasText: MARKUP }).waitFor({ timeout: TIMEOUT });
    assert(await page.locator('main img, main b').count() === 0, 'no element was created from decrypted text');
    const leaks = sent.filter((s) => {
      const lower = decodeURIComponent(s.replace(/#.*$/, '')).toLowerCase();
      return lower.includes(target.hex) || lower.includes(target.name.toLowerCase());
    });
    assert(sent.some((s) => s.includes(target.enc)), `the page asked for ${target.enc}: ${sent.join(' | ').slice(0, 300)}`);
    assert(leaks.length === 0, `requests carrying the key or name: ${leaks.join(' | ')}`);
  });

  await check('deep link to a saved key\'s channel decrypts on a cold load, without WebCrypto', null, async () => {
    const cold = await ctx.newPage();
    watch(cold, 'channels-cold');
    // As on a plain-http LAN address, where browsers do not offer crypto.subtle.
    await cold.addInitScript(() => { Object.defineProperty(Crypto.prototype, 'subtle', { get: () => undefined }); });
    const coldSent = [];
    cold.on('request', (r) => coldSent.push(`${r.url()} ${r.postData() || ''}`));
    try {
      await cold.goto(`${BASE}/#/channels/${encodeURIComponent(target.name)}`);
      await cold.locator('.ch-messages .msg.msg-local').first().waitFor({ timeout: TIMEOUT });
      assert((await cold.locator('.ch-title').innerText()) === target.name, 'title');
      assert(await cold.evaluate(() => crypto.subtle === undefined), 'WebCrypto was really absent');
      const leaks = coldSent.filter((s) => s.replace(/#.*$/, '').toLowerCase().includes(target.hex));
      assert(leaks.length === 0, `requests carrying the key: ${leaks.join(' | ')}`);
      await cold.goto(`${BASE}/#/channels/${encodeURIComponent(publicName)}`);
      await cold.locator('.ch-messages .msg .msg-sender').first().waitFor({ timeout: TIMEOUT });
      assert((await cold.locator(`.ch-row[data-id="${publicName}"]`).getAttribute('aria-current')) === 'true', 'deep-linked row is current');
    } finally {
      await cold.close();
    }
  });

  await check('removing a saved key forgets it', page, async () => {
    await page.locator(`.ch-row[data-id="${target.name}"]`).click();
    await page.getByRole('button', { name: 'Remove', exact: true }).click();
    await page.getByRole('button', { name: 'Remove key' }).click();
    await until('the row to go', async () => (await page.locator(`.ch-row[data-id="${target.name}"]`).count()) === 0);
    const saved = await page.evaluate(() => JSON.parse(localStorage.getItem('corescope_channel_keys') || '{}'));
    assert(!(target.name in saved), `key removed: ${JSON.stringify(saved)}`);
    assert((await hashOf(page)) === '#/channels', `URL: ${await hashOf(page)}`);
  });

  await check('channel crypto passes the spec vectors in the browser', page, async () => {
    assert(VECTORS, 'shared/spec/vectors.json found');
    const cases = VECTORS.filter((v) => v.expect?.payload_type === 5 && v.expect.key_fields)
      .map((v) => ({ id: v.id, hex: v.hex, ...v.expect.key_fields }));
    const result = await page.evaluate(async (cases) => {
      const c = await import('/app/components/channel-crypto.js');
      const errors = [];
      const eq = (what, got, want) => { if (got !== want) errors.push(`${what}: ${got} != ${want}`); };
      const hex = c.bytesToHex;
      eq('sha256("abc")', hex(c.sha256('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      eq('sha256("")', hex(c.sha256('')), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      eq('hmac RFC 4231 #2', hex(c.hmacSha256('Jefe', 'what do ya want for nothing?')), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
      const fips = c.hexToBytes('000102030405060708090a0b0c0d0e0f');
      const pt = c.hexToBytes('00112233445566778899aabbccddeeff');
      eq('AES-128 FIPS-197 C.1', hex(c.aes128EcbEncrypt(fips, pt)), '69c4e0d86a7b0430d8cdb78070b4c55a');
      eq('AES-128 decrypt', hex(c.aes128EcbDecrypt(fips, c.hexToBytes('69c4e0d86a7b0430d8cdb78070b4c55a'))), hex(pt));
      // Hashtag keys and hash bytes of protocol.md §6.5.
      for (const [name, key, byte] of [['#test', '9cd8fcf22a47333b591d96a2b848b73f', 'D9'], ['#wardriving', 'e3c26491e9cd321e3a6be50d57d54acf', '81'],
        ['#bot', 'eb50a1bcb3e4e5d7bf69a57c9dada211', 'CA'], ['#chat', 'd0bdd6d71538138ed979eec00d98ad97', 'B8']]) {
        eq(`key ${name}`, hex(c.hashtagKey(name)), key);
        eq(`hash ${name}`, c.hashHex(c.channelHash(c.hashtagKey(name))), byte);
      }
      eq('Public hash', c.hashHex(c.channelHash(c.hexToBytes('8b3387e9c5cdea6ac9e5edbaa115cd72'))), '11');
      let decrypted = 0;
      for (const v of cases) {
        const parts = c.groupFrameParts(v.hex);
        eq(`${v.id} channel hash`, parts && c.hashHex(parts.channelHash), v.channel_hash_hex);
        eq(`${v.id} mac`, parts && c.bytesToHex(parts.mac), v.mac);
        if (v.key_hex) {
          const key = c.hexToBytes(v.key_hex);
          const plain = c.decryptPacket(key, c.channelHash(key), { raw_hex: v.hex });
          eq(`${v.id} text`, plain?.text, v.text);
          eq(`${v.id} sender`, plain?.sender, v.sender);
          eq(`${v.id} timestamp`, plain?.timestamp, v.timestamp);
          eq(`${v.id} plaintext`, c.bytesToHex(c.aes128EcbDecrypt(key, parts.ciphertext)), v.plaintext_hex);
          decrypted += 1;
        } else {
          // No key known to anyone: the Public key must not pass its MAC.
          const pub = c.hexToBytes('8b3387e9c5cdea6ac9e5edbaa115cd72');
          eq(`${v.id} refused with the Public key`, c.decryptPacket(pub, parts.channelHash, { raw_hex: v.hex }), null);
        }
      }
      // Against WebCrypto where the page has it (127.0.0.1 is a secure context).
      let subtle = 0;
      if (globalThis.crypto?.subtle) {
        for (let n = 0; n < 40; n += 1) {
          const data = crypto.getRandomValues(new Uint8Array(n * 7));
          const key = crypto.getRandomValues(new Uint8Array(n % 3 ? 32 : 80));
          eq(`sha256 len ${data.length}`, hex(c.sha256(data)), hex(new Uint8Array(await crypto.subtle.digest('SHA-256', data))));
          const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
          eq(`hmac len ${data.length}`, hex(c.hmacSha256(key, data)), hex(new Uint8Array(await crypto.subtle.sign('HMAC', k, data))));
          subtle += 1;
        }
      }
      return { errors, decrypted, subtle };
    }, cases);
    assert(result.errors.length === 0, result.errors.slice(0, 6).join('; '));
    assert(result.decrypted >= 3, `vectors decrypted: ${result.decrypted}`);
    assert(result.subtle > 0, 'cross-checked against WebCrypto');
  });
  await page.close();

  // ---- phone: the list and the chat are separate views ----
  const phone = await ctx.newPage();
  watch(phone, 'channels-phone');
  await phone.setViewportSize({ width: 390, height: 844 });
  await check('phone: list and chat are separate views, no sideways scroll', phone, async () => {
    const overflow = () => phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await phone.goto(`${BASE}/#/channels`);
    const row = phone.locator(`.ch-row[data-id="${publicName}"]`);
    await row.waitFor({ timeout: TIMEOUT });
    assert(!(await phone.locator('.ch-chat').isVisible()), 'no chat beside the list');
    assert((await row.boundingBox()).height >= 44, 'touch-sized rows');
    assert((await overflow()) <= 0, `list scrolls sideways by ${await overflow()}px`);
    await row.click();
    await phone.locator('.ch-messages .msg').first().waitFor({ timeout: TIMEOUT });
    assert(!(await phone.locator('.ch-sidebar').isVisible()), 'the list is hidden behind the chat');
    assert((await overflow()) <= 0, `chat scrolls sideways by ${await overflow()}px`);
    const back = phone.getByRole('button', { name: 'Back to the channel list' });
    assert(await back.isVisible(), 'a back button');
    await back.click();
    await row.waitFor({ state: 'visible', timeout: TIMEOUT });
    assert((await hashOf(phone)) === '#/channels', `URL after back: ${await hashOf(phone)}`);
    await row.click();
    await phone.locator('.ch-chat').waitFor({ state: 'visible', timeout: TIMEOUT });
    await phone.keyboard.press('Escape');
    await row.waitFor({ state: 'visible', timeout: TIMEOUT });
    assert((await hashOf(phone)) === '#/channels', `URL after Esc: ${await hashOf(phone)}`);
  });
  await phone.close();
} finally {
  await finish(browser);
}
