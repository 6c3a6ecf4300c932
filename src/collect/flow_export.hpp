// What a flow-export decoder produces: one exported flow with everything the exporter told us
// (times, addresses, ports, protocol, TCP flags, counters, interfaces, sampling), and the
// per-exporter health figures (datagrams, sequence-number loss, malformed datagrams, template
// misses). Plain values; thread-safe as values are.
//
// The engine sees only time, protocol label, src, dst and bytes (spec section 1); the rest
// travels on for the detectors, for `collect --format csv` and for the exporter's statistics.
#pragma once

#include <cstdint>
#include <string>

#include "core/ip_addr.hpp"
#include "core/time.hpp"

namespace netpulse::collect {

// The wire protocol a flow came in. The numeric values of the NetFlow/IPFIX ones are the
// version field of their header.
enum class ExportProtocol : uint8_t { kNetflowV5 = 5, kNetflowV9 = 9, kIpfix = 10, kSflowV5 = 50 };

const char* to_string(ExportProtocol p);  // "netflow-v5", "netflow-v9", "ipfix", "sflow-v5"

// Who sent a datagram: the UDP source address and port as the socket saw them.
struct ExporterAddress {
  core::IpAddr address;
  uint16_t port = 0;
  friend bool operator==(const ExporterAddress&, const ExporterAddress&) = default;
};

struct ExportedFlow {
  core::TimeMs start = 0;     // first packet of the flow, ms since the epoch (UTC)
  core::TimeMs end = 0;       // last packet of the flow
  core::TimeMs received = 0;  // when the datagram carrying it reached the collector
  core::IpAddr src;
  core::IpAddr dst;
  core::IpAddr exporter;     // the exporter: UDP source address (sFlow: the agent address)
  uint64_t bytes = 0;        // IP bytes as exported, NOT multiplied by the sampling rate
  uint64_t packets = 0;      // likewise
  uint32_t sampling_rate = 1;  // 1 in N packets sampled; 1 when unsampled or unknown
  uint32_t input_if = 0;
  uint32_t output_if = 0;
  uint32_t domain = 0;       // v9 source id, IPFIX observation domain, sFlow source id; v5: 0
  uint16_t src_port = 0;
  uint16_t dst_port = 0;     // ICMP/ICMPv6: type * 256 + code, as NetFlow v5 carries it
  uint8_t ip_protocol = 0;   // 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...
  uint8_t tcp_flags = 0;     // OR of the flags seen
  ExportProtocol protocol = ExportProtocol::kNetflowV5;

  // Bytes and packets as the network carried them: the exported counts times the sampling rate.
  uint64_t scaled_bytes() const { return bytes * sampling_rate; }
  uint64_t scaled_packets() const { return packets * sampling_rate; }
};

// Why a datagram (or part of it) could not be decoded. The reason text is static.
enum class DecodeStatus : uint8_t {
  kOk,
  kTooShort,       // shorter than its header
  kBadVersion,     // version field is not one this decoder takes
  kBadLength,      // a length/count field disagrees with the bytes present
  kBadTemplate,    // a template that cannot be right (zero fields, field longer than a record)
  kBadSample,      // sFlow: a sample or record whose length runs past its container
};
const char* describe(DecodeStatus s);

// What decoding one datagram did. A datagram can be partly good: the flows decoded before a bad
// set are kept, the rest is counted as malformed.
struct DecodeResult {
  DecodeStatus status = DecodeStatus::kOk;
  uint32_t flows = 0;         // flows appended to the output by this call (held ones included)
  uint32_t held = 0;          // data records held back until their template arrives
  uint32_t template_misses = 0;  // data sets whose template was unknown (held or dropped)
};

// Health of one exporter (one UDP source address and port, one observation domain for v9 and
// IPFIX; one agent and sub-agent for sFlow). Counters only grow.
struct ExporterStats {
  ExporterAddress from;
  ExportProtocol protocol = ExportProtocol::kNetflowV5;
  uint32_t domain = 0;
  uint64_t datagrams = 0;
  uint64_t flows = 0;             // flow records decoded
  uint64_t malformed = 0;         // datagrams (or parts) that could not be decoded
  uint64_t template_misses = 0;   // data sets that arrived before their template
  uint64_t held_dropped = 0;      // held records dropped (hold buffer full, or never matched)
  uint64_t templates = 0;         // template records received (refreshes included)
  uint64_t counter_samples = 0;   // sFlow counter samples (counted and skipped)
  uint64_t lost = 0;              // estimated from sequence-number gaps, in the protocol's unit
  uint64_t sequence_resets = 0;   // exporter restarts / big backwards jumps
  uint32_t sampling_rate = 0;     // the last sampling rate announced (0: none announced)
  // sFlow: the agent address the datagrams state (`from` is where they came from; they differ
  // behind NAT or a relay). Unset for the other protocols.
  core::IpAddr agent;
  // sFlow: well-formed flow samples with no IP packet to report (ARP, LLDP and other non-IP
  // frames; headers cut before the end of the IP header; unknown header protocols). Not malformed.
  uint64_t skipped_samples = 0;
};

}  // namespace netpulse::collect
