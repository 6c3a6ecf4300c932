// netpulse run: the whole system in one process on 127.0.0.1: the generator (wall-clock event
// time) feeding the engine in memory, the six queries, the flow detector, the NSL-KDD models of
// models/ over an optional stream of connection rows (--rows), the SQLite store, and the HTTP
// API, WebSocket and dashboard. Ctrl-C stops the generator and the row stream, flushes the
// pending windows and alerts into the store and exits.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/alert_tap.hpp"
#include "app/engine_metrics.hpp"
#include "app/generator_feed.hpp"
#include "app/outputs.hpp"
#include "app/row_alerts.hpp"
#include "cli/alert_options.hpp"
#include "cli/detect_options.hpp"
#include "ingest/observed_source.hpp"
#include "cli/history_options.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/flow_input.hpp"
#include "cli/query_options.hpp"
#include "cli/rows_input.hpp"
#include "core/protocol_table.hpp"
#include "detect/compiled_model.hpp"
#include "detect/model.hpp"
#include "detect/row_classifier.hpp"
#include "engine/params.hpp"
#include "engine/pipeline.hpp"
#include "generate/generator.hpp"
#include "ingest/flow_parser.hpp"
#include "query/queries.hpp"
#include "query/result_json.hpp"
#include "server/metrics.hpp"
#include "server/web_app.hpp"
#include "store/store.hpp"

namespace netpulse::cli {

namespace {

// Exporters flush flows at their own pace and several interleave theirs: records a few seconds
// out of order are normal there, not late.
constexpr int64_t kFlowLatenessSeconds = 10;

struct RunOptions {
  // --store, --web, --token, --web-root, --web-threads: where results go and what serves them.
  app::OutputOptions serve = [] {
    app::OutputOptions s;
    s.web = std::string(server::kDefaultWebAddress);
    s.store = "sqlite:netpulse.db";
    return s;
  }();
  AlertOptions alerts;  // --alert-webhook, --alert-syslog, --alert-rule
  DetectOptions detect;  // --detect, --confirm, --hold
  HistoryOptions history;  // --history-keys, --retention, --retention-size
  std::string output;  // optional JSON lines
  std::string models = "models";
  std::string rows;  // optional stream of NSL-KDD connection rows for the models
  int rows_delay_ms = 0;
  engine::QueryParams params;
  engine::EngineConfig config;
  uint64_t rate = generate::kDefaultRate;
  uint32_t ips = generate::kBuiltinAddresses;
  uint32_t protocols = generate::kMaxProtocols;
  double ip_percent = -1;        // < 0: uniform
  double protocol_percent = -1;  // < 0: uniform
  uint64_t seed = 1;
  std::vector<std::string> scenarios;
  uint64_t flood_rate = generate::kDefaultFloodRate;
  bool no_detect = false;
  bool quiet = false;
  std::string input;  // --input: a real source instead of the generator
  FlowInputOptions flow;
  std::vector<std::string> given;  // the options given on the command line, by name
};

// The NSL-KDD row models of a directory: every *.json but the flow models (flow-*.json and
// line-*.json, which --detect runs on the flow records), in name order, loaded and compiled as
// `netpulse classify` loads them; a second model of the same detector is called "dos#2" (as in
// classify's summary). A missing or empty directory gives none; a file that is not a model
// ends the command (exit 1) naming it. *listing: "attack (detector attack, forest, format v1),
// dos (detector dos, tree, format v1)".
std::vector<app::RowAlerts::Model> load_models(const std::string& dir, std::string* listing) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return {};
  if (!fs::is_directory(dir, ec)) usage_error("--models '" + dir + "': not a directory");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".json" && !entry.is_directory() &&
        !is_flow_model_file(entry.path()))
      files.push_back(entry.path());
  if (ec) io_error("--models '" + dir + "': " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.size() > detect::kMaxModels)
    usage_error("--models '" + dir + "': " + std::to_string(files.size()) + " models, at most " +
                std::to_string(detect::kMaxModels));
  std::vector<app::RowAlerts::Model> models;
  for (const fs::path& file : files) {
    std::string why;
    const auto m = detect::load_model(file.string(), &why);
    if (!m) io_error(why);
    std::vector<std::string> earlier;
    for (const auto& other : models) earlier.push_back(other.detector);
    models.push_back({file.stem().string(),
                      detect::alert_name(detect::detector_name(m->detector), earlier),
                      detect::CompiledModel(*m), detect::features_used(*m)});
    *listing += (models.size() > 1 ? ", " : "") + models.back().name + " (detector " +
                models.back().detector + ", " + std::string(detect::algo_name(m->algo)) +
                ", format v" + std::to_string(detect::model_format_version(*m)) + ")";
  }
  return models;
}

