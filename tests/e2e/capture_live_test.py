#!/usr/bin/python3
"""netpulse's live capture (`collect --input pcap-live:IFACE`) on a veth pair (the capture issue).

Each test makes a network namespace of its own (`ip netns`, named after this process and the
test) holding both ends of a veth pair, np-tx (198.51.100.1/30) and np-rx (198.51.100.2/30), with
IPv6 off in it, so the kernel sends nothing of its own on the pair and no frame it carries can
reach any other interface. `netpulse collect --input pcap-live:np-rx --format csv` runs inside the
namespace; frames made here with scapy (their destination MAC is not np-rx's, so the namespace's
IP stack drops them after the capture has seen them, and answers nothing) are written to a file
and put on np-tx by a small AF_PACKET sender running in the namespace; then netpulse is stopped
with SIGINT (it drains the kernel's ring and ends every flow) and its records and summary read:

- PacketsModeTest: every frame sent is one record, exactly once (address, ports or ICMP type,
  IP length, TCP flags: each packet of the batch has a port of its own), times are the capture's
  (the wall clock), labels are nDPI's (HTTP, DNS, TLS.Google from the SNI, ICMP, DNS over IPv6),
  and the summary counts every packet and 0 drops.
- FlowsModeTest: the same traffic as one record per direction of each flow, packets and bytes
  adding up, labelled as above.
- FilterTest: `--filter udp` keeps exactly the UDP packets (IPv4 and IPv6), and counts only them.
- StopTest: a SIGINT right after the traffic still gets every packet processed and counted (the
  tests above stop SETTLE_S after it, so that they check counting and labels on their own).
- ErrorsTest: an interface that does not exist ends with exit code 1 and one line on stderr; a
  filter that does not compile with exit code 2.

Run as root with Debian's /usr/bin/python3 (python3-scapy) and iproute2:
    /usr/bin/python3 tests/e2e/capture_live_test.py -v --binary build/netpulse [Class.test]
Skipped (with the reason) only when not root or when `ip netns` is unavailable. Every process
started is stopped by its id, and the namespace (with the veth pair) is deleted, also on failure.
"""

import collections
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import e2e_support

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import collector_interop_test as cit  # noqa: E402  (processes, CSV records, times)
import make_captures as mc  # noqa: E402  (TLS ClientHello bytes)

NETPULSE = None  # set in main(): --binary or NETPULSE_BINARY
TCP, UDP, ICMP = 6, 17, 1
TX, RX = "np-tx", "np-rx"
CLIENT, SERVER = "198.51.100.1", "198.51.100.2"
CLIENT6, SERVER6 = "2001:db8::1", "2001:db8::2"
# Not np-rx's MAC: the frames are "other host" frames to the namespace's IP stack, which drops
# them after the capture (a tap) has seen them.
MAC_CLIENT, MAC_SERVER = "02:00:00:00:00:01", "02:00:00:00:00:02"
BATCH = 1000             # UDP packets in the batch, each from its own source port
BATCH_PORTS = range(42000, 42000 + BATCH)
READY_TIMEOUT_S = 15     # netpulse's "capturing" line
STOP_TIMEOUT_S = 20      # SIGINT to exit (drain and end of every flow)
# The kernel hands a block of the capture ring (TPACKET_V3) to the reader when it is full or when
# libpcap's timeout (netpulse: 100 ms) has passed since the block was opened. The tests that check
# counts and labels stop netpulse this long after the traffic; StopTest checks a stop right after.
SETTLE_S = 0.3
NAMESPACE_SEQ = iter(range(1_000_000))

# Sends the frames of a classic pcap file (little-endian, as scapy writes it) on an interface
# through an AF_PACKET socket, in order; prints how many. Runs in the namespace (ip netns exec).
# With a third argument, sends that process SIGINT the moment the last frame is out.
SENDER = r"""
import errno, os, signal, socket, struct, sys, time
iface, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: sends only
s.bind((iface, 0))
data = open(path, "rb").read()
at, n = 24, 0
while at + 16 <= len(data):
    caplen = struct.unpack_from("<I", data, at + 8)[0]
    frame = data[at + 16:at + 16 + caplen]
    while True:
        try:
            s.send(frame)
            break
        except OSError as e:  # the device queue full for a moment: the same frame again
            if e.errno not in (errno.ENOBUFS, errno.EAGAIN):
                raise
            time.sleep(0.001)
    at += 16 + caplen
    n += 1
if len(sys.argv) > 3:
    os.kill(int(sys.argv[3]), signal.SIGINT)
print(n)
"""


