// The memory budget's sketches (src/engine/sketch.hpp) against exact counts: HyperLogLog's key
// count within a few standard errors, merge = union; the AMS sketch's sum of squares within its
// error, linear (a window's sketch is the sum of its panes', and subtracting works), and
// indifferent to how a key's bytes were split over updates.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "engine/agg_map.hpp"
#include "engine/sketch.hpp"

namespace netpulse::engine {
namespace {

uint64_t h(uint32_t key) { return std::rotl(key_hash(key), 32); }

TEST(HyperLogLog, CountsDistinctKeysWithinFourStandardErrors) {
  std::mt19937_64 g(3);
  for (size_t n : {10u, 1000u, 50000u, 400000u, 3000000u}) {
    HyperLogLog hll;
    for (size_t i = 0; i < n; ++i) {
      const uint32_t k = static_cast<uint32_t>(g());
      hll.add(h(k));
      hll.add(h(k));  // a key seen twice counts once
    }
    const double err = std::abs(hll.estimate() / static_cast<double>(n) - 1);
    EXPECT_LT(err, 4 * HyperLogLog::relative_error() + (n < 100 ? 0.05 : 0)) << n;
  }
  EXPECT_EQ(HyperLogLog().estimate(), 0);
}

TEST(HyperLogLog, MergeIsTheUnion) {
  HyperLogLog a, b, both;
  for (uint32_t k = 0; k < 200000; ++k) {
    (k % 3 == 0 ? a : b).add(h(k));
    if (k % 2 == 0) a.add(h(k));  // overlap
    both.add(h(k));
  }
  a.merge(b);
  EXPECT_EQ(a.estimate(), both.estimate());
  EXPECT_NEAR(a.estimate(), 200000, 200000 * 4 * HyperLogLog::relative_error());
}

TEST(F2Sketch, EstimatesTheSumOfSquaresOfSkewedBytes) {
  std::mt19937_64 g(5);
  for (int trial = 0; trial < 5; ++trial) {
    F2Sketch s;
    long double exact = 0;
    for (uint32_t k = 0; k < 100000; ++k) {
      // A few heavy keys and a long tail, as in a window under a flood.
      const int64_t bytes = k < 20 ? 5'000'000 / (k + 1) : 40 + static_cast<int64_t>(g() % 1500);
      s.add(sketch_hash(k + trial * 1'000'000u), bytes);
      exact += static_cast<long double>(bytes) * bytes;
    }
    EXPECT_NEAR(s.estimate() / static_cast<double>(exact), 1.0, 3 * F2Sketch::relative_error());
  }
}

TEST(F2Sketch, IsLinearSoPanesAddAndLeave) {
  F2Sketch pane1, pane2, window, direct;
  for (uint32_t k = 0; k < 5000; ++k) {
    pane1.add(sketch_hash(k), 100 + k % 7);
    pane2.add(sketch_hash(k + 2500), 300);
  }
  window.merge(pane1);
  window.merge(pane2);
  for (uint32_t k = 0; k < 7500; ++k) {
    int64_t b = 0;
    if (k < 5000) b += 100 + k % 7;
    if (k >= 2500) b += 300;
    direct.add(sketch_hash(k), b);  // each key once, its bytes summed first
  }
  EXPECT_EQ(window.estimate(), direct.estimate());
  // pane1 leaves: adding its negation gives pane2's sketch exactly.
  for (uint32_t k = 0; k < 5000; ++k)
    window.add(sketch_hash(k), -static_cast<int64_t>(100 + k % 7));
  EXPECT_EQ(window.estimate(), pane2.estimate());
  EXPECT_EQ(window.counters()[0], pane2.counters()[0]);
}

}  // namespace
}  // namespace netpulse::engine
