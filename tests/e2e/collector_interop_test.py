#!/usr/bin/python3
"""netpulse's flow collector against third-party flow software (issue 10).

Real exporters (softflowd; pmacctd with its nfprobe and sfprobe plugins) turn capture files made
here with scapy into export datagrams. The datagrams are captured once, then replayed, paced, to
`netpulse collect` and to a reference collector (nfdump's nfcapd / sfcapd) at the same time; the
flows netpulse decodes must equal the reference's. pmacct's nfacctd / sfacctd, reading a capture
of the same datagrams, are a second reference. Also: templates arriving after their data, two
exporters on one port, netpulse's window results over the datagrams against `netpulse process`
over the reference's records written in line format, and the other way round, `netpulse
generate --output netflow://` into nfcapd giving back exactly the generated records.

Where a reference tool is known to lose or bend a figure, the test says so where it corrects for
it (ICMP types, frame vs IP bytes, swapped IPFIX uptime times).

Run with Debian's /usr/bin/python3 (stdlib + python3-scapy):
    NETPULSE_BINARY=build/netpulse /usr/bin/python3 tests/e2e/collector_interop_test.py
    /usr/bin/python3 tests/e2e/collector_interop_test.py --binary build/netpulse [-v] [Class.test]
A class is skipped (with the reason) only when a tool it needs is not installed; scripts/setup
installs them all. Every server listens on 127.0.0.1 only, on a port picked free; every process
started is killed by its id when its test ends, also on failure.
"""

