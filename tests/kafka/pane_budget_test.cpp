// The memory budget on Kafka scale-out, without Kafka: a partition's panes summarized past
// their limit (PartitionState), the summary on the wire (pane_codec), and summaries of several
// partitions merged (PaneMerge) — checked against the exact sums (spec section 9).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "../engine/harness.hpp"
#include "core/protocol_table.hpp"
#include "../support/flood_traffic.hpp"
#include "ingest/flow_parser.hpp"
#include "kafka/pane_codec.hpp"
#include "kafka/pane_merge.hpp"
#include "kafka/partition_state.hpp"

namespace netpulse::kafka {
namespace {

using testkafka::FloodRec;
using testkafka::FloodShape;

// A budget with small limits, to summarize quickly (partition_budget gives the real ones).
engine::ShardBudget small_budget(size_t m, size_t open) {
  engine::ShardBudget b;
  b.bytes = 1;
  b.summary_keys = m;
  b.open_keys = open;
  return b;
}

core::FlowRecord record(core::ProtocolTable& protocols, const FloodRec& r) {
  core::FlowRecord f;
  f.time = (testkafka::kTrafficBase + r.second) * 1000 + r.ms;
  f.protocol = protocols.intern(r.proto);
  f.bytes = r.bytes;
  f.src = *core::parse_ip(r.src);
  f.dst = *core::parse_ip("192.0.2.1");
  return f;
}

// Per-address bytes of a pane's tables.
std::unordered_map<std::string, uint64_t> stored(const engine::KeySums& s) {
  std::unordered_map<std::string, uint64_t> out;
  s.ip4.for_each([&](const auto& e) { out[core::to_string(core::IpAddr::v4(e.key))] = e.bytes; });
  s.ip6.for_each([&](const auto& e) { out[core::to_string(core::IpAddr::v6(e.key))] = e.bytes; });
  return out;
}

std::vector<EncodedMessage> encode_all(
    const std::vector<std::pair<int64_t, engine::KeySums>>& panes,
    const core::ProtocolTable& protocols, size_t per_chunk = kAddressesPerChunk) {
  std::vector<EncodedMessage> out;
  const SourceInfo src{"flows", 1, 1000, engine::IpKey::kSrc};
  for (const auto& [index, sums] : panes)
    encode_pane(src, 0, index, sums, protocols, out, per_chunk);
  return out;
}

// --- The codec ----------------------------------------------------------------------------------

// Exact panes encode byte for byte as before summaries existed (replays and stored topics rely
// on it). The text is what the codec wrote before this change.
TEST(PaneBudgetCodec, ExactPanesEncodeAsBefore) {
  core::ProtocolTable protocols;
  engine::KeySums sums;
  sums.protocols.add(protocols.intern("HTTP"), 300, 2);
  sums.protocols.add(protocols.intern("DNS"), 7, 1);
  sums.ip4.add(0xc0a80001, 200, 1);
  sums.ip4.add(0x0a000001, 100, 1);
  sums.ip6.add(core::Ip6{0x20010db800000000ULL, 1}, 7, 1);
  const SourceInfo src{"t", 3, 500, engine::IpKey::kHost};
  std::vector<EncodedMessage> out;
  encode_pane(src, 2, -7, sums, protocols, out, 2);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key, "t/2/-7/0");
  EXPECT_EQ(out[0].value,
            "netpulse-pane 1 t 2 3 500 host -7 0 2 3\n"
            "p DNS 7 1\n"
            "p HTTP 300 2\n"
            "a 10.0.0.1 100 1\n"
            "a 192.168.0.1 200 1\n");
  EXPECT_EQ(out[1].key, "t/2/-7/1");
  EXPECT_EQ(out[1].value, "netpulse-pane 1 t 2 3 500 host -7 1 2 3\na 2001:db8::1 7 1\n");
  std::string why;
  auto d = decode(out[0].value, &why);
  ASSERT_TRUE(d && d->pane) << why;
  EXPECT_FALSE(d->pane->summary);
  // Sketches alone (an exact pane that a window needed them for) are not a summary: not sent.
  sums.summary = std::make_unique<engine::PaneSummary>();
  sums.summary->add_key(1, 2);
  std::vector<EncodedMessage> again;
  encode_pane(src, 2, -7, sums, protocols, again, 2);
  EXPECT_EQ(again[0].value, out[0].value);
}

// A summarized pane: m addresses, cut into chunks, the summary in chunk 0 only.
engine::KeySums summarized_sums(core::ProtocolTable& protocols, size_t keys, size_t m) {
  engine::KeySums sums;
  engine::PaneSummarizer summarizer(m);
  sums.ip_limit = 4 * m;
  std::mt19937_64 g(5);
  for (size_t i = 0; i < keys; ++i) {
    const uint32_t bytes = 40 + static_cast<uint32_t>(g() % 3000);
    sums.protocols.add(protocols.intern(i % 3 ? "HTTP" : "DNS"), bytes, 1);
    if (i % 7 == 0) {
      const core::Ip6 a{0x20010db800000000ULL | (g() & 0xffff), g()};
      sums.ip6.add(a, bytes, 1);
      if (sums.ip4.size() + sums.ip6.size() >= sums.ip_limit)
        summarizer.over_limit(sums, engine::sketch_hash(a), bytes);
    } else {
      const uint32_t a =
          i % 5 == 0 ? 0x0a000001 + static_cast<uint32_t>(i % 11) : static_cast<uint32_t>(g());
      sums.ip4.add(a, bytes, 1);
      if (sums.ip4.size() + sums.ip6.size() >= sums.ip_limit)
        summarizer.over_limit(sums, engine::sketch_hash(a), bytes);
    }
  }
  summarizer.trim(sums);
  return sums;
}

TEST(PaneBudgetCodec, SummarizedPaneRoundTrips) {
  core::ProtocolTable protocols;
  const engine::KeySums sums = summarized_sums(protocols, 5000, 20);
  ASSERT_TRUE(sums.summary && sums.summary->summarized);
  ASSERT_GT(sums.summary->floor, 0u);
  ASSERT_LE(sums.ip4.size() + sums.ip6.size(), 20u);
  const SourceInfo src{"flows", 4, 1000, engine::IpKey::kSrc};
  std::vector<EncodedMessage> out;
  encode_pane(src, 3, 99, sums, protocols, out, 6);
  ASSERT_GE(out.size(), 2u);
  EXPECT_NE(out[0].value.find("\ns "), std::string::npos);
  EXPECT_NE(out[0].value.find("\nh "), std::string::npos);
  EXPECT_NE(out[0].value.find("\nf "), std::string::npos);
  const engine::PaneSummary& want = *sums.summary;
  std::unordered_map<std::string, uint64_t> got;
  uint64_t protocol_bytes = 0;
  for (size_t c = 0; c < out.size(); ++c) {
    std::string why;
    auto d = decode(out[c].value, &why);
    ASSERT_TRUE(d && d->pane) << why;
    const PaneChunk& p = *d->pane;
    EXPECT_EQ(p.chunk, c);
    EXPECT_EQ(p.chunks, out.size());
    EXPECT_EQ(p.records, 5000u);
    for (const auto& a : p.addresses) got[core::to_string(a.ip)] = a.bytes;
    for (const auto& pr : p.protocols) protocol_bytes += pr.bytes;
    if (c != 0) {
      EXPECT_FALSE(p.summary) << "only chunk 0 carries the summary";
      continue;
    }
    ASSERT_TRUE(p.summary);
    EXPECT_TRUE(p.summary->summarized);
    EXPECT_EQ(p.summary->floor, want.floor);
    EXPECT_EQ(p.summary->removed, want.removed);
    EXPECT_TRUE(std::ranges::equal(p.summary->keys.registers(), want.keys.registers()));
    EXPECT_TRUE(std::ranges::equal(p.summary->squares.counters(), want.squares.counters()));
    EXPECT_EQ(p.summary->keys.estimate(), want.keys.estimate());
  }
  EXPECT_EQ(got, stored(sums));
  uint64_t held = 0;
  for (const auto& [k, b] : got) held += b;
  EXPECT_EQ(held + want.removed, protocol_bytes)
      << "what is held plus what was removed is every byte";
  // A replay encodes the same bytes.
  std::vector<EncodedMessage> again;
  encode_pane(src, 3, 99, sums, protocols, again, 6);
  ASSERT_EQ(again.size(), out.size());
  for (size_t c = 0; c < out.size(); ++c) EXPECT_EQ(again[c].value, out[c].value);
}

TEST(PaneBudgetCodec, MalformedSummaryLinesAreRejected) {
  core::ProtocolTable protocols;
  const engine::KeySums sums = summarized_sums(protocols, 3000, 16);
  const SourceInfo src{"flows", 1, 1000, engine::IpKey::kSrc};
  std::vector<EncodedMessage> out;
  encode_pane(src, 0, 5, sums, protocols, out);
  ASSERT_EQ(out.size(), 1u);
  const std::string good = out[0].value;
  std::string why;
  ASSERT_TRUE(decode(good, &why)) << why;
  // The message's parts: header, s, h, f, then the entries.
  const auto line_at = [&](size_t n) {
    size_t pos = 0;
    for (size_t i = 0; i < n; ++i) pos = good.find('\n', pos) + 1;
    return std::make_pair(pos, good.find('\n', pos) - pos);
  };
  const auto with_line = [&](size_t n, const std::string& text) {
    std::string s = good;
    const auto [pos, len] = line_at(n);
    return s.replace(pos, len, text);
  };
  const auto [h_pos, h_len] = line_at(2);
  const auto [f_pos, f_len] = line_at(3);
  const std::string h = good.substr(h_pos, h_len), f = good.substr(f_pos, f_len);
  ASSERT_EQ(h.size(), 2 + 8192u);
  ASSERT_EQ(f.substr(0, 2), "f ");
  const std::string header = good.substr(0, line_at(1).first);
  const std::string rest = good.substr(line_at(4).first);
  std::string chunk1 = header;
  chunk1.replace(chunk1.find(" 5 0 1 "), 7, " 5 1 2 ");
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"s without removed", with_line(1, "s 12")},
      {"s with a word", with_line(1, "s 12 x")},
      {"s with three numbers", with_line(1, "s 12 5 1")},
      {"s negative", with_line(1, "s -1 5")},
      {"h short", with_line(2, h.substr(0, h.size() - 2))},
      {"h long", with_line(2, h + "00")},
      {"h not hex", with_line(2, "h zz" + h.substr(4))},
      {"h register above 53", with_line(2, "h 36" + h.substr(4))},
      {"f short", with_line(3, f.substr(0, f.rfind(' ')))},
      {"f long", with_line(3, f + " 1")},
      {"f not a number", with_line(3, "f x" + f.substr(f.find(' ', 2)))},
      {"f double space", with_line(3, "f  " + f.substr(2))},
      {"f trailing space", with_line(3, f + " ")},
      {"s alone", header + good.substr(line_at(1).first, line_at(1).second + 1) + rest},
      {"s and h without f",
       header + good.substr(line_at(1).first, line_at(3).first - line_at(1).first) + rest},
      {"h before s", header + h + "\n" +
                         good.substr(line_at(1).first, line_at(2).first - line_at(1).first) + f +
                         "\n" + rest},
      {"summary after the entries",
       header + rest + good.substr(line_at(1).first, line_at(4).first - line_at(1).first)},
      {"summary twice",
       header + good.substr(line_at(1).first, line_at(4).first - line_at(1).first) +
           good.substr(line_at(1).first, line_at(4).first - line_at(1).first) + rest},
      {"summary outside chunk 0", chunk1 + good.substr(line_at(1).first)},
  };
  for (const auto& [what, text] : bad) {
    why.clear();
    EXPECT_FALSE(decode(text, &why)) << what;
    EXPECT_FALSE(why.empty()) << what;
  }
  // Upper-case hex is hex too.
  std::string upper = h;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  upper[0] = 'h';
  EXPECT_TRUE(decode(with_line(2, upper), &why)) << why;
}

