// netpulse generate: the synthetic flow source (spec section 6), with the original's text
// control port and several outputs.
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/control_port.hpp"
#include "cli/kafka_options.hpp"
#include "collect/export_sink.hpp"
#include "core/net.hpp"
#include "core/time.hpp"
#include "generate/control_command.hpp"
#include "generate/generator.hpp"
#include "generate/record_sink.hpp"
#include "generate/scenario.hpp"
#include "generate/tcp_broadcast_sink.hpp"
#include "ingest/uri.hpp"
#include "kafka/kafka_sink.hpp"
#include "server/control_server.hpp"

namespace netpulse::cli {

namespace {

using generate::Generator;
using generate::GeneratorConfig;
using generate::RunSummary;
using generate::Skew;

struct GenerateOptions {
  uint64_t rate = generate::kDefaultRate;
  uint64_t count = 0;
  std::string duration;
  uint32_t ips = generate::kBuiltinAddresses;
  uint32_t protocols = generate::kMaxProtocols;
  std::optional<double> ip_percent;
  std::optional<double> protocol_percent;
  std::optional<double> zipf;
  uint64_t seed = 1;
  std::string start_time;
  bool realtime = false;
  std::string format = "line";
  std::string output = "-";
  std::string control;
  std::vector<std::string> scenarios;
  std::vector<std::string> kafka_properties;
  bool quiet = false;
};

GeneratorConfig make_config(const GenerateOptions& o) {
  GeneratorConfig c;
  c.params.rate = o.rate;
  c.params.ips = o.ips;
  c.params.protocols = o.protocols;
  // An explicit percent wins over --zipf for its dimension; --zipf covers the other.
  if (o.ip_percent)
    c.params.ip_skew = Skew::first_percent(*o.ip_percent);
  else if (o.zipf)
    c.params.ip_skew = Skew::zipf(*o.zipf);
  if (o.protocol_percent)
    c.params.protocol_skew = Skew::first_percent(*o.protocol_percent);
  else if (o.zipf)
    c.params.protocol_skew = Skew::zipf(*o.zipf);
  c.seed = o.seed;
  if (!o.start_time.empty()) {
    c.start_time = core::parse_datetime(o.start_time);
    if (!c.start_time)
      usage_error("--start-time '" + o.start_time + "': expected \"YYYY-MM-DD HH:MM:SS\" (UTC)");
  }
  if (o.realtime && !c.start_time) usage_error("--realtime: only meaningful with --start-time");
  c.realtime = o.realtime;
  c.count = o.count;
  if (!o.duration.empty()) c.duration_ms = *core::parse_duration_ms(o.duration);
  c.format = o.format == "csv" ? generate::OutputFormat::kCsv : generate::OutputFormat::kLine;
  for (const std::string& text : o.scenarios) {
    std::string why;
    auto s = generate::parse_scenario(text, &why);
    if (!s) usage_error("--scenario '" + text + "': " + why);
    c.scenarios.push_back(*s);
  }
  if (auto why = generate::validate(c)) usage_error("--" + *why);
  return c;
}

// The options of a netflow:// output, from its query: version=5|9|10 (default 10: IPFIX is the
// IETF standard, carries IPv6, and its absolute ms times never wrap), domain=N (v9 source id /
// IPFIX observation domain), sampling=N (announce 1:N and send 1 record in N), mtu=N (datagram
// size). Anything else in the query is a usage error.
collect::NetflowExportOptions netflow_options(const ingest::Uri& uri) {
  const std::string bad = "--output '" + uri.text + "': ";
  collect::NetflowExportOptions o;
  std::string_view query = uri.query;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view text = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    const bool number = !text.empty() && ec == std::errc() && end == text.data() + text.size();
    const auto need = [&](bool ok, const char* what) {
      if (!ok || !number) usage_error(bad + std::string(key) + " must be " + what);
    };
    if (key == "version") {
      need(value == 5 || value == 9 || value == 10, "5, 9 or 10 (IPFIX)");
      o.encoder.version = static_cast<collect::ExportProtocol>(value);
    } else if (key == "domain") {
      need(value <= UINT32_MAX, "a number 0 to 4294967295");
      o.encoder.domain = static_cast<uint32_t>(value);
    } else if (key == "sampling") {
      need(value >= 1 && value <= UINT32_MAX, "a rate of 1 or more (1 in N)");
      o.encoder.sampling_rate = static_cast<uint32_t>(value);
    } else if (key == "mtu") {
      need(value >= collect::kMinDatagram && value <= collect::kMaxDatagram,
           "a datagram size of 512 to 65507 bytes");
      o.encoder.max_datagram = value;
    } else {
      usage_error(bad + "unknown option '" + std::string(key) +
                  "' (version, domain, sampling or mtu)");
    }
  }
  if (auto why = collect::validate(o.encoder)) usage_error(bad + *why);
  return o;
}

// The output: a plain fd (stdout, file, tcp connect), the broadcaster (tcp-listen), a Kafka
// topic or a flow collector (netflow://).
struct Output {
  int fd = -1;  // owned unless stdout
  std::unique_ptr<generate::RecordSink> fd_sink;
  std::unique_ptr<generate::TcpBroadcastSink> broadcast;
  std::unique_ptr<kafka::KafkaSink> kafka;
  std::unique_ptr<collect::NetflowExportSink> netflow;
  bool is_stdout = false;
  generate::RecordSink& sink() {
    if (kafka) return *kafka;
    if (netflow) return *netflow;
    return broadcast ? *broadcast : *fd_sink;
  }
  ~Output() {
    if (fd > 1) ::close(fd);
  }
};

void open(Output& out, const GenerateOptions& o) {
  const std::string& text = o.output;
  const bool quiet = o.quiet;
  std::string why;
  const auto uri = ingest::parse_uri(text, &why);
  if (!uri) usage_error("--output '" + text + "': " + why);
  if (!o.kafka_properties.empty() && uri->kind != ingest::Uri::Kind::kKafka)
    usage_error("--kafka-property: only with a kafka:// --output");
  switch (uri->kind) {
    case ingest::Uri::Kind::kStdio:
    case ingest::Uri::Kind::kFile:
      out.fd = open_output(text);
      out.is_stdout = out.fd == 1;
      out.fd_sink =
          std::make_unique<generate::FdSink>(out.fd, out.is_stdout ? "stdout" : uri->path);
      return;
    case ingest::Uri::Kind::kTcp:
      out.fd = core::connect_tcp(uri->host, uri->port, "--output " + text, &why);
      if (out.fd < 0) io_error(why);
      out.fd_sink = std::make_unique<generate::FdSink>(out.fd, text);
      return;
    case ingest::Uri::Kind::kTcpListen: {
      generate::TcpBroadcastSink::Options options;
      options.on_notice = [quiet](const std::string& line) {
        if (!quiet) std::fprintf(stderr, "netpulse: %s\n", line.c_str());
      };
      out.broadcast = generate::TcpBroadcastSink::start(uri->host, uri->port, options, &why);
      if (!out.broadcast) io_error("--output " + text + ": " + why);
      if (!quiet)
        std::fprintf(stderr, "netpulse: serving records on tcp-listen://%s:%u\n", uri->host.c_str(),
                     out.broadcast->port());
      return;
    }
    case ingest::Uri::Kind::kKafka: {
      // One record per message: a CSV header would have no message to go in.
      if (o.format != "line") usage_error("--format csv: a kafka:// output carries the line format only");
      const auto kuri = kafka::parse_kafka_uri(uri->path, &why);
      if (!kuri) usage_error("--output '" + text + "': " + why);
      const kafka::Properties overrides = parse_kafka_properties(o.kafka_properties);
      out.kafka = kafka::KafkaSink::open(*kuri, overrides, &why);
      if (!out.kafka) usage_error("--output '" + text + "': " + why);
      return;
    }
    case ingest::Uri::Kind::kNetflow: {
      // The text format never reaches the wire: asking for CSV there is a mistake.
      if (o.format != "line")
        usage_error("--format csv: a netflow:// output sends flow records, not text");
      if (uri->host.empty())
        usage_error("--output '" + text + "': a netflow:// output needs a host");
      out.netflow = collect::NetflowExportSink::open(uri->host, uri->port, netflow_options(*uri),
                                                     collect::ServiceTable(), text, &why);
      if (!out.netflow) io_error(why);
      return;
    }
    case ingest::Uri::Kind::kSflow:
      usage_error("--output '" + text + "': sflow:// is an input only");
  }
}

int run_generate(const GenerateOptions& o) {
  GeneratorConfig config = make_config(o);
  const std::optional<ingest::Uri> control_uri = parse_control_option(o.control);

  Generator generator(std::move(config));
  // Signals first: every thread started after this inherits the blocked mask.
  on_termination([&generator] { generator.request_stop(); });

  Output out;
  open(out, o);

  std::unique_ptr<server::ControlServer> control_server;
  if (control_uri) {
    std::string why;
    control_server = server::ControlServer::start(
        control_uri->host, control_uri->port,
        [&generator](std::string_view line) {
          return generate::handle_generator_command(line, generator);
        },
        &why);
    if (!control_server) io_error(why);
    if (!o.quiet)
      std::fprintf(stderr,
                   "netpulse: control port on %s:%u (start, stop, "
                   "change_<rate>_<ipNum>_<protocolNum>_<ipPercent>_<protocolPercent>, status)\n",
                   control_uri->host.c_str(), control_server->port());
  }

  const RunSummary summary = generator.run(out.sink());
  const auto kafka_flush_start = std::chrono::steady_clock::now();
  if (control_server) control_server->stop();
  generate::TcpBroadcastSink::Totals totals;
  // Let consumers take what is queued: up to 5 s at the end of a finite run, 1 s after Ctrl-C.
  if (out.broadcast)
    totals =
        out.broadcast->close(summary.end == RunSummary::End::kStopped ? std::chrono::seconds(1)
                                                                      : std::chrono::seconds(5));

  // Every record is delivered or has failed before the summary: a failure is an error.
  const bool kafka_ok = !out.kafka || out.kafka->finish();
  const bool netflow_ok = !out.netflow || out.netflow->finish();
  const double kafka_seconds = summary.seconds + std::chrono::duration<double>(
      std::chrono::steady_clock::now() - kafka_flush_start).count();

  const bool finite = o.count != 0 || !o.duration.empty();
  if (!o.quiet && (finite || summary.end == RunSummary::End::kStopped)) {
    std::string extra;
    if (out.broadcast)
      extra = "; " + std::to_string(totals.consumers) + " consumers, " +
              std::to_string(totals.dropped_records) + " records dropped for slow consumers";
    if (out.kafka)
      extra += "; " + std::to_string(out.kafka->delivered()) + " delivered to Kafka, " +
               std::to_string(out.kafka->failed()) + " failed, " +
               human_rate(kafka_seconds > 0 ? out.kafka->delivered() / kafka_seconds : 0) +
               "records/s delivered";
    if (out.netflow) {
      const collect::NetflowExportCounters& c = out.netflow->counters();
      extra += "; " + std::to_string(c.datagrams_sent) + " datagrams, " +
               std::to_string(c.flows_sent) + " flows sent to " + o.output + ", " +
               std::to_string(c.flows_skipped) + " flows skipped" +
               (c.flows_skipped > 0 ? " (IPv6 cannot go over v5), " : ", ") +
               std::to_string(c.send_errors) + " send errors";
      if (c.refused > 0) extra += ", " + std::to_string(c.refused) + " refused (nothing listening)";
      if (c.unknown_labels > 0)
        extra += ", " + std::to_string(c.unknown_labels) + " unknown labels sent as TCP port 0";
      if (c.sampled_out > 0) extra += ", " + std::to_string(c.sampled_out) + " sampled out";
    }
    const auto st = generator.status();
    if (st.fell_behind > 0)
      extra += "; the output could not keep up with the rate " + std::to_string(st.fell_behind) +
               " times";
    std::fprintf(stderr, "netpulse: generated %llu records (%s) in %.3f s, %srecords/s%s\n",
                 static_cast<unsigned long long>(summary.records),
                 human_bytes(static_cast<double>(summary.bytes)).c_str(), summary.seconds,
                 human_rate(summary.seconds > 0 ? summary.records / summary.seconds : 0).c_str(),
                 extra.c_str());
  }
  if (summary.end == RunSummary::End::kOutputError) io_error(summary.error);
  if (!kafka_ok) io_error(out.kafka->error());
  if (!netflow_ok) io_error(out.netflow->error());
  if (summary.end == RunSummary::End::kReaderGone && !out.is_stdout) io_error(summary.error);
  return 0;
}

}  // namespace

