// Tests for capture/packet_processor: packets written byte by byte (Ethernet, VLAN, IPv4, IPv6,
// fragments, TCP with consistent sequence numbers, UDP, ICMP) carrying real application
// payloads (HTTP, DNS, SSH, TLS), fed through the processor with nDPI and without. Checks the
// labels and `guessed`, both record modes, timeouts, eviction, the counters, and (against a
// plain map) that flows mode loses no byte and no packet whatever the limits and timeouts.
#include "capture/packet_processor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "capture/ndpi_classifier.hpp"

namespace netpulse::capture {
namespace {

using Bytes = std::vector<uint8_t>;
using core::IpAddr;

// --- packet builder ---------------------------------------------------------------------------

void put8(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v));
}
void put16(Bytes& b, uint32_t v) {
  put8(b, v >> 8);
  put8(b, v);
}
void put24(Bytes& b, uint32_t v) {
  put8(b, v >> 16);
  put16(b, v);
}
void put32(Bytes& b, uint32_t v) {
  put16(b, v >> 16);
  put16(b, v);
}
void put64(Bytes& b, uint64_t v) {
  put32(b, static_cast<uint32_t>(v >> 32));
  put32(b, static_cast<uint32_t>(v));
}
void append(Bytes& b, const Bytes& more) {
  b.insert(b.end(), more.begin(), more.end());
}
void append(Bytes& b, std::string_view text) {
  b.insert(b.end(), text.begin(), text.end());
}
Bytes text_bytes(std::string_view text) {
  return Bytes(text.begin(), text.end());
}

IpAddr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return IpAddr::v4(uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d);
}
IpAddr v6(uint64_t n) {
  return IpAddr::v6(core::Ip6{0x20010db800000000ULL, n});
}  // 2001:db8::n

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1;
constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

struct FrameOptions {
  std::vector<uint16_t> vlans;  // 802.1Q tags, outermost first
  uint16_t ip_id = 0x1234;
  uint16_t frag = 0;  // IPv4: flags << 13 | offset in 8-byte units
};

// Ethernet + IPv4 or IPv6 (chosen by the addresses) around an upper-layer payload.
Bytes frame(const IpAddr& src, const IpAddr& dst, uint8_t proto, const Bytes& l4,
            const FrameOptions& o = {}) {
  Bytes b = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb};
  for (uint16_t vlan : o.vlans) {
    put16(b, 0x8100);
    put16(b, vlan);
  }
  if (!src.is_v6) {
    put16(b, 0x0800);
    put8(b, 0x45);
    put8(b, 0);
    put16(b, static_cast<uint32_t>(20 + l4.size()));
    put16(b, o.ip_id);
    put16(b, o.frag);
    put8(b, 64);
    put8(b, proto);
    put16(b, 0);
    put32(b, src.v4_value());
    put32(b, dst.v4_value());
  } else {
    put16(b, 0x86dd);
    put32(b, 6u << 28);
    put16(b, static_cast<uint32_t>(l4.size()));
    put8(b, proto);
    put8(b, 64);
    put64(b, src.bits.hi);
    put64(b, src.bits.lo);
    put64(b, dst.bits.hi);
    put64(b, dst.bits.lo);
  }
  append(b, l4);
  return b;
}

// Ethernet + IPv6 with a fragment header, carrying `data` (the fragment's bytes).
Bytes frame6_fragment(const IpAddr& src, const IpAddr& dst, uint8_t proto, const Bytes& data,
                      uint16_t offset_units, bool more, uint32_t id) {
  Bytes frag = {proto, 0};
  put16(frag, static_cast<uint32_t>(offset_units) << 3 | (more ? 1 : 0));
  put32(frag, id);
  append(frag, data);
  return frame(src, dst, 44, frag);
}

Bytes tcp_segment(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                  const Bytes& data) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put32(b, seq);
  put32(b, ack);
  put8(b, 5 << 4);
  put8(b, flags);
  put16(b, 64240);
  put16(b, 0);
  put16(b, 0);
  append(b, data);
  return b;
}

Bytes udp_datagram(uint16_t sport, uint16_t dport, const Bytes& data) {
  Bytes b;
  put16(b, sport);
  put16(b, dport);
  put16(b, static_cast<uint32_t>(8 + data.size()));
  put16(b, 0);
  append(b, data);
  return b;
}

Bytes icmp_echo(uint8_t type, uint16_t seq) {
  Bytes b = {type, 0, 0, 0};
  put16(b, 0x4242);
  put16(b, seq);
  append(b, Bytes(32, 0x61));
  return b;
}

// One TCP connection, with sequence numbers that follow the data (nDPI skips what looks like a
// retransmission).
class TcpConversation {
 public:
  TcpConversation(IpAddr client, uint16_t client_port, IpAddr server, uint16_t server_port,
                  FrameOptions o = {})
      : client_(client), server_(server), cport_(client_port), sport_(server_port), o_(o) {}

  Bytes syn() { return from_client(kSyn, {}, 1); }
  Bytes syn_ack() { return from_server(kSyn | kAck, {}, 1); }
  Bytes ack() { return from_client(kAck, {}, 0); }
  Bytes client_data(const Bytes& d) { return from_client(kPsh | kAck, d, d.size()); }
  Bytes server_data(const Bytes& d) { return from_server(kPsh | kAck, d, d.size()); }
  Bytes client_fin() { return from_client(kFin | kAck, {}, 1); }
  Bytes server_fin() { return from_server(kFin | kAck, {}, 1); }
  Bytes server_ack() { return from_server(kAck, {}, 0); }
  std::vector<Bytes> handshake() { return {syn(), syn_ack(), ack()}; }

 private:
  Bytes from_client(uint8_t flags, const Bytes& d, uint32_t advance) {
    Bytes b = frame(client_, server_, kTcp,
                    tcp_segment(cport_, sport_, cseq_, flags & kAck ? sseq_ : 0, flags, d), o_);
    cseq_ += advance;
    return b;
  }
  Bytes from_server(uint8_t flags, const Bytes& d, uint32_t advance) {
    Bytes b =
        frame(server_, client_, kTcp, tcp_segment(sport_, cport_, sseq_, cseq_, flags, d), o_);
    sseq_ += advance;
    return b;
  }
  IpAddr client_, server_;
  uint16_t cport_, sport_;
  FrameOptions o_;
  uint32_t cseq_ = 1000;
  uint32_t sseq_ = 50000;
};

// --- application payloads ---------------------------------------------------------------------

Bytes http_get() {
  return text_bytes(
      "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/7.81.0\r\n"
      "Accept: */*\r\n\r\n");
}
Bytes http_reply() {
  return text_bytes("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello");
}

Bytes dns_name(const std::string& name) {
  Bytes b;
  size_t start = 0;
  while (start < name.size()) {
    size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    put8(b, static_cast<uint32_t>(dot - start));
    append(b, std::string_view(name).substr(start, dot - start));
    start = dot + 1;
  }
  put8(b, 0);
  return b;
}

