#!/usr/bin/python3
"""Deterministic capture files for the packet-capture interop test (capture_interop_test.py).

One seeded set of conversations (HTTP over full TCP handshakes, TLS 1.3 ClientHellos with SNI, a
QUIC v1 Initial that decrypts, DNS, SSH banners, ICMP and ICMPv6 echo, an ICMP port unreachable,
IPv6 with extension headers, IGMP with an IPv4 option, ARP) is written in several framings:

- apps.pcap: Ethernet II, short frames padded to 60 bytes as a NIC delivers them
- apps.pcapng: the same in pcapng, nanosecond timestamps (if_tsresol 9)
- apps-nano.pcap: pcap with nanosecond timestamps (magic a1b23c4d), big-endian
- apps-sll.pcap, apps-sll2.pcap: Linux cooked capture v1 (LINKTYPE 113) and v2 (276)
- apps-raw.pcap: raw IP (LINKTYPE 101), the IP packets only
- apps-ipv4.pcap: LINKTYPE_IPV4 (228), the IPv4 packets only
- apps-null.pcap: BSD loopback (LINKTYPE_NULL 0), little-endian family 2 / 30 (Darwin's
  AF_INET6)
- apps-loop.pcap: OpenBSD loopback (LINKTYPE_LOOP 108), big-endian family 2 / 24 (NetBSD's
  AF_INET6)
- l2.pcap: Ethernet, each conversation its own link layer: untagged, 802.1Q, priority tag
  (VID 0), QinQ (0x88a8 + 0x8100), two 0x8100 tags, 802.3 LLC/SNAP; plus STP BPDUs
- snap40.pcap, snap96.pcap: apps.pcap captured with snap length 40 (IPv4 headers complete,
  IPv6 headers cut) or 96 (headers complete, payloads cut)
- fragments.pcap: IPv4 and IPv6 UDP datagrams and pings too big for the MTU, fragmented (one
  datagram's fragments last first, as Linux used to send them), between whole packets

and the bad inputs (write_bad): garbage, empty, a cut file header, header only, cut inside a
record or a record header, a record claiming a huge length, an unknown link type, a damaged
pcapng.

Every file is the same bytes for the same seed. Times start at 2023-11-14 22:13:20 UTC and span
about 9 s. Addresses are documentation ones (10/8 clients, 192.0.2/24, 198.51.100/24,
203.0.113/24, 2001:db8::/32 servers) so nDPI's IP lists label nothing: labels come from payloads.
Each conversation has its own 5-tuple (no port reuse), so flows are unambiguous.

Use: /usr/bin/python3 tests/e2e/make_captures.py OUTDIR [--seed N] [--bad]   (needs
python3-scapy and python3-cryptography, both Debian packages)
"""

import argparse
import collections
import hashlib
import hmac
import os
import random
import struct
import sys

EPOCH_S = 1_700_000_000  # 2023-11-14 22:13:20 UTC
DEFAULT_SEED = 20240501

# LINKTYPE_ values (pcap file header / pcapng IDB).
LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP = 0, 1, 101, 108
LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_IPV4, LINKTYPE_USER0 = 113, 276, 228, 147

ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806

# A packet as the network layer sees it: time (µs since the epoch), EtherType, the L3 bytes,
# MACs, direction (True: from the conversation's client) and conversation number (-1: none).
Packet = collections.namedtuple("Packet", "t_us ethertype l3 src_mac dst_mac to_server conv")

# A capture file written: name, path, LINKTYPE_, format ("pcap"/"pcapng"), what it holds.
CaptureFile = collections.namedtuple("CaptureFile", "name path linktype fmt description")


# --------------------------------------------------------------------------------------------
# TLS and QUIC payloads, by hand (scapy's TLS layer randomizes fields; this is byte-exact)

def _u8(n):
    return struct.pack("!B", n)


def _u16(n):
    return struct.pack("!H", n)


def _u24(n):
    return struct.pack("!I", n)[1:]


def _vec8(b):
    return _u8(len(b)) + b


def _vec16(b):
    return _u16(len(b)) + b


def _ext(kind, body):
    return _u16(kind) + _vec16(body)


def _varint(n):
    """QUIC variable-length integer (RFC 9000 section 16), the shortest form."""
    if n < 1 << 6:
        return _u8(n)
    if n < 1 << 14:
        return _u16(0x4000 | n)
    if n < 1 << 30:
        return struct.pack("!I", 0x80000000 | n)
    return struct.pack("!Q", 0xC000000000000000 | n)


