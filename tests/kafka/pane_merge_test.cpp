// Scale-out without Kafka: records split over partitions, each partition's panes built by
// PartitionState, encoded, decoded and added up by PaneMerge, must give exactly what one
// in-process engine gives; and the same whatever the crashes and replays of the instances.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../engine/harness.hpp"
#include "../engine/stream_gen.hpp"
#include "core/protocol_table.hpp"
#include "core/time.hpp"
#include "ingest/flow_parser.hpp"
#include "app/cluster_status.hpp"
#include "kafka/pane_codec.hpp"
#include "kafka/pane_merge.hpp"
#include "kafka/partition_state.hpp"

namespace netpulse::kafka {
namespace {

using testref::CollectingSink;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

// The records' partitions as a keyed producer makes them: by the source address field.
std::vector<std::vector<std::string>> partition_lines(const std::vector<std::string>& lines, int partitions) {
  std::vector<std::vector<std::string>> parts(static_cast<size_t>(partitions));
  for (size_t i = 0; i < lines.size(); ++i) {
    std::istringstream in(lines[i]);
    std::string date, time, proto, src;
    in >> date >> time >> proto >> src;
    const size_t p = src.empty() ? i % partitions : std::hash<std::string>{}(src) % partitions;
    parts[p].push_back(lines[i]);
  }
  return parts;
}

struct Plan {
  int partitions = 4;
  uint64_t seed = 1;
  bool crashes = false;       // instances crash and restart from their last commit
  int merge_every = 1;        // advance the merge after this many messages
};

// Simulates the instances (all partitions interleaved in random slices, commits and crashes as
// planned) and returns the messages they publish, in the order the panes topic holds them.
std::vector<EncodedMessage> run_instances(const std::vector<std::vector<std::string>>& parts,
                                          const engine::EngineConfig& config, const Plan& plan) {
  std::mt19937_64 rng(plan.seed);
  core::ProtocolTable protocols;
  ingest::FlowParser parser(protocols, ingest::Format::kLine);
  SourceInfo src{"flows", static_cast<int32_t>(parts.size()), config.time_unit_ms, config.ip_key};
  const size_t n = parts.size();
  std::vector<Checkpoint> committed(n);
  std::vector<std::unique_ptr<PartitionState>> states(n);
  std::vector<size_t> pos(n, 0);
  const auto restore = [&](size_t p) {
    states[p] = std::make_unique<PartitionState>(config, committed[p]);
    pos[p] = committed[p].offset < 0 ? 0 : static_cast<size_t>(committed[p].offset);
  };
  for (size_t p = 0; p < n; ++p) restore(p);
  std::vector<EncodedMessage> log;
  std::vector<std::pair<int64_t, engine::KeySums>> panes;
  size_t crashes_left = plan.crashes ? 3 : 0;
  for (;;) {
    std::vector<size_t> open;
    for (size_t p = 0; p < n; ++p)
      if (pos[p] < parts[p].size()) open.push_back(p);
    if (open.empty()) break;
    const size_t p = open[rng() % open.size()];
    const size_t slice = 1 + rng() % 40;
    for (size_t i = 0; i < slice && pos[p] < parts[p].size(); ++i, ++pos[p]) {
      const std::string& line = parts[p][pos[p]];
      core::FlowRecord r;
      if (parser.parse(line.data(), line.data() + line.size(), r) == ingest::ParseStatus::kOk)
        states[p]->add(static_cast<int64_t>(pos[p]), r);
      else
        states[p]->skip(static_cast<int64_t>(pos[p]));
    }
    panes.clear();
    if (auto bound = states[p]->take_complete(panes)) {
      for (auto& [index, sums] : panes) encode_pane(src, static_cast<int32_t>(p), index, sums, protocols, log, 3);
      Mark m;
      m.partition = static_cast<int32_t>(p);
      m.complete_below = *bound;
      log.push_back(encode_mark(src, m));
    }
    if (rng() % 3 == 0) committed[p] = states[p]->checkpoint();
    if (crashes_left > 0 && rng() % 25 == 0) {
      --crashes_left;
      for (size_t q = 0; q < n; ++q) restore(q);  // kill -9: back to the last commits
    }
  }
  for (size_t p = 0; p < n; ++p) {
    panes.clear();
    states[p]->take_all(panes);
    for (auto& [index, sums] : panes) encode_pane(src, static_cast<int32_t>(p), index, sums, protocols, log, 3);
    Mark m;
    m.partition = static_cast<int32_t>(p);
    m.kind = Mark::Kind::kEnd;
    log.push_back(encode_mark(src, m));
  }
  return log;
}

std::string merge_json(const std::vector<EncodedMessage>& log, const engine::EngineConfig& config,
                       const engine::QueryParams& params, int merge_every, uint64_t* ignored = nullptr) {
  engine::EngineControl control(params, config.max_window);
  core::ProtocolTable protocols;
  CollectingSink sink;
  query::SixQueries queries(protocols, sink);
  PaneMerge merge(config, control, protocols, queries);
  int since = 0;
  for (const auto& m : log) {
    std::string why;
    auto d = decode(m.value, &why);
    EXPECT_TRUE(d) << why;
    if (!d) continue;
    EXPECT_FALSE(merge.accept(std::move(*d)));
    if (++since >= merge_every) {
      merge.advance();
      since = 0;
    }
  }
  EXPECT_TRUE(merge.all_ended());
  merge.advance();
  merge.finish();
  if (ignored) *ignored = merge.counters().ignored.load();
  return sink.json;
}

testref::Options options(int64_t lateness, int64_t slide, testref::Params params) {
  testref::Options o;
  o.lateness = lateness;
  o.slide = slide;
  o.params = params;
  return o;
}

TEST(PaneMerge, InOrderStreamsGiveTheEngineResultForAnyPartitioning) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    testref::StreamGen gen(seed);
    testref::StreamShape shape;
    shape.records = 600;
    shape.out_of_order = 0;  // nothing late anywhere: per-partition and global order agree
    shape.v4_addresses = 30;
    const std::string text = gen.make(shape);
    const auto o = options(seed % 3, 1 + seed % 2, testref::Params{10, 3 + static_cast<int64_t>(seed % 5), 3, 1});
    const engine::EngineConfig config = testref::to_engine(o, 1);
    const auto expected = testref::run_engine(text, o, 1);
    ASSERT_FALSE(expected.error);
    ASSERT_GT(expected.windows, 3u);
    for (int partitions : {1, 2, 3, 8}) {
      SCOPED_TRACE("seed=" + std::to_string(seed) + " partitions=" + std::to_string(partitions));
      const auto parts = partition_lines(split_lines(text), partitions);
      Plan plan{partitions, seed, false, 1 + static_cast<int>(seed % 4)};
      const auto log = run_instances(parts, config, plan);
      EXPECT_EQ(merge_json(log, config, testref::to_engine(o.params), plan.merge_every), expected.json);
    }
  }
}

