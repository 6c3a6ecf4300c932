// Anomaly detection on live flow records (time, protocol, src, dst, bytes), in the spirit of
// NSL-KDD's time-based traffic features: over a sliding 2-second event-time window (advanced in
// 100 ms slices) it keeps, per destination, the flows and distinct sources; per source, the flows,
// distinct destinations and small-packet ratio; per (source, destination, protocol), the flows
// and bytes. Three rules over those features raise DoS, port-scan and brute-force alerts (see
// docs/detect.md). Feed records in event-time order; records older than the window are late
// (counted, ignored). Not thread-safe: one detector per stream.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/flow_record.hpp"
#include "core/protocol_table.hpp"
#include "detect/flat_map.hpp"

namespace netpulse::detect {

struct FlowDetectorConfig {
  int64_t window_ms = 2000;
  int64_t slice_ms = 100;  // the window moves, and the rules run, every slice
  // DoS: one destination takes at least this share of the window's flows, from at least this
  // many distinct sources (a flood, typically spoofed), and at least min_flows flows.
  double dos_min_share = 0.2;
  double dos_min_sources = 50;
  uint64_t dos_min_flows = 50;
  // Port scan: one source reaches at least this many distinct destinations with mostly small
  // packets (probes), and takes at least this share of the window's flows.
  double scan_min_share = 0.1;
  double scan_min_destinations = 50;
  double scan_min_small_ratio = 0.8;
  uint32_t small_packet_bytes = 100;
  // Brute force: one source opens at least min_flows short sessions of a login protocol (SSH,
  // Telnet, FTP, RDP, IMAP, POP3, SMB) to one server, at least this share of the window's flows.
  double brute_min_share = 0.1;
  uint64_t brute_min_flows = 20;
  double brute_max_mean_bytes = 2000;
  // Memory bound (issue 14): a slice's table of sources, destinations or login triples holds
  // at most this many keys (0: unbounded). When one is full (a flood of spoofed sources), the
  // keys with at most the median flow count are dropped from the slice and the window. Every
  // rule needs a share of the window's flows (10% and more), which a dropped key never has:
  // each drop takes at most 2 * slice flows / max_keys flows from a key, and the totals the
  // shares are taken of stay exact.
  size_t max_keys = 16384;
};

enum class FlowAlertKind : uint8_t { kDos, kPortscan, kBruteforce };
std::string_view flow_alert_name(FlowAlertKind k);  // "dos", "portscan", "bruteforce"

// One alert: raised when a rule starts to hold for a subject; raised again only after the rule
// has not held for a whole window.
struct FlowAlert {
  FlowAlertKind kind = FlowAlertKind::kDos;
  core::TimeMs window_end = 0;  // the rule held for the window ending here
  core::IpAddr subject;         // DoS: the victim (dst); scan and brute force: the source
  core::IpAddr peer;            // brute force: the server
  uint32_t protocol = 0;        // brute force: the protocol id
  uint64_t flows = 0;           // the subject's flows in the window
  uint64_t window_flows = 0;    // all flows in the window
  double distinct = 0;          // DoS: distinct sources; scan: distinct destinations (estimates)
  double small_ratio = 0;       // share of the subject's flows with small packets
  uint64_t bytes = 0;           // the subject's bytes in the window
};

// The alert as one JSON object (no newline).
std::string to_json(const FlowAlert& a, const core::ProtocolTable& protocols);

class FlowDetector {
 public:
  // REQUIRES: slice_ms divides window_ms; the table outlives the detector.
  FlowDetector(const FlowDetectorConfig& config, const core::ProtocolTable& protocols);

  // Adds one record; alerts for windows that closed before it are appended to out.
  void add(const core::FlowRecord& r, std::vector<FlowAlert>& out);
  // At the end of the input: runs the rules on the windows still open.
  void finish(std::vector<FlowAlert>& out);

  uint64_t flows() const { return flows_; }
  // Keys dropped from full slice tables (see FlowDetectorConfig::max_keys).
  uint64_t pruned_keys() const { return pruned_; }
  uint64_t late() const { return late_; }
  uint64_t alerts() const { return alerts_; }

 private:
  struct Bitmap {  // linear-counting sketch of a set of addresses
    uint64_t words[8] = {};
    void add(uint64_t hash) { words[(hash >> 6) & 7] |= uint64_t{1} << (hash & 63); }
    void merge(const Bitmap& o) {
      for (int i = 0; i < 8; ++i) words[i] |= o.words[i];
    }
    double estimate() const;
  };
  struct AddrHash {
    size_t operator()(const core::IpAddr& a) const;
  };
  struct Triple {
    core::IpAddr src, dst;
    uint32_t protocol = 0;
    friend bool operator==(const Triple&, const Triple&) = default;
  };
  struct TripleHash {
    size_t operator()(const Triple& t) const;
  };
  struct DstSlice {
    uint64_t flows = 0, bytes = 0;
    Bitmap sources;
  };
  struct SrcSlice {
    uint64_t flows = 0, small = 0, bytes = 0;
    Bitmap destinations;
  };
  struct Counts {
    uint64_t flows = 0, small = 0, bytes = 0;
  };
  struct Slice {
    int64_t number = INT64_MIN;
    uint64_t flows = 0;
    FlatMap<core::IpAddr, DstSlice, AddrHash> by_dst;
    FlatMap<core::IpAddr, SrcSlice, AddrHash> by_src;
    FlatMap<Triple, Counts, TripleHash> by_triple;
  };
  struct ActiveKey {
    FlowAlertKind kind;
    core::IpAddr subject, peer;
    uint32_t protocol;
    friend bool operator==(const ActiveKey&, const ActiveKey&) = default;
  };
  struct ActiveHash {
    size_t operator()(const ActiveKey& k) const;
  };

  Slice& slot(int64_t number) {
    const int64_t size = static_cast<int64_t>(slices_.size());
    return slices_[static_cast<size_t>(((number % size) + size) % size)];
  }
  void advance_to(int64_t slice, std::vector<FlowAlert>& out);
  void expire(Slice& s);
  void evaluate(core::TimeMs window_end, std::vector<FlowAlert>& out);
  void raise(const FlowAlert& a, core::TimeMs now, std::vector<FlowAlert>& out);
  bool is_login_protocol(uint32_t id);
  template <class Map, class Window>
  void prune(Map& slice, Window& window);

  FlowDetectorConfig config_;
  const core::ProtocolTable& protocols_;
  double scan_candidate_flows_;  // a source becomes a scan candidate at this many flows
  std::vector<Slice> slices_;    // ring: slice n lives in slices_[n % size]
  int64_t current_ = INT64_MIN;  // the newest slice number seen
  // The window's sums (the live slices added, expired ones subtracted).
  uint64_t window_flows_ = 0;
  FlatMap<core::IpAddr, Counts, AddrHash> dst_window_, src_window_;
  FlatMap<Triple, Counts, TripleHash> triple_window_;
  // Keys whose window flows reached the smallest count any rule needs: only these are checked,
  // so a flood of one-flow spoofed sources costs nothing at evaluation.
  std::unordered_set<core::IpAddr, AddrHash> dst_candidates_, src_candidates_;
  std::unordered_set<Triple, TripleHash> triple_candidates_;
  std::unordered_map<ActiveKey, core::TimeMs, ActiveHash> active_;  // -> last time it held
  std::vector<int8_t> login_;  // per protocol id: -1 unknown, 0 no, 1 yes
  uint64_t flows_ = 0, late_ = 0, alerts_ = 0, pruned_ = 0;
  std::vector<uint64_t> prune_counts_;
};

}  // namespace netpulse::detect
