// Launches Debian's Chromium through playwright-core with the flags a closed network and a
// root user need. The executable comes from MESHCORE_TEST_CHROMIUM (default /usr/bin/chromium).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** Hosts of the map tile providers the UI knows. */
export const TILE_HOSTS = /^https?:\/\/([a-z0-9-]+\.)*(tile\.openstreetmap\.org|basemaps\.cartocdn\.com)\//;

/** Starts a headless browser with a fresh profile; `close()` also removes the profile. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'meshcore-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.MESHCORE_TEST_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
  // Map tiles come from the internet, which tests do not have: every tile request gets an
  // empty answer (a failed load would log a console error). Scripts that count tile requests
  // add their own route, which takes precedence.
  await context.route(TILE_HOSTS, (route) => route.fulfill({ status: 204, body: '' }));
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