TEST(PaneMerge, OnePartitionDecidesLatenessLikeTheEngine) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    testref::StreamGen gen(seed);
    testref::StreamShape shape;
    shape.records = 600;
    shape.lateness = seed % 3;
    shape.out_of_order = 0.25;
    const std::string text = gen.make(shape);
    const auto o = options(seed % 3, 1, testref::Params{5, 4, 2, 0.5});
    const engine::EngineConfig config = testref::to_engine(o, 1);
    const auto expected = testref::run_engine(text, o, 1);
    ASSERT_GT(expected.late, 0u);
    const auto log = run_instances(partition_lines(split_lines(text), 1), config, Plan{1, seed});
    EXPECT_EQ(merge_json(log, config, testref::to_engine(o.params), 1), expected.json) << "seed " << seed;
  }
}

TEST(PaneMerge, CrashesAndReplaysChangeNothing) {
  uint64_t replays_seen = 0;
  for (uint64_t seed = 1; seed <= 16; ++seed) {
    testref::StreamGen gen(seed);
    testref::StreamShape shape;
    shape.records = 800;
    shape.lateness = 1;
    shape.out_of_order = 0.2;  // late records too: per partition, the same before and after
    const std::string text = gen.make(shape);
    const auto o = options(1, 1, testref::Params{10, 5, 3, 1});
    const engine::EngineConfig config = testref::to_engine(o, 1);
    const auto parts = partition_lines(split_lines(text), 4);
    const auto clean = run_instances(parts, config, Plan{4, seed, false});
    const auto crashed = run_instances(parts, config, Plan{4, seed + 100, true});
    EXPECT_GT(crashed.size(), 0u);
    uint64_t ignored = 0;
    const std::string want = merge_json(clean, config, testref::to_engine(o.params), 1);
    EXPECT_NE(want, "");
    EXPECT_EQ(merge_json(crashed, config, testref::to_engine(o.params), 1 + seed % 5, &ignored), want)
        << "seed " << seed;
    replays_seen += ignored;
  }
  EXPECT_GT(replays_seen, 0u) << "no crash replayed an emitted pane: the test does not test";
}

