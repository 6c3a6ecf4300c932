// A window's results for the six queries (spec sections 3 and 4), and where they go.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"
#include "engine/params.hpp"

namespace netpulse::query {

enum class QueryKind : uint8_t {
  kProtocolShare,
  kProtocolTopk,
  kProtocolOutliers,
  kIpShare,
  kIpTopk,
  kIpOutliers,
};
inline constexpr size_t kQueryCount = 6;
inline constexpr std::array<std::string_view, kQueryCount> kQueryNames = {
    "protocol-share", "protocol-topk", "protocol-outliers", "ip-share", "ip-topk", "ip-outliers"};
std::optional<QueryKind> parse_query_name(std::string_view name);

struct ResultRow {
  std::string key;           // protocol name or canonical address
  uint64_t bytes = 0;
  double share = 0;          // bytes / total (0 when total is 0)
  std::optional<double> z;   // (bytes - mean) / sd; none when sd is 0
  friend bool operator==(const ResultRow&, const ResultRow&) = default;
};

// How far an approximate result may be from the exact one (spec sections 4 and 9): every listed
// byte count is within epsilon * total_bytes of the truth, and the dimension's key count is an
// estimate.
struct Approximation {
  double epsilon = 0;
  uint64_t keys_estimated = 0;
  friend bool operator==(const Approximation&, const Approximation&) = default;
};

struct WindowResult {
  core::TimeMs window_start = 0;
  core::TimeMs window_end = 0;
  engine::QueryParams params;
  uint64_t records = 0;
  uint64_t total_bytes = 0;
  uint64_t protocol_keys = 0;
  uint64_t ip_keys = 0;
  // Set when the address dimension was computed from the memory budget's bounded summary: the
  // ip-* queries' objects then carry "approximate". The protocol dimension is always exact.
  std::optional<Approximation> ip_approximate;
  std::array<std::vector<ResultRow>, kQueryCount> rows;

  const std::vector<ResultRow>& of(QueryKind q) const { return rows[static_cast<size_t>(q)]; }
};

// Receives each window's results in window order. emit() and flush() are called from one
// thread at a time.
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual void emit(const WindowResult& result) = 0;
  virtual void flush() {}
};

}  // namespace netpulse::query
