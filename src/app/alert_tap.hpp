// Runs the flow detector (detect::FlowDetector: DoS, port scan, brute force) beside the engine in
// `netpulse run`: the generator feed hands it every block the engine reads (shared, not copied),
// its own thread parses the lines and feeds the detector, and each alert goes to a callback
// (FanoutSink::emit_alert: store, WebSocket, dashboard). It never slows the engine: when the
// detector is a whole queue behind, blocks are skipped and counted. offer() is called from one
// thread (the engine's); the counters may be read from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "detect/flow_detector.hpp"
#include "ingest/block_source.hpp"
#include "server/metrics.hpp"
#include "store/store.hpp"

namespace netpulse::app {

class AlertTap {
 public:
  using AlertHandler = std::function<void(store::Alert)>;

  // max_queued_bytes: the detector's backlog; past it blocks are skipped (the memory budget
  // sets it, and config.max_keys, from --memory-limit).
  explicit AlertTap(AlertHandler on_alert, detect::FlowDetectorConfig config = {},
                    size_t max_queued_bytes = size_t{256} << 20);
  ~AlertTap();
  AlertTap(const AlertTap&) = delete;
  AlertTap& operator=(const AlertTap&) = delete;

  void offer(const ingest::Block& block);
  // Processes what is queued, runs the rules on the windows still open, and joins the thread.
  void stop();

  uint64_t records() const { return records_.load(); }
  uint64_t alerts() const { return alerts_.load(); }
  uint64_t skipped_blocks() const { return skipped_.load(); }

  // netpulse_detector_records_total, netpulse_detector_skipped_blocks_total.
  void register_metrics(server::MetricsRegistry& registry);

 private:
  void run();

  AlertHandler on_alert_;
  detect::FlowDetectorConfig config_;
  size_t max_queued_;
  size_t queued_bytes_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ingest::Block> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> records_{0}, alerts_{0}, skipped_{0};
  std::thread thread_;  // last: starts after the members above exist
};

}  // namespace netpulse::app
