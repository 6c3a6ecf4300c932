// Tests for collect/netflow_decoder: datagrams written byte by byte (datagram_builder.hpp) for
// NetFlow v5, v9 and IPFIX. Record fields and every time representation to the exact ms; v5
// uptime wrap; templates (refresh, redefinition, withdrawal, held data released by a later
// template, the hold's bound), variable-length, enterprise, reduced-size and 8-byte fields,
// IPv6; sampling from options templates per exporter, domain and sampler; sequence loss per
// protocol unit with wrap, reordering and resets; exporters kept apart; and bad input: every
// truncation of valid datagrams (each in an exact-size buffer, so the sanitizer build catches a
// read past it), lying lengths and counts, and thousands of random byte flips.
#include "collect/netflow_decoder.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "datagram_builder.hpp"

namespace netpulse::collect {
namespace {

using test::netflow::Field;
using test::netflow::MessageBuilder;
using test::netflow::V5Header;
using test::netflow::V5Record;
using Datagram = std::vector<uint8_t>;

constexpr uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return uint32_t{a} << 24 | uint32_t{b} << 16 | uint32_t{c} << 8 | d;
}

const ExporterAddress kA{core::IpAddr::v4(ip4(192, 0, 2, 1)), 2055};
const ExporterAddress kB{core::IpAddr::v4(ip4(192, 0, 2, 2)), 2055};
constexpr core::TimeMs kNow = 1'700'000'300'000;
constexpr uint32_t kExportSecs = 1'700'000'000;
constexpr core::TimeMs kExportMs = core::TimeMs{kExportSecs} * 1000;

struct Decoded {
  DecodeResult result;
  std::vector<ExportedFlow> flows;
};

Decoded run(NetflowDecoder& d, const Datagram& datagram, const ExporterAddress& from = kA,
            core::TimeMs received = kNow) {
  Decoded out;
  out.result = d.decode(datagram.data(), datagram.size(), from, received, out.flows);
  EXPECT_EQ(out.result.flows, out.flows.size());
  return out;
}

ExporterStats stats_of(const NetflowDecoder& d, const ExporterAddress& from,
                       ExportProtocol protocol, uint32_t domain) {
  for (const ExporterStats& s : d.exporters()) {
    if (s.from == from && s.protocol == protocol && s.domain == domain) return s;
  }
  ADD_FAILURE() << "no such exporter";
  return {};
}

// IPFIX IE / v9 field numbers used below.
enum : uint16_t {
  kBytes = 1,
  kPackets = 2,
  kProto = 4,
  kFlags = 6,
  kSrcPort = 7,
  kSrc4 = 8,
  kInIf = 10,
  kDstPort = 11,
  kDst4 = 12,
  kOutIf = 14,
  kLast = 21,
  kFirst = 22,
  kOutBytes = 23,
  kOutPackets = 24,
  kSrc6 = 27,
  kDst6 = 28,
  kIcmp4 = 32,
  kSamplingInterval = 34,
  kSamplerId = 48,
  kSamplerMode = 49,
  kSamplerRandomInterval = 50,
  kInterfaceName = 82,
  kOctetTotal = 85,
  kPacketTotal = 86,
  kIcmp6 = 139,
  kMeteringProcess = 143,
  kDomainId = 149,
  kStartSec = 150,
  kEndSec = 151,
  kStartMs = 152,
  kEndMs = 153,
  kStartUs = 154,
  kEndUs = 155,
  kStartNs = 156,
  kEndNs = 157,
  kStartDelta = 158,
  kEndDelta = 159,
  kSystemInit = 160,
  kSelectorId = 302,
  kPacketInterval = 305,
  kPacketSpace = 306,
};

// A softflowd-like v9 IPv4 template (id 256) and a data set of `n` flows for it.
MessageBuilder& v9_template_256(MessageBuilder& m) {
  return m.template_set(256, {{kSrc4, 4},
                              {kDst4, 4},
                              {kLast, 4},
                              {kFirst, 4},
                              {kBytes, 4},
                              {kPackets, 4},
                              {kInIf, 2},
                              {kOutIf, 2},
                              {kSrcPort, 2},
                              {kDstPort, 2},
                              {kFlags, 1},
                              {kProto, 1}});
}

MessageBuilder& v9_data_256(MessageBuilder& m, int n, uint32_t first_bytes = 1000) {
  m.begin_set(256);
  for (int i = 0; i < n; ++i) {
    m.ip4(10, 0, 0, static_cast<uint8_t>(1 + i)).ip4(10, 0, 1, 1);
    m.u32(350'000).u32(300'000).u32(first_bytes + i).u32(10 + i);
    m.u16(3).u16(4).u16(40000 + i).u16(443).u8(0x1b).u8(6);
  }
  return m.end_set();
}

// ---- NetFlow v5.

TEST(NetflowV5, RecordFieldsAndTimesExact) {
  NetflowDecoder d;
  V5Header h;
  h.sys_uptime = 100'000;
  h.unix_secs = kExportSecs;
  h.unix_nsecs = 250'999'999;  // 250 ms and a fraction: truncated to the ms
  h.flow_sequence = 77;
  V5Record tcp;
  tcp.src = ip4(10, 0, 0, 1);
  tcp.dst = ip4(192, 168, 1, 2);
  tcp.input = 3;
  tcp.output = 7;
  tcp.packets = 12;
  tcp.bytes = 3456;
  tcp.first = 40'000;
  tcp.last = 99'000;
  tcp.src_port = 51000;
  tcp.dst_port = 443;
  tcp.tcp_flags = 0x1b;
  tcp.protocol = 6;
  V5Record icmp = tcp;
  icmp.protocol = 1;
  icmp.src_port = 0;
  icmp.dst_port = 0x0800;  // echo request: type 8, code 0
  icmp.first = icmp.last = 100'000;

  Decoded r = run(d, test::netflow::v5_datagram(h, {tcp, icmp}));
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  ASSERT_EQ(r.flows.size(), 2u);
  const ExportedFlow& f = r.flows[0];
  const core::TimeMs export_ms = kExportMs + 250;
  EXPECT_EQ(f.start, export_ms - 60'000);
  EXPECT_EQ(f.end, export_ms - 1'000);
  EXPECT_EQ(f.received, kNow);
  EXPECT_EQ(f.src, core::IpAddr::v4(ip4(10, 0, 0, 1)));
  EXPECT_EQ(f.dst, core::IpAddr::v4(ip4(192, 168, 1, 2)));
  EXPECT_EQ(f.exporter, kA.address);
  EXPECT_EQ(f.bytes, 3456u);
  EXPECT_EQ(f.packets, 12u);
  EXPECT_EQ(f.sampling_rate, 1u);
  EXPECT_EQ(f.input_if, 3u);
  EXPECT_EQ(f.output_if, 7u);
  EXPECT_EQ(f.domain, 0u);
  EXPECT_EQ(f.src_port, 51000);
  EXPECT_EQ(f.dst_port, 443);
  EXPECT_EQ(f.ip_protocol, 6);
  EXPECT_EQ(f.tcp_flags, 0x1b);
  EXPECT_EQ(f.protocol, ExportProtocol::kNetflowV5);
  EXPECT_EQ(r.flows[1].dst_port, 0x0800);
  EXPECT_EQ(r.flows[1].ip_protocol, 1);
  EXPECT_EQ(r.flows[1].start, export_ms);

  const ExporterStats s = stats_of(d, kA, ExportProtocol::kNetflowV5, 0);
  EXPECT_EQ(s.datagrams, 1u);
  EXPECT_EQ(s.flows, 2u);
  EXPECT_EQ(s.malformed, 0u);
  EXPECT_EQ(s.sampling_rate, 0u);
}

TEST(NetflowV5, UptimeWrapAround) {
  NetflowDecoder d;
  V5Header h;
  h.sys_uptime = 5'000;  // wrapped 5 s ago
  h.unix_secs = kExportSecs;
  V5Record before;
  before.first = 0xFFFFF000u;  // 4096 ms before the wrap
  before.last = 4'000;
  before.bytes = 1;
  V5Record after_header = before;
  after_header.first = 5'100;  // a clock a little ahead of the header's
  after_header.last = 5'100;
  Decoded r = run(d, test::netflow::v5_datagram(h, {before, after_header}));
  ASSERT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(r.flows[0].start, kExportMs - 9'096);
  EXPECT_EQ(r.flows[0].end, kExportMs - 1'000);
  EXPECT_EQ(r.flows[1].start, kExportMs + 100);
}

TEST(NetflowV5, SamplingIntervalFromHeader) {
  NetflowDecoder d;
  V5Header h;
  h.sampling = (1u << 14) | 100;  // mode 1, 1 in 100
  V5Record rec;
  rec.bytes = 1500;
  rec.packets = 1;
  Decoded r = run(d, test::netflow::v5_datagram(h, {rec}));
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].sampling_rate, 100u);
  EXPECT_EQ(r.flows[0].scaled_bytes(), 150'000u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV5, 0).sampling_rate, 100u);
}

TEST(NetflowV5, LyingCountKeepsRecordsPresent) {
  NetflowDecoder d;
  V5Header h;
  h.count = 3;  // only two present
  Datagram g = test::netflow::v5_datagram(h, {V5Record{}, V5Record{}});
  Decoded r = run(d, g);
  EXPECT_EQ(r.result.status, DecodeStatus::kBadLength);
  EXPECT_EQ(r.flows.size(), 2u);
  h.count = 31;  // more than v5 allows
  std::vector<V5Record> many(31);
  r = run(d, test::netflow::v5_datagram(h, many));
  EXPECT_EQ(r.result.status, DecodeStatus::kBadLength);
  EXPECT_EQ(r.flows.size(), 30u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV5, 0).malformed, 2u);
}

// ---- NetFlow v9 templates.

TEST(NetflowV9, TemplateThenDataInSameAndLaterDatagrams) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::v9(360'000, kExportSecs, 1, 42);
  v9_template_256(m);
  v9_data_256(m, 2);
  Decoded r = run(d, m.build());
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  ASSERT_EQ(r.flows.size(), 2u);
  const ExportedFlow& f = r.flows[1];
  EXPECT_EQ(f.src, core::IpAddr::v4(ip4(10, 0, 0, 2)));
  EXPECT_EQ(f.dst, core::IpAddr::v4(ip4(10, 0, 1, 1)));
  EXPECT_EQ(f.start, kExportMs - 60'000);
  EXPECT_EQ(f.end, kExportMs - 10'000);
  EXPECT_EQ(f.bytes, 1001u);
  EXPECT_EQ(f.packets, 11u);
  EXPECT_EQ(f.input_if, 3u);
  EXPECT_EQ(f.output_if, 4u);
  EXPECT_EQ(f.src_port, 40001);
  EXPECT_EQ(f.dst_port, 443);
  EXPECT_EQ(f.tcp_flags, 0x1b);
  EXPECT_EQ(f.ip_protocol, 6);
  EXPECT_EQ(f.domain, 42u);
  EXPECT_EQ(f.protocol, ExportProtocol::kNetflowV9);
  EXPECT_EQ(f.sampling_rate, 1u);

  MessageBuilder later = MessageBuilder::v9(420'000, kExportSecs + 60, 2, 42);
  v9_data_256(later, 3);
  r = run(d, later.build());
  ASSERT_EQ(r.flows.size(), 3u);
  EXPECT_EQ(r.flows[0].end, kExportMs + 60'000 - 70'000);
  const ExporterStats s = stats_of(d, kA, ExportProtocol::kNetflowV9, 42);
  EXPECT_EQ(s.datagrams, 2u);
  EXPECT_EQ(s.flows, 5u);
  EXPECT_EQ(s.templates, 1u);
  EXPECT_EQ(s.template_misses, 0u);
  EXPECT_EQ(s.lost, 0u);
}

TEST(NetflowV9, DataBeforeTemplateIsHeldAndDecodedWhenTheTemplateArrives) {
  NetflowDecoder d;
  MessageBuilder early = MessageBuilder::v9(360'000, kExportSecs, 1, 0);
  v9_data_256(early, 2);
  Decoded r = run(d, early.build(), kA, kNow - 5'000);
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  EXPECT_EQ(r.flows.size(), 0u);
  EXPECT_EQ(r.result.held, 1u);
  EXPECT_EQ(r.result.template_misses, 1u);

  // The template comes in a later datagram with other header times: the held records keep
  // their own datagram's times and arrival.
  MessageBuilder later = MessageBuilder::v9(999'000, kExportSecs + 500, 2, 0);
  v9_template_256(later);
  r = run(d, later.build());
  ASSERT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(r.result.flows, 2u);
  EXPECT_EQ(r.flows[0].start, kExportMs - 60'000);
  EXPECT_EQ(r.flows[0].received, kNow - 5'000);
  EXPECT_EQ(r.flows[1].bytes, 1001u);
  const ExporterStats s = stats_of(d, kA, ExportProtocol::kNetflowV9, 0);
  EXPECT_EQ(s.template_misses, 1u);
  EXPECT_EQ(s.flows, 2u);
  EXPECT_EQ(s.held_dropped, 0u);
  EXPECT_EQ(s.malformed, 0u);
}

TEST(NetflowV9, DataBeforeTemplateInOneDatagram) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::v9(360'000, kExportSecs, 1, 0);
  v9_data_256(m, 3);
  v9_template_256(m);
  Decoded r = run(d, m.build());
  EXPECT_EQ(r.result.held, 1u);
  EXPECT_EQ(r.flows.size(), 3u);
}

TEST(NetflowV9, FullHoldDropsTheOldestAndCounts) {
  // One data set of 2 records: 2 * 34 bytes of body.
  const size_t set_cost = 2 * 34 + kHeldSetOverhead;
  NetflowDecoderOptions o;
  o.max_held_bytes_per_exporter = 2 * set_cost + set_cost / 2;
  NetflowDecoder d(o);
  for (uint32_t i = 0; i < 3; ++i) {
    MessageBuilder m = MessageBuilder::v9(360'000, kExportSecs, i, 0);
    v9_data_256(m, 2, 1000 * (i + 1));
    run(d, m.build());
  }
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 0).held_dropped, 1u);
  // A set larger than the whole hold is dropped itself.
  MessageBuilder big = MessageBuilder::v9(360'000, kExportSecs, 3, 0);
  v9_data_256(big, 10, 9000);
  Decoded r = run(d, big.build());
  EXPECT_EQ(r.result.held, 0u);
  EXPECT_EQ(r.result.template_misses, 1u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 0).held_dropped, 2u);

  MessageBuilder t = MessageBuilder::v9(360'000, kExportSecs, 4, 0);
  v9_template_256(t);
  r = run(d, t.build());
  ASSERT_EQ(r.flows.size(), 4u);  // the second and third sets; the first was pushed out
  EXPECT_EQ(r.flows[0].bytes, 2000u);
  EXPECT_EQ(r.flows[2].bytes, 3000u);
  const ExporterStats s = stats_of(d, kA, ExportProtocol::kNetflowV9, 0);
  EXPECT_EQ(s.template_misses, 4u);
  EXPECT_EQ(s.held_dropped, 2u);
}

TEST(NetflowV9, HoldIsBoundedOverAllExporters) {
  NetflowDecoderOptions o;
  o.max_held_bytes_total = 2 * 34 + kHeldSetOverhead;  // one set of two records
  NetflowDecoder d(o);
  MessageBuilder m = MessageBuilder::v9(360'000, kExportSecs, 1, 0);
  v9_data_256(m, 2);
  EXPECT_EQ(run(d, m.build(), kA).result.held, 1u);
  EXPECT_EQ(run(d, m.build(), kB).result.held, 0u);
  EXPECT_EQ(stats_of(d, kB, ExportProtocol::kNetflowV9, 0).held_dropped, 1u);
  MessageBuilder t = MessageBuilder::v9(360'000, kExportSecs, 2, 0);
  v9_template_256(t);
  EXPECT_EQ(run(d, t.build(), kA).flows.size(), 2u);  // which frees the room
  EXPECT_EQ(run(d, m.build(), kB).result.held, 1u);
}

TEST(NetflowV9, TemplateRedefinitionReplaces) {
  NetflowDecoder d;
  MessageBuilder a = MessageBuilder::v9(0, kExportSecs, 1, 0);
  a.template_set(300, {{kSrc4, 4}, {kDst4, 4}, {kBytes, 4}});
  a.begin_set(300).ip4(1, 1, 1, 1).ip4(2, 2, 2, 2).u32(77).end_set();
  Decoded r = run(d, a.build());
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].bytes, 77u);

  MessageBuilder b = MessageBuilder::v9(0, kExportSecs, 2, 0);
  b.template_set(300, {{kBytes, 8}, {kDst4, 4}, {kSrc4, 4}, {kPackets, 2}});
  b.begin_set(300).u64(5'000'000'000).ip4(3, 3, 3, 3).ip4(4, 4, 4, 4).u16(9).end_set();
  r = run(d, b.build());
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].bytes, 5'000'000'000u);
  EXPECT_EQ(r.flows[0].packets, 9u);
  EXPECT_EQ(r.flows[0].src, core::IpAddr::v4(ip4(4, 4, 4, 4)));
  EXPECT_EQ(r.flows[0].dst, core::IpAddr::v4(ip4(3, 3, 3, 3)));
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 0).templates, 2u);
}

TEST(NetflowV9, SameTemplateIdFromTwoExportersOrDomainsStaysApart) {
  NetflowDecoder d;
  MessageBuilder a = MessageBuilder::v9(0, kExportSecs, 1, 0);
  a.template_set(256, {{kSrc4, 4}, {kDst4, 4}, {kBytes, 4}});
  MessageBuilder b = MessageBuilder::v9(0, kExportSecs, 1, 0);
  b.template_set(256, {{kBytes, 8}, {kDst4, 4}, {kSrc4, 4}});
  MessageBuilder a7 = MessageBuilder::v9(0, kExportSecs, 1, 7);  // same address, source id 7
  a7.template_set(256, {{kPackets, 4}, {kSrc4, 4}});
  run(d, a.build(), kA);
  run(d, b.build(), kB);
  run(d, a7.build(), kA);

  MessageBuilder da = MessageBuilder::v9(0, kExportSecs, 2, 0);
  da.begin_set(256).ip4(1, 0, 0, 1).ip4(1, 0, 0, 2).u32(11).end_set();
  MessageBuilder db = MessageBuilder::v9(0, kExportSecs, 2, 0);
  db.begin_set(256).u64(22).ip4(2, 0, 0, 2).ip4(2, 0, 0, 1).end_set();
  MessageBuilder da7 = MessageBuilder::v9(0, kExportSecs, 2, 7);
  da7.begin_set(256).u32(33).ip4(7, 0, 0, 1).end_set();
  for (int round = 0; round < 2; ++round) {
    Decoded ra = run(d, da.build(), kA);
    Decoded rb = run(d, db.build(), kB);
    Decoded ra7 = run(d, da7.build(), kA);
    ASSERT_EQ(ra.flows.size(), 1u);
    ASSERT_EQ(rb.flows.size(), 1u);
    ASSERT_EQ(ra7.flows.size(), 1u);
    EXPECT_EQ(ra.flows[0].bytes, 11u);
    EXPECT_EQ(ra.flows[0].src, core::IpAddr::v4(ip4(1, 0, 0, 1)));
    EXPECT_EQ(rb.flows[0].bytes, 22u);
    EXPECT_EQ(rb.flows[0].src, core::IpAddr::v4(ip4(2, 0, 0, 1)));
    EXPECT_EQ(rb.flows[0].exporter, kB.address);
    EXPECT_EQ(ra7.flows[0].packets, 33u);
    EXPECT_EQ(ra7.flows[0].domain, 7u);
  }
}

// Two exporters on one host (softflowd and pmacctd both use template 1024 in domain 0) differ
// only by their UDP source port: each one's data is decoded with its own templates.
TEST(NetflowV9, TemplatesBelongToTheSourcePort) {
  NetflowDecoder d;
  const ExporterAddress a2{kA.address, 3000};
  MessageBuilder t = MessageBuilder::v9(0, kExportSecs, 1, 0);
  v9_template_256(t);
  run(d, t.build(), kA);
  MessageBuilder data = MessageBuilder::v9(0, kExportSecs, 1, 0);
  v9_data_256(data, 2);
  Decoded r = run(d, data.build(), a2);
  EXPECT_EQ(r.flows.size(), 0u);  // not a2's template: held until a2 sends its own
  EXPECT_EQ(stats_of(d, a2, ExportProtocol::kNetflowV9, 0).template_misses, 1u);
  MessageBuilder t2 = MessageBuilder::v9(0, kExportSecs, 2, 0);
  v9_template_256(t2);
  r = run(d, t2.build(), a2);
  EXPECT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(stats_of(d, a2, ExportProtocol::kNetflowV9, 0).flows, 2u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 0).flows, 0u);
  EXPECT_EQ(d.exporters().size(), 2u);

  // The same template id with another layout from a third port stays apart.
  const ExporterAddress a3{kA.address, 4000};
  MessageBuilder t3 = MessageBuilder::ipfix(kExportSecs, 0, 0);
  t3.template_set(256, {{kSrc4, 4}, {kBytes, 4}});
  run(d, t3.build(), a3);
  MessageBuilder t4 = MessageBuilder::ipfix(kExportSecs, 0, 0);
  t4.template_set(256, {{kBytes, 4}, {kSrc4, 4}});
  run(d, t4.build(), kA);
  MessageBuilder m3 = MessageBuilder::ipfix(kExportSecs, 0, 0);
  m3.begin_set(256).ip4(10, 0, 0, 1).u32(100).end_set();
  MessageBuilder mA = MessageBuilder::ipfix(kExportSecs, 0, 0);
  mA.begin_set(256).u32(200).ip4(10, 0, 0, 2).end_set();
  Decoded r3 = run(d, m3.build(), a3);
  Decoded rA = run(d, mA.build(), kA);
  ASSERT_EQ(r3.flows.size(), 1u);
  ASSERT_EQ(rA.flows.size(), 1u);
  EXPECT_EQ(r3.flows[0].bytes, 100u);
  EXPECT_EQ(core::to_string(r3.flows[0].src), "10.0.0.1");
  EXPECT_EQ(rA.flows[0].bytes, 200u);
  EXPECT_EQ(core::to_string(rA.flows[0].src), "10.0.0.2");
}

TEST(NetflowV9, CounterFallbacksAndWideFlags) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::v9(0, kExportSecs, 1, 0);
  // Only OUT_BYTES / OUT_PKTS: used.
  m.template_set(256, {{kSrc4, 4}, {kOutBytes, 4}, {kOutPackets, 4}, {kFlags, 2}});
  // Totals and OUT_*: the totals win.
  m.template_set(257, {{kSrc4, 4}, {kOutBytes, 4}, {kOctetTotal, 4}, {kPacketTotal, 4}});
  // Deltas and totals: the deltas win, wherever they are.
  m.template_set(258, {{kOctetTotal, 4}, {kSrc4, 4}, {kBytes, 4}});
  m.begin_set(256).ip4(1, 1, 1, 1).u32(100).u32(2).u16(0x0112).end_set();
  m.begin_set(257).ip4(1, 1, 1, 1).u32(100).u32(200).u32(3).end_set();
  m.begin_set(258).u32(999).ip4(1, 1, 1, 1).u32(300).end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 3u);
  EXPECT_EQ(r.flows[0].bytes, 100u);
  EXPECT_EQ(r.flows[0].packets, 2u);
  EXPECT_EQ(r.flows[0].tcp_flags, 0x12);
  EXPECT_EQ(r.flows[1].bytes, 200u);
  EXPECT_EQ(r.flows[1].packets, 3u);
  EXPECT_EQ(r.flows[2].bytes, 300u);
}

TEST(NetflowV9, PaddingIsTolerated) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::v9(0, kExportSecs, 1, 0);
  m.begin_set(0).template_record(256, {{kSrc4, 4}, {kBytes, 4}, {kProto, 1}}).zeros(4).end_set();
  m.begin_set(256).ip4(1, 1, 1, 1).u32(5).u8(17).ip4(1, 1, 1, 2).u32(6).u8(17);
  m.zeros(2).end_set();  // 18 bytes of records, 2 of padding: 4-byte aligned
  m.zeros(3);            // and a padded datagram
  Decoded r = run(d, m.build());
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  ASSERT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(r.flows[1].bytes, 6u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 0).malformed, 0u);
}

TEST(NetflowV9, OptionsScopeFieldsAreNotFlowFields) {
  // Scope type 1 (System) has the number of IE 1 (octetDeltaCount); it must not be read as one.
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::v9(0, kExportSecs, 1, 0);
  m.options_template_set(260, {{1, 4}}, {{kSamplingInterval, 4}});
  m.begin_set(260).u32(1).u32(50).end_set();
  run(d, m.build());
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 0).sampling_rate, 50u);
}

// ---- IPFIX templates and fields.

TEST(NetflowIpfix, TemplateWithdrawalOneAndAll) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 1);
  m.template_set(400, {{kSrc4, 4}, {kBytes, 4}});
  m.template_set(401, {{kSrc4, 4}, {kPackets, 4}});
  m.template_set(402, {{kSrc4, 4}, {kBytes, 2}});
  m.begin_set(400).ip4(1, 1, 1, 1).u32(10).end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 1u);

  MessageBuilder w = MessageBuilder::ipfix(kExportSecs, 1, 1);
  w.begin_set(2).withdrawal(400).end_set();
  w.begin_set(400).ip4(1, 1, 1, 1).u32(10).end_set();
  w.begin_set(401).ip4(1, 1, 1, 1).u32(10).end_set();
  r = run(d, w.build());
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  EXPECT_EQ(r.flows.size(), 1u);  // 401 still known
  EXPECT_EQ(r.result.template_misses, 1u);

  MessageBuilder all = MessageBuilder::ipfix(kExportSecs, 2, 1);
  all.begin_set(2).withdrawal(2).end_set();  // every template of this domain
  all.begin_set(401).ip4(1, 1, 1, 1).u32(10).end_set();
  all.begin_set(402).ip4(1, 1, 1, 1).u16(10).end_set();
  r = run(d, all.build());
  EXPECT_EQ(r.flows.size(), 0u);
  EXPECT_EQ(r.result.template_misses, 2u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kIpfix, 1).templates, 5u);  // 3 defined, 2 withdrawn

  // Withdrawing all templates leaves options templates; withdrawing all options ones does not.
  MessageBuilder o = MessageBuilder::ipfix(kExportSecs, 3, 1);
  o.options_template_set(500, {{kMeteringProcess, 4}}, {{kSamplingInterval, 4}});
  o.begin_set(2).withdrawal(2).end_set();
  o.begin_set(500).u32(1).u32(16).end_set();
  o.begin_set(3).withdrawal(3).end_set();
  o.begin_set(500).u32(1).u32(32).end_set();
  r = run(d, o.build());
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  EXPECT_EQ(r.result.template_misses, 1u);
  const ExporterStats s = stats_of(d, kA, ExportProtocol::kIpfix, 1);
  EXPECT_EQ(s.sampling_rate, 16u);
  EXPECT_EQ(s.templates, 8u);
  EXPECT_EQ(s.malformed, 0u);
}

