#include "store/postgres_store.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/shared_library.hpp"
#include "store/json_text.hpp"

namespace netpulse::store {
namespace {

// libpq, loaded when the first PostgreSQL store opens (core/shared_library.hpp): every call
// goes through pq(), which throws std::runtime_error when it cannot be loaded; open() calls it
// first.
#define NETPULSE_PQ_FUNCTIONS(X) \
  X(PQclear)                     \
  X(PQcmdTuples)                 \
  X(PQconnectdbParams)           \
  X(PQconninfoFree)              \
  X(PQconninfoParse)             \
  X(PQdb)                        \
  X(PQenterPipelineMode)         \
  X(PQerrorMessage)              \
  X(PQexec)                      \
  X(PQexecPrepared)              \
  X(PQexitPipelineMode)          \
  X(PQfinish)                    \
  X(PQgetResult)                 \
  X(PQgetisnull)                 \
  X(PQgetlength)                 \
  X(PQgetvalue)                  \
  X(PQhost)                      \
  X(PQntuples)                   \
  X(PQpipelineSync)              \
  X(PQport)                      \
  X(PQprepare)                   \
  X(PQresultErrorField)          \
  X(PQresultErrorMessage)        \
  X(PQresultStatus)              \
  X(PQsendQueryPrepared)         \
  X(PQsetNoticeProcessor)        \
  X(PQstatus)                    \
  X(PQuser)

NETPULSE_LAZY_API(PqApi, pq, NETPULSE_LIBPQ_SONAME, "the PostgreSQL client library",
                  NETPULSE_PQ_FUNCTIONS)

// history's text columns collate "C", so origins order bytewise as in SQLite; the primary key
// answers history_index from the index, history_resolution_start retention.
// params is jsonb so that the unique key compares JSON values, not spellings; rows and detail are
// json, which validates but keeps the text as sent, so both stores return the same rows text.
// approximate (NULL when exact) came in issue 14: a table made by an older netpulse gains it, last
// as in a new table, through the DO block, which looks first so that a table that has it is not
// locked by ALTER TABLE at every connect.
// The advisory lock keeps two processes that start at once from racing on CREATE and ALTER.
constexpr const char* kSchema = R"sql(
SELECT pg_advisory_xact_lock(7303620211);
CREATE TABLE IF NOT EXISTS results (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  window_start BIGINT NOT NULL,
  window_end BIGINT NOT NULL,
  query TEXT NOT NULL,
  params JSONB NOT NULL CHECK (jsonb_typeof(params) = 'object'),
  records BIGINT NOT NULL,
  total_bytes BIGINT NOT NULL,
  keys BIGINT NOT NULL,
  "rows" JSON NOT NULL CHECK (json_typeof("rows") = 'array'),
  approximate JSON CHECK (json_typeof(approximate) = 'object'),
  UNIQUE (query, window_end, params)
);
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'results'::regclass
                 AND attname = 'approximate' AND NOT attisdropped) THEN
    ALTER TABLE results ADD COLUMN approximate JSON CHECK (json_typeof(approximate) = 'object');
  END IF;
END $$;
CREATE INDEX IF NOT EXISTS results_query_window_end ON results (query, window_end, id);
CREATE TABLE IF NOT EXISTS alerts (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  "time" BIGINT NOT NULL,
  detector TEXT NOT NULL,
  source TEXT NOT NULL,
  score DOUBLE PRECISION NOT NULL,
  detail JSON NOT NULL CHECK (json_typeof(detail) = 'object'),
  UNIQUE ("time", detector, source)
);
CREATE TABLE IF NOT EXISTS history (
  resolution TEXT COLLATE "C" NOT NULL,
  dimension TEXT COLLATE "C" NOT NULL,
  start BIGINT NOT NULL,
  origin TEXT COLLATE "C" NOT NULL,
  total_bytes BIGINT NOT NULL,
  total_records BIGINT NOT NULL,
  other_bytes BIGINT NOT NULL,
  other_records BIGINT NOT NULL,
  cut_bytes BIGINT NOT NULL,
  error_bytes BIGINT NOT NULL,
  size BIGINT NOT NULL,
  entries BYTEA NOT NULL,
  PRIMARY KEY (resolution, dimension, start, origin)
);
CREATE INDEX IF NOT EXISTS history_resolution_start ON history (resolution, start) INCLUDE (size);
)sql";

#define NP_RESULT_COLUMNS                                                              \
  "SELECT window_start, window_end, query, params::text, records, total_bytes, keys, " \
  "\"rows\"::text, approximate::text FROM results "
#define NP_ALERT_COLUMNS "SELECT \"time\", detector, source, score, detail::text FROM alerts "