Bytes dns_query(uint16_t id, const std::string& name) {
  Bytes b;
  put16(b, id);
  put16(b, 0x0100);  // standard query, recursion desired
  put16(b, 1);
  put16(b, 0);
  put16(b, 0);
  put16(b, 0);
  append(b, dns_name(name));
  put16(b, 1);  // A
  put16(b, 1);  // IN
  return b;
}

Bytes dns_answer(uint16_t id, const std::string& name) {
  Bytes b;
  put16(b, id);
  put16(b, 0x8180);
  put16(b, 1);
  put16(b, 1);
  put16(b, 0);
  put16(b, 0);
  append(b, dns_name(name));
  put16(b, 1);
  put16(b, 1);
  put16(b, 0xc00c);  // the name above
  put16(b, 1);
  put16(b, 1);
  put32(b, 300);
  put16(b, 4);
  put32(b, 0x5db8d822);
  return b;
}

Bytes tls_client_hello(const std::string& sni) {
  Bytes ext;
  Bytes sn;
  put16(sn, static_cast<uint32_t>(sni.size() + 3));
  put8(sn, 0);
  put16(sn, static_cast<uint32_t>(sni.size()));
  append(sn, sni);
  put16(ext, 0x0000);
  put16(ext, static_cast<uint32_t>(sn.size()));
  append(ext, sn);
  put16(ext, 0x000a);  // supported groups: x25519, secp256r1
  put16(ext, 6);
  put16(ext, 4);
  put16(ext, 0x001d);
  put16(ext, 0x0017);
  put16(ext, 0x000b);  // EC point formats: uncompressed
  put16(ext, 2);
  put8(ext, 1);
  put8(ext, 0);
  put16(ext, 0x000d);  // signature algorithms
  put16(ext, 6);
  put16(ext, 4);
  put16(ext, 0x0403);
  put16(ext, 0x0804);
  put16(ext, 0x0010);  // ALPN: h2, http/1.1
  put16(ext, 14);
  put16(ext, 12);
  put8(ext, 2);
  append(ext, "h2");
  put8(ext, 8);
  append(ext, "http/1.1");
  put16(ext, 0x002b);  // supported versions: TLS 1.3, 1.2
  put16(ext, 5);
  put8(ext, 4);
  put16(ext, 0x0304);
  put16(ext, 0x0303);

  Bytes body;
  put16(body, 0x0303);
  for (int i = 0; i < 32; ++i) put8(body, 0x10 + i);  // random
  put8(body, 32);
  for (int i = 0; i < 32; ++i) put8(body, 0x80 + i);  // session id
  put16(body, 6);
  put16(body, 0x1301);
  put16(body, 0x1302);
  put16(body, 0xc02f);
  put8(body, 1);
  put8(body, 0);
  put16(body, static_cast<uint32_t>(ext.size()));
  append(body, ext);

  Bytes hs;
  put8(hs, 1);  // ClientHello
  put24(hs, static_cast<uint32_t>(body.size()));
  append(hs, body);
  Bytes record;
  put8(record, 0x16);
  put16(record, 0x0301);
  put16(record, static_cast<uint32_t>(hs.size()));
  append(record, hs);
  return record;
}

// A TLS 1.3 ServerHello (TLS 1.2 on the record, 1.3 in supported_versions).
Bytes tls13_server_hello() {
  Bytes body;
  put16(body, 0x0303);
  for (int i = 0; i < 32; ++i) put8(body, 0x40 + i);  // random
  put8(body, 32);
  for (int i = 0; i < 32; ++i) put8(body, 0x80 + i);  // the client's session id
  put16(body, 0x1301);
  put8(body, 0);
  Bytes ext;
  put16(ext, 0x002b);  // supported versions: TLS 1.3
  put16(ext, 2);
  put16(ext, 0x0304);
  put16(ext, 0x0033);  // key share: x25519
  put16(ext, 36);
  put16(ext, 0x001d);
  put16(ext, 32);
  for (int i = 0; i < 32; ++i) put8(ext, 0x20 + i);
  put16(body, static_cast<uint32_t>(ext.size()));
  append(body, ext);
  Bytes hs;
  put8(hs, 2);  // ServerHello
  put24(hs, static_cast<uint32_t>(body.size()));
  append(hs, body);
  Bytes record;
  put8(record, 0x16);
  put16(record, 0x0303);
  put16(record, static_cast<uint32_t>(hs.size()));
  append(record, hs);
  return record;
}

// --- running the processor --------------------------------------------------------------------

struct Record {
  collect::ExportedFlow flow;
  std::string label;
  bool guessed;
};

