#include "server/metrics.hpp"

#include <cmath>

#include "query/result_json.hpp"

namespace netpulse::server {

std::string prometheus_label_value(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void MetricsRegistry::add(const std::string& name, const std::string& help, MetricType type,
                          Reader read, const std::string& labels) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = families_.try_emplace(name, Family{help, type, {}, {}});
  for (Series& s : it->second.series) {
    if (s.labels == labels) {
      s.read = std::move(read);
      return;
    }
  }
  it->second.series.push_back({labels, std::move(read)});
}

void MetricsRegistry::add_family(const std::string& name, const std::string& help,
                                 MetricType type, FamilyReader read) {
  std::lock_guard lock(mu_);
  families_[name] = Family{help, type, {}, std::move(read)};
}

std::vector<std::pair<std::string, double>> MetricsRegistry::read_all(const Family& f) {
  std::vector<std::pair<std::string, double>> out;
  for (const Series& s : f.series) out.emplace_back(s.labels, s.read());
  if (f.dynamic) {
    auto more = f.dynamic();
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

void MetricsRegistry::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  families_.erase(name);
}

namespace {

void append_value(double v, std::string& out) {
  if (std::isnan(v))
    out += "NaN";
  else if (std::isinf(v))
    out += v > 0 ? "+Inf" : "-Inf";
  else
    query::append_number(v, out);
}

}  // namespace

std::string MetricsRegistry::prometheus_text() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    out += "# HELP " + name + ' ' + family.help + '\n';
    out += "# TYPE " + name + (family.type == MetricType::kCounter ? " counter\n" : " gauge\n");
    for (const auto& [labels, value] : read_all(family)) {
      out += name;
      if (!labels.empty()) out += '{' + labels + '}';
      out += ' ';
      append_value(value, out);
      out += '\n';
    }
  }
  return out;
}

std::map<std::string, double> MetricsRegistry::values() const {
  std::lock_guard lock(mu_);
  std::map<std::string, double> out;
  for (const auto& [name, family] : families_)
    for (const auto& [labels, value] : read_all(family))
      out[labels.empty() ? name : name + '{' + labels + '}'] = value;
  return out;
}

double MetricsRegistry::value(const std::string& name, const std::string& labels) const {
  std::lock_guard lock(mu_);
  const auto it = families_.find(name);
  if (it == families_.end()) return 0;
  for (const Series& s : it->second.series)
    if (s.labels == labels) return s.read();
  return 0;
}

}  // namespace netpulse::server
