// Each scenario of `netpulse generate`, found by `netpulse process`: generate 60 s of event time
// with the scenario from 20 s to 40 s, run the six queries over 5-second windows, and look for
// the culprit among the ip-outliers rows (spec section 3) of the windows inside the scenario,
// and not in the windows before it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "core/ip_addr.hpp"
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
  const std::string culprit =
      netpulse::core::to_string(netpulse::core::IpAddr::v4(profile.culprit));
  const std::string bin = NETPULSE_BINARY;
  const std::string command =
      bin + " generate -q --start-time '2020-05-09 00:00:00' --rate 5000 --duration 60s --seed 3 " +
      "--scenario " + std::string(profile.name) + "@20s+20s | " + bin +
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
                                           ScenarioKind::kBruteforce, ScenarioKind::kElephant),
                         [](const auto& info) {
                           return std::string(netpulse::generate::profile(info.param).name);
                         });

}  // namespace
