// NetFlow / IPFIX decoding speed: flow records per second on one core from about 1000
// datagrams in memory, decoded again and again by one NetflowDecoder (templates known after
// the first pass, as in a steady stream). Datagrams as softflowd sends them: v5 with 30
// records; v9 and IPFIX with an IPv4 5-tuple, counters, interfaces and times (v9 sysUptime,
// IPFIX milliseconds); and IPFIX over IPv6. The target is 10 M records/s (issue 10).
//
//   build/bench/netpulse_bench --benchmark_filter=Netflow
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "../tests/collect/datagram_builder.hpp"
#include "collect/netflow_decoder.hpp"

namespace netpulse::collect {
namespace {

using test::netflow::MessageBuilder;
using Datagram = std::vector<uint8_t>;

constexpr int kDatagrams = 1000;
constexpr uint32_t kExportSecs = 1'700'000'000;
constexpr int kTemplateEvery = 16;  // softflowd's refresh interval

struct Stream {
  std::vector<Datagram> datagrams;
  size_t records = 0;
};

Stream v5_stream() {
  Stream s;
  for (int i = 0; i < kDatagrams; ++i) {
    test::netflow::V5Header h;
    h.sys_uptime = 3'600'000 + static_cast<uint32_t>(i);
    h.unix_secs = kExportSecs;
    h.flow_sequence = static_cast<uint32_t>(i * 30);
    std::vector<test::netflow::V5Record> records(30);
    for (size_t r = 0; r < records.size(); ++r) {
      auto& rec = records[r];
      rec.src = 0x0A000000u + static_cast<uint32_t>(i * 30 + r);
      rec.dst = 0xC0A80101u;
      rec.packets = 10;
      rec.bytes = 1500 + static_cast<uint32_t>(r);
      rec.first = 3'000'000;
      rec.last = 3'500'000;
      rec.src_port = static_cast<uint16_t>(40000 + r);
      rec.dst_port = 443;
      rec.protocol = 6;
      rec.tcp_flags = 0x1b;
    }
    s.datagrams.push_back(test::netflow::v5_datagram(h, records));
    s.records += records.size();
  }
  return s;
}

Stream v9_stream() {
  Stream s;
  constexpr int kPerDatagram = 40;  // 34-byte records: a 1400-byte datagram
  for (int i = 0; i < kDatagrams; ++i) {
    MessageBuilder m = MessageBuilder::v9(3'600'000, kExportSecs, static_cast<uint32_t>(i), 0);
    if (i % kTemplateEvery == 0) {
      m.template_set(1024, {{8, 4},
                            {12, 4},
                            {21, 4},
                            {22, 4},
                            {1, 4},
                            {2, 4},
                            {10, 2},
                            {14, 2},
                            {7, 2},
                            {11, 2},
                            {6, 1},
                            {4, 1}});
    }
    m.begin_set(1024);
    for (int r = 0; r < kPerDatagram; ++r) {
      m.u32(0x0A000000u + static_cast<uint32_t>(i * kPerDatagram + r)).u32(0xC0A80101u);
      m.u32(3'500'000).u32(3'000'000).u32(1500 + r).u32(10);
      m.u16(1).u16(2).u16(40000 + r).u16(443).u8(0x1b).u8(6);
    }
    m.end_set();
    s.datagrams.push_back(m.build());
    s.records += kPerDatagram;
  }
  return s;
}

Stream ipfix_stream(bool v6) {
  Stream s;
  const int per_datagram = v6 ? 18 : 26;  // 76- and 52-byte records
  uint32_t sequence = 0;
  for (int i = 0; i < kDatagrams; ++i) {
    MessageBuilder m = MessageBuilder::ipfix(kExportSecs, sequence, 0);
    const uint16_t src = v6 ? 27 : 8, dst = v6 ? 28 : 12, len = v6 ? 16 : 4;
    const uint16_t id = v6 ? 2048 : 1024;
    if (i % kTemplateEvery == 0) {
      m.template_set(id, {{src, len},
                          {dst, len},
                          {1, 4},
                          {2, 4},
                          {10, 4},
                          {14, 4},
                          {7, 2},
                          {11, 2},
                          {4, 1},
                          {6, 1},
                          {60, 1},
                          {5, 1},
                          {uint16_t(v6 ? 139 : 32), 2},
                          {58, 2},
                          {152, 8},
                          {153, 8}});
    }
    m.begin_set(id);
    for (int r = 0; r < per_datagram; ++r) {
      const auto n = static_cast<uint64_t>(i * per_datagram + r);
      if (v6) {
        m.ip6(0x20010DB800000000, n).ip6(0x20010DB8000000FF, 1);
      } else {
        m.u32(0x0A000000u + n).u32(0xC0A80101u);
      }
      m.u32(1500 + r).u32(10).u32(1).u32(2).u16(40000 + r).u16(443).u8(6).u8(0x1b);
      m.u8(v6 ? 6 : 4).u8(0).u16(0).u16(0);
      m.u64(uint64_t{kExportSecs} * 1000 - 60'000).u64(uint64_t{kExportSecs} * 1000 - 10);
    }
    m.end_set();
    s.datagrams.push_back(m.build());
    s.records += static_cast<size_t>(per_datagram);
    sequence += static_cast<uint32_t>(per_datagram);
  }
  return s;
}

void decode_stream(benchmark::State& state, const Stream& s) {
  NetflowDecoder decoder;
  const ExporterAddress from{core::IpAddr::v4(0xC0000201u), 2055};
  std::vector<ExportedFlow> out;
  out.reserve(s.records);
  size_t flows = 0;
  for (auto _ : state) {
    out.clear();
    for (const Datagram& g : s.datagrams) {
      decoder.decode(g.data(), g.size(), from, 1'700'000'000'000, out);
    }
    flows += out.size();
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  if (flows < s.records * static_cast<size_t>(state.iterations()) - s.records) {
    state.SkipWithError("flows went missing");
  }
  state.SetItemsProcessed(static_cast<int64_t>(flows));
}

void BM_NetflowDecodeV5(benchmark::State& state) {
  static const Stream s = v5_stream();
  decode_stream(state, s);
}
BENCHMARK(BM_NetflowDecodeV5);

void BM_NetflowDecodeV9(benchmark::State& state) {
  static const Stream s = v9_stream();
  decode_stream(state, s);
}
BENCHMARK(BM_NetflowDecodeV9);

void BM_NetflowDecodeIpfixV4(benchmark::State& state) {
  static const Stream s = ipfix_stream(false);
  decode_stream(state, s);
}
BENCHMARK(BM_NetflowDecodeIpfixV4);

void BM_NetflowDecodeIpfixV6(benchmark::State& state) {
  static const Stream s = ipfix_stream(true);
  decode_stream(state, s);
}
BENCHMARK(BM_NetflowDecodeIpfixV6);

}  // namespace
}  // namespace netpulse::collect
