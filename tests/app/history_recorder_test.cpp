// Traffic history from the engine (issue 17): the real Pipeline on 1, 2 and 4 threads logs the
// records it accepts, a HistoryAggregator sums them, minute_buckets() cuts each minute, and the buckets are checked against a plain reference
// computed from the same records (the spec's lateness rule in input order, then exact sums per
// minute and key): exact when nothing is cut, the top keys and honest bounds when it is.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "app/history_recorder.hpp"
#include "core/protocol_table.hpp"
#include "engine/pipeline.hpp"
#include "ingest/block_source.hpp"
#include "query/queries.hpp"
#include "query/result.hpp"

namespace netpulse::app {
namespace {

struct NullSink final : query::ResultSink {
  void emit(const query::WindowResult&) override {}
};

struct Rec {
  int64_t ms;
  std::string proto, src, dst;
  uint64_t bytes;
};

constexpr int64_t kBase = 1589056800000;  // 2020-05-09 20:40:00 UTC, a minute boundary
constexpr int64_t kLatenessMs = 2000;

std::string line_time(int64_t ms) {
  const int64_t s = ms / 1000;
  std::time_t t = static_cast<std::time_t>(s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// Records over `minutes` minutes, mostly in order, some out of order within the lateness, a few
// late; IPv4 and IPv6; skewed address popularity so cuts matter.
std::vector<Rec> make_records(uint32_t seed, size_t n, int minutes) {
  std::mt19937_64 rng(seed);
  const char* protos[] = {"TCP", "UDP", "ICMP", "HTTPS", "DNS"};
  std::vector<Rec> out;
  int64_t t = kBase + 500;
  const int64_t step = minutes * 60'000 / static_cast<int64_t>(n);
  auto addr = [&](bool v6) {
    const uint32_t k = static_cast<uint32_t>(std::min<uint64_t>(rng() % 40, rng() % 40));
    if (v6) return "2001:db8::" + std::to_string(k + 1);
    return "10.0." + std::to_string(k / 8) + "." + std::to_string(k % 8 + 1);
  };
  for (size_t i = 0; i < n; ++i) {
    t += step;
    int64_t ms = t;
    const uint64_t r = rng() % 100;
    if (r < 15) ms -= static_cast<int64_t>(rng() % kLatenessMs);      // out of order, on time
    else if (r < 18) ms -= kLatenessMs + 1 + static_cast<int64_t>(rng() % 20'000);  // late
    out.push_back({ms, protos[rng() % 5], addr(rng() % 10 == 0), addr(rng() % 10 == 0),
                   1 + rng() % 1500});
  }
  return out;
}

std::string to_text(const std::vector<Rec>& recs) {
  std::string s;
  for (const auto& r : recs)
    s += line_time(r.ms) + " " + r.proto + " " + r.src + " " + r.dst + " " + std::to_string(r.bytes) + "\n";
  return s;
}

// minute start -> dimension index -> key -> (bytes, records), of the records the engine accepts.
using Sums = std::map<int64_t, std::array<std::map<std::string, std::pair<uint64_t, uint64_t>>, 4>>;

Sums reference(const std::vector<Rec>& recs) {
  Sums out;
  bool has = false;
  int64_t max = 0;
  for (const auto& r : recs) {
    if (has && r.ms < max - kLatenessMs) continue;  // late: the spec's rule, in input order
    if (!has || r.ms > max) max = r.ms;
    has = true;
    auto& m = out[r.ms / 60'000 * 60'000];
    const std::string keys[4] = {r.proto, r.src, r.dst,
                                 store::conversation_key(r.src, r.dst, r.proto)};
    for (size_t d = 0; d < 4; ++d) {
      m[d][keys[d]].first += r.bytes;
      m[d][keys[d]].second += 1;
    }
  }
  return out;
}

struct Recorded {
  std::vector<store::HistoryBucket> buckets;
  std::vector<int64_t> minute_order;
};

Recorded run_engine(const std::string& text, int threads, size_t keys, size_t max_conversations,
                    size_t block_size) {
  engine::EngineConfig config;
  config.threads = threads;
  config.lateness = 2;  // units of 1 s: kLatenessMs
  engine::EngineControl control(engine::QueryParams{10, 10, 3, 3}, config.max_window);
  core::ProtocolTable protocols;
  NullSink sink;
  query::SixQueries queries(protocols, sink);
  engine::Pipeline pipeline(config, control, protocols, ingest::Format::kLine, queries);
  Recorded out;
  engine::HistoryAggregator aggregator(max_conversations);
  pipeline.on_history([&](engine::HistoryBatch batch) {
    aggregator.add(std::move(batch), [&](engine::HistoryMinute m) {
      out.minute_order.push_back(m.start);
      for (auto& b : minute_buckets(m, protocols, keys, "")) out.buckets.push_back(std::move(b));
    });
  });
  auto source = ingest::make_memory_source(text, block_size);
  EXPECT_FALSE(pipeline.run(*source).has_value());
  return out;
}

TEST(HistoryRecorder, ExactWhenNothingIsCutOnAnyThreadCount) {
  const auto recs = make_records(7, 6000, 5);
  const Sums ref = reference(recs);
  ASSERT_GE(ref.size(), 5u);
  const std::string text = to_text(recs);
  std::vector<store::HistoryBucket> first;
  for (int threads : {1, 2, 4}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    const Recorded got = run_engine(text, threads, 100000, 1'000'000, 4096);
    ASSERT_TRUE(std::is_sorted(got.minute_order.begin(), got.minute_order.end()));
    ASSERT_EQ(got.buckets.size(), ref.size() * 4);
    for (const auto& b : got.buckets) {
      SCOPED_TRACE(std::string(store::to_string(b.dimension)) + " " + std::to_string(b.start));
      ASSERT_TRUE(ref.count(b.start));
      const auto& want = ref.at(b.start)[static_cast<size_t>(b.dimension)];
      EXPECT_EQ(b.other_bytes, 0u);
      EXPECT_EQ(b.cut_bytes, 0u);
      EXPECT_EQ(b.error_bytes, 0u);
      ASSERT_EQ(b.entries.size(), want.size());
      uint64_t total = 0;
      size_t i = 0;
      for (const auto& [key, sums] : want) {  // std::map: sorted by key, as entries must be
        EXPECT_EQ(b.entries[i].key, key);
        EXPECT_EQ(b.entries[i].bytes, sums.first);
        EXPECT_EQ(b.entries[i].records, sums.second);
        total += sums.first;
        ++i;
      }
      EXPECT_EQ(b.total_bytes, total);
    }
    if (first.empty()) first = got.buckets;
    else EXPECT_EQ(got.buckets, first);  // byte-identical history for any thread count
  }
}

TEST(HistoryRecorder, CutKeepsTheTopKeysAndStatesWhatWasLeftOut) {
  const auto recs = make_records(11, 5000, 3);
  const Sums ref = reference(recs);
  const size_t keys = 4;
  const Recorded got = run_engine(to_text(recs), 2, keys, 1'000'000, 8192);
  ASSERT_EQ(got.buckets.size(), ref.size() * 4);
  for (const auto& b : got.buckets) {
    const auto& want = ref.at(b.start)[static_cast<size_t>(b.dimension)];
    // The reference's top `keys`: most bytes, ties by the smaller key.
    std::vector<std::tuple<uint64_t, std::string, uint64_t>> order;
    for (const auto& [key, s] : want) order.emplace_back(s.first, key, s.second);
    std::sort(order.begin(), order.end(), [](const auto& x, const auto& y) {
      return std::get<0>(x) != std::get<0>(y) ? std::get<0>(x) > std::get<0>(y) : std::get<1>(x) < std::get<1>(y);
    });
    std::map<std::string, uint64_t> top;
    uint64_t kept = 0, greatest_cut = 0;
    for (size_t i = 0; i < order.size(); ++i) {
      if (i < keys) {
        top[std::get<1>(order[i])] = std::get<0>(order[i]);
        kept += std::get<0>(order[i]);
      } else {
        greatest_cut = std::max(greatest_cut, std::get<0>(order[i]));
      }
    }
    ASSERT_EQ(b.entries.size(), top.size());
    size_t i = 0;
    for (const auto& [key, bytes] : top) {
      EXPECT_EQ(b.entries[i].key, key);
      EXPECT_EQ(b.entries[i].bytes, bytes);
      ++i;
    }
    EXPECT_EQ(b.other_bytes, b.total_bytes - kept);
    EXPECT_EQ(b.cut_bytes, greatest_cut);
  }
}

TEST(HistoryRecorder, OverflowKeepsTotalsExactAndBoundsHonest) {
  const auto recs = make_records(13, 6000, 3);
  const Sums ref = reference(recs);
  // Room for 6 conversations a minute over all shards: most records overflow.
  const Recorded got = run_engine(to_text(recs), 2, 1000, 6, 4096);
  ASSERT_EQ(got.buckets.size(), ref.size() * 4);
  bool any_overflow = false;
  for (const auto& b : got.buckets) {
    SCOPED_TRACE(std::string(store::to_string(b.dimension)) + " " + std::to_string(b.start));
    const auto& want = ref.at(b.start)[static_cast<size_t>(b.dimension)];
    uint64_t total = 0;
    for (const auto& [key, s] : want) total += s.first;
    EXPECT_EQ(b.total_bytes, total);
    std::map<std::string, uint64_t> listed;
    for (const auto& e : b.entries) listed[e.key] = e.bytes;
    for (const auto& [key, s] : want) {
      auto it = listed.find(key);
      if (it != listed.end()) {
        EXPECT_LE(it->second, s.first) << key;
        EXPECT_LE(s.first, it->second + b.error_bytes) << key;
      } else {
        EXPECT_LE(s.first, b.cut_bytes) << key;
      }
    }
    if (b.dimension == store::Dimension::kProtocol) {
      EXPECT_EQ(b.entries.size(), want.size());  // protocols stay exact
      EXPECT_EQ(b.cut_bytes, 0u);
    } else if (b.cut_bytes > 0) {
      any_overflow = true;
    }
  }
  EXPECT_TRUE(any_overflow);
}

}  // namespace
}  // namespace netpulse::app
