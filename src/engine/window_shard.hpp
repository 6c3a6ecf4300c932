// One shard of the engine's window state: the panes (one time unit each) and the running
// aggregate of the current window for the keys this shard owns. With --threads N there are N
// shards; a key (protocol or address) belongs to exactly one, chosen by hash, so shards never
// share a key and their per-window statistics add up exactly. Not thread-safe: one owner thread.
#pragma once

#include <cstdint>
#include <climits>
#include <map>
#include <utility>
#include <vector>

#include "core/flow_record.hpp"
#include "engine/agg_map.hpp"
#include "engine/params.hpp"

namespace netpulse::engine {

// Exact sums over the keys of one dimension in a window: n keys, sum of bytes, sum of squares.
// Integers, so the merge across shards is exact and independent of the thread count.
struct DimStats {
  uint64_t n = 0;
  uint64_t s1 = 0;
  unsigned __int128 s2 = 0;

  void on_add(Agg before, uint64_t bytes) {
    if (before.records == 0) ++n;
    s1 += bytes;
    const unsigned __int128 b0 = before.bytes, b1 = before.bytes + bytes;
    s2 += b1 * b1 - b0 * b0;
  }
  void on_sub(Agg before, uint64_t bytes, uint32_t records) {
    if (before.records == records) --n;
    s1 -= bytes;
    const unsigned __int128 b0 = before.bytes, b1 = before.bytes - bytes;
    s2 -= b0 * b0 - b1 * b1;
  }
  DimStats& operator+=(const DimStats& o) {
    n += o.n;
    s1 += o.s1;
    s2 += o.s2;
    return *this;
  }
};

// Per-key sums of one pane or one window, for both dimensions.
struct KeySums {
  AggMap<uint32_t> protocols;
  AggMap<uint32_t> ip4;
  AggMap<core::Ip6> ip6;
};

// What the queries read of a shard's current window.
struct WindowAggregate {
  KeySums keys;
  DimStats protocol;  // protocol.s1 is the window's total bytes
  DimStats ip;
  uint64_t records = 0;
};

// Which shard owns a key: high hash bits (the maps index with the low ones).
inline uint32_t shard_of(uint64_t hash, uint32_t shards) {
  return static_cast<uint32_t>(((hash >> 32) * shards) >> 32);
}
inline uint32_t shard_of(const core::IpAddr& a, uint32_t shards) {
  return shard_of(a.is_v6 ? key_hash(a.bits) : key_hash(a.v4_value()), shards);
}

class WindowShard {
 public:
  WindowShard(uint32_t index, uint32_t shards, const EngineConfig& config);

  // Adds a block's accepted records. With one shard (routed = false): every record, in input
  // order, with the running maximum event time. With several, the parsing thread routed
  // each record to the shard of its address (see Route); a record is late when its time is below
  // max(entering_max, its prefix_max) - lateness, which is what one thread reading in order
  // decides. Returns the late records among those routed here as primary.
  struct Input {
    const core::FlowRecord* records = nullptr;
    size_t count = 0;
    const core::TimeMs* prefix_max = nullptr;  // greatest time before each record in its block
    bool routed = false;  // several shards: only the records listed in routes
    const uint32_t* routes = nullptr;
    size_t route_count = 0;
    core::TimeMs entering_max = kNoTime;  // greatest time in all earlier blocks
  };
  uint64_t consume(const Input& in);

  // Route entries: record index << 2 | flags. kPrimary: the shard of the record's first address
  // (src; dst with --ip-key dst): it counts the record, its protocol and that address. kAlso:
  // (--ip-key host) the dst belongs to the same shard. kSecondary: only the dst is this shard's.
  static constexpr uint32_t kPrimary = 0, kAlso = 1, kSecondary = 2;
  static constexpr core::TimeMs kNoTime = INT64_MIN;

  // Records this shard counted per pane since the last call (each record counts in exactly one
  // shard: the owner of its protocol). Clears the list.
  void take_pane_counts(std::vector<std::pair<int64_t, uint64_t>>& out);

  // The sums of pane `index`, to be filled with sums computed elsewhere (`netpulse merge` adds
  // up the panes that Kafka instances published). REQUIRES: no window moved over this pane yet.
  KeySums& pane_sums(int64_t index);

  // Makes the window aggregate cover panes [lo, hi), adding and subtracting whole panes.
  void move_window(int64_t lo, int64_t hi);
  const WindowAggregate& window() const { return window_; }

  // Drops panes below `bound` that the window no longer covers.
  void evict_before(int64_t bound);

  size_t pane_count() const { return panes_.size(); }
  size_t memory_bytes() const;

 private:
  struct Pane {
    KeySums sums;
    int64_t index = 0;
    uint64_t round_records = 0;
  };

  Pane& pane_for(core::TimeMs t);
  void add_ip(Pane& pane, const core::IpAddr& ip, uint32_t bytes);
  void add_primary(Pane& pane, const core::FlowRecord& r, bool dst_here);
  uint64_t consume_in_order(const Input& in);
  uint64_t consume_routed(const Input& in);
  void fold(const Pane& pane, bool add);
  void fold_range(int64_t lo, int64_t hi, bool add);

  uint32_t index_;
  uint32_t shards_;
  int64_t unit_ms_;
  int64_t lateness_ms_;
  IpKey ip_key_;

  std::map<int64_t, Pane> panes_;
  Pane* cur_ = nullptr;
  core::TimeMs cur_start_ = 0, cur_end_ = 0;
  std::vector<Pane*> touched_;
  size_t last_pane_ip_keys_ = 0;

  WindowAggregate window_;
  bool has_window_ = false;
  int64_t lo_ = 0, hi_ = 0;
};

}  // namespace netpulse::engine