// "300 rows, 2 malformed; alerts: attack 150, bruteforce 0, dos 120".
std::string row_counts(const app::RowAlerts& r) {
  std::string s =
      std::to_string(r.rows()) + " rows, " + std::to_string(r.malformed()) + " malformed; alerts:";
  for (size_t i = 0; i < r.model_count(); ++i)
    s += (i ? ", " : " ") + r.detector(i) + " " + std::to_string(r.alerts(i));
  return s;
}

int run_all(const RunOptions& o) {
  engine::EngineConfig config = o.config;
  if (core::Status s = engine::validate(config); !s.ok()) usage_error(s.message());
  if (core::Status s = engine::validate(o.params, config.max_window); !s.ok())
    usage_error("--" + s.message());

  generate::GeneratorConfig gconfig;
  gconfig.params.rate = o.rate;
  gconfig.params.ips = o.ips;
  gconfig.params.protocols = o.protocols;
  if (o.ip_percent >= 0) gconfig.params.ip_skew = generate::Skew::first_percent(o.ip_percent);
  if (o.protocol_percent >= 0)
    gconfig.params.protocol_skew = generate::Skew::first_percent(o.protocol_percent);
  gconfig.seed = o.seed;
  for (const std::string& text : o.scenarios) {
    std::string reason;
    auto scenario = generate::parse_scenario(text, &reason);
    if (!scenario) usage_error("--scenario '" + text + "': " + reason);
    gconfig.scenarios.push_back(*scenario);
  }
  gconfig.flood_rate = o.flood_rate;
  if (auto why = generate::validate(gconfig)) usage_error(*why);

  // --input replaces the generator: its options would be silently ignored, so they are refused.
  const auto given = [&o](std::string_view name) {
    return std::find(o.given.begin(), o.given.end(), name) != o.given.end();
  };
  std::optional<ingest::Uri> input_uri;
  if (!o.input.empty()) {
    auto parsed = ingest::parse_uri(o.input);
    if (!parsed.ok()) usage_error("--input '" + o.input + "': " + parsed.status().message());
    input_uri = std::move(parsed).value();
    if (input_uri->kind == ingest::Uri::Kind::kKafka)
      usage_error("--input '" + o.input + "': run reads files, tcp://, netflow://, sflow://, pcap: and pcap-live:; "
                  "for Kafka use process and merge");
    for (const char* name : {"--rate", "--ips", "--protocols", "--ip-percent",
                             "--protocol-percent", "--seed", "--scenario", "--flood-rate"})
      if (given(name)) usage_error(std::string(name) + ": a generator option; --input replaces the generator");
  }
  const bool flow_input = input_uri && is_live_input(*input_uri);
  if (flow_input && !given("--lateness")) {
    config.lateness = kFlowLatenessSeconds;
    // A captured flow's record is written when the flow ends.
    if (const int64_t wait_ms = capture_flow_wait_ms(*input_uri, o.flow); wait_ms > 0)
      config.lateness = std::max<int64_t>(config.lateness, (wait_ms + 999) / 1000 + 1);
  }
  // Without --input (the generator), every live-input option is refused as out of place.
  check_flow_input_options(input_uri ? *input_uri : ingest::Uri{}, o.given, nullptr);

  // The NSL-KDD models, and the rows they classify (--rows): checked before anything is opened.
  std::optional<RowsInput> rows_input;
  if (!o.rows.empty()) rows_input = parse_rows_input("--rows", o.rows);
  if (o.rows_delay_ms > 0 && !rows_input) usage_error("--rows-delay-ms: only with --rows");
  std::string model_listing;
  std::vector<app::RowAlerts::Model> models = load_models(o.models, &model_listing);
  if (rows_input && models.empty())
    usage_error("--rows: no models to run (" + o.models + " holds no *.json model; see --models)");

  app::OutputOptions oo = o.serve;
  apply_alert_options(o.alerts, oo);
  apply_history_options(o.history, oo.history);

  std::string why;

  // Signals first, so every thread started below inherits the mask and Ctrl-C reaches the
  // handler that stops the generator and flushes the pending windows.
  engine::EngineControl control(o.params, config.max_window);
  app::GeneratorFeed feed;
  generate::Generator generator(gconfig);
  std::atomic<app::RowAlerts*> row_alerts_running{nullptr};
  std::atomic<LiveSource*> flow_source{nullptr};
  on_termination(
      [&] {
        generator.request_stop();
        // A flow-export input drains its sockets into the engine, which then ends by itself.
        if (LiveSource* f = flow_source.load()) {
          f->close();  // returns at once; the engine ends when the drained records are in
          // A paused engine reads nothing until a shutdown, which makes it take what was drained.
          if (control.paused()) control.request_shutdown();
        } else {
          control.request_shutdown();
        }
        feed.close();
        if (app::RowAlerts* r = row_alerts_running.load()) r->request_stop();
      },
      "flushing pending windows");
  // The detectors' options first: a flow export or captured flows are read as CSV when a model
  // needs more than line records give (the extra columns carry ports, flags, packets and flow
  // times: flow-attack.json); the engine's results are the same.
  std::string detect_listing;
  app::AlertTap::Options topt;
  if (!o.no_detect) {
    DetectOptions d = o.detect;
    d.models_dir = o.models;
    d.models_required = false;  // the default: a directory without flow models runs the rules
    topt = detect_tap_options(
        d, &detect_listing,
        flow_input ? flow_input_kind(*input_uri, o.flow) : detect::FlowInputKind::kLine);
  }
  const bool csv_live = reads_flow_columns(topt);  // false with --no-detect: no models
  const ingest::Format format = csv_live ? ingest::Format::kCsv : ingest::Format::kLine;
  std::unique_ptr<ingest::BlockSource> input_source;
  if (flow_input) {
    auto cs = open_live_source(*input_uri, o.flow, o.quiet,
                               csv_live ? collect::TextFormat::kCsv : collect::TextFormat::kLine);
    flow_source = cs.get();
    input_source = std::move(cs);
  } else if (input_uri) {
    ingest::SourceOptions source_options;
    source_options.deferred_reads = true;  // the engine reads a file on its parsing threads
    auto opened = ingest::open_source(*input_uri, source_options);
    if (!opened.ok()) io_error(opened.status().message());
    input_source = std::move(opened).value();
  }
  std::unique_ptr<ingest::BlockSource> rows_source;
  if (rows_input) rows_source = open_rows_input(*rows_input);

  int out_fd = -1;
  std::unique_ptr<query::JsonLinesSink> json_lines;
  if (!o.output.empty()) {
    out_fd = open_output(o.output);
    json_lines = std::make_unique<query::JsonLinesSink>(out_fd);
  }
  oo.output = json_lines.get();
  auto outputs = app::Outputs::open(oo, &why);
  if (!outputs) io_error(why);
  server::MetricsRegistry& metrics = outputs->metrics();
  if (LiveSource* f = flow_source.load()) f->register_metrics(metrics);
  if (!input_uri)
  metrics.add("netpulse_generator_records_total", "Records the generator wrote",
              server::MetricType::kCounter,
              [&generator] { return static_cast<double>(generator.status().records); });
  if (!input_uri)
  metrics.add("netpulse_generator_running", "1 while the generator runs, 0 while stopped",
              server::MetricType::kGauge, [&generator] {
                const auto s = generator.status();
                return s.running && !s.paused ? 1.0 : 0.0;
              });

  core::ProtocolTable protocols;
  query::SixQueries queries(protocols, outputs->sink());
  engine::Pipeline pipeline(config, control, protocols, format, queries);
  outputs->record_history(pipeline, protocols, config.memory_limit);
  app::register_engine_metrics(metrics, pipeline.counters());

  // Detectors: the flow detector (DoS, port scan, brute force over the live records) reads
  // every block the engine reads, on its own thread; its alerts go where results go.
  std::unique_ptr<app::AlertTap> tap;
  if (!o.no_detect) {
    topt.format = format;
    fit_tap(topt, input_uri ? &*input_uri : nullptr, config.memory_limit);
    if (topt.rules || !topt.models.empty()) {
      tap = std::make_unique<app::AlertTap>(
          [o = outputs.get()](store::Alert a) { o->emit_alert(std::move(a)); }, std::move(topt));
      tap->register_metrics(metrics);
      auto observer = [t = tap.get()](const ingest::Block& b) { t->offer(b); };
      if (LiveSource* f = flow_source.load()) f->set_observer(observer);
      else if (input_source) input_source = std::make_unique<ingest::ObservedSource>(std::move(input_source), observer);
      else feed.set_observer(observer);
    }
  }
  if (!o.quiet)
    std::fprintf(stderr, "netpulse: flow detectors: %s\n",
                 detect_listing.empty() ? "none" : detect_listing.c_str());
  // The NSL-KDD models classify connection rows, which flow records do not carry: they run on
  // the --rows stream (started below, once the server is up), on their own thread.
  if (!o.quiet) {
    std::string dir = o.models;  // shown as "models/"
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (models.empty()) {
      std::fprintf(stderr,
                   "netpulse: no NSL-KDD row models in %s/ (no row detection); live alerts come "
                   "from the flow detectors\n",
                   dir.c_str());
    } else {
      const std::string use = rows_input ? "classifying the rows of " + rows_input->uri.text
                                         : std::string("idle: --rows URI feeds them NSL-KDD rows");
      std::fprintf(stderr, "netpulse: row models in %s/: %s; %s\n", dir.c_str(), model_listing.c_str(),
                   use.c_str());
    }
  }

  server::WebParts parts;
  parts.processor = &control;
  parts.generator = input_uri ? nullptr : &generator;
  if (LiveSource* f = flow_source.load()) parts.input_status = [f] { return f->status(); };
  std::string notice;
  if (!outputs->start_web(std::move(parts), &why, &notice)) io_error(why);
  if (!notice.empty() && !o.quiet) std::fprintf(stderr, "netpulse: %s\n", notice.c_str());
  std::printf("netpulse: dashboard at %s (store %s; Ctrl-C to stop)\n",
              outputs->dashboard_url().c_str(), outputs->writer()->describe().c_str());
  std::fflush(stdout);

  const auto t0 = std::chrono::steady_clock::now();
  // The models over the --rows stream: every alert goes where the flow detector's go.
  std::unique_ptr<app::RowAlerts> row_alerts;
  if (rows_source) {
    app::RowAlerts::Options ro;
    ro.delay = std::chrono::milliseconds(o.rows_delay_ms);
    ro.report = [](const std::string& line) {
      std::fprintf(stderr, "netpulse: %s\n", line.c_str());
    };
    if (!o.quiet)
      ro.on_end = [](const app::RowAlerts& r) {
        std::fprintf(stderr, "netpulse: --rows %s ended: %s\n", r.describe().c_str(),
                     row_counts(r).c_str());
      };
    row_alerts = std::make_unique<app::RowAlerts>(
        std::move(rows_source), std::move(models),
        [o = outputs.get()](store::Alert a) { o->emit_alert(std::move(a)); }, std::move(ro));
    row_alerts->register_metrics(metrics);
    row_alerts_running = row_alerts.get();
  }
  generate::RunSummary gen_summary;
  std::thread gen_thread;
  if (!input_source)
    gen_thread = std::thread([&] {
      gen_summary = generator.run(feed);
      feed.close();  // the engine drains what is left, then ends
    });
  const auto error = pipeline.run(input_source ? *input_source : static_cast<ingest::BlockSource&>(feed));
  // The engine is done (Ctrl-C, or the generator ended): stop the generator if it still runs.
  generator.request_stop();
  feed.close();
  if (gen_thread.joinable()) gen_thread.join();
  if (LiveSource* f = flow_source.load()) f->abandon();  // the engine no longer reads
  else if (input_source) input_source->close();
  if (tap) tap->stop();  // the last alerts, before the store is flushed
  if (row_alerts) {
    row_alerts->stop();  // the rows already read are classified, their alerts sent
    row_alerts_running = nullptr;
  }
  outputs->flush();
  const uint64_t stored = outputs->writer()->stats().results_written;
  outputs->close();
  if (json_lines) json_lines->flush();
  if (out_fd > 1) ::close(out_fd);

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& c = pipeline.counters();
  if (!o.quiet)
    std::fprintf(
        stderr,
        "netpulse: %llu records read, %llu accepted, %llu late, %llu malformed; %llu windows, "
        "%llu results stored; %.1f s\n",
        static_cast<unsigned long long>(c.records_read.load()),
        static_cast<unsigned long long>(c.accepted.load()),
        static_cast<unsigned long long>(c.late.load()),
        static_cast<unsigned long long>(c.malformed.load()),
        static_cast<unsigned long long>(c.windows.load()),
        static_cast<unsigned long long>(stored), seconds);
  if (LiveSource* f = flow_source.load(); f && !o.quiet) f->print_summary(seconds);
  if (!o.quiet && row_alerts)
    std::fprintf(stderr, "netpulse: --rows %s: %s\n", row_alerts->describe().c_str(),
                 row_counts(*row_alerts).c_str());
  if (json_lines && !json_lines->ok())
    io_error("--output '" + o.output + "': " + json_lines->error());
  if (!error.ok()) io_error(error.message());
  return 0;
}

}  // namespace

