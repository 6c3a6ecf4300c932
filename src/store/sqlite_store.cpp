#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <filesystem>

#include "store/json_text.hpp"

namespace netpulse::store {
namespace {

// Version 1: the tables below without results.approximate. Version 2 adds that column (issue 14),
// last, so a version-1 file migrated by ALTER TABLE and a new file have the same table. Table
// history (issue 17) is made by the CREATE ... IF NOT EXISTS below in an older file too; it needs
// no new version, as a netpulse without history opens and uses such a file unchanged. Kept in
// PRAGMA user_version so a later netpulse can migrate.
constexpr int kSchemaVersion = 2;

// NULL: the result is exact. Checked like the other JSON columns (a NULL json_valid would fail
// the CASE, hence the IS NULL).
#define NP_APPROXIMATE_COLUMN                                             \
  "approximate TEXT\n"                                                    \
  "    CHECK (approximate IS NULL OR CASE WHEN json_valid(approximate)\n" \
  "      THEN json_type(approximate) = 'object' ELSE 0 END)"

constexpr const char* kAddApproximate = "ALTER TABLE results ADD COLUMN " NP_APPROXIMATE_COLUMN;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS results (
  id INTEGER PRIMARY KEY,
  window_start INTEGER NOT NULL,
  window_end INTEGER NOT NULL,
  query TEXT NOT NULL,
  params TEXT NOT NULL
    CHECK (CASE WHEN json_valid(params) THEN json_type(params) = 'object' ELSE 0 END),
  records INTEGER NOT NULL,
  total_bytes INTEGER NOT NULL,
  keys INTEGER NOT NULL,
  "rows" TEXT NOT NULL
    CHECK (CASE WHEN json_valid("rows") THEN json_type("rows") = 'array' ELSE 0 END),
  )sql" NP_APPROXIMATE_COLUMN R"sql(,
  UNIQUE (query, window_end, params)
);
CREATE INDEX IF NOT EXISTS results_query_window_end ON results (query, window_end);
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY,
  "time" INTEGER NOT NULL,
  detector TEXT NOT NULL,
  source TEXT NOT NULL,
  score REAL NOT NULL,
  detail TEXT NOT NULL
    CHECK (CASE WHEN json_valid(detail) THEN json_type(detail) = 'object' ELSE 0 END),
  UNIQUE ("time", detector, source)
);
CREATE TABLE IF NOT EXISTS history (
  id INTEGER PRIMARY KEY,
  resolution TEXT NOT NULL,
  dimension TEXT NOT NULL,
  start INTEGER NOT NULL,
  origin TEXT NOT NULL,
  total_bytes INTEGER NOT NULL,
  total_records INTEGER NOT NULL,
  other_bytes INTEGER NOT NULL,
  other_records INTEGER NOT NULL,
  cut_bytes INTEGER NOT NULL,
  error_bytes INTEGER NOT NULL,
  size INTEGER NOT NULL,
  entries BLOB NOT NULL,
  UNIQUE (resolution, dimension, start, origin)
);
CREATE INDEX IF NOT EXISTS history_resolution_start ON history (resolution, start, size);
)sql";

// The unique index (resolution, dimension, start, origin) answers history_index alone, and
// history_resolution_start covers retention (usage, sizes, delete). size comes before the blob
// so that reading it never touches the blob's overflow pages.
#define NP_HISTORY_COLUMNS                                                                 \
  "SELECT resolution, dimension, start, origin, total_bytes, total_records, other_bytes, " \
  "other_records, cut_bytes, error_bytes, entries FROM history "

constexpr const char* kResultColumns =
    "SELECT window_start, window_end, query, params, records, total_bytes, keys, \"rows\", "
    "approximate FROM results ";

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// Errors that depend on the data (a CHECK on the JSON, a value too big) are kRejected; a full
// disk is kFull; the rest (busy, I/O, read-only file, schema gone) may pass, so kUnavailable.
StoreError::Kind kind_of(int rc, int system_errno) {
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
      return StoreError::Kind::kRejected;
    case SQLITE_FULL:
      return StoreError::Kind::kFull;
    case SQLITE_IOERR:
      // Some write paths (the WAL index, fsync) report ENOSPC as an I/O error.
      return system_errno == ENOSPC || system_errno == EDQUOT ? StoreError::Kind::kFull
                                                              : StoreError::Kind::kUnavailable;
    default:
      return StoreError::Kind::kUnavailable;
  }
}

