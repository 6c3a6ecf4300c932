// A small open-addressing hash map (linear probing, backward-shift deletion) for the flow
// detector's per-key counters: one array, no allocation per key, and clear() keeps the
// capacity, so a slice reused every 2 seconds stops allocating once warm. Not thread-safe.
#pragma once

#include <cstddef>
#include <vector>

namespace netpulse::detect {

template <typename Key, typename Value, typename Hash>
class FlatMap {
 public:
  using key_type = Key;
  FlatMap() { slots_.resize(16); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  Value& operator[](const Key& key) {
    if ((size_ + 1) * 4 > slots_.size() * 3) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = Hash{}(key)&mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (!s.used) {
        s.used = true;
        s.key = key;
        s.value = Value{};
        ++size_;
        return s.value;
      }
      if (s.key == key) return s.value;
    }
  }

  Value* find(const Key& key) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = Hash{}(key)&mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.key == key) return &s.value;
    }
  }
  const Value* find(const Key& key) const { return const_cast<FlatMap*>(this)->find(key); }

  void erase(const Key& key) {
    const size_t mask = slots_.size() - 1;
    size_t i = Hash{}(key)&mask;
    for (;; i = (i + 1) & mask) {
      if (!slots_[i].used) return;
      if (slots_[i].key == key) break;
    }
    // Backward shift: move later members of the probe run into the hole when their home slot
    // allows it, so lookups never stop at a false empty slot.
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
      if (!slots_[j].used) break;
      const size_t home = Hash{}(slots_[j].key) & mask;
      const bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
      if (movable) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i].used = false;
    --size_;
  }

  void clear() {
    if (size_ == 0) return;
    for (Slot& s : slots_) s.used = false;
    size_ = 0;
  }

  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.used) f(s.key, s.value);
  }

 private:
  struct Slot {
    Key key{};
    Value value{};
    bool used = false;
  };

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    size_ = 0;
    for (const Slot& s : old)
      if (s.used) (*this)[s.key] = s.value;
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace netpulse::detect
