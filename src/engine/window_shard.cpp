#include "engine/window_shard.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace netpulse::engine {

using core::FlowRecord;
using core::TimeMs;

namespace {

// Spare tables and flat arrays kept for reuse. Open panes are the newest lateness + 1 units
// (more with out-of-order input); flat arrays turn over one per slide.
constexpr size_t kMaxPooled = 8;

// The arena's holes and unfilled room may reach its live arrays' bytes plus this before the
// shard compacts it (four slabs: a shard whose panes are a few MiB is left alone).
constexpr size_t kCompactSlack = 4 * FlatArena::kSlab;

}  // namespace

// The window's address tables fill to 3/4 before they double (AggMap::set_max_load): with a
// million addresses the window holds some 570,000, which a table of 2^20 slots holds at 3/4 but
// not at 1/2, and the table doubles to 2^21 (24 MiB). An open pane's tables too: a pane of issue
// 12's data has 37,500 addresses, which at 3/4 fit 2^16 slots instead of 2^17, and a record's
// add into it stays in the core's L2 more often (one thread 506 -> 480 ms median on that file,
// with 16-byte slots).
constexpr unsigned kWindowLoad = 6;
constexpr unsigned kPaneLoad = 6;

WindowShard::WindowShard(uint32_t index, uint32_t shards, const EngineConfig& config)
    : index_(index),
      shards_(shards),
      unit_ms_(config.time_unit_ms),
      lateness_ms_(config.lateness * config.time_unit_ms),
      ip_key_(config.ip_key),
      // (Too small a budget is refused by validate(config) before any shard is made.)
      budget_(budget_for(config, shards).value_or(ShardBudget{})),
      summarizer_(budget_.summary_keys) {
  window_.keys.ip4.set_max_load(kWindowLoad);
  window_.keys.ip6.set_max_load(kWindowLoad);
}

WindowShard::~WindowShard() = default;

WindowShard::Pane& WindowShard::pane_slow(TimeMs t) {
  const int64_t index = core::floor_div(t, unit_ms_);
  auto [it, inserted] = panes_.try_emplace(index);
  Pane& pane = it->second;
  if (inserted) pane.index = index;
  open_sums(pane);
  cur_ = &pane;
  cur_start_ = index * unit_ms_;
  cur_end_ = cur_start_ + unit_ms_;
  return pane;
}

KeySums& WindowShard::open_sums(Pane& pane) {
  if (!pane.open) {
    if (!table_pool_.empty()) {
      pane.open = std::move(table_pool_.back());
      table_pool_.pop_back();
    } else {
      pane.open = std::make_unique<KeySums>();
      pane.open->ip4.set_max_load(kPaneLoad);
      pane.open->ip6.set_max_load(kPaneLoad);
    }
    // Size the table like the last pane so it does not rehash its way up.
    pane.open->ip4.reserve(std::min(last_pane_ip_keys_, budget_.bytes ? budget_.open_keys : SIZE_MAX));
    pane.open->ip_limit = budget_.bytes ? budget_.open_keys : SIZE_MAX;
  }
  return *pane.open;
}

// --- Memory budget ---------------------------------------------------------------------------
//
// An open pane that reaches budget_.open_keys addresses (a flood of new sources) becomes a
// Misra-Gries summary (Misra and Gries 1982; weighted, with batched decrements as in Berinde et
// al. 2010): its table keeps growing to 2m keys, then the (m+1)-th largest count v is taken
// from every key, keys left with nothing are dropped, and floor grows by v. Every key's true
// bytes are then within [stored, stored + floor], and floor <= pane total / (m + 1): each
// decrement removes v from at least m + 1 keys. The sketches see every record from then on
// (and the keys already held, with their exact bytes, at the switch).

void PaneSummarizer::over_limit(KeySums& sums, uint64_t hash, uint64_t bytes) {
  if (!sums.summary) {
    sums.summary = std::make_unique<PaneSummary>();
    PaneSummary& sum = *sums.summary;
    sum.summarized = true;
    sums.ip4.for_each([&](const auto& e) { sum.add_key(sketch_hash(e.key), e.bytes); });
    sums.ip6.for_each([&](const auto& e) { sum.add_key(sketch_hash(e.key), e.bytes); });
    sums.ip_limit = 0;
    // Down to m keys now, and tables just big enough for 2m: a decrement walks every slot.
    decrement(sums);
    sums.ip4.fit(2 * m_);
    sums.ip6.fit(2 * m_);
    return;
  }
  sums.summary->add_key(hash, bytes);
  if (sums.ip4.size() + sums.ip6.size() >= 2 * m_) decrement(sums);
}

uint64_t PaneSummarizer::cut_value(std::vector<uint64_t>& bytes, size_t m) {
  auto nth = bytes.begin() + static_cast<std::ptrdiff_t>(m);
  std::nth_element(bytes.begin(), nth, bytes.end(), std::greater<>());
  return *nth;
}