// Resets a statement when a call is done with it, error or not.
class Use {
 public:
  explicit Use(const Stmt& s) : s_(s.get()) {}
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_;
};

void bind_text(sqlite3_stmt* s, int i, std::string_view text) {
  // SQLITE_STATIC: the text outlives the step; Use clears the binding afterwards.
  sqlite3_bind_text64(s, i, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

int64_t to_limit(size_t limit) {
  return limit == 0 ? -1 : static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX));
}

std::string column_text(sqlite3_stmt* s, int i) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s, i))) : std::string();
}

StoredResult read_result(sqlite3_stmt* s) {
  StoredResult r;
  r.window_start = sqlite3_column_int64(s, 0);
  r.window_end = sqlite3_column_int64(s, 1);
  r.query = column_text(s, 2);
  r.params_json = column_text(s, 3);
  r.records = static_cast<uint64_t>(sqlite3_column_int64(s, 4));
  r.total_bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 5));
  r.keys = static_cast<uint64_t>(sqlite3_column_int64(s, 6));
  r.rows_json = column_text(s, 7);
  if (sqlite3_column_type(s, 8) != SQLITE_NULL) r.approximate_json = column_text(s, 8);
  return r;
}

Alert read_alert(sqlite3_stmt* s) {
  Alert a;
  a.time = sqlite3_column_int64(s, 0);
  a.detector = column_text(s, 1);
  a.source = column_text(s, 2);
  a.score = sqlite3_column_double(s, 3);
  a.detail_json = column_text(s, 4);
  return a;
}

}  // namespace

uint64_t sqlite_memory_used() {
  return static_cast<uint64_t>(sqlite3_memory_used());
}

struct SqliteStore::Statements {
  Stmt begin, commit, rollback;
  Stmt put_result, put_alert;
  Stmt results_oldest, results_newest, latest, remove;
  Stmt alerts, latest_alerts, count, count_all;
  Stmt put_history, history_index, history_get, history_range, history_delete, history_usage,
      history_sizes;
};

namespace {

// The error of the last call on db, as one line naming the store.
StoreError error(sqlite3* db, const std::string& description, std::string_view doing, int rc) {
  std::string what = description + ": " + std::string(doing) + ": ";
  what += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return StoreError(kind_of(rc, db ? sqlite3_system_errno(db) : 0), what);
}

}  // namespace

