#include "detect/flow_detector.hpp"

#include <strings.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/time.hpp"

namespace netpulse::detect {

namespace {

inline uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

inline uint64_t addr_hash(const core::IpAddr& a) {
  return mix(a.bits.hi * 0x9E3779B97F4A7C15ULL ^ a.bits.lo ^ (a.is_v6 ? 0x5555555555555555ULL : 0));
}

}  // namespace

std::string_view flow_alert_name(FlowAlertKind k) {
  switch (k) {
    case FlowAlertKind::kDos:
      return "dos";
    case FlowAlertKind::kPortscan:
      return "portscan";
    case FlowAlertKind::kBruteforce:
      return "bruteforce";
  }
  return "?";
}

double FlowDetector::Bitmap::estimate() const {
  constexpr double m = 512;
  int ones = 0;
  for (uint64_t w : words) ones += __builtin_popcountll(w);
  const int zeros = 512 - ones;
  if (zeros == 0) return m * std::log(m);  // saturated: "at least this many"
  return -m * std::log(static_cast<double>(zeros) / m);
}

size_t FlowDetector::AddrHash::operator()(const core::IpAddr& a) const {
  return addr_hash(a);
}

size_t FlowDetector::TripleHash::operator()(const Triple& t) const {
  return addr_hash(t.src) ^ (addr_hash(t.dst) * 31) ^ mix(t.protocol + 1);
}

size_t FlowDetector::ActiveHash::operator()(const ActiveKey& k) const {
  return addr_hash(k.subject) ^ (addr_hash(k.peer) * 31) ^
         mix(k.protocol * 4 + static_cast<uint64_t>(k.kind));
}

std::string to_json(const FlowAlert& a, const core::ProtocolTable& protocols) {
  char buf[512];
  const std::string time = core::format_iso8601(a.window_end);
  const std::string subject = core::to_string(a.subject);
  const double share =
      a.window_flows ? static_cast<double>(a.flows) / static_cast<double>(a.window_flows) : 0.0;
  int n = 0;
  switch (a.kind) {
    case FlowAlertKind::kDos:
      n = std::snprintf(
          buf, sizeof buf,
          "{\"time\":\"%s\",\"detector\":\"dos\",\"victim\":\"%s\",\"features\":{\"flows\":%llu,"
          "\"share\":%.4f,\"distinct_sources\":%.0f,\"bytes\":%llu,\"window_flows\":%llu}}",
          time.c_str(), subject.c_str(), static_cast<unsigned long long>(a.flows), share,
          a.distinct, static_cast<unsigned long long>(a.bytes),
          static_cast<unsigned long long>(a.window_flows));
      break;
    case FlowAlertKind::kPortscan:
      n = std::snprintf(buf, sizeof buf,
                        "{\"time\":\"%s\",\"detector\":\"portscan\",\"source\":\"%s\",\"features\":"
                        "{\"flows\":%llu,"
                        "\"share\":%.4f,\"distinct_destinations\":%.0f,\"small_packet_ratio\":%.4f,"
                        "\"window_flows\":%llu}}",
                        time.c_str(), subject.c_str(), static_cast<unsigned long long>(a.flows),
                        share, a.distinct, a.small_ratio,
                        static_cast<unsigned long long>(a.window_flows));
      break;
    case FlowAlertKind::kBruteforce: {
      const std::string peer = core::to_string(a.peer);
      const std::string proto(protocols.name(a.protocol));
      n = std::snprintf(
          buf, sizeof buf,
          "{\"time\":\"%s\",\"detector\":\"bruteforce\",\"source\":\"%s\",\"server\":\"%s\","
          "\"protocol\":\"%s\",\"features\":{\"flows\":%llu,\"share\":%.4f,\"mean_bytes\":%.1f,"
          "\"window_flows\":%llu}}",
          time.c_str(), subject.c_str(), peer.c_str(), proto.c_str(),
          static_cast<unsigned long long>(a.flows), share,
          a.flows ? static_cast<double>(a.bytes) / static_cast<double>(a.flows) : 0.0,
          static_cast<unsigned long long>(a.window_flows));
      break;
    }
  }
  return std::string(buf, static_cast<size_t>(std::clamp(n, 0, static_cast<int>(sizeof buf) - 1)));
}

FlowDetector::FlowDetector(const FlowDetectorConfig& config, const core::ProtocolTable& protocols)
    : config_(config), protocols_(protocols),
      scan_candidate_flows_(std::ceil(config.scan_min_destinations)) {
  slices_.resize(static_cast<size_t>(std::max<int64_t>(1, config_.window_ms / config_.slice_ms)));
}

bool FlowDetector::is_login_protocol(uint32_t id) {
  if (id >= login_.size()) login_.resize(id + 1, -1);
  if (login_[id] < 0) {
    const std::string name(protocols_.name(id));
    static constexpr const char* kLogin[] = {"SSH", "Telnet", "FTP", "RDP", "IMAP", "POP3", "SMB"};
    login_[id] = 0;
    for (const char* l : kLogin)
      if (strcasecmp(name.c_str(), l) == 0) login_[id] = 1;
  }
  return login_[id] == 1;
}

void FlowDetector::add(const core::FlowRecord& r, std::vector<FlowAlert>& out) {
  const int64_t n = core::floor_div(r.time, config_.slice_ms);
  if (current_ == INT64_MIN) current_ = n;
  if (n > current_) advance_to(n, out);
  if (n <= current_ - static_cast<int64_t>(slices_.size())) {
    ++late_;
    return;
  }
  ++flows_;
  Slice& s = slot(n);
  if (s.number != n) {  // first record of this slice
    expire(s);
    s.number = n;
  }
  const bool small = r.bytes <= config_.small_packet_bytes;
  ++s.flows;
  ++window_flows_;
  DstSlice& d = s.by_dst[r.dst];
  ++d.flows;
  d.bytes += r.bytes;
  d.sources.add(addr_hash(r.src));
  SrcSlice& src = s.by_src[r.src];
  ++src.flows;
  src.small += small;
  src.bytes += r.bytes;
  src.destinations.add(addr_hash(r.dst));
  Counts& dw = dst_window_[r.dst];
  ++dw.flows;
  dw.bytes += r.bytes;
  if (dw.flows == config_.dos_min_flows) dst_candidates_.insert(r.dst);
  Counts& sw = src_window_[r.src];
  ++sw.flows;
  sw.small += small;
  sw.bytes += r.bytes;
  if (static_cast<double>(sw.flows) == scan_candidate_flows_)
    src_candidates_.insert(r.src);
  if (config_.max_keys != 0) {
    if (s.by_dst.size() > config_.max_keys) prune(s.by_dst, dst_window_);
    if (s.by_src.size() > config_.max_keys) prune(s.by_src, src_window_);
  }
  if (is_login_protocol(r.protocol)) {
    const Triple t{r.src, r.dst, r.protocol};
    Counts& ts = s.by_triple[t];
    ++ts.flows;
    ts.bytes += r.bytes;
    Counts& tw = triple_window_[t];
    ++tw.flows;
    tw.bytes += r.bytes;
    if (tw.flows == config_.brute_min_flows) triple_candidates_.insert(t);
    if (config_.max_keys != 0 && s.by_triple.size() > config_.max_keys)
      prune(s.by_triple, triple_window_);
  }
}

template <class Map, class Window>
void FlowDetector::prune(Map& slice, Window& window) {
  prune_counts_.clear();
  slice.for_each([&](const auto&, const auto& v) { prune_counts_.push_back(v.flows); });
  auto mid = prune_counts_.begin() + static_cast<std::ptrdiff_t>(prune_counts_.size() / 2);
  std::nth_element(prune_counts_.begin(), mid, prune_counts_.end());
  const uint64_t t = *mid;
  using Key = typename Map::key_type;
  std::vector<Key> drop;
  slice.for_each([&](const Key& k, const auto& v) {
    if (v.flows <= t) drop.push_back(k);
  });
  for (const Key& k : drop) {
    const auto& v = *slice.find(k);
    uint64_t small = 0;
    if constexpr (requires { v.small; }) small = v.small;
    Counts* w = window.find(k);
    w->flows -= v.flows;
    w->bytes -= v.bytes;
    w->small -= small;
    if (w->flows == 0) window.erase(k);
    slice.erase(k);
  }
  pruned_ += drop.size();
}

void FlowDetector::expire(Slice& s) {
  if (s.number == INT64_MIN) return;
  window_flows_ -= s.flows;
  auto subtract = [](auto& window, const auto& key, const auto& c, uint64_t small) {
    Counts* w = window.find(key);
    w->flows -= c.flows;
    w->bytes -= c.bytes;
    w->small -= small;
    if (w->flows == 0) window.erase(key);
  };
  s.by_dst.for_each(
      [&](const core::IpAddr& k, const DstSlice& c) { subtract(dst_window_, k, c, 0); });
  s.by_src.for_each(
      [&](const core::IpAddr& k, const SrcSlice& c) { subtract(src_window_, k, c, c.small); });
  s.by_triple.for_each(
      [&](const Triple& k, const Counts& c) { subtract(triple_window_, k, c, c.small); });
  s.by_dst.clear();
  s.by_src.clear();
  s.by_triple.clear();
  s.flows = 0;
  s.number = INT64_MIN;
}

void FlowDetector::advance_to(int64_t slice, std::vector<FlowAlert>& out) {
  const int64_t size = static_cast<int64_t>(slices_.size());
  while (current_ < slice) {
    // The window ending at the end of slice current_ is complete.
    if (window_flows_ > 0) evaluate((current_ + 1) * config_.slice_ms, out);
    ++current_;
    Slice& s = slot(current_);
    if (s.number != INT64_MIN && s.number <= current_ - size) expire(s);
    if (window_flows_ == 0 && current_ < slice) current_ = slice;  // nothing left: jump the gap
  }
}

void FlowDetector::finish(std::vector<FlowAlert>& out) {
  if (current_ == INT64_MIN) return;
  // The windows that end after the last record, until its slice has left them.
  advance_to(current_ + static_cast<int64_t>(slices_.size()), out);
}

void FlowDetector::raise(const FlowAlert& a, core::TimeMs now, std::vector<FlowAlert>& out) {
  const ActiveKey key{a.kind, a.subject, a.peer, a.protocol};
  auto [it, inserted] = active_.try_emplace(key, now);
  if (!inserted) {
    it->second = now;
    return;
  }
  ++alerts_;
  out.push_back(a);
}

void FlowDetector::evaluate(core::TimeMs window_end, std::vector<FlowAlert>& out) {
  const double total = static_cast<double>(window_flows_);
  const int64_t first = current_ - static_cast<int64_t>(slices_.size()) + 1;
  auto live = [&](const Slice& s) {
    return s.number != INT64_MIN && s.number >= first && s.number <= current_;
  };

  // DoS: a destination with a large share of the flows from many distinct sources.
  const double dos_min =
      std::max(static_cast<double>(config_.dos_min_flows), config_.dos_min_share * total);
  for (auto cand = dst_candidates_.begin(); cand != dst_candidates_.end();) {
    const Counts* w = dst_window_.find(*cand);
    if (w == nullptr || w->flows < config_.dos_min_flows) {
      cand = dst_candidates_.erase(cand);
      continue;
    }
    const core::IpAddr dst = *cand++;
    const Counts& c = *w;
    if (static_cast<double>(c.flows) < dos_min) continue;
    Bitmap sources;
    for (const Slice& s : slices_) {
      if (!live(s)) continue;
      if (const DstSlice* d = s.by_dst.find(dst)) sources.merge(d->sources);
    }
    const double distinct = sources.estimate();
    if (distinct < config_.dos_min_sources) continue;
    FlowAlert a;
    a.kind = FlowAlertKind::kDos;
    a.window_end = window_end;
    a.subject = dst;
    a.flows = c.flows;
    a.bytes = c.bytes;
    a.window_flows = window_flows_;
    a.distinct = distinct;
    raise(a, window_end, out);
  }

  // Port scan: a source reaching many distinct destinations with small probes.
  const double scan_min = std::max(config_.scan_min_destinations, config_.scan_min_share * total);
  for (auto cand = src_candidates_.begin(); cand != src_candidates_.end();) {
    const Counts* w = src_window_.find(*cand);
    if (w == nullptr || static_cast<double>(w->flows) < config_.scan_min_destinations) {
      cand = src_candidates_.erase(cand);
      continue;
    }
    const core::IpAddr src = *cand++;
    const Counts& c = *w;
    if (static_cast<double>(c.flows) < scan_min) continue;
    const double small_ratio = static_cast<double>(c.small) / static_cast<double>(c.flows);
    if (small_ratio < config_.scan_min_small_ratio) continue;
    Bitmap destinations;
    for (const Slice& s : slices_) {
      if (!live(s)) continue;
      if (const SrcSlice* d = s.by_src.find(src)) destinations.merge(d->destinations);
    }
    const double distinct = destinations.estimate();
    if (distinct < config_.scan_min_destinations) continue;
    FlowAlert a;
    a.kind = FlowAlertKind::kPortscan;
    a.window_end = window_end;
    a.subject = src;
    a.flows = c.flows;
    a.bytes = c.bytes;
    a.window_flows = window_flows_;
    a.distinct = distinct;
    a.small_ratio = small_ratio;
    raise(a, window_end, out);
  }

  // Brute force: many short login sessions from one source to one server.
  const double brute_min =
      std::max(static_cast<double>(config_.brute_min_flows), config_.brute_min_share * total);
  for (auto cand = triple_candidates_.begin(); cand != triple_candidates_.end();) {
    const Counts* w = triple_window_.find(*cand);
    if (w == nullptr || w->flows < config_.brute_min_flows) {
      cand = triple_candidates_.erase(cand);
      continue;
    }
    const Triple t = *cand++;
    const Counts& c = *w;
    if (static_cast<double>(c.flows) < brute_min) continue;
    const double mean_bytes = static_cast<double>(c.bytes) / static_cast<double>(c.flows);
    if (mean_bytes > config_.brute_max_mean_bytes) continue;
    FlowAlert a;
    a.kind = FlowAlertKind::kBruteforce;
    a.window_end = window_end;
    a.subject = t.src;
    a.peer = t.dst;
    a.protocol = t.protocol;
    a.flows = c.flows;
    a.bytes = c.bytes;
    a.window_flows = window_flows_;
    raise(a, window_end, out);
  }

  // An alert ends once its rule has not held for a whole window.
  for (auto it = active_.begin(); it != active_.end();) {
    if (window_end - it->second > config_.window_ms)
      it = active_.erase(it);
    else
      ++it;
  }
}

}  // namespace netpulse::detect
