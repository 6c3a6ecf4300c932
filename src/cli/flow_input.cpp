#include "cli/flow_input.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "app/capture_status.hpp"
#include "app/collector_status.hpp"
#include "capture/ndpi_classifier.hpp"
#include "cli/common.hpp"
#include "core/size.hpp"
#include "core/time.hpp"
#include "detect/flow_csv.hpp"

namespace netpulse::cli {

void add_flow_input_options(CLI::App* sub, FlowInputOptions& o) {
  sub->add_option("--flow-time", o.flow_time,
                  "netflow://, sflow:// and pcap (--records flows) inputs: a flow's record time: "
                  "end (its last packet; the default), start (its first packet: long flows then "
                  "arrive late by up to the active timeout, so raise --lateness to match) or "
                  "received (when the datagram, or the packet that ended the flow, arrived)")
      ->check(CLI::IsMember({"start", "end", "received"}))
      ->capture_default_str();
  sub->add_option("--services", o.services,
                  "netflow://, sflow:// and pcap inputs: a services file (NAME PORT/PROTO lines, "
                  "/etc/services syntax) naming protocols by port, on top of the built-in table "
                  "(captures use it with --no-ndpi, and when nDPI has no guess)")
      ->check(CLI::ExistingFile);
  sub->add_option("--udp-buffer", o.udp_buffer,
                  "netflow:// and sflow:// inputs: the socket receive buffer (SO_RCVBUF) per "
                  "input, e.g. 64MiB; bursts beyond it are dropped by the kernel and counted")
      ->check(size_validator())
      ->capture_default_str();
  sub->add_option("--records", o.records,
                  "pcap: and pcap-live: inputs: packets (one record per IP packet: capture time, "
                  "IP length) or flows (one record per direction of each finished flow, with "
                  "active and idle timeouts, as a flow exporter would)")
      ->check(CLI::IsMember({"packets", "flows"}))
      ->capture_default_str();
  sub->add_option("--filter", o.filter,
                  "pcap: and pcap-live: inputs: a BPF filter expression (tcpdump syntax), e.g. "
                  "'tcp port 443 or udp port 53'");
  sub->add_option("--snaplen", o.snaplen,
                  "pcap-live: bytes kept of each packet (the IP length is still counted in full; "
                  "nDPI sees what is kept)")
      ->check(CLI::Range(64, 262144))
      ->capture_default_str();
  sub->add_option("--promisc", o.promisc,
                  "pcap-live: promiscuous mode (on: every packet the interface sees, as on a "
                  "mirror port; off: only this host's)")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  sub->add_option("--capture-buffer", o.capture_buffer,
                  "pcap-live: the kernel's capture ring, e.g. 256MiB; bursts beyond it are "
                  "dropped by the kernel and counted")
      ->check(size_validator())
      ->capture_default_str();
  sub->add_flag("--no-ndpi", o.no_ndpi,
                "pcap: and pcap-live: label by IP protocol and port (the service table) instead "
                "of nDPI's application protocol; faster");
  sub->add_option("--flow-idle-timeout", o.idle_timeout,
                  "pcap: and pcap-live: a flow with no packet for this long ends, e.g. 30s")
      ->check(duration_validator())
      ->capture_default_str();
  sub->add_option("--flow-active-timeout", o.active_timeout,
                  "pcap: and pcap-live: with --records flows, a long flow is exported at least "
                  "this often, e.g. 60s")
      ->check(duration_validator())
      ->capture_default_str();
  sub->add_option("--max-flows", o.max_flows,
                  "pcap: and pcap-live: flows tracked at most (about 1 KiB each with nDPI); past "
                  "it the least recently seen flow ends early, and is counted")
      ->check(CLI::Range(size_t{1}, size_t{1} << 26))
      ->capture_default_str();
}

void check_flow_input_options(const ingest::Uri& input, const std::vector<std::string>& given,
                              const char* format_option) {
  const auto has = [&given](std::string_view name) {
    return std::find(given.begin(), given.end(), name) != given.end();
  };
  if (!is_live_input(input))
    for (const char* name : {"--flow-time", "--services"})
      if (has(name))
        usage_error(std::string(name) + ": only with a netflow://, sflow://, pcap: or pcap-live: --input");
  if (!is_flow_export(input) && has("--udp-buffer"))
    usage_error("--udp-buffer: only with a netflow:// or sflow:// --input");
  if (!is_capture(input))
    for (const char* name : {"--records", "--filter", "--snaplen", "--promisc", "--no-ndpi",
                             "--flow-idle-timeout", "--flow-active-timeout", "--max-flows",
                             "--capture-buffer"})
      if (has(name)) usage_error(std::string(name) + ": only with a pcap: or pcap-live: --input");
  if (input.kind == ingest::Uri::Kind::kPcap)
    for (const char* name : {"--snaplen", "--promisc", "--capture-buffer"})
      if (has(name))
        usage_error(std::string(name) + ": only with a live interface (pcap-live:IFACE); a file "
                    "keeps what it holds");
  if (!is_live_input(input)) return;
  if (format_option && has(format_option))
    usage_error(std::string(format_option) + ": a " +
                (is_capture(input) ? "packet capture is decoded from its packets"
                                   : "netflow:// or sflow:// input is decoded from its datagrams") +
                ", not read as text");
  if (is_flow_export(input) && !input.query.empty())
    usage_error("--input '" + input.text + "': unknown option '" + input.query + "'");
  if (is_capture(input)) {
    capture::CaptureOptions probe;
    probe.input = input;
    if (auto bad = capture::apply_query(probe)) usage_error("--input '" + input.text + "': " + *bad);
  }
}

int64_t capture_flow_wait_ms(const ingest::Uri& input, const FlowInputOptions& o) {
  if (!is_capture(input) || o.records != "flows") return 0;
  return *core::parse_duration_ms(o.flow_time == "start" ? o.active_timeout : o.idle_timeout);
}

capture::CaptureOptions capture_options(const ingest::Uri& input, const FlowInputOptions& o,
                                        collect::TextFormat format) {
  capture::CaptureOptions c;
  c.input = input;
  if (auto bad = capture::apply_query(c)) usage_error("--input '" + input.text + "': " + *bad);
  c.pcap.filter = o.filter;
  c.pcap.snaplen = o.snaplen;
  c.pcap.promiscuous = o.promisc == "on";
  c.pcap.buffer_bytes = static_cast<size_t>(*core::parse_size(o.capture_buffer));
  c.processor.mode = o.records == "flows" ? capture::RecordMode::kFlows : capture::RecordMode::kPackets;
  c.processor.ndpi = !o.no_ndpi;
  if (c.processor.ndpi) {
    // nDPI is loaded here, not at start-up (capture/ndpi_classifier.cpp): a missing library is
    // one line now rather than an error from the capture thread.
    std::string why;
    if (!capture::load_ndpi(&why))
      io_error(why + " (--no-ndpi names applications by port instead)");
  }
  c.processor.max_flows = o.max_flows;
  c.processor.idle_timeout_ms = *core::parse_duration_ms(o.idle_timeout);
  c.processor.active_timeout_ms = *core::parse_duration_ms(o.active_timeout);
  if (c.processor.idle_timeout_ms <= 0 || c.processor.active_timeout_ms <= 0)
    usage_error("--flow-idle-timeout and --flow-active-timeout must be above 0");
  c.flow_time = *collect::parse_flow_time(o.flow_time);
  c.format = format;
  if (!o.services.empty()) {
    std::string why;
    auto table = collect::ServiceTable::load(o.services, &why);
    if (!table && why.find("cannot open") != std::string::npos) io_error(why);
    if (!table) usage_error(why);
    c.services = std::move(*table);
  }
  return c;
}

std::unique_ptr<capture::Capture> open_capture(const ingest::Uri& input, const FlowInputOptions& o,
                                               collect::TextFormat format, bool quiet) {
  std::string why;
  auto c = capture::Capture::open(capture_options(input, o, format), &why);
  if (!c) {
    // A filter that does not compile is the user's typo, not the machine's state.
    if (why.find("--filter") != std::string::npos) usage_error(why);
    io_error(why);
  }
  if (!quiet) print_capturing(*c);
  return c;
}

void print_capturing(const capture::Capture& c) {
  const capture::CaptureStats s = c.stats();
  const capture::CaptureOptions& o = c.options();
  char speed[64];
  std::snprintf(speed, sizeof speed, "replayed at %gx its pace", s.speed);
  const std::string pace = s.live ? "live" : s.speed > 0 ? speed : "as fast as possible";
  std::fprintf(stderr, "netpulse: capturing %s (link %s, %s), records: %s, protocols: %s%s%s\n",
               s.input.c_str(), s.link.c_str(), pace.c_str(),
               o.processor.mode == capture::RecordMode::kFlows ? "flows" : "packets",
               o.processor.ndpi ? "nDPI" : "ports (--no-ndpi)",
               o.pcap.filter.empty() ? "" : ", filter: ", o.pcap.filter.c_str());
}

void print_capture_summary(const capture::CaptureStats& s, double seconds) {
  const capture::ProcessorStats& p = s.processor;
  std::fprintf(stderr,
               "netpulse: captured %llu packets (%s of IP) in %.3f s, %spackets/s; %llu "
               "records, %llu labelled by a port guess; %llu not IP, %llu truncated, %llu bad "
               "headers, %llu fragments; %llu dropped by the kernel, %llu by the interface\n",
               static_cast<unsigned long long>(p.packets),
               human_bytes(static_cast<double>(p.ip_bytes)).c_str(), seconds,
               human_rate(seconds > 0 ? p.packets / seconds : 0).c_str(),
               static_cast<unsigned long long>(p.records),
               static_cast<unsigned long long>(p.guessed_records),
               static_cast<unsigned long long>(p.not_ip),
               static_cast<unsigned long long>(p.truncated),
               static_cast<unsigned long long>(p.bad_header),
               static_cast<unsigned long long>(p.fragments),
               static_cast<unsigned long long>(s.pcap.kernel_drops),
               static_cast<unsigned long long>(s.pcap.if_drops));
  std::fprintf(stderr,
               "netpulse:   flows: %llu tracked, %llu detected by nDPI, %llu guessed, %llu "
               "ended idle, %llu cut by the active timeout, %llu evicted (table full)\n",
               static_cast<unsigned long long>(p.flows_created),
               static_cast<unsigned long long>(p.flows_detected),
               static_cast<unsigned long long>(p.flows_guessed),
               static_cast<unsigned long long>(p.flows_idle),
               static_cast<unsigned long long>(p.flows_active_timeouts),
               static_cast<unsigned long long>(p.flows_evicted));
  if (!s.warning.empty()) std::fprintf(stderr, "netpulse: warning: %s: %s\n", s.input.c_str(), s.warning.c_str());
}

std::unique_ptr<LiveSource> open_live_source(const ingest::Uri& input, const FlowInputOptions& o,
                                             bool quiet, collect::TextFormat format) {
  if (is_capture(input))
    return std::make_unique<CaptureSource>(open_capture(input, o, format, quiet));
  auto collector = open_collector({input}, o, format, quiet);
  if (!quiet) print_listening(*collector);
  return std::make_unique<CollectorSource>(std::move(collector), input.text);
}

namespace {

detect::FlowInputKind csv_file_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return detect::FlowInputKind::kLine;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return detect::FlowInputKind::kLine;
  char buf[4096];  // a header is a few dozen names
  const size_t n = std::fread(buf, 1, sizeof buf, f);
  std::fclose(f);
  std::string_view header(buf, n);
  header = header.substr(0, header.find('\n'));
  return detect::CsvFlowColumns::from_header(header).flow_export()
             ? detect::FlowInputKind::kFlowExport
             : detect::FlowInputKind::kLine;
}

}  // namespace

