// What the browser tests share (dashboard_test.mjs, navigator_test.mjs): the binary and the
// screenshot path from the command line, Debian's Chromium driven by playwright-core, a free
// 127.0.0.1 port, waiting for a server to answer and for a child to exit.
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');
const require = createRequire(join(repo, 'package.json'));

export const CHROMIUM = '/usr/bin/chromium';

export function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

// --binary (else $NETPULSE_BINARY, else build/netpulse) and --screenshot (else
// e2e/SCREENSHOT beside the binary), absolute.
export function paths(screenshotName) {
  const binary = resolve(arg('--binary', process.env.NETPULSE_BINARY || join(repo, 'build', 'netpulse')));
  const screenshot = resolve(arg('--screenshot', join(dirname(binary), 'e2e', screenshotName)));
  return { binary, screenshot };
}

// Debian's Chromium, headless, driven by playwright-core (installed by scripts/setup: npm ci),
// with a profile in the test's directory and nothing reaching out of the machine. `extra`
// adds context options (a time zone, say).
export function launchBrowser(work, height, extra = {}) {
  const { chromium } = require('playwright-core');
  return chromium.launchPersistentContext(join(work, 'chromium-profile'), {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1440, height },
    ...extra,
  });
}

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

export async function waitForHttp(url, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch (e) { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error('server did not answer ' + url);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The child's exit code (or signal), or null if it is still running after ms.
export function exited(child, ms) {
  return new Promise((ok) => {
    if (child.exitCode !== null) return ok(child.exitCode);
    const timer = setTimeout(() => ok(null), ms);
    child.once('exit', (code, signal) => { clearTimeout(timer); ok(code ?? signal); });
  });
}
