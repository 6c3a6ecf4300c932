// AggMap: per-key byte and record sums for one pane or one window, in a flat open-addressing
// table (linear probing, backward-shift deletion). Written here rather than taken from a library
// because it is the engine's inner loop: a slot is 16 bytes for 32-bit keys, an empty slot is
// one whose record count is 0 (so no separate occupancy array), and erase keeps probes short
// without tombstones as keys leave a sliding window. Not thread-safe; one owner.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "core/ip_addr.hpp"

namespace netpulse::engine {

struct Agg {
  uint64_t bytes = 0;
  uint32_t records = 0;
};

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

inline uint64_t key_hash(uint32_t k) { return mix64(k); }
inline uint64_t key_hash(const core::Ip6& k) { return mix64(k.hi * 0x9E3779B97F4A7C15ULL ^ k.lo); }

template <class K>
class AggMap {
 public:
  struct Entry {
    K key;
    uint32_t records;  // 0: empty slot
    uint64_t bytes;
  };

  AggMap() { slots_.resize(kMinSlots); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t memory_bytes() const { return slots_.capacity() * sizeof(Entry); }

  // Adds to key's sums; returns the sums before.
  Agg add(const K& key, uint64_t bytes, uint32_t records) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = key_hash(key) & mask;; i = (i + 1) & mask) {
      Entry& e = slots_[i];
      if (e.records == 0) {
        e.key = key;
        e.records = records;
        e.bytes = bytes;
        ++size_;
        return Agg{};
      }
      if (e.key == key) {
        const Agg before{e.bytes, e.records};
        e.records += records;
        e.bytes += bytes;
        return before;
      }
    }
  }

  // Subtracts from key's sums, removing the key when its records reach 0; returns the sums
  // before. REQUIRES: key holds at least `records` records and `bytes` bytes.
  Agg sub(const K& key, uint64_t bytes, uint32_t records) {
    const size_t mask = slots_.size() - 1;
    size_t i = key_hash(key) & mask;
    while (!(slots_[i].key == key) || slots_[i].records == 0) i = (i + 1) & mask;
    Entry& e = slots_[i];
    const Agg before{e.bytes, e.records};
    e.bytes -= bytes;
    e.records -= records;
    if (e.records == 0) erase_slot(i);
    return before;
  }

  const Entry* find(const K& key) const {
    const size_t mask = slots_.size() - 1;
    for (size_t i = key_hash(key) & mask;; i = (i + 1) & mask) {
      const Entry& e = slots_[i];
      if (e.records == 0) return nullptr;
      if (e.key == key) return &e;
    }
  }

  // Hints the cache to fetch key's home slot (for loops that know their next keys early).
  void prefetch(const K& key) const {
    __builtin_prefetch(&slots_[key_hash(key) & (slots_.size() - 1)]);
  }

  // The raw slots, for scans that filter before touching a key (empty slots: records == 0,
  // bytes == 0).
  const Entry* slots_begin() const { return slots_.data(); }
  const Entry* slots_end() const { return slots_.data() + slots_.size(); }

  template <class F>
  void for_each(F&& f) const {
    for (const Entry& e : slots_)
      if (e.records != 0) f(e);
  }

  // Makes room for n keys without growing on the way (a new pane sized like the last one).
  void reserve(size_t n) {
    size_t want = kMinSlots;
    while (want < n * 2) want *= 2;
    if (want <= slots_.size()) return;
    std::vector<Entry> old(want);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Entry& e : old) {
      if (e.records == 0) continue;
      size_t i = key_hash(e.key) & mask;
      while (slots_[i].records != 0) i = (i + 1) & mask;
      slots_[i] = e;
    }
  }

  // Empties the map and gives its memory back (a reused pane starts small again).
  void reset() {
    std::vector<Entry> fresh(kMinSlots);
    slots_.swap(fresh);
    size_ = 0;
  }

 private:
  static constexpr size_t kMinSlots = 16;

  void grow() { reserve(slots_.size()); }

  // Backward-shift deletion: pull later members of the probe run into the hole.
  void erase_slot(size_t hole) {
    const size_t mask = slots_.size() - 1;
    size_t i = hole;
    while (true) {
      i = (i + 1) & mask;
      Entry& e = slots_[i];
      if (e.records == 0) break;
      const size_t home = key_hash(e.key) & mask;
      // Move e into the hole if its home is not in (hole, i] (cyclically).
      const bool between = hole <= i ? (home > hole && home <= i) : (home > hole || home <= i);
      if (!between) {
        slots_[hole] = e;
        hole = i;
      }
    }
    slots_[hole].records = 0;
    slots_[hole].bytes = 0;
    --size_;
  }

  std::vector<Entry> slots_;
  size_t size_ = 0;
};

}  // namespace netpulse::engine
