// The netpulse dashboard: one WebSocket (/ws) brings results, alerts and a status message each
// second; the same socket carries control messages (docs/server.md). Charts are Apache ECharts,
// served by the binary from node_modules; without it the rows are shown as text.
'use strict';

(function () {
  const QUERIES = ['protocol-share', 'protocol-topk', 'protocol-outliers', 'ip-share', 'ip-topk', 'ip-outliers'];
  const KEEP_WINDOWS = 30;      // windows kept for the outlier charts' mean and sd
  const KEEP_BANDWIDTH = 300;   // points of the bandwidth chart
  const hasCharts = typeof window.echarts !== 'undefined';

  const state = {
    latest: {},                 // query -> latest result
    windows: new Map(),         // window_end -> { query -> result }
    bandwidth: new Map(),       // window_end (ms) -> bytes per second
    alerts: [],
    status: null,
    ws: null,
    nextId: 1,
    pending: new Map(),         // message id -> description
    dirty: new Set(),           // queries whose chart needs drawing
    bandwidthDirty: false,
    frame: 0,
    retry: 500,
    token: null,
  };

  const $ = (id) => document.getElementById(id);

  // ---------- formatting ----------
  function fmtBytes(b) {
    if (b == null || !isFinite(b)) return '–';
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let u = 0;
    while (Math.abs(b) >= 1000 && u < units.length - 1) { b /= 1000; u++; }
    return (u === 0 ? b.toFixed(0) : b.toFixed(b < 10 ? 2 : 1)) + ' ' + units[u];
  }
  function fmtCount(n) {
    if (n == null || !isFinite(n)) return '–';
    if (n >= 1e9) return (n / 1e9).toFixed(2) + ' G';
    if (n >= 1e6) return (n / 1e6).toFixed(2) + ' M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + ' k';
    return String(Math.round(n));
  }
  function fmtTime(iso) {
    if (!iso) return '–';
    return iso.replace('T', ' ').replace(/\.\d+Z$/, '').replace(/Z$/, '');
  }
  // The least of 1, 2, 2.5, 5 times a power of ten that is >= x: an axis top with round ticks.
  function niceCeil(x) {
    if (!(x > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(x)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
    return 10 * p;
  }
  function paramsText(p) {
    return Object.entries(p || {}).map(([k, v]) => k + '=' + v).join(' ');
  }
  // A percentage with two significant digits and no trailing zeros: 0.05, 1.5, 12.
  function fmtPercent(p) {
    return String(Number(p.toPrecision(2)));
  }
  // A key count in short form: 950, 12.3k, 1.2M, 3G.
  function fmtKeys(n) {
    for (const [v, unit] of [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']]) {
      if (n >= v) return String(Number((n / v).toFixed(1))) + unit;
    }
    return String(Math.round(n));
  }

  // ---------- charts ----------
  const charts = {};
  function initCharts() {
    for (const q of QUERIES) {
      const el = $('chart-' + q);
      if (hasCharts) charts[q] = echarts.init(el, null, { renderer: 'canvas' });
    }
    if (hasCharts) charts.bandwidth = echarts.init($('chart-bandwidth'), null, { renderer: 'canvas' });
    window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.resize()));
  }

  const baseOption = {
    animationDuration: 200,
    animationDurationUpdate: 200,
    grid: { left: 64, right: 24, top: 24, bottom: 56 },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
  };

  // mean and sd of a window's dimension, from two rows with z scores (bytes = mean + z * sd).
  function meanSd(window, dimension) {
    const rows = [];
    for (const q of [dimension + '-topk', dimension + '-outliers', dimension + '-share']) {
      const r = window && window[q];
      if (r) for (const row of r.rows) if (row.z !== null && row.z !== undefined) rows.push(row);
    }
    for (let i = 0; i < rows.length; i++) {
      for (let j = i + 1; j < rows.length; j++) {
        if (rows[i].z !== rows[j].z) {
          const sd = (rows[i].bytes - rows[j].bytes) / (rows[i].z - rows[j].z);
          return { mean: rows[i].bytes - rows[i].z * sd, sd };
        }
      }
    }
    return null;
  }

  function drawFallback(el, result, valueOf, unit) {
    el.innerHTML = '';
    const list = document.createElement('ol');
    list.className = 'fallback';
    for (const row of result.rows) {
      const li = document.createElement('li');
      li.textContent = row.key + ': ' + valueOf(row) + unit;
      list.appendChild(li);
    }
    if (!result.rows.length) list.innerHTML = '<li class="empty">no keys</li>';
    el.appendChild(list);
  }

  // The badge of an address chart whose window came from the memory budget's bounded summary
  // (spec §4 and §9: "approximate":{"epsilon","keys_estimated"}); hidden for exact windows.
  function drawApproximate(q, result) {
    const badge = document.querySelector('.approx[data-for="' + q + '"]');
    if (!badge) return;  // the protocol charts are always exact
    const a = result.approximate;
    $('chart-' + q).dataset.approximate = a ? '1' : '0';
    if (!a) {
      badge.hidden = true;
      badge.textContent = '';
      badge.title = '';
      return;
    }
    const pct = fmtPercent(a.epsilon * 100);
    const keys = fmtKeys(a.keys_estimated);
    badge.textContent = '≈ approximate ±' + pct + '% (≈' + keys + ' keys)';
    badge.title = 'Approximate: this window\'s addresses would have exceeded the memory budget ' +
      '(--memory-limit), so the address results come from a bounded summary. Every byte count ' +
      'shown is within ±' + pct + '% of the window\'s total bytes (±' +
      fmtBytes(a.epsilon * result.total_bytes) + ' of ' + fmtBytes(result.total_bytes) +
      '); the number of addresses (' + Number(a.keys_estimated).toLocaleString('en-US') +
      ') is an estimate. Totals and the protocol charts are exact.';
    badge.hidden = false;
  }

  function drawQuery(q) {
    const result = state.latest[q];
    if (!result) return;
    const el = $('chart-' + q);
    const [dimension, kind] = q.split('-');
    el.dataset.bars = String(result.rows.length);
    el.dataset.windowEnd = result.window_end;
    document.querySelector('.params[data-for="' + q + '"]').textContent =
      paramsText(result.params) + ' · ' + fmtTime(result.window_end) + ' · ' +
      (result.approximate ? '≈' : '') + result.keys + ' keys';
    drawApproximate(q, result);
    const keys = result.rows.map((r) => r.key);
    const rotate = dimension === 'ip' && keys.length > 3 ? 25 : 0;

    if (kind === 'topk') {
      if (!hasCharts) return drawFallback(el, result, (r) => fmtBytes(r.bytes), '');
      charts[q].setOption(Object.assign({}, baseOption, {
        xAxis: { type: 'category', data: keys, axisLabel: { rotate, interval: 0 } },
        yAxis: { type: 'value', name: 'bytes', axisLabel: { formatter: fmtBytes } },
        series: [{ type: 'bar', name: 'bytes', data: result.rows.map((r) => r.bytes),
                   itemStyle: { color: '#3b82f6' }, barMaxWidth: 48,
                   label: { show: true, position: 'top', formatter: (p) => fmtBytes(p.value) } }],
      }), { notMerge: true });
    } else if (kind === 'share') {
      const H = result.params.H;
      if (!hasCharts) return drawFallback(el, result, (r) => (r.share * 100).toFixed(2), ' %');
      const shares = result.rows.map((r) => +(r.share * 100).toFixed(3));
      const top = Math.max(H, ...shares, 1) * 1.15;
      // With no key above H, an empty category keeps the axis and the H line drawn.
      const empty = shares.length === 0;
      charts[q].setOption(Object.assign({}, baseOption, {
        xAxis: { type: 'category', data: empty ? [''] : keys, axisLabel: { rotate, interval: 0 } },
        yAxis: { type: 'value', name: '% of bytes', min: 0, max: niceCeil(top), axisLabel: { formatter: '{value} %' } },
        series: [{ type: 'bar', name: 'share', data: empty ? [0] : shares, itemStyle: { color: '#10b981' }, barMaxWidth: 48,
                   label: { show: !empty, position: 'top', formatter: (p) => p.value.toFixed(1) + ' %' },
                   markLine: { symbol: 'none', silent: true, lineStyle: { color: '#ef4444', type: 'dashed' },
                               label: { formatter: 'H = ' + H + ' %', position: 'insideEndTop' },
                               data: [{ yAxis: H }] } }],
        graphic: shares.length ? [] : [{ type: 'text', left: 'center', top: 'middle',
                                         style: { text: 'no key above H', fill: '#94a3b8', fontSize: 14 } }],
      }), { notMerge: true });
    } else {
      const X = result.params.X;
      const window = state.windows.get(result.window_end);
      const ms = meanSd(window, dimension);
      if (!hasCharts) return drawFallback(el, result, (r) => fmtBytes(r.bytes), '');
      // Bars: the outliers (red), with the window's top keys (grey) for context.
      const bars = new Map();
      const topk = window && window[dimension + '-topk'];
      if (topk) for (const r of topk.rows) bars.set(r.key, { bytes: r.bytes, outlier: false });
      for (const r of result.rows) bars.set(r.key, { bytes: r.bytes, outlier: true });
      const entries = [...bars.entries()].sort((a, b) => b[1].bytes - a[1].bytes);
      const lines = [];
      if (ms) {
        lines.push({ yAxis: ms.mean, name: 'mean', lineStyle: { color: '#64748b', type: 'dotted' },
                     label: { formatter: 'mean', position: 'insideStartTop' } });
        lines.push({ yAxis: ms.mean + X * ms.sd, name: 'threshold', lineStyle: { color: '#ef4444', type: 'dashed' },
                     label: { formatter: 'mean + ' + X + '·sd', position: 'insideEndTop' } });
      }
      const maxBar = Math.max(0, ...entries.map((e) => e[1].bytes), ms ? ms.mean + X * ms.sd : 0);
      charts[q].setOption(Object.assign({}, baseOption, {
        xAxis: { type: 'category', data: entries.map((e) => e[0]), axisLabel: { rotate: entries.length > 8 ? 45 : dimension === 'ip' && entries.length > 3 ? 25 : 0, interval: 0, fontSize: entries.length > 8 ? 10 : 12 } },
        yAxis: { type: 'value', name: 'bytes', max: maxBar > 0 ? niceCeil(maxBar * 1.05) : null, axisLabel: { formatter: fmtBytes } },
        series: [{ type: 'bar', name: 'bytes', barMaxWidth: 48,
                   data: entries.map((e) => ({ value: e[1].bytes, itemStyle: { color: e[1].outlier ? '#ef4444' : '#cbd5e1' } })),
                   markLine: { symbol: 'none', silent: true, data: lines } }],
        graphic: result.rows.length ? [] : [{ type: 'text', left: 'center', top: 4,
                                              style: { text: 'no outlier', fill: '#94a3b8', fontSize: 13 } }],
      }), { notMerge: true });
    }
  }

  function drawBandwidth() {
    if (!hasCharts) {
      const last = [...state.bandwidth.values()].pop();
      $('chart-bandwidth').textContent = last == null ? '' : fmtBytes(last) + '/s';
      return;
    }
    const points = [...state.bandwidth.entries()].sort((a, b) => a[0] - b[0]);
    charts.bandwidth.setOption(Object.assign({}, baseOption, {
      grid: { left: 72, right: 24, top: 24, bottom: 32 },
      tooltip: { trigger: 'axis', valueFormatter: (v) => fmtBytes(v) + '/s' },
      xAxis: { type: 'time' },
      yAxis: { type: 'value', axisLabel: { formatter: (v) => fmtBytes(v) + '/s' } },
      series: [{ type: 'line', name: 'bandwidth', showSymbol: false, smooth: false, areaStyle: { opacity: 0.15 },
                 itemStyle: { color: '#6366f1' }, data: points }],
    }), { notMerge: true });
  }

  function scheduleDraw() {
    if (state.frame) return;
    state.frame = requestAnimationFrame(() => {
      state.frame = 0;
      for (const q of state.dirty) drawQuery(q);
      state.dirty.clear();
      if (state.bandwidthDirty) drawBandwidth();
      state.bandwidthDirty = false;
    });
  }

  // ---------- incoming messages ----------
  function onResult(r) {
    const end = r.window_end;
    let w = state.windows.get(end);
    if (!w) {
      w = {};
      state.windows.set(end, w);
      if (state.windows.size > KEEP_WINDOWS) state.windows.delete(state.windows.keys().next().value);
    }
    w[r.query] = r;
    const prev = state.latest[r.query];
    if (!prev || prev.window_end <= end) {
      state.latest[r.query] = r;
      state.dirty.add(r.query);
      // The outlier charts read the topk rows of the same window.
      const dim = r.query.split('-')[0];
      if (state.latest[dim + '-outliers'] && state.latest[dim + '-outliers'].window_end === end) state.dirty.add(dim + '-outliers');
    }
    const endMs = Date.parse(end), startMs = Date.parse(r.window_start);
    if (!state.bandwidth.has(endMs) && endMs > startMs) {
      state.bandwidth.set(endMs, r.total_bytes / ((endMs - startMs) / 1000));
      if (state.bandwidth.size > KEEP_BANDWIDTH) {
        const oldest = Math.min(...state.bandwidth.keys());
        state.bandwidth.delete(oldest);
      }
      state.bandwidthDirty = true;
    }
    scheduleDraw();
  }

  function onAlert(a) {
    state.alerts.unshift(a);
    if (state.alerts.length > 100) state.alerts.pop();
    const list = $('alerts');
    const li = document.createElement('li');
    li.innerHTML = '<time></time> <b></b> <span class="source"></span> <span class="score"></span>';
    li.querySelector('time').textContent = fmtTime(a.time);
    li.querySelector('b').textContent = a.detector;
    li.querySelector('.source').textContent = a.source;
    li.querySelector('.score').textContent = 'score ' + Number(a.score).toFixed(3);
    const empty = list.querySelector('.empty');
    if (empty) empty.remove();
    list.prepend(li);
    while (list.children.length > 100) list.lastChild.remove();
    $('alert-count').textContent = String(state.alerts.length);
  }

  function setText(id, text) { const el = $(id); if (el.textContent !== text) el.textContent = text; }

  function fillForm(prefix, params, names) {
    for (const name of names) {
      const input = $(prefix + name);
      if (!input || document.activeElement === input || input.dataset.dirty === '1') continue;
      const v = params[name];
      input.value = v === null || v === undefined ? '' : String(v);
    }
  }

  // A netflow:// or sflow:// input: one row per exporter, loss and errors highlighted.
  function renderCollector(c) {
    const panel = $('collector-panel');
    if (!c) { panel.hidden = true; return; }
    panel.hidden = false;
    setText('collector-summary', fmtCount(c.flows) + ' flows from ' + fmtCount(c.datagrams) +
      ' datagrams; ' + fmtCount(c.lost) + ' lost, ' + fmtCount(c.kernel_drops) +
      ' dropped by the kernel, ' + fmtCount(c.malformed) + ' malformed');
    const body = $('exporters').tBodies[0];
    const rows = c.exporters.map((e) => [e.agent ? e.exporter + ' (agent ' + e.agent + ')' : e.exporter,
      e.protocol, String(e.domain),
      fmtCount(e.datagrams), fmtCount(e.flows), fmtCount(e.lost), fmtCount(e.malformed),
      fmtCount(e.template_misses), '1:' + e.sampling_rate]);
    while (body.rows.length > rows.length) body.deleteRow(-1);
    rows.forEach((cells, i) => {
      const tr = body.rows[i] || body.insertRow();
      while (tr.cells.length < cells.length) tr.insertCell();
      cells.forEach((text, j) => { if (tr.cells[j].textContent !== text) tr.cells[j].textContent = text; });
      const bad = c.exporters[i].lost > 0 || c.exporters[i].malformed > 0;
      tr.className = bad ? 'warn' : '';
    });
  }

  // A pcap: or pcap-live: input: what was captured, what nDPI guessed, what the kernel dropped.
  function renderCapture(c) {
    const panel = $('capture-panel');
    if (!c) { panel.hidden = true; return; }
    panel.hidden = false;
    const guessed = c.records > 0 ? (100 * c.guessed_records / c.records).toFixed(1) + '%' : '0%';
    setText('capture-summary', (c.live ? 'live' : c.speed ? 'replay at ' + c.speed + 'x' : 'file') +
      (c.finished ? ', ended' : '') + (c.warning ? '; ' + c.warning : ''));
    const cells = [c.input, c.link, fmtCount(c.packets), fmtCount(c.ip_bytes), fmtCount(c.records),
      guessed, fmtCount(c.flows_active), fmtCount(c.flows_evicted),
      fmtCount(c.not_ip + c.truncated + c.bad_header), fmtCount(c.kernel_drops + c.interface_drops)];
    const tr = $('capture').tBodies[0].rows[0];
    cells.forEach((text, j) => { if (tr.cells[j].textContent !== text) tr.cells[j].textContent = text; });
    tr.className = c.kernel_drops + c.interface_drops > 0 ? 'warn' : '';
  }

  // `netpulse merge --web`: one row per source partition: the instance that owns it, its state,
  // how far it is complete and merged, and how far it lags behind the newest pane.
  function renderCluster(c) {
    const panel = $('cluster-panel');
    if (!c) { panel.hidden = true; return; }
    panel.hidden = false;
    const src = c.source;
    setText('cluster-summary', src
      ? src.topic + ': ' + src.partitions + ' partitions, ' + c.instances.length + ' instances; merged below ' +
        fmtTime(c.merged_below)
      : 'no pane received yet');
    const body = $('cluster').tBodies[0];
    const age = (s) => (s === null ? '–' : s < 1 ? 'now' : s.toFixed(0) + ' s ago');
    const rows = c.partitions.map((p) => [String(p.partition), p.owner || '–', p.state,
      fmtTime(p.complete_below), fmtTime(p.last_merged_pane),
      p.lag_seconds === null ? '–' : p.lag_seconds.toFixed(1) + ' s', age(p.last_message_age_seconds)]);
    while (body.rows.length > rows.length) body.deleteRow(-1);
    rows.forEach((cells, i) => {
      const tr = body.rows[i] || body.insertRow();
      while (tr.cells.length < cells.length) tr.insertCell();
      cells.forEach((text, j) => { if (tr.cells[j].textContent !== text) tr.cells[j].textContent = text; });
      const p = c.partitions[i];
      // Unknown holds every window back; a lag over 10 s is worth a look.
      tr.className = p.state === 'unknown' || (p.lag_seconds !== null && p.lag_seconds > 10) ? 'warn' : '';
    });
  }

  function onStatus(s) {
    state.status = s;
    const rps = s.records_per_second || 0;
    const tp = $('throughput');
    tp.dataset.value = String(Math.round(rps));
    setText('throughput', fmtCount(rps) + ' rec/s');
    setText('records-read', fmtCount(s.records.read));
    setText('records-late', fmtCount(s.records.late));
    setText('records-malformed', fmtCount(s.records.malformed));
    setText('windows', fmtCount(s.windows));
    setText('watermark', fmtTime(s.watermark));
    setText('store-lag', s.store ? String(s.store.queue_depth) + (s.store.failing ? ' (failing)' : '') : 'no store');
    setText('ws-clients', String(s.websocket_clients));
    if (s.processor) {
      const ps = $('processor-state');
      ps.textContent = s.processor.running ? 'running' : 'stopped';
      ps.className = 'pill ' + (s.processor.running ? 'pill-on' : 'pill-off');
      fillForm('param-', s.processor.params, ['H', 'T', 'k', 'X']);
    }
    renderCollector(s.collector);
    renderCapture(s.capture);
    renderCluster(s.cluster);
    const gs = $('generator-state');
    if (s.generator) {
      gs.textContent = s.generator.running ? 'running' : 'stopped';
      gs.className = 'pill ' + (s.generator.running ? 'pill-on' : 'pill-off');
      fillForm('gen-', s.generator.params, ['rate', 'ips', 'protocols', 'ipPercent', 'protocolPercent']);
    } else {
      gs.textContent = 'none';
      $('generator-form').classList.add('disabled');
    }
  }

  function message(text, error) {
    const m = $('message');
    m.textContent = text;
    m.className = error ? 'error' : 'ok';
    clearTimeout(message.timer);
    message.timer = setTimeout(() => { m.textContent = ''; m.className = ''; }, 6000);
  }

  function onReply(r) {
    const what = state.pending.get(r.id) || r.action;
    state.pending.delete(r.id);
    if (r.ok) {
      if (r.action !== 'auth' && r.action !== 'status') message(what + ': ok');
      if (r.action === 'processor.params' || r.action === 'generator.params') {
        const form = r.action === 'processor.params' ? 'processor-form' : 'generator-form';
        for (const input of $(form).querySelectorAll('input')) input.dataset.dirty = '';
      }
      if (r.result && r.result.params) {
        if (r.action === 'processor.params') fillForm('param-', r.result.params, ['H', 'T', 'k', 'X']);
      }
    } else {
      message(what + ': ' + r.error, true);
      if (r.status === 401) $('token-panel').hidden = false;
    }
  }

  // ---------- the socket ----------
  function send(action, params) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
      message('not connected', true);
      return;
    }
    const id = state.nextId++;
    state.pending.set(id, action);
    const msg = { id, action };
    if (params !== undefined) msg.params = params;
    state.ws.send(JSON.stringify(msg));
  }

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(proto + '//' + location.host + '/ws');
    state.ws = ws;
    const conn = $('connection');
    ws.onopen = () => {
      state.retry = 500;
      conn.textContent = 'live';
      conn.className = 'pill pill-on';
      conn.dataset.state = 'open';
      if (state.token) ws.send(JSON.stringify({ id: 0, action: 'auth', token: state.token }));
    };
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m.type === 'result') onResult(m.result);
      else if (m.type === 'status') onStatus(m.status);
      else if (m.type === 'alert') onAlert(m.alert);
      else if (m.type === 'reply') onReply(m);
    };
    ws.onclose = () => {
      conn.textContent = 'reconnecting…';
      conn.className = 'pill pill-off';
      conn.dataset.state = 'closed';
      setTimeout(connect, state.retry);
      state.retry = Math.min(state.retry * 2, 8000);
    };
  }

  // ---------- controls ----------
  function numberOrNull(input) {
    const t = input.value.trim();
    return t === '' ? null : Number(t);
  }

  function bindControls() {
    for (const input of document.querySelectorAll('#controls input')) {
      input.addEventListener('input', () => { input.dataset.dirty = '1'; });
    }
    $('processor-start').onclick = () => send('processor.start');
    $('processor-stop').onclick = () => send('processor.stop');
    $('generator-start').onclick = () => send('generator.start');
    $('generator-stop').onclick = () => send('generator.stop');
    $('processor-form').onsubmit = (ev) => {
      ev.preventDefault();
      const params = {};
      for (const name of ['H', 'T', 'k', 'X']) {
        const v = numberOrNull($('param-' + name));
        if (v !== null) params[name] = v;
      }
      send('processor.params', params);
    };
    $('generator-form').onsubmit = (ev) => {
      ev.preventDefault();
      const params = {};
      for (const name of ['rate', 'ips', 'protocols']) {
        const v = numberOrNull($('gen-' + name));
        if (v !== null) params[name] = v;
      }
      for (const name of ['ipPercent', 'protocolPercent']) params[name] = numberOrNull($('gen-' + name));
      send('generator.params', params);
    };
    $('token-save').onclick = () => {
      state.token = $('token').value;
      sessionStorage.setItem('netpulse-token', state.token);
      if (state.ws && state.ws.readyState === WebSocket.OPEN)
        state.ws.send(JSON.stringify({ id: 0, action: 'auth', token: state.token }));
      $('token-panel').hidden = true;
    };
  }

  function readToken() {
    const m = /(?:^|[#&])token=([^&]*)/.exec(location.hash);
    if (m) {
      state.token = decodeURIComponent(m[1]);
      sessionStorage.setItem('netpulse-token', state.token);
      history.replaceState(null, '', location.pathname + location.search);
    } else {
      state.token = sessionStorage.getItem('netpulse-token');
    }
  }

  readToken();
  initCharts();
  bindControls();
  connect();
  window.netpulse = state;  // for the console and the browser test
})();
