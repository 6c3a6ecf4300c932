// The generator as a flow exporter: `generate --output netflow://HOST:PORT?version=5|9|10`.
// Takes the generator's text lines, turns each record into one flow and sends NetFlow v5, v9
// or IPFIX datagrams (with templates) over UDP, so netpulse can drive other collectors and its
// own. Called from the generating thread only, like every RecordSink; not thread-safe.
//
// A record becomes one flow of one packet: start = end = the record's time, bytes = its bytes,
// src and dst its addresses. Its label becomes (IP protocol, destination port) through
// ServiceTable::find() ("HTTP" -> TCP 80), so a collector naming flows by the same table gives
// the label back. Transport labels go back to their protocol with port 0 ("TCP", "UDP", "ICMP",
// "IP-<n>"). A label neither knows is sent as TCP port 0 and counted (unknown_labels): the
// bytes still reach the collector, under the label "TCP". The source port is a deterministic
// ephemeral port, 49152 + hash(src, dst) % 16384 (TCP, UDP and SCTP; 0 otherwise), so the same
// pair of hosts keeps the same port from run to run. With sampling N > 1 the exporter announces
// 1:N and sends records 0, N, 2N, ... (deterministic 1-in-N sampling, as it announces); the
// others are counted in sampled_out.
//
// A partly filled datagram waits for more records at most flush_after_ms of wall-clock time
// (checked as blocks arrive) and is sent at finish(). Send errors: ENOBUFS and EAGAIN drop the
// datagram and are counted; ECONNREFUSED (an ICMP port-unreachable for an earlier datagram:
// nothing listens yet) is counted and the datagram sent again, as real exporters keep going;
// any other error ends the output with a one-line error naming it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collect/netflow_encoder.hpp"
#include "collect/service_table.hpp"
#include "core/protocol_table.hpp"
#include "generate/record_sink.hpp"
#include "ingest/flow_parser.hpp"

namespace netpulse::collect {

// Where datagrams go: the seam between the exporter and the socket, so tests can capture the
// datagrams and inject errors. Not thread-safe.
class DatagramSender {
 public:
  virtual ~DatagramSender() = default;
  // Sends one datagram; returns 0, or the errno value of the failure.
  virtual int send(const uint8_t* data, size_t size) = 0;
};

// A UDP socket connected to host:port (resolved with getaddrinfo; IPv4 or IPv6, the first
// address that works). Returns nullptr with a one-line reason prefixed by `label`.
std::unique_ptr<DatagramSender> connect_udp(const std::string& host, uint16_t port,
                                            const std::string& label, std::string* why);

struct NetflowExportOptions {
  NetflowEncoderOptions encoder;
  // A partly filled datagram is sent once it has waited this long (wall clock); 0: only when
  // full or at finish().
  int64_t flush_after_ms = 1000;
  // The wall clock in ms (any epoch); unset: std::chrono::steady_clock.
  std::function<int64_t()> now_ms;
};

struct NetflowExportCounters {
  uint64_t records = 0;          // records read from the generator's lines (or add_flow calls)
  uint64_t malformed_lines = 0;  // lines that did not parse (skipped)
  uint64_t datagrams_sent = 0;
  uint64_t flows_sent = 0;      // flow records in the datagrams sent (v5 splits count each)
  uint64_t flows_skipped = 0;   // not sendable: IPv6 over NetFlow v5
  uint64_t unknown_labels = 0;  // sent as TCP port 0
  uint64_t sampled_out = 0;     // not sent under 1-in-N sampling
  uint64_t send_errors = 0;     // datagrams dropped on ENOBUFS/EAGAIN (or refused twice)
  uint64_t refused = 0;         // ECONNREFUSED reports (nothing listening at the time)
};

class NetflowExportSink final : public generate::RecordSink {
 public:
  // REQUIRES: validate(options.encoder) is nullopt. `name` (the URI) starts error messages.
  NetflowExportSink(NetflowExportOptions options, ServiceTable services,
                    std::unique_ptr<DatagramSender> sender, std::string name);
  ~NetflowExportSink() override;

  // Connects to host:port; nullptr with a one-line reason when the host does not resolve or
  // no socket can be made.
  static std::unique_ptr<NetflowExportSink> open(const std::string& host, uint16_t port,
                                                 NetflowExportOptions options,
                                                 ServiceTable services, const std::string& name,
                                                 std::string* why);

  bool begin(std::string_view header) override;
  bool write(const char* data, size_t size, uint64_t records) override;
  std::string error() const override { return error_; }

  // A flow probe's flow, sent as it is (its ports, IP protocol, flags, packets and times; the
  // sink's sampling applies). Returns false when the output has failed. Call poll() after a
  // batch of flows, and now and then when none come, so a partly filled datagram goes out.
  bool add_flow(const ExportedFlow& flow);
  // Sends the partly filled datagram once it has waited flush_after_ms. False when failed.
  bool poll();

  // Sends the partly filled datagram. Returns false when the output has failed (error() says
  // why). Call once at the end of the run; the destructor calls it if nobody did.
  bool finish();

  const NetflowExportCounters& counters() const { return counters_; }
  const NetflowEncoderStats& encoder_stats() const { return encoder_.stats(); }

 private:
  // What a protocol label is sent as.
  struct Mapping {
    uint8_t ip_protocol = 6;
    uint16_t port = 0;
    bool known = false;
  };
  const Mapping& mapping(uint32_t protocol_id);
  void on_datagram(const uint8_t* data, size_t size);
  int64_t now_ms() const;

  NetflowExportOptions options_;
  ServiceTable services_;
  std::unique_ptr<DatagramSender> sender_;
  std::string name_;
  core::ProtocolTable protocols_;
  std::optional<ingest::FlowParser> parser_;
  std::vector<std::optional<Mapping>> mappings_;  // by protocol id
  NetflowEncoder encoder_;
  uint32_t sample_phase_ = 0;
  std::optional<int64_t> pending_since_ms_;  // when the partly filled datagram was first seen
  bool finished_ = false;
  bool failed_ = false;
  std::string error_;
  NetflowExportCounters counters_;
};

}  // namespace netpulse::collect