// --- PartitionState ---------------------------------------------------------------------------

TEST(PaneBudgetPartition, PartitionBudgetSharesTheEnginesOpenPanes) {
  engine::EngineConfig config;
  config.memory_limit = 128u << 20;
  const engine::ShardBudget engine_budget = engine::budget_for(config, 1).value();
  ASSERT_GE(engine_budget.summary_keys, 32u);
  for (int32_t partitions : {1, 8, 64, 100000}) {
    const engine::ShardBudget b = partition_budget(config, partitions);
    EXPECT_EQ(b.summary_keys, engine_budget.summary_keys) << "m as merge's with the same flags";
    EXPECT_EQ(b.open_keys, std::max(engine_budget.open_keys / static_cast<size_t>(partitions),
                                    2 * engine_budget.summary_keys));
  }
  config.memory_limit = 0;
  EXPECT_EQ(partition_budget(config, 8).bytes, 0u) << "0: unbounded";
  config.memory_limit = 1u << 20;  // too small (the command line refuses it): unbounded here
  EXPECT_EQ(partition_budget(config, 8).bytes, 0u);
}

struct FedState {
  std::vector<std::pair<int64_t, engine::KeySums>> panes;  // in publication order
};

// Feeds the records at offsets [from, to) into `state`, taking complete panes as an instance
// does after each batch of 500.
void feed(PartitionState& state, core::ProtocolTable& protocols, const std::vector<FloodRec>& recs,
          size_t from, size_t to, FedState& out) {
  for (size_t i = from; i < to; ++i) {
    state.add(static_cast<int64_t>(i), record(protocols, recs[i]));
    if ((i + 1) % 500 == 0) state.take_complete(out.panes);
  }
}

