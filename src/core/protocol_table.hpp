// Interns protocol labels ("HTTP", "SOAP") into dense ids so the hot path keys on a 32-bit id
// instead of a string. Thread-safe: intern() and name() take a mutex; parsers keep a
// per-thread cache (ProtocolCache) so the mutex is touched once per new label per thread.
#pragma once

#include <bit>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace netpulse::core {

inline constexpr size_t kMaxProtocolLength = 32;

class ProtocolTable {
 public:
  uint32_t intern(std::string_view name);
  // REQUIRES: id was returned by intern(). The view stays valid for the table's lifetime.
  std::string_view name(uint32_t id) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::deque<std::string> names_;  // deque: stable addresses for the views handed out
  std::unordered_map<std::string_view, uint32_t> ids_;
};

// A per-thread, lock-free front for ProtocolTable: a hash table over labels of at most 32 bytes,
// held zero-padded in four 64-bit words. Whenever a label is added, for up to kMaxPerfectLabels
// labels, its size and hash seed are chosen so that every label sits in its own home slot: a
// lookup is then one slot and one branch that always goes the same way, where probing would
// mispredict on whichever labels collide. More labels go to linear probing. Not thread-safe;
// one per parsing thread.
class ProtocolCache {
 public:
  explicit ProtocolCache(ProtocolTable& table) : table_(table) { slots_.resize(kMinSlots); }

  // REQUIRES: 1 <= size <= kMaxProtocolLength.
  uint32_t intern(const char* data, size_t size) {
    assert(size >= 1 && size <= kMaxProtocolLength);
    Key key{};
    std::memcpy(key.words, data, size);
    key.size = static_cast<uint8_t>(size);
    const Slot& s = slots_[hash(key, mul_) >> shift_];
    return s.key == key ? s.id : intern_slow(key);
  }

  // The same for a label of at most 16 bytes already in two words (the bytes in memory order,
  // as a little-endian load gives them), the bytes past size zero. The parser's fast path
  // loads labels this way, so no copy per record.
  // REQUIRES: 1 <= size <= 16; the bytes of lo and hi from size on are zero.
  uint32_t intern16(uint64_t lo, uint64_t hi, size_t size) {
    uint32_t id;
    return find16(lo, hi, size, id) ? id
                                    : intern_slow(Key{{lo, hi, 0, 0}, static_cast<uint8_t>(size)});
  }
  // The label's id when the cache holds it, that is, when it was given to intern() or
  // intern16() before (FlowParser checks a label's characters only for one the cache lacks);
  // false, leaving id alone, when it does not. Same REQUIRES as intern16.
  bool find16(uint64_t lo, uint64_t hi, size_t size, uint32_t& id) const {
    assert(size >= 1 && size <= 16);
    const Slot& s = slots_[hash(lo, hi, size, mul_) >> shift_];
    if (s.key.words[0] == lo && s.key.words[1] == hi && s.key.size == size) {
      id = s.id;
      return true;
    }
    return false;
  }

 private:
  struct Key {
    uint64_t words[kMaxProtocolLength / 8];  // the label, zero-padded
    uint8_t size;                            // 0: an empty slot
    bool operator==(const Key& o) const {
      return size == o.size && words[0] == o.words[0] && words[1] == o.words[1] &&
             words[2] == o.words[2] && words[3] == o.words[3];
    }
  };
  struct Slot {
    Key key{};
    uint32_t id = 0;
  };
  static constexpr size_t kMinSlots = 64;
  static constexpr size_t kMaxPerfectLabels = 64;
  static constexpr size_t kMaxPerfectSlots = 4096;
  static constexpr uint64_t kSeedsPerSize = 8;

  // A seed's multiplier: odd, a different one for each seed.
  static uint64_t multiplier(uint64_t seed) { return 0xff51afd7ed558ccdULL + 2 * seed; }
  // A multiplicative hash: a slot is its top bits (slot_shift()).
  static uint64_t hash(uint64_t a, uint64_t b, size_t size, uint64_t mul) {
    return (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ size) * mul;
  }
  // For a table of `slots` (a power of two, at least 2).
  static unsigned slot_shift(size_t slots) {
    return 64 - static_cast<unsigned>(std::countr_zero(slots));
  }
  static uint64_t hash(const Key& k, uint64_t mul) {
    uint64_t h = hash(k.words[0], k.words[1], k.size, mul);
    if (k.size > 16) h += (k.words[2] + k.words[3] * 0xc4ceb9fe1a85ec53ULL) * 0x9E3779B97F4A7C15ULL;
    return h;
  }
  // A label not in its home slot: probes, and adds it if it is new.
  uint32_t intern_slow(const Key& key);
  // Lays the labels out again, each in its home slot if a size and seed allow.
  void place_all();

  ProtocolTable& table_;
  std::vector<Slot> slots_;
  // The lookup's hash multiplier (from the seed chosen) and slot shift, kept rather than
  // derived on every lookup (from the vector's size: a division by the slot's 48 bytes).
  uint64_t mul_ = multiplier(0);
  unsigned shift_ = slot_shift(kMinSlots);
  std::vector<Slot> labels_;  // every label added, in order
};

}  // namespace netpulse::core
