// Property tests: random streams (out-of-order and late records, gaps, malformed and blank
// lines, IPv4 and IPv6, bytes from 0 to 4294967295) through the real pipeline, checked against
// the brute-force reference across T, slide, time unit, lateness, ip-key, thread counts and
// block sizes; and the JSON output must be byte-identical for every thread count.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "harness.hpp"
#include "reference.hpp"
#include "stream_gen.hpp"

namespace netpulse::testref {
namespace {

std::string describe(uint64_t seed, const Options& o) {
  std::ostringstream s;
  s << "seed=" << seed << " unit_ms=" << o.unit_ms << " slide=" << o.slide << " lateness=" << o.lateness
    << " ip_key=" << (o.ip_key == KeyMode::kSrc ? "src" : o.ip_key == KeyMode::kDst ? "dst" : "host")
    << " " << describe_params(o.params);
  return s.str();
}

// Random options; fields the caller fixes are overwritten afterwards.
Options random_options(StreamGen& g) {
  Options o;
  const int64_t units[] = {100, 1000, 60000};
  o.unit_ms = units[g.index(3)];
  o.params.T = 1 + static_cast<int64_t>(g.index(12));
  const int64_t slides[] = {1, 1, 2, 3, 5};
  o.slide = slides[g.index(5)];
  const int64_t lateness[] = {0, 0, 1, 3};
  o.lateness = lateness[g.index(4)];
  const KeyMode keys[] = {KeyMode::kSrc, KeyMode::kDst, KeyMode::kHost};
  o.ip_key = keys[g.index(3)];
  const double H[] = {2.5, 10, 12.5, 25, 50, 100};  // multiples of 1/1024: exact decisions
  o.params.H = H[g.index(6)];
  const int64_t k[] = {1, 2, 3, 5, 50};
  o.params.k = k[g.index(5)];
  const double X[] = {0, 0.5, 1, 1.5, 2, 3};
  o.params.X = X[g.index(6)];
  return o;
}

// Runs one stream through the engine with 1, 2, 3 and 4 threads and small blocks; every run
// must match the reference and produce the same JSON bytes.
void check(uint64_t seed, const Options& o, const std::string& text, int64_t max_window = 3600) {
  SCOPED_TRACE(describe(seed, o) + " max_window=" + std::to_string(max_window));
  const Result ref = compute(text, o);
  StreamGen blocks(seed * 7919 + 1);
  std::string first_json;
  for (int threads = 1; threads <= 4; ++threads) {
    const size_t block = 30 + blocks.index(300);  // a line is ~40-90 bytes: 1-8 lines a block
    SCOPED_TRACE("threads=" + std::to_string(threads) + " block_size=" + std::to_string(block));
    const EngineRun run = run_engine(text, o, threads, block, max_window);
    ASSERT_FALSE(run.error) << *run.error;
    EXPECT_EQ(windows_match(run.results, ref.windows), "");
    EXPECT_EQ(run.accepted, ref.accepted);
    EXPECT_EQ(run.late, ref.late);
    EXPECT_EQ(run.malformed, ref.malformed);
    EXPECT_EQ(run.windows, ref.windows.size());
    EXPECT_EQ(run.lines, ref.lines);
    if (threads == 1) first_json = run.json;
    else EXPECT_TRUE(run.json == first_json) << "JSON output differs from --threads 1";
    if (::testing::Test::HasFailure()) return;  // one report per seed is enough
  }
}

void check_seeds(uint64_t first, uint64_t count,
                 const std::function<void(StreamGen&, Options&, StreamShape&)>& shape_it,
                 bool tight_max_window = false) {
  for (uint64_t seed = first; seed < first + count; ++seed) {
    StreamGen g(seed);
    Options o = random_options(g);
    StreamShape s;
    s.records = 150 + g.index(350);
    s.protocols = 1 + g.index(6);
    s.v4_addresses = 3 + g.index(14);
    s.v6_addresses = g.index(4);
    shape_it(g, o, s);
    s.unit_ms = o.unit_ms;
    s.lateness = o.lateness;
    check(seed, o, g.make(s), tight_max_window ? o.params.T : 3600);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(PipelineProperty, RandomOptionsMatchReference) {
  check_seeds(1, 60, [](StreamGen&, Options&, StreamShape&) {});
}

TEST(PipelineProperty, SrcKey) {
  check_seeds(1000, 25, [](StreamGen&, Options& o, StreamShape&) { o.ip_key = KeyMode::kSrc; });
}

TEST(PipelineProperty, DstKey) {
  check_seeds(2000, 25, [](StreamGen&, Options& o, StreamShape&) { o.ip_key = KeyMode::kDst; });
}

TEST(PipelineProperty, HostKeyWithManySelfFlows) {
  check_seeds(3000, 25, [](StreamGen&, Options& o, StreamShape& s) {
    o.ip_key = KeyMode::kHost;
    s.same_src_dst = 0.4;
  });
}

TEST(PipelineProperty, HundredMillisecondUnit) {
  check_seeds(4000, 20, [](StreamGen&, Options& o, StreamShape&) { o.unit_ms = 100; });
}

TEST(PipelineProperty, LargeLatenessManyOutOfOrder) {
  check_seeds(5000, 20, [](StreamGen& g, Options& o, StreamShape& s) {
    o.lateness = 4 + static_cast<int64_t>(g.index(10));
    s.out_of_order = 0.5;
  });
}

TEST(PipelineProperty, SlideLongerThanWindow) {
  check_seeds(6000, 20, [](StreamGen& g, Options& o, StreamShape&) {
    o.slide = 3 + static_cast<int64_t>(g.index(5));
    o.params.T = 1 + static_cast<int64_t>(g.index(static_cast<size_t>(o.slide - 1)));
  });
}

TEST(PipelineProperty, SparseStreamsWithGaps) {
  check_seeds(7000, 20, [](StreamGen&, Options&, StreamShape& s) {
    s.gap = 0.15;
    s.step_units = 2;
  });
}

TEST(PipelineProperty, DenseStreamsManyKeys) {
  // Many records per window and many addresses: exercises the per-shard top-k heaps and the
  // candidate merge with keys spread over every shard.
  check_seeds(8000, 8, [](StreamGen&, Options& o, StreamShape& s) {
    s.records = 1500;
    s.step_units = 0.02;
    s.v4_addresses = 200;
    s.v6_addresses = 6;
    o.params.k = 7;
  });
}

TEST(PipelineProperty, MaxWindowEqualToT) {
  // Panes are kept only T units: eviction runs right behind the windows.
  check_seeds(10000, 25, [](StreamGen&, Options&, StreamShape&) {}, true);
}

TEST(PipelineProperty, OneBigBlock) {
  // The whole input in one block: one round, every window emitted at the end.
  for (uint64_t seed = 9000; seed < 9010; ++seed) {
    StreamGen g(seed);
    Options o = random_options(g);
    StreamShape s;
    s.unit_ms = o.unit_ms;
    s.lateness = o.lateness;
    const std::string text = g.make(s);
    SCOPED_TRACE(describe(seed, o));
    const Result ref = compute(text, o);
    for (int threads : {1, 3}) {
      const EngineRun run = run_engine(text, o, threads, 1 << 20);
      EXPECT_EQ(windows_match(run.results, ref.windows), "") << "threads=" << threads;
      EXPECT_EQ(run.late, ref.late);
    }
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace netpulse::testref
