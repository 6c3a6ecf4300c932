// Packet capture as an input: one thread reads a capture file or a live interface through
// libpcap, runs each packet through the PacketProcessor (decode, flow tracking, nDPI) and
// writes the records as flow-record text to a RecordSink (a file, TCP or Kafka for `netpulse
// collect`, the engine's feed for `process`, `detect-flows` and `run`), or, as a flow probe,
// sends finished flows to a NetFlow v5/v9 or IPFIX collector. Keeps the figures an operator
// needs: packets, IP bytes, non-IP and truncated packets, records labelled by a guess, flows
// tracked and evicted, and the kernel's drops.
//
// Thread-safety: start() and stop() from one controlling thread; request_stop(), stats() and
// error() from any thread. A stop of a live capture drains: the kernel adds no more packets to
// the ring (PcapSource::close_to_new), the packets already in it are all processed, and every
// tracked flow ends, so in flows mode no packet that had arrived is lost (where the ring cannot
// be closed, the drain ends after kMaxDrain of the capture's own work; time waiting for the
// sink does not count); a capture file ends at its end (or at the stop), likewise with every
// flow ended.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "capture/packet_processor.hpp"
#include "capture/pcap_source.hpp"
#include "collect/export_sink.hpp"
#include "collect/flow_text.hpp"
#include "collect/service_table.hpp"
#include "generate/record_sink.hpp"
#include "ingest/uri.hpp"

namespace netpulse::capture {

struct CaptureOptions {
  ingest::Uri input;  // kPcap or kPcapLive; the query's speed= is read into pcap.speed
  PcapOptions pcap;
  ProcessorOptions processor;
  collect::FlowTime flow_time = collect::FlowTime::kEnd;  // flows mode: the record's time
  collect::TextFormat format = collect::TextFormat::kLine;
  collect::ServiceTable services;
};

// Reads the URI's query (speed=N: N > 0, a real number) into options.pcap. nullopt when fine,
// else a one-line reason.
std::optional<std::string> apply_query(CaptureOptions& options);

struct CaptureStats {
  std::string input;      // the URI as given
  std::string link;       // the link type's name ("EN10MB", "LINUX_SLL", ...)
  bool live = false;
  bool finished = false;  // the thread has ended
  double speed = 0;       // replay speed (0: as fast as possible)
  ProcessorStats processor;
  PcapStats pcap;
  std::string warning;    // e.g. a capture file that ends inside a packet (the rest was read)
};

class Capture {
 public:
  // Opens the file or interface. Returns nullptr with a one-line reason naming the input.
  static std::unique_ptr<Capture> open(CaptureOptions options, std::string* why);
  ~Capture();

  // Called on the capture thread once it has written its last record. Set before start().
  void on_end(std::function<void()> done) { on_end_ = std::move(done); }

  // Starts capturing on a thread; records go to sink as text (begin() gets the CSV header).
  void start(generate::RecordSink& sink);
  // Starts capturing as a flow probe: each finished flow (flows mode) goes to exporter.
  void start(collect::NetflowExportSink& exporter);
  // Asks the thread to drain (live) or stop reading (files) and end. Thread-safe; returns at once.
  void request_stop();
  // request_stop(), then joins. Idempotent; from the controlling thread only.
  void stop();
  // Waits until the thread ends (end of file, stop, or a failure).
  void wait();
  // A read or sink failure that ended the capture (empty when none).
  std::string error() const;
  CaptureStats stats() const;
  const CaptureOptions& options() const { return options_; }

 private:
  Capture(CaptureOptions options, std::unique_ptr<PcapSource> source);
  void run();

  CaptureOptions options_;
  std::unique_ptr<PcapSource> source_;
  generate::RecordSink* sink_ = nullptr;
  collect::NetflowExportSink* exporter_ = nullptr;
  std::function<void()> on_end_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> finished_{false};
  mutable std::mutex mutex_;
  CaptureStats snapshot_;  // under mutex_: the thread's figures as of its last batch
  std::string error_;
};

}  // namespace netpulse::capture
