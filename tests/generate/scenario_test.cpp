#include "generate/scenario.hpp"

#include <gtest/gtest.h>

#include <set>

#include "generate/catalog.hpp"

namespace netpulse::generate {
namespace {

TEST(ParseScenario, AcceptsNameStartAndLength) {
  std::string why;
  auto s = parse_scenario("dos@30s+20s", &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->kind, ScenarioKind::kDos);
  EXPECT_EQ(s->start_ms, 30'000);
  EXPECT_EQ(s->length_ms, 20'000);
  EXPECT_EQ(to_string(*s), "dos@30s+20s");

  s = parse_scenario("portscan@0+1m", &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->start_ms, 0);
  EXPECT_EQ(s->length_ms, 60'000);
  s = parse_scenario("bruteforce@0s+1500ms", &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(to_string(*s), "bruteforce@0s+1500ms");
  ASSERT_TRUE(parse_scenario("elephant@2m+30s", &why)) << why;
}

TEST(ParseScenario, RejectsWithAReason) {
  std::string why;
  EXPECT_FALSE(parse_scenario("dos", &why));
  EXPECT_NE(why.find("NAME@START+LENGTH"), std::string::npos);
  EXPECT_FALSE(parse_scenario("flood@1s+2s", &why));
  EXPECT_NE(why.find("unknown scenario 'flood'"), std::string::npos);
  EXPECT_NE(why.find("portscan"), std::string::npos);
  EXPECT_FALSE(parse_scenario("dos@x+2s", &why));
  EXPECT_NE(why.find("START"), std::string::npos);
  EXPECT_FALSE(parse_scenario("dos@1s+0s", &why));
  EXPECT_NE(why.find("LENGTH"), std::string::npos);
  EXPECT_FALSE(parse_scenario("dos@-1s+2s", &why));
}

TEST(ScenarioMixer, ActiveOnlyInsideTheIntervalAndAtItsShare) {
  ScenarioMixer m({Scenario{ScenarioKind::kBruteforce, 10'000, 5'000}});
  m.set_origin(1'000'000);
  EXPECT_EQ(m.next_change(), 1'010'000);
  m.update(1'000'000);
  EXPECT_FALSE(m.active());
  m.update(1'010'000);
  ASSERT_TRUE(m.active());
  EXPECT_EQ(m.next_change(), 1'015'000);

  SplitMix64 rng(5);
  int hits = 0;
  const int n = 100'000;
  for (int i = 0; i < n; ++i) {
    RecordFields f{};
    if (!m.draw(rng.next(), rng, f)) continue;
    ++hits;
    EXPECT_EQ(f.src, profile(ScenarioKind::kBruteforce).culprit);
    EXPECT_EQ(f.protocol, kProtocolSsh);
    EXPECT_GE(f.bytes, 100u);
    EXPECT_LE(f.bytes, 500u);
  }
  EXPECT_NEAR(hits / double(n), profile(ScenarioKind::kBruteforce).share, 0.01);

  m.update(1'015'000);
  EXPECT_FALSE(m.active());
  EXPECT_EQ(m.next_change(), INT64_MAX);
}

TEST(ScenarioMixer, OverlappingScenariosShareAtMostNinetyPercent) {
  ScenarioMixer m(
      {Scenario{ScenarioKind::kDos, 0, 1000}, Scenario{ScenarioKind::kPortscan, 0, 1000}});
  m.set_origin(0);
  m.update(0);
  SplitMix64 rng(9);
  int dos = 0, scan = 0;
  const int n = 100'000;
  for (int i = 0; i < n; ++i) {
    RecordFields f{};
    if (!m.draw(rng.next(), rng, f)) continue;
    (f.dst == profile(ScenarioKind::kDos).culprit ? dos : scan)++;
  }
  const double total = profile(ScenarioKind::kDos).share + profile(ScenarioKind::kPortscan).share;
  EXPECT_NEAR((dos + scan) / double(n), kMaxScenarioShare, 0.01);
  EXPECT_NEAR(dos / double(n), profile(ScenarioKind::kDos).share / total * kMaxScenarioShare, 0.01);
}

TEST(ScenarioMixer, CulpritsLookAsDocumented) {
  for (const ScenarioProfile& p : scenario_profiles()) {
    ScenarioMixer m({Scenario{p.kind, 0, 1000}});
    m.set_origin(0);
    m.update(0);
    SplitMix64 rng(1);
    std::set<uint32_t> srcs, dsts;
    for (int i = 0; i < 10'000; ++i) {
      RecordFields f{};
      if (!m.draw(rng.next(), rng, f)) continue;
      srcs.insert(f.src);
      dsts.insert(f.dst);
    }
    if (p.ip_key == "src") {
      EXPECT_EQ(srcs, std::set<uint32_t>{p.culprit}) << p.name;
    } else {
      EXPECT_EQ(dsts, std::set<uint32_t>{p.culprit}) << p.name;
    }
    if (p.kind == ScenarioKind::kDos) {
      EXPECT_GT(srcs.size(), 1000u);
    }
    if (p.kind == ScenarioKind::kPortscan) {
      EXPECT_GT(dsts.size(), 1000u);
    }
  }
}

}  // namespace
}  // namespace netpulse::generate