def client_hello(rng, sni, alpn, quic=False):
    """A TLS 1.3 ClientHello handshake message (type 1, no record header) naming sni."""
    name = sni.encode()
    exts = [
        _ext(0, _vec16(_u8(0) + _vec16(name))),                       # server_name
        _ext(10, _vec16(_u16(0x001D) + _u16(0x0017) + _u16(0x0018))),  # supported_groups
        _ext(13, _vec16(b"".join(_u16(a) for a in (0x0403, 0x0804, 0x0401, 0x0503)))),
        _ext(16, _vec16(b"".join(_vec8(p.encode()) for p in alpn))),  # ALPN
        _ext(43, _vec8(_u16(0x0304) + (b"" if quic else _u16(0x0303)))),  # supported_versions
        _ext(45, _vec8(_u8(1))),                                      # psk_key_exchange_modes
        _ext(51, _vec16(_u16(0x001D) + _vec16(rng.randbytes(32)))),   # key_share x25519
    ]
    if quic:
        params = (_varint(0x04) + _vec8(_varint(1 << 20)) +           # initial_max_data
                  _varint(0x08) + _vec8(_varint(100)) +               # initial_max_streams_bidi
                  _varint(0x0F) + _vec8(rng.randbytes(8)))            # initial_source_conn_id
        exts.append(_ext(0x39, params))                               # quic_transport_parameters
    else:
        exts.insert(1, _ext(11, _vec8(_u8(0))))                       # ec_point_formats
        exts.append(_ext(23, b""))                                    # extended_master_secret
    suites = [0x1301, 0x1302, 0x1303] + ([] if quic else [0xC02B, 0xC02F, 0xC02C, 0xC030])
    body = (_u16(0x0303) + rng.randbytes(32) + _vec8(b"" if quic else rng.randbytes(32)) +
            _vec16(b"".join(_u16(s) for s in suites)) + _vec8(_u8(0)) + _vec16(b"".join(exts)))
    return _u8(1) + _u24(len(body)) + body


def server_hello(rng, session_id):
    exts = _ext(43, _u16(0x0304)) + _ext(51, _u16(0x001D) + _vec16(rng.randbytes(32)))
    body = (_u16(0x0303) + rng.randbytes(32) + _vec8(session_id) + _u16(0x1301) + _u8(0) +
            _vec16(exts))
    return _u8(2) + _u24(len(body)) + body


def tls_record(content_type, payload, version=0x0303):
    return _u8(content_type) + _u16(version) + _vec16(payload)


def _hkdf_expand_label(secret, label, length):
    full = b"tls13 " + label
    info = _u16(length) + _vec8(full) + _vec8(b"")
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + _u8(i), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


QUIC_V1_SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")


def quic_client_keys(dcid):
    """(key, iv, hp) of a QUIC v1 client Initial (RFC 9001 section 5.2)."""
    initial = hmac.new(QUIC_V1_SALT, dcid, hashlib.sha256).digest()  # HKDF-Extract
    client = _hkdf_expand_label(initial, b"client in", 32)
    return (_hkdf_expand_label(client, b"quic key", 16), _hkdf_expand_label(client, b"quic iv", 12),
            _hkdf_expand_label(client, b"quic hp", 16))


