#!/usr/bin/python3
"""`netpulse process --memory-limit` under a spoofed-source flood, as a user runs it (issue 14).

The generator's flood scenario (`--scenario flood@START+LENGTH --flood-rate N`) is piped into
`netpulse process` with a 128 MiB budget. Each case checks:
  - the process's peak resident memory (from the kernel, wait4) stays under the budget, with
    more than 10 million distinct sources;
  - windows with the flood carry "approximate" on the ip-* objects (never on protocol-*), and
    windows the flood never reached or has left are exact;
  - against an unbounded run on the same input: records, total_bytes and the protocol queries
    are identical; in approximate windows ip-share misses no address of the exact ip-share,
    every listed byte count is at least the exact one (where the exact run lists the address)
    and within epsilon * total of it, and ip-topk has the same number of rows.

Run with: /usr/bin/python3 tests/e2e/memory_budget_test.py -v --binary build/netpulse
"""

import datetime
import json
import re
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import e2e_support  # noqa: E402

NETPULSE = None
BUDGET = 128 << 20


def run_pipe(gen_args, proc_args, out_path):
    """Runs `netpulse generate ... | netpulse process ...`; returns (exit code, stderr of
    process, peak RSS of process in bytes)."""
    with open(out_path, "wb") as out, tempfile.TemporaryFile() as err:
        gen = subprocess.Popen([NETPULSE, "generate"] + gen_args, stdout=subprocess.PIPE)
        proc = subprocess.Popen([NETPULSE, "process", "--input", "-"] + proc_args,
                                stdin=gen.stdout, stdout=out, stderr=err)
        gen.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        gen.wait()
        err.seek(0)
        return proc.returncode, err.read().decode(), usage.ru_maxrss * 1024


def windows(path):
    """{window_end: {query: object}} of a result file."""
    out = {}
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            out.setdefault(o["window_end"], {})[o["query"]] = o
    return out


class FloodTest(unittest.TestCase):
    def check(self, gen_args, proc_args, flood_from, flood_to, min_sources):
        with tempfile.TemporaryDirectory() as d:
            bounded, exact = os.path.join(d, "bounded.json"), os.path.join(d, "exact.json")
            code, err, rss = run_pipe(gen_args, proc_args + ["--memory-limit", "128MiB"], bounded)
            self.assertEqual(code, 0, err)
            # The summary names the bound: "(N addresses a pane, epsilon <= E%)".
            m = re.search(r"windows had approximate address results.*\((\d+) addresses a pane, "
                          r"epsilon <= ([0-9.e+-]+)%\)", err)
            self.assertTrue(m, err)
            bound = float(m.group(2)) / 100
            self.assertAlmostEqual(bound, 1 / (int(m.group(1)) + 1), delta=bound * 0.01)
            self.assertLess(rss, BUDGET, "peak RSS %.1f MiB over the 128 MiB budget" % (rss / 2**20))
            code, err, exact_rss = run_pipe(gen_args, proc_args + ["--memory-limit", "0"], exact)
            self.assertEqual(code, 0, err)
            self.assertGreater(exact_rss, 2 * BUDGET, "the flood should need far more when exact")
            b, e = windows(bounded), windows(exact)
            self.assertEqual(sorted(b), sorted(e))
            approximate = 0
            max_keys = 0
            for end in sorted(b):
                wb, we = b[end], e[end]
                for q in ("protocol-share", "protocol-topk", "protocol-outliers"):
                    self.assertEqual(wb[q], we[q], end)
                for q in wb:
                    self.assertEqual(wb[q]["records"], we[q]["records"])
                    self.assertEqual(wb[q]["total_bytes"], we[q]["total_bytes"])
                start_s = self.seconds(wb["ip-share"]["window_start"])
                end_s = self.seconds(end)
                flooded = start_s < flood_to and end_s > flood_from
                if "approximate" not in wb["ip-share"]:
                    for q in ("ip-share", "ip-topk", "ip-outliers"):
                        self.assertEqual(wb[q], we[q], end)
                    continue
                approximate += 1
                self.assertTrue(flooded, "approximate window %s without the flood" % end)
                max_keys = max(max_keys, we["ip-share"]["keys"])
                total = wb["ip-share"]["total_bytes"]
                eps = wb["ip-share"]["approximate"]["epsilon"]
                self.assertLessEqual(eps, bound * 1.001)
                self.assertEqual(wb["ip-topk"]["approximate"], wb["ip-share"]["approximate"])
                listed = {r["key"]: r["bytes"] for r in wb["ip-share"]["rows"]}
                H = wb["ip-share"]["params"]["H"]
                self.assertGreater(H, 100 * eps, "the guarantee's condition (README)")
                for r in we["ip-share"]["rows"]:
                    self.assertIn(r["key"], listed, "ip-share misses %s in %s" % (r["key"], end))
                for q in ("ip-share", "ip-topk", "ip-outliers"):
                    truth = {r["key"]: r["bytes"] for r in we[q]["rows"]}
                    for r in wb[q]["rows"]:
                        if r["key"] in truth:
                            self.assertGreaterEqual(r["bytes"], truth[r["key"]])
                            self.assertLessEqual(r["bytes"] - truth[r["key"]], eps * total + 1)
                self.assertEqual(len(wb["ip-topk"]["rows"]), len(we["ip-topk"]["rows"]))
                est = wb["ip-share"]["approximate"]["keys_estimated"]
                self.assertLess(abs(est - we["ip-share"]["keys"]), 0.1 * we["ip-share"]["keys"])
            self.assertGreater(approximate, 3)
            self.assertGreater(max_keys, min_sources)
            last = b[max(b)]
            self.assertNotIn("approximate", last["ip-share"], "exact again after the flood")

    @staticmethod
    def seconds(iso):
        """An ISO 8601 time of the output -> seconds since the stream start (2020-01-01)."""
        t = datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ")
        return (t - datetime.datetime(2020, 1, 1)).total_seconds()

    def test_ipv4_flood_of_twelve_million_sources_stays_under_128mib(self):
        gen = ["--rate", "200000", "--duration", "24s", "--ips", "5000", "--zipf", "1.1",
               "--seed", "5", "--start-time", "2020-01-01 00:00:00",
               "--scenario", "flood@2s+6s", "--flood-rate", "2000000"]
        # The default --max-window 3600 in 128 MiB: 69 addresses a pane, epsilon <= 1.4%, so H = 2.
        self.check(gen, ["--T", "10", "--H", "2", "--k", "10", "--X", "3"], 2, 8, 10_000_000)

    def test_ipv6_flood_two_threads_host_keys(self):
        gen = ["--rate", "100000", "--duration", "16s", "--ips", "2000", "--zipf", "1.1",
               "--seed", "6", "--start-time", "2020-01-01 00:00:00",
               "--scenario", "flood6@3s+4s", "--flood-rate", "1000000"]
        # Two shards need twice the sketches: 128 MiB holds --max-window 600 on two threads.
        self.check(gen, ["--T", "5", "--H", "0.5", "--k", "20", "--X", "2", "--threads", "2",
                         "--ip-key", "host", "--max-window", "600"], 3, 7, 2_000_000)