struct Statement {
  const char* name;
  const char* sql;
};
constexpr Statement kPutResult = {
    "np_put_result",
    "INSERT INTO results (window_start, window_end, query, params, records, total_bytes, keys, "
    "\"rows\", approximate) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (query, window_end, params) DO UPDATE SET "
    "window_start = EXCLUDED.window_start, records = EXCLUDED.records, "
    "total_bytes = EXCLUDED.total_bytes, keys = EXCLUDED.keys, \"rows\" = EXCLUDED.\"rows\", "
    "approximate = EXCLUDED.approximate"};
constexpr Statement kPutAlert = {
    "np_put_alert",
    "INSERT INTO alerts (\"time\", detector, source, score, detail) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (\"time\", detector, source) DO UPDATE SET "
    "score = EXCLUDED.score, detail = EXCLUDED.detail"};
constexpr Statement kResultsOldest = {"np_results_oldest", NP_RESULT_COLUMNS
                                      "WHERE query = $1 AND window_end >= $2 AND window_end < $3 "
                                      "ORDER BY window_end, id LIMIT $4"};
constexpr Statement kResultsNewest = {"np_results_newest", NP_RESULT_COLUMNS
                                      "WHERE query = $1 AND window_end >= $2 AND window_end < $3 "
                                      "ORDER BY window_end DESC, id DESC LIMIT $4"};
constexpr Statement kLatest = {
    "np_latest", NP_RESULT_COLUMNS "WHERE query = $1 ORDER BY window_end DESC, id DESC LIMIT 1"};
constexpr Statement kDelete = {"np_delete", "DELETE FROM results WHERE query = $1"};
constexpr Statement kAlerts = {
    "np_alerts", NP_ALERT_COLUMNS "WHERE \"time\" >= $1 ORDER BY \"time\", id LIMIT $2"};
constexpr Statement kLatestAlerts = {"np_latest_alerts",
                                     NP_ALERT_COLUMNS "ORDER BY \"time\" DESC, id DESC LIMIT $1"};
constexpr Statement kCount = {"np_count", "SELECT count(*) FROM results WHERE query = $1"};
constexpr Statement kCountAll = {"np_count_all", "SELECT count(*) FROM results"};
#define NP_HISTORY_COLUMNS                                                                \
  "SELECT h.resolution, h.dimension, h.start, h.origin, h.total_bytes, h.total_records, " \
  "h.other_bytes, h.other_records, h.cut_bytes, h.error_bytes, h.entries FROM "
constexpr Statement kPutHistory = {
    "np_put_history",
    "INSERT INTO history (resolution, dimension, start, origin, total_bytes, total_records, "
    "other_bytes, other_records, cut_bytes, error_bytes, size, entries) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) "
    "ON CONFLICT (resolution, dimension, start, origin) DO UPDATE SET "
    "total_bytes = EXCLUDED.total_bytes, total_records = EXCLUDED.total_records, "
    "other_bytes = EXCLUDED.other_bytes, other_records = EXCLUDED.other_records, "
    "cut_bytes = EXCLUDED.cut_bytes, error_bytes = EXCLUDED.error_bytes, size = EXCLUDED.size, "
    "entries = EXCLUDED.entries"};
constexpr Statement kHistoryIndex = {
    "np_history_index",
    "SELECT start, origin FROM history WHERE resolution = $1 AND dimension = $2 "
    "AND start >= $3 AND start < $4 ORDER BY start, origin"};
// Many keys in one round trip: the keys as three arrays, joined in their order.
constexpr Statement kHistoryGet = {
    "np_history_get", NP_HISTORY_COLUMNS
    "unnest($1::text[], $2::bigint[], $3::text[]) WITH ORDINALITY AS k(resolution, start, "
    "origin, n) JOIN history h ON h.resolution = k.resolution AND h.dimension = $4 "
    "AND h.start = k.start AND h.origin = k.origin ORDER BY k.n"};
constexpr Statement kHistoryRange = {
    "np_history_range", NP_HISTORY_COLUMNS
    "history h WHERE h.resolution = $1 AND h.dimension = $2 AND h.origin = $3 "
    "AND h.start >= $4 AND h.start < $5 ORDER BY h.start"};
constexpr Statement kHistoryDelete = {"np_history_delete",
                                      "DELETE FROM history WHERE resolution = $1 AND start < $2"};
constexpr Statement kHistoryUsage = {
    "np_history_usage",
    "SELECT count(*), coalesce(sum(size), 0)::bigint, min(start), max(start) FROM history "
    "WHERE resolution = $1"};
constexpr Statement kHistorySizes = {
    "np_history_sizes",
    "SELECT start, sum(size)::bigint FROM history WHERE resolution = $1 GROUP BY start "
    "ORDER BY start"};
