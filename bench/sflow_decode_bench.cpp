// sFlow v5 decoding speed: packet samples per second on one core from 1,000 datagrams in memory,
// each with 6 flow samples as switches send them (a 128-byte raw packet header and an extended
// switch record per sample): 70 % Ethernet/IPv4/TCP, 15 % Ethernet/IPv6/UDP, 15 % 802.1Q/IPv4/UDP,
// from 4 agents taking turns. Also the packet-header decode alone (core/packet_decode).
//
//   build/bench/netpulse_bench --benchmark_filter=Sflow
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "collect/sflow_decoder.hpp"
#include "core/packet_decode.hpp"

namespace netpulse::collect {
namespace {

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, uint32_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
void put32(Bytes& b, uint32_t v) {
  put16(b, v >> 16);
  put16(b, v);
}

constexpr size_t kHeaderBytes = 128;
constexpr int kDatagrams = 1000;
constexpr int kSamplesPerDatagram = 6;
constexpr int kAgents = 4;

// The first 128 bytes of a frame (the rest is never sampled) and the frame's length.
struct Frame {
  Bytes header;
  uint32_t frame_length;
};

Frame make_frame(std::mt19937& rng) {
  Frame f;
  Bytes& b = f.header;
  for (int i = 0; i < 12; ++i) b.push_back(static_cast<uint8_t>(rng()));  // MACs
  const unsigned kind = rng() % 100;
  const uint32_t payload = 64 + rng() % 1400;
  if (kind < 70) {
    put16(b, 0x0800);
    put16(b, 0x4500);
    put16(b, 20 + 20 + payload);
    put32(b, 0x40000000);  // id, DF
    put16(b, 0x4006);      // TTL 64, TCP
    put16(b, 0);
    put32(b, 0x0a000000 | (rng() & 0xffff));
    put32(b, 0xc0a80000 | (rng() & 0xffff));
    put16(b, 1024 + rng() % 60000);
    put16(b, rng() % 2 ? 443 : 80);
    put32(b, rng());
    put32(b, rng());
    put16(b, 0x5018);  // 20-byte header, PSH ACK
    put32(b, 0xffff0000);
    put16(b, 0);
    f.frame_length = 14 + 40 + payload + 4;
  } else if (kind < 85) {
    put16(b, 0x86dd);
    put32(b, 0x60000000);
    put16(b, 8 + payload);
    put16(b, 17 << 8 | 64);
    for (int i = 0; i < 8; ++i) put32(b, i == 0 ? 0x20010db8 : rng());
    put16(b, 1024 + rng() % 60000);
    put16(b, 53);
    put16(b, 8 + payload);
    put16(b, 0);
    f.frame_length = 14 + 48 + payload + 4;
  } else {
    put16(b, 0x8100);
    put16(b, rng() % 4094 + 1);
    put16(b, 0x0800);
    put16(b, 0x4500);
    put16(b, 20 + 8 + payload);
    put32(b, 0);
    put16(b, 0x4011);  // TTL 64, UDP
    put16(b, 0);
    put32(b, 0x0a000000 | (rng() & 0xffff));
    put32(b, 0xc0a80000 | (rng() & 0xffff));
    put16(b, 1024 + rng() % 60000);
    put16(b, 4789);
    put16(b, 8 + payload);
    put16(b, 0);
    f.frame_length = 18 + 28 + payload + 4;
  }
  // The sampled bytes beyond the headers; a short frame is sampled whole.
  const size_t captured = std::min<size_t>(kHeaderBytes, f.frame_length - 4);
  while (b.size() < captured) b.push_back(static_cast<uint8_t>(rng()));
  b.resize(captured);
  return f;
}

Bytes make_datagram(std::mt19937& rng, uint32_t agent, uint32_t sequence,
                    std::vector<Frame>* frames) {
  Bytes d;
  put32(d, 5);
  put32(d, 1);
  put32(d, 0xc0000200 | agent);
  put32(d, 0);
  put32(d, sequence);
  put32(d, 1000 * sequence);
  put32(d, kSamplesPerDatagram);
  for (int s = 0; s < kSamplesPerDatagram; ++s) {
    const Frame f = make_frame(rng);
    if (frames) frames->push_back(f);
    const size_t padded = (f.header.size() + 3) & ~size_t{3};
    put32(d, 1);  // flow sample
    put32(d, static_cast<uint32_t>(32 + 8 + 16 + padded + 8 + 16));
    put32(d, sequence * kSamplesPerDatagram + s);
    put32(d, 1 + rng() % 48);  // source id: ifIndex
    put32(d, 2048);
    put32(d, 2048 * (sequence * kSamplesPerDatagram + s));
    put32(d, 0);
    put32(d, 1 + rng() % 48);
    put32(d, 1 + rng() % 48);
    put32(d, 2);  // records
    put32(d, 1);  // raw packet header
    put32(d, static_cast<uint32_t>(16 + padded));
    put32(d, 1);  // Ethernet
    put32(d, f.frame_length);
    put32(d, 4);
    put32(d, static_cast<uint32_t>(f.header.size()));
    d.insert(d.end(), f.header.begin(), f.header.end());
    d.resize(d.size() + padded - f.header.size(), 0);
    put32(d, 1001);  // extended switch
    put32(d, 16);
    for (uint32_t v : {100u, 0u, 100u, 0u}) put32(d, v);
  }
  return d;
}

struct Corpus {
  std::vector<Bytes> datagrams;
  std::vector<Frame> frames;
  Corpus() {
    std::mt19937 rng(2024);
    for (int i = 0; i < kDatagrams; ++i) {
      datagrams.push_back(make_datagram(rng, static_cast<uint32_t>(i % kAgents),
                                        static_cast<uint32_t>(1 + i / kAgents), &frames));
    }
  }
};

const Corpus& corpus() {
  static const Corpus c;
  return c;
}

void BM_SflowDecode(benchmark::State& state) {
  const Corpus& c = corpus();
  SflowDecoder decoder;
  std::vector<ExportedFlow> out;
  out.reserve(kSamplesPerDatagram);
  const ExporterAddress from{core::IpAddr::v4(0xc0000201), 6343};
  uint64_t flows = 0;
  for (auto _ : state) {
    for (const Bytes& d : c.datagrams) {
      out.clear();
      const DecodeResult r = decoder.decode(d.data(), d.size(), from, 1'700'000'000'000, out);
      flows += r.flows;
      benchmark::DoNotOptimize(out.data());
    }
  }
  if (flows != uint64_t{kDatagrams} * kSamplesPerDatagram * state.iterations()) {
    state.SkipWithError("not every sample decoded");
  }
  state.SetItemsProcessed(static_cast<int64_t>(flows));
  state.counters["samples_per_datagram"] = kSamplesPerDatagram;
}
BENCHMARK(BM_SflowDecode);

void BM_SflowPacketHeaderDecode(benchmark::State& state) {
  const Corpus& c = corpus();
  uint64_t ok = 0;
  for (auto _ : state) {
    for (const Frame& f : c.frames) {
      core::PacketInfo info;
      ok += core::decode_packet(core::LinkType::kEthernet, f.header.data(), f.header.size(),
                                info) == core::PacketStatus::kOk;
      benchmark::DoNotOptimize(info);
    }
  }
  if (ok != c.frames.size() * state.iterations()) state.SkipWithError("a header did not decode");
  state.SetItemsProcessed(static_cast<int64_t>(ok));
}
BENCHMARK(BM_SflowPacketHeaderDecode);

}  // namespace
}  // namespace netpulse::collect