TEST(PaneMerge, MergeWaitsForEveryPartition) {
  engine::EngineConfig config;
  engine::EngineControl control(engine::QueryParams{10, 2, 3, 1}, config.max_window);
  core::ProtocolTable protocols;
  CollectingSink sink;
  query::SixQueries queries(protocols, sink);
  PaneMerge merge(config, control, protocols, queries);
  SourceInfo src{"flows", 2, 1000, engine::IpKey::kSrc};
  core::ProtocolTable sender;
  engine::KeySums sums;
  sums.protocols.add(sender.intern("TCP"), 100, 1);
  sums.ip4.add(0x0a000001, 100, 1);
  std::vector<EncodedMessage> msgs;
  for (int64_t pane = 100; pane < 110; ++pane) encode_pane(src, 0, pane, sums, sender, msgs);
  Mark m;
  m.partition = 0;
  m.complete_below = 110;
  msgs.push_back(encode_mark(src, m));
  std::string why;
  for (auto& e : msgs) ASSERT_FALSE(merge.accept(std::move(*decode(e.value, &why))));
  merge.advance();
  EXPECT_EQ(sink.results.size(), 0u) << "partition 1 has not said anything yet";
  Mark idle;
  idle.partition = 1;
  idle.kind = Mark::Kind::kIdle;
  ASSERT_FALSE(merge.accept(std::move(*decode(encode_mark(src, idle).value, &why))));
  merge.advance();
  EXPECT_EQ(sink.results.size(), 10u) << "an idle partition does not hold the others back";
  EXPECT_EQ(sink.results.back().window_end, 110 * 1000);
  // A message from another source is refused and changes nothing.
  SourceInfo other = src;
  other.unit_ms = 60000;
  m.source = other;
  EXPECT_TRUE(merge.accept(std::move(*decode(encode_mark(other, m).value, &why))));
  EXPECT_EQ(merge.counters().rejected.load(), 1u);
}