void PaneSummarizer::decrement(KeySums& sums) {
  bytes_.clear();
  sums.ip4.for_each([&](const auto& e) { bytes_.push_back(e.bytes); });
  sums.ip6.for_each([&](const auto& e) { bytes_.push_back(e.bytes); });
  if (bytes_.size() <= m_) return;
  const uint64_t v = cut_value(bytes_, m_);
  PaneSummary& sum = *sums.summary;
  sum.floor += v;
  // Keys come back in slot order into a table of the same size: no pile-up (see fold).
  auto shrink = [&](auto& table, auto& kept) {
    kept.clear();
    table.drain([&](const auto& e) {
      sum.removed += std::min(e.bytes, v);
      if (e.bytes > v) kept.push_back(e);
    });
    for (const auto& e : kept) table.add(e.key, e.bytes - v, e.records);
  };
  shrink(sums.ip4, kept4_);
  shrink(sums.ip6, kept6_);
}

// A closed exact pane keeps its m largest addresses, exactly; the others are dropped and floor
// is the largest dropped count (<= pane total / (m + 1)), so the same bounds hold.
void WindowShard::summarize(Pane& pane) {
  FlatSums& f = pane.flat;
  const size_t m = budget_.summary_keys;
  const bool folded = in_window(pane);
  if (folded) fold(pane, false);
  if (!pane.summary) pane.summary = std::make_unique<PaneSummary>();
  PaneSummary& sum = *pane.summary;
  if (!sum.summarized) {
    // Exact until now: the sketches see every address once, with its bytes.
    sum = PaneSummary{};
    f.ip4.for_each([&](const Entry4& e) { sum.add_key(sketch_hash(e.key), e.bytes); });
    for (const Entry6& e : f.ip6) sum.add_key(sketch_hash(e.key), e.bytes);
    sum.summarized = true;
  }
  bytes_scratch_.clear();
  f.ip4.for_each([&](const Entry4& e) { bytes_scratch_.push_back(e.bytes); });
  for (const Entry6& e : f.ip6) bytes_scratch_.push_back(e.bytes);
  if (bytes_scratch_.size() > m) {
    const uint64_t v = PaneSummarizer::cut_value(bytes_scratch_, m);
    sum.floor += v;
    auto drop = [&](const auto& e) {
      if (e.bytes > v) return false;
      sum.removed += e.bytes;
      return true;
    };
    f.ip4.erase_if(drop);
    f.ip4.shrink_to_fit();
    f.ip6.erase(std::remove_if(f.ip6.begin(), f.ip6.end(), drop), f.ip6.end());
    f.ip6.shrink_to_fit();
  }
  if (folded) fold(pane, true);
}

void WindowShard::enforce_budget() {
  if (budget_.bytes == 0) return;
  size_t used = memory_bytes();
  if (used <= budget_.bytes) return;
  // Spares first: they are only there to save allocations.
  table_pool_.clear();
  flat_pool_.clear();
  huge_pages::PageCache::instance().clear();
  if (arena_->held_bytes() > arena_->live_bytes() + kCompactSlack) compact_flats();
  window_.keys.ip4.drop_ahead();
  window_.keys.ip6.drop_ahead();
  window_.keys.ip4.shrink();
  window_.keys.ip6.shrink();
  used = memory_bytes();
  const size_t target = budget_.bytes / 4 * 3;
  if (used <= target) return;
  // Then the biggest exact closed panes: those the window does not hold first (kept only so T
  // can grow), then those it holds.
  std::vector<std::pair<size_t, Pane*>> order;
  for (auto& [index, pane] : panes_) {
    if (pane.open || (pane.summary && pane.summary->summarized)) continue;
    const size_t keys = pane.flat.ip4.size() + pane.flat.ip6.size();
    if (keys <= budget_.summary_keys) continue;
    order.emplace_back(keys, &pane);
  }
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    const bool ia = in_window(*a.second), ib = in_window(*b.second);
    return ia != ib ? ib : a.first > b.first;
  });
  for (const auto& [keys, pane] : order) {
    auto bytes = [&] {
      return pane->flat.ip4.capacity_bytes() + pane->flat.ip6.capacity() * sizeof(Entry6);
    };
    const size_t before = bytes();
    summarize(*pane);
    const size_t after = bytes();
    used -= std::min(used, before - std::min(before, after));
    if (used <= target) break;
  }
  window_.keys.ip4.shrink();
  window_.keys.ip6.shrink();
}

