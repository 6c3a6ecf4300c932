// NetflowEncoder against the naive reader in tests/support: every field, times exact to the ms,
// sequence numbers per version, template and sampling-options refresh, the MTU, v5's 32-bit
// counter split and its IPv6 skip, and a randomized run over versions, MTUs and address mixes
// that must give back exactly the flows put in.
#include "collect/netflow_encoder.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "../support/export_datagrams.hpp"
#include "collect/netflow_decoder.hpp"

namespace netpulse::collect {
namespace {

using testing::WireDatagram;
using testing::WireReader;
using testing::WireRecord;

// 2024-01-01 00:00:00 UTC.
constexpr core::TimeMs kT0 = 1'704'067'200'000;

core::IpAddr v4(uint32_t a) {
  return core::IpAddr::v4(a);
}
core::IpAddr v6(uint64_t hi, uint64_t lo) {
  return core::IpAddr::v6(core::Ip6{hi, lo});
}

ExportedFlow flow(core::TimeMs start, core::TimeMs end, core::IpAddr src, core::IpAddr dst,
                  uint64_t bytes, uint64_t packets) {
  ExportedFlow f;
  f.start = start;
  f.end = end;
  f.src = src;
  f.dst = dst;
  f.bytes = bytes;
  f.packets = packets;
  f.src_port = 51000;
  f.dst_port = 443;
  f.ip_protocol = 6;
  f.tcp_flags = 0x1b;
  f.input_if = 3;
  f.output_if = 7;
  return f;
}

struct Capture {
  std::vector<std::vector<uint8_t>> datagrams;
  NetflowEncoder::Emit emit() {
    return [this](const uint8_t* d, size_t n) { datagrams.emplace_back(d, d + n); };
  }
  std::vector<WireDatagram> read() const {
    WireReader reader;
    std::vector<WireDatagram> out;
    for (const auto& d : datagrams) {
      out.push_back(reader.read(d.data(), d.size()));
      EXPECT_EQ(out.back().error, "") << "datagram " << out.size() - 1;
    }
    return out;
  }
};

NetflowEncoderOptions options(ExportProtocol v) {
  NetflowEncoderOptions o;
  o.version = v;
  return o;
}

// What a record on the wire says, back in ExportedFlow terms (addresses, ports, counters, times).
ExportedFlow to_flow(const WireDatagram& d, const WireRecord& r) {
  ExportedFlow f;
  if (r.has(8)) {
    f.src = v4(static_cast<uint32_t>(r.u(8)));
    f.dst = v4(static_cast<uint32_t>(r.u(12)));
  } else {
    const auto s = r.ip6(27), t = r.ip6(28);
    f.src = v6(s.first, s.second);
    f.dst = v6(t.first, t.second);
  }
  f.src_port = static_cast<uint16_t>(r.u(7));
  f.dst_port = static_cast<uint16_t>(r.u(11));
  f.ip_protocol = static_cast<uint8_t>(r.u(4));
  f.tcp_flags = static_cast<uint8_t>(r.u(6));
  f.input_if = static_cast<uint32_t>(r.u(10));
  f.output_if = static_cast<uint32_t>(r.u(14));
  f.bytes = r.u(1);
  f.packets = r.u(2);
  f.start = d.start_ms(r);
  f.end = d.end_ms(r);
  return f;
}

void expect_same(const ExportedFlow& a, const ExportedFlow& b, const std::string& where) {
  EXPECT_EQ(a.src, b.src) << where;
  EXPECT_EQ(a.dst, b.dst) << where;
  EXPECT_EQ(a.src_port, b.src_port) << where;
  EXPECT_EQ(a.dst_port, b.dst_port) << where;
  EXPECT_EQ(a.ip_protocol, b.ip_protocol) << where;
  EXPECT_EQ(a.tcp_flags, b.tcp_flags) << where;
  EXPECT_EQ(a.input_if, b.input_if) << where;
  EXPECT_EQ(a.output_if, b.output_if) << where;
  EXPECT_EQ(a.bytes, b.bytes) << where;
  EXPECT_EQ(a.packets, b.packets) << where;
  EXPECT_EQ(a.start, b.start) << where;
  EXPECT_EQ(a.end, b.end) << where;
}

TEST(NetflowEncoder, ValidatesItsOptions) {
  EXPECT_FALSE(validate(options(ExportProtocol::kNetflowV5)));
  EXPECT_TRUE(validate(options(ExportProtocol::kSflowV5)));
  auto o = options(ExportProtocol::kIpfix);
  o.max_datagram = kMinDatagram - 1;
  EXPECT_TRUE(validate(o));
  o.max_datagram = kMaxDatagram + 1;
  EXPECT_TRUE(validate(o));
  o = options(ExportProtocol::kNetflowV5);
  o.sampling_rate = 16384;
  EXPECT_TRUE(validate(o));
  o.sampling_rate = 0;
  EXPECT_TRUE(validate(o));
}

TEST(NetflowEncoder, V5CarriesEveryFieldAndExactMillisecondTimes) {
  Capture cap;
  auto o = options(ExportProtocol::kNetflowV5);
  o.domain = 0x0102;
  NetflowEncoder enc(o, cap.emit());
  // Start and end with odd milliseconds, export time not on a whole second.
  ExportedFlow a = flow(kT0 + 1'234, kT0 + 5'987, v4(0x0A000001), v4(0xC0A80102), 123'456, 89);
  ExportedFlow b = flow(kT0 + 7'001, kT0 + 9'999, v4(0x01020304), v4(0x05060708), 0, 1);
  b.ip_protocol = 1;  // ICMP echo request: type 8 code 0 in the destination port
  b.src_port = 0;
  b.dst_port = 8 * 256;
  enc.encode(std::vector<ExportedFlow>{a, b});
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].version, 5);
  EXPECT_EQ(d[0].count, 2);
  EXPECT_EQ(d[0].sequence, 0u);
  EXPECT_EQ(d[0].engine_type, 1);
  EXPECT_EQ(d[0].engine_id, 2);
  EXPECT_EQ(d[0].sampling, 0);
  // The header carries the export time (the latest flow end) to the ms.
  EXPECT_EQ(int64_t{d[0].unix_secs} * 1000 + d[0].unix_nsecs / 1'000'000, kT0 + 9'999);
  EXPECT_EQ(d[0].unix_nsecs % 1'000'000, 0u);
  expect_same(to_flow(d[0], d[0].records[0]), a, "a");
  expect_same(to_flow(d[0], d[0].records[1]), b, "b");
  EXPECT_EQ(d[0].records[0].u(15), 0u);  // next hop
}

TEST(NetflowEncoder, V5SequenceCountsFlowsAndDatagramsHoldThirtyAtMost) {
  Capture cap;
  auto o = options(ExportProtocol::kNetflowV5);
  o.max_datagram = 9000;  // room for more than 30: the format's limit still holds
  NetflowEncoder enc(o, cap.emit());
  std::vector<ExportedFlow> flows;
  for (int i = 0; i < 100; ++i)
    flows.push_back(flow(kT0 + i, kT0 + i, v4(0x0A000000 + i), v4(0x0B000000), 100 + i, 1));
  enc.encode(flows);
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 4u);
  uint32_t seen = 0;
  for (const auto& g : d) {
    EXPECT_EQ(g.sequence, seen);
    EXPECT_LE(g.count, 30);
    seen += g.count;
  }
  EXPECT_EQ(seen, 100u);
  EXPECT_EQ(enc.stats().datagrams, 4u);
  EXPECT_EQ(enc.stats().records, 100u);
}

TEST(NetflowEncoder, V5SplitsCountersAbove32Bits) {
  Capture cap;
  NetflowEncoder enc(options(ExportProtocol::kNetflowV5), cap.emit());
  const uint64_t bytes = 10'000'000'000ULL;  // needs 3 records of at most 2^32-1
  const uint64_t packets = 9'000'000'000ULL;
  ExportedFlow f = flow(kT0 + 5, kT0 + 60'000, v4(1), v4(2), bytes, packets);
  enc.encode(std::vector<ExportedFlow>{f, flow(kT0, kT0 + 1, v4(3), v4(4), 0xFFFFFFFFull, 1)});
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 1u);
  ASSERT_EQ(d[0].records.size(), 4u);
  uint64_t sum_bytes = 0, sum_packets = 0;
  for (int i = 0; i < 3; ++i) {
    const ExportedFlow g = to_flow(d[0], d[0].records[i]);
    EXPECT_EQ(g.src, f.src);
    EXPECT_EQ(g.start, f.start);
    EXPECT_EQ(g.end, f.end);
    EXPECT_LE(g.bytes, 0xFFFFFFFFull);
    EXPECT_GE(g.bytes, bytes / 3);
    sum_bytes += g.bytes;
    sum_packets += g.packets;
  }
  EXPECT_EQ(sum_bytes, bytes);
  EXPECT_EQ(sum_packets, packets);
  EXPECT_EQ(d[0].records[3].u(1), 0xFFFFFFFFull);  // exactly 2^32-1 still fits in one
  EXPECT_EQ(enc.stats().flows, 2u);
  EXPECT_EQ(enc.stats().records, 4u);
  EXPECT_EQ(enc.stats().split_flows, 1u);
}

TEST(NetflowEncoder, V5SkipsIpv6AndCountsIt) {
  Capture cap;
  NetflowEncoder enc(options(ExportProtocol::kNetflowV5), cap.emit());
  enc.encode(std::vector<ExportedFlow>{flow(kT0, kT0, v6(0x20010db8ULL << 32, 1), v6(0, 2), 10, 1),
                                       flow(kT0, kT0, v4(1), v4(2), 10, 1),
                                       flow(kT0, kT0, v4(1), v6(0, 2), 10, 1)});
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].count, 1);
  EXPECT_EQ(enc.stats().skipped_ipv6, 2u);
  EXPECT_EQ(enc.stats().flows, 1u);
}