// merge --web's cluster view: each partition's owner (the header of its last message), state,
// bounds, newest and last merged pane; the lag is measured from the newest pane of any
// partition down to the partition's complete-below mark.
TEST(PaneMerge, ClusterViewFollowsOwnersStatesAndBounds) {
  engine::EngineConfig config;
  engine::EngineControl control(engine::QueryParams{10, 2, 3, 1}, config.max_window);
  core::ProtocolTable protocols;
  CollectingSink sink;
  query::SixQueries queries(protocols, sink);
  PaneMerge merge(config, control, protocols, queries);
  EXPECT_FALSE(merge.cluster().source) << "nothing heard yet";
  SourceInfo src{"flows", 3, 1000, engine::IpKey::kSrc};
  core::ProtocolTable sender;
  engine::KeySums sums;
  sums.protocols.add(sender.intern("TCP"), 100, 1);
  sums.ip4.add(0x0a000001, 100, 1);
  std::string why;
  const auto send = [&](int32_t partition, int64_t first, int64_t last, std::string_view owner) {
    std::vector<EncodedMessage> msgs;
    for (int64_t pane = first; pane <= last; ++pane) encode_pane(src, partition, pane, sums, sender, msgs);
    Mark m;
    m.partition = partition;
    m.complete_below = last + 1;
    msgs.push_back(encode_mark(src, m));
    for (auto& e : msgs) ASSERT_FALSE(merge.accept(std::move(*decode(e.value, &why)), owner));
  };
  send(0, 100, 119, "a:1");
  send(1, 100, 104, "b:2");  // five panes behind partition 0
  merge.advance();
  auto v = merge.cluster();
  ASSERT_TRUE(v.source);
  EXPECT_EQ(v.source->topic, "flows");
  ASSERT_EQ(v.partitions.size(), 3u);
  EXPECT_FALSE(v.merged_below_ms) << "partition 2 is unknown: nothing can be merged";
  EXPECT_EQ(v.partitions[2].state, PartitionView::State::kUnknown);
  EXPECT_EQ(v.partitions[2].owner, "");
  Mark idle;
  idle.partition = 2;
  idle.kind = Mark::Kind::kIdle;
  ASSERT_FALSE(merge.accept(std::move(*decode(encode_mark(src, idle).value, &why)), "a:1"));
  merge.advance();
  v = merge.cluster();
  EXPECT_EQ(v.partitions[0].owner, "a:1");
  EXPECT_EQ(v.partitions[1].owner, "b:2");
  EXPECT_EQ(v.partitions[2].owner, "a:1");
  EXPECT_EQ(v.partitions[0].state, PartitionView::State::kActive);
  EXPECT_EQ(v.partitions[2].state, PartitionView::State::kIdle);
  EXPECT_EQ(v.merged_below_ms, 105 * 1000) << "the slowest active partition bounds the merge";
  EXPECT_EQ(v.newest_pane_ms, 119 * 1000);
  EXPECT_EQ(v.partitions[0].complete_below_ms, 120 * 1000);
  EXPECT_EQ(v.partitions[0].newest_pane_ms, 119 * 1000);
  EXPECT_EQ(v.partitions[0].merged_pane_ms, 104 * 1000);
  EXPECT_EQ(v.partitions[1].merged_pane_ms, 104 * 1000);
  EXPECT_FALSE(v.partitions[2].merged_pane_ms);
  EXPECT_TRUE(v.partitions[0].last_message_ms);
  EXPECT_EQ(app::lag_seconds(v, v.partitions[0]), 0.0);
  EXPECT_EQ(app::lag_seconds(v, v.partitions[1]), 15.0);
  EXPECT_EQ(app::lag_seconds(v, v.partitions[2]), 0.0) << "idle: nothing of it pending";
  const auto j = app::cluster_status(v, *v.partitions[0].last_message_ms + 2500);
  EXPECT_EQ(j["source"]["partitions"], 3);
  EXPECT_EQ(j["merged_below"], core::format_iso8601(105 * 1000));
  EXPECT_EQ(j["newest_pane"], core::format_iso8601(119 * 1000));
  ASSERT_EQ(j["partitions"].size(), 3u);
  EXPECT_EQ(j["partitions"][1]["owner"], "b:2");
  EXPECT_EQ(j["partitions"][1]["state"], "active");
  EXPECT_EQ(j["partitions"][1]["lag_seconds"], 15.0);
  EXPECT_TRUE(j["partitions"][2]["last_merged_pane"].is_null());
  EXPECT_EQ(j["partitions"][0]["last_message_age_seconds"], 2.5);
  ASSERT_EQ(j["instances"].size(), 2u);
  EXPECT_EQ(j["instances"][0]["name"], "a:1");
  EXPECT_EQ(j["instances"][0]["partitions"], nlohmann::json::array({0, 2}));
  EXPECT_EQ(j["instances"][1]["partitions"], nlohmann::json::array({1}));
  // Partition 1 catches up and ends; a new owner takes partition 0 over.
  send(1, 105, 119, "b:2");
  Mark end;
  end.partition = 1;
  end.kind = Mark::Kind::kEnd;
  ASSERT_FALSE(merge.accept(std::move(*decode(encode_mark(src, end).value, &why)), "b:2"));
  send(0, 120, 121, "c:3");
  merge.advance();
  v = merge.cluster();
  EXPECT_EQ(v.partitions[0].owner, "c:3");
  EXPECT_EQ(v.partitions[1].state, PartitionView::State::kEnded);
  EXPECT_EQ(v.merged_below_ms, 122 * 1000);
  EXPECT_EQ(v.partitions[1].merged_pane_ms, 119 * 1000);
  EXPECT_EQ(app::lag_seconds(v, v.partitions[0]), 0.0);
}