def setUpModule():
    if NETPULSE is None or not os.access(NETPULSE, os.X_OK):
        raise RuntimeError("netpulse binary not found: pass --binary PATH or set NETPULSE_BINARY "
                           "(got %r)" % NETPULSE)
    if os.geteuid() != 0:
        raise unittest.SkipTest("not root: a network namespace and a veth pair need root")
    ip = shutil.which("ip", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not ip or subprocess.run([ip, "netns", "list"], capture_output=True).returncode != 0:
        raise unittest.SkipTest("`ip netns` is unavailable (iproute2)")
    global IP
    IP = ip
    import scapy.all  # noqa: F401  (Debian's /usr/bin/python3 has it: python3-scapy)


IP = "ip"


def run(*cmd, check=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr))
    return r


# --------------------------------------------------------------------------------------------
# The traffic: frames, and per frame what a packets-mode record must say

Sent = collections.namedtuple("Sent", "frame src dst proto sport dport ip_len flags flow")
# The label nDPI gives each conversation (its "flow" name) once it has seen it all.
EXPECTED_LABELS = {"http": "HTTP", "dns": "DNS", "tls": "TLS.Google", "ping": "ICMP",
                   "dns6": "DNS"}


def build_traffic():
    """[Sent]: an HTTP exchange over a full TCP connection, a DNS query and answer, a TLS
    connection whose ClientHello names www.google.com, an ICMP echo and reply, DNS over IPv6, and
    the batch: BATCH UDP packets to the discard port, each from its own source port, of varied
    sizes."""
    from scapy.all import (Ether, IP as IPl, IPv6, TCP as TCPl, UDP as UDPl, ICMP as ICMPl,
                           DNS, DNSQR, DNSRR, Raw, raw)
    out = []

    def add(flow, l3, to_server):
        eth = Ether(src=MAC_CLIENT if to_server else MAC_SERVER,
                    dst=MAC_SERVER if to_server else MAC_CLIENT)
        frame = raw(eth / l3)
        ip = l3.copy()
        ip = IPv6(raw(ip)) if l3.haslayer(IPv6) else IPl(raw(ip))
        l4 = ip.payload
        if isinstance(l4, ICMPl):
            sport, dport = 0, l4.type * 256 + l4.code
        else:
            sport, dport = l4.sport, l4.dport
        proto = ip.nh if isinstance(ip, IPv6) else ip.proto
        flags = int(l4.flags) if isinstance(l4, TCPl) else 0
        ip_len = len(raw(ip))
        out.append(Sent(frame, ip.src, ip.dst, proto, sport, dport, ip_len, flags, flow))

    def tcp(flow, cport, sport, exchange):
        """A connection: handshake, the exchange [(to_server, payload)], FIN both ways."""
        seq = {True: 1000, False: 5000}

        def seg(to_server, flags, payload=b""):
            src, dst = (CLIENT, SERVER) if to_server else (SERVER, CLIENT)
            sp, dp = (cport, sport) if to_server else (sport, cport)
            pkt = IPl(src=src, dst=dst) / TCPl(sport=sp, dport=dp, flags=flags,
                                               seq=seq[to_server], ack=seq[not to_server])
            if payload:
                pkt = pkt / Raw(payload)
            seq[to_server] += len(payload) + (1 if ("S" in flags or "F" in flags) else 0)
            add(flow, pkt, to_server)

        seg(True, "S")
        seg(False, "SA")
        seg(True, "A")
        for to_server, payload in exchange:
            seg(to_server, "PA", payload)
            seg(not to_server, "A")
        seg(True, "FA")
        seg(False, "FA")
        seg(True, "A")

    tcp("http", 40001, 80, [
        (True, b"GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/7.88.1\r\n"
               b"Accept: */*\r\n\r\n"),
        (False, b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: text/html\r\n"
                b"Content-Length: 13\r\n\r\n<html></html>"),
    ])
    rng = random.Random(7)
    hello = mc.tls_record(0x16, mc.client_hello(rng, "www.google.com", ["h2", "http/1.1"]),
                          version=0x0301)
    server = mc.tls_record(0x16, mc.server_hello(rng, bytes(32))) + mc.tls_record(0x14, b"\x01")
    tcp("tls", 40003, 443, [(True, hello), (False, server)])

    query = DNS(id=0x1234, rd=1, qd=DNSQR(qname="www.example.com", qtype="A"))
    answer = DNS(id=0x1234, qr=1, rd=1, ra=1, qd=DNSQR(qname="www.example.com", qtype="A"),
                 an=DNSRR(rrname="www.example.com", type="A", ttl=300, rdata="93.184.216.34"))
    add("dns", IPl(src=CLIENT, dst=SERVER) / UDPl(sport=40002, dport=53) / query, True)
    add("dns", IPl(src=SERVER, dst=CLIENT) / UDPl(sport=53, dport=40002) / answer, False)

    add("ping", IPl(src=CLIENT, dst=SERVER) / ICMPl(type=8, id=77, seq=1) / Raw(bytes(56)), True)
    add("ping", IPl(src=SERVER, dst=CLIENT) / ICMPl(type=0, id=77, seq=1) / Raw(bytes(56)), False)

    query6 = DNS(id=0x4321, rd=1, qd=DNSQR(qname="www.example.org", qtype="AAAA"))
    answer6 = DNS(id=0x4321, qr=1, rd=1, ra=1, qd=DNSQR(qname="www.example.org", qtype="AAAA"),
                  an=DNSRR(rrname="www.example.org", type="AAAA", ttl=300, rdata="2001:db8::80"))
    add("dns6", IPv6(src=CLIENT6, dst=SERVER6) / UDPl(sport=40004, dport=53) / query6, True)
    add("dns6", IPv6(src=SERVER6, dst=CLIENT6) / UDPl(sport=53, dport=40004) / answer6, False)

    for i, port in enumerate(BATCH_PORTS):
        # The source port marks the packet; the IP ID and size vary too.
        add("batch", IPl(src=CLIENT, dst=SERVER, id=i) / UDPl(sport=port, dport=9) /
            Raw(bytes([i % 251]) * (18 + i % 300)), True)
    return out