bool valid_label(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

constexpr int64_t kT0 = 1'600'000'000'000'000;  // µs

// A processor, the records it gave, and a clock: each feed() is 1 ms after the previous one
// unless told otherwise.
class Harness {
 public:
  explicit Harness(ProcessorOptions o = {})
      : processor_(o, core::LinkType::kEthernet, services_,
                   [this](const collect::ExportedFlow& f, std::string_view label, bool guessed) {
                     EXPECT_TRUE(valid_label(std::string(label))) << label;
                     records.push_back({f, std::string(label), guessed});
                   }) {}

  // Feeds a packet at time now (then moves the clock on by step_us); returns the records it
  // caused.
  std::vector<Record> feed(const Bytes& b, int64_t step_us = 1000) {
    const size_t before = records.size();
    // An exact-size copy: the sanitizer build catches a read past the capture.
    std::vector<uint8_t> copy(b);
    processor_.process(now_us, copy.data(), static_cast<uint32_t>(copy.size()),
                       static_cast<uint32_t>(copy.size()));
    now_us += step_us;
    sent_ip_bytes += ip_length(b);
    return std::vector<Record>(records.begin() + static_cast<long>(before), records.end());
  }
  Record feed_one(const Bytes& b) {
    auto r = feed(b);
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? Record{} : r[0];
  }
  void finish() { processor_.finish(); }
  void advance(int64_t time_us) { processor_.advance(time_us); }
  const ProcessorStats& stats() const { return processor_.stats(); }

  // The IP length of an Ethernet frame written by frame() (with any VLAN tags).
  static uint64_t ip_length(const Bytes& b) {
    size_t off = 12;
    while (off + 2 <= b.size() && b[off] == 0x81 && b[off + 1] == 0x00) off += 4;
    if (off + 2 > b.size()) return 0;
    const uint16_t type = static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
    off += 2;
    if (type == 0x0800 && off + 4 <= b.size()) return b[off + 2] << 8 | b[off + 3];
    if (type == 0x86dd && off + 6 <= b.size()) return 40u + (b[off + 4] << 8 | b[off + 5]);
    return 0;
  }

  collect::ServiceTable services_;
  PacketProcessor processor_;
  std::vector<Record> records;
  int64_t now_us = kT0;
  uint64_t sent_ip_bytes = 0;
};

ProcessorOptions flows_mode() {
  ProcessorOptions o;
  o.mode = RecordMode::kFlows;
  return o;
}

const IpAddr kClient = v4(192, 168, 1, 10);
const IpAddr kServer = v4(93, 184, 216, 34);

// --- labels in packets mode -------------------------------------------------------------------

TEST(PacketProcessor, HttpGetIsDetected) {
  Harness h;
  TcpConversation c(kClient, 40000, kServer, 80);
  const Record syn = h.feed_one(c.syn());
  EXPECT_EQ(syn.label, "HTTP");  // nDPI's guess for port 80
  EXPECT_TRUE(syn.guessed);
  EXPECT_TRUE(h.feed_one(c.syn_ack()).guessed);
  EXPECT_TRUE(h.feed_one(c.ack()).guessed);
  const Record get = h.feed_one(c.client_data(http_get()));
  EXPECT_EQ(get.label, "HTTP");
  EXPECT_FALSE(get.guessed);
  const Record reply = h.feed_one(c.server_data(http_reply()));
  EXPECT_EQ(reply.label, "HTTP");
  EXPECT_FALSE(reply.guessed);
  EXPECT_EQ(h.stats().guessed_records, 3u);
  EXPECT_EQ(h.stats().records, 5u);
  EXPECT_EQ(h.stats().flows_detected, 1u);
  EXPECT_EQ(h.stats().flows_created, 1u);
  // The record is the packet as sent.
  EXPECT_EQ(get.flow.src, kClient);
  EXPECT_EQ(get.flow.dst, kServer);
  EXPECT_EQ(get.flow.src_port, 40000);
  EXPECT_EQ(get.flow.dst_port, 80);
  EXPECT_EQ(get.flow.ip_protocol, kTcp);
  EXPECT_EQ(get.flow.tcp_flags, kPsh | kAck);
  EXPECT_EQ(get.flow.packets, 1u);
  EXPECT_EQ(get.flow.bytes, 40u + http_get().size());
  EXPECT_EQ(get.flow.start, (kT0 + 3000) / 1000);
  EXPECT_EQ(get.flow.end, get.flow.start);
  EXPECT_EQ(get.flow.received, get.flow.start);
  EXPECT_EQ(reply.flow.src, kServer);
  EXPECT_EQ(reply.flow.src_port, 80);
}

TEST(PacketProcessor, HttpOnAnOddPortIsStillHttp) {
  Harness h;
  TcpConversation c(kClient, 40001, kServer, 8999);
  for (const Bytes& p : c.handshake()) h.feed(p);
  const Record get = h.feed_one(c.client_data(http_get()));
  EXPECT_EQ(get.label, "HTTP");
  EXPECT_FALSE(get.guessed);
}

TEST(PacketProcessor, DnsQueryAndAnswer) {
  Harness h;
  const Record q = h.feed_one(
      frame(kClient, v4(8, 8, 8, 8), kUdp, udp_datagram(53000, 53, dns_query(7, "example.com"))));
  EXPECT_EQ(q.label.rfind("DNS", 0), 0u) << q.label;
  EXPECT_FALSE(q.guessed);
  const Record a = h.feed_one(
      frame(v4(8, 8, 8, 8), kClient, kUdp, udp_datagram(53, 53000, dns_answer(7, "example.com"))));
  EXPECT_EQ(a.label.rfind("DNS", 0), 0u) << a.label;
  EXPECT_FALSE(a.guessed);
  EXPECT_EQ(h.stats().flows_created, 1u);
  EXPECT_EQ(h.stats().guessed_records, 0u);
}

TEST(PacketProcessor, SshBanners) {
  Harness h;
  TcpConversation c(kClient, 50022, v4(10, 1, 1, 1), 22);
  const Record syn = h.feed_one(c.syn());
  EXPECT_EQ(syn.label, "SSH");
  EXPECT_TRUE(syn.guessed);
  h.feed(c.syn_ack());
  h.feed(c.ack());
  std::vector<Record> rs = h.feed(c.server_data(text_bytes("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n")));
  rs.push_back(h.feed_one(c.client_data(text_bytes("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n"))));
  EXPECT_EQ(rs.back().label, "SSH");
  EXPECT_FALSE(rs.back().guessed);
}

TEST(PacketProcessor, TlsClientHelloWithSni) {
  Harness h;
  TcpConversation c(kClient, 40443, kServer, 443);
  const Record syn = h.feed_one(c.syn());
  EXPECT_EQ(syn.label.rfind("TLS", 0), 0u) << syn.label;  // the guess for 443/tcp
  EXPECT_TRUE(syn.guessed);
  h.feed(c.syn_ack());
  h.feed(c.ack());
  const Record hello = h.feed_one(c.client_data(tls_client_hello("www.example.org")));
  EXPECT_EQ(hello.label.rfind("TLS", 0), 0u) << hello.label;
  EXPECT_FALSE(hello.guessed);
}

TEST(PacketProcessor, TlsToAGoogleNameNamesTheService) {
  Harness h;
  TcpConversation c(kClient, 40444, kServer, 443);
  for (const Bytes& p : c.handshake()) h.feed(p);
  const Record hello = h.feed_one(c.client_data(tls_client_hello("www.google.com")));
  EXPECT_EQ(hello.label, "TLS.Google");
  EXPECT_FALSE(hello.guessed);
}

TEST(PacketProcessor, HandshakeGuessesByPort) {
  Harness h;
  EXPECT_EQ(h.feed_one(TcpConversation(kClient, 1025, kServer, 80).syn()).label, "HTTP");
  EXPECT_EQ(h.feed_one(TcpConversation(kClient, 1026, kServer, 443).syn()).label, "TLS");
  EXPECT_EQ(h.feed_one(TcpConversation(kClient, 1027, kServer, 3306).syn()).label, "MySQL");
  // No nDPI default port: nDPI's name for that, as ndpiReader prints it (the service table,
  // which names 7627/tcp SOAP, is for --no-ndpi).
  const Record odd = h.feed_one(TcpConversation(kClient, 40000, kServer, 40001).syn());
  EXPECT_EQ(odd.label, "Unknown");
  EXPECT_TRUE(odd.guessed);
  EXPECT_EQ(h.feed_one(TcpConversation(kClient, 1028, kServer, 7627).syn()).label, "Unknown");
  EXPECT_EQ(h.stats().guessed_records, 5u);
}

TEST(PacketProcessor, GuessOverIpv6UsesDefaultPorts) {
  Harness h;
  const Record r = h.feed_one(TcpConversation(v6(1), 40000, v6(2), 443).syn());
  EXPECT_EQ(r.label, "TLS");
  EXPECT_TRUE(r.guessed);
  const Record odd =
      h.feed_one(frame(v6(1), v6(2), kUdp, udp_datagram(40000, 40001, Bytes(20, 0x55))));
  EXPECT_EQ(odd.label, "Unknown");
  EXPECT_TRUE(odd.guessed);
}

TEST(PacketProcessor, IcmpIsNamedAtOnceAndNotGuessed) {
  Harness h;
  const Record req = h.feed_one(frame(kClient, kServer, kIcmp, icmp_echo(8, 1)));
  EXPECT_EQ(req.label, "ICMP");
  EXPECT_FALSE(req.guessed);
  EXPECT_EQ(req.flow.dst_port, 8 * 256);  // type and code
  const Record rep = h.feed_one(frame(kServer, kClient, kIcmp, icmp_echo(0, 1)));
  EXPECT_EQ(rep.label, "ICMP");
  EXPECT_FALSE(rep.guessed);
  const Record v6req = h.feed_one(frame(v6(1), v6(2), 58, icmp_echo(128, 1)));
  EXPECT_EQ(v6req.label, "ICMPV6");
  EXPECT_FALSE(v6req.guessed);
  const Record gre = h.feed_one(frame(kClient, kServer, 47, Bytes(24, 0)));
  EXPECT_EQ(gre.label, "GRE");
  EXPECT_FALSE(gre.guessed);
  // A protocol nDPI has no name for: "Unknown", final.
  const Record other = h.feed_one(frame(kClient, kServer, 253, Bytes(24, 0)));
  EXPECT_EQ(other.label, "Unknown");
  EXPECT_FALSE(other.guessed);
  EXPECT_EQ(h.stats().guessed_records, 0u);
  EXPECT_EQ(h.stats().flows_detected, 4u);
  EXPECT_EQ(h.stats().flows_guessed, 1u);  // IP-253: nDPI had nothing
}

TEST(PacketProcessor, Ipv6UdpDns) {
  Harness h;
  const Record q =
      h.feed_one(frame(v6(1), v6(2), kUdp, udp_datagram(40000, 53, dns_query(9, "example.net"))));
  EXPECT_EQ(q.label.rfind("DNS", 0), 0u) << q.label;
  EXPECT_FALSE(q.guessed);
  EXPECT_TRUE(q.flow.src.is_v6);
  EXPECT_EQ(q.flow.bytes, 40u + 8 + dns_query(9, "example.net").size());
}

TEST(PacketProcessor, VlanSeparatesFlows) {
  Harness h(flows_mode());
  const Bytes payload = dns_query(1, "example.com");
  h.feed(frame(kClient, kServer, kUdp, udp_datagram(5000, 53, payload), {.vlans = {10}}));
  h.feed(frame(kClient, kServer, kUdp, udp_datagram(5000, 53, payload), {.vlans = {20}}));
  h.feed(frame(kClient, kServer, kUdp, udp_datagram(5000, 53, payload), {.vlans = {10, 7}}));
  h.feed(frame(kServer, kClient, kUdp, udp_datagram(53, 5000, payload), {.vlans = {10}}));
  EXPECT_EQ(h.stats().flows_created, 3u);
  h.finish();
  ASSERT_EQ(h.records.size(), 4u);  // VLAN 10 both ways, 20, 10/7
  for (const Record& r : h.records) EXPECT_EQ(r.label.rfind("DNS", 0), 0u) << r.label;
}

// --- fragments --------------------------------------------------------------------------------

TEST(PacketProcessor, Ipv4FragmentsJoinTheirFirstFragment) {
  Harness h;
  // A 1200-byte DNS-over-UDP datagram in two fragments: the UDP header and 792 bytes, then 416.
  Bytes dns = dns_query(3, "example.com");
  dns.resize(1200 - 8, 0);
  const Bytes datagram = udp_datagram(5353, 53, dns);
  const Bytes first(datagram.begin(), datagram.begin() + 800);
  const Bytes second(datagram.begin() + 800, datagram.end());
  const Record r1 =
      h.feed_one(frame(kClient, kServer, kUdp, first, {.vlans = {}, .ip_id = 77, .frag = 1 << 13}));
  const Record r2 =
      h.feed_one(frame(kClient, kServer, kUdp, second, {.vlans = {}, .ip_id = 77, .frag = 100}));
  // The record has no ports, as the packet has none (tshark agrees); it is in the datagram's
  // flow, with its label.
  EXPECT_EQ(r2.flow.src_port, 0);
  EXPECT_EQ(r2.flow.dst_port, 0);
  EXPECT_EQ(r2.label, r1.label);
  EXPECT_EQ(r2.guessed, r1.guessed);
  EXPECT_EQ(r2.flow.bytes, 20u + 400);
  EXPECT_EQ(h.stats().fragments, 2u);
  EXPECT_EQ(h.stats().flows_created, 1u);
  // A later fragment whose first one was never seen: its own flow, ports 0.
  const Record orphan =
      h.feed_one(frame(kClient, kServer, kUdp, second, {.vlans = {}, .ip_id = 78, .frag = 100}));
  EXPECT_EQ(orphan.flow.src_port, 0);
  EXPECT_EQ(orphan.flow.dst_port, 0);
  EXPECT_EQ(orphan.label, "Unknown");
  EXPECT_TRUE(orphan.guessed);
  EXPECT_EQ(h.stats().flows_created, 2u);
  EXPECT_EQ(h.stats().fragments, 3u);
}

TEST(PacketDecode, GivesTheFragmentIdentification) {
  core::PacketInfo info;
  const Bytes f4 =
      frame(kClient, kServer, kUdp, Bytes(16, 0), {.vlans = {}, .ip_id = 0xbeef, .frag = 3});
  ASSERT_EQ(core::decode_packet(core::LinkType::kEthernet, f4.data(), f4.size(), info),
            core::PacketStatus::kOk);
  EXPECT_EQ(info.ip_id, 0xbeefu);
  EXPECT_TRUE(info.is_fragment);
  EXPECT_FALSE(info.first_fragment);
  const Bytes f6 = frame6_fragment(v6(1), v6(2), kUdp, Bytes(16, 0), 8, false, 0xdeadbeef);
  ASSERT_EQ(core::decode_packet(core::LinkType::kEthernet, f6.data(), f6.size(), info),
            core::PacketStatus::kOk);
  EXPECT_EQ(info.ip_id, 0xdeadbeefu);
  EXPECT_EQ(info.ip_protocol, kUdp);
  EXPECT_FALSE(info.first_fragment);
  const Bytes plain6 = frame(v6(1), v6(2), kUdp, udp_datagram(1, 2, Bytes(4, 0)));
  ASSERT_EQ(core::decode_packet(core::LinkType::kEthernet, plain6.data(), plain6.size(), info),
            core::PacketStatus::kOk);
  EXPECT_EQ(info.ip_id, 0u);
}

// Flows mode: a datagram sent last fragment first (as Linux once did) is still one flow, as
// reassembly sees it; fragments whose first never comes count without ports, none lost.
TEST(PacketProcessor, FragmentsBeforeTheirFirstAreHeldForItsFlow) {
  Harness h(flows_mode());
  Bytes payload(1200 - 8, 0x42);
  const Bytes datagram = udp_datagram(40500, 42002, payload);
  const Bytes first(datagram.begin(), datagram.begin() + 800);
  const Bytes second(datagram.begin() + 800, datagram.end());
  EXPECT_TRUE(h.feed(frame(kServer, kClient, kUdp, second, {.vlans = {}, .ip_id = 5, .frag = 100})).empty());
  EXPECT_TRUE(h.feed(frame(kServer, kClient, kUdp, first, {.vlans = {}, .ip_id = 5, .frag = 1 << 13})).empty());
  // A lone later fragment of another datagram.
  EXPECT_TRUE(h.feed(frame(kServer, kClient, kUdp, second, {.vlans = {}, .ip_id = 6, .frag = 100})).empty());
  h.finish();
  ASSERT_EQ(h.records.size(), 2u);
  uint64_t bytes = 0;
  for (const Record& r : h.records) {
    bytes += r.flow.bytes;
    if (r.flow.src_port == 40500) {
      EXPECT_EQ(r.flow.dst_port, 42002);
      EXPECT_EQ(r.flow.packets, 2u);
      EXPECT_EQ(r.flow.bytes, 20u + 800 + 20 + 400);
      EXPECT_EQ(r.flow.start, kT0 / 1000);  // the held fragment's time
    } else {
      EXPECT_EQ(r.flow.src_port, 0);
      EXPECT_EQ(r.flow.packets, 1u);
    }
  }
  EXPECT_EQ(bytes, h.sent_ip_bytes);
  EXPECT_EQ(h.stats().fragments, 3u);
}

TEST(PacketProcessor, Ipv6FragmentsJoinTheirFirstFragment) {
  Harness h(flows_mode());
  Bytes data(1000, 0x33);
  const Bytes datagram = udp_datagram(40000, 40001, data);
  const Bytes first(datagram.begin(), datagram.begin() + 512);
  const Bytes second(datagram.begin() + 512, datagram.end());
  h.feed(frame6_fragment(v6(1), v6(2), kUdp, first, 0, true, 0xfeed));
  h.feed(frame6_fragment(v6(1), v6(2), kUdp, second, 64, false, 0xfeed));
  EXPECT_EQ(h.stats().fragments, 2u);
  EXPECT_EQ(h.stats().flows_created, 1u);
  h.finish();
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].flow.packets, 2u);
  EXPECT_EQ(h.records[0].flow.bytes, h.sent_ip_bytes);
  EXPECT_EQ(h.records[0].flow.src_port, 40000);
}

