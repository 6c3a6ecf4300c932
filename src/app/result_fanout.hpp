// The sink `netpulse run` and `netpulse process --store/--web` give the queries: each window's
// results go, in window order, to the JSON-lines output (optional), to the store (as six
// StoredResults per window, through the StoreWriter's bounded queue, which blocks the engine
// rather than drop when the store falls behind) and to the WebSocket hub. Detector alerts take
// the same way through emit_alert(). emit()/flush() are called from the engine's thread;
// emit_alert() from any thread; the counters may be read from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "query/result.hpp"
#include "server/metrics.hpp"
#include "server/ws_hub.hpp"
#include "store/store.hpp"
#include "store/store_writer.hpp"

namespace netpulse::app {

class FanoutSink final : public query::ResultSink {
 public:
  struct Outputs {
    query::ResultSink* json_lines = nullptr;
    // Queues one window's results for the store; may block (back-pressure). Empty: no store.
    std::function<void(std::vector<store::StoredResult>&&)> store_results;
    std::function<void(store::Alert&&)> store_alert;
    server::WsHub* hub = nullptr;
  };

  // Points the store side of `outputs` at `writer`: results and alerts are pushed to it (a push
  // waits while its queue is full, so nothing is dropped). `writer` outlives the sink.
  static void store_to(Outputs& outputs, store::StoreWriter& writer) {
    outputs.store_results = [&writer](std::vector<store::StoredResult>&& rows) {
      for (auto& r : rows) writer.push(std::move(r));
    };
    outputs.store_alert = [&writer](store::Alert&& a) { writer.push(std::move(a)); };
  }

  explicit FanoutSink(Outputs outputs) : out_(std::move(outputs)) {}

  void emit(const query::WindowResult& r) override;
  void flush() override;
  void emit_alert(store::Alert alert);

  uint64_t results() const { return results_.load(); }
  uint64_t windows() const { return windows_.load(); }
  uint64_t alerts() const { return alerts_.load(); }
  // Windows whose address results came from the memory budget's summary (spec section 9).
  uint64_t approximate_windows() const { return approximate_windows_.load(); }
  // The latest window's ip epsilon (a fraction of its total bytes); 0 when it was exact.
  double ip_epsilon() const { return ip_epsilon_.load(); }

  // netpulse_results_total, netpulse_result_windows_total, netpulse_alerts_total,
  // netpulse_approximate_windows_total, netpulse_ip_epsilon.
  void register_metrics(server::MetricsRegistry& registry);

 private:
  Outputs out_;
  std::atomic<uint64_t> results_{0};
  std::atomic<uint64_t> windows_{0};
  std::atomic<uint64_t> alerts_{0};
  std::atomic<uint64_t> approximate_windows_{0};
  std::atomic<double> ip_epsilon_{0};
};

}  // namespace netpulse::app
