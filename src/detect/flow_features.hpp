// NSL-KDD's connection features computed live from flow records, so that models trained on
// NSL-KDD rows (or on rows written by this extractor) can score live traffic. One
// ConnectionEvent in, one FeatureRow out, plus the mask of the features that input kind can
// really give (the rest hold a neutral value and must be kept out of models). Not thread-safe:
// one extractor per stream.
//
// What each feature is, as read from KDD'99's definitions and checked against KDDTrain+
// (../shared/data/nsl-kdd; the README names the columns only):
// - Every traffic feature counts the current connection too: in KDDTrain+, rows with count 1
//   have serror_rate equal to their own flag's SYN error (1.00 for S0, 0.00 for SF), and rows
//   with dst_host_count 1 have dst_host_same_src_port_rate 1.00.
// - SYN errors are the flags S0, S1, S2, S3 and SH; REJ errors are REJ, RSTO, RSTOS0 and RSTR
//   (again from the count-1 rows: every row of those flags has rate 1.00, every other 0.00).
// - 2-second features: count = connections to the same destination host in the last 2 s of
//   event time ((t - 2 s, t]); serror_rate, rerror_rate, same_srv_rate, diff_srv_rate are
//   fractions of those. srv_count = connections to the same service (any host) in the same 2 s;
//   srv_serror_rate, srv_rerror_rate, srv_diff_host_rate (to another host) are fractions of
//   those. srv_count exceeds count in 22% of KDDTrain+ rows, so the service set is not a subset
//   of the host set.
// - Host-based features: KDD'99 describes "a window of 100 connections to the same host". We
//   read it as the last `host_window` (100) connections of the whole stream, any destination;
//   dst_host_count = those to the same host, dst_host_srv_count = those to the same service
//   (any host; it exceeds dst_host_count in 28% of KDDTrain+ rows), and the rates of each set as
//   KDD names them. Note the data does not fit a literal 100: 59% of KDDTrain+ rows have
//   dst_host_count = 255, so KDD's window was longer and its counts saturated at 255 (count and
//   srv_count at 511). We saturate the counts the same way and leave the window length an
//   option (host_window = 256 gives counts KDD's range; rates use the unsaturated counts).
// - Rates are rounded to two decimals, as the data files write them.
// - Services: KDD's names at their IANA ports; an unnamed port below 1024 is "private", above
//   it "other" (KDDTrain+: scans and SYN floods of low ports are "private", normal TCP traffic
//   to unnamed ports "other" 353 times and "private" 4 times). The port and label tables are
//   in flow_features.cpp; a label and the port netpulse exports it at give the same service.
//
// Memory is bounded whatever the traffic: at most max_hosts destination hosts (a new host
// beyond that evicts the least recently seen one, counted; its window counts start again), at
// most max_window_connections connections in the 2-second window (beyond that the oldest leave
// it early, counted), and the (host, service) and (host, source port) counters live only while
// a connection of theirs is in a window. Sources keep no state at all (KDD's traffic features
// are all about the destination), so spoofed sources cost nothing. No allocation per
// connection once the tables have grown to the traffic.
#pragma once

#include <cassert>
#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/flow_record.hpp"
#include "core/ip_addr.hpp"
#include "core/protocol_table.hpp"
#include "detect/nslkdd_schema.hpp"