def write_frames(path, traffic):
    from scapy.utils import RawPcapWriter
    with RawPcapWriter(path, linktype=1, sync=False) as w:
        w.write_header(None)
        for s in traffic:
            w.write_packet(s.frame)


def parse_summary(stderr):
    """The capture summary's figures as a dict (see print_capture_summary in src/cli)."""
    m = re.search(
        r"captured (\d+) packets \(.*? of IP\) in .*?; (\d+) records, (\d+) labelled by a port "
        r"guess; (\d+) not IP, (\d+) truncated, (\d+) bad headers, (\d+) fragments; (\d+) dropped "
        r"by the kernel, (\d+) by the interface", stderr)
    if not m:
        raise AssertionError("no capture summary on netpulse's stderr:\n" + stderr[-3000:])
    keys = ("packets", "records", "guessed", "not_ip", "truncated", "bad_headers", "fragments",
            "kernel_drops", "if_drops")
    return dict(zip(keys, (int(g) for g in m.groups())))


# --------------------------------------------------------------------------------------------

class LiveTestCase(unittest.TestCase):
    """A namespace with the veth pair, a work directory, and the processes of one test."""

    traffic = None

    @classmethod
    def setUpClass(cls):
        if LiveTestCase.traffic is None:
            LiveTestCase.traffic = build_traffic()

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="netpulse-live-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.procs = cit.Processes(self.workdir)
        self.addCleanup(self.procs.kill_all)
        self.ns = "netpulse-live-%d-%d" % (os.getpid(), next(NAMESPACE_SEQ))
        run(IP, "netns", "add", self.ns)
        # Registered at once: the namespace (and the veth pair in it) goes even if a step
        # below fails. Runs after kill_all (cleanups run last in, first out).
        self.addCleanup(run, IP, "netns", "delete", self.ns, check=False)
        self.ns_run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1")
        run(IP, "-n", self.ns, "link", "add", TX, "type", "veth", "peer", "name", RX)
        run(IP, "-n", self.ns, "addr", "add", CLIENT + "/30", "dev", TX)
        run(IP, "-n", self.ns, "addr", "add", SERVER + "/30", "dev", RX)
        run(IP, "-n", self.ns, "link", "set", TX, "up")
        run(IP, "-n", self.ns, "link", "set", RX, "up")
        self.frames = os.path.join(self.workdir, "frames.pcap")

    def ns_run(self, *cmd):
        return run(IP, "netns", "exec", self.ns, *cmd)

    def start_netpulse(self, *args, name="netpulse"):
        """netpulse collect capturing np-rx inside the namespace, CSV to a file; returns (process,
        output path) once it says it is capturing."""
        out = os.path.join(self.workdir, name + ".csv")
        p = self.procs.start(name, [IP, "netns", "exec", self.ns, NETPULSE, "collect",
                                    "--input", "pcap-live:" + RX, "--format", "csv",
                                    "--output", out] + list(args))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "netpulse: capturing" not in self.procs.output(p)[1]:
            if self.procs.exited(p):
                self.fail("netpulse exited before capturing:\n" + self.procs.output(p)[1][-3000:])
            if time.monotonic() > deadline:
                self.fail("netpulse did not start capturing within %d s" % READY_TIMEOUT_S)
            time.sleep(0.02)
        return p, out

    def send(self, traffic, then_interrupt=None):
        """Puts the frames on np-tx (then SIGINT to process then_interrupt, at once); returns the
        wall-clock span (ms since the epoch) they were sent in."""
        write_frames(self.frames, traffic)
        t0 = int(time.time() * 1000)
        extra = [str(then_interrupt.pid)] if then_interrupt else []
        r = self.ns_run(sys.executable, "-c", SENDER, TX, self.frames, *extra)
        t1 = int(time.time() * 1000)
        self.assertEqual(int(r.stdout.strip()), len(traffic), r.stderr)
        return t0, t1

    def stop_netpulse(self, p, out, interrupted=False):
        """SIGINT, as an operator stops it (interrupted: it was sent already; a second one would
        mean "quit now"); returns (CSV rows, summary dict, stderr)."""
        if interrupted:
            if not self.procs.wait_exit(p, STOP_TIMEOUT_S):
                self.procs.reap(p)
                self.fail("netpulse still running %d s after SIGINT" % STOP_TIMEOUT_S)
            rc = self.procs.reap(p)
        else:
            rc = self.procs.stop(p, signal.SIGINT, timeout=STOP_TIMEOUT_S)
        err = self.procs.output(p)[1]
        self.assertEqual(rc, 0, "netpulse exited with %s:\n%s" % (rc, err[-3000:]))
        return cit.read_collect_csv(out), parse_summary(err), err

    def capture(self, traffic, *args, settle=SETTLE_S):
        p, out = self.start_netpulse(*args)
        span = self.send(traffic)
        time.sleep(settle)
        rows, summary, err = self.stop_netpulse(p, out)
        return rows, summary, err, span