constexpr Statement kStatements[] = {
    kPutResult,  kPutAlert,     kResultsOldest, kResultsNewest, kLatest,      kDelete,
    kAlerts,     kLatestAlerts, kCount,         kCountAll,      kPutHistory,  kHistoryIndex,
    kHistoryGet, kHistoryRange, kHistoryDelete, kHistoryUsage,  kHistorySizes};

std::string one_line(std::string_view text) {
  std::string out;
  bool gap = false;
  for (char c : text) {
    if (c == '\n' || c == '\r') {
      gap = true;
      continue;
    }
    if (gap && (c == ' ' || c == '\t')) continue;
    if (gap && !out.empty()) out += "; ";
    gap = false;
    out += c;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

// Errors about the data itself are kRejected: class 22 (data exception: bad JSON, out of range),
// 23 (integrity: a CHECK on the JSON type), 54 (program limit: a params value too large to
// index). 53100 (disk_full) is kFull. Everything else, including errors without a SQLSTATE
// (lost connection), may pass.
StoreError::Kind kind_of(const PGresult* r) {
  const char* state = r ? pq().PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (state == nullptr || std::strlen(state) < 2) return StoreError::Kind::kUnavailable;
  if (std::strcmp(state, "53100") == 0) return StoreError::Kind::kFull;
  const std::string_view cls(state, 2);
  if (cls == "22" || cls == "23" || cls == "54") return StoreError::Kind::kRejected;
  return StoreError::Kind::kUnavailable;
}

void silent_notice(void*, const char*) {}

// The passwords the URI may carry: libpq's own parse, and by hand for a URI libpq cannot parse
// (its error message then quotes the URI).
std::vector<std::string> passwords_of(const std::string& uri) {
  std::vector<std::string> out;
  if (PQconninfoOption* options = pq().PQconninfoParse(uri.c_str(), nullptr)) {
    for (PQconninfoOption* o = options; o->keyword; ++o) {
      if (std::strcmp(o->keyword, "password") == 0 && o->val && *o->val) out.push_back(o->val);
    }
    pq().PQconninfoFree(options);
  }
  const size_t scheme = uri.find("://");
  if (scheme != std::string::npos) {
    const size_t start = scheme + 3;
    const size_t at = uri.find('@', start);
    const size_t colon = uri.find(':', start);
    if (at != std::string::npos && colon < at && uri.find('/', start) > at) {
      out.push_back(uri.substr(colon + 1, at - colon - 1));
    }
  }
  for (size_t p = 0; (p = uri.find("password=", p)) != std::string::npos;) {
    p += 9;
    const size_t e = uri.find_first_of("& ", p);
    out.push_back(uri.substr(p, e == std::string::npos ? std::string::npos : e - p));
  }
  return out;
}

// libpq echoes a URI it cannot parse; never let a password through.
std::string scrub(std::string text, const std::string& uri) {
  for (const std::string& password : passwords_of(uri)) {
    if (password.empty()) continue;
    for (size_t p = 0; (p = text.find(password, p)) != std::string::npos;) {
      text.replace(p, password.size(), "***");
      p += 3;
    }
  }
  return text;
}

pg_conn* connect(const std::string& uri) {
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "netpulse", uri.c_str(), nullptr};
  pg_conn* conn = pq().PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn) pq().PQsetNoticeProcessor(conn, silent_notice, nullptr);
  return conn;
}

// Text-format parameter values: each number written into its own NUL-terminated slot.
class Numbers {
 public:
  const char* put(size_t slot, int64_t v) {
    auto [end, ec] = std::to_chars(buf_[slot], buf_[slot] + kSize - 1, v);
    *end = '\0';
    return buf_[slot];
  }
  const char* put(size_t slot, double v) {
    auto [end, ec] = std::to_chars(buf_[slot], buf_[slot] + kSize - 1, v);
    *end = '\0';
    return buf_[slot];
  }

 private:
  static constexpr size_t kSize = 32;
  char buf_[8][kSize];
};

int64_t to_int64(const PGresult* r, int row, int col) {
  const char* p = pq().PQgetvalue(r, row, col);
  int64_t v = 0;
  std::from_chars(p, p + pq().PQgetlength(r, row, col), v);
  return v;
}

std::string to_string(const PGresult* r, int row, int col) {
  return std::string(pq().PQgetvalue(r, row, col),
                     static_cast<size_t>(pq().PQgetlength(r, row, col)));
}

StoredResult read_result(const PGresult* r, int row) {
  StoredResult out;
  out.window_start = to_int64(r, row, 0);
  out.window_end = to_int64(r, row, 1);
  out.query = to_string(r, row, 2);
  out.params_json = minify_json(to_string(r, row, 3));  // jsonb prints {"T": 10, "k": 3}
  out.records = static_cast<uint64_t>(to_int64(r, row, 4));
  out.total_bytes = static_cast<uint64_t>(to_int64(r, row, 5));
  out.keys = static_cast<uint64_t>(to_int64(r, row, 6));
  out.rows_json = to_string(r, row, 7);
  if (!pq().PQgetisnull(r, row, 8)) out.approximate_json = to_string(r, row, 8);
  return out;
}