TEST(NetflowIpfix, VariableLengthFieldsAreSkipped) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
  m.template_set(
      300,
      {{kSrc4, 4}, {kInterfaceName, 0xFFFF}, {kDst4, 4}, {kBytes, 4}, {kInterfaceName, 0xFFFF}});
  m.begin_set(300);
  m.ip4(1, 0, 0, 1).varlen("eth0").ip4(1, 0, 0, 2).u32(100).varlen("");
  m.ip4(2, 0, 0, 1).varlen(std::string(300, 'x')).ip4(2, 0, 0, 2).u32(200).varlen("y");
  m.ip4(3, 0, 0, 1).varlen("z", true).ip4(3, 0, 0, 2).u32(300).varlen("", true);
  m.zeros(2).end_set();  // padding shorter than the least record (14 bytes)
  Decoded r = run(d, m.build());
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  ASSERT_EQ(r.flows.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto k = static_cast<uint8_t>(i + 1);
    EXPECT_EQ(r.flows[i].src, core::IpAddr::v4(ip4(k, 0, 0, 1)));
    EXPECT_EQ(r.flows[i].dst, core::IpAddr::v4(ip4(k, 0, 0, 2)));
    EXPECT_EQ(r.flows[i].bytes, 100u * k);
  }

  // A variable-length field that claims more than the set holds: the records before it stay.
  MessageBuilder bad = MessageBuilder::ipfix(kExportSecs, 3, 0);
  bad.begin_set(300).ip4(1, 0, 0, 1).varlen("a").ip4(1, 0, 0, 2).u32(1).varlen("");
  bad.ip4(1, 0, 0, 1).u8(200).zeros(10).end_set();
  r = run(d, bad.build());
  EXPECT_EQ(r.result.status, DecodeStatus::kBadLength);
  EXPECT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kIpfix, 0).malformed, 1u);
}

