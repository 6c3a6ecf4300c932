// The memory budget (spec section 9, issue 14): a flood of spoofed sources through the real
// pipeline under a budget that forces the address summary, checked window by window against
// the exact sums of a plain reference, for every guarantee README states:
//   - totals, record counts and the protocol queries stay exact;
//   - every listed address's bytes are an upper bound within epsilon * total of the truth;
//   - ip-share misses no address above H;
//   - ip-topk lists min(k, n) addresses, each within epsilon * total of the true k-th;
//   - ip-outliers lists the addresses far above the estimated mean + X sd, and the estimated
//     key count is close;
//   - windows the flood never reached, and those it has left, are exact: byte for byte the
//     output of an unbounded run;
//   - the shards' state stays under the budget.
// NETPULSE_BUDGET_SCALE=n multiplies the flood (default 1: 2 M distinct sources in a window).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ip_addr.hpp"
#include "core/protocol_table.hpp"
#include "engine/params.hpp"
#include "engine/pipeline.hpp"
#include "engine/window_shard.hpp"
#include "ingest/block_source.hpp"
#include "query/queries.hpp"
#include "query/result.hpp"
#include "query/result_json.hpp"
#include "../support/flood_traffic.hpp"

namespace netpulse::engine {
namespace {

using testkafka::FloodRec;
using testkafka::FloodShape;

// Normal traffic from 3000 sources with skewed volumes, plus, in seconds [flood_from,
// flood_to), `flood` records a second from new random sources (a tenth of them IPv6).
struct Traffic {
  std::vector<FloodRec> records;
  int64_t seconds = 0, flood_from = 0, flood_to = 0;
};

Traffic make_traffic(int64_t seconds, int64_t flood_from, int64_t flood_to, size_t flood,
                     uint64_t seed) {
  FloodShape shape;
  shape.seconds = seconds;
  shape.normal = 20000;
  shape.sources = 3000;
  shape.flood_seconds.clear();
  for (int64_t s = flood_from; s < flood_to; ++s) shape.flood_seconds.push_back(s);
  shape.flood = flood;
  shape.seed = seed;
  return Traffic{testkafka::make_flood_traffic(shape), seconds, flood_from, flood_to};
}

std::string to_text(const Traffic& t) { return testkafka::flood_text(t.records); }

class Collect final : public query::ResultSink {
 public:
  explicit Collect(const Pipeline** pipeline) : pipeline_(pipeline) {}
  void emit(const query::WindowResult& r) override {
    results.push_back(r);
    for (size_t q = 0; q < query::kQueryCount; ++q) {
      std::string line;
      query::append_json(r, static_cast<query::QueryKind>(q), line);
      json.push_back(line);
    }
    if (*pipeline_)
      peak_state = std::max<uint64_t>(peak_state, (*pipeline_)->counters().state_bytes.load());
  }
  std::vector<query::WindowResult> results;
  std::vector<std::string> json;
  uint64_t peak_state = 0;

