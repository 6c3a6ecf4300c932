// FlatArena: the memory of a shard's closed panes' arrays (WindowShard's FlatSums), packed one
// after another into slabs of 4 MiB on huge pages (huge_pages.hpp). Written here rather than
// left to malloc because of what fresh memory costs on a virtual machine: glibc maps an array of
// a few hundred KiB on its own, on 4 KiB pages, and on this VM each of those pages costs a
// hypervisor fault at its first store (3.3-4.2 ms per 2 MiB, bench/page_cost); a pane of the
// issue-12 file closes into 0.7 MiB, and one thread spent 5% of its run in those faults. On
// huge pages the same memory costs 0.15 ms per 2 MiB while the host still has them. One pane's
// array per 2 MiB page (tried first) wasted most of each page and was no faster; packed, a
// slab's waste is its tail, shorter than the array that did not fit.
//
// Arrays below kSmall bytes come from malloc (a shard with small panes never maps a slab). It is
// 16 KiB, not the 64 it was while a key took 16 bytes: at 8 bytes a key (PackedEntries) the
// panes of 10,000 records a second over a million addresses closed into arrays of 40-60 KiB,
// which glibc served from its heap on 4 KiB pages, each page a hypervisor fault (8,400 faults
// against 3,000 on that file, one thread 10% slower). An
// array above a slab gets a slab of its own, in whole huge pages, whose tail the next arrays
// fill. Slabs come from the PageCache when it holds memory faulted in already (the window
// table's, as it grows: a run of 2 MiB makes a slab of 2 MiB), and go back to it with their last
// array; the slab being filled starts over instead. Arrays freed out of order leave holes that
// only the slab's last array frees; held_bytes() counts them, so the shard's memory budget sees
// them, and the shard copies its arrays into fresh slabs when they are too many
// (WindowShard::compact_flats).
//
// Under AddressSanitizer a slab is poisoned but for its live arrays, so an access past an
// array's end is reported as it was when the arrays came from malloc (flat_arena.cpp: in the
// library, whose flags decide it, not in each includer's).
//
// Not thread-safe: one owner, as its shard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <new>
#include <type_traits>

#include "engine/huge_pages.hpp"

namespace netpulse::engine {

class FlatArena {
 public:
  static constexpr size_t kSmall = size_t{16} << 10;
  static constexpr size_t kSlab = size_t{4} << 20;

  FlatArena() = default;
  FlatArena(const FlatArena&) = delete;
  FlatArena& operator=(const FlatArena&) = delete;
  // REQUIRES: every array given back.
  ~FlatArena();

  // `bytes` of memory, 64-byte aligned from kSmall on (malloc's alignment below it).
  void* allocate(size_t bytes);

  // Gives back what allocate(bytes) returned.
  void deallocate(void* p, size_t bytes) noexcept;

  // The memory held: slabs (their holes and unfilled tails included) and the arrays from
  // malloc.
  size_t held_bytes() const { return slab_bytes_ + small_bytes_; }
  // The arrays alive (in slabs, rounded to 64 bytes; from malloc).
  size_t live_bytes() const { return live_bytes_ + small_bytes_; }
  size_t slab_count() const { return slabs_.size(); }

  // The next array starts a slab of its own (one being compacted into starts clean, instead of
  // after the holes of the slab being filled).
  void seal();

 private:
  struct Slab {
    size_t size = 0;  // whole huge pages
    size_t used = 0;  // filled from the start
    size_t live = 0;  // arrays in it not yet given back
  };

  static size_t rounded(size_t bytes) { return (bytes + 63) / 64 * 64; }

  // A slab for an array of n bytes, made the one being filled.
  std::map<uintptr_t, Slab>::iterator new_slab(size_t n);

  void release(std::map<uintptr_t, Slab>::iterator it);

  std::map<uintptr_t, Slab> slabs_;
  uintptr_t current_ = 0;  // base of the slab being filled; 0: none
  size_t slab_bytes_ = 0;  // of slabs_
  size_t live_bytes_ = 0;
  size_t small_bytes_ = 0;
};

// A std allocator over a FlatArena (null: malloc, for arrays made before the shard gives them
// its arena). Moves and swaps with its container.
template <class T>
struct FlatAlloc {
  using value_type = T;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using propagate_on_container_copy_assignment = std::true_type;

  FlatArena* arena = nullptr;

  FlatAlloc() = default;
  explicit FlatAlloc(FlatArena* a) : arena(a) {}
  template <class U>
  FlatAlloc(const FlatAlloc<U>& o) : arena(o.arena) {}  // NOLINT: rebinding converts implicitly

  T* allocate(size_t n) {
    if (arena != nullptr) return static_cast<T*>(arena->allocate(n * sizeof(T)));
    void* p = std::malloc(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) noexcept {
    if (arena != nullptr)
      arena->deallocate(p, n * sizeof(T));
    else
      std::free(p);
  }
  template <class U>
  bool operator==(const FlatAlloc<U>& o) const {
    return arena == o.arena;
  }
};

}  // namespace netpulse::engine
