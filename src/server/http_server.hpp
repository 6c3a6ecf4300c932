// The HTTP and WebSocket server (Boost.Beast): reads requests with a body limit, hands them to
// the routes, writes the replies (keep-alive); upgrades GET /ws to a WebSocket that joins the
// hub and passes the client's text messages to a handler. A timer calls `tick` every second
// (the status push). Runs on its own threads; start() returns once it listens. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/metrics.hpp"
#include "server/routes.hpp"
#include "server/ws_hub.hpp"

namespace netpulse::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;                // 0: any free port
  size_t body_limit = 1 << 20;         // larger bodies get 413
  size_t header_limit = 16 << 10;      // larger headers get 431
  size_t ws_message_limit = 64 << 10;  // larger WebSocket messages close the connection
  size_t ws_queue_limit = 8192;        // messages queued for a slow client before it is dropped
  int threads = 2;
  std::chrono::milliseconds tick_period{1000};
  std::chrono::seconds idle_timeout{60};  // an HTTP connection with no request for this long
};

class HttpServer {
 public:
  // A text message from a WebSocket client; returns the reply. `authorized` is whether the
  // client showed the token (on the upgrade request or with an "auth" message).
  using WsHandler = std::function<std::string(std::string_view text, bool& authorized)>;
  using Tick = std::function<void()>;

  // Returns nullptr with a one-line reason naming the address when it cannot listen.
  static std::unique_ptr<HttpServer> start(const HttpServerOptions& options, const Routes& routes,
                                           WsHub& hub, WsHandler on_ws_message, Tick tick,
                                           std::string* why);
  virtual ~HttpServer() = default;

  virtual uint16_t port() const = 0;
  // Stops listening, closes every connection and joins the threads. Idempotent.
  virtual void stop() = 0;
  // netpulse_http_requests_total{code="2xx"}, ...
  virtual void register_metrics(MetricsRegistry& registry) = 0;
};

}  // namespace netpulse::server
