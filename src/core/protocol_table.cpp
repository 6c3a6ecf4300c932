#include "core/protocol_table.hpp"

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

uint32_t ProtocolCache::insert(const Key& key, size_t slot) {
  const uint32_t id = table_.intern(std::string_view(key.bytes, key.size));
  if ((used_ + 1) * 2 > slots_.size()) {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.key.size == 0) continue;
      size_t i = hash(s.key) & mask;
      while (slots_[i].key.size != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
    slot = hash(key) & mask;
    while (slots_[slot].key.size != 0) slot = (slot + 1) & mask;
  }
  slots_[slot].key = key;
  slots_[slot].id = id;
  ++used_;
  return id;
}

}  // namespace netpulse::core