TEST(NetflowIpfix, EnterpriseFieldsAreSkipped) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
  // Enterprise IEs 1 and 8 have the numbers of octetDeltaCount and sourceIPv4Address.
  m.template_set(
      256,
      {{kBytes, 4, 29305}, {kSrc4, 4, 9}, {kSrc4, 4}, {kBytes, 4}, {kInterfaceName, 0xFFFF, 6871}});
  m.begin_set(256).u32(999).ip4(9, 9, 9, 9).ip4(10, 0, 0, 1).u32(1234).varlen("vendor").end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].bytes, 1234u);
  EXPECT_EQ(r.flows[0].src, core::IpAddr::v4(ip4(10, 0, 0, 1)));
}

TEST(NetflowIpfix, ReducedSizeCountersOfEveryLength) {
  for (int n = 1; n <= 8; ++n) {
    NetflowDecoder d;
    const uint64_t bytes = (uint64_t{1} << (8 * n - 1)) + 5;
    const uint64_t packets = n == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * n)) - 1;
    MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
    const auto len = static_cast<uint16_t>(n);
    m.template_set(256, {{kSrc4, 4}, {kBytes, len}, {kPackets, len}, {kDstPort, len}});
    m.begin_set(256).ip4(1, 1, 1, 1).uint(bytes, n).uint(packets, n).uint(53, n).end_set();
    Decoded r = run(d, m.build());
    ASSERT_EQ(r.flows.size(), 1u) << n;
    EXPECT_EQ(r.flows[0].bytes, bytes) << n;
    EXPECT_EQ(r.flows[0].packets, packets) << n;
    EXPECT_EQ(r.flows[0].dst_port, 53) << n;
  }
}

