// `netpulse run --rows`, the real binary: the shipped NSL-KDD models classify a file of
// connection rows beside the live flows, and their alerts reach /api/alerts, /metrics, the
// WebSocket and the SQLite store, each alert stored exactly once and the same as `netpulse
// classify` prints for the file; Ctrl-C during a paced replay stores every alert raised before
// it; bad --rows / --models arguments exit 2 or 1 with one line naming them.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <csignal>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "../engine/process_runner.hpp"
#include "../server/server_test_support.hpp"

namespace netpulse::testref {
namespace {

using namespace std::chrono_literals;
using server::testing::http;
using server::testing::WsTestClient;

const std::string kData =
    std::string(NETPULSE_SOURCE_DIR) + "/../shared/data/nsl-kdd/KDDTrain+_20Percent.txt";
const std::string kModels = std::string(NETPULSE_SOURCE_DIR) + "/models";

// (source, detector, score): what identifies a row alert.
using Key = std::tuple<std::string, std::string, double>;

// The first `first` rows of the NSL-KDD file, every guess_passwd row, and two malformed lines.
std::string rows_text(size_t first) {
  std::ifstream in(kData);
  std::string out, line;
  for (size_t i = 0; std::getline(in, line); ++i) {
    if (i < first || line.find(",guess_passwd,") != std::string::npos) out += line + "\n";
    if (i == 10) out += "not,a,row\n";
    if (i == 20) out += "1,tcp,no_such_service\n";
  }
  return out;
}

struct Classified {
  std::set<Key> alerts;
  std::map<std::string, uint64_t> per_detector;
  uint64_t rows = 0, malformed = 0;
};

// What `netpulse classify` prints for the file with every model of models/.
Classified classify(const TempDir& dir, const std::string& rows_file) {
  const Finished f = run_netpulse(
      {"classify", "-q", "-m", kModels + "/attack.json", "-m", kModels + "/bruteforce.json", "-m",
       kModels + "/dos.json", "--input", rows_file},
      dir);
  EXPECT_EQ(f.code, 0) << f.err;
  Classified c;
  for (const std::string& line : split_lines(f.out)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("summary")) {
      c.rows = j["summary"]["rows"];
      c.malformed = j["summary"]["malformed"];
      for (const auto& [k, v] : j["summary"]["alerts"].items()) c.per_detector[k] = v;
      continue;
    }
    c.alerts.insert({"row " + std::to_string(j["row"].get<uint64_t>()), j["detector"], j["score"]});
  }
  return c;
}

// `netpulse run` on a free port it picks itself (--web 127.0.0.1:0), with a fresh store.
struct RunningServer {
  RunningServer(const TempDir& dir, const std::string& rows_file,
                std::vector<std::string> extra = {})
      : db(dir / "np.db") {
    std::vector<std::string> args{
        "run",    "--web", "127.0.0.1:0", "--store", "sqlite:" + db, "--rows", "file:" + rows_file,
        "--rate", "1000",  "--models",    kModels};
    args.insert(args.end(), extra.begin(), extra.end());
    child = std::make_unique<Child>(args, dir);
    port = dashboard_port(*child);
  }

  // The row alerts /api/alerts holds (the flow detector's have an address as source).
  std::vector<nlohmann::json> row_alerts() const {
    const auto j = http(port, "GET", "/api/alerts?limit=10000").json();
    std::vector<nlohmann::json> out;
    if (!j.is_object()) return out;
    for (const auto& a : j["alerts"])
      if (a["source"].get<std::string>().rfind("row ", 0) == 0) out.push_back(a);
    return out;
  }

  std::string db;
  std::unique_ptr<Child> child;
  uint16_t port = 0;
};

// The row alerts in the SQLite file, read as another process would.
struct StoredAlerts {
  std::multiset<Key> all;
  size_t distinct = 0;  // distinct (detector, source)
};
StoredAlerts read_store(const std::string& path) {
  StoredAlerts s;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << path;
    sqlite3_close(db);
    return s;
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT source, detector, score, detail FROM alerts WHERE source LIKE 'row %'",
                     -1, &st, nullptr);
  while (st && sqlite3_step(st) == SQLITE_ROW) {
    const std::string source = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    const std::string detector = reinterpret_cast<const char*>(sqlite3_column_text(st, 1));
    s.all.insert({source, detector, sqlite3_column_double(st, 2)});
    const auto detail =
        nlohmann::json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 3)));
    EXPECT_EQ(detail["model"], detector);
    EXPECT_TRUE(detail["path"].is_object());
  }
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db,
                     "SELECT count(*) FROM (SELECT DISTINCT detector, source FROM alerts WHERE "
                     "source LIKE 'row %')",
                     -1, &st, nullptr);
  if (st && sqlite3_step(st) == SQLITE_ROW)
    s.distinct = static_cast<size_t>(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return s;
}