TEST(NetflowEncoder, V5AnnouncesSampling) {
  Capture cap;
  auto o = options(ExportProtocol::kNetflowV5);
  o.sampling_rate = 100;
  NetflowEncoder enc(o, cap.emit());
  enc.encode(std::vector<ExportedFlow>{flow(kT0, kT0, v4(1), v4(2), 10, 1)});
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].sampling >> 14, 1);  // mode: deterministic
  EXPECT_EQ(d[0].sampling & 0x3FFF, 100);
}

class Templated : public ::testing::TestWithParam<ExportProtocol> {};

TEST_P(Templated, CarriesIpv4AndIpv6FlowsWithEveryFieldAndExactTimes) {
  Capture cap;
  auto o = options(GetParam());
  o.domain = 77;
  NetflowEncoder enc(o, cap.emit());
  const bool v9 = GetParam() == ExportProtocol::kNetflowV9;
  std::vector<ExportedFlow> in = {
      flow(kT0 + 1'001, kT0 + 2'999, v4(0x0A000001), v4(0x08080808), 5'000'000'000ULL, 70),
      flow(kT0 + 3'500, kT0 + 3'777, v6(0x20010db800000000ULL, 0x1),
           v6(0x2a00145040070800ULL, 0x200e), 1500, 1),
      flow(kT0 + 4'000, kT0 + 4'321, v4(0xC0000201), v4(0xC6336402), 40, 1),
  };
  in[1].ip_protocol = 17;
  in[1].tcp_flags = 0;
  in[1].input_if = 100'000;  // does not fit v5's 16 bits: fine here
  enc.encode(in);
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 1u);
  const WireDatagram& g = d[0];
  EXPECT_EQ(g.version, v9 ? 9 : 10);
  EXPECT_EQ(g.domain, 77u);
  EXPECT_EQ(g.sequence, 0u);
  // The templates come first, then one set per run of one address family.
  ASSERT_EQ(g.templates.size(), 2u);
  EXPECT_EQ(g.templates[0].id, 256);
  EXPECT_EQ(g.templates[1].id, 257);
  EXPECT_EQ(g.set_lengths.size(), 4u);
  ASSERT_EQ(g.records.size(), 3u);
  EXPECT_EQ(g.records[0].template_id, 256);
  EXPECT_EQ(g.records[1].template_id, 257);
  for (size_t i = 0; i < in.size(); ++i)
    expect_same(to_flow(g, g.records[i]), in[i], std::to_string(i));
  // Counters are 8 bytes; times are uptimes (v9) or absolute ms (IPFIX).
  EXPECT_EQ(g.records[0].length(1), 8u);
  EXPECT_EQ(g.records[0].length(2), 8u);
  EXPECT_EQ(g.records[0].length(6), v9 ? 1u : 2u);
  EXPECT_EQ(g.records[0].has(152), !v9);
  EXPECT_EQ(g.records[0].has(22), v9);
  if (v9) {
    EXPECT_EQ(g.count, 5);  // 2 templates + 3 data records
  } else {
    EXPECT_EQ(g.unix_secs, (kT0 + 4'321) / 1000);  // export time: the latest flow end
  }
}

TEST_P(Templated, IcmpTypeAndCodeTravelInTheirOwnFieldToo) {
  Capture cap;
  NetflowEncoder enc(options(GetParam()), cap.emit());
  const bool v9 = GetParam() == ExportProtocol::kNetflowV9;
  ExportedFlow echo = flow(kT0, kT0, v4(1), v4(2), 84, 1);
  echo.ip_protocol = 1;
  echo.src_port = 0;
  echo.dst_port = 8 * 256;  // echo request
  ExportedFlow echo6 = flow(kT0, kT0, v6(1, 1), v6(1, 2), 104, 1);
  echo6.ip_protocol = 58;
  echo6.src_port = 0;
  echo6.dst_port = 128 * 256 + 3;
  enc.encode(std::vector<ExportedFlow>{echo, echo6, flow(kT0, kT0, v4(1), v4(2), 1, 1)});
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 1u);
  ASSERT_EQ(d[0].records.size(), 3u);
  EXPECT_EQ(d[0].records[0].u(32), 0x0800u);
  EXPECT_EQ(d[0].records[0].u(11), 0x0800u);
  EXPECT_EQ(d[0].records[1].u(v9 ? 32 : 139), 128u * 256 + 3);
  EXPECT_EQ(d[0].records[1].u(11), 128u * 256 + 3);
  EXPECT_EQ(d[0].records[2].u(32), 0u);  // not ICMP
  EXPECT_EQ(d[0].records[2].u(11), 443u);
}

TEST_P(Templated, SequenceNumbersFollowTheRfc) {
  Capture cap;
  auto o = options(GetParam());
  o.max_datagram = 512;
  o.sampling_rate = 10;  // the options data record counts as an IPFIX data record
  o.template_every_datagrams = 3;
  NetflowEncoder enc(o, cap.emit());
  std::vector<ExportedFlow> in;
  for (int i = 0; i < 200; ++i)
    in.push_back(flow(kT0 + i * 10, kT0 + i * 10 + 5, v4(0x0A000000 + i), v4(0x0B000001), 1000, 2));
  enc.encode(in);
  const auto d = cap.read();
  ASSERT_GT(d.size(), 10u);
  uint64_t data_records = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    if (GetParam() == ExportProtocol::kNetflowV9)
      EXPECT_EQ(d[i].sequence, i);  // datagrams before this one
    else
      EXPECT_EQ(d[i].sequence, data_records);  // data records before this message
    data_records += d[i].records.size() + d[i].option_records.size();
  }
}

