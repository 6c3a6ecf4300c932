// Runs the NSL-KDD detector models (models/*.json) in `netpulse run --rows`: its own thread reads
// a stream of connection rows, classifies every row with every model exactly as `netpulse
// classify` does (detect::RowClassifier), and hands each alert to a callback as a store::Alert
// (FanoutSink::emit_alert: store, WebSocket, dashboard feed). Malformed rows are counted and the
// first few reported; they never stop the stream. The constructor starts the thread;
// request_stop() may be called from any thread, stop() from one; the counters from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "detect/compiled_model.hpp"
#include "detect/row_classifier.hpp"
#include "ingest/block_source.hpp"
#include "server/metrics.hpp"
#include "store/store.hpp"

namespace netpulse::app {

class RowAlerts {
 public:
  struct Model {
    std::string name;      // the model file's stem, e.g. "dos"
    std::string detector;  // what its alerts are called: "dos"; "dos#2" for a second dos model
    detect::CompiledModel compiled;
    // The columns it reads (detect::features_used): the others are checked, not converted.
    detect::FeatureMask features = detect::kAllFeatures;
  };
  struct Options {
    // > 0: replay at a fixed pace (one row, its alerts delivered, then this pause), as
    // `classify --delay-ms` does.
    std::chrono::milliseconds delay{0};
    size_t path_features = 4;  // deciding-path features in an alert's detail
    // Called on the row thread with one line of text (no "netpulse: " prefix) for each of the
    // first detect::kMalformedShown malformed rows, and for a read error that ended the stream.
    std::function<void(const std::string&)> report;
    // Called on the row thread once, when the stream ends by itself (not after stop()).
    std::function<void(const RowAlerts&)> on_end;
  };
  using AlertHandler = std::function<void(store::Alert)>;

  // REQUIRES: 1 <= models.size() <= detect::kMaxModels.
  RowAlerts(std::unique_ptr<ingest::BlockSource> source, std::vector<Model> models,
            AlertHandler on_alert, Options options);
  ~RowAlerts();
  RowAlerts(const RowAlerts&) = delete;
  RowAlerts& operator=(const RowAlerts&) = delete;

  // Stops reading: the rows already taken from the source are still classified and their
  // alerts delivered (with a delay: up to the row in hand). Does not wait; any thread.
  void request_stop();
  // request_stop(), then waits for the thread to deliver its last alerts and end.
  void stop();
  // Waits up to `timeout` for the stream to end by itself; true if it has.
  bool wait_for_end(std::chrono::milliseconds timeout);

  size_t model_count() const { return compiled_.size(); }
  const std::string& model_name(size_t model) const { return names_[model]; }
  const std::string& detector(size_t model) const { return detectors_[model]; }
  std::string describe() const { return describe_; }  // the source, e.g. "file:rows.txt"
  uint64_t rows() const { return rows_.load(); }      // well-formed rows classified
  uint64_t malformed() const { return malformed_.load(); }
  uint64_t alerts(size_t model) const { return alerts_[model].load(); }
  bool ended() const { return ended_.load(); }
  // A read error that ended the stream early (empty when none). Valid once the thread ended.
  std::string error() const;

  // netpulse_rows_total, netpulse_malformed_rows_total, netpulse_row_alerts_total{detector=...}.
  void register_metrics(server::MetricsRegistry& registry);

 private:
  void run();
  void classify(const char* data, size_t size);
  void deliver(const std::string& out, const detect::ClassifyStats& stats);
  bool pause();  // the replay delay; false when stopping

  std::unique_ptr<ingest::BlockSource> source_;
  const std::vector<detect::CompiledModel> compiled_;  // contiguous, for the classifier
  const std::vector<std::string> names_, detectors_;
  const detect::RowClassifier classifier_;
  AlertHandler on_alert_;
  Options options_;
  std::string describe_;

  uint64_t next_line_ = 1;  // row thread only
  uint64_t shown_ = 0;      // malformed rows reported so far; row thread only
  std::string out_;         // alert lines of one block; row thread only

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string error_;
  std::atomic<bool> ended_{false};
  std::atomic<uint64_t> rows_{0}, malformed_{0};
  std::array<std::atomic<uint64_t>, detect::kMaxModels> alerts_{};
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace netpulse::app