import calendar
import collections
import csv
import importlib
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import e2e_support

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("NETPULSE_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
NETPULSE = None  # set in main(): --binary or NETPULSE_BINARY

LOCALHOST = "127.0.0.1"
# The capture files start here: 2023-11-14 22:13:20 UTC (a whole second, so ms times stay exact).
EPOCH_US = 1_700_000_000 * 10**6
REPLAY_GAP_S = 200e-6  # flow-tools.md: softflowd's end-of-file burst needs pacing
TEST_TIMEOUT_S = 90    # any one test (or class set-up) fails beyond this


# --------------------------------------------------------------------------------------------
# Tools

def find_tool(name):
    """The tool's path, looking in sbin too (softflowd and pmacctd live there; ctest's PATH may
    not have it)."""
    path = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def require_tools(*names):
    missing = [n for n in names if not find_tool(n)]
    if missing:
        raise unittest.SkipTest(
            "not installed: %s (scripts/setup installs softflowd nfdump nfdump-sflow pmacct)"
            % " ".join(missing))


# --------------------------------------------------------------------------------------------
# The service table: netpulse's built-in port -> label table (src/collect/service_table.cpp),
# copied so the test states what it expects; ServiceTableCopyTest checks the copy against the
# source when the source tree is there.

TCP, UDP, ICMP, ICMPV6, SCTP = 6, 17, 1, 58, 132
BUILTIN_SERVICES = {
    (TCP, 80): "HTTP", (TCP, 443): "HTTPS", (UDP, 443): "HTTPS", (UDP, 53): "DNS",
    (TCP, 53): "DNS", (UDP, 67): "DHCP", (UDP, 68): "DHCP", (TCP, 7627): "SOAP",
    (UDP, 1900): "UPnP", (TCP, 22): "SSH", (TCP, 21): "FTP", (TCP, 25): "SMTP",
    (TCP, 143): "IMAP", (TCP, 110): "POP3", (TCP, 23): "Telnet", (UDP, 161): "SNMP",
    (UDP, 162): "SNMP", (UDP, 123): "NTP", (TCP, 389): "LDAP", (TCP, 3389): "RDP",
    (TCP, 445): "SMB", (UDP, 5060): "SIP", (TCP, 5060): "SIP", (TCP, 1883): "MQTT",
    (TCP, 8080): "HTTP", (TCP, 993): "IMAPS", (TCP, 995): "POP3S", (TCP, 465): "SMTPS",
    (TCP, 587): "SMTP", (TCP, 853): "DoT", (UDP, 514): "Syslog", (TCP, 3306): "MySQL",
    (TCP, 5432): "PostgreSQL", (TCP, 6379): "Redis", (TCP, 9092): "Kafka", (UDP, 2055): "NetFlow",
    (UDP, 4739): "IPFIX", (UDP, 6343): "sFlow", (TCP, 179): "BGP", (UDP, 500): "IKE",
    (UDP, 4500): "IKE", (UDP, 1194): "OpenVPN", (UDP, 51820): "WireGuard", (UDP, 3478): "STUN",
    (TCP, 5222): "XMPP", (TCP, 8883): "MQTT", (UDP, 69): "TFTP", (UDP, 137): "NetBIOS",
    (UDP, 138): "NetBIOS", (TCP, 139): "NetBIOS", (TCP, 636): "LDAPS", (UDP, 1812): "RADIUS",
}
TRANSPORT_NAMES = {1: "ICMP", 6: "TCP", 17: "UDP", 47: "GRE", 50: "ESP", 51: "AH", 58: "ICMPv6",
                   132: "SCTP"}
# The generator's 19 labels and the port `generate --output netflow://` must send each on.
GENERATOR_PORTS = {
    "HTTP": (TCP, 80), "HTTPS": (TCP, 443), "DNS": (UDP, 53), "DHCP": (UDP, 67),
    "SOAP": (TCP, 7627), "UPnP": (UDP, 1900), "SSH": (TCP, 22), "FTP": (TCP, 21),
    "SMTP": (TCP, 25), "IMAP": (TCP, 143), "POP3": (TCP, 110), "Telnet": (TCP, 23),
    "SNMP": (UDP, 161), "NTP": (UDP, 123), "LDAP": (TCP, 389), "RDP": (TCP, 3389),
    "SMB": (TCP, 445), "SIP": (UDP, 5060), "MQTT": (TCP, 1883),
}
# The --services file the capture tests give netpulse: exactly the service ports the captures
# use. Every other port in the captures is in 40000-41999, which no built-in entry names.
TEST_SERVICES = {(TCP, 80): "HTTP", (TCP, 443): "HTTPS", (TCP, 22): "SSH", (UDP, 53): "DNS",
                 (UDP, 123): "NTP"}
UNNAMED_PORTS = range(40000, 42000)


def service_label(proto, sport, dport, table):
    """netpulse's rule (ServiceTable::name): the destination port's name, else the source's; both
    named: the lower port's; else the transport's name."""
    if proto in (TCP, UDP, SCTP):
        d, s = table.get((proto, dport)), table.get((proto, sport))
        if d and s:
            return d if dport <= sport else s
        if d or s:
            return d or s
    return TRANSPORT_NAMES.get(proto, "IP-%d" % proto)


def write_services_file(path, table):
    names = {TCP: "tcp", UDP: "udp", SCTP: "sctp"}
    with open(path, "w") as f:
        f.write("# written by collector_interop_test.py\n")
        for (proto, port), name in sorted(table.items()):
            f.write("%s %d/%s\n" % (name, port, names[proto]))


# --------------------------------------------------------------------------------------------
# Capture files (scapy)

class Capture:
    """A capture file and, per packet, what a collector may report about it."""

    def __init__(self, path, packets):
        self.path = path
        # (time_us, src, dst, ip_protocol, src_port, dst_port, frame_len, ip_len) per packet;
        # ICMP/ICMPv6: src_port 0, dst_port type*256+code, as NetFlow carries them.
        self.packets = packets

    def ip_bytes(self):
        return sum(p[7] for p in self.packets)

    def frame_bytes_less_ethernet(self):
        """What softflowd counts: the frame less its 14-byte Ethernet header, so the padding of
        short frames too."""
        return sum(p[6] - 14 for p in self.packets)

    def icmp_ports(self):
        """(src, dst, ICMP or ICMPv6) -> type*256+code of that direction's packets (a ping's
        requests go client to server, its replies back: one type per direction)."""
        m = {}
        for _, src, dst, proto, sport, dport, _, _ in self.packets:
            if proto in (ICMP, ICMPV6):
                assert m.setdefault((src, dst, proto), dport) == dport, (src, dst)
        return m

    def frame_by_ip_len(self):
        """(src, dst, proto, sport, dport, IP length) -> frame length: the inverse of
        ip_len_by_frame (a function too, for the same reason)."""
        m = {}
        for _, src, dst, proto, sport, dport, frame_len, ip_len in self.packets:
            key = (src, dst, proto, sport, dport, ip_len)
            assert m.setdefault(key, frame_len) == frame_len, key
        return m

    def ip_len_by_frame(self):
        """(src, dst, proto, sport, dport, frame_len) -> IP length. The captures are made so that
        this is a function (only 40-byte IPv4 TCP packets are padded, to 60-byte frames, and no
        unpadded packet of the same key has a 60-byte frame)."""
        m = {}
        for _, src, dst, proto, sport, dport, frame_len, ip_len in self.packets:
            key = (src, dst, proto, sport, dport, frame_len)
            assert m.setdefault(key, ip_len) == ip_len, key
        return m


def build_packets(seed):
    """A seeded mix of conversations over ~60 s: TCP with handshake and FIN (or RST) to 80, 443,
    22 and unnamed high ports; UDP DNS, NTP and unnamed ports; ICMP echo; and the same over IPv6
    (TCP, UDP, ICMPv6 echo). Several packets per flow, varied sizes, Ethernet frames (short ones
    padded to 60 bytes as a NIC would). Returns [(time_us, ipv6?, frame bytes, packet info)]."""
    from scapy.all import (Ether, IP, IPv6, TCP as TCPl, UDP as UDPl, ICMP as ICMPl,
                           ICMPv6EchoRequest, ICMPv6EchoReply, Raw, raw)
    rng = random.Random(seed)
    out = []
    client_ports = iter(range(41000, 42000))
    mac_c, mac_s = "02:00:00:00:00:01", "02:00:00:00:00:02"

    # Ethernet headers built once (scapy's "/" copies every layer: slow at thousands of packets).
    eth = {(up, v6): raw(Ether(src=mac_c if up else mac_s, dst=mac_s if up else mac_c,
                               type=0x86DD if v6 else 0x0800))
           for up in (False, True) for v6 in (False, True)}

    def emit(t, v6, src, dst, l4, to_server, proto, sport, dport):
        l3 = IPv6(src=src, dst=dst) if v6 else IP(src=src, dst=dst)
        l3.add_payload(l4)  # no copy, unlike "/"
        ip = raw(l3)
        ip_len = len(ip)
        b = eth[(to_server, v6)] + ip
        if len(b) < 60:
            b += bytes(60 - len(b))  # Ethernet padding, after the IP packet
        info = (t, str(ipaddress.ip_address(src)), str(ipaddress.ip_address(dst)), proto, sport,
                dport, len(b), ip_len)
        out.append((t, v6, b, info))

    def hosts(v6):
        if v6:
            return ("2001:db8:1::%x" % rng.randrange(1, 0xfff),
                    "2001:db8:2::%x" % rng.randrange(1, 0xfff))
        return ("10.1.%d.%d" % (rng.randrange(4), rng.randrange(1, 255)),
                rng.choice(("192.0.2.%d", "198.51.100.%d")) % rng.randrange(1, 255))

    def start():
        return EPOCH_US + rng.randrange(55_000_000)

    def tcp_flow(v6):
        c, s = hosts(v6)
        sp = rng.choice((80, 443, 22, rng.randrange(40000, 41000)))
        cp = next(client_ports)
        t = start()
        script = [(1, "S", 0), (0, "SA", 0), (1, "A", 0)]
        bulk = rng.random() < 0.06
        for _ in range(rng.randrange(1, 4)):
            script.append((1, "PA", rng.randrange(20, 400)))
            for _ in range(rng.randrange(8, 16) if bulk else 1):
                script.append((0, "A" if bulk else "PA", rng.randrange(100, 1401)))
            script.append((1, "A", 0))
        if rng.random() < 0.85:
            script += [(1, "FA", 0), (0, "FA", 0), (1, "A", 0)]
        else:
            script.append((rng.randrange(2), "R", 0))
        for up, flags, n in script:
            t += rng.randrange(100, 300_000)
            src, dst, sport, dport = (c, s, cp, sp) if up else (s, c, sp, cp)
            l4 = TCPl(sport=sport, dport=dport, flags=flags, seq=rng.randrange(2**32))
            if n:
                l4.add_payload(Raw(rng.randbytes(n)))
            emit(t, v6, src, dst, l4, up, TCP, sport, dport)

    def udp_flow(v6):
        c, s = hosts(v6)
        sp = rng.choice((53, 53, 123, rng.randrange(40000, 41000)))
        cp = next(client_ports)
        t = start()
        if sp == 53:
            script = []
            for _ in range(rng.randrange(1, 3)):
                script += [(1, rng.randrange(20, 60)), (0, rng.randrange(60, 400))]
        elif sp == 123:
            script = [(1, 48), (0, 48)] * rng.randrange(1, 3)
        else:
            script = [(rng.randrange(2), rng.randrange(20, 1201))
                      for _ in range(rng.randrange(2, 7))]
        for up, n in script:
            t += rng.randrange(100, 500_000)
            src, dst, sport, dport = (c, s, cp, sp) if up else (s, c, sp, cp)
            l4 = UDPl(sport=sport, dport=dport)
            l4.add_payload(Raw(rng.randbytes(n)))
            emit(t, v6, src, dst, l4, up, UDP, sport, dport)

    def ping(v6):
        c, s = hosts(v6)
        t = start()
        ident, n = rng.randrange(65536), rng.randrange(32, 57)
        for seq in range(rng.randrange(1, 5)):
            t += rng.randrange(100_000, 1_000_000)
            if v6:
                req, rep, proto, treq, trep = (ICMPv6EchoRequest(id=ident, seq=seq),
                                               ICMPv6EchoReply(id=ident, seq=seq), ICMPV6, 128, 129)
            else:
                req, rep, proto, treq, trep = (ICMPl(type=8, id=ident, seq=seq),
                                               ICMPl(type=0, id=ident, seq=seq), ICMP, 8, 0)
            payload = rng.randbytes(n)
            req.add_payload(Raw(payload))
            rep.add_payload(Raw(payload))
            emit(t, v6, c, s, req, True, proto, 0, treq * 256)
            emit(t + rng.randrange(200, 50_000), v6, s, c, rep, False, proto, 0, trep * 256)

    kinds = ([(tcp_flow, False)] * 110 + [(udp_flow, False)] * 60 + [(ping, False)] * 20 +
             [(tcp_flow, True)] * 35 + [(udp_flow, True)] * 20 + [(ping, True)] * 8)
    for make, v6 in kinds:
        make(v6)
    out.sort(key=lambda p: p[0])  # stable: equal times keep their order
    return out


def write_capture(path, packets):
    from scapy.utils import RawPcapWriter
    with RawPcapWriter(path, linktype=1, sync=False) as w:  # 1: Ethernet
        w.write_header(None)
        for t, _, frame, _ in packets:
            w.write_packet(frame, sec=t // 10**6, usec=t % 10**6)
    return Capture(path, [p[3] for p in packets])


CAPTURES = {}  # "v4": IPv4 only (for NetFlow v5), "v46": IPv4 and IPv6
CAPTURE_DIR = None


def setUpModule():
    global CAPTURE_DIR
    if NETPULSE is None or not os.access(NETPULSE, os.X_OK):
        raise RuntimeError("netpulse binary not found: pass --binary PATH or set NETPULSE_BINARY "
                           "(got %r)" % NETPULSE)
    try:
        importlib.import_module("scapy.all")
    except ImportError:
        raise unittest.SkipTest("python3-scapy is not installed (run with Debian's "
                                "/usr/bin/python3)")
    CAPTURE_DIR = tempfile.mkdtemp(prefix="netpulse-interop-")
    packets = build_packets(seed=20240110)
    CAPTURES["v46"] = write_capture(os.path.join(CAPTURE_DIR, "in46.pcap"), packets)
    CAPTURES["v4"] = write_capture(os.path.join(CAPTURE_DIR, "in4.pcap"),
                                   [p for p in packets if not p[1]])


def tearDownModule():
    if CAPTURE_DIR:
        shutil.rmtree(CAPTURE_DIR, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Processes: each started in its own process group, stopped by its id.

class TestTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise TestTimeout("took longer than %d s" % TEST_TIMEOUT_S)


class Processes:
    """The processes one test (or one class set-up) started. Each runs in a new session, so a
    tool that forks (pmacctd's plugins) is ended with its children: its group is killed while the
    leader is not reaped yet (the group id cannot be reused until then)."""

    def __init__(self, logdir):
        self.logdir = logdir
        self.procs = []

    def start(self, name, cmd, env=None):
        out = open(os.path.join(self.logdir, name + ".out"), "wb")
        err = open(os.path.join(self.logdir, name + ".err"), "wb")
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             start_new_session=True, env=env, cwd=self.logdir)
        out.close()
        err.close()
        p.name = name
        self.procs.append(p)
        return p

    def output(self, p):
        def read(ext):
            with open(os.path.join(self.logdir, p.name + ext), "rb") as f:
                return f.read().decode(errors="replace")
        return read(".out"), read(".err")

    @staticmethod
    def exited(p):
        if p.returncode is not None:
            return True
        return os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None

    def wait_exit(self, p, timeout):
        deadline = time.monotonic() + timeout
        while not self.exited(p):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    @staticmethod
    def reap(p):
        """Kills what is left of p's group (p itself only when it still runs), then reaps p."""
        if p.returncode is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            p.wait()
        return p.returncode

    def stop(self, p, sig=signal.SIGTERM, timeout=30):
        """Sends sig to p and waits for it to end (SIGKILL after timeout). Returns its exit
        status, or None when it had to be killed."""
        if p.returncode is None and not self.exited(p):
            os.kill(p.pid, sig)
            if not self.wait_exit(p, timeout):
                self.reap(p)
                return None
        return self.reap(p)

    def kill_all(self):
        for p in self.procs:
            self.reap(p)


# --------------------------------------------------------------------------------------------
# UDP

def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def udp_port_bound(port):
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    local = line.split()[1]
                    if int(local.rsplit(":", 1)[1], 16) == port:
                        return True
        except FileNotFoundError:
            pass
    return False


def wait_udp_bound(procs, p, port, timeout=15):
    deadline = time.monotonic() + timeout
    while not udp_port_bound(port):
        if procs.exited(p):
            out, err = procs.output(p)
            raise AssertionError("%s exited before binding UDP port %d:\n%s%s"
                                 % (p.name, port, out[-2000:], err[-2000:]))
        if time.monotonic() > deadline:
            raise AssertionError("%s did not bind UDP port %d within %d s"
                                 % (p.name, port, timeout))
        time.sleep(0.02)


def big_receive_buffer(sock, size=32 << 20):
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, size)  # SO_RCVBUFFORCE (root)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


def capture_export(procs, name, make_cmd, timeout=60, quiet_s=0.5):
    """Starts the exporter make_cmd(port) towards a socket of ours on 127.0.0.1 and records every
    datagram until the exporter has exited and the socket stayed quiet for quiet_s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        big_receive_buffer(s)
        s.bind((LOCALHOST, 0))
        s.settimeout(0.05)
        p = procs.start(name, make_cmd(s.getsockname()[1]))
        datagrams, last = [], time.monotonic()
        deadline = last + timeout
        while True:
            try:
                data, _ = s.recvfrom(65535)
                datagrams.append(data)
                last = time.monotonic()
            except socket.timeout:
                now = time.monotonic()
                if procs.exited(p) and now - last >= quiet_s:
                    break
                if now > deadline:
                    procs.reap(p)
                    raise AssertionError("%s still running after %d s" % (name, timeout))
        rc = procs.reap(p)
        out, err = procs.output(p)
        if rc != 0 or not datagrams:
            raise AssertionError("%s exited with %s after %d datagrams:\n%s%s"
                                 % (name, rc, len(datagrams), out[-3000:], err[-3000:]))
        return datagrams


def replay(datagrams, ports, gap=REPLAY_GAP_S):
    """Sends every datagram, in order, to each port on 127.0.0.1 from one socket (one exporter
    address), gap seconds apart."""
    replay_interleaved([(datagrams, ports)], gap)


def replay_interleaved(streams, gap=REPLAY_GAP_S):
    """streams: [(datagrams, ports)], each sent from its own socket (its own exporter address and
    port), taking turns datagram by datagram, gap seconds apart."""
    socks = []
    try:
        for _ in streams:
            socks.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
            socks[-1].bind((LOCALHOST, 0))
        for i in range(max(len(d) for d, _ in streams)):
            for s, (datagrams, ports) in zip(socks, streams):
                if i < len(datagrams):
                    for port in ports:
                        s.sendto(datagrams[i], (LOCALHOST, port))
                    time.sleep(gap)
    finally:
        for s in socks:
            s.close()


# --------------------------------------------------------------------------------------------
# Records on both sides

def ms_of(text):
    """'YYYY-MM-DD HH:MM:SS.mmm' or with a 'T' (nfdump), UTC -> ms since the epoch."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?", text)
    if not m:
        raise ValueError("not a time: %r" % text)
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    frac = (m.group(7) or "").ljust(3, "0")[:3]
    return calendar.timegm((y, mo, d, h, mi, s)) * 1000 + int(frac)


