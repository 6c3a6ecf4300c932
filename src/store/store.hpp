// Persistence of results (spec section 4) and detector alerts: SQLite embedded by default
// (sqlite:PATH), PostgreSQL for shared deployments (postgresql://...). Writes are idempotent:
// storing the same (query, window_end, params) again replaces the row, so a replay after a crash
// does not duplicate. A Store is used from one thread at a time (the StoreWriter's thread, or a
// request handler holding its own Store); open one per thread if needed.
// Schema, time format and JSON handling: docs/store.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/time.hpp"
#include "store/history.hpp"

namespace netpulse::store {

// One result object of spec section 4, with params, rows and approximate kept as JSON text.
// Values above 2^63 - 1 in records, total_bytes or keys are not representable in either database.
struct StoredResult {
  core::TimeMs window_start = 0;
  core::TimeMs window_end = 0;
  std::string query;        // "ip-topk", ...
  std::string params_json;  // {"T":10,"k":3}; read back canonical (docs/store.md)
  uint64_t records = 0;
  uint64_t total_bytes = 0;
  uint64_t keys = 0;
  std::string rows_json;  // [{"key":...,"bytes":...,"share":...,"z":...}, ...]
  // {"epsilon":0.0005,"keys_estimated":1200000} when the rows came from the memory budget's
  // bounded summary (spec sections 4 and 9; ip-* queries only); none when exact.
  std::optional<std::string> approximate_json;
  friend bool operator==(const StoredResult&, const StoredResult&) = default;
};

// A detector alert. Idempotent on (time, detector, source).
struct Alert {
  core::TimeMs time = 0;  // event time (or wall-clock time of detection)
  std::string detector;   // "dos", "bruteforce", ...
  std::string source;     // what raised it: "row 1234", "10.0.0.5", ...
  double score = 0;
  std::string detail_json;  // deciding features etc., a JSON object
  friend bool operator==(const Alert&, const Alert&) = default;
};

struct ResultFilter {
  // Which end of the range `limit` keeps. Rows always come back ordered by window_end ascending;
  // kNewest gives "the last N windows" (a dashboard's first paint).
  enum class Take : uint8_t { kOldest, kNewest };

  std::string query;
  std::optional<core::TimeMs> since;  // window_end >= since
  std::optional<core::TimeMs> until;  // window_end < until
  size_t limit = 1000;                // 0: no limit
  Take take = Take::kOldest;
};

// Why a store call failed. kUnavailable: the database could not do it now (gone, locked, schema
// missing); the same call may succeed later, so writers retry. kRejected: the data itself was
// refused (malformed JSON, wrong JSON type, value too large); retrying cannot help. kFull: no
// room, disk or quota full (SQLITE_FULL, SQLSTATE 53100); like kUnavailable it may pass, and
// callers that do not care treat it so, but the StoreWriter stops writing history on it rather
// than let history fill the disk the results need.
class StoreError : public std::runtime_error {
 public:
  enum class Kind : uint8_t { kUnavailable, kRejected, kFull };
  StoreError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// What one resolution of the history takes (Store::history_usage).
struct HistoryUsage {
  uint64_t buckets = 0;
  uint64_t bytes = 0;  // the rows' size column: entries blob plus kHistoryRowOverhead each
  std::optional<core::TimeMs> oldest, newest;  // bucket starts; none when empty
  friend bool operator==(const HistoryUsage&, const HistoryUsage&) = default;
};

// The fixed part of a history row's size (columns, index entries), added to its blob's bytes.
inline constexpr uint64_t kHistoryRowOverhead = 128;

// Every method throws StoreError on failure (the message is one line and names the store, never
// a password); a failed put stores nothing of its call.
class Store {
 public:
  virtual ~Store() = default;
  // Inserts or replaces (same query, window_end, params), in one transaction.
  virtual void put_results(std::span<const StoredResult> results) = 0;
  virtual void put_alerts(std::span<const Alert> alerts) = 0;
  // Both in one transaction (the StoreWriter's batches). The default calls the two above.
  virtual void put(std::span<const StoredResult> results, std::span<const Alert> alerts);
  // Ordered by window_end ascending (ties: in the order first stored).
  virtual std::vector<StoredResult> results(const ResultFilter& filter) = 0;
  // The row with the greatest window_end; nullopt when the query has none.
  virtual std::optional<StoredResult> latest(std::string_view query) = 0;
  // Returns how many rows were deleted.
  virtual uint64_t delete_results(std::string_view query) = 0;
  // Alerts with time >= since, ordered by time ascending; limit 0: no limit.
  virtual std::vector<Alert> alerts(std::optional<core::TimeMs> since, size_t limit) = 0;
  // The newest `limit` alerts (limit 0: all), ordered by time ascending.
  virtual std::vector<Alert> latest_alerts(size_t limit);
  // Rows stored for a query; an empty query counts every query's rows.
  virtual uint64_t count_results(std::string_view query);

