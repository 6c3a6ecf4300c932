#include "detect/bruteforce_rule.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "detect/compiled_model.hpp"
#include "detect/row_parser.hpp"
#include "detect/trainer.hpp"

namespace netpulse::detect {
namespace {

// One POP3 password guess as a server that does not count failed logins would log it: a short
// connection that never logs in, the 40th of a run to this host's pop_3.
constexpr const char* kPopGuess =
    "0,tcp,pop_3,RSTO,31,91,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,1,0.00,0.00,1.00,1.00,1.00,0.00,"
    "0.00,40,40,1.00,0.00,0.03,0.00,0.00,0.00,1.00,1.00,guess_passwd,12";

FeatureRow parse(const std::string& line) {
  const Dataset ds = parse_dataset(line + "\n");
  EXPECT_EQ(ds.size(), 1u) << line;
  return ds.rows.at(0);
}

// The row with one column replaced.
std::string with(const char* line, size_t column, const std::string& value) {
  std::string s = line;
  size_t begin = 0;
  for (size_t c = 0; c < column; ++c) begin = s.find(',', begin) + 1;
  const size_t end = s.find(',', begin);
  return s.replace(begin, end - begin, value);
}

const Model& rule_model() {
  static const Model m = [] {
    std::string why;
    auto model = bruteforce_rule_model(BruteforceRule{}, Detector::kBruteforce, Dataset{}, &why);
    EXPECT_TRUE(model) << why;
    return *model;
  }();
  return m;
}

TEST(BruteforceRule, CatchesGuessingThatCountsNoFailedLogins) {
  const Model& m = rule_model();
  const CompiledModel cm(m);
  auto alerts = [&](const std::string& line) {
    const FeatureRow x = parse(line);
    EXPECT_EQ(cm.score(x), m.score(x)) << line;
    return m.positive(x);
  };
  EXPECT_TRUE(alerts(kPopGuess));
  EXPECT_TRUE(alerts(with(kPopGuess, 2, "imap4")));
  EXPECT_TRUE(alerts(with(kPopGuess, 2, "ssh")));
  EXPECT_TRUE(alerts(with(kPopGuess, 3, "SF")));
  // Each condition matters.
  EXPECT_FALSE(alerts(with(kPopGuess, 2, "http"))) << "not an authentication service";
  EXPECT_FALSE(alerts(with(kPopGuess, 11, "1"))) << "logged in";
  EXPECT_FALSE(alerts(with(kPopGuess, 3, "S0"))) << "half-open: a flood or a scan";
  EXPECT_FALSE(alerts(with(kPopGuess, 3, "REJ")));
  EXPECT_FALSE(alerts(with(kPopGuess, 0, "30"))) << "a long session";
  EXPECT_FALSE(alerts(with(kPopGuess, 32, "2"))) << "not a run: two connections";
  EXPECT_FALSE(alerts(with(kPopGuess, 33, "0.50"))) << "the host serves other things too";
  EXPECT_TRUE(alerts(with(kPopGuess, 33, "0.80")));
  // Failed logins counted by the server (telnet, as in the training set).
  const std::string telnet = with(with(kPopGuess, 2, "telnet").c_str(), 10, "1");
  EXPECT_TRUE(alerts(with(telnet.c_str(), 11, "1")));
  EXPECT_FALSE(alerts(with(with(telnet.c_str(), 11, "1").c_str(), 33, "0.50")));
}

TEST(BruteforceRule, IsAnOrdinaryTreeModel) {
  const Model& m = rule_model();
  EXPECT_EQ(m.algo, Algo::kTree);
  EXPECT_EQ(m.training["options"]["algo"], "rule");
  const auto path = std::filesystem::temp_directory_path() / "netpulse-bruteforce-rule.json";
  std::string why;
  ASSERT_TRUE(save_model(m, path.string(), &why)) << why;
  const auto back = load_model(path.string(), &why);
  std::filesystem::remove(path);
  ASSERT_TRUE(back) << why;
  const FeatureRow x = parse(kPopGuess);
  EXPECT_EQ(back->score(x), m.score(x));
  EXPECT_EQ(to_json(*back).dump(), to_json(m).dump());

  BruteforceRule bad;
  bad.services.push_back("no_such_service");
  EXPECT_FALSE(bruteforce_rule_model(bad, Detector::kBruteforce, Dataset{}, &why));
  EXPECT_NE(why.find("no_such_service"), std::string::npos);
}

TEST(BruteforceRule, TheFlowVariantNeedsOnlyLineFeatures) {
  BruteforceRule r;
  r.flows = true;
  std::string why;
  const auto m = bruteforce_rule_model(r, Detector::kBruteforce, Dataset{}, &why);
  ASSERT_TRUE(m) << why;
  EXPECT_EQ(m->training["options"]["variant"], "flows");
  const FeatureMask used = features_used(*m);
  EXPECT_EQ(feature_names(used),
            (std::vector<std::string>{"service", "src_bytes", "dst_host_count",
                                      "dst_host_srv_count", "dst_host_same_srv_rate"}));
  const CompiledModel cm(*m);
  auto alerts = [&](const std::string& line) {
    const FeatureRow x = parse(line);
    return cm.score(x.data()) >= cm.threshold();
  };
  // The POP3 guess: logins, flags and duration play no part (they are not in flows).
  EXPECT_TRUE(alerts(kPopGuess));
  EXPECT_TRUE(alerts(with(with(kPopGuess, 11, "1").c_str(), 3, "SF")));
  EXPECT_FALSE(alerts(with(kPopGuess, 2, "http")));        // not an authentication service
  EXPECT_FALSE(alerts(with(kPopGuess, 4, "201")));         // a long request: a session
  EXPECT_FALSE(alerts(with(kPopGuess, 31, "7")));          // a run of 7 to this host: too short
  EXPECT_FALSE(alerts(with(kPopGuess, 32, "7")));          // ... to this service
  EXPECT_FALSE(alerts(with(kPopGuess, 33, "0.79")));       // mostly other services
  EXPECT_TRUE(alerts(with(with(kPopGuess, 31, "8").c_str(), 32, "8")));
}

TEST(BruteforceRule, OnTheTrainingSet) {
  const std::string path =
      std::string(NETPULSE_SOURCE_DIR) + "/../shared/data/nsl-kdd/KDDTrain+.txt";
  std::string text, why;
  if (!read_file(path, text, &why)) GTEST_SKIP() << why;
  const Dataset ds = parse_dataset(text);
  const auto m = bruteforce_rule_model(BruteforceRule{}, Detector::kBruteforce, ds, &why);
  ASSERT_TRUE(m) << why;
  const Confusion c = evaluate(*m, ds);
  // Measured: 52 of the 53 guess_passwd rows, 3 of 67,343 normal rows.
  EXPECT_GE(c.tp, 50u);
  EXPECT_LE(c.fp, 10u);
  EXPECT_EQ(m->training["positives"], 53);
  EXPECT_EQ(m->training["training_set_metrics"]["confusion"]["tp"], c.tp);

  // The variant for flows, measured: 45 of the 53, no normal row.
  BruteforceRule flows;
  flows.flows = true;
  const auto f = bruteforce_rule_model(flows, Detector::kBruteforce, ds, &why);
  ASSERT_TRUE(f) << why;
  const Confusion fc = evaluate(*f, ds);
  EXPECT_GE(fc.tp, 40u);
  EXPECT_LE(fc.fp, 3u);
}

}  // namespace
}  // namespace netpulse::detect
