#include "engine/history_accumulator.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/time.hpp"

namespace netpulse::engine {

HistoryChunk& HistoryLog::chunk_slow(core::TimeMs t) {
  const core::TimeMs start = core::floor_div(t, kHistoryMinuteMs) * kHistoryMinuteMs;
  auto [it, inserted] = open_.try_emplace(start);
  if (inserted) {
    it->second.start = start;
    it->second.sampled = sample_ != 0;
    // A whole chunk's room from the start (a pooled buffer when there is one), so the engine's
    // thread never copies a growing chunk (a sampled one holds at most 2 K_s candidates).
    if (pool_) it->second.v4 = pool_->take();
    it->second.v4.reserve(sample_ != 0 ? std::max(kChunkRecords, 2 * sample_) : kChunkRecords);
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

namespace {

// A hash of a kept record's addresses and bytes, and a seed: the source of its coins. Not of its
// protocol: protocol ids are given in the order protocols are first parsed, which differs with
// the blocks and threads that parse them.
inline uint64_t record_bits(const Conv4& k, uint32_t bytes, uint64_t seed) {
  return mix64((uint64_t{k.src} << 32 | k.dst) ^ (uint64_t{bytes} << 32 ^ seed) * 0x9E3779B97F4A7C15ULL);
}
inline uint64_t record_bits(const Conv6& k, uint32_t bytes, uint64_t seed) {
  return mix64(key_hash(k.src.bits) ^ std::rotl(key_hash(k.dst.bits), 17) ^
               (uint64_t{bytes} << 32 ^ seed) * 0x9E3779B97F4A7C15ULL);
}
// A uniform number in [0, 1): thinning's coin.
template <class K>
double coin(const K& key, uint32_t bytes, uint64_t seed) {
  return double(record_bits(key, bytes, seed) >> 11) * 0x1.0p-53;
}

}  // namespace

void HistoryLog::keep(HistoryChunk& c, const core::FlowRecord& r, size_t sample) {
  if (!r.src.is_v6 && !r.dst.is_v6) c.v4.push_back({Conv4{r.src.v4_value(), r.dst.v4_value(), r.protocol}, r.bytes});
  else c.v6.push_back({Conv6{r.src, r.dst, r.protocol}, r.bytes});
  // The grid's next point past `seen` (a record of D bytes or more may cross several).
  if (c.delta != 0) c.next += ((c.seen - c.next) / c.delta + 1) * c.delta;
  else c.next = 0;  // exact: every record
  if (sample != 0 && c.size() >= 2 * sample) [[unlikely]] thin(c, sample);
}

void HistoryLog::thin(HistoryChunk& c, size_t sample) {
  while (c.size() >= sample + sample / 2) {
    uint64_t delta = 2 * c.delta;
    if (c.delta == 0) {
      uint64_t bytes = 0;
      for (const auto& r : c.v4) bytes += r.bytes ? r.bytes : 1;
      for (const auto& r : c.v6) bytes += r.bytes ? r.bytes : 1;
      delta = std::max<uint64_t>(1, (bytes + sample - 1) / sample);
    }
    // Kept with min(1, w / old) so far, to be kept with min(1, w / new): stays with their ratio.
    const uint64_t seed = uint64_t{++c.thinned} << 48 ^ static_cast<uint64_t>(c.start);
    auto drop = [&](const auto& r) {
      const double w = r.bytes ? double(r.bytes) : 1.0;
      if (w >= double(delta)) return false;
      const double p_old = c.delta == 0 ? 1.0 : std::min(1.0, w / double(c.delta));
      return coin(r.key, r.bytes, seed) >= (w / double(delta)) / p_old;
    };
    std::erase_if(c.v4, drop);
    std::erase_if(c.v6, drop);
    c.delta = delta;
  }
  // A new grid of the new spacing, at a random phase from here.
  const uint64_t phase = mix64(c.seen ^ uint64_t{c.thinned} << 56 ^ static_cast<uint64_t>(c.start));
  c.next = c.seen + 1 + phase % c.delta;
}

void HistoryLog::take(core::TimeMs bound, std::vector<HistoryChunk>& out) {
  for (auto& c : full_) out.push_back(std::move(c));
  full_.clear();
  auto it = open_.begin();
  while (it != open_.end() && it->first + kHistoryMinuteMs <= bound) {
    if (cur_ == &it->second) cur_ = nullptr;
    if (it->second.size() > 0 || it->second.seen > 0) out.push_back(std::move(it->second));
    it = open_.erase(it);
  }
}

HistoryPart& HistoryAggregator::part_for(core::TimeMs start) {
  auto& slot = minutes_[start];
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
      slot->tau = 0;
    } else {
      slot = std::make_unique<HistoryPart>();
    }
    slot->start = start;
    // Sized like the last minute: growing a table of a million conversations doubling by
    // doubling maps and faults in every size on the way.
    slot->conv4.reserve(std::min(last_size_, max_));
  }
  return *slot;
}

void HistoryAggregator::sum(const HistoryChunk& c) {
  HistoryPart& p = part_for(c.start);
  if (c.sampled) {
    sum_sampled(p, c);
    return;
  }
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

namespace {

// n rounded down or up at random, up with probability frac(n), the coin drawn from `bits`:
// sums of estimates stay unbiased in whole bytes and records, and the same on every run.
uint64_t round_random(double n, uint64_t bits) {
  const double whole = std::floor(n);
  const double coin = double(mix64(bits) >> 11) * 0x1.0p-53;
  return uint64_t(whole) + (coin < n - whole ? 1 : 0);
}

// A kept record's estimates under threshold D: exact at D bytes or more, else D bytes (its
// bytes over its chance of being kept, w / D) and D / w records.
template <class R>
std::pair<uint64_t, uint32_t> estimate(const R& r, uint64_t delta) {
  const double w = r.bytes ? double(r.bytes) : 1.0, d = double(delta);
  if (w >= d) return {r.bytes, 1};
  const uint64_t bits = record_bits(r.key, r.bytes, 0x5EED);
  return {r.bytes ? delta : 0,
          static_cast<uint32_t>(std::min<uint64_t>(round_random(d / w, bits), UINT32_MAX))};
}

}  // namespace

void HistoryAggregator::sum_sampled(HistoryPart& p, const HistoryChunk& c) {
  for (uint32_t id = 0; id < HistoryChunk::kDirectProtocols; ++id) {
    if (const auto& d = c.direct[id]; d.records > 0) {
      p.protocols.add(id, d.bytes, static_cast<uint32_t>(d.records));
      p.total_bytes += d.bytes;
      p.total_records += d.records;
    }
  }
  c.protocols.for_each([&](const auto& e) {
    p.protocols.add(e.key, e.bytes, e.records);
    p.total_bytes += e.bytes;
    p.total_records += e.records;
  });
  p.tau = std::max(p.tau, c.delta);
  // At most 2 K_s candidates a shard: within the table's bound (the recorder keeps K below it).
  // Room for all of them at once, rather than doubling up to it (a rehash per doubling).
  p.conv4.reserve(p.conv4.size() + c.v4.size());
  p.conv6.reserve(p.conv6.size() + c.v6.size());
  for (const auto& r : c.v4) {
    const auto [bytes, records] = estimate(r, c.delta);
    p.conv4.add(r.key, bytes, records);
  }
  for (const auto& r : c.v6) {
    const auto [bytes, records] = estimate(r, c.delta);
    p.conv6.add(r.key, bytes, records);
  }
}

}  // namespace netpulse::engine
