// The behaviour every Store must have, run against a SQLite file in a temporary directory and a
// real PostgreSQL server started by the test (store_test_support.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <thread>

#include "store/store.hpp"
#include "store/store_writer.hpp"
#include "store_test_support.hpp"

namespace netpulse::store {
namespace {

using testing::make_alert;
using testing::make_result;

enum class Backend { kSqlite, kPostgres };
void PrintTo(Backend b, std::ostream* os) {
  *os << (b == Backend::kSqlite ? "sqlite" : "postgres");
}

class StoreContract : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kSqlite) {
      uri_ = "sqlite:" + dir_.file("netpulse.db");
    } else {
      uri_ = testing::fresh_pg_uri();
      ASSERT_FALSE(uri_.empty());
    }
    store_ = testing::open_or_fail(uri_);
    ASSERT_NE(store_, nullptr);
  }

  std::vector<StoredResult> all(const std::string& query) {
    ResultFilter f;
    f.query = query;
    f.limit = 0;
    return store_->results(f);
  }

  testing::TempDir dir_;
  std::string uri_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreContract, StoresAndReadsBackExactly) {
  std::vector<StoredResult> in = {make_result("ip-topk", 10000), make_result("ip-topk", 20000),
                                  make_result("protocol-share", 10000, R"({"H":0.05,"T":10})")};
  in[1].rows_json = R"([{"key":"f\u00fc\"r","bytes":1,"share":1,"z":null}])";
  in[1].records = std::numeric_limits<int64_t>::max();
  in[1].window_start = -5000;  // before 1970
  store_->put_results(in);

  const auto topk = all("ip-topk");
  ASSERT_EQ(topk.size(), 2u);
  EXPECT_EQ(topk[0], in[0]);
  EXPECT_EQ(topk[1], in[1]);
  const auto share = all("protocol-share");
  ASSERT_EQ(share.size(), 1u);
  EXPECT_EQ(share[0], in[2]);
  EXPECT_FALSE(store_->describe().empty());
}

TEST_P(StoreContract, SameQueryWindowEndAndParamsReplaces) {
  store_->put_results(std::vector{make_result("ip-topk", 10000, R"({"T":10,"k":3})", 1)});
  // Same params spelled differently: still the same row.
  auto again = make_result("ip-topk", 10000, R"({ "k" : 3, "T" : 10 })", 2);
  again.rows_json = "[]";
  store_->put_results(std::vector{again});
  auto rows = all("ip-topk");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].records, 2u);
  EXPECT_EQ(rows[0].rows_json, "[]");
  EXPECT_EQ(rows[0].params_json, R"({"T":10,"k":3})");  // canonical

  // Other params or another window end: new rows. Replaying all of them: no duplicates.
  const std::vector batch = {make_result("ip-topk", 10000, R"({"T":10,"k":5})"),
                             make_result("ip-topk", 20000)};
  store_->put_results(batch);
  store_->put_results(batch);
  store_->put_results(batch);
  EXPECT_EQ(store_->count_results("ip-topk"), 3u);
  // A batch that holds the same row twice keeps the later one.
  store_->put_results(std::vector{make_result("ip-topk", 30000, R"({"T":10,"k":3})", 7),
                                  make_result("ip-topk", 30000, R"({"T":10,"k":3})", 8)});
  rows = all("ip-topk");
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows.back().records, 8u);
}