void WindowShard::add_approx(WindowApprox& out) {
  if (approx_panes_ == 0) return;
  out.any = true;
  out.floor = std::max(out.floor, approx_floor_);
  out.removed += approx_removed_;
  for (auto it = panes_.lower_bound(lo_); it != panes_.end() && it->first < hi_; ++it) {
    Pane& pane = it->second;
    if (!pane.summary) {
      // An exact pane beside summarized ones: its sketches, once (a closed pane never changes).
      auto sum = std::make_unique<PaneSummary>();
      pane.flat.ip4.for_each([&](const Entry4& e) { sum->add_key(sketch_hash(e.key), e.bytes); });
      for (const Entry6& e : pane.flat.ip6) sum->add_key(sketch_hash(e.key), e.bytes);
      if (pane.open) {
        pane.open->ip4.for_each(
            [&](const Entry4& e) { sum->add_key(sketch_hash(e.key), e.bytes); });
        pane.open->ip6.for_each(
            [&](const Entry6& e) { sum->add_key(sketch_hash(e.key), e.bytes); });
        out.keys.merge(sum->keys);
        out.squares.merge(sum->squares);
        continue;
      }
      pane.summary = std::move(sum);
    }
    out.keys.merge(pane.summary->keys);
    out.squares.merge(pane.summary->squares);
  }
}

DimStats WindowApprox::estimate(const DimStats& held) const {
  DimStats s;
  s.s1 = held.s1 + removed;
  const double n = std::max(1.0, std::round(keys.estimate()));
  s.n = static_cast<uint64_t>(n);
  const double f2 = std::max(0.0, squares.estimate());
  s.s2 = static_cast<unsigned __int128>(static_cast<long double>(f2));
  return s;
}

namespace {

// Kept out of the window state under config.memory_limit: the program, its threads and blocks,
// output, store and API, and the PageCache.
uint64_t memory_reserve(const EngineConfig& config) {
  return std::clamp<uint64_t>(config.memory_limit / 8, 24u << 20, 256u << 20);
}

}  // namespace

size_t page_cache_cap(const EngineConfig& config) {
  const size_t most = huge_pages::PageCache::kDefaultCap;
  return config.memory_limit == 0 ? most : std::min<size_t>(most, memory_reserve(config) / 2);
}

core::Result<ShardBudget> budget_for(const EngineConfig& config, uint32_t shards) {
  ShardBudget b;
  if (config.memory_limit == 0) return b;
  const uint64_t reserve = memory_reserve(config);
  const uint64_t state = config.memory_limit > reserve ? config.memory_limit - reserve : 0;
  b.bytes = static_cast<size_t>(state / std::max<uint32_t>(shards, 1));
  // Every held pane may end up summarized (a flood lasting --max-window): per pane its sketches
  // and m addresses at 192 bytes each (its closed array: 32 bytes an IPv6 entry; its share of the
  // window's table at a quarter load: 128; of the candidate set: 32), in 3/4 of the shard's
  // budget.
  const uint64_t panes = static_cast<uint64_t>(config.max_window + config.lateness + 2);
  const uint64_t per_pane = b.bytes / 4 * 3 / panes;
  const uint64_t sketch = sizeof(PaneSummary) + 64;
  const uint64_t m = per_pane > sketch ? (per_pane - sketch) / 192 : 0;
  constexpr uint64_t kMinKeys = 32;
  if (m < kMinKeys) {
    const uint64_t need =
        (kMinKeys * 192 + sketch) * panes / 3 * 4 * std::max<uint32_t>(shards, 1) + reserve;
    return core::Status::invalid_argument(
        "--memory-limit " + std::to_string(config.memory_limit >> 20) + "MiB is too small for " +
        "--max-window " + std::to_string(config.max_window) + " with " + std::to_string(shards) +
        " thread(s): it needs at least " + std::to_string((need >> 20) + 1) +
        "MiB (or 0: unbounded)");
  }
  b.summary_keys = static_cast<size_t>(std::min<uint64_t>(m, 1u << 20));
  // Open panes (lateness + 1 of them, more with disorder) share a quarter of the budget; a
  // pane's table is at most 128 bytes a key.
  const uint64_t open = b.bytes / 4 / static_cast<uint64_t>(config.lateness + 2) / 128;
  b.open_keys = static_cast<size_t>(std::max<uint64_t>(open, 4 * b.summary_keys));
  return b;
}

template <IpKey kKey>
[[gnu::always_inline]] inline void WindowShard::add_primary(PaneRun& run, const FlowRecord& r,
                                                            bool dst_here, uint64_t order) {
  add_protocol(*run.pane, r.protocol, r.bytes);
  if constexpr (kKey == IpKey::kSrc) {
    add_address(run, r.src, order, r.bytes);
  } else if constexpr (kKey == IpKey::kDst) {
    add_address(run, r.dst, order, r.bytes);
  } else {
    add_address(run, r.src, order, r.bytes);
    if (dst_here && !(r.dst == r.src))
      add_address(run, r.dst, slot_order(r.dst.v4_value()), r.bytes);
  }
}

