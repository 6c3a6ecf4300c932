#!/usr/bin/python3
"""netpulse's packet capture input against third-party packet tools (pcap files in).

make_captures.py writes deterministic capture files (HTTP, TLS with SNI, QUIC v1 Initial, DNS,
SSH, ICMP, ICMPv6, IPv6 extension headers, IGMP, ARP; Ethernet with and without VLAN tags, Linux
cooked v1/v2, raw IP, BSD loopback, pcapng, nanosecond pcap; snap-length cuts; IP fragments).
`netpulse collect --input pcap:FILE` reads each, and reference tools read the same file:

1. PacketRecordsTest: `--records packets` (one record per IP packet) == tshark's decode of every
   frame (time to the ms, addresses, IP protocol, ports or ICMP type*256+code, IP length from
   the header, TCP flags), for every file and link type.
2. ProtocolLabelsTest: `--records flows` labels == ndpiReader's (nDPI 4.2) per flow: HTTP,
   TLS.Google, TLS.GMail, TLS.Wikipedia, TLS, DNS, SSH, QUIC.YouTube, QUIC, ICMP, ICMPV6, IGMP,
   Unknown. `--no-ndpi` labels == the service table over the ports.
3. FlowRecordsTest: `--records flows` == the per-direction aggregation of tshark's packets (for
   fragments: the datagram's flow, as tshark's reassembly attributes them); SoftflowdTest: ==
   softflowd's flows, exported as IPFIX to nfcapd and read back with nfdump.
4. FlowProbeTest: `--output netflow://...?version=10|9|5` into nfcapd == netpulse's own CSV flows
   of the same file (and softflowd's).
5. BadInputTest: garbage, empty, truncated and damaged files: a one-line error or the packets
   that can be read, never a crash.

Reference quirks the test corrects for, each where it does so: softflowd counts frame bytes less
the link header (Ethernet padding too) and gives both directions of a flow the bidirectional
flow's start and end; ndpiReader 4.2 cannot read LINUX_SLL2 or LOOP files and drops QinQ, double
0x8100 and LLC/SNAP frames (the same IP packets in apps.pcap are the reference then); tshark
needs `-o ip.defragment:FALSE` (and ipv6) to show each fragment as captured, and two passes
(`-2`) to say which datagram a fragment belongs to.

Run with Debian's /usr/bin/python3 (python3-scapy, python3-cryptography):
    /usr/bin/python3 tests/e2e/capture_interop_test.py -v --binary build/netpulse [Class.test]
A class is skipped, with the reason, only when a tool it needs is not installed (tshark,
ndpiReader from libndpi-bin, softflowd, nfcapd/nfdump). NETPULSE_INTEROP_KEEP=1 keeps the files.
"""

import collections
import concurrent.futures
import itertools
import os
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

import collector_interop_test as cit  # noqa: E402  (processes, nfcapd, nfdump, record helpers)
import make_captures as mc  # noqa: E402

NETPULSE = None  # set in main(): --binary or NETPULSE_BINARY
LOCALHOST = "127.0.0.1"
TEST_TIMEOUT_S = 60
TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58

# Whole-file flows: no flow ends by a timeout inside a ~9 s capture (softflowd -r likewise: its
# shortest timeout is 120 s after a RST), so every flow ends at the end of the file.
FLOW_OPTIONS = ["--records", "flows", "--flow-idle-timeout", "3600s",
                "--flow-active-timeout", "3600s"]

CAPTURES = {}      # name -> make_captures.CaptureFile
BAD_INPUTS = {}    # name -> path
WORKDIR = None


def require_tools(*names):
    missing = [n for n in names if not cit.find_tool(n)]
    if missing:
        raise unittest.SkipTest("not installed: %s (scripts/setup installs tshark libndpi-bin "
                                "softflowd nfdump)" % " ".join(missing))


