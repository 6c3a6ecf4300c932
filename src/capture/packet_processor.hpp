// What packet capture does with each captured packet: decodes it (core/packet_decode), tracks
// its bidirectional flow in a bounded table, classifies the flow with nDPI, and hands out
// records: one per packet (`--records packets`) or one per direction of each finished flow
// (`--records flows`, with active and idle timeouts, as a flow exporter would). The protocol
// label is nDPI's name for the flow's application protocol (ndpi_protocol2name: "HTTP",
// "TLS.Google", "DNS", ...) once detection completes; before that, and for flows nDPI gives
// up on, its port-based guess (`guessed` is then true and counted). Without nDPI, the label is
// the flow collector's service table over IP protocol and ports.
//
// Flow state is bounded: at most max_flows flows; a new flow beyond that evicts the least
// recently seen one (counted; in flows mode its records are emitted first, nothing is lost).
// Flows idle for idle_timeout end; flows longer than active_timeout are cut (flows mode emits
// what they had and keeps tracking; nDPI state is kept).
//
// Time comes only from the packets (capture timestamps), never from the wall clock, so a file
// gives the same records on every run. Not thread-safe: one processor per capture thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "collect/flow_export.hpp"
#include "collect/service_table.hpp"
#include "core/packet_decode.hpp"
#include "core/time.hpp"

namespace netpulse::capture {

enum class RecordMode : uint8_t { kPackets, kFlows };

struct ProcessorOptions {
  RecordMode mode = RecordMode::kPackets;
  bool ndpi = true;                // classify with nDPI; false: the service table's port label
  size_t max_flows = 1 << 18;      // tracked flows at most (each holds an nDPI flow, ~1 KiB)
  int64_t idle_timeout_ms = 30'000;    // a flow with no packet for this long ends
  int64_t active_timeout_ms = 300'000; // flows mode: a flow is exported at least this often
  // nDPI gives up on a flow after this many packets (ndpiReader's defaults: 80 TCP, 24 UDP);
  // its guess is then final.
  uint32_t ndpi_max_packets_tcp = 80;
  uint32_t ndpi_max_packets_udp = 24;
};

// One record handed out. `flow` is the packet (packets = 1, start = end = capture time,
// bytes = IP length) or one direction of a finished flow (src/dst/ports as that direction
// sent them; start, end, bytes, packets and OR of TCP flags of that direction). `received`
// is the capture time of the packet that caused the emission. `exporter`, `domain` and the
// interfaces are left 0 / unset; sampling_rate is 1.
using RecordCallback =
    std::function<void(const collect::ExportedFlow& flow, std::string_view label, bool guessed)>;

struct ProcessorStats {
  uint64_t packets = 0;        // packets given to process()
  uint64_t wire_bytes = 0;     // their original lengths (pcap `len`)
  uint64_t ip_packets = 0;     // decoded to an IP header (records in packets mode)
  uint64_t ip_bytes = 0;       // their IP lengths
  uint64_t not_ip = 0;         // ARP, LLDP, ... (counted, skipped)
  uint64_t truncated = 0;      // cut inside the link or IP header by the snap length (skipped)
  uint64_t bad_header = 0;     // IP headers that cannot be right (skipped)
  uint64_t fragments = 0;      // IP fragments (later ones take their first fragment's ports)
  uint64_t records = 0;        // records handed out
  uint64_t guessed_records = 0;  // of which labelled by a guess, not a completed detection
  uint64_t flows_created = 0;
  uint64_t flows_active = 0;   // in the table now
  uint64_t flows_idle = 0;     // ended by the idle timeout
  uint64_t flows_evicted = 0;  // ended early because the table was full (oldest first)
  uint64_t flows_active_timeouts = 0;  // flows mode: cut by the active timeout
  uint64_t flows_detected = 0; // flows whose application protocol nDPI detected
  uint64_t flows_guessed = 0;  // flows nDPI gave up on (labelled by its guess)
};

class PacketProcessor {
 public:
  // link: the capture's link type. Records go to on_record, on the calling thread, which must
  // not call back into the processor. REQUIRES: services outlives the processor (labels point
  // into it); options.max_flows >= 1; both timeouts > 0. With options.ndpi, constructing takes
  // ~50 ms and ~9 MB (one nDPI detection module). Throws std::bad_alloc if nDPI cannot start.
  PacketProcessor(const ProcessorOptions& options, core::LinkType link,
                  const collect::ServiceTable& services, RecordCallback on_record);
  ~PacketProcessor();
  PacketProcessor(const PacketProcessor&) = delete;
  PacketProcessor& operator=(const PacketProcessor&) = delete;

  // One captured packet: capture time in microseconds since the epoch, caplen bytes at data,
  // wire length len. Packets should come in capture-time order (a packet older than the
  // newest one seen is processed with the newest time for expiry).
  void process(int64_t time_us, const uint8_t* data, uint32_t caplen, uint32_t len);
  // Expires flows idle (or, in flows mode, active) at `time_us` without a packet: called by a
  // live capture when the link is quiet, so flows end on time.
  void advance(int64_t time_us);
  // End of input: every tracked flow ends (flows mode: its records are emitted), and nDPI's
  // state is freed. Packets after it start afresh (a new nDPI module, nothing remembered).
  void finish();

  const ProcessorStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace netpulse::capture
