#!/usr/bin/env node
// The six window queries (docs spec section 3) in DuckDB: the reference tool a user would pick,
// for the engine's benchmark (bench/engine_grid.sh) and its cross-check
// (tests/e2e/duckdb_reference_test.py). Writes the same JSON lines as
// `netpulse process --output` (spec section 4).
//
//   node bench/duckdb_six_queries.mjs --input FILE --T 60 [--H 1 --k 10 --X 3 --lateness 1]
//        [--ip-key src|dst|host] [--threads 2] [--output FILE.jsonl] [--check-order]
//
// Scope: time unit 1 s, slide 1 (the benchmark's settings). The input is line-format text as
// `netpulse generate` writes it: one space between fields, canonical addresses (the key is the
// text), no malformed lines (DuckDB stops at one), and in event-time order, so that no record
// is late and --lateness changes nothing; --check-order verifies that (one more pass over the
// file, outside the timing). z is computed in double precision (the engine uses long double):
// it may differ in the last digits; everything else, share included, comes out byte-identical.
//
// How, in SQL (one scan of the file, then work on aggregates only), as the steps below number:
//  1. Bytes and records per (second, protocol) and per (second, address): one GROUPING SETS
//     scan. 2. Keys become integers for the rest.
//  3. A second s is in the windows ending at s+1 .. s+T. Between consecutive entry (s+1) and
//     exit (s+T+1) times ("epochs") every window holds the same records, so results are
//     computed once per epoch and repeated for each window end in it.
//  4. Per key, entry (+bytes) and exit (-bytes) events and their running sum give the key's
//     window bytes as segments of constant value over epochs: no (key, window) pair is made.
//  5. n, sum and sum of squares per epoch from the segments' entry/exit deltas (exact, HUGEINT).
//  6. A key can only be listed where its bytes reach a lower bound of the epoch's thresholds
//     (the share, mean + X sd, the k-th largest bytes among the k heaviest keys). A sparse table
//     gives the least bound over a segment's epochs; segments (then blocks of 32 epochs) below
//     it are dropped, and only the rest become (key, epoch) rows,
//  7. where the exact conditions of spec section 3 decide, in integer arithmetic.
//  8. The JSON lines, numbers formatted as the engine's std::to_chars does.
import { writeSync, openSync, closeSync, createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DuckDBInstance } from '@duckdb/node-api';

function usage(why) {
  if (why) process.stderr.write(`duckdb_six_queries: ${why}\n`);
  process.stderr.write(
    'usage: node bench/duckdb_six_queries.mjs --input FILE --T T [--H 1] [--k 10] [--X 3]\n' +
      '       [--lateness L] [--ip-key src|dst|host] [--threads N] [--output FILE.jsonl]\n' +
      '       [--check-order] [--quiet] [--verbose]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { T: null, H: '10', k: '3', X: '2', lateness: '0', ipKey: 'src', threads: null,
              output: '-', input: null, checkOrder: false, quiet: false, verbose: false };
  const names = { '--input': 'input', '--T': 'T', '--H': 'H', '--k': 'k', '--X': 'X',
                  '--lateness': 'lateness', '--ip-key': 'ipKey', '--threads': 'threads',
                  '--output': 'output', '-o': 'output', '-i': 'input' };
  for (let i = 2; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--check-order') { o.checkOrder = true; continue; }
    if (a === '--quiet' || a === '-q') { o.quiet = true; continue; }
    if (a === '--verbose' || a === '-v') { o.verbose = true; continue; }
    if (a === '--help' || a === '-h') usage();
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (!(name in names)) usage(`unknown option ${a}`);
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (value === undefined) usage(`${name} needs a value`);
    o[names[name]] = value;
  }
  if (!o.input) usage('--input is required');
  if (o.T === null) usage('--T is required');
  o.input = o.input.replace(/^file:/, '');
  if (o.output.startsWith('file:')) o.output = o.output.slice(5);
  return o;
}

// A non-negative decimal as an exact fraction p/q of BigInts, and the double the engine holds.
function parseDecimal(text, name) {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) usage(`${name} '${text}': expected a non-negative decimal number`);
  const frac = m[2] ?? '';
  return { p: BigInt(m[1] + frac), q: 10n ** BigInt(frac.length), value: Number(text) };
}

