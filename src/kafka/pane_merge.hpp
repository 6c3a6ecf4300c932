// The heart of `netpulse merge`: adds up the panes that Kafka instances published for every
// partition of the source topic and, once every partition has completed a pane (the watermark
// is the minimum over partitions; idle partitions do not count, ended ones are complete), runs
// the same window planner, window aggregation and queries as the in-process engine on them.
// Integer sums throughout, so the results equal one process's, whatever the partitioning.
// When an instance's memory budget summarized a partition's pane (a flood of addresses), the
// merged pane is summarized too (floors and sketches combined, see merge_summaries) and the
// windows that hold it say "approximate", as in one process under its budget.
// Pure (no Kafka calls), so it is tested on its own. Not thread-safe: one owner.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/protocol_table.hpp"
#include "engine/params.hpp"
#include "engine/window_planner.hpp"
#include "engine/window_queries.hpp"
#include "engine/window_shard.hpp"
#include "kafka/pane_codec.hpp"

namespace netpulse::kafka {

struct MergeCounters {
  std::atomic<uint64_t> pane_messages{0};
  std::atomic<uint64_t> sample_messages{0};
  std::atomic<uint64_t> marks{0};
  std::atomic<uint64_t> records{0};   // accepted records in the panes folded
  std::atomic<uint64_t> ignored{0};   // panes of windows already emitted (replays, or late after idleness)
  std::atomic<uint64_t> rejected{0};  // messages that do not fit (another source, unit, ...)
  std::atomic<uint64_t> windows{0};
  std::atomic<int64_t> watermark_ms{INT64_MIN};
};

// What merge knows of each source partition, for `merge --web`'s cluster view: who publishes
// it, how far it is complete, how far it has been merged, and how far it lags behind the
// newest pane any partition has published. Times are ms since the epoch (panes by their start).
struct PartitionView {
  enum class State { kUnknown, kActive, kIdle, kEnded };
  int32_t partition = 0;
  State state = State::kUnknown;
  std::string owner;                          // the instance that published for it last
  std::optional<int64_t> complete_below_ms;   // its instance's last complete-below mark
  std::optional<int64_t> newest_pane_ms;      // the newest pane it published
  std::optional<int64_t> merged_pane_ms;      // the newest of its panes folded into windows
  std::optional<int64_t> last_message_ms;     // wall clock of its last message
};
struct ClusterView {
  std::optional<SourceInfo> source;           // none before the first message
  std::optional<int64_t> merged_below_ms;     // every pane below is in the windows
  std::optional<int64_t> newest_pane_ms;      // the newest pane over all partitions
  std::vector<PartitionView> partitions;
};
std::string_view to_string(PartitionView::State s);

// A folded pane's conversation samples, one per partition that published it (kafka/
// pane_codec.hpp's sample messages), protocol ids in the merge's table. `complete`: every
// partition that published the pane published its sample (instances that keep none, or an
// older version, do not), so estimates from them cover the whole pane.
struct PaneSamples {
  std::vector<engine::HistoryChunk> parts;
  bool complete = true;
};

// Sees the merged panes (traffic history: app/history_recorder.hpp's PaneHistory): each pane
// once it is folded, with its sums over all partitions (exact, or summarized under the memory
// budget) and its samples, then the time below which every pane has been folded. Called on the
// merge's thread.
class PaneObserver {
 public:
  virtual ~PaneObserver() = default;
  virtual void pane(int64_t start_ms, const engine::KeySums& sums, PaneSamples&& samples) = 0;
  // INT64_MAX at the end of the input.
  virtual void complete_below(int64_t ms) = 0;
};

class PaneMerge {
 public:
  PaneMerge(const engine::EngineConfig& config, engine::EngineControl& control,
            core::ProtocolTable& protocols, engine::WindowQueries& queries);

  // Takes one message; `owner` names the instance that published it (a message header), if
  // known. Returns why it was rejected (counted; nothing changes).
  std::optional<std::string> accept(Decoded&& message, std::string_view owner = {});
  // Folds every pane all partitions have completed and emits the windows that became final.
  void advance();
  // The input is over: folds and emits everything.
  void finish();

  // Call before the first message; null: none.
  void observe(PaneObserver* observer) { observer_ = observer; }

  // Every partition of the source has said it ended.
  bool all_ended() const;
  const MergeCounters& counters() const { return counters_; }
  const std::optional<SourceInfo>& source() const { return source_; }
  // A copy of the cluster view. The only call that is thread-safe: a web thread may make it
  // while the owner merges.
  ClusterView cluster() const;

 private:
  enum class State { kUnknown, kActive, kIdle, kEnd };
  struct Partition {
    State state = State::kUnknown;
    int64_t complete_below = INT64_MIN;
    // For the cluster view only.
    std::string owner;
    int64_t newest_pane = INT64_MIN;
    int64_t merged_pane = INT64_MIN;
    int64_t last_message_ms = INT64_MIN;
  };
  struct Pending {
    std::vector<std::optional<PaneChunk>> chunks;
    std::vector<std::optional<SampleChunk>> samples;
  };
  PaneSamples samples_of(std::map<int32_t, Pending>& parts, int64_t pane);

  std::optional<std::string> check_source(const SourceInfo& s);
  static void merge_summaries(const std::map<int32_t, Pending>& parts, engine::KeySums& sums);
  void fold_below(int64_t bound);
  void emit(std::optional<int64_t> complete_below);

  void saw(int32_t partition, std::string_view owner);

  engine::EngineConfig config_;
  engine::EngineControl& control_;
  core::ProtocolTable& protocols_;
  engine::WindowQueries& queries_;
  std::optional<SourceInfo> source_;
  std::vector<Partition> partitions_;
  std::map<int64_t, std::map<int32_t, Pending>> pending_;
  std::optional<int64_t> folded_below_;
  std::unique_ptr<engine::WindowShard> shard_;
  engine::WindowPlanner planner_;
  std::vector<engine::PlannedWindow> windows_;
  MergeCounters counters_;
  // Guards what cluster() reads: source_, partitions_, folded_below_ and newest_pane_, written
  // by the owner only (so the owner reads them without it).
  PaneObserver* observer_ = nullptr;
  mutable std::mutex view_mu_;
  int64_t newest_pane_ = INT64_MIN;
};

}  // namespace netpulse::kafka
