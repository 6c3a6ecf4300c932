// What is particular to the SQLite store: the file, its WAL mode and schema, the URI forms, and
// readers that do not wait for a writer's open transaction.
#include "store/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "store_test_support.hpp"

namespace netpulse::store {
namespace {

using testing::make_result;

// A raw connection to the same file, as another process (or the sqlite3 shell) would have.
class RawDb {
 public:
  explicit RawDb(const std::string& path) { sqlite3_open(path.c_str(), &db_); }
  ~RawDb() { sqlite3_close(db_); }
  std::string value(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    }
    sqlite3_finalize(s);
    return out;
  }
  // EXPLAIN QUERY PLAN's details, joined.
  std::string plan(const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &s, nullptr) ==
        SQLITE_OK) {
      while (sqlite3_step(s) == SQLITE_ROW) {
        out += reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
        out += "; ";
      }
    }
    sqlite3_finalize(s);
    return out;
  }
  int exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_ = nullptr;
};

TEST(SqliteStore, OpensInWalModeWithTheDocumentedSchema) {
  testing::TempDir dir;
  const std::string path = dir.file("netpulse.db");
  auto store = SqliteStore::open(path, nullptr);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->journal_mode(), "wal");
  EXPECT_EQ(store->describe(), "sqlite:" + path + " (WAL)");
  store->put_results(std::vector{make_result("ip-topk", 10000)});

  RawDb raw(path);
  EXPECT_EQ(raw.value("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.value("PRAGMA user_version"), "2");
  EXPECT_EQ(raw.value("SELECT group_concat(name, ',') FROM pragma_table_info('results')"),
            "id,window_start,window_end,query,params,records,total_bytes,keys,rows,approximate");
  EXPECT_EQ(raw.value("SELECT \"notnull\" FROM pragma_table_info('results') "
                      "WHERE name = 'approximate'"),
            "0");
  EXPECT_EQ(raw.value("SELECT approximate IS NULL FROM results"), "1");  // an exact result
  EXPECT_EQ(raw.value("SELECT group_concat(name, ',') FROM pragma_table_info('alerts')"),
            "id,time,detector,source,score,detail");
  EXPECT_EQ(raw.value("SELECT group_concat(name, ',') FROM "
                      "pragma_index_info('results_query_window_end')"),
            "query,window_end");
  // Times are integer milliseconds; JSON columns work with SQLite's JSON functions.
  EXPECT_EQ(raw.value("SELECT window_end FROM results"), "10000");
  EXPECT_EQ(raw.value("SELECT strftime('%Y-%m-%dT%H:%M:%fZ', window_end / 1000.0, 'unixepoch') "
                      "FROM results"),
            "1970-01-01T00:00:10.000Z");
  EXPECT_EQ(raw.value("SELECT json_extract(params, '$.k') FROM results"), "3");
  EXPECT_EQ(raw.value("SELECT json_extract(rows, '$[0].key') FROM results"), "10.0.0.1");
  // The API's range read walks the (query, window_end) index, with no sort step.
  const std::string plan = raw.plan(
      "SELECT * FROM results WHERE query = 'ip-topk' AND window_end >= 0 AND "
      "window_end < 100 ORDER BY window_end, id LIMIT 10");
  EXPECT_NE(plan.find("USING INDEX results_query_window_end"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("TEMP B-TREE"), std::string::npos) << plan;
}

// sqlite_memory_used (netpulse_sqlite_memory_bytes) counts what a connection holds, and the page
// cache stops growing at about 2 MiB however large the file: the soak's resident memory rises
// by that much per connection while a new database fills, then stays.
TEST(SqliteStore, MemoryUsedIsCountedAndBoundedByThePageCache) {
  testing::TempDir dir;
  const uint64_t before = sqlite_memory_used();
  auto store = SqliteStore::open(dir.file("netpulse.db"), nullptr);
  ASSERT_NE(store, nullptr);
  const uint64_t opened = sqlite_memory_used();
  EXPECT_GT(opened, before);
  uint64_t most = 0;
  for (int batch = 0; batch < 40; ++batch) {
    std::vector<StoredResult> results;
    for (int i = 0; i < 1000; ++i) {
      StoredResult r = make_result("ip-topk", (batch * 1000 + i) * 1000);
      r.rows_json = R"([{"key":")" + std::string(400, 'a') + R"(","bytes":1}])";  // 20 MB in all
      results.push_back(std::move(r));
    }
    store->put_results(results);
    most = std::max(most, sqlite_memory_used());
  }
  ResultFilter all;
  all.query = "ip-topk";
  all.limit = 100000;
  EXPECT_EQ(store->results(all).size(), 40000u);  // every page read once more
  most = std::max(most, sqlite_memory_used());
  RawDb raw(dir.file("netpulse.db"));
  EXPECT_GT(std::stoll(raw.value("PRAGMA page_count")) * std::stoll(raw.value("PRAGMA page_size")),
            16ll << 20);
  EXPECT_GT(most, opened + (1u << 20));          // the cache filled
  EXPECT_LT(most, opened + (4u << 20)) << most;  // and stopped near its 2 MiB
  store.reset();
  EXPECT_LT(sqlite_memory_used(), opened);  // closing frees it
}

TEST(SqliteStore, UriForms) {
  testing::TempDir dir;
  const std::string path = dir.file("a.db");
  std::string why;
  for (const std::string& uri : {"sqlite:" + path, path, "sqlite://" + path}) {
    auto store = open_store(uri, &why);
    ASSERT_NE(store, nullptr) << uri << ": " << why;
    EXPECT_EQ(store->describe(), "sqlite:" + path + " (WAL)") << uri;
  }
  EXPECT_EQ(open_store("mysql://localhost/x", &why), nullptr);
  EXPECT_NE(why.find("unknown"), std::string::npos) << why;
  EXPECT_EQ(open_store("sqlite:", &why), nullptr);
  EXPECT_NE(why.find("no file name"), std::string::npos) << why;
  EXPECT_EQ(open_store("sqlite:" + dir.file("missing/dir/x.db"), &why), nullptr);
  EXPECT_NE(why.find(dir.file("missing/dir/x.db")), std::string::npos) << why;
  EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  auto memory = open_store("sqlite::memory:", &why);
  ASSERT_NE(memory, nullptr) << why;
  memory->put_results(std::vector{make_result("ip-topk", 1)});
  EXPECT_EQ(memory->count_results(""), 1u);
}

// The results table as netpulse wrote it before issue 14 (schema version 1), verbatim.
constexpr const char* kVersion1Schema = R"sql(
CREATE TABLE results (
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
  UNIQUE (query, window_end, params)
);
CREATE INDEX results_query_window_end ON results (query, window_end);
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY,
  "time" INTEGER NOT NULL,
  detector TEXT NOT NULL,
  source TEXT NOT NULL,
  score REAL NOT NULL,
  detail TEXT NOT NULL
    CHECK (CASE WHEN json_valid(detail) THEN json_type(detail) = 'object' ELSE 0 END),
  UNIQUE ("time", detector, source)
);
PRAGMA user_version = 1;
INSERT INTO results (window_start, window_end, query, params, records, total_bytes, keys, "rows")
  VALUES (0, 10000, 'ip-topk', '{"T":10,"k":3}', 5, 500, 2,
          '[{"key":"10.0.0.1","bytes":400,"share":0.8,"z":1}]');
INSERT INTO alerts ("time", detector, source, score, detail)
  VALUES (5000, 'dos', '10.0.0.1', 0.9, '{"count":3}');
)sql";