 private:
  const Pipeline** pipeline_;
};

struct RunResult {
  std::vector<query::WindowResult> results;
  std::vector<std::string> json;
  uint64_t peak_state = 0;
};

RunResult run(const std::string& text, EngineConfig config, QueryParams params) {
  core::ProtocolTable protocols;
  const Pipeline* p = nullptr;
  Collect sink(&p);
  query::SixQueries queries(protocols, sink);
  EngineControl control(params, config.max_window);
  Pipeline pipeline(config, control, protocols, ingest::Format::kLine, queries);
  p = &pipeline;
  auto source = ingest::make_memory_source(text, 1 << 20);
  const core::Status error = pipeline.run(*source);
  EXPECT_TRUE(error.ok()) << error.message();
  return RunResult{std::move(sink.results), std::move(sink.json), sink.peak_state};
}

void check_flood(int threads, QueryParams params) {
  const size_t scale = std::getenv("NETPULSE_BUDGET_SCALE") ? std::atoi(std::getenv("NETPULSE_BUDGET_SCALE")) : 1;
  // Seconds 3-7 flood: 400k new sources each, so a window of T = 5 holds 2 M of them.
  const Traffic traffic = make_traffic(16, 3, 8, 400000 * scale, 7);
  const std::string text = to_text(traffic);

  EngineConfig config;
  config.time_unit_ms = 1000;
  config.max_window = 10;
  config.threads = threads;
  config.memory_limit = 40u << 20;
  const auto got = budget_for(config, static_cast<uint32_t>(threads));
  ASSERT_TRUE(got.ok()) << got.status().message();
  const ShardBudget budget = got.value();

  EngineConfig exact_config = config;
  exact_config.memory_limit = 0;
  const RunResult exact = run(text, exact_config, params);
  const RunResult approx = run(text, config, params);
  ASSERT_EQ(exact.results.size(), approx.results.size());
  ASSERT_GT(approx.results.size(), 10u);

  // The truth per window: bytes per source, by second.
  const testkafka::PerSecond per_second = testkafka::per_second(traffic.records, traffic.seconds);

  size_t approximate = 0;
  for (size_t w = 0; w < approx.results.size(); ++w) {
    const query::WindowResult& a = approx.results[w];
    const query::WindowResult& e = exact.results[w];
    SCOPED_TRACE("window ending at second " + std::to_string(a.window_end / 1000 - 1577836800));
    ASSERT_EQ(a.window_end, e.window_end);
    EXPECT_EQ(a.records, e.records);
    EXPECT_EQ(a.total_bytes, e.total_bytes);
    EXPECT_EQ(a.protocol_keys, e.protocol_keys);
    for (size_t q = 0; q < 3; ++q) EXPECT_EQ(a.rows[q], e.rows[q]) << query::kQueryNames[q];

    constexpr int64_t kBase = 1577836800;  // 2020-01-01 00:00:00 UTC, second 0 of the traffic
    const int64_t lo = a.window_start / 1000 - kBase, hi = a.window_end / 1000 - kBase;
    const bool flood_in_window = lo < traffic.flood_to && hi > traffic.flood_from;
    if (!a.ip_approximate) {
      for (size_t q = 0; q < 6; ++q) EXPECT_EQ(approx.json[w * 6 + q], exact.json[w * 6 + q]);
      continue;
    }
    ++approximate;
    EXPECT_TRUE(flood_in_window) << "approximate without the flood in the window";

    std::unordered_map<std::string, uint64_t> truth;
    for (int64_t s = std::max<int64_t>(lo, 0); s < std::min(hi, traffic.seconds); ++s)
      for (const auto& [k, b] : per_second[static_cast<size_t>(s)]) truth[k] += b;
    std::vector<std::pair<uint64_t, std::string>> ranked;
    for (const auto& [k, b] : truth) ranked.emplace_back(b, k);
    std::sort(ranked.begin(), ranked.end(), std::greater<>());

    const double total = static_cast<double>(a.total_bytes);
    const double eps = a.ip_approximate->epsilon;
    EXPECT_GT(eps, 0);
    EXPECT_LT(eps, 0.01) << "the budget should keep epsilon small here";
    const double slack = eps * total + 1;
    // Every listed byte count: an upper bound within epsilon * total.
    for (size_t q = 3; q < 6; ++q) {
      for (const query::ResultRow& row : a.rows[q]) {
        const uint64_t t = truth.count(row.key) ? truth.at(row.key) : 0;
        EXPECT_GE(row.bytes, t) << query::kQueryNames[q] << " " << row.key;
        EXPECT_LE(static_cast<double>(row.bytes - std::min(row.bytes, t)), slack)
            << query::kQueryNames[q] << " " << row.key;
      }
    }
    // ip-share: no false negatives.
    std::vector<std::string> share;
    for (const auto& row : a.rows[3]) share.push_back(row.key);
    for (const auto& [b, k] : ranked) {
      if (static_cast<long double>(b) * 100 <= static_cast<long double>(params.H) * a.total_bytes) break;
      EXPECT_NE(std::find(share.begin(), share.end(), k), share.end()) << "ip-share misses " << k;
    }
    // ip-topk: min(k, n) rows, each a true top k up to epsilon * total.
    const size_t k = static_cast<size_t>(params.k);
    EXPECT_EQ(a.rows[4].size(), std::min(k, ranked.size()));
    const double kth = ranked.size() >= k ? static_cast<double>(ranked[k - 1].first) : 0;
    for (const auto& row : a.rows[4]) {
      const double t = truth.count(row.key) ? static_cast<double>(truth.at(row.key)) : 0;
      EXPECT_GE(t, kth - slack) << "ip-topk lists " << row.key;
    }
    // Key count estimated within 10%; the heaviest source is an outlier in both.
    if (std::getenv("NETPULSE_BUDGET_STATS")) std::fprintf(stderr, "window %lld: keys %zu est %llu eps %g\n", (long long)hi, truth.size(), (unsigned long long)a.ip_approximate->keys_estimated, eps);
    EXPECT_NEAR(static_cast<double>(a.ip_approximate->keys_estimated), static_cast<double>(truth.size()),
                0.1 * static_cast<double>(truth.size()));
    EXPECT_EQ(a.ip_keys, a.ip_approximate->keys_estimated);
    if (!e.rows[5].empty()) {
      ASSERT_FALSE(a.rows[5].empty());
      EXPECT_EQ(a.rows[5][0].key, e.rows[5][0].key);
    }
  }
  EXPECT_GT(approximate, 4u) << "the budget never forced the summary";
  // The last windows lie after the flood: exact again (checked above, byte for byte).
  EXPECT_FALSE(approx.results.back().ip_approximate);
  EXPECT_LE(approx.peak_state, budget.bytes * static_cast<uint64_t>(threads));
  EXPECT_GT(exact.peak_state, approx.peak_state * 2) << "the flood should need far more exact";
}

TEST(MemoryBudgetTest, FloodOneThreadKeepsEveryGuarantee) { check_flood(1, QueryParams{1, 5, 10, 3}); }
TEST(MemoryBudgetTest, FloodTwoThreadsKeepsEveryGuarantee) { check_flood(2, QueryParams{0.5, 5, 20, 2}); }

TEST(MemoryBudgetTest, BudgetTooSmallForMaxWindowIsRefusedWithTheNeed) {
  EngineConfig c;
  c.max_window = 3600;
  c.memory_limit = 64u << 20;
  const core::Status why = validate(c);
  ASSERT_FALSE(why.ok());
  EXPECT_EQ(why.code(), core::Status::Code::kInvalidArgument);
  EXPECT_NE(why.message().find("--memory-limit 64MiB is too small for --max-window 3600"),
            std::string::npos)
      << why.message();
  EXPECT_EQ(budget_for(c, 1).status(), why) << "validate() says what budget_for() refuses";
  c.memory_limit = 128u << 20;
  EXPECT_TRUE(validate(c).ok());
  c.memory_limit = 0;
  EXPECT_TRUE(validate(c).ok());
  c.max_window = 10'000'000;
  EXPECT_TRUE(validate(c).ok()) << "unbounded takes any max-window";
}

TEST(MemoryBudgetTest, NoFloodStaysExactUnderTheDefaultBudget) {
  const Traffic traffic = make_traffic(12, 0, 0, 0, 11);
  const std::string text = to_text(traffic);
  EngineConfig config;
  config.max_window = 3600;
  const RunResult bounded = run(text, config, QueryParams{1, 5, 10, 2});
  config.memory_limit = 0;
  const RunResult unbounded = run(text, config, QueryParams{1, 5, 10, 2});
  EXPECT_EQ(bounded.json, unbounded.json);
  for (const auto& r : bounded.results) EXPECT_FALSE(r.ip_approximate);
}

}  // namespace
}  // namespace netpulse::engine
