// Micro-benchmarks of the engine's hot path: the line parser and the pane table.
//   build/bench/netpulse_bench --benchmark_filter='Parse|AggMap'
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/protocol_table.hpp"
#include "engine/agg_map.hpp"
#include "ingest/flow_parser.hpp"

namespace {

std::vector<std::string> make_lines(size_t n) {
  static const char* kProtocols[] = {"HTTP", "HTTPS", "DNS", "SOAP", "SSH", "FTP", "SMTP"};
  std::mt19937_64 rng(1);
  std::vector<std::string> lines;
  for (size_t i = 0; i < n; ++i) {
    char buf[128];
    const unsigned s = static_cast<unsigned>(i / 1000 % 60);
    const int len = std::snprintf(buf, sizeof buf, "2020-05-09 20:41:%02u.%03zu %s %u.%u.%u.%u 10.0.%u.%u %u", s,
                                  i % 1000, kProtocols[rng() % 7], static_cast<unsigned>(rng() % 223 + 1),
                                  static_cast<unsigned>(rng() % 256), static_cast<unsigned>(rng() % 256),
                                  static_cast<unsigned>(rng() % 256), static_cast<unsigned>(rng() % 256),
                                  static_cast<unsigned>(rng() % 256), static_cast<unsigned>(rng() % 1500));
    lines.emplace_back(buf, static_cast<size_t>(len));
  }
  return lines;
}

void BM_ParseLine(benchmark::State& state) {
  const auto lines = make_lines(100000);
  netpulse::core::ProtocolTable table;
  netpulse::ingest::FlowParser parser(table, netpulse::ingest::Format::kLine);
  netpulse::core::FlowRecord rec;
  size_t i = 0, bytes = 0;
  for (auto _ : state) {
    const std::string& l = lines[i];
    benchmark::DoNotOptimize(parser.parse(l.data(), l.data() + l.size(), rec));
    bytes += l.size() + 1;
    if (++i == lines.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_ParseLine);

// Adds into a table of `range` distinct IPv4 keys (a pane holds ~70k, a 60 s window ~700k).
void BM_AggMapAdd(benchmark::State& state) {
  const auto range = static_cast<uint32_t>(state.range(0));
  std::mt19937 rng(1);
  std::vector<uint32_t> keys(1 << 16);
  for (auto& k : keys) k = rng() % range;
  netpulse::engine::AggMap<uint32_t> map;
  size_t i = 0;
  for (auto _ : state) {
    map.add(keys[i], 100, 1);
    i = (i + 1) & (keys.size() - 1);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_AggMapAdd)->Arg(1000)->Arg(70000)->Arg(700000);

}  // namespace
