// `netpulse process --detect`, with the real binary: the flow detectors beside the queries. On
// generated records with the DoS scenario, the shipped NSL-KDD flow models store alerts naming
// the victim within 5 s of the attack's start, the same alerts go to --alert-output as JSON
// lines, and the results are those of a run without --detect; the rules find the victim too;
// normal traffic stores no alert; CSV input works as line input does; bad --detect items exit 2
// and a model that cannot run on flow records exits 1, naming what it lacks.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../support/shell.hpp"

namespace {

namespace fs = std::filesystem;
using netpulse::testing::shell;

const std::string kBin = NETPULSE_BINARY;
const std::string kModels = std::string(NETPULSE_SOURCE_DIR) + "/models";

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/netpulse-detect-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

struct StoredAlert {
  int64_t time;
  std::string detector, source;
  nlohmann::json detail;
};

std::vector<StoredAlert> stored_alerts(const std::string& db_path) {
  std::vector<StoredAlert> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << db_path;
    sqlite3_close(db);
    return out;
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT time, detector, source, detail FROM alerts ORDER BY time, id", -1,
                     &st, nullptr);
  while (st && sqlite3_step(st) == SQLITE_ROW) {
    out.push_back(
        {sqlite3_column_int64(st, 0), reinterpret_cast<const char*>(sqlite3_column_text(st, 1)),
         reinterpret_cast<const char*>(sqlite3_column_text(st, 2)),
         nlohmann::json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 3)))});
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

constexpr int64_t kStart = 1589054400000;  // 2020-05-09 20:00:00 UTC

std::string generate(const TempDir& dir, const std::string& name, const std::string& args) {
  const std::string path = dir / name;
  const auto r =
      shell(kBin + " generate -q --start-time '2020-05-09 20:00:00' " + args + " > " + path);
  EXPECT_EQ(r.status, 0) << r.err;
  return path;
}