Command make_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand(
      "run",
      "Run everything in one process: the traffic generator (or a real network with --input "
      "netflow:// or sflow://), the six window queries, the detectors, the SQLite store and the "
      "live dashboard (HTTP API and WebSocket).");
  sub->add_option("--web", o->serve.web,
                  "Where the dashboard and API listen, HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  sub->add_option("--input,-i", o->input,
                  "Watch a real source instead of the generator: netflow://HOST:PORT (NetFlow "
                  "v5/v9 and IPFIX over UDP; default port 2055), sflow://HOST:PORT (sFlow v5; "
                  "default 6343), or flow records from file:PATH, tcp://HOST:PORT, "
                  "tcp-listen://HOST:PORT");
  add_flow_input_options(sub, o->flow);
  sub->add_option("--lateness", o->config.lateness,
                  "Allowed lateness in seconds: records older than the newest seen minus this are "
                  "late (counted, not used). Default 0 for the generator, 10 for a netflow:// or "
                  "sflow:// input, whose exporters interleave their flows");

  sub->add_option("--store", o->serve.store, "Where results are stored: sqlite:PATH or postgresql://...")
      ->capture_default_str();
  sub->add_option("--token", o->serve.token,
                  "Require this token (Authorization: Bearer TOKEN) for control endpoints; "
                  "default: $NETPULSE_TOKEN, else none");
  sub->add_option("--web-root", o->serve.web_root,
                  "The dashboard's directory (default: web/ near the executable)");
  add_alert_options(sub, o->alerts);
  add_history_options(sub, o->history);
  sub->add_option("--rate", o->rate, "Generator records per second (0: as fast as possible)")
      ->check(CLI::Range(uint64_t{0}, generate::kMaxRate))
      ->capture_default_str();
  sub->add_option("--ips", o->ips, "Generator: how many source addresses")
      ->check(CLI::Range(uint32_t{1}, static_cast<uint32_t>(generate::kMaxAddresses)))
      ->capture_default_str();
  sub->add_option("--protocols", o->protocols, "Generator: how many protocols")
      ->check(CLI::Range(uint32_t{1}, static_cast<uint32_t>(generate::kMaxProtocols)))
      ->capture_default_str();
  sub->add_option("--ip-percent", o->ip_percent,
                  "Generator: percent of records from the first address (default: uniform)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--protocol-percent", o->protocol_percent,
                  "Generator: percent of records of the first protocol (default: uniform)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--seed", o->seed, "Generator seed")->capture_default_str();
  sub->add_option("--scenario", o->scenarios,
                  "Mix attack traffic into the stream, NAME@START+LENGTH, e.g. dos@30s+20s "
                  "(dos, portscan, bruteforce, elephant, flood, flood6; repeatable)");
  sub->add_option("--flood-rate", o->flood_rate,
                  "Generator: records per second of event time a flood scenario adds on top of "
                  "--rate, each from a new spoofed source")
      ->check(CLI::Range(uint64_t{1}, generate::kMaxRate))
      ->capture_default_str();
  add_detect_options(sub, o->detect, {"rules", "models"});
  sub->add_flag("--no-detect", o->no_detect,
                "Run no flow detector (as --detect none; the --rows models still run)");
  add_query_options(sub, o->params, o->config, /*slide=*/false, "seconds");
  sub->add_option("--threads", o->config.threads, "Engine worker threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  sub->add_option("--web-threads", o->serve.web_threads, "Threads serving HTTP and WebSocket")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  sub->add_option("--output,-o", o->output,
                  "Also write results as JSON lines: - (stdout), file:PATH or PATH");
  sub->add_option("--models", o->models,
                  "Directory of NSL-KDD detector models (*.json, as netpulse train writes them): "
                  "its flow-*.json and line-*.json run on the flow records (--detect models), the "
                  "others on the "
                  "--rows stream")
      ->capture_default_str();
  sub->add_option("--rows", o->rows,
                  "NSL-KDD connection rows for the models: file:PATH or PATH, - (stdin), "
                  "tcp://HOST:PORT, tcp-listen://HOST:PORT, kafka://BROKERS/TOPIC?group=G; "
                  "their alerts go to the store, the WebSocket and the dashboard");
  sub->add_option("--rows-delay-ms", o->rows_delay_ms,
                  "With --rows: pause this long after each row (replay at a fixed pace)")
      ->check(CLI::Range(0, 3'600'000))
      ->capture_default_str();
  sub->add_flag("--quiet,-q", o->quiet, "No notices or summary on stderr");
  return Command{sub, [o, sub] {
                   for (const CLI::Option* opt : sub->get_options())
                     if (opt->count() > 0) o->given.push_back(opt->get_name());
                   return run_all(*o);
                 }};
}

}  // namespace netpulse::cli
