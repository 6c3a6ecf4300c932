// The web front end of one process, assembled: the control plane, the results API over its
// own store connection, the status board, the dashboard's files, the routes and the server,
// with the status pushed to WebSocket clients every second. `netpulse run` and
// `netpulse process --web` start one. Thread-safe once started.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "engine/params.hpp"
#include "generate/generator.hpp"
#include "server/control_api.hpp"
#include "server/handlers.hpp"
#include "server/history_api.hpp"
#include "server/http_server.hpp"
#include "server/metrics.hpp"
#include "server/results_api.hpp"
#include "server/routes.hpp"
#include "server/static_files.hpp"
#include "server/status_board.hpp"
#include "server/ws_hub.hpp"
#include "store/store.hpp"

namespace netpulse::server {

inline constexpr std::string_view kDefaultWebAddress = "127.0.0.1:8080";

// "HOST:PORT" ("[::1]:8080" for IPv6). Returns nullopt with a reason.
std::optional<std::pair<std::string, uint16_t>> parse_host_port(std::string_view text,
                                                                std::string* why);

struct WebOptions {
  std::string address = std::string(kDefaultWebAddress);  // HOST:PORT (port 0: any free one)
  std::string token;                                      // empty: control endpoints are open
  std::string web_root;                                   // empty: found near the executable
  int threads = 2;
  size_t body_limit = 1 << 20;
};

struct WebParts {
  engine::EngineControl* processor = nullptr;
  generate::Generator* generator = nullptr;
  std::unique_ptr<store::Store> store;           // the API's own connection; may be null
  std::function<nlohmann::json()> store_status;  // the writer's queue, for the status
  // A live input's figures, as an object merged into /api/status: {"collector": {...}} for
  // netflow:// and sflow://, {"capture": {...}} for pcap: and pcap-live:.
  std::function<nlohmann::json()> input_status;
  // POST /api/alerts/test (token): sends a test alert to every alert endpoint, or to the one
  // named or numbered by `which` (?endpoint= or {"endpoint":...}; empty: all). Absent: no route.
  std::function<ApiResult(const std::string& which)> alerts_test;
  // The history API's own connection (/api/history, /api/top, ...); null: those answer 503.
  std::unique_ptr<store::Store> history_store;
  // The history settings for GET /api/history (HistoryApi::InfoSource); absent: not enabled.
  std::function<nlohmann::json()> history_info;
};

class WebApp {
 public:
  // Listens and serves. Returns nullptr with a one-line reason when it cannot listen;
  // *notice gets a line worth printing when the dashboard files or the chart library are
  // missing (the API works without them).
  static std::unique_ptr<WebApp> start(const WebOptions& options, WebParts parts,
                                       MetricsRegistry& metrics, WsHub& hub, std::string* why,
                                       std::string* notice);
  ~WebApp();

  uint16_t port() const { return server_->port(); }
  std::string url() const;
  void stop();

 private:
  WebApp(const WebOptions& options, WebParts parts, MetricsRegistry& metrics, WsHub& hub);

  std::string host_;
  MetricsRegistry& metrics_;
  WsHub& hub_;
  ControlApi control_;
  ResultsApi results_;
  HistoryApi history_;
  StatusBoard status_;
  StaticFiles files_;
  bool has_files_ = false;
  Routes routes_;
  std::unique_ptr<ApiServices> api_;
  std::function<ApiResult(const std::string&)> alerts_test_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace netpulse::server
