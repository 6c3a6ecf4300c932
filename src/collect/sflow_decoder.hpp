// Decodes sFlow v5 datagrams (sflow.org/sflow_version_5.txt) into ExportedFlows: one flow per
// flow sample that carries a raw packet header (Ethernet, 802.1Q/QinQ, IPv4, IPv6 decoded by
// core/packet_decode.hpp) or a sampled IPv4/IPv6 record; counter samples are counted and
// skipped. sFlow samples carry no timestamp: start = end = received. bytes = the sampled
// packet's IP length, packets = 1, sampling_rate from the sample. Sequence numbers per agent and
// sub-agent give the loss estimate (in datagrams). Not thread-safe: one per receiving thread.
//
// Bytes are IP bytes, as the spec's records count them. nfdump's sfcapd and pmacct's sfacctd
// count the sampled frame length instead (L2 header and FCS: 18 bytes more per packet on
// untagged Ethernet, 22 with one VLAN tag); a comparison with them adds that on its side.
// Counting: a sample or record that runs past its container, or a count promising more than is
// there, is `malformed` (flows decoded before it are kept); a well-formed flow sample with no IP
// packet to report (ARP and other non-IP frames, a header cut inside the IP header, a header
// protocol other than Ethernet/IPv4/IPv6) is `skipped_samples`. Statistics are kept per (agent
// address, sub-agent), at most max_agents of them (the one silent longest is forgotten); a
// datagram too broken to name its agent counts against (UDP source address, sub-agent 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "collect/flow_export.hpp"

namespace netpulse::collect {

class SflowDecoder {
 public:
  explicit SflowDecoder(size_t max_agents = 65536);
  ~SflowDecoder();
  SflowDecoder(const SflowDecoder&) = delete;
  SflowDecoder& operator=(const SflowDecoder&) = delete;

  // Decodes one datagram; appends its flows to `out`. Never reads outside [data, data + size).
  DecodeResult decode(const uint8_t* data, size_t size, const ExporterAddress& from,
                      core::TimeMs received, std::vector<ExportedFlow>& out);

  std::vector<ExporterStats> exporters() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace netpulse::collect
