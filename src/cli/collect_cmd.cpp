// netpulse collect: a flow collector at the edge. Receives NetFlow v5/v9, IPFIX and sFlow v5
// exports over UDP and forwards them as flow records (line format or CSV) to stdout, a file,
// TCP or Kafka, so the Kafka scale-out (or any netpulse process) does the rest.
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/flow_input.hpp"
#include "cli/record_output.hpp"
#include "core/time.hpp"

namespace netpulse::cli {

namespace {

struct CollectOptions {
  std::vector<std::string> inputs;
  std::string output = "-";
  std::string format = "line";
  std::string duration;
  double progress = -1;
  FlowInputOptions flow;
  std::vector<std::string> kafka_properties;
  bool quiet = false;
};

int run_collect(const CollectOptions& o) {
  std::vector<ingest::Uri> inputs;
  for (const std::string& text : o.inputs) {
    std::string why;
    auto uri = ingest::parse_uri(text, &why);
    if (!uri) usage_error("--input '" + text + "': " + why);
    if (!is_flow_export(*uri))
      usage_error("--input '" + text + "': collect takes netflow://HOST:PORT or sflow://HOST:PORT");
    if (!uri->query.empty())
      usage_error("--input '" + text + "': unknown option '" + uri->query + "'");
    inputs.push_back(std::move(*uri));
  }
  const bool csv = o.format == "csv";

  std::unique_ptr<collect::Collector> collector;
  std::atomic<bool> stop_now{false};
  // Signals first: every thread started after this inherits the blocked mask.
  on_termination([&] { stop_now = true; }, "decoding what was received");

  RecordOutput output(o.output, csv, o.kafka_properties, o.quiet);
  collector = open_collector(inputs, o.flow, csv ? collect::TextFormat::kCsv : collect::TextFormat::kLine,
                             o.quiet);
  if (!o.quiet) print_listening(*collector);

  const auto t0 = std::chrono::steady_clock::now();
  const int64_t duration_ms = o.duration.empty() ? 0 : *core::parse_duration_ms(o.duration);
  const double progress = o.progress >= 0 ? o.progress : 0;
  collector->start(output.sink());
  auto next_progress = t0 + std::chrono::milliseconds(static_cast<int64_t>(progress * 1000));
  while (!stop_now.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto now = std::chrono::steady_clock::now();
    if (!collector->error().empty()) break;
    if (duration_ms > 0 && now - t0 >= std::chrono::milliseconds(duration_ms)) break;
    if (progress > 0 && !o.quiet && now >= next_progress) {
      next_progress += std::chrono::milliseconds(static_cast<int64_t>(progress * 1000));
      const auto s = collector->stats();
      std::fprintf(stderr,
                   "netpulse: progress: %llu flows from %llu datagrams of %zu exporters, %llu "
                   "lost, %llu dropped by the kernel, %llu malformed\n",
                   static_cast<unsigned long long>(s.flows),
                   static_cast<unsigned long long>(s.datagrams), s.exporters.size(),
                   static_cast<unsigned long long>(s.lost),
                   static_cast<unsigned long long>(s.kernel_drops),
                   static_cast<unsigned long long>(s.malformed));
    }
  }
  collector->stop();  // drains: every datagram already received is decoded and written
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string output_error;
  const std::string extra = output.finish(std::chrono::seconds(1), &output_error);
  if (!o.quiet) {
    print_collector_summary(collector->stats(), seconds);
    if (!extra.empty()) std::fprintf(stderr, "netpulse: output%s\n", extra.c_str());
  }
  const std::string sink_error = collector->error();
  if (!sink_error.empty() && !(output.sink().reader_gone() && output.is_stdout()))
    io_error(sink_error);
  if (!output_error.empty()) io_error(output_error);
  return 0;
}

}  // namespace

Command make_collect_command(CLI::App& app) {
  auto o = std::make_shared<CollectOptions>();
  CLI::App* sub = app.add_subcommand(
      "collect",
      "Collect NetFlow v5/v9, IPFIX and sFlow v5 exports over UDP and forward them as flow "
      "records (line format or CSV) to stdout, a file, TCP or Kafka. Stops on Ctrl-C or SIGTERM "
      "after decoding every datagram already received; then prints per-exporter figures.");
  sub->add_option("--input,-i", o->inputs,
                  "A UDP port to collect on (repeatable): netflow://HOST:PORT (NetFlow v5, v9 "
                  "and IPFIX, told apart per datagram; default port 2055) or sflow://HOST:PORT "
                  "(sFlow v5; default port 6343). An empty HOST (netflow://:2055) listens on "
                  "every local address")
      ->required();
  sub->add_option("--output,-o", o->output,
                  "Where records go: - (stdout), file:PATH or PATH, tcp://HOST:PORT, "
                  "tcp-listen://HOST:PORT (serve every consumer that connects), "
                  "kafka://BROKERS/TOPIC (one message per record, keyed by source address; line "
                  "format only)")
      ->capture_default_str();
  sub->add_option("--format", o->format,
                  "Record format: line, or csv (a header, then the record's five columns and the "
                  "flow's packets, ports, IP protocol, TCP flags, interfaces, exporter, sampling "
                  "rate and start/end times)")
      ->check(CLI::IsMember({"line", "csv"}))
      ->capture_default_str();
  add_flow_input_options(sub, o->flow);
  sub->add_option("--duration", o->duration, "Stop after this long (wall clock), e.g. 10s, 5m")
      ->check(duration_validator());
  sub->add_option("--progress", o->progress,
                  "Print figures every this many seconds on stderr (0: never; the default)");
  sub->add_option("--kafka-property", o->kafka_properties,
                  "With a kafka:// output: a librdkafka producer property K=V (repeatable)");
  sub->add_flag("--quiet,-q", o->quiet, "No notices, reports or summary on stderr");
  return Command{sub, [o] { return run_collect(*o); }};
}

}  // namespace netpulse::cli