TEST(ProcessDetect, FlowModelsStoreAlertsOnTheVictimAndLeaveResultsAlone) {
  TempDir dir;
  const std::string input =
      generate(dir, "dos.txt", "--seed 5 --duration 60s --scenario dos@30s+20s");
  const std::string db = dir / "np.db";
  const auto r = shell(kBin + " process --input " + input + " --T 10 --store sqlite:" + db +
                       " --detect models --models " + kModels + " --alert-output " +
                       (dir / "alerts.jsonl") + " --output " + (dir / "with.jsonl"));
  ASSERT_EQ(r.status, 0) << r.err;
  // Of the directory's flow models, those that run on line records: flow-attack needs ports and
  // flags, so line-attack runs; line-dos and flow-bruteforce run on every input.
  EXPECT_NE(r.err.find("flow detectors: flow-bruteforce (bruteforce, tree), line-attack (attack, "
                       "forest), line-dos (dos, forest)"),
            std::string::npos)
      << r.err;

  const auto alerts = stored_alerts(db);
  ASSERT_FALSE(alerts.empty());
  for (const auto& a : alerts) {
    EXPECT_TRUE(a.detector == "line-dos" || a.detector == "line-attack") << a.detector;
    // DNS answers from many servers to one victim: the victim confirmed it, and is named.
    EXPECT_EQ(a.source, "203.0.113.80");
    EXPECT_EQ(a.detail["destination"], "203.0.113.80");
    EXPECT_EQ(a.detail["by"], "destination");
    EXPECT_EQ(a.detail["protocol"], "DNS");
    EXPECT_TRUE(a.detail["features"].is_object());
  }
  EXPECT_GE(alerts.front().time, kStart + 30'000);
  EXPECT_LT(alerts.front().time, kStart + 35'000);

  // --alert-output: the same alerts, one JSON line each.
  std::ifstream in(dir / "alerts.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(lines.size(), alerts.size());
  EXPECT_EQ(lines.front()["detector"], alerts.front().detector);
  EXPECT_EQ(lines.front()["source"], alerts.front().source);

  // The results are those of the same run without detectors.
  const auto plain =
      shell(kBin + " process -q --input " + input + " --T 10 --output " + (dir / "without.jsonl"));
  ASSERT_EQ(plain.status, 0) << plain.err;
  EXPECT_EQ(shell("cmp " + (dir / "with.jsonl") + " " + (dir / "without.jsonl")).status, 0);
}

TEST(ProcessDetect, RulesAndModelsTogetherAndCsvInput) {
  TempDir dir;
  const std::string input =
      generate(dir, "bf.csv", "--seed 5 --duration 60s --format csv --scenario bruteforce@30s+20s");
  const std::string db = dir / "np.db";
  const auto r =
      shell(kBin + " process -q --format csv --input " + input + " --store sqlite:" + db +
            " --detect rules,models --models " + kModels + " --output /dev/null");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto alerts = stored_alerts(db);
  bool rule = false, model = false;
  for (const auto& a : alerts) {
    EXPECT_EQ(a.source, "198.51.100.66") << a.detector;  // the attacker, by rules and models
    rule |= a.detector == "bruteforce";
    model |= a.detector == "flow-bruteforce";
  }
  EXPECT_TRUE(rule);
  EXPECT_TRUE(model);
}

TEST(ProcessDetect, NormalTrafficStoresNoAlert) {
  TempDir dir;
  const std::string input = generate(dir, "normal.txt", "--duration 3m --seed 9");
  const std::string db = dir / "np.db";
  const auto r = shell(kBin + " process --input " + input + " --store sqlite:" + db +
                       " --detect rules,models --models " + kModels + " --output /dev/null");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("flow detectors: 900000 records, 0 alerts (0 from models)"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(stored_alerts(db).empty());
}

TEST(ProcessDetect, AlertsGoToStandardErrorWhenNothingElseTakesThem) {
  TempDir dir;
  const std::string input =
      generate(dir, "bf.txt", "--seed 5 --duration 40s --scenario bruteforce@20s+10s");
  const auto r = shell(kBin + " process -q --input " + input + " --output /dev/null --detect " +
                       kModels + "/flow-bruteforce.json");
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream err(r.err);
  int n = 0;
  for (std::string line; std::getline(err, line);) {
    const auto j = nlohmann::json::parse(line);  // nothing but alert lines
    EXPECT_EQ(j["detector"], "flow-bruteforce");
    EXPECT_EQ(j["source"], "198.51.100.66");
    ++n;
  }
  EXPECT_GE(n, 1);
}

TEST(ProcessDetect, ModelsAloneIsAcceptedAsImagesSetItForEveryCommand) {
  TempDir dir;
  const std::string input = generate(dir, "x.txt", "--count 10");
  const auto r = shell("NETPULSE_MODELS=" + kModels + " " + kBin + " process -q --input " + input +
                       " --output /dev/null");
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(ProcessDetect, BadDetectorsExitNamingThem) {
  TempDir dir;
  const std::string input = generate(dir, "x.txt", "--count 10");
  // A directory whose only flow model needs a collector's features, with no line- version.
  TempDir flow_only;
  std::filesystem::copy_file(kModels + "/flow-attack.json", flow_only / "flow-attack.json");
  struct Case {
    std::string args;
    int status;
    std::string says;
  };
  const Case cases[] = {
      {"--detect bogus", 2, "--detect 'bogus'"},
      {"--detect none,rules", 2, "none and detectors together"},
      {"--confirm 2", 2, "--confirm: only with --detect"},
      // The row model needs content features no flow record carries.
      {"--detect " + kModels + "/attack.json", 1, "needs features that line input does not give"},
      // The flow export model needs what line records do not give (ports, flags).
      {"--detect " + kModels + "/flow-attack.json", 1,
       "needs features that line input does not give: duration,flag"},
      {"--detect " + dir.path.string(), 2, "no flow-*.json or line-*.json model"},
      {"--detect " + flow_only.path.string(), 1,
       "flow-attack.json: needs features that line records do not give (duration,flag,"},
      {"--detect models --models " + flow_only.path.string(), 1, "no line-attack.json beside it"},
      {"--detect models --models " + dir.path.string(), 2,
       "--detect models: no flow-*.json or line-*.json"},
      {"--detect rules --alert-output tcp://127.0.0.1:9", 2, "--alert-output 'tcp://"},
      {"--detect rules --alert-output /nonexistent/dir/a.jsonl", 1, "/nonexistent/dir/a.jsonl"},
  };
  for (const Case& c : cases) {
    const auto r = shell(kBin + " process -q --input " + input + " --output /dev/null " + c.args);
    EXPECT_EQ(r.status, c.status) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args << ": " << r.err;
  }
}

}  // namespace

namespace {

TEST(RunDetect, RulesAndFlowModelsWatchAFileByDefault) {
  TempDir dir;
  const std::string input = generate(
      dir, "flood.txt", "--seed 5 --duration 40s --scenario flood@20s+10s --flood-rate 20000");
  const std::string db = dir / "np.db";
  const auto r =
      shell(kBin + " run --input file:" + input + " --web 127.0.0.1:0 --store sqlite:" + db +
            " --models " + kModels + " --history-keys 0");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("flow detectors: rules, flow-bruteforce (bruteforce, tree), line-attack "
                       "(attack, forest)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("row models in " + kModels + "/: attack"), std::string::npos) << r.err;
  bool rule = false, model = false;
  for (const auto& a : stored_alerts(db)) {
    EXPECT_EQ(a.source, "203.0.113.81") << a.detector;  // the flood's victim
    rule |= a.detector == "dos";
    model |= a.detector == "line-dos" || a.detector == "line-attack";
  }
  EXPECT_TRUE(rule);
  EXPECT_TRUE(model);
}

}  // namespace
