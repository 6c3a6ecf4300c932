// Serves the generated stream to every consumer that connects (tcp-listen://HOST:PORT), as the
// original generator did on port 12301. Each consumer gets the records written after it
// connected, from a line boundary (and the CSV header first). A slow or vanished consumer never
// stalls the generator or the others: each has a bounded queue, and while it is full the blocks
// meant for that consumer are dropped (whole lines only) and counted; the connection is kept.
// write() is called from the generating thread; one internal I/O thread (poll) serves the
// sockets; the other methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "generate/record_sink.hpp"

namespace netpulse::generate {

class TcpBroadcastSink final : public RecordSink {
 public:
  struct Options {
    // Bytes queued for one consumer before records are dropped for it (~0.25 s of the
    // generator at 1 million records/s).
    size_t max_queue_bytes = 16u << 20;
    // One-line notices (a consumer connected, left, started or stopped losing records). Called
    // from the I/O thread or the generating thread: must be thread-safe.
    std::function<void(const std::string&)> on_notice;
  };

  struct ConsumerStats {
    std::string peer;              // "127.0.0.1:50412"
    uint64_t records_sent = 0;     // queued for it and written to its socket
    uint64_t records_dropped = 0;  // while its queue was full
    size_t queued_bytes = 0;
  };

  struct Totals {
    uint64_t consumers = 0;        // that connected during the run
    uint64_t dropped_records = 0;  // over all consumers
    uint64_t unsent_records = 0;   // still queued when close() gave up draining
  };

  // Listens on host:port (port 0 picks a free one). Returns nullptr with a reason.
  static std::unique_ptr<TcpBroadcastSink> start(const std::string& host, uint16_t port,
                                                 Options options, std::string* why);
  ~TcpBroadcastSink() override;

  uint16_t port() const;

  bool begin(std::string_view header) override;
  // Queues the block for every connected consumer; never blocks on a socket. Always true.
  bool write(const char* data, size_t size, uint64_t records) override;

  std::vector<ConsumerStats> consumers() const;
  // Stops accepting, sends what is queued (waiting up to `drain`), closes every connection.
  // Idempotent; returns the totals of the run.
  Totals close(std::chrono::milliseconds drain);

 private:
  struct State;
  explicit TcpBroadcastSink(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace netpulse::generate