TEST(PaneBudgetPartition, SummarizesPastItsLimitAndKeepsTheBounds) {
  FloodShape shape;
  shape.seconds = 6;
  shape.flood_seconds = {2, 3};
  shape.flood = 20000;
  const auto recs = testkafka::make_flood_traffic(shape);
  const auto truth = testkafka::per_second(recs, shape.seconds);
  engine::EngineConfig config;
  core::ProtocolTable protocols;
  const size_t m = 50;
  PartitionState state(config, Checkpoint{}, small_budget(m, 2000));
  FedState fed;
  feed(state, protocols, recs, 0, recs.size(), fed);
  state.take_all(fed.panes);
  ASSERT_EQ(fed.panes.size(), 6u);
  for (const auto& [index, sums] : fed.panes) {
    const int64_t second = index - testkafka::kTrafficBase;
    SCOPED_TRACE("second " + std::to_string(second));
    const auto& exact = truth[static_cast<size_t>(second)];
    const auto held = stored(sums);
    uint64_t total = 0, held_bytes = 0;
    for (const auto& [k, b] : exact) total += b;
    for (const auto& [k, b] : held) held_bytes += b;
    uint64_t protocol_bytes = 0;
    sums.protocols.for_each([&](const auto& e) { protocol_bytes += e.bytes; });
    EXPECT_EQ(protocol_bytes, total) << "protocols stay exact";
    const bool flooded = second == 2 || second == 3;
    if (!flooded) {
      EXPECT_FALSE(sums.summary) << exact.size() << " addresses are under the limit: exact";
      EXPECT_EQ(held, exact);
      continue;
    }
    ASSERT_TRUE(sums.summary && sums.summary->summarized);
    const engine::PaneSummary& sum = *sums.summary;
    EXPECT_LE(held.size(), m) << "published with at most m addresses";
    EXPECT_EQ(held_bytes + sum.removed, total);
    EXPECT_LE(sum.floor, total / (m + 1)) << "the Misra-Gries bound";
    for (const auto& [key, bytes] : exact) {
      const uint64_t s = held.count(key) ? held.at(key) : 0;
      ASSERT_LE(s, bytes) << key;
      ASSERT_LE(bytes, s + sum.floor) << key;
    }
    for (const auto& [key, bytes] : held) EXPECT_TRUE(exact.count(key)) << key << " never sent";
    // The sketches saw every address with its true bytes.
    const double n = static_cast<double>(exact.size());
    EXPECT_NEAR(sum.keys.estimate(), n, 0.06 * n);
    long double f2 = 0;
    for (const auto& [key, bytes] : exact) f2 += static_cast<long double>(bytes) * bytes;
    EXPECT_NEAR(sum.squares.estimate(), static_cast<double>(f2), 0.5 * static_cast<double>(f2));
  }
}