TEST(NetflowIpfix, EightByteCounters) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
  m.template_set(256, {{kSrc4, 4}, {kBytes, 8}, {kPackets, 8}});
  m.begin_set(256).ip4(1, 1, 1, 1).u64(0x123456789ABCDEF0).u64(0x100000000).end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].bytes, 0x123456789ABCDEF0u);
  EXPECT_EQ(r.flows[0].packets, 0x100000000u);
}

TEST(NetflowIpfix, Ipv6AndIcmpTypeCode) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
  m.template_set(2048, {{kSrc6, 16},
                        {kDst6, 16},
                        {kBytes, 4},
                        {kPackets, 4},
                        {kSrcPort, 2},
                        {kDstPort, 2},
                        {kProto, 1},
                        {kIcmp6, 2}});
  m.begin_set(2048);
  m.ip6(0x20010DB800000000, 1).ip6(0x20010DB800000000, 2).u32(104).u32(1);
  m.u16(0).u16(0).u8(58).u16(128 << 8);  // ICMPv6 echo request
  m.ip6(0x20010DB800000000, 3).ip6(0x20010DB8000000FF, 4).u32(500).u32(2);
  m.u16(5353).u16(53).u8(17).u16(0);
  m.end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(r.flows[0].src, core::IpAddr::v6({0x20010DB800000000, 1}));
  EXPECT_EQ(r.flows[0].dst, core::IpAddr::v6({0x20010DB800000000, 2}));
  EXPECT_EQ(r.flows[0].ip_protocol, 58);
  EXPECT_EQ(r.flows[0].dst_port, 128 << 8);
  EXPECT_EQ(r.flows[1].dst, core::IpAddr::v6({0x20010DB8000000FF, 4}));
  EXPECT_EQ(r.flows[1].src_port, 5353);
  EXPECT_EQ(r.flows[1].dst_port, 53);
}