// The member of results computed from the memory budget's summary (spec sections 4 and 9):
// stored and read back as given, absent (none) for exact results, and replaced with the row.
TEST_P(StoreContract, ApproximateIsStoredReadBackAndReplaced) {
  auto approximate = make_result("ip-topk", 10000);
  approximate.approximate_json = R"({"epsilon":0.0005,"keys_estimated":1200000})";
  auto share = make_result("ip-share", 10000, R"({"T":10,"H":5})");
  share.approximate_json = R"({"epsilon":1e-05,"keys_estimated":9223372036854775807})";
  const auto exact = make_result("ip-topk", 20000);
  store_->put_results(std::vector{approximate, exact, share});

  auto rows = all("ip-topk");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], approximate);
  ASSERT_TRUE(rows[0].approximate_json.has_value());
  EXPECT_EQ(*rows[0].approximate_json, R"({"epsilon":0.0005,"keys_estimated":1200000})");
  EXPECT_EQ(rows[1], exact);
  EXPECT_FALSE(rows[1].approximate_json.has_value());
  EXPECT_EQ(all("ip-share").at(0).approximate_json, share.approximate_json);  // text as given
  EXPECT_EQ(store_->latest("ip-topk")->approximate_json, std::nullopt);

  // The same window again, exact this time (the flood left it): the row loses the member; and
  // back.
  auto replaced = approximate;
  replaced.approximate_json.reset();
  store_->put_results(std::vector{replaced});
  rows = all("ip-topk");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].approximate_json.has_value());
  store_->put_results(std::vector{approximate});
  EXPECT_EQ(all("ip-topk")[0].approximate_json, approximate.approximate_json);

  // Not a JSON object: refused as data, like params and rows.
  for (const char* text : {"[0.1,5]", "{\"epsilon\":", "0.1", "\"x\""}) {
    auto bad = make_result("ip-topk", 30000);
    bad.approximate_json = text;
    try {
      store_->put_results(std::vector{bad});
      ADD_FAILURE() << text << " stored";
    } catch (const StoreError& e) {
      EXPECT_EQ(e.kind(), StoreError::Kind::kRejected) << text << ": " << e.what();
    }
  }
  EXPECT_EQ(store_->count_results("ip-topk"), 2u);
}

TEST_P(StoreContract, FiltersBySinceUntilAndLimit) {
  std::vector<StoredResult> in;
  for (int i = 10; i >= 1; --i) in.push_back(make_result("ip-share", i * 1000));  // out of order
  in.push_back(make_result("ip-topk", 5000));
  store_->put_results(in);

  auto ends = [&](const ResultFilter& f) {
    std::vector<core::TimeMs> out;
    for (const auto& r : store_->results(f)) out.push_back(r.window_end);
    return out;
  };
  ResultFilter f;
  f.query = "ip-share";
  EXPECT_EQ(ends(f).size(), 10u);
  EXPECT_EQ(ends(f).front(), 1000);  // ascending
  f.since = 3000;                    // inclusive
  f.until = 6000;                    // exclusive
  EXPECT_EQ(ends(f), (std::vector<core::TimeMs>{3000, 4000, 5000}));
  f.limit = 2;
  EXPECT_EQ(ends(f), (std::vector<core::TimeMs>{3000, 4000}));
  f.take = ResultFilter::Take::kNewest;
  EXPECT_EQ(ends(f), (std::vector<core::TimeMs>{4000, 5000}));
  f.since.reset();
  f.until.reset();
  f.limit = 3;
  EXPECT_EQ(ends(f), (std::vector<core::TimeMs>{8000, 9000, 10000}));
  f.take = ResultFilter::Take::kOldest;
  f.limit = 0;  // no limit
  f.since = 9000;
  EXPECT_EQ(ends(f), (std::vector<core::TimeMs>{9000, 10000}));
  f.query = "no-such-query";
  EXPECT_TRUE(ends(f).empty());
}

TEST_P(StoreContract, LatestIsGreatestWindowEnd) {
  EXPECT_FALSE(store_->latest("ip-topk").has_value());
  store_->put_results(std::vector{make_result("ip-topk", 30000), make_result("ip-topk", 10000),
                                  make_result("ip-share", 90000)});
  store_->put_results(std::vector{make_result("ip-topk", 20000)});  // written last, not latest
  const auto latest = store_->latest("ip-topk");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->window_end, 30000);
  EXPECT_EQ(latest->query, "ip-topk");
}

TEST_P(StoreContract, DeleteRemovesOneQuery) {
  store_->put_results(std::vector{make_result("ip-topk", 10000), make_result("ip-topk", 20000),
                                  make_result("ip-share", 10000)});
  EXPECT_EQ(store_->delete_results("ip-topk"), 2u);
  EXPECT_EQ(store_->delete_results("ip-topk"), 0u);
  EXPECT_FALSE(store_->latest("ip-topk").has_value());
  EXPECT_EQ(store_->count_results("ip-share"), 1u);
  EXPECT_EQ(store_->count_results(""), 1u);
}

