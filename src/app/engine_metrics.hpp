// The engine's live counters as /metrics series, which the status board reads for /api/status:
// netpulse_records_total, ..._accepted_records_total, ..._late_records_total, ..._windows_total,
// ..._watermark_seconds, ..._panes, ..._state_bytes. (merge registers its own under the same
// names: app/cluster_status.hpp.)
#pragma once

#include "engine/pipeline.hpp"
#include "server/metrics.hpp"

namespace netpulse::app {

// REQUIRES: counters outlive the registry's use.
void register_engine_metrics(server::MetricsRegistry& registry, const engine::Counters& counters);

}  // namespace netpulse::app
