// The history contract of every Store (put_history and friends), run against a SQLite file and a
// real PostgreSQL server started by the test, as store_contract_test.cpp does for results.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <random>

#include "store/history.hpp"
#include "store/sqlite_store.hpp"
#include "store/store.hpp"
#include "store_test_support.hpp"

namespace netpulse::store {
namespace {

constexpr core::TimeMs kMinute = 60'000;
constexpr core::TimeMs kHour = 3'600'000;
constexpr core::TimeMs kDay = 86'400'000;
constexpr core::TimeMs kT0 = 1'606'780'800'000;  // 2020-12-01T00:00:00Z: replayed files are old

HistoryBucket make_bucket(Resolution r, core::TimeMs start, Dimension d, std::string origin,
                          size_t keys = 3, uint64_t seed = 1) {
  HistoryBucket b;
  b.resolution = r;
  b.start = start;
  b.dimension = d;
  b.origin = std::move(origin);
  for (size_t i = 0; i < keys; ++i) {
    HistoryEntry e;
    e.key = "10.0." + std::to_string(seed % 7) + "." + std::to_string(100 + i);
    e.bytes = 1000 * (i + 1) + seed;
    e.records = i + 1;
    b.entries.push_back(e);
    b.total_bytes += e.bytes;
    b.total_records += e.records;
  }
  std::sort(b.entries.begin(), b.entries.end(), [](auto& x, auto& y) { return x.key < y.key; });
  b.other_bytes = seed * 10;
  b.other_records = seed;
  b.total_bytes += b.other_bytes;
  b.total_records += b.other_records;
  b.cut_bytes = seed;
  b.error_bytes = seed / 2;
  return b;
}

uint64_t row_size(const HistoryBucket& b) {
  return encode_entries(b.entries).size() + kHistoryRowOverhead;
}

enum class Backend { kSqlite, kPostgres };
void PrintTo(Backend b, std::ostream* os) {
  *os << (b == Backend::kSqlite ? "sqlite" : "postgres");
}

class HistoryStore : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      uri_ = "sqlite:" + dir_.file("netpulse.db");
    } else {
      uri_ = testing::fresh_pg_uri();
      ASSERT_FALSE(uri_.empty());
      ASSERT_EQ(testing::pg_exec(uri_, "DROP TABLE IF EXISTS history"), "");
    }
    store_ = testing::open_or_fail(uri_);
    ASSERT_NE(store_, nullptr);
  }

  // Runs SQL on the database behind the store's back.
  std::string raw_exec(const std::string& sql) {
    if (GetParam() == Backend::kPostgres) return testing::pg_exec(uri_, sql);
    sqlite3* db = nullptr;
    sqlite3_open(dir_.file("netpulse.db").c_str(), &db);
    char* err = nullptr;
    sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string out = err ? err : "";
    sqlite3_free(err);
    sqlite3_close(db);
    return out;
  }

  testing::TempDir dir_;
  std::string uri_;
  std::unique_ptr<Store> store_;
};

TEST_P(HistoryStore, StoresAndReadsBackExactly) {
  std::vector<HistoryBucket> in = {
      make_bucket(Resolution::kMinute, kT0, Dimension::kSrc, ""),
      make_bucket(Resolution::kMinute, kT0 + kMinute, Dimension::kSrc, "", 0, 4),  // no entries
      make_bucket(Resolution::kHour, kT0, Dimension::kConversation, "east", 2, 9),
      make_bucket(Resolution::kDay, -kDay, Dimension::kProtocol, "west", 5, 3),  // before 1970
  };
  in[2].entries = {{"2001:db8::1 10.0.0.2 HTTPS", 5, 1}, {"\xc3\xa9t\xc3\xa9 x y", 7, 2}};
  in[0].total_bytes = std::numeric_limits<int64_t>::max();        // the largest storable
  in[0].entries[0].bytes = std::numeric_limits<uint64_t>::max();  // the blob holds any uint64
  store_->put_history(in);

  std::vector<HistoryKey> keys;
  for (const auto& b : in) keys.push_back({b.resolution, b.start, b.origin});
  for (const auto& b : in) {
    const HistoryKey key{b.resolution, b.start, b.origin};
    const auto got = store_->history_buckets(b.dimension, std::span(&key, 1));
    ASSERT_EQ(got.size(), 1u) << to_string(b.dimension);
    EXPECT_EQ(got[0], b);
  }
  const auto range =
      store_->history_range(Resolution::kMinute, Dimension::kSrc, "", kT0, kT0 + kHour);
  ASSERT_EQ(range.size(), 2u);
  EXPECT_EQ(range[0], in[0]);
  EXPECT_EQ(range[1], in[1]);
}

