// netpulse process: the six window queries over a stream of flow records.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <thread>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>

#include "app/alert_tap.hpp"
#include "app/engine_metrics.hpp"
#include "app/outputs.hpp"
#include "cli/alert_options.hpp"
#include "cli/detect_options.hpp"
#include "cli/history_options.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/kafka_options.hpp"
#include "cli/control_port.hpp"
#include "cli/flow_input.hpp"
#include "cli/result_output.hpp"
#include "cli/query_options.hpp"
#include "core/time.hpp"
#include "engine/params.hpp"
#include "engine/pipeline.hpp"
#include "engine/window_shard.hpp"
#include "ingest/block_source.hpp"
#include "ingest/observed_source.hpp"
#include "ingest/flow_parser.hpp"
#include "ingest/uri.hpp"
#include "kafka/instance.hpp"
#include "kafka/partition_state.hpp"
#include "query/queries.hpp"
#include "query/result_json.hpp"
#include "server/control_server.hpp"
#include "server/result_codec.hpp"
#include "server/web_app.hpp"

namespace netpulse::cli {

namespace {

// Progress on long runs: calls report(seconds since start) every `period` seconds on its own
// thread until stopped (period 0: never). --progress defaults to 10 s when stderr is a
// terminal, never otherwise.
class ProgressTicker {
 public:
  ProgressTicker(double period, std::function<void(double)> report)
      : t0_(std::chrono::steady_clock::now()) {
    if (period <= 0) return;
    thread_ = std::thread([this, period, report = std::move(report)] {
      auto next = t0_;
      while (running_.load()) {
        next += std::chrono::milliseconds(static_cast<int64_t>(period * 1000));
        while (running_.load() && std::chrono::steady_clock::now() < next)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (!running_.load()) break;
        report(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count());
      }
    });
  }
  ~ProgressTicker() { stop(); }
  // Stops the thread; returns the seconds since start.
  double stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }
  static double period(double option, bool quiet) {
    if (quiet) return 0;
    return option >= 0 ? option : (::isatty(2) ? 10.0 : 0.0);
  }