def line_time(ms):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms // 1000)) + ".%03d" % (ms % 1000)


def canon_ip(text):
    return str(ipaddress.ip_address(text))


def nfdump_records(directory):
    """nfdump's records of every file in directory, as dicts (its JSON output, times in UTC)."""
    nfdump = find_tool("nfdump")
    r = subprocess.run([nfdump, "-R", directory, "-o", "json"], capture_output=True, text=True,
                       env=dict(os.environ, TZ="UTC"), timeout=60)
    if r.returncode != 0:
        raise AssertionError("nfdump -R %s failed (%d): %s" % (directory, r.returncode, r.stderr))
    text = r.stdout.strip()
    if not text or text == "[]" or "{" not in text:
        return []
    records = json.loads(text)
    # nfdump 1.7.1 labels sFlow's IPv6 records "type":"EVENT"; they are flows all the same.
    return [x for x in records if x.get("type") in ("FLOW", "EVENT")]


def nfdump_ports(rec):
    """(src port, dst port) the way NetFlow carries them: ICMP type*256+code in dst port."""
    if rec["proto"] in (ICMP, ICMPV6) and "icmp_type" in rec:
        return 0, int(rec["icmp_type"]) * 256 + int(rec["icmp_code"])
    return int(rec.get("src_port", 0)), int(rec.get("dst_port", 0))


def nfdump_addrs(rec):
    if "src4_addr" in rec:
        return canon_ip(rec["src4_addr"]), canon_ip(rec["dst4_addr"])
    return canon_ip(rec["src6_addr"]), canon_ip(rec["dst6_addr"])


def reference_ports(rec, capture):
    """nfdump's (src port, dst port), with the ICMP type and code taken from the capture file
    where nfdump 1.7.1 loses them: it reports type 0 code 0 when they came in a v9 record's
    L4_DST_PORT (pmacct's v9), in v9's icmpTypeIPv6/icmpCodeIPv6 (IEs 176/177, softflowd's v9
    ICMPv6) or in an sFlow packet sample. A non-zero type nfdump reports is kept (and so
    checked)."""
    sport, dport = nfdump_ports(rec)
    src, dst = nfdump_addrs(rec)
    return icmp_from_capture(capture, src, dst, int(rec["proto"]), sport, dport)


def icmp_from_capture(capture, src, dst, proto, sport, dport):
    """(sport, dport), with an ICMP type 0 code 0 a reference reports replaced by the capture
    file's type and code for that direction."""
    if proto in (ICMP, ICMPV6) and dport == 0:
        dport = capture.icmp_ports().get((src, dst, proto), 0)
    return sport, dport


def nfdump_tcp_flags(rec):
    """nfdump's flag string ("CEUAPRSF", '.' for a flag not seen) -> the flags byte."""
    text = rec.get("tcp_flags", "........")
    return sum(1 << (7 - i) for i, c in enumerate(text) if c != ".")


def nfdump_flow(rec, capture):
    """(start, end, src, dst, ip protocol, src port, dst port, bytes, packets, TCP flags)."""
    src, dst = nfdump_addrs(rec)
    sport, dport = reference_ports(rec, capture)
    return (line_time(ms_of(rec["first"])), line_time(ms_of(rec["last"])), src, dst,
            int(rec["proto"]), sport, dport,
            int(rec["in_bytes"]), int(rec["in_packets"]), nfdump_tcp_flags(rec))


CSV_COLUMNS = ["time", "protocol", "src", "dst", "bytes", "packets", "src_port", "dst_port",
               "ip_protocol", "tcp_flags", "input_if", "output_if", "exporter", "sampling_rate",
               "flow_start", "flow_end"]


