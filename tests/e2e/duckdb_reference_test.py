#!/usr/bin/python3
"""`netpulse process` against DuckDB (bench/duckdb_six_queries.mjs): the six queries of spec
section 3 over the same file must give the same JSON lines (spec section 4).

The data has the issue's shape at a small size: 200,000 records at 20,000 records/s of event
time (10 s), Zipf over 2,000 addresses of which 3% IPv6, 0 to 9 fraction digits per record.
Each case runs both tools with the same T, H, k, X (and --ip-key) and compares every line: the
window times, query, params, records, total_bytes, keys and each row's key and bytes, in order,
exactly; share and z as numbers within a relative 1e-9 (the engine computes z in long double,
the SQL in double). Cases cover T = 10 and 60, small and large k (k = 5000 lists every address,
so the order of equal byte counts, IPv4 before IPv6, is compared), X = 0 (every key above the
mean), fractional H and X, --ip-key dst and host, and 2 engine threads.

BoundaryTest runs both on a handmade file on the conditions' edges (a share of exactly H, bytes
equal to the mean, equal bytes where numeric and text order differ, 0-byte keys, 9 fraction
digits just below a second) and checks the expected rows too. CompareTest checks that the
comparison itself catches a wrong side: a changed byte count, a
missing row, a swapped pair of rows, a missing window and a changed count each fail it.

Run with: /usr/bin/python3 tests/e2e/duckdb_reference_test.py -v --binary build/netpulse
(node and the npm packages of package-lock.json: scripts/setup). NETPULSE_DUCKDB_KEEP=1 keeps
the files.
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import e2e_support  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(ROOT, "bench", "duckdb_six_queries.mjs")
NETPULSE = None  # set in main(): --binary or NETPULSE_BINARY
NODE = None  # set in main(): --node, else node on PATH
TIMEOUT_S = 240
REL_TOL = 1e-9


def compare(engine_lines, reference_lines, limit=5):
    """The differences between two result files (lists of JSON lines), at most `limit` of them
    described; [] when they agree."""
    problems = []

    def note(text):
        if len(problems) < limit:
            problems.append(text)
        elif len(problems) == limit:
            problems.append("...")

    if len(engine_lines) != len(reference_lines):
        note(f"{len(engine_lines)} lines from netpulse, {len(reference_lines)} from DuckDB")
    for n, (a_text, b_text) in enumerate(zip(engine_lines, reference_lines), 1):
        a, b = json.loads(a_text), json.loads(b_text)
        where = f"line {n} ({a.get('window_end')} {a.get('query')})"
        if list(a.keys()) != list(b.keys()):
            note(f"{where}: members {list(a.keys())} vs {list(b.keys())}")
            continue
        for member in a:
            if member != "rows" and a[member] != b[member]:
                note(f"{where}: {member} {a[member]!r} vs {b[member]!r}")
        rows_a, rows_b = a.get("rows", []), b.get("rows", [])
        keys_a = [(r["key"], r["bytes"]) for r in rows_a]
        keys_b = [(r["key"], r["bytes"]) for r in rows_b]
        if keys_a != keys_b:
            note(f"{where}: rows {keys_a[:6]} vs {keys_b[:6]}")
            continue
        for ra, rb in zip(rows_a, rows_b):
            if list(ra.keys()) != list(rb.keys()):
                note(f"{where}: row members {list(ra.keys())} vs {list(rb.keys())}")
            for field in ("share", "z"):
                x, y = ra.get(field), rb.get(field)
                if (x is None) != (y is None) or (
                        x is not None and not math.isclose(x, y, rel_tol=REL_TOL, abs_tol=1e-15)):
                    note(f"{where}: {ra['key']} {field} {x!r} vs {y!r}")
    return problems


def require_tools():
    """Fails (not skips) without the binary, node or the npm package: scripts/setup installs
    them, and a reference test that quietly does not run checks nothing."""
    if not NETPULSE or not os.access(NETPULSE, os.X_OK):
        raise RuntimeError("no netpulse binary: pass --binary PATH")
    if not NODE:
        raise RuntimeError("node not found: run scripts/setup")
    if not os.path.isdir(os.path.join(ROOT, "node_modules", "@duckdb", "node-api")):
        raise RuntimeError("@duckdb/node-api is not installed: run scripts/setup (npm ci)")


class FilesTest(unittest.TestCase):
    """A temporary directory per class, kept with NETPULSE_DUCKDB_KEEP=1."""

    @classmethod
    def setUpClass(cls):
        require_tools()
        cls.dir = tempfile.mkdtemp(prefix="netpulse-duckdb-")

    @classmethod
    def tearDownClass(cls):
        if os.environ.get("NETPULSE_DUCKDB_KEEP"):
            print(f"\nfiles kept in {cls.dir}", file=sys.stderr)
        else:
            shutil.rmtree(cls.dir, ignore_errors=True)


class ReferenceTest(FilesTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.data = os.path.join(cls.dir, "flows.txt")
        subprocess.run(
            [NETPULSE, "generate", "--count", "200000", "--rate", "20000", "--ips", "2000",
             "--zipf", "1.0", "--ipv6-percent", "3", "--time-digits", "mixed", "--seed", "12",
             "--start-time", "2020-05-09 23:59:55", "--output", "file:" + cls.data, "--quiet"],
            check=True, timeout=TIMEOUT_S)

    def test_the_data_has_the_issues_shape(self):
        digits = set()
        v6 = 0
        with open(self.data) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 200000)
        for line in lines:
            date, time, _protocol, src, dst, _bytes = line.split(" ")
            digits.add(0 if len(time) == 8 else len(time) - 9)
            v6 += (":" in src) + (":" in dst)
        self.assertEqual(digits, set(range(10)))
        self.assertGreater(v6, 0)

    def run_both(self, name, T, H, k, X, extra=(), threads=1):
        """Runs both tools with these parameters; returns their JSON lines."""
        params = ["--T", str(T), "--H", str(H), "--k", str(k), "--X", str(X), "--lateness", "1",
                  *extra]
        engine_out = os.path.join(self.dir, f"{name}.netpulse.jsonl")
        reference_out = os.path.join(self.dir, f"{name}.duckdb.jsonl")
        subprocess.run([NETPULSE, "process", "--input", self.data, *params, "--threads",
                        str(threads), "--output", engine_out, "--quiet"],
                       check=True, timeout=TIMEOUT_S)
        subprocess.run([NODE, SCRIPT, "--input", self.data, *params, "--threads", "2",
                        "--check-order", "--quiet", "--output", reference_out],
                       check=True, timeout=TIMEOUT_S)
        with open(engine_out) as f:
            engine = f.read().splitlines()
        with open(reference_out) as f:
            reference = f.read().splitlines()
        return engine, reference

    def check(self, name, T, H, k, X, extra=(), threads=1):
        engine, reference = self.run_both(name, T, H, k, X, extra, threads)
        problems = compare(engine, reference)
        self.assertEqual(problems, [], "\n".join(problems))
        # Not a vacuous agreement: every window of the 10 s of data, every query, some rows.
        self.assertEqual(len(engine), 6 * (10 + T - 1))
        results = [json.loads(line) for line in engine]
        self.assertEqual(sum(r["records"] for r in results if r["query"] == "ip-topk"),
                         200000 * T)
        self.assertTrue(all(r["rows"] for r in results if r["query"].endswith("-topk")))
        return results

    def test_T10_share_topk_outliers(self):
        self.check("t10", T=10, H=1, k=10, X=3)

    def test_T60_two_engine_threads(self):
        self.check("t60", T=60, H=0.5, k=3, X=2, threads=2)

    def test_every_address_listed_orders_ties_ipv4_before_ipv6(self):
        results = self.check("all", T=10, H=5, k=5000, X=0)
        # The comparison covered equal byte counts across families, and IPv6 keys.
        ties_across_families = False
        v6_rows = 0
        for r in results:
            if r["query"] != "ip-topk":
                continue
            rows = r["rows"]
            self.assertEqual(len(rows), r["keys"])
            v6_rows += sum(":" in row["key"] for row in rows)
            for a, b in zip(rows, rows[1:]):
                if a["bytes"] == b["bytes"] and ":" not in a["key"] and ":" in b["key"]:
                    ties_across_families = True
        self.assertGreater(v6_rows, 0)
        self.assertTrue(ties_across_families)

    def test_outliers_above_the_mean_and_fractional_parameters(self):
        results = self.check("frac", T=60, H=2.5, k=7, X=0.5)
        self.assertTrue(any(r["rows"] for r in results if r["query"] == "ip-outliers"))
        results = self.check("mean", T=10, H=1, k=1, X=0)
        self.assertTrue(any(":" in row["key"] for r in results if r["query"] == "ip-outliers"
                            for row in r["rows"]))

    def test_ip_key_dst_and_host(self):
        self.check("dst", T=10, H=1, k=10, X=3, extra=("--ip-key", "dst"))
        self.check("host", T=60, H=1, k=10, X=2, extra=("--ip-key", "host"), threads=2)


class BoundaryTest(FilesTest):
    """A handmade file on the conditions' edges, where generated data rarely lands: a share of
    exactly H, bytes equal to the mean (X = 0), equal bytes across and within families (where
    numeric and text order differ), a key with 0 bytes, 9 fraction digits just below a second.
    Both tools must give the same results, and the results the spec's."""

    # Second 0: total 2000 over 8 keys (mean 250), protocols HTTP 1000, DNS 750, SSH 250, NTP 0.
    LINES = [
        "2020-05-09 00:00:00 HTTP 10.0.0.1 192.0.2.1 1000",
        "2020-05-09 00:00:00.03125 SSH 2001:470::1 192.0.2.1 125",
        "2020-05-09 00:00:00.0625 SSH 2001:470::a 192.0.2.1 125",
        "2020-05-09 00:00:00.125 DNS 2001:470::10 192.0.2.1 250",
        "2020-05-09 00:00:00.25 DNS 10.0.0.9 192.0.2.1 250",
        "2020-05-09 00:00:00.5 DNS 10.0.0.10 192.0.2.1 250",
        "2020-05-09 00:00:00.999999 NTP ::1 10.0.0.3 0",
        "2020-05-09 00:00:00.999999999 NTP 10.0.0.3 192.0.2.1 0",
        "2020-05-09 00:00:01 HTTP 10.0.0.1 192.0.2.2 7",
    ]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.edge = os.path.join(cls.dir, "edges.txt")
        with open(cls.edge, "w") as f:
            f.write("\n".join(cls.LINES) + "\n")

    def run_pair(self, name, *params):
        outs = []
        for tool, cmd in (("netpulse", [NETPULSE, "process", "--quiet"]),
                          ("duckdb", [NODE, SCRIPT, "--quiet", "--check-order"])):
            out = os.path.join(self.dir, f"{name}.{tool}.jsonl")
            subprocess.run(cmd + ["--input", self.edge, "--output", out, *params], check=True,
                           timeout=TIMEOUT_S)
            with open(out) as f:
                outs.append(f.read().splitlines())
        problems = compare(*outs)
        self.assertEqual(problems, [], "\n".join(problems))
        return [json.loads(line) for line in outs[0]]

    def rows(self, results, query, window_end="2020-05-09T00:00:01.000Z"):
        [r] = [r for r in results if r["query"] == query and r["window_end"] == window_end]
        return [(row["key"], row["bytes"]) for row in r["rows"]]

    def test_edges_of_share_mean_and_order(self):
        results = self.run_pair("edges", "--T", "2", "--H", "12.5", "--k", "100", "--X", "0")
        # 250 * 100 is not > 12.5 * 2000; 1000 is.
        self.assertEqual(self.rows(results, "ip-share"), [("10.0.0.1", 1000)])
        # Above the mean 250 only; DNS 750 and HTTP 1000 above the protocols' mean 500.
        self.assertEqual(self.rows(results, "ip-outliers"), [("10.0.0.1", 1000)])
        self.assertEqual(self.rows(results, "protocol-outliers"), [("HTTP", 1000), ("DNS", 750)])
        # Equal bytes: IPv4 before IPv6, numerically (10.0.0.9 before 10.0.0.10, ::a before ::10).
        self.assertEqual(self.rows(results, "ip-topk"), [
            ("10.0.0.1", 1000), ("10.0.0.9", 250), ("10.0.0.10", 250), ("2001:470::10", 250),
            ("2001:470::1", 125), ("2001:470::a", 125), ("10.0.0.3", 0), ("::1", 0)])
        self.assertEqual(self.rows(results, "protocol-topk"),
                         [("HTTP", 1000), ("DNS", 750), ("SSH", 250), ("NTP", 0)])
        # The record at 00:00:01 is in the windows ending at 2 and 3 only.
        self.assertEqual([r["records"] for r in results if r["query"] == "ip-topk"], [8, 9, 1])

    def test_top_k_cut_between_equal_bytes(self):
        results = self.run_pair("cut", "--T", "1", "--H", "50", "--k", "3", "--X", "1.5",
                                "--ip-key", "host")
        self.assertEqual(self.rows(results, "ip-topk"),
                         [("192.0.2.1", 2000), ("10.0.0.1", 1000), ("10.0.0.9", 250)])


