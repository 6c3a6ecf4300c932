// The server store: PostgreSQL through libpq, for deployments where several processes share
// one database. Each put is one pipeline of prepared upserts ending in one Sync, so it is one
// implicit transaction and one round trip. A lost connection is reopened on the next call.
// Not thread-safe: one thread at a time per object (see Store).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "store/store.hpp"

struct pg_conn;

namespace netpulse::store {

class PostgresStore final : public Store {
 public:
  // uri: "postgresql://user[:password]@host[:port]/db[?param=value...]" (libpq's form; a
  // connect_timeout of 5 s unless the URI sets one). Creates the schema if missing. Returns
  // nullptr with a one-line reason (password removed) on failure.
  static std::unique_ptr<PostgresStore> open(const std::string& uri, std::string* why);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  void put_results(std::span<const StoredResult> results) override;
  void put_alerts(std::span<const Alert> alerts) override;
  void put(std::span<const StoredResult> results, std::span<const Alert> alerts) override;
  std::vector<StoredResult> results(const ResultFilter& filter) override;
  std::optional<StoredResult> latest(std::string_view query) override;
  uint64_t delete_results(std::string_view query) override;
  std::vector<Alert> alerts(std::optional<core::TimeMs> since, size_t limit) override;
  std::vector<Alert> latest_alerts(size_t limit) override;
  uint64_t count_results(std::string_view query) override;
  void put_history(std::span<const HistoryBucket> buckets) override;
  std::vector<HistoryKey> history_index(Dimension d, core::TimeMs from, core::TimeMs to) override;
  std::vector<HistoryBucket> history_buckets(Dimension d,
                                             std::span<const HistoryKey> keys) override;
  std::vector<HistoryBucket> history_range(Resolution r, Dimension d, std::string_view origin,
                                           core::TimeMs from, core::TimeMs to) override;
  uint64_t delete_history(Resolution r, core::TimeMs before) override;
  HistoryUsage history_usage(Resolution r) override;
  std::vector<std::pair<core::TimeMs, uint64_t>> history_sizes(Resolution r) override;
  std::string describe() const override { return description_; }

 private:
  class Result;
  PostgresStore() = default;
  // Reconnects if the connection was lost and prepares the statements; throws kUnavailable.
  void ensure_ready();
  Result exec(const char* statement, int n, const char* const* values, std::string_view doing);
  // The same with binary results (result_format 1): history rows, whose blobs would double as
  // hex text.
  Result exec(const char* statement, int n, const char* const* values, int result_format,
              std::string_view doing);
  // Runs one statement per parameter row as one pipeline ending in one Sync: one implicit
  // transaction, one round trip. lengths/formats as PQsendQueryPrepared's.
  void run_pipeline(
      const char* statement, int n, size_t rows,
      const std::function<void(size_t row, const char** values, int* lengths, int* formats)>& bind,
      std::string_view doing);
  StoreError connection_error(std::string_view doing) const;

  pg_conn* conn_ = nullptr;
  std::string uri_;  // with the password, to reconnect
  std::string description_;
  bool prepared_ = false;
  bool broken_ = false;  // the connection is in an unknown state: reset before the next call
};

// The URI without its password (userinfo ":secret" and "password=" parameters).
std::string redact_uri(std::string_view uri);

}  // namespace netpulse::store
