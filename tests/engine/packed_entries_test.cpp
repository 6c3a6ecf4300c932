// PackedEntries against a plain vector of entries: the same entries come back in the same order
// whichever way they were stored, through pushes, erasing and compaction; and small sums take 8
// bytes a key.
#include "engine/packed_entries.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace netpulse::engine {
namespace {

using Entry = PackedEntries::Entry;

std::vector<Entry> read_back(const PackedEntries& p) {
  std::vector<Entry> out;
  p.for_each([&](const Entry& e) { out.push_back(e); });
  return out;
}

void expect_same(const PackedEntries& p, const std::vector<Entry>& truth) {
  ASSERT_EQ(p.size(), truth.size());
  const auto got = read_back(p);
  ASSERT_EQ(got.size(), truth.size());
  for (size_t i = 0; i < truth.size(); ++i) {
    ASSERT_EQ(got[i].key, truth[i].key) << i;
    ASSERT_EQ(got[i].records, truth[i].records) << i;
    ASSERT_EQ(got[i].bytes, truth[i].bytes) << i;
  }
}

bool fits(const Entry& e) {
  return e.records >= 1 && e.records <= 255 && e.bytes < (uint64_t{1} << 24);
}

// Sums at and beside the limits of the packed word, and random ones of every size.
Entry random_entry(std::mt19937_64& rng, uint32_t key) {
  static const uint32_t records[] = {1, 2, 254, 255, 256, 1000, 0xFFFFFFFFu};
  static const uint64_t bytes[] = {
      0, 1, 40, 1500, (1u << 24) - 1, 1u << 24, uint64_t{1} << 40, UINT64_MAX};
  Entry e{key, 1, 0};
  switch (rng() % 4) {
    case 0:
      e.records = records[rng() % std::size(records)];
      e.bytes = bytes[rng() % std::size(bytes)];
      break;
    case 1:
      e.records = 1 + static_cast<uint32_t>(rng() % 400);
      e.bytes = rng() % (uint64_t{1} << 26);
      break;
    default:  // most keys of a pane: a few records of a few hundred bytes
      e.records = 1 + static_cast<uint32_t>(rng() % 3);
      e.bytes = 40 + rng() % 4000;
  }
  return e;
}

TEST(PackedEntries, GivesBackEveryEntryInOrderWhateverItsSums) {
  std::mt19937_64 rng(20261206);
  FlatArena arena;
  for (int run = 0; run < 20; ++run) {
    PackedEntries packed(run % 2 ? &arena : nullptr);
    std::vector<Entry> truth;
    const size_t n = rng() % 50'000;
    packed.reserve(n);
    size_t wide = 0;
    for (size_t i = 0; i < n; ++i) {
      const Entry e = random_entry(rng, static_cast<uint32_t>(rng()));
      packed.push_back(e);
      truth.push_back(e);
      wide += !fits(e);
    }
    expect_same(packed, truth);
    EXPECT_EQ(packed.wide_count(), wide);
    // 8 bytes a key, 16 more for each key set aside.
    EXPECT_LE(n * 8 + wide * 16, packed.capacity_bytes());
    EXPECT_GE(packed.capacity(), n);

    // pre sees every key, in order, 16 entries before f sees its entry, and f gets what pre
    // returned for that entry's key (a fold prefetches there and keeps the slot for the add).
    std::vector<uint32_t> pre_keys;
    std::vector<Entry> seen;
    size_t mismatched = 0;
    packed.for_each_ahead<16>(
        [&](uint32_t key) {
          pre_keys.push_back(key);
          return uint64_t{key} * 3 + 1;
        },
        [&](const Entry& e, uint64_t v) {
          // At this entry, pre has run on the next 16 (or up to the end).
          if (pre_keys.size() != std::min<size_t>(n, seen.size() + 1 + 16)) ++mismatched;
          if (v != uint64_t{e.key} * 3 + 1) ++mismatched;
          seen.push_back(e);
        });
    EXPECT_EQ(mismatched, 0u);
    ASSERT_EQ(seen.size(), n);
    ASSERT_EQ(pre_keys.size(), n);
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(pre_keys[i], truth[i].key) << i;
    std::vector<Entry> plain;
    packed.for_each([&](const Entry& e) { plain.push_back(e); });
    ASSERT_EQ(plain.size(), n);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(plain[i].key, seen[i].key) << i;
      ASSERT_EQ(plain[i].bytes, seen[i].bytes) << i;
      ASSERT_EQ(plain[i].records, seen[i].records) << i;
    }

    // Erasing keeps the others in order, wide ones included.
    const uint64_t cut = 1 + rng() % 3000;
    auto drop = [&](const Entry& e) { return e.bytes <= cut; };
    packed.erase_if(drop);
    std::erase_if(truth, drop);
    packed.shrink_to_fit();
    expect_same(packed, truth);

    // A compaction's copy of both arrays (WindowShard::compact_flats) changes nothing.
    packed.for_each_array([](auto& v) {
      std::remove_reference_t<decltype(v)> fresh(v.get_allocator());
      fresh.assign(v.begin(), v.end());
      v.swap(fresh);
    });
    expect_same(packed, truth);
    // And the array takes more after it.
    for (int i = 0; i < 100; ++i) {
      const Entry e = random_entry(rng, static_cast<uint32_t>(i));
      packed.push_back(e);
      truth.push_back(e);
    }
    expect_same(packed, truth);
    packed.clear();
    EXPECT_TRUE(packed.empty());
    EXPECT_EQ(packed.wide_count(), 0u);
    EXPECT_TRUE(read_back(packed).empty());
  }
  EXPECT_EQ(arena.live_bytes(), 0u);
}

// A pane of issue 12's shape: 37,500 keys of 1-3 records and a few heavy ones take a little over
// 8 bytes a key in the shard's arena, where AggMap's entries took 16.
TEST(PackedEntries, APaneOfSmallSumsTakesHalfTheArena) {
  FlatArena arena;
  {
    PackedEntries packed(&arena);
    packed.reserve(37'500);
    std::mt19937_64 rng(3);
    for (uint32_t k = 0; k < 37'500; ++k)
      packed.push_back(
          Entry{k, k < 27 ? 300u + k : 1u + k % 3, k < 27 ? 400'000u : 40 + rng() % 1500});
    EXPECT_EQ(packed.wide_count(), 27u);
    EXPECT_LE(arena.live_bytes(), 37'500 * 8 + 27 * 16 + 2 * 64);
    EXPECT_GE(arena.live_bytes(), 37'500 * 8);
  }
  EXPECT_EQ(arena.live_bytes(), 0u);
}

}  // namespace
}  // namespace netpulse::engine
