#!/usr/bin/python3
"""Traffic history end to end (issue 17), as a user runs it: `netpulse generate` makes three
hours of records, `netpulse process --store sqlite:...` writes the history, a second `process
--web` serves the same file, and the API's answers are checked against a plain reference
computed here from the same records:

- with M larger than the keys, /api/top and /api/series are exact for every dimension and for
  ranges inside an hour, across hours and over the whole span (hours rolled up from minutes);
- with M = 20 (keys cut), totals stay exact and every key's true bytes lie within the bounds the
  answer states;
- with --history-sample 50 (600 records a minute, so every minute is sampled), totals and
  protocols stay exact and every key's true bytes lie within the stated error of the estimate,
  both ways;
- /api/sankey's links add up to its conversations; /api/history reports the minutes and hours;
- --retention 1h deletes minutes older than an hour of event time; bad options are one-line
  usage errors (exit 2).

Run with: /usr/bin/python3 tests/e2e/history_cli_test.py -v --binary build/netpulse
"""

import calendar
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import e2e_support  # noqa: E402

NETPULSE = None
START = "2020-05-09 00:00:00"
START_MS = calendar.timegm((2020, 5, 9, 0, 0, 0)) * 1000
HOUR = 3_600_000


def parse_time(text):
    date, clock = text.split(" ")
    y, mo, d = (int(x) for x in date.split("-"))
    hms, _, frac = clock.partition(".")
    h, mi, s = (int(x) for x in hms.split(":"))
    ms = int((frac + "000")[:3]) if frac else 0
    return calendar.timegm((y, mo, d, h, mi, s)) * 1000 + ms


def load_records(path):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 6:
                continue
            t = parse_time(parts[0] + " " + parts[1])
            out.append((t, parts[2], parts[3], parts[4], int(parts[5])))
    return out


def key_of(dimension, rec):
    _, proto, src, dst, _ = rec
    return {"protocol": proto, "src": src, "dst": dst,
            "conversation": "%s %s %s" % (src, dst, proto)}[dimension]


def reference(records, dimension, lo, hi):
    sums = defaultdict(int)
    for r in records:
        if lo <= r[0] < hi:
            sums[key_of(dimension, r)] += r[4]
    return sums


