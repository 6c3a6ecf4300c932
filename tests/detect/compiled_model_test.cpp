// CompiledModel gives exactly Model::score's doubles on every row, for the ensembles a fast
// scoring path must not change: small forests and boosts, with categorical splits and trees of
// unequal depth, on synthetic rows and on NSL-KDD when the shared data is present.
#include <gtest/gtest.h>

#include <string>

#include "detect/compiled_model.hpp"
#include "detect/dataset.hpp"
#include "detect/trainer.hpp"
#include "synthetic.hpp"

namespace netpulse::detect {
namespace {

void expect_same_scores(const Model& m, const std::vector<FeatureRow>& rows) {
  const CompiledModel c(m);
  for (size_t i = 0; i < rows.size(); ++i)
    ASSERT_EQ(c.score(rows[i]), m.score(rows[i])) << "row " << i;
}

std::vector<FeatureRow> random_rows(size_t n, uint64_t seed) {
  testdetect::Rng rng(seed);
  std::vector<FeatureRow> rows;
  for (size_t i = 0; i < n; ++i) rows.push_back(testdetect::random_row(rng));
  return rows;
}

TEST(CompiledModelScores, SmallEnsemblesMatchTheReference) {
  const Dataset data = parse_dataset(testdetect::known_rule_text(3000, 11));
  const std::vector<FeatureRow> rows = random_rows(5000, 5);
  for (const Algo algo : {Algo::kForest, Algo::kBoost})
    for (const int depth : {2, 6, 10})
      for (const int trees : {1, 3, 10, 17}) {
        TrainOptions o;
        o.algo = algo;
        o.max_depth = depth;
        o.trees = trees;
        const Model m = train(data, Detector::kDos, o);
        expect_same_scores(m, rows);
        expect_same_scores(m, data.rows);
      }
}

// A hand-made forest: categorical splits at the root and deeper, trees of depth 0, 1 and 3.
TEST(CompiledModelScores, CategoricalSplitsAndUnequalDepths) {
  Model m;
  m.algo = Algo::kForest;
  Tree leaf;
  leaf.nodes.push_back(TreeNode{.value = 0.25});
  Tree one;  // service (2) in {1, 5, 69} goes left
  TreeNode root{.feature = 2, .right = 2};
  root.left_categories.add(1);
  root.left_categories.add(5);
  root.left_categories.add(69);
  one.nodes = {root, TreeNode{.value = 0.9}, TreeNode{.value = 0.1}};
  Tree three;  // src_bytes (4) <= 100, then flag (3) in {0, 2}, then duration (0) <= 5
  TreeNode flag{.feature = 3, .right = 5};
  flag.left_categories.add(0);
  flag.left_categories.add(2);
  three.nodes = {TreeNode{.feature = 4, .threshold = 100, .right = 6}, flag,
                 TreeNode{.feature = 0, .threshold = 5, .right = 4}, TreeNode{.value = 1.0 / 3},
                 TreeNode{.value = 0.7}, TreeNode{.value = 0.05}, TreeNode{.value = 0.6}};
  m.trees = {leaf, one, three, one, leaf, three};
  expect_same_scores(m, random_rows(20000, 9));
  m.algo = Algo::kBoost;
  m.base_score = -0.3;
  expect_same_scores(m, random_rows(20000, 10));
}

TEST(CompiledModelScores, NslKddForestMatchesTheReference) {
  const std::string path =
      std::string(NETPULSE_SOURCE_DIR) + "/../shared/data/nsl-kdd/KDDTrain+_20Percent.txt";
  std::string text, why;
  if (!read_file(path, text, &why)) GTEST_SKIP() << why;
  const Dataset data = parse_dataset(text);
  for (const int depth : {6, 8, 10}) {
    TrainOptions o;
    o.algo = Algo::kForest;
    o.max_depth = depth;
    o.trees = 10;
    expect_same_scores(train(data, Detector::kDos, o), data.rows);
  }
}

}  // namespace
}  // namespace netpulse::detect