// std::to_chars(double) of the engine's JSON (C++17 [charconv.to.chars]): the shortest digits
// that read back exactly, in fixed or scientific notation, whichever is shorter; fixed on a tie.
// Scientific is printf's %e shape: at least two exponent digits, a sign always.
function formatNumber(v) {
  if (!Number.isFinite(v)) return 'null';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const sign = v < 0 ? '-' : '';
  const [mant, expText] = Math.abs(v).toExponential().split('e');
  const digits = mant.replace('.', '');
  const exp = Number(expText);
  const sci = digits[0] + (digits.length > 1 ? '.' + digits.slice(1) : '') + 'e' +
              (exp < 0 ? '-' : '+') + String(Math.abs(exp)).padStart(2, '0');
  let fixed;
  if (exp >= 0) {
    fixed = digits.length - 1 <= exp
        ? digits + '0'.repeat(exp - (digits.length - 1))
        : digits.slice(0, exp + 1) + '.' + digits.slice(exp + 1);
  } else {
    fixed = '0.' + '0'.repeat(-exp - 1) + digits;
  }
  return sign + (fixed.length <= sci.length ? fixed : sci);
}

// "2020-05-09T20:41:30.000Z" for a time in whole seconds.
function isoSeconds(sec) {
  return new Date(sec * 1000).toISOString();
}

// Fails unless every record is at or above the watermark (greatest time so far minus the
// lateness): then the engine accepts every record, which the SQL assumes.
async function checkOrder(file, latenessMs) {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let max = -Infinity, n = 0;
  for await (const line of lines) {
    ++n;
    if (line.length === 0) continue;
    const sp = line.indexOf(' ', 11);
    const text = line.slice(0, sp);  // "YYYY-MM-DD HH:MM:SS[.fff...]"
    const ms = Date.parse(text.slice(0, 10) + 'T' + text.slice(11, 19) + 'Z') +
               (text.length > 20 ? Number((text.slice(20) + '00').slice(0, 3)) : 0);
    if (Number.isNaN(ms)) throw new Error(`line ${n}: cannot read the time of '${line}'`);
    if (ms < max - latenessMs)
      throw new Error(`line ${n}: record is late (input must be in event-time order): '${line}'`);
    if (ms > max) max = ms;
  }
}

function sqlString(s) {
  return "'" + s.replaceAll("'", "''") + "'";
}