class RunTest(unittest.TestCase):
    """`netpulse run` (generator, engine, flow detector, store, web) with a flood of 1 million
    spoofed sources a second in real time: RSS sampled from /proc stays under 256 MiB, the
    dashboard's /metrics counts approximate windows, and the flow detector still raises the DoS
    on the flood's victim."""

    def test_run_with_a_flood_stays_under_256mib(self):
        budget = 256 << 20
        with tempfile.TemporaryDirectory() as d:
            err_path = os.path.join(d, "err.txt")
            with open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    [NETPULSE, "run", "--web", "127.0.0.1:0", "--store",
                     "sqlite:" + os.path.join(d, "r.db"), "--rate", "20000", "--T", "5",
                     "--scenario", "flood@2s+30s", "--flood-rate", "1000000",
                     "--memory-limit", "256MiB"],
                    stdout=err, stderr=err)
            def err_text():
                with open(err_path) as f:
                    return f.read()

            try:
                port = None
                peak = 0
                deadline = time.time() + 14
                while time.time() < deadline:
                    time.sleep(0.25)
                    self.assertIsNone(proc.poll(), err_text())
                    with open("/proc/%d/status" % proc.pid) as f:
                        for line in f:
                            if line.startswith("VmRSS:"):
                                peak = max(peak, int(line.split()[1]) * 1024)
                    if port is None:
                        m = re.search(r"http://127\.0\.0\.1:(\d+)/", err_text())
                        port = int(m.group(1)) if m else None
                self.assertIsNotNone(port, err_text())
                metrics = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5).read().decode()
                values = dict(l.split(" ", 1) for l in metrics.splitlines() if l and not l.startswith("#"))
                self.assertGreater(float(values["netpulse_approximate_windows_total"]), 0)
                self.assertGreater(float(values["netpulse_records_total"]), 2_000_000)
                self.assertGreaterEqual(float(values["netpulse_alerts_total"]), 1)
                self.assertLess(peak, budget, "peak RSS %.1f MiB" % (peak / 2**20))
            finally:
                proc.terminate()
                proc.wait(timeout=30)


def main():
    global NETPULSE
    NETPULSE, argv = e2e_support.binary_from_argv(sys.argv)
    if not NETPULSE:
        sys.exit("usage: memory_budget_test.py --binary PATH [unittest options]")
    unittest.main(argv=argv)


if __name__ == "__main__":
    main()
