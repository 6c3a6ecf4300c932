// The flow detectors beside the engine: a generated stream with a DoS interval raises a "dos"
// alert through the tap, and with the shipped flow models a "line-dos" alert naming the victim;
// a calm stream raises none, whether the tap waits for its detectors or skips blocks.
#include "app/alert_tap.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>

#include "detect/model.hpp"
#include "generate/generator.hpp"
#include "ingest/block_source.hpp"

namespace netpulse::app {
namespace {

AlertTap::Options with_models() {
  AlertTap::Options o;
  std::string why;
  for (const char* name : {"line-attack", "line-dos"}) {
    auto m =
        detect::load_model(std::string(NETPULSE_SOURCE_DIR) + "/models/" + name + ".json", &why);
    EXPECT_TRUE(m) << why;
    if (m) o.models.push_back({name, std::move(*m)});
  }
  EXPECT_EQ(AlertTap::check_flow_models(o.models), "");
  return o;
}

struct TapCounts {
  uint64_t records = 0, skipped = 0, gaps = 0;
};

// from_file: the stream is written to a file and offered as `process --threads 2` offers it,
// in blocks not read yet (ingest::SourceOptions::deferred_reads) that the tap reads itself.
std::vector<store::Alert> detect(const std::vector<generate::Scenario>& scenarios,
                                 AlertTap::Options options = {}, TapCounts* counts = nullptr,
                                 bool from_file = false) {
  generate::GeneratorConfig c;
  c.seed = 7;
  c.start_time = 1589056890000;
  c.count = 60000;
  c.params.rate = 5000;
  c.scenarios = scenarios;
  generate::Generator g(c);
  generate::StringSink text;
  g.run(text);

  std::mutex mu;
  std::vector<store::Alert> alerts;
  AlertTap tap(
      [&](store::Alert a) {
        std::lock_guard lock(mu);
        alerts.push_back(std::move(a));
      },
      std::move(options));
  auto owner = std::make_shared<std::string>(std::move(text.text));
  if (from_file) {
    const std::string path = (std::filesystem::temp_directory_path() /
                              ("netpulse-alert-tap-" + std::to_string(::getpid()) + ".txt"))
                                 .string();
    FILE* f = std::fopen(path.c_str(), "wb");
    EXPECT_NE(f, nullptr);
    if (f) {
      EXPECT_EQ(std::fwrite(owner->data(), 1, owner->size(), f), owner->size());
      std::fclose(f);
    }
    ingest::SourceOptions so;
    so.block_size = 100000;
    so.deferred_reads = true;
    auto opened = ingest::open_source(*ingest::parse_uri(path), so);
    EXPECT_TRUE(opened.ok()) << opened.status().message();
    auto source = std::move(opened).value_or(nullptr);
    std::filesystem::remove(path);  // the open file stays readable
    size_t deferred = 0;
    ingest::Block b;
    while (source &&
           source->next(b, std::chrono::milliseconds(0)) == ingest::BlockSource::Next::kBlock) {
      deferred += b.data == nullptr;
      tap.offer(b);
    }
    EXPECT_GT(deferred, 0u) << "the blocks should reach the tap unread";
    owner->clear();
  }
  // In blocks of whole lines, as the feed hands them out.
  size_t at = 0;
  while (at < owner->size()) {
    size_t end = std::min(owner->size(), at + 100000);
    while (end < owner->size() && (*owner)[end - 1] != '\n') ++end;
    tap.offer(ingest::Block{owner->data() + at, end - at, owner});
    at = end;
  }
  tap.stop();
  if (counts) {
    *counts = {tap.records(), tap.skipped_blocks(), tap.gaps()};
  } else {
    EXPECT_EQ(tap.records(), 60000u);
    EXPECT_EQ(tap.skipped_blocks(), 0u);
  }
  return alerts;
}

TEST(AlertTap, DosIntervalRaisesAnAlert) {
  const auto alerts = detect({generate::Scenario{generate::ScenarioKind::kDos, 3000, 5000}});
  ASSERT_FALSE(alerts.empty());
  EXPECT_EQ(alerts[0].detector, "dos");
  EXPECT_FALSE(alerts[0].source.empty());
  EXPECT_GT(alerts[0].score, 0);
  EXPECT_NE(alerts[0].detail_json.find("features"), std::string::npos);
}

TEST(AlertTap, FileBlocksReadByTheTapGiveTheSameAlerts) {
  const std::vector<generate::Scenario> dos{
      generate::Scenario{generate::ScenarioKind::kDos, 3000, 5000}};
  const auto from_memory = detect(dos);
  const auto from_file = detect(dos, {}, nullptr, true);
  ASSERT_FALSE(from_memory.empty());
  ASSERT_EQ(from_file.size(), from_memory.size());
  for (size_t i = 0; i < from_file.size(); ++i) {
    EXPECT_EQ(from_file[i].detector, from_memory[i].detector) << i;
    EXPECT_EQ(from_file[i].source, from_memory[i].source) << i;
    EXPECT_EQ(from_file[i].time, from_memory[i].time) << i;
  }
}

TEST(AlertTap, CalmTrafficRaisesNone) {
  EXPECT_TRUE(detect({}).empty());
}

TEST(AlertTap, FlowModelsNameTheVictim) {
  AlertTap::Options o = with_models();
  o.rules = false;
  const auto alerts =
      detect({generate::Scenario{generate::ScenarioKind::kDos, 3000, 5000}}, std::move(o));
  ASSERT_FALSE(alerts.empty());
  for (const auto& a : alerts) {
    EXPECT_TRUE(a.detector == "line-dos" || a.detector == "line-attack") << a.detector;
    EXPECT_EQ(a.source, "203.0.113.80");  // the victim, not the answering servers
    EXPECT_NE(a.detail_json.find("\"by\":\"destination\""), std::string::npos) << a.detail_json;
  }
}

TEST(AlertTap, WaitingForTheModelsExaminesEveryRecord) {
  AlertTap::Options o = with_models();
  o.max_queued_bytes = 1;  // one block at a time
  o.wait_when_behind = true;
  EXPECT_TRUE(detect({}, std::move(o)).empty());  // and checks every record was examined
}

TEST(AlertTap, SkippedBlocksRaiseNoModelAlert) {
  // A backlog of one block, not waiting: blocks are skipped whenever the models are busy, and
  // the gaps they leave (low counts) must not read as an anomaly.
  AlertTap::Options o = with_models();
  o.max_queued_bytes = 1;
  TapCounts c;
  EXPECT_TRUE(detect({}, std::move(o), &c).empty());
  // A run of skipped blocks followed by a queued one restarts the models' warm-up once (how
  // many are skipped, and where, depends on the machine; FlowModelDetector's WarmsUpAgainAfterAGap
  // tests what a restart does).
  EXPECT_LE(c.gaps, c.skipped);
  EXPECT_GT(c.records, 0u);
}

}  // namespace
}  // namespace netpulse::app
