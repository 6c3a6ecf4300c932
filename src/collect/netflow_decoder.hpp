// Decodes NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) datagrams into ExportedFlows,
// told apart per datagram by the version field. Keeps the state these protocols need per
// exporter: v9/IPFIX templates per (exporter address, source id / observation domain),
// refreshed and withdrawn; data that arrives before its template, held (bounded, per exporter)
// and decoded when the template arrives; sampling rates from options templates; sequence
// numbers and loss estimates. Not thread-safe: one decoder per receiving thread.
//
// Where the RFCs leave room, this decoder chooses:
// - State scopes. Templates, held data, sampling rates, the IPFIX system init time, statistics
//   and sequence numbers belong to (exporter address, UDP source port, version, source id /
//   observation domain). The port is part of it (RFC 7011 section 8: a UDP transport session
//   is both addresses and ports): two probes on one host, or routers behind one NAT address,
//   use the same template ids with other layouts (softflowd and pmacctd both use 1024 in
//   domain 0), and keying by address alone decodes one's data with the other's templates. An
//   exporter that restarts on a new port sends its templates again; its data until then is held.
// - Hold. "Per exporter" bounds are per template scope. The hold counts in data sets, not
//   records (their count is unknown without the template): DecodeResult::held and
//   ExporterStats::held_dropped are data sets; each costs its bytes plus kHeldSetOverhead.
//   When a set does not fit, the scope's oldest sets go first; a set larger than the whole
//   bound, or one that would pass max_held_bytes_total, is dropped itself.
// - Times. v5/v9 sysUptime fields are relative to the header's uptime (int32 difference, so
//   the 49.7-day wrap is harmless). IPFIX sysUptime fields (IE 21/22) use IE 160
//   systemInitTimeMilliseconds once an options record announced it; before that the flow is
//   taken to end at the export time, keeping its duration (start = export - (end - start)).
//   NTP-format times (IE 154-157) are rounded to the nanosecond, then truncated to the ms
//   (exporters truncate the fraction, so exactly 1 ms arrives as 0.99999993 ms); seconds
//   fields before 1968 are read as NTP era 1 (after 2036).
//   When a record has several representations, milliseconds win, then micro-, nanoseconds,
//   delta microseconds, sysUptime, seconds.
// - Sampling. A data record's own rate (IE 34, 50, or 305 with 306: (interval + space) /
//   interval rounded; 305 alone: the interval) wins, then its sampler's (IE 48 / 302), then
//   the rate last announced by an options record of its scope, else 1. Only options records
//   announce (ExporterStats::sampling_rate).
// - Sequence numbers (v5 flows, v9 datagrams, IPFIX data records, options records included).
//   A forward gap below 2^31 adds to `lost`. A datagram behind the expected number by at most
//   the reorder window (v5 2048 flows, v9 64 datagrams, IPFIX 4096 records) is late: counted
//   nowhere and the expectation kept; the gap it left was already counted as lost, and stays
//   (counters only grow). Further behind (or 2^31 and more ahead) is a sequence reset. An
//   IPFIX message with held or malformed sets has an unknown record count: the next message
//   re-synchronises without counting loss. softflowd's IPFIX numbers count the message's own
//   records, so a message with more records than its predecessor shows up as loss.
// - Malformed counts datagrams with any bad part once. A v9 or IPFIX datagram too short for its
//   header names no domain, so it is reported in the DecodeResult only. The v9 header count is not
//   checked: many exporters get it wrong and sets are framed by their own lengths. v5 records
//   present before a lying count are kept; a v5 count above 30 is malformed.
// - Data records of a template without an address or byte/packet counter are not flows
//   (they are skipped, not malformed). Variable-length and enterprise fields are skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "collect/flow_export.hpp"

namespace netpulse::collect {

struct NetflowDecoderOptions {
  // Bytes of data sets held per exporter (template scope) while their template is unknown;
  // beyond it the oldest held data set is dropped and counted (ExporterStats::held_dropped).
  size_t max_held_bytes_per_exporter = 1 << 20;
  // Held bytes over all exporters, so many exporters cannot add up to an unbounded hold.
  size_t max_held_bytes_total = 64 << 20;
  // Templates known per exporter; a datagram defining more is counted malformed.
  size_t max_templates_per_exporter = 4096;
  // Exporters tracked; beyond it the one silent longest is forgotten.
  size_t max_exporters = 65536;
};

// Bytes a held data set costs beyond its own, so many tiny sets cannot outgrow the bound.
inline constexpr size_t kHeldSetOverhead = 64;

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