def read_collect_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != CSV_COLUMNS:
        raise AssertionError("netpulse collect --format csv header: %r, expected %r"
                             % (rows[0] if rows else None, CSV_COLUMNS))
    return [dict(zip(CSV_COLUMNS, r)) for r in rows[1:]]


def netpulse_flow(row):
    # Times as netpulse wrote them ("YYYY-MM-DD HH:MM:SS.mmm", the form line_time() gives the
    # reference's): a garbled time (year 0, year 9999) shows in a difference, not as a crash.
    return (row["flow_start"], row["flow_end"], canon_ip(row["src"]), canon_ip(row["dst"]),
            int(row["ip_protocol"]), int(row["src_port"]), int(row["dst_port"]), int(row["bytes"]),
            int(row["packets"]), int(row["tcp_flags"]))


SUMMARY_EXPORTER = re.compile(
    r"exporter (\S+) (\S+) domain (\d+): (\d+) datagrams, (\d+) flows, (\d+) lost, (\d+) "
    r"malformed, (\d+) template misses, (\d+) held dropped, sampling (\d+)")
SUMMARY_TOTAL = re.compile(
    r"collected (\d+) flows \((\d+) records\) from (\d+) datagrams of (\d+) exporters.*?; (\d+) "
    r"lost \(sequence numbers\), (\d+) dropped by the kernel, (\d+) malformed, (\d+) template "
    r"misses")


def parse_summary(stderr):
    """netpulse collect's closing summary: the total line and one dict per exporter line."""
    total = SUMMARY_TOTAL.search(stderr)
    if not total:
        raise AssertionError("no summary line on netpulse's stderr:\n" + stderr[-3000:])
    keys = ("flows", "records", "datagrams", "exporters", "lost", "kernel_drops", "malformed",
            "template_misses")
    exporters = []
    for m in SUMMARY_EXPORTER.finditer(stderr):
        e = dict(zip(("datagrams", "flows", "lost", "malformed", "template_misses", "held_dropped",
                      "sampling"), (int(g) for g in m.groups()[3:])))
        e.update(address=m.group(1), protocol=m.group(2), domain=int(m.group(3)))
        exporters.append(e)
    return dict(zip(keys, (int(g) for g in total.groups()))), exporters


def diff_multisets(ours, theirs, our_name="netpulse", their_name="reference", limit=12):
    """'' when equal as multisets, else a readable account of the first differences."""
    a, b = collections.Counter(ours), collections.Counter(theirs)
    if a == b:
        return ""
    only_a, only_b = (sorted((a - b).elements(), key=repr), sorted((b - a).elements(), key=repr))
    lines = ["%s has %d items, %s %d; %d only in %s, %d only in %s"
             % (our_name, len(ours), their_name, len(theirs), len(only_a), our_name, len(only_b),
                their_name)]
    for name, items in ((our_name, only_a), (their_name, only_b)):
        for x in items[:limit]:
            lines.append("  only in %s: %r" % (name, x))
        if len(items) > limit:
            lines.append("  ... and %d more" % (len(items) - limit))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Servers

class NfCollector:
    """nfcapd (NetFlow v5/v9, IPFIX) or sfcapd (sFlow) on 127.0.0.1, writing into its own dir."""

    def __init__(self, procs, workdir, tool="nfcapd", name=None):
        self.procs, self.tool = procs, tool
        self.dir = os.path.join(workdir, name or tool)
        os.makedirs(self.dir)
        for attempt in range(3):  # the free port picked may be taken before nfcapd binds it
            self.port = free_udp_port()
            self.p = procs.start("%s-%d" % (name or tool, attempt), [
                find_tool(tool), "-b", LOCALHOST, "-p", str(self.port), "-w", self.dir, "-t",
                "3600", "-B", "16000000"])
            try:
                wait_udp_bound(procs, self.p, self.port)
                return
            except AssertionError:
                procs.reap(self.p)
                if attempt == 2:
                    raise

    def finish(self):
        """Stops it (it writes its file on SIGTERM); returns (records, its log)."""
        rc = self.procs.stop(self.p)
        out, err = self.procs.output(self.p)
        log = out + err
        if rc != 0:
            raise AssertionError("%s exited with %s:\n%s" % (self.tool, rc, log[-3000:]))
        return nfdump_records(self.dir), log


def nfcapd_errors(log):
    """(sequence errors, bad packets) from nfcapd's closing line."""
    m = re.search(r"Sequence Errors: (\d+), Bad Packets: (\d+)", log)
    if not m:
        raise AssertionError("no closing statistics in the nfcapd log:\n" + log[-3000:])
    return int(m.group(1)), int(m.group(2))


class NetpulseCollect:
    """netpulse collect writing CSV into workdir."""

    def __init__(self, procs, workdir, kind="netflow", services=None, flow_time="end",
                 name="netpulse-collect"):
        self.procs = procs
        self.output = os.path.join(workdir, name + ".csv")
        # Port 0: netpulse binds a free port and names it ("collecting ... on UDP port N").
        cmd = [NETPULSE, "collect", "--input", "%s://%s:0" % (kind, LOCALHOST),
               "--output", self.output, "--format", "csv", "--flow-time", flow_time,
               "--udp-buffer", "64MiB"]
        if services:
            cmd += ["--services", services]
        self.p = procs.start(name, cmd)
        deadline = time.monotonic() + 15
        while True:
            m = re.search(r"collecting \S+ on UDP port (\d+)", procs.output(self.p)[1])
            if m:
                self.port = int(m.group(1))
                break
            if procs.exited(self.p) or time.monotonic() > deadline:
                procs.reap(self.p)
                raise AssertionError("netpulse collect did not start listening:\n"
                                     + procs.output(self.p)[1][-3000:])
            time.sleep(0.02)

    def finish(self):
        """SIGTERM (it decodes everything received, writes, summarizes, exits 0); returns
        (CSV rows, total summary, exporter summaries, stderr)."""
        rc = self.procs.stop(self.p)
        _, err = self.procs.output(self.p)
        if rc != 0:
            raise AssertionError("netpulse collect exited with %s:\n%s" % (rc, err[-3000:]))
        total, exporters = parse_summary(err)
        return read_collect_csv(self.output), total, exporters, err


# --------------------------------------------------------------------------------------------
# Test cases

