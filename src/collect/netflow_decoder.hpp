// Decodes NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) datagrams into ExportedFlows,
// told apart per datagram by the version field. Keeps the state these protocols need per
// exporter: v9/IPFIX templates per (exporter address, source id / observation domain),
// refreshed and withdrawn; data that arrives before its template, held (bounded, per exporter)
// and decoded when the template arrives; sampling rates from options templates; sequence
// numbers and loss estimates. Not thread-safe: one decoder per receiving thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "collect/flow_export.hpp"

namespace netpulse::collect {

struct NetflowDecoderOptions {
  // Data records held per exporter while their template is unknown; beyond it the oldest held
  // data set is dropped and counted (ExporterStats::held_dropped).
  size_t max_held_bytes_per_exporter = 1 << 20;
  // Templates known per exporter; a datagram defining more is counted malformed.
  size_t max_templates_per_exporter = 4096;
  // Exporters tracked; beyond it the one silent longest is forgotten.
  size_t max_exporters = 65536;
};

class NetflowDecoder {
 public:
  explicit NetflowDecoder(NetflowDecoderOptions options = {});
  ~NetflowDecoder();
  NetflowDecoder(const NetflowDecoder&) = delete;
  NetflowDecoder& operator=(const NetflowDecoder&) = delete;

  // Decodes one datagram of `size` bytes from `from`, received at `received` (ms since the
  // epoch), appending its flows (and any held ones its templates unlock) to `out`. Never reads
  // outside [data, data + size); never throws on bad input.
  DecodeResult decode(const uint8_t* data, size_t size, const ExporterAddress& from,
                      core::TimeMs received, std::vector<ExportedFlow>& out);

  // Health per exporter, in first-seen order.
  std::vector<ExporterStats> exporters() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace netpulse::collect
