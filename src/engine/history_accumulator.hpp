// The engine's side of traffic history (issue 17): per minute of event time, the bytes and
// records of every conversation (source, destination, protocol) the shard accepted, plus exact
// per-protocol sums. Source and destination rollups are the conversation sums' marginals, so
// one table update per record serves all four dimensions. Each shard owns one accumulator and
// feeds it the records it accepts as their primary shard (every accepted record exactly once);
// since a shard owns all records of its address keys, the shards' conversations are disjoint and
// a minute's parts only need concatenating. Records that are late for the engine never get here,
// so history and windows count the same records.
//
// Bounded: a minute keeps at most max_keys conversations; records of conversations that do not
// fit are counted in overflow (and in the exact protocol and total sums), so the rollup built
// from it can state how much it may miss (app/history_recorder.hpp).
//
// Written here on AggMap rather than with a general hash map: this runs once per record on the
// engine's hot path, and a 12-byte IPv4 conversation key in a 24-byte slot keeps it cheap.
// Not thread-safe: the shard's thread adds; the pipeline's serial step takes finished minutes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/flow_record.hpp"
#include "engine/agg_map.hpp"

namespace netpulse::engine {

// A conversation between two IPv4 addresses (almost all of them).
struct Conv4 {
  uint32_t src = 0;
  uint32_t dst = 0;
  uint32_t protocol = 0;
  friend bool operator==(const Conv4&, const Conv4&) = default;
};
// Any other: at least one IPv6 address.
struct Conv6 {
  core::IpAddr src;
  core::IpAddr dst;
  uint32_t protocol = 0;
  friend bool operator==(const Conv6&, const Conv6&) = default;
};
inline uint64_t key_hash(const Conv4& k) {
  return mix64((uint64_t{k.src} << 32 | k.dst) ^ (uint64_t{k.protocol} * 0x9E3779B97F4A7C15ULL));
}
inline uint64_t key_hash(const Conv6& k) {
  uint64_t h = k.src.bits.hi * 0x9E3779B97F4A7C15ULL ^ k.src.bits.lo;
  h = mix64(h) ^ (k.dst.bits.hi * 0xC2B2AE3D27D4EB4FULL) ^ k.dst.bits.lo;
  h ^= uint64_t{k.protocol} << 40 | uint64_t{k.src.is_v6} << 1 | uint64_t{k.dst.is_v6};
  return mix64(h);
}

// One shard's sums for one minute of event time.
struct HistoryPart {
  core::TimeMs start = 0;  // a multiple of kHistoryMinuteMs
  AggMap<Conv4> conv4;
  AggMap<Conv6> conv6;
  AggMap<uint32_t> protocols;  // exact: overflow included
  uint64_t total_bytes = 0;    // exact
  uint64_t total_records = 0;
  uint64_t overflow_bytes = 0;  // records of conversations that did not fit
  uint64_t overflow_records = 0;
};

// Every shard's part of one finished minute.
struct HistoryMinute {
  core::TimeMs start = 0;
  std::vector<std::unique_ptr<HistoryPart>> parts;
};

inline constexpr core::TimeMs kHistoryMinuteMs = 60'000;

class HistoryAccumulator {
 public:
  // max_keys: conversations one minute of this shard keeps (> 0).
  explicit HistoryAccumulator(size_t max_keys) : max_keys_(max_keys) {}

  void add(const core::FlowRecord& r) {
    HistoryPart& p = (cur_ && r.time >= cur_->start && r.time < cur_end_) ? *cur_ : part_slow(r.time);
    p.total_bytes += r.bytes;
    ++p.total_records;
    p.protocols.add(r.protocol, r.bytes, 1);
    if (!r.src.is_v6 && !r.dst.is_v6) {
      const Conv4 k{r.src.v4_value(), r.dst.v4_value(), r.protocol};
      if (p.conv4.size() + p.conv6.size() < max_keys_ || p.conv4.find(k)) {
        p.conv4.add(k, r.bytes, 1);
        return;
      }
    } else {
      const Conv6 k{r.src, r.dst, r.protocol};
      if (p.conv4.size() + p.conv6.size() < max_keys_ || p.conv6.find(k)) {
        p.conv6.add(k, r.bytes, 1);
        return;
      }
    }
    p.overflow_bytes += r.bytes;
    ++p.overflow_records;
  }

  // Hints the cache to fetch the slot a record a few places ahead will update (the table
  // outgrows the cache at a million conversations a minute, as the pane tables do).
  void prefetch(const core::FlowRecord& r) const {
    if (cur_ && r.time >= cur_->start && r.time < cur_end_ && !r.src.is_v6 && !r.dst.is_v6)
      cur_->conv4.prefetch(Conv4{r.src.v4_value(), r.dst.v4_value(), r.protocol});
  }

  // Moves out, ascending, every minute that ends at or before `bound` (no record of it can be
  // accepted any more).
  void take_before(core::TimeMs bound, std::vector<std::unique_ptr<HistoryPart>>& out);

  size_t minutes_held() const { return minutes_.size(); }
  size_t memory_bytes() const;

 private:
  HistoryPart& part_slow(core::TimeMs t);

  size_t max_keys_;
  std::map<core::TimeMs, std::unique_ptr<HistoryPart>> minutes_;
  HistoryPart* cur_ = nullptr;
  core::TimeMs cur_end_ = 0;
};

}  // namespace netpulse::engine