TEST(NetflowIpfix, BothAddressFamiliesInOneTemplate) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
  m.template_set(256, {{kSrc4, 4}, {kDst4, 4}, {kSrc6, 16}, {kDst6, 16}, {kBytes, 4}});
  m.begin_set(256);
  m.ip4(1, 1, 1, 1).ip4(2, 2, 2, 2).ip6(0, 0).ip6(0, 0).u32(1);
  m.ip4(0, 0, 0, 0).ip4(0, 0, 0, 0).ip6(0x20010DB800000000, 1).ip6(0x20010DB800000000, 2).u32(2);
  m.end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(r.flows[0].src, core::IpAddr::v4(ip4(1, 1, 1, 1)));
  EXPECT_EQ(r.flows[0].dst, core::IpAddr::v4(ip4(2, 2, 2, 2)));
  EXPECT_EQ(r.flows[1].src, core::IpAddr::v6({0x20010DB800000000, 1}));
  EXPECT_EQ(r.flows[1].dst, core::IpAddr::v6({0x20010DB800000000, 2}));
}

// ---- Times.

// NTP 64-bit time of a Unix time given in seconds and a fraction of `unit` (1e6 or 1e9).
uint64_t ntp(uint64_t unix_secs, uint64_t fraction, uint64_t unit) {
  return (unix_secs + 2'208'988'800u) << 32 | ((fraction << 32) / unit);
}

core::TimeMs one_time_pair(NetflowDecoder& d, uint32_t domain, uint16_t start_ie, uint16_t end_ie,
                           uint16_t len, uint64_t start, uint64_t end, core::TimeMs* end_out) {
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs + 100, 0, domain);
  m.template_set(256, {{kSrc4, 4}, {start_ie, len}, {end_ie, len}});
  m.begin_set(256).ip4(1, 1, 1, 1).uint(start, len).uint(end, len).end_set();
  Decoded r = run(d, m.build());
  EXPECT_EQ(r.flows.size(), 1u);
  if (r.flows.empty()) return 0;
  *end_out = r.flows[0].end;
  return r.flows[0].start;
}