// --- what is not a packet to count ------------------------------------------------------------

TEST(PacketProcessor, NonIpTruncatedAndBadHeadersAreCountedNotEmitted) {
  Harness h;
  Bytes arp = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 2, 3, 4, 5, 0x08, 0x06};
  arp.resize(60, 0);
  EXPECT_TRUE(h.feed(arp).empty());
  EXPECT_TRUE(h.feed(Bytes{0x00, 0x11, 0x22}).empty());  // cut in the Ethernet header
  Bytes cut = TcpConversation(kClient, 1, kServer, 2).syn();
  cut.resize(14 + 10);  // cut in the IP header
  EXPECT_TRUE(h.feed(cut).empty());
  Bytes bad = TcpConversation(kClient, 1, kServer, 2).syn();
  bad[14] = 0x55;  // IP version 5
  EXPECT_TRUE(h.feed(bad).empty());
  EXPECT_EQ(h.stats().packets, 4u);
  EXPECT_EQ(h.stats().not_ip, 1u);
  EXPECT_EQ(h.stats().truncated, 2u);
  EXPECT_EQ(h.stats().bad_header, 1u);
  EXPECT_EQ(h.stats().ip_packets, 0u);
  EXPECT_EQ(h.stats().records, 0u);
  EXPECT_EQ(h.stats().flows_created, 0u);
}