[[gnu::always_inline]] inline void WindowShard::add_primary(PaneRun& run, const FlowRecord& r,
                                                            bool dst_here, uint64_t order) {
  switch (ip_key_) {
    case IpKey::kSrc:
      return add_primary<IpKey::kSrc>(run, r, dst_here, order);
    case IpKey::kDst:
      return add_primary<IpKey::kDst>(run, r, dst_here, order);
    case IpKey::kHost:
      return add_primary<IpKey::kHost>(run, r, dst_here, order);
  }
}

uint64_t WindowShard::consume(const Input& in) {
  uint64_t late = 0;
  try {
    if (in.keys) {
      late = consume_keys(in);
    } else if (in.routed) {
      late = consume_routed(in);
    } else {
      switch (ip_key_) {  // (a loop for each: the key's choice was 8 instructions a record)
        case IpKey::kSrc:
          late = consume_in_order<IpKey::kSrc>(in);
          break;
        case IpKey::kDst:
          late = consume_in_order<IpKey::kDst>(in);
          break;
        case IpKey::kHost:
          late = consume_in_order<IpKey::kHost>(in);
          break;
      }
    }
  } catch (...) {
    // The batch's sums are dropped, not flushed (that allocates): the pane they were for may
    // go before the next call, and the engine stops on the error anyway.
    batch_protocols_.fill(Agg{});
    batch_ids_ = 0;
    batch_pane_ = nullptr;
    throw;
  }
  flush_protocols();
  return late;
}

void WindowShard::add_protocol_slow(Pane& pane, uint32_t id, uint32_t bytes) {
  if (id >= kBatchProtocols) {
    pane.open->protocols.add(id, bytes, 1);
    count_records(pane, 1);
    return;
  }
  flush_protocols();
  batch_pane_ = &pane;
  batch_protocols_[id].bytes += bytes;
  ++batch_protocols_[id].records;
  batch_ids_ |= uint64_t{1} << id;
}

// Walks only the ids used: records alternating between two panes (a stream out of order by
// less than the lateness) flush at every switch.
void WindowShard::flush_protocols() {
  if (!batch_pane_) return;
  uint64_t records = 0;
  for (uint64_t ids = batch_ids_; ids != 0; ids &= ids - 1) {
    const auto id = static_cast<uint32_t>(std::countr_zero(ids));
    Agg& a = batch_protocols_[id];
    batch_pane_->open->protocols.add(id, a.bytes, a.records);
    records += a.records;
    a = Agg{};
  }
  batch_ids_ = 0;
  count_records(*batch_pane_, records);
  batch_pane_ = nullptr;
}

// The pane table outgrows the core's cache (tens of thousands of addresses per pane), so the
// slot of a record a few places ahead is prefetched while this one is added. The key's slot
// order, computed for the prefetch, is kept for the add (style.md: hash once; AheadRing).
constexpr size_t kAhead = 8;

template <IpKey kKey>
uint64_t WindowShard::consume_in_order(const Input& in) {
  uint64_t late = 0;
  TimeMs running_max = in.entering_max;
  const FlowRecord* records = in.records;
  const size_t n = in.count;
  auto order_of = [](const FlowRecord& x) {
    return slot_order((kKey == IpKey::kDst ? x.dst : x.src).v4_value());
  };
  AheadRing<kAhead> orders;
  for (size_t i = 0; i < std::min(n, kAhead); ++i) orders[i] = order_of(records[i]);
  PaneRun run;
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) {
      const FlowRecord& next = records[i + kAhead];
      const uint64_t order = order_of(next);
      orders[i + kAhead] = order;
      // Into the current pane's table, whatever the record's pane and family: a slot fetched
      // for nothing costs less than the checks did (8 instructions a record).
      if (run.pane) run.adder.prefetch_at(order);
    }
    const FlowRecord& r = records[i];
    if (running_max != kNoTime && r.time < running_max - lateness_ms_) {
      ++late;
      continue;
    }
    if (r.time > running_max) running_max = r.time;
    into(run, r.time);
    add_primary<kKey>(run, r, true, orders[i]);
    if (history_) history_->add(r);
  }
  leave(run);
  return late;
}

uint64_t WindowShard::consume_routed(const Input& in) {
  uint64_t late = 0;
  const FlowRecord* records = in.records;
  const uint8_t* tags = in.tags;
  const size_t n = in.count;
  const TimeMs bound = routed_late_bound(in);
  PaneRun run;
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n && run.pane) {
      const FlowRecord& next = records[i + kAhead];
      const bool dst = ip_key_ == IpKey::kDst || (tags && (tags[i + kAhead] & kSecondary));
      const core::IpAddr& a = dst ? next.dst : next.src;
      if (!a.is_v6 && run.holds(next.time)) run.adder.prefetch_at(slot_order(a.v4_value()));
    }
    const FlowRecord& r = records[i];
    const uint8_t tag = tags ? tags[i] : kPrimary;
    if (r.time < bound) {
      if (!(tag & kSecondary)) ++late;
      continue;
    }
    into(run, r.time);
    if (tag & kSecondary) {
      add_address(run, r.dst, slot_order(r.dst.v4_value()), r.bytes);
    } else {
      const core::IpAddr& key = ip_key_ == IpKey::kDst ? r.dst : r.src;
      add_primary(run, r, (tag & kAlso) != 0, slot_order(key.v4_value()));
      if (history_) history_->add(r);
    }
  }
  leave(run);
  return late;
}