TEST(NetflowTimes, EveryRepresentationToTheMillisecond) {
  NetflowDecoder d;
  core::TimeMs end = 0;
  EXPECT_EQ(one_time_pair(d, 1, kStartSec, kEndSec, 4, kExportSecs, kExportSecs + 5, &end),
            kExportMs);
  EXPECT_EQ(end, kExportMs + 5'000);
  EXPECT_EQ(one_time_pair(d, 2, kStartMs, kEndMs, 8, kExportMs + 123, kExportMs + 456, &end),
            kExportMs + 123);
  EXPECT_EQ(end, kExportMs + 456);
  EXPECT_EQ(one_time_pair(d, 3, kStartUs, kEndUs, 8, ntp(kExportSecs, 123'456, 1'000'000),
                          ntp(kExportSecs, 999'999, 1'000'000), &end),
            kExportMs + 123);
  EXPECT_EQ(end, kExportMs + 999);
  EXPECT_EQ(one_time_pair(d, 4, kStartNs, kEndNs, 8, ntp(kExportSecs, 1'000'000, 1'000'000'000),
                          ntp(kExportSecs + 1, 999'999'999, 1'000'000'000), &end),
            kExportMs + 1);
  EXPECT_EQ(end, kExportMs + 1'999);
  // Deltas count back from the export time (kExportSecs + 100), in microseconds.
  EXPECT_EQ(one_time_pair(d, 5, kStartDelta, kEndDelta, 4, 60'000'500, 1'500, &end),
            kExportMs + 100'000 - 60'001);
  EXPECT_EQ(end, kExportMs + 100'000 - 2);
  // sysUptime without systemInitTimeMilliseconds: the flow ends at the export time.
  EXPECT_EQ(one_time_pair(d, 6, kFirst, kLast, 4, 5'000, 9'000, &end), kExportMs + 96'000);
  EXPECT_EQ(end, kExportMs + 100'000);
}

TEST(NetflowTimes, IpfixUptimeFromSystemInitTime) {
  NetflowDecoder d;
  const core::TimeMs init = kExportMs - 10'000'000;
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
  m.options_template_set(256, {{kMeteringProcess, 4}}, {{kSystemInit, 8}});
  m.begin_set(256).u32(1).u64(static_cast<uint64_t>(init)).end_set();
  m.template_set(1024, {{kSrc4, 4}, {kFirst, 4}, {kLast, 4}});
  m.begin_set(1024).ip4(1, 1, 1, 1).u32(5'000).u32(9'000).end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].start, init + 5'000);
  EXPECT_EQ(r.flows[0].end, init + 9'000);
}

TEST(NetflowTimes, OneOrNoTimeField) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
  m.template_set(256, {{kSrc4, 4}, {kStartMs, 8}});
  m.template_set(257, {{kSrc4, 4}, {kEndSec, 4}});
  m.template_set(258, {{kSrc4, 4}});
  m.begin_set(256).ip4(1, 1, 1, 1).u64(kExportMs - 777).end_set();
  m.begin_set(257).ip4(1, 1, 1, 1).u32(kExportSecs - 3).end_set();
  m.begin_set(258).ip4(1, 1, 1, 1).end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 3u);
  EXPECT_EQ(r.flows[0].start, kExportMs - 777);
  EXPECT_EQ(r.flows[0].end, kExportMs - 777);
  EXPECT_EQ(r.flows[1].start, kExportMs - 3'000);
  EXPECT_EQ(r.flows[1].end, kExportMs - 3'000);
  EXPECT_EQ(r.flows[2].start, kExportMs);
  EXPECT_EQ(r.flows[2].end, kExportMs);
}

TEST(NetflowTimes, V9AbsoluteMilliseconds) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::v9(1'000, kExportSecs, 0, 0);
  m.template_set(256, {{kSrc4, 4}, {kStartMs, 8}, {kEndMs, 8}});
  m.begin_set(256).ip4(1, 1, 1, 1).u64(kExportMs - 2'345).u64(kExportMs - 1).end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].start, kExportMs - 2'345);
  EXPECT_EQ(r.flows[0].end, kExportMs - 1);
}

// ---- Sampling.

TEST(NetflowSampling, OptionsTemplatesPerExporterAndDomain) {
  NetflowDecoder d;
  auto data = [](uint32_t domain) {
    MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, domain);
    m.template_set(1024, {{kSrc4, 4}, {kBytes, 4}});
    m.begin_set(1024).ip4(1, 1, 1, 1).u32(1000).end_set();
    return m;
  };
  // Exporter A, domain 1: softflowd-style packet interval and space: 1 in (1 + 99).
  MessageBuilder a1 = MessageBuilder::ipfix(kExportSecs, 0, 1);
  a1.options_template_set(256, {{kMeteringProcess, 4}}, {{kPacketInterval, 2}, {kPacketSpace, 4}});
  a1.begin_set(256).u32(1).u16(1).u32(99).end_set();
  run(d, a1.build(), kA);
  // Exporter B, domain 1: samplingInterval 10.
  MessageBuilder b1 = MessageBuilder::ipfix(kExportSecs, 0, 1);
  b1.options_template_set(256, {{kDomainId, 4}}, {{kSamplingInterval, 4}});
  b1.begin_set(256).u32(1).u32(10).end_set();
  run(d, b1.build(), kB);

  Decoded ra1 = run(d, data(1).build(), kA);
  Decoded ra2 = run(d, data(2).build(), kA);
  Decoded rb1 = run(d, data(1).build(), kB);
  ASSERT_EQ(ra1.flows.size(), 1u);
  ASSERT_EQ(ra2.flows.size(), 1u);
  ASSERT_EQ(rb1.flows.size(), 1u);
  EXPECT_EQ(ra1.flows[0].sampling_rate, 100u);
  EXPECT_EQ(ra1.flows[0].scaled_bytes(), 100'000u);
  EXPECT_EQ(ra2.flows[0].sampling_rate, 1u);
  EXPECT_EQ(rb1.flows[0].sampling_rate, 10u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kIpfix, 1).sampling_rate, 100u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kIpfix, 2).sampling_rate, 0u);
  EXPECT_EQ(stats_of(d, kB, ExportProtocol::kIpfix, 1).sampling_rate, 10u);
}

TEST(NetflowSampling, V9SamplersAndRecordsCarryingTheirRate) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::v9(0, kExportSecs, 1, 0);
  // A sampler table: scope System, then sampler id, mode, random interval.
  m.options_template_set(300, {{1, 4}},
                         {{kSamplerId, 1}, {kSamplerMode, 1}, {kSamplerRandomInterval, 4}});
  m.begin_set(300);
  m.u32(0).u8(1).u8(2).u32(64);
  m.u32(0).u8(2).u8(2).u32(512);
  m.zeros(1).end_set();
  m.template_set(256, {{kSrc4, 4}, {kBytes, 4}, {kSamplerId, 1}});
  m.template_set(257, {{kSrc4, 4}, {kBytes, 4}, {kSamplingInterval, 4}});
  m.begin_set(256);
  m.ip4(1, 1, 1, 1).u32(10).u8(2);
  m.ip4(1, 1, 1, 1).u32(10).u8(1);
  m.ip4(1, 1, 1, 1).u32(10).u8(9);  // unknown sampler: the last announced rate
  m.end_set();
  m.begin_set(257).ip4(1, 1, 1, 1).u32(10).u32(7).end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 4u);
  EXPECT_EQ(r.flows[0].sampling_rate, 512u);
  EXPECT_EQ(r.flows[1].sampling_rate, 64u);
  EXPECT_EQ(r.flows[2].sampling_rate, 512u);
  EXPECT_EQ(r.flows[3].sampling_rate, 7u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 0).sampling_rate, 512u);
}

TEST(NetflowSampling, IpfixSelectorIdInScope) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
  m.options_template_set(256, {{kSelectorId, 8}}, {{kPacketInterval, 4}, {kPacketSpace, 4}});
  m.begin_set(256).u64(5).u32(1).u32(9).u64(6).u32(2).u32(1'998).end_set();  // 10; 1000
  m.template_set(1024, {{kSrc4, 4}, {kBytes, 4}, {kSelectorId, 8}});
  m.begin_set(1024).ip4(1, 1, 1, 1).u32(1).u64(5).ip4(1, 1, 1, 1).u32(1).u64(6).end_set();
  Decoded r = run(d, m.build());
  ASSERT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(r.flows[0].sampling_rate, 10u);
  EXPECT_EQ(r.flows[1].sampling_rate, 1000u);
}

// ---- Sequence numbers.

TEST(NetflowSequence, V5CountsFlows) {
  NetflowDecoder d;
  auto send = [&](uint32_t seq, size_t n, const ExporterAddress& from = kA) {
    V5Header h;
    h.flow_sequence = seq;
    run(d, test::netflow::v5_datagram(h, std::vector<V5Record>(n)), from);
  };
  auto stats = [&](const ExporterAddress& from) {
    return stats_of(d, from, ExportProtocol::kNetflowV5, 0);
  };
  send(0, 10);
  send(10, 10);
  EXPECT_EQ(stats(kA).lost, 0u);
  send(25, 5);  // 5 flows missing
  EXPECT_EQ(stats(kA).lost, 5u);
  send(20, 5);  // the late datagram: not counted again, expectation kept
  send(30, 30);
  EXPECT_EQ(stats(kA).lost, 5u);
  EXPECT_EQ(stats(kA).sequence_resets, 0u);

  send(0xFFFFFFE0u, 30, kB);
  send(0xFFFFFFFEu, 20, kB);  // wraps to 18
  send(18, 30, kB);
  send(40, 5, kB);  // late
  EXPECT_EQ(stats(kB).lost, 0u);
  send(0xFFFFF000u, 30, kB);  // 4144 flows back: an exporter restart
  send(0xFFFFF000u + 30, 30, kB);
  EXPECT_EQ(stats(kB).lost, 0u);
  EXPECT_EQ(stats(kB).sequence_resets, 1u);
  EXPECT_EQ(stats(kA).sequence_resets, 0u);
}

TEST(NetflowSequence, V9CountsDatagrams) {
  NetflowDecoder d;
  auto send = [&](uint32_t seq, uint32_t source_id = 0) {
    MessageBuilder m = MessageBuilder::v9(0, kExportSecs, seq, source_id);
    v9_template_256(m);
    run(d, m.build());
  };
  send(7);
  send(8);
  send(10);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 0).lost, 1u);
  send(9);  // reordered
  send(11);
  send(0x90000000u);  // 2^31 or more ahead: a reset, not 2 billion lost
  send(0x90000001u);
  send(0xFFFFFFFEu, 5);  // another source id: its own sequence
  send(0xFFFFFFFFu, 5);
  send(0, 5);
  send(2, 5);  // one lost across the wrap
  const ExporterStats s = stats_of(d, kA, ExportProtocol::kNetflowV9, 0);
  EXPECT_EQ(s.lost, 1u);
  EXPECT_EQ(s.sequence_resets, 1u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 5).lost, 1u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 5).sequence_resets, 0u);
}

TEST(NetflowSequence, IpfixCountsDataRecords) {
  NetflowDecoder d;
  auto send = [&](uint32_t seq, int records, bool with_template = true) {
    MessageBuilder m = MessageBuilder::ipfix(kExportSecs, seq, 0);
    if (with_template) m.template_set(256, {{kSrc4, 4}, {kBytes, 4}});
    if (records > 0) {
      m.begin_set(256);
      for (int i = 0; i < records; ++i) m.ip4(1, 1, 1, 1).u32(1);
      m.end_set();
    }
    run(d, m.build());
  };
  auto stats = [&] { return stats_of(d, kA, ExportProtocol::kIpfix, 0); };
  send(0, 3);
  send(3, 2);
  send(5, 0);  // templates only: the number does not move
  send(5, 4);
  EXPECT_EQ(stats().lost, 0u);
  send(15, 1);  // 6 records missing
  EXPECT_EQ(stats().lost, 6u);
  send(100'000, 1);
  EXPECT_EQ(stats().lost, 6u + 100'000 - 16);
  send(3, 1);  // far back: reset
  EXPECT_EQ(stats().sequence_resets, 1u);
  EXPECT_EQ(stats().lost, 6u + 100'000 - 16);
}

TEST(NetflowSequence, IpfixResynchronisesAfterHeldSets) {
  NetflowDecoder d;
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
  m.begin_set(256).ip4(1, 1, 1, 1).u32(1).ip4(1, 1, 1, 1).u32(1).end_set();  // unknown yet
  run(d, m.build());
  MessageBuilder t = MessageBuilder::ipfix(kExportSecs, 2, 0);
  t.template_set(256, {{kSrc4, 4}, {kBytes, 4}});
  Decoded r = run(d, t.build());
  EXPECT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kIpfix, 0).lost, 0u);
}

// pmacct's template datagram (sequence 0, 2 records) delivered after five data datagrams it
// defines the templates of (held: their record counts unknown): no loss is invented.
TEST(NetflowSequence, IpfixLateTemplateDatagramInventsNoLoss) {
  NetflowDecoder d;
  uint32_t seq = 2;
  for (int i = 0; i < 5; ++i, seq += 6) {
    MessageBuilder m = MessageBuilder::ipfix(kExportSecs, seq, 0);
    m.begin_set(256);
    for (int k = 0; k < 6; ++k) m.ip4(1, 1, 1, uint8_t(k)).u32(1);
    m.end_set();
    run(d, m.build());
  }
  MessageBuilder t = MessageBuilder::ipfix(kExportSecs, 0, 0);
  t.template_set(256, {{kSrc4, 4}, {kBytes, 4}});
  t.template_set(257, {{kDst4, 4}, {kBytes, 4}});  // two template records: 2 "records"
  EXPECT_EQ(run(d, t.build()).flows.size(), 30u);
  MessageBuilder next = MessageBuilder::ipfix(kExportSecs, 32, 0);
  next.begin_set(256).ip4(1, 1, 1, 1).u32(1).end_set();
  EXPECT_EQ(run(d, next.build()).flows.size(), 1u);
  MessageBuilder after = MessageBuilder::ipfix(kExportSecs, 33, 0);
  after.begin_set(256).ip4(1, 1, 1, 1).u32(1).end_set();
  run(d, after.build());
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kIpfix, 0).lost, 0u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kIpfix, 0).sequence_resets, 0u);
}

// ---- Bad input.

TEST(NetflowBadInput, VersionAndShortHeaders) {
  NetflowDecoder d;
  std::vector<ExportedFlow> out;
  const uint8_t v1[] = {0, 1, 0, 0};
  EXPECT_EQ(d.decode(v1, sizeof v1, kA, kNow, out).status, DecodeStatus::kBadVersion);
  const uint8_t one[] = {0};
  EXPECT_EQ(d.decode(one, 1, kA, kNow, out).status, DecodeStatus::kTooShort);
  EXPECT_EQ(d.decode(nullptr, 0, kA, kNow, out).status, DecodeStatus::kTooShort);
  const uint8_t v9[] = {0, 9, 0, 0, 0, 0};
  EXPECT_EQ(d.decode(v9, sizeof v9, kA, kNow, out).status, DecodeStatus::kTooShort);
  EXPECT_TRUE(out.empty());
}

TEST(NetflowBadInput, LyingLengths) {
  NetflowDecoder d;
  // A data set whose length runs past the datagram: the set before it is kept.
  MessageBuilder m = MessageBuilder::v9(360'000, kExportSecs, 1, 0);
  v9_template_256(m);
  v9_data_256(m, 2);
  m.begin_set(256).zeros(28).end_set(200);
  Decoded r = run(d, m.build());
  EXPECT_EQ(r.result.status, DecodeStatus::kBadLength);
  EXPECT_EQ(r.flows.size(), 2u);
  // A set shorter than its own header.
  MessageBuilder s = MessageBuilder::v9(0, kExportSecs, 2, 0);
  s.begin_set(256).zeros(28).end_set(3);
  EXPECT_EQ(run(d, s.build()).result.status, DecodeStatus::kBadLength);
  // A template claiming more fields than its set holds.
  MessageBuilder t = MessageBuilder::v9(0, kExportSecs, 3, 0);
  t.begin_set(0).u16(300).u16(50).u16(kSrc4).u16(4).end_set();
  EXPECT_EQ(run(d, t.build()).result.status, DecodeStatus::kBadLength);
  // A template whose records take no bytes (it would never advance) and one with id < 256.
  MessageBuilder z = MessageBuilder::v9(0, kExportSecs, 4, 0);
  z.template_set(301, {{kSrc4, 0}, {kBytes, 0}});
  EXPECT_EQ(run(d, z.build()).result.status, DecodeStatus::kBadTemplate);
  MessageBuilder low = MessageBuilder::v9(0, kExportSecs, 5, 0);
  low.template_set(17, {{kSrc4, 4}});
  EXPECT_EQ(run(d, low.build()).result.status, DecodeStatus::kBadTemplate);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 0).malformed, 5u);

  // IPFIX: the message length must equal the datagram's.
  MessageBuilder x = MessageBuilder::ipfix(kExportSecs, 0, 0);
  x.template_set(256, {{kSrc4, 4}, {kBytes, 4}});
  x.begin_set(256).ip4(1, 1, 1, 1).u32(1).end_set();
  Datagram good = x.build();
  Datagram longer = good;
  longer.push_back(0);
  EXPECT_EQ(run(d, longer).result.status, DecodeStatus::kBadLength);
  EXPECT_EQ(run(d, x.build(static_cast<int>(good.size()) + 8)).result.status,
            DecodeStatus::kBadLength);
  EXPECT_EQ(run(d, x.build(static_cast<int>(good.size()) - 12)).result.status,
            DecodeStatus::kBadLength);
  EXPECT_EQ(run(d, good).result.status, DecodeStatus::kOk);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kIpfix, 0).malformed, 3u);
}

