// Interns protocol labels ("HTTP", "SOAP") into dense ids so the hot path keys on a 32-bit id
// instead of a string. Thread-safe: intern() and name() take a mutex; parsers keep a
// per-thread cache (ProtocolCache) so the mutex is touched once per new label per thread.
#pragma once

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

// A per-thread, lock-free front for ProtocolTable: open addressing over labels of at most 32
// bytes, compared as two 16-byte words. Not thread-safe; one per parsing thread.
class ProtocolCache {
 public:
  explicit ProtocolCache(ProtocolTable& table) : table_(table) { slots_.resize(kInitialSlots); }

  // REQUIRES: 1 <= size <= kMaxProtocolLength.
  uint32_t intern(const char* data, size_t size) {
    Key key{};
    std::memcpy(key.bytes, data, size);
    key.size = static_cast<uint8_t>(size);
    const uint64_t h = hash(key);
    size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.key.size == 0) return insert(key, i);
      if (s.key == key) return s.id;
    }
  }

 private:
  struct Key {
    char bytes[kMaxProtocolLength];
    uint8_t size;
    bool operator==(const Key& o) const {
      return size == o.size && std::memcmp(bytes, o.bytes, kMaxProtocolLength) == 0;
    }
  };
  struct Slot {
    Key key{};
    uint32_t id = 0;
  };
  static constexpr size_t kInitialSlots = 64;

  static uint64_t hash(const Key& k) {
    uint64_t a, b;
    std::memcpy(&a, k.bytes, 8);
    std::memcpy(&b, k.bytes + 8, 8);
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ k.size) * 0xff51afd7ed558ccdULL;
    if (k.size > 16) {
      std::memcpy(&a, k.bytes + 16, 8);
      std::memcpy(&b, k.bytes + 24, 8);
      h ^= (a + b * 0xc4ceb9fe1a85ec53ULL) * 0x9E3779B97F4A7C15ULL;
    }
    return h ^ (h >> 29);
  }
  uint32_t insert(const Key& key, size_t slot);

  ProtocolTable& table_;
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

}  // namespace netpulse::core
