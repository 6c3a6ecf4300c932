#include "app/store_status.hpp"

#include "store/sqlite_store.hpp"

namespace netpulse::app {

void register_store_metrics(server::MetricsRegistry& m, const store::StoreWriter& w) {
  m.add("netpulse_store_queue_depth", "Results and alerts waiting to be stored", server::MetricType::kGauge,
        [&w] { return static_cast<double>(w.stats().queue_depth); });
  m.add("netpulse_store_queue_capacity",
        "Room in the store queue; the engine waits when it is full", server::MetricType::kGauge,
        [&w] { return static_cast<double>(w.stats().capacity); });
  m.add("netpulse_store_results_written_total", "Results written to the store",
        server::MetricType::kCounter, [&w] { return static_cast<double>(w.stats().results_written); });
  m.add("netpulse_store_alerts_written_total", "Alerts written to the store", server::MetricType::kCounter,
        [&w] { return static_cast<double>(w.stats().alerts_written); });
  m.add("netpulse_store_write_errors_total", "Failed store writes (each retried)",
        server::MetricType::kCounter, [&w] { return static_cast<double>(w.stats().write_errors); });
  m.add("netpulse_store_failing",
        "1 while store writes fail (the database is gone or full): the queue holds what is not "
        "stored yet, and the engine waits once it is full",
        server::MetricType::kGauge, [&w] { return w.stats().failing ? 1.0 : 0.0; });
  m.add("netpulse_store_rejected_total", "Items the store refused as data (not stored)",
        server::MetricType::kCounter, [&w] { return static_cast<double>(w.stats().rejected); });
  m.add("netpulse_history_buckets_written_total", "Traffic history minute buckets stored",
        server::MetricType::kCounter, [&w] { return static_cast<double>(w.stats().history_written); });
  m.add("netpulse_history_rollups_total", "Hour and day history buckets built from finer ones",
        server::MetricType::kCounter, [&w] { return static_cast<double>(w.stats().history_rollups); });
  m.add("netpulse_history_deleted_total", "History buckets deleted by retention",
        server::MetricType::kCounter, [&w] { return static_cast<double>(w.stats().history_deleted); });
  m.add("netpulse_history_dropped_total",
        "History buckets not stored because the store was full", server::MetricType::kCounter,
        [&w] { return static_cast<double>(w.stats().history_dropped); });
  m.add("netpulse_history_stopped", "1 while history is not written (the store is full)",
        server::MetricType::kGauge, [&w] { return w.stats().history_stopped ? 1.0 : 0.0; });
  m.add("netpulse_sqlite_memory_bytes",
        "Bytes SQLite holds: page caches (at most 2 MiB a connection), statements and schemas",
        server::MetricType::kGauge,
        [] { return static_cast<double>(store::sqlite_memory_used()); });
  m.add("netpulse_store_producer_waits_total",
        "Times the engine waited for room in the store queue", server::MetricType::kCounter,
        [&w] { return static_cast<double>(w.stats().producer_waits); });
}

nlohmann::json store_status(const store::StoreWriter& w) {
  const auto s = w.stats();
  return nlohmann::json{{"uri", w.describe()},
                        {"queue_depth", s.queue_depth},
                        {"capacity", s.capacity},
                        {"results_written", s.results_written},
                        {"alerts_written", s.alerts_written},
                        {"write_errors", s.write_errors},
                        {"rejected", s.rejected},
                        {"producer_waits", s.producer_waits},
                        {"failing", s.failing},
                        {"last_error", s.last_error},
                        {"history", {{"written", s.history_written},
                                     {"rollups", s.history_rollups},
                                     {"deleted", s.history_deleted},
                                     {"dropped", s.history_dropped},
                                     {"stopped", s.history_stopped},
                                     {"last_error", s.history_last_error}}}};
}

}  // namespace netpulse::app
