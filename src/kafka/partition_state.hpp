// One source partition's part of `netpulse process` on Kafka: lateness against the partition's
// own running maximum, accepted records summed per pane, and the checkpoint that makes a
// restart exact. Pure (no Kafka calls), so it is tested on its own. Not thread-safe.
//
// Why a restart is exact: the committed offset is the first offset of the earliest pane not yet
// published, and the checkpoint stored with it (Kafka commit metadata) holds the running
// maximum just before that record and the bound below which every pane was published. Replaying
// from there decides lateness exactly as before, skips records of published panes, and rebuilds
// every unpublished pane from all of its records (they all lie at or after the offset), so the
// panes published again are the same, byte for byte (see pane_codec.hpp).
//
// Under --memory-limit a pane's address table is bounded like an engine pane's (spec section 9,
// README "Memory budget"): once it reaches its limit (partition_budget()) it becomes a
// Misra-Gries summary of m addresses through engine::PaneSummarizer, and it is published trimmed
// to m addresses with its floor and sketches (pane_codec.hpp). The limit depends only on the
// configuration and the topic's partition count, so a replay summarizes exactly as before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/flow_record.hpp"
#include "engine/history_accumulator.hpp"
#include "engine/params.hpp"
#include "engine/window_shard.hpp"

namespace netpulse::kafka {

struct Checkpoint {
  int64_t offset = -1;           // the next offset to read; -1: none committed
  std::optional<int64_t> max;    // greatest event time before `offset` (ms)
  std::optional<int64_t> published;  // every pane below this is published

  std::string encode() const;  // "netpulse-checkpoint 1 max=MS|none published=PANE|none"
  static std::optional<Checkpoint> decode(int64_t offset, std::string_view metadata);
};

// What the memory budget allows each pane of one source partition: m (summary_keys) as the
// engine's budget_for(config, 1) gives it (an instance has the default --max-window, so m is
// what a merge with the same --memory-limit and that --max-window keeps); the open limit is
// the engine's open_keys shared by all `partitions` of the topic (an instance may be assigned
// every one), and at least 2m (a summarized pane's table holds up to 2m). bytes == 0:
// unbounded, every pane exact.
engine::ShardBudget partition_budget(const engine::EngineConfig& config, int32_t partitions);

// The conversation sample each pane keeps (engine::HistoryLog::sample), from the sample a
// minute of history is to have (`process --history-sample`): spread over the minute's panes,
// at least 32 a pane; 0 (exact: every record) stays 0. Over the panes of a minute the
// threshold is then about the minute's bytes / K, as in one process; P partitions have P
// samples, so merge's estimates are if anything closer.
size_t pane_sample(size_t per_minute, int64_t unit_ms);
inline constexpr size_t kNoSample = SIZE_MAX;

class PartitionState {
 public:
  // budget: see partition_budget(); the default is unbounded (exact panes).
  // sample: each pane's conversation sample (pane_sample()), kNoSample: none.
  PartitionState(const engine::EngineConfig& config, const Checkpoint& from,
                 const engine::ShardBudget& budget = {}, size_t sample = kNoSample);

  enum class Outcome { kAccepted, kLate, kPublished };
  // The record at `offset`. kPublished: its pane was published before a restart (skipped).
  Outcome add(int64_t offset, const core::FlowRecord& r);
  // A message that is not a record (malformed): only moves the position on.
  void skip(int64_t offset) { next_offset_ = offset + 1; }

  // Panes below the watermark (max - lateness, in units) are complete: no accepted record can
  // land in them any more. Moves them to `out` in order and returns the new bound, or nullopt
  // when it did not move. A summarized pane comes out with at most m addresses. With a
  // sample, each pane's goes to `samples` (when given), in the same order.
  using Samples = std::vector<std::pair<int64_t, engine::HistoryChunk>>;
  std::optional<int64_t> take_complete(std::vector<std::pair<int64_t, engine::KeySums>>& out,
                                       Samples* samples = nullptr);
  // End of the partition's input: every pane is complete.
  void take_all(std::vector<std::pair<int64_t, engine::KeySums>>& out, Samples* samples = nullptr);

  // What to commit now (call after the taken panes are delivered).
  Checkpoint checkpoint() const;


 private:
  struct Pane {
    engine::KeySums sums;
    engine::HistoryChunk sample;  // with a sample: its candidates
    int64_t first_offset;
    std::optional<int64_t> max_before;  // running maximum just before first_offset
  };

  int64_t unit_ms_;
  int64_t lateness_ms_;
  engine::IpKey ip_key_;
  std::optional<int64_t> max_;
  std::optional<int64_t> published_;
  int64_t next_offset_ = -1;
  std::map<int64_t, Pane> panes_;
  Pane* cur_ = nullptr;
  int64_t cur_index_ = 0;
  size_t ip_limit_ = SIZE_MAX;  // a new pane's KeySums::ip_limit
  engine::PaneSummarizer summarizer_;
  size_t sample_;
};

}  // namespace netpulse::kafka
