// The real binary: train -> evaluate -> classify on small files, and the exit codes of spec
// section 8.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "detect/compiled_model.hpp"
#include "detect/row_classifier.hpp"
#include "synthetic.hpp"

namespace netpulse::detect {
namespace {

namespace fs = std::filesystem;

struct CmdResult {
  int status = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ClassifyE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("netpulse-detect-e2e-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CmdResult run(const std::string& args, const std::string& stdin_text = "") {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr", in = dir_ / "stdin";
    write(in, stdin_text);
    const std::string cmd = std::string(NETPULSE_BINARY) + " " + args + " <" + in.string() + " >" +
                            out.string() + " 2>" + err.string();
    const int rc = std::system(cmd.c_str());
    return CmdResult{WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(out), slurp(err)};
  }
  void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  std::string path(const char* name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST_F(ClassifyE2E, TrainEvaluateClassify) {
  write(path("train.txt"), testdetect::known_rule_text(3000, 1));
  CmdResult r = run("train --data " + path("train.txt") + " --detector dos --folds 3 --out " +
                    path("models/dos.json"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("3-fold cross-validation"), std::string::npos);
  EXPECT_NE(r.out.find("accuracy"), std::string::npos);
  ASSERT_TRUE(fs::exists(path("models/dos.json")));

  // Evaluate: spec section 7's object.
  write(path("test.txt"), testdetect::known_rule_text(1000, 2));
  r = run("evaluate --model " + path("models/dos.json") + " --data " + path("test.txt") +
          " --per-label");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto ev = nlohmann::json::parse(r.out);
  EXPECT_EQ(ev["detector"], "dos");
  EXPECT_EQ(ev["rows"], 1000);
  EXPECT_GT(ev["accuracy"].get<double>(), 0.97);
  for (const char* k : {"precision", "recall", "f1", "false_positive_rate"})
    EXPECT_TRUE(ev.contains(k)) << k;
  const auto& c = ev["confusion"];
  EXPECT_EQ(c["tp"].get<int>() + c["fp"].get<int>() + c["tn"].get<int>() + c["fn"].get<int>(),
            1000);
  EXPECT_TRUE(ev["per_label"].contains("neptune"));

  // Classify: rows without labels, some malformed; one alert per attack row, in row order.
  testdetect::Rng rng(3);
  std::string input;
  std::vector<uint64_t> expected_rows;
  uint64_t line = 0;
  const int http = category_index(kService, "http");
  for (int i = 0; i < 500; ++i) {
    FeatureRow x = testdetect::random_row(rng);
    if (i % 2) x[kService] = static_cast<float>(http);
    ++line;
    input += testdetect::row_text(x, i % 3 ? "" : "normal") + "\n";
    if (testdetect::known_rule(x)) expected_rows.push_back(line);
    if (i % 100 == 50) {
      input += "1,tcp,no_such_service\n";
      ++line;
    }
  }
  write(path("rows.txt"), input);
  for (const char* threads : {"1", "2"}) {
    r = run("classify --model " + path("models/dos.json") + " --input " + path("rows.txt") +
            " --threads " + threads);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), expected_rows.size() + 1);
    for (size_t i = 0; i < expected_rows.size(); ++i) {
      EXPECT_EQ(lines[i]["row"], expected_rows[i]);
      EXPECT_EQ(lines[i]["detector"], "dos");
      EXPECT_GE(lines[i]["score"].get<double>(), 0.5);
      EXPECT_TRUE(lines[i]["path"].contains("src_bytes") || lines[i]["path"].contains("service"));
    }
    const auto& s = lines.back()["summary"];
    EXPECT_EQ(s["rows"], 500);
    EXPECT_EQ(s["malformed"], 5);
    EXPECT_EQ(s["alerts"]["dos"], expected_rows.size());
    EXPECT_TRUE(s.contains("rows_per_second"));
    EXPECT_NE(r.err.find("line 52: unknown category value in column 3 (service) 'no_such_service'"),
              std::string::npos)
        << r.err;
  }

  // Two models on stdin.
  r = run("classify -m " + path("models/dos.json") + " -m " + path("models/dos.json") + " -i - -q",
          input);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto lines = json_lines(r.out);
  EXPECT_EQ(lines.size(), 2 * expected_rows.size() + 1);
  EXPECT_EQ(lines.back()["summary"]["alerts"]["dos#2"], expected_rows.size());
}

// A tree whose deciding path is src_bytes, then dst_host_same_srv_rate, ending in a leaf of the
// given value; threshold 0, so every row alerts.
Model path_model(double leaf) {
  Model m;
  m.detector = Detector::kDos;
  m.algo = Algo::kTree;
  m.threshold = 0;
  Tree t;
  t.nodes.resize(5);
  t.nodes[0].feature = 4;  // src_bytes <= the largest float: always left
  t.nodes[0].threshold = std::numeric_limits<float>::max();
  t.nodes[0].right = 4;
  t.nodes[1].feature = 33;  // dst_host_same_srv_rate: the same
  t.nodes[1].threshold = std::numeric_limits<float>::max();
  t.nodes[1].right = 3;
  t.nodes[2].value = leaf;
  m.trees.push_back(t);
  return m;
}

std::string to_chars_text(double v, int precision) {
  char buf[64];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed,
                                         precision).ptr);
}
std::string to_chars_text(float v) {
  char buf[64];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// The alert line, built the plain way: what RowClassifier wrote before it kept precomputed
// pieces and short cuts for whole numbers, rates and scores.
std::string plain_alert(uint64_t row, double score, float src_bytes, float rate) {
  return "{\"row\":" + std::to_string(row) + ",\"detector\":\"dos\",\"score\":" +
         to_chars_text(score, 4) + ",\"path\":{\"src_bytes\":" + to_chars_text(src_bytes) +
         ",\"dst_host_same_srv_rate\":" + to_chars_text(rate) + "}}\n";
}

TEST(RowClassifierText, NumbersAreWrittenAsToCharsWritesThem) {
  const std::vector<CompiledModel> models{CompiledModel(path_model(1.0))};
  const RowClassifier rc(models, 4, features_used(path_model(1.0)));
  EXPECT_EQ(features_used(path_model(1.0)), (FeatureMask{1} << 4) | (FeatureMask{1} << 33));
  std::vector<float> values;
  for (int i = 0; i <= 200000; ++i) values.push_back(static_cast<float>(i));  // whole numbers
  for (int k = 0; k <= 1000; ++k)  // the parser's rates and tenths: m / 10^f as it computes it
    for (double scale : {10.0, 100.0, 1000.0})
      values.push_back(static_cast<float>(static_cast<double>(k) / scale));
  testdetect::Rng rng(5);
  for (int i = 0; i < 100000; ++i) {  // any finite float, and large whole numbers
    uint32_t bits = static_cast<uint32_t>(rng.next()) & 0x7FFFFFFFu;
    if ((bits >> 23) == 0xFF) bits &= 0xBFFFFFFFu;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    values.push_back(f);
    values.push_back(static_cast<float>(rng.below(uint64_t{1} << 40)));
  }
  values.push_back(-0.0f);
  std::string out;
  FeatureRow x{};
  for (size_t i = 0; i < values.size(); ++i) {
    x[4] = values[i];
    x[33] = values[values.size() - 1 - i];
    out.clear();
    rc.append_alert(i + 1, 0, 1.0, x, out);
    ASSERT_EQ(out, plain_alert(i + 1, 1.0, x[4], x[33]));
  }
}

TEST(RowClassifierText, ScoresAreWrittenAsToCharsWritesThem) {
  std::vector<double> scores = {0.0, -0.0, 0.5, 1.0, 0.00005, 0.00015, 0.99995, 0.123449999999,
                                0.12345, 0.5000499999, 2.0, 123.456789, 1e-300, 7.5e-5};
  for (int k = 0; k <= 20000; ++k) {  // every 4-decimal text, its half-way points, and ulps off
    const double v = k / 20000.0;
    scores.push_back(v);
    scores.push_back(std::nextafter(v, 0.0));
    scores.push_back(std::nextafter(v, 2.0));
  }
  testdetect::Rng rng(6);
  for (int i = 0; i < 20000; ++i) scores.push_back(rng.unit());
  // The score is append_alert's argument: one model serves them all (threshold 0: an alert).
  const std::vector<CompiledModel> models{CompiledModel(path_model(1.0))};
  const RowClassifier rc(models, 4, features_used(path_model(1.0)));
  FeatureRow x{};
  std::string out;
  for (double score : scores) {
    out.clear();
    rc.append_alert(3, 0, score, x, out);
    ASSERT_EQ(out, plain_alert(3, score, 0.0f, 0.0f)) << score;
  }
}

TEST_F(ClassifyE2E, ChecksColumnsTheModelsDoNotRead) {
  // The model reads src_bytes and service only; the parser converts just those, but a bad
  // value in any column still makes the row malformed, with the same report.
  write(path("train.txt"), testdetect::known_rule_text(2000, 1));
  ASSERT_EQ(
      run("train --data " + path("train.txt") + " --detector dos --out " + path("m.json")).status,
      0);
  const std::string good = testdetect::known_rule_text(1, 9).substr(0, std::string::npos);
  std::string base = good.substr(0, good.size() - 1);  // without its '\n'
  const size_t col20 = [&] {
    size_t at = 0;
    for (int c = 0; c < 20; ++c) at = base.find(',', at) + 1;
    return at;
  }();
  auto with_column20 = [&](const std::string& v) {
    std::string r = base;
    r.replace(col20, r.find(',', col20) - col20, v);
    return r;
  };
  std::string input;
  const std::vector<std::string> bad = {"1.2.3", "", "x", "-1", "12345678901234567890", "1."};
  for (const auto& v : bad) input += with_column20(v) + "\n" + base + "\r\n";
  input += base;  // the last line without '\n'
  write(path("rows.txt"), input);
  std::string first_out;
  for (const char* threads : {"1", "2"}) {
    const CmdResult r = run("classify --model " + path("m.json") + " --input " +
                            path("rows.txt") + " --threads " + threads);
    ASSERT_EQ(r.status, 0) << r.err;
    const auto lines = json_lines(r.out);
    ASSERT_FALSE(lines.empty());
    const auto& s = lines.back()["summary"];
    EXPECT_EQ(s["rows"], bad.size() + 1);
    EXPECT_EQ(s["malformed"], bad.size());
    for (size_t i = 0; i < bad.size(); ++i) {
      const std::string want = "line " + std::to_string(2 * i + 1) +
                               ": not a number in column 21 (" +
                               std::string(feature_info(20).name) + ")" +
                               (bad[i].empty() ? "\n" : " '" + bad[i] + "'\n");
      EXPECT_NE(r.err.find(want), std::string::npos) << r.err;
    }
    const std::string alerts = r.out.substr(0, r.out.rfind("{\"summary\""));
    if (first_out.empty()) first_out = alerts;
    EXPECT_EQ(alerts, first_out);  // the same bytes on 1 and 2 threads
  }
}

// train --select with a forest combined with an isolation forest (dos on KDDTrain+_20Percent, 1%
// budget): one threshold over both parts lets the isolation part's normal rows take the budget,
// so the selection splits the budget between the parts, and the model file carries each part's
// threshold from the selection, with the combined model alerting at 0.5 (any part alerting).
TEST_F(ClassifyE2E, SelectionSplitsACombinedModelsBudgetBetweenItsParts) {
  const std::string data =
      std::string(NETPULSE_SOURCE_DIR) + "/../shared/data/nsl-kdd/KDDTrain+_20Percent.txt";
  if (!fs::exists(data)) GTEST_SKIP() << data << " is not there";
  const CmdResult r = run("train -q --data " + data +
                          " --detector dos --select --fpr-budget 0.01 --seed 1 --threads 2"
                          " --candidate 'algo=forest trees=5 depth=6 plus=isolation' --out " +
                          path("split.json"));
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("budget split"), std::string::npos) << r.out;
  const auto m = nlohmann::json::parse(slurp(path("split.json")));
  const auto& c = m["training"]["selection"]["candidates"][0];
  ASSERT_TRUE(c.contains("part_thresholds")) << c.dump();
  EXPECT_GT(c["unseen_recall"].get<double>(), c["shared_threshold"]["unseen_recall"].get<double>());
  EXPECT_LE(c["shared_threshold"]["false_positive_rate"].get<double>(), 0.01);
  EXPECT_LE(c["false_positive_rate"].get<double>(), 0.01);
  EXPECT_EQ(m["threshold"], 0.5);
  ASSERT_EQ(m["parts"].size(), 2u);
  for (size_t p = 0; p < 2; ++p) EXPECT_EQ(m["parts"][p]["threshold"], c["part_thresholds"][p]);
  // The file as written alerts as the selection measured: evaluate it on its own training rows.
  const CmdResult ev = run("evaluate --model " + path("split.json") + " --data " + data);
  ASSERT_EQ(ev.status, 0) << ev.err;
  EXPECT_GT(nlohmann::json::parse(ev.out)["recall"].get<double>(), 0.99);
}

TEST_F(ClassifyE2E, ExitCodes) {
  // Spec section 8: bad arguments 2, inputs that cannot be opened 1.
  EXPECT_EQ(run("train --data x --detector nosuch --out y").status, 2);
  EXPECT_EQ(run("classify --input -").status, 2);
  CmdResult r = run("classify --model " + path("missing.json") + " --input -");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("missing.json"), std::string::npos);
  r = run("train --data " + path("missing.txt") + " --detector dos --out " + path("m.json"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("missing.txt"), std::string::npos);
  write(path("train.txt"), testdetect::known_rule_text(300, 1));
  ASSERT_EQ(
      run("train --data " + path("train.txt") + " --detector dos --out " + path("m.json")).status,
      0);
  r = run("classify --model " + path("m.json") + " --input " + path("nope.txt"));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("nope.txt"), std::string::npos);
  // No guess_passwd rows: the bruteforce detector cannot be trained.
  EXPECT_EQ(
      run("train --data " + path("train.txt") + " --detector bruteforce --out " + path("b.json"))
          .status,
      1);
}

