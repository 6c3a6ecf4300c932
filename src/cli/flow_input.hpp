// The live inputs as the subcommands take them: flow exports (netflow://, sflow://) and packet
// captures (pcap:FILE, pcap-live:IFACE). Their options (--flow-time, --services, --udp-buffer;
// --records, --filter, --snaplen, --promisc, --no-ndpi, the flow timeouts), the collector or
// capture they open, the engine input over it (LiveSource), its status and metrics, and the
// summary lines. Shared by collect, process, detect-flows and run.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/generator_feed.hpp"
#include "capture/capture.hpp"
#include "collect/collector.hpp"
#include "detect/flow_features.hpp"
#include "ingest/block_source.hpp"
#include "ingest/flow_parser.hpp"
#include "ingest/uri.hpp"
#include "server/metrics.hpp"

namespace netpulse::cli {

struct FlowInputOptions {
  std::string flow_time = "end";
  std::string services;  // --services FILE
  std::string udp_buffer = "32MiB";
  // Packet capture.
  std::string records = "packets";
  std::string filter;
  int snaplen = 262144;
  std::string promisc = "on";
  bool no_ndpi = false;
  std::string idle_timeout = "30s";
  std::string active_timeout = "300s";
  size_t max_flows = 262144;
  std::string capture_buffer = "64MiB";
};

// Adds the flow-export and capture options to a subcommand.
void add_flow_input_options(CLI::App* sub, FlowInputOptions& o);

inline bool is_flow_export(const ingest::Uri& u) {
  return u.kind == ingest::Uri::Kind::kNetflow || u.kind == ingest::Uri::Kind::kSflow;
}
inline bool is_capture(const ingest::Uri& u) {
  return u.kind == ingest::Uri::Kind::kPcap || u.kind == ingest::Uri::Kind::kPcapLive;
}
// An input read by a thread of its own rather than as text: a flow export or a capture.
inline bool is_live_input(const ingest::Uri& u) { return is_flow_export(u) || is_capture(u); }

// Refuses (exit 2) the options that do not fit the input: the flow-export ones without a
// flow export, the capture ones without a capture, --format with either (`format_option`:
// "--format" where the command has it, else nullptr), and unknown query options on the URI.
// `given`: the options given on the command line, by name.
void check_flow_input_options(const ingest::Uri& input, const std::vector<std::string>& given,
                              const char* format_option);

// How late a record of this input can come after its time, in ms: with a capture and
// --records flows, a flow's record is written when the flow ends, up to the idle timeout after
// its last packet (--flow-time end) or the active timeout after its first (start); else 0.
int64_t capture_flow_wait_ms(const ingest::Uri& input, const FlowInputOptions& o);

// The capture's options from the command line (exit 2 when they do not fit together).
capture::CaptureOptions capture_options(const ingest::Uri& input, const FlowInputOptions& o,
                                        collect::TextFormat format);
// Opens the capture file or interface (exit 2 for bad options, 1 when it cannot be opened).
std::unique_ptr<capture::Capture> open_capture(const ingest::Uri& input, const FlowInputOptions& o,
                                               collect::TextFormat format, bool quiet);
// "netpulse: capturing on eth0 (EN10MB), nDPI on, records: packets" and the like.
void print_capturing(const capture::Capture& c);
// The capture's summary: packets, what was skipped, records, guesses, flows, drops.
void print_capture_summary(const capture::CaptureStats& s, double seconds);

// Opens the collector's sockets (exit 2 for bad options, 1 when a port cannot be bound).
std::unique_ptr<collect::Collector> open_collector(const std::vector<ingest::Uri>& inputs,
                                                   const FlowInputOptions& o,
                                                   collect::TextFormat format, bool quiet);

// One line per bound socket ("netpulse: collecting netflow on 127.0.0.1:2055, ...").
void print_listening(const collect::Collector& c);
// The collector's summary: totals, then one line per exporter.
void print_collector_summary(const collect::CollectorStats& s, double seconds);

// An engine input over a thread that writes records (a collector or a capture): its records
// become line-format text in a bounded feed the engine reads like any other BlockSource.
// close() (from any thread, e.g. on Ctrl-C) asks the thread to drain and returns at once; the
// feed ends when the thread has written its last record, so everything already received
// reaches the engine, which then ends by itself (a capture file also ends at its end).
// abandon(), once the engine no longer reads: ends the feed first, then waits for the thread
// (which may be waiting for room in the feed).
class LiveSource : public ingest::BlockSource {
 public:
  Next next(ingest::Block& out, std::chrono::milliseconds timeout) override {
    return feed_.next(out, timeout);
  }
  virtual void abandon() = 0;
  // Called with every block handed to the engine (the flow detector's tap).
  void set_observer(std::function<void(const ingest::Block&)> observer) {
    feed_.set_observer(std::move(observer));
  }
  // Its part of /api/status ({"collector": {...}} or {"capture": {...}}).
  virtual nlohmann::json status() const = 0;
  // Its /metrics families. REQUIRES: this source outlives the registry's use.
  virtual void register_metrics(server::MetricsRegistry& registry) const = 0;
  // Its summary on stderr.
  virtual void print_summary(double seconds) const = 0;

 protected:
  app::GeneratorFeed feed_{64 << 20};
  std::once_flag abandoned_;
};

// open_collector() or open_capture() for one input, said on stderr unless quiet, as an
// engine input: line records, or CSV, whose extra columns carry the ports, IP protocol, TCP
// flags, packets and flow times the line format drops (the models need them).
std::unique_ptr<LiveSource> open_live_source(
    const ingest::Uri& input, const FlowInputOptions& o, bool quiet,
    collect::TextFormat format = collect::TextFormat::kLine);

// What the input's records can give the flow models when read as CSV: a flow export's
// (kFlowExport), a capture's with --records flows (kCapture: both directions of a connection),
// else what line records give (kLine; a capture's packet records are not connections).
// A CSV file (format kCsv) is kFlowExport when its header names a collector's extra columns
// (src_port, dst_port, ip_protocol: `collect --format csv` writes them, from a flow export or a
// capture). Only a regular file is peeked at (a pipe's first line would be lost to the engine);
// a file that cannot be read is kLine (its source says why).
detect::FlowInputKind flow_input_kind(const ingest::Uri& input, const FlowInputOptions& o,
                                      ingest::Format format = ingest::Format::kLine);

class CollectorSource final : public LiveSource {
 public:
  CollectorSource(std::unique_ptr<collect::Collector> collector, std::string description);
  ~CollectorSource() override;
  void close() override;
  void abandon() override;
  std::string error() const override { return collector_->error(); }
  std::string describe() const override { return description_; }
  nlohmann::json status() const override;
  void register_metrics(server::MetricsRegistry& registry) const override;
  void print_summary(double seconds) const override;

 private:
  std::unique_ptr<collect::Collector> collector_;
  std::string description_;
};

class CaptureSource final : public LiveSource {
 public:
  explicit CaptureSource(std::unique_ptr<capture::Capture> capture);
  ~CaptureSource() override;
  void close() override;
  void abandon() override;
  std::string error() const override { return capture_->error(); }
  std::string describe() const override { return capture_->options().input.text; }
  nlohmann::json status() const override;
  void register_metrics(server::MetricsRegistry& registry) const override;
  void print_summary(double seconds) const override;

 private:
  std::unique_ptr<capture::Capture> capture_;
};

}  // namespace netpulse::cli
