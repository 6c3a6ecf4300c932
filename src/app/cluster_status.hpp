// A scaled-out cluster as `netpulse merge --web` shows it: its part of /api/status (per source
// partition: the instance that owns it, its state, how far it is complete and merged, how far
// it lags behind the newest pane) and its /metrics series. Thread-safe (reads
// kafka::PaneMerge::cluster(), a copy made under the merge's lock).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include "kafka/pane_merge.hpp"
#include "server/metrics.hpp"

namespace netpulse::app {

// {"source": {...} | null, "merged_below": ISO | null, "newest_pane": ISO | null,
//  "instances": [{"name", "partitions": [..]}], "partitions": [{"partition", "owner", "state",
//  "complete_below", "newest_pane", "last_merged_pane", "lag_seconds",
//  "last_message_age_seconds"}]}. now_ms: the wall clock, for the ages.
nlohmann::json cluster_status(const kafka::ClusterView& view, int64_t now_ms);

// How far a partition lags, in seconds: from the end of the newest pane any partition has
// published down to what its instance has marked complete. 0 for an idle or ended partition
// (nothing of it is pending); none while its state or bound is unknown.
std::optional<double> lag_seconds(const kafka::ClusterView& view, const kafka::PartitionView& p);

// netpulse_records_total, netpulse_windows_total, netpulse_watermark_seconds (what the status
// board reads, from the merge's counters), netpulse_merge_* counters, and per partition
// netpulse_merge_partition_lag_seconds{partition="N"}. REQUIRES: merge outlives the registry's use.
void register_merge_metrics(server::MetricsRegistry& registry, const kafka::PaneMerge& merge);

}  // namespace netpulse::app
