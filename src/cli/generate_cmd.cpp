// netpulse generate: the synthetic flow source (spec section 6), with the original's text
// control port and several outputs.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/control_port.hpp"
#include "cli/kafka_options.hpp"
#include "cli/record_output.hpp"
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
  std::optional<uint64_t> flood_rate;
  std::vector<std::string> kafka_properties;
  double ipv6_percent = 0;
  std::string time_digits = "3";
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
  c.ipv6_percent = o.ipv6_percent;
  c.time_digits = o.time_digits == "mixed" ? generate::kMixedTimeDigits : std::stoi(o.time_digits);
  for (const std::string& text : o.scenarios) {
    std::string why;
    auto s = generate::parse_scenario(text, &why);
    if (!s) usage_error("--scenario '" + text + "': " + why);
    c.scenarios.push_back(*s);
  }
  if (o.flood_rate) {
    if (std::none_of(c.scenarios.begin(), c.scenarios.end(),
                     [](const generate::Scenario& s) { return generate::is_flood(s.kind); }))
      usage_error("--flood-rate: only meaningful with --scenario flood@... or flood6@...");
    c.flood_rate = *o.flood_rate;
  }
  if (auto why = generate::validate(c)) usage_error("--" + *why);
  return c;
}

int run_generate(const GenerateOptions& o) {
  GeneratorConfig config = make_config(o);
  const std::optional<ingest::Uri> control_uri = parse_control_option(o.control);

  Generator generator(std::move(config));
  // Signals first: every thread started after this inherits the blocked mask.
  on_termination([&generator] { generator.request_stop(); });

  RecordOutput out(o.output, o.format != "line", o.kafka_properties, o.quiet,
                   /*allow_netflow=*/true);

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
  if (control_server) control_server->stop();
  // Every record is delivered or has failed before the summary: a failure is an error. Let
  // tcp-listen consumers take what is queued: up to 5 s at the end of a finite run, 1 s after
  // Ctrl-C.
  std::string output_error;
  std::string extra = out.finish(summary.end == RunSummary::End::kStopped ? std::chrono::seconds(1)
                                                                          : std::chrono::seconds(5),
                                 &output_error);
  const bool finite = o.count != 0 || !o.duration.empty();
  if (!o.quiet && (finite || summary.end == RunSummary::End::kStopped)) {
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
  if (!output_error.empty()) io_error(output_error);
  if (summary.end == RunSummary::End::kReaderGone && !out.is_stdout()) io_error(summary.error);
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
  sub->add_option("--ipv6-percent", o->ipv6_percent,
                  "Percent of the made-up addresses (beyond the 15 built in) that are IPv6, for "
                  "src and dst alike: chosen by a hash of the address's index, so spread over "
                  "the whole list and the Zipf ranks; written in canonical RFC 5952 text")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  sub->add_option("--time-digits", o->time_digits,
                  "Fraction digits of the printed time: 0 to 9 (0: no '.'; fewer than 3 "
                  "truncate the time, so the text is the record's time; digits past the "
                  "millisecond are random filler), or mixed: 0 to 9 drawn per record")
      ->check(CLI::IsMember({"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "mixed"}))
      ->capture_default_str();
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
                  "dos@30s+20s; NAME is dos, portscan, bruteforce or elephant (a share of the "
                  "records), or flood (IPv4) or flood6 (IPv6): records at --flood-rate on top of "
                  "the normal ones, each from a new spoofed source (repeatable)");
  sub->add_option("--flood-rate", o->flood_rate,
                  "With --scenario flood@... or flood6@...: records per second of event time "
                  "the flood adds on top of --rate, each from a new spoofed source to one victim "
                  "(203.0.113.81 or 2001:db8:ffff::81) [default: 1000000]")
      ->check(CLI::Range(uint64_t{1}, generate::kMaxRate));
  sub->add_option("--kafka-property", o->kafka_properties,
                  "With a kafka:// output: a librdkafka producer property K=V, e.g. "
                  "linger.ms=20 (repeatable; wins over the defaults and the URI's ?K=V)");
  sub->add_flag("--quiet,-q", o->quiet, "No summary or notices on stderr");
  return Command{sub, [o] { return run_generate(*o); }};
}

}  // namespace netpulse::cli