def record_key(row):
    """(src, dst, IP protocol, src port, dst port, IP bytes, TCP flags) of a packets-mode row."""
    return (cit.canon_ip(row["src"]), cit.canon_ip(row["dst"]), int(row["ip_protocol"]),
            int(row["src_port"]), int(row["dst_port"]), int(row["bytes"]), int(row["tcp_flags"]))


def sent_key(s):
    return (cit.canon_ip(s.src), cit.canon_ip(s.dst), s.proto, s.sport, s.dport, s.ip_len, s.flags)


def diff(ours, theirs, a, b):
    return cit.diff_multisets(ours, theirs, a, b)


class PacketsModeTest(LiveTestCase):

    def test_every_packet_once_with_its_label(self):
        traffic = self.traffic
        rows, summary, err, (t0, t1) = self.capture(traffic, "--records", "packets")
        # Every frame sent is one record, and nothing else is.
        d = diff([record_key(r) for r in rows], [sent_key(s) for s in traffic], "netpulse",
                 "sent")
        if d:
            self.fail("packet records differ from the frames sent (src, dst, proto, sport, dport, "
                      "IP bytes, TCP flags):\n" + d)
        self.assertEqual(summary["packets"], len(traffic), err)
        self.assertEqual(summary["records"], len(traffic), err)
        self.assertEqual((summary["kernel_drops"], summary["if_drops"]), (0, 0), err)
        self.assertEqual((summary["not_ip"], summary["truncated"], summary["bad_headers"]),
                         (0, 0, 0), err)
        # Live records carry the capture's time: within the sending, give or take a second.
        late = [r for r in rows if not (t0 - 1000 <= cit.ms_of(r["time"]) <= t1 + 1000)]
        self.assertFalse(late, "capture times outside %s..%s: %r"
                         % (cit.line_time(t0), cit.line_time(t1), late[:3]))
        self.assertTrue(all(r["packets"] == "1" and r["flow_start"] == r["flow_end"] == r["time"]
                            for r in rows))
        # Labels: a conversation's packets from the one nDPI named it on carry that name, the ones
        # before it nDPI's guess from the port ("TLS" before the ClientHello named Google); the
        # last packet of each conversation here comes after its detection.
        by_key = collections.defaultdict(list)
        for r in rows:
            by_key[record_key(r)].append(r["protocol"])
        last = {}
        for s in traffic:
            last[s.flow] = s
        for flow, want in EXPECTED_LABELS.items():
            self.assertEqual(by_key[sent_key(last[flow])][-1], want,
                             "%s: the label of its last packet" % flow)
            labels = {label for s in traffic if s.flow == flow for label in by_key[sent_key(s)]}
            self.assertLessEqual(labels, {want, want.split(".")[0]},
                                 "%s: the labels of its packets" % flow)


