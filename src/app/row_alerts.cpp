#include "app/row_alerts.hpp"

#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace netpulse::app {

namespace {

std::vector<detect::CompiledModel> take_compiled(std::vector<RowAlerts::Model>& models) {
  std::vector<detect::CompiledModel> out;
  out.reserve(models.size());
  for (auto& m : models) out.push_back(std::move(m.compiled));
  return out;
}

std::vector<std::string> names_of(const std::vector<RowAlerts::Model>& models) {
  std::vector<std::string> out;
  for (const auto& m : models) out.push_back(m.name);
  return out;
}

detect::FeatureMask features_of(const std::vector<RowAlerts::Model>& models) {
  detect::FeatureMask mask = 0;
  for (const auto& m : models) mask |= m.features;
  return mask;
}

std::vector<std::string> detectors_of(const std::vector<RowAlerts::Model>& models) {
  std::vector<std::string> out;
  for (const auto& m : models) out.push_back(m.detector);
  return out;
}

core::TimeMs wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One alert line as RowClassifier::append_alert writes it:
// {"row":N,"detector":"NAME","score":S,"path":{...}}
struct AlertLine {
  uint64_t row = 0;
  std::string_view detector;
  double score = 0;
  std::string_view path;  // the JSON object, as written
};

std::optional<AlertLine> parse_alert_line(std::string_view line) {
  constexpr std::string_view kRow = "{\"row\":", kDetector = ",\"detector\":\"",
                             kScore = ",\"score\":", kPath = ",\"path\":";
  AlertLine a;
  if (line.substr(0, kRow.size()) != kRow || line.empty() || line.back() != '}')
    return std::nullopt;
  const char* p = line.data() + kRow.size();
  const char* end = line.data() + line.size();
  auto r = std::from_chars(p, end, a.row);
  if (r.ec != std::errc()) return std::nullopt;
  std::string_view rest(r.ptr, static_cast<size_t>(end - r.ptr));
  if (rest.substr(0, kDetector.size()) != kDetector) return std::nullopt;
  rest.remove_prefix(kDetector.size());
  const size_t quote = rest.find('"');
  if (quote == std::string_view::npos) return std::nullopt;
  a.detector = rest.substr(0, quote);
  rest.remove_prefix(quote + 1);
  if (rest.substr(0, kScore.size()) != kScore) return std::nullopt;
  rest.remove_prefix(kScore.size());
  r = std::from_chars(rest.data(), rest.data() + rest.size(), a.score);
  if (r.ec != std::errc()) return std::nullopt;
  rest.remove_prefix(static_cast<size_t>(r.ptr - rest.data()));
  if (rest.substr(0, kPath.size()) != kPath) return std::nullopt;
  rest.remove_prefix(kPath.size());
  a.path = rest.substr(0, rest.size() - 1);  // without the line's closing brace
  return a;
}

}  // namespace

RowAlerts::RowAlerts(std::unique_ptr<ingest::BlockSource> source, std::vector<Model> models,
                     AlertHandler on_alert, Options options)
    : source_(std::move(source)),
      compiled_(take_compiled(models)),
      names_(names_of(models)),
      detectors_(detectors_of(models)),
      classifier_(compiled_, options.path_features, features_of(models)),
      on_alert_(std::move(on_alert)),
      options_(std::move(options)),
      describe_(source_->describe()),
      thread_([this] { run(); }) {}

RowAlerts::~RowAlerts() {
  stop();
}

void RowAlerts::request_stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  source_->close();  // a reader waiting for data gives up; safe from any thread
}

void RowAlerts::stop() {
  request_stop();
  if (thread_.joinable()) thread_.join();
}

bool RowAlerts::wait_for_end(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return ended_.load(); });
}

std::string RowAlerts::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

bool RowAlerts::pause() {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, options_.delay, [&] { return stopping_; });
}