Alert read_alert(const PGresult* r, int row) {
  Alert a;
  a.time = to_int64(r, row, 0);
  a.detector = to_string(r, row, 1);
  a.source = to_string(r, row, 2);
  const char* p = pq().PQgetvalue(r, row, 3);
  std::from_chars(p, p + pq().PQgetlength(r, row, 3), a.score);
  a.detail_json = to_string(r, row, 4);
  return a;
}

// limit 0 is "no limit": a NULL LIMIT.
struct Limit {
  explicit Limit(size_t limit) {
    if (limit != 0) {
      auto [end, ec] =
          std::to_chars(text, text + sizeof text - 1, std::min<size_t>(limit, INT64_MAX));
      *end = '\0';
    }
    value = limit == 0 ? nullptr : text;
  }
  char text[24] = {};
  const char* value;
};

}  // namespace

class PostgresStore::Result {
 public:
  explicit Result(PGresult* r) : r_(r) {}
  const PGresult* get() const { return r_.get(); }
  int rows() const { return pq().PQntuples(r_.get()); }

 private:
  struct Clear {
    void operator()(PGresult* r) const { pq().PQclear(r); }
  };
  std::unique_ptr<PGresult, Clear> r_;
};

std::string redact_uri(std::string_view uri) {
  std::string out(uri);
  const size_t scheme = out.find("://");
  if (scheme != std::string::npos) {
    const size_t start = scheme + 3;
    size_t end = out.find_first_of("/?", start);
    if (end == std::string::npos) end = out.size();
    const size_t at = out.rfind('@', end);
    if (at != std::string::npos && at >= start) {
      const size_t colon = out.find(':', start);
      if (colon < at) out.erase(colon, at - colon);
    }
  }
  for (size_t p = 0; (p = out.find("password=", p)) != std::string::npos;) {
    const size_t v = p + 9;
    size_t e = out.find_first_of("& ", v);
    if (e == std::string::npos) e = out.size();
    out.replace(v, e - v, "***");
    p = v + 3;
  }
  return out;
}

std::unique_ptr<PostgresStore> PostgresStore::open(const std::string& uri, std::string* why) {
  std::unique_ptr<PostgresStore> store(new PostgresStore());
  store->uri_ = uri;
  store->description_ = redact_uri(uri);
  if (const core::Status s = core::load_library(pq); !s.ok()) {
    if (why) *why = store->description_ + ": " + s.message();
    return nullptr;
  }
  store->conn_ = connect(uri);
  if (store->conn_ == nullptr) {
    if (why) *why = store->description_ + ": out of memory";
    return nullptr;
  }
  if (pq().PQstatus(store->conn_) != CONNECTION_OK) {
    if (why) *why = store->connection_error("connect").what();
    return nullptr;
  }
  const char* host = pq().PQhost(store->conn_);
  store->description_ = std::string("postgresql://") + pq().PQuser(store->conn_) + "@" +
                        (host ? host : "") + ":" + pq().PQport(store->conn_) + "/" +
                        pq().PQdb(store->conn_);
  try {
    store->ensure_ready();
  } catch (const StoreError& e) {
    if (why) *why = e.what();
    return nullptr;
  }
  return store;
}

PostgresStore::~PostgresStore() {
  if (conn_) pq().PQfinish(conn_);
}

StoreError PostgresStore::connection_error(std::string_view doing) const {
  std::string what = description_ + ": " + std::string(doing) + ": ";
  what += conn_ ? one_line(pq().PQerrorMessage(conn_)) : "out of memory";
  return StoreError(StoreError::Kind::kUnavailable, scrub(what, uri_));
}

namespace {

StoreError result_error(const std::string& description, std::string_view doing, const PGresult* r,
                        pg_conn* conn) {
  std::string what = description + ": " + std::string(doing) + ": ";
  const char* primary = r ? pq().PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  if (primary) {
    what += primary;
    if (const char* detail = pq().PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) {
      what += " (" + one_line(detail) + ")";
    }
  } else {
    what += one_line(r ? pq().PQresultErrorMessage(r) : pq().PQerrorMessage(conn));
    if (what.back() == ' ') what += one_line(pq().PQerrorMessage(conn));
  }
  return StoreError(kind_of(r), what);
}

}  // namespace

