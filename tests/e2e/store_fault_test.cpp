// Store faults with nothing lost (issue 16), end to end through `netpulse process --web`:
//  - PostgreSQL stopped for 30 s in the middle of a run and started again: netpulse keeps
//    computing, queues within its bounded queue and then holds the engine back rather than
//    drop, reports the outage in /api/status and /metrics, reconnects by itself, and the stored
//    results equal those of a run without the fault;
//  - SQLite on a full disk (a small tmpfs the test mounts; we run as root): a clear error in
//    /api/status, the engine waits, the file stays intact (PRAGMA integrity_check), and once
//    there is room again everything is stored, equal to a run without the fault.
// The records come through a FIFO, so the test decides what is read before and during the
// fault.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "../engine/process_runner.hpp"
#include "../engine/stream_gen.hpp"
#include "../server/server_test_support.hpp"
#include "../store/store_test_support.hpp"
#include "store/store.hpp"

namespace netpulse::testref {
namespace {

using namespace std::chrono_literals;
using server::testing::http;

constexpr int64_t kBase = 1'589'056'800'000;  // 2020-05-09T20:40:00Z
const char* const kQueries[] = {"protocol-share", "protocol-topk", "protocol-outliers",
                                "ip-share", "ip-topk", "ip-outliers"};

// Records [from, to) of a stream of 10 a second of event time.
std::string records(int from, int to) {
  StreamGen g(7);
  const char* protos[] = {"HTTP", "DNS", "SSH", "NTP", "HTTPS"};
  std::string out;
  for (int i = 0; i < to; ++i) {
    const std::string src = "10.0.0." + std::to_string(1 + g.index(40));
    const std::string proto = protos[g.index(5)];
    const uint64_t bytes = 1 + g.index(4000);
    if (i >= from) out += record_line(kBase + int64_t{i} * 100, proto, src, "192.168.0.1", bytes) + "\n";
  }
  return out;
}

// Every stored result of every query, read back through the store's own interface.
std::vector<store::StoredResult> stored(const std::string& uri) {
  auto s = store::testing::open_or_fail(uri);
  std::vector<store::StoredResult> all;
  if (!s) return all;
  for (const char* q : kQueries) {
    store::ResultFilter f;
    f.query = q;
    f.limit = 0;
    auto r = s->results(f);
    all.insert(all.end(), r.begin(), r.end());
  }
  return all;
}

std::vector<std::string> process_args(const std::string& input, const std::string& store) {
  return {"process", "--input", input, "--store", store, "--T", "10", "--k", "3", "--quiet"};
}

// Writes to a FIFO from a thread of its own (the write blocks while netpulse holds back).
class FifoWriter {
 public:
  explicit FifoWriter(const std::string& path) : path_(path) {
    if (mkfifo(path.c_str(), 0600) != 0) ADD_FAILURE() << "mkfifo: " << std::strerror(errno);
  }
  ~FifoWriter() { close(); }
  // Opens the FIFO (once netpulse has it open for reading) and writes `data` in the background.
  void write(std::string data) {
    join();
    thread_ = std::thread([this, data = std::move(data)] {
      // Close-on-exec: a child started meanwhile (the restarted PostgreSQL server) must not
      // hold the FIFO open, or netpulse never sees the end of its input.
      if (fd_ < 0) fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
      size_t off = 0;
      while (fd_ >= 0 && off < data.size()) {
        const ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      written_ = off == data.size();
    });
  }
  bool join() {
    if (thread_.joinable()) thread_.join();
    return written_;
  }
  void close() {
    join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::string path_;
  std::thread thread_;
  int fd_ = -1;
  bool written_ = true;
};

nlohmann::json status_of(int port) {
  return http(static_cast<uint16_t>(port), "GET", "/api/status").json();
}

double metric(int port, const std::string& name) {
  const std::string body = http(static_cast<uint16_t>(port), "GET", "/metrics").body;
  const size_t at = body.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(body.substr(at + name.size() + 2));
}

TEST(StoreFaults, PostgresGoneForThirtySecondsLosesNothing) {
  TempDir dir;
  // 3,600 s of records: 21,600 results, more than the store queue holds (10,000), so the
  // engine must wait while the database is gone.
  const int kFirst = 6'000, kAll = 36'000;
  write_file(dir / "all.txt", records(0, kAll));
  ASSERT_EQ(run_netpulse(process_args(dir / "all.txt", "sqlite:" + dir / "ref.db"), dir).code, 0);
  const std::vector<store::StoredResult> want = stored("sqlite:" + dir / "ref.db");
  ASSERT_GE(want.size(), 6u * 3600);  // and the windows the end of the input closes

  store::testing::PgServer pg;
  ASSERT_TRUE(pg.running()) << pg.error();
  const int port = testsupport::free_port();
  FifoWriter fifo(dir / "in.fifo");
  auto args = process_args(dir / "in.fifo", pg.uri());
  args.insert(args.end(), {"--web", "127.0.0.1:" + std::to_string(port)});
  Child np(args, dir);
  fifo.write(records(0, kFirst));
  ASSERT_TRUE(fifo.join());
  // The first records' results are in the database; then it goes away.
  ASSERT_TRUE(wait_until([&] {
    std::string n;
    return store::testing::pg_exec(pg.uri(), "SELECT count(*) FROM results", &n).empty() && !n.empty() &&
           std::stoi(n) >= 6 * (kFirst / 10 - 20);
  }, 30s)) << np.err();
  pg.stop();
  const auto stopped = std::chrono::steady_clock::now();
  fifo.write(records(kFirst, kAll));

  // Still computing, holding back once the queue is full, and saying so.
  ASSERT_TRUE(wait_until([&] {
    const auto s = status_of(port);
    return s.is_object() && s["store"]["failing"] == true && s["store"]["producer_waits"].get<int>() > 0;
  }, 20s)) << status_of(port).dump();
  const auto s = status_of(port);
  EXPECT_EQ(s["store"]["queue_depth"], s["store"]["capacity"]) << s.dump();
  const std::string error = s["store"]["last_error"];
  EXPECT_NE(error.find("postgresql://postgres@127.0.0.1"), std::string::npos) << error;
  EXPECT_EQ(metric(port, "netpulse_store_failing"), 1.0);
  EXPECT_GT(metric(port, "netpulse_store_write_errors_total"), 0.0);
  EXPECT_TRUE(np.running());

  std::this_thread::sleep_until(stopped + 30s);
  ASSERT_TRUE(pg.start()) << pg.error();
  ASSERT_TRUE(fifo.join());
  ASSERT_TRUE(wait_until([&] { return metric(port, "netpulse_store_failing") == 0.0; }, 30s));
  fifo.close();  // the end of the input: netpulse flushes and exits
  ASSERT_TRUE(np.wait(60s)) << np.err() << status_of(port).dump();
  EXPECT_EQ(np.exit_code(), 0) << np.err();
  EXPECT_TRUE(stored(pg.uri()) == want) << "the stored results differ from the run without the fault";
}

// A tmpfs of its own, mounted for the test and unmounted after.
class Tmpfs {
 public:
  explicit Tmpfs(const std::string& dir, const std::string& size) : dir_(dir) {
    std::filesystem::create_directories(dir);
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()) != 0)
      error_ = "mount tmpfs on " + dir + ": " + std::strerror(errno) + " (the test needs root)";
  }
  ~Tmpfs() {
    if (error_.empty()) umount2(dir_.c_str(), MNT_DETACH);
  }
  bool grow(const std::string& size) {
    return mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()) == 0;
  }
  const std::string& error() const { return error_; }