 private:
  std::chrono::steady_clock::time_point t0_;
  std::atomic<bool> running_{true};
  std::thread thread_;
};

struct ProcessOptions {
  std::string input;
  std::string format = "line";
  std::string output = "-";
  std::string time_unit = "1s";
  std::string ip_key = "src";
  std::string control;
  app::OutputOptions serve;  // --store, --web, --token, --web-root
  AlertOptions alerts;   // --alert-webhook, --alert-syslog, --alert-rule
  DetectOptions detect;  // --detect, --models, --confirm, --hold
  std::string alert_output;  // --alert-output
  HistoryOptions history;  // --history-keys, --retention, --retention-size
  engine::QueryParams params;
  engine::EngineConfig config;
  bool quiet = false;
  double progress = -1;
  // Kafka input (src/kafka/instance.hpp)
  std::string panes_topic;
  std::string instance_name;
  std::vector<std::string> kafka_properties;
  std::string idle_timeout = "10s";
  bool exit_at_end = false;
  FlowInputOptions flow;  // netflow:// and sflow:// inputs
  std::vector<std::string> given;  // the options given on the command line, by name
};

// Options that one kind of input ignores are refused, so nothing is silently dropped.
void check_options_fit_input(const ProcessOptions& o, const ingest::Uri& input, bool kafka_output) {
  const bool kafka_input = input.kind == ingest::Uri::Kind::kKafka;
  const auto given = [&o](std::string_view name) {
    return std::find(o.given.begin(), o.given.end(), name) != o.given.end();
  };
  check_flow_input_options(input, o.given, "--format");
  if (kafka_input) {
    for (const char* name : {"--output", "--store", "--web", "--token", "--web-root", "--control",
                             "--alert-webhook", "--alert-syslog", "--alert-rule", "--detect",
                             "--confirm", "--hold", "--alert-output",
                             "--threads", "--T", "--H", "--k", "--X", "--slide", "--max-window"})
      if (given(name))
        usage_error(std::string(name) + ": with a kafka:// input, process publishes panes and "
                    "`netpulse merge` runs the queries: give it to merge");
    return;
  }
  for (const char* name : {"--panes-topic", "--idle-timeout", "--exit-at-end", "--instance-name"})
    if (given(name)) usage_error(std::string(name) + ": only with a kafka:// --input");
  // --models is not refused without --detect: images and deployments set it for every command
  // (NETPULSE_MODELS), and it only says where models are.
  if (!given("--detect"))
    for (const char* name : {"--confirm", "--hold", "--alert-output"})
      if (given(name)) usage_error(std::string(name) + ": only with --detect");
  if (given("--kafka-property") && !kafka_output)
    usage_error("--kafka-property: only with a kafka:// --input or --output");
}

// --input kafka://...: this process is one member of a consumer group; it publishes complete
// panes for `netpulse merge`, which runs the queries.
int run_kafka_instance(const ProcessOptions& o, const engine::EngineConfig& config,
                       const ingest::Uri& uri) {
  std::string why;
  kafka::InstanceOptions io;
  auto k = kafka::parse_kafka_uri(uri.path, &why);
  if (!k) usage_error("--input '" + o.input + "': " + why);
  if (k->group.empty())
    usage_error("--input '" + o.input + "': a consumer group is required (kafka://BROKERS/TOPIC?group=NAME)");
  if (ingest::parse_format(o.format) != ingest::Format::kLine)
    usage_error("--format csv: Kafka messages are single records in the line format");
  io.input = *k;
  io.panes_topic = o.panes_topic;
  io.name = o.instance_name;
  io.properties = parse_kafka_properties(o.kafka_properties);
  io.config = config;
  io.exit_at_end = o.exit_at_end;
  io.quiet = o.quiet;
  // --history-keys 0 (no history): no conversation samples on the panes topic either.
  io.history_sample = o.history.keys == 0 ? kafka::kNoSample : o.history.sample;
  io.idle_timeout = std::chrono::milliseconds(o.idle_timeout == "0" ? 0 : *core::parse_duration_ms(o.idle_timeout));
  kafka::Instance instance(io);
  on_termination([&instance] { instance.stop(); }, "committing and leaving the group");
  instance.on_malformed([&](int32_t partition, int64_t offset, const char* reason, std::string_view text) {
    std::fprintf(stderr, "netpulse: %s partition %d offset %lld: malformed record: %s '%.*s'\n",
                 k->topic.c_str(), partition, static_cast<long long>(offset), reason,
                 static_cast<int>(std::min<size_t>(text.size(), 60)), text.data());
  });
  if (!o.quiet)
    std::fprintf(stderr, "netpulse: consuming %s as group %s; panes to %s\n", k->topic.c_str(),
                 k->group.c_str(), (o.panes_topic.empty() ? k->topic + ".panes" : o.panes_topic).c_str());
  const auto& c = instance.counters();
  ProgressTicker ticker(ProgressTicker::period(o.progress, o.quiet), [&c](double s) {
    std::fprintf(stderr, "netpulse: progress: %llu records read (%srecords/s), %llu late, %llu malformed, %llu pane messages\n",
                 static_cast<unsigned long long>(c.records_read()),
                 human_rate(c.records_read() / s).c_str(),
                 static_cast<unsigned long long>(c.late.load()),
                 static_cast<unsigned long long>(c.malformed.load()),
                 static_cast<unsigned long long>(c.panes.load()));
  });
  const auto error = instance.run();
  const double seconds = ticker.stop();
  if (!o.quiet) {
    const uint64_t read = c.records_read();
    std::fprintf(stderr,
                 "netpulse: %llu records read, %llu accepted, %llu late, %llu malformed, %llu "
                 "replayed (already published); %llu pane messages, %llu sample messages, "
                 "%llu commits, %llu rebalances; %.3f s, %srecords/s\n",
                 static_cast<unsigned long long>(read), static_cast<unsigned long long>(c.accepted.load()),
                 static_cast<unsigned long long>(c.late.load()),
                 static_cast<unsigned long long>(c.malformed.load()),
                 static_cast<unsigned long long>(c.replayed.load()),
                 static_cast<unsigned long long>(c.panes.load()),
                 static_cast<unsigned long long>(c.samples.load()),
                 static_cast<unsigned long long>(c.commits.load()),
                 static_cast<unsigned long long>(c.rebalances.load()), seconds,
                 human_rate(seconds > 0 ? read / seconds : 0).c_str());
    if (const uint64_t summarized = c.summarized.load(); summarized > 0)
      std::fprintf(stderr,
                   "netpulse: %llu panes were published as summaries: the memory budget "
                   "(--memory-limit %s) bounded a flood of addresses; merge's results for them "
                   "are approximate\n",
                   static_cast<unsigned long long>(summarized),
                   human_bytes(static_cast<double>(config.memory_limit)).c_str());
  }
  if (error) io_error(*error);
  return 0;
}

int run_process(const ProcessOptions& o) {
  engine::EngineConfig config = o.config;
  config.time_unit_ms = *core::parse_duration_ms(o.time_unit);
  config.ip_key = *engine::parse_ip_key(o.ip_key);
  if (core::Status s = engine::validate(config); !s.ok()) usage_error(s.message());
  if (core::Status s = engine::validate(o.params, config.max_window); !s.ok())
    usage_error("--" + s.message());
  ingest::Format format = *ingest::parse_format(o.format);

  const auto in_uri = ingest::parse_uri(o.input);
  if (!in_uri.ok()) usage_error("--input '" + o.input + "': " + in_uri.status().message());
  std::string why;
  const bool kafka_output = o.output.rfind("kafka://", 0) == 0;
  const bool flow_input = is_live_input(*in_uri);
  check_options_fit_input(o, *in_uri, kafka_output);
  if (in_uri->kind == ingest::Uri::Kind::kKafka) return run_kafka_instance(o, config, *in_uri);
  app::OutputOptions oo = o.serve;
  apply_alert_options(o.alerts, oo);  // a bad rule or endpoint: exit 2 before anything opens
  std::string detect_listing;
  const detect::FlowInputKind input_kind = flow_input_kind(*in_uri, o.flow, format);
  app::AlertTap::Options topt = detect_tap_options(o.detect, &detect_listing, input_kind);
  // A flow export or captured flows are read as CSV when a model needs more than line records
  // give: the extra columns carry ports, flags, packets and flow times (flow-attack.json); the
  // engine's results are the same.
  const bool csv_live = reads_flow_columns(topt);
  if (csv_live) format = ingest::Format::kCsv;
  apply_history_options(o.history, oo.history);
  // A captured flow's record comes when the flow ends, after records of flows that ended
  // sooner: unless told otherwise, allow that much lateness, or most of them would be late.
  if (const int64_t wait_ms = capture_flow_wait_ms(*in_uri, o.flow);
      wait_ms > 0 && std::find(o.given.begin(), o.given.end(), "--lateness") == o.given.end()) {
    config.lateness = (wait_ms + config.time_unit_ms - 1) / config.time_unit_ms + 1;
    if (core::Status s = engine::validate(config); !s.ok())
      usage_error("--records flows: " + s.message() + "; give --lateness");
    if (!o.quiet)
      std::fprintf(stderr,
                   "netpulse: --records flows: lateness %lld time units (a flow's record comes "
                   "when it ends; --lateness sets it)\n",
                   static_cast<long long>(config.lateness));
  }

  const std::optional<ingest::Uri> control_uri = parse_control_option(o.control);

  // Signals first: every thread started after this (readers, control port) inherits the mask,
  // so Ctrl-C reaches the handler that flushes pending windows.
  engine::EngineControl control(o.params, config.max_window);
  // A flow-export input drains its sockets first: every datagram already received is counted.
  std::atomic<LiveSource*> flow_source{nullptr};
  on_termination(
      [&control, &flow_source] {
        if (LiveSource* f = flow_source.load()) {
          f->close();  // returns at once; the engine ends when the drained records are in
          // A paused engine reads nothing until a shutdown, which makes it take what was drained.
          if (control.paused()) control.request_shutdown();
        } else {
          control.request_shutdown();
        }
      },
      "flushing pending windows");

  ResultOutput output(o.output, o.kafka_properties);
  ingest::SourceOptions source_options;
  source_options.per_connection_header = format == ingest::Format::kCsv;
  source_options.deferred_reads = true;  // the engine reads a file on its parsing threads
  std::unique_ptr<ingest::BlockSource> source;
  if (flow_input) {
    auto cs = open_live_source(*in_uri, o.flow, o.quiet,
                               csv_live ? collect::TextFormat::kCsv : collect::TextFormat::kLine);
    flow_source = cs.get();
    source = std::move(cs);
  } else {
    auto opened = ingest::open_source(*in_uri, source_options);
    if (!opened.ok()) io_error(opened.status().message());
    source = std::move(opened).value();
  }

  auto control_server = open_control_port(control_uri, control, o.quiet);

  // --store and --web: results also go to the store and the WebSocket (app/outputs.hpp); alerts
  // from --alert-rule to the --alert-* endpoints as well.
  oo.output = &output.sink();
  auto outputs = app::Outputs::open(oo, &why);
  if (!outputs) io_error(why);

  core::ProtocolTable protocols;
  query::SixQueries queries(protocols, outputs->sink());
  engine::Pipeline pipeline(config, control, protocols, format, queries);
  outputs->record_history(pipeline, protocols, config.memory_limit);

  // --detect: the flow detectors read every block the engine reads, on their own thread; their
  // alerts go to the store, the WebSocket and the alert endpoints, and as JSON lines to
  // --alert-output (standard error when nothing else would receive them).
  std::unique_ptr<app::AlertTap> tap;
  FILE* alert_file = nullptr;
  if (!topt.models.empty() || topt.rules) {
    if (!o.alert_output.empty()) {
      const int fd = open_output(o.alert_output, "--alert-output");
      alert_file = fd == 1 ? stdout : ::fdopen(fd, "w");
    } else if (oo.store.empty() && oo.web.empty() && oo.alert_endpoints.empty()) {
      alert_file = stderr;
    }
    fit_tap(topt, &*in_uri, config.memory_limit);
    topt.format = format;
    tap = std::make_unique<app::AlertTap>(
        [out = outputs.get(), alert_file](store::Alert a) {
          if (alert_file) {
            const std::string line = server::alert_json(a) + "\n";
            std::fwrite(line.data(), 1, line.size(), alert_file);
            std::fflush(alert_file);
          }
          out->emit_alert(std::move(a));
        },
        std::move(topt));
    tap->register_metrics(outputs->metrics());
    auto observer = [t = tap.get()](const ingest::Block& b) { t->offer(b); };
    if (LiveSource* f = flow_source.load()) f->set_observer(observer);
    else source = std::make_unique<ingest::ObservedSource>(std::move(source), observer);
    if (!o.quiet) std::fprintf(stderr, "netpulse: flow detectors: %s\n", detect_listing.c_str());
  }

  if (outputs->has_web()) {
    app::register_engine_metrics(outputs->metrics(), pipeline.counters());
    server::WebParts parts;
    parts.processor = &control;
    if (LiveSource* f = flow_source.load()) {
      f->register_metrics(outputs->metrics());
      parts.input_status = [f] { return f->status(); };
    }
    std::string notice;
    if (!outputs->start_web(std::move(parts), &why, &notice)) io_error(why);
    if (!o.quiet) {
      if (!notice.empty()) std::fprintf(stderr, "netpulse: %s\n", notice.c_str());
      std::fprintf(stderr, "netpulse: dashboard and API at %s\n", outputs->dashboard_url().c_str());
    }
  }
  pipeline.on_malformed([&](const engine::MalformedReport& r) {
    std::fprintf(stderr, "netpulse: %s line %llu: malformed record: %s%s%s%s\n",
                 source->describe().c_str(), static_cast<unsigned long long>(r.line),
                 ingest::describe(r.status), r.field.empty() ? "" : " '", r.field.c_str(),
                 r.field.empty() ? "" : "'");
  });

  ProgressTicker ticker(ProgressTicker::period(o.progress, o.quiet), [&](double s) {
    const auto& c = pipeline.counters();
    const int64_t wm = c.watermark_ms.load();
    std::fprintf(stderr, "netpulse: %llu records (%srecords/s), %llu late, %llu malformed, %llu windows, watermark %s%s\n",
                 static_cast<unsigned long long>(c.records_read.load()),
                 human_rate(c.records_read.load() / s).c_str(),
                 static_cast<unsigned long long>(c.late.load()),
                 static_cast<unsigned long long>(c.malformed.load()),
                 static_cast<unsigned long long>(c.windows.load()),
                 wm == INT64_MIN ? "none" : core::format_iso8601(wm).c_str(),
                 control.paused() ? " (stopped)" : "");
  });
  const auto error = pipeline.run(*source);
  const double seconds = ticker.stop();
  if (LiveSource* f = flow_source.load()) {
    f->abandon();  // the engine has stopped reading (normally: the feed has already ended)
    if (!o.quiet) f->print_summary(seconds);
  }
  if (tap) {
    tap->stop();  // the last alerts, before the store is flushed
    if (!o.quiet)
      std::fprintf(stderr, "netpulse: flow detectors: %llu records, %llu alerts (%llu from models)%s\n",
                   static_cast<unsigned long long>(tap->records()),
                   static_cast<unsigned long long>(tap->alerts()),
                   static_cast<unsigned long long>(tap->model_alerts()),
                   tap->skipped_blocks() ? (", " + std::to_string(tap->skipped_blocks()) +
                                            " blocks skipped (behind)").c_str()
                                         : "");
  }
  if (alert_file && alert_file != stdout && alert_file != stderr) std::fclose(alert_file);
  outputs->flush();
  const auto output_error = output.close();
  outputs->close();
  if (control_server) control_server->stop();

  const auto& c = pipeline.counters();
  if (!o.quiet) {
    const uint64_t read = c.records_read.load();
    std::fprintf(stderr,
                 "netpulse: %llu records read, %llu accepted, %llu late, %llu malformed; "
                 "%llu windows; %.3f s, %srecords/s, %sB/s; peak memory %s\n",
                 static_cast<unsigned long long>(read),
                 static_cast<unsigned long long>(c.accepted.load()),
                 static_cast<unsigned long long>(c.late.load()),
                 static_cast<unsigned long long>(c.malformed.load()),
                 static_cast<unsigned long long>(c.windows.load()), seconds,
                 human_rate(seconds > 0 ? read / seconds : 0).c_str(),
                 human_rate(seconds > 0 ? c.input_bytes.load() / seconds : 0).c_str(),
                 human_bytes(static_cast<double>(peak_rss_bytes())).c_str());
    if (c.malformed.load() > 10)
      std::fprintf(stderr, "netpulse: (only the first 10 malformed lines were shown)\n");
    if (const app::HistoryRecorder* h = outputs->history()) {
      std::fprintf(stderr, "netpulse: history: %llu minutes, %llu buckets of %zu keys at most",
                   static_cast<unsigned long long>(h->minutes()),
                   static_cast<unsigned long long>(h->buckets()), oo.history.keys);
      std::fprintf(stderr, "; recorder %.3f s of CPU", static_cast<double>(h->busy_us()) / 1e6);
      if (h->sampled_minutes() > 0)
        std::fprintf(stderr, "; %llu minutes estimated from a sample of %zu records",
                     static_cast<unsigned long long>(h->sampled_minutes()), h->sample());
      if (h->overflow_records() > 0)
        std::fprintf(stderr, "; %llu records beyond the conversation table (counted in totals)",
                     static_cast<unsigned long long>(h->overflow_records()));
      // Time the engine stood still because the recorder was a whole queue behind.
      if (const uint64_t us = h->producer_wait_us(); us >= 1000)
        std::fprintf(stderr, "; the engine waited %.3f s for it", static_cast<double>(us) / 1e6);
      std::fprintf(stderr, "\n");
    }
    if (const uint64_t approx = c.approximate_windows.load(); approx > 0) {
      // (validate(config) accepted this budget before the run.)
      const engine::ShardBudget b =
          engine::budget_for(config, static_cast<uint32_t>(std::max(1, config.threads))).value();
      std::fprintf(stderr,
                   "netpulse: %llu windows had approximate address results: the memory budget "
                   "(--memory-limit %s) summarized a flood of addresses (%zu addresses a pane, "
                   "epsilon <= %.3g%%)\n",
                   static_cast<unsigned long long>(approx),
                   human_bytes(static_cast<double>(config.memory_limit)).c_str(), b.summary_keys,
                   100.0 / static_cast<double>(b.summary_keys + 1));
    }
  }
  if (output_error) io_error(*output_error);
  if (!error.ok()) io_error(error.message());
  return 0;
}

}  // namespace