// A file written by a netpulse from before issue 14 opens: it gains the approximate column (its
// rows read back as exact), keeps its data, and then stores approximate results; opening it again
// changes nothing.
TEST(SqliteStore, MigratesAVersion1File) {
  testing::TempDir dir;
  const std::string path = dir.file("v1.db");
  {
    RawDb raw(path);
    ASSERT_EQ(raw.exec(kVersion1Schema), SQLITE_OK);
    ASSERT_EQ(raw.value("PRAGMA user_version"), "1");
  }
  std::string why;
  auto store = SqliteStore::open(path, &why);
  ASSERT_NE(store, nullptr) << why;
  {
    RawDb raw(path);
    EXPECT_EQ(raw.value("PRAGMA user_version"), "2");
    EXPECT_EQ(raw.value("SELECT group_concat(name, ',') FROM pragma_table_info('results')"),
              "id,window_start,window_end,query,params,records,total_bytes,keys,rows,approximate");
  }
  auto old = store->latest("ip-topk");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->window_end, 10000);
  EXPECT_EQ(old->records, 5u);
  EXPECT_EQ(old->rows_json, R"([{"key":"10.0.0.1","bytes":400,"share":0.8,"z":1}])");
  EXPECT_FALSE(old->approximate_json.has_value());
  EXPECT_EQ(store->alerts(std::nullopt, 0).size(), 1u);

  auto approximate = make_result("ip-topk", 20000);
  approximate.approximate_json = R"({"epsilon":0.001,"keys_estimated":70000})";
  store->put_results(std::vector{approximate});
  EXPECT_EQ(store->latest("ip-topk"), approximate);
  // The added column checks its JSON as a new file's does.
  auto bad = make_result("ip-topk", 30000);
  bad.approximate_json = "[1]";
  EXPECT_THROW(store->put_results(std::vector{bad}), StoreError);
  // Replacing the old row works (the upsert writes the new column).
  auto replaced = make_result("ip-topk", 10000);
  replaced.approximate_json = R"({"epsilon":0.5,"keys_estimated":1})";
  store->put_results(std::vector{replaced});
  EXPECT_EQ(store->count_results("ip-topk"), 2u);
  store.reset();

  store = SqliteStore::open(path, &why);  // already version 2: opened as is
  ASSERT_NE(store, nullptr) << why;
  ResultFilter f;
  f.query = "ip-topk";
  const auto rows = store->results(f);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], replaced);
  EXPECT_EQ(rows[1], approximate);
  RawDb raw(path);
  EXPECT_EQ(raw.value("SELECT count(*) FROM pragma_table_info('results')"), "10");
}

