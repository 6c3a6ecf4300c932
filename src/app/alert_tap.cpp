#include "app/alert_tap.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/protocol_table.hpp"
#include "detect/flow_csv.hpp"
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

// What a queued block may hold in memory: what its source says it holds (the generator's and a
// collector's or capture's blocks: their text, at least 64 KiB), else at least a whole
// buffer (ingest::kBlockSize), which a stream's block of a few kilobytes (one read from a pipe)
// keeps alive. Counting a live input's small blocks as whole buffers made a burst of a
// collector's flows overflow the backlog with a fraction of its bytes.
size_t charge(const ingest::Block& b) {
  return b.held != 0 ? std::max(b.held, b.size) : std::max(b.size, ingest::kBlockSize);
}

// A model's alert (FlowModelDetector::to_json) as a store::Alert: the subject is the host whose
// firings confirmed it (the destination of a flood, whose sources may be spoofed, as the rules'
// dos alert names its victim; else the source), the rest the detail.
store::Alert to_alert(const detect::FlowModelDetector& d, const detect::FlowModelAlert& a) {
  auto j = nlohmann::json::parse(d.to_json(a), nullptr, false);
  store::Alert out;
  out.time = a.time;
  out.detector = d.name(a.model);
  out.source = core::to_string(a.by == detect::FlowModelAlert::By::kDestination ? a.dst : a.src);
  out.score = a.score;
  if (j.is_object()) {
    for (const char* k : {"time", "detector", "score"}) j.erase(k);
    out.detail_json = j.dump();
  } else {
    out.detail_json = "{}";
  }
  return out;
}

}  // namespace

std::string AlertTap::check_flow_models(const std::vector<FlowModel>& models,
                                        detect::FlowInputKind kind) {
  core::ProtocolTable protocols;
  detect::FlowModelDetector d(kind, detect::FlowModelConfig{}, protocols);
  for (const FlowModel& m : models) {
    std::string why;
    if (!d.add_model(m.model, m.name, &why)) return why;
  }
  return {};
}

AlertTap::AlertTap(AlertHandler on_alert, Options options)
    : on_alert_(std::move(on_alert)), options_(std::move(options)), thread_([this] { run(); }) {}

AlertTap::~AlertTap() {
  stop();
}

void AlertTap::offer(const ingest::Block& block) {
  const size_t cost = charge(block);
  {
    std::unique_lock lock(mu_);
    if (options_.wait_when_behind)
      room_.wait(lock, [&] {
        return stopping_ || queue_.empty() || queued_bytes_ + cost <= options_.max_queued_bytes;
      });
    if (stopping_) return;
    if (!queue_.empty() && queued_bytes_ + cost > options_.max_queued_bytes) {
      skipped_.fetch_add(1, std::memory_order_relaxed);
      gap_ = true;
      return;
    }
    queued_bytes_ += cost;
    queue_.push_back(Queued{block, gap_});
    gap_ = false;
  }
  cv_.notify_one();
}

void AlertTap::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  room_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AlertTap::run() {
  core::ProtocolTable protocols;
  ingest::FlowParser parser(protocols, options_.format);
  detect::FlowDetector rules(options_.rules_config, protocols);
  // Line records carry time, protocol, addresses and bytes; a collector's or capture's CSV
  // also its extra columns, read here for the models.
  const detect::FlowInputKind kind =
      options_.format == ingest::Format::kCsv ? options_.kind : detect::FlowInputKind::kLine;
  detect::FlowModelDetector models(kind, options_.models_config, protocols);
  detect::CsvFlowColumns columns;
  detect::DirectionPairer pairer;
  for (auto& m : options_.models) {
    std::string why;
    if (!models.add_model(m.model, m.name, &why))
      std::fprintf(stderr, "netpulse: flow model not run: %s\n", why.c_str());
  }
  options_.models.clear();  // compiled now
  const bool run_models = models.models() > 0;
  std::vector<detect::FlowAlert> found;
  std::vector<detect::FlowModelAlert> model_found;
  auto deliver = [&] {
    auto hand_on = [&](store::Alert a) {
      alerts_.fetch_add(1, std::memory_order_relaxed);
      try {
        on_alert_(std::move(a));
      } catch (const std::exception&) {
        // An alert that cannot be delivered must not end detection.
      }
    };
    for (const auto& a : found) hand_on(to_alert(a, protocols));
    for (const auto& a : model_found) {
      model_alerts_.fetch_add(1, std::memory_order_relaxed);
      hand_on(to_alert(models, a));
    }
    found.clear();
    model_found.clear();
  };
  std::vector<char> bytes;  // a file's block read here (ObservedSource hands it on unread)
  for (;;) {
    ingest::Block block;
    bool gap = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;
      block = std::move(queue_.front().block);
      gap = queue_.front().gap_before;
      queue_.pop_front();
      queued_bytes_ -= charge(block);
    }
    room_.notify_one();
    // Records were skipped before this block: the models' windows miss them, and low counts
    // would read as an anomaly, so they warm up again before scoring.
    if (gap) {
      models.restart_warm_up();
      pairer.clear();
      gaps_.fetch_add(1, std::memory_order_relaxed);
    }
    ingest::load(block, bytes);
    const char* p = block.data;
    const char* end = block.data + block.size;
    uint64_t n = 0;
    while (p < end) {
      const char* eol =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* line_end = eol ? eol : end;
      core::FlowRecord rec;
      const std::string_view line(p, static_cast<size_t>(line_end - p));
      if (options_.format == ingest::Format::kCsv && !parser.has_header()) {
        // The stream's first line names the columns (a bad header: the engine reports it).
        (void)parser.read_header(line);
        columns = detect::CsvFlowColumns::from_header(line);
      } else if (parser.parse(p, line_end, rec) == ingest::ParseStatus::kOk) {
        if (options_.rules) rules.add(rec, found);
        if (run_models && kind == detect::FlowInputKind::kLine) {
          models.add(rec, model_found);
        } else if (run_models) {
          detect::ConnectionEvent c = detect::connection_from_record(rec);
          core::TimeMs first = rec.time, last = rec.time;
          columns.read(line, c, &first, &last);
          detect::ConnectionEvent whole;
          if (kind != detect::FlowInputKind::kCapture)
            models.add(c, model_found);
          else if (pairer.add(c, first, last, whole))
            models.add(whole, model_found);
        }
        ++n;
      }
      p = eol ? eol + 1 : end;
    }
    records_.fetch_add(n, std::memory_order_relaxed);
    deliver();
  }
  if (options_.rules) rules.finish(found);
  if (detect::ConnectionEvent last; run_models && pairer.flush(last)) models.add(last, model_found);
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
