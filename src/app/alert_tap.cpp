#include "app/alert_tap.hpp"

#include <cstring>
#include <nlohmann/json.hpp>

#include "core/protocol_table.hpp"
#include "detect/flow_detector.hpp"
#include "ingest/flow_parser.hpp"

namespace netpulse::app {

namespace {

// The detector's alert JSON ({"time","detector","victim"|"source",...,"features":{...}}) as a
// store::Alert: the subject is the source, the share of the window's flows the score, and the
// rest the detail.
store::Alert to_alert(const detect::FlowAlert& a, const core::ProtocolTable& protocols) {
  const auto j = nlohmann::json::parse(detect::to_json(a, protocols), nullptr, false);
  store::Alert out;
  out.time = a.window_end;
  out.detector = std::string(detect::flow_alert_name(a.kind));
  out.score =
      a.window_flows ? static_cast<double>(a.flows) / static_cast<double>(a.window_flows) : 0.0;
  if (j.is_object()) {
    out.source = j.value("victim", j.value("source", std::string()));
    nlohmann::json detail = j;
    detail.erase("time");
    detail.erase("detector");
    out.detail_json = detail.dump();
  } else {
    out.detail_json = "{}";
  }
  return out;
}

}  // namespace

AlertTap::AlertTap(AlertHandler on_alert, detect::FlowDetectorConfig config, size_t max_queued_bytes)
    : on_alert_(std::move(on_alert)), config_(config), max_queued_(max_queued_bytes),
      thread_([this] { run(); }) {}

AlertTap::~AlertTap() {
  stop();
}

void AlertTap::offer(const ingest::Block& block) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (!queue_.empty() && queued_bytes_ + block.size > max_queued_) {
      skipped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queued_bytes_ += block.size;
    queue_.push_back(block);
  }
  cv_.notify_one();
}

void AlertTap::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void AlertTap::run() {
  core::ProtocolTable protocols;
  ingest::FlowParser parser(protocols, ingest::Format::kLine);
  detect::FlowDetector detector(config_, protocols);
  std::vector<detect::FlowAlert> found;
  auto deliver = [&] {
    for (const auto& a : found) {
      alerts_.fetch_add(1, std::memory_order_relaxed);
      try {
        on_alert_(to_alert(a, protocols));
      } catch (const std::exception&) {
        // An alert that cannot be delivered must not end detection.
      }
    }
    found.clear();
  };
  for (;;) {
    ingest::Block block;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      block = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= block.size;
    }
    const char* p = block.data;
    const char* end = block.data + block.size;
    uint64_t n = 0;
    while (p < end) {
      const char* eol =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* line_end = eol ? eol : end;
      core::FlowRecord rec;
      if (parser.parse(p, line_end, rec) == ingest::ParseStatus::kOk) {
        detector.add(rec, found);
        ++n;
      }
      p = eol ? eol + 1 : end;
    }
    records_.fetch_add(n, std::memory_order_relaxed);
    deliver();
  }
  detector.finish(found);
  deliver();
}

void AlertTap::register_metrics(server::MetricsRegistry& m) {
  m.add("netpulse_detector_records_total", "Flow records the flow detector examined",
        server::MetricType::kCounter, [this] { return static_cast<double>(records()); });
  m.add("netpulse_detector_skipped_blocks_total",
        "Input blocks the flow detector skipped because it was behind (the engine never waits for "
        "it)",
        server::MetricType::kCounter, [this] { return static_cast<double>(skipped_blocks()); });
}

}  // namespace netpulse::app