  // Traffic history (store/history.hpp). Table history, one row per (resolution, dimension,
  // start, origin); counters above 2^63 - 1 are refused (kRejected) before anything is written.
  // SqliteStore and PostgresStore implement all of these; the defaults serve test doubles that
  // keep no history: puts are refused (kRejected), reads find nothing.
  // Inserts or replaces each bucket, all in one transaction.
  virtual void put_history(std::span<const HistoryBucket> buckets);
  // The buckets of dimension d with start in [from, to), every resolution and origin, ordered
  // by resolution (minute, hour, day), start, origin (bytewise). Reads the index only.
  virtual std::vector<HistoryKey> history_index(Dimension d, core::TimeMs from, core::TimeMs to) {
    (void)d, (void)from, (void)to;
    return {};
  }
  // Those buckets, in the order given; keys not stored are skipped. A stored blob that does not
  // decode: kRejected naming the bucket.
  virtual std::vector<HistoryBucket> history_buckets(Dimension d,
                                                     std::span<const HistoryKey> keys) {
    (void)d, (void)keys;
    return {};
  }
  // Gives back buckets a reader is done with, so the store may decode the next ones into their
  // entries' memory: a 10,000-key bucket's entries take about 0.5 MB, and mapping and faulting
  // in fresh pages for the 60 buckets of each /api/top was most of its p99. Optional.
  virtual void recycle_history(std::vector<HistoryBucket>&& buckets) { (void)buckets; }
  // The buckets of one resolution, dimension and origin with start in [from, to), by start.
  virtual std::vector<HistoryBucket> history_range(Resolution r, Dimension d,
                                                   std::string_view origin, core::TimeMs from,
                                                   core::TimeMs to) {
    (void)r, (void)d, (void)origin, (void)from, (void)to;
    return {};
  }
  // Deletes the buckets of resolution r (every dimension and origin) with start < before;
  // returns how many.
  virtual uint64_t delete_history(Resolution r, core::TimeMs before) {
    (void)r, (void)before;
    return 0;
  }
  virtual HistoryUsage history_usage(Resolution r) {
    (void)r;
    return {};
  }
  // The size stored per bucket start of resolution r (all dimensions and origins), ascending.
  virtual std::vector<std::pair<core::TimeMs, uint64_t>> history_sizes(Resolution r) {
    (void)r;
    return {};
  }

  // "sqlite:/abs/path.db (WAL)", "postgresql://user@host:port/db"; never a password.
  virtual std::string describe() const = 0;
};

inline void Store::put_history(std::span<const HistoryBucket> buckets) {
  if (buckets.empty()) return;
  throw StoreError(StoreError::Kind::kRejected, describe() + ": keeps no traffic history");
}

// Opens "sqlite:PATH" (a bare path too) or "postgresql://..." / "postgres://..."; creates the
// schema if missing. Returns nullptr with a one-line reason naming the store on failure.
std::unique_ptr<Store> open_store(const std::string& uri, std::string* why);

}  // namespace netpulse::store