def quic_initial(rng, sni):
    """A QUIC v1 client Initial datagram payload (1200 bytes, as RFC 9000 requires) carrying a
    ClientHello for sni in a CRYPTO frame: encrypted and header-protected with the keys derived
    from its destination connection ID, so nDPI can decrypt it."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    dcid, scid, pn, pn_len = rng.randbytes(8), rng.randbytes(8), 0, 2
    key, iv, hp = quic_client_keys(dcid)
    ch = client_hello(rng, sni, ["h3"], quic=True)
    frames = _u8(0x06) + _varint(0) + _varint(len(ch)) + ch  # CRYPTO, offset 0
    header_len = 1 + 4 + 1 + len(dcid) + 1 + len(scid) + 1 + 2 + pn_len
    frames += bytes(1200 - header_len - 16 - len(frames))      # PADDING frames up to 1200
    length = pn_len + len(frames) + 16
    header = (_u8(0xC0 | (pn_len - 1)) + struct.pack("!I", 1) + _vec8(dcid) + _vec8(scid) +
              _varint(0) + _u16(0x4000 | length) + pn.to_bytes(pn_len, "big"))
    nonce = bytes(a ^ b for a, b in zip(iv, pn.to_bytes(12, "big")))
    sealed = AESGCM(key).encrypt(nonce, frames, header)
    sample = sealed[4 - pn_len:4 - pn_len + 16]
    enc = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = enc.update(sample) + enc.finalize()
    first = bytes([header[0] ^ (mask[0] & 0x0F)])
    pn_bytes = bytes(a ^ b for a, b in zip(header[-pn_len:], mask[1:1 + pn_len]))
    out = first + header[1:-pn_len] + pn_bytes + sealed
    assert len(out) == 1200, len(out)
    return out


def _check_quic_keys():
    # RFC 9001 appendix A.1: the client keys of DCID 8394c8f03e515708.
    key, iv, hp = quic_client_keys(bytes.fromhex("8394c8f03e515708"))
    assert key.hex() == "1f369613dd76d5467730efcbe3b1a22d", key.hex()
    assert iv.hex() == "fa044b2f42a3fd3b46fb255c", iv.hex()
    assert hp.hex() == "9f50449e04a0e810283a1e9933adedd2", hp.hex()


# --------------------------------------------------------------------------------------------
# Conversations

def _mac(ip):
    """A locally administered MAC derived from the address: one per host."""
    return b"\x02" + hashlib.sha256(ip.encode()).digest()[:5]


class Traffic:
    """Builds packets (network layer up) with a seeded RNG and a clock per conversation."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.packets = []
        self.conv = 0

    def new_conv(self):
        self.conv += 1
        return self.conv

    def ip(self, src, dst, proto_layer, conv, to_server, t_us, **ip_fields):
        from scapy.all import IP, IPv6, raw
        if ":" in src:
            ip_fields.setdefault("hlim", 64)
            l3 = IPv6(src=src, dst=dst, **ip_fields)
            ethertype = ETH_IPV6
        else:
            ip_fields.setdefault("id", self.rng.randrange(65536))
            ip_fields.setdefault("ttl", 64)
            l3 = IP(src=src, dst=dst, **ip_fields)
            ethertype = ETH_IPV4
        l3.add_payload(proto_layer)
        self.add(t_us, ethertype, raw(l3), src, dst, to_server, conv)

    def add(self, t_us, ethertype, l3, src, dst, to_server, conv):
        self.packets.append(Packet(t_us, ethertype, l3, _mac(src), _mac(dst), to_server, conv))

    def gap(self, lo_ms=0.2, hi_ms=120.0):
        return self.rng.randrange(int(lo_ms * 1000), int(hi_ms * 1000))

    # TCP with sequence numbers that add up (nDPI reassembles by them).
    def tcp(self, client, server, cport, sport, t_us, exchanges, close="fin", mss=1400):
        """A TCP connection: handshake; for each (client bytes, server bytes) exchange the data
        in segments of at most mss, each acknowledged; then FIN both ways and the last ACK, or
        the client's RST. Returns the time after the last packet."""
        from scapy.all import TCP, Raw
        conv = self.new_conv()
        seq = {True: self.rng.randrange(2**32), False: self.rng.randrange(2**32)}
        t = t_us

        def send(up, flags, payload=b""):
            nonlocal t
            t += self.gap()
            src, dst, sp, dp = (client, server, cport, sport) if up else (server, client, sport,
                                                                            cport)
            ack = 0 if flags == "S" else seq[not up]
            seg = TCP(sport=sp, dport=dp, seq=seq[up], ack=ack, flags=flags, window=64240)
            if payload:
                seg.add_payload(Raw(payload))
            self.ip(src, dst, seg, conv, up, t, **({"flags": "DF"} if ":" not in src else {}))
            seq[up] = (seq[up] + len(payload) + (1 if ("S" in flags or "F" in flags) else 0)) \
                % 2**32

        send(True, "S")
        send(False, "SA")
        send(True, "A")
        for up_data, down_data in exchanges:
            for up, data in ((True, up_data), (False, down_data)):
                for i in range(0, len(data), mss):
                    send(up, "PA" if i + mss >= len(data) else "A", data[i:i + mss])
                if data:
                    send(not up, "A")
        if close == "fin":
            send(True, "FA")
            send(False, "FA")
            send(True, "A")
        elif close == "rst":
            send(True, "RA")
        return t

    def udp(self, client, server, cport, sport, t_us, exchanges, conv=None):
        """UDP datagrams: (from client?, payload) in order."""
        from scapy.all import UDP, Raw
        conv = conv or self.new_conv()
        t = t_us
        for up, payload in exchanges:
            t += self.gap(1, 200)
            src, dst, sp, dp = (client, server, cport, sport) if up else (server, client, sport,
                                                                            cport)
            self.ip(src, dst, UDP(sport=sp, dport=dp) / Raw(payload), conv, up, t)
        return t

    def ping(self, client, server, t_us, count, size=56):
        from scapy.all import ICMP, ICMPv6EchoRequest, ICMPv6EchoReply, Raw
        conv = self.new_conv()
        ident = self.rng.randrange(65536)
        t = t_us
        for seq in range(count):
            t += self.rng.randrange(200_000, 400_000)
            payload = Raw(self.rng.randbytes(size))
            if ":" in client:
                req, rep = ICMPv6EchoRequest(id=ident, seq=seq), ICMPv6EchoReply(id=ident, seq=seq)
            else:
                req, rep = ICMP(type=8, id=ident, seq=seq), ICMP(type=0, id=ident, seq=seq)
            self.ip(client, server, req / payload, conv, True, t)
            self.ip(server, client, rep / payload, conv, False, t + self.gap(5, 40))
        return t