// Buckets given back are decoded into again: what is read after a recycle must be what was
// stored, whatever the sizes of the vectors reused (bigger, smaller, none).
TEST_P(HistoryStore, ReadsAfterRecyclingAreExact) {
  std::vector<HistoryBucket> in;
  for (int i = 0; i < 4; ++i) {
    HistoryBucket b = make_bucket(Resolution::kMinute, kT0 + i * kMinute, Dimension::kDst, "");
    b.entries.clear();
    const int n = i == 0 ? 3000 : i == 1 ? 7 : i == 2 ? 1200 : 0;
    for (int k = 0; k < n; ++k) {
      char key[32];
      std::snprintf(key, sizeof key, "10.%d.%d.%d", i, k / 250, k % 250);
      b.entries.push_back({key, static_cast<uint64_t>(k + 1), 1});
    }
    std::sort(b.entries.begin(), b.entries.end(),
              [](const auto& x, const auto& y) { return x.key < y.key; });
    in.push_back(std::move(b));
  }
  store_->put_history(in);
  std::vector<HistoryKey> keys;
  for (const auto& b : in) keys.push_back({b.resolution, b.start, b.origin});
  for (int round = 0; round < 3; ++round) {
    std::rotate(keys.begin(), keys.begin() + 1, keys.end());
    auto got = store_->history_buckets(Dimension::kDst, keys);
    ASSERT_EQ(got.size(), keys.size());
    for (size_t i = 0; i < got.size(); ++i) {
      const auto want = std::find_if(in.begin(), in.end(),
                                     [&](const auto& b) { return b.start == keys[i].start; });
      EXPECT_EQ(got[i], *want) << "round " << round << " bucket " << i;
    }
    store_->recycle_history(std::move(got));
  }
}

TEST_P(HistoryStore, PutReplacesTheSameBucket) {
  auto a = make_bucket(Resolution::kMinute, kT0, Dimension::kDst, "o", 3, 1);
  store_->put_history(std::vector{a});
  auto b = make_bucket(Resolution::kMinute, kT0, Dimension::kDst, "o", 5, 2);
  store_->put_history(std::vector{b});
  store_->put_history(std::vector{b});  // a replay: still one row
  const auto range = store_->history_range(Resolution::kMinute, Dimension::kDst, "o", kT0, kT0 + 1);
  ASSERT_EQ(range.size(), 1u);
  EXPECT_EQ(range[0], b);
  const auto usage = store_->history_usage(Resolution::kMinute);
  EXPECT_EQ(usage.buckets, 1u);
  EXPECT_EQ(usage.bytes, row_size(b));
  // Another dimension, origin or resolution at the same start is another row.
  store_->put_history(std::vector{make_bucket(Resolution::kMinute, kT0, Dimension::kSrc, "o"),
                                  make_bucket(Resolution::kMinute, kT0, Dimension::kDst, "p"),
                                  make_bucket(Resolution::kHour, kT0, Dimension::kDst, "o")});
  EXPECT_EQ(store_->history_usage(Resolution::kMinute).buckets, 3u);
  EXPECT_EQ(store_->history_usage(Resolution::kHour).buckets, 1u);
}