std::unique_ptr<SqliteStore> SqliteStore::open(const std::string& path, std::string* why) {
  std::unique_ptr<SqliteStore> store(new SqliteStore());
  store->path_ = path;
  std::string shown = path;
  if (path != ":memory:") {
    std::error_code ec;
    const auto absolute = std::filesystem::absolute(path, ec);
    if (!ec) shown = absolute.string();
  }
  store->description_ = "sqlite:" + shown;

  auto fail = [&](std::string_view doing, int rc) {
    if (why) *why = error(store->db_, store->description_, doing, rc).what();
    return nullptr;
  };

  int rc = sqlite3_open_v2(
      path.c_str(), &store->db_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  if (rc != SQLITE_OK) return fail("open", rc);
  sqlite3_busy_timeout(store->db_, static_cast<int>(kBusyTimeout.count()));

  // WAL: readers see the last committed batch while the writer writes the next. NORMAL sync in
  // WAL mode survives a crash of the process; a power cut may lose the last few batches.
  {
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v2(store->db_, "PRAGMA journal_mode=WAL", -1, &raw, nullptr);
    if (rc != SQLITE_OK) return fail("set WAL mode", rc);
    Stmt s(raw);
    rc = sqlite3_step(raw);
    if (rc != SQLITE_ROW) return fail("set WAL mode", rc);
    store->journal_mode_ = column_text(raw, 0);
  }
  if (store->journal_mode_ == "wal") store->description_ += " (WAL)";
  rc = sqlite3_exec(store->db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail("set synchronous", rc);

  int version = 0;
  {
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v2(store->db_, "PRAGMA user_version", -1, &raw, nullptr);
    if (rc != SQLITE_OK) return fail("read schema version", rc);
    Stmt s(raw);
    if (sqlite3_step(raw) == SQLITE_ROW) version = sqlite3_column_int(raw, 0);
  }
  if (version > kSchemaVersion) {
    if (why) {
      *why = store->description_ + ": schema version " + std::to_string(version) +
             " is newer than this netpulse (" + std::to_string(kSchemaVersion) + ")";
    }
    return nullptr;
  }
  // Create what is missing and migrate an older file, in one write transaction: a second
  // process opening the same file at once waits, then finds the work done.
  auto fail_rollback = [&](std::string_view doing, int code) {
    auto result = fail(doing, code);
    sqlite3_exec(store->db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return result;
  };
  const std::string create = std::string("BEGIN IMMEDIATE;") + kSchema;
  rc = sqlite3_exec(store->db_, create.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail_rollback("create schema", rc);
  bool has_approximate = false;
  {
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v2(store->db_,
                            "SELECT count(*) FROM pragma_table_info('results') "
                            "WHERE name = 'approximate'",
                            -1, &raw, nullptr);
    if (rc != SQLITE_OK) return fail_rollback("read schema", rc);
    Stmt s(raw);
    rc = sqlite3_step(raw);
    if (rc != SQLITE_ROW) return fail_rollback("read schema", rc);
    has_approximate = sqlite3_column_int(raw, 0) > 0;
  }
  if (!has_approximate) {  // a version-1 file: its rows are exact results
    rc = sqlite3_exec(store->db_, kAddApproximate, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return fail_rollback("add column approximate", rc);
  }
  const std::string done = "PRAGMA user_version = " + std::to_string(kSchemaVersion) + ";COMMIT;";
  rc = sqlite3_exec(store->db_, done.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail_rollback("create schema", rc);

  auto stmts = std::make_unique<Statements>();
  struct Def {
    Stmt* stmt;
    std::string sql;
  };
  const std::string by_window = "WHERE query = ?1 AND window_end >= ?2 AND window_end < ?3 ";
  const Def defs[] = {
      {&stmts->begin, "BEGIN IMMEDIATE"},
      {&stmts->commit, "COMMIT"},
      {&stmts->rollback, "ROLLBACK"},
      {&stmts->put_result,
       "INSERT INTO results (window_start, window_end, query, params, records, total_bytes, "
       "keys, \"rows\", approximate) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
       "ON CONFLICT (query, window_end, params) DO UPDATE SET "
       "window_start = excluded.window_start, records = excluded.records, "
       "total_bytes = excluded.total_bytes, keys = excluded.keys, \"rows\" = excluded.\"rows\", "
       "approximate = excluded.approximate"},
      {&stmts->put_alert,
       "INSERT INTO alerts (\"time\", detector, source, score, detail) "
       "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (\"time\", detector, source) DO UPDATE SET "
       "score = excluded.score, detail = excluded.detail"},
      {&stmts->results_oldest, kResultColumns + by_window + "ORDER BY window_end, id LIMIT ?4"},
      {&stmts->results_newest,
       kResultColumns + by_window + "ORDER BY window_end DESC, id DESC LIMIT ?4"},
      {&stmts->latest,
       kResultColumns + std::string("WHERE query = ?1 ORDER BY window_end DESC, id DESC LIMIT 1")},
      {&stmts->remove, "DELETE FROM results WHERE query = ?1"},
      {&stmts->alerts,
       "SELECT \"time\", detector, source, score, detail FROM alerts WHERE \"time\" >= ?1 "
       "ORDER BY \"time\", id LIMIT ?2"},
      {&stmts->latest_alerts,
       "SELECT \"time\", detector, source, score, detail FROM alerts "
       "ORDER BY \"time\" DESC, id DESC LIMIT ?1"},
      {&stmts->count, "SELECT count(*) FROM results WHERE query = ?1"},
      {&stmts->count_all, "SELECT count(*) FROM results"},
      {&stmts->put_history,
       "INSERT INTO history (resolution, dimension, start, origin, total_bytes, total_records, "
       "other_bytes, other_records, cut_bytes, error_bytes, size, entries) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
       "ON CONFLICT (resolution, dimension, start, origin) DO UPDATE SET "
       "total_bytes = excluded.total_bytes, total_records = excluded.total_records, "
       "other_bytes = excluded.other_bytes, other_records = excluded.other_records, "
       "cut_bytes = excluded.cut_bytes, error_bytes = excluded.error_bytes, "
       "size = excluded.size, entries = excluded.entries"},
      {&stmts->history_index,
       "SELECT start, origin FROM history WHERE resolution = ?1 AND dimension = ?2 "
       "AND start >= ?3 AND start < ?4 ORDER BY start, origin"},
      {&stmts->history_get, NP_HISTORY_COLUMNS
       "WHERE resolution = ?1 AND dimension = ?2 AND start = ?3 AND origin = ?4"},
      {&stmts->history_range, NP_HISTORY_COLUMNS
       "WHERE resolution = ?1 AND dimension = ?2 AND origin = ?3 AND start >= ?4 "
       "AND start < ?5 ORDER BY start"},
      {&stmts->history_delete, "DELETE FROM history WHERE resolution = ?1 AND start < ?2"},
      {&stmts->history_usage,
       "SELECT count(*), coalesce(sum(size), 0), min(start), max(start) FROM history "
       "WHERE resolution = ?1"},
      {&stmts->history_sizes,
       "SELECT start, sum(size) FROM history WHERE resolution = ?1 GROUP BY start ORDER BY start"},
  };
  for (const Def& d : defs) {
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v3(store->db_, d.sql.c_str(), static_cast<int>(d.sql.size()),
                            SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    if (rc != SQLITE_OK) return fail("prepare", rc);
    d.stmt->reset(raw);
  }
  store->stmts_ = std::move(stmts);
  return store;
}

SqliteStore::~SqliteStore() {
  stmts_.reset();  // statements before the connection
  if (db_) sqlite3_close_v2(db_);
}

void SqliteStore::put_results(std::span<const StoredResult> results) {
  put(results, {});
}

void SqliteStore::put_alerts(std::span<const Alert> alerts) {
  put({}, alerts);
}

void SqliteStore::step_done(sqlite3_stmt* s, std::string_view doing) {
  const int rc = sqlite3_step(s);
  if (rc != SQLITE_DONE) throw error(db_, description_, doing, rc);
}

template <class F>
void SqliteStore::in_transaction(F&& body) {
  {
    Use begin(stmts_->begin);
    step_done(begin.get(), "begin");
  }
  try {
    body();
    Use commit(stmts_->commit);
    step_done(commit.get(), "commit");
  } catch (...) {
    Use rollback(stmts_->rollback);
    sqlite3_step(rollback.get());
    throw;
  }
}

void SqliteStore::put(std::span<const StoredResult> results, std::span<const Alert> alerts) {
  if (results.empty() && alerts.empty()) return;
  in_transaction([&] {
    std::string params;
    for (const StoredResult& r : results) {
      Use use(stmts_->put_result);
      sqlite3_stmt* s = use.get();
      params = canonical_object(r.params_json);
      sqlite3_bind_int64(s, 1, r.window_start);
      sqlite3_bind_int64(s, 2, r.window_end);
      bind_text(s, 3, r.query);
      bind_text(s, 4, params);
      sqlite3_bind_int64(s, 5, static_cast<int64_t>(r.records));
      sqlite3_bind_int64(s, 6, static_cast<int64_t>(r.total_bytes));
      sqlite3_bind_int64(s, 7, static_cast<int64_t>(r.keys));
      bind_text(s, 8, r.rows_json);
      if (r.approximate_json) bind_text(s, 9, *r.approximate_json);  // else NULL (cleared)
      step_done(s, "store " + r.query + " result");
    }
    for (const Alert& a : alerts) {
      Use use(stmts_->put_alert);
      sqlite3_stmt* s = use.get();
      sqlite3_bind_int64(s, 1, a.time);
      bind_text(s, 2, a.detector);
      bind_text(s, 3, a.source);
      sqlite3_bind_double(s, 4, a.score);
      bind_text(s, 5, a.detail_json);
      step_done(s, "store " + a.detector + " alert");
    }
  });
}

std::vector<StoredResult> SqliteStore::results(const ResultFilter& filter) {
  const bool newest = filter.take == ResultFilter::Take::kNewest;
  Use use(newest ? stmts_->results_newest : stmts_->results_oldest);
  sqlite3_stmt* s = use.get();
  bind_text(s, 1, filter.query);
  sqlite3_bind_int64(s, 2, filter.since.value_or(INT64_MIN));
  sqlite3_bind_int64(s, 3, filter.until.value_or(INT64_MAX));
  sqlite3_bind_int64(s, 4, to_limit(filter.limit));
  std::vector<StoredResult> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read_result(s));
  if (rc != SQLITE_DONE) throw error(db_, description_, "read " + filter.query + " results", rc);
  if (newest) std::reverse(out.begin(), out.end());
  return out;
}

std::optional<StoredResult> SqliteStore::latest(std::string_view query) {
  Use use(stmts_->latest);
  sqlite3_stmt* s = use.get();
  bind_text(s, 1, query);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return read_result(s);
  if (rc != SQLITE_DONE) {
    throw error(db_, description_, "read latest " + std::string(query) + " result", rc);
  }
  return std::nullopt;
}

uint64_t SqliteStore::delete_results(std::string_view query) {
  Use use(stmts_->remove);
  bind_text(use.get(), 1, query);
  const int rc = sqlite3_step(use.get());
  if (rc != SQLITE_DONE) {
    throw error(db_, description_, "delete " + std::string(query) + " results", rc);
  }
  return static_cast<uint64_t>(sqlite3_changes64(db_));
}

std::vector<Alert> SqliteStore::alerts(std::optional<core::TimeMs> since, size_t limit) {
  Use use(stmts_->alerts);
  sqlite3_stmt* s = use.get();
  sqlite3_bind_int64(s, 1, since.value_or(INT64_MIN));
  sqlite3_bind_int64(s, 2, to_limit(limit));
  std::vector<Alert> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read_alert(s));
  if (rc != SQLITE_DONE) throw error(db_, description_, "read alerts", rc);
  return out;
}

std::vector<Alert> SqliteStore::latest_alerts(size_t limit) {
  Use use(stmts_->latest_alerts);
  sqlite3_stmt* s = use.get();
  sqlite3_bind_int64(s, 1, to_limit(limit));
  std::vector<Alert> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read_alert(s));
  if (rc != SQLITE_DONE) throw error(db_, description_, "read alerts", rc);
  std::reverse(out.begin(), out.end());
  return out;
}

uint64_t SqliteStore::count_results(std::string_view query) {
  Use use(query.empty() ? stmts_->count_all : stmts_->count);
  if (!query.empty()) bind_text(use.get(), 1, query);
  const int rc = sqlite3_step(use.get());
  if (rc != SQLITE_ROW) throw error(db_, description_, "count results", rc);
  return static_cast<uint64_t>(sqlite3_column_int64(use.get(), 0));
}

namespace {

// Names the bucket in messages: "minute src 2026-12-02T14:05:00.000Z origin \"a\"".
std::string bucket_name(Resolution r, Dimension d, core::TimeMs start, std::string_view origin) {
  std::string name =
      std::string(to_string(r)) + " " + to_string(d) + " bucket " + core::format_iso8601(start);
  if (!origin.empty()) name += " of origin " + std::string(origin);
  return name;
}

// The counters go into signed 64-bit columns.
void check_storable(const HistoryBucket& b, const std::string& description) {
  for (uint64_t v : {b.total_bytes, b.total_records, b.other_bytes, b.other_records, b.cut_bytes,
                     b.error_bytes}) {
    if (v > static_cast<uint64_t>(INT64_MAX)) {
      throw StoreError(StoreError::Kind::kRejected,
                       description + ": store " +
                           bucket_name(b.resolution, b.dimension, b.start, b.origin) +
                           ": a counter above 2^63 - 1");
    }
  }
}

HistoryBucket read_bucket(sqlite3_stmt* s, const std::string& description,
                          std::vector<HistoryEntry>&& reuse = {}) {
  HistoryBucket b;
  b.entries = std::move(reuse);  // decode_entries keeps its capacity
  const std::string resolution = column_text(s, 0);
  const std::string dimension = column_text(s, 1);
  b.start = sqlite3_column_int64(s, 2);
  b.origin = column_text(s, 3);
  const auto r = parse_resolution(resolution);
  const auto d = parse_dimension(dimension);
  const auto* blob = static_cast<const char*>(sqlite3_column_blob(s, 10));
  const std::string_view entries(blob ? blob : "",
                                 static_cast<size_t>(sqlite3_column_bytes(s, 10)));
  if (!r || !d || !decode_entries(entries, b.entries)) {
    throw StoreError(StoreError::Kind::kRejected,
                     description + ": read " + resolution + " " + dimension + " bucket " +
                         core::format_iso8601(b.start) + " of origin \"" + b.origin +
                         "\": malformed stored bucket");
  }
  b.resolution = *r;
  b.dimension = *d;
  b.total_bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 4));
  b.total_records = static_cast<uint64_t>(sqlite3_column_int64(s, 5));
  b.other_bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 6));
  b.other_records = static_cast<uint64_t>(sqlite3_column_int64(s, 7));
  b.cut_bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 8));
  b.error_bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 9));
  return b;
}

}  // namespace

