// Where a running system's results and alerts go, and what serves them: the composition that
// `netpulse run`, `process --store/--web` and `merge --store/--web` share. From the queries'
// sink, each window's results go to the command's own output (JSON lines or Kafka, optional),
// to the store (through the StoreWriter's bounded queue: back-pressure, never a drop) and to
// the WebSocket hub; the web front (HTTP API, WebSocket, dashboard, /metrics) serves them over
// the store's second connection. Detector alerts take the same way, and also go to the alert
// endpoints (--alert-webhook, --alert-syslog: AlertRouter); the threshold rules (--alert-rule)
// read every window's results and raise alerts of their own (detector "rule").
//
//   queries ──▶ FanoutSink ──┬─▶ --output (JSON lines / Kafka)
//   detectors ──▶ emit_alert ├─▶ StoreWriter ──▶ SQLite | PostgreSQL ◀── WebApp (API)
//                            └─▶ WsHub ─────────────────────────────────▶ WebApp (WebSocket)
//
// The owner builds it, wires the engine to sink(), adds its own parts to the web front with
// start_web(), and ends with flush() then close(). Not copyable; sink() and emit_alert() are
// called from the engine's and the detectors' threads as FanoutSink allows.
#pragma once

#include <memory>
#include <string>

#include "app/alert_endpoints.hpp"
#include "app/alert_router.hpp"
#include "app/alert_rules.hpp"
#include "app/history_recorder.hpp"
#include "app/result_fanout.hpp"
#include "engine/pipeline.hpp"
#include "query/result.hpp"
#include "server/metrics.hpp"
#include "server/web_app.hpp"
#include "server/ws_hub.hpp"
#include "store/store.hpp"
#include "store/store_writer.hpp"

namespace netpulse::app {

// Traffic history in the store (issue 17; store/history.hpp): what --history-keys,
// --retention and --retention-size set.
struct HistorySettings {
  static constexpr size_t kDefaultKeys = 10000;
  size_t keys = kDefaultKeys;  // top keys per bucket and dimension; 0: no history
  // About the records a busy minute's source, destination and conversation sums are estimated
  // from, a threshold sample (engine/history_accumulator.hpp); 0: every record, exactly.
  static constexpr size_t kDefaultSample = 5'000;
  size_t sample = kDefaultSample;
  // Per resolution (minute, hour, day): age kept (event time) and size kept; 0: no limit.
  int64_t retention_ms[3] = {int64_t{7} * 86'400'000, int64_t{90} * 86'400'000,
                             int64_t{730} * 86'400'000};
  uint64_t retention_bytes[3] = {0, 0, 0};
  std::string origin;  // the writer's name in the buckets ("" for one writer)
};

struct OutputOptions {
  query::ResultSink* output = nullptr;  // the command's --output, if any
  std::string store;                    // --store URI; empty: none
  std::string web;                      // --web HOST:PORT; empty: no web front
  std::string token;                    // --token; empty: $NETPULSE_TOKEN, else none
  std::string web_root;                 // --web-root; empty: found near the executable
  int web_threads = 2;
  std::vector<EndpointSpec> alert_endpoints;  // --alert-webhook, --alert-syslog
  std::vector<AlertRule> alert_rules;         // --alert-rule
  HistorySettings history;                    // with a store
};

class Outputs {
 public:
  // Opens the store (the writer's connection, and the API's when there is a web front).
  // Returns nullptr with a one-line reason when the store cannot be opened.
  static std::unique_ptr<Outputs> open(const OutputOptions& options, std::string* why);
  ~Outputs();
  Outputs(const Outputs&) = delete;
  Outputs& operator=(const Outputs&) = delete;

  // What the queries write to: the fan-out when there is a store or a web front, else the
  // output itself (nothing in between on the plain path).
  query::ResultSink& sink();
  // To the store, the WebSocket and the alert endpoints. Any thread.
  void emit_alert(store::Alert alert);
  // The alert endpoints; null when there are none.
  AlertRouter* alert_router() { return router_.get(); }

  server::MetricsRegistry& metrics() { return metrics_; }
  server::WsHub& hub() { return hub_; }
  store::StoreWriter* writer() { return writer_.get(); }
  const FanoutSink& fanout() const { return fanout_; }
  bool has_web() const { return !options_.web.empty(); }

  // With a store and --history-keys > 0: records the engine's traffic history (the pipeline's
  // finished minutes, through a HistoryRecorder, into the store writer). Call before the
  // pipeline runs; flush() then stores every minute the pipeline finished. memory_limit: the
  // engine's budget (0: none); a minute's conversations take at most 1/32 of it.
  void record_history(engine::Pipeline& pipeline, const core::ProtocolTable& protocols,
                      uint64_t memory_limit);
  HistoryRecorder* history() { return history_.get(); }
  const PaneHistory* pane_history() const { return pane_history_.get(); }
  // The same for `merge`: protocol and address history from the merged panes (PaneHistory).
  void record_history(kafka::PaneMerge& merge, const core::ProtocolTable& protocols);

  // Starts the web front, if --web was given (else does nothing and returns true): `parts`
  // brings the command's own (the control plane, the generator, a live input's status); the
  // store's are added here. False with a reason when it cannot listen; *notice gets a line
  // worth printing when the dashboard files are missing.
  bool start_web(server::WebParts parts, std::string* why, std::string* notice);
  // The web front's URL ("http://127.0.0.1:8080/"), with "#token=..." when a token is required
  // (the dashboard reads it from there). Empty without a web front.
  std::string dashboard_url() const;

  // Every result and alert emitted so far handed on, and the store's queue drained (the alert
  // endpoints keep delivering until close()).
  void flush();
  // Delivers what the alert endpoints hold (for up to 10 s), stops the web front and closes
  // the store (idempotent; waits until every result pushed is stored, as StoreWriter::close
  // does).
  void close();

 private:
  Outputs(const OutputOptions& options, std::unique_ptr<store::Store> writer_store,
          std::unique_ptr<store::Store> api_store);
  static store::StoreWriter::Options writer_options(const OutputOptions& o, Outputs* self);
  // Where results go after the rules: the fan-out, or the output itself on the plain path.
  query::ResultSink& results_sink();

  OutputOptions options_;
  server::MetricsRegistry metrics_;
  server::WsHub hub_;
  std::unique_ptr<store::StoreWriter> writer_;
  std::unique_ptr<store::Store> api_store_;
  FanoutSink fanout_;
  std::unique_ptr<AlertRouter> router_;
  std::unique_ptr<RuleSink> rules_;  // in front of the fan-out or the output, when rules are given
  std::unique_ptr<server::WebApp> web_;
  std::unique_ptr<HistoryRecorder> history_;
  std::unique_ptr<PaneHistory> pane_history_;
  bool closed_ = false;
};

}  // namespace netpulse::app
