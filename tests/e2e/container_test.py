#!/usr/bin/python3
"""The container deployment, built and run for real (issue 15): Dockerfile, compose.yaml.

From the source directory it:
  - makes the Debian base image locally when it is missing (no registry is reachable here):
    debootstrap --variant=minbase bookworm from the apt mirror, imported and tagged as
    docker.io/library/debian:bookworm-slim, so `FROM debian:bookworm-slim` needs no pull; kept
    for later runs;
  - builds the image (`podman build --format docker`, the real multi-stage build) and, at the
    same time, the test's PostgreSQL image (deploy/test/postgres);
  - checks the image: `podman run IMAGE process --input FILE` gives byte for byte the results of
    the host's binary on the same file;
  - brings the cluster of compose.yaml up with podman-compose, with deploy/test/compose.override.yaml
    (Kafka: `netpulse kafka-mock`; PostgreSQL: Debian's; host networking on 127.0.0.1);
  - feeds known records into the topic (`netpulse generate --seed --start-time` in the image),
    and checks that every window merge has emitted, read from its HTTP API
    (GET /api/results/{query}), equals `netpulse process` on the same records (all six queries),
    and that the emitted windows cover the feed; checks the dashboard, the chart library and the
    image's HEALTHCHECK;
  - kills one `process` container, starts it again (podman 4.3 does not apply the restart policy
    to a container stopped by `podman kill`), feeds more records and checks again: no window
    lost, none different.
It removes what it made on every way out (containers, volumes, network, the run directory, the
test's images); a run killed outright is cleaned up by the next one.

podman runs with deploy/test/containers.conf (runc; rlimits the host allows). Needs root, podman,
podman-compose and debootstrap (scripts/setup installs them).

Run with: /usr/bin/python3 tests/e2e/container_test.py -v --binary build/netpulse
Environment: NP_KEEP_IMAGES=1 keeps localhost/netpulse:test and the PostgreSQL image.
"""

import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import e2e_support  # noqa: E402

NETPULSE = None
SOURCE = os.path.dirname(os.path.dirname(HERE))
CONTAINERS_CONF = os.path.join(SOURCE, "deploy/test/containers.conf")
PODMAN_WRAPPER = os.path.join(SOURCE, "deploy/test/podman-host-network")
COMPOSE_FILES = [os.path.join(SOURCE, "compose.yaml"),
                 os.path.join(SOURCE, "deploy/test/compose.override.yaml")]
BASE_IMAGE = "docker.io/library/debian:bookworm-slim"
IMAGE = "localhost/netpulse:test"
PG_IMAGE = "localhost/netpulse-test-postgres:15"
PROJECT_PREFIX = "npctest"
QUERIES = ["protocol-share", "protocol-topk", "protocol-outliers", "ip-share", "ip-topk",
           "ip-outliers"]
# The query parameters of compose.yaml's merge service; the reference runs with the same.
PARAMS = ["--T", "10", "--H", "10", "--k", "3", "--X", "2"]
# Two feeds of 60 s of event time each, the second right after the first.
RATE, COUNT = 500, 30000
FEEDS = [("2020-05-09 00:00:00", 11), ("2020-05-09 00:01:00", 12)]
T0_MS = 1588982400000  # 2020-05-09T00:00:00Z


def log(msg):
    print("container_test: %s" % msg, file=sys.stderr, flush=True)


def podman_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPULSE_")}
    env["CONTAINERS_CONF"] = CONTAINERS_CONF
    env.update(extra or {})
    return env


def run(cmd, env=None, check=True, timeout=600, capture=True, **kw):
    kw.setdefault("stdout", subprocess.PIPE if capture else None)
    kw.setdefault("stderr", subprocess.PIPE)
    r = subprocess.run(cmd, env=env or podman_env(), timeout=timeout, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s: exit %d\n%s\n%s" % (" ".join(cmd), r.returncode,
                                                      (r.stdout or "")[-3000:],
                                                      (r.stderr or "")[-3000:]))
    return r


