// Which windows are final and must be emitted, from the panes that hold accepted records and a
// bound below which every pane is complete. Shared by the in-process pipeline (the bound is its
// watermark) and by `netpulse merge` (the bound is the minimum over the Kafka partitions), so
// both emit exactly the same windows for the same panes. Not thread-safe: one owner.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include "engine/params.hpp"

namespace netpulse::engine {

struct PlannedWindow {
  int64_t lo, hi;  // panes [lo, hi)
  QueryParams params;
};

class WindowPlanner {
 public:
  explicit WindowPlanner(const EngineConfig& config) : slide_(config.slide), max_window_(config.max_window) {}

  // `records` more accepted records in pane `pane`.
  void add(int64_t pane, uint64_t records) { pane_records_[pane] += records; }

  // Appends the windows that are now final, in order, each with `params`. `complete_below`:
  // no accepted record can still arrive in a pane below it (the watermark in units); nullopt at
  // the end of the input, when every window is final. Empty windows are skipped, but never past
  // the first window that is not final yet.
  void plan(std::optional<int64_t> complete_below, const QueryParams& params,
            std::vector<PlannedWindow>& out);

  // Panes below this are no longer needed by any window (the largest T may still grow to
  // max_window); the planner has dropped its own.
  int64_t evict_bound() const { return evict_bound_; }

 private:
  int64_t slide_;
  int64_t max_window_;
  std::map<int64_t, uint64_t> pane_records_;  // accepted records per held pane
  bool has_next_end_ = false;
  int64_t next_end_ = 0;  // next window end to emit, in units
  bool has_decided_ = false;
  int64_t decided_end_ = 0;  // every window ending here or before is final (emitted or empty)
  int64_t evict_bound_ = std::numeric_limits<int64_t>::min();
};

}  // namespace netpulse::engine