TEST(PacketProcessor, EveryCutOfRealPacketsAndRandomBytesIsSafe) {
  std::vector<Bytes> packets;
  TcpConversation c(kClient, 40000, kServer, 443);
  for (const Bytes& p : c.handshake()) packets.push_back(p);
  packets.push_back(c.client_data(tls_client_hello("www.example.org")));
  TcpConversation w(kClient, 40001, kServer, 80);
  for (const Bytes& p : w.handshake()) packets.push_back(p);
  packets.push_back(w.client_data(http_get()));
  packets.push_back(frame(v6(1), v6(2), kUdp, udp_datagram(5353, 53, dns_query(1, "a.example"))));
  packets.push_back(frame(kClient, kServer, kIcmp, icmp_echo(8, 1)));
  for (RecordMode mode : {RecordMode::kPackets, RecordMode::kFlows}) {
    ProcessorOptions o;
    o.mode = mode;
    Harness h(o);
    uint64_t fed = 0;
    for (const Bytes& p : packets) {
      for (size_t n = 0; n <= p.size(); ++n) {
        h.feed(Bytes(p.begin(), p.begin() + static_cast<long>(n)));
        ++fed;
      }
    }
    std::mt19937 rng(7);
    for (int i = 0; i < 3000; ++i) {
      Bytes b(rng() % 120);
      for (uint8_t& x : b) x = static_cast<uint8_t>(rng());
      if (b.size() >= 15 && i % 2 == 0) {  // make half of them IP, to reach deeper
        b[12] = i % 4 == 0 ? 0x08 : 0x86;
        b[13] = i % 4 == 0 ? 0x00 : 0xdd;
        b[14] = i % 4 == 0 ? 0x45 : 0x60;
      }
      h.feed(b);
      ++fed;
    }
    h.finish();
    const ProcessorStats& s = h.stats();
    EXPECT_EQ(s.packets, fed);
    EXPECT_EQ(s.ip_packets + s.not_ip + s.truncated + s.bad_header, s.packets);
    if (mode == RecordMode::kPackets) {
      EXPECT_EQ(s.records, s.ip_packets);
    }
    EXPECT_EQ(s.flows_detected + s.flows_guessed, s.flows_created);
    EXPECT_EQ(s.flows_active, 0u);
  }
}

// --- flows mode -------------------------------------------------------------------------------

TEST(PacketProcessor, FlowsModeEmitsBothDirections) {
  Harness h(flows_mode());
  TcpConversation c(kClient, 40000, kServer, 80);
  h.feed(c.syn());                      // t0
  h.feed(c.syn_ack());                  // t0 + 1 ms
  h.feed(c.ack());                      // + 2
  h.feed(c.client_data(http_get()));    // + 3
  h.feed(c.server_data(http_reply()));  // + 4
  h.feed(c.client_fin());               // + 5
  h.feed(c.server_fin());               // + 6
  h.feed(c.ack());                      // + 7
  EXPECT_TRUE(h.records.empty());       // nothing before the flow ends
  h.finish();
  ASSERT_EQ(h.records.size(), 2u);
  const Record& out = h.records[0];
  const Record& back = h.records[1];
  EXPECT_EQ(out.flow.src, kClient);
  EXPECT_EQ(out.flow.dst, kServer);
  EXPECT_EQ(out.flow.src_port, 40000);
  EXPECT_EQ(out.flow.dst_port, 80);
  EXPECT_EQ(out.flow.packets, 5u);
  EXPECT_EQ(out.flow.bytes, 5 * 40u + http_get().size());
  EXPECT_EQ(out.flow.tcp_flags, kSyn | kAck | kPsh | kFin);
  EXPECT_EQ(out.flow.start, kT0 / 1000);
  EXPECT_EQ(out.flow.end, kT0 / 1000 + 7);
  EXPECT_EQ(back.flow.src, kServer);
  EXPECT_EQ(back.flow.src_port, 80);
  EXPECT_EQ(back.flow.dst_port, 40000);
  EXPECT_EQ(back.flow.packets, 3u);
  EXPECT_EQ(back.flow.bytes, 3 * 40u + http_reply().size());
  EXPECT_EQ(back.flow.tcp_flags, kSyn | kAck | kPsh | kFin);
  EXPECT_EQ(back.flow.start, kT0 / 1000 + 1);
  EXPECT_EQ(back.flow.end, kT0 / 1000 + 6);
  EXPECT_EQ(out.flow.bytes + back.flow.bytes, h.sent_ip_bytes);
  EXPECT_EQ(out.flow.packets + back.flow.packets, h.stats().ip_packets);
  for (const Record& r : h.records) {
    EXPECT_EQ(r.label, "HTTP");
    EXPECT_FALSE(r.guessed);
    EXPECT_EQ(r.flow.sampling_rate, 1u);
    EXPECT_EQ(r.flow.ip_protocol, kTcp);
  }
  EXPECT_EQ(h.stats().records, 2u);
  EXPECT_EQ(h.stats().flows_active, 0u);
}

