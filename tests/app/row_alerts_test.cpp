// The NSL-KDD models over a stream of connection rows, as `netpulse run --rows` runs them: the
// alerts handed on are those `netpulse classify` prints for the same rows (same row numbers,
// detectors, scores and deciding paths), malformed rows are counted and reported without
// stopping the stream, stop() ends a stream that never ends, and the replay delay paces rows.
#include "app/row_alerts.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "detect/model.hpp"

namespace netpulse::app {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kData =
    std::string(NETPULSE_SOURCE_DIR) + "/../shared/data/nsl-kdd/KDDTrain+_20Percent.txt";

std::string model_path(const std::string& name) {
  return std::string(NETPULSE_SOURCE_DIR) + "/models/" + name + ".json";
}

RowAlerts::Model load(const std::string& name, const std::string& detector = "") {
  std::string why;
  const auto m = detect::load_model(model_path(name), &why);
  if (!m) throw std::runtime_error(why);
  // Only the columns the model reads are converted, as `run` loads it.
  return {name, detector.empty() ? std::string(detect::detector_name(m->detector)) : detector,
          detect::CompiledModel(*m), detect::features_used(*m)};
}

std::vector<RowAlerts::Model> shipped_models() {
  std::vector<RowAlerts::Model> v;
  for (const char* name : {"attack", "bruteforce", "dos"}) v.push_back(load(name));
  return v;
}

// Known-normal and known-attack rows of the NSL-KDD file: its first `first` lines (neptune,
// normal, smurf, ...), then every guess_passwd row (bruteforce), with malformed lines inserted
// after every `malformed_every` rows (0: none).
std::string nslkdd_rows(size_t first, size_t malformed_every = 0) {
  std::ifstream in(kData);
  std::string out, line;
  size_t n = 0, bad = 0;
  auto add = [&](const std::string& l) {
    out += l + "\n";
    if (malformed_every && ++n % malformed_every == 0)
      out += (bad++ % 2 ? "1,tcp,no_such_service\n" : "not,a,row\n");
  };
  std::vector<std::string> guess;
  for (size_t i = 0; std::getline(in, line); ++i) {
    if (i < first)
      add(line);
    else if (line.find(",guess_passwd,") != std::string::npos)
      guess.push_back(line);
  }
  for (const auto& g : guess) add(g);
  return out;
}

struct Expected {
  uint64_t row;
  std::string detector;
  double score;
  nlohmann::json path;
};

struct Classified {
  std::vector<Expected> alerts;
  nlohmann::json summary;
};

// What `netpulse classify` prints for the rows with the shipped models (the reference).
Classified classify_binary(const std::string& rows) {
  const fs::path dir =
      fs::temp_directory_path() / ("netpulse-row-alerts-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path file = dir / "rows.txt";
  std::ofstream(file) << rows;
  const std::string cmd = std::string(NETPULSE_BINARY) + " classify -q -m " + model_path("attack") +
                          " -m " + model_path("bruteforce") + " -m " + model_path("dos") +
                          " --input " + file.string() + " 2>/dev/null";
  Classified c;
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[65536];
  for (size_t n; p && (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  if (p) pclose(p);
  fs::remove_all(dir);
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("summary")) {
      c.summary = j["summary"];
      continue;
    }
    c.alerts.push_back({j["row"].get<uint64_t>(), j["detector"].get<std::string>(),
                        j["score"].get<double>(), j["path"]});
  }
  return c;
}

// Collects what RowAlerts hands on.
struct Collected {
  std::mutex mu;
  std::vector<store::Alert> alerts;
  std::vector<std::string> reports;
  int ends = 0;

  RowAlerts::AlertHandler handler() {
    return [this](store::Alert a) {
      std::lock_guard lock(mu);
      alerts.push_back(std::move(a));
    };
  }
  RowAlerts::Options options(std::chrono::milliseconds delay = 0ms) {
    RowAlerts::Options o;
    o.delay = delay;
    o.report = [this](const std::string& line) {
      std::lock_guard lock(mu);
      reports.push_back(line);
    };
    o.on_end = [this](const RowAlerts&) {
      std::lock_guard lock(mu);
      ++ends;
    };
    return o;
  }
  size_t size() {
    std::lock_guard lock(mu);
    return alerts.size();
  }
};

TEST(RowAlerts, HandsOnTheAlertsClassifyPrints) {
  if (!fs::exists(kData)) GTEST_SKIP() << "no " << kData;
  const std::string rows = nslkdd_rows(400, 97);
  const Classified want = classify_binary(rows);
  ASSERT_FALSE(want.summary.is_null()) << "netpulse classify gave no summary";
  ASSERT_GT(want.summary["alerts"]["dos"].get<int>(), 0);
  ASSERT_GT(want.summary["alerts"]["attack"].get<int>(), 0);
  ASSERT_GT(want.summary["alerts"]["bruteforce"].get<int>(), 0);

  Collected got;
  // Small blocks: row numbers must carry over from block to block.
  RowAlerts ra(ingest::make_memory_source(rows, 4096), shipped_models(), got.handler(),
               got.options());
  server::MetricsRegistry metrics;
  ra.register_metrics(metrics);
  ASSERT_TRUE(ra.wait_for_end(10s));
  ra.stop();

  ASSERT_EQ(got.alerts.size(), want.alerts.size());
  for (size_t i = 0; i < want.alerts.size(); ++i) {
    const store::Alert& a = got.alerts[i];
    const Expected& e = want.alerts[i];
    EXPECT_EQ(a.source, "row " + std::to_string(e.row)) << i;
    EXPECT_EQ(a.detector, e.detector) << i;
    EXPECT_EQ(a.score, e.score) << i;
    const auto detail = nlohmann::json::parse(a.detail_json);
    EXPECT_EQ(detail["model"], e.detector) << i;  // the files are named after their detectors
    EXPECT_EQ(detail["path"], e.path) << i;
    EXPECT_GT(a.time, 1'600'000'000'000);  // wall-clock time
  }
  EXPECT_EQ(ra.rows(), want.summary["rows"].get<uint64_t>());
  EXPECT_EQ(ra.malformed(), want.summary["malformed"].get<uint64_t>());
  EXPECT_EQ(ra.malformed(), 4u);
  for (size_t m = 0; m < ra.model_count(); ++m)
    EXPECT_EQ(ra.alerts(m), want.summary["alerts"][ra.detector(m)].get<uint64_t>()) << m;
  EXPECT_EQ(metrics.value("netpulse_rows_total"), static_cast<double>(ra.rows()));
  EXPECT_EQ(metrics.value("netpulse_malformed_rows_total"), 4.0);
  EXPECT_EQ(metrics.value("netpulse_row_alerts_total", "detector=\"dos\""),
            want.summary["alerts"]["dos"].get<double>());
  EXPECT_NE(metrics.prometheus_text().find("netpulse_row_alerts_total{detector=\"bruteforce\"}"),
            std::string::npos);
  EXPECT_EQ(got.ends, 1);
  EXPECT_EQ(ra.error(), "");
  // Malformed rows are reported with their row (line) number, as classify reports them.
  ASSERT_EQ(got.reports.size(), 4u);
  EXPECT_NE(got.reports[0].find("line 98: "), std::string::npos) << got.reports[0];
  EXPECT_NE(got.reports[1].find("line 196: unknown category value in column 3 (service) "
                                "'no_such_service'"),
            std::string::npos)
      << got.reports[1];
}

TEST(RowAlerts, MalformedRowsAreCountedAndNeverStopTheStream) {
  // A known neptune (dos) row, then 15 malformed lines and a blank one, then the same row again.
  const std::string dos_row =
      "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,"
      "0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19";
  std::string rows = dos_row + "\n";
  for (int i = 0; i < 15; ++i) rows += "garbage " + std::to_string(i) + "\n";
  rows += "\n" + dos_row + "\n";
  std::vector<RowAlerts::Model> models;
  models.push_back(load("dos"));
  Collected got;
  RowAlerts ra(ingest::make_memory_source(rows, 64), std::move(models), got.handler(),
               got.options());
  ASSERT_TRUE(ra.wait_for_end(10s));
  ra.stop();
  EXPECT_EQ(ra.rows(), 2u);
  EXPECT_EQ(ra.malformed(), 15u);
  ASSERT_EQ(got.alerts.size(), 2u);
  EXPECT_EQ(got.alerts[0].source, "row 1");
  EXPECT_EQ(got.alerts[1].source, "row 18");  // 1 + 15 malformed + 1 blank + 1
  EXPECT_EQ(got.alerts[1].detector, "dos");
  // The first ten, then one line saying there are more.
  ASSERT_EQ(got.reports.size(), 11u);
  EXPECT_NE(got.reports[0].find("line 2: "), std::string::npos) << got.reports[0];
  EXPECT_NE(got.reports[9].find("line 11: "), std::string::npos) << got.reports[9];
  EXPECT_NE(got.reports[10].find("only the first 10"), std::string::npos) << got.reports[10];
}

TEST(RowAlerts, TwoModelsOfOneDetectorKeepApartNames) {
  const std::string dos_row =
      "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,"
      "0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00\n";
  std::vector<RowAlerts::Model> models;
  models.push_back(load("dos"));
  models.push_back(load("dos", "dos#2"));
  Collected got;
  RowAlerts ra(ingest::make_memory_source(dos_row + dos_row, 1 << 20), std::move(models),
               got.handler(), got.options());
  ASSERT_TRUE(ra.wait_for_end(10s));
  ra.stop();
  ASSERT_EQ(got.alerts.size(), 4u);
  EXPECT_EQ(got.alerts[0].detector, "dos");
  EXPECT_EQ(got.alerts[1].detector, "dos#2");
  EXPECT_EQ(got.alerts[1].source, "row 1");
  EXPECT_EQ(got.alerts[3].source, "row 2");
  EXPECT_EQ(ra.alerts(0), 2u);
  EXPECT_EQ(ra.alerts(1), 2u);
}

// A stream that never ends: one block, then nothing until close().
class EndlessSource final : public ingest::BlockSource {
 public:
  explicit EndlessSource(std::string first)
      : first_(std::make_shared<std::string>(std::move(first))) {}
  Next next(ingest::Block& out, std::chrono::milliseconds timeout) override {
    if (!given_) {
      given_ = true;
      out = ingest::Block{first_->data(), first_->size(), first_};
      return Next::kBlock;
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_; });
    return closed_ ? Next::kEnd : Next::kTimeout;
  }
  void close() override {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  std::string describe() const override { return "endless"; }

 private:
  std::shared_ptr<std::string> first_;
  bool given_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
};

TEST(RowAlerts, StopEndsAStreamThatNeverEndsAfterTheRowsInHand) {
  if (!fs::exists(kData)) GTEST_SKIP() << "no " << kData;
  const std::string rows = nslkdd_rows(200);
  const size_t want = classify_binary(rows).alerts.size();
  Collected got;
  RowAlerts ra(std::make_unique<EndlessSource>(rows), shipped_models(), got.handler(),
               got.options());
  EXPECT_FALSE(ra.wait_for_end(300ms));
  const auto t0 = std::chrono::steady_clock::now();
  ra.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_TRUE(ra.ended());
  EXPECT_EQ(got.alerts.size(), want);  // every row read was classified before stop() returned
  EXPECT_EQ(got.ends, 0);              // stopped, not ended by itself
}

TEST(RowAlerts, DelayReplaysAtAFixedPaceAndStopInterruptsIt) {
  if (!fs::exists(kData)) GTEST_SKIP() << "no " << kData;
  const std::string rows = nslkdd_rows(100);
  Collected got;
  RowAlerts ra(ingest::make_memory_source(rows, 1 << 20), shipped_models(), got.handler(),
               got.options(40ms));
  std::this_thread::sleep_for(420ms);
  const uint64_t seen = ra.rows();
  EXPECT_GE(seen, 3u);   // about 10 rows at 40 ms a row; fewer on a loaded machine
  EXPECT_LE(seen, 12u);  // not the whole block at once
  const auto t0 = std::chrono::steady_clock::now();
  ra.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
  EXPECT_LE(ra.rows(), seen + 1);
  EXPECT_GT(got.size(), 0u);
}

}  // namespace
}  // namespace netpulse::app
