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
  if (!ip.is_v6) pane.sums.ip4.add(ip.v4_value(), bytes, 1);
  else pane.sums.ip6.add(ip.bits, bytes, 1);
}

inline void WindowShard::add_primary(Pane& pane, const FlowRecord& r, bool dst_here) {
  pane.sums.protocols.add(r.protocol, r.bytes, 1);
  if (pane.round_records++ == 0) touched_.push_back(&pane);
  switch (ip_key_) {
    case IpKey::kSrc:
      add_ip(pane, r.src, r.bytes);
      break;
    case IpKey::kDst:
      add_ip(pane, r.dst, r.bytes);
      break;
    case IpKey::kHost:
      add_ip(pane, r.src, r.bytes);
      if (dst_here && !(r.dst == r.src)) add_ip(pane, r.dst, r.bytes);
      break;
  }
}

uint64_t WindowShard::consume(const Input& in) {
  return in.routed ? consume_routed(in) : consume_in_order(in);
}

// The pane table outgrows the core's cache (tens of thousands of addresses per pane), so the
// slot of a record a few places ahead is prefetched while this one is added.
constexpr size_t kAhead = 8;

uint64_t WindowShard::consume_in_order(const Input& in) {
  uint64_t late = 0;
  TimeMs running_max = in.entering_max;
  const FlowRecord* records = in.records;
  const size_t n = in.count;
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n && cur_) {
      const FlowRecord& next = records[i + kAhead];
      const core::IpAddr& a = ip_key_ == IpKey::kDst ? next.dst : next.src;
      if (!a.is_v6 && next.time >= cur_start_ && next.time < cur_end_)
        cur_->sums.ip4.prefetch(a.v4_value());
    }
    const FlowRecord& r = records[i];
    if (running_max != kNoTime && r.time < running_max - lateness_ms_) {
      ++late;
      continue;
    }
    if (r.time > running_max) running_max = r.time;
    add_primary(pane_for(r.time), r, true);
  }
  return late;
}

uint64_t WindowShard::consume_routed(const Input& in) {
  uint64_t late = 0;
  const FlowRecord* records = in.records;
  const uint32_t* routes = in.routes;
  const size_t n = in.route_count;
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n && cur_) {
      const uint32_t route = routes[i + kAhead];
      const FlowRecord& next = records[route >> 2];
      const core::IpAddr& a = (ip_key_ == IpKey::kDst || (route & kSecondary)) ? next.dst : next.src;
      if (!a.is_v6 && next.time >= cur_start_ && next.time < cur_end_)
        cur_->sums.ip4.prefetch(a.v4_value());
    }
    const uint32_t route = routes[i];
    const FlowRecord& r = records[route >> 2];
    const TimeMs before = std::max(in.entering_max, in.prefix_max[route >> 2]);
    if (before != kNoTime && r.time < before - lateness_ms_) {
      if (!(route & kSecondary)) ++late;
      continue;
    }
    Pane& pane = pane_for(r.time);
    if (route & kSecondary) add_ip(pane, r.dst, r.bytes);
    else add_primary(pane, r, (route & kAlso) != 0);
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

namespace {

// Applies f to every key of a pane's map while prefetching the window slot of a key a few
// steps ahead: the window table is large (all keys of T panes) and each access is otherwise a
// cache miss; prefetching lets many misses overlap.
template <class K, class F>
void for_each_prefetched(const AggMap<K>& pane, const AggMap<K>& window, F&& f) {
  constexpr size_t kAhead = 16;
  const auto* begin = pane.slots_begin();
  const auto* end = pane.slots_end();
  const auto* ahead = begin;
  size_t found = 0;
  // Keep `ahead` kAhead occupied slots in front of the slot being applied.
  auto advance_ahead = [&] {
    while (ahead != end && ahead->records == 0) ++ahead;
    if (ahead != end) {
      window.prefetch(ahead->key);
      ++ahead;
    }
  };
  for (; found < kAhead; ++found) advance_ahead();
  for (const auto* e = begin; e != end; ++e) {
    if (e->records == 0) continue;
    advance_ahead();
    f(*e);
  }
}

}  // namespace

void WindowShard::fold(const Pane& pane, bool add) {
  WindowAggregate& w = window_;
  if (add) {
    pane.sums.protocols.for_each([&](const auto& e) {
      w.protocol.on_add(w.keys.protocols.add(e.key, e.bytes, e.records), e.bytes);
      w.records += e.records;
    });
    for_each_prefetched(pane.sums.ip4, w.keys.ip4, [&](const auto& e) {
      w.ip.on_add(w.keys.ip4.add(e.key, e.bytes, e.records), e.bytes);
    });
    pane.sums.ip6.for_each([&](const auto& e) { w.ip.on_add(w.keys.ip6.add(e.key, e.bytes, e.records), e.bytes); });
  } else {
    pane.sums.protocols.for_each([&](const auto& e) {
      w.protocol.on_sub(w.keys.protocols.sub(e.key, e.bytes, e.records), e.bytes, e.records);
      w.records -= e.records;
    });
    for_each_prefetched(pane.sums.ip4, w.keys.ip4, [&](const auto& e) {
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

KeySums& WindowShard::pane_sums(int64_t index) {
  auto [it, inserted] = panes_.try_emplace(index);
  if (inserted) it->second.index = index;
  return it->second.sums;
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