TEST(PacketProcessor, IdleTimeoutEndsFlows) {
  ProcessorOptions o = flows_mode();
  o.idle_timeout_ms = 1000;
  Harness h(o);
  const Bytes a = frame(kClient, kServer, kUdp, udp_datagram(1000, 2000, Bytes(10, 1)));
  const Bytes b = frame(kClient, kServer, kUdp, udp_datagram(1001, 2000, Bytes(10, 1)));
  h.feed(a, 500'000);  // t0
  h.feed(b, 700'000);  // t0 + 0.5 s
  // t0 + 1.2 s: a has been idle 1.2 s, so it ends (its record goes out) before this packet
  // starts a new flow for the same key.
  EXPECT_EQ(h.feed(a).size(), 1u);
  EXPECT_EQ(h.stats().flows_idle, 1u);
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].flow.src_port, 1000);
  EXPECT_EQ(h.records[0].flow.packets, 1u);
  EXPECT_EQ(h.records[0].flow.received, (kT0 + 1'200'000) / 1000);
  EXPECT_EQ(h.stats().flows_created, 3u);
  // advance() ends flows on a quiet link.
  h.advance(kT0 + 1'600'000);  // b idle 1.1 s
  EXPECT_EQ(h.stats().flows_idle, 2u);
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[1].flow.src_port, 1001);
  EXPECT_EQ(h.records[1].flow.received, (kT0 + 1'600'000) / 1000);
  h.advance(kT0);  // time does not go back
  EXPECT_EQ(h.stats().flows_active, 1u);
  h.finish();
  EXPECT_EQ(h.records.size(), 3u);
  EXPECT_EQ(h.stats().flows_active, 0u);
}

TEST(PacketProcessor, AConversationGoingOnAfterItsFlowEndedKeepsItsDetectedLabel) {
  ProcessorOptions o;
  o.idle_timeout_ms = 1000;
  Harness h(o);
  TcpConversation c(kClient, 40000, kServer, 8999);
  for (const Bytes& p : c.handshake()) h.feed(p);
  EXPECT_EQ(h.feed_one(c.client_data(http_get())).label, "HTTP");
  h.now_us += 2'000'000;
  // The reply after the flow ended: a new flow, which starts with the detected name.
  const Record late = h.feed_one(c.server_data(http_reply()));
  EXPECT_EQ(h.stats().flows_idle, 1u);
  EXPECT_EQ(h.stats().flows_created, 2u);
  EXPECT_EQ(late.label, "HTTP");
  EXPECT_FALSE(late.guessed);
  EXPECT_EQ(h.stats().flows_detected, 2u);

  // Not for a flow that ended undetected: its sequel is guessed again.
  TcpConversation d(kClient, 40001, kServer, 8998);
  for (const Bytes& p : d.handshake()) h.feed(p);
  h.now_us += 2'000'000;
  const Record again = h.feed_one(d.client_data(Bytes(30, 0)));
  EXPECT_TRUE(again.guessed);
  EXPECT_EQ(again.label, "Unknown");

  // Nor after finish(): a new run forgets.
  h.finish();
  const Record fresh = h.feed_one(c.server_data(http_reply()));
  EXPECT_TRUE(fresh.guessed);
}

TEST(PacketProcessor, AnEvictedDetectedFlowKeepsItsLabel) {
  ProcessorOptions o;
  o.max_flows = 1;
  Harness h(o);
  TcpConversation c(kClient, 40000, kServer, 8999);
  for (const Bytes& p : c.handshake()) h.feed(p);
  EXPECT_FALSE(h.feed_one(c.client_data(http_get())).guessed);
  h.feed(frame(kClient, kServer, kUdp, udp_datagram(1, 2, Bytes(4, 0))));  // evicts it
  const Record back = h.feed_one(c.server_data(http_reply()));
  EXPECT_EQ(back.label, "HTTP");
  EXPECT_FALSE(back.guessed);
  EXPECT_EQ(h.stats().flows_evicted, 2u);
}

