// The StoreWriter's contract: batches, back-pressure that waits and never drops, flush and close,
// retries with backoff when the store is unavailable, and rejected items skipped one by one.
// A scriptable in-memory store plays the database; a slow wrapper around a real SQLite store
// checks that nothing is lost on the way to disk.
#include "store/store_writer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store/sqlite_store.hpp"
#include "store_test_support.hpp"

namespace netpulse::store {
namespace {

using namespace std::chrono_literals;
using testing::make_alert;
using testing::make_result;

// Shared with the test after the writer owns the store.
struct Script {
  std::mutex mu;
  std::chrono::milliseconds delay{0};  // per put
  int fail_next = 0;                   // puts that fail as kUnavailable
  bool fail_always = false;
  bool throw_other = false;  // fail with a std::runtime_error instead
  bool gate_closed = false;  // puts wait while true
  std::condition_variable gate;
  // What was stored, by (query, window_end), and every put's size.
  std::map<std::pair<std::string, core::TimeMs>, StoredResult> results;
  std::vector<Alert> alerts;
  std::vector<size_t> puts;
  int attempts = 0;

  void open_gate() {
    {
      std::lock_guard lock(mu);
      gate_closed = false;
    }
    gate.notify_all();
  }
};

class ScriptedStore final : public Store {
 public:
  explicit ScriptedStore(std::shared_ptr<Script> s) : s_(std::move(s)) {}
  void put_results(std::span<const StoredResult> r) override { put(r, {}); }
  void put_alerts(std::span<const Alert> a) override { put({}, a); }
  void put(std::span<const StoredResult> results, std::span<const Alert> alerts) override {
    std::chrono::milliseconds delay;
    {
      std::unique_lock lock(s_->mu);
      s_->gate.wait(lock, [&] { return !s_->gate_closed; });
      ++s_->attempts;
      if (s_->throw_other) throw std::runtime_error("something else broke");
      if (s_->fail_always || s_->fail_next > 0) {
        if (s_->fail_next > 0) --s_->fail_next;
        throw StoreError(StoreError::Kind::kUnavailable, "scripted: database is gone");
      }
      for (const auto& r : results) {
        if (r.rows_json == "bad") throw StoreError(StoreError::Kind::kRejected, "scripted: bad");
      }
      delay = s_->delay;
    }
    std::this_thread::sleep_for(delay);
    std::lock_guard lock(s_->mu);
    for (const auto& r : results) s_->results[{r.query, r.window_end}] = r;
    for (const auto& a : alerts) s_->alerts.push_back(a);
    s_->puts.push_back(results.size() + alerts.size());
  }
  std::vector<StoredResult> results(const ResultFilter&) override { return {}; }
  std::optional<StoredResult> latest(std::string_view) override { return std::nullopt; }
  uint64_t delete_results(std::string_view) override { return 0; }
  std::vector<Alert> alerts(std::optional<core::TimeMs>, size_t) override { return {}; }
  std::string describe() const override { return "scripted"; }

 private:
  std::shared_ptr<Script> s_;
};

// A real store made deliberately slow.
class SlowStore final : public Store {
 public:
  SlowStore(std::unique_ptr<Store> inner, std::chrono::milliseconds delay)
      : inner_(std::move(inner)), delay_(delay) {}
  void put_results(std::span<const StoredResult> r) override { put(r, {}); }
  void put_alerts(std::span<const Alert> a) override { put({}, a); }
  void put(std::span<const StoredResult> r, std::span<const Alert> a) override {
    std::this_thread::sleep_for(delay_);
    inner_->put(r, a);
  }
  std::vector<StoredResult> results(const ResultFilter& f) override { return inner_->results(f); }
  std::optional<StoredResult> latest(std::string_view q) override { return inner_->latest(q); }
  uint64_t delete_results(std::string_view q) override { return inner_->delete_results(q); }
  std::vector<Alert> alerts(std::optional<core::TimeMs> s, size_t l) override {
    return inner_->alerts(s, l);
  }
  std::string describe() const override { return "slow " + inner_->describe(); }

