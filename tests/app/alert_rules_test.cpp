// Threshold rules: the grammar (good rules and one-line reasons for bad ones) and the
// evaluator against a plain reference on random windows: a rule fires for a key on exactly the
// windows where the key's run of consecutive satisfying windows has just reached N.
#include "app/alert_rules.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <tuple>

namespace netpulse::app {
namespace {

using Metric = AlertRule::Metric;
using Op = AlertRule::Op;

AlertRule parse(const std::string& text) {
  std::string why;
  auto r = parse_alert_rule(text, &why);
  EXPECT_TRUE(r) << text << ": " << why;
  return r.value_or(AlertRule{});
}

std::string error_of(const std::string& text) {
  std::string why;
  auto r = parse_alert_rule(text, &why);
  EXPECT_FALSE(r) << text;
  EXPECT_EQ(why.find('\n'), std::string::npos);
  return why;
}

TEST(AlertRuleParse, ReadsEveryPart) {
  AlertRule r = parse("ip-share > 20 for 3");
  EXPECT_EQ(r.query, query::QueryKind::kIpShare);
  EXPECT_EQ(r.key, "");
  EXPECT_EQ(r.metric, Metric::kShare);
  EXPECT_EQ(r.op, Op::kGreater);
  EXPECT_EQ(r.value, 20);
  EXPECT_EQ(r.windows, 3);

  r = parse("protocol-topk HTTPS bytes > 1e9");
  EXPECT_EQ(r.query, query::QueryKind::kProtocolTopk);
  EXPECT_EQ(r.key, "HTTPS");
  EXPECT_EQ(r.metric, Metric::kBytes);
  EXPECT_EQ(r.value, 1e9);
  EXPECT_EQ(r.windows, 1);

  r = parse("ip-outliers z>=4");  // operators need no spaces; default metric of *-outliers is z
  EXPECT_EQ(r.metric, Metric::kZ);
  EXPECT_EQ(r.op, Op::kGreaterEqual);
  EXPECT_EQ(r.value, 4);

  r = parse("ip-topk 10.0.0.5 share <= 12.5% for 2 windows");
  EXPECT_EQ(r.key, "10.0.0.5");
  EXPECT_EQ(r.metric, Metric::kShare);
  EXPECT_EQ(r.op, Op::kLessEqual);
  EXPECT_EQ(r.value, 12.5);
  EXPECT_EQ(r.windows, 2);

  EXPECT_EQ(parse("protocol-topk bytes > 5").metric, Metric::kBytes);
  EXPECT_EQ(parse("protocol-topk * bytes > 5").key, "");
  EXPECT_EQ(parse("protocol-share DNS > 5").key, "DNS");
  EXPECT_EQ(parse("protocol-share DNS > 5").metric, Metric::kShare);
}

TEST(AlertRuleParse, BadRulesSayWhy) {
  EXPECT_NE(error_of("").find("empty rule"), std::string::npos);
  EXPECT_NE(error_of("ip-shares > 20").find("unknown query 'ip-shares'"), std::string::npos);
  EXPECT_NE(error_of("ip-share 20").find("no comparison"), std::string::npos);
  EXPECT_NE(error_of("ip-share >").find("no value"), std::string::npos);
  EXPECT_NE(error_of("ip-share > abc").find("'abc' is not a number"), std::string::npos);
  EXPECT_NE(error_of("ip-share > 20 for 0").find("from 1 to 1000"), std::string::npos);
  EXPECT_NE(error_of("ip-share > 20 for x").find("'for x'"), std::string::npos);
  EXPECT_NE(error_of("ip-share > 20 during 3").find("unexpected 'during'"), std::string::npos);
  EXPECT_NE(error_of("ip-share 1.2.3.4 bits > 20").find("unknown metric 'bits'"),
            std::string::npos);
  EXPECT_NE(error_of("ip-share a b c > 20").find("too many words"), std::string::npos);
  EXPECT_NE(error_of("ip-topk bytes > 20%").find("only a share is in percent"), std::string::npos);
  EXPECT_NE(error_of("ip-share > 20 for 3 4").find("unexpected '4'"), std::string::npos);
}

// Random windows: each lists a few of 6 keys with random bytes, shares and z (sometimes null).
std::vector<query::WindowResult> random_windows(std::mt19937& rng, int n) {
  const std::vector<std::string> keys{"10.0.0.1", "10.0.0.2", "10.0.0.3", "HTTPS", "DNS", "SSH"};
  std::vector<query::WindowResult> out;
  for (int w = 0; w < n; ++w) {
    query::WindowResult r;
    r.window_end = 1'700'000'000'000 + w * 1000;
    r.window_start = r.window_end - 10'000;
    for (size_t q = 0; q < query::kQueryCount; ++q) {
      for (const auto& k : keys) {
        if (rng() % 3 == 0) continue;  // not listed this window
        query::ResultRow row;
        row.key = k;
        row.bytes = rng() % 2000;
        row.share = (rng() % 1000) / 1000.0;
        if (rng() % 5) row.z = (static_cast<int>(rng() % 80) - 20) / 10.0;
        r.rows[q].push_back(row);
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

// The reference: does `row` of window w satisfy the rule?
bool holds(const AlertRule& rule, const query::WindowResult& w, const std::string& key) {
  for (const auto& row : w.of(rule.query)) {
    if (row.key != key) continue;
    double v;
    if (rule.metric == Metric::kBytes)
      v = static_cast<double>(row.bytes);
    else if (rule.metric == Metric::kShare)
      v = row.share * 100;
    else if (row.z)
      v = *row.z;
    else
      return false;
    switch (rule.op) {
      case Op::kGreater:
        return v > rule.value;
      case Op::kGreaterEqual:
        return v >= rule.value;
      case Op::kLess:
        return v < rule.value;
      case Op::kLessEqual:
        return v <= rule.value;
    }
  }
  return false;
}

TEST(RuleEvaluator, FiresExactlyWhereTheReferenceSays) {
  const std::vector<std::string> texts{"ip-share > 30 for 3",
                                       "ip-topk bytes >= 1000 for 2",
                                       "protocol-topk HTTPS bytes > 500",
                                       "protocol-outliers z > 1 for 2",
                                       "ip-outliers 10.0.0.2 z <= 0 for 4",
                                       "protocol-share DNS share < 50",
                                       "ip-share share > 10 for 1"};
  std::vector<AlertRule> rules;
  for (const auto& t : texts) rules.push_back(parse(t));
  for (unsigned seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    const auto windows = random_windows(rng, 60);
    RuleEvaluator eval(rules);
    std::set<std::tuple<size_t, size_t, std::string>> got;  // (window, rule, key)
    for (size_t w = 0; w < windows.size(); ++w) {
      for (const store::Alert& a : eval.evaluate(windows[w])) {
        EXPECT_EQ(a.detector, "rule");
        EXPECT_EQ(a.time, windows[w].window_end);
        const auto d = nlohmann::json::parse(a.detail_json);
        size_t ri =
            std::find(texts.begin(), texts.end(), d.at("rule").get<std::string>()) - texts.begin();
        ASSERT_LT(ri, texts.size());
        EXPECT_EQ(d.at("windows").size(), static_cast<size_t>(rules[ri].windows));
        EXPECT_EQ(d.at("windows").back().at("value").get<double>(), a.score);
        EXPECT_TRUE(got.emplace(w, ri, a.source).second) << "doubled";
      }
    }
    std::set<std::tuple<size_t, size_t, std::string>> want;
    const std::vector<std::string> keys{"10.0.0.1", "10.0.0.2", "10.0.0.3", "HTTPS", "DNS", "SSH"};
    for (size_t ri = 0; ri < rules.size(); ++ri) {
      const AlertRule& rule = rules[ri];
      for (const auto& key : keys) {
        if (!rule.key.empty() && key != rule.key) continue;
        for (size_t w = 0; w < windows.size(); ++w) {
          // The run of satisfying windows ending at w, counted backwards.
          size_t run = 0;
          while (run <= w && holds(rule, windows[w - run], key)) ++run;
          if (run == static_cast<size_t>(rule.windows)) want.emplace(w, ri, key);
        }
      }
    }
    EXPECT_EQ(got, want) << "seed " << seed;
    EXPECT_FALSE(want.empty());
  }
}

TEST(RuleEvaluator, DetailSaysWhy) {
  RuleEvaluator eval({parse("ip-share > 20 for 2")});
  query::WindowResult w1, w2;
  w1.window_end = 1000;
  w2.window_end = 2000;
  w1.rows[static_cast<size_t>(query::QueryKind::kIpShare)] = {{"10.0.0.5", 300, 0.3, 1.0}};
  w2.rows[static_cast<size_t>(query::QueryKind::kIpShare)] = {{"10.0.0.5", 250, 0.25, 1.0}};
  EXPECT_TRUE(eval.evaluate(w1).empty());
  const auto alerts = eval.evaluate(w2);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].source, "10.0.0.5");
  const auto d = nlohmann::json::parse(alerts[0].detail_json);
  EXPECT_EQ(d["rule"], "ip-share > 20 for 2");
  EXPECT_EQ(d["threshold"], 20);
  EXPECT_DOUBLE_EQ(d["windows"][0]["value"].get<double>(), 30);
  EXPECT_DOUBLE_EQ(d["windows"][1]["value"].get<double>(), 25);
  EXPECT_EQ(d["windows"][1]["window_end"], "1970-01-01T00:00:02.000Z");
  EXPECT_NE(d["why"].get<std::string>().find("share 25 % > 20 % in 2 consecutive windows"),
            std::string::npos)
      << d["why"];
  EXPECT_TRUE(eval.evaluate(w2).empty());  // still above: one alert per run
}

}  // namespace
}  // namespace netpulse::app