TEST(PaneBudgetPartition, UnderTheLimitOrUnboundedIsExactlyAsBefore) {
  FloodShape shape;
  shape.seconds = 5;
  shape.flood_seconds = {2};
  shape.flood = 3000;
  const auto recs = testkafka::make_flood_traffic(shape);
  engine::EngineConfig config;
  std::vector<std::string> encoded;
  // No budget; the default budget (its limit far above); a limit one above the largest pane.
  for (const engine::ShardBudget& budget :
       {engine::ShardBudget{}, partition_budget(config, 1), small_budget(40, 3000 + 400 + 1)}) {
    core::ProtocolTable protocols;
    PartitionState state(config, Checkpoint{}, budget);
    FedState fed;
    feed(state, protocols, recs, 0, recs.size(), fed);
    state.take_all(fed.panes);
    std::string text;
    for (const auto& [index, sums] : fed.panes) EXPECT_FALSE(sums.summary);
    for (const auto& m : encode_all(fed.panes, protocols)) text += m.key + "\n" + m.value;
    encoded.push_back(text);
  }
  EXPECT_EQ(encoded[1], encoded[0]);
  EXPECT_EQ(encoded[2], encoded[0]);
}

// A restart replays from the checkpoint and rebuilds every unpublished pane from all of its
// records: summarized ones come out byte for byte as in a run without the restart.
TEST(PaneBudgetPartition, AReplayFromTheCheckpointSummarizesTheSame) {
  FloodShape shape;
  shape.seconds = 6;
  shape.flood_seconds = {1, 2, 3, 4};
  shape.flood = 6000;
  const auto recs = testkafka::make_flood_traffic(shape);
  engine::EngineConfig config;
  config.lateness = 1;
  const engine::ShardBudget budget = small_budget(32, 1500);
  core::ProtocolTable protocols;
  PartitionState whole(config, Checkpoint{}, budget);
  FedState all;
  feed(whole, protocols, recs, 0, recs.size(), all);
  whole.take_all(all.panes);
  const auto want = encode_all(all.panes, protocols);

  for (size_t cut : {recs.size() / 3, recs.size() / 2 + 17}) {
    PartitionState first(config, Checkpoint{}, budget);
    FedState before;
    feed(first, protocols, recs, 0, cut, before);
    const Checkpoint cp = first.checkpoint();  // what was committed; then kill -9
    ASSERT_TRUE(cp.published);
    PartitionState again(config, cp, budget);
    FedState after;
    feed(again, protocols, recs, static_cast<size_t>(cp.offset), recs.size(), after);
    again.take_all(after.panes);
    auto got = encode_all(before.panes, protocols);
    const auto rest = encode_all(after.panes, protocols);
    got.insert(got.end(), rest.begin(), rest.end());
    ASSERT_EQ(got.size(), want.size()) << "cut " << cut;
    size_t summaries = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(got[i].value, want[i].value) << "cut " << cut << " message " << i;
      summaries += want[i].value.find("\ns ") != std::string::npos;
    }
    EXPECT_GE(summaries, 4u);
  }
}

