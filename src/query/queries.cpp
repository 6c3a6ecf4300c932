#include "query/queries.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace netpulse::query {

using engine::DimStats;

namespace {

using u128 = unsigned __int128;
using i128 = __int128;

// n*sumsq - sum^2 = n^2 * variance, exactly when it fits in 128 bits.
long double spread(const DimStats& s) {
  const u128 sq = static_cast<u128>(s.s1) * s.s1;
  if (s.n != 0 && s.s2 <= std::numeric_limits<u128>::max() / s.n) {
    const u128 ns2 = s.s2 * s.n;
    return ns2 > sq ? static_cast<long double>(ns2 - sq) : 0.0L;
  }
  const long double d = static_cast<long double>(s.s2) * s.n - static_cast<long double>(sq);
  return d > 0 ? d : 0.0L;
}

// Smallest b in [0, hi] with pred(b), or hi + 1 when none. REQUIRES: pred monotone.
template <class Pred>
uint64_t smallest(uint64_t hi, Pred pred) {
  if (!pred(hi)) return hi == std::numeric_limits<uint64_t>::max() ? hi : hi + 1;
  uint64_t lo = 0;
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (pred(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

bool better(uint64_t ab, const core::IpAddr& ak, uint64_t bb, const core::IpAddr& bk) {
  return ab != bb ? ab > bb : ak < bk;
}

}  // namespace

uint64_t share_threshold(double H, uint64_t total) {
  const long double limit = static_cast<long double>(H) * static_cast<long double>(total);
  return smallest(total, [&](uint64_t b) { return static_cast<long double>(b) * 100 > limit; });
}

uint64_t outlier_threshold(double X, const DimStats& s) {
  if (s.n == 0) return std::numeric_limits<uint64_t>::max();
  const long double rhs = static_cast<long double>(X) * std::sqrt(spread(s));
  return smallest(s.s1, [&](uint64_t b) {
    const i128 lhs = static_cast<i128>(s.n) * b - static_cast<i128>(s.s1);
    return lhs > 0 && static_cast<long double>(lhs) > rhs;
  });
}

std::optional<double> z_score(uint64_t bytes, const DimStats& s) {
  const long double d = spread(s);
  if (s.n == 0 || d <= 0) return std::nullopt;
  const i128 lhs = static_cast<i128>(s.n) * bytes - static_cast<i128>(s.s1);
  return static_cast<double>(static_cast<long double>(lhs) / std::sqrt(d));
}

void SixQueries::prepare(const engine::WindowInfo& info) {
  slot_ = info.slot & 1;
  // Only this window's slot: the other may hold window i - 1's selections, not yet finished.
  if (shards_[slot_].size() != info.shards) shards_[slot_].resize(info.shards);
  ip_share_min_ = share_threshold(info.params.H, info.protocol.s1);
  ip_outlier_min_ = outlier_threshold(info.params.X, info.ip);
  k_ = static_cast<size_t>(info.params.k);
}

void SixQueries::select(size_t shard, engine::WindowShard& window) {
  ShardRows& out = shards_[slot_][shard];
  out.protocols.clear();
  out.share.clear();
  out.outliers.clear();
  out.topk.clear();
  window.window().keys.protocols.for_each(
      [&](const auto& e) { out.protocols.emplace_back(e.key, e.bytes); });

  // The shard hands over its candidates (every key at or above the lesser threshold, and at
  // least its own top k). Most fail one comparison with the gate (the least of the share and
  // outlier thresholds and the current k-th best); take_candidate() runs for few keys.
  const size_t k = k_;
  out.gate = 0;
  window.for_each_candidate(std::min(ip_share_min_, ip_outlier_min_), k,
                            [&](const core::IpAddr& key, uint64_t bytes) {
                              if (bytes >= out.gate) take_candidate(out, key, bytes, k);
                            });
}

void SixQueries::take_candidate(ShardRows& out, const core::IpAddr& key, uint64_t bytes, size_t k) {
  if (bytes >= ip_share_min_) out.share.push_back({key, bytes});
  if (bytes >= ip_outlier_min_) out.outliers.push_back({key, bytes});
  auto& heap = out.topk;  // the best k so far; the worst of them on top
  auto worse_first = [](const IpBytes& a, const IpBytes& b) {
    return better(a.bytes, a.key, b.bytes, b.key);
  };
  if (heap.size() < k) {
    heap.push_back({key, bytes});
    std::push_heap(heap.begin(), heap.end(), worse_first);
  } else if (better(bytes, key, heap.front().bytes, heap.front().key)) {
    std::pop_heap(heap.begin(), heap.end(), worse_first);
    heap.back() = {key, bytes};
    std::push_heap(heap.begin(), heap.end(), worse_first);
  }
  if (heap.size() >= k) out.gate = std::min({ip_share_min_, ip_outlier_min_, heap.front().bytes});
}

void SixQueries::finish(const engine::WindowInfo& info) {
  WindowResult& r = result_;
  const uint64_t total = info.protocol.s1;
  r.window_start = info.start;
  r.window_end = info.end;
  r.params = info.params;
  r.records = info.records;
  r.total_bytes = total;
  r.protocol_keys = info.protocol.n;
  r.ip_keys = info.ip.n;
  r.ip_approximate.reset();
  if (info.ip_approximate)
    r.ip_approximate = Approximation{
        total == 0 ? 0.0 : static_cast<double>(info.ip_error_bytes) / static_cast<double>(total),
        info.ip.n};
  for (auto& rows : r.rows) rows.clear();

  auto make_row = [&](std::string key, uint64_t bytes, const DimStats& s) {
    ResultRow row;
    row.key = std::move(key);
    row.bytes = bytes;
    row.share = total == 0 ? 0.0 : static_cast<double>(bytes) / static_cast<double>(total);
    row.z = z_score(bytes, s);
    return row;
  };

  // Protocols: few keys, so the merge takes them all and sorts by bytes, then name.
  struct Named {
    std::string_view name;
    uint64_t bytes;
  };
  // A protocol's bytes may be split over shards (records go to their address's shard): sum
  // the parts per protocol id first.
  std::vector<std::pair<uint32_t, uint64_t>> parts;
  const std::vector<ShardRows>& shards = shards_[info.slot & 1];
  for (const ShardRows& s : shards)
    parts.insert(parts.end(), s.protocols.begin(), s.protocols.end());
  std::sort(parts.begin(), parts.end());
  std::vector<Named> protos;
  for (size_t i = 0; i < parts.size();) {
    uint64_t bytes = 0;
    size_t j = i;
    for (; j < parts.size() && parts[j].first == parts[i].first; ++j) bytes += parts[j].second;
    protos.push_back({protocols_.name(parts[i].first), bytes});
    i = j;
  }
  std::sort(protos.begin(), protos.end(), [](const Named& a, const Named& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.name < b.name;
  });
  const uint64_t p_share = share_threshold(info.params.H, total);
  const uint64_t p_outlier = outlier_threshold(info.params.X, info.protocol);
  const size_t k = static_cast<size_t>(info.params.k);
  for (size_t i = 0; i < protos.size(); ++i) {
    const Named& p = protos[i];
    if (p.bytes >= p_share)
      r.rows[size_t(QueryKind::kProtocolShare)].push_back(make_row(std::string(p.name), p.bytes, info.protocol));
    if (i < k)
      r.rows[size_t(QueryKind::kProtocolTopk)].push_back(make_row(std::string(p.name), p.bytes, info.protocol));
    if (p.bytes >= p_outlier)
      r.rows[size_t(QueryKind::kProtocolOutliers)].push_back(make_row(std::string(p.name), p.bytes, info.protocol));
  }

  // Addresses: each shard sent its candidates; merge, order, cut.
  auto by_rank = [](const IpBytes& a, const IpBytes& b) { return better(a.bytes, a.key, b.bytes, b.key); };
  auto emit_ip = [&](QueryKind q, std::vector<IpBytes>& all, size_t limit) {
    std::sort(all.begin(), all.end(), by_rank);
    if (all.size() > limit) all.resize(limit);
    auto& rows = r.rows[static_cast<size_t>(q)];
    for (const IpBytes& c : all) rows.push_back(make_row(core::to_string(c.key), c.bytes, info.ip));
  };
  std::vector<IpBytes> all;
  for (const ShardRows& s : shards) all.insert(all.end(), s.share.begin(), s.share.end());
  emit_ip(QueryKind::kIpShare, all, std::numeric_limits<size_t>::max());
  all.clear();
  for (const ShardRows& s : shards) all.insert(all.end(), s.topk.begin(), s.topk.end());
  emit_ip(QueryKind::kIpTopk, all, k);
  all.clear();
  for (const ShardRows& s : shards) all.insert(all.end(), s.outliers.begin(), s.outliers.end());
  emit_ip(QueryKind::kIpOutliers, all, std::numeric_limits<size_t>::max());

  sink_.emit(r);
}

}  // namespace netpulse::query