class InteropTestCase(unittest.TestCase):
    """Own temp dir per test, every process killed at the end, a time limit per test."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="netpulse-%s-" % self._testMethodName)
        if os.environ.get("NETPULSE_INTEROP_KEEP"):  # for a look at the files afterwards
            sys.stderr.write("\n  files kept in %s\n" % self.workdir)
        else:
            self.addCleanup(shutil.rmtree, self.workdir, True)
        self.procs = Processes(self.workdir)
        self.addCleanup(self.procs.kill_all)
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(TEST_TIMEOUT_S)
        self.addCleanup(signal.signal, signal.SIGALRM, previous)
        self.addCleanup(signal.alarm, 0)

    def services_file(self):
        path = os.path.join(self.workdir, "services")
        write_services_file(path, TEST_SERVICES)
        return path

    def collect_both(self, datagrams, kind="netflow", reference=True):
        """Replays datagrams to netpulse collect and nfcapd (sfcapd for sFlow) at once; returns
        (netpulse rows, total, exporters, reference records, reference log)."""
        ref = None
        if reference:
            ref = NfCollector(self.procs, self.workdir, "sfcapd" if kind == "sflow" else "nfcapd")
        ours = NetpulseCollect(self.procs, self.workdir, kind, services=self.services_file())
        before = int(time.time() * 1000)
        replay(datagrams, [ours.port] + ([ref.port] if ref else []))
        self.replayed_ms = (before, int(time.time() * 1000))
        time.sleep(0.5)
        rows, total, exporters, _ = ours.finish()
        records, log = ref.finish() if ref else (None, None)
        return rows, total, exporters, records, log

    def assert_healthy(self, total, exporters, datagrams, protocol, lost_exact=True):
        """netpulse's summary: every datagram counted, nothing malformed, no template miss, (when
        the exporter numbers its datagrams right) nothing lost."""
        self.assertEqual(len(exporters), 1, exporters)
        e = exporters[0]
        self.assertEqual(e["protocol"], protocol, e)
        self.assertEqual(total["datagrams"], len(datagrams), total)
        self.assertEqual(total["malformed"], 0, total)
        self.assertEqual(total["template_misses"], 0, total)
        self.assertEqual(total["kernel_drops"], 0, total)
        self.assertEqual((e["malformed"], e["template_misses"], e["held_dropped"]), (0, 0, 0), e)
        if lost_exact:
            self.assertEqual((total["lost"], e["lost"]), (0, 0), (total, e))

    def check_sampled(self, name, protocol, capture, rate, nfdump_applies_rate):
        """A sampling exporter: netpulse's bytes and packets are the exported ones times the
        rate it announced."""
        datagrams = export_datagrams(name)
        rows, total, exporters, records, _ = self.collect_both(datagrams)
        self.assertTrue(all(r["sampling_rate"] == str(rate) for r in rows),
                        collections.Counter(r["sampling_rate"] for r in rows))
        self.assert_same_flows(rows, records, capture, 1 if nfdump_applies_rate else rate)
        softflowd_ipfix = name.startswith("softflowd") and protocol == "ipfix"  # its sequence
        self.assert_healthy(total, exporters, datagrams, protocol, lost_exact=not softflowd_ipfix)
        self.assertEqual(exporters[0]["sampling"], rate, exporters[0])

    def assert_records_made_right(self, rows):
        """Each CSV row's record columns follow from its flow columns: time = flow end
        (--flow-time end), the label from the ports through the services, the exporter."""
        table = {**BUILTIN_SERVICES, **TEST_SERVICES}
        wrong = [r for r in rows
                 if r["time"] != r["flow_end"]
                 or r["protocol"] != service_label(int(r["ip_protocol"]), int(r["src_port"]),
                                                   int(r["dst_port"]), table)
                 or r["exporter"] != LOCALHOST]
        self.assertFalse(wrong, "records not made from their flows as expected: %r" % wrong[:5])

    def assert_same_flows(self, rows, records, capture, reference_factor=1):
        """netpulse's flows == the reference's, whose bytes and packets are multiplied by
        reference_factor first (a sampling rate the reference did not apply)."""
        self.assert_records_made_right(rows)
        ours = [netpulse_flow(r) for r in rows]
        theirs = [nfdump_flow(r, capture) for r in records]
        if reference_factor != 1:
            theirs = [t[:7] + (t[7] * reference_factor, t[8] * reference_factor) + t[9:]
                      for t in theirs]
        self.assertTrue(theirs, "the reference decoded no flow")
        diff = diff_multisets(ours, theirs, "netpulse", "nfdump")
        if diff:
            self.fail("flows (start, end, src, dst, proto, sport, dport, bytes, "
                      "packets, TCP flags) differ:\n" + diff)


def softflowd_cmd(capture, version, milli=True, sampling_rate=1):
    def make(port, logdir):
        cmd = [find_tool("softflowd"), "-d", "-a", "-c", "none", "-m", "65536",
               "-p", os.path.join(logdir, "softflowd.pid"), "-r", capture.path,
               "-n", "%s:%d" % (LOCALHOST, port), "-v", str(version)]
        if sampling_rate > 1:  # 1 in N packets; v5: header, v9/IPFIX: an options record
            cmd += ["-s", str(sampling_rate)]
        # -A milli: absolute ms times (IEs 152/153) for v9 and IPFIX. Without it softflowd sends
        # sysUptime-relative times (IEs 22/21): v9 against the header's whole-second unix_secs
        # (times shift by the export's fraction of a second), IPFIX against an options record's
        # systemInitTimeMilliseconds (IE 160).
        return cmd + (["-A", "milli"] if version != 5 and milli else [])
    return make


class SoftflowdTest(InteropTestCase):
    """softflowd exports NetFlow v5, v9 and IPFIX; nfcapd is the reference decoder."""

    @classmethod
    def setUpClass(cls):
        require_tools("softflowd", "nfcapd", "nfdump")
        cls.datagrams = {v: export_datagrams("softflowd-v%d" % v) for v in (5, 9, 10)}
        cls.datagrams.update({"%d-uptime" % v: export_datagrams("softflowd-v%d-uptime" % v)
                              for v in (9, 10)})

    def check_version(self, version, protocol, capture, lost_exact=True):
        datagrams = self.datagrams[version]
        rows, total, exporters, records, log = self.collect_both(datagrams)
        # The reference saw every byte softflowd counted. softflowd counts a frame less its
        # Ethernet header, so the padding of short frames too (6 bytes more for each 40-byte
        # IPv4 packet): a softflowd quirk, not the capture's IP bytes.
        self.assertEqual(sum(int(r["in_bytes"]) for r in records),
                         capture.frame_bytes_less_ethernet(), "nfcapd's byte total")
        self.assertEqual(nfcapd_errors(log)[1], 0, log)
        self.assert_same_flows(rows, records, capture)
        self.assert_healthy(total, exporters, datagrams, protocol, lost_exact)
        self.assertEqual(exporters[0]["flows"], len(records))
        return rows, records

    def test_netflow_v5(self):
        rows, _ = self.check_version(5, "netflow-v5", CAPTURES["v4"])
        self.assertTrue(all(r["exporter"] == LOCALHOST and r["sampling_rate"] == "1" for r in rows))

    def test_netflow_v9(self):
        rows, _ = self.check_version(9, "netflow-v9", CAPTURES["v46"])
        self.assertTrue(any(":" in r["src"] for r in rows), "no IPv6 flow decoded")

    def test_ipfix(self):
        # softflowd's IPFIX sequence numbers count the message's own records (RFC 7011 counts
        # those before it), so a lossless stream looks lossy: do not hold netpulse to 0 lost.
        rows, _ = self.check_version(10, "ipfix", CAPTURES["v46"], lost_exact=False)
        self.assertTrue(any(":" in r["src"] for r in rows), "no IPv6 flow decoded")

    def test_netflow_v9_uptime_times(self):
        # sysUptime-relative times against the header's unix_secs, as most routers send them:
        # nfdump and netpulse must derive the same boot time, so the same flow times.
        self.check_version("9-uptime", "netflow-v9", CAPTURES["v46"])

    def test_ipfix_uptime_times(self):
        # flowStartSysUpTime / flowEndSysUpTime (IEs 22/21) over systemInitTimeMilliseconds
        # (IE 160) from an options record. nfdump 1.7.1 swaps start and end of these (its first
        # is the flow's end): the test swaps them back, so a start after its end is nfdump's.
        datagrams = self.datagrams["10-uptime"]
        rows, total, exporters, records, log = self.collect_both(datagrams)
        swapped = 0
        for rec in records:
            if ms_of(rec["first"]) > ms_of(rec["last"]):
                rec["first"], rec["last"] = rec["last"], rec["first"]
                swapped += 1
        self.assertGreater(swapped, len(records) // 2, "nfdump no longer swaps: drop the swap")
        self.assert_same_flows(rows, records, CAPTURES["v46"])
        self.assert_healthy(total, exporters, datagrams, "ipfix", lost_exact=False)

    # softflowd -s 4: v5 states the rate in its header, which nfdump applies; v9 and IPFIX in an
    # options record (IE 34 samplingInterval, scope interface), which nfdump 1.7.1 ignores.
    def test_netflow_v5_sampled(self):
        self.check_sampled("softflowd-v5-sampled", "netflow-v5", CAPTURES["v4"], 4, True)

    def test_netflow_v9_sampled(self):
        self.check_sampled("softflowd-v9-sampled", "netflow-v9", CAPTURES["v46"], 4, False)

    def test_ipfix_sampled(self):
        self.check_sampled("softflowd-v10-sampled", "ipfix", CAPTURES["v46"], 4, False)

    def test_templates_after_their_data(self):
        """The datagram with the first templates arrives sixth: netpulse holds the data of the
        five before it and decodes it when the templates come, giving nfdump's records of the
        stream in order."""
        self.check_late_templates(self, self.datagrams[9], "netflow-v9", CAPTURES["v46"])

    @staticmethod
    def check_late_templates(test, datagrams, protocol, capture):
        late = datagrams[1:6] + datagrams[:1] + datagrams[6:]
        ref = NfCollector(test.procs, test.workdir, "nfcapd")
        ours = NetpulseCollect(test.procs, test.workdir, services=test.services_file())
        replay_interleaved([(late, [ours.port]), (datagrams, [ref.port])])
        time.sleep(0.5)
        rows, total, exporters, _ = ours.finish()
        records, _ = ref.finish()
        test.assert_same_flows(rows, records, capture)
        test.assertEqual(len(exporters), 1, exporters)
        e = exporters[0]
        test.assertEqual(e["protocol"], protocol)
        test.assertGreater(e["template_misses"], 0, e)
        test.assertEqual((e["malformed"], e["held_dropped"], e["flows"]), (0, 0, len(records)), e)

    def test_window_results_match_nfdump_records(self):
        """netpulse process over the IPFIX datagrams == netpulse process over nfcapd's records in
        line format (time = flow end, label by the same services)."""
        datagrams = self.datagrams[10]
        services = self.services_file()
        table = {**BUILTIN_SERVICES, **TEST_SERVICES}
        window = ["--T", "10", "--H", "5", "--k", "5", "--X", "1", "--lateness", "3600"]
        ref = NfCollector(self.procs, self.workdir, "nfcapd")
        port = free_udp_port()
        live_out = os.path.join(self.workdir, "live.jsonl")
        live = self.procs.start("process-live", [
            NETPULSE, "process", "--input", "netflow://%s:%d" % (LOCALHOST, port), "--services",
            services, "--flow-time", "end", "--output", live_out] + window)
        wait_udp_bound(self.procs, live, port)
        replay(datagrams, [port, ref.port])
        time.sleep(1.0)
        rc = self.procs.stop(live)
        self.assertEqual(rc, 0, self.procs.output(live)[1][-3000:])
        records, _ = ref.finish()
        self.assertTrue(records)

        lines = []
        for rec in records:
            src, dst = nfdump_addrs(rec)
            sport, dport = nfdump_ports(rec)
            label = service_label(int(rec["proto"]), sport, dport, table)
            lines.append("%s %s %s %s %d\n" % (line_time(ms_of(rec["last"])), label, src, dst,
                                               int(rec["in_bytes"])))
        records_txt = os.path.join(self.workdir, "records.txt")
        with open(records_txt, "w") as f:
            f.writelines(lines)
        file_out = os.path.join(self.workdir, "file.jsonl")
        r = subprocess.run([NETPULSE, "process", "--input", "file:" + records_txt, "--output",
                            file_out] + window, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        with open(file_out) as f:
            expected = f.read().splitlines()
        with open(live_out) as f:
            got = f.read().splitlines()
        labels = collections.Counter(line.split()[2] for line in lines)
        self.assertEqual(set(labels), {"HTTP", "HTTPS", "SSH", "DNS", "NTP", "TCP", "UDP", "ICMP",
                                       "ICMPv6"}, labels)
        self.assertTrue(expected, "no window results from the records file")
        if got != expected:
            first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
                         min(len(got), len(expected)))
            self.fail("window results differ (%d lines from the datagrams, %d from nfdump's "
                      "records); first difference at line %d:\n  netflow:// %s\n  file:      %s"
                      % (len(got), len(expected), first + 1,
                         got[first] if first < len(got) else "<none>",
                         expected[first] if first < len(expected) else "<none>"))


def pmacctd_cmd(capture, plugin, version=None, sampling_rate=1):
    """pmacctd reading the capture file, with the nfprobe (NetFlow v9 / IPFIX) or sfprobe (sFlow
    v5) plugin exporting to the port."""
    def make(port, logdir):
        conf = ["daemonize: false", "pcap_savefile: " + capture.path,
                "pidfile: " + os.path.join(logdir, "pmacctd.pid")]
        if plugin == "nfprobe":
            conf += ["plugins: nfprobe[np]", "nfprobe_receiver[np]: %s:%d" % (LOCALHOST, port),
                     "nfprobe_version[np]: %d" % version]
            if sampling_rate > 1:
                # Even "sampling_rate: 1" adds a sampler options record to every template
                # refresh, whose record nfcapd 1.7.1 does not count in IPFIX sequence numbers.
                conf.append("sampling_rate: %d" % sampling_rate)
        else:
            conf += ["plugins: sfprobe[sp]", "sfprobe_receiver[sp]: %s:%d" % (LOCALHOST, port),
                     "sfprobe_agentip[sp]: " + LOCALHOST, "sampling_rate: %d" % sampling_rate]
        path = os.path.join(logdir, "pmacctd.conf")
        with open(path, "w") as f:
            f.write("\n".join(conf) + "\n")
        return [find_tool("pmacctd"), "-f", path]
    return make


# Every exporter run the tests use: name -> the command making it send to a port.
EXPORTERS = {
    "softflowd-v5": lambda: softflowd_cmd(CAPTURES["v4"], 5),
    "softflowd-v9": lambda: softflowd_cmd(CAPTURES["v46"], 9),
    "softflowd-v10": lambda: softflowd_cmd(CAPTURES["v46"], 10),
    "softflowd-v9-uptime": lambda: softflowd_cmd(CAPTURES["v46"], 9, milli=False),
    "softflowd-v10-uptime": lambda: softflowd_cmd(CAPTURES["v46"], 10, milli=False),
    "softflowd-v5-sampled": lambda: softflowd_cmd(CAPTURES["v4"], 5, sampling_rate=4),
    "softflowd-v9-sampled": lambda: softflowd_cmd(CAPTURES["v46"], 9, sampling_rate=4),
    "softflowd-v10-sampled": lambda: softflowd_cmd(CAPTURES["v46"], 10, sampling_rate=4),
    "pmacctd-v9-sampled": lambda: pmacctd_cmd(CAPTURES["v46"], "nfprobe", 9, sampling_rate=4),
    "pmacctd-v10-sampled": lambda: pmacctd_cmd(CAPTURES["v46"], "nfprobe", 10, sampling_rate=4),
    "pmacctd-v9": lambda: pmacctd_cmd(CAPTURES["v46"], "nfprobe", 9),
    "pmacctd-v10": lambda: pmacctd_cmd(CAPTURES["v46"], "nfprobe", 10),
    "pmacctd-sflow-1": lambda: pmacctd_cmd(CAPTURES["v46"], "sfprobe", sampling_rate=1),
    "pmacctd-sflow-4": lambda: pmacctd_cmd(CAPTURES["v46"], "sfprobe", sampling_rate=4),
}
_EXPORTED = {}


def export_datagrams(name):
    """The datagrams of one exporter run over its capture file, made once per test run (bounded
    in time, its processes killed) and shared by the classes that replay them."""
    if name not in _EXPORTED:
        logdir = tempfile.mkdtemp(prefix="netpulse-capture-")
        procs = Processes(logdir)
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.alarm(TEST_TIMEOUT_S)
        try:
            make_cmd = EXPORTERS[name]()
            _EXPORTED[name] = capture_export(procs, name, lambda port: make_cmd(port, logdir))
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
            procs.kill_all()
            shutil.rmtree(logdir, ignore_errors=True)
    return _EXPORTED[name]


class PmacctNfprobeTest(InteropTestCase):
    """pmacctd's nfprobe exports NetFlow v9 and IPFIX; nfcapd is the reference decoder."""

    @classmethod
    def setUpClass(cls):
        require_tools("pmacctd", "nfcapd", "nfdump")
        cls.datagrams = {v: export_datagrams("pmacctd-v%d" % v) for v in (9, 10)}

    def check_version(self, version, protocol):
        datagrams = self.datagrams[version]
        rows, total, exporters, records, log = self.collect_both(datagrams)
        self.assertEqual(nfcapd_errors(log), (0, 0), log)
        self.assertEqual(sum(int(r["in_bytes"]) for r in records), CAPTURES["v46"].ip_bytes())
        self.assert_same_flows(rows, records, CAPTURES["v46"])
        self.assert_healthy(total, exporters, datagrams, protocol)
        self.assertTrue(any(":" in r["src"] for r in rows), "no IPv6 flow decoded")

    def test_netflow_v9(self):
        self.check_version(9, "netflow-v9")

    def test_ipfix(self):
        self.check_version(10, "ipfix")

    def test_templates_after_their_data(self):
        SoftflowdTest.check_late_templates(self, self.datagrams[10], "ipfix", CAPTURES["v46"])

    # sampling_rate: 4: pmacct announces a sampler in an options record (IEs 48 samplerId, 49
    # mode, 50 interval) and names it in every data record (IE 48); nfdump 1.7.1 ignores it.
    def test_netflow_v9_sampled(self):
        self.check_sampled("pmacctd-v9-sampled", "netflow-v9", CAPTURES["v46"], 4, False)

    def test_ipfix_sampled(self):
        self.check_sampled("pmacctd-v10-sampled", "ipfix", CAPTURES["v46"], 4, False)


