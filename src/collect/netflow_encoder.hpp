// Encodes ExportedFlows into NetFlow v5, NetFlow v9 (RFC 3954) or IPFIX (RFC 7011) export
// datagrams, the way a router or probe would: templates (and the sampling options record) in the
// first datagram and again every N datagrams and every T ms of export time, correct sequence
// numbers, datagrams no larger than the MTU given. Used by `generate --output netflow://` and the
// flow probe. Not thread-safe: one encoder per exporting thread (it is one exporter stream).
//
// What goes on the wire:
// - v5: IPv4 flows only (IPv6 flows are counted in stats().skipped_ipv6 and not sent). Counters
//   are 32-bit: a flow with more than 2^32-1 bytes or packets is sent as k records with the same
//   key and times, k = the fewest that keep every record's counters under 2^32, bytes and
//   packets shared out evenly (the first records take the remainder). Interfaces are 16-bit
//   (larger values sent as 65535). Times are sysUptime values; the header carries the export
//   time to the nanosecond field, so a collector recovers start and end exactly to the ms.
//   engine_type/engine_id carry bits 8-15 / 0-7 of the domain; the header's sampling_interval
//   carries the sampling rate (mode 01, "deterministic").
// - v9 and IPFIX: template 256 for IPv4 flows, 257 for IPv6 flows, fields in this order:
//   source address (IE 8 / 27), destination address (12 / 28), source port (7), destination
//   port (11; ICMP type*256+code as in v5), ICMP type*256+code again in its own field (32; IPFIX
//   IPv6: 139; 0 for other protocols: nfdump's v9 decoder reads ICMP only from there),
//   protocol (4), TCP flags (6: 1 byte in v9, 2 bytes
//   in IPFIX as IANA defines it now), input interface (10) and output interface (14) as 4 bytes,
//   octets (1) and packets (2) as 8-byte counters, then the times: v9 FIRST_SWITCHED (22) and
//   LAST_SWITCHED (21), sysUptime ms; IPFIX flowStartMilliseconds (152), flowEndMilliseconds
//   (153). With a sampling rate above 1, options templates and their data records travel with
//   the templates (scope: v9 System / IPFIX observationDomainId, the domain): 258 with
//   samplingInterval 34 (4 bytes) and samplingAlgorithm 35 (1 byte, 1 = deterministic), and
//   259 with samplingInterval alone, because nfdump 1.7.1 (Debian 12) takes only the latter
//   and later nfdump only the former. v9 flowsets are padded to 4 bytes; IPFIX sets are not.
// - v9 times: the header's unix_secs has no fraction, so its sysUptime is taken at the whole
//   second of the export time; a collector computing boot = unix_secs*1000 - sysUptime then gets
//   the exact boot time and every flow time exactly to the ms.
// - Sequence numbers: v5 counts flow records sent before this datagram, v9 counts datagrams
//   sent before this one, IPFIX counts data records (options data included) sent before this
//   message (RFC 7011 section 3.1), all modulo 2^32.
// - The flows' own domain, sampling_rate and protocol fields are not read: the options say what
//   this exporter is.
// - Export time of a datagram: the latest flow end in it, never earlier than the previous
//   datagram's nor than what advance_export_time() was told (event time, not the wall clock, so
//   a generator with a virtual clock exports repeatable datagrams and flows of any date stay
//   within the 49.7 days a 32-bit uptime can reach).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "collect/flow_export.hpp"
#include "core/time.hpp"

