#include "detect/selection.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <random>

namespace netpulse::detect {
namespace {

constexpr size_t kSrcBytes = 4;
constexpr size_t kCount = 22;

// Normal rows with a low `count` and src_bytes anywhere in 0..50000; four DoS labels, each with a
// high `count` (what every attack type shares) and src_bytes in a narrow band of its own (what
// a model can memorize about the types it saw, and which says nothing about an unseen type).
Dataset two_kinds_of_feature() {
  Dataset ds;
  std::mt19937_64 rng(42);
  auto add = [&](const char* label, size_t n, double count_lo, double count_hi, double bytes_lo,
                 double bytes_hi) {
    for (size_t i = 0; i < n; ++i) {
      FeatureRow r{};
      r[kCount] = static_cast<float>(std::uniform_real_distribution<>(count_lo, count_hi)(rng));
      r[kSrcBytes] = static_cast<float>(std::uniform_real_distribution<>(bytes_lo, bytes_hi)(rng));
      ds.rows.push_back(r);
      ds.labels.push_back(static_cast<int16_t>(label_index(label)));
    }
  };
  add("normal", 3000, 0, 50, 0, 50000);
  add("neptune", 400, 100, 500, 1000, 1100);
  add("smurf", 300, 100, 500, 2000, 2100);
  add("back", 200, 100, 500, 3000, 3100);
  add("teardrop", 100, 100, 500, 4000, 4100);
  return ds;
}

Candidate candidate(const char* spec) {
  TrainOptions base;
  base.seed = 3;
  std::string why;
  auto c = parse_candidate(spec, base, &why);
  EXPECT_TRUE(c) << why;
  return *c;
}

TEST(Selection, ThresholdAtBudget) {
  // 10 normal scores: a 20% budget lets the two highest alert, not the third.
  std::vector<double> s{0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6, 0.5, 0.05};
  const double t = threshold_at_budget(s, 0.2);
  EXPECT_GT(t, 0.7);
  EXPECT_LE(t, 0.8);
  // No budget: nothing that a normal row reached alerts.
  EXPECT_GT(threshold_at_budget(s, 0.0), 0.9);
  // Ties at the cut stay below it: with three rows at 0.9 and a budget of one, none alerts.
  EXPECT_GT(threshold_at_budget({0.9, 0.9, 0.9, 0.1}, 0.25), 0.9);
  // The whole budget: everything alerts.
  EXPECT_LE(threshold_at_budget(s, 1.0), 0.05);
}

TEST(Selection, ParsesCandidatesAndFeatureLists) {
  const Candidate c = candidate("algo=forest features=-content,-land depth=12 trees=20 lr=0.3");
  EXPECT_EQ(c.options.algo, Algo::kForest);
  EXPECT_EQ(c.options.max_depth, 12);
  EXPECT_EQ(c.options.trees, 20);
  EXPECT_EQ(c.options.seed, 3u);
  EXPECT_FALSE((c.options.features >> feature_index("hot")) & 1);
  EXPECT_FALSE((c.options.features >> feature_index("land")) & 1);
  EXPECT_TRUE((c.options.features >> feature_index("count")) & 1);
  EXPECT_EQ(std::popcount(c.options.features), 41 - 13 - 1);

  std::string why;
  for (const char* bad : {"features=count", "algo=nope", "algo=tree depth=0", "algo=tree x=1",
                          "algo=tree features=no_such", "algo=tree depth", "algo=tree trees=2x"}) {
    EXPECT_FALSE(parse_candidate(bad, TrainOptions{}, &why)) << bad;
    EXPECT_EQ(why.find("candidate '" + std::string(bad) + "'"), 0u) << why;
  }
  std::string bad_name;
  EXPECT_EQ(parse_feature_list("basic,-land", &bad_name),
            ((FeatureMask{1} << 9) - 1) & ~(FeatureMask{1} << 6));
  EXPECT_EQ(parse_feature_list("time", &bad_name), ((FeatureMask{1} << 31) - 1) & ~((FeatureMask{1} << 22) - 1));
  EXPECT_EQ(parse_feature_list("-basic,service", &bad_name),
            (kAllFeatures & ~((FeatureMask{1} << 9) - 1)) | (FeatureMask{1} << kService));
  EXPECT_EQ(parse_feature_list("", &bad_name), kAllFeatures);
  EXPECT_FALSE(parse_feature_list("count,bogus", &bad_name));
  EXPECT_EQ(bad_name, "bogus");
}

TEST(Selection, PrefersTheFeatureThatCatchesUnseenTypes) {
  const Dataset ds = two_kinds_of_feature();
  std::vector<Candidate> cands{candidate("algo=tree features=src_bytes"),
                               candidate("algo=tree features=count"),
                               candidate("algo=forest trees=10")};
  SelectOptions so;
  so.groups = 2;
  so.fpr_budget = 0.02;
  std::vector<std::string> progress;
  so.progress = [&](const std::string& line) { progress.push_back(line); };
  std::string why;
  const auto sel = select_model(ds, Detector::kDos, cands, so, &why);
  ASSERT_TRUE(sel) << why;

  // Labels dealt by size in snake order: neptune (400) and teardrop (100) against smurf (300)
  // and back (200).
  ASSERT_EQ(sel->groups.size(), 2u);
  EXPECT_EQ(sel->groups[0], (std::vector<int>{label_index("neptune"), label_index("teardrop")}));
  EXPECT_EQ(sel->groups[1], (std::vector<int>{label_index("smurf"), label_index("back")}));

  ASSERT_EQ(sel->results.size(), 3u);
  const auto& bytes = sel->results[0];
  const auto& count = sel->results[1];
  // Memorizing the bands catches the seen types and misses the unseen ones.
  EXPECT_GT(bytes.seen_recall, 0.9);
  EXPECT_LT(bytes.unseen_recall, 0.2);
  EXPECT_GT(count.unseen_recall, 0.95);
  EXPECT_GT(count.seen_recall, 0.95);
  EXPECT_NE(sel->chosen, 0u);
  EXPECT_GT(sel->results[sel->chosen].unseen_recall, 0.95);
  for (const auto& r : sel->results) {
    EXPECT_TRUE(r.error.empty()) << r.error;
    EXPECT_LE(r.false_positive_rate, so.fpr_budget);
    ASSERT_EQ(r.group_recall.size(), 2u);
    EXPECT_NEAR(r.unseen_recall, (r.group_recall[0] + r.group_recall[1]) / 2, 1e-12);
  }
  // Two rounds per candidate plus a summary line each.
  EXPECT_EQ(progress.size(), 9u);

  // The record written into the model file.
  const auto j = sel->to_json();
  EXPECT_EQ(j["method"], "leave attack types out");
  EXPECT_EQ(j["chosen"], sel->results[sel->chosen].name);
  EXPECT_EQ(j["groups"][0][0], "neptune");
  EXPECT_EQ(j["candidates"].size(), 3u);

  // Deterministic for a seed.
  so.progress = nullptr;
  const auto again = select_model(ds, Detector::kDos, cands, so, &why);
  ASSERT_TRUE(again);
  // The record goes into the model file, which must be reproduced byte for byte: no timings.
  EXPECT_EQ(again->to_json().dump(), j.dump());
  EXPECT_EQ(j.dump().find("seconds"), std::string::npos);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(again->results[i].unseen_recall, sel->results[i].unseen_recall);
    EXPECT_EQ(again->results[i].threshold, sel->results[i].threshold);
  }
}

TEST(Selection, ExplicitGroupsAndRefusals) {
  const Dataset ds = two_kinds_of_feature();
  SelectOptions so;
  so.holdout_groups = {{label_index("back")}, {label_index("smurf"), label_index("neptune")},
                       {label_index("satan")}};  // not a dos label: dropped
  std::string why;
  const auto sel =
      select_model(ds, Detector::kDos, {candidate("algo=tree features=count")}, so, &why);
  ASSERT_TRUE(sel) << why;
  ASSERT_EQ(sel->groups.size(), 2u);
  EXPECT_EQ(sel->groups[0], std::vector<int>{label_index("back")});

  // One attack label cannot be split into seen and unseen types.
  Dataset one;
  for (size_t i = 0; i < ds.size(); ++i)
    if (ds.labels[i] == kNormalLabel || ds.labels[i] == label_index("back")) {
      one.rows.push_back(ds.rows[i]);
      one.labels.push_back(ds.labels[i]);
    }
  EXPECT_FALSE(select_model(one, Detector::kDos, {candidate("algo=tree")}, SelectOptions{}, &why));
  EXPECT_NE(why.find("two attack labels"), std::string::npos) << why;
}

}  // namespace
}  // namespace netpulse::detect