class CompareTest(unittest.TestCase):
    """The comparison fails when either side is wrong."""

    BASE = [
        {"window_start": "2020-05-09T00:00:00.000Z", "window_end": "2020-05-09T00:00:10.000Z",
         "query": "ip-topk", "params": {"T": 10, "k": 3}, "records": 5, "total_bytes": 600,
         "keys": 3, "rows": [
             {"key": "10.0.0.1", "bytes": 300, "share": 0.5, "z": 1.224744871391589},
             {"key": "10.0.0.2", "bytes": 150, "share": 0.25, "z": -0.0},
             {"key": "2001:470::1", "bytes": 150, "share": 0.25, "z": None}]},
        {"window_start": "2020-05-09T00:00:01.000Z", "window_end": "2020-05-09T00:00:11.000Z",
         "query": "ip-topk", "params": {"T": 10, "k": 3}, "records": 1, "total_bytes": 100,
         "keys": 1, "rows": [{"key": "10.0.0.1", "bytes": 100, "share": 1, "z": None}]},
    ]

    def lines(self, results):
        return [json.dumps(r, separators=(",", ":")) for r in results]

    def mutated(self, change):
        results = json.loads(json.dumps(self.BASE))
        change(results)
        return self.lines(results)

    def test_identical_results_agree_and_tiny_float_differences_pass(self):
        base = self.lines(self.BASE)
        self.assertEqual(compare(base, base), [])
        near = self.mutated(lambda r: r[0]["rows"][0].update(z=1.224744871391589 * (1 + 1e-13)))
        self.assertEqual(compare(base, near), [])

    def test_every_kind_of_difference_fails_in_either_direction(self):
        def set_row(i, **kw):
            return lambda r: r[0]["rows"][i].update(**kw)
        mutations = {
            "bytes": set_row(1, bytes=151),
            "key": set_row(0, key="10.0.0.9"),
            "share": set_row(0, share=0.5001),
            "z": set_row(0, z=1.3),
            "z null": set_row(2, z=0.0),
            "missing row": lambda r: r[0]["rows"].pop(),
            "swapped rows": lambda r: r[0]["rows"].reverse(),
            "records": lambda r: r[1].update(records=2),
            "total": lambda r: r[0].update(total_bytes=601),
            "keys": lambda r: r[0].update(keys=4),
            "window": lambda r: r[1].update(window_end="2020-05-09T00:00:12.000Z"),
            "params": lambda r: r[0]["params"].update(k=4),
            "missing window": lambda r: r.pop(),
        }
        base = self.lines(self.BASE)
        for name, change in mutations.items():
            wrong = self.mutated(change)
            self.assertNotEqual(compare(base, wrong), [], f"engine right, DuckDB wrong: {name}")
            self.assertNotEqual(compare(wrong, base), [], f"engine wrong, DuckDB right: {name}")


def main():
    global NETPULSE, NODE
    NETPULSE, argv = e2e_support.binary_from_argv(sys.argv)
    NODE = shutil.which("node")
    if "--node" in argv:
        i = argv.index("--node")
        NODE = argv[i + 1]
        del argv[i:i + 2]
    unittest.main(argv=argv)


if __name__ == "__main__":
    main()
