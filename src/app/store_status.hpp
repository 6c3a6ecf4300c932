// The StoreWriter's figures for /metrics and /api/status: queue depth (the store's lag),
// results written, errors. Reads StoreWriter::stats(), which is thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include "server/metrics.hpp"
#include "store/store_writer.hpp"

namespace netpulse::app {

// netpulse_store_queue_depth, netpulse_store_results_written_total, ...
void register_store_metrics(server::MetricsRegistry& registry, const store::StoreWriter& writer);
// {"uri":...,"queue_depth":...,"capacity":...,"results_written":...,...}
nlohmann::json store_status(const store::StoreWriter& writer);

}  // namespace netpulse::app