TEST_P(Templated, RefreshesTemplatesByDatagramsAndByExportTime) {
  Capture cap;
  auto o = options(GetParam());
  o.template_every_datagrams = 5;
  o.template_every_ms = 60'000;
  o.sampling_rate = 64;
  NetflowEncoder enc(o, cap.emit());
  // 12 datagrams a second apart, then a gap of two minutes, then 2 more.
  std::vector<ExportedFlow> in;
  for (int i = 0; i < 12; ++i) {
    enc.add(flow(kT0 + i * 1000, kT0 + i * 1000, v4(1), v4(2), 1, 1));
    enc.flush();
  }
  for (int i = 0; i < 2; ++i) {
    enc.add(flow(kT0 + 200'000 + i, kT0 + 200'000 + i, v4(1), v4(2), 1, 1));
    enc.flush();
  }
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 14u);
  std::vector<size_t> with_templates;
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i].templates.empty()) {
      EXPECT_TRUE(d[i].option_records.empty()) << i;
      continue;
    }
    with_templates.push_back(i);
    // Flow templates, the two sampling options templates and their records, together.
    ASSERT_EQ(d[i].templates.size(), 4u) << i;
    for (size_t t : {2, 3}) {
      EXPECT_TRUE(d[i].templates[t].options);
      EXPECT_EQ(d[i].templates[t].scope_fields, 1);
    }
    EXPECT_EQ(d[i].templates[2].fields.size(), 3u);  // scope, interval, algorithm
    EXPECT_EQ(d[i].templates[3].fields.size(), 2u);  // scope, interval
    ASSERT_EQ(d[i].option_records.size(), 2u) << i;
    for (const auto& r : d[i].option_records) EXPECT_EQ(r.u(34), 64u);
    EXPECT_EQ(d[i].option_records[0].u(35), 1u);
    EXPECT_FALSE(d[i].option_records[1].has(35));
  }
  // Every 5 datagrams, and at once after 60 s of export time without templates.
  EXPECT_EQ(with_templates, (std::vector<size_t>{0, 5, 10, 12}));
  EXPECT_EQ(enc.stats().template_datagrams, 4u);
}

