// netpulse merge: the six window queries over the panes that `netpulse process` instances on
// Kafka publish (src/kafka/instance.hpp has the picture). Output as `process`.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>

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
#include "server/result_fanout.hpp"
#include "store/store_writer.hpp"

namespace netpulse::cli {

namespace {

struct MergeCliOptions {
  std::string input;
  std::string output = "-";
  std::string store;
  std::string control;
  std::vector<std::string> properties;
  engine::QueryParams params;
  engine::EngineConfig config;
  bool exit_at_end = false;
  bool quiet = false;
};

int run_merge_cmd(const MergeCliOptions& o) {
  if (auto why = engine::validate(o.params, o.config.max_window)) usage_error("--" + *why);
  if (std::string why; engine::budget_for(o.config, 1, &why).bytes == SIZE_MAX) usage_error(why);
  std::string why;
  const auto uri = ingest::parse_uri(o.input, &why);
  if (!uri || uri->kind != ingest::Uri::Kind::kKafka)
    usage_error("--input '" + o.input + "': expected kafka://BROKERS/TOPIC (the panes topic)");
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
  std::unique_ptr<store::StoreWriter> writer;
  if (!o.store.empty()) {
    auto s = store::open_store(o.store, &why);
    if (!s) io_error(why);
    writer = std::make_unique<store::StoreWriter>(std::move(s));
  }
  auto control_server = open_control_port(control_uri, control, o.quiet);

  core::ProtocolTable protocols;
  server::FanoutSink::Outputs outputs;
  outputs.json_lines = &output.sink();
  if (writer) server::FanoutSink::store_to(outputs, *writer);
  server::FanoutSink fanout(std::move(outputs));
  query::SixQueries queries(protocols, writer ? static_cast<query::ResultSink&>(fanout) : output.sink());
  kafka::PaneMerge merge(o.config, control, protocols, queries);

  size_t rejected_shown = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const auto error = kafka::run_merge(mo, merge, stop, [&](const std::string& what) {
    if (rejected_shown++ < 10) std::fprintf(stderr, "netpulse: skipped %s\n", what.c_str());
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fanout.flush();
  const auto output_error = output.close();
  if (writer) writer->close();
  if (control_server) control_server->stop();
  const auto& c = merge.counters();
  if (!o.quiet) {
    std::fprintf(stderr,
                 "netpulse: merged %llu pane messages and %llu marks from %d partitions: %llu "
                 "records, %llu windows; %llu panes of emitted windows ignored, %llu messages "
                 "skipped; %.3f s\n",
                 static_cast<unsigned long long>(c.pane_messages.load()),
                 static_cast<unsigned long long>(c.marks.load()),
                 merge.source() ? merge.source()->partitions : 0,
                 static_cast<unsigned long long>(c.records.load()),
                 static_cast<unsigned long long>(c.windows.load()),
                 static_cast<unsigned long long>(c.ignored.load()),
                 static_cast<unsigned long long>(c.rejected.load()), seconds);
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
  sub->add_option("--store", o->store,
                  "Also store every result: sqlite:PATH (or a path) or postgresql://... (a "
                  "window emitted again after a restart replaces its row)");
  sub->add_option("--control", o->control,
                  "Open the text control port, e.g. tcp://127.0.0.1:12302 (start, stop, change H T k X)");
  sub->add_option("--kafka-property", o->properties,
                  "A librdkafka property K=V for the consumer (repeatable)");
  sub->add_flag("--exit-at-end", o->exit_at_end,
                "Stop once every source partition has ended (instances run with --exit-at-end) "
                "and every pane is read, emitting the pending windows");
  sub->add_flag("--quiet,-q", o->quiet, "No summary on stderr");
  return Command{sub, [o] { return run_merge_cmd(*o); }};
}

}  // namespace netpulse::cli
