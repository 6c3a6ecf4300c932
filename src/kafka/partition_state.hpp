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
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/flow_record.hpp"
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

class PartitionState {
 public:
  PartitionState(const engine::EngineConfig& config, const Checkpoint& from);

  enum class Outcome { kAccepted, kLate, kPublished };
  // The record at `offset`. kPublished: its pane was published before a restart (skipped).
  Outcome add(int64_t offset, const core::FlowRecord& r);
  // A message that is not a record (malformed): only moves the position on.
  void skip(int64_t offset) { next_offset_ = offset + 1; }

  // Panes below the watermark (max - lateness, in units) are complete: no accepted record can
  // land in them any more. Moves them to `out` in order and returns the new bound, or nullopt
  // when it did not move.
  std::optional<int64_t> take_complete(std::vector<std::pair<int64_t, engine::KeySums>>& out);
  // End of the partition's input: every pane is complete.
  void take_all(std::vector<std::pair<int64_t, engine::KeySums>>& out);

  // What to commit now (call after the taken panes are delivered).
  Checkpoint checkpoint() const;


 private:
  struct Pane {
    engine::KeySums sums;
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
};

}  // namespace netpulse::kafka
