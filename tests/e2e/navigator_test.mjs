// Browser test of the time navigator (issue 17): three hours of generated traffic (fixed seed,
// event time from 2020-05-09 00:00:00 UTC) go through `netpulse process --store --history-keys`;
// a second `process --store --web` over an open stdin serves that store, and the dashboard's
// History view is driven in real headless Chromium (Debian's /usr/bin/chromium, playwright-core),
// in a time zone that is not UTC so that a time shown in local time would show.
//
// It checks that a link restores the whole view (range, dimension, drill-down), that zoom out,
// previous and next move the range (the requests carry the new from/to, the chart's x axis and
// the table follow), that a range reaching "now" follows it and is read again, that a row's key
// opens the drill-down (URL, /api/series?key=), that back restores the view, that a drag on the
// chart narrows the range, that the tables agree with the API and the Sankey has its nodes, and
// how an empty range and an API error are shown. Saves a screenshot; stops the server by its PID.
//
// Usage: node tests/e2e/navigator_test.mjs --binary build/netpulse [--screenshot PATH]
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CHROMIUM, exited, freePort, launchBrowser, paths, waitForHttp } from './browser_support.mjs';

const { binary, screenshot } = paths('navigator.png');

// Runs the binary to its end; returns its stderr, failing on a non-zero exit.
async function run(args, cwd, ms) {
  const child = spawn(binary, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const code = await exited(child, ms);
  if (code === null) child.kill('SIGKILL');
  assert.equal(code, 0, `netpulse ${args[0]} failed (${code}): ${stderr}`);
  return stderr;
}

const T0 = Date.UTC(2020, 4, 9, 0, 0, 0);  // the generated traffic's first record
const H = 3600_000;
const iso = (ms) => new Date(ms).toISOString().replace('.000Z', 'Z');

test('navigator: URL state, zoom out, previous/next, drill-down, drag zoom, tables = API, Sankey',
     { timeout: 480_000 }, async () => {
  assert.ok(existsSync(binary), 'netpulse binary not found at ' + binary);
  assert.ok(existsSync(CHROMIUM), 'Debian chromium is not installed (scripts/setup installs it)');

  const work = mkdtempSync(join(tmpdir(), 'netpulse-navigator-'));
  const data = join(work, 'traffic.txt');
  const db = join(work, 'history.db');
  // Three hours of event time: 540,000 records at 50 a second from 200 addresses.
  await run(['generate', '-q', '--seed', '17', '--start-time', '2020-05-09 00:00:00', '--count', '540000',
             '--rate', '50', '--ips', '200', '--output', `file:${data}`], work, 60_000);
  // A rule raises alerts on outlying sources, for the drill-down's alert list.
  await run(['process', '--input', data, '--store', `sqlite:${db}`, '--history-keys', '1000',
             '--T', '10', '--H', '1', '--k', '3', '--X', '3', '--alert-rule', 'ip-outliers z >= 4',
             '--output', '/dev/null'], work, 240_000);

  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let stderr = '';
  const server = spawn(binary, ['process', '--input', '-', '--store', `sqlite:${db}`,
                                '--web', `127.0.0.1:${port}`, '--output', '/dev/null'],
                       { cwd: work, stdio: ['pipe', 'pipe', 'pipe'] });
  server.stderr.on('data', (d) => { stderr += d; });
  server.stdout.on('data', () => {});
  let context;
  const api = async (path, params) => {
    const r = await fetch(base + path + '?' + new URLSearchParams(params));
    const body = await r.json();
    assert.ok(r.ok, path + ': ' + JSON.stringify(body));
    return body;
  };
  try {
    await waitForHttp(base + '/api/history', 15_000);
    // The data ends at 03:00, a day and more before the wall clock: "now" is the end of the
    // newest stored minute.
    const info = await api('/api/history', {});
    assert.equal(info.now_ms, T0 + 3 * H, JSON.stringify(info));
    assert.equal(info.resolutions.minute.oldest, '2020-05-09T00:00:00.000Z');

    // In a time zone five and a half hours from UTC: a time shown in local time would differ.
    context = await launchBrowser(work, 1500, { timezoneId: 'Asia/Kolkata' });
    const page = context.pages()[0] || await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    // A 4xx answer is logged by Chromium as a failed resource; the error case below wants one.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource.*\b400\b/.test(m.text())) pageErrors.push(m.text());
    });
    const requests = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/api/')) requests.push({ path: u.pathname, q: u.searchParams });
    });
    const loads = () => page.$eval('#history', (e) => Number(e.dataset.loads));
    // Waits for the view to be drawn again after `before` loads.
    const settled = (before) => page.waitForFunction((n) => {
      const h = document.getElementById('history');
      return Number(h.dataset.loads) > n && h.dataset.state !== 'loading';
    }, before, { timeout: 30_000 });
    const asked = (path, from, to, extra = {}) => requests.some((r) => r.path === path &&
      Number(r.q.get('from')) === from && Number(r.q.get('to')) === to &&
      Object.entries(extra).every(([k, v]) => (v === null ? !r.q.has(k) : r.q.get(k) === v)));
    const tableRows = () => page.$$eval('#history-top tbody tr', (trs) => trs.map((tr) => [tr.dataset.key, Number(tr.dataset.bytes)]));
    const xRange = () => page.$eval('#history-chart', (el) => {
      const x = echarts.getInstanceByDom(el).getOption().xAxis[0];
      return [x.min, x.max];
    });
    const inputs = async () => [await page.inputValue('#history-from'), await page.inputValue('#history-to')];
    const urlParams = () => new URL(page.url()).searchParams;
    // The table shows what the API answers for the same range, dimension and limit.
    async function tableMatchesApi(dimension, from, to) {
      const answer = await api('/api/top', { dimension, from, to, limit: 10 });
      assert.ok(answer.rows.length > 0, 'no rows for ' + dimension + ' ' + iso(from) + ' .. ' + iso(to));
      assert.deepEqual(await tableRows(), answer.rows.map((r) => [r.key, r.bytes]));
      return answer;
    }

    // (1) A link restores the view: a fixed hour, the dst table, and a source drilled into: the
    // one with the most alerts in that hour.
    const hour1 = [T0 + H, T0 + 2 * H];
    const alerts = (await api('/api/alerts', { since: hour1[0], limit: 10000 })).alerts
      .filter((a) => Date.parse(a.time) < hour1[1]);
    const perSource = new Map();
    for (const a of alerts) perSource.set(a.source, (perSource.get(a.source) || 0) + 1);
    assert.ok(perSource.size > 0, 'no alert in the hour');
    const [key, keyAlerts] = [...perSource].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
    await page.goto(`${base}/?view=history&from=${iso(hour1[0])}&to=${iso(hour1[1])}&dim=dst&key=${encodeURIComponent(key)}&keydim=src`);
    await settled(0);
    assert.equal(await page.isVisible('#history'), true);
    assert.equal(await page.isHidden('#live'), true);
    const [fromInput, toInput] = await inputs();
    assert.match(fromInput, /^2020-05-09T01:00(:00)?$/);
    assert.match(toInput, /^2020-05-09T02:00(:00)?$/);
    assert.equal(await page.$eval('#history-top', (t) => t.dataset.dimension), 'dst');
    assert.equal(await page.$eval('#history-dims button[aria-pressed="true"]', (b) => b.dataset.dimension), 'dst');
    assert.equal(await page.isVisible('#history-drill'), true);
    assert.equal(await page.$eval('#history-drill', (e) => e.dataset.key), key);
    assert.equal(await page.textContent('#history-drill-key'), key);
    await page.waitForSelector('#history-drill[data-state="ready"]');
    assert.ok(asked('/api/series', ...hour1, { key, dimension: 'src' }));
    assert.ok(asked('/api/top', ...hour1, { dimension: 'conversation', filter: 'src=' + key }));
    assert.ok(Number(await page.$eval('#history-peers', (t) => t.dataset.rows)) > 0, 'the drill-down lists no peer');
    assert.ok(Number(await page.$eval('#history-protocols', (t) => t.dataset.rows)) > 0, 'the drill-down lists no protocol');
    // Its alerts: those of the hour that name it (the rule's alerts name their key only).
    assert.ok(requests.some((r) => r.path === '/api/alerts' && Number(r.q.get('since')) === hour1[0]));
    assert.equal(await page.textContent('#history-alert-count'), String(keyAlerts));
    assert.equal(await page.$$eval('#history-alerts li:not(.empty)', (lis) => lis.length), Math.min(keyAlerts, 100));
    assert.deepEqual(await page.$$eval('#history-alerts li .source', (els) => [...new Set(els.map((e) => e.textContent))]), [key]);
    assert.deepEqual(await xRange(), hour1);
    // (5) The table is the API's answer; the Sankey has the API's nodes.
    const dstHour1 = await tableMatchesApi('dst', ...hour1);
    const bounds = await page.$$eval('#history-top tbody tr td:nth-child(4)', (tds) => tds.map((td) => td.textContent));
    dstHour1.rows.forEach((r, i) => assert.match(bounds[i], r.error_bytes ? /^± \d/ : /^exact$/, r.key));
    const sankey = await api('/api/sankey', { from: hour1[0], to: hour1[1], limit: 20 });
    assert.ok(sankey.nodes.length > 0);
    assert.equal(await page.$eval('#history-sankey', (e) => Number(e.dataset.nodes)), sankey.nodes.length);
    assert.equal(await page.$eval('#history-sankey', (e) => echarts.getInstanceByDom(e).getOption().series[0].data.length),
                 sankey.nodes.length);
    // Times are UTC whatever the browser's zone: the chart's first axis label is 01:00.
    assert.equal(await page.evaluate(() => new Date(0).getTimezoneOffset()), -330);
    assert.match(await page.textContent('#history-range-label'), /^2020-05-09 01:00:00 – 2020-05-09 02:00:00 UTC/);

    // (2) previous, next, zoom out: new from/to in the requests, the x axis and the table follow.
    const steps = [
      ['#history-prev', [T0, T0 + H]],
      ['#history-next', hour1],
      ['#history-zoom-out', [T0 + H / 2, T0 + 5 * H / 2]],
    ];
    let shown = await tableRows();
    for (const [button, range] of steps) {
      const before = await loads();
      requests.length = 0;
      await page.click(button);
      await settled(before);
      assert.equal(urlParams().get('from'), iso(range[0]), button);
      assert.equal(urlParams().get('to'), iso(range[1]), button);
      assert.ok(asked('/api/top', ...range, { dimension: 'dst' }), button + ': no /api/top for the new range');
      assert.ok(asked('/api/series', ...range, { dimension: 'dst', key: null }), button + ': no stacked /api/series');
      assert.ok(asked('/api/series', ...range, { key }), button + ': the drill-down was not read again');
      assert.deepEqual(await xRange(), range, button);
      const rows = await tableRows();
      assert.notDeepEqual(rows, shown, button + ': the table did not change');
      shown = rows;
      await tableMatchesApi('dst', ...range);
    }

    // Next from 00:30-02:30 reaches "now" (03:00): the view follows the last 2 h, and reads it
    // again every 10 s.
    {
      const before = await loads();
      requests.length = 0;
      await page.click('#history-next');
      await settled(before);
      assert.equal(urlParams().get('range'), '2h');
      assert.equal(urlParams().has('from'), false);
      assert.ok(asked('/api/top', T0 + H, T0 + 3 * H, { dimension: 'dst' }));
      assert.equal(await page.isDisabled('#history-next'), true);
      assert.deepEqual(await xRange(), [T0 + H, T0 + 3 * H]);
      requests.length = 0;
      await page.waitForFunction((n) => Number(document.getElementById('history').dataset.loads) > n, before + 1,
                                 { timeout: 30_000 });
      assert.ok(asked('/api/top', T0 + H, T0 + 3 * H, { dimension: 'dst' }), 'no refresh of the followed range');
    }

    // (3) A row's key opens its drill-down; back restores the previous one.
    {
      const rows = await tableRows();
      const other = rows.find((r) => r[0] !== key)[0];
      const before = await loads();
      requests.length = 0;
      await page.click(`#history-top tbody tr[data-key="${other}"] a.key`);
      await settled(before);
      assert.equal(urlParams().get('key'), other);
      assert.equal(urlParams().get('keydim'), 'dst');
      assert.equal(await page.$eval('#history-drill', (e) => e.dataset.key), other);
      assert.ok(requests.some((r) => r.path === '/api/series' && r.q.get('key') === other && r.q.get('dimension') === 'dst'));
      assert.ok(requests.some((r) => r.path === '/api/top' && r.q.get('filter') === 'dst=' + other));
      await page.waitForSelector('#history-drill[data-state="ready"]');
      assert.equal(await page.$eval('#history-top tr.selected', (tr) => tr.dataset.key), other);
      const back = await loads();
      await page.goBack();
      await settled(back);
      assert.equal(urlParams().get('key'), key);
      assert.equal(await page.$eval('#history-drill', (e) => e.dataset.key), key);
    }

    // (4) A drag across the middle half of the chart narrows the range to it (whole minutes).
    {
      const [min, max] = await xRange();
      const at = await page.$eval('#history-chart', (el, [a, b]) => {
        const c = echarts.getInstanceByDom(el);
        const r = el.getBoundingClientRect();
        const grid = c.getModel().getComponent('grid').coordinateSystem.getRect();
        return { x1: r.left + c.convertToPixel({ xAxisIndex: 0 }, a), x2: r.left + c.convertToPixel({ xAxisIndex: 0 }, b),
                 y: r.top + grid.y + grid.height / 2 };
      }, [min + (max - min) / 4, min + 3 * (max - min) / 4]);
      const before = await loads();
      requests.length = 0;
      await page.mouse.move(at.x1, at.y);
      await page.mouse.down();
      await page.mouse.move((at.x1 + at.x2) / 2, at.y, { steps: 8 });
      await page.mouse.move(at.x2, at.y, { steps: 8 });
      await page.mouse.up();
      await settled(before);
      const from = Date.parse(urlParams().get('from')), to = Date.parse(urlParams().get('to'));
      assert.ok(from >= min + (max - min) / 4 - 5 * 60_000 && from <= min + (max - min) / 4 + 5 * 60_000, iso(from));
      assert.ok(to >= min + 3 * (max - min) / 4 - 5 * 60_000 && to <= min + 3 * (max - min) / 4 + 5 * 60_000, iso(to));
      assert.equal(from % 60_000, 0);
      assert.ok(asked('/api/top', from, to, { dimension: 'dst' }));
      assert.ok(asked('/api/series', from, to, { dimension: 'dst' }));
      assert.deepEqual(await xRange(), [from, to]);
      await tableMatchesApi('dst', from, to);
      // The dimension tab: the src table, the same range.
      const tab = await loads();
      await page.click('#history-dims button[data-dimension="src"]');
      await settled(tab);
      assert.equal(urlParams().get('dim'), 'src');
      await tableMatchesApi('src', from, to);
    }

    // (6) The artifact.
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log('# screenshot: ' + screenshot);

    // An hour before the data: said to be empty.
    await page.goto(`${base}/?view=history&from=2020-05-08T10:00:00Z&to=2020-05-08T11:00:00Z&dim=src`);
    await settled(0);
    assert.equal(await page.$eval('#history', (e) => e.dataset.state), 'empty');
    assert.match(await page.textContent('#history-empty'), /^No traffic stored between 2020-05-08 10:00:00 and 2020-05-08 11:00:00 UTC/);
    assert.equal(await page.isHidden('#history-error'), true);

    // A filter the API refuses: its one-line error is shown.
    const bad = 'src=not-an-address';
    const refused = await fetch(`${base}/api/top?` + new URLSearchParams({ dimension: 'src', filter: bad, from: hour1[0], to: hour1[1] }));
    assert.equal(refused.status, 400);
    const why = (await refused.json()).error;
    await page.goto(`${base}/?view=history&from=${iso(hour1[0])}&to=${iso(hour1[1])}&dim=src&filter=${encodeURIComponent(bad)}`);
    await settled(0);
    assert.equal(await page.$eval('#history', (e) => e.dataset.state), 'error');
    assert.equal(await page.textContent('#history-error'), '/api/top: ' + why);
    assert.equal(await page.isVisible('#history-error'), true);

    // The live tab is the dashboard as before.
    await page.click('#tab-live');
    assert.equal(new URL(page.url()).search, '');
    assert.equal(await page.isVisible('#chart-ip-topk'), true);
    assert.equal(await page.isHidden('#history'), true);
    assert.deepEqual(pageErrors, []);

    server.stdin.end();
    assert.equal(await exited(server, 15_000), 0, stderr);
  } finally {
    if (context) await context.close();
    if (server.exitCode === null) server.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
});
