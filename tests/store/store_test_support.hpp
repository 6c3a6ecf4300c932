// Shared pieces of the store tests: a temporary directory, sample results, and a throwaway
// PostgreSQL server (tests/store/pg_server.sh) started once per test process on first use and
// stopped, its directory removed, when the process's tests end (a watchdog covers crashes).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "../support/free_port.hpp"
#include "store/store.hpp"

namespace netpulse::store::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& base = std::filesystem::temp_directory_path().string()) {
    std::string pattern = base + "/netpulse-store-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline StoredResult make_result(const std::string& query, core::TimeMs window_end,
                                const std::string& params = R"({"T":10,"k":3})",
                                uint64_t records = 1234) {
  StoredResult r;
  r.window_start = window_end - 10000;
  r.window_end = window_end;
  r.query = query;
  r.params_json = params;
  r.records = records;
  r.total_bytes = records * 1000 + 7;
  r.keys = 15;
  r.rows_json = R"([{"key":"10.0.0.1","bytes":900312,"share":0.1585,"z":1.23},)"
                R"({"key":"10.0.0.2","bytes":1000,"share":0.0002}])";
  return r;
}

inline Alert make_alert(core::TimeMs time, const std::string& source, double score = 0.97) {
  Alert a;
  a.time = time;
  a.detector = "dos";
  a.source = source;
  a.score = score;
  a.detail_json = R"({"count":511,"srv_count":511,"same_srv_rate":1})";
  return a;
}

inline std::unique_ptr<Store> open_or_fail(const std::string& uri) {
  std::string why;
  auto store = open_store(uri, &why);
  EXPECT_NE(store, nullptr) << why;
  return store;
}

// Runs a shell command; returns its exit status, output (stdout and stderr) in *output.
inline int run_command(const std::string& command, std::string* output) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) output->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A PostgreSQL server of its own in a temporary directory under /dev/shm or /tmp (short paths for
// the socket, open to the postgres user), on a free 127.0.0.1 port.
class PgServer {
 public:
  PgServer() {
    // tmpfs when there is one: copying the data directory there is ten times faster.
    std::string pattern =
        access("/dev/shm", W_OK) == 0 ? "/dev/shm/netpulse-pg-XXXXXX" : "/tmp/netpulse-pg-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      error_ = "mkdtemp failed";
      return;
    }
    dir_ = pattern;
    for (int attempt = 0; attempt < 3 && !running_; ++attempt) {
      port_ = testsupport::free_port();
      running_ = start();
    }
  }
  ~PgServer() { destroy(); }
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  bool running() const { return running_; }
  const std::string& error() const { return error_; }
  std::string uri() const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }
  int port() const { return port_; }

  // Stops the server, keeping its data ("the database is gone").
  void stop() {
    std::string out;
    run_command(script() + " stop " + dir_, &out);
    running_ = false;
  }
  bool start() {
    std::string out;
    const int status = run_command(
        script() + " start " + dir_ + " " + std::to_string(port_) + " " + std::to_string(getpid()),
        &out);
    if (status == 0) return running_ = true;
    error_ = "PostgreSQL test server did not start (exit " + std::to_string(status) + "): " + out;
    return false;
  }
  void destroy() {
    if (dir_.empty()) return;
    std::string out;
    run_command(script() + " destroy " + dir_, &out);
    dir_.clear();
    running_ = false;
  }

 private:
  // The initdb template lives in the build tree, beside the binary, and is made once.
  static std::string script() {
    const std::string build = std::filesystem::path(NETPULSE_BINARY).parent_path().string();
    return "NETPULSE_PG_TEMPLATE=" + build + "/tests/pg-template-15 bash " + NETPULSE_SOURCE_DIR +
           "/tests/store/pg_server.sh";
  }
  std::string dir_;
  int port_ = 0;
  bool running_ = false;
  std::string error_;
};

// The process's shared server: started on first use, destroyed by the environment below.
class PgEnvironment : public ::testing::Environment {
 public:
  static PgServer& server() {
    if (!server_) server_ = std::make_unique<PgServer>();
    return *server_;
  }
  void TearDown() override { server_.reset(); }

 private:
  static inline std::unique_ptr<PgServer> server_;
};
inline ::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(new PgEnvironment);

// Runs SQL on the test server directly (bypassing the store); returns "" or the error.
inline std::string pg_exec(const std::string& uri, const std::string& sql,
                           std::string* first_value = nullptr) {
  PGconn* conn = PQconnectdb(uri.c_str());
  std::string error;
  if (PQstatus(conn) != CONNECTION_OK) {
    error = PQerrorMessage(conn);
  } else {
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    PGresult* r = PQexec(conn, sql.c_str());
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(r);
    } else if (first_value && PQntuples(r) > 0) {
      *first_value = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
  }
  PQfinish(conn);
  return error;
}

// The shared server with empty tables; a test fails (never skips) when PostgreSQL is missing.
inline std::string fresh_pg_uri() {
  PgServer& pg = PgEnvironment::server();
  if (!pg.running() && !pg.start()) {
    ADD_FAILURE() << pg.error();
    return "";
  }
  const std::string error = pg_exec(pg.uri(), "DROP TABLE IF EXISTS results, alerts");
  if (!error.empty()) ADD_FAILURE() << error;
  return pg.uri();
}

}  // namespace netpulse::store::testing