void PostgresStore::ensure_ready() {
  if (broken_ || pq().PQstatus(conn_) != CONNECTION_OK) {
    // A fresh connection rather than PQreset: it also leaves any half-read pipeline behind.
    pq().PQfinish(conn_);
    conn_ = connect(uri_);
    broken_ = false;
    prepared_ = false;
    if (conn_ == nullptr || pq().PQstatus(conn_) != CONNECTION_OK) {
      broken_ = true;
      throw connection_error("connect");
    }
  }
  if (prepared_) return;
  // The schema again after a reconnect: the database may have been recreated meanwhile.
  Result schema(pq().PQexec(conn_, kSchema));
  if (pq().PQresultStatus(schema.get()) != PGRES_COMMAND_OK &&
      pq().PQresultStatus(schema.get()) != PGRES_TUPLES_OK) {
    if (pq().PQstatus(conn_) != CONNECTION_OK) broken_ = true;
    throw result_error(description_, "create schema", schema.get(), conn_);
  }
  for (const Statement& s : kStatements) {
    Result r(pq().PQprepare(conn_, s.name, s.sql, 0, nullptr));
    if (pq().PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      broken_ = true;  // some statements may exist already: start over on a new connection
      throw result_error(description_, "prepare", r.get(), conn_);
    }
  }
  prepared_ = true;
}

PostgresStore::Result PostgresStore::exec(const char* statement, int n, const char* const* values,
                                          std::string_view doing) {
  return exec(statement, n, values, 0, doing);
}

PostgresStore::Result PostgresStore::exec(const char* statement, int n, const char* const* values,
                                          int result_format, std::string_view doing) {
  // One retry on a fresh connection when the old one turns out to be gone (server restarted
  // since the last call); every statement here is safe to run twice.
  for (int attempt = 0;; ++attempt) {
    ensure_ready();
    Result r(pq().PQexecPrepared(conn_, statement, n, values, nullptr, nullptr, result_format));
    const ExecStatusType status = pq().PQresultStatus(r.get());
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return r;
    if (pq().PQstatus(conn_) != CONNECTION_OK) {
      broken_ = true;
      if (attempt == 0) continue;
    }
    throw result_error(description_, doing, r.get(), conn_);
  }
}

void PostgresStore::put_results(std::span<const StoredResult> results) {
  put(results, {});
}

void PostgresStore::put_alerts(std::span<const Alert> alerts) {
  put({}, alerts);
}

void PostgresStore::put(std::span<const StoredResult> results, std::span<const Alert> alerts) {
  if (results.empty() && alerts.empty()) return;
  for (int attempt = 0;; ++attempt) {
    ensure_ready();
    // All upserts, then one Sync: the server runs them as one implicit transaction, and an
    // error rolls back the whole call. Results are read only after the Sync (libpq buffers
    // replies while sending, so a large pipeline cannot deadlock in blocking mode).
    if (pq().PQenterPipelineMode(conn_) != 1) {
      broken_ = true;
      throw connection_error("enter pipeline mode");
    }
    Numbers numbers;
    std::string params;
    size_t sent = 0;
    bool connection_ok = true;
    for (const StoredResult& r : results) {
      params = canonical_object(r.params_json);
      // A NULL parameter (nullptr) stores NULL: an exact result.
      const char* values[9] = {numbers.put(0, r.window_start),
                               numbers.put(1, r.window_end),
                               r.query.c_str(),
                               params.c_str(),
                               numbers.put(2, static_cast<int64_t>(r.records)),
                               numbers.put(3, static_cast<int64_t>(r.total_bytes)),
                               numbers.put(4, static_cast<int64_t>(r.keys)),
                               r.rows_json.c_str(),
                               r.approximate_json ? r.approximate_json->c_str() : nullptr};
      if (!pq().PQsendQueryPrepared(conn_, kPutResult.name, 9, values, nullptr, nullptr, 0)) {
        connection_ok = false;
        break;
      }
      ++sent;
    }
    for (const Alert& a : alerts) {
      if (!connection_ok) break;
      const char* values[5] = {numbers.put(0, a.time), a.detector.c_str(), a.source.c_str(),
                               numbers.put(1, a.score), a.detail_json.c_str()};
      if (!pq().PQsendQueryPrepared(conn_, kPutAlert.name, 5, values, nullptr, nullptr, 0)) {
        connection_ok = false;
        break;
      }
      ++sent;
    }
    if (connection_ok && pq().PQpipelineSync(conn_) != 1) connection_ok = false;

    std::optional<StoreError> first_error;
    size_t ends = 0;  // libpq ends each statement's results with a NULL
    while (connection_ok) {
      PGresult* raw = pq().PQgetResult(conn_);
      if (raw == nullptr) {
        if (pq().PQstatus(conn_) != CONNECTION_OK || ++ends > sent) connection_ok = false;
        continue;
      }
      Result res(raw);
      const ExecStatusType status = pq().PQresultStatus(raw);
      if (status == PGRES_PIPELINE_SYNC) break;
      if (status == PGRES_COMMAND_OK || status == PGRES_PIPELINE_ABORTED) continue;
      if (!first_error) first_error = result_error(description_, "store", raw, conn_);
      if (pq().PQstatus(conn_) != CONNECTION_OK) connection_ok = false;
    }
    if (connection_ok && pq().PQexitPipelineMode(conn_) == 1) {
      if (first_error) throw *first_error;
      return;
    }
    broken_ = true;
    // Nothing was committed, or everything was; the upserts make a second run harmless.
    if (attempt == 0) continue;
    throw first_error ? *first_error : connection_error("store");
  }
}