TEST_P(HistoryStore, IndexIsOrderedByResolutionStartOrigin) {
  std::vector<HistoryBucket> in;
  // Origins whose byte order differs from a locale's: "B" < "a" < "b" < "é".
  const std::vector<std::string> origins = {"b", "", "a", "B", "\xc3\xa9", "a b"};
  for (Resolution r : {Resolution::kDay, Resolution::kMinute, Resolution::kHour}) {
    for (int i = 4; i >= 0; --i) {
      for (const auto& o : origins) {
        in.push_back(make_bucket(r, kT0 + i * resolution_ms(r), Dimension::kSrc, o));
      }
    }
  }
  in.push_back(make_bucket(Resolution::kMinute, kT0, Dimension::kDst, "a"));  // other dimension
  std::shuffle(in.begin(), in.end(), std::mt19937(1));
  store_->put_history(in);

  const core::TimeMs from = kT0 + kMinute, to = kT0 + 3 * kHour;
  std::vector<HistoryKey> expected;
  for (const auto& b : in) {
    if (b.dimension == Dimension::kSrc && b.start >= from && b.start < to) {
      expected.push_back({b.resolution, b.start, b.origin});
    }
  }
  std::sort(expected.begin(), expected.end(), [](const HistoryKey& x, const HistoryKey& y) {
    if (x.resolution != y.resolution) return x.resolution < y.resolution;
    if (x.start != y.start) return x.start < y.start;
    return x.origin < y.origin;  // bytewise
  });
  const auto index = store_->history_index(Dimension::kSrc, from, to);
  ASSERT_EQ(index.size(), expected.size());
  for (size_t i = 0; i < index.size(); ++i) {
    EXPECT_EQ(index[i], expected[i]) << i << ": " << to_string(index[i].resolution) << " "
                                     << index[i].start << " '" << index[i].origin << "'";
  }
  EXPECT_EQ(expected.size(), 4u * 6 + 2 * 6);  // minutes 1-4, hours 1-2; no day
  EXPECT_TRUE(store_->history_index(Dimension::kSrc, to, to).empty());
  EXPECT_EQ(store_->history_index(Dimension::kDst, kT0, kT0 + 1).size(), 1u);
  EXPECT_TRUE(store_->history_index(Dimension::kConversation, 0, kT0 + kDay * 10).empty());

  // history_buckets: the order asked, missing keys skipped, origins that need quoting.
  std::vector<HistoryKey> ask = {expected[5],
                                 {Resolution::kMinute, kT0 + 7, "a"},
                                 expected[0],
                                 expected.back(),
                                 {Resolution::kHour, kT0, "nobody"}};
  const auto got = store_->history_buckets(Dimension::kSrc, ask);
  ASSERT_EQ(got.size(), 3u);
  for (size_t i : {0, 1, 2}) {
    const HistoryKey& k = i == 0 ? ask[0] : i == 1 ? ask[2] : ask[3];
    EXPECT_EQ(got[i].resolution, k.resolution);
    EXPECT_EQ(got[i].start, k.start);
    EXPECT_EQ(got[i].origin, k.origin);
    auto it = std::find_if(in.begin(), in.end(), [&](const HistoryBucket& b) {
      return b.dimension == Dimension::kSrc && b.resolution == k.resolution && b.start == k.start &&
             b.origin == k.origin;
    });
    ASSERT_NE(it, in.end());
    EXPECT_EQ(got[i], *it);
  }
  EXPECT_TRUE(store_->history_buckets(Dimension::kSrc, {}).empty());
}

TEST_P(HistoryStore, OriginsThatNeedQuoting) {
  std::vector<HistoryBucket> in;
  for (const char* o : {"a\"b", "c\\d", "{e,f}", "NULL", " g ", "h'i"}) {
    in.push_back(make_bucket(Resolution::kMinute, kT0, Dimension::kSrc, o));
  }
  store_->put_history(in);
  std::vector<HistoryKey> keys;
  for (const auto& b : in) keys.push_back({b.resolution, b.start, b.origin});
  EXPECT_EQ(store_->history_buckets(Dimension::kSrc, keys), in);
  for (const auto& b : in) {
    const auto range =
        store_->history_range(Resolution::kMinute, Dimension::kSrc, b.origin, kT0, kT0 + 1);
    ASSERT_EQ(range.size(), 1u) << b.origin;
    EXPECT_EQ(range[0], b);
  }
}