// As consume_routed, for key records: each is a primary record of this shard, keyed by its one
// address (--ip-key src or dst), and no history is kept.
uint64_t WindowShard::consume_keys(const Input& in) {
  uint64_t late = 0;
  const PackedKey* units = in.keys;
  const size_t n = in.count;
  const TimeMs base = in.key_base;
  const TimeMs bound = routed_late_bound(in);
  // The units come from memory (the routing thread streamed them past its cache), and the
  // hardware's prefetch of them left a stall on the load of the unit kAhead on (16-18% of this
  // loop's samples in `perf annotate`, two threads); fetched 1 KiB ahead, that stall is gone and
  // the loop's share of a run fell from 20.8% to 19.3% (four alternated runs each).
  constexpr size_t kUnitsAhead = 64;
  // Slot orders as in consume_in_order, per unit: a unit that is part of an escaped record gets
  // one for nothing, and the record's own is not used (its key goes the general way).
  AheadRing<kAhead> orders;
  for (size_t i = 0; i < std::min(n, kAhead); ++i) orders[i] = slot_order(units[i].v4);
  PaneRun run;
  for (size_t i = 0; i < n;) {
    if (i + kUnitsAhead < n) __builtin_prefetch(units + i + kUnitsAhead);
    if (i + kAhead < n) {
      const PackedKey& next = units[i + kAhead];
      const uint64_t order = slot_order(next.v4);
      orders[i + kAhead] = order;
      if (run.pane) run.adder.prefetch_at(order);  // (as in consume_in_order)
    }
    const size_t at = i;
    const PackedKey& u = units[at];
    if (!(u.protocol & PackedKey::kEscape)) [[likely]] {
      // A packed unit, read in place (decoded into a KeyRecord, as an escape is below, its
      // fields went through the stack: 10 instructions a record).
      ++i;
      const TimeMs t = KeyStream::unit_time(base, u);
      if (t < bound) {
        ++late;
        continue;
      }
      into(run, t);
      add_protocol(*run.pane, u.protocol, u.bytes);
      run.adder.add4_at(u.v4, orders[at], u.bytes);
      continue;
    }
    KeyRecord r;
    const size_t used = KeyStream::decode(units, i, base, r);
    i += used;
    // The steps for units at + 1 and at + 2 are skipped: their units kAhead on get their
    // orders here.
    for (size_t j = at + kAhead + 1; j < at + kAhead + used && j < n; ++j)
      orders[j] = slot_order(units[j].v4);
    if (r.time < bound) {
      ++late;
      continue;
    }
    into(run, r.time);
    add_protocol(*run.pane, r.protocol_id(), r.bytes);
    const core::IpAddr key = r.address();
    add_address(run, key, slot_order(key.v4_value()), r.bytes);
  }
  leave(run);
  return late;
}

void WindowShard::take_pane_counts(std::vector<std::pair<int64_t, uint64_t>>& out) {
  for (Pane* p : touched_) {
    out.emplace_back(p->index, p->round_records);
    p->round_records = 0;
  }
  touched_.clear();
}

KeySums& WindowShard::pane_sums(int64_t index) {
  auto [it, inserted] = panes_.try_emplace(index);
  if (inserted) it->second.index = index;
  return open_sums(it->second);
}

void WindowShard::close_before(int64_t bound) {
  for (auto it = panes_.begin(); it != panes_.end() && it->first < bound; ++it) {
    Pane& pane = it->second;
    if (!pane.open) continue;
    if (cur_ == &pane) {
      cur_ = nullptr;
      cur_start_ = cur_end_ = 0;
    }
    // Entries already flat (a pane reopened by out-of-order input after closing, which the
    // watermark rules out today) stay: folding a key twice adds the same sums.
    if (pane.flat.ip4.empty() && pane.flat.ip6.empty() && pane.flat.protocols.empty()) {
      if (!flat_pool_.empty()) {
        pane.flat = std::move(flat_pool_.back());
        flat_pool_.pop_back();
      } else {
        pane.flat = FlatSums(arena_.get());
      }
    }
    KeySums& s = *pane.open;
    // A summarized pane closes with at most m addresses (the budget counts on it).
    if (s.summary) summarizer_.trim(s);
    // Room to spare: pooled arrays then fit the next panes, which vary a little in size,
    // without being reallocated (and their fresh pages faulted in) each time.
    auto make_room = [](auto& v, size_t more) {
      if (v.size() + more > v.capacity()) v.reserve((v.size() + more) * 5 / 4);
    };
    make_room(pane.flat.protocols, s.protocols.size());
    make_room(pane.flat.ip4, s.ip4.size());
    make_room(pane.flat.ip6, s.ip6.size());
    s.protocols.drain([&](const Entry4& e) { pane.flat.protocols.push_back(e); });
    s.ip4.drain([&](const Entry4& e) { pane.flat.ip4.push_back(e); });
    s.ip6.drain([&](const Entry6& e) { pane.flat.ip6.push_back(e); });
    if (s.summary) pane.summary = std::move(s.summary);
    if (table_pool_.size() < kMaxPooled) table_pool_.push_back(std::move(pane.open));
    pane.open.reset();
  }
  if (arena_->held_bytes() > 2 * arena_->live_bytes() + kCompactSlack) compact_flats();
  enforce_budget();
}

