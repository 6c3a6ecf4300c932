#include "app/result_fanout.hpp"

#include "server/result_codec.hpp"

namespace netpulse::app {

void FanoutSink::emit(const query::WindowResult& r) {
  if (out_.json_lines) out_.json_lines->emit(r);
  if (out_.store_results || out_.hub) {
    std::vector<store::StoredResult> rows;
    rows.reserve(query::kQueryCount);
    for (size_t q = 0; q < query::kQueryCount; ++q)
      rows.push_back(server::to_stored(r, static_cast<query::QueryKind>(q)));
    if (out_.hub)
      for (const auto& row : rows) out_.hub->publish_result(server::result_json(row));
    if (out_.store_results) out_.store_results(std::move(rows));
  }
  if (r.ip_approximate) approximate_windows_.fetch_add(1, std::memory_order_relaxed);
  ip_epsilon_.store(r.ip_approximate ? r.ip_approximate->epsilon : 0.0, std::memory_order_relaxed);
  windows_.fetch_add(1, std::memory_order_relaxed);
  results_.fetch_add(query::kQueryCount, std::memory_order_relaxed);
}

void FanoutSink::flush() {
  if (out_.json_lines) out_.json_lines->flush();
}

void FanoutSink::emit_alert(store::Alert alert) {
  if (out_.hub) out_.hub->publish_alert(server::alert_json(alert));
  if (out_.store_alert) out_.store_alert(std::move(alert));
  alerts_.fetch_add(1, std::memory_order_relaxed);
}

void FanoutSink::register_metrics(server::MetricsRegistry& m) {
  m.add("netpulse_results_total", "Query results emitted (six per window)", server::MetricType::kCounter,
        [this] { return static_cast<double>(results()); });
  m.add("netpulse_result_windows_total", "Windows whose results were emitted", server::MetricType::kCounter,
        [this] { return static_cast<double>(windows()); });
  m.add("netpulse_alerts_total", "Detector alerts emitted", server::MetricType::kCounter,
        [this] { return static_cast<double>(alerts()); });
  m.add("netpulse_approximate_windows_total",
        "Windows whose address results (ip-share, ip-topk, ip-outliers) are approximate: computed "
        "from the memory budget's bounded summary",
        server::MetricType::kCounter, [this] { return static_cast<double>(approximate_windows()); });
  m.add("netpulse_ip_epsilon",
        "Error bound of the latest window's address results, as a fraction of its total bytes "
        "(0: exact)",
        server::MetricType::kGauge, [this] { return ip_epsilon(); });
}

}  // namespace netpulse::app