def podman(*args, **kw):
    return run(["podman"] + list(args), **kw)


def _ports_below_ephemeral_range():
    low = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    first, count = 10000, max(low - 10000, 1000)
    start = (os.getpid() * 2654435761) % count
    for i in range(count):
        yield first + (start + i * 7919) % count


_candidate_ports = _ports_below_ephemeral_range()


def free_port():
    """A port free for TCP a moment ago, from below the kernel's ephemeral range: a port-0 bind
    draws from the range outgoing connections use, so a test running alongside could take it
    before the container publishes it (tests/support/free_port.hpp says more)."""
    for port in _candidate_ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port below the ephemeral range")


def apt_mirror():
    """The Debian mirror apt uses (deb822 .sources or a one-line sources.list entry)."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            text = f.read()
        for stanza in text.split("\n\n"):
            if re.search(r"^Suites:.*\bbookworm\b", stanza, re.M) and "debian-security" not in stanza:
                m = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if m:
                    return m.group(1)
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if os.path.exists(path):
            with open(path) as f:
                lines = f.read().splitlines()
            for line in lines:
                m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", line)
                if m and "security" not in m.group(1):
                    return m.group(1)
    return "http://deb.debian.org/debian"


def cleanup_project(project):
    """Removes the project's containers, volumes and network (each by ID or name)."""
    ids = podman("ps", "-a", "-q", "--filter", "label=io.podman.compose.project=" + project,
                 check=False).stdout.split()
    vols = []
    if ids:
        # The containers' volumes too, named and anonymous (the image's VOLUME /var/lib/netpulse).
        vols = podman("inspect", "--format",
                      '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}', *ids,
                      check=False).stdout.split()
        podman("rm", "-f", "-v", "-t", "0", *ids, check=False)
    vols += [v for v in podman("volume", "ls", "-q", "--filter",
                               "label=io.podman.compose.project=" + project,
                               check=False).stdout.split() if v not in vols]
    vols += [v for v in podman("volume", "ls", "-q", check=False).stdout.split()
             if v.startswith(project + "_") and v not in vols]
    if vols:
        podman("volume", "rm", "-f", *vols, check=False)
    nets = [n for n in podman("network", "ls", "--format", "{{.Name}}", check=False).stdout.split()
            if n == project + "_default"]
    if nets:
        podman("network", "rm", "-f", *nets, check=False)


def cleanup_stale_projects():
    """Projects of earlier runs whose test process is gone (a run killed outright)."""
    out = podman("ps", "-a", "--format", '{{index .Labels "io.podman.compose.project"}}',
                 check=False).stdout.split()
    out += [n[:-len("_default")] for n in
            podman("network", "ls", "--format", "{{.Name}}", check=False).stdout.split()
            if n.endswith("_default")]
    for project in sorted(set(out)):
        m = re.fullmatch(PROJECT_PREFIX + r"(\d+)", project)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            log("removing the leftovers of an earlier run: " + project)
            cleanup_project(project)


def windows_of(lines):
    """{(query, window_end): object} of JSON result lines."""
    out = {}
    for line in lines:
        if line.strip():
            o = json.loads(line)
            out[(o["query"], o["window_end"])] = o
    return out


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def host_ccache_args():
    """podman build arguments that lend the host's compiler cache to the image's build stage.

    scripts/build compiles through ccache with the same compiler, flags and relative paths as
    the Dockerfile's build stage, so the image's compile finds the host's objects instead of
    compiling netpulse a second time (about 6 of the 10 minutes this test takes on a machine
    whose own cache mount is cold). No ccache on the host: nothing to lend, a cold build.
    """
    if shutil.which("ccache") is None:
        return []
    r = subprocess.run(["ccache", "--get-config", "cache_dir"], capture_output=True, text=True)
    cache = r.stdout.strip()
    if r.returncode != 0 or not os.path.isdir(cache):
        return []
    return ["--build-arg", "CCACHE_DIR=/host-ccache", "-v", cache + ":/host-ccache"]


class ContainerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # scripts/test installs everything this needs: a missing piece fails the test, so a
        # broken set-up is never reported as a pass.
        if os.geteuid() != 0:
            raise AssertionError("needs root (podman with runc, host networking)")
        for tool in ["podman", "podman-compose", "debootstrap", "runc"]:
            if not shutil.which(tool):
                raise AssertionError("%s is not installed (scripts/setup)" % tool)
        if not os.path.exists(os.path.join(SOURCE, "node_modules/echarts/dist/echarts.min.js")):
            raise AssertionError("node_modules/echarts is missing: run scripts/setup (npm ci)")
        cls.project = "%s%d" % (PROJECT_PREFIX, os.getpid())
        cls.cleaned = False
        cls.made_images = []
        cls.run_dir = None
        cls.times = {}
        cls.addClassCleanup(cls.cleanup)
        cleanup_stale_projects()
        t_start = time.monotonic()
        cls.make_base_image()
        cls.build_images()
        cls.run_dir = tempfile.mkdtemp(prefix="netpulse-ctest-")
        os.chmod(cls.run_dir, 0o777)
        cls.make_reference()
        cls.times["setup"] = time.monotonic() - t_start

    @classmethod
    def cleanup(cls):
        if getattr(cls, "cleaned", True):
            return
        cls.cleaned = True
        t0 = time.monotonic()
        if getattr(cls, "compose_log", None):
            cls.compose_log.close()
        cleanup_project(cls.project)
        if os.environ.get("NP_KEEP_IMAGES") != "1":
            for image in cls.made_images:
                podman("rmi", "-f", image, check=False)
        if cls.run_dir:
            shutil.rmtree(cls.run_dir, ignore_errors=True)
        log("cleaned up in %.1f s; times (s): %s" % (
            time.monotonic() - t0, ", ".join("%s %.1f" % kv for kv in cls.times.items())))

    @classmethod
    def make_base_image(cls):
        if podman("image", "exists", BASE_IMAGE, check=False).returncode == 0:
            log("base image %s is there already" % BASE_IMAGE)
            return
        t0 = time.monotonic()
        mirror = apt_mirror()
        root = tempfile.mkdtemp(prefix="netpulse-debootstrap-", dir="/var/tmp")
        try:
            log("debootstrap --variant=minbase bookworm from %s" % mirror)
            run(["debootstrap", "--variant=minbase", "bookworm", root, mirror], timeout=900)
            tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
            imp = subprocess.run(["podman", "import", "-", "localhost/debian:bookworm-slim"],
                                 stdin=tar.stdout, env=podman_env(), capture_output=True, text=True)
            tar.stdout.close()
            assert tar.wait() == 0 and imp.returncode == 0, imp.stderr
            podman("tag", "localhost/debian:bookworm-slim", BASE_IMAGE)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        cls.times["base image"] = time.monotonic() - t0
        log("base image made in %.0f s" % cls.times["base image"])

    @classmethod
    def build_images(cls):
        t0 = time.monotonic()
        log("podman build %s (and %s alongside)" % (IMAGE, PG_IMAGE))
        with tempfile.TemporaryFile("w+") as pg_log:
            pg = subprocess.Popen(["podman", "build", "--format", "docker", "--network", "host",
                                   "-t", PG_IMAGE, os.path.join(SOURCE, "deploy/test/postgres")],
                                  env=podman_env(), stdout=pg_log, stderr=subprocess.STDOUT)
            try:
                cls.made_images.append(PG_IMAGE)
                cls.made_images.append(IMAGE)
                r = run(["podman", "build", "--format", "docker", "--network", "host",
                         "--jobs", "2"] + host_ccache_args() + ["-t", IMAGE, SOURCE],
                        timeout=900, check=False)
                cls.times["image build"] = time.monotonic() - t0
                if r.returncode != 0:
                    raise AssertionError("podman build failed:\n" + r.stdout[-4000:] +
                                         r.stderr[-4000:])
                rc = pg.wait(timeout=600)
            finally:
                if pg.poll() is None:
                    pg.terminate()
                    pg.wait()
            cls.times["both builds"] = time.monotonic() - t0
            pg_log.seek(0)
            if rc != 0:
                raise AssertionError("building the PostgreSQL image failed:\n" + pg_log.read()[-4000:])
        log("images built in %.0f s (netpulse %.0f s)" % (cls.times["both builds"],
                                                          cls.times["image build"]))

    @classmethod
    def make_reference(cls):
        """The records of both feeds (from the image's generator) and the host binary's results."""
        cls.flow_files = []
        for i, (start, seed) in enumerate(FEEDS):
            path = os.path.join(cls.run_dir, "flows%d.txt" % i)
            with open(path, "w") as f:
                run(["podman", "run", "--rm", "--network", "none", IMAGE] + cls.generate_args(i) +
                    ["--output", "-"], stdout=f, capture=False)
            os.chmod(path, 0o644)
            cls.flow_files.append(path)
        both = os.path.join(cls.run_dir, "flows.txt")
        with open(both, "w") as out:
            for path in cls.flow_files:
                with open(path) as f:
                    out.write(f.read())
        os.chmod(both, 0o644)
        r = run([NETPULSE, "process", "--input", both, "--quiet"] + PARAMS, env=podman_env())
        cls.reference_text = r.stdout
        cls.reference = windows_of(r.stdout.splitlines())
        assert len(cls.reference) >= 6 * 2 * COUNT // RATE, len(cls.reference)

    @staticmethod
    def generate_args(i):
        start, seed = FEEDS[i]
        return ["generate", "--count", str(COUNT), "--rate", str(RATE), "--seed", str(seed),
                "--start-time", start, "--quiet"]

    # --- the cluster -----------------------------------------------------------------------

    def compose(self, *args, timeout=300):
        env = podman_env({"NP_TEST_RUN_DIR": self.run_dir, "NP_TEST_PG_PORT": str(self.pg_port),
                          "NP_TEST_WEB_PORT": str(self.web_port)})
        cmd = ["podman-compose", "--podman-path", PODMAN_WRAPPER, "-p", self.project]
        for f in COMPOSE_FILES:
            cmd += ["-f", f]
        self.compose_log.write("$ %s\n" % " ".join(cmd + list(args)))
        self.compose_log.flush()
        r = subprocess.run(cmd + list(args), env=env, cwd=SOURCE, timeout=timeout,
                           stdout=self.compose_log, stderr=subprocess.STDOUT)
        self.assertEqual(r.returncode, 0, "podman-compose %s failed; see %s" % (
            " ".join(args), self.compose_log.name) + self.compose_tail())

    def compose_tail(self):
        with open(self.compose_log.name) as f:
            return "\n" + f.read()[-4000:]

    def container(self, service, n=1):
        return "%s_%s_%d" % (self.project, service, n)

    def logs(self, service, n=1):
        return podman("logs", self.container(service, n), check=False).stderr[-3000:]

    def wait_for(self, what, predicate, timeout, interval=0.5):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                self.fail("timed out after %d s waiting for %s%s" % (timeout, what,
                                                                     self.diagnostics()))
            time.sleep(interval)

    def diagnostics(self):
        out = ""
        for name in podman("ps", "-a", "--format", "{{.Names}}", "--filter",
                           "label=io.podman.compose.project=" + self.project,
                           check=False).stdout.split():
            r = podman("logs", "--tail", "15", name, check=False)
            out += "\n--- %s:\n%s%s" % (name, r.stdout[-1500:], r.stderr[-1500:])
        try:
            out += "\n--- merge /api/status: %s" % self.api("/api/status")[1][:3000].decode()
        except OSError as e:
            out += "\n--- merge /api/status: %s" % e
        return out

    def api(self, path):
        return http_get("http://127.0.0.1:%d%s" % (self.web_port, path))

    def merged(self):
        """{(query, window_end): object} of every result merge has stored, read from its API."""
        out = {}
        for q in QUERIES:
            status, body = self.api("/api/results/%s?limit=10000" % q)
            self.assertEqual(status, 200)
            doc = json.loads(body)
            self.assertIsNone(doc["next"], "more than one page of results")
            for o in doc["results"]:
                out[(o["query"], o["window_end"])] = o
        return out

    def feed(self, i):
        with open(os.path.join(self.run_dir, "bootstrap")) as f:
            bootstrap = f.read().strip()
        t0 = time.monotonic()
        run(["podman", "run", "--rm", "--network", "host", IMAGE] + self.generate_args(i) +
            ["--output", "kafka://%s/flows" % bootstrap])
        log("feed %d: %d records into the topic in %.1f s" % (i, COUNT, time.monotonic() - t0))

    def last_window_end(self):
        try:
            status, body = self.api("/api/results/ip-topk/latest")
        except urllib.error.HTTPError:
            return None
        return json.loads(body)["window_end"] if status == 200 else None

    def check_equal(self, until_ms, phase):
        """Every window merge emitted equals the reference's; none is missing up to until_ms."""
        got = self.merged()
        ends = sorted({end for (_, end) in got})
        self.assertTrue(ends, "merge emitted nothing")
        expected = {k: v for k, v in self.reference.items() if k[1] <= ends[-1]}
        self.assertEqual(sorted(set(got) - set(expected)), [], "windows merge made up")
        self.assertEqual(sorted(set(expected) - set(got)), [], "windows merge lost (%s)" % phase)
        for key in sorted(expected):
            g = dict(got[key])
            e = dict(expected[key])
            self.assertEqual(g, e, "%s %s differs (%s)" % (key[0], key[1], phase))
        last_ms = self.to_ms(ends[-1])
        self.assertGreaterEqual(last_ms, until_ms, "merge's windows stop at %s" % ends[-1])
        log("%s: %d windows x 6 queries equal to `netpulse process` (last %s)" % (
            phase, len(ends), ends[-1]))
        return got

    @staticmethod
    def to_ms(iso):
        # 2020-05-09T00:01:00.000Z
        m = re.fullmatch(r"2020-05-09T(\d\d):(\d\d):(\d\d)\.(\d\d\d)Z", iso)
        h, mi, s, ms = (int(x) for x in m.groups())
        return T0_MS + ((h * 60 + mi) * 60 + s) * 1000 + ms

    def test_image_and_cluster(self):
        t_test = time.monotonic()
        # The image on its own: `podman run IMAGE process --input FILE` as the host binary.
        both = os.path.join(self.run_dir, "flows.txt")
        r = podman("run", "--rm", "--network", "none", "-v", "%s:/data:ro" % self.run_dir, IMAGE,
                   "process", "--input", "/data/flows.txt", "--quiet", *PARAMS)
        self.assertEqual(r.stdout, self.reference_text, "the image's process differs from the host's")
        user = podman("run", "--rm", "--entrypoint", "id", IMAGE, "-un").stdout.strip()
        self.assertEqual(user, "netpulse")
        self.assertTrue(os.path.exists(both))

        # The cluster.
        cls = type(self)
        self.pg_port, self.web_port = free_port(), free_port()
        cls.compose_log = open(os.path.join(self.run_dir, "compose.log"), "w")
        t0 = time.monotonic()
        self.compose("up", "-d")
        self.wait_for("the mock Kafka's bootstrap address",
                      lambda: os.path.exists(os.path.join(self.run_dir, "bootstrap")), 60)

        def merge_up():
            try:
                return self.api("/api/status")[0] == 200
            except (OSError, urllib.error.URLError):
                state = podman("inspect", "--format", "{{.State.Status}}",
                               self.container("merge"), check=False).stdout.strip()
                if state not in ("running", "created", "configured", "initialized", ""):
                    log("merge is %s: %s" % (state, self.logs("merge")))
                return False
        self.wait_for("merge's HTTP API", merge_up, 90)
        cls.times["cluster up"] = time.monotonic() - t0
        log("cluster up in %.1f s" % cls.times["cluster up"])
        running = podman("ps", "--filter", "label=io.podman.compose.project=" + self.project,
                         "--format", "{{.Names}}").stdout.split()
        self.assertEqual(sorted(running), sorted(
            [self.container(s) for s in ["kafka", "postgres", "merge"]] +
            [self.container("process", n) for n in (1, 2)]), "the services that run")

        # The dashboard and its chart library come from the image; the HEALTHCHECK passes.
        status, body = self.api("/")
        self.assertEqual(status, 200)
        self.assertIn(b"/vendor/echarts/echarts.min.js", body)
        status, body = self.api("/vendor/echarts/echarts.min.js")
        self.assertEqual(status, 200)
        self.assertGreater(len(body), 100000)
        hc = podman("healthcheck", "run", self.container("merge"), check=False)
        self.assertEqual(hc.returncode, 0, "healthcheck: " + hc.stdout + hc.stderr)

        # Feed 1. Merge emits the windows once every partition is idle (10 s after the feed):
        # up to the feed's last second, whose pane stays open until later records close it.
        self.feed(0)
        end1 = T0_MS + (COUNT // RATE - 1) * 1000
        self.wait_for("merge's windows up to the end of feed 1",
                      lambda: (self.last_window_end() or "") >= "2020-05-09T00:00:59.000Z", 120)
        self.check_equal(end1, "feed 1")

        # Kill one instance and start it again: it replays from its last commit. (podman 4.3
        # without systemd does not apply the restart policy to a container stopped by
        # `podman kill`; it never did here in a 30 s wait, so the test starts it itself.)
        victim = self.container("process", 1)
        podman("kill", victim)
        log("killed %s" % victim)
        podman("start", victim)
        self.wait_for("%s running" % victim, lambda: podman(
            "inspect", "--format", "{{.State.Status}}", victim).stdout.strip() == "running", 30)

        # Feed 2, and the same comparison over both feeds.
        self.feed(1)
        end2 = end1 + COUNT // RATE * 1000
        self.wait_for("merge's windows up to the end of feed 2",
                      lambda: (self.last_window_end() or "") >= "2020-05-09T00:01:59.000Z", 150)
        got = self.check_equal(end2, "feed 2, after a kill")
        # The windows cover the whole feed but the last T-1 (pending while partitions stay open).
        ends = {end for (_, end) in got}
        self.assertGreaterEqual(len(ends), 2 * COUNT // RATE - 1)
        status, body = self.api("/api/status")
        log("merge status: %s" % body[:600].decode(errors="replace"))
        # merge's cluster view: the 4 source partitions, each owned by one of the instances
        # (named HOST:PID-XXXX, distinct although both share the host's name), none unknown.
        self.assertEqual(status, 200)
        cluster = json.loads(body)["cluster"]
        self.assertEqual(cluster["source"]["partitions"], 4)
        self.assertEqual(len(cluster["partitions"]), 4)
        for p in cluster["partitions"]:
            self.assertIn(p["state"], ("active", "idle"), p)
            self.assertTrue(p["owner"], p)
        self.assertLessEqual(len(cluster["instances"]), 3)  # two, and the killed one's old name
        cls.times["cluster test"] = time.monotonic() - t0
        cls.times["test body"] = time.monotonic() - t_test


def main():
    global NETPULSE
    NETPULSE, argv = e2e_support.binary_from_argv(sys.argv)
    if not NETPULSE:
        sys.exit("usage: container_test.py --binary PATH [unittest options]")
    # SIGTERM and Ctrl-C unwind through the cleanup too.
    def interrupted(*_):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupted)
    try:
        unittest.main(argv=argv)
    finally:
        ContainerTest.cleanup()


if __name__ == "__main__":
    main()