detect::FlowInputKind flow_input_kind(const ingest::Uri& input, const FlowInputOptions& o,
                                      ingest::Format format) {
  if (is_flow_export(input)) return detect::FlowInputKind::kFlowExport;
  if (is_capture(input) && o.records == "flows") return detect::FlowInputKind::kCapture;
  if (format == ingest::Format::kCsv && input.kind == ingest::Uri::Kind::kFile)
    return csv_file_kind(input.path);
  return detect::FlowInputKind::kLine;
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

nlohmann::json CollectorSource::status() const {
  return {{"collector", app::collector_status(collector_->stats())}};
}

void CollectorSource::register_metrics(server::MetricsRegistry& registry) const {
  app::register_collector_metrics(registry, *collector_);
}

void CollectorSource::print_summary(double seconds) const {
  print_collector_summary(collector_->stats(), seconds);
}

CaptureSource::CaptureSource(std::unique_ptr<capture::Capture> capture)
    : capture_(std::move(capture)) {
  capture_->on_end([this] { feed_.close(); });
  capture_->start(feed_);
}

CaptureSource::~CaptureSource() { abandon(); }

void CaptureSource::close() { capture_->request_stop(); }

void CaptureSource::abandon() {
  std::call_once(abandoned_, [this] {
    feed_.close();  // a capture waiting for room in the feed gives up at once
    capture_->stop();
  });
}

nlohmann::json CaptureSource::status() const {
  return {{"capture", app::capture_status(capture_->stats())}};
}

void CaptureSource::register_metrics(server::MetricsRegistry& registry) const {
  app::register_capture_metrics(registry, *capture_);
}

void CaptureSource::print_summary(double seconds) const {
  print_capture_summary(capture_->stats(), seconds);
}

}  // namespace netpulse::cli
