// Runs the flow detectors beside the engine in `netpulse run` and `process --detect`: the input
// hands it every block the engine reads (shared, not copied), its own thread parses the records
// and feeds the hand-written rules (detect::FlowDetector: DoS, port scan, brute force) and the
// NSL-KDD flow models (detect::FlowModelDetector: models/line-*.json and flow-*.json, on the
// features the records give: a collector's or capture's CSV gives more than line records), and
// each alert goes to a callback (Outputs::emit_alert: store, WebSocket, dashboard, alert
// endpoints). On a live input it never slows the engine: when the detectors are a whole queue
// behind, blocks are skipped and counted; on a file it can wait instead
// (Options::wait_when_behind). offer() is called from one thread (the engine's); the counters
// may be read from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "detect/flow_detector.hpp"
#include "detect/flow_model_detector.hpp"
#include "detect/model.hpp"
#include "ingest/block_source.hpp"
#include "ingest/flow_parser.hpp"
#include "server/metrics.hpp"
#include "store/store.hpp"

namespace netpulse::app {

class AlertTap {
 public:
  using AlertHandler = std::function<void(store::Alert)>;

  struct FlowModel {
    std::string name;  // the alerts' detector, e.g. "line-attack"
    detect::Model model;
  };
  struct Options {
    bool rules = true;  // run the hand-written rules
    detect::FlowDetectorConfig rules_config;
    // Models for flows: REQUIRES each one's features come from the records (`kind`; check
    // with check_flow_models), at most detect::kMaxModels.
    std::vector<FlowModel> models;
    detect::FlowModelConfig models_config;
    ingest::Format format = ingest::Format::kLine;
    // What the records give the models: kLine, or with format kCsv the CSV of a collector
    // (kFlowExport: ports, flags, packets and flow times) or of a capture with --records flows
    // (kCapture: also the two directions of a connection joined).
    detect::FlowInputKind kind = detect::FlowInputKind::kLine;
    // The detectors' backlog; past it blocks are skipped (the memory budget sets it), and the
    // models warm up again after the gap.
    size_t max_queued_bytes = size_t{256} << 20;
    // Past the backlog, offer() waits instead of skipping: for inputs that can wait (files),
    // so every record is examined and the engine runs at the detectors' pace.
    bool wait_when_behind = false;
  };

  // Empty when every model can run on the records of `kind`; else why not (the first that
  // cannot).
  static std::string check_flow_models(const std::vector<FlowModel>& models,
                                       detect::FlowInputKind kind = detect::FlowInputKind::kLine);

  AlertTap(AlertHandler on_alert, Options options);
  explicit AlertTap(AlertHandler on_alert) : AlertTap(std::move(on_alert), Options{}) {}
  ~AlertTap();
  AlertTap(const AlertTap&) = delete;
  AlertTap& operator=(const AlertTap&) = delete;

  void offer(const ingest::Block& block);
  // Processes what is queued, runs the rules on the windows still open, and joins the thread.
  void stop();

  uint64_t records() const { return records_.load(); }
  uint64_t alerts() const { return alerts_.load(); }
  uint64_t model_alerts() const { return model_alerts_.load(); }
  uint64_t skipped_blocks() const { return skipped_.load(); }
  // Runs of skipped blocks after which the models warmed up again (<= skipped_blocks()).
  uint64_t gaps() const { return gaps_.load(); }

  // netpulse_detector_records_total, netpulse_detector_skipped_blocks_total,
  // netpulse_detector_alerts_total{detector="rules"|"models"}.
  void register_metrics(server::MetricsRegistry& registry);

 private:
  void run();

  AlertHandler on_alert_;
  Options options_;
  size_t queued_bytes_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;    // a block queued, or stopping
  std::condition_variable room_;  // room in the queue (wait_when_behind)
  struct Queued {
    ingest::Block block;
    bool gap_before = false;  // blocks were skipped just before this one
  };
  std::deque<Queued> queue_;
  bool gap_ = false;  // a block was skipped since the last one queued
  bool stopping_ = false;
  std::atomic<uint64_t> records_{0}, alerts_{0}, model_alerts_{0}, skipped_{0}, gaps_{0};
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace netpulse::app