void RowAlerts::run() {
  bool by_itself = false;
  try {
    ingest::Block block;
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (stopping_) break;
      }
      const auto r = source_->next(block, std::chrono::milliseconds(200));
      if (r == ingest::BlockSource::Next::kTimeout) continue;
      if (r == ingest::BlockSource::Next::kEnd) {
        std::lock_guard lock(mu_);
        by_itself = !stopping_;  // not the end close() brings
        break;
      }
      classify(block.data, block.size);
      block = {};
    }
  } catch (const std::exception& e) {
    // No exception leaves the thread: the stream ends with the reason.
    std::lock_guard lock(mu_);
    error_ = describe_ + ": " + e.what();
  }
  std::string read_error = source_->error();
  {
    std::lock_guard lock(mu_);
    if (error_.empty()) error_ = read_error;
    read_error = error_;
    // Ended by itself: the stream is over (or broken). After stop(): the rows in hand are done.
    ended_ = true;
  }
  cv_.notify_all();
  if (!read_error.empty() && options_.report) options_.report(read_error);
  if (by_itself && options_.on_end) options_.on_end(*this);
}

void RowAlerts::classify(const char* data, size_t size) {
  if (options_.delay.count() <= 0) {
    detect::ClassifyStats stats;
    out_.clear();
    classifier_.classify(data, size, next_line_, out_, stats);
    next_line_ += stats.lines;
    deliver(out_, stats);
    return;
  }
  // Replay: one row, its alerts delivered at once, then the pause.
  const char* p = data;
  const char* end = data + size;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* eol = nl ? nl + 1 : end;
    detect::ClassifyStats stats;
    out_.clear();
    classifier_.classify(p, static_cast<size_t>(eol - p), next_line_++, out_, stats);
    deliver(out_, stats);
    p = eol;
    if (!pause()) return;
  }
}

void RowAlerts::deliver(const std::string& out, const detect::ClassifyStats& stats) {
  rows_.fetch_add(stats.rows, std::memory_order_relaxed);
  malformed_.fetch_add(stats.malformed, std::memory_order_relaxed);
  for (const auto& m : stats.first_malformed) {
    if (shown_ >= detect::kMalformedShown) break;
    ++shown_;
    if (options_.report) options_.report(describe_ + " " + detect::describe(m));
  }
  if (stats.malformed && shown_ == detect::kMalformedShown &&
      malformed_.load() > detect::kMalformedShown) {
    ++shown_;  // said once
    if (options_.report)
      options_.report(describe_ + ": more malformed rows; only the first " +
                      std::to_string(detect::kMalformedShown) + " are shown");
  }

  // The alert lines come row by row, and within a row in model order: a line belongs to the
  // first model after the row's previous alert whose detector it names (two models may share a
  // detector).
  uint64_t row = 0;
  size_t next_model = 0;
  size_t at = 0;
  while (at < out.size()) {
    size_t nl = out.find('\n', at);
    if (nl == std::string::npos) nl = out.size();
    const std::string_view text(out.data() + at, nl - at);
    at = nl + 1;
    const auto line = parse_alert_line(text);
    if (!line) continue;  // cannot happen: RowClassifier wrote it
    if (line->row != row) {
      row = line->row;
      next_model = 0;
    }
    size_t m = next_model;
    while (m < compiled_.size() && detect::detector_name(compiled_[m].detector()) != line->detector)
      ++m;
    if (m == compiled_.size()) continue;
    next_model = m + 1;
    alerts_[m].fetch_add(1, std::memory_order_relaxed);

    store::Alert a;
    a.time = wall_clock_ms();  // rows carry no time of their own
    a.detector = detectors_[m];
    a.source = "row " + std::to_string(line->row);
    a.score = line->score;
    a.detail_json = "{\"model\":" + nlohmann::json(names_[m]).dump() + ",\"path\":";
    a.detail_json.append(line->path);
    a.detail_json += '}';
    try {
      on_alert_(std::move(a));
    } catch (const std::exception&) {
      // An alert that cannot be delivered must not end the stream.
    }
  }
}

void RowAlerts::register_metrics(server::MetricsRegistry& m) {
  m.add("netpulse_rows_total", "NSL-KDD connection rows classified (--rows)",
        server::MetricType::kCounter, [this] { return static_cast<double>(rows()); });
  m.add("netpulse_malformed_rows_total", "--rows input lines that are not NSL-KDD rows",
        server::MetricType::kCounter, [this] { return static_cast<double>(malformed()); });
  for (size_t i = 0; i < compiled_.size(); ++i)
    m.add(
        "netpulse_row_alerts_total", "Alerts the NSL-KDD models raised on --rows, per detector",
        server::MetricType::kCounter, [this, i] { return static_cast<double>(alerts(i)); },
        "detector=\"" + detectors_[i] + "\"");
}

}  // namespace netpulse::app
