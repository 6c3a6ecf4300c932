// Traffic history from the engine (issue 17): the real Pipeline on 1, 2 and 4 threads logs the
// records it accepts, a HistoryAggregator sums them, minute_buckets() cuts each minute, and the buckets are checked against a plain reference
// computed from the same records (the spec's lateness rule in input order, then exact sums per
// minute and key): exact when nothing is cut, the top keys and honest bounds when it is.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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
                    size_t block_size, size_t sample = 0) {
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
  engine::HistoryChunkPool pool;
  pipeline.on_history([&](engine::HistoryBatch batch) {
    aggregator.add(std::move(batch), [&](engine::HistoryMinute m) {
      out.minute_order.push_back(m.start);
      for (auto& b : minute_buckets(m, protocols, keys, "")) out.buckets.push_back(std::move(b));
    }, &pool);
  }, &pool, sample);
  auto source = ingest::make_memory_source(text, block_size);
  EXPECT_TRUE(pipeline.run(*source).ok());
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

// Many keys with skewed popularity (a few heavy hitters, a long tail), some records larger than
// the sample's threshold: what sampling is for.
std::vector<Rec> make_many(uint32_t seed, size_t n, int minutes) {
  std::mt19937_64 rng(seed);
  const char* protos[] = {"TCP", "UDP", "ICMP", "HTTPS", "DNS"};
  std::vector<Rec> out;
  const int64_t step = minutes * 60'000 / static_cast<int64_t>(n);
  int64_t t = kBase + 500;
  auto addr = [&] {
    // Zipf-like: the k-th address about 1/k as popular, over 4,000 addresses.
    const double u = double(rng() >> 11) * 0x1.0p-53;
    const auto k = static_cast<uint32_t>(std::pow(4000.0, u)) - 1;
    if (k % 16 == 15) return "2001:db8::" + std::to_string(k + 1);
    return "10." + std::to_string(k / 250) + "." + std::to_string(k % 250) + ".1";
  };
  for (size_t i = 0; i < n; ++i) {
    t += step;
    const uint64_t bytes = rng() % 200 == 0 ? 50'000 + rng() % 100'000 : 40 + rng() % 1500;
    out.push_back({t, protos[rng() % 5], addr(), addr(), bytes});
  }
  return out;
}

TEST(HistoryRecorder, SampledMinutesOfAtMostKRecordsAreExact) {
  const auto recs = make_records(7, 6000, 5);  // about 1,200 records a minute
  const std::string text = to_text(recs);
  const Recorded exact = run_engine(text, 2, 100000, 1'000'000, 4096);
  const Recorded sampled = run_engine(text, 2, 100000, 1'000'000, 4096, 2000);
  ASSERT_FALSE(exact.buckets.empty());
  EXPECT_EQ(sampled.buckets, exact.buckets);
}

// Sampling draws nothing from the clock or the scheduling: the same records on the same number
// of threads give the same history whatever the blocks they arrive in. (Another number of
// threads gives other shards other shares: other estimates, within the bounds checked below.)
TEST(HistoryRecorder, SampledHistoryIsTheSameOnEveryRun) {
  const auto recs = make_many(5, 20000, 2);  // 10,000 records a minute, sampled to about 500
  const std::string text = to_text(recs);
  for (int threads : {1, 2, 3}) {
    const Recorded first = run_engine(text, threads, 100000, 1'000'000, 65536, 500);
    bool sampled = false;
    for (const auto& b : first.buckets) sampled |= b.error_bytes > 0;
    EXPECT_TRUE(sampled);
    for (size_t block : {size_t{4096}, size_t{65536}, size_t{1} << 20}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + ", blocks of " + std::to_string(block));
      const Recorded got = run_engine(text, threads, 100000, 1'000'000, block, 500);
      ASSERT_EQ(got.buckets.size(), first.buckets.size());
      for (size_t i = 0; i < got.buckets.size(); ++i) {
        const auto& a = got.buckets[i];
        const auto& b = first.buckets[i];
        SCOPED_TRACE(std::string(store::to_string(b.dimension)) + " " + std::to_string(b.start));
        EXPECT_EQ(a.total_bytes, b.total_bytes);
        EXPECT_EQ(a.error_bytes, b.error_bytes);
        EXPECT_EQ(a.cut_bytes, b.cut_bytes);
        EXPECT_EQ(a.other_bytes, b.other_bytes);
        ASSERT_EQ(a.entries.size(), b.entries.size());
        EXPECT_TRUE(a == b);  // every entry too
      }
    }
  }
}

// The estimates against the reference: totals and protocols exact, every listed key within the
// bucket's stated error of its true bytes (both ways), every key left out within cut_bytes,
// and the estimates of all conversations adding up to about the true total (unbiased).
TEST(HistoryRecorder, SampledEstimatesStayWithinTheirStatedBounds) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const auto recs = make_many(seed, 120000, 2);
    const Sums ref = reference(recs);
    const size_t k = 3000;
    const Recorded got = run_engine(to_text(recs), 2, 1'000'000, 1'000'000, 65536, k);
    ASSERT_EQ(got.buckets.size(), ref.size() * 4);
    for (const auto& b : got.buckets) {
      SCOPED_TRACE(std::string(store::to_string(b.dimension)) + " " + std::to_string(b.start));
      const auto& want = ref.at(b.start)[static_cast<size_t>(b.dimension)];
      uint64_t total = 0, records = 0;
      for (const auto& [key, s] : want) {
        total += s.first;
        records += s.second;
      }
      EXPECT_EQ(b.total_bytes, total);
      EXPECT_EQ(b.total_records, records);
      std::map<std::string, std::pair<uint64_t, uint64_t>> listed;
      uint64_t estimated = 0;
      for (const auto& e : b.entries) {
        listed[e.key] = {e.bytes, e.records};
        estimated += e.bytes;
      }
      if (b.dimension == store::Dimension::kProtocol) {
        EXPECT_EQ(listed, want);  // exact whatever the sample
        EXPECT_EQ(b.error_bytes, 0u);
        continue;
      }
      if (records <= k) {  // the last half second: a minute of its own, exact
        EXPECT_EQ(b.error_bytes, 0u);
        continue;
      }
      ASSERT_GT(b.error_bytes, 0u);
      if (b.dimension == store::Dimension::kConversation) {
        EXPECT_LE(b.entries.size(), 2 * k);
      }
      EXPECT_NEAR(double(estimated), double(total), 0.05 * double(total));
      for (const auto& [key, s] : want) {
        auto it = listed.find(key);
        if (it == listed.end()) {
          EXPECT_LE(s.first, b.cut_bytes) << key;
          continue;
        }
        const uint64_t est = it->second.first;
        EXPECT_LE(est, s.first + b.error_bytes) << key;
        EXPECT_LE(s.first, est + b.error_bytes) << key;
      }
    }
  }
}

}  // namespace
}  // namespace netpulse::app
