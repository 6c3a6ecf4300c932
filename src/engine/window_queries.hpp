// The seam between the engine and the queries: when a window is final, the pipeline hands its
// global statistics to prepare() (one thread), lets every shard select its candidate rows in
// parallel with select(), and then calls finish() (one thread) to merge and emit. Windows are
// finished in order, but finish() of window i may come after prepare() of window i + 1 and run
// while the shards select window i + 1 (each window's `slot` keeps the two windows' selections
// apart); finish() calls never overlap one another, prepare() or flush(). The engine stage
// defines it; the query stage implements it.
#pragma once

#include <cstddef>

#include "core/time.hpp"
#include "engine/params.hpp"
#include "engine/window_shard.hpp"

namespace netpulse::engine {

struct WindowInfo {
  core::TimeMs start = 0;  // window_start, ms
  core::TimeMs end = 0;    // window_end, ms
  QueryParams params;
  uint64_t records = 0;
  DimStats protocol;       // over protocol keys; protocol.s1 is total bytes
  DimStats ip;             // over address keys (estimated when ip_approximate)
  size_t shards = 1;
  // The memory budget summarized some of the window's addresses (spec section 9): the shards
  // list upper bounds, each at most ip_error_bytes above the truth.
  bool ip_approximate = false;
  uint64_t ip_error_bytes = 0;
  // Which of two sets of selections this window's use (0 or 1, alternating): the engine may
  // finish window i while the shards select window i + 1 (Pipeline, several threads).
  size_t slot = 0;
};

class WindowQueries {
 public:
  virtual ~WindowQueries() = default;
  virtual void prepare(const WindowInfo& info) = 0;
  // Called concurrently, once per shard, between prepare() and finish(). Non-const: a shard
  // keeps its candidate keys up to date as queries read them. Keep no reference into the shard
  // past the call: the shard moves on to the next window before finish() runs.
  virtual void select(size_t shard, WindowShard& window) = 0;
  virtual void finish(const WindowInfo& info) = 0;
  // End of a round of input: a good moment to flush buffered output.
  virtual void flush() {}
};

}  // namespace netpulse::engine
