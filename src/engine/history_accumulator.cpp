#include "engine/history_accumulator.hpp"

#include <algorithm>

#include "core/time.hpp"

namespace netpulse::engine {

HistoryChunk& HistoryLog::chunk_slow(core::TimeMs t) {
  const core::TimeMs start = core::floor_div(t, kHistoryMinuteMs) * kHistoryMinuteMs;
  auto [it, inserted] = open_.try_emplace(start);
  if (inserted) {
    it->second.start = start;
    // A whole chunk's room from the start (a pooled buffer when there is one), so the engine's
    // thread never copies a growing chunk.
    if (pool_) it->second.v4 = pool_->take();
    it->second.v4.reserve(kChunkRecords);
  }
  cur_ = &it->second;
  cur_end_ = start + kHistoryMinuteMs;
  return it->second;
}

void HistoryLog::flush_current() {
  HistoryChunk& c = *cur_;
  HistoryChunk out;
  out.start = c.start;
  out.v4.swap(c.v4);
  out.v6.swap(c.v6);
  if (pool_) c.v4 = pool_->take();
  c.v4.reserve(kChunkRecords);  // as chunk_slow
  full_.push_back(std::move(out));
}

void HistoryLog::take(core::TimeMs bound, std::vector<HistoryChunk>& out) {
  for (auto& c : full_) out.push_back(std::move(c));
  full_.clear();
  auto it = open_.begin();
  while (it != open_.end() && it->first + kHistoryMinuteMs <= bound) {
    if (cur_ == &it->second) cur_ = nullptr;
    if (it->second.size() > 0) out.push_back(std::move(it->second));
    it = open_.erase(it);
  }
}

void HistoryAggregator::sum(const HistoryChunk& c) {
  auto& slot = minutes_[c.start];
  if (!slot) {
    if (spare_) {
      slot = std::move(spare_);
      auto none = [](const auto&) {};
      slot->conv4.drain(none);  // keeps the memory
      slot->conv6.drain(none);
      slot->protocols.drain(none);
      slot->total_bytes = slot->total_records = 0;
      slot->overflow_bytes = slot->overflow_records = 0;
      slot->held = HeldFilter{};
    } else {
      slot = std::make_unique<HistoryPart>();
    }
    slot->start = c.start;
    // Sized like the last minute: growing a table of a million conversations doubling by
    // doubling maps and faults in every size on the way.
    slot->conv4.reserve(std::min(last_size_, max_));
  }
  HistoryPart& p = *slot;
  auto full = [&] {
    if (p.conv4.size() + p.conv6.size() < max_) return false;
    if (!p.held.built()) {
      p.held.build(p.conv4.size() + p.conv6.size());
      p.conv4.for_each([&](const auto& e) { p.held.add(key_hash(e.key)); });
      p.conv6.for_each([&](const auto& e) { p.held.add(key_hash(e.key)); });
    }
    return true;
  };
  // The table outgrows the caches (a million conversations a minute): the slot of a record a
  // few places ahead is fetched while this one is added.
  constexpr size_t kAhead = 12;
  const size_t n4 = c.v4.size();
  for (size_t i = 0; i < n4; ++i) {
    if (i + kAhead < n4) {
      if (p.held.built()) p.held.prefetch(key_hash(c.v4[i + kAhead].key));
      else p.conv4.prefetch(c.v4[i + kAhead].key);
    }
    const auto& r = c.v4[i];
    p.total_bytes += r.bytes;
    ++p.total_records;
    p.protocols.add(r.key.protocol, r.bytes, 1);
    if (!full() || (p.held.may_hold(key_hash(r.key)) && p.conv4.find(r.key))) {
      p.conv4.add(r.key, r.bytes, 1);
    } else {
      p.overflow_bytes += r.bytes;
      ++p.overflow_records;
    }
  }
  for (const auto& r : c.v6) {
    p.total_bytes += r.bytes;
    ++p.total_records;
    p.protocols.add(r.key.protocol, r.bytes, 1);
    if (!full() || (p.held.may_hold(key_hash(r.key)) && p.conv6.find(r.key))) {
      p.conv6.add(r.key, r.bytes, 1);
    } else {
      p.overflow_bytes += r.bytes;
      ++p.overflow_records;
    }
  }
}

}  // namespace netpulse::engine