void SqliteStore::put_history(std::span<const HistoryBucket> buckets) {
  if (buckets.empty()) return;
  for (const HistoryBucket& b : buckets) check_storable(b, description_);
  in_transaction([&] {
    std::string blob;
    for (const HistoryBucket& b : buckets) {
      blob = encode_entries(b.entries);
      Use use(stmts_->put_history);
      sqlite3_stmt* s = use.get();
      bind_text(s, 1, to_string(b.resolution));
      bind_text(s, 2, to_string(b.dimension));
      sqlite3_bind_int64(s, 3, b.start);
      bind_text(s, 4, b.origin);
      sqlite3_bind_int64(s, 5, static_cast<int64_t>(b.total_bytes));
      sqlite3_bind_int64(s, 6, static_cast<int64_t>(b.total_records));
      sqlite3_bind_int64(s, 7, static_cast<int64_t>(b.other_bytes));
      sqlite3_bind_int64(s, 8, static_cast<int64_t>(b.other_records));
      sqlite3_bind_int64(s, 9, static_cast<int64_t>(b.cut_bytes));
      sqlite3_bind_int64(s, 10, static_cast<int64_t>(b.error_bytes));
      sqlite3_bind_int64(s, 11, static_cast<int64_t>(blob.size() + kHistoryRowOverhead));
      sqlite3_bind_blob64(s, 12, blob.data(), blob.size(), SQLITE_STATIC);
      step_done(s, "store " + bucket_name(b.resolution, b.dimension, b.start, b.origin));
    }
  });
}

