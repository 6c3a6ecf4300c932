// The flow detectors beside the engine: a generated stream with a DoS interval raises a "dos"
// alert through the tap, and with the shipped flow models a "flow-dos" alert naming the victim;
// a calm stream raises none, whether the tap waits for its detectors or skips blocks.
#include "app/alert_tap.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>

#include "detect/model.hpp"
#include "generate/generator.hpp"

namespace netpulse::app {
namespace {

AlertTap::Options with_models() {
  AlertTap::Options o;
  std::string why;
  for (const char* name : {"flow-attack", "flow-dos"}) {
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

std::vector<store::Alert> detect(const std::vector<generate::Scenario>& scenarios,
                                 AlertTap::Options options = {}, TapCounts* counts = nullptr) {
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
    EXPECT_TRUE(a.detector == "flow-dos" || a.detector == "flow-attack") << a.detector;
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
