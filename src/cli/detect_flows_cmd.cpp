// netpulse detect-flows: the live-flow detector (DoS, port scan, brute force) over a stream of
// flow records; alerts as JSON lines, then a summary line.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/flow_input.hpp"
#include "detect/flow_detector.hpp"
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
};

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

int run_detect_flows(const DetectFlowsOptions& o) {
  std::string why;
  const auto in_uri = ingest::parse_uri(o.input, &why);
  if (!in_uri) usage_error("--input '" + o.input + "': " + why);
  const ingest::Format format = *ingest::parse_format(o.format);
  const bool flow_input = is_live_input(*in_uri);
  check_flow_input_options(*in_uri, o.given, "--format");
  std::atomic<ingest::BlockSource*> open_source{nullptr};
  on_termination([&open_source] {
    if (ingest::BlockSource* s = open_source.load()) s->close();
  });
  const int out_fd = open_output(o.output);
  ingest::SourceOptions source_options;
  source_options.per_connection_header = format == ingest::Format::kCsv;
  std::unique_ptr<ingest::BlockSource> source;
  LiveSource* flow_source = nullptr;
  if (flow_input) {
    auto cs = open_live_source(*in_uri, o.flow, o.quiet);
    flow_source = cs.get();
    source = std::move(cs);
  } else {
    source = ingest::open_source(*in_uri, source_options, &why);
  }
  if (!source) io_error(why);
  open_source = source.get();

  core::ProtocolTable protocols;
  ingest::FlowParser parser(protocols, format);
  detect::FlowDetector detector(o.config, protocols);
  std::vector<detect::FlowAlert> alerts;
  std::string out;
  bool output_ok = true;
  uint64_t line_no = 0, malformed = 0;
  auto flush_alerts = [&] {
    out.clear();
    for (const auto& a : alerts) {
      out += detect::to_json(a, protocols);
      out += '\n';
    }
    alerts.clear();
    if (output_ok && !out.empty()) output_ok = write_out(out_fd, out);
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
        if (auto err = parser.read_header(std::string_view(p, static_cast<size_t>(eol - p))))
          io_error(source->describe() + " line 1: " + *err);
        p = eol + 1;
        continue;
      }
      ingest::ParseError err;
      const auto s = parser.parse(p, eol, rec, &err);
      if (s == ingest::ParseStatus::kOk) {
        detector.add(rec, alerts);
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
    if (!alerts.empty()) flush_alerts();
    if (!output_ok) break;
  }
  detector.finish(alerts);
  flush_alerts();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string read_error = source->error();
  // A collector may be waiting for room in its feed (when the output failed): end the feed
  // first. A signal's close() has already drained it.
  if (flow_source) flow_source->abandon();
  else source->close();
  if (flow_source && !o.quiet) flow_source->print_summary(seconds);
  const nlohmann::ordered_json summary = {{"summary",
                                           {{"flows", detector.flows()},
                                            {"late", detector.late()},
                                            {"malformed", malformed},
                                            {"alerts", detector.alerts()},
                                            {"seconds", seconds}}}};
  if (output_ok) output_ok = write_out(out_fd, summary.dump() + "\n");
  if (out_fd != 1) ::close(out_fd);
  if (!o.quiet)
    std::fprintf(stderr, "netpulse: %llu flows, %llu late, %llu malformed; %llu alerts; %.3f s\n",
                 static_cast<unsigned long long>(detector.flows()),
                 static_cast<unsigned long long>(detector.late()),
                 static_cast<unsigned long long>(malformed),
                 static_cast<unsigned long long>(detector.alerts()), seconds);
  if (!output_ok) io_error("--output '" + o.output + "': " + std::strerror(errno));
  if (!read_error.empty()) io_error(read_error);
  return 0;
}

}  // namespace

Command make_detect_flows_command(CLI::App& app) {
  auto o = std::make_shared<DetectFlowsOptions>();
  CLI::App* sub = app.add_subcommand(
      "detect-flows",
      "Detect DoS floods, port scans and login brute force in flow records (2-second windows of "
      "per-host traffic features); alerts as JSON lines, then a summary line.");
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
  add_flow_input_options(sub, o->flow);
  sub->add_flag("--quiet,-q", o->quiet, "No summary on stderr");
  return Command{sub, [o, sub] {
                   for (const CLI::Option* opt : sub->get_options())
                     if (opt->count() > 0) o->given.push_back(opt->get_name());
                   return run_detect_flows(*o);
                 }};
}

}  // namespace netpulse::cli
