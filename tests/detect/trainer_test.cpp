#include "detect/trainer.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "detect/cart.hpp"
#include "detect/compiled_model.hpp"
#include "synthetic.hpp"

namespace netpulse::detect {
namespace {

using testdetect::known_rule_data;
using testdetect::known_rule_test;

std::set<std::string_view> split_features(const Tree& t) {
  std::set<std::string_view> out;
  for (const TreeNode& n : t.nodes)
    if (!n.is_leaf()) out.insert(feature_info(static_cast<size_t>(n.feature)).name);
  return out;
}

TEST(Cart, RecoversAKnownRule) {
  TrainOptions o;
  o.algo = Algo::kTree;
  const Model m = train(known_rule_data(), Detector::kDos, o);
  ASSERT_EQ(m.trees.size(), 1u);
  // The rule has two conditions: a numeric threshold and a set of three services. The pruned
  // tree uses exactly those two features, with the threshold near 1000 (greedy CART places the
  // root split where the root's impurity drops most, which can be a value or two off when the
  // rows near the boundary are few).
  EXPECT_EQ(split_features(m.trees[0]), (std::set<std::string_view>{"service", "src_bytes"}));
  EXPECT_LE(m.trees[0].leaf_count(), 3u);
  for (const TreeNode& n : m.trees[0].nodes) {
    if (n.feature == 4) {
      EXPECT_GE(n.threshold, 995.0f);
      EXPECT_LT(n.threshold, 1005.0f);
    }
    if (n.feature == static_cast<int>(kService)) {
      // Whichever side the three services went to, they are alone on it.
      const CategorySet& s = n.left_categories;
      const bool http_left = s.has(static_cast<unsigned>(category_index(kService, "http")));
      EXPECT_EQ(s.has(static_cast<unsigned>(category_index(kService, "smtp"))), http_left);
      EXPECT_EQ(s.has(static_cast<unsigned>(category_index(kService, "ftp"))), http_left);
      EXPECT_NE(s.has(static_cast<unsigned>(category_index(kService, "telnet"))), http_left);
    }
  }
  const Confusion c = evaluate(m, known_rule_test());
  EXPECT_LE(c.fp + c.fn, 5u) << "accuracy " << c.accuracy();
}

TEST(Cart, RecoversAnExactRule) {
  // flag == S0 and count > 100, count in 0..255 (exact bins): one categorical and one numeric
  // split, the threshold halfway between 100 and 101.
  testdetect::Rng rng(8);
  std::string text;
  const int s0 = category_index(kFlag, "S0");
  for (int i = 0; i < 3000; ++i) {
    FeatureRow x = testdetect::random_row(rng);
    x[22] = static_cast<float>(rng.below(256));
    if (rng.below(3) == 0) x[kFlag] = static_cast<float>(s0);
    const bool attack = static_cast<int>(x[kFlag]) == s0 && x[22] > 100;
    text += testdetect::row_text(x, attack ? "smurf" : "normal") + "\n";
  }
  const Model m = train(parse_dataset(text), Detector::kDos, TrainOptions{});
  ASSERT_EQ(m.trees[0].leaf_count(), 3u);
  EXPECT_EQ(split_features(m.trees[0]), (std::set<std::string_view>{"flag", "count"}));
  for (const TreeNode& n : m.trees[0].nodes) {
    if (n.feature == 22) {
      EXPECT_EQ(n.threshold, 100.5f);
    }
  }
}

TEST(Cart, EnsemblesLearnTheRuleToo) {
  for (Algo a : {Algo::kForest, Algo::kBoost}) {
    TrainOptions o;
    o.algo = a;
    o.trees = 30;
    o.threads = 2;
    const Model m = train(known_rule_data(), Detector::kAttack, o);
    EXPECT_EQ(m.trees.size(), 30u);
    const Confusion c = evaluate(m, known_rule_test());
    EXPECT_GT(c.accuracy(), 0.97) << algo_name(a);
  }
}

TEST(Cart, PruningRemovesNoiseSplits) {
  // Labels flipped at random on 10% of the rows: the unpruned tree memorizes the noise, the
  // pruned one stays near the rule.
  Dataset noisy = known_rule_data();
  testdetect::Rng rng(5);
  for (auto& l : noisy.labels) {
    if (rng.below(10) == 0)
      l = l == kNormalLabel ? static_cast<int16_t>(label_index("neptune")) : kNormalLabel;
  }
  TrainOptions o;
  o.prune_folds = 0;
  const Model full = train(noisy, Detector::kDos, o);
  o.prune_folds = 5;
  const Model pruned = train(noisy, Detector::kDos, o);
  EXPECT_LT(pruned.trees[0].leaf_count() * 5, full.trees[0].leaf_count());
  EXPECT_GT(evaluate(pruned, known_rule_test()).accuracy(),
            evaluate(full, known_rule_test()).accuracy());
  EXPECT_GT(evaluate(pruned, known_rule_test()).accuracy(), 0.97);
}

TEST(Cart, CollapseAlphasDoNotIncreaseDownAPath) {
  TrainOptions o;
  o.prune_folds = 0;
  const Model m = train(known_rule_data(), Detector::kDos, o);
  const Tree& t = m.trees[0];
  const auto ca = collapse_alphas(t);
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    if (t.nodes[i].is_leaf()) continue;
    for (size_t c : {i + 1, static_cast<size_t>(t.nodes[i].right)}) {
      if (!t.nodes[c].is_leaf()) {
        EXPECT_LE(ca[c], ca[i]);
      }
    }
  }
  // The largest alpha prunes to the root alone.
  double top = 0;
  for (double a : ca) {
    if (std::isfinite(a)) top = std::max(top, a);
  }
  EXPECT_EQ(prune(t, ca, top).nodes.size(), 1u);
  EXPECT_EQ(prune(t, ca, -1).nodes.size(), t.nodes.size());
}

TEST(Trainer, RatioKeepsEveryAttackAndSubsamplesNormals) {
  const Dataset& ds = known_rule_data();
  size_t pos = 0;
  for (int16_t l : ds.labels) pos += l != kNormalLabel;
  const auto idx = ratio_sample(ds, Detector::kDos, 1.0, 3);
  EXPECT_EQ(idx.size(), 2 * pos);
  EXPECT_EQ(ratio_sample(ds, Detector::kDos, 1.0, 3), idx);  // deterministic
  EXPECT_EQ(ratio_sample(ds, Detector::kDos, 0, 3).size(), ds.size());
}

TEST(Trainer, CrossValidationIsSane) {
  TrainOptions o;
  o.threads = 2;
  const CrossValidation cv = cross_validate(known_rule_data(), Detector::kDos, o, 4);
  ASSERT_EQ(cv.folds.size(), 4u);
  uint64_t rows = 0;
  for (const Confusion& c : cv.folds) {
    rows += c.rows();
    EXPECT_GT(c.tp, 0u);
    EXPECT_GT(c.tn, 0u);
  }
  EXPECT_EQ(rows, known_rule_data().size());  // every row is tested exactly once
  EXPECT_GT(cv.accuracy.mean, 0.98);
  EXPECT_LE(cv.accuracy.mean, 1.0);
  EXPECT_GE(cv.accuracy.sd, 0.0);
  EXPECT_LT(cv.accuracy.sd, 0.02);
  // Labels that carry no information give chance-level accuracy, not a perfect score.
  Dataset shuffled = known_rule_data();
  testdetect::Rng rng(11);
  for (size_t i = shuffled.size(); i > 1; --i)
    std::swap(shuffled.labels[i - 1], shuffled.labels[rng.below(i)]);
  const CrossValidation chance = cross_validate(shuffled, Detector::kDos, o, 4);
  EXPECT_LT(chance.f1.mean, 0.6);
}

TEST(Trainer, TrainingIsDeterministic) {
  TrainOptions o;
  o.algo = Algo::kForest;
  o.trees = 10;
  o.threads = 2;
  const Model a = train(known_rule_data(), Detector::kDos, o);
  o.threads = 1;
  const Model b = train(known_rule_data(), Detector::kDos, o);
  EXPECT_EQ(to_json(a).dump(), to_json(b).dump());
}

}  // namespace
}  // namespace netpulse::detect