// A version-1 file that another netpulse holds open for writing: the migration waits its turn
// (busy timeout) and then happens once.
TEST(SqliteStore, MigrationWaitsForAWriter) {
  testing::TempDir dir;
  const std::string path = dir.file("busy.db");
  RawDb other(path);
  ASSERT_EQ(other.exec(kVersion1Schema), SQLITE_OK);
  ASSERT_EQ(other.exec("PRAGMA journal_mode=WAL; BEGIN IMMEDIATE; DELETE FROM alerts;"), SQLITE_OK);
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    other.exec("COMMIT");
  });
  std::string why;
  auto store = SqliteStore::open(path, &why);
  release.join();
  ASSERT_NE(store, nullptr) << why;
  EXPECT_EQ(store->alerts(std::nullopt, 0).size(), 0u);  // after the other's commit
  EXPECT_FALSE(store->latest("ip-topk")->approximate_json.has_value());
  EXPECT_EQ(other.value("PRAGMA user_version"), "2");
}

TEST(SqliteStore, RefusesANewerSchema) {
  testing::TempDir dir;
  const std::string path = dir.file("new.db");
  {
    RawDb raw(path);
    raw.exec("PRAGMA user_version = 99");
  }
  std::string why;
  EXPECT_EQ(SqliteStore::open(path, &why), nullptr);
  EXPECT_NE(why.find("schema version 99"), std::string::npos) << why;
}

// WAL: a reader gets the last committed state at once while another connection holds an open
// write transaction; the writer's put waits (busy timeout) instead of failing.
TEST(SqliteStore, ReadersDoNotWaitForAnOpenWriteTransaction) {
  testing::TempDir dir;
  const std::string path = dir.file("wal.db");
  auto store = SqliteStore::open(path, nullptr);
  ASSERT_NE(store, nullptr);
  store->put_results(std::vector{make_result("ip-topk", 1000)});

  RawDb other(path);
  ASSERT_EQ(other.exec("BEGIN IMMEDIATE; DELETE FROM results;"), SQLITE_OK);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(store->count_results("ip-topk"), 1u);  // the committed state
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));

  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    other.exec("ROLLBACK");
  });
  store->put_results(std::vector{make_result("ip-topk", 2000)});  // waits ~200 ms, then stores
  release.join();
  EXPECT_EQ(store->count_results("ip-topk"), 2u);
}

TEST(SqliteStore, FailuresAreStoreErrorsNamingTheFile) {
  testing::TempDir dir;
  const std::string path = dir.file("gone.db");
  auto store = SqliteStore::open(path, nullptr);
  ASSERT_NE(store, nullptr);
  RawDb other(path);
  ASSERT_EQ(other.exec("DROP TABLE results"), SQLITE_OK);
  try {
    store->put_results(std::vector{make_result("ip-topk", 1000)});
    FAIL() << "stored into a dropped table";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), StoreError::Kind::kUnavailable);  // not the data's fault: keep, retry
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace netpulse::store
