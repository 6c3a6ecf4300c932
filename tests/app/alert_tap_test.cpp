// The flow detector beside the engine: a generated stream with a DoS interval raises a "dos"
// alert through the tap; a calm stream raises none.
#include "app/alert_tap.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>

#include "generate/generator.hpp"

namespace netpulse::app {
namespace {

std::vector<store::Alert> detect(const std::vector<generate::Scenario>& scenarios) {
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
  AlertTap tap([&](store::Alert a) {
    std::lock_guard lock(mu);
    alerts.push_back(std::move(a));
  });
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
  EXPECT_EQ(tap.records(), 60000u);
  EXPECT_EQ(tap.skipped_blocks(), 0u);
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

}  // namespace
}  // namespace netpulse::app
