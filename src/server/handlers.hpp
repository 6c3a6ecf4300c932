// The HTTP API's routes (docs/server.md) and the WebSocket's control messages, over the
// control plane, the results store, the status board and the metrics registry. The handlers
// hold references only; all the objects they use are thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "server/control_api.hpp"
#include "server/history_api.hpp"
#include "server/metrics.hpp"
#include "server/results_api.hpp"
#include "server/routes.hpp"
#include "server/static_files.hpp"
#include "server/status_board.hpp"

namespace netpulse::server {

struct ApiServices {
  ControlApi& control;
  ResultsApi& results;
  StatusBoard& status;
  MetricsRegistry& metrics;
  const StaticFiles* files = nullptr;  // the dashboard; null: none
  HistoryApi* history = nullptr;       // the traffic history; null: no routes
};

// Adds every route: /api/results/..., /api/alerts, /api/history, /api/top, /api/series,
// /api/sankey, /api/status, /api/processor/..., /api/generator/..., /metrics, and the
// dashboard's files as the fallback.
void add_routes(Routes& routes, ApiServices& api);

// One WebSocket text message from a client: {"action":"processor.params","params":{...},
// "id":7}, processor.start|stop, generator.params, generator.start|stop, status, auth. Returns
// the reply message ({"type":"reply",...}). `authorized` says whether the client gave the
// token; an "auth" message with the right token sets it.
std::string handle_ws_message(std::string_view text, bool& authorized, const Routes& routes,
                              ApiServices& api);

}  // namespace netpulse::server
