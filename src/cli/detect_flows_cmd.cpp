// netpulse detect-flows: the live-flow detector (DoS, port scan, brute force) over a stream of
// flow records, and NSL-KDD models on the same connections (--model: the features computed by
// detect/flow_features from what the input carries); alerts as JSON lines, then a summary line.
// --feature-rows writes every connection's feature row as an NSL-KDD row, to train models for
// flows on.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/flow_input.hpp"
#include "core/time.hpp"
#include "detect/flow_csv.hpp"
#include "detect/flow_detector.hpp"
#include "detect/flow_model_detector.hpp"
#include "detect/model.hpp"
#include "detect/row_classifier.hpp"
#include "ingest/block_source.hpp"
#include "ingest/flow_parser.hpp"
#include "ingest/uri.hpp"

namespace netpulse::cli {

namespace {

struct DetectFlowsOptions {
  std::string input;
  std::string format = "line";
  std::string output = "-";
  detect::FlowDetectorConfig config;
  FlowInputOptions flow;
  std::vector<std::string> given;
  bool quiet = false;
  // NSL-KDD models on flows.
  std::vector<std::string> models;
  std::string rules = "all";
  double hold_s = 10;
  std::string hold_by = "host";
  uint32_t confirm = 3;
  size_t host_window = 100;
  std::string feature_rows;
  std::vector<std::string> label_hosts;
};

using E = detect::ConnectionEvent;

bool write_out(int fd, const std::string& s) {
  const char* p = s.data();
  size_t n = s.size();
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// --feature-rows: every connection's row as NSL-KDD writes rows (categories by name, rates
// with two decimals), then a label (normal, or the --label-host label of its source or
// destination) and difficulty 0, so `netpulse train` reads the file as it is.
class RowWriter {
 public:
  RowWriter(int fd, std::vector<std::pair<core::IpAddr, std::string>> labels)
      : fd_(fd), labels_(std::move(labels)) {}
  ~RowWriter() {
    if (fd_ > 1) ::close(fd_);
  }
  void add(const E& c, const detect::FeatureRow& x) {
    for (size_t f = 0; f < detect::kFeatureCount; ++f) {
      if (f) buf_.push_back(',');
      const auto& info = detect::feature_info(f);
      char num[32];
      if (info.type == detect::FeatureType::kCategorical) {
        buf_ += info.vocabulary[static_cast<size_t>(x[f])];
      } else if (info.name.find("rate") != std::string_view::npos) {
        const auto r = std::to_chars(num, num + sizeof num, x[f], std::chars_format::fixed, 2);
        buf_.append(num, r.ptr);
      } else {
        const auto r = std::to_chars(num, num + sizeof num, static_cast<uint64_t>(x[f]));
        buf_.append(num, r.ptr);
      }
    }
    std::string_view label = "normal";
    for (const auto& [ip, l] : labels_)
      if (c.src == ip || c.dst == ip) label = l;
    buf_ += ',';
    buf_ += label;
    buf_ += ",0\n";
    ++rows_;
  }
  bool flush() {
    const bool ok = ok_ && write_out(fd_, buf_);
    ok_ = ok;
    buf_.clear();
    return ok;
  }
  uint64_t rows() const { return rows_; }

 private:
  int fd_;
  std::vector<std::pair<core::IpAddr, std::string>> labels_;
  std::string buf_;
  uint64_t rows_ = 0;
  bool ok_ = true;
};

int run_detect_flows(const DetectFlowsOptions& o) {
  const auto in_uri = ingest::parse_uri(o.input);
  if (!in_uri.ok()) usage_error("--input '" + o.input + "': " + in_uri.status().message());
  const bool rules = o.rules == "all";
  const bool connections = !o.models.empty() || !o.feature_rows.empty();
  if (!rules && !connections)
    usage_error("--rules none: nothing to run without --model or --feature-rows");
  if (o.models.size() > detect::kMaxModels)
    usage_error("--model: at most " + std::to_string(detect::kMaxModels) + " models");
  if (!o.label_hosts.empty() && o.feature_rows.empty())
    usage_error("--label-host: only with --feature-rows");
  std::vector<std::pair<core::IpAddr, std::string>> labels;
  for (const std::string& lh : o.label_hosts) {
    const size_t eq = lh.find('=');
    const auto ip = core::parse_ip(std::string_view(lh).substr(0, eq));
    if (eq == std::string::npos || !ip || detect::label_index(lh.substr(eq + 1)) < 0)
      usage_error("--label-host '" + lh + "': expected IP=LABEL with an NSL-KDD label");
    labels.emplace_back(*ip, lh.substr(eq + 1));
  }
  const bool flow_input = is_live_input(*in_uri);
  check_flow_input_options(*in_uri, o.given, "--format");
  if (connections && is_capture(*in_uri) && o.flow.records != "flows")
    usage_error("--model and --feature-rows with a capture need --records flows (connections, "
                "not packets)");
  // Flow exports and captures are read as CSV when connections are scored: their extra
  // columns give the ports, flags and times the line format drops.
  const ingest::Format format = flow_input && connections ? ingest::Format::kCsv
                                                          : *ingest::parse_format(o.format);
  // Models, loaded now so that a bad file fails before the input is opened.
  std::vector<detect::Model> models;
  std::vector<std::string> names;
  std::string why;
  for (const std::string& path : o.models) {
    auto m = detect::load_model(path, &why);
    if (!m) io_error(why);
    names.push_back(detect::alert_name(detect::detector_name(m->detector), names));
    models.push_back(std::move(*m));
  }

  std::atomic<ingest::BlockSource*> open_source{nullptr};
  on_termination([&open_source] {
    if (ingest::BlockSource* s = open_source.load()) s->close();
  });
  const int out_fd = open_output(o.output);
  std::unique_ptr<RowWriter> row_writer;
  if (!o.feature_rows.empty())
    row_writer = std::make_unique<RowWriter>(open_output(o.feature_rows, "--feature-rows"), std::move(labels));
  ingest::SourceOptions source_options;
  source_options.per_connection_header = format == ingest::Format::kCsv;
  std::unique_ptr<ingest::BlockSource> source;
  LiveSource* flow_source = nullptr;
  if (flow_input) {
    auto cs = connections ? open_live_source(*in_uri, o.flow, o.quiet, collect::TextFormat::kCsv)
                          : open_live_source(*in_uri, o.flow, o.quiet);
    flow_source = cs.get();
    source = std::move(cs);
  } else {
    auto opened = ingest::open_source(*in_uri, source_options);
    if (!opened.ok()) io_error(opened.status().message());
    source = std::move(opened).value();
  }
  open_source = source.get();

  core::ProtocolTable protocols;
  ingest::FlowParser parser(protocols, format);
  detect::FlowDetector detector(o.config, protocols);
  // The model detector, made once the input kind is known: at once for line records and live
  // inputs, at the header for a CSV file.
  std::unique_ptr<detect::FlowModelDetector> model_detector;
  detect::CsvFlowColumns extra;
  detect::FlowModelConfig model_config;
  model_config.hold_ms = static_cast<int64_t>(o.hold_s * 1000);
  model_config.hold_hosts = o.hold_by == "host";
  model_config.confirm = o.confirm;
  model_config.features.host_window = o.host_window;
  auto start_models = [&](detect::FlowInputKind kind) {
    model_detector = std::make_unique<detect::FlowModelDetector>(kind, model_config, protocols);
    for (size_t m = 0; m < models.size(); ++m) {
      std::string refused;
      if (!model_detector->add_model(models[m], names[m], &refused))
        usage_error("--model " + o.models[m] + ": " + refused);
    }
  };
  if (connections && format == ingest::Format::kLine) start_models(detect::FlowInputKind::kLine);
  const bool pair_directions = connections && is_capture(*in_uri);
  detect::DirectionPairer pairer;

  std::vector<detect::FlowAlert> alerts;
  std::vector<detect::FlowModelAlert> model_alerts;
  std::string out;
  bool output_ok = true, rows_ok = true;
  uint64_t line_no = 0, malformed = 0, records = 0;
  auto flush_alerts = [&] {
    out.clear();
    for (const auto& a : alerts) {
      out += detect::to_json(a, protocols);
      out += '\n';
    }
    for (const auto& a : model_alerts) {
      out += model_detector->to_json(a);
      out += '\n';
    }
    alerts.clear();
    model_alerts.clear();
    if (output_ok && !out.empty()) output_ok = write_out(out_fd, out);
  };
  auto score = [&](const E& c) {
    model_detector->add(c, model_alerts);
    // Warm-up rows (short history, low counts) are left out, as they are not scored.
    if (row_writer && model_detector->warm()) row_writer->add(c, model_detector->last_row());
  };

  const auto t0 = std::chrono::steady_clock::now();
  ingest::Block block;
  core::FlowRecord rec;
  for (;;) {
    const auto r = source->next(block, std::chrono::milliseconds(200));
    if (r == ingest::BlockSource::Next::kEnd) break;
    if (r == ingest::BlockSource::Next::kTimeout) continue;
    const char* p = block.data;
    const char* end = block.data + block.size;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      const char* eol = nl ? nl : end;
      ++line_no;
      if (format == ingest::Format::kCsv && !parser.has_header()) {
        const std::string_view header(p, static_cast<size_t>(eol - p));
        if (core::Status s = parser.read_header(header); !s.ok())
          io_error(source->describe() + " line 1: " + s.message());
        extra = detect::CsvFlowColumns::from_header(header);
        if (connections && !model_detector)
          start_models(pair_directions       ? detect::FlowInputKind::kCapture
                       : extra.flow_export() ? detect::FlowInputKind::kFlowExport
                                             : detect::FlowInputKind::kLine);
        p = eol + 1;
        continue;
      }
      ingest::ParseError err;
      const auto s = parser.parse(p, eol, rec, &err);
      if (s == ingest::ParseStatus::kOk) {
        ++records;
        if (rules) detector.add(rec, alerts);
        if (connections) {
          E c = detect::connection_from_record(rec);
          if (model_detector->kind() == detect::FlowInputKind::kLine) {
            score(c);
          } else {
            core::TimeMs first = rec.time, last = rec.time;
            extra.read(std::string_view(p, static_cast<size_t>(eol - p)), c, &first, &last);
            E whole;
            if (!pair_directions) score(c);
            else if (pairer.add(c, first, last, whole)) score(whole);
          }
        }
      } else if (s != ingest::ParseStatus::kBlank) {
        if (++malformed <= 10)
          std::fprintf(stderr, "netpulse: %s line %llu: malformed record: %s%s%.*s%s\n",
                       source->describe().c_str(), static_cast<unsigned long long>(line_no),
                       ingest::describe(s), err.field.empty() ? "" : " '",
                       static_cast<int>(err.field.size()), err.field.data(),
                       err.field.empty() ? "" : "'");
      }
      p = eol + 1;
    }
    if (!alerts.empty() || !model_alerts.empty()) flush_alerts();
    if (row_writer && rows_ok) rows_ok = row_writer->flush();
    if (!output_ok) break;
  }
  if (pair_directions && model_detector) {
    E whole;
    if (pairer.flush(whole)) score(whole);
  }
  if (rules) detector.finish(alerts);
  flush_alerts();
  if (row_writer && rows_ok) rows_ok = row_writer->flush();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string read_error = source->error();
  // A collector may be waiting for room in its feed (when the output failed): end the feed
  // first. A signal's close() has already drained it.
  if (flow_source) flow_source->abandon();
  else source->close();
  if (flow_source && !o.quiet) flow_source->print_summary(seconds);
  const uint64_t model_alert_count = model_detector ? model_detector->alerts() : 0;
  nlohmann::ordered_json summary = {{"flows", records},
                                    {"late", detector.late()},
                                    {"malformed", malformed},
                                    {"alerts", detector.alerts() + model_alert_count},
                                    {"seconds", seconds}};
  if (model_detector) {
    nlohmann::ordered_json per_model = nlohmann::ordered_json::object();
    for (size_t m = 0; m < model_detector->models(); ++m)
      per_model[model_detector->name(m)] = model_detector->alerts(m);
    const detect::FlowFeatures& ff = model_detector->features();
    summary["models"] = {{"input", std::string(detect::input_kind_name(model_detector->kind()))},
                         {"connections", model_detector->flows()},
                         {"warming_up", model_detector->warming_up()},
                         {"alerts", per_model},
                         {"suppressed", model_detector->suppressed()},
                         {"unconfirmed", model_detector->unconfirmed()},
                         {"unconfirmed_resets", model_detector->unconfirmed_resets()},
                         {"score_cache_hits", model_detector->cache_hits()},
                         {"hosts", ff.hosts()},
                         {"evicted_hosts", ff.evicted_hosts()},
                         {"window_overflow", ff.window_overflow()},
                         {"late", ff.late()}};
    if (row_writer) summary["models"]["feature_rows"] = row_writer->rows();
  }
  if (output_ok) output_ok = write_out(out_fd, nlohmann::ordered_json{{"summary", summary}}.dump() + "\n");
  if (out_fd != 1) ::close(out_fd);
  if (!o.quiet) {
    std::fprintf(stderr, "netpulse: %llu flows, %llu late, %llu malformed; %llu alerts; %.3f s\n",
                 static_cast<unsigned long long>(records),
                 static_cast<unsigned long long>(detector.late()),
                 static_cast<unsigned long long>(malformed),
                 static_cast<unsigned long long>(detector.alerts() + model_alert_count), seconds);
    if (model_detector)
      std::fprintf(stderr,
                   "netpulse: models on %s input: %llu connections scored (after %llu of "
                   "warm-up), %llu alerts, %llu held back by --hold, %llu firings short of --confirm\n",
                   std::string(detect::input_kind_name(model_detector->kind())).c_str(),
                   static_cast<unsigned long long>(model_detector->flows() -
                                                   model_detector->warming_up()),
                   static_cast<unsigned long long>(model_detector->warming_up()),
                   static_cast<unsigned long long>(model_alert_count),
                   static_cast<unsigned long long>(model_detector->suppressed()),
                   static_cast<unsigned long long>(model_detector->unconfirmed()));
  }
  if (!output_ok) io_error("--output '" + o.output + "': " + std::strerror(errno));
  if (!rows_ok) io_error("--feature-rows '" + o.feature_rows + "': " + std::strerror(errno));
  if (!read_error.empty()) io_error(read_error);
  return 0;
}

}  // namespace

Command make_detect_flows_command(CLI::App& app) {
  auto o = std::make_shared<DetectFlowsOptions>();
  CLI::App* sub = app.add_subcommand(
      "detect-flows",
      "Detect DoS floods, port scans and login brute force in flow records (2-second windows of "
      "per-host traffic features), and run NSL-KDD models on the connections (--model); "
      "alerts as JSON lines, then a summary line.");
  sub->add_option(
         "--input,-i", o->input,
         "Where records come from: file:PATH or PATH, -, tcp://HOST:PORT, tcp-listen://HOST:PORT, "
         "netflow://HOST:PORT (NetFlow v5/v9 and IPFIX over UDP; default port 2055) or "
         "sflow://HOST:PORT (sFlow v5; default 6343)")
      ->required();
  sub->add_option("--format", o->format, "Record format: line or csv")
      ->check(CLI::IsMember({"line", "csv"}))
      ->capture_default_str();
  sub->add_option("--output,-o", o->output, "Where alerts go: - (stdout), file:PATH or PATH")
      ->capture_default_str();
  sub->add_option("--dos-share", o->config.dos_min_share,
                  "DoS: least share of the window's flows to one destination")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--dos-sources", o->config.dos_min_sources, "DoS: least distinct sources")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  sub->add_option("--scan-destinations", o->config.scan_min_destinations,
                  "Port scan: least distinct destinations")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();
  sub->add_option("--brute-flows", o->config.brute_min_flows,
                  "Brute force: least login flows to one server")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000'000}))
      ->capture_default_str();
  sub->add_option("--rules", o->rules,
                  "Run the rules above (all) or not (none: only the --model detectors)")
      ->check(CLI::IsMember({"all", "none"}))
      ->capture_default_str();
  sub->add_option(
      "--model,-m", o->models,
      "An NSL-KDD model file (netpulse train) to run on every connection, beside the rules; "
      "repeatable. Its features are computed from the flows: from line records protocol_type, "
      "service (from the protocol label), src_bytes, land and the count/srv_count/same_srv/"
      "diff_srv/srv_diff_host and dst_host_* counts and rates; NetFlow/IPFIX/sFlow add duration, "
      "flag, the SYN and REJ error rates and dst_host_same_src_port_rate (from ports and TCP "
      "flags); a capture with --records flows adds dst_bytes. A model that needs other features "
      "(it splits on them, or was trained with --features including them) is refused, naming "
      "them. Alerts: {\"time\",\"detector\",\"source\",\"destination\",\"protocol\","
      "\"score\",\"features\"} (the deciding path's features and values)");
  sub->add_option("--hold", o->hold_s,
                  "A model alerts on a source-destination pair at most once in this many seconds "
                  "of event time (see --hold-by)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  sub->add_option("--confirm", o->confirm,
                  "A model alerts only after firing this many times within 2 s of event time on "
                  "one subject (the source-destination pair, the source or the destination): "
                  "attacks fire on connection after connection, a lone unusual connection of "
                  "normal traffic once; 1: every firing alerts")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  sub->add_option("--hold-by", o->hold_by,
                  "host: an alert also holds its source and its destination, so a flood from "
                  "spoofed sources or a scan of many hosts is one alert per --hold; pair: only "
                  "the source-destination pair")
      ->check(CLI::IsMember({"host", "pair"}))
      ->capture_default_str();
  sub->add_option("--host-window", o->host_window,
                  "Connections in the window of the dst_host_* features (KDD'99 says 100; its "
                  "counts reach 255)")
      ->check(CLI::Range(size_t{1}, size_t{65535}))
      ->capture_default_str();
  sub->add_option("--feature-rows", o->feature_rows,
                  "Write every connection's 41 features to PATH (- for stdout) as NSL-KDD rows "
                  "(after the first 2 s and --host-window connections, which are not scored "
                  "either: a short history reads as low counts), "
                  "label normal unless --label-host says otherwise, difficulty 0: rows "
                  "`netpulse train` reads, to train models for flows (restrict them with "
                  "--features to what the input gives)");
  sub->add_option("--label-host", o->label_hosts,
                  "IP=LABEL: --feature-rows labels connections from or to IP with LABEL (an "
                  "NSL-KDD label such as neptune, portsweep, guess_passwd); repeatable");
  add_flow_input_options(sub, o->flow);
  sub->add_flag("--quiet,-q", o->quiet, "No summary on stderr");
  return Command{sub, [o, sub] {
                   for (const CLI::Option* opt : sub->get_options())
                     if (opt->count() > 0) o->given.push_back(opt->get_name());
                   return run_detect_flows(*o);
                 }};
}

}  // namespace netpulse::cli