std::vector<StoredResult> PostgresStore::results(const ResultFilter& filter) {
  const bool newest = filter.take == ResultFilter::Take::kNewest;
  Numbers numbers;
  const Limit limit(filter.limit);
  const char* values[4] = {filter.query.c_str(), numbers.put(0, filter.since.value_or(INT64_MIN)),
                           numbers.put(1, filter.until.value_or(INT64_MAX)), limit.value};
  const Result r = exec(newest ? kResultsNewest.name : kResultsOldest.name, 4, values,
                        "read " + filter.query + " results");
  std::vector<StoredResult> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_result(r.get(), i));
  if (newest) std::reverse(out.begin(), out.end());
  return out;
}

std::optional<StoredResult> PostgresStore::latest(std::string_view query) {
  const std::string q(query);
  const char* values[1] = {q.c_str()};
  const Result r = exec(kLatest.name, 1, values, "read latest " + q + " result");
  if (r.rows() == 0) return std::nullopt;
  return read_result(r.get(), 0);
}

uint64_t PostgresStore::delete_results(std::string_view query) {
  const std::string q(query);
  const char* values[1] = {q.c_str()};
  const Result r = exec(kDelete.name, 1, values, "delete " + q + " results");
  const char* n = pq().PQcmdTuples(const_cast<PGresult*>(r.get()));
  uint64_t deleted = 0;
  std::from_chars(n, n + std::strlen(n), deleted);
  return deleted;
}

std::vector<Alert> PostgresStore::alerts(std::optional<core::TimeMs> since, size_t limit) {
  Numbers numbers;
  const Limit lim(limit);
  const char* values[2] = {numbers.put(0, since.value_or(INT64_MIN)), lim.value};
  const Result r = exec(kAlerts.name, 2, values, "read alerts");
  std::vector<Alert> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_alert(r.get(), i));
  return out;
}

std::vector<Alert> PostgresStore::latest_alerts(size_t limit) {
  const Limit lim(limit);
  const char* values[1] = {lim.value};
  const Result r = exec(kLatestAlerts.name, 1, values, "read alerts");
  std::vector<Alert> out;
  out.reserve(static_cast<size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_alert(r.get(), i));
  std::reverse(out.begin(), out.end());
  return out;
}

uint64_t PostgresStore::count_results(std::string_view query) {
  const std::string q(query);
  const char* values[1] = {q.c_str()};
  const Result r = query.empty() ? exec(kCountAll.name, 0, nullptr, "count results")
                                 : exec(kCount.name, 1, values, "count results");
  return static_cast<uint64_t>(to_int64(r.get(), 0, 0));
}

