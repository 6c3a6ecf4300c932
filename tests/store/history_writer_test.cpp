// The StoreWriter's history: hour and day roll-ups (compared with roll_up over the same stored
// parts), the catch-up after a restart, retention by event-time age and by size, and a full disk
// (a small tmpfs mounted by the test: we run as root).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "store/history.hpp"
#include "store/sqlite_store.hpp"
#include "store/store_writer.hpp"
#include "store_test_support.hpp"

namespace netpulse::store {
namespace {

using namespace std::chrono_literals;

constexpr core::TimeMs kMinute = 60'000;
constexpr core::TimeMs kHour = 3'600'000;
constexpr core::TimeMs kDay = 86'400'000;
constexpr core::TimeMs kT0 = 1'606'780'800'000;  // 2020-12-01T00:00:00Z: a replayed old file

// A minute as the engine makes it: exact counts of random keys, cut to the top m.
HistoryBucket minute(core::TimeMs start, Dimension d, const std::string& origin,
                     std::mt19937_64& rng, size_t universe = 40, size_t m = 10,
                     size_t records = 0) {
  std::map<std::string, HistoryEntry> by_key;
  if (records == 0) records = 5 + rng() % 60;
  HistoryBucket b;
  b.resolution = Resolution::kMinute;
  b.start = start;
  b.dimension = d;
  b.origin = origin;
  for (size_t i = 0; i < records; ++i) {
    const size_t k = (rng() % universe) * (rng() % universe) / universe;  // skewed
    std::string key = "10." + std::to_string(k / 62500) + "." + std::to_string(k / 250 % 250) +
                      "." + std::to_string(k % 250);
    auto& e = by_key[key];
    e.key = key;
    const uint64_t bytes = 60 + rng() % 1400;
    e.bytes += bytes;
    e.records += 1;
    b.total_bytes += bytes;
    b.total_records += 1;
  }
  for (auto& [k, e] : by_key) b.entries.push_back(e);
  cut_to_top(b, m);
  return b;
}

StoreWriter::Options writer_options(size_t keys) {
  StoreWriter::Options o;
  o.retry_initial = 5ms;
  o.retry_max = 40ms;
  o.history.keys = keys;
  o.history.full_retry = 50ms;
  return o;
}

std::unique_ptr<Store> open_sqlite(const std::string& path) {
  std::string why;
  auto s = SqliteStore::open(path, &why);
  EXPECT_NE(s, nullptr) << why;
  return s;
}

// The bucket the writer should have built at `start`, from what the store holds of its parts.
HistoryBucket expected_rollup(Store& store, Resolution to, Dimension d, const std::string& origin,
                              core::TimeMs start, size_t keys) {
  const Resolution from = to == Resolution::kDay ? Resolution::kHour : Resolution::kMinute;
  const auto parts = store.history_range(from, d, origin, start, start + resolution_ms(to));
  return roll_up(parts, to, start, keys);
}

std::vector<core::TimeMs> starts(Store& store, Resolution r, Dimension d,
                                 const std::string& origin) {
  std::vector<core::TimeMs> out;
  for (const auto& b : store.history_range(r, d, origin, INT64_MIN, INT64_MAX)) {
    out.push_back(b.start);
  }
  return out;
}

TEST(HistoryWriter, RollsUpCompleteHoursAndDays) {
  testing::TempDir dir;
  const std::string path = dir.file("h.db");
  std::mt19937_64 rng(1);
  constexpr size_t kKeys = 6;
  const std::vector<std::pair<Dimension, std::string>> streams = {
      {Dimension::kSrc, ""}, {Dimension::kSrc, "east"}, {Dimension::kConversation, ""}};
  // Minutes over 0:00 .. 25:30 of day 0 and 1, every 3rd minute, no minutes in hours 5-7.
  std::vector<core::TimeMs> hours_with_minutes;
  uint64_t pushed = 0;
  {
    StoreWriter writer(open_sqlite(path), writer_options(kKeys));
    for (core::TimeMs t = kT0; t <= kT0 + 25 * kHour + 30 * kMinute; t += 3 * kMinute) {
      const core::TimeMs h = (t - kT0) / kHour;
      if (h >= 5 && h <= 7) continue;
      if (hours_with_minutes.empty() || hours_with_minutes.back() != kT0 + h * kHour) {
        hours_with_minutes.push_back(kT0 + h * kHour);
      }
      for (const auto& [d, o] : streams) {
        writer.push(minute(t, d, o, rng));
        ++pushed;
      }
    }
    writer.flush();
    const auto stats = writer.stats();
    // Per stream: every hour with minutes but the last (in progress), and day 0.
    EXPECT_EQ(stats.history_rollups, streams.size() * (hours_with_minutes.size() - 1 + 1));
    EXPECT_EQ(stats.history_written, pushed);
    EXPECT_EQ(stats.rejected, 0u);
    EXPECT_FALSE(stats.history_stopped);
  }  // close() builds nothing more: hour 25 stays in minutes

  auto store = open_sqlite(path);
  for (const auto& [d, o] : streams) {
    std::vector<core::TimeMs> want(hours_with_minutes.begin(), hours_with_minutes.end() - 1);
    EXPECT_EQ(starts(*store, Resolution::kHour, d, o), want) << to_string(d) << " '" << o << "'";
    EXPECT_EQ(starts(*store, Resolution::kDay, d, o), std::vector<core::TimeMs>{kT0});
    for (core::TimeMs h : want) {
      const auto got = store->history_range(Resolution::kHour, d, o, h, h + 1);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(got[0], expected_rollup(*store, Resolution::kHour, d, o, h, kKeys));
      EXPECT_LE(got[0].entries.size(), kKeys);
    }
    const auto day = store->history_range(Resolution::kDay, d, o, kT0, kT0 + 1);
    ASSERT_EQ(day.size(), 1u);
    EXPECT_EQ(day[0], expected_rollup(*store, Resolution::kDay, d, o, kT0, kKeys));
    // The day adds up to its minutes.
    uint64_t bytes = 0;
    for (const auto& m : store->history_range(Resolution::kMinute, d, o, kT0, kT0 + kDay)) {
      bytes += m.total_bytes;
    }
    EXPECT_EQ(day[0].total_bytes, bytes);
  }
}

// A restart: the first writer stored the minutes of 23:00-23:59 (day 0) and 00:00-00:10 (day 1)
// and stopped (close() builds no partial hour, and 23:00 was built when 00:00 arrived); a second
// writer whose first minute is at 02:30 builds hour 00:00, and day 0, which the first writer
// never built, and leaves hour 02:00 and day 1 (in progress) alone.
TEST(HistoryWriter, ANewWriterBuildsTheHoursAndDaysARestartLeftOut) {
  testing::TempDir dir;
  const std::string path = dir.file("r.db");
  std::mt19937_64 rng(2);
  const core::TimeMs day1 = kT0 + kDay;
  {
    auto o = writer_options(8);
    StoreWriter writer(open_sqlite(path), o);
    // Only the last hour of day 0: the day is incomplete as this writer saw it, but the
    // writer still builds day 0 from the hours stored when day 1 starts.
    for (core::TimeMs t = day1 - kHour; t <= day1 + 10 * kMinute; t += kMinute) {
      writer.push(minute(t, Dimension::kDst, "w", rng));
    }
    writer.close();
    EXPECT_EQ(writer.stats().history_rollups, 2u);  // hour 23:00, day 0
  }
  {
    auto store = open_sqlite(path);
    EXPECT_EQ(starts(*store, Resolution::kHour, Dimension::kDst, "w"),
              std::vector<core::TimeMs>{day1 - kHour});
    // A day the first writer left out: delete it to stand for a crash before it was built.
    ASSERT_EQ(store->delete_history(Resolution::kDay, day1), 1u);
  }
  {
    StoreWriter writer(open_sqlite(path), writer_options(8));
    writer.push(minute(day1 + 2 * kHour + 30 * kMinute, Dimension::kDst, "w", rng));
    // Another origin's stream is its own: nothing to build for it.
    writer.push(minute(day1 + 2 * kHour + 30 * kMinute, Dimension::kDst, "v", rng));
    writer.flush();
    EXPECT_EQ(writer.stats().history_rollups, 2u);  // hour 00:00 of day 1, day 0
  }
  auto store = open_sqlite(path);
  EXPECT_EQ(starts(*store, Resolution::kHour, Dimension::kDst, "w"),
            (std::vector<core::TimeMs>{day1 - kHour, day1}));
  EXPECT_EQ(starts(*store, Resolution::kDay, Dimension::kDst, "w"), std::vector<core::TimeMs>{kT0});
  const auto hour = store->history_range(Resolution::kHour, Dimension::kDst, "w", day1, day1 + 1);
  ASSERT_EQ(hour.size(), 1u);
  EXPECT_EQ(hour[0], expected_rollup(*store, Resolution::kHour, Dimension::kDst, "w", day1, 8));
  const auto day = store->history_range(Resolution::kDay, Dimension::kDst, "w", kT0, kT0 + 1);
  ASSERT_EQ(day.size(), 1u);
  EXPECT_EQ(day[0], expected_rollup(*store, Resolution::kDay, Dimension::kDst, "w", kT0, 8));
  EXPECT_TRUE(starts(*store, Resolution::kHour, Dimension::kDst, "v").empty());
}

// Retention by age counts from the newest bucket stored (2020 here), not from the wall clock.
TEST(HistoryWriter, RetentionByAgeFollowsEventTime) {
  testing::TempDir dir;
  const std::string path = dir.file("age.db");
  std::mt19937_64 rng(3);
  auto o = writer_options(8);
  o.history.retention_ms[0] = 2 * kHour;  // minutes
  o.history.retention_ms[1] = 3 * kHour;  // hours
  o.history.retention_ms[2] = 0;          // days: forever
  uint64_t deleted = 0;
  {
    StoreWriter writer(open_sqlite(path), o);
    for (core::TimeMs t = kT0; t < kT0 + 30 * kHour; t += 10 * kMinute) {
      writer.push(minute(t, Dimension::kProtocol, "", rng));
      writer.flush();  // one minute per batch: retention sees each hour's first minute alone
    }
    writer.flush();
    deleted = writer.stats().history_deleted;
  }
  auto store = open_sqlite(path);
  const core::TimeMs newest = kT0 + 30 * kHour - 10 * kMinute;
  const auto minutes = store->history_usage(Resolution::kMinute);
  ASSERT_TRUE(minutes.oldest && minutes.newest);
  EXPECT_EQ(*minutes.newest, newest);
  // Retention ran at the start of the last hour (29:00): minutes from 27:00 on are kept.
  EXPECT_EQ(*minutes.oldest, kT0 + 27 * kHour);
  const auto hours = store->history_usage(Resolution::kHour);
  ASSERT_TRUE(hours.oldest);
  EXPECT_EQ(*hours.oldest, kT0 + 28 * kHour - 3 * kHour);         // newest hour 28:00 minus 3 h
  EXPECT_EQ(store->history_usage(Resolution::kDay).buckets, 1u);  // day 0, kept forever
  // Every deletion counted: 30 h of minutes every 10 min, 29 hours built.
  EXPECT_EQ(deleted, (180 - minutes.buckets) + (29 - hours.buckets));
}

// Retention by size: right after it runs (the first minute of an hour), the minutes take at
// most the limit, the oldest starts having gone first.
TEST(HistoryWriter, RetentionBySizeDeletesTheOldestStarts) {
  testing::TempDir dir;
  const std::string path = dir.file("size.db");
  std::mt19937_64 rng(4);
  auto o = writer_options(50);
  constexpr uint64_t kLimit = 6'000;
  o.history.retention_bytes[0] = kLimit;
  StoreWriter writer(open_sqlite(path), o);
  auto store = open_sqlite(path);
  for (int hour = 0; hour < 6; ++hour) {
    for (core::TimeMs t = kT0 + hour * kHour; t < kT0 + (hour + 1) * kHour; t += 2 * kMinute) {
      const bool first = t == kT0 + hour * kHour && hour > 0;
      std::vector<std::pair<core::TimeMs, uint64_t>> before;
      if (first) {
        writer.flush();  // the hour's first minute alone in its batch
        before = store->history_sizes(Resolution::kMinute);
      }
      writer.push(minute(t, Dimension::kSrc, "", rng, 200, 50));
      if (first) {
        writer.flush();
        const auto after = store->history_sizes(Resolution::kMinute);
        ASSERT_FALSE(after.empty());
        EXPECT_EQ(after.back().first, t);  // the newest minute is kept
        // Exactly the oldest starts that had to go: the rest fits, one more would not.
        auto want = before;
        want.push_back(after.back());
        uint64_t total = 0;
        for (const auto& [start, bytes] : want) total += bytes;
        EXPECT_GT(total, kLimit) << "hour " << hour << ": nothing to delete";
        while (total > kLimit) {
          total -= want.front().second;
          want.erase(want.begin());
        }
        EXPECT_EQ(after, want) << "hour " << hour;
      }
    }
  }
  writer.flush();
  EXPECT_GT(writer.stats().history_deleted, 0u);
  EXPECT_EQ(store->history_usage(Resolution::kHour).buckets, 5u);  // hours untouched
}

// A tmpfs of its own, mounted for the test and unmounted after.
class Tmpfs {
 public:
  explicit Tmpfs(const std::string& size) {
    dir_ = std::make_unique<testing::TempDir>();
    std::string options = "size=" + size;
    if (mount("tmpfs", dir_->path().c_str(), "tmpfs", 0, options.c_str()) != 0) {
      error_ = "mount -t tmpfs -o " + options + " tmpfs " + dir_->path() + ": " +
               std::strerror(errno) + " (this test needs root to mount a small tmpfs)";
      return;
    }
    mounted_ = true;
  }
  ~Tmpfs() {
    if (mounted_) umount2(dir_->path().c_str(), MNT_DETACH);
  }
  bool remount(const std::string& size) {
    const std::string options = "size=" + size;
    return mount("tmpfs", dir_->path().c_str(), "tmpfs", MS_REMOUNT, options.c_str()) == 0;
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  std::string file(const std::string& name) const { return dir_->file(name); }
  uint64_t free_bytes() const {
    struct statvfs s {};
    statvfs(dir_->path().c_str(), &s);
    return static_cast<uint64_t>(s.f_bavail) * s.f_frsize;
  }

 private:
  std::unique_ptr<testing::TempDir> dir_;
  bool mounted_ = false;
  std::string error_;
};

// A raw read-only look at the file, as the sqlite3 shell would have it.
class RawReader {
 public:
  explicit RawReader(const std::string& path) {
    sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr);
  }
  ~RawReader() { sqlite3_close(db_); }
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
  // The stored minute buckets of one dimension: start -> (total_bytes, entries).
  std::map<core::TimeMs, std::pair<uint64_t, std::vector<HistoryEntry>>> minutes(Dimension d) {
    std::map<core::TimeMs, std::pair<uint64_t, std::vector<HistoryEntry>>> out;
    sqlite3_stmt* s = nullptr;
    const std::string sql = std::string(
                                "SELECT start, total_bytes, entries FROM history WHERE "
                                "resolution = 'minute' AND dimension = '") +
                            to_string(d) + "'";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) return out;
    while (sqlite3_step(s) == SQLITE_ROW) {
      std::vector<HistoryEntry> entries;
      const std::string_view blob(static_cast<const char*>(sqlite3_column_blob(s, 2)),
                                  static_cast<size_t>(sqlite3_column_bytes(s, 2)));
      EXPECT_TRUE(decode_entries(blob, entries));
      out[sqlite3_column_int64(s, 0)] = {static_cast<uint64_t>(sqlite3_column_int64(s, 1)),
                                         entries};
    }
    sqlite3_finalize(s);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

// The disk fills with history: history stops (reported once, buckets dropped and counted), the
// file stays sound with everything stored before, results still wait and retry, and once there
// is room again history resumes by itself.
TEST(HistoryWriter, AFullDiskStopsHistoryAndMoreRoomResumesIt) {
  Tmpfs fs("2m");
  ASSERT_TRUE(fs.mounted()) << fs.error();
  const std::string path = fs.file("full.db");
  std::mt19937_64 rng(5);
  std::atomic<int> stopped{0}, resumed{0};
  std::string reason;
  std::mutex mu;
  auto o = writer_options(300);
  o.history.full_retry = 100ms;
  o.history.on_stopped = [&](const std::string& why) {
    std::lock_guard lock(mu);
    reason = why;
    ++stopped;
  };
  o.history.on_resumed = [&] { ++resumed; };
  std::map<core::TimeMs, HistoryBucket> pushed;
  auto writer = std::make_unique<StoreWriter>(open_sqlite(path), o);
  core::TimeMs t = kT0;
  int n = 0;
  for (; n < 5000 && !writer->stats().history_stopped; ++n, t += kMinute) {
    HistoryBucket b = minute(t, Dimension::kConversation, "", rng, 1'000'000, 2000, 2000);
    pushed[t] = b;
    writer->push(std::move(b));
    // A full disk taken for a passing failure would be retried for ever: fail, do not hang.
    ASSERT_TRUE(writer->flush_for(30s)) << "history still retrying: " << writer->stats().last_error;
  }
  ASSERT_TRUE(writer->stats().history_stopped) << "2 MiB never filled after " << n << " buckets";
  auto stats = writer->stats();
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_GE(stats.history_dropped, 1u);
  EXPECT_NE(stats.history_last_error.find("full"), std::string::npos) << stats.history_last_error;
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(reason, stats.history_last_error);
  }
  // More buckets while full: dropped and counted, no second report.
  const uint64_t dropped_before = stats.history_dropped;
  const uint64_t errors_before = stats.write_errors;
  for (int i = 0; i < 30; ++i, t += kMinute) {
    writer->push(minute(t, Dimension::kConversation, "", rng, 1'000'000, 2000, 2000));
    if (i % 10 == 0) std::this_thread::sleep_for(60ms);  // some of them after full_retry
  }
  ASSERT_TRUE(writer->flush_for(30s));
  stats = writer->stats();
  EXPECT_EQ(stats.history_dropped, dropped_before + 30);
  // Tried again after full_retry (and failed): a try, not only a skip.
  EXPECT_GT(stats.write_errors, errors_before);
  EXPECT_LT(stats.write_errors, errors_before + 30);  // not every bucket: at most every 100 ms
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_TRUE(stats.history_stopped);
  const uint64_t written_while_full = stats.history_written;

