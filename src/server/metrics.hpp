// One registry of plain counters and gauges for the whole process. Each component keeps its own
// counters (atomics beside the code that counts) and registers a reader for each, once, at
// start-up; the registry renders them for /metrics (Prometheus text format 0.0.4), /api/status
// and the dashboard. Registration and reads are thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace netpulse::server {

enum class MetricType : unsigned char { kCounter, kGauge };

// A label value in the exposition format: backslash, double quote and newline escaped.
std::string prometheus_label_value(const std::string& s);

class MetricsRegistry {
 public:
  using Reader = std::function<double()>;

  // name: "netpulse_records_total"; labels: "" or `code="2xx"` (without braces). Several
  // registrations may share a name with different labels; the first one's help and type
  // are used.
  void add(const std::string& name, const std::string& help, MetricType type, Reader read,
           const std::string& labels = "");
  // A family whose series come and go (one per exporter, say): `read` returns every current
  // (labels, value) pair at each scrape.
  using FamilyReader = std::function<std::vector<std::pair<std::string, double>>()>;
  void add_family(const std::string& name, const std::string& help, MetricType type,
                  FamilyReader read);
  // Removes every series of a name (a component that stops before the registry).
  void remove(const std::string& name);

  // Prometheus text exposition format.
  std::string prometheus_text() const;
  // "name" or "name{labels}" to the current value.
  std::map<std::string, double> values() const;
  // The value of one series (0 when absent).
  double value(const std::string& name, const std::string& labels = "") const;

 private:
  struct Series {
    std::string labels;
    Reader read;
  };
  struct Family {
    std::string help;
    MetricType type;
    std::vector<Series> series;
    FamilyReader dynamic;  // set for add_family()
  };
  // Every (labels, value) of a family right now.
  static std::vector<std::pair<std::string, double>> read_all(const Family& f);
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace netpulse::server