namespace netpulse::detect {

// Where connections come from, which decides what can be computed.
enum class FlowInputKind : uint8_t {
  kLine,        // flow records: time, protocol label, src, dst, bytes
  kFlowExport,  // NetFlow/IPFIX/sFlow: + ports, IP protocol, originator's TCP flags, start/end,
                // packets (one direction per flow)
  kCapture,     // packet capture with both directions of a connection paired
};
std::string_view input_kind_name(FlowInputKind k);  // "line", "flow_export", "capture"

// The features the extractor really computes for an input kind.
FeatureMask flow_feature_mask(FlowInputKind k);

// For docs and messages: how a feature is obtained from an input kind, or "" when it is not
// (it then holds the value neutral_row() gives).
std::string_view feature_origin(size_t feature, FlowInputKind k);

// The row the extractor starts from: every feature it cannot compute at its neutral value,
// which is the KDDTrain+ median for numeric features (0 for all of them: duration, dst_bytes,
// wrong_fragment, urgent, the content features, the error rates and
// dst_host_same_src_port_rate), and the most common value for the categorical ones (tcp,
// other, SF).
const FeatureRow& neutral_row();

// TCP flag bits as NetFlow and the TCP header carry them.
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

// One connection as the extractor takes it. `has` says which optional fields are set.
struct ConnectionEvent {
  enum Field : uint16_t {
    kLabel = 1 << 0,           // label: a protocol id of the ProtocolTable
    kIpProtocol = 1 << 1,      // ip_protocol
    kPorts = 1 << 2,           // src_port, dst_port (ICMP: dst_port = type * 256 + code)
    kTcpFlags = 1 << 3,        // tcp_flags: OR of the originator's flags
    kResponderFlags = 1 << 4,  // responder_flags: OR of the responder's flags (capture)
    kDuration = 1 << 5,        // duration_ms
    kSrcBytes = 1 << 6,        // src_bytes: IP bytes originator -> responder
    kDstBytes = 1 << 7,        // dst_bytes: IP bytes responder -> originator
    kPackets = 1 << 8,         // src_packets (and dst_packets with kDstBytes)
  };
  core::TimeMs time = 0;  // event time; connections should come in time order
  core::IpAddr src, dst;  // originator and responder
  uint16_t has = 0;
  uint8_t ip_protocol = 0;
  uint8_t tcp_flags = 0;
  uint8_t responder_flags = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t label = 0;
  int64_t duration_ms = 0;
  uint64_t src_bytes = 0;
  uint64_t dst_bytes = 0;
  uint64_t src_packets = 0;
  uint64_t dst_packets = 0;
};

// A line-format flow record as an event (time, label, src, dst, bytes as src_bytes).
ConnectionEvent connection_from_record(const core::FlowRecord& r);

// The mappings, public for tests and docs. Each returns an index in the feature's vocabulary.
// service from the IP protocol and destination port (ICMP: from type and code).
int kdd_service_for_port(uint8_t ip_protocol, uint16_t dst_port);
// service from a protocol label (netpulse's generator and service-table labels, nDPI names;
// case-insensitive; "TLS.Google" is read as "TLS"); unknown labels give "other".
int kdd_service_for_label(std::string_view label);
// protocol_type a label implies (DNS, NTP, DHCP... udp; ICMP icmp; unknown tcp).
int kdd_protocol_for_label(std::string_view label);
// protocol_type from the IP protocol: 6 tcp, 1 and 58 icmp, anything else udp.
int kdd_protocol_for_ip(uint8_t ip_protocol);
// flag from TCP flags: the originator's alone (flow export) or both directions (capture).
// Originator only: SYN without ACK is S0 (SH with FIN, RSTOS0 with RST); SYN and ACK is SF with
// FIN, RSTO with RST, else S1; no SYN is OTH (the start was not seen). REJ and RSTR need the
// responder's flags. With them: no reply S0/SH/RSTOS0 as above; a RST without SYN in reply
// REJ; an answered SYN RSTO or RSTR by who reset, SF with FIN both ways, S2 (originator's FIN
// only), S3 (responder's only), else S1; a reply without SYN or RST OTH.
int kdd_flag(uint8_t originator, bool has_responder, uint8_t responder);
bool is_syn_error_flag(int flag);  // S0, S1, S2, S3, SH
bool is_rej_error_flag(int flag);  // REJ, RSTO, RSTOS0, RSTR

// A rate as NSL-KDD writes it: num / den rounded to two decimals (0 when den is 0).
inline float kdd_rate(uint64_t num, uint64_t den) {
  if (den == 0) return 0.0f;
  // Adding and taking off 1.5 * 2^52 rounds to an integer, ties to even, as nearbyint() in
  // the default rounding mode does and printf("%.2f") does on exact ties (without a call).
  constexpr double kRound = 6755399441055744.0;
  const double percent = 100.0 * static_cast<double>(num) / static_cast<double>(den);
  return static_cast<float>(((percent + kRound) - kRound) / 100.0);
}
inline constexpr uint32_t kMaxCount2s = 511;    // count, srv_count saturate here (as in KDD)
inline constexpr uint32_t kMaxHostCount = 255;  // dst_host_count, dst_host_srv_count

struct FlowFeaturesConfig {
  int64_t window_ms = 2000;  // the time-based traffic features' window
  size_t host_window = 100;  // the host-based features' window, in connections
  size_t max_hosts = 65536;  // destination hosts tracked at most
  // Connections kept in the time window at most (24 bytes each): beyond that, the oldest
  // leave it early (window_overflow). 2^18 holds 2 s at 131,072 connections/s.
  size_t max_window_connections = size_t{1} << 18;
};

// The extractor: per-destination-host, per-service and per-(host, service | source port)
// counters over the two windows, updated as connections enter and leave them, so a row costs
// O(1) whatever the window holds. Not thread-safe.
class FlowFeatures {
 public:
  // REQUIRES: window_ms >= 1; 1 <= host_window < max_window_connections; max_hosts >= 1; the
  // table outlives the extractor.
  FlowFeatures(const FlowFeaturesConfig& config, const core::ProtocolTable& protocols);

  // The row of connection c over the connections before it (and c itself), then c joins the
  // windows. A connection older than the newest one seen is taken at the newest time (late).
  void add(const ConnectionEvent& c, FeatureRow& row);

  uint64_t connections() const { return connections_; }
  uint64_t late() const { return late_; }
  size_t hosts() const { return host_count_; }  // tracked now, <= max_hosts
  uint64_t evicted_hosts() const { return evicted_; }
  uint64_t window_overflow() const { return overflow_; }
  size_t pair_counters() const { return pairs_.live(); }  // (host, service|port) live now (O(n))
  // The bytes the extractor's tables hold now.
  size_t memory_bytes() const;

