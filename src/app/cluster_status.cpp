#include "app/cluster_status.hpp"

#include <limits>
#include <map>
#include <string>

#include "core/time.hpp"

namespace netpulse::app {

using nlohmann::json;

namespace {

json time_or_null(const std::optional<int64_t>& ms) {
  return ms ? json(core::format_iso8601(*ms)) : json(nullptr);
}

}  // namespace

std::optional<double> lag_seconds(const kafka::ClusterView& view, const kafka::PartitionView& p) {
  using State = kafka::PartitionView::State;
  if (p.state == State::kIdle || p.state == State::kEnded) return 0.0;
  if (p.state != State::kActive || !p.complete_below_ms || !view.newest_pane_ms || !view.source)
    return std::nullopt;
  const int64_t newest_end = *view.newest_pane_ms + view.source->unit_ms;
  return static_cast<double>(std::max<int64_t>(0, newest_end - *p.complete_below_ms)) / 1000.0;
}

json cluster_status(const kafka::ClusterView& view, int64_t now_ms) {
  json c;
  c["source"] = view.source ? json{{"topic", view.source->topic},
                                   {"partitions", view.source->partitions},
                                   {"time_unit_ms", view.source->unit_ms},
                                   {"ip_key", engine::to_string(view.source->ip_key)}}
                            : json(nullptr);
  c["merged_below"] = time_or_null(view.merged_below_ms);
  c["newest_pane"] = time_or_null(view.newest_pane_ms);
  std::map<std::string, std::vector<int32_t>> by_owner;
  json parts = json::array();
  for (const kafka::PartitionView& p : view.partitions) {
    if (!p.owner.empty()) by_owner[p.owner].push_back(p.partition);
    const auto lag = lag_seconds(view, p);
    parts.push_back(json{
        {"partition", p.partition},
        {"owner", p.owner.empty() ? json(nullptr) : json(p.owner)},
        {"state", std::string(kafka::to_string(p.state))},
        {"complete_below", time_or_null(p.complete_below_ms)},
        {"newest_pane", time_or_null(p.newest_pane_ms)},
        {"last_merged_pane", time_or_null(p.merged_pane_ms)},
        {"lag_seconds", lag ? json(*lag) : json(nullptr)},
        {"last_message_age_seconds",
         p.last_message_ms ? json(static_cast<double>(std::max<int64_t>(0, now_ms - *p.last_message_ms)) / 1000.0)
                           : json(nullptr)}});
  }
  json instances = json::array();
  for (const auto& [name, partitions] : by_owner)
    instances.push_back(json{{"name", name}, {"partitions", partitions}});
  c["instances"] = std::move(instances);
  c["partitions"] = std::move(parts);
  return c;
}

void register_merge_metrics(server::MetricsRegistry& m, const kafka::PaneMerge& merge) {
  using server::MetricType;
  const kafka::MergeCounters& c = merge.counters();
  auto counter = [&m](const char* name, const char* help, const std::atomic<uint64_t>& v) {
    m.add(name, help, MetricType::kCounter, [&v] { return static_cast<double>(v.load()); });
  };
  counter("netpulse_records_total", "Records in the panes merged into windows", c.records);
  counter("netpulse_windows_total", "Windows emitted (each gives one result per query)", c.windows);
  counter("netpulse_merge_pane_messages_total", "Pane messages read from the panes topic",
          c.pane_messages);
  counter("netpulse_merge_marks_total", "Partition marks (complete-below, idle, end) read", c.marks);
  counter("netpulse_merge_ignored_panes_total",
          "Pane messages of windows already emitted (replays after a restart)", c.ignored);
  counter("netpulse_merge_rejected_messages_total",
          "Messages that do not fit (malformed, another topic, another time unit)", c.rejected);
  m.add("netpulse_watermark_seconds", "Every pane below this time is merged", MetricType::kGauge,
        [&c] {
          const int64_t w = c.watermark_ms.load();
          return w == std::numeric_limits<int64_t>::min() ? 0.0 : static_cast<double>(w) / 1000.0;
        });
  m.add_family("netpulse_merge_partition_lag_seconds",
               "How far a source partition's complete panes lag behind the newest pane published",
               MetricType::kGauge, [&merge] {
                 const kafka::ClusterView v = merge.cluster();
                 std::vector<std::pair<std::string, double>> out;
                 for (const auto& p : v.partitions)
                   if (const auto lag = lag_seconds(v, p))
                     out.emplace_back("partition=\"" + std::to_string(p.partition) + "\"", *lag);
                 return out;
               });
}

}  // namespace netpulse::app
