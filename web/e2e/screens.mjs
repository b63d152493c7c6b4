// Development helper: screenshots of a running server in light and dark, desktop and phone.
//   node screens.mjs http://127.0.0.1:3300 /tmp/shots [hash-route …]
import { mkdirSync } from 'node:fs';
import { launch } from './browser.mjs';

const [base = 'http://127.0.0.1:3300', out = '/tmp/shots', ...routes] = process.argv.slice(2);
mkdirSync(out, { recursive: true });
const browser = await launch();
const list = routes.length ? routes : ['#/packets'];
for (const [name, width, height] of [['desktop', 1280, 860], ['phone', 390, 844]]) {
  for (const scheme of ['light', 'dark']) {
    const page = await browser.context.newPage();
    await page.setViewportSize({ width, height });
    await page.emulateMedia({ colorScheme: scheme });
    page.on('console', (m) => { if (m.type() === 'error') console.log(`[console ${name}/${scheme}]`, m.text()); });
    page.on('pageerror', (e) => console.log(`[pageerror ${name}/${scheme}]`, e.message));
    for (const [i, route] of list.entries()) {
      await page.goto(`${base}/${route}`);
      await page.waitForTimeout(2500);
      const file = `${out}/${i}-${name}-${scheme}.png`;
      await page.screenshot({ path: file });
      console.log(file);
    }
    await page.close();
  }
}
await browser.close();
