// Each scenario of `netpulse generate`, found by `netpulse process`: generate 60 s of event time
// with the scenario from 20 s to 40 s, run the six queries over 5-second windows, and look for
// the culprit among the ip-outliers rows (spec section 3) of the windows inside the scenario,
// and not in the windows before it. Then the flood's command-line contract.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/time.hpp"
#include "generate/scenario.hpp"

namespace {

using netpulse::generate::ScenarioKind;

std::string run(const std::string& command, int* status) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int st = ::pclose(p);
  *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

class ScenarioIsFound : public ::testing::TestWithParam<ScenarioKind> {};

TEST_P(ScenarioIsFound, CulpritIsAnIpOutlierDuringTheScenarioOnly) {
  const auto& profile = netpulse::generate::profile(GetParam());
  const std::string culprit(profile.culprit_text);
  const std::string bin = NETPULSE_BINARY;
  // A flood adds its records: 20,000/s on top of the 5,000/s (the default, a million a second,
  // would make this test slow, not different).
  const std::string flood = netpulse::generate::is_flood(GetParam()) ? " --flood-rate 20000" : "";
  const std::string command =
      bin + " generate -q --start-time '2020-05-09 00:00:00' --rate 5000 --duration 60s --seed 3 " +
      "--scenario " + std::string(profile.name) + "@20s+20s" + flood + " | " + bin +
      " process -q --input - --T 5 --X 2 --ip-key " + std::string(profile.ip_key);
  int status = 0;
  const std::string out = run(command, &status);
  ASSERT_EQ(status, 0) << command;

  const netpulse::core::TimeMs t0 = *netpulse::core::parse_datetime("2020-05-09 00:00:00");
  int inside = 0, inside_found = 0, before = 0, before_found = 0;
  size_t pos = 0, nl;
  while ((nl = out.find('\n', pos)) != std::string::npos) {
    const auto j = nlohmann::json::parse(out.substr(pos, nl - pos));
    pos = nl + 1;
    if (j["query"] != "ip-outliers") continue;
    auto offset = [&](const char* field) {
      std::string iso = j[field].get<std::string>();
      iso[10] = ' ';
      iso.pop_back();  // 'Z'
      return (*netpulse::core::parse_datetime(iso) - t0) / 1000;
    };
    const int64_t start = offset("window_start"), end = offset("window_end");
    std::set<std::string> keys;
    for (const auto& row : j["rows"]) keys.insert(row["key"].get<std::string>());
    const bool found = keys.count(culprit) > 0;
    if (start >= 20 && end <= 40) {
      ++inside;
      inside_found += found;
    } else if (end <= 20) {
      ++before;
      before_found += found;
    }
  }
  EXPECT_EQ(inside, 16);  // windows ending at 25 s .. 40 s
  EXPECT_EQ(inside_found, inside) << profile.name << ": " << culprit
                                  << " not flagged in every window";
  EXPECT_GE(before, 15);
  EXPECT_EQ(before_found, 0);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ScenarioIsFound,
                         ::testing::Values(ScenarioKind::kDos, ScenarioKind::kPortscan,
                                           ScenarioKind::kBruteforce, ScenarioKind::kElephant,
                                           ScenarioKind::kFlood, ScenarioKind::kFlood6),
                         [](const auto& info) {
                           return std::string(netpulse::generate::profile(info.param).name);
                         });

// 1,000 records/s for 10 s plus a flood of 5,000/s from 2 s to 5 s: 10,000 + 15,000 lines, the
// flood's all to the victim, all inside its interval, and repeatable byte for byte.
TEST(GenerateFlood, AddsFloodRateTimesLengthLinesToTheVictim) {
  const std::string gen = std::string(NETPULSE_BINARY) +
                          " generate -q --start-time \"2020-05-09 00:00:00\" --rate 1000 "
                          "--duration 10s --seed 5 --scenario flood@2s+3s --flood-rate 5000";
  int status = 0;
  const std::string text = run(gen, &status);
  ASSERT_EQ(status, 0);
  EXPECT_EQ(text, run(gen, &status));
  uint64_t lines = 0, victim = 0, victim_outside = 0;
  size_t pos = 0, nl;
  while ((nl = text.find('\n', pos)) != std::string::npos) {
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lines;
    if (line.find(" 203.0.113.81 ") == std::string::npos) continue;
    ++victim;
    // "2020-05-09 00:00:0S.mmm": inside [2 s, 5 s).
    const char second = line[18];
    victim_outside +=
        !(line.compare(0, 17, "2020-05-09 00:00:") == 0 && second >= '2' && second < '5');
  }
  EXPECT_EQ(lines, 25'000u);
  EXPECT_EQ(victim, 15'000u);
  EXPECT_EQ(victim_outside, 0u);
}

TEST(GenerateFlood, BadFloodRatesExitTwoNamingTheOption) {
  const std::string bin = NETPULSE_BINARY;
  for (const std::string args : {
           "generate --count 1 --scenario flood@1s+2s --flood-rate 0",
           "generate --count 1 --scenario flood@1s+2s --flood-rate abc",
           "generate --count 1 --scenario flood6@1s+2s --flood-rate 1000000001",
           "generate --count 1 --scenario flood@1s+2s --flood-rate -3",
           "generate --count 1 --scenario dos@1s+2s --flood-rate 5000",  // no flood to rate
           "run --scenario flood@1s+2s --flood-rate 0",
       }) {
    int status = 0;
    const std::string err = run(bin + " " + args + " 2>&1 >/dev/null", &status);
    EXPECT_EQ(status, 2) << args << ": " << err;
    EXPECT_NE(err.find("--flood-rate"), std::string::npos) << args << ": " << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << args << ": " << err;
  }
  for (const char* command : {"generate", "run"}) {
    int status = 0;
    const std::string help = run(bin + " " + command + " --help", &status);
    EXPECT_EQ(status, 0);
    EXPECT_NE(help.find("--flood-rate"), std::string::npos) << command;
    EXPECT_NE(help.find("flood6"), std::string::npos) << command;
  }
}

}  // namespace
