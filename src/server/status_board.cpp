#include "server/status_board.hpp"

#include <climits>

#include "core/time.hpp"

namespace netpulse::server {

using nlohmann::json;

StatusBoard::StatusBoard(MetricsRegistry& metrics, const ControlApi& control,
                         std::function<json()> store_status, std::function<json()> input_status)
    : metrics_(metrics),
      control_(control),
      store_status_(std::move(store_status)),
      input_status_(std::move(input_status)) {
  metrics_.add("netpulse_records_per_second", "Records read per second, over the last second",
               MetricType::kGauge, [this] { return records_per_second(); });
  metrics_.add(
      "netpulse_uptime_seconds", "Seconds since the process started", MetricType::kGauge, [this] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
      });
}

void StatusBoard::tick() {
  const auto now = std::chrono::steady_clock::now();
  const double records = metrics_.value("netpulse_records_total");
  const double bytes = metrics_.value("netpulse_input_bytes_total");
  std::lock_guard lock(mu_);
  const double dt = std::chrono::duration<double>(now - last_tick_).count();
  if (dt < 0.05) return;
  records_per_second_ = std::max(0.0, records - last_records_) / dt;
  bytes_per_second_ = std::max(0.0, bytes - last_bytes_) / dt;
  last_records_ = records;
  last_bytes_ = bytes;
  last_tick_ = now;
}

double StatusBoard::records_per_second() const {
  std::lock_guard lock(mu_);
  return records_per_second_;
}

json StatusBoard::status() const {
  const auto v = metrics_.values();
  auto get = [&v](const char* name) -> double {
    const auto it = v.find(name);
    return it == v.end() ? 0.0 : it->second;
  };
  auto count = [&](const char* name) { return static_cast<uint64_t>(get(name)); };
  json s;
  s["time"] = core::format_iso8601(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
  s["uptime_seconds"] = get("netpulse_uptime_seconds");
  s["processor"] = control_.processor_json();
  s["generator"] = control_.generator_json();
  s["records"] = json{{"read", count("netpulse_records_total")},
                      {"accepted", count("netpulse_accepted_records_total")},
                      {"late", count("netpulse_late_records_total")},
                      {"malformed", count("netpulse_malformed_records_total")}};
  {
    std::lock_guard lock(mu_);
    s["records_per_second"] = records_per_second_;
    s["input_bytes_per_second"] = bytes_per_second_;
  }
  s["windows"] = count("netpulse_windows_total");
  s["results"] = count("netpulse_results_total");
  s["alerts"] = count("netpulse_alerts_total");
  const double wm = get("netpulse_watermark_seconds");
  s["watermark"] = v.count("netpulse_watermark_seconds") && wm != 0
                       ? json(core::format_iso8601(static_cast<core::TimeMs>(wm * 1000 + 0.5)))
                       : json(nullptr);
  s["state_bytes"] = count("netpulse_state_bytes");
  s["store"] = store_status_ ? store_status_() : json(nullptr);
  s["collector"] = nullptr;
  s["capture"] = nullptr;
  s["cluster"] = nullptr;
  if (input_status_) {
    const json input = input_status_();  // kept: a temporary's items() would dangle
    for (const auto& [key, value] : input.items()) s[key] = value;
  }
  s["websocket_clients"] = count("netpulse_websocket_clients");
  s["metrics"] = v;
  return s;
}

}  // namespace netpulse::server
