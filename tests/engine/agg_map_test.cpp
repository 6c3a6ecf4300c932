// AggMap against a plain std::map: sums, size and the table's size through adds, subtractions
// (erasing keys), drains and resets.
#include "engine/agg_map.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

namespace netpulse::engine {
namespace {

struct Sums {
  uint64_t bytes = 0;
  uint32_t records = 0;
};

// The map holds exactly the reference's keys and sums.
void expect_same(const AggMap<uint32_t>& map, const std::map<uint32_t, Sums>& truth) {
  ASSERT_EQ(map.size(), truth.size());
  size_t seen = 0;
  map.for_each([&](const auto& e) {
    ++seen;
    const auto it = truth.find(e.key);
    ASSERT_NE(it, truth.end()) << e.key;
    EXPECT_EQ(e.bytes, it->second.bytes) << e.key;
    EXPECT_EQ(e.records, it->second.records) << e.key;
  });
  EXPECT_EQ(seen, truth.size());
  for (const auto& [key, sums] : truth) {
    const auto e = map.find(key);
    ASSERT_TRUE(e.has_value()) << key;
    EXPECT_EQ(e->bytes, sums.bytes);
  }
  // The raw slots, as the window's full scan reads them.
  size_t held = 0;
  for (const auto* e = map.slots_begin(); e != map.slots_end(); ++e) {
    if (e->records == 0) {
      EXPECT_EQ(e->bytes, 0u) << "an empty slot holds bytes";
      continue;
    }
    ++held;
    EXPECT_EQ(map.bytes_of(*e), truth.at(e->key).bytes) << e->key;
  }
  EXPECT_EQ(held, truth.size());
}

// Regression (the soak of 2026-12-04): reset() freed the slots but kept the key count, so the
// pipeline's per-window protocol table, reset and refilled with the same protocols every window,
// grew by doubling for ever (262,144 slots for 19 protocols after 70 minutes).
TEST(AggMap, ResetForgetsTheKeysSoARefilledTableStaysSmall) {
  AggMap<uint32_t> map;
  for (int window = 0; window < 10'000; ++window) {
    map.reset();
    ASSERT_EQ(map.size(), 0u);
    for (uint32_t protocol = 0; protocol < 19; ++protocol) map.add(protocol, 100 + protocol, 1);
    ASSERT_EQ(map.size(), 19u);
    ASSERT_EQ(map.capacity(), 64u) << "window " << window;  // the least room for 19 keys
  }
  EXPECT_EQ(map.find(7)->bytes, 107u);
}

TEST(AggMap, DrainEmptiesAndKeepsTheRoom) {
  AggMap<uint32_t> map;
  for (uint32_t k = 0; k < 1000; ++k) map.add(k * 7919, 1, 1);
  const size_t capacity = map.capacity();
  uint64_t drained = 0;
  map.drain([&](const auto& e) { drained += e.records; });
  EXPECT_EQ(drained, 1000u);
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.capacity(), capacity);
  for (uint32_t k = 0; k < 1000; ++k) map.add(k * 7919, 1, 1);
  EXPECT_EQ(map.size(), 1000u);
  EXPECT_EQ(map.capacity(), capacity);
}

// Random adds and subtractions (as a window gains and loses panes), drains, resets, shrinks and
// copies, checked against std::map: the size after every step, every key and sum every 500
// steps and at the end; the table never holds more than twice the room its keys need at the
// largest size they reached since the last reset. Every most load from half to 7/8: the fuller
// the table, the longer the probe runs that erasing shifts back.
TEST(AggMap, MatchesAPlainMapThroughRandomOperations) {
  std::mt19937_64 rng(20261204);
  for (int run = 0; run < 48; ++run) {
    AggMap<uint32_t> map;
    const unsigned load = 4 + static_cast<unsigned>(run % 4);
    map.set_max_load(load);
    std::map<uint32_t, Sums> truth;
    const uint32_t universe = 1u << (4 + run % 12);  // 16 to 32,768 distinct keys
    size_t peak = 0;
    for (int step = 0; step < 3000; ++step) {
      const uint64_t op = rng() % 100;
      if (op < 60) {
        const uint32_t key = static_cast<uint32_t>(rng() % universe) * 2654435761u;
        const uint64_t bytes = rng() % 1500;
        const uint32_t records = 1 + static_cast<uint32_t>(rng() % 3);
        map.add(key, bytes, records);
        truth[key].bytes += bytes;
        truth[key].records += records;
      } else if (op < 97) {
        if (truth.empty()) continue;
        auto it = truth.begin();
        std::advance(it, static_cast<long>(rng() % truth.size()));
        // Either the whole key (it leaves) or part of it.
        const bool all = rng() % 2 == 0 || it->second.records == 1;
        const uint32_t records = all ? it->second.records : it->second.records - 1;
        const uint64_t bytes = all ? it->second.bytes : it->second.bytes / 2;
        map.sub(it->first, bytes, records);
        it->second.records -= records;
        it->second.bytes -= bytes;
        if (it->second.records == 0) truth.erase(it);
      } else if (op == 97) {
        map.drain([](const auto&) {});  // keeps its room: peak stays
        truth.clear();
      } else if (op == 98) {
        map.reset();
        truth.clear();
        peak = 0;
      } else {
        map.shrink();
        if (rng() % 2) {
          AggMap<uint32_t> copy(map);
          map = std::move(copy);
        }
        ASSERT_EQ(map.max_load(), load);
      }
      // Never fuller than the most load.
      ASSERT_LE(map.size() * 8, map.capacity() * load) << "run " << run << " step " << step;
      peak = std::max(peak, truth.size());
      ASSERT_EQ(map.size(), truth.size()) << "run " << run << " step " << step;
      ASSERT_LE(map.capacity(), std::max<size_t>(16, 4 * peak + 4)) << "run " << run << " step " << step;
      if (step % 500 == 0) expect_same(map, truth);
    }
    expect_same(map, truth);
  }
}

// A slot keeps 32 bits of bytes; a key whose sum reaches 2^32 - 1 keeps it whole in a side map
// and comes back into its slot when subtractions bring it under again. Random adds of up to 8
// GiB and subtractions, through the plain calls and an Inserter (with 64-bit sums and 32-bit
// record bytes, which take the other check), at the fullest load (long
// probe runs, so erasing shifts escaped slots about), with copies, moves, drains and growth;
// every sum returned and held against a plain map.
TEST(AggMap, SumsPastThirtyTwoBitsMatchAPlainMap) {
  std::mt19937_64 rng(20261206);
  auto draw_bytes = [&] {
    switch (rng() % 4) {
      case 0:
        return (uint64_t{1} << 31) + rng() % (uint64_t{3} << 31);  // 2-8 GiB
      case 1:
        return uint64_t{AggMap<uint32_t>::kEscaped} - rng() % 3;  // at the edge
      default:
        return rng() % 1500;
    }
  };
  size_t escaped_seen = 0;
  for (int run = 0; run < 40; ++run) {
    AggMap<uint32_t> map;
    map.set_max_load(run % 2 ? 7 : 4);
    std::map<uint32_t, Sums> truth;
    const uint32_t universe = 1u << (3 + run % 10);  // 8 to 4,096 distinct keys
    for (int step = 0; step < 2000; ++step) {
      const uint64_t op = rng() % 100;
      if (op < 45) {
        const uint32_t key = static_cast<uint32_t>(rng() % universe) * 2654435761u;
        const uint64_t bytes = draw_bytes();
        const uint32_t records = 1 + static_cast<uint32_t>(rng() % 3);
        const Agg before = map.add(key, bytes, records);
        ASSERT_EQ(before.bytes, truth[key].bytes) << "run " << run << " step " << step;
        ASSERT_EQ(before.records, truth[key].records);
        truth[key].bytes += bytes;
        truth[key].records += records;
      } else if (op < 55) {
        AggMap<uint32_t>::Inserter in(map);
        for (int i = 0; i < 20; ++i) {
          const uint32_t key = static_cast<uint32_t>(rng() % universe) * 2654435761u;
          // A record's bytes (32 bits: the add's carry is the check) or a sum's.
          const bool record = rng() % 2 == 0;
          const uint64_t bytes =
              record ? std::min<uint64_t>(draw_bytes(), UINT32_MAX) : draw_bytes();
          const Agg before = record
                                 ? in.add_at(key, slot_order(key), static_cast<uint32_t>(bytes), 1)
                                 : in.add_at(key, slot_order(key), bytes, 1);
          ASSERT_EQ(before.bytes, truth[key].bytes) << "run " << run << " step " << step;
          ASSERT_EQ(before.records, truth[key].records);
          truth[key].bytes += bytes;
          truth[key].records += 1;
        }
        in.done();
      } else if (op < 95) {
        if (truth.empty()) continue;
        auto it = truth.begin();
        std::advance(it, static_cast<long>(rng() % truth.size()));
        const bool all = rng() % 3 == 0 || it->second.records == 1;
        const uint32_t records = all ? it->second.records : it->second.records - 1;
        // The whole key, half of it, or all but a few bytes (under 2^32 again, or not).
        uint64_t bytes = it->second.bytes;
        if (!all && rng() % 2 == 0)
          bytes /= 2;
        else if (!all)
          bytes -= std::min<uint64_t>(bytes, rng() % 2000);
        const Agg before = map.sub(it->first, bytes, records);
        ASSERT_EQ(before.bytes, it->second.bytes) << "run " << run << " step " << step;
        ASSERT_EQ(before.records, it->second.records);
        it->second.records -= records;
        it->second.bytes -= bytes;
        if (it->second.records == 0) truth.erase(it);
      } else if (op < 97) {
        AggMap<uint32_t> copy(map);
        if (rng() % 2) {
          map = std::move(copy);
        } else {
          expect_same(copy, truth);
        }
      } else if (op == 97) {
        std::map<uint32_t, Sums> drained;
        map.drain([&](const auto& e) { drained[e.key] = Sums{e.bytes, e.records}; });
        ASSERT_EQ(drained.size(), truth.size());
        for (const auto& [key, sums] : truth) ASSERT_EQ(drained[key].bytes, sums.bytes) << key;
        ASSERT_EQ(map.escaped_count(), 0u) << "a drained map kept escaped sums";
        truth.clear();
      } else {
        map.shrink();
      }
      size_t past = 0;
      for (const auto& [key, sums] : truth) past += sums.bytes >= AggMap<uint32_t>::kEscaped;
      ASSERT_EQ(map.escaped_count(), past) << "run " << run << " step " << step;
      escaped_seen += past;
      if (step % 100 == 0) expect_same(map, truth);
    }
    expect_same(map, truth);
  }
  EXPECT_GT(escaped_seen, 10'000u) << "the runs hardly had sums past 32 bits";
}

// A table fills to its most load before it doubles, and reserve() and fit() size it by the same
// rule: the window's 570,000 addresses on issue 12's data take 2^20 slots at 3/4, 2^21 at 1/2.
TEST(AggMap, AFullerMostLoadKeepsTheTableSmaller) {
  AggMap<uint32_t> half, three_quarters;
  three_quarters.set_max_load(6);
  for (uint32_t k = 0; k < 570'000; ++k) {
    half.add(k * 2654435761u, 1, 1);
    three_quarters.add(k * 2654435761u, 1, 1);
  }
  EXPECT_EQ(half.capacity(), size_t{1} << 21);
  EXPECT_EQ(three_quarters.capacity(), size_t{1} << 20);
  // Up to 3/4 of the slots, then it doubles.
  AggMap<uint32_t> edge;
  edge.set_max_load(6);
  for (uint32_t k = 0; k < 768; ++k) edge.add(k * 2654435761u, 1, 1);
  EXPECT_EQ(edge.capacity(), 1024u);
  edge.add(768 * 2654435761u, 1, 1);
  EXPECT_EQ(edge.capacity(), 2048u);
  AggMap<uint32_t> reserved;
  reserved.set_max_load(6);
  reserved.reserve(768);
  EXPECT_EQ(reserved.capacity(), 1024u);
  reserved.reserve(769);
  EXPECT_EQ(reserved.capacity(), 2048u);
  reserved.fit(700);
  EXPECT_EQ(reserved.capacity(), 1024u);
  // Out of range: clamped to half and 7/8.
  reserved.set_max_load(1);
  EXPECT_EQ(reserved.max_load(), 4u);
  reserved.set_max_load(8);
  EXPECT_EQ(reserved.max_load(), 7u);
  for (uint32_t k = 0; k < 570'000; ++k)
    ASSERT_TRUE(three_quarters.find(k * 2654435761u).has_value());
}

// The most load counts from the slots a table has when it is set, and copies and moves keep it.
TEST(AggMap, AMostLoadSetOnAFilledTableAppliesToItsPresentSlots) {
  AggMap<uint32_t> map;
  for (uint32_t k = 0; k < 512; ++k) map.add(k * 2654435761u, 1, 1);
  EXPECT_EQ(map.capacity(), 1024u);  // half full: the default most
  map.set_max_load(6);
  for (uint32_t k = 512; k < 768; ++k) map.add(k * 2654435761u, 1, 1);
  EXPECT_EQ(map.capacity(), 1024u);
  AggMap<uint32_t> copy(map);
  AggMap<uint32_t> moved(std::move(map));
  for (AggMap<uint32_t>* m : {&copy, &moved}) {
    EXPECT_EQ(m->capacity(), 1024u);
    m->add(768 * 2654435761u, 1, 1);
    EXPECT_EQ(m->capacity(), 2048u);
    EXPECT_EQ(m->size(), 769u);
  }
}

// add_at/sub_at/prefetch_at, given a key's slot order (a loop that hashed it to prefetch),
// keep the same table as add/sub/prefetch.
TEST(AggMap, KeysGivenTheirSlotOrderLandWhereThePlainCallsPutThem) {
  std::mt19937_64 rng(7);
  AggMap<uint32_t> plain, ordered;
  std::map<uint32_t, uint32_t> truth;
  for (int i = 0; i < 200'000; ++i) {
    const auto key = static_cast<uint32_t>(rng() % 5000);
    const uint64_t order = slot_order(key);
    ordered.prefetch_at(order);
    if (truth[key] > 0 && rng() % 3 == 0) {
      plain.sub(key, 1, 1);
      ordered.sub_at(key, order, 1, 1);
      --truth[key];
    } else {
      plain.add(key, 1, 1);
      ordered.add_at(key, order, 1, 1);
      ++truth[key];
    }
  }
  ASSERT_EQ(plain.size(), ordered.size());
  ASSERT_EQ(plain.capacity(), ordered.capacity());
  for (size_t i = 0; i < plain.capacity(); ++i) {
    ASSERT_EQ(plain.slots_begin()[i].key, ordered.slots_begin()[i].key) << i;
    ASSERT_EQ(plain.slots_begin()[i].records, ordered.slots_begin()[i].records) << i;
  }
  for (const auto& [key, n] : truth) {
    const auto e = ordered.find(key);
    if (n == 0) {
      EXPECT_FALSE(e.has_value()) << key;
    } else {
      ASSERT_TRUE(e.has_value()) << key;
      EXPECT_EQ(e->records, n) << key;
    }
  }
}

// An Inserter adds a run of keys with the table's fields in locals: the table it leaves (after
// done()) is the one add_at() makes, slot for slot, through growths in the middle of a run and
// runs that alternate with plain calls; and each add returns the sums before it.
TEST(AggMap, AnInserterBuildsTheTableAddAtBuilds) {
  std::mt19937_64 rng(11);
  AggMap<uint32_t> plain, inserted;
  for (int run = 0; run < 60; ++run) {
    AggMap<uint32_t>::Inserter in(inserted);
    const int length = static_cast<int>(rng() % 5000);
    for (int i = 0; i < length; ++i) {
      const auto key = static_cast<uint32_t>(rng() % 40'000);
      const uint64_t order = slot_order(key);
      const uint64_t bytes = rng() % 1500;
      in.prefetch_at(order);
      const Agg want = plain.add_at(key, order, bytes, 1);
      const Agg got = in.add_at(key, order, bytes, 1);
      ASSERT_EQ(got.bytes, want.bytes) << run << " " << i;
      ASSERT_EQ(got.records, want.records) << run << " " << i;
      ASSERT_EQ(in.size(), plain.size());
    }
    in.done();
    // Between runs, the map is used the plain way.
    const auto key = static_cast<uint32_t>(rng() % 40'000);
    plain.add(key, 7, 1);
    inserted.add(key, 7, 1);
  }
  ASSERT_GT(plain.size(), 30'000u) << "the runs grew the table several times";
  ASSERT_EQ(inserted.size(), plain.size());
  ASSERT_EQ(inserted.capacity(), plain.capacity());
  for (size_t i = 0; i < plain.capacity(); ++i) {
    ASSERT_EQ(inserted.slots_begin()[i].key, plain.slots_begin()[i].key) << i;
    ASSERT_EQ(inserted.slots_begin()[i].records, plain.slots_begin()[i].records) << i;
    ASSERT_EQ(inserted.slots_begin()[i].bytes, plain.slots_begin()[i].bytes) << i;
  }
}

// The kB of huge pages backing the mappings that hold [p, p + bytes) (/proc/self/smaps: the
// table's mapping may have been split in two by the fallback), or -1 when none is found.
long huge_kb_in(const void* p, size_t bytes) {
  std::ifstream smaps("/proc/self/smaps");
  const auto lo_at = reinterpret_cast<uintptr_t>(p), hi_at = lo_at + bytes;
  bool inside = false, found = false;
  long kb = 0;
  for (std::string line; std::getline(smaps, line);) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo < hi_at && hi > lo_at;
      found = found || inside;
    } else if (inside && line.rfind("AnonHugePages:", 0) == 0) {
      kb += std::stol(line.substr(14));
    }
  }
  return found ? kb : -1;
}

// Keeps the PageCache out of a test (every table is mapped fresh), and puts the huge-page
// policy back as a process starts with it.
struct RestoreHugePages {
  const int64_t patience = huge_page_patience_us;
  const size_t cache_cap = huge_pages::PageCache::instance().cap();
  RestoreHugePages() { huge_pages::PageCache::instance().set_cap(0); }
  ~RestoreHugePages() {
    huge_page_patience_us = patience;
    huge_pages_slow = false;
    huge_pages::PageCache::instance().set_cap(cache_cap);
  }
};

// A table of 2 MiB or more is mapped on its own; whether its pages are huge or fall back to 4 KiB
// ones (a huge page slow to fault in: see populate_huge) changes nothing it holds. With no
// patience at all, only the first 2 MiB piece may be a huge page, and every table after it is
// on 4 KiB pages from the start.
TEST(AggMap, LargeTablesHoldEveryKeyOnHugeOrSmallPages) {
  RestoreHugePages restore;
  for (const int64_t patience : {restore.patience, int64_t{0}, int64_t{0}}) {
    const bool slow_before = huge_pages_slow;
    huge_page_patience_us = patience;
    AggMap<uint32_t> map;
    std::map<uint32_t, Sums> truth;
    for (uint32_t k = 0; k < 600'000; ++k) {  // up to 2^21 slots: 32 MiB
      const uint32_t key = k * 2654435761u;
      map.add(key, k % 1500, 1);
      truth[key] = Sums{k % 1500, 1};
    }
    EXPECT_GE(map.memory_bytes(), size_t{16} << 20);
    expect_same(map, truth);
    const long huge = huge_kb_in(map.slots_begin(), map.memory_bytes());
    ASSERT_GE(huge, 0) << "the table's mapping is not in /proc/self/smaps";
    if (patience == 0) {
      EXPECT_LE(huge, 2048) << "patience 0 kept huge pages past the first piece";
      EXPECT_TRUE(huge_pages_slow) << "a slow piece was not remembered";
      if (slow_before) {
        EXPECT_EQ(huge, 0) << "huge pages after one was slow";
      }
    }
  }
}

// A large table grows ahead of need: from 3/8 full it holds, beside its slots, the share of
// the table it will grow into that its keys have earned (all of it at half full), grows into
// that table, and holds every key throughout; drop_ahead() gives it back, and so does falling
// under a quarter full. Small tables (the next size under 1 MiB) do nothing. Tables from 1 MiB
// are mapped in whole huge pages, and counted so.
size_t mapped_bytes(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  return bytes < (size_t{1} << 20) ? bytes : (bytes + kHuge - 1) / kHuge * kHuge;
}

TEST(AggMap, GrowsAheadInStepWithItsKeys) {
  RestoreHugePages restore;
  AggMap<uint32_t> map;
  std::map<uint32_t, Sums> truth;
  const size_t entry = sizeof(AggMap<uint32_t>::Slot);
  // The window's tables fill to 3/4 (window_shard.cpp): the head start begins at 5/8 there.
  for (const unsigned load : {6u, 4u}) {
    map.reset();
    truth.clear();
    map.set_max_load(load);
    size_t checked = 0, full_ahead = 0;
    for (uint32_t k = 0; k < 300'000; ++k) {
      const uint32_t key = k * 2654435761u;
      map.add(key, k % 1500 + 1, 1);
      truth[key] = Sums{k % 1500 + 1, 1};
      if (k % 997 != 0) continue;
      map.grow_ahead();
      const size_t slots = mapped_bytes(map.capacity() * entry), ahead = map.memory_bytes() - slots;
      const size_t next = mapped_bytes(2 * map.capacity() * entry);
      if (2 * map.capacity() * entry < (size_t{1} << 20) ||
          map.size() * 8 < map.capacity() * (load - 1)) {
        EXPECT_EQ(ahead, 0u) << "size " << map.size() << " capacity " << map.capacity();
        continue;
      }
      // The share due, rounded up to whole 2 MiB pieces, never more than the table.
      const double share =
          double(map.size() * 8 - map.capacity() * (load - 1)) / double(map.capacity());
      EXPECT_GE(double(ahead), share * double(next)) << "size " << map.size() << " load " << load;
      EXPECT_LE(ahead, next);
      EXPECT_EQ(ahead % (size_t{2} << 20), 0u);
      ++checked;
      full_ahead += ahead == next;
    }
    EXPECT_GT(checked, 10u) << "load " << load;
    EXPECT_GT(full_ahead, 0u) << "never all of the next table ahead before a growth, load " << load;
  }
  expect_same(map, truth);
  map.drop_ahead();
  EXPECT_EQ(map.memory_bytes(), mapped_bytes(map.capacity() * entry));
  // Under a quarter full again: what was grown into ahead is given back.
  AggMap<uint32_t> shrinking;
  uint32_t k = 0;
  while (shrinking.memory_bytes() == mapped_bytes(shrinking.capacity() * entry) ||
         shrinking.capacity() < (1u << 18)) {
    shrinking.add(k++ * 2654435761u, 1, 1);
    if (k % 1000 == 0) shrinking.grow_ahead();
  }
  ASSERT_GT(shrinking.memory_bytes(), mapped_bytes(shrinking.capacity() * entry));
  while (shrinking.size() * 4 >= shrinking.capacity()) shrinking.sub(--k * 2654435761u, 1, 1);
  shrinking.grow_ahead();
  EXPECT_EQ(shrinking.memory_bytes(), mapped_bytes(shrinking.capacity() * entry));
  // Grown into after a drop: a fresh table, as without growing ahead.
  for (uint32_t k = 300'000; k < 600'000; ++k) {
    const uint32_t key = k * 2654435761u;
    map.add(key, 7, 1);
    truth[key] = Sums{7, 1};
  }
  expect_same(map, truth);
}

// The pages resident in the process (/proc/self/statm).
long resident_pages() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = -1;
  statm >> size >> resident;
  return resident;
}

// A table that grows out of a mapping gives all of it back. The smallest mapped table (1 MiB of
// slots or more: 1.5 MiB) is mapped as a whole huge page; growing out of a mapped table once
// unmapped only its slots and left the rest, faulted in, mapped for the rest of the process
// (from 24922f9 to the fix beside this).
TEST(AggMap, GrowingOutOfAMappedTableGivesAllOfItBack) {
  RestoreHugePages restore;
  const size_t slot = sizeof(AggMap<uint32_t>::Slot);
  const long before = resident_pages();
  ASSERT_GT(before, 0);
  // Straight to the smallest mapped table and out of it (reserve rehashes as a growth does), so
  // that no smaller table passes through malloc: under AddressSanitizer its quarantine keeps
  // those resident.
  size_t slots = 16;
  while (slots * slot < (size_t{1} << 20)) slots *= 2;
  for (int round = 0; round < 40; ++round) {
    AggMap<uint32_t> map;
    map.reserve(slots / 2);
    ASSERT_EQ(map.capacity(), slots);
    map.add(7, 1, 1);
    map.reserve(slots);
    ASSERT_EQ(map.capacity(), 2 * slots);
  }
  const long grown_kb = (resident_pages() - before) * (::sysconf(_SC_PAGESIZE) / 1024);
  EXPECT_LT(grown_kb, 16 * 1024) << "40 growths through a mapped table kept " << grown_kb
                                 << " KiB resident";
}

// A mapped table goes to the PageCache when it is freed, and the next table that size is that
// memory, cleared: it holds only its own keys.
TEST(AggMap, ATableFreedIsTheNextOneThatSizeClearedOfItsKeys) {
  huge_pages::PageCache& cache = huge_pages::PageCache::instance();
  cache.clear();
  const size_t slot = sizeof(AggMap<uint32_t>::Slot);
  const AggMap<uint32_t>::Slot* first_slots = nullptr;
  size_t capacity = 0;
  {
    AggMap<uint32_t> map;
    for (uint32_t k = 0; map.capacity() * slot < (size_t{4} << 20); ++k) map.add(k * 7919u, 5, 1);
    first_slots = map.slots_begin();
    capacity = map.capacity();
  }
  // It, and the tables it grew out of that were mapped (from 1 MiB of slots: AggMap::kHugeBytes),
  // each in whole huge pages.
  size_t held = 0;
  for (size_t c = capacity; c * slot >= (size_t{1} << 20); c /= 2)
    held += huge_pages::whole(c * slot);
  ASSERT_EQ(cache.held_bytes(), held) << "the tables were not given to the cache";
  AggMap<uint32_t> next;
  std::map<uint32_t, Sums> truth;
  next.reserve(capacity / 2);  // the same slots, at the default half load
  EXPECT_EQ(next.slots_begin(), first_slots) << "the cached table was not taken";
  EXPECT_EQ(cache.held_bytes(), held - huge_pages::whole(capacity * slot));
  for (uint32_t k = 0; k < 1000; ++k) {
    next.add(k * 104729u + 3, k, 1);
    truth[k * 104729u + 3] = Sums{k, 1};
  }
  expect_same(next, truth);
}
}  // namespace
}  // namespace netpulse::engine