namespace {

std::string bucket_name(Resolution r, Dimension d, core::TimeMs start, std::string_view origin) {
  std::string name =
      std::string(to_string(r)) + " " + to_string(d) + " bucket " + core::format_iso8601(start);
  if (!origin.empty()) name += " of origin " + std::string(origin);
  return name;
}

// Binary-format values (history reads): BIGINT is 8 bytes big-endian, TEXT and BYTEA raw.
int64_t binary_int64(const PGresult* r, int row, int col) {
  const auto* p = reinterpret_cast<const unsigned char*>(pq().PQgetvalue(r, row, col));
  uint64_t v = 0;
  if (pq().PQgetlength(r, row, col) == 8) {
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  }
  return static_cast<int64_t>(v);
}

std::vector<HistoryBucket> read_buckets(const PGresult* r, int rows,
                                        const std::string& description) {
  std::vector<HistoryBucket> out;
  out.reserve(static_cast<size_t>(rows));
  for (int i = 0; i < rows; ++i) {
    HistoryBucket b;
    const std::string resolution = to_string(r, i, 0);
    const std::string dimension = to_string(r, i, 1);
    b.start = binary_int64(r, i, 2);
    b.origin = to_string(r, i, 3);
    const auto res = parse_resolution(resolution);
    const auto dim = parse_dimension(dimension);
    const std::string_view blob(pq().PQgetvalue(r, i, 10),
                                static_cast<size_t>(pq().PQgetlength(r, i, 10)));
    if (!res || !dim || !decode_entries(blob, b.entries)) {
      throw StoreError(StoreError::Kind::kRejected,
                       description + ": read " + resolution + " " + dimension + " bucket " +
                           core::format_iso8601(b.start) + " of origin \"" + b.origin +
                           "\": malformed stored bucket");
    }
    b.resolution = *res;
    b.dimension = *dim;
    b.total_bytes = static_cast<uint64_t>(binary_int64(r, i, 4));
    b.total_records = static_cast<uint64_t>(binary_int64(r, i, 5));
    b.other_bytes = static_cast<uint64_t>(binary_int64(r, i, 6));
    b.other_records = static_cast<uint64_t>(binary_int64(r, i, 7));
    b.cut_bytes = static_cast<uint64_t>(binary_int64(r, i, 8));
    b.error_bytes = static_cast<uint64_t>(binary_int64(r, i, 9));
    out.push_back(std::move(b));
  }
  return out;
}

// An array literal of text elements: {"a","b \"c\""}.
std::string text_array(const std::vector<std::string_view>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace

void PostgresStore::run_pipeline(const char* statement, int n, size_t rows,
                                 const std::function<void(size_t, const char**, int*, int*)>& bind,
                                 std::string_view doing) {
  if (rows == 0) return;
  std::vector<const char*> values(static_cast<size_t>(n));
  std::vector<int> lengths(static_cast<size_t>(n)), formats(static_cast<size_t>(n));
  for (int attempt = 0;; ++attempt) {
    ensure_ready();
    // As put(): every statement, then one Sync, so the server runs them as one implicit
    // transaction and an error rolls back the whole call.
    if (pq().PQenterPipelineMode(conn_) != 1) {
      broken_ = true;
      throw connection_error("enter pipeline mode");
    }
    size_t sent = 0;
    bool connection_ok = true;
    for (size_t row = 0; row < rows; ++row) {
      std::fill(lengths.begin(), lengths.end(), 0);
      std::fill(formats.begin(), formats.end(), 0);
      bind(row, values.data(), lengths.data(), formats.data());
      if (!pq().PQsendQueryPrepared(conn_, statement, n, values.data(), lengths.data(),
                                    formats.data(), 0)) {
        connection_ok = false;
        break;
      }
      ++sent;
    }
    if (connection_ok && pq().PQpipelineSync(conn_) != 1) connection_ok = false;

    std::optional<StoreError> first_error;
    size_t ends = 0;
    while (connection_ok) {
      PGresult* raw = pq().PQgetResult(conn_);
      if (raw == nullptr) {
        if (pq().PQstatus(conn_) != CONNECTION_OK || ++ends > sent) connection_ok = false;
        continue;
      }
      Result res(raw);
      const ExecStatusType status = pq().PQresultStatus(raw);
      if (status == PGRES_PIPELINE_SYNC) break;
      if (status == PGRES_COMMAND_OK || status == PGRES_PIPELINE_ABORTED) continue;
      if (!first_error) first_error = result_error(description_, doing, raw, conn_);
      if (pq().PQstatus(conn_) != CONNECTION_OK) connection_ok = false;
    }
    if (connection_ok && pq().PQexitPipelineMode(conn_) == 1) {
      if (first_error) throw *first_error;
      return;
    }
    broken_ = true;
    if (attempt == 0) continue;  // upserts: a second run is harmless
    throw first_error ? *first_error : connection_error(doing);
  }
}

void PostgresStore::put_history(std::span<const HistoryBucket> buckets) {
  if (buckets.empty()) return;
  for (const HistoryBucket& b : buckets) {
    for (uint64_t v : {b.total_bytes, b.total_records, b.other_bytes, b.other_records, b.cut_bytes,
                       b.error_bytes}) {
      if (v > static_cast<uint64_t>(INT64_MAX)) {
        throw StoreError(StoreError::Kind::kRejected,
                         description_ + ": store " +
                             bucket_name(b.resolution, b.dimension, b.start, b.origin) +
                             ": a counter above 2^63 - 1");
      }
    }
  }
  std::vector<std::string> blobs;
  blobs.reserve(buckets.size());
  for (const HistoryBucket& b : buckets) blobs.push_back(encode_entries(b.entries));
  Numbers numbers;
  run_pipeline(
      kPutHistory.name, 12, buckets.size(),
      [&](size_t row, const char** values, int* lengths, int* formats) {
        const HistoryBucket& b = buckets[row];
        values[0] = to_string(b.resolution);
        values[1] = to_string(b.dimension);
        values[2] = numbers.put(0, b.start);
        values[3] = b.origin.c_str();
        values[4] = numbers.put(1, static_cast<int64_t>(b.total_bytes));
        values[5] = numbers.put(2, static_cast<int64_t>(b.total_records));
        values[6] = numbers.put(3, static_cast<int64_t>(b.other_bytes));
        values[7] = numbers.put(4, static_cast<int64_t>(b.other_records));
        values[8] = numbers.put(5, static_cast<int64_t>(b.cut_bytes));
        values[9] = numbers.put(6, static_cast<int64_t>(b.error_bytes));
        values[10] = numbers.put(7, static_cast<int64_t>(blobs[row].size() + kHistoryRowOverhead));
        values[11] = blobs[row].data();  // bytea in binary: no escaping, no hex
        lengths[11] = static_cast<int>(blobs[row].size());
        formats[11] = 1;
      },
      buckets.size() == 1 ? "store " + bucket_name(buckets[0].resolution, buckets[0].dimension,
                                                   buckets[0].start, buckets[0].origin)
                          : "store " + std::to_string(buckets.size()) + " history buckets");
}

std::vector<HistoryKey> PostgresStore::history_index(Dimension d, core::TimeMs from,
                                                     core::TimeMs to) {
  std::vector<HistoryKey> out;
  Numbers numbers;
  for (Resolution r : kResolutions) {
    const char* values[4] = {to_string(r), to_string(d), numbers.put(0, from), numbers.put(1, to)};
    const Result res = exec(kHistoryIndex.name, 4, values,
                            std::string("read the ") + to_string(d) + " history index");
    for (int i = 0; i < res.rows(); ++i) {
      out.push_back({r, to_int64(res.get(), i, 0), to_string(res.get(), i, 1)});
    }
  }
  return out;
}

std::vector<HistoryBucket> PostgresStore::history_buckets(Dimension d,
                                                          std::span<const HistoryKey> keys) {
  if (keys.empty()) return {};
  std::vector<std::string_view> resolutions, origins;
  std::string starts = "{";
  for (const HistoryKey& k : keys) {
    resolutions.push_back(to_string(k.resolution));
    origins.push_back(k.origin);
    if (starts.size() > 1) starts += ',';
    starts += std::to_string(k.start);
  }
  starts += '}';
  const std::string r = text_array(resolutions), o = text_array(origins);
  const char* values[4] = {r.c_str(), starts.c_str(), o.c_str(), to_string(d)};
  const Result res = exec(kHistoryGet.name, 4, values, 1,
                          std::string("read ") + to_string(d) + " history buckets");
  return read_buckets(res.get(), res.rows(), description_);
}

std::vector<HistoryBucket> PostgresStore::history_range(Resolution r, Dimension d,
                                                        std::string_view origin, core::TimeMs from,
                                                        core::TimeMs to) {
  Numbers numbers;
  const std::string o(origin);
  const char* values[5] = {to_string(r), to_string(d), o.c_str(), numbers.put(0, from),
                           numbers.put(1, to)};
  const Result res = exec(kHistoryRange.name, 5, values, 1,
                          std::string("read ") + to_string(r) + " " + to_string(d) + " history");
  return read_buckets(res.get(), res.rows(), description_);
}

uint64_t PostgresStore::delete_history(Resolution r, core::TimeMs before) {
  Numbers numbers;
  const char* values[2] = {to_string(r), numbers.put(0, before)};
  const Result res =
      exec(kHistoryDelete.name, 2, values, std::string("delete ") + to_string(r) + " history");
  const char* n = pq().PQcmdTuples(const_cast<PGresult*>(res.get()));
  uint64_t deleted = 0;
  std::from_chars(n, n + std::strlen(n), deleted);
  return deleted;
}

HistoryUsage PostgresStore::history_usage(Resolution r) {
  const char* values[1] = {to_string(r)};
  const Result res =
      exec(kHistoryUsage.name, 1, values, std::string("read ") + to_string(r) + " history usage");
  HistoryUsage u;
  u.buckets = static_cast<uint64_t>(to_int64(res.get(), 0, 0));
  u.bytes = static_cast<uint64_t>(to_int64(res.get(), 0, 1));
  if (!pq().PQgetisnull(res.get(), 0, 2)) u.oldest = to_int64(res.get(), 0, 2);
  if (!pq().PQgetisnull(res.get(), 0, 3)) u.newest = to_int64(res.get(), 0, 3);
  return u;
}

std::vector<std::pair<core::TimeMs, uint64_t>> PostgresStore::history_sizes(Resolution r) {
  const char* values[1] = {to_string(r)};
  const Result res =
      exec(kHistorySizes.name, 1, values, std::string("read ") + to_string(r) + " history sizes");
  std::vector<std::pair<core::TimeMs, uint64_t>> out;
  out.reserve(static_cast<size_t>(res.rows()));
  for (int i = 0; i < res.rows(); ++i) {
    out.emplace_back(to_int64(res.get(), i, 0), static_cast<uint64_t>(to_int64(res.get(), i, 1)));
  }
  return out;
}

}  // namespace netpulse::store