TEST(NetflowBadInput, TooManyTemplatesIsMalformed) {
  NetflowDecoderOptions o;
  o.max_templates_per_exporter = 2;
  NetflowDecoder d(o);
  MessageBuilder m = MessageBuilder::ipfix(kExportSecs, 0, 0);
  m.template_set(256, {{kSrc4, 4}});
  m.template_set(257, {{kSrc4, 4}});
  m.template_set(258, {{kSrc4, 4}});
  m.template_set(256, {{kSrc4, 4}, {kBytes, 4}});  // a redefinition still fits
  m.begin_set(258).ip4(1, 1, 1, 1).end_set();
  m.begin_set(256).ip4(1, 1, 1, 1).u32(5).end_set();
  Decoded r = run(d, m.build());
  EXPECT_EQ(r.result.status, DecodeStatus::kBadTemplate);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].bytes, 5u);
  EXPECT_EQ(r.result.template_misses, 1u);
}

TEST(NetflowBadInput, ExportersAreBoundedForgettingTheSilentLongest) {
  NetflowDecoderOptions o;
  o.max_exporters = 2;
  NetflowDecoder d(o);
  const ExporterAddress c{core::IpAddr::v4(ip4(192, 0, 2, 3)), 2055};
  const Datagram g = test::netflow::v5_datagram(V5Header{}, {V5Record{}});
  run(d, g, kA);
  run(d, g, kB);
  run(d, g, kA);
  run(d, g, c);  // B has been silent longest
  const std::vector<ExporterStats> all = d.exporters();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].from, kA);
  EXPECT_EQ(all[0].datagrams, 2u);
  EXPECT_EQ(all[1].from, c);
}