TEST(PacketProcessor, ActiveTimeoutCutsAndKeepsTheFlow) {
  ProcessorOptions o = flows_mode();
  o.active_timeout_ms = 3000;
  o.idle_timeout_ms = 10'000;
  Harness h(o);
  TcpConversation c(kClient, 40000, kServer, 80);
  for (const Bytes& p : c.handshake()) h.feed(p, 100'000);
  h.feed(c.client_data(http_get()), 100'000);
  h.feed(c.server_data(http_reply()), 100'000);
  // Then one packet each way every second for 10 s.
  for (int i = 0; i < 10; ++i) {
    h.feed(c.client_data(Bytes(100, 'x')), 0);
    h.feed(c.server_ack(), 1'000'000);
  }
  const size_t cut_records = h.records.size();
  EXPECT_EQ(h.stats().flows_active_timeouts, 3u);  // at 3, 6 and 9 s
  EXPECT_EQ(cut_records, 6u);
  h.finish();
  EXPECT_EQ(h.stats().flows_created, 1u);
  uint64_t bytes = 0, packets = 0;
  for (const Record& r : h.records) {
    bytes += r.flow.bytes;
    packets += r.flow.packets;
    EXPECT_EQ(r.label, "HTTP");  // nDPI's state survived the cuts
    EXPECT_FALSE(r.guessed);
    EXPECT_LE(r.flow.end - r.flow.start, 3000);
  }
  EXPECT_EQ(bytes, h.sent_ip_bytes);
  EXPECT_EQ(packets, h.stats().ip_packets);
  // Each cut's records start where the previous period ended.
  EXPECT_EQ(h.records[0].flow.start, kT0 / 1000);
  EXPECT_GE(h.records[2].flow.start, kT0 / 1000 + 3000);
}

TEST(PacketProcessor, EvictsTheLeastRecentlySeenFlowFirst) {
  ProcessorOptions o = flows_mode();
  o.max_flows = 4;
  Harness h(o);
  auto packet = [](uint16_t port) {
    return frame(kClient, kServer, kUdp, udp_datagram(port, 9999, Bytes(port % 50, 0)));
  };
  for (uint16_t p = 1; p <= 4; ++p) h.feed(packet(p));
  h.feed(packet(1));  // 1 is now the newest; 2 the oldest
  h.feed(packet(5));  // evicts 2
  h.feed(packet(6));  // evicts 3
  EXPECT_EQ(h.stats().flows_evicted, 2u);
  EXPECT_EQ(h.stats().flows_active, 4u);
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[0].flow.src_port, 2);
  EXPECT_EQ(h.records[1].flow.src_port, 3);
  for (uint16_t p = 7; p <= 20; ++p) h.feed(packet(p));
  h.finish();
  EXPECT_EQ(h.stats().flows_evicted, 16u);  // 20 flows through a table of 4
  uint64_t bytes = 0;
  for (const Record& r : h.records) bytes += r.flow.bytes;
  EXPECT_EQ(bytes, h.sent_ip_bytes);
  EXPECT_EQ(h.stats().flows_created, 20u);
  EXPECT_EQ(h.records.size(), 20u);
}

TEST(PacketProcessor, GivesUpAfterTheUdpLimitWithAFinalGuess) {
  ProcessorOptions o;
  o.ndpi_max_packets_udp = 5;
  Harness h(o);
  auto packet = [&] {
    return frame(kClient, kServer, kUdp, udp_datagram(40000, 161, Bytes(40, 0xee)));  // not SNMP
  };
  for (int i = 0; i < 5; ++i) {
    const Record r = h.feed_one(packet());
    EXPECT_EQ(r.label, "SNMP");
    EXPECT_TRUE(r.guessed);
  }
  EXPECT_EQ(h.stats().flows_guessed, 0u);
  // Over the limit: nDPI gives up; its SNMP dissector has ruled SNMP out, so its last word is
  // "Unknown" (what ndpiReader prints for the flow), final.
  const Record sixth = h.feed_one(packet());
  EXPECT_EQ(sixth.label, "Unknown");
  EXPECT_TRUE(sixth.guessed);
  EXPECT_EQ(h.stats().flows_guessed, 1u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(h.feed_one(packet()).guessed);
  h.finish();
  EXPECT_EQ(h.stats().flows_guessed, 1u);
  EXPECT_EQ(h.stats().flows_detected, 0u);
  EXPECT_EQ(h.stats().guessed_records, 9u);
}

TEST(PacketProcessor, UndetectedFlowsGetTheGiveUpAnswerWhenTheyEnd) {
  Harness h(flows_mode());
  TcpConversation c(kClient, 40000, kServer, 443);
  for (const Bytes& p : c.handshake()) h.feed(p);
  h.finish();
  ASSERT_EQ(h.records.size(), 2u);
  EXPECT_EQ(h.records[0].label, "TLS");
  EXPECT_TRUE(h.records[0].guessed);
  EXPECT_EQ(h.stats().flows_guessed, 1u);
  EXPECT_EQ(h.stats().guessed_records, 2u);
}

TEST(PacketProcessor, WithoutNdpiTheServiceTableNames) {
  ProcessorOptions o;
  o.ndpi = false;
  Harness h(o);
  TcpConversation web(kClient, 40000, kServer, 443);
  EXPECT_EQ(h.feed_one(web.syn()).label, "HTTPS");
  EXPECT_EQ(h.feed_one(web.syn_ack()).label, "HTTPS");
  const Record get =
      h.feed_one(TcpConversation(kClient, 40001, kServer, 8999).client_data(http_get()));
  EXPECT_EQ(get.label, "TCP");  // no dissection
  EXPECT_FALSE(get.guessed);
  EXPECT_EQ(h.feed_one(frame(kClient, kServer, kIcmp, icmp_echo(8, 1))).label, "ICMP");
  EXPECT_EQ(h.feed_one(frame(v6(1), v6(2), kUdp, udp_datagram(5000, 53, Bytes(12, 0)))).label,
            "DNS");
  h.finish();
  EXPECT_EQ(h.stats().guessed_records, 0u);
  EXPECT_EQ(h.stats().flows_detected + h.stats().flows_guessed, 0u);
}

TEST(PacketProcessor, OlderPacketsDoNotTurnTheClockBack) {
  ProcessorOptions o = flows_mode();
  o.idle_timeout_ms = 1000;
  Harness h(o);
  const Bytes a = frame(kClient, kServer, kUdp, udp_datagram(1, 2, Bytes(4, 0)));
  h.now_us = kT0 + 5'000'000;
  h.feed(a);
  h.now_us = kT0;  // a packet from 5 s earlier
  h.feed(a);
  EXPECT_EQ(h.stats().flows_idle, 0u);
  EXPECT_EQ(h.stats().flows_created, 1u);
  h.finish();
  ASSERT_EQ(h.records.size(), 1u);
  EXPECT_EQ(h.records[0].flow.packets, 2u);
  EXPECT_LE(h.records[0].flow.start, h.records[0].flow.end);
}

TEST(PacketProcessor, FinishThenMorePackets) {
  Harness h;
  TcpConversation c(kClient, 40000, kServer, 80);
  for (const Bytes& p : c.handshake()) h.feed(p);
  h.finish();
  EXPECT_EQ(h.stats().flows_active, 0u);
  for (const Bytes& p : TcpConversation(kClient, 40001, kServer, 80).handshake()) h.feed(p);
  EXPECT_EQ(h.feed_one(c.client_data(http_get())).label, "HTTP");
  h.finish();
  EXPECT_EQ(h.stats().flows_created, 3u);
}

// --- against a plain map ----------------------------------------------------------------------

// Random traffic over few hosts and ports, random sizes, time gaps and VLANs, through a small
// table with short timeouts: whatever ends how, flows mode hands out exactly the bytes and
// packets of each direction.
TEST(PacketProcessor, FlowsModeLosesNothingAgainstAPlainMap) {
  for (int round = 0; round < 6; ++round) {
    std::mt19937 rng(100 + round);
    ProcessorOptions o = flows_mode();
    o.ndpi = round % 2 == 0;
    o.max_flows = 1 + rng() % 40;
    o.idle_timeout_ms = 50 + rng() % 500;
    o.active_timeout_ms = 100 + rng() % 1000;
    Harness h(o);
    using Key = std::tuple<IpAddr, IpAddr, uint16_t, uint16_t, uint8_t>;
    auto less = [](const Key& a, const Key& b) {
      auto t = [](const Key& k) {
        return std::make_tuple(std::get<0>(k).bits, std::get<0>(k).is_v6, std::get<1>(k).bits,
                               std::get<1>(k).is_v6, std::get<2>(k), std::get<3>(k),
                               std::get<4>(k));
      };
      return t(a) < t(b);
    };
    std::map<Key, std::pair<uint64_t, uint64_t>, decltype(less)> sent(less), got(less);
    const IpAddr hosts[] = {v4(10, 0, 0, 1), v4(10, 0, 0, 2), v4(10, 0, 0, 3), v6(1), v6(2)};
    for (int i = 0; i < 4000; ++i) {
      const bool six = rng() % 4 == 0;
      const IpAddr src = six ? hosts[3 + rng() % 2] : hosts[rng() % 3];
      const IpAddr dst = six ? hosts[3 + rng() % 2] : hosts[rng() % 3];
      const uint16_t sport = static_cast<uint16_t>(1 + rng() % 6);
      const uint16_t dport = static_cast<uint16_t>(1 + rng() % 6);
      const uint8_t proto = rng() % 3 == 0 ? kTcp : kUdp;
      Bytes data(rng() % 200);
      for (uint8_t& x : data) x = static_cast<uint8_t>(rng());
      const Bytes l4 = proto == kTcp ? tcp_segment(sport, dport, rng(), rng(), rng() & 0x1f, data)
                                     : udp_datagram(sport, dport, data);
      const Bytes f = frame(src, dst, proto, l4);
      h.feed(f, static_cast<int64_t>(rng() % 20'000));
      auto& s = sent[Key{src, dst, sport, dport, proto}];
      s.first += Harness::ip_length(f);
      s.second += 1;
      if (i % 500 == 0) h.advance(h.now_us + static_cast<int64_t>(rng() % 100'000));
    }
    h.finish();
    for (const Record& r : h.records) {
      auto& g =
          got[Key{r.flow.src, r.flow.dst, r.flow.src_port, r.flow.dst_port, r.flow.ip_protocol}];
      g.first += r.flow.bytes;
      g.second += r.flow.packets;
      EXPECT_LE(r.flow.start, r.flow.end);
      EXPECT_GE(r.flow.packets, 1u);
    }
    EXPECT_TRUE(sent == got) << "round " << round;
    const ProcessorStats& st = h.stats();
    EXPECT_EQ(st.flows_active, 0u);
    EXPECT_EQ(st.records, h.records.size());
    if (o.ndpi) {
      EXPECT_EQ(st.flows_detected + st.flows_guessed, st.flows_created);
    }
    EXPECT_GT(st.flows_evicted + st.flows_idle, 0u) << "round " << round;
  }
}

// --- labels -----------------------------------------------------------------------------------

TEST(SanitizeLabel, KeepsTheRecordLabelRules) {
  std::string a = "Sina(Weibo)";
  sanitize_label(a);
  EXPECT_EQ(a, "Sina_Weibo_");
  std::string b(40, 'x');
  sanitize_label(b);
  EXPECT_EQ(b, std::string(32, 'x'));
  std::string c;
  sanitize_label(c);
  EXPECT_EQ(c, "Unknown");
  std::string d = "TLS.Google-1_x";
  sanitize_label(d);
  EXPECT_EQ(d, "TLS.Google-1_x");
}

TEST(NdpiClassifier, EveryProtocolNameIsALabel) {
  NdpiClassifier c;
  for (uint16_t app = 1; app < 400; ++app) {
    const std::string_view a = c.label({0, app});
    EXPECT_TRUE(valid_label(std::string(a))) << a;
    const std::string_view b = c.label({91, app});  // TLS.<app>
    EXPECT_TRUE(valid_label(std::string(b))) << b;
    EXPECT_EQ(a.data(), c.label({0, app}).data());  // cached
  }
}

// --- speed (run by hand: --gtest_also_run_disabled_tests --gtest_filter=*Throughput*) ---------

// Mixed traffic in one buffer, as a capture ring holds it: `flows` client flows (a third HTTP, a
// third TLS, a third a DNS query and answer), TCP ones 10 to 30 packets of mostly 1200-byte
// server data, interleaved as a link carries them (about 1000 flows open at a time). realistic:
// the servers answer (HTTP reply, TLS 1.3 ServerHello), so nDPI completes after a few packets;
// otherwise they never do, and nDPI sees up to 32 packets of each TCP flow.
struct Traffic {
  std::vector<uint8_t> arena;
  std::vector<std::pair<size_t, uint32_t>> packets;  // offset, size
};

Traffic mixed_traffic(int flow_count, bool realistic) {
  std::mt19937 rng(5);
  std::vector<std::vector<Bytes>> flows;
  for (int i = 0; i < flow_count; ++i) {
    const IpAddr client = v4(10, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i), 1);
    const IpAddr server = v4(93, 184, static_cast<uint8_t>(i % 7), 34);
    std::vector<Bytes> f;
    if (i % 3 == 2) {
      f.push_back(
          frame(client, server, kUdp, udp_datagram(40000, 53, dns_query(1, "example.com"))));
      f.push_back(
          frame(server, client, kUdp, udp_datagram(53, 40000, dns_answer(1, "example.com"))));
    } else {
      TcpConversation c(client, static_cast<uint16_t>(20000 + i % 30000), server,
                        i % 3 == 0 ? 80 : 443);
      for (const Bytes& p : c.handshake()) f.push_back(p);
      f.push_back(c.client_data(i % 3 == 0 ? http_get() : tls_client_hello("www.example.org")));
      if (realistic) f.push_back(c.server_data(i % 3 == 0 ? http_reply() : tls13_server_hello()));
      const int n = 10 + static_cast<int>(rng() % 20);
      for (int k = 0; k < n; ++k) {
        f.push_back(c.server_data(Bytes(1200, 0x17)));
        if (k % 2 == 1) f.push_back(c.ack());
      }
    }
    flows.push_back(std::move(f));
  }
  Traffic t;
  std::vector<size_t> next(flows.size(), 0);
  size_t remaining = 0;
  for (auto& f : flows) remaining += f.size();
  size_t lo = 0;
  while (remaining > 0) {
    const size_t i = lo + rng() % (std::min(flows.size(), lo + 1000) - lo);
    if (next[i] < flows[i].size()) {
      const Bytes& b = flows[i][next[i]++];
      t.packets.push_back({t.arena.size(), static_cast<uint32_t>(b.size())});
      t.arena.insert(t.arena.end(), b.begin(), b.end());
      --remaining;
    }
    while (lo < flows.size() && next[lo] == flows[lo].size()) ++lo;
  }
  return t;
}

// Speed, run by hand: --gtest_also_run_disabled_tests --gtest_filter=*Throughput*. The traffic
// goes through three times, an hour apart (every flow ends in between); the first pass is
// reported apart, as it warms the caches and nDPI's allocations.
TEST(PacketProcessor, DISABLED_Throughput) {
  for (bool realistic : {true, false}) {
    const Traffic traffic = mixed_traffic(20000, realistic);
    for (bool ndpi : {true, false}) {
      for (RecordMode mode : {RecordMode::kPackets, RecordMode::kFlows}) {
        ProcessorOptions o;
        o.ndpi = ndpi;
        o.mode = mode;
        collect::ServiceTable services;
        uint64_t records = 0;
        PacketProcessor p(o, core::LinkType::kEthernet, services,
                          [&](const collect::ExportedFlow&, std::string_view, bool) { ++records; });
        int64_t t = kT0;
        double seconds[3];
        for (double& s : seconds) {
          const auto start = std::chrono::steady_clock::now();
          for (const auto& [offset, size] : traffic.packets) {
            p.process(t++, traffic.arena.data() + offset, size, size);
          }
          s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          t += 3'600'000'000;
        }
        p.finish();
        const double n = static_cast<double>(traffic.packets.size());
        std::printf(
            "%s mix, ndpi=%d, %s mode: %.0f packets: first pass %.2f M packets/s, then %.2f and "
            "%.2f\n",
            realistic ? "answered" : "unanswered", ndpi,
            mode == RecordMode::kPackets ? "packets" : "flows", n, n / seconds[0] / 1e6,
            n / seconds[1] / 1e6, n / seconds[2] / 1e6);
      }
    }
  }
}

}  // namespace
}  // namespace netpulse::capture