TEST_P(HistoryStore, RangeIsOneOriginOrderedByStart) {
  std::vector<HistoryBucket> in;
  for (int i = 9; i >= 0; --i) {
    in.push_back(make_bucket(Resolution::kMinute, kT0 + i * kMinute, Dimension::kSrc, "a", 2, i));
    in.push_back(make_bucket(Resolution::kMinute, kT0 + i * kMinute, Dimension::kSrc, "b", 2, i));
    in.push_back(make_bucket(Resolution::kHour, kT0, Dimension::kSrc, "a", 2, i));
  }
  store_->put_history(in);
  const auto range = store_->history_range(Resolution::kMinute, Dimension::kSrc, "a",
                                           kT0 + 2 * kMinute, kT0 + 5 * kMinute);
  ASSERT_EQ(range.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(range[i].start, kT0 + static_cast<core::TimeMs>(i + 2) * kMinute);
    EXPECT_EQ(range[i].origin, "a");
    EXPECT_EQ(range[i].resolution, Resolution::kMinute);
  }
  EXPECT_TRUE(
      store_->history_range(Resolution::kMinute, Dimension::kDst, "a", kT0, kT0 + kHour).empty());
  EXPECT_TRUE(
      store_->history_range(Resolution::kMinute, Dimension::kSrc, "c", kT0, kT0 + kHour).empty());
}

TEST_P(HistoryStore, DeleteUsageAndSizes) {
  std::vector<HistoryBucket> in;
  for (int i = 0; i < 6; ++i) {
    for (Dimension d : kDimensions) {
      in.push_back(make_bucket(Resolution::kMinute, kT0 + i * kMinute, d, "a", 1 + i % 3, i));
    }
    in.push_back(make_bucket(Resolution::kMinute, kT0 + i * kMinute, Dimension::kSrc, "b", 4, i));
    in.push_back(make_bucket(Resolution::kHour, kT0 + i * kHour, Dimension::kSrc, "a", 2, i));
  }
  store_->put_history(in);

  const auto usage = store_->history_usage(Resolution::kMinute);
  uint64_t bytes = 0;
  std::map<core::TimeMs, uint64_t> per_start;
  for (const auto& b : in) {
    if (b.resolution != Resolution::kMinute) continue;
    bytes += row_size(b);
    per_start[b.start] += row_size(b);
  }
  EXPECT_EQ(usage.buckets, 30u);
  EXPECT_EQ(usage.bytes, bytes);
  EXPECT_EQ(usage.oldest, kT0);
  EXPECT_EQ(usage.newest, kT0 + 5 * kMinute);
  const auto sizes = store_->history_sizes(Resolution::kMinute);
  ASSERT_EQ(sizes.size(), per_start.size());
  size_t i = 0;
  for (const auto& [start, size] : per_start) {
    EXPECT_EQ(sizes[i].first, start);
    EXPECT_EQ(sizes[i].second, size);
    ++i;
  }
  EXPECT_EQ(store_->history_usage(Resolution::kDay), HistoryUsage{});
  EXPECT_TRUE(store_->history_sizes(Resolution::kDay).empty());

  // Every dimension and origin of the resolution with start < before, nothing else.
  EXPECT_EQ(store_->delete_history(Resolution::kMinute, kT0 + 2 * kMinute), 10u);
  EXPECT_EQ(store_->delete_history(Resolution::kMinute, kT0 + 2 * kMinute), 0u);
  const auto after = store_->history_usage(Resolution::kMinute);
  EXPECT_EQ(after.buckets, 20u);
  EXPECT_EQ(after.oldest, kT0 + 2 * kMinute);
  EXPECT_EQ(store_->history_usage(Resolution::kHour).buckets, 6u);
  EXPECT_EQ(store_->delete_history(Resolution::kHour, kT0 + 100 * kDay), 6u);
  EXPECT_EQ(store_->history_usage(Resolution::kHour), HistoryUsage{});
}

