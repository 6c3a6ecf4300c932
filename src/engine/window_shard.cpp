#include "engine/window_shard.hpp"

#include <algorithm>

namespace netpulse::engine {

using core::FlowRecord;
using core::TimeMs;

WindowShard::WindowShard(uint32_t index, uint32_t shards, const EngineConfig& config)
    : index_(index), shards_(shards), unit_ms_(config.time_unit_ms),
      lateness_ms_(config.lateness * config.time_unit_ms), ip_key_(config.ip_key) {}

WindowShard::Pane& WindowShard::pane_for(TimeMs t) {
  if (t >= cur_start_ && t < cur_end_ && cur_) return *cur_;
  const int64_t index = core::floor_div(t, unit_ms_);
  auto [it, inserted] = panes_.try_emplace(index);
  if (inserted) {
    it->second.index = index;
    // Size the new pane like the last one so it does not rehash its way up.
    it->second.sums.ip4.reserve(last_pane_ip_keys_);
  }
  cur_ = &it->second;
  cur_start_ = index * unit_ms_;
  cur_end_ = cur_start_ + unit_ms_;
  return *cur_;
}

inline void WindowShard::add_ip(Pane& pane, const core::IpAddr& ip, uint32_t bytes) {
  if (!ip.is_v6) {
    const uint32_t v4 = ip.v4_value();
    if (shards_ == 1 || shard_of(key_hash(v4), shards_) == index_) pane.sums.ip4.add(v4, bytes, 1);
  } else {
    if (shards_ == 1 || shard_of(key_hash(ip.bits), shards_) == index_)
      pane.sums.ip6.add(ip.bits, bytes, 1);
  }
}

uint64_t WindowShard::consume(const FlowRecord* records, size_t n, TimeMs& running_max,
                              bool& has_max) {
  uint64_t late = 0;
  for (size_t i = 0; i < n; ++i) {
    const FlowRecord& r = records[i];
    if (has_max) {
      if (r.time < running_max - lateness_ms_) {
        ++late;
        continue;
      }
      if (r.time > running_max) running_max = r.time;
    } else {
      running_max = r.time;
      has_max = true;
    }
    Pane& pane = pane_for(r.time);
    if (shards_ == 1 || shard_of(key_hash(r.protocol), shards_) == index_) {
      pane.sums.protocols.add(r.protocol, r.bytes, 1);
      if (pane.round_records++ == 0) touched_.push_back(&pane);
    }
    switch (ip_key_) {
      case IpKey::kSrc:
        add_ip(pane, r.src, r.bytes);
        break;
      case IpKey::kDst:
        add_ip(pane, r.dst, r.bytes);
        break;
      case IpKey::kHost:
        add_ip(pane, r.src, r.bytes);
        if (!(r.dst == r.src)) add_ip(pane, r.dst, r.bytes);
        break;
    }
  }
  return late;
}

void WindowShard::take_pane_counts(std::vector<std::pair<int64_t, uint64_t>>& out) {
  for (Pane* p : touched_) {
    out.emplace_back(p->index, p->round_records);
    p->round_records = 0;
  }
  touched_.clear();
}

void WindowShard::fold(const Pane& pane, bool add) {
  WindowAggregate& w = window_;
  if (add) {
    pane.sums.protocols.for_each([&](const auto& e) {
      w.protocol.on_add(w.keys.protocols.add(e.key, e.bytes, e.records), e.bytes);
      w.records += e.records;
    });
    pane.sums.ip4.for_each([&](const auto& e) { w.ip.on_add(w.keys.ip4.add(e.key, e.bytes, e.records), e.bytes); });
    pane.sums.ip6.for_each([&](const auto& e) { w.ip.on_add(w.keys.ip6.add(e.key, e.bytes, e.records), e.bytes); });
  } else {
    pane.sums.protocols.for_each([&](const auto& e) {
      w.protocol.on_sub(w.keys.protocols.sub(e.key, e.bytes, e.records), e.bytes, e.records);
      w.records -= e.records;
    });
    pane.sums.ip4.for_each([&](const auto& e) {
      w.ip.on_sub(w.keys.ip4.sub(e.key, e.bytes, e.records), e.bytes, e.records);
    });
    pane.sums.ip6.for_each([&](const auto& e) {
      w.ip.on_sub(w.keys.ip6.sub(e.key, e.bytes, e.records), e.bytes, e.records);
    });
  }
}

void WindowShard::fold_range(int64_t lo, int64_t hi, bool add) {
  if (lo >= hi) return;
  for (auto it = panes_.lower_bound(lo); it != panes_.end() && it->first < hi; ++it)
    fold(it->second, add);
}

void WindowShard::move_window(int64_t lo, int64_t hi) {
  if (!has_window_) {
    lo_ = hi_ = lo;
    has_window_ = true;
  }
  // Leave what the new window does not cover, then enter what the old one did not.
  fold_range(lo_, std::min(hi_, lo), false);
  fold_range(std::max(lo_, hi), hi_, false);
  fold_range(lo, std::min(hi, lo_), true);
  fold_range(std::max(lo, hi_), hi, true);
  lo_ = lo;
  hi_ = hi;
  // The newest pane's size predicts the next one's.
  if (auto it = panes_.lower_bound(hi - 1); it != panes_.end() && it->first == hi - 1)
    last_pane_ip_keys_ = it->second.sums.ip4.size();
}

void WindowShard::evict_before(int64_t bound) {
  if (has_window_) bound = std::min(bound, lo_);
  for (auto it = panes_.begin(); it != panes_.end() && it->first < bound;) {
    if (cur_ == &it->second) {
      cur_ = nullptr;
      cur_start_ = cur_end_ = 0;
    }
    it = panes_.erase(it);
  }
}

size_t WindowShard::memory_bytes() const {
  size_t total = window_.keys.protocols.memory_bytes() + window_.keys.ip4.memory_bytes() +
                 window_.keys.ip6.memory_bytes();
  for (const auto& [index, pane] : panes_)
    total += pane.sums.protocols.memory_bytes() + pane.sums.ip4.memory_bytes() +
             pane.sums.ip6.memory_bytes() + 64;
  return total;
}

}  // namespace netpulse::engine
