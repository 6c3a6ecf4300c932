#include "core/protocol_table.hpp"

#include <algorithm>

namespace netpulse::core {

uint32_t ProtocolTable::intern(std::string_view name) {
  std::lock_guard lock(mu_);
  if (auto it = ids_.find(name); it != ids_.end()) return it->second;
  const auto id = static_cast<uint32_t>(names_.size());
  const std::string& stored = names_.emplace_back(name);
  ids_.emplace(stored, id);
  return id;
}

std::string_view ProtocolTable::name(uint32_t id) const {
  std::lock_guard lock(mu_);
  return names_.at(id);
}

size_t ProtocolTable::size() const {
  std::lock_guard lock(mu_);
  return names_.size();
}

uint32_t ProtocolCache::intern_slow(const Key& key) {
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash(key, mul_) >> shift_;; i = (i + 1) & mask) {
    if (slots_[i].key == key) return slots_[i].id;
    if (slots_[i].key.size == 0) break;
  }
  const auto name = std::string_view(reinterpret_cast<const char*>(key.words), key.size);
  const uint32_t id = table_.intern(name);
  labels_.push_back(Slot{key, id});
  place_all();
  return id;
}

void ProtocolCache::place_all() {
  if (labels_.size() <= kMaxPerfectLabels) {
    // Each label in its own home slot: from 4 slots a label on, a few seeds per size.
    size_t size = kMinSlots;
    while (size < 4 * labels_.size()) size *= 2;
    std::vector<size_t> homes(labels_.size());
    for (; size <= kMaxPerfectSlots; size *= 2) {
      for (uint64_t seed = 0; seed < kSeedsPerSize; ++seed) {
        for (size_t i = 0; i < labels_.size(); ++i)
          homes[i] = hash(labels_[i].key, multiplier(seed)) >> slot_shift(size);
        std::sort(homes.begin(), homes.end());
        if (std::adjacent_find(homes.begin(), homes.end()) != homes.end()) continue;
        slots_.assign(size, Slot{});
        mul_ = multiplier(seed);
        shift_ = slot_shift(size);
        for (const Slot& l : labels_) slots_[hash(l.key, mul_) >> shift_] = l;
        return;
      }
    }
  }
  // Linear probing, at most half full.
  size_t size = kMinSlots;
  while (size < 2 * labels_.size()) size *= 2;
  slots_.assign(size, Slot{});
  mul_ = multiplier(0);
  shift_ = slot_shift(size);
  for (const Slot& l : labels_) {
    size_t i = hash(l.key, mul_) >> shift_;
    while (slots_[i].key.size != 0) i = (i + 1) & (size - 1);
    slots_[i] = l;
  }
}

}  // namespace netpulse::core