def setUpModule():
    global WORKDIR
    if NETPULSE is None or not os.access(NETPULSE, os.X_OK):
        raise RuntimeError("netpulse binary not found: pass --binary PATH or set NETPULSE_BINARY "
                           "(got %r)" % NETPULSE)
    try:
        import scapy.all  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError as e:
        raise unittest.SkipTest("python3-scapy / python3-cryptography not installed (run with "
                                "Debian's /usr/bin/python3): %s" % e)
    help_text = subprocess.run([NETPULSE, "collect", "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    if "pcap:" not in help_text:
        raise RuntimeError("%s collect --help does not mention a pcap: input" % NETPULSE)
    WORKDIR = tempfile.mkdtemp(prefix="netpulse-capture-interop-")
    if os.environ.get("NETPULSE_INTEROP_KEEP"):
        sys.stderr.write("\n  files kept in %s\n" % WORKDIR)
    CAPTURES.update(mc.write_all(os.path.join(WORKDIR, "captures")))
    BAD_INPUTS.update(mc.write_bad(os.path.join(WORKDIR, "bad"), CAPTURES["apps.pcap"].path))


def tearDownModule():
    if WORKDIR and not os.environ.get("NETPULSE_INTEROP_KEEP"):
        shutil.rmtree(WORKDIR, ignore_errors=True)


def once(cache, key, make):
    """make() the first time key is asked for; the same value after (reference runs are shared
    by the classes)."""
    if key not in cache:
        cache[key] = make()
    return cache[key]


# --------------------------------------------------------------------------------------------
# netpulse

_RUN_NUMBERS = itertools.count(1)


class Netpulse:
    """One `netpulse collect --input pcap:FILE` run to its end."""

    def __init__(self, path, extra, output=None, timeout=30):
        self.csv = output is None
        self.output = output or os.path.join(WORKDIR, "netpulse-%d.csv" % next(_RUN_NUMBERS))
        self.cmd = [NETPULSE, "collect", "--input", "pcap:" + path, "--output", self.output] + \
            (["--format", "csv"] if self.csv else []) + extra
        r = subprocess.run(self.cmd, capture_output=True, text=True, timeout=timeout)
        self.returncode, self.stderr = r.returncode, r.stderr

    def repro(self):
        return " ".join(self.cmd) + ("\n  (the files: NETPULSE_INTEROP_KEEP=1 keeps them; "
                                     "tests/e2e/make_captures.py DIR --bad writes the same)")

    def check_ok(self, test):
        test.assertEqual(self.returncode, 0, "%s\nexited with %d:\n%s"
                         % (self.repro(), self.returncode, self.stderr[-3000:]))

    def rows(self):
        return cit.read_collect_csv(self.output)


def netpulse_run(name, extra):
    """The CSV run of capture `name` with options `extra`, run once per test program."""
    return once(_NETPULSE_RUNS, (name, tuple(extra)),
                lambda: Netpulse(CAPTURES[name].path, list(extra)))


_NETPULSE_RUNS = {}


def captured_packets(stderr):
    """The packet count of netpulse's closing summary ("netpulse: captured N packets ..."), or
    None when the line is not there (its wording is not fixed; the test reads it loosely)."""
    m = re.search(r"captured (\d+) packets", stderr)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------------
# tshark: the per-packet reference

TSHARK_FIELDS = [
    "frame.number", "frame.time_epoch", "frame.len", "frame.cap_len", "frame.protocols",
    "ip.src", "ip.dst", "ip.len", "ip.hdr_len", "ip.proto", "ip.flags.mf", "ip.frag_offset",
    "ip.reassembled_in",
    "ipv6.src", "ipv6.dst", "ipv6.plen", "ipv6.nxt", "ipv6.hopopts.nxt", "ipv6.hopopts.len_oct",
    "ipv6.dstopts.nxt", "ipv6.dstopts.len_oct", "ipv6.routing.nxt", "ipv6.routing.len_oct",
    "ipv6.fraghdr.nxt", "ipv6.fraghdr.offset", "ipv6.reassembled.in",
    "tcp.srcport", "tcp.dstport", "tcp.flags", "udp.srcport", "udp.dstport",
    "icmp.type", "icmp.code", "icmpv6.type", "icmpv6.code",
]

# Link header bytes before the network layer, by LINKTYPE_; Ethernet adds 4 per VLAN tag
# (tshark's "vlan" / "ieee8021ad" layers) and 8 for LLC/SNAP.
LINK_HEADER = {mc.LINKTYPE_ETHERNET: 14, mc.LINKTYPE_LINUX_SLL: 16, mc.LINKTYPE_LINUX_SLL2: 20,
               mc.LINKTYPE_NULL: 4, mc.LINKTYPE_LOOP: 4, mc.LINKTYPE_RAW: 0, mc.LINKTYPE_IPV4: 0}


def run_tshark(path, reassemble=False, damaged=False):
    """tshark's fields for every frame: [{field: [values, outermost first]}]. Without reassemble
    each fragment is decoded as captured (ip/ipv6.defragment off); with it, two passes, so a
    fragment names the frame its datagram is reassembled in. damaged: the file is known to end
    badly (tshark then prints the frames before the damage and exits 2)."""
    cmd = [cit.find_tool("tshark"), "-n", "-r", path, "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=|", "-E", "separator=/t"]
    flag = "TRUE" if reassemble else "FALSE"
    cmd += ["-o", "ip.defragment:" + flag, "-o", "ipv6.defragment:" + flag]
    if reassemble:
        cmd.append("-2")
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and not (damaged and r.returncode == 2):
        raise AssertionError("%s\nexited with %d: %s" % (" ".join(cmd), r.returncode, r.stderr))
    rows = []
    for line in r.stdout.splitlines():
        values = line.split("\t")
        rows.append({f: (v.split("|") if v else []) for f, v in zip(TSHARK_FIELDS, values)})
    return rows


def tshark_packets(name):
    return once(_TSHARK, (name, False), lambda: run_tshark(CAPTURES[name].path))


def tshark_reassembled(name):
    return once(_TSHARK, (name, True), lambda: run_tshark(CAPTURES[name].path, True))


_TSHARK = {}


def prefetch_tshark(names):
    """Runs tshark over the captures in parallel (half a second of start-up each, one after the
    other, is most of this test's time otherwise)."""
    jobs = [(n, False) for n in names] + [(n, True) for n in names if n == "fragments.pcap"]
    todo = [j for j in jobs if j not in _TSHARK]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda j: run_tshark(CAPTURES[j[0]].path, j[1]), todo)
        for job, rows in zip(todo, results):
            _TSHARK[job] = rows


EXTENSION_HEADERS = {0: "hopopts", 43: "routing", 60: "dstopts"}


def tshark_time(epoch):
    """frame.time_epoch ("1700000000.123456789") -> ms since the epoch, truncated."""
    sec, _, frac = epoch.partition(".")
    return int(sec) * 1000 + int((frac + "000")[:3])


def first_int(row, field, base=10):
    v = row[field]
    return int(v[0], base) if v else None


# An expected packet record.
Pkt = collections.namedtuple("Pkt", "ms src dst proto sport dport ip_len flags fragment")


def expected_packet(row, linktype):
    """What netpulse must report about one frame tshark decoded, or None when it must skip it:
    not IP, or the capture ends inside the link or IP header (IPv6 extension headers
    included). fragment: None, "first" (offset 0, more to come) or "later" (no transport
    header: tshark shows no ports, and neither must netpulse)."""
    layers = row["frame.protocols"][0].split(":") if row["frame.protocols"] else []
    net = next((p for p in layers if p in ("ip", "ipv6")), None)
    if net is None:
        return None
    link = LINK_HEADER[linktype] + 4 * sum(1 for p in layers[:layers.index(net)]
                                           if p in ("vlan", "ieee8021ad"))
    if "llc" in layers[:layers.index(net)]:
        link += 8
    fragment = None
    if net == "ip":
        if not row["ip.src"] or not row["ip.dst"] or not row["ip.hdr_len"]:
            return None
        src, dst = row["ip.src"][0], row["ip.dst"][0]
        header, ip_len, proto = first_int(row, "ip.hdr_len"), first_int(row, "ip.len"), \
            first_int(row, "ip.proto")
        if first_int(row, "ip.frag_offset"):
            fragment = "later"
        elif first_int(row, "ip.flags.mf"):
            fragment = "first"
    else:
        if not row["ipv6.src"] or not row["ipv6.dst"] or not row["ipv6.plen"]:
            return None
        src, dst = row["ipv6.src"][0], row["ipv6.dst"][0]
        ip_len, header = 40 + first_int(row, "ipv6.plen"), 40
        nxt = first_int(row, "ipv6.nxt")
        used = collections.Counter()
        while True:
            kind = EXTENSION_HEADERS.get(nxt)
            if kind:
                i = used[kind]
                used[kind] += 1
                lens = row["ipv6.%s.len_oct" % kind]
                nxts = row["ipv6.%s.nxt" % kind]
                if i >= len(lens) or i >= len(nxts):
                    return None  # cut inside the extension header
                header += int(lens[i])
                nxt = int(nxts[i])
            elif nxt == 44:
                i = used["frag"]
                used["frag"] += 1
                if i >= len(row["ipv6.fraghdr.nxt"]):
                    return None
                header += 8
                offset = int(row["ipv6.fraghdr.offset"][i])
                fragment = "later" if offset else "first"
                nxt = int(row["ipv6.fraghdr.nxt"][i])
            else:
                break
        proto = nxt
    if int(row["frame.cap_len"][0]) < link + header:
        return None
    sport = dport = flags = 0
    if fragment != "later":
        if proto == TCP and row["tcp.srcport"]:
            sport, dport = first_int(row, "tcp.srcport"), first_int(row, "tcp.dstport") or 0
            flags = (first_int(row, "tcp.flags", 16) or 0) & 0xFF
        elif proto == UDP and row["udp.srcport"]:
            sport, dport = first_int(row, "udp.srcport"), first_int(row, "udp.dstport") or 0
        elif proto == ICMP and row["icmp.type"]:
            dport = first_int(row, "icmp.type") * 256 + (first_int(row, "icmp.code") or 0)
        elif proto == ICMPV6 and row["icmpv6.type"]:
            dport = first_int(row, "icmpv6.type") * 256 + (first_int(row, "icmpv6.code") or 0)
    return Pkt(tshark_time(row["frame.time_epoch"][0]), cit.canon_ip(src), cit.canon_ip(dst),
               proto, sport, dport, ip_len, flags, fragment)


def expected_packets(name):
    """[(frame number, Pkt or None)] of a capture, from tshark."""
    linktype = CAPTURES[name].linktype
    return [(int(r["frame.number"][0]), expected_packet(r, linktype)) for r in tshark_packets(name)]


def packet_tuple(ms, src, dst, proto, sport, dport, nbytes, flags):
    return (cit.line_time(ms), src, dst, proto, sport, dport, nbytes, flags)


def netpulse_packet(row):
    return (row["time"], cit.canon_ip(row["src"]), cit.canon_ip(row["dst"]),
            int(row["ip_protocol"]), int(row["src_port"]), int(row["dst_port"]), int(row["bytes"]),
            int(row["tcp_flags"]))


# --------------------------------------------------------------------------------------------
# Flows: from tshark's packets, from softflowd, from netpulse

Flow = collections.namedtuple("Flow", "src dst proto sport dport bytes packets flags start end")


def datagram_ports(name):
    """frame number -> (sport, dport) of the datagram a fragment belongs to, for every frame
    tshark reassembles into a datagram: its two-pass reassembly names the frame the datagram
    completes in, and that frame shows the datagram's transport header."""
    rows = {int(r["frame.number"][0]): r for r in tshark_reassembled(name)}
    out = {}
    for number, r in rows.items():
        done = r["ip.reassembled_in"] or r["ipv6.reassembled.in"]
        if not done:
            continue
        last = rows[int(done[0])]
        ports = (0, 0)
        for sp, dp in (("tcp.srcport", "tcp.dstport"), ("udp.srcport", "udp.dstport")):
            if last[sp]:
                ports = (int(last[sp][0]), int(last[dp][0]))
        for kind, code in (("icmp.type", "icmp.code"), ("icmpv6.type", "icmpv6.code")):
            if last[kind]:
                ports = (0, int(last[kind][0]) * 256 + int((last[code] or ["0"])[0]))
        out[number] = out[int(done[0])] = ports
    return out


def tshark_flows(name):
    """Per-direction flows of a capture as a flow probe with whole-file timeouts must report
    them: tshark's packets grouped by (src, dst, IP protocol, ports), a fragment counted in its
    datagram's flow. The captures never reuse a 5-tuple, so a group is one flow."""
    packets = [(n, p) for n, p in expected_packets(name) if p is not None]
    attributed = datagram_ports(name) if any(p.fragment for _, p in packets) else {}
    flows = {}
    for n, p in packets:
        sport, dport = attributed.get(n, (p.sport, p.dport))
        key = (p.src, p.dst, p.proto, sport, dport)
        f = flows.get(key)
        if f is None:
            flows[key] = [p.ip_len, 1, p.flags, p.ms, p.ms]
        else:
            f[0] += p.ip_len
            f[1] += 1
            f[2] |= p.flags
            f[3] = min(f[3], p.ms)
            f[4] = max(f[4], p.ms)
    return [Flow(*k, *v) for k, v in flows.items()]


def netpulse_flows(rows):
    return [Flow(cit.canon_ip(r["src"]), cit.canon_ip(r["dst"]), int(r["ip_protocol"]),
                 int(r["src_port"]), int(r["dst_port"]), int(r["bytes"]), int(r["packets"]),
                 int(r["tcp_flags"]), cit.ms_of(r["flow_start"]), cit.ms_of(r["flow_end"]))
            for r in rows]


def flow_text(f, with_times=True):
    text = "%s:%d > %s:%d proto %d: %d bytes %d packets flags 0x%02x" % (
        f.src, f.sport, f.dst, f.dport, f.proto, f.bytes, f.packets, f.flags)
    if with_times:
        text += " %s - %s" % (cit.line_time(f.start), cit.line_time(f.end))
    return text


def diff_flows(ours, theirs, their_name, with_times=True):
    """'' when equal, else the differences, one flow per line."""
    def key(f):
        return tuple(f) if with_times else tuple(f)[:8]
    a = collections.Counter(key(f) for f in ours)
    b = collections.Counter(key(f) for f in theirs)
    if a == b:
        return ""
    lines = ["netpulse has %d flows, %s %d" % (len(ours), their_name, len(theirs))]
    for name, items in (("netpulse", a - b), (their_name, b - a)):
        for k in sorted(items.elements(), key=repr)[:15]:
            f = Flow(*k) if with_times else Flow(*k, 0, 0)
            lines.append("  only in %-9s %s" % (name + ":", flow_text(f, with_times)))
    return "\n".join(lines)


class NfcapdRun:
    """nfcapd on a free port for one exporter run; records() stops it and returns nfdump's
    records of what it received."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=WORKDIR)
        self.procs = cit.Processes(self.dir)
        self.collector = cit.NfCollector(self.procs, self.dir, "nfcapd")
        self.port = self.collector.port

    def records(self):
        time.sleep(0.5)  # nfcapd reads what is still in its socket before it is stopped
        try:
            records, log = self.collector.finish()
        finally:
            self.procs.kill_all()
        return records, log


def softflowd_records(name, version=10):
    """softflowd -r over the capture, exporting to nfcapd: nfdump's records."""
    def make():
        nf = NfcapdRun("softflowd")
        # -a: flow times from the packets; -c none: no control socket (else it waits on it);
        # -A milli: absolute ms times in v9/IPFIX (flow-tools.md).
        cmd = [cit.find_tool("softflowd"), "-d", "-a", "-c", "none", "-m", "65536",
               "-p", os.path.join(nf.dir, "softflowd.pid"), "-r", os.path.abspath(
                   CAPTURES[name].path), "-n", "%s:%d" % (LOCALHOST, nf.port), "-v", str(version)]
        if version != 5:
            cmd += ["-A", "milli"]
        p = nf.procs.start("softflowd", cmd)
        if not nf.procs.wait_exit(p, 30):
            nf.procs.kill_all()
            raise AssertionError("softflowd still running after 30 s: " + " ".join(cmd))
        rc = nf.procs.reap(p)
        if rc != 0:
            nf.procs.kill_all()
            raise AssertionError("%s\nexited with %d:\n%s" % (" ".join(cmd), rc,
                                                              "".join(nf.procs.output(p))))
        records, _ = nf.records()
        return records, " ".join(cmd)
    return once(_SOFTFLOWD, (name, version), make)


_SOFTFLOWD = {}


def softflowd_flows(name):
    """softflowd's flows with its bytes made IP bytes: it counts each frame's length less the
    link header (the padding of short Ethernet frames included), so the padding tshark finds
    in that direction's frames is taken off. Returns (flows, softflowd's command)."""
    records, cmd = softflowd_records(name)
    if not records:
        raise AssertionError("softflowd exported nothing: " + cmd)
    linktype = CAPTURES[name].linktype
    extra = collections.Counter()
    for row in tshark_packets(name):
        p = expected_packet(row, linktype)
        if p is not None:
            wire = int(row["frame.len"][0]) - LINK_HEADER[linktype]
            extra[(p.src, p.dst, p.proto, p.sport, p.dport)] += wire - p.ip_len
    flows = []
    for rec in records:
        f = nfdump_flow(rec)
        flows.append(f._replace(bytes=f.bytes - extra[f[:5]]))
    return flows, cmd


def nfdump_flow(rec):
    src, dst = cit.nfdump_addrs(rec)
    sport, dport = cit.nfdump_ports(rec)
    return Flow(src, dst, int(rec["proto"]), sport, dport, int(rec["in_bytes"]),
                int(rec["in_packets"]), cit.nfdump_tcp_flags(rec), cit.ms_of(rec["first"]),
                cit.ms_of(rec["last"]))


# --------------------------------------------------------------------------------------------
# ndpiReader: the protocol reference

NDPI_FLOW = re.compile(
    r"^\s*\d+\s+(\S+)\s+(\S+)\s+(<->|->)\s+(\S+)\s+\[proto: ([\d.]+)/([^\]]+)\]")
NDPI_TRANSPORTS = {"TCP": TCP, "UDP": UDP, "ICMP": ICMP, "ICMPV6": ICMPV6, "IGMP": 2}


def endpoint(text):
    """ndpiReader's "10.0.0.1:80" or "[2001:db8::1]:80" -> (address, port)."""
    addr, _, port = text.rpartition(":")
    return cit.canon_ip(addr.strip("[]")), int(port)


def flow_key(proto, a, b):
    """A bidirectional flow's key as ndpiReader sees it: no ports for ICMP, ICMPv6 and IGMP."""
    if proto not in (TCP, UDP):
        a, b = (a[0], 0), (b[0], 0)
    return proto, frozenset((a, b))


def ndpi_labels(name):
    """{flow key: nDPI's protocol name} from `ndpiReader -i FILE -v 2` (the flow list: detected
    flows first, then "Undetected flows", each "N  PROTO A:port <-> B:port [proto: ID/NAME]...";
    -C CSV leaves the undetected out)."""
    def make():
        path = CAPTURES[name].path
        cmd = [cit.find_tool("ndpiReader"), "-i", path, "-v", "2"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("%s\nexited with %d: %s" % (" ".join(cmd), r.returncode,
                                                             r.stderr[-2000:]))
        labels = {}
        for line in r.stdout.splitlines():
            m = NDPI_FLOW.match(line)
            if not m:
                continue
            proto = NDPI_TRANSPORTS.get(m.group(1))
            if proto is None:
                continue
            key = flow_key(proto, endpoint(m.group(2)), endpoint(m.group(4)))
            labels.setdefault(key, m.group(6))
        return labels, " ".join(cmd)
    return once(_NDPI, name, make)


_NDPI = {}


# --------------------------------------------------------------------------------------------
# Test cases

class CaptureTestCase(unittest.TestCase):
    def setUp(self):
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(TEST_TIMEOUT_S)
        self.addCleanup(signal.signal, signal.SIGALRM, previous)
        self.addCleanup(signal.alarm, 0)


def _on_alarm(signum, frame):
    raise cit.TestTimeout("took longer than %d s" % TEST_TIMEOUT_S)


# The files each check reads.
PACKET_FILES = ["apps.pcap", "apps.pcapng", "apps-nano.pcap", "apps-sll.pcap", "apps-sll2.pcap",
                "apps-raw.pcap", "apps-ipv4.pcap", "apps-null.pcap", "apps-loop.pcap", "l2.pcap",
                "snap40.pcap", "snap96.pcap", "fragments.pcap"]
# ndpiReader reads these itself (the same IP packets as apps.pcap, or their own: fragments). Not
# the snap-length files: ndpiReader skips every packet captured shorter than its IP length, so
# it sees other flows than a probe must.
NDPI_OWN_FILES = ["apps.pcap", "apps.pcapng", "apps-nano.pcap", "apps-sll.pcap", "apps-raw.pcap",
                  "apps-null.pcap", "fragments.pcap"]
# ndpiReader 4.2 refuses LINUX_SLL2 and LOOP, and drops QinQ, double-0x8100 and LLC/SNAP frames:
# apps.pcap holds the same IP packets at the same times, so its labels are the reference.
NDPI_VIA_APPS = ["apps-sll2.pcap", "apps-loop.pcap", "l2.pcap"]
# softflowd reads Ethernet (one 802.1Q tag at most), SLL, raw IP, NULL with Linux's AF_INET6
# (10, no BSD capture has it) and pcapng through libpcap; fragments it files under ports 0.
SOFTFLOWD_FILES = ["apps.pcap", "apps.pcapng", "apps-sll.pcap", "apps-raw.pcap", "snap96.pcap"]


def _name(file_name):
    return re.sub(r"[^a-z0-9]+", "_", file_name.lower())


class PacketRecordsTest(CaptureTestCase):
    """--records packets: one record per IP packet == tshark's decode of every frame."""

    @classmethod
    def setUpClass(cls):
        require_tools("tshark")
        prefetch_tshark(PACKET_FILES)

    def check_file(self, name):
        run = netpulse_run(name, ["--records", "packets"])
        run.check_ok(self)
        rows = run.rows()
        expected = expected_packets(name)
        theirs = [packet_tuple(p.ms, p.src, p.dst, p.proto, p.sport, p.dport, p.ip_len, p.flags)
                  for _, p in expected if p is not None]
        ours = [netpulse_packet(r) for r in rows]
        diff = cit.diff_multisets(ours, theirs, "netpulse", "tshark")
        if diff:
            self.fail("%s: packet records (time, src, dst, proto, sport, dport, IP bytes, TCP "
                      "flags) differ from tshark's decode:\n%s\nrepro: %s\n  tshark -n -r %s "
                      "-o ip.defragment:FALSE -o ipv6.defragment:FALSE"
                      % (name, diff, run.repro(), CAPTURES[name].path))
        not_one = [r for r in rows if r["packets"] != "1"]
        self.assertFalse(not_one, "%s: packet records with packets != 1: %r" % (name, not_one[:3]))
        self.assertTrue(theirs, "%s: tshark found no IP packet" % name)
        # Records come in capture order (the file is in time order).
        self.assertEqual([r["time"] for r in rows], sorted(r["time"] for r in rows), name)
        total = captured_packets(run.stderr)
        if total is not None:
            self.assertEqual(total, len(expected), "%s: summary packet count\n%s"
                             % (name, run.stderr[-1000:]))

    def test_skipped_packets_are_counted(self):
        # snap40.pcap: the IPv6 packets (cut inside their header) and ARP are skipped; the
        # summary counts every packet read.
        expected = expected_packets("snap40.pcap")
        skipped = sum(1 for _, p in expected if p is None)
        self.assertGreater(skipped, 50, "the fixture cuts IPv6 headers")
        run = netpulse_run("snap40.pcap", ["--records", "packets"])
        run.check_ok(self)
        self.assertEqual(len(run.rows()), len(expected) - skipped)
        self.assertIn("netpulse: captured", run.stderr, "no closing summary on stderr")

    def test_bpf_filter(self):
        """--filter EXPR keeps the packets tcpdump keeps with the same expression (both are
        libpcap's BPF): netpulse over the whole file == tshark over tcpdump's filtered copy."""
        tcpdump = cit.find_tool("tcpdump")
        if not tcpdump:
            self.skipTest("tcpdump not installed")
        bpf = "udp port 53 or (tcp and port 22) or icmp6 or (vlan and udp port 443)"
        for name in ("apps.pcap", "l2.pcap"):
            with self.subTest(name):
                filtered = os.path.join(WORKDIR, "filtered-" + name)
                r = subprocess.run([tcpdump, "-r", CAPTURES[name].path, "-w", filtered, bpf],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                theirs = [packet_tuple(p.ms, p.src, p.dst, p.proto, p.sport, p.dport, p.ip_len,
                                       p.flags)
                          for p in (expected_packet(row, CAPTURES[name].linktype)
                                    for row in run_tshark(filtered)) if p]
                run = Netpulse(CAPTURES[name].path, ["--records", "packets", "--filter", bpf])
                run.check_ok(self)
                self.assertGreater(len(theirs), 10)
                diff = cit.diff_multisets([netpulse_packet(r) for r in run.rows()], theirs,
                                          "netpulse", "tcpdump+tshark")
                if diff:
                    self.fail("%s: --filter %r keeps other packets than tcpdump:\n%s\nrepro: %s"
                              % (name, bpf, diff, run.repro()))


for _f in PACKET_FILES:
    setattr(PacketRecordsTest, "test_" + _name(_f), lambda self, f=_f: self.check_file(f))


class ProtocolLabelsTest(CaptureTestCase):
    """--records flows: each flow's label == ndpiReader's for that flow (nDPI 4.2, the library
    netpulse links)."""

    # What the fixture makes nDPI say (checked on ndpiReader first, so a changed nDPI shows).
    EXPECTED_LABELS = {"HTTP", "TLS", "TLS.Google", "TLS.GMail", "TLS.Wikipedia", "DNS", "SSH",
                       "QUIC", "QUIC.YouTube", "ICMP", "ICMPV6", "IGMP", "Unknown"}

    @classmethod
    def setUpClass(cls):
        require_tools("ndpiReader")

    def test_reference_sees_every_protocol(self):
        labels, cmd = ndpi_labels("apps.pcap")
        self.assertEqual(set(labels.values()), self.EXPECTED_LABELS, cmd)

    def check_file(self, name, reference):
        labels, ndpi_cmd = ndpi_labels(reference)
        self.assertTrue(labels, "ndpiReader listed no flow: " + ndpi_cmd)
        run = netpulse_run(name, FLOW_OPTIONS)
        run.check_ok(self)
        rows = run.rows()
        self.assertTrue(rows, "%s: no flow records" % name)
        wrong, seen = [], set()
        for r in rows:
            key = flow_key(int(r["ip_protocol"]), (cit.canon_ip(r["src"]), int(r["src_port"])),
                           (cit.canon_ip(r["dst"]), int(r["dst_port"])))
            seen.add(key)
            want = labels.get(key, "<no ndpiReader flow>")
            if r["protocol"] != want:
                wrong.append("  %s %s:%s > %s:%s: netpulse %r, ndpiReader %r"
                             % (r["ip_protocol"], r["src"], r["src_port"], r["dst"],
                                r["dst_port"], r["protocol"], want))
        missing = ["  %s %s: %s" % (k[0], sorted(k[1]), v) for k, v in labels.items()
                   if k not in seen]
        if wrong or missing:
            self.fail("%s: labels differ from ndpiReader's (on %s):\n%s%s\nrepro: %s\n  %s"
                      % (name, reference, "\n".join(sorted(set(wrong))),
                         ("\nflows ndpiReader has and netpulse not:\n" + "\n".join(missing))
                         if missing else "", run.repro(), ndpi_cmd))

    def test_no_ndpi_labels_come_from_the_service_table(self):
        run = netpulse_run("apps.pcap", FLOW_OPTIONS + ["--no-ndpi"])
        run.check_ok(self)
        rows = run.rows()
        wrong = ["%s %s:%s > %s:%s: %r" % (r["ip_protocol"], r["src"], r["src_port"], r["dst"],
                                           r["dst_port"], r["protocol"]) for r in rows
                 if r["protocol"] != cit.service_label(int(r["ip_protocol"]), int(r["src_port"]),
                                                       int(r["dst_port"]), cit.BUILTIN_SERVICES)]
        self.assertTrue(rows)
        self.assertFalse(wrong, "--no-ndpi labels not the service table's:\n%s\nrepro: %s"
                        % ("\n".join(wrong), run.repro()))
        # Same flows with and without nDPI: classification does not change flow tracking.
        self.assertEqual(sorted(netpulse_flows(rows)),
                         sorted(netpulse_flows(netpulse_run("apps.pcap", FLOW_OPTIONS).rows())))


for _f in NDPI_OWN_FILES:
    setattr(ProtocolLabelsTest, "test_" + _name(_f), lambda self, f=_f: self.check_file(f, f))
for _f in NDPI_VIA_APPS:
    setattr(ProtocolLabelsTest, "test_" + _name(_f), lambda self, f=_f: self.check_file(
        f, "apps.pcap"))


class FlowRecordsTest(CaptureTestCase):
    """--records flows == tshark's packets grouped per direction (src, dst, protocol, ports):
    bytes, packets, OR of TCP flags, first and last packet time. Fragments count in their
    datagram's flow, as tshark's reassembly places them."""

    @classmethod
    def setUpClass(cls):
        require_tools("tshark")
        prefetch_tshark(PACKET_FILES)

    def check_file(self, name):
        run = netpulse_run(name, FLOW_OPTIONS)
        run.check_ok(self)
        ours = netpulse_flows(run.rows())
        theirs = tshark_flows(name)
        diff = diff_flows(ours, theirs, "tshark")
        if diff:
            self.fail("%s: flows differ from tshark's packets grouped per direction:\n%s\n"
                      "repro: %s" % (name, diff, run.repro()))
        times = [(r["time"], r["flow_end"]) for r in run.rows() if r["time"] != r["flow_end"]]
        self.assertFalse(times, "%s: record time is not the flow end: %r" % (name, times[:3]))


for _f in PACKET_FILES:
    setattr(FlowRecordsTest, "test_" + _name(_f), lambda self, f=_f: self.check_file(f))


class SoftflowdTest(CaptureTestCase):
    """--records flows == softflowd -r on the same file (IPFIX into nfcapd, read by nfdump)."""

    @classmethod
    def setUpClass(cls):
        require_tools("softflowd", "nfcapd", "nfdump", "tshark")
        prefetch_tshark(SOFTFLOWD_FILES)
        # Each run waits for nfcapd to start and to drain: run them side by side.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(SOFTFLOWD_FILES)) as pool:
            list(pool.map(softflowd_records, SOFTFLOWD_FILES))

    def check_file(self, name):
        run = netpulse_run(name, FLOW_OPTIONS)
        run.check_ok(self)
        ours = netpulse_flows(run.rows())
        theirs, cmd = softflowd_flows(name)
        diff = diff_flows(ours, theirs, "softflowd", with_times=False)
        if diff:
            self.fail("%s: flows (without times) differ from softflowd's:\n%s\nrepro: %s\n  %s "
                      "(into nfcapd; nfdump -R DIR -o json)" % (name, diff, run.repro(), cmd))
        self.check_times(name, ours, theirs)

    def check_times(self, name, ours, theirs):
        """softflowd keeps one start and end per bidirectional flow and gives both directions
        those: so the two directions netpulse reports must together span exactly that."""
        def group(f):
            return (f.proto, frozenset(((f.src, f.sport), (f.dst, f.dport))))
        spans = collections.defaultdict(list)
        for f in ours:
            spans[group(f)].append(f)
        wrong = []
        for f in theirs:
            mine = spans.get(group(f), [])
            span = (min((x.start for x in mine), default=None),
                    max((x.end for x in mine), default=None))
            if span != (f.start, f.end):
                wrong.append("  %d %s:%d <> %s:%d: softflowd %s - %s, netpulse's directions %s"
                             % (f.proto, f.src, f.sport, f.dst, f.dport, cit.line_time(f.start),
                                cit.line_time(f.end), [(cit.line_time(x.start),
                                                        cit.line_time(x.end)) for x in mine]))
        self.assertFalse(wrong, "%s: flow times differ from softflowd's:\n%s"
                         % (name, "\n".join(sorted(set(wrong)))))


for _f in SOFTFLOWD_FILES:
    setattr(SoftflowdTest, "test_" + _name(_f), lambda self, f=_f: self.check_file(f))


class FlowProbeTest(CaptureTestCase):
    """netpulse as a flow probe: --output netflow://127.0.0.1:PORT?version=N into nfcapd ==
    netpulse's own CSV flows of the same file (v5: the IPv4 ones; it carries no IPv6)."""

    @classmethod
    def setUpClass(cls):
        require_tools("nfcapd", "nfdump")

    def check_version(self, version, name="apps.pcap"):
        nf = NfcapdRun("probe-v%d" % version)
        try:
            probe = Netpulse(CAPTURES[name].path, FLOW_OPTIONS, output="netflow://%s:%d?version=%d"
                             % (LOCALHOST, nf.port, version))
        finally:
            records, log = nf.records()
        probe.check_ok(self)
        self.assertEqual(cit.nfcapd_errors(log)[1], 0, "nfcapd counted bad packets:\n" + log)
        theirs = [nfdump_flow(r) for r in records]
        csv_run = netpulse_run(name, FLOW_OPTIONS)
        csv_run.check_ok(self)
        ours = netpulse_flows(csv_run.rows())
        if version == 5:
            ours = [f for f in ours if ":" not in f.src]
        diff = diff_flows(ours, theirs, "nfdump")
        if diff:
            self.fail("%s: flows exported as NetFlow v%d / IPFIX (decoded by nfcapd) differ from "
                      "netpulse's CSV flows:\n%s\nrepro: %s" % (name, version, diff, probe.repro()))
        return ours, theirs

    def test_ipfix(self):
        _, theirs = self.check_version(10)
        self.assertTrue(any(":" in f.src for f in theirs), "no IPv6 flow exported")

    def test_ipfix_equals_softflowd(self):
        if not cit.find_tool("softflowd") or not cit.find_tool("tshark"):
            self.skipTest("softflowd or tshark not installed")
        _, theirs = self.check_version(10)
        reference, cmd = softflowd_flows("apps.pcap")
        diff = diff_flows(theirs, reference, "softflowd", with_times=False)
        if diff:
            self.fail("netpulse's IPFIX export (nfdump) differs from softflowd's (nfdump):\n%s\n"
                      "  %s" % (diff, cmd))

    def test_netflow_v9(self):
        self.check_version(9)

    def test_netflow_v5(self):
        ours, _ = self.check_version(5)
        self.assertTrue(ours)

    def test_ipfix_fragments(self):
        self.check_version(10, "fragments.pcap")


class BadInputTest(CaptureTestCase):
    """Damaged and foreign files: netpulse exits normally (a one-line error, or the packets it
    could read and a warning), never by a signal, never hanging."""

    def run_bad(self, name):
        path = BAD_INPUTS[name]
        try:
            run = Netpulse(path, ["--records", "packets"], timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("%s: netpulse did not finish within 20 s" % name)
        self.assertTrue(0 <= run.returncode < 128, "%s: netpulse ended with %d (a signal):\n%s\n"
                        "repro: %s" % (name, run.returncode, run.stderr[-2000:], run.repro()))
        return run

    def assert_one_line_error(self, name, run):
        self.assertNotEqual(run.returncode, 0, "%s: accepted\n%s" % (name, run.stderr))
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, "%s: not a one-line error:\n%s\nrepro: %s"
                         % (name, run.stderr, run.repro()))
        self.assertNotIn("terminate called", run.stderr)

    def test_garbage(self):
        self.assert_one_line_error("garbage.pcap", self.run_bad("garbage.pcap"))

    def test_empty_file(self):
        self.assert_one_line_error("empty.pcap", self.run_bad("empty.pcap"))

    def test_file_header_cut(self):
        self.assert_one_line_error("short-header.pcap", self.run_bad("short-header.pcap"))

    def test_damaged_pcapng(self):
        self.assert_one_line_error("pcapng-garbage.pcapng", self.run_bad("pcapng-garbage.pcapng"))

    def test_header_only_is_an_empty_capture(self):
        run = self.run_bad("header-only.pcap")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.rows(), [])

    def check_readable_part(self, name):
        """A file damaged after 10 good records: those 10 are reported (as tshark reads them),
        the summary counts them, and one line names the damage (netpulse may then exit 0 with
        a warning or non-zero with an error: both are honest)."""
        if not cit.find_tool("tshark"):
            self.skipTest("tshark not installed (the reference for the readable part)")
        run = self.run_bad(name)
        ours = [netpulse_packet(r) for r in run.rows()]
        rows = run_tshark(BAD_INPUTS[name], damaged=True)
        self.assertEqual(len(rows), 10, "tshark reads the 10 whole records")
        theirs = [packet_tuple(p.ms, p.src, p.dst, p.proto, p.sport, p.dport, p.ip_len, p.flags)
                  for p in (expected_packet(r, mc.LINKTYPE_ETHERNET) for r in rows) if p]
        diff = cit.diff_multisets(ours, theirs, "netpulse", "tshark")
        if diff:
            self.fail("%s: records before the damage differ:\n%s\nrepro: %s"
                      % (name, diff, run.repro()))
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        strange = [line for line in lines if not line.startswith("netpulse:")]
        self.assertFalse(strange, "%s: stderr lines not netpulse's own:\n%s" % (name, run.stderr))
        self.assertEqual(captured_packets(run.stderr), 10, run.stderr)
        damage = [line for line in lines if BAD_INPUTS[name] in line and "capturing" not in line]
        self.assertEqual(len(damage), 1, "%s: not one line naming the damage:\n%s"
                         % (name, run.stderr))

    def test_cut_inside_a_record(self):
        self.check_readable_part("cut-in-record.pcap")

    def test_cut_inside_a_record_header(self):
        self.check_readable_part("cut-in-record-header.pcap")

    def test_record_longer_than_possible(self):
        self.check_readable_part("huge-caplen.pcap")

    def test_unknown_link_type(self):
        run = self.run_bad("unknown-link.pcap")
        if run.returncode != 0:
            self.assert_one_line_error("unknown-link.pcap", run)
        else:
            self.assertEqual(run.rows(), [], "records from a link type netpulse cannot decode")


def main():
    global NETPULSE
    NETPULSE, argv = e2e_support.binary_from_argv(sys.argv)
    unittest.main(argv=argv)


if __name__ == "__main__":
    main()
