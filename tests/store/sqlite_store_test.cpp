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
  EXPECT_EQ(raw.value("PRAGMA user_version"), "1");
  EXPECT_EQ(raw.value("SELECT group_concat(name, ',') FROM pragma_table_info('results')"),
            "id,window_start,window_end,query,params,records,total_bytes,keys,rows");
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
