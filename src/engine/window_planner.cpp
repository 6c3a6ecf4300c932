#include "engine/window_planner.hpp"

#include <algorithm>

#include "core/time.hpp"

namespace netpulse::engine {

void WindowPlanner::plan(std::optional<int64_t> complete_below, const QueryParams& params,
                         std::vector<PlannedWindow>& out) {
  if (pane_records_.empty()) return;
  const int64_t S = slide_;
  const int64_t T = params.T;
  const bool flush = !complete_below.has_value();
  const int64_t limit = flush ? std::numeric_limits<int64_t>::max() : *complete_below;
  // Windows ending after `limit` are not final: a record at or above the watermark may still
  // arrive in them. Skipping never jumps past the first of them (at the end of input, all are
  // final).
  const int64_t first_open =
      flush ? std::numeric_limits<int64_t>::max() : core::floor_div(limit, S) * S + S;
  const auto skip_to = [&](int64_t pane) {
    return std::min(core::floor_div(pane, S) * S + S, first_open);
  };
  if (!has_next_end_) {
    // Until a window is emitted, an accepted record may still land before the earliest pane
    // held so far: start again from the earliest pane every time, but never at a window that
    // an earlier call already found final (and empty): T may have grown since, and a window is
    // decided once, with the parameters of the moment it became final.
    next_end_ = skip_to(pane_records_.begin()->first);
    if (has_decided_ && next_end_ <= decided_end_) next_end_ = decided_end_ + S;
  }
  while (next_end_ <= limit) {
    auto it = pane_records_.lower_bound(next_end_ - T);
    if (it == pane_records_.end()) break;
    if (it->first < next_end_) {
      out.push_back(PlannedWindow{next_end_ - T, next_end_, params});
      has_next_end_ = true;
      next_end_ += S;
    } else {
      next_end_ = skip_to(it->first);  // no record before it: skip ahead
    }
  }
  if (!flush) {
    // Every window ending at or before the limit has been emitted or found empty.
    const int64_t decided = core::floor_div(limit, S) * S;
    if (!has_decided_ || decided > decided_end_) decided_end_ = decided;
    has_decided_ = true;
  }
  evict_bound_ = next_end_ - max_window_;
  pane_records_.erase(pane_records_.begin(), pane_records_.lower_bound(evict_bound_));
}

}  // namespace netpulse::engine
