#include "app/engine_metrics.hpp"

#include <limits>

namespace netpulse::app {

void register_engine_metrics(server::MetricsRegistry& m, const engine::Counters& c) {
  auto counter = [&m](const char* name, const char* help, const std::atomic<uint64_t>& v) {
    m.add(name, help, server::MetricType::kCounter, [&v] { return static_cast<double>(v.load()); });
  };
  counter("netpulse_records_total", "Well-formed flow records read", c.records_read);
  counter("netpulse_accepted_records_total", "Records accepted into windows", c.accepted);
  counter("netpulse_late_records_total", "Records that arrived below the watermark (not counted)",
          c.late);
  counter("netpulse_malformed_records_total", "Input lines that are not a valid record",
          c.malformed);
  counter("netpulse_windows_total", "Windows emitted (each gives one result per query)", c.windows);
  counter("netpulse_input_bytes_total", "Bytes of input read", c.input_bytes);
  m.add("netpulse_watermark_seconds",
        "The watermark: greatest event time accepted minus the lateness", server::MetricType::kGauge, [&c] {
          const int64_t w = c.watermark_ms.load();
          return w == std::numeric_limits<int64_t>::min() ? 0.0 : static_cast<double>(w) / 1000.0;
        });
  m.add("netpulse_panes", "Panes held by the engine", server::MetricType::kGauge,
        [&c] { return static_cast<double>(c.panes.load()); });
  m.add("netpulse_state_bytes", "Memory held by the engine's window state", server::MetricType::kGauge,
        [&c] { return static_cast<double>(c.state_bytes.load()); });
}

}  // namespace netpulse::app