// --- PaneMerge: summaries of several partitions ------------------------------------------------

// Runs every partition's records through PartitionState with `budgets[p]`, publishing as an
// instance does, and returns the panes topic's messages.
std::vector<EncodedMessage> publish(const std::vector<std::vector<FloodRec>>& parts,
                                    const engine::EngineConfig& config,
                                    const std::vector<engine::ShardBudget>& budgets,
                                    size_t* summaries) {
  core::ProtocolTable protocols;
  const SourceInfo src{"flows", static_cast<int32_t>(parts.size()), config.time_unit_ms,
                       config.ip_key};
  std::vector<EncodedMessage> log;
  *summaries = 0;
  for (size_t p = 0; p < parts.size(); ++p) {
    PartitionState state(config, Checkpoint{}, budgets[p]);
    std::vector<std::pair<int64_t, engine::KeySums>> panes;
    const auto flush = [&](std::optional<int64_t> bound) {
      for (const auto& [index, sums] : panes) {
        encode_pane(src, static_cast<int32_t>(p), index, sums, protocols, log, 400);
        *summaries += sums.summary != nullptr;
      }
      panes.clear();
      Mark m;
      m.partition = static_cast<int32_t>(p);
      m.kind = bound ? Mark::Kind::kCompleteBelow : Mark::Kind::kEnd;
      m.complete_below = bound.value_or(0);
      log.push_back(encode_mark(src, m));
    };
    for (size_t i = 0; i < parts[p].size(); ++i) {
      state.add(static_cast<int64_t>(i), record(protocols, parts[p][i]));
      if ((i + 1) % 700 == 0)
        if (auto bound = state.take_complete(panes)) flush(bound);
    }
    state.take_all(panes);
    flush(std::nullopt);
  }
  return log;
}