TEST_P(StoreContract, AlertsAreIdempotentAndOrdered) {
  store_->put_alerts(std::vector{make_alert(3000, "10.0.0.3"), make_alert(1000, "10.0.0.1", 0.1),
                                 make_alert(2000, "10.0.0.2")});
  // Same (time, detector, source): replaced.
  store_->put_alerts(std::vector{make_alert(1000, "10.0.0.1", 0.25)});
  auto a = store_->alerts(std::nullopt, 0);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].time, 1000);
  EXPECT_EQ(a[0].score, 0.25);
  EXPECT_EQ(a[0], make_alert(1000, "10.0.0.1", 0.25));
  EXPECT_EQ(a[2].time, 3000);
  a = store_->alerts(2000, 1);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].source, "10.0.0.2");
  a = store_->latest_alerts(2);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].time, 2000);
  EXPECT_EQ(a[1].time, 3000);
  // Another detector at the same time and source is another alert.
  Alert other = make_alert(1000, "10.0.0.1");
  other.detector = "bruteforce";
  other.score = 1.0 / 3.0;  // doubles come back exactly
  store_->put_alerts(std::vector{other});
  a = store_->alerts(std::nullopt, 0);
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(store_->latest_alerts(0).size(), 4u);
  bool found = false;
  for (const auto& x : a) found |= x == other;
  EXPECT_TRUE(found);
}

TEST_P(StoreContract, PutIsAllOrNothingAndRefusesBadJson) {
  store_->put_results(std::vector{make_result("ip-topk", 1000)});
  auto bad = make_result("ip-topk", 3000);
  bad.rows_json = "[{\"key\":";  // truncated
  const std::vector batch = {make_result("ip-topk", 2000), bad};
  try {
    store_->put_results(batch);
    FAIL() << "malformed rows stored";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), StoreError::Kind::kRejected) << e.what();
  }
  EXPECT_EQ(store_->count_results("ip-topk"), 1u);  // 2000 rolled back with the bad row

  auto expect_rejected = [&](StoredResult r, const char* what) {
    try {
      store_->put_results(std::vector{r});
      ADD_FAILURE() << what << " stored";
    } catch (const StoreError& e) {
      EXPECT_EQ(e.kind(), StoreError::Kind::kRejected) << what << ": " << e.what();
    }
  };
  auto r = make_result("ip-topk", 4000, "[1,2]");
  expect_rejected(r, "params as an array");
  r = make_result("ip-topk", 4000, "not json");
  expect_rejected(r, "params not JSON");
  r = make_result("ip-topk", 4000);
  r.rows_json = R"({"key":"x"})";
  expect_rejected(r, "rows as an object");
  Alert a = make_alert(1, "x");
  a.detail_json = "[]";
  try {
    store_->put_alerts(std::vector{a});
    ADD_FAILURE() << "detail as an array stored";
  } catch (const StoreError& e) {
    EXPECT_EQ(e.kind(), StoreError::Kind::kRejected) << e.what();
  }
  // The store still works afterwards.
  store_->put_results(std::vector{make_result("ip-topk", 5000)});
  EXPECT_EQ(store_->count_results("ip-topk"), 2u);
}

TEST_P(StoreContract, PutWritesResultsAndAlertsTogether) {
  store_->put(std::vector{make_result("ip-topk", 1000), make_result("ip-topk", 2000)},
              std::vector{make_alert(1500, "10.0.0.9")});
  EXPECT_EQ(store_->count_results("ip-topk"), 2u);
  EXPECT_EQ(store_->alerts(std::nullopt, 0).size(), 1u);
  // A bad alert rolls back the results of the same call.
  Alert bad = make_alert(1600, "x");
  bad.detail_json = "{";
  EXPECT_THROW(store_->put(std::vector{make_result("ip-topk", 3000)}, std::vector{bad}),
               StoreError);
  EXPECT_EQ(store_->count_results("ip-topk"), 2u);
}

