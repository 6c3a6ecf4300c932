// Packet capture as operators watch it: its part of /api/status (packets, IP bytes, what was
// skipped and why, records labelled by a guess, flows tracked, evicted and timed out, the
// kernel's drops) and its netpulse_capture_* series in /metrics, labelled by input.
// Thread-safe (reads the capture's snapshot).
#pragma once

#include <nlohmann/json.hpp>

#include "capture/capture.hpp"
#include "server/metrics.hpp"

namespace netpulse::app {

nlohmann::json capture_status(const capture::CaptureStats& s);

// Registers netpulse_capture_* families. REQUIRES: capture outlives the registry's use.
void register_capture_metrics(server::MetricsRegistry& registry, const capture::Capture& capture);

}  // namespace netpulse::app