std::vector<HistoryKey> SqliteStore::history_index(Dimension d, core::TimeMs from,
                                                   core::TimeMs to) {
  std::vector<HistoryKey> out;
  // One index range per resolution, in Resolution's order (not the names' order).
  for (Resolution r : kResolutions) {
    Use use(stmts_->history_index);
    sqlite3_stmt* s = use.get();
    bind_text(s, 1, to_string(r));
    bind_text(s, 2, to_string(d));
    sqlite3_bind_int64(s, 3, from);
    sqlite3_bind_int64(s, 4, to);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      out.push_back({r, sqlite3_column_int64(s, 0), column_text(s, 1)});
    }
    if (rc != SQLITE_DONE) {
      throw error(db_, description_, std::string("read the ") + to_string(d) + " history index",
                  rc);
    }
  }
  return out;
}

std::vector<HistoryBucket> SqliteStore::history_buckets(Dimension d,
                                                        std::span<const HistoryKey> keys) {
  std::vector<HistoryBucket> out;
  out.reserve(keys.size());
  for (const HistoryKey& k : keys) {
    Use use(stmts_->history_get);
    sqlite3_stmt* s = use.get();
    bind_text(s, 1, to_string(k.resolution));
    bind_text(s, 2, to_string(d));
    sqlite3_bind_int64(s, 3, k.start);
    bind_text(s, 4, k.origin);
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      std::vector<HistoryEntry> reuse;
      if (!spare_.empty()) {
        reuse = std::move(spare_.back());
        spare_.pop_back();
        spare_bytes_ -= reuse.capacity() * sizeof(HistoryEntry);
      }
      out.push_back(read_bucket(s, description_, std::move(reuse)));
    } else if (rc != SQLITE_DONE) {
      throw error(db_, description_, "read " + bucket_name(k.resolution, d, k.start, k.origin), rc);
    }
  }
  return out;
}