 private:
  std::string dir_, error_;
};

std::string integrity_check(const std::string& path) {
  sqlite3* db = nullptr;
  std::string out = "cannot open";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

TEST(StoreFaults, SqliteOnAFullDiskWaitsAndResumesIntact) {
  TempDir dir;
  const int kAll = 30'000;
  write_file(dir / "all.txt", records(0, kAll));
  ASSERT_EQ(run_netpulse(process_args(dir / "all.txt", "sqlite:" + dir / "ref.db"), dir).code, 0);
  const std::vector<store::StoredResult> want = stored("sqlite:" + dir / "ref.db");
  ASSERT_GE(want.size(), 6u * 3000);

  // 1 MiB: the schema and a few hundred results fit, not the 18,000.
  Tmpfs disk(dir / "disk", "1m");
  ASSERT_TRUE(disk.error().empty()) << disk.error();
  const std::string db = dir / "disk/results.db";
  const int port = testsupport::free_port();
  FifoWriter fifo(dir / "in.fifo");
  auto args = process_args(dir / "in.fifo", "sqlite:" + db);
  args.insert(args.end(), {"--web", "127.0.0.1:" + std::to_string(port)});
  Child np(args, dir);
  fifo.write(records(0, kAll));

  ASSERT_TRUE(wait_until([&] {
    const auto s = status_of(port);
    return s.is_object() && s["store"]["failing"] == true && s["store"]["producer_waits"].get<int>() > 0;
  }, 30s)) << status_of(port).dump();
  const auto s = status_of(port);
  const std::string error = s["store"]["last_error"];
  EXPECT_NE(error.find("full"), std::string::npos) << error;  // "database or disk is full"
  EXPECT_EQ(metric(port, "netpulse_store_failing"), 1.0);
  EXPECT_GT(metric(port, "netpulse_sqlite_memory_bytes"), 0.0);  // its connections' caches
  EXPECT_TRUE(np.running());
  EXPECT_EQ(integrity_check(db), "ok");

  ASSERT_TRUE(disk.grow("64m"));
  ASSERT_TRUE(fifo.join());
  fifo.close();
  ASSERT_TRUE(np.wait(60s)) << np.err();
  EXPECT_EQ(np.exit_code(), 0) << np.err();
  EXPECT_EQ(integrity_check(db), "ok");
  EXPECT_TRUE(stored("sqlite:" + db) == want) << "the stored results differ from the run without the fault";
}

}  // namespace
}  // namespace netpulse::testref
