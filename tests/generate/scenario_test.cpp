#include "generate/scenario.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "core/ip_addr.hpp"
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

TEST(ParseScenario, AcceptsFloods) {
  std::string why;
  auto s = parse_scenario("flood@5s+10s", &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->kind, ScenarioKind::kFlood);
  EXPECT_EQ(s->start_ms, 5'000);
  EXPECT_EQ(s->length_ms, 10'000);
  EXPECT_EQ(to_string(*s), "flood@5s+10s");
  s = parse_scenario("flood6@0+1m", &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->kind, ScenarioKind::kFlood6);
  EXPECT_EQ(to_string(*s), "flood6@0s+60s");
  EXPECT_TRUE(is_flood(ScenarioKind::kFlood6));
  EXPECT_FALSE(is_flood(ScenarioKind::kDos));
}

TEST(ParseScenario, RejectsWithAReason) {
  std::string why;
  EXPECT_FALSE(parse_scenario("dos", &why));
  EXPECT_NE(why.find("NAME@START+LENGTH"), std::string::npos);
  EXPECT_FALSE(parse_scenario("storm@1s+2s", &why));
  EXPECT_NE(why.find("unknown scenario 'storm'"), std::string::npos);
  EXPECT_NE(why.find("portscan"), std::string::npos);
  EXPECT_NE(why.find("flood6"), std::string::npos);
  EXPECT_FALSE(parse_scenario("flood@1s", &why));
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

TEST(ScenarioMixer, LeavesFloodsOut) {
  ScenarioMixer m(
      {Scenario{ScenarioKind::kFlood, 0, 1000}, Scenario{ScenarioKind::kFlood6, 0, 1000}});
  EXPECT_TRUE(m.empty());
  m.set_origin(0);
  EXPECT_EQ(m.next_change(), INT64_MAX);
  m.update(0);
  EXPECT_FALSE(m.active());
}

TEST(ScenarioMixer, CulpritsLookAsDocumented) {
  for (const ScenarioProfile& p : scenario_profiles()) {
    EXPECT_EQ(&profile(p.kind), &p);
    const auto text = core::parse_ip(p.culprit_text);
    ASSERT_TRUE(text) << p.name;
    if (!text->is_v6) {
      EXPECT_EQ(text->v4_value(), p.culprit) << p.name;
    }
    if (is_flood(p.kind)) continue;  // not mixed; see FloodSchedule below
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

// All the records of a FloodSchedule, in the order it gives them.
std::vector<FloodRecord> all_records(FloodSchedule& f) {
  std::vector<FloodRecord> out;
  while (f.next_time() != INT64_MAX) {
    FloodRecord r{};
    f.draw(r);
    out.push_back(r);
  }
  return out;
}

class FloodCount : public ::testing::TestWithParam<uint64_t> {};

// A flood of LENGTH ms at F records/s adds ceil(LENGTH * F / 1000) records, record j at
// START + floor(j * 1000 / F), all inside [START, START + LENGTH).
TEST_P(FloodCount, RateTimesLengthRecordsInsideTheInterval) {
  const uint64_t rate = GetParam();
  const core::TimeMs origin = 1'589'000'000'000;
  FloodSchedule f({Scenario{ScenarioKind::kFlood, 2'000, 1'500}}, rate, 7);
  f.set_origin(origin);
  EXPECT_EQ(f.next_time(), origin + 2'000);
  const std::vector<FloodRecord> records = all_records(f);
  ASSERT_EQ(records.size(), (1'500 * rate + 999) / 1000);
  for (size_t j = 0; j < records.size(); ++j) {
    ASSERT_EQ(records[j].time, origin + 2'000 + static_cast<core::TimeMs>(j * 1000 / rate)) << j;
    ASSERT_LT(records[j].time, origin + 3'500);
  }
}

INSTANTIATE_TEST_SUITE_P(Rates, FloodCount,
                         ::testing::Values(1, 3, 999, 1000, 7001, 200'000, 1'000'000));

bool in_net(uint32_t a, uint32_t net, int prefix) {
  return (a >> (32 - prefix)) == (net >> (32 - prefix));
}

TEST(FloodSchedule, IpV4SourcesAreDistinctSpreadAndOutsideTheReservedRanges) {
  FloodSchedule f({Scenario{ScenarioKind::kFlood, 0, 1'000}}, 1'000'000, 1);
  f.set_origin(0);
  EXPECT_FALSE(f.has_ipv6());
  const std::vector<FloodRecord> records = all_records(f);
  ASSERT_EQ(records.size(), 1'000'000u);
  std::vector<uint32_t> sources;
  sources.reserve(records.size());
  std::map<unsigned, uint64_t> first_octet;
  std::set<uint32_t> sizes;
  for (const FloodRecord& r : records) {
    ASSERT_FALSE(r.v6);
    ASSERT_EQ(r.fields.dst, kFloodVictim);
    ASSERT_EQ(r.fields.protocol, kProtocolHttp);
    ASSERT_GE(r.fields.bytes, 40u);
    ASSERT_LE(r.fields.bytes, 64u);
    sizes.insert(r.fields.bytes);
    const uint32_t a = r.fields.src;
    ASSERT_FALSE((a >> 24) == 0 || (a >> 24) == 127 || (a >> 24) >= 224) << a;
    ASSERT_FALSE(in_net(a, ipv4(192, 0, 2, 0), 24) || in_net(a, ipv4(198, 51, 100, 0), 24) ||
                 in_net(a, ipv4(203, 0, 113, 0), 24))
        << a;
    sources.push_back(a);
    ++first_octet[a >> 24];
  }
  EXPECT_EQ(sizes.size(), 25u);
  std::sort(sources.begin(), sources.end());
  EXPECT_EQ(std::unique(sources.begin(), sources.end()), sources.end()) << "a source repeats";
  // Uniform over the allowed space: each of the 222 allowed /8s gets about 1/222 of them.
  EXPECT_EQ(first_octet.size(), 222u);
  for (const auto& [octet, n] : first_octet)
    EXPECT_NEAR(static_cast<double>(n), 1e6 / 222, 300) << octet;
}

TEST(FloodSchedule, IpV6SourcesAreDistinctInTheDocumentationPrefix) {
  FloodSchedule f({Scenario{ScenarioKind::kFlood6, 0, 1'000}}, 1'000'000, 1);
  f.set_origin(0);
  EXPECT_TRUE(f.has_ipv6());
  const std::vector<FloodRecord> records = all_records(f);
  ASSERT_EQ(records.size(), 1'000'000u);
  std::vector<core::Ip6> sources;
  sources.reserve(records.size());
  std::set<uint64_t> group3;
  for (const FloodRecord& r : records) {
    ASSERT_TRUE(r.v6);
    ASSERT_EQ(r.src6.hi >> 32, 0x20010db8u);         // 2001:db8::/32
    ASSERT_NE((r.src6.hi >> 16) & 0xffff, 0xffffu);  // never the victim's /48
    ASSERT_EQ(r.fields.protocol, kProtocolHttp);
    ASSERT_GE(r.fields.bytes, 60u);
    ASSERT_LE(r.fields.bytes, 84u);
    group3.insert((r.src6.hi >> 16) & 0xffff);
    sources.push_back(r.src6);
  }
  EXPECT_GT(group3.size(), 60'000u);  // the middle bits are random too
  std::sort(sources.begin(), sources.end());
  EXPECT_EQ(std::unique(sources.begin(), sources.end()), sources.end()) << "a source repeats";
  EXPECT_EQ(core::to_string(core::IpAddr::v6(kFlood6Victim)), "2001:db8:ffff::81");
  EXPECT_EQ(profile(ScenarioKind::kFlood6).culprit_text, "2001:db8:ffff::81");
}

TEST(FloodSchedule, SameSeedSameRecordsOtherSeedOthers) {
  const std::vector<Scenario> s = {Scenario{ScenarioKind::kFlood, 0, 100},
                                   Scenario{ScenarioKind::kFlood6, 50, 100}};
  FloodSchedule a(s, 10'000, 3), b(s, 10'000, 3), c(s, 10'000, 4);
  for (FloodSchedule* f : {&a, &b, &c}) f->set_origin(0);
  const auto ra = all_records(a), rb = all_records(b), rc = all_records(c);
  ASSERT_EQ(ra.size(), rb.size());
  ASSERT_EQ(ra.size(), rc.size());
  size_t same_as_other_seed = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    ASSERT_EQ(ra[i].time, rb[i].time);
    ASSERT_EQ(ra[i].v6, rb[i].v6);
    ASSERT_EQ(ra[i].fields.src, rb[i].fields.src);
    ASSERT_EQ(ra[i].src6, rb[i].src6);
    ASSERT_EQ(ra[i].fields.bytes, rb[i].fields.bytes);
    ASSERT_EQ(ra[i].time, rc[i].time);  // another seed: the same times, other sources
    same_as_other_seed += ra[i].fields.src == rc[i].fields.src && ra[i].src6 == rc[i].src6;
  }
  EXPECT_LT(same_as_other_seed, 10u);
}

// Overlapping floods add up, and their records come out merged in time order.
TEST(FloodSchedule, OverlappingFloodsAddUpInTimeOrder) {
  FloodSchedule f(
      {Scenario{ScenarioKind::kFlood6, 500, 1'000}, Scenario{ScenarioKind::kFlood, 0, 1'000}},
      1'000, 9);
  f.set_origin(10'000);
  EXPECT_EQ(f.next_time(), 10'000);
  const std::vector<FloodRecord> records = all_records(f);
  ASSERT_EQ(records.size(), 2'000u);
  uint64_t v6 = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    v6 += records[i].v6;
    if (i > 0) {
      ASSERT_GE(records[i].time, records[i - 1].time) << i;
    }
  }
  EXPECT_EQ(v6, 1'000u);
  EXPECT_EQ(records.front().time, 10'000);
  EXPECT_EQ(records.back().time, 11'499);
}

TEST(FloodSchedule, SkipToDropsTheRecordsOfTheGap) {
  FloodSchedule f({Scenario{ScenarioKind::kFlood, 0, 1'000}}, 1'000, 1);
  f.set_origin(0);
  FloodRecord r{};
  f.draw(r);
  EXPECT_EQ(r.time, 0);
  f.skip_to(600);
  EXPECT_EQ(all_records(f).size(), 400u);
  FloodSchedule g({Scenario{ScenarioKind::kFlood, 0, 1'000}}, 1'000, 1);
  g.set_origin(0);
  g.skip_to(5'000);  // past the end: nothing left
  EXPECT_EQ(g.next_time(), INT64_MAX);
}

}  // namespace
}  // namespace netpulse::generate