Command make_process_command(CLI::App& app) {
  auto o = std::make_shared<ProcessOptions>();
  CLI::App* sub = app.add_subcommand(
      "process",
      "Run the six window queries (protocol-share, protocol-topk, protocol-outliers, ip-share, "
      "ip-topk, ip-outliers) over flow records; results as JSON lines.");
  sub->add_option("--input,-i", o->input,
                  "Where records come from: file:PATH or PATH, - (stdin), tcp://HOST:PORT "
                  "(connect to a producer), tcp-listen://HOST:PORT (accept producers), "
                  "kafka://BROKERS/TOPIC?group=G (a consumer group member: publishes complete "
                  "panes for `netpulse merge`, which runs the queries), netflow://HOST:PORT "
                  "(a NetFlow v5/v9 and IPFIX collector on that UDP port; default 2055) or "
                  "sflow://HOST:PORT (an sFlow v5 collector; default 6343)")
      ->required();
  sub->add_option("--format", o->format, "Record format: line or csv (CSV has a header line)")
      ->check(CLI::IsMember({"line", "csv"}))
      ->capture_default_str();
  add_query_options(sub, o->params, o->config);
  add_flow_input_options(sub, o->flow);
  sub->add_option("--time-unit", o->time_unit, "The time unit: 100ms, 1s, 1m, ...")
      ->check(duration_validator())
      ->capture_default_str();
  sub->add_option("--lateness", o->config.lateness,
                  "Allowed lateness in time units: records older than the greatest event time "
                  "seen minus this are late (counted, not used); with a capture and --records "
                  "flows the default covers the flow timeout")
      ->check(CLI::Range(int64_t{0}, int64_t{10'000'000}))
      ->capture_default_str();
  sub->add_option("--ip-key", o->ip_key,
                  "Which address the ip-* queries key on: src, dst, or host (both; once if equal)")
      ->check(CLI::IsMember({"src", "dst", "host"}))
      ->capture_default_str();
  sub->add_option("--threads", o->config.threads,
                  "Worker threads (parsing and aggregation); output is identical for any count")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  sub->add_option("--output,-o", o->output,
                  "Where results go: - (stdout), file:PATH or PATH (JSON lines), or "
                  "kafka://BROKERS/TOPIC (one message per result, keyed by query name)")
      ->capture_default_str();
  sub->add_option("--control", o->control,
                  "Open the text control port, e.g. tcp://127.0.0.1:12302 (start, stop, "
                  "change H T k X)");
  sub->add_option("--store", o->serve.store,
                  "Also store every result: sqlite:PATH (or a path) or postgresql://...");
  sub->add_option("--web", o->serve.web,
                  "Serve the HTTP API, WebSocket and dashboard on HOST:PORT (e.g. 127.0.0.1:8080)");
  sub->add_option("--token", o->serve.token,
                  "With --web: require this token for control endpoints (default: $NETPULSE_TOKEN)");
  sub->add_option("--web-root", o->serve.web_root, "With --web: the dashboard's directory");
  add_alert_options(sub, o->alerts);
  add_detect_options(sub, o->detect, {});
  sub->add_option(
         "--models", o->detect.models_dir,
         "With --detect models: the directory of the flow models (its flow-*.json and line-*.json)")
      ->capture_default_str();
  sub->add_option("--alert-output", o->alert_output,
                  "With --detect: also write each alert as a JSON line to file:PATH, PATH or - "
                  "(stdout); default: standard error when no --store, --web or alert endpoint "
                  "takes them");
  add_history_options(sub, o->history);
  sub->add_option("--progress", o->progress,
                  "Print a progress line on stderr every this many seconds (0: never; default: "
                  "10 when stderr is a terminal)")
      ->check(CLI::Range(0.0, 86400.0));
  sub->add_option("--panes-topic", o->panes_topic,
                  "Kafka input: where complete panes go (default: the input topic + .panes)");
  sub->add_option("--instance-name", o->instance_name,
                  "Kafka input: this instance's name in merge's cluster view (/api/status), sent "
                  "with every pane (default: HOST:PID-XXXX, XXXX random)");
  sub->add_option("--kafka-property", o->kafka_properties,
                  "Kafka input or output: a librdkafka property K=V (repeatable), e.g. "
                  "session.timeout.ms=6000");
  sub->add_option("--idle-timeout", o->idle_timeout,
                  "Kafka input: a partition at its end this long is marked idle, so merge does not "
                  "wait for it (0: never)")
      ->check([](const std::string& v) {
        return v == "0" || core::parse_duration_ms(v) ? std::string()
                                                      : "'" + v + "' is not 0 or a duration such as 500ms, 10s";
      })
      ->capture_default_str();
  sub->add_flag("--exit-at-end", o->exit_at_end,
                "Kafka input: stop when every assigned partition reached its end, publishing "
                "every pending pane (backfills, replays, tests)");
  sub->add_flag("--quiet,-q", o->quiet, "No summary or notices on stderr (malformed lines still reported)");
  return Command{sub, [o, sub] {
                   for (const CLI::Option* opt : sub->get_options())
                     if (opt->count() > 0) o->given.push_back(opt->get_name());
                   return run_process(*o);
                 }};
}

}  // namespace netpulse::cli