TEST_F(ClassifyE2E, DetectFlowsFindsABruteForce) {
  std::string text;
  char buf[160];
  for (int i = 0; i < 20000; ++i) {
    const int ms = i;  // 1000 records per second
    const bool attack = i >= 8000 && i < 12000 && i % 4 == 0;
    std::snprintf(buf, sizeof buf, "2020-05-09 20:%02d:%02d.%03d %s %s %s %d\n", 41 + ms / 60000,
                  ms / 1000 % 60, ms % 1000, attack ? "SSH" : (i % 3 ? "HTTP" : "DNS"),
                  attack ? "198.51.100.66" : (i % 2 ? "10.0.0.1" : "10.0.0.2"),
                  attack ? "203.0.113.22" : (i % 2 ? "10.0.0.2" : "10.0.0.1"), 200 + i % 1000);
    text += buf;
  }
  text += "not a record\n";
  write(path("flows.txt"), text);
  const CmdResult r = run("detect-flows --input " + path("flows.txt"));
  ASSERT_EQ(r.status, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0]["detector"], "bruteforce");
  EXPECT_EQ(lines[0]["source"], "198.51.100.66");
  EXPECT_EQ(lines[0]["server"], "203.0.113.22");
  EXPECT_EQ(lines[1]["summary"]["flows"], 20000);
  EXPECT_EQ(lines[1]["summary"]["malformed"], 1);
  EXPECT_NE(r.err.find("line 20001"), std::string::npos);
}

}  // namespace
}  // namespace netpulse::detect
