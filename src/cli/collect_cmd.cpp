// netpulse collect: a flow collector and probe at the edge. Receives NetFlow v5/v9, IPFIX and
// sFlow v5 exports over UDP, or captures packets from a file or an interface (nDPI names their
// protocols), and forwards them as flow records (line format or CSV) to stdout, a file, TCP or
// Kafka, so the Kafka scale-out (or any netpulse process) does the rest. With a capture and
// --records flows it is a flow probe: --output netflow://HOST:PORT exports IPFIX, v9 or v5.
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
  std::vector<std::string> given;  // the options given on the command line, by name
};

// collect --input pcap:FILE or pcap-live:IFACE: records as text, or flows to a collector.
int run_capture(const CollectOptions& o, const ingest::Uri& input, bool csv) {
  const bool probe = o.output.rfind("netflow://", 0) == 0;
  if (probe && o.flow.records != "flows")
    usage_error("--output '" + o.output + "': a flow probe exports flows: add --records flows");
  std::atomic<bool> stop_now{false};
  on_termination([&] { stop_now = true; }, "processing what was captured");

  RecordOutput output(o.output, csv, o.kafka_properties, o.quiet, /*allow_netflow=*/probe);
  auto capture = open_capture(input, o.flow, csv ? collect::TextFormat::kCsv : collect::TextFormat::kLine,
                              o.quiet);
  std::atomic<bool> ended{false};
  capture->on_end([&ended] { ended = true; });
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t duration_ms = o.duration.empty() ? 0 : *core::parse_duration_ms(o.duration);
  const double progress = o.progress >= 0 ? o.progress : 0;
  if (probe) capture->start(*output.netflow());
  else capture->start(output.sink());
  auto next_progress = t0 + std::chrono::milliseconds(static_cast<int64_t>(progress * 1000));
  while (!stop_now.load() && !ended.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto now = std::chrono::steady_clock::now();
    if (duration_ms > 0 && now - t0 >= std::chrono::milliseconds(duration_ms)) break;
    if (progress > 0 && !o.quiet && now >= next_progress) {
      next_progress += std::chrono::milliseconds(static_cast<int64_t>(progress * 1000));
      const auto s = capture->stats();
      std::fprintf(stderr,
                   "netpulse: progress: %llu packets, %llu records, %llu flows tracked, %llu "
                   "dropped by the kernel\n",
                   static_cast<unsigned long long>(s.processor.packets),
                   static_cast<unsigned long long>(s.processor.records),
                   static_cast<unsigned long long>(s.processor.flows_active),
                   static_cast<unsigned long long>(s.pcap.kernel_drops));
    }
  }
  capture->stop();  // drains the ring (live), ends every flow: nothing captured is left out
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string output_error;
  const std::string extra = output.finish(std::chrono::seconds(1), &output_error);
  if (!o.quiet) {
    print_capture_summary(capture->stats(), seconds);
    if (!extra.empty()) std::fprintf(stderr, "netpulse: output%s\n", extra.c_str());
  }
  const std::string error = capture->error();
  if (!error.empty() && !(output.sink().reader_gone() && output.is_stdout())) io_error(error);
  if (!output_error.empty()) io_error(output_error);
  return 0;
}

int run_collect(const CollectOptions& o) {
  std::vector<ingest::Uri> inputs;
  for (const std::string& text : o.inputs) {
    auto uri = ingest::parse_uri(text);
    if (!uri.ok()) usage_error("--input '" + text + "': " + uri.status().message());
    if (!is_live_input(*uri))
      usage_error("--input '" + text + "': collect takes netflow://HOST:PORT, sflow://HOST:PORT, "
                  "pcap:FILE or pcap-live:IFACE");
    check_flow_input_options(*uri, o.given, nullptr);
    inputs.push_back(std::move(*uri));
  }
  const bool csv = o.format == "csv";
  const bool capture = is_capture(inputs.front());
  if (capture && inputs.size() > 1)
    usage_error("--input: one packet capture per collect (run one collect per interface)");
  if (capture) return run_capture(o, inputs.front(), csv);

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
      "Collect NetFlow v5/v9, IPFIX and sFlow v5 exports over UDP, or capture packets from a "
      "file or an interface (protocols named by nDPI), and forward them as flow records (line "
      "format or CSV) to stdout, a file, TCP or Kafka; or, as a flow probe, export the "
      "captured flows to a collector (--records flows --output netflow://HOST:PORT). Stops on "
      "Ctrl-C or SIGTERM after processing everything already received (a capture file also at "
      "its end); then prints per-exporter or capture figures.");
  sub->add_option("--input,-i", o->inputs,
                  "What to collect (repeatable for UDP ports): netflow://HOST:PORT (NetFlow v5, "
                  "v9 and IPFIX, told apart per datagram; default port 2055), sflow://HOST:PORT "
                  "(sFlow v5; default port 6343); an empty HOST (netflow://:2055) listens on "
                  "every local address. Or one packet capture: pcap:FILE (pcap or pcapng; "
                  "pcap:FILE?speed=1 replays it at its original pace, speed=N N times faster) or "
                  "pcap-live:IFACE (a live interface; needs root or CAP_NET_RAW)")
      ->required();
  sub->add_option("--output,-o", o->output,
                  "Where records go: - (stdout), file:PATH or PATH, tcp://HOST:PORT, "
                  "tcp-listen://HOST:PORT (serve every consumer that connects), "
                  "kafka://BROKERS/TOPIC (one message per record, keyed by source address; line "
                  "format only); with a capture and --records flows also "
                  "netflow://HOST:PORT?version=10|9|5 (a flow probe: IPFIX by default)")
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
  return Command{sub, [o, sub] {
    for (const CLI::Option* opt : sub->get_options())
      if (opt->count() > 0) o->given.push_back(opt->get_name());
    return run_collect(*o);
  }};
}

}  // namespace netpulse::cli