// Copies every closed pane's arrays into fresh slabs, tight, when the arena's holes (arrays
// freed while others in their slab live on: a pooled array regrown for a bigger pane, a pane
// summarized) hold more than its arrays do. The old slabs go as their last arrays leave, and
// go to the PageCache the new ones are cut from, so the copy needs little more than what it
// copies. The pooled arrays go first: they only save allocations.
void WindowShard::compact_flats() {
  flat_pool_.clear();
  arena_->seal();
  auto copy = [](auto& v) {
    if (v.capacity() * sizeof(v[0]) < FlatArena::kSmall) return;
    std::remove_reference_t<decltype(v)> fresh(v.get_allocator());
    fresh.reserve(v.size());
    fresh.assign(v.begin(), v.end());
    v.swap(fresh);
  };
  for (auto& [index, pane] : panes_) {
    copy(pane.flat.protocols);
    pane.flat.ip4.for_each_array(copy);
    copy(pane.flat.ip6);
  }
}

namespace {

// Applies f to each entry of a closed pane while prefetching the window slot of an entry a few
// steps ahead: the window table is large (all keys of T panes) and each access is otherwise a
// cache miss; prefetching lets many misses overlap.
// f(entry, order) gets the key's slot order computed for the prefetch (hash once).
constexpr size_t kFlatAhead = 16;
template <class F>
void for_each_flat(const PackedEntries& entries, const AggMap<uint32_t>& window, F&& f) {
  entries.for_each_ahead<kFlatAhead>(
      [&](uint32_t key) {
        const uint64_t order = slot_order(key);
        window.prefetch_at(order);
        return order;
      },
      f);
}
template <class V, class K, class F>
void for_each_flat(const V& entries, const AggMap<K>& window, F&& f) {
  const size_t n = entries.size();
  const auto* e = entries.data();
  AheadRing<kFlatAhead> orders;  // as in PackedEntries::for_each_ahead
  for (size_t i = 0; i < std::min(n, kFlatAhead); ++i) orders[i] = slot_order(e[i].key);
  for (size_t i = 0; i < n; ++i) {
    if (i + kFlatAhead < n) {
      const uint64_t order = slot_order(e[i + kFlatAhead].key);
      orders[i + kFlatAhead] = order;
      window.prefetch_at(order);
    }
    f(e[i], orders[i]);
  }
}

// The same for an open pane's table (merge's panes, and panes still open at the end of input).
template <class K, class F>
void for_each_open(const AggMap<K>& pane, const AggMap<K>& window, F&& f) {
  constexpr size_t kOpenAhead = 16;
  const auto* begin = pane.slots_begin();
  const auto* end = pane.slots_end();
  const auto* ahead = begin;
  size_t found = 0;
  auto advance_ahead = [&] {
    while (ahead != end && ahead->records == 0) ++ahead;
    if (ahead != end) {
      window.prefetch(ahead->key);
      ++ahead;
    }
  };
  for (; found < kOpenAhead; ++found) advance_ahead();
  for (const auto* e = begin; e != end; ++e) {
    if (e->records == 0) continue;
    advance_ahead();
    f(pane.entry_of(*e), slot_order(e->key));
  }
}

}  // namespace

