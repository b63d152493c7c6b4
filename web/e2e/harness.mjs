// Shared pieces of the page test scripts (`*.test.mjs` other than packets.test.mjs, which
// predates it). crates/meshcore-analyzer/tests/e2e.rs runs every `*.test.mjs` against one
// server with `--url http://127.0.0.1:PORT --xss '<img src=x onerror=alert(1)>'`; by then a
// node and an observer named with that string exist (the Packets script published them).
//
//   import { args, BASE, XSS, check, assert, until, watch, finish, launch } from './harness.mjs';
//   const browser = await launch();
//   const page = await browser.context.newPage(); watch(page, 'nodes');
//   await check('nodes: the list loads', page, async () => { ... });
//   await finish(browser);   // checks console errors and dialogs, prints the summary, exits
//
// Each check prints `ok - name` or `not ok - name: why` (with a screenshot of the page).

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch } from './browser.mjs';

export { launch };

/** `--key value` command line arguments. */
export const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
/** The server under test, without a trailing slash. */
export const BASE = (args.url || 'http://127.0.0.1:3300').replace(/\/$/, '');
/** The hostile name some node and observer carry. */
export const XSS = args.xss || '<img src=x onerror=alert(1)>';
const ARTIFACTS = process.env.MESHCORE_E2E_ARTIFACTS || tmpdir();
/** Default wait for `until`, in ms. */
export const TIMEOUT = 15_000;

let failures = 0;
let passed = 0;
const consoleErrors = [];
/** Dialogs any watched page opened (a script from mesh data would open one). */
export const dialogs = [];
/** URL endings whose 404 a check provokes on purpose (the browser logs them as errors). */
export const EXPECTED_404 = [];

/** Records console errors, uncaught exceptions and dialogs (an XSS would open one). */
export function watch(page, label) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location()?.url || '';
    if (m.text().includes('404') && EXPECTED_404.some((p) => url.endsWith(p))) return;
    consoleErrors.push(`${label}: ${m.text()} ${url}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${label}: uncaught ${e.message}`));
  page.on('dialog', (d) => { dialogs.push(`${label}: ${d.type()} ${d.message()}`); d.dismiss().catch(() => {}); });
}

/** Runs one named check; a throw is a failure with a screenshot of `page` (if given). */
export async function check(name, page, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (e) {
    failures += 1;
    console.log(`not ok - ${name}: ${String(e?.message || e).split('\n')[0]}`);
    if (page) {
      const file = join(ARTIFACTS, `e2e-fail-${name.replace(/[^a-z0-9]+/gi, '-')}.png`);
      await page.screenshot({ path: file }).catch(() => {});
      console.log(`#   screenshot: ${file}`);
    }
  }
}

/** Throws `message` unless `cond`. */
export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Polls `fn` every 100 ms until it returns something truthy; throws after `timeout` ms. */
export async function until(what, fn, timeout = TIMEOUT) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (${last.message})` : ''}`);
}

/** Final checks (no console errors, no dialogs), the summary line, and the exit code. */
export async function finish(browser) {
  await check('no console errors and no dialogs', null, async () => {
    assert(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
    assert(dialogs.length === 0, `dialogs opened: ${dialogs.join(' | ')}`);
  });
  await browser.close();
  console.log(failures ? `# ${failures} check(s) failed` : `# all checks passed (${passed})`);
  process.exit(failures ? 1 : 0);
}