TEST_P(Templated, UnsampledExportsSendNoOptions) {
  Capture cap;
  NetflowEncoder enc(options(GetParam()), cap.emit());
  enc.encode(std::vector<ExportedFlow>{flow(kT0, kT0, v4(1), v4(2), 1, 1)});
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].templates.size(), 2u);
  EXPECT_TRUE(d[0].option_records.empty());
}

TEST_P(Templated, AdvancingExportTimeRefreshesTemplatesForOldFlows) {
  Capture cap;
  auto o = options(GetParam());
  o.template_every_datagrams = 0;
  NetflowEncoder enc(o, cap.emit());
  enc.encode(std::vector<ExportedFlow>{flow(kT0, kT0, v4(1), v4(2), 1, 1)});
  enc.encode(std::vector<ExportedFlow>{flow(kT0, kT0, v4(1), v4(2), 1, 1)});
  enc.advance_export_time(kT0 + 61'000);
  enc.encode(std::vector<ExportedFlow>{flow(kT0, kT0, v4(1), v4(2), 1, 1)});
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_FALSE(d[0].templates.empty());
  EXPECT_TRUE(d[1].templates.empty());
  EXPECT_FALSE(d[2].templates.empty());
  expect_same(to_flow(d[2], d[2].records[0]), flow(kT0, kT0, v4(1), v4(2), 1, 1), "old flow");
}

TEST_P(Templated, DatagramsRespectTheMtuAndFillIt) {
  for (size_t mtu : {size_t{512}, size_t{1400}, size_t{1500}, size_t{9000}}) {
    Capture cap;
    auto o = options(GetParam());
    o.max_datagram = mtu;
    o.sampling_rate = 2;
    o.template_every_datagrams = 4;
    NetflowEncoder enc(o, cap.emit());
    std::mt19937_64 rng(mtu);
    std::vector<ExportedFlow> in;
    for (int i = 0; i < 3000; ++i) {
      const bool six = rng() % 3 == 0;
      in.push_back(flow(kT0 + i, kT0 + i + 10, six ? v6(rng(), rng()) : v4(uint32_t(rng())),
                        six ? v6(rng(), rng()) : v4(uint32_t(rng())), rng() % 100000, 1));
    }
    enc.encode(in);
    const auto d = cap.read();
    size_t records = 0;
    for (size_t i = 0; i < d.size(); ++i) {
      EXPECT_LE(d[i].size, mtu) << mtu;
      // Every datagram but the last was full: the next record did not fit.
      if (i + 1 < d.size()) {
        EXPECT_GT(d[i].size + 81 + 4 + 3, mtu) << mtu << " #" << i;
      }
      records += d[i].records.size();
    }
    EXPECT_EQ(records, in.size()) << mtu;
  }
}

INSTANTIATE_TEST_SUITE_P(V9AndIpfix, Templated,
                         ::testing::Values(ExportProtocol::kNetflowV9, ExportProtocol::kIpfix),
                         [](const auto& info) {
                           return info.param == ExportProtocol::kIpfix ? "Ipfix" : "V9";
                         });

// Random flows, versions, MTUs and refresh settings: the reader must give back exactly the flows
// put in, in order, with times exact to the ms.
TEST(NetflowEncoder, RandomizedRoundTripGivesBackEveryFlow) {
  std::mt19937_64 rng(2024);
  for (int round = 0; round < 60; ++round) {
    const ExportProtocol v = round % 3 == 0   ? ExportProtocol::kNetflowV5
                             : round % 3 == 1 ? ExportProtocol::kNetflowV9
                                              : ExportProtocol::kIpfix;
    auto o = options(v);
    o.max_datagram = kMinDatagram + rng() % 9000;
    o.template_every_datagrams = static_cast<uint32_t>(rng() % 10);
    o.template_every_ms = static_cast<int64_t>(rng() % 5000);
    o.domain = static_cast<uint32_t>(rng());
    core::TimeMs t = kT0 + static_cast<core::TimeMs>(rng() % 1'000'000'000);
    // Flows start up to 30 s before they end, so the first one need not start first.
    o.boot_time = t - 30'000 - static_cast<core::TimeMs>(rng() % 100'000);
    Capture cap;
    NetflowEncoder enc(o, cap.emit());
    std::vector<ExportedFlow> in;
    const int n = 1 + static_cast<int>(rng() % 2000);
    for (int i = 0; i < n; ++i) {
      t += static_cast<core::TimeMs>(rng() % 50);
      const bool six = v != ExportProtocol::kNetflowV5 && rng() % 4 == 0;
      ExportedFlow f = flow(t - static_cast<core::TimeMs>(rng() % 30'000), t,
                            six ? v6(rng(), rng()) : v4(uint32_t(rng())),
                            six ? v6(rng(), rng()) : v4(uint32_t(rng())), rng() % 4'000'000'000ULL,
                            1 + rng() % 100'000);
      f.src_port = static_cast<uint16_t>(rng());
      f.dst_port = static_cast<uint16_t>(rng());
      f.ip_protocol = static_cast<uint8_t>(rng());
      f.tcp_flags = static_cast<uint8_t>(rng());
      f.input_if =
          static_cast<uint32_t>(rng() % (v == ExportProtocol::kNetflowV5 ? 65536 : 1u << 31));
      f.output_if =
          static_cast<uint32_t>(rng() % (v == ExportProtocol::kNetflowV5 ? 65536 : 1u << 31));
      in.push_back(f);
      enc.add(f);
      if (rng() % 500 == 0) enc.flush();
    }
    enc.flush();
    const auto d = cap.read();
    std::vector<ExportedFlow> out;
    for (const auto& g : d) {
      EXPECT_LE(g.size, o.max_datagram);
      for (const auto& r : g.records) out.push_back(to_flow(g, r));
    }
    ASSERT_EQ(out.size(), in.size()) << "round " << round;
    for (size_t i = 0; i < in.size(); ++i)
      expect_same(out[i], in[i], "round " + std::to_string(round) + " flow " + std::to_string(i));
    EXPECT_EQ(enc.stats().clamped_times, 0u);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(NetflowEncoder, FlowsBeforeTheBootTimeAreClampedAndCounted) {
  Capture cap;
  auto o = options(ExportProtocol::kNetflowV9);
  o.boot_time = kT0;
  NetflowEncoder enc(o, cap.emit());
  enc.encode(std::vector<ExportedFlow>{flow(kT0 - 5000, kT0 + 10, v4(1), v4(2), 1, 1)});
  const auto d = cap.read();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].start_ms(d[0].records[0]), kT0);
  EXPECT_EQ(d[0].end_ms(d[0].records[0]), kT0 + 10);
  EXPECT_EQ(enc.stats().clamped_times, 1u);
  EXPECT_EQ(enc.boot_time(), kT0);
}

// Through the collector's own decoder: what the exporter sends is what the collector reads,
// sampling rate, domain, loss accounting and all.
class RoundTrip : public ::testing::TestWithParam<ExportProtocol> {};

TEST_P(RoundTrip, TheDecoderGivesBackEveryFlowWithItsSamplingRate) {
  const ExportProtocol v = GetParam();
  for (const uint32_t sampling : {1u, 100u}) {
    auto o = options(v);
    o.domain = v == ExportProtocol::kNetflowV5 ? 0 : 4242;
    o.sampling_rate = sampling;
    o.template_every_datagrams = 7;
    o.max_datagram = 1400;
    Capture cap;
    NetflowEncoder enc(o, cap.emit());
    std::mt19937_64 rng(sampling);
    std::vector<ExportedFlow> in;
    core::TimeMs t = kT0;
    for (int i = 0; i < 5000; ++i) {
      t += static_cast<core::TimeMs>(rng() % 7);
      const bool six = v != ExportProtocol::kNetflowV5 && i % 3 == 0;
      ExportedFlow f = flow(t - static_cast<core::TimeMs>(rng() % 900), t,
                            six ? v6(rng(), rng()) : v4(uint32_t(rng())),
                            six ? v6(rng(), rng()) : v4(uint32_t(rng())), rng() % 3'000'000'000ULL,
                            1 + rng() % 5000);
      f.src_port = static_cast<uint16_t>(rng());
      f.dst_port = static_cast<uint16_t>(rng());
      f.ip_protocol = i % 2 ? 6 : 17;
      f.tcp_flags = static_cast<uint8_t>(rng());
      in.push_back(f);
    }
    in.front().start = kT0;  // the default boot time comes from the first flow
    enc.encode(in);

    NetflowDecoder decoder;
    const ExporterAddress from{v4(0x7F000001), 40000};
    std::vector<ExportedFlow> out;
    for (const auto& d : cap.datagrams) {
      const DecodeResult r = decoder.decode(d.data(), d.size(), from, kT0 + 3'600'000, out);
      EXPECT_EQ(r.status, DecodeStatus::kOk);
      EXPECT_EQ(r.template_misses, 0u);
    }
    ASSERT_EQ(out.size(), in.size()) << "sampling " << sampling;
    for (size_t i = 0; i < in.size(); ++i) {
      const std::string where =
          "sampling " + std::to_string(sampling) + " flow " + std::to_string(i);
      expect_same(out[i], in[i], where);
      EXPECT_EQ(out[i].sampling_rate, sampling) << where;
      EXPECT_EQ(out[i].domain, o.domain) << where;
      EXPECT_EQ(out[i].protocol, v) << where;
      if (::testing::Test::HasFailure()) return;
    }
    const auto stats = decoder.exporters();
    ASSERT_EQ(stats.size(), 1u);
    EXPECT_EQ(stats[0].datagrams, cap.datagrams.size());
    EXPECT_EQ(stats[0].flows, in.size());
    EXPECT_EQ(stats[0].lost, 0u);
    EXPECT_EQ(stats[0].malformed, 0u);
    EXPECT_EQ(stats[0].sequence_resets, 0u);
    EXPECT_EQ(stats[0].template_misses, 0u);
    EXPECT_EQ(stats[0].sampling_rate, sampling > 1 ? sampling : 0u);
  }
}

// Losing datagrams on the way shows up as loss in the protocol's unit.
TEST_P(RoundTrip, TheDecoderSeesLostDatagramsThroughTheSequenceNumbers) {
  const ExportProtocol v = GetParam();
  auto o = options(v);
  o.template_every_datagrams = 1;  // every datagram decodable on its own
  Capture cap;
  NetflowEncoder enc(o, cap.emit());
  std::vector<ExportedFlow> in;
  for (int i = 0; i < 1000; ++i)
    in.push_back(flow(kT0 + i, kT0 + i, v4(0x0A000000 + i), v4(0x0B000000), 100, 1));
  enc.encode(in);
  ASSERT_GT(cap.datagrams.size(), 5u);
  NetflowDecoder decoder;
  std::vector<ExportedFlow> out;
  uint64_t dropped_records = 0;
  for (size_t i = 0; i < cap.datagrams.size(); ++i) {
    const auto& d = cap.datagrams[i];
    if (i == 2) {  // lost on the way
      dropped_records = WireReader().read(d.data(), d.size()).records.size();
      continue;
    }
    decoder.decode(d.data(), d.size(), ExporterAddress{v4(1), 1}, kT0, out);
  }
  EXPECT_EQ(out.size(), in.size() - dropped_records);
  const auto stats = decoder.exporters();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].lost, v == ExportProtocol::kNetflowV9 ? 1u : dropped_records);
}

INSTANTIATE_TEST_SUITE_P(AllVersions, RoundTrip,
                         ::testing::Values(ExportProtocol::kNetflowV5, ExportProtocol::kNetflowV9,
                                           ExportProtocol::kIpfix),
                         [](const auto& info) {
                           return info.param == ExportProtocol::kIpfix       ? "Ipfix"
                                  : info.param == ExportProtocol::kNetflowV9 ? "V9"
                                                                             : "V5";
                         });

}  // namespace
}  // namespace netpulse::collect
