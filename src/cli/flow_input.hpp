// The flow-export inputs (netflow://, sflow://) as the subcommands take them: their options
// (--flow-time, --services, --udp-buffer), the collector they open, the engine input over it,
// and the summary lines. Shared by collect, process, detect-flows and run.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "collect/collector.hpp"
#include "ingest/block_source.hpp"
#include "ingest/uri.hpp"
#include "server/generator_feed.hpp"

namespace netpulse::cli {

struct FlowInputOptions {
  std::string flow_time = "end";
  std::string services;  // --services FILE
  std::string udp_buffer = "32MiB";
};

// Adds --flow-time, --services and --udp-buffer to a subcommand.
void add_flow_input_options(CLI::App* sub, FlowInputOptions& o);

inline bool is_flow_export(const ingest::Uri& u) {
  return u.kind == ingest::Uri::Kind::kNetflow || u.kind == ingest::Uri::Kind::kSflow;
}

// Refuses (exit 2) the flow-input options without a flow-export input, --format with one
// (`format_option`: "--format" where the command has it, else nullptr), and query options on
// the URI. `given`: the options given on the command line, by name.
void check_flow_input_options(const ingest::Uri& input, const std::vector<std::string>& given,
                              const char* format_option);

// Opens the collector's sockets (exit 2 for bad options, 1 when a port cannot be bound).
std::unique_ptr<collect::Collector> open_collector(const std::vector<ingest::Uri>& inputs,
                                                   const FlowInputOptions& o,
                                                   collect::TextFormat format, bool quiet);

// One line per bound socket ("netpulse: collecting netflow on 127.0.0.1:2055, ...").
void print_listening(const collect::Collector& c);
// The collector's summary: totals, then one line per exporter.
void print_collector_summary(const collect::CollectorStats& s, double seconds);

class CollectorSource;
// open_collector() for one input, said on stderr unless quiet, as an engine input.
std::unique_ptr<CollectorSource> open_flow_source(const ingest::Uri& input,
                                                  const FlowInputOptions& o, bool quiet);

// An engine input over a collector: flows become line-format text in a bounded feed the
// engine reads like any other BlockSource. close() (from any thread, e.g. on Ctrl-C) asks the
// collector to drain the sockets and returns at once; the feed ends when the collector has
// written its last record, so every datagram already received reaches the engine, which then
// ends by itself. abandon(), once the engine no longer reads: ends the feed first, then waits
// for the collector (which may be waiting for room in it).
class CollectorSource final : public ingest::BlockSource {
 public:
  CollectorSource(std::unique_ptr<collect::Collector> collector, std::string description);
  ~CollectorSource() override;
  Next next(ingest::Block& out, std::chrono::milliseconds timeout) override {
    return feed_.next(out, timeout);
  }
  void close() override;
  void abandon();
  std::string error() const override { return collector_->error(); }
  std::string describe() const override { return description_; }
  collect::Collector& collector() { return *collector_; }
  // Called with every block handed to the engine (the flow detector's tap).
  void set_observer(std::function<void(const ingest::Block&)> observer) {
    feed_.set_observer(std::move(observer));
  }

 private:
  server::GeneratorFeed feed_{64 << 20};
  std::unique_ptr<collect::Collector> collector_;
  std::string description_;
  std::once_flag abandoned_;
};

}  // namespace netpulse::cli