 private:
  std::unique_ptr<Store> inner_;
  std::chrono::milliseconds delay_;
};

StoreWriter::Options options(size_t capacity, size_t max_batch) {
  StoreWriter::Options o;
  o.capacity = capacity;
  o.max_batch = max_batch;
  o.retry_initial = 5ms;
  o.retry_max = 40ms;
  return o;
}

TEST(StoreWriter, WritesEverythingInBatches) {
  auto script = std::make_shared<Script>();
  StoreWriter writer(std::make_unique<ScriptedStore>(script), options(10000, 500));
  EXPECT_EQ(writer.describe(), "scripted");
  for (int i = 0; i < 5000; ++i) writer.push(make_result("ip-topk", i));
  writer.push(make_alert(1, "a"));
  writer.flush();
  const auto stats = writer.stats();
  EXPECT_EQ(stats.results_written, 5000u);
  EXPECT_EQ(stats.alerts_written, 1u);
  EXPECT_EQ(stats.queue_depth, 0u);
  EXPECT_EQ(stats.capacity, 10000u);
  std::lock_guard lock(script->mu);
  EXPECT_EQ(script->results.size(), 5000u);
  EXPECT_EQ(script->alerts.size(), 1u);
  EXPECT_EQ(stats.batches, script->puts.size());
  EXPECT_LE(*std::max_element(script->puts.begin(), script->puts.end()), 500u);
}

// The store takes 5 ms per transaction and the producer is much faster: push() waits, the queue
// never grows past its capacity, and every result reaches the SQLite file exactly once.
TEST(StoreWriter, BackPressureMakesTheProducerWaitAndLosesNothing) {
  testing::TempDir dir;
  const std::string path = dir.file("slow.db");
  auto sqlite = SqliteStore::open(path, nullptr);
  ASSERT_NE(sqlite, nullptr);
  constexpr size_t kCapacity = 16;
  StoreWriter writer(std::make_unique<SlowStore>(std::move(sqlite), 5ms), options(kCapacity, 4));

  std::atomic<bool> done{false};
  size_t max_depth = 0;
  uint32_t max_waiting = 0;
  std::thread monitor([&] {
    while (!done.load()) {
      const auto s = writer.stats();
      max_depth = std::max(max_depth, s.queue_depth);
      max_waiting = std::max(max_waiting, s.producers_waiting);
      std::this_thread::sleep_for(100us);
    }
  });
  constexpr int kCount = 200;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCount; ++i) writer.push(make_result("ip-topk", i * 1000));
  const auto push_time = std::chrono::steady_clock::now() - start;
  writer.flush();
  done = true;
  monitor.join();