def http_request(host, path="/"):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
            % (path, host)).encode()


def http_response(rng, size):
    body = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz <>/\n") for _ in range(size))
    head = ("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n"
            "Content-Length: %d\r\n\r\n" % size).encode()
    return head + body


def dns_pair(rng, name, qtype, answer):
    from scapy.all import DNS, DNSQR, DNSRR, raw
    ident = rng.randrange(65536)
    q = DNS(id=ident, rd=1, qd=DNSQR(qname=name, qtype=qtype))
    a = DNS(id=ident, qr=1, rd=1, ra=1, qd=DNSQR(qname=name, qtype=qtype),
            an=DNSRR(rrname=name, type=qtype, ttl=300, rdata=answer))
    return raw(q), raw(a)


def ssh_exchange(rng):
    """The banners, then each side's KEXINIT as a binary packet (length, padding length,
    payload, padding)."""
    def kexinit():
        names = [b"curve25519-sha256,ecdh-sha2-nistp256", b"ssh-ed25519,rsa-sha2-512",
                 b"chacha20-poly1305@openssh.com,aes128-ctr"] * 2 + \
                [b"hmac-sha2-256-etm@openssh.com"] * 2 + [b"none,zlib@openssh.com"] * 2 + [b""] * 2
        payload = _u8(20) + rng.randbytes(16) + b"".join(struct.pack("!I", len(n)) + n
                                                         for n in names) + b"\x00" + bytes(4)
        pad = 8 - (len(payload) + 5) % 8 + 8
        return struct.pack("!IB", len(payload) + pad + 1, pad) + payload + bytes(pad)
    return [(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n"),
            (kexinit(), kexinit())]


def build_apps(seed):
    """The application mix, about 9 s. Returns [Packet] in time order."""
    from scapy.all import ICMP, IP, UDP, Raw, IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, raw
    from scapy.all import IPOption_Router_Alert, ARP
    tr = Traffic(seed)
    rng = tr.rng
    t0 = EPOCH_S * 10**6
    at = iter([t0 + i * 300_000 + rng.randrange(200_000) for i in range(40)])

    # HTTP, IPv4, a page in several segments; HTTP to a second server with a small reply.
    tr.tcp("10.0.0.11", "192.0.2.80", 41001, 80, next(at),
           [(http_request("www.example.com", "/index.html"), http_response(rng, 9000))])
    tr.tcp("10.0.0.12", "198.51.100.80", 41002, 80, next(at),
           [(http_request("intranet.example.org", "/status"), http_response(rng, 300)),
            (http_request("intranet.example.org", "/favicon.ico"), http_response(rng, 120))])
    # TLS with SNI: a Google name (nDPI: TLS.Google), a plain name (TLS), over IPv4 and IPv6.
    for client, server, cport, sni, close in (
            ("10.0.0.13", "203.0.113.43", 41003, "www.google.com", "fin"),
            ("10.0.0.14", "203.0.113.44", 41004, "www.example.net", "rst"),
            ("2001:db8:1::15", "2001:db8:2::443", 41005, "mail.google.com", "fin"),
            ("2001:db8:1::16", "2001:db8:2::444", 41006, "www.wikipedia.org", "fin")):
        ch = tls_record(0x16, client_hello(rng, sni, ["h2", "http/1.1"]), version=0x0301)
        sid = ch[5 + 4 + 2 + 32 + 1:5 + 4 + 2 + 32 + 1 + 32]
        sh = (tls_record(0x16, server_hello(rng, sid)) + tls_record(0x14, b"\x01") +
              tls_record(0x17, rng.randbytes(2200)))
        tr.tcp(client, server, cport, 443, next(at),
               [(ch, sh), (tls_record(0x14, b"\x01") + tls_record(0x17, rng.randbytes(90)),
                           tls_record(0x17, rng.randbytes(700)))], close=close)
    # HTTP over IPv6.
    tr.tcp("2001:db8:1::17", "2001:db8:2::80", 41007, 80, next(at),
           [(http_request("www.example.com", "/v6"), http_response(rng, 2000))])
    # DNS over IPv4 and IPv6 (A and AAAA).
    q, a = dns_pair(rng, "www.example.com", 1, "192.0.2.80")
    tr.udp("10.0.0.18", "192.0.2.53", 41008, 53, next(at), [(True, q), (False, a)])
    q, a = dns_pair(rng, "www.example.org", 28, "2001:db8:2::80")
    tr.udp("2001:db8:1::19", "2001:db8:2::53", 41009, 53, next(at), [(True, q), (False, a)])
    q, a = dns_pair(rng, "ntp.example.net", 1, "198.51.100.123")
    tr.udp("10.0.0.20", "198.51.100.53", 41010, 53, next(at), [(True, q), (False, a)])
    # SSH: banners and KEXINITs, closed with FIN; a second one cut with RST.
    tr.tcp("10.0.0.21", "192.0.2.22", 41011, 22, next(at), ssh_exchange(rng))
    tr.tcp("2001:db8:1::22", "2001:db8:2::22", 41012, 22, next(at), ssh_exchange(rng),
           close="rst")
    # QUIC v1: a decryptable Initial, then short-header packets both ways.
    for client, server, cport, sni in (("10.0.0.23", "203.0.113.53", 41013, "www.youtube.com"),
                                       ("2001:db8:1::24", "2001:db8:2::553", 41014,
                                        "www.example.com")):
        short = [(up, _u8(0x40 | rng.randrange(4)) + rng.randbytes(rng.randrange(40, 1200)))
                 for up in (False, False, True, False, True)]
        tr.udp(client, server, cport, 443, next(at), [(True, quic_initial(rng, sni))] + short)
    # ICMP and ICMPv6 echo.
    tr.ping("10.0.0.25", "192.0.2.1", next(at), 4)
    tr.ping("2001:db8:1::26", "2001:db8:2::1", next(at), 3)
    # A UDP probe to a closed port and the ICMP port unreachable quoting it.
    probe = raw(IP(src="10.0.0.27", dst="192.0.2.99", id=4242, ttl=64) /
                UDP(sport=41015, dport=33434) / Raw(rng.randbytes(32)))
    t = next(at)
    tr.udp("10.0.0.27", "192.0.2.99", 41015, 33434, t, [(True, probe[28:])])
    conv = tr.new_conv()
    tr.ip("192.0.2.99", "10.0.0.27", ICMP(type=3, code=3) / Raw(probe), conv, False, t + 300_000)
    # Unknown payloads: TCP and UDP to unnamed high ports; IPv6 UDP behind two extension headers.
    tr.tcp("10.0.0.28", "198.51.100.7", 41016, 40777, next(at),
           [(rng.randbytes(300), rng.randbytes(1800))])
    tr.udp("10.0.0.29", "198.51.100.8", 41017, 40888, next(at),
           [(rng.randrange(2) == 1, rng.randbytes(rng.randrange(30, 700))) for _ in range(5)])
    conv = tr.new_conv()
    t = next(at)
    for i in range(3):
        t += tr.gap(10, 300)
        tr.ip("2001:db8:1::30", "2001:db8:2::99",
              IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / UDP(sport=41018, dport=40999) /
              Raw(rng.randbytes(100 + 50 * i)), conv, True, t)
    # IGMPv2 membership report with the Router Alert option (a 24-byte IPv4 header).
    conv = tr.new_conv()
    igmp = bytearray(b"\x16\x00\x00\x00" + bytes([239, 1, 2, 3]))
    csum = sum(struct.unpack("!4H", igmp))
    csum = ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF
    igmp[2:4] = _u16(csum)
    tr.ip("10.0.0.31", "239.1.2.3", Raw(bytes(igmp)), conv, True, next(at), proto=2, ttl=1,
          options=[IPOption_Router_Alert()])
    # ARP who-has and reply (not IP).
    t = next(at)
    for op, (sip, smac), (dip, dmac) in ((1, ("10.0.0.11", None), ("10.0.0.1", None)),
                                         (2, ("10.0.0.1", None), ("10.0.0.11", None))):
        arp = ARP(op=op, hwsrc=_mac(sip).hex(":"), psrc=sip,
                  hwdst=_mac(dip).hex(":") if op == 2 else "00:00:00:00:00:00", pdst=dip)
        t += 1500
        tr.add(t, ETH_ARP, raw(arp), sip, dip if op == 2 else "broadcast", op == 1, -1)
    return sorted(tr.packets, key=lambda p: p.t_us)


def build_fragments(seed):
    """IP fragments between whole packets: IPv4 UDP (in order and out of order), IPv4 ICMP echo
    of 3000 bytes, IPv6 UDP and ICMPv6 echo; and a DNS exchange. About 3 s."""
    from scapy.all import (IP, IPv6, UDP, ICMP, IPv6ExtHdrFragment, ICMPv6EchoRequest,
                           ICMPv6EchoReply, Raw, fragment, fragment6, raw)
    tr = Traffic(seed + 1)
    rng = tr.rng
    t = EPOCH_S * 10**6 + 20_000_000

    def emit(frags, src, dst, conv, up):
        nonlocal t
        for f in frags:
            t += tr.gap(0.05, 2)
            tr.add(t, ETH_IPV6 if ":" in src else ETH_IPV4, raw(f), src, dst, up, conv)

    q, a = dns_pair(rng, "big.example.com", 16, "x" * 200)
    t = tr.udp("10.0.1.1", "192.0.2.53", 42001, 53, t, [(True, q), (False, a)])
    # IPv4 UDP, 3000 bytes: three fragments in order; then a reply of 2000 bytes last first.
    conv = tr.new_conv()
    big = IP(src="10.0.1.2", dst="198.51.100.20", id=0x1234, ttl=64) / UDP(
        sport=42002, dport=40500) / Raw(rng.randbytes(3000))
    emit(fragment(big, 1480), "10.0.1.2", "198.51.100.20", conv, True)
    back = IP(src="198.51.100.20", dst="10.0.1.2", id=0x4321, ttl=64) / UDP(
        sport=40500, dport=42002) / Raw(rng.randbytes(2000))
    emit(list(reversed(fragment(back, 1480))), "198.51.100.20", "10.0.1.2", conv, False)
    # IPv4 ping of 3000 bytes each way.
    conv = tr.new_conv()
    payload = rng.randbytes(3000)
    for up, (src, dst), typ in ((True, ("10.0.1.3", "192.0.2.30"), 8),
                                (False, ("192.0.2.30", "10.0.1.3"), 0)):
        pkt = IP(src=src, dst=dst, id=rng.randrange(65536), ttl=64) / ICMP(
            type=typ, id=77, seq=1) / Raw(payload)
        emit(fragment(pkt, 1480), src, dst, conv, up)
    # IPv6 UDP, 3000 bytes, and an ICMPv6 echo of 2000 bytes each way.
    conv = tr.new_conv()
    pkt = IPv6(src="2001:db8:1::40", dst="2001:db8:2::40", hlim=64) / IPv6ExtHdrFragment(
        id=0xABCDEF) / UDP(sport=42004, dport=40600) / Raw(rng.randbytes(3000))
    emit(fragment6(pkt, 1280), "2001:db8:1::40", "2001:db8:2::40", conv, True)
    conv = tr.new_conv()
    payload = rng.randbytes(2000)
    for up, (src, dst), echo in ((True, ("2001:db8:1::41", "2001:db8:2::41"), ICMPv6EchoRequest),
                                 (False, ("2001:db8:2::41", "2001:db8:1::41"), ICMPv6EchoReply)):
        pkt = IPv6(src=src, dst=dst, hlim=64) / IPv6ExtHdrFragment(id=rng.randrange(2**32)) / \
            echo(id=78, seq=1) / Raw(payload)
        emit(fragment6(pkt, 1280), src, dst, conv, up)
    q, a = dns_pair(rng, "after.example.com", 1, "192.0.2.1")
    tr.udp("10.0.1.5", "192.0.2.53", 42005, 53, t, [(True, q), (False, a)])
    return sorted(tr.packets, key=lambda p: p.t_us)


# --------------------------------------------------------------------------------------------
# Link layers

def ethernet(p, tags=(), pad=True):
    """An Ethernet II frame; tags: [(TPID, TCI)] outermost first. Padded to 60 bytes (no FCS)."""
    dst = b"\xff" * 6 if p.ethertype == ETH_ARP and p.to_server else p.dst_mac
    head = dst + p.src_mac + b"".join(_u16(tpid) + _u16(tci) for tpid, tci in tags)
    frame = head + _u16(p.ethertype) + p.l3
    return frame + bytes(max(0, 60 - len(frame))) if pad else frame


def ethernet_snap(p):
    """802.3 with LLC/SNAP (AA AA 03, OUI 0) carrying the EtherType: the length field counts
    LLC, SNAP and the packet, not the padding."""
    body = b"\xaa\xaa\x03\x00\x00\x00" + _u16(p.ethertype) + p.l3
    frame = p.dst_mac + p.src_mac + _u16(len(body)) + body
    return frame + bytes(max(0, 60 - len(frame)))


def stp_bpdu(mac):
    """An 802.3 frame with LLC 42 42 03: a spanning-tree configuration BPDU (not IP)."""
    bpdu = bytes.fromhex("000000") + bytes(1) + b"\x80\x00" + mac + bytes(4) + b"\x80\x00" + \
        mac + b"\x80\x01" + bytes.fromhex("0000140002000f00")
    body = b"\x42\x42\x03" + bpdu
    frame = b"\x01\x80\xc2\x00\x00\x00" + mac + _u16(len(body)) + body
    return frame + bytes(max(0, 60 - len(frame)))


def sll(p):
    # packet type 0: to us, 4: sent by us; ARPHRD_ETHER; the source MAC in 8 bytes.
    return (_u16(4 if p.to_server else 0) + _u16(1) + _u16(6) + p.src_mac + bytes(2) +
            _u16(p.ethertype) + p.l3)


def sll2(p):
    return (_u16(p.ethertype) + bytes(2) + struct.pack("!I", 2) + _u16(1) +
            _u8(4 if p.to_server else 0) + _u8(6) + p.src_mac + bytes(2) + p.l3)


def null_header(p, big_endian, af6):
    return struct.pack(">I" if big_endian else "<I", 2 if p.ethertype == ETH_IPV4 else af6)


# The per-conversation link layers of l2.pcap: conversation number % 6 picks one.
L2_STYLES = [
    ("untagged", ()),
    ("802.1Q VID 100 PCP 0", ((0x8100, 100),)),
    ("priority tag VID 0 PCP 5", ((0x8100, 5 << 13),)),
    ("QinQ 0x88a8 VID 200, 0x8100 VID 300", ((0x88A8, 200), (0x8100, 300))),
    ("two 0x8100 tags VID 10, 20", ((0x8100, 10), (0x8100, 20))),
    ("802.3 LLC/SNAP", None),
]


# --------------------------------------------------------------------------------------------
# File writers (by hand: byte order, nanoseconds and snap length under control)

def write_pcap(path, records, linktype, snaplen=262144, nano=False, big_endian=False):
    """records: [(time in µs, or ns when nano, frame bytes)]; each record keeps at most snaplen
    bytes and states the frame's full length."""
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    unit = 10**9 if nano else 10**6
    with open(path, "wb") as f:
        f.write(struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for t, frame in records:
            data = frame[:snaplen]
            f.write(struct.pack(e + "IIII", t // unit, t % unit, len(data), len(frame)))
            f.write(data)


def write_pcapng(path, records, linktype, snaplen=262144):
    """records: [(time in ns, frame bytes)]: a section header, one interface (if_tsresol 9,
    nanoseconds) and an enhanced packet block per record, little-endian."""
    def block(kind, body):
        body += bytes(-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", kind, n) + body + struct.pack("<I", n)

    def option(code, value):
        return struct.pack("<HH", code, len(value)) + value + bytes(-len(value) % 4)

    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + option(4, b"make_captures.py") + \
        option(0, b"")
    idb = struct.pack("<HHI", linktype, 0, snaplen) + option(2, b"eth0") + option(9, b"\x09") + \
        option(0, b"")
    with open(path, "wb") as f:
        f.write(block(0x0A0D0D0A, shb))
        f.write(block(1, idb))
        for t, frame in records:
            data = frame[:snaplen]
            f.write(block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(data),
                                         len(frame)) + data))


def _ns(p, rng):
    """A nanosecond time within the packet's microsecond (so µs and ms times are unchanged)."""
    return p.t_us * 1000 + rng.randrange(1000)


def write_all(outdir, seed=DEFAULT_SEED):
    """Writes every capture file into outdir; returns {name: CaptureFile}."""
    _check_quic_keys()
    os.makedirs(outdir, exist_ok=True)
    apps = build_apps(seed)
    frags = build_fragments(seed)
    ip_only = [p for p in apps if p.ethertype != ETH_ARP]
    out = {}

    def add(name, linktype, fmt, description, writer):
        path = os.path.join(outdir, name)
        writer(path)
        out[name] = CaptureFile(name, path, linktype, fmt, description)

    eth = [(p.t_us, ethernet(p)) for p in apps]
    add("apps.pcap", LINKTYPE_ETHERNET, "pcap", "Ethernet, padded short frames",
        lambda path: write_pcap(path, eth, LINKTYPE_ETHERNET))
    nano_rng = random.Random(seed + 2)
    add("apps.pcapng", LINKTYPE_ETHERNET, "pcapng", "pcapng, ns timestamps",
        lambda path: write_pcapng(path, [(_ns(p, nano_rng), ethernet(p)) for p in apps],
                                  LINKTYPE_ETHERNET))
    add("apps-nano.pcap", LINKTYPE_ETHERNET, "pcap", "pcap with ns timestamps, big-endian",
        lambda path: write_pcap(path, [(_ns(p, nano_rng), ethernet(p)) for p in apps],
                                LINKTYPE_ETHERNET, nano=True, big_endian=True))
    add("apps-sll.pcap", LINKTYPE_LINUX_SLL, "pcap", "Linux cooked v1",
        lambda path: write_pcap(path, [(p.t_us, sll(p)) for p in apps], LINKTYPE_LINUX_SLL))
    add("apps-sll2.pcap", LINKTYPE_LINUX_SLL2, "pcap", "Linux cooked v2",
        lambda path: write_pcap(path, [(p.t_us, sll2(p)) for p in apps], LINKTYPE_LINUX_SLL2))
    add("apps-raw.pcap", LINKTYPE_RAW, "pcap", "raw IP",
        lambda path: write_pcap(path, [(p.t_us, p.l3) for p in ip_only], LINKTYPE_RAW))
    add("apps-ipv4.pcap", LINKTYPE_IPV4, "pcap", "LINKTYPE_IPV4, IPv4 only",
        lambda path: write_pcap(path, [(p.t_us, p.l3) for p in ip_only
                                       if p.ethertype == ETH_IPV4], LINKTYPE_IPV4))
    add("apps-null.pcap", LINKTYPE_NULL, "pcap", "BSD loopback, little-endian, AF_INET6 30",
        lambda path: write_pcap(path, [(p.t_us, null_header(p, False, 30) + p.l3)
                                       for p in ip_only], LINKTYPE_NULL))
    add("apps-loop.pcap", LINKTYPE_LOOP, "pcap", "OpenBSD loopback, big-endian, AF_INET6 24",
        lambda path: write_pcap(path, [(p.t_us, null_header(p, True, 24) + p.l3)
                                       for p in ip_only], LINKTYPE_LOOP))

    l2 = []
    for p in apps:
        if p.conv < 0:
            l2.append((p.t_us, ethernet(p)))
            continue
        _, tags = L2_STYLES[p.conv % len(L2_STYLES)]
        l2.append((p.t_us, ethernet_snap(p) if tags is None else ethernet(p, tags)))
    for i in range(4):  # a BPDU every 2 s
        l2.append((EPOCH_S * 10**6 + i * 2_000_000 + 777, stp_bpdu(_mac("switch"))))
    l2.sort(key=lambda r: r[0])
    add("l2.pcap", LINKTYPE_ETHERNET, "pcap", "VLAN tags, QinQ, LLC/SNAP, STP per conversation",
        lambda path: write_pcap(path, l2, LINKTYPE_ETHERNET))
    for snaplen in (40, 96):
        add("snap%d.pcap" % snaplen, LINKTYPE_ETHERNET, "pcap", "snap length %d" % snaplen,
            lambda path, s=snaplen: write_pcap(path, eth, LINKTYPE_ETHERNET, snaplen=s))
    add("fragments.pcap", LINKTYPE_ETHERNET, "pcap", "IPv4 and IPv6 fragments",
        lambda path: write_pcap(path, [(p.t_us, ethernet(p)) for p in frags],
                                LINKTYPE_ETHERNET))
    return out


def write_bad(outdir, good):
    """Inputs netpulse must refuse with one line or read as far as they go, never crash.
    good: the path of a valid pcap file to cut. Returns {name: path}."""
    rng = random.Random(99)
    with open(good, "rb") as f:
        data = f.read()
    # The end of the 10th record: the 24-byte header, then 16-byte record headers.
    off = 24
    for _ in range(10):
        off += 16 + struct.unpack("<I", data[off + 8:off + 12])[0]
    files = {
        "garbage.pcap": rng.randbytes(5000),
        "empty.pcap": b"",
        "short-header.pcap": data[:10],
        "header-only.pcap": data[:24],
        "cut-in-record.pcap": data[:off + 16 + 20],   # 10 records, then 20 bytes of the 11th
        "cut-in-record-header.pcap": data[:off + 7],  # 10 records, then 7 bytes of a header
        "huge-caplen.pcap": data[:off] + struct.pack("<IIII", EPOCH_S + 9, 0, 0x7FFFFFF0,
                                                     0x7FFFFFF0) + rng.randbytes(100),
        "unknown-link.pcap": data[:20] + struct.pack("<I", LINKTYPE_USER0) + data[24:off],
        "pcapng-garbage.pcapng": struct.pack("<II", 0x0A0D0D0A, 28) + struct.pack(
            "<IHHq", 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28) + rng.randbytes(300),
    }
    out = {}
    os.makedirs(outdir, exist_ok=True)
    for name, content in files.items():
        out[name] = os.path.join(outdir, name)
        with open(out[name], "wb") as f:
            f.write(content)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--bad", action="store_true", help="also write the bad inputs")
    args = ap.parse_args()
    files = write_all(args.outdir, args.seed)
    if args.bad:
        for name, path in write_bad(args.outdir, files["apps.pcap"].path).items():
            print("%-26s bad input" % name)
    for f in files.values():
        print("%-26s linktype %3d %-6s %s" % (f.name, f.linktype, f.fmt, f.description))
    return 0


if __name__ == "__main__":
    sys.exit(main())