TEST_P(StoreContract, DataSurvivesReopen) {
  store_->put_results(std::vector{make_result("ip-outliers", 1000, R"({"T":10,"X":2.5})")});
  store_.reset();
  store_ = testing::open_or_fail(uri_);  // the schema exists already: kept, not recreated
  ASSERT_NE(store_, nullptr);
  const auto latest = store_->latest("ip-outliers");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->params_json, R"({"T":10,"X":2.5})");
}

TEST_P(StoreContract, LargeBatchInOneCall) {
  std::vector<StoredResult> in;
  for (int i = 0; i < 5000; ++i) in.push_back(make_result("protocol-topk", i * 1000));
  store_->put_results(in);
  EXPECT_EQ(store_->count_results("protocol-topk"), 5000u);
  ResultFilter f;
  f.query = "protocol-topk";
  f.limit = 1;
  f.take = ResultFilter::Take::kNewest;
  ASSERT_EQ(store_->results(f).size(), 1u);
  EXPECT_EQ(store_->results(f)[0].window_end, 4999000);
}

// A reader with its own connection while another writes batches: it never fails, never waits
// for the writer, and sees whole batches only.
TEST_P(StoreContract, ConcurrentReaderSeesWholeBatches) {
  constexpr int kBatches = 40, kBatch = 50;
  auto reader_store = testing::open_or_fail(uri_);
  ASSERT_NE(reader_store, nullptr);
  std::atomic<bool> done{false};
  std::atomic<int> reads{0};
  std::string reader_error;
  std::thread reader([&] {
    uint64_t last = 0;
    try {
      while (!done.load()) {
        const uint64_t n = reader_store->count_results("ip-topk");
        if (n % kBatch != 0) reader_error = "saw a partial batch: " + std::to_string(n);
        if (n < last) reader_error = "count went down";
        last = n;
        ResultFilter f;
        f.query = "ip-topk";
        f.limit = 10;
        f.take = ResultFilter::Take::kNewest;
        reader_store->results(f);
        ++reads;
      }
    } catch (const StoreError& e) {
      reader_error = e.what();
    }
  });
  for (int b = 0; b < kBatches; ++b) {
    std::vector<StoredResult> batch;
    for (int i = 0; i < kBatch; ++i) batch.push_back(make_result("ip-topk", (b * kBatch + i) * 10));
    store_->put_results(batch);
  }
  while (reads.load() < 5) std::this_thread::yield();
  done = true;
  reader.join();
  EXPECT_EQ(reader_error, "");
  EXPECT_EQ(store_->count_results("ip-topk"), static_cast<uint64_t>(kBatches * kBatch));
}

// The writer over the real store: everything pushed is stored once, replays included.
TEST_P(StoreContract, WriterStoresEverythingOnce) {
  StoreWriter::Options options;
  options.capacity = 256;
  options.max_batch = 100;
  StoreWriter writer(testing::open_or_fail(uri_), options);
  for (int round = 0; round < 2; ++round) {  // the second round replays the first
    for (int i = 0; i < 2000; ++i) {
      writer.push(make_result(i % 2 ? "ip-topk" : "ip-share", i * 1000));
      if (i % 100 == 0) writer.push(make_alert(i, "10.0.0.1"));
    }
  }
  writer.flush();
  const auto stats = writer.stats();
  EXPECT_EQ(stats.results_written, 4000u);
  EXPECT_EQ(stats.alerts_written, 40u);
  EXPECT_EQ(stats.queue_depth, 0u);
  EXPECT_EQ(stats.write_errors, 0u) << stats.last_error;
  EXPECT_GE(stats.batches, 40u);
  EXPECT_EQ(store_->count_results(""), 2000u);
  EXPECT_EQ(store_->alerts(std::nullopt, 0).size(), 20u);
  writer.close();
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreContract,
                         ::testing::Values(Backend::kSqlite, Backend::kPostgres),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "sqlite" : "postgres";
                         });

}  // namespace
}  // namespace netpulse::store