Command make_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* sub = app.add_subcommand(
      "generate",
      "Generate synthetic flow records (line format or CSV) at a given rate, with skew, Zipf "
      "laws, attack scenarios and a runtime control port.");
  sub->add_option("--rate", o->rate,
                  "Records per second of event time; 0 = as fast as possible. Without "
                  "--start-time the rate is held in real time")
      ->check(CLI::Range(uint64_t{0}, generate::kMaxRate))
      ->capture_default_str();
  sub->add_option("--count", o->count, "Stop after this many records (0 = no limit)")
      ->capture_default_str();
  sub->add_option("--duration", o->duration,
                  "Stop after this long, e.g. 10s, 5m: wall-clock time, or event time with "
                  "--start-time")
      ->check(duration_validator());
  sub->add_option("--ips", o->ips,
                  "Use the first N addresses of the list (15 built in, more made up "
                  "deterministically)")
      ->check(CLI::Range(uint32_t{1}, static_cast<uint32_t>(generate::kMaxAddresses)))
      ->capture_default_str();
  sub->add_option("--protocols", o->protocols, "Use the first N of the 19 built-in protocols")
      ->check(CLI::Range(uint32_t{1}, static_cast<uint32_t>(generate::kMaxProtocols)))
      ->capture_default_str();
  sub->add_option("--ip-percent", o->ip_percent,
                  "Percent of records whose src is the first address; the rest uniform over the "
                  "other addresses (default: all uniform)")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--protocol-percent", o->protocol_percent,
                  "Percent of records with the first protocol; the rest uniform over the others")
      ->check(CLI::Range(0.0, 100.0));
  sub->add_option("--zipf", o->zipf,
                  "Draw src addresses and protocols from a Zipf law with this exponent (rank 1 = "
                  "the first of the list); an explicit --ip-percent/--protocol-percent wins for "
                  "its dimension")
      ->check(CLI::Range(0.0, generate::kMaxZipfExponent));
  sub->add_option("--seed", o->seed, "Random seed: same seed and options, same records")
      ->capture_default_str();
  sub->add_option("--start-time", o->start_time,
                  "Virtual event time \"YYYY-MM-DD HH:MM:SS\" (UTC): record i at start + i/rate, "
                  "output as fast as possible and byte-for-byte repeatable");
  sub->add_flag(
      "--realtime", o->realtime,
      "With --start-time: also hold the rate in real time (default: as fast as possible)");
  sub->add_option("--format", o->format, "Record format: line or csv (CSV starts with a header)")
      ->check(CLI::IsMember({"line", "csv"}))
      ->capture_default_str();
  sub->add_option("--output,-o", o->output,
                  "Where records go: - (stdout), file:PATH or PATH, tcp://HOST:PORT (connect), "
                  "tcp-listen://HOST:PORT (serve every consumer that connects), "
                  "kafka://BROKERS/TOPIC (one message per record, keyed by source address; line "
                  "format only), netflow://HOST:PORT?version=5|9|10 (export datagrams with "
                  "templates over UDP: v5, v9 or IPFIX, default 10; also domain=N, sampling=N, "
                  "mtu=BYTES; default port 2055)")
      ->capture_default_str();
  sub->add_option("--control", o->control,
                  "Open the text control port, e.g. tcp://127.0.0.1:12302 (start, stop, "
                  "change_<rate>_<ipNum>_<protocolNum>_<ipPercent>_<protocolPercent>, status)");
  sub->add_option("--scenario", o->scenarios,
                  "Mix in an attack: NAME@START+LENGTH of event time from the stream start, e.g. "
                  "dos@30s+20s; NAME is dos, portscan, bruteforce or elephant (repeatable)");
  sub->add_option("--kafka-property", o->kafka_properties,
                  "With a kafka:// output: a librdkafka producer property K=V, e.g. "
                  "linger.ms=20 (repeatable; wins over the defaults and the URI's ?K=V)");
  sub->add_flag("--quiet,-q", o->quiet, "No summary or notices on stderr");
  return Command{sub, [o] { return run_generate(*o); }};
}

}  // namespace netpulse::cli