class FlowsModeTest(LiveTestCase):

    def test_flows_add_up_and_are_labelled(self):
        traffic = self.traffic
        rows, summary, err, _ = self.capture(traffic, "--records", "flows")
        self.assertEqual(summary["packets"], len(traffic), err)
        self.assertEqual((summary["kernel_drops"], summary["if_drops"]), (0, 0), err)
        # One record per direction of each flow (ICMP: per direction and type).
        want = collections.defaultdict(lambda: [0, 0, 0, None])
        for s in traffic:
            w = want[(cit.canon_ip(s.src), cit.canon_ip(s.dst), s.proto, s.sport, s.dport)]
            w[0] += 1
            w[1] += s.ip_len
            w[2] |= s.flags
            w[3] = s.flow
        got = {}
        for r in rows:
            key = (cit.canon_ip(r["src"]), cit.canon_ip(r["dst"]), int(r["ip_protocol"]),
                   int(r["src_port"]), int(r["dst_port"]))
            self.assertNotIn(key, got, "two records for one direction of a flow: %r" % (key,))
            got[key] = (int(r["packets"]), int(r["bytes"]), int(r["tcp_flags"]), r["protocol"])
        self.assertEqual(set(got), set(want), "flow directions differ")
        wrong = []
        for key, (packets, nbytes, flags, flow) in want.items():
            label = EXPECTED_LABELS.get(flow)
            g = got[key]
            if g[:3] != (packets, nbytes, flags) or (label and g[3] != label):
                wrong.append("%r: got %r, want %r" % (key, g, (packets, nbytes, flags, label)))
        self.assertFalse(wrong, "flow records wrong (packets, bytes, TCP flags, label):\n"
                         + "\n".join(wrong[:20]))
        self.assertEqual(sum(int(r["packets"]) for r in rows), len(traffic))


class FilterTest(LiveTestCase):

    def test_udp_filter_keeps_only_udp(self):
        traffic = self.traffic
        rows, summary, err, _ = self.capture(traffic, "--records", "packets", "--filter", "udp")
        udp = [s for s in traffic if s.proto == UDP]
        self.assertGreater(len(udp), BATCH)  # the batch, DNS over IPv4 and over IPv6
        d = diff([record_key(r) for r in rows], [sent_key(s) for s in udp], "netpulse",
                 "UDP sent")
        if d:
            self.fail("--filter udp records differ from the UDP frames sent:\n" + d)
        # The kernel filters: the other frames are not captured, so not counted.
        self.assertEqual(summary["packets"], len(udp), err)
        self.assertEqual((summary["kernel_drops"], summary["if_drops"]), (0, 0), err)


class StopTest(LiveTestCase):
    """A stop drains: what the kernel captured before the SIGINT is processed and counted, even
    when the traffic ended a moment before (the ring's last block not yet handed over)."""

    ROUNDS = 2

    def test_stop_right_after_traffic_loses_nothing(self):
        traffic = [s for s in self.traffic if s.flow != "batch"]
        for i in range(self.ROUNDS):
            p, out = self.start_netpulse("--records", "packets", name="netpulse-%d" % i)
            self.send(traffic, then_interrupt=p)  # the sender sends the SIGINT: no gap
            rows, summary, err = self.stop_netpulse(p, out, interrupted=True)
            self.assertEqual((summary["packets"], len(rows)), (len(traffic), len(traffic)),
                             "round %d: SIGINT right after %d frames: %d captured, %d records, "
                             "%d dropped by the kernel (packets in the ring's last block, not yet "
                             "handed to netpulse, are neither processed nor counted as dropped)"
                             "\n%s" % (i + 1, len(traffic), summary["packets"], len(rows),
                                       summary["kernel_drops"], err[-2000:]))


class ErrorsTest(LiveTestCase):

    def test_no_such_interface(self):
        r = subprocess.run([NETPULSE, "collect", "--input", "pcap-live:nonexistent0",
                            "--output", os.path.join(self.workdir, "out.txt")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("nonexistent0", lines[0])

    def test_bad_filter(self):
        r = subprocess.run([IP, "netns", "exec", self.ns, NETPULSE, "collect", "--input",
                            "pcap-live:" + RX, "--filter", "udp and (", "--output",
                            os.path.join(self.workdir, "out.txt")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn("--filter", lines[0])


def main():
    global NETPULSE
    NETPULSE, argv = e2e_support.binary_from_argv(sys.argv)
    unittest.main(argv=argv)


if __name__ == "__main__":
    main()
