// Persistence of results (spec section 4) and detector alerts: SQLite embedded by default
// (sqlite:PATH), PostgreSQL for shared deployments (postgresql://...). Writes are idempotent:
// storing the same (query, window_end, params) again replaces the row, so a replay after a crash
// does not duplicate. A Store is used from one thread at a time (the StoreWriter's thread, or a
// request handler holding its own Store); open one per thread if needed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"

namespace netpulse::store {

// One result object of spec section 4, with params and rows kept as JSON text.
struct StoredResult {
  core::TimeMs window_start = 0;
  core::TimeMs window_end = 0;
  std::string query;        // "ip-topk", ...
  std::string params_json;  // {"T":10,"k":3}
  uint64_t records = 0;
  uint64_t total_bytes = 0;
  uint64_t keys = 0;
  std::string rows_json;    // [{"key":...,"bytes":...,"share":...,"z":...}, ...]
};

// A detector alert.
struct Alert {
  core::TimeMs time = 0;        // event time (or wall-clock time of detection)
  std::string detector;         // "dos", "bruteforce", ...
  std::string source;           // what raised it: "row 1234", "10.0.0.5", ...
  double score = 0;
  std::string detail_json;      // deciding features etc., a JSON object
};

struct ResultFilter {
  std::string query;
  std::optional<core::TimeMs> since;  // window_end >= since
  std::optional<core::TimeMs> until;  // window_end < until
  size_t limit = 1000;
};

class Store {
 public:
  virtual ~Store() = default;
  // Inserts or replaces (same query, window_end, params), in one transaction.
  virtual void put_results(std::span<const StoredResult> results) = 0;
  virtual void put_alerts(std::span<const Alert> alerts) = 0;
  // Ordered by window_end ascending.
  virtual std::vector<StoredResult> results(const ResultFilter& filter) = 0;
  virtual std::optional<StoredResult> latest(std::string_view query) = 0;
  // Returns how many rows were deleted.
  virtual uint64_t delete_results(std::string_view query) = 0;
  virtual std::vector<Alert> alerts(std::optional<core::TimeMs> since, size_t limit) = 0;
  virtual std::string describe() const = 0;
};

// Opens "sqlite:PATH" (a bare path too) or "postgresql://..." / "postgres://..."; creates the
// schema if missing. Returns nullptr with a one-line reason naming the store on failure.
std::unique_ptr<Store> open_store(const std::string& uri, std::string* why);

}  // namespace netpulse::store
