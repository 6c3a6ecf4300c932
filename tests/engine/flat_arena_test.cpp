// FlatArena: arrays packed into slabs, each array's bytes its own (checked against a pattern
// written into every array), slabs given back to the PageCache with their last array and
// taken from it again, and the accounting the shard's memory budget reads.
#include "engine/flat_arena.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <vector>

namespace netpulse::engine {
namespace {

constexpr size_t kKiB = size_t{1} << 10;

void fill(void* p, size_t bytes, uint8_t id) {
  std::memset(p, id, bytes);
}
bool holds(const void* p, size_t bytes, uint8_t id) {
  const auto* b = static_cast<const uint8_t*>(p);
  for (size_t i = 0; i < bytes; ++i)
    if (b[i] != id) return false;
  return true;
}

TEST(FlatArena, PacksArraysIntoASlabAndStartsItOverWhenTheyAreGone) {
  huge_pages::PageCache& cache = huge_pages::PageCache::instance();
  cache.clear();  // a run held there would make the first slab
  FlatArena arena;
  const size_t n = 700 * kKiB;  // a pane of the issue-12 file, closed on one thread
  void* a = arena.allocate(n);
  void* b = arena.allocate(n);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % (size_t{2} << 20), 0u)
      << "a slab starts on a huge page";
  EXPECT_EQ(static_cast<char*>(b), static_cast<char*>(a) + n) << "not packed";
  EXPECT_EQ(arena.slab_count(), 1u);
  EXPECT_EQ(arena.held_bytes(), FlatArena::kSlab);
  EXPECT_EQ(arena.live_bytes(), 2 * n);
  fill(a, n, 1);
  fill(b, n, 2);
  // Five fit a 4 MiB slab, the sixth does not.
  void* c = arena.allocate(n);
  void* d = arena.allocate(n);
  void* x = arena.allocate(n);
  EXPECT_EQ(arena.slab_count(), 1u);
  void* e = arena.allocate(n);
  fill(c, n, 3);
  fill(d, n, 4);
  fill(x, n, 6);
  fill(e, n, 5);
  EXPECT_EQ(arena.slab_count(), 2u);
  EXPECT_TRUE(holds(a, n, 1) && holds(b, n, 2) && holds(c, n, 3) && holds(d, n, 4) &&
              holds(x, n, 6) && holds(e, n, 5));
  // The first slab goes to the PageCache when its last array does, and another arena's first
  // slab is that one, faulted in already.
  for (void* p : {a, b, c, d}) arena.deallocate(p, n);
  EXPECT_EQ(arena.slab_count(), 2u);
  arena.deallocate(x, n);
  EXPECT_EQ(arena.slab_count(), 1u);
  EXPECT_EQ(cache.held_bytes(), FlatArena::kSlab);
  EXPECT_EQ(arena.held_bytes(), FlatArena::kSlab);
  EXPECT_EQ(arena.live_bytes(), n);
  {
    FlatArena other;
    void* y = other.allocate(n);
    EXPECT_EQ(y, a);
    EXPECT_EQ(cache.held_bytes(), 0u);
    other.deallocate(y, n);
  }
  // The slab being filled starts over when it empties: the next array is at its start.
  arena.deallocate(e, n);
  void* f = arena.allocate(n);
  EXPECT_EQ(f, e);
  arena.deallocate(f, n);
  EXPECT_EQ(arena.held_bytes(), FlatArena::kSlab);
  EXPECT_EQ(arena.live_bytes(), 0u);
}

TEST(FlatArena, SmallArraysComeFromMallocAndLargeOnesGetASlabWhoseTailIsFilled) {
  huge_pages::PageCache::instance().clear();
  FlatArena arena;
  void* small = arena.allocate(FlatArena::kSmall - 1);
  EXPECT_EQ(arena.slab_count(), 0u) << "a small array mapped a slab";
  EXPECT_EQ(arena.held_bytes(), FlatArena::kSmall - 1);
  const size_t big = FlatArena::kSlab + 100 * kKiB;  // 6 MiB of huge pages
  void* a = arena.allocate(big);
  void* b = arena.allocate(900 * kKiB);
  EXPECT_EQ(static_cast<char*>(b), static_cast<char*>(a) + (big + 63) / 64 * 64);
  EXPECT_EQ(arena.slab_count(), 1u);
  EXPECT_EQ(arena.held_bytes(), (size_t{6} << 20) + FlatArena::kSmall - 1);
  fill(a, big, 7);
  fill(b, 900 * kKiB, 8);
  EXPECT_TRUE(holds(a, big, 7));
  arena.deallocate(a, big);
  arena.deallocate(b, 900 * kKiB);
  arena.deallocate(small, FlatArena::kSmall - 1);
  EXPECT_EQ(arena.live_bytes(), 0u);
}

// Random sizes allocated and given back in random order, each array filled with its own byte:
// no array overlaps another, live_bytes() follows the arrays, held_bytes() is never below it,
// and with every array gone only the slab being filled is held.
TEST(FlatArena, RandomArraysNeverOverlapAndTheAccountingFollowsThem) {
  std::mt19937_64 rng(12);
  FlatArena arena;
  struct Array {
    void* p;
    size_t bytes;
    uint8_t id;
  };
  std::vector<Array> live;
  size_t live_bytes = 0;
  auto rounded = [](size_t b) { return b < FlatArena::kSmall ? b : (b + 63) / 64 * 64; };
  for (int step = 0; step < 3000; ++step) {
    if (live.empty() || rng() % 100 < 55) {
      const size_t sizes[] = {1000, 70 * kKiB, 300 * kKiB, 1500 * kKiB, 5000 * kKiB};
      const size_t bytes = sizes[rng() % 5] + rng() % 4096;
      const auto id = static_cast<uint8_t>(rng());
      void* p = arena.allocate(bytes);
      fill(p, bytes, id);
      live.push_back({p, bytes, id});
      live_bytes += rounded(bytes);
    } else {
      const size_t i = rng() % live.size();
      ASSERT_TRUE(holds(live[i].p, live[i].bytes, live[i].id)) << "step " << step;
      arena.deallocate(live[i].p, live[i].bytes);
      live_bytes -= rounded(live[i].bytes);
      live[i] = live.back();
      live.pop_back();
    }
    ASSERT_EQ(arena.live_bytes(), live_bytes);
    ASSERT_GE(arena.held_bytes(), live_bytes);
    if (live.size() > 60) {  // keep the run's memory modest
      for (const Array& a : live) {
        ASSERT_TRUE(holds(a.p, a.bytes, a.id));
        arena.deallocate(a.p, a.bytes);
      }
      live.clear();
      live_bytes = 0;
      EXPECT_LE(arena.slab_count(), 1u);
      EXPECT_LE(arena.held_bytes(), size_t{6} << 20);
    }
  }
  for (const Array& a : live) arena.deallocate(a.p, a.bytes);
  EXPECT_EQ(arena.live_bytes(), 0u);
}

// Through a vector, as the shard uses it: growth copies into a new array and gives the old back.
TEST(FlatArena, BacksAVectorThroughGrowthSwapAndMove) {
  FlatArena arena;
  std::vector<uint64_t, FlatAlloc<uint64_t>> v{FlatAlloc<uint64_t>(&arena)};
  for (uint64_t i = 0; i < 400'000; ++i) v.push_back(i * 3);
  EXPECT_GT(arena.slab_count(), 0u);
  EXPECT_EQ(arena.live_bytes(), (v.capacity() * 8 + 63) / 64 * 64);
  std::vector<uint64_t, FlatAlloc<uint64_t>> w;  // no arena: malloc
  w = std::move(v);
  EXPECT_EQ(w.get_allocator().arena, &arena) << "the arena did not move with the array";
  for (uint64_t i = 0; i < 400'000; ++i) ASSERT_EQ(w[i], i * 3);
  w.clear();
  w.shrink_to_fit();
  EXPECT_EQ(arena.live_bytes(), 0u);
}

// AddressSanitizer's own query, when the test runs under it (the test files are built without
// it, the library with it: see tests/CMakeLists.txt).
extern "C" int __asan_address_is_poisoned(const volatile void* addr) __attribute__((weak));

// Under AddressSanitizer a slab is poisoned but for its live arrays: the byte just past an
// array, and an array given back, are poisoned, as they are for arrays from malloc.
TEST(FlatArena, UnderAddressSanitizerOnlyLiveArraysAreAddressable) {
  if (__asan_address_is_poisoned == nullptr) GTEST_SKIP() << "not under AddressSanitizer";
  FlatArena arena;
  const size_t n = 100 * kKiB + 16;
  auto* a = static_cast<char*>(arena.allocate(n));
  auto* b = static_cast<char*>(arena.allocate(n));
  EXPECT_EQ(__asan_address_is_poisoned(a), 0);
  EXPECT_EQ(__asan_address_is_poisoned(a + n - 1), 0);
  EXPECT_EQ(__asan_address_is_poisoned(a + n), 1) << "past the array's end";
  EXPECT_EQ(__asan_address_is_poisoned(b + n), 1) << "the slab's unused rest";
  arena.deallocate(b, n);
  EXPECT_EQ(__asan_address_is_poisoned(b), 1) << "an array given back";
  EXPECT_EQ(__asan_address_is_poisoned(a), 0);
  arena.deallocate(a, n);
}
}  // namespace
}  // namespace netpulse::engine
