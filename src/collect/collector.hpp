// The flow collector: UDP sockets for netflow:// and sflow:// inputs, one receiving thread that
// decodes every datagram (NetFlow v5/v9/IPFIX or sFlow v5, told apart per input and per
// datagram) and writes the flows as flow-record text to a RecordSink: a file, TCP or Kafka for
// `netpulse collect`, the engine's feed for `process`, `detect-flows` and `run`. Keeps the
// figures an operator needs to trust it: per exporter (datagrams, flows, sequence loss,
// malformed datagrams, template misses) and per socket (kernel receive-buffer drops).
//
// Thread-safety: start() and stop() from one controlling thread; request_stop() and stats()
// from any thread. A stop drains: the sockets take no more datagrams (UdpReceiver::close_to_new),
// and every datagram the kernel held by then is decoded and written before the thread ends,
// however long that takes, so a stop finishes on a link that never pauses and loses nothing
// that had arrived. Only where a socket cannot be closed that way does the drain end once it
// has spent kMaxDrain reading and decoding (time the sink takes does not count).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "collect/flow_export.hpp"
#include "collect/flow_text.hpp"
#include "collect/service_table.hpp"
#include "generate/record_sink.hpp"
#include "ingest/uri.hpp"

namespace netpulse::collect {

// How long a stop may spend reading and decoding datagrams that keep arriving, where a socket
// could not be closed to new ones (time blocked on the sink not counted): a full 32 MiB buffer
// (about 22,000 datagrams) takes well under 100 ms to decode.
inline constexpr std::chrono::milliseconds kMaxDrain{1000};

struct CollectorOptions {
  std::vector<ingest::Uri> inputs;  // kNetflow or kSflow
  size_t udp_buffer = 32 << 20;     // SO_RCVBUF per socket (0: the system's default)
  FlowTime flow_time = FlowTime::kEnd;
  TextFormat format = TextFormat::kLine;
  ServiceTable services;
  size_t report_limit = 10;  // malformed datagrams reported on stderr (all are counted)
};

struct SocketStats {
  std::string input;  // the URI as given
  uint16_t port = 0;  // the bound port (useful with port 0)
  size_t buffer_bytes = 0;
  uint64_t kernel_drops = 0;
};

struct CollectorStats {
  uint64_t datagrams = 0;
  uint64_t datagram_bytes = 0;
  uint64_t flows = 0;        // decoded
  uint64_t records = 0;      // written (a flow over 4 GiB is several records)
  uint64_t malformed = 0;    // datagrams, or parts of them, that could not be decoded
  uint64_t implausible = 0;  // flows refused for a byte count no link carries
  uint64_t future = 0;  // flows refused for a time before 1970 or over an hour after arrival
  uint64_t template_misses = 0;
  uint64_t lost = 0;         // sum over exporters of the sequence-number estimates
  uint64_t kernel_drops = 0;
  std::vector<SocketStats> sockets;
  std::vector<ExporterStats> exporters;
};

class Collector {
 public:
  // Opens every input's socket. Returns nullptr with a one-line reason naming the input.
  static std::unique_ptr<Collector> open(CollectorOptions options, std::string* why);
  ~Collector();

  // Called on the receiving thread with a one-line report of each of the first few malformed
  // datagrams. Set before start().
  void on_report(std::function<void(const std::string&)> report) { report_ = std::move(report); }

  // Called on the receiving thread once it has written its last record (after a stop's drain,
  // or a sink failure): e.g. to close an in-process feed. Set before start().
  void on_end(std::function<void()> done) { on_end_ = std::move(done); }

  // Starts receiving on a thread; writes to sink (begin() is called first with the CSV header).
  void start(generate::RecordSink& sink);
  // Asks the receiving thread to drain the sockets and end. Thread-safe; returns at once.
  void request_stop();
  // request_stop(), then joins the thread. Idempotent; from the controlling thread only.
  void stop();
  // Waits until the receiving thread ends (stop() from another thread, or a sink failure).
  void wait();
  // A sink failure that ended the collector (empty when none).
  std::string error() const;

  CollectorStats stats() const;
  std::vector<SocketStats> sockets() const;

 private:
  struct Impl;
  explicit Collector(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::function<void(const std::string&)> report_;
  std::function<void()> on_end_;
};

}  // namespace netpulse::collect
