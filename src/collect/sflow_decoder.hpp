// Decodes sFlow v5 datagrams (sflow.org/sflow_version_5.txt) into ExportedFlows: one flow per
// flow sample that carries a raw packet header (Ethernet, 802.1Q/QinQ, IPv4, IPv6 decoded by
// core/packet_decode.hpp) or a sampled IPv4/IPv6 record; counter samples are counted and
// skipped. sFlow samples carry no timestamp: start = end = received. bytes = the sampled
// packet's IP length, packets = 1, sampling_rate from the sample. Sequence numbers per agent and
// sub-agent give the loss estimate (in datagrams). Not thread-safe: one per receiving thread.
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