class Server:
    """`netpulse process --input - --store DB --web 127.0.0.1:0`, stdin held open."""

    def __init__(self, db, workdir):
        self.err = open(os.path.join(workdir, "serve.%d.err" % id(self)), "w+")
        self.proc = subprocess.Popen(
            [NETPULSE, "process", "--input", "-", "--store", "sqlite:" + db,
             "--web", "127.0.0.1:0", "--output", "/dev/null"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.time() + 30
        self.base = None
        while time.time() < deadline and self.base is None:
            self.err.seek(0)
            m = re.search(r"dashboard and API at (http://127\.0\.0\.1:\d+)/", self.err.read())
            if m:
                self.base = m.group(1)
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        if self.base is None:
            self.stop()
            raise AssertionError("the server did not start")

    def get(self, path, **params):
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


class HistoryCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        d = cls.dir.name
        cls.input = os.path.join(d, "flows.txt")
        # Three hours of event time: 10 records a second, 300 addresses (Zipf-like), 6 protocols.
        subprocess.run([NETPULSE, "generate", "-q", "--count", "108000", "--rate", "10",
                        "--ips", "300", "--protocols", "6", "--seed", "3",
                        "--start-time", START, "--output", "file:" + cls.input], check=True)
        cls.records = load_records(cls.input)
        assert len(cls.records) == 108000, len(cls.records)
        cls.exact_db = os.path.join(d, "exact.db")
        cls.cut_db = os.path.join(d, "cut.db")
        cls.sampled_db = os.path.join(d, "sampled.db")
        for db, args in ((cls.exact_db, ["--history-keys", "100000"]),
                         (cls.cut_db, ["--history-keys", "20"]),
                         (cls.sampled_db, ["--history-keys", "100000", "--history-sample", "50"])):
            p = subprocess.run([NETPULSE, "process", "--input", cls.input, "--store", "sqlite:" + db,
                                "--output", "/dev/null", "--T", "10"] + args,
                               capture_output=True, text=True, timeout=300)
            assert p.returncode == 0, p.stderr
            assert "history: 180 minutes" in p.stderr, p.stderr
            sampled = "180 minutes estimated from a sample of 50 records" in p.stderr
            assert sampled == (db == cls.sampled_db), p.stderr
        cls.exact = Server(cls.exact_db, d)
        cls.cut = Server(cls.cut_db, d)
        cls.sampled = Server(cls.sampled_db, d)

    @classmethod
    def tearDownClass(cls):
        cls.exact.stop()
        cls.cut.stop()
        cls.sampled.stop()
        cls.dir.cleanup()

    RANGES = [
        (START_MS + 10 * 60_000, START_MS + 40 * 60_000),           # inside the first hour
        (START_MS + 50 * 60_000, START_MS + 70 * 60_000),           # across an hour boundary
        (START_MS, START_MS + 3 * HOUR),                            # all of it: hours + minutes
        (START_MS + HOUR, START_MS + 2 * HOUR),                     # exactly one rolled-up hour
        (START_MS + 2 * HOUR + 17 * 60_000, START_MS + 3 * HOUR),   # the last, unrolled hour
    ]

    def test_top_is_exact_when_nothing_is_cut(self):
        for dimension in ("protocol", "src", "dst", "conversation"):
            for lo, hi in self.RANGES:
                with self.subTest(dimension=dimension, lo=iso(lo), hi=iso(hi)):
                    code, body = self.exact.get("/api/top", dimension=dimension, limit=25,
                                                **{"from": iso(lo), "to": iso(hi)})
                    self.assertEqual(code, 200, body)
                    self.assertEqual((body["from_ms"], body["to_ms"]), (lo, hi))
                    ref = reference(self.records, dimension, lo, hi)
                    total = sum(ref.values())
                    self.assertEqual(body["total_bytes"], total)
                    want = sorted(ref.items(), key=lambda kv: (-kv[1], kv[0]))[:25]
                    got = [(r["key"], r["bytes"]) for r in body["rows"]]
                    self.assertEqual(got, want)
                    self.assertTrue(body["exact"])
                    for r in body["rows"]:
                        self.assertEqual(r["error_bytes"], 0)
                        self.assertAlmostEqual(r["share"], r["bytes"] / total, places=6)
                    self.assertEqual(body["other"]["bytes"], total - sum(b for _, b in want))

    def test_cut_history_states_honest_bounds(self):
        for dimension in ("src", "dst", "conversation"):
            for lo, hi in self.RANGES:
                with self.subTest(dimension=dimension, lo=iso(lo), hi=iso(hi)):
                    code, body = self.cut.get("/api/top", dimension=dimension, limit=10,
                                              **{"from": iso(lo), "to": iso(hi)})
                    self.assertEqual(code, 200, body)
                    ref = reference(self.records, dimension, lo, hi)
                    self.assertEqual(body["total_bytes"], sum(ref.values()))
                    self.assertFalse(body["exact"])
                    listed = {r["key"] for r in body["rows"]}
                    for r in body["rows"]:
                        true = ref.get(r["key"], 0)
                        self.assertLessEqual(r["bytes"], true, r["key"])
                        self.assertLessEqual(true, r["bytes"] + r["error_bytes"], r["key"])
                    smallest = min(r["bytes"] + r["error_bytes"] for r in body["rows"])
                    for key, true in ref.items():
                        if key not in listed:
                            self.assertLessEqual(true, max(body["absent_bound"], smallest), key)

    def test_sampled_history_states_its_error_both_ways(self):
        for dimension in ("protocol", "src", "dst", "conversation"):
            for lo, hi in self.RANGES:
                with self.subTest(dimension=dimension, lo=iso(lo), hi=iso(hi)):
                    code, body = self.sampled.get("/api/top", dimension=dimension, limit=50,
                                                  **{"from": iso(lo), "to": iso(hi)})
                    self.assertEqual(code, 200, body)
                    ref = reference(self.records, dimension, lo, hi)
                    self.assertEqual(body["total_bytes"], sum(ref.values()))
                    if dimension == "protocol":  # summed exactly whatever the sample
                        want = sorted(ref.items(), key=lambda kv: (-kv[1], kv[0]))[:50]
                        self.assertEqual([(r["key"], r["bytes"]) for r in body["rows"]], want)
                        self.assertTrue(body["exact"])
                        continue
                    self.assertFalse(body["exact"])
                    listed = {r["key"] for r in body["rows"]}
                    for r in body["rows"]:
                        true = ref.get(r["key"], 0)
                        self.assertLessEqual(abs(r["bytes"] - true), r["error_bytes"], r["key"])
                    smallest = min(r["bytes"] + r["error_bytes"] for r in body["rows"])
                    for key, true in ref.items():
                        if key not in listed:
                            self.assertLessEqual(true, max(body["absent_bound"], smallest), key)
        # Unbiased: over the three hours (about 13,000 sampled records), the estimates of the ten
        # truly largest sources and destinations add up to their true bytes within a few percent.
        # (Not the ten largest estimates: those are picked for being high.)
        lo, hi = START_MS, START_MS + 3 * HOUR
        for dimension in ("src", "dst"):
            with self.subTest(dimension=dimension, unbiased=True):
                code, body = self.sampled.get("/api/top", dimension=dimension, limit=1000,
                                              **{"from": iso(lo), "to": iso(hi)})
                self.assertEqual(code, 200, body)
                est = {r["key"]: r["bytes"] for r in body["rows"]}
                ref = reference(self.records, dimension, lo, hi)
                top = sorted(ref.items(), key=lambda kv: -kv[1])[:10]
                got = sum(est.get(key, 0) for key, _ in top)
                true = sum(v for _, v in top)
                self.assertLess(abs(got - true), 0.05 * true, (got, true))

    def test_series_of_a_key_matches_the_records(self):
        lo, hi = START_MS + 30 * 60_000, START_MS + 150 * 60_000
        ref_top = reference(self.records, "src", lo, hi)
        key = max(ref_top.items(), key=lambda kv: kv[1])[0]
        code, body = self.exact.get("/api/series", dimension="src", key=key, step="600",
                                    **{"from": iso(lo), "to": iso(hi)})
        self.assertEqual(code, 200, body)
        self.assertEqual(body["step_ms"], 600_000)
        self.assertEqual(len(body["times"]), 12)
        series = body["series"][0]
        self.assertEqual(series["key"], key)
        for t, b in zip(body["times"], series["bytes"]):
            self.assertEqual(b, reference(self.records, "src", t, t + 600_000).get(key, 0), iso(t))
        for t, b in zip(body["times"], body["total_bytes"]):
            self.assertEqual(b, sum(reference(self.records, "src", t, t + 600_000).values()))

    def test_sankey_links_add_up(self):
        code, body = self.exact.get("/api/sankey", limit=15, **{"from": iso(START_MS), "to": iso(START_MS + HOUR)})
        self.assertEqual(code, 200, body)
        self.assertEqual(len(body["rows"]), 15)
        names = {n["name"] for n in body["nodes"]}
        out = defaultdict(int)
        for link in body["links"]:
            self.assertIn(link["source"], names)
            self.assertIn(link["target"], names)
            out[link["source"]] += link["value"]
        for row in body["rows"]:
            self.assertIn("src " + row["src"], names)
            self.assertIn("dst " + row["dst"], names)
        self.assertEqual(sum(v for k, v in out.items() if k.startswith("src ")),
                         sum(r["bytes"] for r in body["rows"]))

    def test_history_reports_minutes_and_rolled_up_hours(self):
        code, body = self.exact.get("/api/history")
        self.assertEqual(code, 200, body)
        res = body["resolutions"]
        self.assertEqual(res["minute"]["buckets"], 180 * 4)
        # Hours 0 and 1 are complete (a minute of the next hour was stored); hour 2 is not.
        self.assertEqual(res["hour"]["buckets"], 2 * 4)
        self.assertEqual(res["minute"]["oldest"], iso(START_MS).replace("Z", ".000Z"))
        # A replayed file: "now" is the end of the newest minute, not the wall clock.
        self.assertEqual(body["now_ms"], START_MS + 3 * HOUR)

    def test_bad_requests_are_one_line_errors(self):
        for params in ({"dimension": "port"}, {"dimension": "src", "from": "yesterday"},
                       {"dimension": "src", "limit": "0"}, {"dimension": "src", "filter": "port=80"}):
            code, body = self.exact.get("/api/top", **params)
            self.assertEqual(code, 400, params)
            self.assertNotIn("\n", body["error"])

    def test_retention_by_age_counts_event_time(self):
        db = os.path.join(self.dir.name, "retention.db")
        p = subprocess.run([NETPULSE, "process", "--input", self.input, "--store", "sqlite:" + db,
                            "--history-keys", "50", "--retention", "1h", "--output", "/dev/null"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        server = Server(db, self.dir.name)
        try:
            code, body = server.get("/api/history")
            self.assertEqual(code, 200, body)
            minute = body["resolutions"]["minute"]
            oldest = e2e_support_iso_ms(minute["oldest"])
            newest = e2e_support_iso_ms(minute["newest"])
            # Retention runs at each hour boundary of event time: up to an hour more is kept.
            self.assertLess(newest - oldest, 2 * HOUR)
            self.assertLess(minute["buckets"], 180 * 4)
            self.assertEqual(body["resolutions"]["hour"]["buckets"], 2 * 4)  # hours stay
        finally:
            server.stop()

    def test_bad_options_are_usage_errors(self):
        for args in (["--retention", "week"], ["--retention", "month=3d"],
                     ["--retention-size", "lots"], ["--history-keys", "-3"],
                     ["--history-keys", "20000000"]):
            p = subprocess.run([NETPULSE, "process", "--input", self.input, "--output", "/dev/null",
                                "--store", "sqlite:" + os.path.join(self.dir.name, "x.db")] + args,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 2, args)
            self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)


def e2e_support_iso_ms(text):
    m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(?:\.(\d+))?Z", text)
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    return calendar.timegm((y, mo, d, h, mi, s)) * 1000 + int(((m.group(7) or "") + "000")[:3])


if __name__ == "__main__":
    NETPULSE, ARGV = e2e_support.binary_from_argv(sys.argv)
    if not NETPULSE:
        sys.exit("usage: history_cli_test.py --binary PATH [unittest options]")
    unittest.main(argv=ARGV)
