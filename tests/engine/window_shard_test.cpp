// WindowShard on its own: closed panes fold like open ones, and the candidate keys it hands to
// the queries always hold every key at or above the floor and the shard's top k, while in a
// steady stream it visits far fewer keys than the window holds.
#include "engine/window_shard.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "engine/record_buffer.hpp"
#include "key_stream_support.hpp"

namespace netpulse::engine {
namespace {

EngineConfig config() {
  EngineConfig c;
  c.time_unit_ms = 1000;
  c.lateness = 0;
  c.ip_key = IpKey::kSrc;
  return c;
}

// The reference: per pane, per key bytes; the window is a sum over panes.
using PaneBytes = std::map<int64_t, std::map<uint32_t, uint64_t>>;

std::map<uint32_t, uint64_t> window_sums(const PaneBytes& panes, int64_t lo, int64_t hi) {
  std::map<uint32_t, uint64_t> out;
  for (auto it = panes.lower_bound(lo); it != panes.end() && it->first < hi; ++it)
    for (const auto& [key, bytes] : it->second) out[key] += bytes;
  return out;
}

// Checks that what for_each_candidate visits covers every key >= floor and the top k, with the
// window's true bytes. Returns how many keys it visited.
size_t check_candidates(WindowShard& shard, const std::map<uint32_t, uint64_t>& truth,
                        uint64_t floor, size_t k) {
  std::map<uint32_t, uint64_t> seen;
  shard.for_each_candidate(floor, k, [&](const core::IpAddr& a, uint64_t bytes) {
    EXPECT_FALSE(a.is_v6);
    EXPECT_TRUE(seen.emplace(a.v4_value(), bytes).second) << "visited twice: " << a.v4_value();
  });
  for (const auto& [key, bytes] : seen) {
    auto it = truth.find(key);
    EXPECT_TRUE(it != truth.end()) << key;
    if (it != truth.end()) {
      EXPECT_EQ(bytes, it->second) << key;
    }
  }
  std::vector<std::pair<uint64_t, uint32_t>> ranked;
  for (const auto& [key, bytes] : truth) {
    if (bytes >= floor) {
      EXPECT_TRUE(seen.count(key)) << "missing key above the floor: " << key;
    }
    ranked.emplace_back(bytes, key);
  }
  std::sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t i = 0; i < std::min(k, ranked.size()); ++i)
    EXPECT_TRUE(seen.count(ranked[i].second)) << "missing top-" << k << " key " << ranked[i].second;
  return seen.size();
}

TEST(WindowShard, CandidatesCoverThresholdsAndTopKAsTheWindowSlides) {
  std::mt19937_64 rng(7);
  WindowShard shard(0, 1, config());
  PaneBytes panes;
  const int64_t T = 10;
  size_t last_visited = 0;
  size_t window_keys = 0;
  for (int64_t pane = 0; pane < 80; ++pane) {
    // 20,000 small keys, and a few heavy ones whose weight drifts (some rise, some fall out).
    KeySums& sums = shard.pane_sums(pane);
    auto& ref = panes[pane];
    for (int i = 0; i < 3000; ++i) {
      const uint32_t key = 1000 + static_cast<uint32_t>(rng() % 20000);
      const uint64_t bytes = 40 + rng() % 1500;
      sums.ip4.add(key, bytes, 1);
      ref[key] += bytes;
    }
    for (uint32_t h = 0; h < 30; ++h) {
      const uint64_t bytes = (h + 1) * 20000 + static_cast<uint64_t>((pane * 7919 + h * 104729) % 50000);
      if ((pane / 20 + h) % 3 == 0) continue;  // heavy keys come and go
      sums.ip4.add(h + 1, bytes, 1);
      ref[h + 1] += bytes;
    }
    sums.protocols.add(0, 1, 1);
    shard.close_before(pane - 1);  // panes close a little behind, as with lateness
    if (pane + 1 < T) continue;
    shard.move_window(pane + 1 - T, pane + 1);
    const auto truth = window_sums(panes, pane + 1 - T, pane + 1);
    window_keys = truth.size();
    // Vary the floor and k as H, X and k would.
    const uint64_t floor = pane % 25 == 0 ? 5000 : 150000 + static_cast<uint64_t>(pane % 5) * 40000;
    const size_t k = pane % 17 == 0 ? 40 : 10;
    last_visited = check_candidates(shard, truth, floor, k);
    shard.evict_before(pane + 1 - T);
    if (::testing::Test::HasFailure()) return;
  }
  // In the steady state the queries see the tracked keys, not the whole window.
  EXPECT_GT(window_keys, 15000u);
  EXPECT_LT(last_visited, window_keys / 20);
  EXPECT_LT(shard.candidate_count(), window_keys / 20);
}

TEST(WindowShard, LargeKOrZeroFloorVisitsEveryKey) {
  WindowShard shard(0, 1, config());
  PaneBytes panes;
  for (int64_t pane = 0; pane < 3; ++pane) {
    KeySums& sums = shard.pane_sums(pane);
    for (uint32_t key = 0; key < 5000; ++key) {
      const uint64_t bytes = key % 7 == 0 ? 0 : key;  // some keys with 0 bytes
      sums.ip4.add(key, bytes, 1);
      panes[pane][key] += bytes;
    }
  }
  shard.close_before(3);
  shard.move_window(0, 3);
  const auto truth = window_sums(panes, 0, 3);
  // k above the number of keys with bytes: every key, 0-byte ones included, is a candidate.
  EXPECT_EQ(check_candidates(shard, truth, 1, 6000), truth.size());
  EXPECT_EQ(check_candidates(shard, truth, 0, 1), truth.size());
}

TEST(WindowShard, ClosedPanesFoldLikeOpenOnes) {
  std::mt19937_64 rng(11);
  WindowShard open_shard(0, 1, config()), closed_shard(0, 1, config());
  for (int64_t pane = 0; pane < 12; ++pane) {
    KeySums& a = open_shard.pane_sums(pane);
    KeySums& b = closed_shard.pane_sums(pane);
    for (int i = 0; i < 2000; ++i) {
      const uint32_t key = static_cast<uint32_t>(rng() % 3000);
      const core::Ip6 key6{rng() % 5, rng() % 300};
      const uint64_t bytes = rng() % 100000;
      a.ip4.add(key, bytes, 1);
      b.ip4.add(key, bytes, 1);
      a.ip6.add(key6, bytes, 2);
      b.ip6.add(key6, bytes, 2);
      a.protocols.add(key % 5, bytes, 1);
      b.protocols.add(key % 5, bytes, 1);
    }
    // Keys whose sums do not fit a closed pane's 8-byte entry (PackedEntries), and those just
    // inside its limits: 256 records, 2^24 bytes, 255 records of 2^24 - 1 bytes in all.
    const auto heavy = [&](uint32_t key, uint64_t bytes, uint32_t records) {
      a.ip4.add(key, bytes, records);
      b.ip4.add(key, bytes, records);
    };
    heavy(5000 + static_cast<uint32_t>(pane % 3), 1000, 256);
    heavy(6000, uint64_t{1} << 24, 1);
    heavy(6001, (uint64_t{1} << 24) - 1, 255);
    heavy(6002 + static_cast<uint32_t>(pane % 2), uint64_t{1} << 40, 70'000);
    closed_shard.close_before(pane + 1);
    if (pane < 4) continue;
    open_shard.move_window(pane - 4, pane + 1);
    closed_shard.move_window(pane - 4, pane + 1);
    const WindowAggregate& x = open_shard.window();
    const WindowAggregate& y = closed_shard.window();
    EXPECT_EQ(x.records, y.records);
    EXPECT_EQ(x.protocol.s1, y.protocol.s1);
    EXPECT_EQ(x.ip.n, y.ip.n);
    EXPECT_EQ(x.ip.s1, y.ip.s1);
    EXPECT_TRUE(x.ip.s2 == y.ip.s2);
    EXPECT_EQ(x.keys.ip4.size(), y.keys.ip4.size());
    x.keys.ip4.for_each([&](const auto& e) {
      const auto f = y.keys.ip4.find(e.key);
      ASSERT_TRUE(f.has_value());
      EXPECT_EQ(f->bytes, e.bytes);
      EXPECT_EQ(f->records, e.records);
    });
    open_shard.evict_before(pane - 4);
    closed_shard.evict_before(pane - 4);
  }
}

// A shard adds a pane's protocol sums through a table indexed by id while the records keep to
// one pane (ids below 64), and through the pane's hashed table otherwise. Records whose panes
// alternate within one consume call, ids on both sides of 64, in records and in key streams
// (the two ways records reach a shard): every pane's and the window's protocol sums are those
// of a plain map, and nothing is left behind between calls.
TEST(WindowShard, ProtocolSumsMatchAPlainMapForAnyIdAndPaneOrder) {
  std::mt19937_64 rng(23);
  EngineConfig c = config();
  c.lateness = 100;  // nothing is late: the panes take the records in any order
  for (const bool keys : {false, true}) {
    WindowShard shard(0, 1, c);
    std::map<uint32_t, std::pair<uint64_t, uint32_t>> want;  // id -> bytes, records
    std::map<int64_t, std::map<uint32_t, uint64_t>> want_pane;
    std::map<int64_t, uint64_t> want_records, got_records;  // per pane
    uint64_t total = 0;
    for (int call = 0; call < 40; ++call) {
      std::vector<core::FlowRecord> batch(1 + rng() % 600);
      int64_t pane = static_cast<int64_t>(rng() % 10);
      for (core::FlowRecord& r : batch) {
        if (rng() % 8 == 0) pane = static_cast<int64_t>(rng() % 10);  // runs, then a switch
        r.time = pane * 1000 + static_cast<int64_t>(rng() % 1000);
        r.protocol = static_cast<uint32_t>(rng() % 4 == 0 ? 64 + rng() % 150 : rng() % 64);
        r.bytes = static_cast<uint32_t>(1 + rng() % 100'000);
        r.src = rng() % 16 == 0 ? core::IpAddr::v6(core::Ip6{1, rng() % 50})
                                : core::IpAddr::v4(static_cast<uint32_t>(rng() % 5000));
        r.dst = core::IpAddr::v4(1);
        auto& [bytes, records] = want[r.protocol];
        bytes += r.bytes;
        ++records;
        want_pane[pane][r.protocol] += r.bytes;
        ++want_records[pane];
        total += r.bytes;
      }
      WindowShard::Input in;
      KeyStream stream;
      if (keys) {
        testing::append_keys(stream, batch);  // as Pipeline::route_keys writes them
        RecordBuffer::finish();
        in.routed = true;
        in.keys = stream.data();
        in.count = stream.size();
        in.key_base = stream.base();
      } else {
        in.records = batch.data();
        in.count = batch.size();
      }
      ASSERT_EQ(shard.consume(in), 0u);
      // The records each pane took (the planner's counts, kept with the protocol sums).
      std::vector<std::pair<int64_t, uint64_t>> counts;
      shard.take_pane_counts(counts);
      for (const auto& [p, n] : counts) got_records[p] += n;
      ASSERT_EQ(got_records, want_records);
      // Between calls, each open pane's table holds all of its protocols' sums.
      for (const auto& [p, ids] : want_pane) {
        const KeySums& sums = shard.pane_sums(p);
        ASSERT_EQ(sums.protocols.size(), ids.size()) << "pane " << p;
        for (const auto& [id, bytes] : ids) {
          const auto e = sums.protocols.find(id);
          ASSERT_TRUE(e.has_value()) << "pane " << p << " id " << id;
          EXPECT_EQ(e->bytes, bytes) << "pane " << p << " id " << id;
        }
      }
    }
    shard.close_before(10);
    shard.move_window(0, 10);
    const WindowAggregate& w = shard.window();
    EXPECT_EQ(w.protocol.s1, total);
    ASSERT_EQ(w.keys.protocols.size(), want.size());
    for (const auto& [id, sum] : want) {
      const auto e = w.keys.protocols.find(id);
      ASSERT_TRUE(e.has_value()) << id;
      EXPECT_EQ(e->bytes, sum.first) << id;
      EXPECT_EQ(e->records, sum.second) << id;
    }
  }
}

// Closed panes' arrays live in the shard's arena (FlatArena). Pane sizes that swing make pooled
// arrays regrow and leave holes in their slabs; after every close the arena holds at most twice
// its arrays plus four slabs (beyond that the shard compacts it), and compact_flats(), asked
// for every tenth pane, leaves no holes: beyond the arrays, only the slabs' tails where the next
// array did not fit and the unfilled part of the last one (slabs of 2 MiB, from the PageCache,
// fill less well than those of 4). Throughout, the window's sums are those of a plain map over
// the panes it holds.
TEST(WindowShard, ClosedPanesStayExactAndTheirArenaCompactAsPaneSizesSwing) {
  huge_pages::PageCache::instance().clear();  // the runs other tests left would make its slabs
  std::mt19937_64 rng(5);
  WindowShard shard(0, 1, config());
  PaneBytes panes;
  constexpr int64_t kT = 6;
  size_t most_held = 0;
  for (int64_t pane = 0; pane < 40; ++pane) {
    KeySums& sums = shard.pane_sums(pane);
    // 4,000 to 140,000 keys of a record each: arrays of 32 KiB (from malloc) to 1.1 MiB.
    const size_t keys = pane % 7 == 3 ? 140'000 : 4'000 + rng() % 60'000;
    for (size_t i = 0; i < keys; ++i) {
      const auto key = static_cast<uint32_t>(rng() % 4'000'000);
      const uint64_t bytes = 1 + rng() % 5000;
      sums.ip4.add(key, bytes, 1);
      panes[pane][key] += bytes;
    }
    // Heavy keys (kept aside in their pane's array, see PackedEntries) move with the rest.
    for (uint32_t heavy = 0; heavy < 1 + pane % 4; ++heavy) {
      const uint32_t key = 300'000 + heavy * 7 + static_cast<uint32_t>(pane % 3);
      sums.ip4.add(key, uint64_t{1} << 30, 1000);
      panes[pane][key] += uint64_t{1} << 30;
    }
    shard.close_before(pane + 1);
    EXPECT_LE(shard.flat_held_bytes(), 2 * shard.flat_live_bytes() + 4 * FlatArena::kSlab)
        << "pane " << pane;
    most_held = std::max(most_held, shard.flat_held_bytes());
    if (pane % 10 == 9) {
      shard.compact_flats();
      EXPECT_LE(shard.flat_held_bytes(), shard.flat_live_bytes() * 2 + FlatArena::kSlab)
          << "pane " << pane;
    }
    const int64_t lo = std::max<int64_t>(0, pane + 1 - kT);
    shard.move_window(lo, pane + 1);
    const auto truth = window_sums(panes, lo, pane + 1);
    const auto& window = shard.window().keys.ip4;
    ASSERT_EQ(window.size(), truth.size()) << "pane " << pane;
    for (const auto& [key, bytes] : truth) {
      const auto e = window.find(key);
      ASSERT_TRUE(e.has_value()) << key;
      ASSERT_EQ(e->bytes, bytes) << key;
    }
    shard.evict_before(lo);
    panes.erase(panes.begin(), panes.lower_bound(lo));
  }
  // (Slabs are 2 or 4 MiB, as the PageCache has them from the pane tables freed.)
  EXPECT_GE(most_held, FlatArena::kSlab) << "the arrays never reached the arena";
}

// PaneSummarizer::Adder4 adds runs of IPv4 addresses with the pane's table in locals; the pane
// it leaves is the one add() makes record by record: the same table slot for slot,
// and the same summary (started at the same record, the same floor, removed bytes and
// sketches), with IPv6 addresses (add(), between runs) moving its limit, and runs cut at random.
TEST(PaneSummarizer, AnAdder4SummarizesAPaneAsAddDoes) {
  for (const size_t limit : {size_t{64}, size_t{1000}, SIZE_MAX}) {
    std::mt19937_64 rng(limit);
    PaneSummarizer by_record(32), by_run(32);
    KeySums one, runs;
    one.ip_limit = runs.ip_limit = limit;
    PaneSummarizer::Adder4 adder(by_run, runs);
    std::set<uint32_t> drawn;
    for (int i = 0; i < 20'000; ++i) {
      const auto bytes = static_cast<uint32_t>(40 + rng() % 1500);
      if (rng() % 50 == 0) {
        const core::IpAddr a{core::Ip6{0x20010db800000000ULL, rng() % 300}, true};
        by_record.add(one, a, bytes);
        adder.done();
        by_run.add(runs, a, bytes);
        adder = PaneSummarizer::Adder4(by_run, runs);
        continue;
      }
      if (rng() % 400 == 0) {  // a run ends (the loop moved to another pane and back)
        adder.done();
        adder = PaneSummarizer::Adder4(by_run, runs);
      }
      const auto v4 = static_cast<uint32_t>(rng() % 3000);
      drawn.insert(v4);
      by_record.add(one, core::IpAddr::v4(v4), bytes);
      adder.prefetch_at(slot_order(v4));
      adder.add4_at(v4, slot_order(v4), bytes);
    }
    adder.done();
    SCOPED_TRACE(limit);
    ASSERT_EQ(runs.ip_limit, one.ip_limit);
    ASSERT_EQ(runs.ip6.size(), one.ip6.size());
    ASSERT_EQ(runs.ip4.size(), one.ip4.size());
    ASSERT_EQ(runs.ip4.capacity(), one.ip4.capacity());
    for (size_t i = 0; i < one.ip4.capacity(); ++i) {
      ASSERT_EQ(runs.ip4.slots_begin()[i].key, one.ip4.slots_begin()[i].key) << i;
      ASSERT_EQ(runs.ip4.slots_begin()[i].records, one.ip4.slots_begin()[i].records) << i;
      ASSERT_EQ(runs.ip4.slots_begin()[i].bytes, one.ip4.slots_begin()[i].bytes) << i;
    }
    ASSERT_EQ(runs.summary != nullptr, one.summary != nullptr);
    if (limit == SIZE_MAX) {
      EXPECT_FALSE(one.summary) << "no limit: exact";
      EXPECT_EQ(one.ip4.size(), drawn.size());
      continue;
    }
    ASSERT_TRUE(one.summary) << "the limit was reached";
    EXPECT_EQ(runs.summary->floor, one.summary->floor);
    EXPECT_EQ(runs.summary->removed, one.summary->removed);
    EXPECT_EQ(runs.summary->keys.estimate(), one.summary->keys.estimate());
    EXPECT_EQ(runs.summary->squares.estimate(), one.summary->squares.estimate());
  }
}

// Routing hashes an IPv4 key once (shard_hash, one multiply) and takes its shard from the top
// bits: every shard gets its share of the address sets a network has (a block of sequential
// addresses, every /24's gateway, strides of 4096, random ones) within 5 standard deviations of
// a fair draw (2-5%: the structured sets come out far closer); IPv6 keys too; and a
// two-shard route by the hash's top bit agrees with shard_of (route_keys takes the bit, its
// escapes shard_of).
TEST(ShardOf, SpreadsUsualAddressSetsEvenlyOverTheShards) {
  std::mt19937_64 rng(7);
  const uint32_t base = 0x0A000000u;
  const size_t n = 1u << 16;
  auto sets = std::vector<std::pair<const char*, std::function<core::IpAddr(uint32_t)>>>{
      {"sequential", [&](uint32_t i) { return core::IpAddr::v4(base + i); }},
      {"gateways", [&](uint32_t i) { return core::IpAddr::v4(base + (i << 8) + 1); }},
      {"stride 4096", [&](uint32_t i) { return core::IpAddr::v4(i << 12); }},
      {"random", [&](uint32_t) { return core::IpAddr::v4(static_cast<uint32_t>(rng())); }},
      {"IPv6 sequential",
       [&](uint32_t i) {
         return core::IpAddr{core::Ip6{0x20010db800000000ULL, i}, true};
       }},
  };
  for (auto& [name, make] : sets) {
    for (uint32_t shards : {2u, 3u, 4u, 7u}) {
      std::vector<size_t> count(shards);
      for (uint32_t i = 0; i < n; ++i) {
        const core::IpAddr a = make(i);
        const uint32_t s = shard_of(a, shards);
        ASSERT_LT(s, shards);
        ++count[s];
        if (shards == 2 && !a.is_v6) {
          ASSERT_EQ(s, shard_hash(a.v4_value()) >> 63) << name << " " << i;
        }
      }
      const double fair = static_cast<double>(n) / shards;
      const double sigma = std::sqrt(fair * (1.0 - 1.0 / shards));
      for (uint32_t s = 0; s < shards; ++s)
        EXPECT_NEAR(static_cast<double>(count[s]), fair, 5 * sigma)
            << name << ", shard " << s << " of " << shards;
    }
  }
}
}  // namespace
}  // namespace netpulse::engine
