// The time navigator (issue 17): the stored traffic history of a range, as top-N tables, a
// stacked top-N-over-time chart, a Sankey of the top conversations and a drill-down on one key,
// from the history API (/api/history, /api/top, /api/series, /api/sankey; docs in the contract
// of issue 17). The whole view lives in the query string, so a link reproduces it and back and
// forward restore it:
//   ?view=history&range=1h             the last hour before the API's "now" (followed: refreshed)
//   ?view=history&from=ISO&to=ISO      a fixed range (UTC)
//   &dim=src&limit=10&filter=TERMS     the top table's dimension, row count and filter
//   &key=KEY&keydim=src                the drill-down
// Times are event time, shown in UTC. Nothing is fetched while the live view is shown.
'use strict';

(function () {
  const PRESETS = ['5m', '15m', '1h', '6h', '24h', '7d'];
  const DIMENSIONS = ['protocol', 'src', 'dst', 'conversation'];
  const LIMITS = [5, 10, 20, 50, 100];
  const DEFAULTS = { range: '1h', dim: 'src', limit: 10 };
  const REFRESH_MS = 10000;       // a range that ends at "now" is read again this often
  const SERIES_KEYS = 5;          // keys of the stacked chart (plus "other")
  const DRILL_ROWS = 100;         // conversations read for a drill-down's peers and protocols
  const DRILL_SHOWN = 25;         // rows of a drill-down table shown
  const SANKEY_CONVERSATIONS = 20;  // conversations of the Sankey
  const hasCharts = typeof window.echarts !== 'undefined';

  const $ = (id) => document.getElementById(id);

  // ---------- formatting (UTC throughout) ----------
  function fmtBytes(b) {
    if (b == null || !isFinite(b)) return '–';
    const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
    let u = 0;
    while (Math.abs(b) >= 1000 && u < units.length - 1) { b /= 1000; u++; }
    return (u === 0 ? b.toFixed(0) : b.toFixed(b < 10 ? 2 : 1)) + ' ' + units[u];
  }
  function fmtShare(s) { return s == null || !isFinite(s) ? '–' : (s * 100).toFixed(2) + ' %'; }
  const pad = (n) => String(n).padStart(2, '0');
  // "2020-05-09 01:00:00" (UTC).
  function fmtUtc(ms) {
    if (ms == null || !isFinite(ms)) return '–';
    const d = new Date(ms);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds());
  }
  // The URL's form: "2020-05-09T01:00:00Z".
  function isoSeconds(ms) { return fmtUtc(ms).replace(' ', 'T') + 'Z'; }
  // A datetime-local input's value, read as UTC.
  function inputValue(ms) { return fmtUtc(ms).replace(' ', 'T'); }
  function parseInput(v) {
    if (!v) return null;
    const ms = Date.parse(v + 'Z');
    return isNaN(ms) ? null : ms;
  }
  function parseTime(text) {
    if (!text) return null;
    if (/^\d+$/.test(text)) return Number(text);
    let t = text.trim().replace(' ', 'T');
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(t)) t += 'Z';
    const ms = Date.parse(t);
    return isNaN(ms) ? null : ms;
  }
  const UNITS = [['w', 604800000], ['d', 86400000], ['h', 3600000], ['m', 60000], ['s', 1000]];
  function parseDuration(text) {
    const m = /^(\d+)(s|m|h|d|w)$/.exec(text || '');
    if (!m || Number(m[1]) <= 0) return null;
    return Number(m[1]) * UNITS.find((u) => u[0] === m[2])[1];
  }
  // The shortest exact form, keeping the presets' spelling ("24h", not "1d"; "7d", not "1w").
  function fmtDuration(ms) {
    for (const p of PRESETS) if (parseDuration(p) === ms) return p;
    for (const [u, size] of [['d', 86400000], ['h', 3600000], ['m', 60000], ['s', 1000]])
      if (ms % size === 0) return ms / size + u;
    return Math.ceil(ms / 1000) + 's';
  }
  function fmtSpan(ms) {
    for (const [u, size] of [['d', 86400000], ['h', 3600000], ['min', 60000]])
      if (ms >= size) return +(ms / size).toFixed(1) + ' ' + u;
    return Math.round(ms / 1000) + ' s';
  }
  // Does `text` name `key` as a whole token (10.0.0.1 is not in 10.0.0.12)?
  function mentions(text, key) {
    if (!text || !key) return false;
    const t = String(text).toLowerCase(), k = String(key).toLowerCase();
    for (let i = t.indexOf(k); i >= 0; i = t.indexOf(k, i + 1)) {
      const before = i === 0 ? '' : t[i - 1], after = t[i + k.length] || '';
      if (!/[0-9a-z.:_-]/.test(before) && !/[0-9a-z:_-]/.test(after) && !/^\.\d/.test(t.slice(i + k.length)))
        return true;
    }
    return false;
  }

  // ---------- the view state and the URL ----------
  // {view, range (a duration, following now) | from, to (ms), dim, limit, filter, key, keydim}
  function readUrl() {
    const q = new URLSearchParams(location.search);
    const s = { view: q.get('view') === 'history' ? 'history' : 'live' };
    const from = parseTime(q.get('from')), to = parseTime(q.get('to'));
    if (from !== null && to !== null && from < to) {
      s.from = from; s.to = to;
    } else {
      s.range = parseDuration(q.get('range')) ? q.get('range') : DEFAULTS.range;
    }
    s.dim = DIMENSIONS.includes(q.get('dim')) ? q.get('dim') : DEFAULTS.dim;
    const limit = Number(q.get('limit'));
    s.limit = Number.isInteger(limit) && limit >= 1 && limit <= 1000 ? limit : DEFAULTS.limit;
    s.filter = q.get('filter') || '';
    s.key = q.get('key') || '';
    s.keydim = DIMENSIONS.includes(q.get('keydim')) ? q.get('keydim') : s.dim;
    return s;
  }
  function urlOf(s) {
    const q = new URLSearchParams();
    q.set('view', 'history');
    if (s.range) q.set('range', s.range);
    else { q.set('from', isoSeconds(s.from)); q.set('to', isoSeconds(s.to)); }
    q.set('dim', s.dim);
    if (s.limit !== DEFAULTS.limit) q.set('limit', String(s.limit));
    if (s.filter) q.set('filter', s.filter);
    if (s.key) { q.set('key', s.key); q.set('keydim', s.keydim); }
    // ':', ',' and '/' need no escape in a query: the address bar stays readable.
    return location.pathname + '?' + q.toString().replace(/%3A/gi, ':').replace(/%2C/gi, ',').replace(/%2F/gi, '/') +
      location.hash;
  }

  let view = readUrl();
  let lastHistoryUrl = null;      // the history view to go back to from the live tab
  // The last answers: the API's "now" and stored span, and the range actually shown.
  const data = { info: null, now: null, from: null, to: null, seq: 0, loads: 0 };

  // A new view: into the URL (a new history entry unless `replace`), then drawn.
  function go(changes, replace) {
    const next = Object.assign({}, view, changes);
    if ('range' in changes && changes.range) { delete next.from; delete next.to; }
    if ('from' in changes) delete next.range;
    if (!next.key) { next.key = ''; }
    view = next;
    const url = urlOf(view);
    if (url !== location.pathname + location.search + location.hash) {
      if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
    }
    show();
  }

  // ---------- requests ----------
  class ApiError extends Error {}
  async function getJson(path, params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    const url = path + (q.toString() ? '?' + q.toString() : '');
    let r;
    try {
      r = await fetch(url, { headers: { Accept: 'application/json' } });
    } catch (e) {
      throw new ApiError(path + ': the server did not answer');
    }
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok) {
      const why = body && body.error ? body.error : 'HTTP ' + r.status;
      throw new ApiError(path + ': ' + String(why).split('\n')[0]);
    }
    if (!body) throw new ApiError(path + ': the answer is not JSON');
    return body;
  }
  // The filter's terms ("field=value", comma-separated). Terms of one field are alternatives and
  // fields a dimension does not have are refused by the API, so each request takes the terms that
  // apply to its dimension; a term of an unknown field is passed on for the API to name.
  const APPLIES = { src: ['src', 'key'], dst: ['dst', 'key'], protocol: ['protocol', 'key'],
                    conversation: ['src', 'dst', 'protocol', 'key'] };
  const FIELDS = ['src', 'dst', 'protocol', 'key'];
  function terms(text) { return (text || '').split(',').map((t) => t.trim()).filter((t) => t); }
  const fieldOf = (term) => term.split('=')[0].trim().toLowerCase();
  function filterFor(dimension) {
    const keep = terms(view.filter).filter((t) => !FIELDS.includes(fieldOf(t)) || APPLIES[dimension].includes(fieldOf(t)));
    return keep.join(',') || undefined;
  }
  function ignoredFor(dimension) {
    return terms(view.filter).filter((t) => FIELDS.includes(fieldOf(t)) && !APPLIES[dimension].includes(fieldOf(t)));
  }
  // A drill-down over conversations: its own term, and the view's address and protocol terms
  // of other fields (key terms name keys of the view's dimension, not conversations).
  function withFilter(term) {
    const f = fieldOf(term);
    const keep = terms(view.filter).filter((t) => ['src', 'dst', 'protocol'].includes(fieldOf(t)) && fieldOf(t) !== f);
    return keep.concat([term]).join(',');
  }

  // Waits for every request; then the first failure in the order asked (not in the order of
  // arrival), so the error shown for a view is always the same one.
  async function settleAll(jobs) {
    const done = await Promise.allSettled(jobs);
    const failed = done.find((d) => d.status === 'rejected');
    if (failed) throw failed.reason;
    return done.map((d) => d.value);
  }

  // ---------- the charts ----------
  const charts = {};
  function chart(id) {
    if (!hasCharts) return null;
    if (!charts[id]) {
      charts[id] = echarts.init($(id), null, { renderer: 'canvas' });
      if (id === 'history-chart') bindBrush(charts[id], $(id));
      if (id === 'history-sankey') charts[id].on('click', onSankeyClick);
    }
    return charts[id];
  }
  const PALETTE = ['#3b82f6', '#10b981', '#f59e0b', '#8b5cf6', '#ef4444', '#06b6d4', '#ec4899', '#84cc16',
    '#f97316', '#6366f1'];
  const baseOption = {
    useUTC: true,
    animation: false,
    color: PALETTE,
    grid: { left: 72, right: 24, top: 40, bottom: 32 },
  };
  function timeAxis(from, to) {
    return { type: 'time', min: from, max: to,
      axisLabel: { hideOverlap: true, formatter: { year: '{yyyy}', month: '{MMM}', day: '{MM}-{dd}',
        hour: '{HH}:{mm}', minute: '{HH}:{mm}', second: '{HH}:{mm}:{ss}' } } };
  }
  const rateAxis = { type: 'value', axisLabel: { formatter: (v) => fmtBytes(v) + '/s' } };

  // Drag on the time chart: a brush along x, which becomes the new fixed range. A refresh that
  // lands while the button is down waits for its release (redrawing would drop the brush); if the
  // drag made a new range, that range's answer wins instead.
  const drag = { on: false, pending: null };
  function bindBrush(c, el) {
    el.addEventListener('pointerdown', () => { drag.on = true; });
    window.addEventListener('pointerup', () => {
      if (!drag.on) return;
      drag.on = false;
      const p = drag.pending;
      drag.pending = null;
      if (p) setTimeout(() => { if (p.seq === data.seq) drawStacked(p.series); }, 0);
    });
    c.on('brushEnd', (ev) => {
      const area = ev.areas && ev.areas[0];
      const range = area && area.coordRange;
      if (!range || range.length < 2) return;
      let [a, b] = range.map(Number).sort((x, y) => x - y);
      a = Math.floor(a / 60000) * 60000;
      b = Math.ceil(b / 60000) * 60000;
      c.dispatchAction({ type: 'brush', areas: [] });
      if (!(b > a)) return;
      go({ from: a, to: b, range: null });
    });
  }
  function armBrush(c) {
    c.dispatchAction({ type: 'takeGlobalCursor', key: 'brush',
                       brushOption: { brushType: 'lineX', brushMode: 'single' } });
  }

  function drawStacked(s) {
    const el = $('history-chart');
    el.dataset.fromMs = String(s.from_ms);
    el.dataset.toMs = String(s.to_ms);
    el.dataset.series = s.series.map((x) => x.key).join('\n');
    const c = chart('history-chart');
    if (!c) { el.textContent = s.series.map((x) => x.key).join(', '); return; }
    const perSecond = 1000 / s.step_ms;
    // Steps with no stored bucket (before the history starts, or a gap) are shaded, not drawn as 0.
    const gaps = [];
    for (const i of (s.missing || []).slice().sort((a, b) => a - b)) {
      const start = s.times[i], end = Math.min(s.times[i] + s.step_ms, s.to_ms);
      const last = gaps[gaps.length - 1];
      if (last && last[1].xAxis === start) last[1].xAxis = end;
      else gaps.push([{ xAxis: start }, { xAxis: end }]);
    }
    el.dataset.missing = String((s.missing || []).length);
    c.setOption(Object.assign({}, baseOption, {
      tooltip: { trigger: 'axis', valueFormatter: (v) => fmtBytes(v) + '/s' },
      legend: { type: 'scroll', top: 0, left: 64, right: 8 },
      xAxis: timeAxis(s.from_ms, s.to_ms),
      yAxis: rateAxis,
      brush: { xAxisIndex: 0, brushType: 'lineX', brushMode: 'single', transformable: false,
               brushStyle: { color: 'rgba(59,130,246,0.15)', borderColor: '#3b82f6' } },
      toolbox: { show: false },
      series: s.series.map((x, i) => ({
        type: 'line', name: x.key, stack: 'bytes', showSymbol: false, step: 'start',
        areaStyle: { opacity: 0.55 }, lineStyle: { width: 1 },
        itemStyle: x.key === 'other' ? { color: '#cbd5e1' } : { color: PALETTE[i % PALETTE.length] },
        data: s.times.map((t, j) => [t, x.bytes[j] * perSecond]),
        markArea: i === 0 && gaps.length ? { silent: true, itemStyle: { color: 'rgba(148,163,184,0.12)' },
          label: { show: true, position: 'insideTop', color: '#94a3b8', fontSize: 11 },
          data: gaps.map(([a, b]) => [Object.assign({ name: 'not stored' }, a), b]) } : undefined,
      })),
      graphic: s.series.length ? [] : [{ type: 'text', left: 'center', top: 'middle',
        style: { text: 'no traffic in this range', fill: '#94a3b8', fontSize: 14 } }],
    }), { notMerge: true });
    armBrush(c);
  }

  function drawKeySeries(s) {
    const el = $('history-drill-chart');
    el.dataset.fromMs = String(s.from_ms);
    el.dataset.toMs = String(s.to_ms);
    const c = chart('history-drill-chart');
    const x = s.series[0] || { key: view.key, bytes: [] };
    if (!c) { el.textContent = fmtBytes(x.bytes.reduce((a, b) => a + b, 0)); return; }
    const perSecond = 1000 / s.step_ms;
    c.setOption(Object.assign({}, baseOption, {
      grid: { left: 72, right: 24, top: 16, bottom: 32 },
      tooltip: { trigger: 'axis', valueFormatter: (v) => fmtBytes(v) + '/s' },
      xAxis: timeAxis(s.from_ms, s.to_ms),
      yAxis: rateAxis,
      series: [{ type: 'line', name: x.key, showSymbol: false, step: 'start', areaStyle: { opacity: 0.2 },
                 itemStyle: { color: '#6366f1' }, data: s.times.map((t, j) => [t, (x.bytes[j] || 0) * perSecond]) }],
    }), { notMerge: true });
  }

  function drawSankey(k) {
    const el = $('history-sankey');
    el.dataset.nodes = String(k.nodes.length);
    el.dataset.links = String(k.links.length);
    $('history-sankey-note').textContent = k.nodes.length
      ? 'top ' + k.rows.length + ' conversations, ' + fmtShare(k.total_bytes ? 1 - k.other_bytes / k.total_bytes : 0) +
        ' of the bytes' + (k.exact ? '' : ' (approximate)')
      : '';
    const c = chart('history-sankey');
    if (!c) { el.textContent = k.links.map((l) => l.source + ' → ' + l.target).join('; '); return; }
    const color = (name) => name.startsWith('src ') ? '#3b82f6' : name.startsWith('proto ') ? '#f59e0b' : '#10b981';
    c.setOption({
      animation: false,
      tooltip: { trigger: 'item', valueFormatter: fmtBytes },
      series: [{ type: 'sankey', left: 8, right: 120, top: 8, bottom: 8, nodeGap: 6, draggable: false,
                 emphasis: { focus: 'adjacency' }, lineStyle: { color: 'gradient', opacity: 0.35 },
                 label: { fontSize: 11 },
                 data: k.nodes.map((n) => ({ name: n.name, itemStyle: { color: color(n.name) } })),
                 links: k.links.map((l) => ({ source: l.source, target: l.target, value: l.value })) }],
      graphic: k.nodes.length ? [] : [{ type: 'text', left: 'center', top: 'middle',
        style: { text: 'no conversation in this range', fill: '#94a3b8', fontSize: 14 } }],
    }, { notMerge: true });
  }
  // A Sankey node opens its address or protocol in the drill-down.
  function onSankeyClick(p) {
    if (p.dataType !== 'node') return;
    const m = /^(src|dst|proto) (.+)$/.exec(p.name);
    if (m) go({ key: m[2], keydim: m[1] === 'proto' ? 'protocol' : m[1] });
  }

  // ---------- tables ----------
  function cell(tr, text, cls) {
    const td = tr.insertCell();
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }
  function keyLink(key, keydim) {
    const a = document.createElement('a');
    a.className = 'key';
    a.textContent = key;
    a.href = urlOf(Object.assign({}, view, { key, keydim }));
    a.dataset.key = key;
    a.dataset.keydim = keydim;
    a.onclick = (ev) => {
      if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
      ev.preventDefault();
      go({ key, keydim });
    };
    return a;
  }
  function emptyRow(body, cols, text) {
    const tr = body.insertRow();
    tr.className = 'empty';
    const td = cell(tr, text);
    td.colSpan = cols;
  }

  function drawTop(t) {
    const table = $('history-top');
    table.dataset.dimension = t.dimension;
    const body = table.tBodies[0];
    body.innerHTML = '';
    for (const r of t.rows) {
      const tr = body.insertRow();
      tr.dataset.key = r.key;
      tr.dataset.bytes = String(r.bytes);
      if (r.key === view.key && t.dimension === view.keydim) tr.className = 'selected';
      tr.insertCell().appendChild(keyLink(r.key, t.dimension));
      cell(tr, fmtBytes(r.bytes), 'num').title = r.bytes.toLocaleString('en-US') + ' bytes';
      cell(tr, fmtShare(r.share), 'num');
      cell(tr, r.error_bytes ? '± ' + fmtBytes(r.error_bytes) : 'exact', r.error_bytes ? 'num bound' : 'num exact');
    }
    if (!t.rows.length) emptyRow(body, 4, 'no keys in this range');
    const foot = table.tFoot;
    foot.innerHTML = '';
    if (t.rows.length && t.other && t.other.bytes > 0) {
      const tr = foot.insertRow();
      cell(tr, 'other');
      cell(tr, fmtBytes(t.other.bytes), 'num');
      cell(tr, fmtShare(t.total_bytes ? t.other.bytes / t.total_bytes : 0), 'num');
      cell(tr, '');
    }
    $('history-top-note').textContent = fmtBytes(t.total_bytes) + (t.filtered ? ' matching' : '') + ' in ' +
      t.buckets + ' ' + t.resolution + ' buckets' +
      (ignoredFor(t.dimension).length ? ' (' + ignoredFor(t.dimension).join(',') + ' does not apply to ' + t.dimension + ')' : '') +
      ' · ' + (t.exact ? 'exact' : 'approximate: a key not shown has at most ' +
        fmtBytes(Math.max(t.absent_bound || 0, t.rows.length ? t.rows[t.rows.length - 1].bytes + (t.rows[t.rows.length - 1].error_bytes || 0) : 0)));
    table.dataset.exact = t.exact ? '1' : '0';
  }

  // ---------- the drill-down ----------
  // Adds a conversation row's bytes to `map` under `name`.
  function addTo(map, name, bytes, extra) {
    const e = map.get(name) || Object.assign({ name, bytes: 0, protocols: new Set() }, extra);
    e.bytes += bytes;
    map.set(name, e);
    return e;
  }
  function drawRows(tableId, head, rows) {
    const table = $(tableId);
    table.tHead.innerHTML = '';
    const hr = table.tHead.insertRow();
    for (const h of head) { const th = document.createElement('th'); th.textContent = h; hr.appendChild(th); }
    const body = table.tBodies[0];
    body.innerHTML = '';
    for (const r of rows.slice(0, DRILL_SHOWN)) {
      const tr = body.insertRow();
      tr.dataset.key = r.key;
      r.cells.forEach((c, i) => {
        if (c instanceof Node) tr.insertCell().appendChild(c);
        else cell(tr, c, i > 0 && /^[±\d]/.test(c) ? 'num' : '');
      });
    }
    if (!rows.length) emptyRow(body, head.length, 'none in this range');
    if (rows.length > DRILL_SHOWN) emptyRow(body, head.length, '… and ' + (rows.length - DRILL_SHOWN) + ' more');
    table.dataset.rows = String(rows.length);
  }
  function cutNote(...answers) {
    const cut = answers.some((a) => a.other && a.other.bytes > 0);
    const exact = answers.every((a) => a.exact);
    return (cut ? 'from its top ' + DRILL_ROWS + ' conversations' : 'all its stored conversations') +
      (exact ? '' : '; approximate: each bucket keeps its top conversations only');
  }

  async function loadDrill(seq, from, to) {
    const panel = $('history-drill');
    const { key, keydim } = view;
    panel.hidden = false;
    panel.dataset.key = key;
    panel.dataset.keydim = keydim;
    panel.dataset.state = 'loading';
    $('history-drill-key').textContent = key;
    $('history-drill-dim').textContent = keydim;
    const range = { from, to };
    const conv = (term) => getJson('/api/top', Object.assign({ dimension: 'conversation', limit: DRILL_ROWS, filter: withFilter(term) }, range));
    const jobs = [getJson('/api/series', Object.assign({ dimension: keydim, key }, range)),
                  getJson('/api/alerts', { since: from, limit: 10000 })];
    let words;                     // what an alert must mention
    if (keydim === 'src' || keydim === 'dst') {
      jobs.push(conv('src=' + key), conv('dst=' + key));
      words = [key];
    } else if (keydim === 'protocol') {
      jobs.push(conv('protocol=' + key));
      words = [key];
    } else {
      jobs.push(getJson('/api/top', Object.assign({ dimension: 'conversation', limit: 1, filter: 'key=' + key }, range)));
    }
    const [series, alerts, a, b] = await settleAll(jobs);
    if (seq !== data.seq) return;
    drawKeySeries(series);
    const total = series.series[0] ? series.series[0].bytes.reduce((x, y) => x + y, 0) : 0;
    $('history-drill-total').textContent = fmtBytes(total) + ' in the range';

    if (keydim === 'src' || keydim === 'dst') {
      // Peers: the other end of its conversations, both ways; protocols: summed per protocol.
      const peers = new Map(), protocols = new Map();
      for (const r of a.rows) addTo(peers, r.dst + '\0to', r.bytes, { peer: r.dst, way: 'to' }).protocols.add(r.protocol);
      for (const r of b.rows) addTo(peers, r.src + '\0from', r.bytes, { peer: r.src, way: 'from' }).protocols.add(r.protocol);
      for (const r of a.rows.concat(b.rows)) addTo(protocols, r.protocol, r.bytes);
      const sent = a.total_bytes, received = b.total_bytes;
      $('history-peers-title').textContent = 'Peers';
      $('history-peers-note').textContent = 'sent ' + fmtBytes(sent) + ', received ' + fmtBytes(received) + ' in stored conversations · ' + cutNote(a, b);
      drawRows('history-peers', ['peer', 'way', 'bytes', 'protocols'],
        [...peers.values()].sort((x, y) => y.bytes - x.bytes).map((p) => ({ key: p.peer,
          cells: [keyLink(p.peer, p.way === 'to' ? 'dst' : 'src'), p.way === 'to' ? '→ to' : '← from', fmtBytes(p.bytes),
                  [...p.protocols].sort().join(', ')] })));
      const all = sent + received;
      $('history-protocols-title').textContent = 'Protocols';
      $('history-protocols-note').textContent = cutNote(a, b);
      drawRows('history-protocols', ['protocol', 'bytes', 'share'],
        [...protocols.values()].sort((x, y) => y.bytes - x.bytes).map((p) => ({ key: p.name,
          cells: [keyLink(p.name, 'protocol'), fmtBytes(p.bytes), fmtShare(all ? p.bytes / all : 0)] })));
    } else if (keydim === 'protocol') {
      // Its busiest addresses on either side, and its top conversations.
      const ends = new Map();
      for (const r of a.rows) { addTo(ends, r.src + '\0src', r.bytes, { peer: r.src, way: 'src' }); addTo(ends, r.dst + '\0dst', r.bytes, { peer: r.dst, way: 'dst' }); }
      $('history-peers-title').textContent = 'Addresses';
      $('history-peers-note').textContent = cutNote(a);
      drawRows('history-peers', ['address', 'as', 'bytes', 'share'],
        [...ends.values()].sort((x, y) => y.bytes - x.bytes).slice(0, 20).map((p) => ({ key: p.peer,
          cells: [keyLink(p.peer, p.way), p.way, fmtBytes(p.bytes), fmtShare(a.total_bytes ? p.bytes / a.total_bytes : 0)] })));
      $('history-protocols-title').textContent = 'Conversations';
      $('history-protocols-note').textContent = fmtBytes(a.total_bytes) + ' · ' + (a.exact ? 'exact' : 'approximate');
      drawRows('history-protocols', ['conversation', 'bytes', 'share'],
        a.rows.slice(0, 20).map((r) => ({ key: r.key, cells: [keyLink(r.key, 'conversation'), fmtBytes(r.bytes), fmtShare(r.share)] })));
    } else {
      // A conversation: its two ends and its protocol.
      const r = a.rows[0];
      words = r ? [r.src, r.dst] : [key];
      $('history-peers-title').textContent = 'Ends';
      $('history-peers-note').textContent = '';
      drawRows('history-peers', ['address', 'as'], r ? [
        { key: r.src, cells: [keyLink(r.src, 'src'), 'src'] }, { key: r.dst, cells: [keyLink(r.dst, 'dst'), 'dst'] }] : []);
      $('history-protocols-title').textContent = 'Protocol';
      $('history-protocols-note').textContent = '';
      drawRows('history-protocols', ['protocol', 'bytes'], r ? [{ key: r.protocol, cells: [keyLink(r.protocol, 'protocol'), fmtBytes(r.bytes)] }] : []);
    }

    // Its alerts: those of the range whose source or detail names it.
    const hits = alerts.alerts.filter((x) => {
      const t = Date.parse(x.time);
      if (!(t >= from && t < to)) return false;
      const detail = typeof x.detail === 'string' ? x.detail : JSON.stringify(x.detail || {});
      return words.some((w) => mentions(x.source, w) || mentions(detail, w));
    });
    const list = $('history-alerts');
    list.innerHTML = '';
    for (const x of hits.slice(-100).reverse()) {
      const li = document.createElement('li');
      li.innerHTML = '<time></time> <b></b> <span class="source"></span> <span class="score"></span>';
      li.querySelector('time').textContent = fmtUtc(Date.parse(x.time));
      li.querySelector('b').textContent = x.detector;
      li.querySelector('.source').textContent = x.source;
      li.querySelector('.score').textContent = 'score ' + Number(x.score).toFixed(3);
      const detail = typeof x.detail === 'string' ? x.detail : JSON.stringify(x.detail || {});
      if (detail !== '{}') li.title = detail;
      list.appendChild(li);
    }
    if (!hits.length) list.innerHTML = '<li class="empty">No alert mentions it in this range.</li>';
    $('history-alert-count').textContent = String(hits.length);
    panel.dataset.state = 'ready';
  }

  // ---------- loading a view ----------
  function setStatus(state, text) {
    const root = $('history');
    root.dataset.state = state;
    const err = $('history-error');
    err.textContent = state === 'error' ? text : '';
    err.hidden = state !== 'error';
    const empty = $('history-empty');
    empty.textContent = state === 'empty' ? text : '';
    empty.hidden = state !== 'empty';
  }

  function describeSpan(info) {
    const parts = [];
    for (const name of ['minute', 'hour', 'day']) {
      const r = info.resolutions && info.resolutions[name];
      if (r && r.oldest) parts.push(name + 's ' + fmtUtc(Date.parse(r.oldest)) + ' – ' + fmtUtc(Date.parse(r.newest)));
    }
    return parts.length ? 'stored: ' + parts.join(' · ') + ' · now ' + fmtUtc(info.now_ms) + ' UTC'
                        : 'nothing stored yet · now ' + fmtUtc(info.now_ms) + ' UTC';
  }

  async function load() {
    const seq = ++data.seq;
    const root = $('history');
    root.dataset.state = 'loading';
    try {
      const info = await getJson('/api/history');
      if (seq !== data.seq) return;
      data.info = info;
      data.now = info.now_ms;
      $('history-span').textContent = describeSpan(info);
      // A server that records no history may still serve what another one stored.
      const stored = Object.values(info.resolutions || {}).some((r) => r && r.buckets > 0);
      if (info.enabled === false && !stored) {
        setStatus('empty', 'No traffic history is stored, and this server records none (--history-keys 0, or no --store).');
        return;
      }
      let from, to;
      if (view.range) { to = info.now_ms; from = to - parseDuration(view.range); }
      else { from = view.from; to = view.to; }
      data.from = from; data.to = to;
      root.dataset.fromMs = String(from);
      root.dataset.toMs = String(to);
      $('history-from').value = inputValue(from);
      $('history-to').value = inputValue(to);
      $('history-next').disabled = !!view.range;
      drawRangeControls();

      const range = { from, to };
      const filter = filterFor(view.dim);
      const jobs = [
        getJson('/api/top', Object.assign({ dimension: view.dim, limit: view.limit, filter }, range)),
        getJson('/api/series', Object.assign({ dimension: view.dim, limit: SERIES_KEYS, filter }, range)),
        getJson('/api/sankey', Object.assign({ limit: SANKEY_CONVERSATIONS, filter: sankeyFilter() }, range)),
      ];
      if (view.key) jobs.push(loadDrill(seq, from, to));
      else { $('history-drill').hidden = true; $('history-drill').dataset.key = ''; }
      const [top, series, sankey] = await settleAll(jobs);
      if (seq !== data.seq) return;
      drawTop(top);
      if (drag.on) drag.pending = { series, seq }; else drawStacked(series);
      drawSankey(sankey);
      $('history-range-label').textContent = fmtUtc(top.from_ms) + ' – ' + fmtUtc(top.to_ms) + ' UTC · ' +
        fmtSpan(top.to_ms - top.from_ms) + ' · ' + top.resolution + 's, ' + fmtSpan(series.step_ms) + ' steps';
      if (top.total_bytes === 0 && !top.rows.length) {
        setStatus('empty', 'No traffic stored between ' + fmtUtc(top.from_ms) + ' and ' + fmtUtc(top.to_ms) +
          ' UTC' + (view.filter ? ' matching ' + view.filter : '') + '. ' + describeSpan(info) + '.');
      } else {
        setStatus('ready', '');
      }
    } catch (e) {
      if (seq !== data.seq) return;
      setStatus('error', e instanceof ApiError ? e.message : 'error: ' + (e && e.message ? e.message : e));
      if (!(e instanceof ApiError)) console.warn(e);
    } finally {
      if (seq === data.seq) root.dataset.loads = String(++data.loads);
    }
  }
  // The Sankey is over conversations: the address and protocol terms apply, a key term only when
  // the view's dimension is conversation.
  function sankeyFilter() {
    const keep = terms(view.filter).filter((t) => fieldOf(t) !== 'key' || view.dim === 'conversation');
    return keep.join(',') || undefined;
  }

  // ---------- controls ----------
  function drawRangeControls() {
    for (const b of document.querySelectorAll('#history-presets button')) {
      b.setAttribute('aria-pressed', String(b.dataset.range === view.range));
    }
    for (const b of document.querySelectorAll('#history-dims button')) {
      b.setAttribute('aria-pressed', String(b.dataset.dimension === view.dim));
    }
    const follow = $('history-follow');
    follow.textContent = view.range ? 'following now · every ' + REFRESH_MS / 1000 + ' s' : 'fixed range';
    follow.className = 'pill ' + (view.range ? 'pill-on' : '');
    const limit = $('history-limit');
    if (![...limit.options].some((o) => o.value === String(view.limit))) {
      const o = document.createElement('option');   // a limit from the link, not in the list
      o.value = o.textContent = String(view.limit);
      limit.appendChild(o);
    }
    limit.value = String(view.limit);
    if (document.activeElement !== $('history-filter')) $('history-filter').value = view.filter;
  }

  // The current range in ms (as last resolved), and "now".
  function current() {
    const now = data.now != null ? data.now : Date.now();
    if (view.range) { const L = parseDuration(view.range); return { from: now - L, to: now, now, L }; }
    return { from: view.from, to: view.to, now, L: view.to - view.from };
  }
  // A fixed range that reaches "now" follows it instead.
  function rangeTo(from, to, now) {
    if (to >= now) return { range: fmtDuration(Math.max(60000, to - from)) };
    return { from, to, range: null };
  }
  function zoomOut() {
    const c = current();
    if (view.range) {
      const next = PRESETS.find((p) => parseDuration(p) > c.L);
      return go({ range: next || fmtDuration(2 * c.L) });
    }
    const mid = (c.from + c.to) / 2;
    const from = Math.floor((mid - c.L) / 60000) * 60000, to = Math.ceil((mid + c.L) / 60000) * 60000;
    go(rangeTo(from, to, c.now));
  }
  function shift(direction) {
    const c = current();
    if (direction > 0 && view.range) return;
    go(rangeTo(c.from + direction * c.L, c.to + direction * c.L, c.now));
  }

  function bindControls() {
    for (const p of PRESETS) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = p === '7d' ? '7 days' : p.replace(/m$/, ' min').replace(/h$/, ' h');
      b.dataset.range = p;
      b.onclick = () => go({ range: p });
      $('history-presets').appendChild(b);
    }
    for (const d of DIMENSIONS) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = d;
      b.dataset.dimension = d;
      b.setAttribute('role', 'tab');
      b.onclick = () => go({ dim: d });
      $('history-dims').appendChild(b);
    }
    for (const n of LIMITS) {
      const o = document.createElement('option');
      o.value = String(n);
      o.textContent = String(n);
      $('history-limit').appendChild(o);
    }
    $('history-range-form').onsubmit = (ev) => {
      ev.preventDefault();
      const from = parseInput($('history-from').value), to = parseInput($('history-to').value);
      if (from === null || to === null || !(from < to)) {
        setStatus('error', 'The range needs a start before its end (UTC).');
        return;
      }
      go({ from, to, range: null });
    };
    $('history-zoom-out').onclick = zoomOut;
    $('history-prev').onclick = () => shift(-1);
    $('history-next').onclick = () => shift(1);
    $('history-limit').onchange = () => go({ limit: Number($('history-limit').value) });
    $('history-filter-form').onsubmit = (ev) => {
      ev.preventDefault();
      go({ filter: $('history-filter').value.trim() });
    };
    $('history-drill-close').onclick = () => go({ key: '' });
    $('tab-live').onclick = () => {
      if (view.view === 'history') lastHistoryUrl = location.pathname + location.search;
      history.pushState(null, '', location.pathname);
      view = readUrl();
      show();
    };
    $('tab-history').onclick = () => {
      if (view.view === 'history') return;
      history.pushState(null, '', lastHistoryUrl || location.pathname + '?view=history');
      view = readUrl();
      show();
    };
    window.addEventListener('popstate', () => { view = readUrl(); show(); });
    window.addEventListener('resize', () => Object.values(charts).forEach((c) => c.resize()));
    setInterval(() => {
      if (view.view === 'history' && view.range && !document.hidden && !drag.on &&
          $('history').dataset.state !== 'loading') load();
    }, REFRESH_MS);
  }

  // Shows the view in `view`: the live dashboard, or the navigator (loaded again).
  function show() {
    const historyOn = view.view === 'history';
    $('live').hidden = historyOn;
    $('history').hidden = !historyOn;
    $('tab-live').setAttribute('aria-selected', String(!historyOn));
    $('tab-history').setAttribute('aria-selected', String(historyOn));
    if (!historyOn) {
      data.seq++;                 // drop any answer still on its way
      window.dispatchEvent(new Event('resize'));  // the live charts were drawn while hidden
      return;
    }
    drawRangeControls();
    load().then(() => Object.values(charts).forEach((c) => c.resize()));
  }

  bindControls();
  show();
  window.netpulseHistory = { view: () => view, data, charts };  // for the console and the browser test
})();
