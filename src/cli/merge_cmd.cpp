// netpulse merge: the six window queries over the panes that `netpulse process` instances on
// Kafka publish (src/kafka/instance.hpp has the picture). Output as `process`; with --web, the
// HTTP API, WebSocket and dashboard of `netpulse run` over the merged results, with the
// cluster's partitions in /api/status.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>

#include "app/cluster_status.hpp"
#include "app/outputs.hpp"
#include "cli/alert_options.hpp"
#include "cli/history_options.hpp"
#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/kafka_options.hpp"
#include "cli/control_port.hpp"
#include "cli/result_output.hpp"
#include "cli/query_options.hpp"
#include "engine/params.hpp"
#include "engine/window_shard.hpp"
#include "ingest/uri.hpp"
#include "kafka/merge.hpp"
#include "query/queries.hpp"
#include "query/result_json.hpp"
#include "server/control_server.hpp"
#include "server/web_app.hpp"

namespace netpulse::cli {

namespace {

struct MergeCliOptions {
  std::string input;
  std::string output = "-";
  std::string control;
  app::OutputOptions serve;  // --store, --web, --token, --web-root
  AlertOptions alerts;   // --alert-webhook, --alert-syslog, --alert-rule
  HistoryOptions history;  // --history-keys, --retention, --retention-size
  std::vector<std::string> properties;
  engine::QueryParams params;
  engine::EngineConfig config;
  bool exit_at_end = false;
  bool quiet = false;
};

int run_merge_cmd(const MergeCliOptions& o) {
  if (core::Status s = engine::validate(o.params, o.config.max_window); !s.ok())
    usage_error("--" + s.message());
  if (core::Status s = engine::budget_for(o.config, 1).status(); !s.ok()) usage_error(s.message());
  std::string why;
  const auto uri = ingest::parse_uri(o.input);
  if (!uri.ok() || uri->kind != ingest::Uri::Kind::kKafka)
    usage_error("--input '" + o.input + "': expected kafka://BROKERS/TOPIC (the panes topic)");
  app::OutputOptions oo = o.serve;
  apply_alert_options(o.alerts, oo);
  apply_history_options(o.history, oo.history);
  kafka::MergeOptions mo;
  auto k = kafka::parse_kafka_uri(uri->path, &why);
  if (!k) usage_error("--input '" + o.input + "': " + why);
  mo.input = *k;
  mo.properties = parse_kafka_properties(o.properties);
  mo.exit_at_end = o.exit_at_end;

  const std::optional<ingest::Uri> control_uri = parse_control_option(o.control);
  engine::EngineControl control(o.params, o.config.max_window);
  mo.control = &control;
  std::atomic<bool> stop{false};
  on_termination([&] { stop = true; }, "flushing pending windows");

  ResultOutput output(o.output, o.properties);
  oo.output = &output.sink();
  auto outputs = app::Outputs::open(oo, &why);
  if (!outputs) io_error(why);
  auto control_server = open_control_port(control_uri, control, o.quiet);

  core::ProtocolTable protocols;
  query::SixQueries queries(protocols, outputs->sink());
  kafka::PaneMerge merge(o.config, control, protocols, queries);
  outputs->record_history(merge, protocols);
  if (outputs->has_web()) {
    app::register_merge_metrics(outputs->metrics(), merge);
    server::WebParts parts;
    parts.processor = &control;
    parts.input_status = [&merge] {
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      return nlohmann::json{{"cluster", app::cluster_status(merge.cluster(), now)}};
    };
    std::string notice;
    if (!outputs->start_web(std::move(parts), &why, &notice)) io_error(why);
    if (!o.quiet) {
      if (!notice.empty()) std::fprintf(stderr, "netpulse: %s\n", notice.c_str());
      std::fprintf(stderr, "netpulse: dashboard and API at %s\n", outputs->dashboard_url().c_str());
    }
  }

  size_t rejected_shown = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto error = kafka::run_merge(mo, merge, stop, [&](const std::string& what) {
    if (rejected_shown++ < 10) std::fprintf(stderr, "netpulse: skipped %s\n", what.c_str());
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  outputs->flush();
  const auto output_error = output.close();
  outputs->close();
  if (control_server) control_server->stop();
  const auto& c = merge.counters();
  if (!o.quiet) {
    std::fprintf(stderr,
                 "netpulse: merged %llu pane messages, %llu sample messages and %llu marks from "
                 "%d partitions: %llu records, %llu windows; %llu messages of emitted windows "
                 "ignored, %llu messages skipped; %.3f s\n",
                 static_cast<unsigned long long>(c.pane_messages.load()),
                 static_cast<unsigned long long>(c.sample_messages.load()),
                 static_cast<unsigned long long>(c.marks.load()),
                 merge.source() ? merge.source()->partitions : 0,
                 static_cast<unsigned long long>(c.records.load()),
                 static_cast<unsigned long long>(c.windows.load()),
                 static_cast<unsigned long long>(c.ignored.load()),
                 static_cast<unsigned long long>(c.rejected.load()), seconds);
    if (const app::PaneHistory* h = outputs->pane_history())
      std::fprintf(stderr,
                   "netpulse: history: %llu buckets; %llu minutes' conversations estimated from "
                   "the instances' samples\n",
                   static_cast<unsigned long long>(h->buckets()),
                   static_cast<unsigned long long>(h->sampled_minutes()));
  }
  if (output_error) io_error(*output_error);
  if (error) io_error(*error);
  return 0;
}

}  // namespace

Command make_merge_command(CLI::App& app) {
  auto o = std::make_shared<MergeCliOptions>();
  CLI::App* sub = app.add_subcommand(
      "merge",
      "Run the six window queries over the panes that `netpulse process --input kafka://...` "
      "instances publish: N instances plus one merge give exactly the results of one process.");
  sub->add_option("--input,-i", o->input,
                  "The panes topic: kafka://BROKERS/TOPIC (instances publish to TOPIC.panes of "
                  "their input topic unless told --panes-topic)")
      ->required();
  add_query_options(sub, o->params, o->config);
  sub->add_option("--output,-o", o->output,
                  "Where results go: - (stdout), file:PATH or PATH (JSON lines), or "
                  "kafka://BROKERS/TOPIC (one message per result, keyed by query name)")
      ->capture_default_str();
  sub->add_option("--store", o->serve.store,
                  "Also store every result: sqlite:PATH (or a path) or postgresql://... (a "
                  "window emitted again after a restart replaces its row)");
  sub->add_option("--control", o->control,
                  "Open the text control port, e.g. tcp://127.0.0.1:12302 (start, stop, change H T k X)");
  sub->add_option("--web", o->serve.web,
                  "Serve the HTTP API, WebSocket and dashboard over the merged results at "
                  "HOST:PORT (port 0: any free port), as `netpulse run` does; /api/status adds the "
                  "cluster: each source partition's instance, state and lag. Results are read "
                  "back from --store (without it, /api/results answers 503)");
  sub->add_option("--token", o->serve.token,
                  "With --web: require this token (Authorization: Bearer TOKEN) for control "
                  "endpoints; default: $NETPULSE_TOKEN, else none");
  sub->add_option("--web-root", o->serve.web_root,
                  "With --web: the dashboard's directory (default: web/ near the executable)");
  add_alert_options(sub, o->alerts);
  add_history_options(sub, o->history, false);
  sub->add_option("--kafka-property", o->properties,
                  "A librdkafka property K=V for the consumer (repeatable)");
  sub->add_flag("--exit-at-end", o->exit_at_end,
                "Stop once every source partition has ended (instances run with --exit-at-end) "
                "and every pane is read, emitting the pending windows");
  sub->add_flag("--quiet,-q", o->quiet, "No summary on stderr");
  return Command{sub, [o] { return run_merge_cmd(*o); }};
}

}  // namespace netpulse::cli