TEST_P(HistoryStore, RefusesCountersAbove2To63AndStoresNothingOfTheCall) {
  const auto good = make_bucket(Resolution::kMinute, kT0, Dimension::kSrc, "");
  uint64_t HistoryBucket::*fields[] = {&HistoryBucket::total_bytes, &HistoryBucket::total_records,
                                       &HistoryBucket::other_bytes, &HistoryBucket::other_records,
                                       &HistoryBucket::cut_bytes,   &HistoryBucket::error_bytes};
  for (auto field : fields) {
    auto bad = make_bucket(Resolution::kMinute, kT0 + kMinute, Dimension::kSrc, "x");
    bad.*field = static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1;
    try {
      store_->put_history(std::vector{good, bad});
      ADD_FAILURE() << "stored a counter above 2^63 - 1";
    } catch (const StoreError& e) {
      EXPECT_EQ(e.kind(), StoreError::Kind::kRejected) << e.what();
      EXPECT_NE(std::string(e.what()).find("minute src bucket"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(store_->history_usage(Resolution::kMinute).buckets, 0u);
  store_->put_history(std::vector{good});  // the store still works
  EXPECT_EQ(store_->history_usage(Resolution::kMinute).buckets, 1u);
}

TEST_P(HistoryStore, AMalformedStoredBlobIsRejectedNamingTheBucket) {
  store_->put_history(std::vector{make_bucket(Resolution::kHour, kT0, Dimension::kDst, "east")});
  const std::string blob = GetParam() == Backend::kSqlite ? "x'0105'" : "'\\x0105'::bytea";
  ASSERT_EQ(raw_exec("UPDATE history SET entries = " + blob), "");
  const HistoryKey key{Resolution::kHour, kT0, "east"};
  for (int call = 0; call < 2; ++call) {
    try {
      if (call == 0) {
        store_->history_buckets(Dimension::kDst, std::span(&key, 1));
      } else {
        store_->history_range(Resolution::kHour, Dimension::kDst, "east", kT0, kT0 + kHour);
      }
      ADD_FAILURE() << "decoded a malformed blob";
    } catch (const StoreError& e) {
      EXPECT_EQ(e.kind(), StoreError::Kind::kRejected) << e.what();
      const std::string what = e.what();
      EXPECT_NE(what.find("hour dst bucket 2020-12-01T00:00:00.000Z"), std::string::npos) << what;
      EXPECT_NE(what.find("east"), std::string::npos) << what;
    }
  }
  // The index does not read blobs: it still answers.
  EXPECT_EQ(store_->history_index(Dimension::kDst, kT0, kT0 + 1).size(), 1u);
}

// A database made before issue 17 (results and alerts only, with rows) gains the table on open.
TEST_P(HistoryStore, AnOlderDatabaseGainsTheTable) {
  store_->put_results(std::vector{testing::make_result("ip-topk", 10000)});
  store_.reset();
  ASSERT_EQ(raw_exec("DROP TABLE history"), "");
  store_ = testing::open_or_fail(uri_);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->count_results("ip-topk"), 1u);
  const auto b = make_bucket(Resolution::kMinute, kT0, Dimension::kSrc, "");
  store_->put_history(std::vector{b});
  EXPECT_EQ(store_->history_range(Resolution::kMinute, Dimension::kSrc, "", kT0, kT0 + 1),
            std::vector{b});
  // Opening again changes nothing.
  store_ = testing::open_or_fail(uri_);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->history_usage(Resolution::kMinute).buckets, 1u);
}

// 7 days of minutes: the index answers from the index alone, fast.
TEST_P(HistoryStore, IndexOfAWeekOfMinutesIsFast) {
  std::vector<HistoryBucket> week;
  const int minutes = 7 * 24 * 60;
  for (int i = 0; i < minutes; ++i) {
    week.push_back(
        make_bucket(Resolution::kMinute, kT0 + i * kMinute, Dimension::kSrc, "", 200, i));
    if (week.size() == 2000 || i + 1 == minutes) {
      store_->put_history(week);
      week.clear();
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto index = store_->history_index(Dimension::kSrc, kT0, kT0 + 7 * kDay);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_EQ(index.size(), static_cast<size_t>(minutes));
  std::printf("index of %d minutes: %lld ms\n", minutes, static_cast<long long>(ms));
  EXPECT_LT(ms, 500);  // blobs read would be ~50 MB; the index alone is a few hundred KB
}

INSTANTIATE_TEST_SUITE_P(Backends, HistoryStore,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const auto& info) {
                           return info.param == Backend::kSqlite ? "sqlite" : "postgres";
                         });

// SQLite particulars: the index query is a covering-index scan (no table, no blob), the
// retention queries use an index, and an existing version-1 file gets the table.
TEST(HistorySqlite, QueriesUseIndexes) {
  testing::TempDir dir;
  const std::string path = dir.file("plan.db");
  ASSERT_NE(SqliteStore::open(path, nullptr), nullptr);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  auto plan = [&](const std::string& sql) {
    sqlite3_stmt* s = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &s, nullptr) ==
        SQLITE_OK) {
      while (sqlite3_step(s) == SQLITE_ROW) {
        out += reinterpret_cast<const char*>(sqlite3_column_text(s, 3));
        out += "; ";
      }
    }
    sqlite3_finalize(s);
    return out;
  };
  const std::string index = plan(
      "SELECT start, origin FROM history WHERE resolution = 'minute' AND dimension = 'src' "
      "AND start >= 0 AND start < 10 ORDER BY start, origin");
  EXPECT_NE(index.find("COVERING INDEX"), std::string::npos) << index;
  EXPECT_EQ(index.find("TEMP B-TREE"), std::string::npos) << index;
  const std::string sizes = plan(
      "SELECT start, sum(size) FROM history WHERE resolution = 'minute' GROUP BY start "
      "ORDER BY start");
  EXPECT_NE(sizes.find("COVERING INDEX history_resolution_start"), std::string::npos) << sizes;
  const std::string range = plan(
      "SELECT entries FROM history WHERE resolution = 'minute' AND dimension = 'src' "
      "AND origin = '' AND start >= 0 AND start < 10 ORDER BY start");
  EXPECT_NE(range.find("USING INDEX"), std::string::npos) << range;
  EXPECT_EQ(range.find("TEMP B-TREE"), std::string::npos) << range;
  sqlite3_close(db);
}

TEST(HistorySqlite, AVersion1FileGetsTheTable) {
  testing::TempDir dir;
  const std::string path = dir.file("v1.db");
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    // The version-1 results table (before issue 14), as in sqlite_store_test.cpp.
    ASSERT_EQ(sqlite3_exec(db, R"sql(
CREATE TABLE results (id INTEGER PRIMARY KEY, window_start INTEGER NOT NULL,
  window_end INTEGER NOT NULL, query TEXT NOT NULL, params TEXT NOT NULL, records INTEGER NOT NULL,
  total_bytes INTEGER NOT NULL, keys INTEGER NOT NULL, "rows" TEXT NOT NULL,
  UNIQUE (query, window_end, params));
CREATE TABLE alerts (id INTEGER PRIMARY KEY, "time" INTEGER NOT NULL, detector TEXT NOT NULL,
  source TEXT NOT NULL, score REAL NOT NULL, detail TEXT NOT NULL,
  UNIQUE ("time", detector, source));
PRAGMA user_version = 1;
)sql",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  std::string why;
  auto store = SqliteStore::open(path, &why);
  ASSERT_NE(store, nullptr) << why;
  const auto b = make_bucket(Resolution::kDay, 0, Dimension::kProtocol, "");
  store->put_history(std::vector{b});
  const HistoryKey key{Resolution::kDay, 0, ""};
  EXPECT_EQ(store->history_buckets(Dimension::kProtocol, std::span(&key, 1)), std::vector{b});
}

}  // namespace
}  // namespace netpulse::store