  const auto stats = writer.stats();
  EXPECT_GT(stats.producer_waits, 0u);
  EXPECT_GT(stats.producer_wait_us, 0u);
  EXPECT_EQ(stats.producers_waiting, 0u);
  EXPECT_EQ(max_waiting, 1u);
  EXPECT_LE(max_depth, kCapacity);
  // At most 4 per 5 ms batch: the producer was held to the store's pace.
  EXPECT_GE(push_time, std::chrono::milliseconds(5 * (kCount - kCapacity) / 4 - 50));
  EXPECT_EQ(stats.results_written, static_cast<uint64_t>(kCount));
  auto check = SqliteStore::open(path, nullptr);
  ASSERT_NE(check, nullptr);
  ResultFilter f;
  f.query = "ip-topk";
  f.limit = 0;
  const auto stored = check->results(f);
  ASSERT_EQ(stored.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(stored[i].window_end, i * 1000);
}

TEST(StoreWriter, ManyProducersEachItemStoredOnce) {
  auto script = std::make_shared<Script>();
  script->delay = 1ms;
  StoreWriter writer(std::make_unique<ScriptedStore>(script), options(64, 16));
  std::vector<std::thread> producers;
  for (int p = 0; p < 4; ++p) {
    producers.emplace_back([&, p] {
      std::string query = "ip-topk-";
      query += std::to_string(p);  // (GCC 12 warns falsely on "..." + std::to_string())
      for (int i = 0; i < 500; ++i) writer.push(make_result(query, i));
    });
  }
  for (auto& t : producers) t.join();
  writer.flush();
  EXPECT_EQ(writer.stats().results_written, 2000u);  // each counted once
  std::lock_guard lock(script->mu);
  EXPECT_EQ(script->results.size(), 2000u);
}

TEST(StoreWriter, FlushWaitsOnlyForWhatWasPushedBefore) {
  auto script = std::make_shared<Script>();
  StoreWriter writer(std::make_unique<ScriptedStore>(script), options(1000, 10));
  writer.flush();  // nothing queued: returns at once
  EXPECT_TRUE(writer.flush_for(0ms));

  script->gate_closed = true;
  for (int i = 0; i < 50; ++i) writer.push(make_result("ip-topk", i));
  EXPECT_FALSE(writer.flush_for(30ms));  // the store is stuck
  EXPECT_EQ(writer.stats().queue_depth, 50u);
  std::thread opener([&] {
    std::this_thread::sleep_for(20ms);
    script->open_gate();
  });
  writer.flush();
  opener.join();
  EXPECT_EQ(writer.stats().results_written, 50u);
  std::lock_guard lock(script->mu);
  EXPECT_EQ(script->results.size(), 50u);
}

TEST(StoreWriter, RetriesWithBackoffWhileTheStoreIsUnavailable) {
  auto script = std::make_shared<Script>();
  script->fail_next = 4;
  StoreWriter writer(std::make_unique<ScriptedStore>(script), options(1000, 100));
  for (int i = 0; i < 10; ++i) writer.push(make_result("ip-topk", i));
  writer.flush();
  const auto stats = writer.stats();
  EXPECT_EQ(stats.write_errors, 4u);
  EXPECT_EQ(stats.results_written, 10u);
  EXPECT_FALSE(stats.failing);
  EXPECT_EQ(stats.last_error, "scripted: database is gone");
  EXPECT_GT(stats.last_error_time, 1600000000000);  // wall clock, ms
  std::lock_guard lock(script->mu);
  EXPECT_EQ(script->results.size(), 10u);
  EXPECT_EQ(script->attempts, static_cast<int>(4 + stats.batches));  // each failure retried
}

TEST(StoreWriter, AnyExceptionIsRetriedNotFatal) {
  auto script = std::make_shared<Script>();
  script->throw_other = true;
  StoreWriter writer(std::make_unique<ScriptedStore>(script), options(1000, 100));
  writer.push(make_result("ip-topk", 1));
  while (writer.stats().write_errors < 2) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(writer.stats().failing);
  EXPECT_NE(writer.stats().last_error.find("something else broke"), std::string::npos);
  {
    std::lock_guard lock(script->mu);
    script->throw_other = false;
  }
  writer.flush();
  EXPECT_EQ(writer.stats().results_written, 1u);
}

TEST(StoreWriter, RejectedItemsAreSkippedAloneAndTheRestStored) {
  auto script = std::make_shared<Script>();
  script->gate_closed = true;  // so that everything lands in one batch
  StoreWriter writer(std::make_unique<ScriptedStore>(script), options(1000, 1000));
  writer.push(make_result("ip-topk", -1));  // taken alone while the gate is closed
  for (int i = 0; i < 100; ++i) {
    auto r = make_result("ip-topk", i);
    if (i == 37 || i == 80) r.rows_json = "bad";
    writer.push(r);
  }
  writer.push(make_alert(1, "a"));
  script->open_gate();
  writer.flush();
  const auto stats = writer.stats();
  EXPECT_EQ(stats.rejected, 2u);
  EXPECT_EQ(stats.results_written, 99u);
  EXPECT_EQ(stats.alerts_written, 1u);
  EXPECT_FALSE(stats.failing);
  EXPECT_EQ(stats.last_error, "scripted: bad");
  std::lock_guard lock(script->mu);
  EXPECT_EQ(script->results.size(), 99u);
  EXPECT_EQ(script->results.count({"ip-topk", 37}), 0u);
  EXPECT_LT(script->attempts, 40);  // halving, not one transaction per item
}

TEST(StoreWriter, CloseStoresEverythingThenRefusesMore) {
  auto script = std::make_shared<Script>();
  script->delay = 2ms;
  StoreWriter writer(std::make_unique<ScriptedStore>(script), options(8, 4));
  for (int i = 0; i < 40; ++i) writer.push(make_result("ip-topk", i));
  writer.close();
  writer.close();  // idempotent
  writer.push(make_result("ip-topk", 99));
  const auto stats = writer.stats();
  EXPECT_EQ(stats.results_written, 40u);
  EXPECT_EQ(stats.abandoned, 1u);
  writer.flush();  // returns: nothing pending
}

TEST(StoreWriter, DestructorFlushes) {
  auto script = std::make_shared<Script>();
  script->delay = 1ms;
  {
    StoreWriter writer(std::make_unique<ScriptedStore>(script), options(4, 2));
    for (int i = 0; i < 20; ++i) writer.push(make_result("ip-topk", i));
  }
  std::lock_guard lock(script->mu);
  EXPECT_EQ(script->results.size(), 20u);
}

// The database never comes back: close_for() gives up on time, says how much was left, and a
// producer blocked on the full queue is released.
TEST(StoreWriter, CloseForGivesUpWhenTheStoreStaysDown) {
  auto script = std::make_shared<Script>();
  script->fail_always = true;
  StoreWriter writer(std::make_unique<ScriptedStore>(script), options(10, 5));
  for (int i = 0; i < 10; ++i) writer.push(make_result("ip-topk", i));
  std::thread blocked([&] { writer.push(make_result("ip-topk", 10)); });
  while (writer.stats().producers_waiting == 0) std::this_thread::sleep_for(1ms);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(writer.close_for(100ms), 11u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  blocked.join();
  const auto stats = writer.stats();
  EXPECT_EQ(stats.abandoned, 11u);
  EXPECT_EQ(stats.results_written, 0u);
  EXPECT_TRUE(stats.failing);
  EXPECT_GE(stats.write_errors, 2u);
}

}  // namespace
}  // namespace netpulse::store
