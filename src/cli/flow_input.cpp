#include "cli/flow_input.hpp"

#include <algorithm>
#include <cstdio>

#include "cli/common.hpp"
#include "core/size.hpp"

namespace netpulse::cli {

void add_flow_input_options(CLI::App* sub, FlowInputOptions& o) {
  sub->add_option("--flow-time", o.flow_time,
                  "netflow:// and sflow:// inputs: a flow's record time: end (its last packet; "
                  "the default), start (its first packet: long flows then arrive late by up to "
                  "the exporter's active timeout, so raise --lateness to match) or received "
                  "(when the datagram arrived)")
      ->check(CLI::IsMember({"start", "end", "received"}))
      ->capture_default_str();
  sub->add_option("--services", o.services,
                  "netflow:// and sflow:// inputs: a services file (NAME PORT/PROTO lines, "
                  "/etc/services syntax) naming protocols by port, on top of the built-in table")
      ->check(CLI::ExistingFile);
  sub->add_option("--udp-buffer", o.udp_buffer,
                  "netflow:// and sflow:// inputs: the socket receive buffer (SO_RCVBUF) per "
                  "input, e.g. 64MiB; bursts beyond it are dropped by the kernel and counted")
      ->check(size_validator())
      ->capture_default_str();
}

void check_flow_input_options(const ingest::Uri& input, const std::vector<std::string>& given,
                              const char* format_option) {
  const auto has = [&given](std::string_view name) {
    return std::find(given.begin(), given.end(), name) != given.end();
  };
  if (!is_flow_export(input)) {
    for (const char* name : {"--flow-time", "--services", "--udp-buffer"})
      if (has(name)) usage_error(std::string(name) + ": only with a netflow:// or sflow:// --input");
    return;
  }
  if (format_option && has(format_option))
    usage_error(std::string(format_option) +
                ": a netflow:// or sflow:// input is decoded from its datagrams, not read as text");
  if (!input.query.empty())
    usage_error("--input '" + input.text + "': unknown option '" + input.query + "'");
}

std::unique_ptr<CollectorSource> open_flow_source(const ingest::Uri& input,
                                                  const FlowInputOptions& o, bool quiet) {
  auto collector = open_collector({input}, o, collect::TextFormat::kLine, quiet);
  if (!quiet) print_listening(*collector);
  return std::make_unique<CollectorSource>(std::move(collector), input.text);
}

std::unique_ptr<collect::Collector> open_collector(const std::vector<ingest::Uri>& inputs,
                                                   const FlowInputOptions& o,
                                                   collect::TextFormat format, bool quiet) {
  collect::CollectorOptions options;
  options.inputs = inputs;
  options.flow_time = *collect::parse_flow_time(o.flow_time);
  options.format = format;
  options.udp_buffer = static_cast<size_t>(*core::parse_size(o.udp_buffer));
  std::string why;
  if (!o.services.empty()) {
    auto table = collect::ServiceTable::load(o.services, &why);
    if (!table && why.find("cannot open") != std::string::npos) io_error(why);
    if (!table) usage_error(why);
    options.services = std::move(*table);
  }
  auto c = collect::Collector::open(std::move(options), &why);
  if (!c) io_error(why);
  c->on_report([quiet](const std::string& line) {
    if (!quiet) std::fprintf(stderr, "netpulse: %s\n", line.c_str());
  });
  return c;
}

void print_listening(const collect::Collector& c) {
  for (const auto& s : c.sockets())
    std::fprintf(stderr, "netpulse: collecting %s on UDP port %u (receive buffer %s)\n",
                 s.input.c_str(), s.port, human_bytes(static_cast<double>(s.buffer_bytes)).c_str());
}

void print_collector_summary(const collect::CollectorStats& s, double seconds) {
  std::fprintf(stderr,
               "netpulse: collected %llu flows (%llu records) from %llu datagrams of %zu "
               "exporters in %.3f s, %sflows/s; %llu lost (sequence numbers), %llu dropped by "
               "the kernel, %llu malformed, %llu template misses%s%s\n",
               static_cast<unsigned long long>(s.flows), static_cast<unsigned long long>(s.records),
               static_cast<unsigned long long>(s.datagrams), s.exporters.size(), seconds,
               human_rate(seconds > 0 ? s.flows / seconds : 0).c_str(),
               static_cast<unsigned long long>(s.lost),
               static_cast<unsigned long long>(s.kernel_drops),
               static_cast<unsigned long long>(s.malformed),
               static_cast<unsigned long long>(s.template_misses),
               s.implausible ? ("; " + std::to_string(s.implausible) +
                                " flows over 4 TiB refused").c_str()
                             : "",
               s.future ? ("; " + std::to_string(s.future) +
                           " flows refused for a time before 1970 or over an hour after their arrival").c_str()
                        : "");
  for (const auto& e : s.exporters) {
    const std::string ip = core::to_string(e.from.address);
    std::fprintf(stderr,
                 "netpulse:   exporter %s%s%s:%u %s domain %u: %llu datagrams, %llu flows, %llu "
                 "lost, %llu malformed, %llu template misses, %llu held dropped, sampling %u\n",
                 e.from.address.is_v6 ? "[" : "", ip.c_str(), e.from.address.is_v6 ? "]" : "",
                 e.from.port, collect::to_string(e.protocol), e.domain,
                 static_cast<unsigned long long>(e.datagrams),
                 static_cast<unsigned long long>(e.flows), static_cast<unsigned long long>(e.lost),
                 static_cast<unsigned long long>(e.malformed),
                 static_cast<unsigned long long>(e.template_misses),
                 static_cast<unsigned long long>(e.held_dropped),
                 e.sampling_rate ? e.sampling_rate : 1);
  }
}

CollectorSource::CollectorSource(std::unique_ptr<collect::Collector> collector,
                                 std::string description)
    : collector_(std::move(collector)), description_(std::move(description)) {
  // The stream ends when the collector has written its last record: the engine reads it all.
  collector_->on_end([this] { feed_.close(); });
  collector_->start(feed_);
}

CollectorSource::~CollectorSource() { abandon(); }

void CollectorSource::close() { collector_->request_stop(); }

void CollectorSource::abandon() {
  std::call_once(abandoned_, [this] {
    feed_.close();  // a collector waiting for room in the feed gives up at once
    collector_->stop();
  });
}

}  // namespace netpulse::cli
