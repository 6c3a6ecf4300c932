// Browser test of the dashboard (issue 4): starts `netpulse run` on a free 127.0.0.1 port with a
// temporary store, opens the dashboard in real headless Chromium (Debian's /usr/bin/chromium,
// driven by playwright-core; no chromedriver), sees results arrive, changes k from 3 to 5 and
// sees both top-k charts grow to 5 bars, sees a DoS alert in the feed, stops the generator and sees the throughput fall to 0,
// saves a screenshot, and stops the server by its PID (SIGINT: a clean shutdown).
//
// A second test runs `netpulse process --store --web` over stdin and reads its API. A third posts
// approximate results (issue 14) to a quiet `process --web` and checks the ip-* charts' badge.
//
// Usage: node tests/e2e/dashboard_test.mjs --binary build/netpulse [--screenshot PATH]
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CHROMIUM, exited, freePort, launchBrowser, paths, waitForHttp } from './browser_support.mjs';

const { binary, screenshot } = paths('dashboard.png');

test('dashboard: live results, k 3 -> 5, generator stop, screenshot', { timeout: 120_000 }, async () => {
  assert.ok(existsSync(binary), 'netpulse binary not found at ' + binary);
  assert.ok(existsSync(CHROMIUM), 'Debian chromium is not installed (scripts/setup installs it)');

  const work = mkdtempSync(join(tmpdir(), 'netpulse-dashboard-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let stderr = '';
  const server = spawn(binary, ['run', '--web', `127.0.0.1:${port}`, '--store', `sqlite:${join(work, 'test.db')}`,
                                '--k', '3', '--T', '5', '--models', join(work, 'no-models'),
                                '--scenario', 'dos@2s+4s'],
                       { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.on('data', (d) => { stderr += d; });
  server.stdout.on('data', () => {});
  let context;
  try {
    await waitForHttp(base + '/api/status', 15_000);

    context = await launchBrowser(work, 1100);
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });

    await page.goto(base + '/');
    // The chart library was served by the binary (no CDN).
    assert.equal(await page.evaluate(() => typeof window.echarts), 'object');

    // Results arrive: both top-k charts show k = 3 bars.
    await page.waitForSelector('#connection[data-state="open"]', { timeout: 10_000 });
    await page.waitForSelector('#chart-ip-topk[data-bars="3"]', { timeout: 20_000 });
    await page.waitForSelector('#chart-protocol-topk[data-bars="3"]', { timeout: 20_000 });
    await page.waitForFunction(() => Number(document.getElementById('throughput').dataset.value) > 0, null,
                               { timeout: 10_000 });

    // The DoS interval of the generated traffic reaches the alert feed.
    await page.waitForSelector('#alerts li b:text("dos")', { timeout: 20_000 });

    // k from 3 to 5, through the form: the next windows have 5 bars.
    await page.fill('#param-k', '5');
    await page.click('#processor-apply');
    await page.waitForSelector('#chart-ip-topk[data-bars="5"]', { timeout: 20_000 });
    await page.waitForSelector('#chart-protocol-topk[data-bars="5"]', { timeout: 20_000 });
    const status = await (await fetch(base + '/api/status')).json();
    assert.equal(status.processor.params.k, 5);

    // Stop the generator: the throughput falls to 0.
    await page.click('#generator-stop');
    await page.waitForFunction(() => document.getElementById('throughput').dataset.value === '0', null,
                               { timeout: 15_000 });
    await page.waitForSelector('#generator-state:text("stopped")', { timeout: 5_000 });

    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log('# screenshot: ' + screenshot);
    assert.deepEqual(pageErrors, []);

    // The store holds what was shown.
    const latest = await (await fetch(base + '/api/results/ip-topk/latest')).json();
    assert.equal(latest.params.k, 5);
    assert.equal(latest.rows.length, 5);
  } finally {
    if (context) await context.close();
    if (server.exitCode === null) server.kill('SIGINT');
    const code = await exited(server, 15_000);
    if (code === null) server.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    assert.equal(code, 0, 'netpulse run did not exit cleanly on SIGINT: ' + stderr);
  }
});

test('process --store --web: the API over a stream read from stdin', { timeout: 60_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'netpulse-process-web-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let stdout = '', stderr = '';
  const proc = spawn(binary, ['process', '--input', '-', '--store', `sqlite:${join(work, 'p.db')}`,
                              '--web', `127.0.0.1:${port}`, '--T', '10', '--k', '2'],
                     { cwd: work, stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => { stdout += d; });
  proc.stderr.on('data', (d) => { stderr += d; });
  try {
    await waitForHttp(base + '/api/status', 15_000);
    // 30 s of event time, 100 records a second, from four sources.
    const t0 = Date.UTC(2020, 4, 9, 20, 41, 0);
    let text = '';
    for (let i = 0; i < 3000; i++) {
      const t = new Date(t0 + i * 10).toISOString().replace('T', ' ').replace('Z', '');
      text += `${t} HTTP 10.0.0.${i % 4} 10.0.1.1 ${100 + (i % 4) * 50}\n`;
    }
    proc.stdin.write(text);
    let latest;
    for (let i = 0; i < 100 && !latest; i++) {
      const r = await fetch(base + '/api/results/ip-topk/latest');
      if (r.ok) latest = await r.json();
      else await new Promise((ok) => setTimeout(ok, 100));
    }
    assert.ok(latest, 'no result reached the API');
    assert.equal(latest.params.k, 2);
    assert.equal(latest.rows.length, 2);
    assert.equal(latest.rows[0].key, '10.0.0.3');
    const status = await (await fetch(base + '/api/status')).json();
    assert.equal(status.generator, null);
    assert.ok(status.records.read >= 3000);
    const gen = await fetch(base + '/api/generator/stop', { method: 'POST' });
    assert.equal(gen.status, 409);
    const put = await fetch(base + '/api/processor/params', { method: 'PUT', body: '{"k":3}' });
    assert.equal(put.status, 200);
    proc.stdin.end();
    const code = await exited(proc, 15_000);
    assert.equal(code, 0, stderr);
    // JSON lines still go to stdout, six per window.
    const lines = stdout.trim().split('\n').filter(Boolean);
    assert.ok(lines.length >= 6 * 20, `only ${lines.length} result lines`);
    assert.equal(lines.length % 6, 0);
  } finally {
    if (proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
});

// Results computed under the memory budget (spec §4 and §9, issue 14) carry
// "approximate":{"epsilon","keys_estimated"} on the ip-* queries. A quiet `netpulse process --web`
// (no input yet) is given such a window through POST /api/results, which stores it and pushes it
// over the WebSocket like an engine result: the three address charts show the badge with the
// bound and the key estimate; the next, exact window hides it again.
test('dashboard: the approximate badge on the address charts', { timeout: 60_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'netpulse-approximate-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let stderr = '';
  const proc = spawn(binary, ['process', '--input', '-', '--store', `sqlite:${join(work, 'a.db')}`,
                              '--web', `127.0.0.1:${port}`, '--T', '10'],
                     { cwd: work, stdio: ['pipe', 'ignore', 'pipe'] });
  proc.stderr.on('data', (d) => { stderr += d; });
  const OWN = { 'ip-share': 'H', 'ip-topk': 'k', 'ip-outliers': 'X', 'protocol-topk': 'k' };
  const result = (query, end, approximate) => {
    const r = {
      window_start: new Date(Date.parse(end) - 10_000).toISOString(), window_end: end, query,
      params: { T: 10, [OWN[query]]: 3 }, records: 5000, total_bytes: 10_000_000, keys: 1234567,
      rows: [{ key: '10.0.0.1', bytes: 4_000_000, share: 0.4, z: 3.5 },
             { key: '10.0.0.2', bytes: 1_000_000, share: 0.1, z: 0.5 }],
    };
    if (approximate) r.approximate = approximate;
    return r;
  };
  const post = async (r) => {
    const reply = await fetch(`${base}/api/results/${r.query}`, { method: 'POST', body: JSON.stringify(r) });
    assert.equal(reply.status, 201, await reply.text());
  };
  const IP = ['ip-share', 'ip-topk', 'ip-outliers'];
  let context;
  try {
    await waitForHttp(base + '/api/status', 15_000);
    context = await launchBrowser(work, 1100);
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
    await page.goto(base + '/');
    await page.waitForSelector('#connection[data-state="open"]', { timeout: 10_000 });
    for (const q of IP) assert.equal(await page.isHidden('#approx-' + q), true, q + ' before any result');

    // An approximate window: epsilon 0.05 % of 10 MB, about 1.2 million addresses.
    const w1 = '2020-05-09T20:41:40.000Z';
    const approximate = { epsilon: 0.0005, keys_estimated: 1234567 };
    for (const q of IP) await post(result(q, w1, approximate));
    await post(result('protocol-topk', w1));
    for (const q of IP) {
      await page.waitForSelector(`#chart-${q}[data-window-end="${w1}"][data-approximate="1"]`, { timeout: 10_000 });
      assert.equal(await page.isVisible('#approx-' + q), true, q);
      assert.equal(await page.textContent('#approx-' + q), '≈ approximate ±0.05% (≈1.2M keys)');
      const title = await page.getAttribute('#approx-' + q, 'title');
      assert.match(title, /memory budget/);
      assert.match(title, /within ±0\.05% of the window's total bytes \(±5\.00 kB of 10\.0 MB\)/);
      assert.match(title, /number of addresses \(1,234,567\) is an estimate/);
    }
    // The protocol charts have no badge and say nothing approximate.
    await page.waitForSelector(`#chart-protocol-topk[data-window-end="${w1}"]`, { timeout: 10_000 });
    assert.equal(await page.$$eval('.approx:not([hidden])', (els) => els.length), 3);
    assert.doesNotMatch(await page.textContent('.params[data-for="protocol-topk"]'), /≈/);
    assert.match(await page.textContent('.params[data-for="ip-topk"]'), /≈1234567 keys$/);
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-approximate.png'), fullPage: true });
    // The API returns the member as the JSON lines have it; the exact one has none.
    const stored = await (await fetch(base + '/api/results/ip-topk/latest')).json();
    assert.deepEqual(stored.approximate, approximate);
    const protocol = await (await fetch(base + '/api/results/protocol-topk/latest')).json();
    assert.equal('approximate' in protocol, false);

    // The next window is exact again: every badge goes.
    const w2 = '2020-05-09T20:41:50.000Z';
    for (const q of IP) await post(result(q, w2));
    for (const q of IP) {
      await page.waitForSelector(`#chart-${q}[data-window-end="${w2}"][data-approximate="0"]`, { timeout: 10_000 });
      assert.equal(await page.isHidden('#approx-' + q), true, q);
    }
    assert.equal(await page.$$eval('.approx:not([hidden])', (els) => els.length), 0);
    assert.doesNotMatch(await page.textContent('.params[data-for="ip-topk"]'), /≈/);
    // A fresh page replays the history (approximate, then exact) and ends on the exact window.
    await page.reload();
    await page.waitForSelector(`#chart-ip-topk[data-window-end="${w2}"]`, { timeout: 10_000 });
    assert.equal(await page.isHidden('#approx-ip-topk'), true);
    assert.deepEqual(pageErrors, []);
    proc.stdin.end();
    assert.equal(await exited(proc, 15_000), 0, stderr);
  } finally {
    if (context) await context.close();
    if (proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
});

// `run --input netflow://`: the generator exports IPFIX into netpulse; the dashboard's Exporters
// panel appears with the exporter's row and its flow count, and the charts fill.
test('run --input netflow://: the Exporters panel', { timeout: 90_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'netpulse-collector-web-'));
  const port = await freePort();
  const udp = await freePort();  // free for TCP a moment ago: likely for UDP too
  const base = `http://127.0.0.1:${port}`;
  let stderr = '';
  const server = spawn(binary, ['run', '--web', `127.0.0.1:${port}`, '--store', `sqlite:${join(work, 'c.db')}`,
                                '--input', `netflow://127.0.0.1:${udp}`, '--k', '3', '--T', '2',
                                '--lateness', '1',
                                '--models', join(work, 'no-models')],
                       { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.on('data', (d) => { stderr += d; });
  server.stdout.on('data', () => {});
  let context, exporter;
  try {
    await waitForHttp(base + '/api/status', 15_000);
    // Wall-clock event time at 1,500 records/s for 6 s: windows close while it runs.
    exporter = spawn(binary, ['generate', '-q', '--rate', '1500', '--count', '9000',
                              '--output', `netflow://127.0.0.1:${udp}?version=10`],
                     { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
    context = await launchBrowser(work, 1400);
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(base + '/');
    await page.waitForSelector('#collector-panel:not([hidden])', { timeout: 15_000 });
    await page.waitForSelector('#exporters tbody tr td:text("ipfix")', { timeout: 15_000 });
    await page.waitForSelector('#chart-ip-topk[data-bars="3"]', { timeout: 20_000 });
    assert.equal(await exited(exporter, 20_000), 0);
    // Every flow the generator sent is counted on the exporter's row (fmtCount: "9000").
    await page.waitForFunction(() => {
      const row = document.querySelector('#exporters tbody tr');
      return row && row.cells[4].textContent === '9000';
    }, null, { timeout: 15_000 });
    const cells = await page.$$eval('#exporters tbody tr td', (tds) => tds.map((td) => td.textContent));
    assert.match(cells[0], /^127\.0\.0\.1:\d+$/);
    assert.equal(cells[5], '0');  // lost
    assert.equal(cells[6], '0');  // malformed
    // No generator in this run: the panel says so.
    assert.equal(await page.$eval('#generator-state', (e) => e.textContent), 'none');
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-collector.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  } finally {
    if (context) await context.close();
    if (exporter && exporter.exitCode === null) exporter.kill('SIGKILL');
    if (server.exitCode === null) server.kill('SIGINT');
    const code = await exited(server, 15_000);
    if (code === null) server.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    assert.equal(code, 0, 'netpulse run did not exit cleanly on SIGINT: ' + stderr);
  }
});

// A pcap file of UDP/53 and TCP/80 packets from `sources` hosts, `count` packets evenly over
// `seconds` from `t0Ms`, then one more packet 60 s later (so a replay at its pace is still
// running while the test looks).
function writeCapture(path, t0Ms, seconds, count, sources) {
  const packets = [];
  const frame = (src, tcp, payload) => {
    const l4 = tcp ? 20 : 8;
    const ipLen = 20 + l4 + payload;
    const b = Buffer.alloc(14 + ipLen);
    b.writeUInt16BE(0x0800, 12);
    b[14] = 0x45; b.writeUInt16BE(ipLen, 16); b[22] = 64; b[23] = tcp ? 6 : 17;
    b.writeUInt32BE((10 << 24 | 2 << 16 | src) >>> 0, 26);
    b.writeUInt32BE((192 << 24 | 0 << 16 | 2 << 8 | 1) >>> 0, 30);
    b.writeUInt16BE(40000 + src, 34); b.writeUInt16BE(tcp ? 80 : 53, 36);
    if (tcp) { b[46] = 0x50; b[47] = 0x18; } else { b.writeUInt16BE(l4 + payload, 38); }
    return b;
  };
  for (let i = 0; i <= count; ++i) {
    const t = i < count ? t0Ms + (i * seconds * 1000) / count : t0Ms + 60_000;
    packets.push([t, frame(1 + (i % sources), i % 2 === 0, 100 + (i % 7) * 50)]);
  }
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0); header.writeUInt16LE(2, 4); header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16); header.writeUInt32LE(1, 20);
  const parts = [header];
  for (const [t, b] of packets) {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(Math.floor(t / 1000), 0); rec.writeUInt32LE(Math.floor(t % 1000) * 1000, 4);
    rec.writeUInt32LE(b.length, 8); rec.writeUInt32LE(b.length, 12);
    parts.push(rec, b);
  }
  writeFileSync(path, Buffer.concat(parts));
}

// `run --input pcap:FILE?speed=1`: a capture replayed at its pace drives the dashboard; the
// Capture panel shows the input, its packets and no drops, and the charts fill.
test('run --input pcap:FILE?speed=1: the Capture panel', { timeout: 90_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'netpulse-capture-web-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const capture = join(work, 'replay.pcap');
  writeCapture(capture, Date.now(), 5, 1500, 6);
  let stderr = '';
  const server = spawn(binary, ['run', '--web', `127.0.0.1:${port}`, '--store', `sqlite:${join(work, 'p.db')}`,
                                '--input', `pcap:${capture}?speed=1`, '--k', '3', '--T', '2',
                                '--lateness', '0', '--models', join(work, 'no-models')],
                       { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stderr.on('data', (d) => { stderr += d; });
  server.stdout.on('data', () => {});
  let context;
  try {
    await waitForHttp(base + '/api/status', 15_000);
    context = await launchBrowser(work, 1400);
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(base + '/');
    await page.waitForSelector('#capture-panel:not([hidden])', { timeout: 15_000 });
    await page.waitForSelector('#chart-protocol-topk[data-bars="2"]', { timeout: 20_000 });
    await page.waitForSelector('#chart-ip-topk[data-bars="3"]', { timeout: 20_000 });
    // Every packet of the 5 s is counted (fmtCount: "1500"); the one a minute later is not yet.
    await page.waitForFunction(() => {
      const row = document.querySelector('#capture tbody tr');
      return row && row.cells[2].textContent === '1500';
    }, null, { timeout: 20_000 });
    const cells = await page.$$eval('#capture tbody tr td', (tds) => tds.map((td) => td.textContent));
    assert.equal(cells[0], `pcap:${capture}?speed=1`);
    assert.equal(cells[1], 'EN10MB');
    assert.equal(cells[4], '1500');  // records: one per packet
    assert.equal(cells[9], '0');     // kernel drops
    assert.match(await page.$eval('#capture-summary', (e) => e.textContent), /^replay at 1x/);
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-capture.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  } finally {
    if (context) await context.close();
    if (server.exitCode === null) server.kill('SIGINT');
    const code = await exited(server, 15_000);
    if (code === null) server.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    assert.equal(code, 0, 'netpulse run did not exit cleanly on SIGINT: ' + stderr);
  }
});

// Reads a child's stdout until its first line (kafka-mock prints its bootstrap address there).
function firstLine(child, ms) {
  return new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error('no first line within ' + ms + ' ms')), ms);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) { clearTimeout(timer); ok(out.slice(0, nl)); }
    });
  });
}

// `merge --web` over two Kafka instances (issue 15): on librdkafka's mock cluster, records go in
// with `generate --output kafka://`, two `process` instances publish panes, and merge's
// dashboard shows the Cluster panel (one row per source partition, owned by the instances,
// ended, no lag) and the charts of the merged results.
test('merge --web: the Cluster panel over two instances', { timeout: 120_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'netpulse-merge-web-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const children = [];
  const start = (args) => {
    const c = spawn(binary, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    c.stderrText = '';
    c.stderr.on('data', (d) => { c.stderrText += d; });
    children.push(c);
    return c;
  };
  let context, merge;
  try {
    const mock = start(['kafka-mock', '-q', '--topic', 'flows:4', '--topic', 'flows.panes:2']);
    const boot = await firstLine(mock, 15_000);
    const gen = start(['generate', '-q', '--count', '20000', '--rate', '20000', '--seed', '5',
                       '--start-time', '2020-05-09 20:41:00', '--output', `kafka://${boot}/flows`]);
    assert.equal(await exited(gen, 30_000), 0, gen.stderrText);
    merge = start(['merge', '--input', `kafka://${boot}/flows.panes`, '--web', `127.0.0.1:${port}`,
                   '--store', `sqlite:${join(work, 'm.db')}`, '--T', '5', '--k', '3']);
    merge.stdout.on('data', () => {});
    for (const name of ['alpha', 'beta'])
      start(['process', '--input', `kafka://${boot}/flows?group=g`, '--instance-name', name,
             '--exit-at-end', '-q', '--kafka-property', 'session.timeout.ms=6000'])
        .stdout.on('data', () => {});
    await waitForHttp(base + '/api/status', 15_000);
    context = await launchBrowser(work, 1400);
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(base + '/');
    await page.waitForSelector('#cluster-panel:not([hidden])', { timeout: 15_000 });
    // All four partitions end: each row says "ended", with no lag, owned by alpha or beta.
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll('#cluster tbody tr')];
      return rows.length === 4 && rows.every((r) => r.cells[2].textContent === 'ended');
    }, null, { timeout: 60_000 });
    const rows = await page.$$eval('#cluster tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
    assert.deepEqual(rows.map((r) => r[0]), ['0', '1', '2', '3']);
    for (const r of rows) {
      assert.match(r[1], /^(alpha|beta)$/);
      assert.equal(r[5], '0.0 s');
      assert.match(r[4], /^2020-05-09 20:41:/);  // the last merged pane
    }
    assert.match(await page.$eval('#cluster-summary', (e) => e.textContent), /^flows: 4 partitions, [12] instances; merged below 2020-05-09 20:41:\d\d$/);
    await page.waitForSelector('#chart-ip-topk[data-bars="3"]', { timeout: 20_000 });
    assert.equal(await page.$eval('#generator-state', (e) => e.textContent), 'none');
    await page.screenshot({ path: screenshot.replace(/\.png$/, '-merge.png'), fullPage: true });
    assert.deepEqual(pageErrors, []);
  } finally {
    if (context) await context.close();
    let code = null;
    if (merge) {
      if (merge.exitCode === null) merge.kill('SIGTERM');
      code = await exited(merge, 15_000);
    }
    for (const c of children) {
      if (c.exitCode === null) c.kill('SIGTERM');
      if ((await exited(c, 10_000)) === null) c.kill('SIGKILL');
    }
    rmSync(work, { recursive: true, force: true });
    if (merge) assert.equal(code, 0, 'netpulse merge did not exit cleanly on SIGTERM: ' + merge.stderrText);
  }
});