class PmacctSfprobeTest(InteropTestCase):
    """pmacctd's sfprobe exports sFlow v5 (packet samples); sfcapd is the reference decoder."""

    @classmethod
    def setUpClass(cls):
        require_tools("pmacctd", "sfcapd", "nfdump")
        cls.datagrams = {rate: export_datagrams("pmacctd-sflow-%d" % rate) for rate in (1, 4)}

    def check_rate(self, rate):
        datagrams = self.datagrams[rate]
        capture = CAPTURES["v46"]
        rows, total, exporters, records, log = self.collect_both(datagrams, kind="sflow")
        self.assertEqual(nfcapd_errors(log)[1], 0, log)
        # One record per packet sample on both sides; samples carry no time (both collectors use
        # the arrival time), so compare (src, dst, proto, sport, dport, bytes, packets).
        # sfcapd counts frame bytes (the sampled frame's length, 4-byte FCS included: IP length
        # + 18 for an unpadded Ethernet frame) times the rate; netpulse counts IP bytes times the
        # rate (spec section 1). Each sfcapd figure is turned back into the IP length of the
        # packet the capture file holds with that key and frame length.
        ip_len = capture.ip_len_by_frame()
        theirs = []
        for rec in records:
            src, dst = nfdump_addrs(rec)
            proto = int(rec["proto"])
            sport, dport = reference_ports(rec, capture)
            frame_bytes, packets = int(rec["in_bytes"]), int(rec["in_packets"])
            self.assertEqual(frame_bytes % rate, 0, rec)
            key = (src, dst, proto, sport, dport, frame_bytes // rate - 4)  # minus the FCS
            ip = ip_len.get(key)
            theirs.append((src, dst, proto, sport, dport,
                           ip * rate if ip is not None else ("frame bytes", frame_bytes), packets,
                           nfdump_tcp_flags(rec)))
        ours = [(canon_ip(r["src"]), canon_ip(r["dst"]), int(r["ip_protocol"]), int(r["src_port"]),
                 int(r["dst_port"]), int(r["bytes"]), int(r["packets"]), int(r["tcp_flags"]))
                for r in rows]
        self.assertGreater(len(theirs), len(capture.packets) // rate // 2, "too few samples")
        diff = diff_multisets(ours, theirs, "netpulse", "sfcapd")
        if diff:
            self.fail("samples (src, dst, proto, sport, dport, IP bytes x rate, "
                      "packets, TCP flags) differ:\n" + diff)
        # A sample's time is its datagram's arrival (start = end = received).
        lo, hi = self.replayed_ms[0] - 1000, self.replayed_ms[1] + 1000
        wrong_times = [r for r in rows if not (r["flow_start"] == r["flow_end"] == r["time"]
                                               and lo <= ms_of(r["time"]) <= hi)]
        self.assertFalse(wrong_times, "sample times not the arrival time: %r" % wrong_times[:5])
        self.assertTrue(all(r["sampling_rate"] == str(rate) for r in rows),
                        collections.Counter(r["sampling_rate"] for r in rows))
        self.assertTrue(any(":" in r["src"] for r in rows), "no IPv6 sample decoded")
        self.assert_healthy(total, exporters, datagrams, "sflow-v5")
        self.assertEqual(exporters[0]["sampling"], rate, exporters[0])

    def test_sflow_rate_1(self):
        self.check_rate(1)

    def test_sflow_rate_4(self):
        self.check_rate(4)


PMACCT_PROTOCOLS = {"tcp": TCP, "udp": UDP, "icmp": ICMP, "ipv6-icmp": ICMPV6}


def write_datagram_capture(path, datagrams, port):
    """The export datagrams as a capture file (UDP 127.0.0.1:40000 -> 127.0.0.1:port), for the
    pmacct collectors' pcap_savefile."""
    from scapy.all import Ether, IP, UDP as UDPl, Raw, raw
    from scapy.utils import RawPcapWriter
    with RawPcapWriter(path, linktype=1, sync=False) as w:
        w.write_header(None)
        for i, d in enumerate(datagrams):
            frame = raw(Ether() / IP(src=LOCALHOST, dst=LOCALHOST) / UDPl(sport=40000, dport=port)
                        / Raw(d))
            w.write_packet(frame, sec=EPOCH_US // 10**6 + 3600, usec=i * 200)


def run_pmacct_collector(procs, workdir, tool, pcap, aggregate):
    """nfacctd or sfacctd reading a capture of export datagrams, its print plugin writing JSON
    (one object per aggregate); returns the objects."""
    out = os.path.join(workdir, tool + ".json")
    conf = os.path.join(workdir, tool + ".conf")
    with open(conf, "w") as f:
        f.write("\n".join([
            "daemonize: false", "pcap_savefile: " + pcap,
            "pidfile: " + os.path.join(workdir, tool + ".pid"), "plugins: print[p]",
            "aggregate[p]: " + ", ".join(aggregate), "print_output[p]: json",
            # One purge, at exit: with periodic purges the writer of the last one can repeat
            # part of the one before (an appended file then counts some flows twice).
            "print_output_file[p]: " + out, "print_refresh_time[p]: 3600",
            "timestamps_secs[p]: false"]) + "\n")
    p = procs.start(tool, [find_tool(tool), "-f", conf])
    if not procs.wait_exit(p, 60):
        raise AssertionError("%s still running after 60 s" % tool)
    rc = procs.reap(p)
    if rc != 0 or not os.path.exists(out):
        raise AssertionError("%s exited with %s:\n%s"
                             % (tool, rc, "".join(procs.output(p))[-3000:]))
    with open(out) as f:
        return [json.loads(line) for line in f if line.strip()]


def sum_by_key(items):
    """[(key, bytes, packets, tcp flags)] -> {key: (bytes, packets, flags)}: sums, flags OR-ed
    (pmacct aggregates so, and may split one aggregate over two purges)."""
    m = {}
    for key, nbytes, packets, flags in items:
        b, p, f = m.get(key, (0, 0, 0))
        m[key] = (b + nbytes, p + packets, f | flags)
    return m


class PmacctCollectorsTest(InteropTestCase):
    """pmacct's own collectors as a second reference: nfacctd (NetFlow v9, IPFIX) and sfacctd
    (sFlow), reading a capture of the same datagrams netpulse receives, print plugin out."""

    @classmethod
    def setUpClass(cls):
        require_tools("softflowd", "pmacctd", "nfacctd", "sfacctd")
        cls.datagrams = {name: export_datagrams(name)
                         for name in ("softflowd-v9", "pmacctd-v10", "pmacctd-sflow-1")}

    def diff_aggregates(self, ours, theirs, what):
        a, b = sum_by_key(ours), sum_by_key(theirs)
        diff = diff_multisets(list(a.items()), list(b.items()), "netpulse", what)
        if diff:
            self.fail("aggregates (key, (bytes, packets, TCP flags)) differ:\n" + diff)

    def check_nfacctd(self, name, protocol, lost_exact=True):
        datagrams, capture = self.datagrams[name], CAPTURES["v46"]
        pcap = os.path.join(self.workdir, "export.pcap")
        write_datagram_capture(pcap, datagrams, 2055)
        rows, total, exporters, _, _ = self.collect_both(datagrams, reference=False)
        aggregate = ["src_host", "dst_host", "src_port", "dst_port", "proto", "tcpflags",
                     "timestamp_start", "timestamp_end"]
        theirs = []
        for r in run_pmacct_collector(self.procs, self.workdir, "nfacctd", pcap, aggregate):
            src, dst = canon_ip(r["ip_src"]), canon_ip(r["ip_dst"])
            proto = PMACCT_PROTOCOLS[r["ip_proto"]]
            # nfacctd 1.7.7 reports ICMP type 0 when it came in v9's ICMP_TYPE (IE 32) or
            # IEs 176/177 (softflowd's v9): take it from the capture file then.
            sport, dport = icmp_from_capture(capture, src, dst, proto, int(r["port_src"]),
                                             int(r["port_dst"]))
            key = (line_time(ms_of(r["timestamp_start"])), line_time(ms_of(r["timestamp_end"])),
                   src, dst, proto, sport, dport)
            theirs.append((key, int(r["bytes"]), int(r["packets"]), int(r["tcp_flags"])))
        self.assertEqual(sum(t[2] for t in theirs), len(capture.packets))
        ours = [(f[:7], f[7], f[8], f[9]) for f in map(netpulse_flow, rows)]
        self.diff_aggregates(ours, theirs, "nfacctd")
        self.assert_healthy(total, exporters, datagrams, protocol, lost_exact)

    def test_nfacctd_softflowd_netflow_v9(self):
        self.check_nfacctd("softflowd-v9", "netflow-v9")

    def test_nfacctd_pmacctd_ipfix(self):
        self.check_nfacctd("pmacctd-v10", "ipfix")

    def test_sfacctd_pmacctd_sflow(self):
        datagrams, capture = self.datagrams["pmacctd-sflow-1"], CAPTURES["v46"]
        pcap = os.path.join(self.workdir, "export.pcap")
        write_datagram_capture(pcap, datagrams, 6343)
        rows, total, exporters, _, _ = self.collect_both(datagrams, "sflow", reference=False)
        aggregate = ["src_host", "dst_host", "src_port", "dst_port", "proto", "tcpflags"]
        theirs = []
        for r in run_pmacct_collector(self.procs, self.workdir, "sfacctd", pcap, aggregate):
            src, dst = canon_ip(r["ip_src"]), canon_ip(r["ip_dst"])
            proto = PMACCT_PROTOCOLS[r["ip_proto"]]
            # sfacctd reports no ICMP type for sFlow samples (port_dst 0).
            sport, dport = icmp_from_capture(capture, src, dst, proto, int(r["port_src"]),
                                             int(r["port_dst"]))
            theirs.append(((src, dst, proto, sport, dport), int(r["bytes"]), int(r["packets"]),
                           int(r["tcp_flags"])))
        # sfacctd counts the sampled frame's length, FCS included (as sfcapd does); netpulse the
        # IP length. Each netpulse sample's IP length is turned into the frame length + 4 of the
        # packet the capture file holds with that key and IP length.
        frame = capture.frame_by_ip_len()
        ours = []
        for r in rows:
            key = (canon_ip(r["src"]), canon_ip(r["dst"]), int(r["ip_protocol"]),
                   int(r["src_port"]), int(r["dst_port"]))
            f = frame.get(key + (int(r["bytes"]),))
            ours.append((key, f + 4 if f is not None else ("IP bytes", int(r["bytes"])),
                         int(r["packets"]), int(r["tcp_flags"])))
        self.diff_aggregates(ours, theirs, "sfacctd")
        self.assert_healthy(total, exporters, datagrams, "sflow-v5")


class ExportersSharingAPortTest(InteropTestCase):
    """Several exporters at once on one netpulse port, each its own UDP source port on
    127.0.0.1 (two probes on one host). softflowd and pmacctd both number their templates
    1024, 1025, 2048, ... with different fields, in observation domain / source id 0. Each stream
    goes to an nfcapd of its own as the reference (nfcapd keys templates by exporter IP and
    domain, so it mixes two such exporters up itself)."""

    @classmethod
    def setUpClass(cls):
        require_tools("softflowd", "pmacctd", "nfcapd", "nfdump")
        cls.datagrams = {name: export_datagrams(name) for name in
                         ("softflowd-v9", "softflowd-v10", "pmacctd-v10")}

    def check_pair(self, first, second):
        refs = [NfCollector(self.procs, self.workdir, "nfcapd", name="nfcapd-%d" % i)
                for i in (1, 2)]
        ours = NetpulseCollect(self.procs, self.workdir, services=self.services_file())
        replay_interleaved([(self.datagrams[first], [ours.port, refs[0].port]),
                            (self.datagrams[second], [ours.port, refs[1].port])])
        time.sleep(0.5)
        rows, total, exporters, _ = ours.finish()
        records = refs[0].finish()[0] + refs[1].finish()[0]
        self.assert_same_flows(rows, records, CAPTURES["v46"])
        self.assertEqual(len(exporters), 2, exporters)
        self.assertEqual(sorted(e["flows"] for e in exporters), [504, 504], exporters)
        self.assertEqual((total["malformed"], total["template_misses"]), (0, 0), total)

    def test_netflow_v9_and_ipfix_exporters(self):
        self.check_pair("softflowd-v9", "pmacctd-v10")

    def test_two_ipfix_exporters_with_clashing_template_ids(self):
        # RFC 7011 section 8: Template IDs are scoped by Transport Session (for UDP: source and
        # destination address and port) and Observation Domain.
        self.check_pair("softflowd-v10", "pmacctd-v10")


class GenerateIntoNfcapdTest(InteropTestCase):
    """netpulse generate --output netflow:// into nfcapd gives back exactly the generated
    records."""

    GENERATE = ["--count", "3000", "--seed", "11", "--start-time", "2024-01-01 00:00:00",
                "--rate", "1000"]

    @classmethod
    def setUpClass(cls):
        require_tools("nfcapd", "nfdump")

    def check_version(self, version):
        expected_file = os.path.join(self.workdir, "generated.txt")
        r = subprocess.run([NETPULSE, "generate"] + self.GENERATE + ["--output", expected_file],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        expected = []
        with open(expected_file) as f:
            for line in f:
                day, clock, label, src, dst, nbytes = line.split()
                expected.append((line_time(ms_of(day + " " + clock)), label, canon_ip(src),
                                 canon_ip(dst), int(nbytes)))
        self.assertEqual(len(expected), 3000)

        ref = NfCollector(self.procs, self.workdir, "nfcapd")
        gen = self.procs.start("generate", [
            NETPULSE, "generate"] + self.GENERATE + [
            "--output", "netflow://%s:%d?version=%d" % (LOCALHOST, ref.port, version)])
        self.assertTrue(self.procs.wait_exit(gen, 60), "generate did not end")
        self.assertEqual(self.procs.reap(gen), 0, self.procs.output(gen)[1][-3000:])
        time.sleep(0.5)
        records, log = ref.finish()
        self.assertEqual(nfcapd_errors(log), (0, 0), log)

        got, wrong_ports = [], []
        for rec in records:
            first, last = ms_of(rec["first"]), ms_of(rec["last"])
            src, dst = nfdump_addrs(rec)
            proto = int(rec["proto"])
            sport, dport = nfdump_ports(rec)
            label = service_label(proto, sport, dport, BUILTIN_SERVICES)
            if GENERATOR_PORTS.get(label) != (proto, dport):
                wrong_ports.append((label, proto, sport, dport))
            got.append((line_time(first) if first == last else ("first", line_time(first), "last",
                                                                line_time(last)), label, src,
                        dst, int(rec["in_bytes"])))
        self.assertFalse(wrong_ports, "records not on their label's well-known destination port "
                                      "(label, proto, sport, dport): %r" % wrong_ports[:10])
        diff = diff_multisets(got, expected, "nfdump", "generate")
        if diff:
            self.fail("records (time, label, src, dst, bytes) differ:\n" + diff)

    def test_netflow_v5(self):
        self.check_version(5)

    def test_netflow_v9(self):
        self.check_version(9)

    def test_ipfix(self):
        self.check_version(10)


class ServiceTableCopyTest(unittest.TestCase):
    """The test's copy of the built-in service table is netpulse's (when the source is here)."""

    def test_copy_matches_source(self):
        path = os.path.join(SOURCE_DIR, "src", "collect", "service_table.cpp")
        if not os.path.exists(path):
            self.skipTest("source tree not found at " + SOURCE_DIR)
        with open(path) as f:
            text = f.read()
        protos = {"kTcp": TCP, "kUdp": UDP, "kSctp": SCTP}
        entries = re.findall(r"\{(kTcp|kUdp|kSctp), (\d+), \"([^\"]+)\"\}", text)
        table = {(protos[p], int(port)): name for p, port, name in entries}
        self.assertEqual(table, BUILTIN_SERVICES)
        for label, key in GENERATOR_PORTS.items():
            self.assertEqual(BUILTIN_SERVICES.get(key), label)
        for (proto, port) in BUILTIN_SERVICES:
            self.assertNotIn(port, UNNAMED_PORTS)


def main():
    global NETPULSE
    NETPULSE, argv = e2e_support.binary_from_argv(sys.argv)
    unittest.main(argv=argv)


if __name__ == "__main__":
    main()
