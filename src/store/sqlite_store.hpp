// The embedded store: one SQLite file in WAL mode, so readers (API handlers with their own
// SqliteStore on the same file) never wait for the writer. Prepared statements, one transaction
// per put, a busy timeout for the moments two connections want the write lock. Not thread-safe:
// one thread at a time per object (see Store).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "store/store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace netpulse::store {

// Bytes SQLite holds in this process, every connection together: page caches (2 MiB at most
// per connection, SQLite's default cache_size), prepared statements and schemas. Resident
// memory grows by this much while a new database fills the caches, then stays.
uint64_t sqlite_memory_used();

class SqliteStore final : public Store {
 public:
  static constexpr std::chrono::milliseconds kBusyTimeout{5000};

  // Opens or creates the file and the schema. ":memory:" gives a private in-memory database
  // (no WAL). Returns nullptr with a one-line reason on failure.
  static std::unique_ptr<SqliteStore> open(const std::string& path, std::string* why);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

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
  void recycle_history(std::vector<HistoryBucket>&& buckets) override;
  std::vector<HistoryBucket> history_range(Resolution r, Dimension d, std::string_view origin,
                                           core::TimeMs from, core::TimeMs to) override;
  uint64_t delete_history(Resolution r, core::TimeMs before) override;
  HistoryUsage history_usage(Resolution r) override;
  std::vector<std::pair<core::TimeMs, uint64_t>> history_sizes(Resolution r) override;
  std::string describe() const override { return description_; }

  // "wal" normally; "memory" for ":memory:".
  const std::string& journal_mode() const { return journal_mode_; }

 private:
  struct Statements;
  SqliteStore() = default;
  // Steps a statement that returns no row; throws StoreError naming `doing` otherwise.
  void step_done(sqlite3_stmt* s, std::string_view doing);
  // Runs body in one transaction: committed if it returns, rolled back if it throws.
  template <class F>
  void in_transaction(F&& body);

  std::string path_;
  std::string description_;
  std::string journal_mode_;
  sqlite3* db_ = nullptr;
  std::unique_ptr<Statements> stmts_;
  // Entries vectors given back by recycle_history, for the next reads (at most kSpareBytes of
  // capacity is kept).
  static constexpr size_t kSpareBytes = size_t{32} << 20;
  std::vector<std::vector<HistoryEntry>> spare_;
  size_t spare_bytes_ = 0;
};

}  // namespace netpulse::store
