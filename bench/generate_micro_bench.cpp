// Micro-benchmarks of the generator's hot path: key draws, record formatting, the whole loop.
//   build/bench/netpulse_bench --benchmark_filter='Generate|KeySampler|RecordFormatter'
#include <benchmark/benchmark.h>

#include <vector>

#include "generate/generator.hpp"
#include "generate/key_sampler.hpp"
#include "generate/record_formatter.hpp"
#include "generate/rng.hpp"

namespace {

using namespace netpulse::generate;

void BM_KeySamplerZipf(benchmark::State& state) {
  const KeySampler sampler(static_cast<uint32_t>(state.range(0)), Skew::zipf(1.0));
  SplitMix64 rng(1);
  for (auto _ : state) benchmark::DoNotOptimize(sampler.draw(rng.next()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeySamplerZipf)->Arg(19)->Arg(1000)->Arg(1'000'000)->Arg(10'000'000);

void BM_KeySamplerPercent(benchmark::State& state) {
  const KeySampler sampler(static_cast<uint32_t>(state.range(0)), Skew::first_percent(40));
  SplitMix64 rng(1);
  for (auto _ : state) benchmark::DoNotOptimize(sampler.draw(rng.next()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_KeySamplerPercent)->Arg(15)->Arg(1'000'000);

void BM_RecordFormatter(benchmark::State& state) {
  RecordFormatter f(OutputFormat::kLine);
  std::vector<char> buf(1 << 20);
  SplitMix64 rng(1);
  netpulse::core::TimeMs t = 1'589'000'000'000;
  char* p = buf.data();
  for (auto _ : state) {
    if (p > buf.data() + buf.size() - RecordFormatter::kMaxRecordText) p = buf.data();
    const uint64_t r = rng.next();
    p = f.write(p, t++ / 8, static_cast<uint32_t>(r % kMaxProtocols), high32(r), low32(r),
                static_cast<uint32_t>(r >> 53));
  }
  benchmark::DoNotOptimize(p);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecordFormatter);

// The whole loop into memory that is thrown away: what `--rate 0 > /dev/null` costs without
// the write() system calls.
class DiscardSink final : public RecordSink {
 public:
  bool begin(std::string_view) override { return true; }
  bool write(const char* data, size_t size, uint64_t) override {
    benchmark::DoNotOptimize(data);
    bytes += size;
    return true;
  }
  uint64_t bytes = 0;
};

void BM_GenerateLoop(benchmark::State& state) {
  GeneratorConfig c;
  c.params.rate = 200'000;
  c.params.ips = static_cast<uint32_t>(state.range(0));
  if (state.range(1)) c.params.ip_skew = c.params.protocol_skew = Skew::zipf(1.0);
  c.start_time = 1'589'000'000'000;
  c.count = 2'000'000;
  uint64_t records = 0;
  for (auto _ : state) {
    Generator g(c);
    DiscardSink sink;
    records += g.run(sink).records;
  }
  state.SetItemsProcessed(static_cast<int64_t>(records));
}
BENCHMARK(BM_GenerateLoop)
    ->Args({15, 0})
    ->Args({1'000'000, 0})
    ->Args({1'000'000, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
