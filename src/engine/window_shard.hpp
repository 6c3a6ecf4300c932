// One shard of the engine's window state: the panes (one time unit each) and the running
// aggregate of the current window for the keys this shard owns. With --threads N there are N
// shards; a key (protocol or address) belongs to exactly one, chosen by hash, so shards never
// share a key and their per-window statistics add up exactly. Not thread-safe: one owner thread.
#pragma once

#include <cstdint>
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

class WindowShard {
 public:
  WindowShard(uint32_t index, uint32_t shards, const EngineConfig& config);

  // Adds the accepted records of a block that belong to this shard. The block's late records
  // are found here with the running maximum event time (which enters as the maximum over all
  // earlier blocks); every shard sees the same records and so finds the same late ones.
  // Returns the number of late records.
  uint64_t consume(const core::FlowRecord* records, size_t n, core::TimeMs& running_max,
                   bool& has_max);

  // Records this shard counted per pane since the last call (each record counts in exactly one
  // shard: the owner of its protocol). Clears the list.
  void take_pane_counts(std::vector<std::pair<int64_t, uint64_t>>& out);

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
