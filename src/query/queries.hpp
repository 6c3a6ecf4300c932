// The six continuous queries (spec section 3) over a final window: protocol-share,
// protocol-topk, protocol-outliers, ip-share, ip-topk, ip-outliers.
//
// Each query lists the keys whose bytes pass a threshold (share, outliers) or rank in the top
// k. The thresholds are computed once per window from exact integer statistics (n, sum, sum of
// squares), so each shard can select its candidates on its own and the merge is exact: the
// result does not depend on how keys are spread over threads. prepare() and finish() run on
// one thread; select() runs concurrently, one call per shard, and may select window i + 1 while
// finish() merges window i (engine/window_queries.hpp): the selections are kept per slot.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/ip_addr.hpp"
#include "core/protocol_table.hpp"
#include "engine/window_queries.hpp"
#include "query/result.hpp"

namespace netpulse::query {

// Smallest byte count b with b * 100 > H * total (spec: the share condition).
uint64_t share_threshold(double H, uint64_t total);
// Smallest byte count b with b > mean + X * sd over the dimension's keys, computed as
// (n*b - sum) > X * sqrt(n*sumsq - sum^2) so ties are decided exactly.
uint64_t outlier_threshold(double X, const engine::DimStats& s);
// (b - mean) / sd, none when sd is 0.
std::optional<double> z_score(uint64_t bytes, const engine::DimStats& s);

class SixQueries final : public engine::WindowQueries {
 public:
  SixQueries(const core::ProtocolTable& protocols, ResultSink& sink)
      : protocols_(protocols), sink_(sink) {}

  void prepare(const engine::WindowInfo& info) override;
  void select(size_t shard, engine::WindowShard& window) override;
  void finish(const engine::WindowInfo& info) override;
  void flush() override { sink_.flush(); }

 private:
  struct IpBytes {
    core::IpAddr key;
    uint64_t bytes;
  };
  struct ShardRows {
    std::vector<std::pair<uint32_t, uint64_t>> protocols;  // every protocol key (few)
    std::vector<IpBytes> share, outliers, topk;
    uint64_t gate = 0;  // a key with fewer bytes cannot become a row
  };

  void take_candidate(ShardRows& out, const core::IpAddr& key, uint64_t bytes, size_t k);

  const core::ProtocolTable& protocols_;
  ResultSink& sink_;
  std::array<std::vector<ShardRows>, 2> shards_;    // per slot (WindowInfo::slot), per shard
  uint64_t ip_share_min_ = 0, ip_outlier_min_ = 0;  // of the window prepared last
  size_t k_ = 1;
  size_t slot_ = 0;
  WindowResult result_;
};

}  // namespace netpulse::query