async function main() {
  const o = parseArgs(process.argv);
  const T = Number(o.T);
  if (!Number.isInteger(T) || T < 1) usage('--T must be an integer >= 1');
  const H = parseDecimal(o.H, '--H');
  if (!(H.value > 0 && H.value <= 100)) usage('--H must be 0 < H <= 100');
  const X = parseDecimal(o.X, '--X');
  if (!/^\d+$/.test(o.k) || BigInt(o.k) < 1n) usage('--k must be an integer >= 1');
  const k = Number(o.k);
  if (!/^\d+$/.test(o.lateness)) usage('--lateness must be an integer >= 0');
  if (!['src', 'dst', 'host'].includes(o.ipKey)) usage('--ip-key must be src, dst or host');

  if (o.checkOrder) await checkOrder(o.input, Number(o.lateness) * 1000);

  const started = process.hrtime.bigint();
  const config = {};
  if (o.threads) config.threads = String(o.threads);
  const db = await DuckDBInstance.create(':memory:', config);
  const con = await db.connect();
  // --verbose: each statement's time on stderr (where the time goes).
  const timed = async (sql, f) => {
    const t0 = process.hrtime.bigint();
    const out = await f();
    if (o.verbose) {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      process.stderr.write(`  ${ms.toFixed(0).padStart(7)} ms  ${sql.trim().split('\n')[0].slice(0, 70)}\n`);
    }
    return out;
  };
  const run = (sql) => timed(sql, () => con.run(sql));
  const rows = (sql) => timed(sql, async () => (await con.runAndReadAll(sql)).getRowObjectsJS());

  // 1. One scan: bytes and records per (second, protocol) and per (second, address).
  const csv = `read_csv(${sqlString(o.input)}, delim = ' ', header = false, quote = '',
      escape = '', auto_detect = false, null_padding = false,
      columns = {'d': 'DATE', 't': 'TIME', 'protocol': 'VARCHAR', 'src': 'VARCHAR',
                 'dst': 'VARCHAR', 'bytes': 'UBIGINT'})`;
  // Only the second matters (time unit 1 s); DATE + TIME truncates the fraction.
  const sec = 'epoch_ms(d + t) // 1000';
  if (o.ipKey === 'host') {
    await run(`CREATE TEMP TABLE scan AS
      SELECT sec, protocol, src, dst, grouping(protocol) AS gp, grouping(src) AS gs,
             sum(bytes)::BIGINT AS b, count(*) AS c,
             coalesce(sum(bytes) FILTER (WHERE src <> dst), 0)::BIGINT AS b_ne,
             count(*) FILTER (WHERE src <> dst) AS c_ne
      FROM (SELECT ${sec} AS sec, protocol, src, dst, bytes FROM ${csv})
      GROUP BY GROUPING SETS ((sec, protocol), (sec, src), (sec, dst))`);
    // host: a record counts for its src and, when different, for its dst.
    await run(`CREATE TEMP TABLE per_sec_text AS
      SELECT 0 AS dim, sec, protocol AS key, b, c FROM scan WHERE gp = 0
      UNION ALL
      SELECT 1, sec, key, sum(b)::BIGINT, sum(c)::BIGINT FROM (
        SELECT sec, src AS key, b, c FROM scan WHERE gp = 1 AND gs = 0
        UNION ALL
        SELECT sec, dst, b_ne, c_ne FROM scan WHERE gp = 1 AND gs = 1 AND c_ne > 0)
      GROUP BY sec, key`);
  } else {
    const ip = o.ipKey;
    await run(`CREATE TEMP TABLE per_sec_text AS
      SELECT CASE WHEN grouping(protocol) = 0 THEN 0 ELSE 1 END AS dim, sec,
             coalesce(protocol, ${ip}) AS key, sum(bytes)::BIGINT AS b, count(*) AS c
      FROM (SELECT ${sec} AS sec, protocol, ${ip}, bytes FROM ${csv})
      GROUP BY GROUPING SETS ((sec, protocol), (sec, ${ip}))`);
  }

  // 2. Keys as integers, for the window work below (cheaper than on text): their hash when it
  //    has no collision in this file (checked), else a numbering.
  await run(`CREATE TEMP TABLE keys AS
    SELECT DISTINCT dim, key, hash(dim, key) AS kid FROM per_sec_text`);
  const [{ distinct_kids: distinctKids, all_keys: allKeys }] = await rows(
    'SELECT count(DISTINCT kid) AS distinct_kids, count(*) AS all_keys FROM keys');
  if (distinctKids === allKeys) {
    await run(`CREATE TEMP TABLE per_sec AS
      SELECT dim, sec, hash(dim, key) AS kid, b, c FROM per_sec_text`);
  } else {
    await run(`CREATE OR REPLACE TEMP TABLE keys AS
      SELECT dim, key, (row_number() OVER ())::UBIGINT AS kid FROM keys`);
    await run(`CREATE TEMP TABLE per_sec AS
      SELECT p.dim, p.sec, k.kid, p.b, p.c FROM per_sec_text p JOIN keys k USING (dim, key)`);
  }
  const [{ records: recordCount }] = await rows(
    'SELECT coalesce(sum(c), 0)::BIGINT AS records FROM per_sec WHERE dim = 0');

  // 3. Epochs: the event times (a second's entry s+1 and exit s+T+1) in order; the window
  //    ends e in [p, p_next) hold the same records.
  await run(`CREATE TEMP TABLE epochs AS
    SELECT (row_number() OVER (ORDER BY p) - 1)::INTEGER AS j, p,
           lead(p) OVER (ORDER BY p) AS p_next
    FROM (SELECT DISTINCT sec + 1 AS p FROM per_sec
          UNION SELECT DISTINCT sec + ${T} + 1 FROM per_sec)`);
  // 4. Per key, entry and exit events and their running sums: segments of constant window
  //    bytes over epochs [j_from, j_to). An entry and an exit at the same time make an empty
  //    segment, dropped. No (key, window) pair is materialized here.
  await run(`CREATE TEMP TABLE seg AS
    WITH events AS (
      SELECT dim, kid, sec + 1 AS e, b, c FROM per_sec
      UNION ALL
      SELECT dim, kid, sec + ${T} + 1, -b, -c FROM per_sec),
    running AS (
      SELECT dim, kid, j AS j_from, lead(j) OVER w AS j_to,
             sum(b) OVER (w ROWS UNBOUNDED PRECEDING)::BIGINT AS b,
             sum(c) OVER (w ROWS UNBOUNDED PRECEDING)::BIGINT AS c
      FROM events JOIN epochs ON epochs.p = events.e
      WINDOW w AS (PARTITION BY kid ORDER BY j))
    SELECT * FROM running WHERE c > 0 AND j_to > j_from`);

  // 5. Per (dim, epoch): records, n, sum, sum of squares, from the segments' deltas.
  await run(`CREATE TEMP TABLE stats AS
    WITH deltas AS (
      SELECT dim, j, sum(dc)::HUGEINT AS dc, sum(dn)::HUGEINT AS dn, sum(ds1)::HUGEINT AS ds1,
             sum(ds2)::HUGEINT AS ds2 FROM (
        SELECT dim, j_from AS j, c AS dc, 1 AS dn, b AS ds1, b::HUGEINT * b AS ds2 FROM seg
        UNION ALL
        SELECT dim, j_to, -c, -1, -b, -(b::HUGEINT * b) FROM seg)
      GROUP BY dim, j),
    dense AS (
      SELECT d.dim, e.j, e.p, e.p_next, coalesce(x.dc, 0) AS dc, coalesce(x.dn, 0) AS dn,
             coalesce(x.ds1, 0) AS ds1, coalesce(x.ds2, 0) AS ds2
      FROM epochs e CROSS JOIN (VALUES (0), (1)) d(dim)
      LEFT JOIN deltas x ON x.dim = d.dim AND x.j = e.j)
    SELECT dim, j, p, p_next,
           sum(dc) OVER w AS records, sum(dn) OVER w AS n, sum(ds1) OVER w AS s1,
           sum(ds2) OVER w AS s2
    FROM dense WINDOW w AS (PARTITION BY dim ORDER BY j ROWS UNBOUNDED PRECEDING)`);
  // records and total: a record is in the protocol dimension exactly once.
  await run(`CREATE TEMP TABLE epoch_stats AS
    SELECT s.dim, s.j, s.p, s.p_next, t.records::BIGINT AS records, t.s1 AS total, s.n, s.s1,
           s.s2, s.n * s.s2 - s.s1 * s.s1 AS spread
    FROM stats s JOIN stats t ON t.dim = 0 AND t.j = s.j
    WHERE t.records > 0`);

  // 6. Lower bounds of each epoch's listing thresholds: the share threshold, mean + X sd, and
  //    the k-th largest bytes among the k heaviest keys of the file (at most the epoch's k-th
  //    largest). A sparse table gives their least over each segment's epochs; segments below
  //    it can be listed nowhere, and only the rest become (key, epoch) rows.
  const topkBound = k <= 10000;  // beyond, no pruning by the k-th largest
  await run(`CREATE TEMP TABLE heavy AS
    SELECT dim, unnest(arg_max(kid, bytes, ${topkBound ? k : 1})) AS kid
    FROM (SELECT dim, kid, sum(b) AS bytes FROM per_sec GROUP BY dim, kid)
    WHERE ${topkBound ? 'true' : 'false'}
    GROUP BY dim`);
  await run(`CREATE TEMP TABLE kth AS
    SELECT dim, j, CASE WHEN len(top) >= ${k} THEN top[${k}] ELSE 0 END AS kth
    FROM (SELECT s.dim, j, max(s.b, ${topkBound ? k : 1}) AS top
          FROM (SELECT seg.dim, seg.b, unnest(range(seg.j_from, seg.j_to)) AS j
                FROM seg SEMI JOIN heavy h ON h.kid = seg.kid) s
          GROUP BY s.dim, j)`);
  const Hd = H.value, Xd = X.value;
  await run(`CREATE TEMP TABLE gate AS
    SELECT s.dim, s.j, greatest(0, least(
        floor(${Hd} * s.total::DOUBLE / 100) - 1,
        floor((s.s1::DOUBLE + ${Xd} * sqrt(greatest(s.spread::DOUBLE, 0))) / s.n::DOUBLE
              * (1 - 1e-9)) - 1,
        coalesce(k.kth, 0)))::BIGINT AS gate
    FROM epoch_stats s LEFT JOIN kth k ON k.dim = s.dim AND k.j = s.j`);
  // Level l holds the least gate over epochs [j, j + 2^l). Epochs without records have no
  // gate and no segment.
  const [{ jmax }] = await rows('SELECT coalesce(max(j), 0)::INTEGER AS jmax FROM epochs');
  await run(`CREATE TEMP MACRO sparse_key(lvl, dim, j) AS
    ((lvl::BIGINT * 2 + dim) << 32) + j`);
  await run(`CREATE TEMP TABLE sparse AS
    SELECT sparse_key(0, d.dim, e.j) AS key, 0 AS lvl, e.j, d.dim,
           coalesce(g.gate, 9223372036854775807) AS gate
    FROM epochs e CROSS JOIN (VALUES (0), (1)) d(dim)
    LEFT JOIN gate g ON g.dim = d.dim AND g.j = e.j`);
  for (let l = 1; (1 << l) <= jmax + 1; ++l) {
    await run(`INSERT INTO sparse
      SELECT sparse_key(${l}, a.dim, a.j), ${l}, a.j, a.dim, least(a.gate, b.gate)
      FROM sparse a JOIN sparse b
        ON a.lvl = ${l - 1} AND b.lvl = ${l - 1} AND b.dim = a.dim AND b.j = a.j + ${1 << (l - 1)}`);
  }
  // The least gate over [j_from, j_to) of each row of `ranges`: two overlapping power-of-two
  // spans. A segment that passes is cut into blocks of 32 epochs, tested the same way, before
  // the blocks that pass become rows: a long segment that only an early, nearly empty window
  // lets through (its gate is low) then costs one block, not its whole length.
  // (One key column per lookup, so the planner cannot join the two lookups to each other.)
  const passing = (ranges) => `
    SELECT r.dim, r.kid, r.b, r.j_from, r.j_to
    FROM (SELECT *, sparse_key(lvl, dim, j_from) AS key_a,
                 sparse_key(lvl, dim, j_to - (1 << lvl)) AS key_z
          FROM (SELECT *, floor(log2(j_to - j_from))::INTEGER AS lvl FROM ${ranges})) r
    JOIN sparse a ON a.key = r.key_a
    JOIN sparse z ON z.key = r.key_z
    WHERE r.b >= least(a.gate, z.gate)`;
  await run(`CREATE TEMP TABLE survivors AS
    WITH segments AS (${passing('seg')}),
    blocks AS (
      SELECT dim, kid, b, start AS j_from, least(start + 32, j_to) AS j_to
      FROM (SELECT *, unnest(range(j_from, j_to, 32)) AS start FROM segments)),
    passed AS (${passing('blocks')})
    SELECT dim, kid, b, unnest(range(j_from, j_to)) AS j FROM passed`);

  // 7. The exact conditions of spec section 3 on the survivors (integer arithmetic; doubles
  //    only for share and z, as the engine does), ranked by bytes, then the key: protocols
  //    byte-wise; addresses IPv4 before IPv6, each numerically (sorted as '4' and three digits
  //    per octet, or '6' and 32 hex digits).
  await run(`CREATE TEMP MACRO hex_groups(s) AS
      CASE WHEN s = '' THEN []::VARCHAR[] ELSE string_split(s, ':') END`);
  await run(`CREATE TEMP MACRO padded(l, w) AS
      coalesce(array_to_string(list_transform(l, g -> lpad(g, w, '0')), ''), '')`);
  await run(`CREATE TEMP MACRO address_order(a) AS
      CASE WHEN NOT contains(a, ':') THEN '4' || padded(string_split(a, '.'), 3)
           WHEN NOT contains(a, '::') THEN '6' || padded(string_split(a, ':'), 4)
           ELSE '6' || padded(hex_groups(split_part(a, '::', 1)), 4) ||
                repeat('0000', 8 - len(hex_groups(split_part(a, '::', 1)))
                                 - len(hex_groups(split_part(a, '::', 2)))) ||
                padded(hex_groups(split_part(a, '::', 2)), 4) END`);
  const xSquared = `${X.p * X.p}::HUGEINT`, qSquared = `${X.q * X.q}::HUGEINT`;
  const resultSql = `
    WITH cand AS (
      SELECT v.dim, v.kid, v.b, v.j, s.total, s.n, s.s1, s.spread,
             v.b::HUGEINT * 100 * ${H.q}::HUGEINT > ${H.p}::HUGEINT * s.total AS is_share,
             (s.n * v.b - s.s1) AS lhs
      FROM survivors v JOIN epoch_stats s ON s.dim = v.dim AND s.j = v.j),
    flagged AS (
      SELECT *,
             CASE WHEN lhs <= 0 THEN false
                  WHEN lhs::DOUBLE > ${Xd} * sqrt(spread::DOUBLE) * (1 + 1e-12) THEN true
                  WHEN lhs::DOUBLE < ${Xd} * sqrt(spread::DOUBLE) * (1 - 1e-12) THEN false
                  ELSE lhs * lhs * ${qSquared} > ${xSquared} * spread END AS is_outlier
      FROM cand),
    named AS MATERIALIZED (
      SELECT k.kid, k.key, CASE WHEN k.dim = 0 THEN k.key ELSE address_order(k.key) END AS ord
      FROM keys k SEMI JOIN survivors v ON v.kid = k.kid),
    ordered AS (
      SELECT f.*, n.key, n.ord FROM flagged f JOIN named n ON n.kid = f.kid),
    ranked AS (
      SELECT *, row_number() OVER (PARTITION BY dim, j ORDER BY b DESC, ord) AS rank
      FROM ordered)
    SELECT r.dim::INTEGER AS dim, r.j::INTEGER AS j, r.key, r.b::BIGINT AS b,
           (r.is_share::INTEGER + 2 * (r.rank <= ${k})::INTEGER + 4 * r.is_outlier::INTEGER)
             AS lists,
           CASE WHEN r.total = 0 THEN 0::DOUBLE ELSE r.b::DOUBLE / r.total::DOUBLE END AS share,
           CASE WHEN r.spread <= 0 THEN NULL
                ELSE r.lhs::DOUBLE / sqrt(r.spread::DOUBLE) END AS z
    FROM ranked r
    WHERE r.is_share OR r.rank <= ${k} OR r.is_outlier
    ORDER BY r.j, r.dim, r.rank`;
  // Plain rows (arrays, BigInt for BIGINT): the cheapest form to read.
  const result = await timed(resultSql, async () => (await con.runAndReadAll(resultSql)).getRows());
  const epochs = await rows(`
    SELECT p.j, p.p::BIGINT AS p, p.p_next::BIGINT AS p_next, p.records, p.total::BIGINT AS total,
           p.n::BIGINT AS pn, i.n::BIGINT AS ipn
    FROM epoch_stats p JOIN epoch_stats i ON i.dim = 1 AND i.j = p.j
    WHERE p.dim = 0 ORDER BY p.j`);

  // 8. JSON lines, one per window and query, in the engine's order.
  const byEpoch = new Map();
  for (const [dim, j, key, bytes, listed, share, z] of result) {
    if (!byEpoch.has(j)) byEpoch.set(j, [[[], [], []], [[], [], []]]);
    const row = `{"key":"${key}","bytes":${bytes},"share":${formatNumber(share)},` +
                `"z":${z === null ? 'null' : formatNumber(z)}}`;
    const lists = byEpoch.get(j)[dim];
    if (listed & 1) lists[0].push(row);
    if (listed & 2) lists[1].push(row);
    if (listed & 4) lists[2].push(row);
  }
  const names = ['protocol-share', 'protocol-topk', 'protocol-outliers', 'ip-share', 'ip-topk',
                 'ip-outliers'];
  const params = [`"H":${formatNumber(H.value)}`, `"k":${k}`, `"X":${formatNumber(X.value)}`];
  const fd = o.output === '-' ? 1 : openSync(o.output, 'w');
  let buffer = '';
  let windows = 0;
  for (const ep of epochs) {
    const lists = byEpoch.get(Number(ep.j)) ?? [[[], [], []], [[], [], []]];
    const tails = [];
    for (let q = 0; q < 6; ++q) {
      const dim = q < 3 ? 0 : 1;
      tails.push(`","query":"${names[q]}","params":{"T":${T},${params[q % 3]}},` +
                 `"records":${ep.records},"total_bytes":${ep.total},` +
                 `"keys":${dim === 0 ? ep.pn : ep.ipn},"rows":[${lists[dim][q % 3].join(',')}]}\n`);
    }
    for (let e = Number(ep.p); e < Number(ep.p_next); ++e) {
      const head = `{"window_start":"${isoSeconds(e - T)}","window_end":"${isoSeconds(e)}`;
      for (const tail of tails) buffer += head + tail;
      ++windows;
      if (buffer.length > (1 << 20)) { writeSync(fd, buffer); buffer = ''; }
    }
  }
  writeSync(fd, buffer);
  if (fd !== 1) closeSync(fd);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (!o.quiet) {
    process.stderr.write(
        `duckdb_six_queries: ${recordCount} records, ${windows} windows; ${seconds.toFixed(3)} s, ` +
        `${(Number(recordCount) / seconds / 1e6).toFixed(2)} M records/s ` +
        `(DuckDB ${(await rows('SELECT version() AS v'))[0].v}, ` +
        `${(await rows("SELECT current_setting('threads') AS t"))[0].t} threads)\n`);
  }
  con.closeSync?.();
}

main().catch((err) => {
  process.stderr.write(`duckdb_six_queries: ${err.message}\n`);
  process.exit(1);
});