 private:
  struct Host {
    core::IpAddr addr;
    uint32_t hash = 0;
    uint32_t gen = 0;                           // bumped when the slot is given to another host
    uint32_t older = kNone, newer = kNone;      // recency list
    uint32_t n2 = 0, serror2 = 0, rerror2 = 0;  // time window
    uint32_t nw = 0, serrorw = 0, rerrorw = 0;  // host window
  };
  struct Conn {  // a connection in the windows
    int64_t time;
    uint32_t slot, gen;
    uint16_t src_port;
    uint8_t service;
    uint8_t bits;  // kSerror | kRerror | kHasPort
  };
  // Counters per (host slot and generation, service or kPortPair | source port), for the
  // connections of that host in the windows. Linear probing; an entry whose counts fall to
  // zero stays (no erase and backward shift per connection) until the table is rebuilt,
  // which drops them: when 7/8 of the slots are used, into a table at least 4/3 of the live
  // entries (the same size once warm, so no allocation in the steady state; the spare
  // buffer is kept). Amortized O(1) per insert. References die at the next insert.
  class PairTable {
   public:
    struct Entry {
      uint32_t slot, gen, sub;  // sub kEmpty: a free slot
      uint32_t n2, nw;          // connections in the time window and in the host window
    };
    PairTable();
    // The entry of the key, inserted with zero counts if missing.
    Entry& at(uint32_t slot, uint32_t gen, uint32_t sub) {
      if (used_ * 8 >= entries_.size() * 7) rebuild();
      const size_t mask = entries_.size() - 1;
      for (size_t i = hash(slot, gen, sub) & mask;; i = (i + 1) & mask) {
        Entry& e = entries_[i];
        if (e.sub == kEmpty) {
          e = Entry{slot, gen, sub, 0, 0};
          ++used_;
          return e;
        }
        if (e.sub == sub && e.slot == slot && e.gen == gen) return e;
      }
    }
    // REQUIRES: the key is present.
    Entry& find(uint32_t slot, uint32_t gen, uint32_t sub) {
      const size_t mask = entries_.size() - 1;
      for (size_t i = hash(slot, gen, sub) & mask;; i = (i + 1) & mask) {
        Entry& e = entries_[i];
        assert(e.sub != kEmpty);
        if (e.sub == sub && e.slot == slot && e.gen == gen) return e;
      }
    }
    size_t live() const;  // entries with a count (O(size))
    size_t capacity() const { return entries_.size(); }

   private:
    static constexpr uint32_t kEmpty = UINT32_MAX;
    static size_t hash(uint32_t slot, uint32_t gen, uint32_t sub) {
      uint64_t h = (uint64_t{slot} << 32 | sub) * 0x9E3779B97F4A7C15ULL;
      h ^= (h >> 29) ^ uint64_t { gen } * 0xC2B2AE3D27D4EB4FULL;
      h *= 0xBF58476D1CE4E5B9ULL;
      return static_cast<size_t>(h ^ (h >> 32));
    }
    void rebuild();
    std::vector<Entry> entries_, spare_;
    size_t used_ = 0;
  };
  struct ServiceCount {
    uint32_t n = 0, serror = 0, rerror = 0;
  };
  struct LabelInfo {
    int8_t service = -1, protocol = -1;  // -1: not looked up yet
  };
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr uint8_t kSerror = 1, kRerror = 2, kHasPort = 4;
  static constexpr uint32_t kPortPair = 0x10000;  // PairTable sub of a source-port counter

  uint32_t find_or_add_host(const core::IpAddr& a);
  void touch(uint32_t slot);
  void unlink(uint32_t slot);
  void erase_from_index(uint32_t slot);
  void leave_time_window(const Conn& c);
  void leave_host_window(const Conn& c);
  const LabelInfo& label_info(uint32_t label);
  Conn& at(uint64_t i) { return ring_[i & (ring_.size() - 1)]; }

  FlowFeaturesConfig config_;
  const core::ProtocolTable& protocols_;
  // Hosts: a pool of slots, an open-addressing index (slot + 1; 0 empty), a recency list.
  std::vector<Host> hosts_;
  std::vector<uint32_t> index_;
  size_t host_count_ = 0;
  uint32_t newest_host_ = kNone, oldest_host_ = kNone;
  PairTable pairs_;
  std::vector<ServiceCount> service2_, servicew_;  // per service, time and host window
  // The connections of both windows, by sequence number (ring slot: number mod size): the time
  // window is [time_tail_, head_), the host window [host_tail_, head_); the ring holds from the
  // smaller tail on.
  std::vector<Conn> ring_;
  uint64_t head_ = 0, time_tail_ = 0, host_tail_ = 0;
  std::vector<LabelInfo> labels_;  // per protocol id
  core::TimeMs newest_time_ = INT64_MIN;
  uint64_t connections_ = 0, late_ = 0, evicted_ = 0, overflow_ = 0;
};

}  // namespace netpulse::detect