std::string merge_json(const std::vector<EncodedMessage>& log, const engine::EngineConfig& config,
                       const engine::QueryParams& params) {
  engine::EngineControl control(params, config.max_window);
  core::ProtocolTable protocols;
  testref::CollectingSink sink;
  query::SixQueries queries(protocols, sink);
  PaneMerge merge(config, control, protocols, queries);
  for (const auto& m : log) {
    std::string why;
    auto d = decode(m.value, &why);
    EXPECT_TRUE(d) << why;
    if (!d) continue;
    EXPECT_FALSE(merge.accept(std::move(*d)));
    merge.advance();
  }
  EXPECT_TRUE(merge.all_ended());
  merge.finish();
  return sink.json;
}

// keyed: records partitioned by source address, as `generate --output kafka://` keys them, so
// each address lives in one partition; else spread round robin (an unkeyed producer), so an
// address's bytes are split over partitions and its bound is the sum of their floors.
void check_merge(bool keyed) {
  FloodShape shape;
  shape.seconds = 12;
  shape.flood_seconds = {4, 5};
  shape.flood = 24000;
  const auto recs = testkafka::make_flood_traffic(shape);
  const auto truth = testkafka::per_second(recs, shape.seconds);
  // Four partitions by source. Partition 3's instance has room for its part of the flood: its
  // panes stay exact beside the others' summaries, and its 6000 addresses a second must still
  // reach the merged sketches (the key count would be a quarter short).
  std::vector<std::vector<FloodRec>> parts(4);
  for (size_t i = 0; i < recs.size(); ++i)
    parts[keyed ? std::hash<std::string>{}(recs[i].src) % 4 : i % 4].push_back(recs[i]);
  engine::EngineConfig config;
  config.max_window = 10;
  const engine::QueryParams params{2, 5, 5, 2};
  const std::vector<engine::ShardBudget> unbounded(4);
  std::vector<engine::ShardBudget> bounded(4, small_budget(40, 1500));
  bounded[3] = small_budget(40, 100000);
  size_t summaries = 0;
  const auto exact_log = publish(parts, config, unbounded, &summaries);
  EXPECT_EQ(summaries, 0u);
  const auto log = publish(parts, config, bounded, &summaries);
  EXPECT_EQ(summaries, 6u) << "partitions 0-2, seconds 4 and 5";
  engine::EngineConfig exact_config = config;
  exact_config.memory_limit = 0;
  const std::string exact = merge_json(exact_log, exact_config, params);
  ASSERT_FALSE(exact.empty());
  // The merge's own budget: none (every key it is given stays), a roomy one, and one whose m
  // (32) is below what the partitions send together (3 x 40 and the exact ones).
  for (const uint64_t limit :
       {uint64_t{0}, uint64_t{64} << 20, (uint64_t{24} << 20) + (250u << 10)}) {
    SCOPED_TRACE("merge --memory-limit " + std::to_string(limit));
    engine::EngineConfig merge_config = config;
    merge_config.memory_limit = limit;
    const auto budget = engine::budget_for(merge_config, 1);
    ASSERT_TRUE(budget.ok()) << budget.status().message();
    const engine::ShardBudget mb = budget.value();
    if (limit != 0 && limit < (uint64_t{32} << 20)) {
      ASSERT_LT(mb.summary_keys, 3 * 40u);
    }
    const std::string got = merge_json(log, merge_config, params);
    const auto report =
        testkafka::check_flood_results(got, exact, truth, params.H, static_cast<size_t>(params.k));
    EXPECT_GE(report.windows, 10u);
    // The windows holding second 4 or 5; with the small budget, merge summarizes more panes.
    if (limit == 0 || limit == (uint64_t{64} << 20)) {
      EXPECT_EQ(report.approximate, 6u);
    } else {
      EXPECT_GE(report.approximate, 6u);
    }
    EXPECT_GT(report.max_epsilon, 0);
    EXPECT_LT(report.max_epsilon, 0.05);
  }
}

TEST(PaneBudgetMerge, SummarizedAndExactPartitionsMergeWithinTheBounds) {
  check_merge(true);
}
TEST(PaneBudgetMerge, AddressesSplitOverPartitionsAddTheirFloors) {
  check_merge(false);
}

}  // namespace
}  // namespace netpulse::kafka
