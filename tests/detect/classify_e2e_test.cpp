// The real binary: train -> evaluate -> classify on small files, and the exit codes of spec
// section 8.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

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