namespace netpulse::collect {

struct NetflowEncoderOptions {
  ExportProtocol version = ExportProtocol::kIpfix;  // kNetflowV5, kNetflowV9 or kIpfix
  uint32_t domain = 0;  // v9 source id, IPFIX observation domain, v5 engine type/id (16 bits)
  // Templates go out in the first datagram, then when either many datagrams have gone out since
  // (0: never by count) or this much export time has passed (0: never by time).
  uint32_t template_every_datagrams = 20;
  int64_t template_every_ms = 60'000;
  size_t max_datagram = 1400;  // UDP payload bytes, kMinDatagram..kMaxDatagram
  uint32_t sampling_rate = 1;  // 1 in N packets; 1: unsampled (v5: at most 16383)
  // The exporter's boot time, the base of v5/v9 sysUptime. Unset: the first flow's start,
  // rounded down to the second, minus one second. Flow times before it are sent as the boot time
  // (counted in stats().clamped_times); uptimes wrap after 49.7 days, as a router's do.
  std::optional<core::TimeMs> boot_time;
};

inline constexpr size_t kMinDatagram = 512;     // templates + options + one IPv6 record fit
inline constexpr size_t kMaxDatagram = 65'507;  // the largest UDP payload over IPv4

// Why the options cannot be used (one line), or nullopt.
std::optional<std::string> validate(const NetflowEncoderOptions& options);

struct NetflowEncoderStats {
  uint64_t datagrams = 0;           // emitted
  uint64_t flows = 0;               // flows taken by add() and encoded
  uint64_t records = 0;             // flow data records written (v5 splits count each piece)
  uint64_t split_flows = 0;         // v5: flows sent as several records (counters over 2^32-1)
  uint64_t skipped_ipv6 = 0;        // v5: IPv6 flows not sendable
  uint64_t template_datagrams = 0;  // datagrams that carried the templates
  uint64_t clamped_times = 0;       // v5/v9: flow times before the boot time, sent as boot time
};

class NetflowEncoder {
 public:
  // Receives each finished datagram; the bytes are valid during the call only.
  using Emit = std::function<void(const uint8_t* data, size_t size)>;

  // REQUIRES: validate(options) is nullopt.
  NetflowEncoder(NetflowEncoderOptions options, Emit emit);

  // Appends one flow to the datagram being filled; emits that datagram first when the flow
  // does not fit in it.
  void add(const ExportedFlow& flow);
  // Emits the partly filled datagram, if any.
  void flush();
  // add() for each flow, then flush().
  void encode(std::span<const ExportedFlow> flows);

  // Export time never goes below `now` from here on (a probe's wall clock, or the generator's
  // event time): templates are refreshed on time even when the flows are old.
  void advance_export_time(core::TimeMs now);

  // Flow records in the datagram being filled (not emitted yet).
  uint32_t pending_flows() const { return open_ ? dgram_records_ : 0; }
  // During an emit callback: the flow data records in the datagram being emitted.
  uint32_t emitted_records() const { return dgram_records_; }

  const NetflowEncoderStats& stats() const { return stats_; }
  const NetflowEncoderOptions& options() const { return options_; }
  // The sysUptime base in use (nullopt until the first flow when not given).
  std::optional<core::TimeMs> boot_time() const { return boot_; }

 private:
  void add_v5(const ExportedFlow& flow);
  void add_templated(const ExportedFlow& flow);
  void open(core::TimeMs first_end);
  void close_set();
  void write_templates();
  void write_v5_record(const ExportedFlow& flow, uint64_t bytes, uint64_t packets);
  uint32_t uptime(core::TimeMs t);  // of a flow time: clamped and counted before boot
  uint32_t header_uptime(core::TimeMs t) const;

  NetflowEncoderOptions options_;
  Emit emit_;
  std::vector<uint8_t> buf_;  // max_datagram bytes, allocated once
  std::optional<core::TimeMs> boot_;

  // The datagram being filled.
  bool open_ = false;
  size_t pos_ = 0;
  size_t set_start_ = 0;              // offset of the open data set's header
  uint16_t set_template_ = 0;         // its template id (0: no data set open)
  uint32_t dgram_records_ = 0;        // flow data records
  uint32_t dgram_other_records_ = 0;  // v9: template and options records; IPFIX: options data
  core::TimeMs dgram_export_ = 0;

  // The stream.
  uint32_t v5_capacity_ = 0;  // records per v5 datagram
  uint64_t sequence_ = 0;     // in the version's unit, before the datagram being filled
  core::TimeMs export_floor_ = INT64_MIN;
  bool templates_sent_ = false;
  uint64_t datagrams_since_templates_ = 0;
  core::TimeMs templates_time_ = 0;

  NetflowEncoderStats stats_;
};

}  // namespace netpulse::collect
