// What /api/status, the WebSocket status message and the dashboard show: parameters in force,
// generator state, record counters, records/s, watermark, store queue; numbers come from the
// metrics registry. tick() runs once a second (the server's timer) to measure rates.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>

#include "server/control_api.hpp"
#include "server/metrics.hpp"

namespace netpulse::server {

class StatusBoard {
 public:
  // store_status: the store's part of the status ({"uri":...,"queue_depth":...}), or empty.
  // input_status: a live input's figures as an object merged into the status
  // ({"collector": {"exporters": [...], ...}} or {"capture": {...}}), or empty.
  StatusBoard(MetricsRegistry& metrics, const ControlApi& control,
              std::function<nlohmann::json()> store_status = {},
              std::function<nlohmann::json()> input_status = {});

  // Measures rates since the previous tick.
  void tick();
  nlohmann::json status() const;
  double records_per_second() const;

 private:
  MetricsRegistry& metrics_;
  const ControlApi& control_;
  std::function<nlohmann::json()> store_status_;
  std::function<nlohmann::json()> input_status_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  mutable std::mutex mu_;
  std::chrono::steady_clock::time_point last_tick_ = started_;
  double last_records_ = 0;
  double last_bytes_ = 0;
  double records_per_second_ = 0;
  double bytes_per_second_ = 0;
};

}  // namespace netpulse::server