  // The file is sound and holds exactly what was stored, equal to what was pushed.
  {
    RawReader raw(path);
    EXPECT_EQ(raw.value("PRAGMA integrity_check"), "ok");
    const auto stored = raw.minutes(Dimension::kConversation);
    EXPECT_EQ(stored.size(), written_while_full);
    EXPECT_GT(stored.size(), 10u);
    for (const auto& [start, value] : stored) {
      ASSERT_TRUE(pushed.count(start)) << start;
      EXPECT_EQ(value.first, pushed[start].total_bytes);
      EXPECT_EQ(value.second, pushed[start].entries);
    }
  }

  // A result pushed now waits (retried, never dropped) until there is room.
  writer->push(testing::make_result("ip-topk", 1000));
  std::this_thread::sleep_for(100ms);
  // Room again: the result goes in, and the next bucket after full_retry resumes history.
  ASSERT_TRUE(fs.remount("64m")) << std::strerror(errno);
  ASSERT_TRUE(writer->flush_for(10s));
  EXPECT_EQ(writer->stats().results_written, 1u);
  std::this_thread::sleep_for(150ms);
  t += kHour;  // a later hour: the catch-up builds what the full disk left out
  writer->push(minute(t, Dimension::kConversation, "", rng, 1'000'000, 2000, 2000));
  writer->flush();
  stats = writer->stats();
  EXPECT_FALSE(stats.history_stopped);
  EXPECT_EQ(resumed.load(), 1);
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_EQ(stats.history_written, written_while_full + 1);
  writer.reset();
  auto store = open_sqlite(path);
  ASSERT_NE(store, nullptr);
  // Every complete hour that has minutes now has its hour bucket.
  std::vector<core::TimeMs> hours_with_minutes;
  for (core::TimeMs s : starts(*store, Resolution::kMinute, Dimension::kConversation, "")) {
    const core::TimeMs h = core::floor_div(s, kHour) * kHour;
    if (h < core::floor_div(t, kHour) * kHour &&
        (hours_with_minutes.empty() || hours_with_minutes.back() != h)) {
      hours_with_minutes.push_back(h);
    }
  }
  EXPECT_EQ(starts(*store, Resolution::kHour, Dimension::kConversation, ""), hours_with_minutes);
  RawReader raw(path);
  EXPECT_EQ(raw.value("PRAGMA integrity_check"), "ok");
}

// With a size limit below the disk's room, history never fills it, however much is written.
TEST(HistoryWriter, RetentionBySizeKeepsAFileWithinItsDisk) {
  Tmpfs fs("16m");
  ASSERT_TRUE(fs.mounted()) << fs.error();
  const std::string path = fs.file("bounded.db");
  std::mt19937_64 rng(6);
  auto o = writer_options(400);
  o.history.retention_bytes[0] = 1'000'000;
  o.history.retention_bytes[1] = 500'000;
  int stopped = 0;
  o.history.on_stopped = [&](const std::string&) { ++stopped; };
  uint64_t blob_bytes = 0;
  uint64_t least_free = UINT64_MAX;
  {
    StoreWriter writer(open_sqlite(path), o);
    core::TimeMs t = kT0;
    for (int i = 0; i < 2000; ++i, t += kMinute) {
      HistoryBucket b = minute(t, Dimension::kSrc, "", rng, 1'000'000, 2000, 2000);
      blob_bytes += encode_entries(b.entries).size();
      writer.push(std::move(b));
      if (i % 100 == 0) {
        writer.flush();
        least_free = std::min(least_free, fs.free_bytes());
      }
    }
    writer.flush();
    const auto stats = writer.stats();
    EXPECT_FALSE(stats.history_stopped) << stats.history_last_error;
    EXPECT_EQ(stats.history_dropped, 0u);
    EXPECT_EQ(stats.history_written, 2000u);
    EXPECT_GT(stats.history_deleted, 1500u);
  }
  EXPECT_EQ(stopped, 0);
  // Without retention this much would not have fit.
  EXPECT_GT(blob_bytes, 16u * 1024 * 1024) << "the test writes too little to matter";
  EXPECT_GT(least_free, 2u * 1024 * 1024);
  RawReader raw(path);
  EXPECT_EQ(raw.value("PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace netpulse::store

namespace netpulse::store {
namespace {

// History's put waits at a gate, so the test sees what the writer's queue holds meanwhile.
class GatedHistoryStore final : public Store {
 public:
  void put_results(std::span<const StoredResult>) override {}
  void put_alerts(std::span<const Alert>) override {}
  std::vector<StoredResult> results(const ResultFilter&) override { return {}; }
  std::optional<StoredResult> latest(std::string_view) override { return std::nullopt; }
  uint64_t delete_results(std::string_view) override { return 0; }
  std::vector<Alert> alerts(std::optional<core::TimeMs>, size_t) override { return {}; }
  std::string describe() const override { return "gated"; }
  void put_history(std::span<const HistoryBucket> buckets) override {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return open; });
    stored += buckets.size();
  }
  void release() {
    {
      std::lock_guard lock(mu);
      open = true;
    }
    cv.notify_all();
  }
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  size_t stored = 0;
};

TEST(HistoryWriter, QueuedHistoryIsBoundedByItsEntriesNotOnlyItsItems) {
  auto owned = std::make_unique<GatedHistoryStore>();
  GatedHistoryStore& store = *owned;
  StoreWriter::Options o = writer_options(10);
  o.max_history_entries = 25;  // two buckets of 10 keys (11 each) fit, a third does not
  StoreWriter writer(std::move(owned), o);
  std::mt19937_64 rng(5);
  std::atomic<int> pushed{0};
  std::thread producer([&] {
    for (int i = 0; i < 6; ++i) {
      HistoryBucket b = minute(kT0 + i * kMinute, Dimension::kSrc, "", rng, 400, 10, 200);
      EXPECT_EQ(b.entries.size(), 10u);
      writer.push(std::move(b));
      ++pushed;
    }
  });
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(pushed.load(), 2);  // one being written (held at the gate), one queued
  EXPECT_GE(writer.stats().producers_waiting, 1u);
  store.release();
  producer.join();
  writer.flush();
  EXPECT_EQ(pushed.load(), 6);
  std::lock_guard lock(store.mu);
  EXPECT_EQ(store.stored, 6u);
}

}  // namespace
}  // namespace netpulse::store