void SqliteStore::recycle_history(std::vector<HistoryBucket>&& buckets) {
  for (HistoryBucket& b : buckets) {
    const size_t bytes = b.entries.capacity() * sizeof(HistoryEntry);
    if (bytes < 4096 || spare_bytes_ + bytes > kSpareBytes) continue;
    b.entries.clear();
    spare_bytes_ += bytes;
    spare_.push_back(std::move(b.entries));
  }
  buckets.clear();
}

std::vector<HistoryBucket> SqliteStore::history_range(Resolution r, Dimension d,
                                                      std::string_view origin, core::TimeMs from,
                                                      core::TimeMs to) {
  Use use(stmts_->history_range);
  sqlite3_stmt* s = use.get();
  bind_text(s, 1, to_string(r));
  bind_text(s, 2, to_string(d));
  bind_text(s, 3, origin);
  sqlite3_bind_int64(s, 4, from);
  sqlite3_bind_int64(s, 5, to);
  std::vector<HistoryBucket> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(read_bucket(s, description_));
  if (rc != SQLITE_DONE) {
    throw error(db_, description_,
                std::string("read ") + to_string(r) + " " + to_string(d) + " history", rc);
  }
  return out;
}

uint64_t SqliteStore::delete_history(Resolution r, core::TimeMs before) {
  Use use(stmts_->history_delete);
  bind_text(use.get(), 1, to_string(r));
  sqlite3_bind_int64(use.get(), 2, before);
  const int rc = sqlite3_step(use.get());
  if (rc != SQLITE_DONE) {
    throw error(db_, description_, std::string("delete ") + to_string(r) + " history", rc);
  }
  return static_cast<uint64_t>(sqlite3_changes64(db_));
}