void WindowShard::fold(const Pane& pane, bool add) {
  WindowAggregate& w = window_;
  const uint64_t level = level_;
  // An address key enters or leaves the candidate set when its bytes cross the level.
  auto add_proto = [&](const Entry4& e) {
    w.protocol.on_add(w.keys.protocols.add(e.key, e.bytes, e.records), e.bytes);
    w.records += e.records;
  };
  auto sub_proto = [&](const Entry4& e) {
    w.protocol.on_sub(w.keys.protocols.sub(e.key, e.bytes, e.records), e.bytes, e.records);
    w.records -= e.records;
  };
  // One address table and its candidate set: IPv4 and IPv6 are folded alike. (Forced inline,
  // here and in the add path of a record: with AggMap::add inlined into them GCC kept these out
  // of line, a call per key and per record.)
  auto adder = [&](auto& table, auto& cand) {
    return [&, level ](const auto& e, uint64_t order) __attribute__((always_inline)) {
      const Agg before = table.add_at(e.key, order, e.bytes, e.records);
      w.ip.on_add(before, e.bytes);
      if (before.bytes < level && before.bytes + e.bytes >= level) cand.add(e.key, 0, 1);
    };
  };
  auto subtracter = [&](auto& table, auto& cand) {
    return [&, level ](const auto& e, uint64_t order) __attribute__((always_inline)) {
      const Agg before = table.sub_at(e.key, order, e.bytes, e.records);
      w.ip.on_sub(before, e.bytes, e.records);
      if (before.bytes >= level && before.bytes - e.bytes < level) cand.sub(e.key, 0, 1);
    };
  };
  const auto add4 = adder(w.keys.ip4, cand4_);
  const auto add6 = adder(w.keys.ip6, cand6_);
  const auto sub4 = subtracter(w.keys.ip4, cand4_);
  const auto sub6 = subtracter(w.keys.ip6, cand6_);
  if (pane.summary && pane.summary->summarized) {
    const PaneSummary& sum = *pane.summary;
    if (add) {
      ++approx_panes_;
      approx_floor_ += sum.floor;
      approx_removed_ += sum.removed;
    } else {
      --approx_panes_;
      approx_floor_ -= sum.floor;
      approx_removed_ -= sum.removed;
    }
  }
  const FlatSums& f = pane.flat;
  if (add) {
    // Room for every key of the pane first: its keys come in slot order, and a table that grew
    // while taking them would see them pile up behind one long probe run (all homes of the
    // smaller table in a row), which made a big pane's fold quadratic.
    const size_t open4 = pane.open ? pane.open->ip4.size() : 0;
    const size_t open6 = pane.open ? pane.open->ip6.size() : 0;
    w.keys.ip4.reserve(w.keys.ip4.size() + f.ip4.size() + open4);
    w.keys.ip6.reserve(w.keys.ip6.size() + f.ip6.size() + open6);
    for (const Entry4& e : f.protocols) add_proto(e);
    for_each_flat(f.ip4, w.keys.ip4, add4);
    for_each_flat(f.ip6, w.keys.ip6, add6);
    if (pane.open) {
      pane.open->protocols.for_each(add_proto);
      for_each_open(pane.open->ip4, w.keys.ip4, add4);
      for_each_open(pane.open->ip6, w.keys.ip6, add6);
    }
  } else {
    for (const Entry4& e : f.protocols) sub_proto(e);
    for_each_flat(f.ip4, w.keys.ip4, sub4);
    for_each_flat(f.ip6, w.keys.ip6, sub6);
    if (pane.open) {
      pane.open->protocols.for_each(sub_proto);
      for_each_open(pane.open->ip4, w.keys.ip4, sub4);
      for_each_open(pane.open->ip6, w.keys.ip6, sub6);
    }
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
  // The window's address tables grow in step with its keys rather than all at once (see
  // AggMap::grow_ahead), while the budget leaves room for it twice over; enforce_budget()
  // drops a table grown into ahead before it decides anything.
  if (budget_.bytes == 0 ||
      memory_bytes() + 2 * (window_.keys.ip4.memory_bytes() + window_.keys.ip6.memory_bytes()) <=
          budget_.bytes / 2) {
    window_.keys.ip4.grow_ahead();
    window_.keys.ip6.grow_ahead();
  }
  // The newest pane's size predicts the next one's.
  if (auto it = panes_.lower_bound(hi - 1); it != panes_.end() && it->first == hi - 1) {
    const Pane& p = it->second;
    last_pane_ip_keys_ = p.open ? p.open->ip4.size() : p.flat.ip4.size();
  }
}

void WindowShard::retire(Pane& pane) {
  pane.summary.reset();
  if (pane.open) {
    pane.open->summary.reset();
    pane.open->protocols.drain([](const Entry4&) {});
    pane.open->ip4.drain([](const Entry4&) {});
    pane.open->ip6.drain([](const Entry6&) {});
    if (table_pool_.size() < kMaxPooled) table_pool_.push_back(std::move(pane.open));
  }
  if (flat_pool_.size() < kMaxPooled && pane.flat.ip4.capacity() != 0) {
    pane.flat.clear();
    flat_pool_.push_back(std::move(pane.flat));
  }
}

void WindowShard::evict_before(int64_t bound) {
  if (has_window_) bound = std::min(bound, lo_);
  for (auto it = panes_.begin(); it != panes_.end() && it->first < bound;) {
    if (cur_ == &it->second) {
      cur_ = nullptr;
      cur_start_ = cur_end_ = 0;
    }
    retire(it->second);
    it = panes_.erase(it);
  }
}

size_t WindowShard::memory_bytes() const {
  size_t total = window_.keys.protocols.memory_bytes() + window_.keys.ip4.memory_bytes() +
                 window_.keys.ip6.memory_bytes() + cand4_.memory_bytes() + cand6_.memory_bytes();
  auto flat_bytes = [](const FlatSums& f) {
    return f.protocols.capacity() * sizeof(Entry4) + f.ip4.capacity_bytes() +
           f.ip6.capacity() * sizeof(Entry6);
  };
  auto table_bytes = [](const KeySums& s) {
    return s.protocols.memory_bytes() + s.ip4.memory_bytes() + s.ip6.memory_bytes();
  };
  for (const auto& [index, pane] : panes_) {
    total += flat_bytes(pane.flat) + 64;
    if (pane.summary) total += sizeof(PaneSummary);
    if (pane.open) total += table_bytes(*pane.open) + (pane.open->summary ? sizeof(PaneSummary) : 0);
  }
  for (const auto& t : table_pool_) total += table_bytes(*t);
  for (const auto& f : flat_pool_) total += flat_bytes(f);
  // The arena's holes and unfilled tails.
  return total + (arena_->held_bytes() - arena_->live_bytes());
}

// --- Candidate tracking ----------------------------------------------------------------------
//
// h[b] counts keys whose bytes have bit width b (b = 0 for 0 bytes; b >= 1 means bytes in
// [2^(b-1), 2^b)). The level is a power of two at least two bit widths below both the floor and
// the k-th largest key, so the thresholds can fall by half before the set must be rebuilt.

uint64_t WindowShard::pick_level(uint64_t floor, size_t k, const Histogram& h) {
  if (floor == 0 || k == 0) return UINT64_MAX;
  // kb: the greatest width such that at least k keys have that width or more.
  int kb = 0;
  uint64_t above = 0;
  for (int b = static_cast<int>(h.size()) - 1; b >= 1; --b) {
    above += h[static_cast<size_t>(b)];
    if (above >= k) {
      kb = b;
      break;
    }
  }
  if (kb == 0) return UINT64_MAX;  // fewer than k keys with bytes: scan them all
  const int m = std::min(kb, static_cast<int>(std::bit_width(floor)));
  return m >= 3 ? uint64_t{1} << (m - 3) : 1;
}

void WindowShard::retrack(uint64_t floor, size_t k, const Histogram& h) {
  uint64_t level = pick_level(floor, k, h);
  if (level != UINT64_MAX) {
    uint64_t keys = 0, tracked = 0;
    for (size_t b = 0; b < h.size(); ++b) {
      keys += h[b];
      // Bucket b holds keys of bit width b, at least 2^(b-1) bytes; b = 65 would shift by 64
      // (undefined: UBSan found it), and it is above any level anyway.
      if (b >= 1 && (b - 1 >= 64 || (uint64_t{1} << (b - 1)) >= level)) tracked += h[b];
    }
    // Tracking pays when the set is a small part of the window; otherwise keep scanning.
    if (keys < 1024 || tracked * 4 > keys) level = UINT64_MAX;
  }
  level_ = level;
  cand4_.drain([](const Entry4&) {});
  cand6_.drain([](const Entry6&) {});
  if (level_ == UINT64_MAX) return;
  // Collected first and the sets sized once: keys in slot order into a growing table would
  // pile up (see fold).
  scratch4_.clear();
  scratch6_.clear();
  window_.keys.ip4.for_each([&](const Entry4& e) {
    if (e.bytes >= level_) scratch4_.push_back(e.key);
  });
  window_.keys.ip6.for_each([&](const Entry6& e) {
    if (e.bytes >= level_) scratch6_.push_back(e.key);
  });
  cand4_.reserve(scratch4_.size());
  cand6_.reserve(scratch6_.size());
  for (uint32_t key : scratch4_) cand4_.add(key, 0, 1);
  for (const core::Ip6& key : scratch6_) cand6_.add(key, 0, 1);
}

void WindowShard::maybe_raise(uint64_t floor, size_t k, const Histogram& h) {
  const uint64_t level = pick_level(floor, k, h);
  if (level == UINT64_MAX || level < level_ * 16 || candidate_count() < 256) return;
  // The thresholds grew well past the level: drop the keys below the new one.
  scratch4_.clear();
  scratch6_.clear();
  cand4_.for_each([&](const Entry4& c) {
    if (window_.keys.ip4.find(c.key)->bytes < level) scratch4_.push_back(c.key);
  });
  cand6_.for_each([&](const Entry6& c) {
    if (window_.keys.ip6.find(c.key)->bytes < level) scratch6_.push_back(c.key);
  });
  for (uint32_t key : scratch4_) cand4_.sub(key, 0, 1);
  for (const core::Ip6& key : scratch6_) cand6_.sub(key, 0, 1);
  level_ = level;
}

}  // namespace netpulse::engine