TEST(NetflowBadInput, EvictedExporterTakesItsHeldSetsAlong) {
  NetflowDecoderOptions o;
  o.max_exporters = 2;
  NetflowDecoder d(o);
  const ExporterAddress c{core::IpAddr::v4(ip4(192, 0, 2, 3)), 2055};
  MessageBuilder m = MessageBuilder::v9(0, kExportSecs, 1, 0);
  v9_data_256(m, 2);
  run(d, m.build(), kA);
  const Datagram v5 = test::netflow::v5_datagram(V5Header{}, {V5Record{}});
  run(d, v5, kB);
  run(d, v5, c);  // A is forgotten with its hold
  MessageBuilder t = MessageBuilder::v9(0, kExportSecs, 2, 0);
  v9_template_256(t);
  EXPECT_EQ(run(d, t.build(), kA).flows.size(), 0u);
  EXPECT_EQ(stats_of(d, kA, ExportProtocol::kNetflowV9, 0).templates, 1u);
}

// Valid datagrams of each version exercising most paths, for truncation and byte flips.
std::vector<Datagram> sample_datagrams() {
  std::vector<Datagram> all;
  V5Header h;
  h.sys_uptime = 100'000;
  h.unix_secs = kExportSecs;
  all.push_back(test::netflow::v5_datagram(h, std::vector<V5Record>(3)));

  MessageBuilder v9 = MessageBuilder::v9(360'000, kExportSecs, 1, 0);
  v9_template_256(v9);
  v9.options_template_set(300, {{1, 4}}, {{kSamplerId, 1}, {kSamplerRandomInterval, 4}});
  v9.begin_set(300).u32(0).u8(1).u32(10).zeros(3).end_set();
  v9_data_256(v9, 3);
  all.push_back(v9.build());

  MessageBuilder x = MessageBuilder::ipfix(kExportSecs, 0, 0);
  x.options_template_set(256, {{kMeteringProcess, 4}},
                         {{kSystemInit, 8}, {kPacketInterval, 2}, {kPacketSpace, 4}});
  x.begin_set(256).u32(1).u64(kExportMs - 1'000'000).u16(1).u32(9).end_set();
  x.template_set(1024, {{kSrc4, 4},
                        {kDst4, 4},
                        {kBytes, 8},
                        {kFirst, 4},
                        {kLast, 4},
                        {kInterfaceName, 0xFFFF},
                        {kBytes, 4, 29305}});
  x.template_set(2048, {{kSrc6, 16}, {kDst6, 16}, {kBytes, 4}, {kStartMs, 8}, {kEndMs, 8}});
  x.begin_set(1024);
  for (int i = 0; i < 3; ++i) {
    x.ip4(1, 1, 1, 1).ip4(2, 2, 2, 2).u64(100).u32(10).u32(20).varlen("ab").u32(0);
  }
  x.end_set();
  x.begin_set(2048).ip6(1, 2).ip6(3, 4).u32(5).u64(kExportMs).u64(kExportMs).end_set();
  x.begin_set(2).withdrawal(2048).end_set();
  all.push_back(x.build());
  return all;
}

TEST(NetflowBadInput, EveryTruncationIsCaught) {
  const std::vector<Datagram> samples = sample_datagrams();
  for (size_t which = 0; which < samples.size(); ++which) {
    const Datagram& full = samples[which];
    {
      NetflowDecoder d;
      const Decoded r = run(d, full);
      ASSERT_EQ(r.result.status, DecodeStatus::kOk) << which;
      ASSERT_GT(r.flows.size(), 0u) << which;
    }
    for (size_t len = 0; len < full.size(); ++len) {
      NetflowDecoder d;
      const Datagram cut(full.begin(), full.begin() + static_cast<ptrdiff_t>(len));
      const Decoded r = run(d, cut);
      EXPECT_LE(r.flows.size(), len) << which << " " << len;
      const std::vector<ExporterStats> stats = d.exporters();
      if (which == 0) {
        if (len >= 24) {
          EXPECT_EQ(r.result.status, DecodeStatus::kBadLength) << len;
        }
        EXPECT_LE(r.flows.size(), len < 24 ? 0 : (len - 24) / 48);
      } else if (which == 2) {
        EXPECT_NE(r.result.status, DecodeStatus::kOk) << len;
      }
      if (r.result.status != DecodeStatus::kOk && !stats.empty()) {
        EXPECT_EQ(stats[0].malformed, 1u) << which << " " << len;
      }
    }
  }
}

TEST(NetflowBadInput, RandomByteFlipsNeverCrash) {
  const std::vector<Datagram> samples = sample_datagrams();
  std::mt19937 rng(20240610);
  NetflowDecoderOptions o;
  o.max_exporters = 8;
  o.max_held_bytes_per_exporter = 4096;
  NetflowDecoder shared(o);
  size_t shared_bytes = 0, shared_flows = 0;
  for (int i = 0; i < 4000; ++i) {
    Datagram g = samples[rng() % samples.size()];
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly the first bytes, where headers and template fields are.
      const size_t at = rng() % 2 == 0 ? rng() % std::min<size_t>(g.size(), 64) : rng() % g.size();
      g[at] = static_cast<uint8_t>(rng());
    }
    if (rng() % 8 == 0) g.resize(rng() % g.size());
    NetflowDecoder fresh;
    const Decoded r = run(fresh, g);
    EXPECT_LE(r.flows.size(), g.size());
    const ExporterAddress from{core::IpAddr::v4(ip4(10, 0, 0, static_cast<uint8_t>(rng() % 12))),
                               2055};
    shared_flows += run(shared, g, from).flows.size();
    shared_bytes += g.size();
    EXPECT_LE(shared_flows, shared_bytes);
  }
  EXPECT_LE(shared.exporters().size(), 8u);
}

}  // namespace
}  // namespace netpulse::collect