HistoryUsage SqliteStore::history_usage(Resolution r) {
  Use use(stmts_->history_usage);
  sqlite3_stmt* s = use.get();
  bind_text(s, 1, to_string(r));
  const int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) {
    throw error(db_, description_, std::string("read ") + to_string(r) + " history usage", rc);
  }
  HistoryUsage u;
  u.buckets = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
  u.bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
  if (sqlite3_column_type(s, 2) != SQLITE_NULL) u.oldest = sqlite3_column_int64(s, 2);
  if (sqlite3_column_type(s, 3) != SQLITE_NULL) u.newest = sqlite3_column_int64(s, 3);
  return u;
}

std::vector<std::pair<core::TimeMs, uint64_t>> SqliteStore::history_sizes(Resolution r) {
  Use use(stmts_->history_sizes);
  sqlite3_stmt* s = use.get();
  bind_text(s, 1, to_string(r));
  std::vector<std::pair<core::TimeMs, uint64_t>> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    out.emplace_back(sqlite3_column_int64(s, 0), static_cast<uint64_t>(sqlite3_column_int64(s, 1)));
  }
  if (rc != SQLITE_DONE) {
    throw error(db_, description_, std::string("read ") + to_string(r) + " history sizes", rc);
  }
  return out;
}

}  // namespace netpulse::store
