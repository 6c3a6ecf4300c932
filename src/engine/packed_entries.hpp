// PackedEntries: a closed pane's IPv4 address sums, in slot order, 8 bytes per key where its
// sums are small and 24 where they are not. Written here because the closed panes are most of
// the engine's memory and of what a fold reads: on issue 12's data a pane closes with some
// 37,500 addresses of 1-3 records each, and 60 of them make the window. As AggMap's entries (16
// bytes each then) they took 36 MiB of fresh memory on one thread, half of all the process
// faulted in, and on this VM each fresh 2 MiB costs up to 4 ms.
//
// A key whose records fit 8 bits (1-255) and whose bytes fit 24 (under 16 MiB) is stored as
// {key, bytes << 8 | records}. Any other key is stored as {key, 0}, and its whole entry goes to
// a second array (wide_), in the same order: its records are never 0, so a packed word of 0 always
// means "the next wide entry". Only the heaviest few keys of a pane go wide (on issue 12's data,
// those with more than 255 records in a second: some 27 of 37,500).
//
// Both arrays take their memory from the shard's FlatArena, as the unpacked arrays did.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/agg_map.hpp"
#include "engine/flat_arena.hpp"

namespace netpulse::engine {

class PackedEntries {
 public:
  using Entry = AggMap<uint32_t>::Entry;
  struct Packed {
    uint32_t key;
    uint32_t sums;  // bytes << 8 | records; 0: the entry is the next one in wide_
  };
  static constexpr uint32_t kMaxPackedRecords = 0xFF;
  static constexpr uint64_t kMaxPackedBytes = (uint64_t{1} << 24) - 1;

  PackedEntries() = default;
  explicit PackedEntries(FlatArena* arena)
      : packed_(FlatAlloc<Packed>(arena)), wide_(FlatAlloc<Entry>(arena)) {}

  size_t size() const { return packed_.size(); }
  bool empty() const { return packed_.empty(); }
  // Keys there is room for without reallocating the packed array.
  size_t capacity() const { return packed_.capacity(); }
  // The memory both arrays hold.
  size_t capacity_bytes() const {
    return packed_.capacity() * sizeof(Packed) + wide_.capacity() * sizeof(Entry);
  }
  size_t wide_count() const { return wide_.size(); }
  void reserve(size_t n) { packed_.reserve(n); }
  void clear() {
    packed_.clear();
    wide_.clear();
  }
  void shrink_to_fit() {
    packed_.shrink_to_fit();
    wide_.shrink_to_fit();
  }

  void push_back(const Entry& e) {
    // Records 1 to 255 (0 would read as "wide"; AggMap hands out none).
    if (e.records - 1u < kMaxPackedRecords && e.bytes <= kMaxPackedBytes) {
      packed_.push_back(Packed{e.key, static_cast<uint32_t>(e.bytes << 8) | e.records});
    } else {
      packed_.push_back(Packed{e.key, 0});
      wide_.push_back(e);
    }
  }

  // Calls f(const Entry&, v) on each entry in order, where v = pre(key) was computed `kAhead`
  // entries earlier (for the first kAhead, before the loop): a fold prefetches the key's window
  // slot there, and hands the slot's position on to the add instead of hashing the key again.
  template <size_t kAhead, class Pre, class F>
  void for_each_ahead(Pre&& pre, F&& f) const {
    const size_t n = packed_.size();
    const Packed* p = packed_.data();
    const Entry* w = wide_.data();
    AheadRing<kAhead, decltype(pre(uint32_t{}))> ahead;
    for (size_t i = 0; i < std::min(n, kAhead); ++i) ahead[i] = pre(p[i].key);
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) ahead[i + kAhead] = pre(p[i + kAhead].key);
      // One call of f, so that it is inlined here.
      const uint32_t s = p[i].sums;
      Entry e{p[i].key, s & kMaxPackedRecords, s >> 8};
      if (s == 0) [[unlikely]]
        e = *w++;
      f(e, ahead[i]);
    }
  }
  template <class F>
  void for_each(F&& f) const {
    const Entry* w = wide_.data();
    for (const Packed& p : packed_) {
      Entry e{p.key, p.sums & kMaxPackedRecords, p.sums >> 8};
      if (p.sums == 0) [[unlikely]]
        e = *w++;
      f(e);
    }
  }

  // Drops the entries for which drop(const Entry&) is true, keeping the others in order.
  template <class Pred>
  void erase_if(Pred&& drop) {
    size_t kept = 0, kept_wide = 0, wide_at = 0;
    for (size_t i = 0; i < packed_.size(); ++i) {
      const Packed p = packed_[i];
      const bool is_wide = p.sums == 0;
      const Entry e =
          is_wide ? wide_[wide_at++] : Entry{p.key, p.sums & kMaxPackedRecords, p.sums >> 8};
      if (drop(e)) continue;
      packed_[kept++] = p;
      if (is_wide) wide_[kept_wide++] = e;
    }
    packed_.resize(kept);
    wide_.resize(kept_wide);
  }

  // Calls f on each of the two arrays (a std::vector with a FlatAlloc): compaction copies them.
  template <class F>
  void for_each_array(F&& f) {
    f(packed_);
    f(wide_);
  }

 private:
  std::vector<Packed, FlatAlloc<Packed>> packed_;
  std::vector<Entry, FlatAlloc<Entry>> wide_;
};

}  // namespace netpulse::engine