// merge --control: H, T, k, X changed while merge runs apply from the next window emitted, and
// a larger T covers panes folded before the change (they are held up to --max-window).
TEST(PaneMerge, ParameterChangesApplyFromTheNextWindow) {
  engine::EngineConfig config;
  engine::EngineControl control(engine::QueryParams{10, 2, 3, 1}, config.max_window);
  core::ProtocolTable protocols;
  CollectingSink sink;
  query::SixQueries queries(protocols, sink);
  PaneMerge merge(config, control, protocols, queries);
  SourceInfo src{"flows", 1, 1000, engine::IpKey::kSrc};
  core::ProtocolTable sender;
  std::string why;
  const auto feed = [&](int64_t from, int64_t to) {
    std::vector<EncodedMessage> msgs;
    for (int64_t pane = from; pane < to; ++pane) {
      engine::KeySums sums;
      sums.protocols.add(sender.intern("TCP"), 100, 1);
      sums.ip4.add(static_cast<uint32_t>(pane), 100, 1);  // a new address each pane
      encode_pane(src, 0, pane, sums, sender, msgs);
    }
    Mark m;
    m.complete_below = to;
    msgs.push_back(encode_mark(src, m));
    for (auto& e : msgs) ASSERT_FALSE(merge.accept(std::move(*decode(e.value, &why))));
    merge.advance();
  };
  feed(100, 110);
  ASSERT_FALSE(sink.results.empty());
  EXPECT_EQ(sink.results.back().params.T, 2);
  EXPECT_EQ(sink.results.back().records, 2u);
  const size_t before = sink.results.size();
  ASSERT_TRUE(control.set_params(engine::QueryParams{20, 8, 5, 0.5}).ok());
  feed(110, 112);
  ASSERT_GT(sink.results.size(), before);
  for (size_t i = before; i < sink.results.size(); ++i) {
    EXPECT_EQ(sink.results[i].params.T, 8);
    EXPECT_EQ(sink.results[i].params.k, 5);
    EXPECT_EQ(sink.results[i].records, 8u) << "the new T covers panes folded before the change";
  }
}

TEST(PaneCodec, RoundTripsAndRejectsGarbage) {
  core::ProtocolTable protocols;
  engine::KeySums sums;
  sums.protocols.add(protocols.intern("HTTP"), 300, 2);
  sums.ip4.add(0xc0a80001, 200, 1);
  sums.ip4.add(0x0a000001, 100, 1);
  sums.ip6.add(core::Ip6{0x20010db800000000ULL, 1}, 5, 1);
  SourceInfo src{"t", 3, 500, engine::IpKey::kHost};
  std::vector<EncodedMessage> out;
  encode_pane(src, 2, -7, sums, protocols, out, 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key, "t/2/-7/0");
  std::string why;
  auto d = decode(out[0].value, &why);
  ASSERT_TRUE(d && d->pane) << why;
  EXPECT_EQ(d->pane->source, src);
  EXPECT_EQ(d->pane->pane, -7);
  EXPECT_EQ(d->pane->chunks, 2u);
  EXPECT_EQ(d->pane->records, 2u);
  ASSERT_EQ(d->pane->protocols.size(), 1u);
  EXPECT_EQ(d->pane->protocols[0].name, "HTTP");
  ASSERT_EQ(d->pane->addresses.size(), 2u);
  EXPECT_EQ(core::to_string(d->pane->addresses[0].ip), "10.0.0.1");  // sorted
  auto d2 = decode(out[1].value, &why);
  ASSERT_TRUE(d2 && d2->pane);
  EXPECT_EQ(core::to_string(d2->pane->addresses[0].ip), "2001:db8::1");
  // Encoding again gives the same bytes (replays replace chunks one for one).
  std::vector<EncodedMessage> again;
  encode_pane(src, 2, -7, sums, protocols, again, 2);
  EXPECT_EQ(again[0].value, out[0].value);
  for (const char* bad : {"", "hello", "netpulse-pane 2 t 0 1 1000 src 1 0 1 1\n",
                          "netpulse-pane 1 t 5 3 1000 src 1 0 1 1\n",
                          "netpulse-pane 1 t 0 1 1000 src 1 0 1 1\na 1.2.3 5 1\n",
                          "netpulse-pane 1 t 0 1 1000 src 1 1 1 1\n",
                          "netpulse-mark 1 t 0 1 1000 src complete-below x\n",
                          "netpulse-pane 1 t 0 1 1000 src 1 0 1 1\np HTTP 5\n"}) {
    EXPECT_FALSE(decode(bad, &why)) << bad;
    EXPECT_FALSE(why.empty());
  }
}

TEST(Checkpoint, RoundTripsThroughCommitMetadata) {
  Checkpoint c;
  c.offset = 42;
  c.max = -5;
  c.published = 1589056860;
  auto d = Checkpoint::decode(42, c.encode());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->max, c.max);
  EXPECT_EQ(d->published, c.published);
  Checkpoint none;
  none.offset = 0;
  d = Checkpoint::decode(0, none.encode());
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->max);
  EXPECT_FALSE(d->published);
  EXPECT_FALSE(Checkpoint::decode(0, "max=1 published=2"));
  EXPECT_FALSE(Checkpoint::decode(0, "netpulse-checkpoint 1 max=x published=2"));
}

}  // namespace
}  // namespace netpulse::kafka