TEST(RunRows, ModelAlertsReachTheApiTheWebSocketAndTheStoreOnce) {
  if (!std::filesystem::exists(kData)) GTEST_SKIP() << "no " << kData;
  TempDir dir;
  const std::string rows_file = dir / "rows.txt";
  write_file(rows_file, rows_text(300));
  const Classified want = classify(dir, rows_file);
  ASSERT_GT(want.per_detector.count("dos") ? want.per_detector.at("dos") : 0, 0u);
  ASSERT_GT(want.per_detector.count("attack") ? want.per_detector.at("attack") : 0, 0u);
  ASSERT_GT(want.per_detector.count("bruteforce") ? want.per_detector.at("bruteforce") : 0, 0u);
  ASSERT_EQ(want.malformed, 2u);

  RunningServer run(dir, rows_file);
  ASSERT_NE(run.port, 0) << run.child->err();
  EXPECT_TRUE(wait_until([&] { return run.row_alerts().size() >= want.alerts.size(); }, 8s))
      << run.row_alerts().size() << " of " << want.alerts.size() << "\n"
      << run.child->err();

  // The API: the alerts classify prints, by row number, detector and score.
  const auto listed = run.row_alerts();
  EXPECT_EQ(listed.size(), want.alerts.size());  // none twice
  std::set<Key> api;
  for (const auto& a : listed) api.insert({a["source"], a["detector"], a["score"].get<double>()});
  EXPECT_TRUE(api == want.alerts) << api.size() << " alerts from the API, " << want.alerts.size()
                                  << " from classify";

  // The WebSocket: a new client gets the recent alerts, row alerts among them.
  WsTestClient ws(run.port);
  const auto seen = ws.wait_for([](const nlohmann::json& m) {
    return m.value("type", "") == "alert" &&
           m["alert"]["source"].get<std::string>().rfind("row ", 0) == 0;
  });
  ASSERT_TRUE(seen.has_value());
  EXPECT_TRUE(want.alerts.count({(*seen)["alert"]["source"], (*seen)["alert"]["detector"],
                                 (*seen)["alert"]["score"].get<double>()}));

  // Metrics.
  const std::string metrics = http(run.port, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("netpulse_rows_total " + std::to_string(want.rows) + "\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("netpulse_malformed_rows_total 2\n"), std::string::npos);
  EXPECT_NE(metrics.find("netpulse_row_alerts_total{detector=\"dos\"} " +
                         std::to_string(want.per_detector.at("dos")) + "\n"),
            std::string::npos);

  run.child->signal(SIGINT);
  ASSERT_TRUE(run.child->wait(10s));
  EXPECT_EQ(run.child->exit_code(), 0) << run.child->err();
  const std::string err = run.child->err();
  // The listing names each model's detector, algorithm and file version, as the files say.
  auto listing = [&](const std::string& name) {
    std::ifstream in(kModels + "/" + name + ".json");
    const auto j = nlohmann::json::parse(in);
    return name + " (detector " + j["detector"].get<std::string>() + ", " +
           j["algo"].get<std::string>() + ", format v" + std::to_string(j["version"].get<int>()) +
           ")";
  };
  EXPECT_NE(err.find("models in " + kModels + "/: " + listing("attack") + ", " +
                     listing("bruteforce") + ", " + listing("dos") +
                     "; classifying the rows of file:"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("rows.txt line 12: "), std::string::npos) << err;  // malformed, reported
  const std::string counts = std::to_string(want.rows) + " rows, 2 malformed; alerts: attack " +
                             std::to_string(want.per_detector.at("attack")) + ", bruteforce " +
                             std::to_string(want.per_detector.at("bruteforce")) + ", dos " +
                             std::to_string(want.per_detector.at("dos"));
  EXPECT_NE(err.find("rows.txt ended: " + counts), std::string::npos) << err;
  EXPECT_NE(err.find("rows.txt: " + counts), std::string::npos) << err;  // the summary

  // The store: every alert exactly once.
  const StoredAlerts stored = read_store(run.db);
  EXPECT_EQ(stored.all.size(), want.alerts.size());
  EXPECT_EQ(stored.distinct, want.alerts.size());
  EXPECT_TRUE(std::set<Key>(stored.all.begin(), stored.all.end()) == want.alerts);
}

TEST(RunRows, CtrlCDuringAPacedReplayStoresEveryAlertRaised) {
  if (!std::filesystem::exists(kData)) GTEST_SKIP() << "no " << kData;
  TempDir dir;
  const std::string rows_file = dir / "rows.txt";
  write_file(rows_file, rows_text(400));
  const Classified want = classify(dir, rows_file);

  RunningServer run(dir, rows_file, {"--rows-delay-ms", "10"});
  ASSERT_NE(run.port, 0) << run.child->err();
  // Some alerts, but far from all: the replay takes more than 4 s.
  ASSERT_TRUE(wait_until([&] { return run.row_alerts().size() >= 20; }, 8s)) << run.child->err();
  run.child->signal(SIGINT);
  ASSERT_TRUE(run.child->wait(10s));
  EXPECT_EQ(run.child->exit_code(), 0) << run.child->err();

  // The summary says how many alerts were raised; the store holds exactly those.
  const std::string err = run.child->err();
  std::smatch m;
  const std::regex summary(R"(rows\.txt: (\d+) rows, \d+ malformed; alerts: attack (\d+), )"
                           R"(bruteforce (\d+), dos (\d+)\n)");
  ASSERT_TRUE(std::regex_search(err, m, summary)) << err;
  const uint64_t raised = std::stoull(m[2]) + std::stoull(m[3]) + std::stoull(m[4]);
  EXPECT_LT(std::stoull(m[1]), want.rows);  // stopped before the end
  EXPECT_EQ(err.find("rows.txt ended"), std::string::npos) << err;
  const StoredAlerts stored = read_store(run.db);
  EXPECT_EQ(stored.all.size(), raised);
  EXPECT_EQ(stored.distinct, raised);
  EXPECT_GE(raised, 20u);
  for (const Key& k : stored.all) EXPECT_TRUE(want.alerts.count(k)) << std::get<0>(k);
}

TEST(RunRows, CtrlCInTheMiddleOfAFastStreamStoresEveryAlertRaised) {
  const std::string full =
      std::string(NETPULSE_SOURCE_DIR) + "/../shared/data/nsl-kdd/KDDTrain+.txt";
  if (!std::filesystem::exists(full)) GTEST_SKIP() << "no " << full;
  TempDir dir;
  // 378,000 rows: about 3 CPU-seconds for the forest, so Ctrl-C finds the row thread busy with a
  // block it has taken from the file.
  const std::string rows_file = dir / "rows.txt";
  const std::string text = read_file(full);
  write_file(rows_file, text + text + text);

  RunningServer run(dir, rows_file);
  ASSERT_NE(run.port, 0) << run.child->err();
  ASSERT_TRUE(wait_until(
      [&] {
        const auto j = http(run.port, "GET", "/api/alerts?limit=1").json();
        return j.is_object() && j.value("count", 0) > 0;
      },
      8s))
      << run.child->err();
  run.child->signal(SIGINT);
  ASSERT_TRUE(run.child->wait(10s));
  EXPECT_EQ(run.child->exit_code(), 0) << run.child->err();

  const std::string err = run.child->err();
  EXPECT_EQ(err.find("rows.txt ended"), std::string::npos) << err;  // stopped in the middle
  std::smatch m;
  const std::regex summary(R"(rows\.txt: (\d+) rows, \d+ malformed; alerts: attack (\d+), )"
                           R"(bruteforce (\d+), dos (\d+)\n)");
  ASSERT_TRUE(std::regex_search(err, m, summary)) << err;
  const uint64_t raised = std::stoull(m[2]) + std::stoull(m[3]) + std::stoull(m[4]);
  const StoredAlerts stored = read_store(run.db);
  EXPECT_GT(raised, 0u);
  EXPECT_EQ(stored.all.size(), raised);
  EXPECT_EQ(stored.distinct, raised);
}

TEST(RunRows, BadRowsAndModelsArgumentsExitWithOneLine) {
  TempDir dir;
  std::filesystem::create_directories(dir / "empty");
  std::filesystem::create_directories(dir / "bad");
  write_file(dir / "bad/broken.json", "{\"format\":\"netpulse-detector\"");
  write_file(dir / "rows.txt", "");
  const std::string store = "sqlite:" + dir / "np.db";
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string mention;
  };
  const std::vector<Case> cases = {
      {{"--rows", "file:" + dir / "rows.txt", "--models", dir / "empty"}, 2, "--rows"},
      {{"--rows", "file:" + dir / "rows.txt", "--models", dir / "none"}, 2, "--rows"},
      {{"--rows", "nosuch://x"}, 2, "--rows 'nosuch://x'"},
      {{"--rows-delay-ms", "5"}, 2, "--rows-delay-ms"},
      {{"--rows", "file:" + dir / "missing.txt"}, 1, "missing.txt"},
      {{"--models", dir / "bad"}, 1, "broken.json"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"run", "--web", "127.0.0.1:0", "--store", store};
    if (std::find(c.args.begin(), c.args.end(), "--models") == c.args.end())
      args.insert(args.end(), {"--models", kModels});
    args.insert(args.end(), c.args.begin(), c.args.end());
    const Finished f = run_netpulse(args, dir);
    std::string cmd;
    for (const auto& a : c.args) cmd += a + " ";
    EXPECT_EQ(f.code, c.code) << cmd << "\n" << f.err;
    EXPECT_EQ(f.err.rfind("netpulse: ", 0), 0u) << cmd << "\n" << f.err;
    EXPECT_EQ(f.err.find('\n'), f.err.size() - 1) << cmd << "\n" << f.err;
    EXPECT_NE(f.err.find(c.mention), std::string::npos) << cmd << "\n" << f.err;
  }
}

}  // namespace
}  // namespace netpulse::testref
