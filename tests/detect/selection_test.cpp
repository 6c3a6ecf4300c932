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

// Two parts that each catch one held-out group, each only with most of the budget to itself:
// one threshold over both cannot serve both, a split can. Part 0 catches group 0 (scores
// 0.988) once it may alert on its 12 highest normal rows; part 1 catches group 1 (0.994) once
// it may alert on its 6 highest. With 1,000 normal rows and a 2% budget (20 rows), the first
// share that gives both is 0.6 (12 and 8 rows).
TEST(Selection, SplittingTheBudgetLetsEachPartCatchItsOwnGroup) {
  PartScores a, b;
  for (int i = 0; i < 1000; ++i) {
    a.normal.push_back(i / 1000.0);
    b.normal.push_back((i * 7919 % 1000) / 1000.0);  // the same scores, in another order
  }
  a.unseen = {std::vector<double>(100, 988 / 1000.0), std::vector<double>(50, 0.0)};
  b.unseen = {std::vector<double>(100, 0.0), std::vector<double>(50, 994 / 1000.0)};
  a.seen = {0.999, 0.5};
  b.seen = {0.0, 0.5};
  CandidateResult r;
  r.unseen_recall = 0.5;  // as if one shared threshold had caught one group
  r.threshold = 0.3;
  split_budget(a, b, 0.02, r);
  ASSERT_EQ(r.part_thresholds.size(), 2u);
  EXPECT_DOUBLE_EQ(r.first_part_share, 0.6);
  EXPECT_GT(r.part_thresholds[0], 987 / 1000.0);
  EXPECT_LE(r.part_thresholds[0], 988 / 1000.0);
  EXPECT_GT(r.part_thresholds[1], 991 / 1000.0);
  EXPECT_LE(r.part_thresholds[1], 992 / 1000.0);
  EXPECT_EQ(r.unseen_recall, 1.0);
  EXPECT_EQ(r.group_recall, (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(r.unseen_recall_rows, 1.0);
  EXPECT_EQ(r.seen_recall, 0.5);
  EXPECT_DOUBLE_EQ(r.false_positive_rate, 0.02);  // 12 + 8 rows, none of them both parts'
  EXPECT_EQ(r.threshold, 0.5);
  EXPECT_EQ(r.shared_unseen_recall, 0.5);
  EXPECT_EQ(r.shared_threshold, 0.3);

  // A result the split cannot beat is left as it was.
  CandidateResult best;
  best.unseen_recall = 1.0;
  best.seen_recall = 1.0;
  best.threshold = 0.3;
  split_budget(a, b, 0.02, best);
  EXPECT_TRUE(best.part_thresholds.empty());
  EXPECT_EQ(best.threshold, 0.3);
}

// A tree combined with an isolation forest of the normal rows, on src_bytes alone: the tree
// learns the seen types' bands, which say nothing of a type held out; the isolation part
// catches the types far from every normal row. The selection measures the candidate with the
// budget split as well and keeps the shared threshold when no split does better.
TEST(Selection, CombinedCandidatesAreMeasuredWithTheBudgetSplit) {
  Dataset ds;
  std::mt19937_64 rng(5);
  auto add = [&](const char* label, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; ++i) {
      FeatureRow r{};
      r[kSrcBytes] = static_cast<float>(std::uniform_real_distribution<>(lo, hi)(rng));
      ds.rows.push_back(r);
      ds.labels.push_back(static_cast<int16_t>(label_index(label)));
    }
  };
  add("normal", 3000, 0, 50000);
  add("neptune", 400, 1000, 1100);       // inside the normal range
  add("smurf", 300, 2000, 2100);         // inside
  add("back", 200, 2e6, 3e6);            // far above every normal row
  add("teardrop", 100, 5e6, 6e6);        // far above
  std::vector<Candidate> cands{candidate("algo=tree features=src_bytes plus=isolation")};
  SelectOptions so;
  so.fpr_budget = 0.02;
  so.holdout_groups = {{label_index("neptune"), label_index("back")},
                       {label_index("smurf"), label_index("teardrop")}};
  std::string why;
  const auto sel = select_model(ds, Detector::kDos, cands, so, &why);
  ASSERT_TRUE(sel) << why;
  const CandidateResult& r = sel->results[0];
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_LE(r.false_positive_rate, so.fpr_budget);
  // Here the isolation part catches the far types whichever way the budget is set, and the
  // bands inside the normal range escape both: no split beats the shared threshold, which is
  // kept and recorded as such.
  EXPECT_NEAR(r.unseen_recall, (200.0 / 600 + 100.0 / 400) / 2, 1e-9);
  EXPECT_TRUE(r.part_thresholds.empty());
  EXPECT_EQ(r.shared_unseen_recall, r.unseen_recall);
  EXPECT_NE(r.threshold, 0.5);
  const auto j = sel->to_json()["candidates"][0];
  EXPECT_FALSE(j.contains("part_thresholds"));
  EXPECT_EQ(j["threshold"], r.threshold);
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
