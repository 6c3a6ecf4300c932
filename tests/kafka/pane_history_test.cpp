// Traffic history from `merge --store` (issue 17): partitions' panes and conversation samples,
// built by PartitionState, encoded, decoded and merged by PaneMerge into PaneHistory, checked
// against sums computed directly from the records. Protocols and the instances' address are
// exact; destinations and conversations are estimates within the bounds their buckets state
// (exact when the samples keep every record); replays change nothing; a minute with a pane
// whose sample is missing writes its exact buckets only.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "app/history_recorder.hpp"
#include "core/ip_addr.hpp"
#include "core/protocol_table.hpp"
#include "query/queries.hpp"
#include "kafka/pane_codec.hpp"
#include "kafka/pane_merge.hpp"
#include "kafka/partition_state.hpp"
#include "store/history.hpp"

namespace netpulse::kafka {
namespace {

constexpr int kPartitions = 4;
constexpr int64_t kUnitMs = 1000;

struct Stream {
  // The instances' (one table, as one instance has); not movable, so held by pointer.
  std::unique_ptr<core::ProtocolTable> protocols = std::make_unique<core::ProtocolTable>();
  std::vector<std::vector<core::FlowRecord>> parts{kPartitions};
};

// `minutes` minutes of `per_second` records a second, in time order: sources and destinations
// drawn with a skew (a few heavy keys, a long tail), a few IPv6 pairs, a few elephant flows.
Stream make_stream(uint64_t seed, int minutes, int per_second) {
  Stream s;
  std::mt19937_64 rng(seed);
  const char* names[] = {"HTTP", "HTTPS", "DNS", "SSH", "NTP"};
  uint32_t ids[5];
  for (int i = 0; i < 5; ++i) ids[i] = s.protocols->intern(names[i]);
  auto skewed = [&](uint32_t n) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<uint32_t>(std::pow(u, 3) * n);
  };
  const int64_t start = 1'700'000'040'000;  // a minute boundary
  for (int64_t t = 0; t < int64_t{minutes} * 60 * per_second; ++t) {
    core::FlowRecord r;
    r.time = start + t * 1000 / per_second;
    const uint32_t src = skewed(3000), dst = skewed(800);
    if (rng() % 50 == 0) {
      r.src = core::IpAddr::v6(core::Ip6{0x20010db800000000ULL, src});
      r.dst = core::IpAddr::v6(core::Ip6{0x20010db800000001ULL, dst});
    } else {
      r.src = core::IpAddr::v4(0x0a000000 + src);
      r.dst = core::IpAddr::v4(0xc0a80000 + dst);
    }
    r.protocol = ids[skewed(5)];
    r.bytes = rng() % 200 == 0 ? 1'000'000 + static_cast<uint32_t>(rng() % 1000)
                               : 40 + static_cast<uint32_t>(rng() % 1460);
    s.parts[std::hash<uint32_t>{}(src) % kPartitions].push_back(r);
  }
  return s;
}

struct Publish {
  size_t sample = 0;          // per pane (pane_sample), kNoSample: none
  engine::IpKey ip_key = engine::IpKey::kSrc;
  bool crash = false;         // each partition restarts once from a checkpoint and replays
  int drop_sample_of_pane = -1;  // partition 0 publishes this pane's sample chunks not at all
};

// What the instances publish for the stream, in the order the panes topic holds it.
std::vector<EncodedMessage> publish(const Stream& s, const Publish& how) {
  engine::EngineConfig config;
  config.time_unit_ms = kUnitMs;
  config.ip_key = how.ip_key;
  const SourceInfo src{"flows", kPartitions, kUnitMs, how.ip_key};
  std::vector<EncodedMessage> log;
  for (int32_t p = 0; p < kPartitions; ++p) {
    const auto& records = s.parts[static_cast<size_t>(p)];
    auto state = std::make_unique<PartitionState>(config, Checkpoint{}, engine::ShardBudget{}, how.sample);
    std::vector<std::pair<int64_t, engine::KeySums>> panes;
    PartitionState::Samples samples;
    auto flush = [&](std::optional<int64_t> bound) {
      for (auto& [index, sample] : samples) {
        if (p == 0 && index == how.drop_sample_of_pane) continue;
        encode_sample(src, p, index, sample, *s.protocols, log, 40);
      }
      for (auto& [index, sums] : panes) encode_pane(src, p, index, sums, *s.protocols, log);
      Mark m;
      m.partition = p;
      if (bound) m.complete_below = *bound;
      else m.kind = Mark::Kind::kEnd;
      log.push_back(encode_mark(src, m));
      panes.clear();
      samples.clear();
    };
    Checkpoint checkpoint;
    bool crashed = false;
    for (size_t i = 0; i < records.size(); ++i) {
      state->add(static_cast<int64_t>(i), records[i]);
      if (i % 97 == 0)
        if (auto bound = state->take_complete(panes, &samples)) flush(bound);
      if (i == records.size() / 3) checkpoint = state->checkpoint();
      if (how.crash && !crashed && i == records.size() / 2) {
        // kill -9 after publishing more: back to the checkpoint, replaying from its offset.
        crashed = true;
        state = std::make_unique<PartitionState>(config, checkpoint, engine::ShardBudget{}, how.sample);
        i = static_cast<size_t>(checkpoint.offset) - 1;
      }
    }
    state->take_all(panes, &samples);
    flush(std::nullopt);
  }
  return log;
}

struct Merged {
  std::vector<store::HistoryBucket> buckets;
  uint64_t sampled_minutes = 0;
};

Merged merge(const std::vector<EncodedMessage>& log, size_t keys,
             engine::IpKey ip_key = engine::IpKey::kSrc) {
  engine::EngineConfig config;
  config.time_unit_ms = kUnitMs;
  config.ip_key = ip_key;
  engine::EngineControl control(engine::QueryParams{10, 2, 3, 1}, config.max_window);
  core::ProtocolTable protocols;
  struct NoSink final : query::ResultSink {
    void emit(const query::WindowResult&) override {}
  } sink;
  query::SixQueries queries(protocols, sink);
  PaneMerge merge(config, control, protocols, queries);
  Merged out;
  app::PaneHistory history([&](store::HistoryBucket b) { out.buckets.push_back(std::move(b)); },
                           protocols, [ip_key] { return ip_key; }, keys, "");
  merge.observe(&history);
  for (const auto& m : log) {
    std::string why;
    auto d = decode(m.value, &why);
    EXPECT_TRUE(d) << why;
    if (d) {
      EXPECT_FALSE(merge.accept(std::move(*d)));
    }
    merge.advance();
  }
  merge.finish();
  out.sampled_minutes = history.sampled_minutes();
  return out;
}

// The true bytes of every key of every bucket: [minute][dimension][key].
using Truth = std::map<int64_t, std::map<store::Dimension, std::map<std::string, uint64_t>>>;

Truth truth_of(const Stream& s) {
  Truth t;
  for (const auto& part : s.parts) {
    for (const auto& r : part) {
      auto& m = t[r.time / 60'000 * 60'000];
      const std::string src = core::to_string(r.src), dst = core::to_string(r.dst);
      const std::string proto(s.protocols->name(r.protocol));
      m[store::Dimension::kProtocol][proto] += r.bytes;
      m[store::Dimension::kSrc][src] += r.bytes;
      m[store::Dimension::kDst][dst] += r.bytes;
      m[store::Dimension::kConversation][store::conversation_key(src, dst, proto)] += r.bytes;
    }
  }
  return t;
}

// Every listed key within error_bytes of its truth, both ways; every key not listed at most
// cut_bytes; a bucket whose bounds are 0 must be exact. Returns the listed bytes' sum.
uint64_t check_bounds(const store::HistoryBucket& b, const std::map<std::string, uint64_t>& truth) {
  uint64_t listed = 0;
  std::map<std::string, uint64_t> shown;
  for (const auto& e : b.entries) {
    shown[e.key] = e.bytes;
    listed += e.bytes;
    const auto it = truth.find(e.key);
    const uint64_t real = it == truth.end() ? 0 : it->second;
    EXPECT_LE(real, e.bytes + b.error_bytes) << e.key;
    EXPECT_LE(e.bytes, real + b.error_bytes) << e.key;
  }
  for (const auto& [key, bytes] : truth) {
    if (!shown.contains(key)) {
      EXPECT_LE(bytes, b.cut_bytes) << key;
    }
  }
  return listed;
}

TEST(PaneHistory, SamplesThatKeepEveryRecordGiveExactConversations) {
  const Stream s = make_stream(7, 2, 300);
  const Truth truth = truth_of(s);
  const Merged m = merge(publish(s, {.sample = pane_sample(0, kUnitMs)}), 25);
  EXPECT_EQ(m.sampled_minutes, 0u);
  ASSERT_EQ(m.buckets.size(), 2u * 4);
  for (const auto& b : m.buckets) {
    const auto& keys = truth.at(b.start).at(b.dimension);
    EXPECT_EQ(b.error_bytes, 0u);
    // Exact: the 25 largest keys with their true bytes, the cut the 26th's.
    std::vector<uint64_t> sorted;
    for (const auto& [k, bytes] : keys) sorted.push_back(bytes);
    std::sort(sorted.rbegin(), sorted.rend());
    EXPECT_EQ(b.cut_bytes, sorted.size() > 25 ? sorted[25] : 0);
    EXPECT_EQ(b.entries.size(), std::min<size_t>(sorted.size(), 25));
    for (const auto& e : b.entries) EXPECT_EQ(e.bytes, keys.at(e.key)) << e.key;
    uint64_t total = 0;
    for (uint64_t x : sorted) total += x;
    EXPECT_EQ(b.total_bytes, total);
  }
}

TEST(PaneHistory, SampledConversationsAreWithinTheirStatedBoundsAndUnbiased) {
  int checked = 0;
  for (uint64_t seed : {1, 2, 3}) {
    const Stream s = make_stream(seed, 2, 1000);
    const Truth truth = truth_of(s);
    // 3,000 records a minute, spread over 60 panes: 50 a pane and partition, at least 32.
    const Merged m = merge(publish(s, {.sample = pane_sample(3000, kUnitMs)}), 30);
    EXPECT_EQ(m.sampled_minutes, 2u);
    ASSERT_EQ(m.buckets.size(), 2u * 4);
    for (const auto& b : m.buckets) {
      const auto& keys = truth.at(b.start).at(b.dimension);
      check_bounds(b, keys);
      ++checked;
      // The protocols and the instances' address (--ip-key src) are sums of the panes: exact.
      if (b.dimension == store::Dimension::kProtocol || b.dimension == store::Dimension::kSrc) {
        EXPECT_EQ(b.error_bytes, 0u);
        for (const auto& e : b.entries) EXPECT_EQ(e.bytes, keys.at(e.key)) << e.key;
      } else {
        EXPECT_GT(b.error_bytes, 0u) << "a sampled bucket states its error";
      }
    }
  }
  EXPECT_EQ(checked, 3 * 8);
  // Unbiased: over all conversations, the estimates add up to the total within a few percent.
  const Stream s = make_stream(4, 1, 1000);
  const Truth truth = truth_of(s);
  const Merged m = merge(publish(s, {.sample = pane_sample(3000, kUnitMs)}), 1'000'000);
  for (const auto& b : m.buckets) {
    if (b.dimension != store::Dimension::kConversation) continue;
    uint64_t listed = 0;
    for (const auto& e : b.entries) listed += e.bytes;
    EXPECT_NEAR(double(listed), double(b.total_bytes), 0.05 * double(b.total_bytes));
    EXPECT_LT(b.entries.size(), truth.at(b.start).at(b.dimension).size()) << "sampled, not exact";
  }
}

// --ip-key host: the panes' address sums count each record twice (source and destination), so
// both address buckets come from the samples, like the conversations.
TEST(PaneHistory, HostKeyedPanesGetBothAddressesFromTheSamples) {
  const Stream s = make_stream(8, 1, 1000);
  const Truth truth = truth_of(s);
  const Merged m = merge(publish(s, {.sample = pane_sample(3000, kUnitMs), .ip_key = engine::IpKey::kHost}),
                         30, engine::IpKey::kHost);
  EXPECT_EQ(m.sampled_minutes, 1u);
  ASSERT_EQ(m.buckets.size(), 4u);
  for (const auto& b : m.buckets) {
    const auto& keys = truth.at(b.start).at(b.dimension);
    check_bounds(b, keys);
    if (b.dimension == store::Dimension::kProtocol) {
      EXPECT_EQ(b.error_bytes, 0u);
      for (const auto& e : b.entries) EXPECT_EQ(e.bytes, keys.at(e.key)) << e.key;
    } else {
      EXPECT_GT(b.error_bytes, 0u);
    }
  }
}

TEST(PaneHistory, ReplaysAfterACrashChangeNothing) {
  const Stream s = make_stream(5, 2, 600);
  const size_t sample = pane_sample(3000, kUnitMs);
  const Merged once = merge(publish(s, {.sample = sample}), 30);
  const Merged replayed = merge(publish(s, {.sample = sample, .crash = true}), 30);
  ASSERT_EQ(once.buckets.size(), 8u);
  EXPECT_EQ(replayed.buckets, once.buckets);
}

TEST(PaneHistory, AMinuteWithAMissingSampleWritesItsExactBucketsOnly) {
  const Stream s = make_stream(6, 2, 300);
  // Pane 20 of the first minute: its partition-0 sample never arrives (an older instance).
  const int64_t first_pane = s.parts[0].front().time / kUnitMs;
  const Merged m = merge(publish(s, {.sample = pane_sample(0, kUnitMs),
                                     .drop_sample_of_pane = static_cast<int>(first_pane + 20)}),
                         25);
  std::map<int64_t, std::vector<store::Dimension>> dims;
  for (const auto& b : m.buckets) dims[b.start].push_back(b.dimension);
  ASSERT_EQ(dims.size(), 2u);
  using D = store::Dimension;
  EXPECT_EQ(dims.begin()->second, (std::vector<D>{D::kProtocol, D::kSrc}));
  EXPECT_EQ(dims.rbegin()->second, (std::vector<D>{D::kProtocol, D::kSrc, D::kDst, D::kConversation}));
}

TEST(SampleCodec, RoundTripsAndRejectsGarbage) {
  core::ProtocolTable protocols;
  const uint32_t http = protocols.intern("HTTP");
  engine::HistoryChunk sample;
  sample.delta = 1234;
  sample.v4.push_back({engine::Conv4{0x0a000001, 0xc0a80001, http}, 99});
  sample.v4.push_back({engine::Conv4{0x0a000002, 0xc0a80001, http}, 5000});
  sample.v6.push_back({engine::Conv6{core::IpAddr::v6(core::Ip6{0x20010db800000000ULL, 1}),
                                     core::IpAddr::v4(0x01020304), http}, 7});
  const SourceInfo src{"t", 3, 500, engine::IpKey::kSrc};
  std::vector<EncodedMessage> out;
  encode_sample(src, 2, -7, sample, protocols, out, 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].key, "t/2/-7/sample/1");
  std::string why;
  auto d0 = decode(out[0].value, &why), d1 = decode(out[1].value, &why);
  ASSERT_TRUE(d0 && d0->sample && d1 && d1->sample) << why;
  EXPECT_EQ(d0->source(), src);
  EXPECT_EQ(d0->sample->pane, -7);
  EXPECT_EQ(d0->sample->chunks, 2u);
  EXPECT_EQ(d0->sample->delta, 1234u);
  ASSERT_EQ(d0->sample->records.size(), 2u);
  EXPECT_EQ(core::to_string(d0->sample->records[1].src), "10.0.0.2");
  EXPECT_EQ(d0->sample->records[1].protocol, "HTTP");
  EXPECT_EQ(d0->sample->records[1].bytes, 5000u);
  ASSERT_EQ(d1->sample->records.size(), 1u);
  EXPECT_EQ(core::to_string(d1->sample->records[0].src), "2001:db8::1");
  EXPECT_EQ(core::to_string(d1->sample->records[0].dst), "1.2.3.4");
  // An empty sample is still one message: merge knows the pane's sample arrived.
  std::vector<EncodedMessage> none;
  encode_sample(src, 0, 1, engine::HistoryChunk{}, protocols, none);
  ASSERT_EQ(none.size(), 1u);
  auto e = decode(none[0].value, &why);
  ASSERT_TRUE(e && e->sample && e->sample->records.empty()) << why;
  for (const char* bad : {"netpulse-sample 1 t 0 1 1000 src 1 0 1\n",
                          "netpulse-sample 1 t 0 1 1000 src 1 1 1 0\n",
                          "netpulse-sample 1 t 0 1 1000 src 1 0 1 x\n",
                          "netpulse-sample 1 t 0 1 1000 src 1 0 1 0\nc 1.2.3.4 5.6.7.8 HTTP\n",
                          "netpulse-sample 1 t 0 1 1000 src 1 0 1 0\nc 1.2.3 5.6.7.8 HTTP 5\n",
                          "netpulse-sample 1 t 0 1 1000 src 1 0 1 0\na 1.2.3.4 5 1\n",
                          "netpulse-sample 1 t 0 1 1000 src 1 0 1 0\nc 1.2.3.4 5.6.7.8 HTTP -5\n"}) {
    why.clear();
    EXPECT_FALSE(decode(bad, &why)) << bad;
    EXPECT_FALSE(why.empty());
  }
}

}  // namespace
}  // namespace netpulse::kafka
