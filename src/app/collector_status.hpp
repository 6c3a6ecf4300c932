// The flow collector as operators watch it: its part of /api/status (sockets with kernel drops,
// one entry per exporter with datagrams, flows, sequence loss, malformed datagrams and template
// misses) and its /metrics series, labelled by exporter. Thread-safe (reads the collector's
// snapshot).
#pragma once

#include <nlohmann/json.hpp>

#include "collect/collector.hpp"
#include "server/metrics.hpp"

namespace netpulse::app {

nlohmann::json collector_status(const collect::CollectorStats& s);

// Registers netpulse_collector_* families. REQUIRES: collector outlives the registry's use.
void register_collector_metrics(server::MetricsRegistry& registry, const collect::Collector& collector);

}  // namespace netpulse::app
