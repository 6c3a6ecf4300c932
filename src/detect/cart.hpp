// CART, written for NSL-KDD: grows one binary tree on binned features, either a classification
// tree (Gini impurity) or a regression tree on gradient and hessian sums (the building block
// of gradient boosting, XGBoost's split gain). Categorical features split into the best binary
// partition of their values, found by sorting the values by positive rate (exact for binary
// Gini; by gradient/hessian ratio for boosting). Cost-complexity pruning gives the weakest-link
// sequence of subtrees. A TreeGrower is not thread-safe; BinnedData is immutable once built.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "detect/nslkdd_schema.hpp"
#include "detect/tree.hpp"

namespace netpulse::detect {

inline constexpr size_t kMaxBins = 256;

// Feature rows turned into bin numbers (one byte per feature): categorical features bin by
// category; numeric ones by value, exactly when a feature has at most 256 distinct values,
// else in quantile bins. Each bin keeps the least and greatest value in it, so a split between
// two bins gets a threshold halfway between the values on either side.
struct BinnedData {
  size_t rows = 0;
  std::span<const FeatureRow> raw;  // the rows binned (the caller keeps them alive)
  std::vector<uint8_t> bins;        // rows x kFeatureCount, row-major
  std::array<uint16_t, kFeatureCount> bin_count{};
  std::array<std::vector<float>, kFeatureCount> bin_min, bin_max;

  uint8_t bin(size_t row, size_t feature) const { return bins[row * kFeatureCount + feature]; }
};

BinnedData bin_rows(std::span<const FeatureRow> rows);

enum class Criterion : uint8_t { kGini, kGradient };

struct GrowOptions {
  Criterion criterion = Criterion::kGini;
  int max_depth = 30;
  int min_samples_leaf = 1;
  int min_samples_split = 2;
  int features_per_split = 0;  // 0: all; else a random subset of this size at each node
  FeatureMask features = kAllFeatures;  // the features a split may use
  double lambda = 1.0;         // kGradient: L2 penalty on leaf weights
  double min_child_hessian = 1e-3;
  uint64_t seed = 1;
};

// Per-row training targets. kGini: a = weight if positive else 0, b = weight if negative else
// 0. kGradient: a = gradient, b = hessian.
struct RowTargets {
  std::vector<double> a, b;
};

class TreeGrower {
 public:
  TreeGrower(const BinnedData& data, const RowTargets& targets, const GrowOptions& options);

  // Grows a tree on the given rows of the binned data (an index may repeat: bootstrap samples).
  // Leaf values: kGini, the positive fraction; kGradient, -G / (H + lambda).
  Tree grow(std::vector<uint32_t> rows);

 private:
  struct Split;
  struct BinStats {
    double a = 0, b = 0;
    uint32_t n = 0;
  };
  void grow_node(Tree& tree, uint32_t* begin, uint32_t* end, int depth);
  bool find_split(const uint32_t* begin, const uint32_t* end, Split& best);
  void refine_threshold(const uint32_t* begin, const uint32_t* end, double total_a, double total_b,
                        Split& best);
  double score(double a, double b) const;
  double leaf_value(double a, double b) const;

  const BinnedData& data_;
  const RowTargets& targets_;
  GrowOptions options_;
  uint64_t rng_;
  std::vector<BinStats> hist_;  // kFeatureCount x kMaxBins
  std::vector<uint32_t> features_;
  struct Candidate {
    float value;
    double a, b;
  };
  std::vector<Candidate> candidates_;
};

// Weakest-link (cost-complexity) pruning of a classification tree, error = misclassified
// training weight. collapse_alpha[i] is the complexity parameter at which internal node i
// becomes a leaf (infinity for leaves); the subtree for alpha keeps the nodes whose ancestors
// all have collapse_alpha > alpha.
std::vector<double> collapse_alphas(const Tree& tree);
Tree prune(const Tree& tree, const std::vector<double>& collapse_alpha, double alpha);

}  // namespace netpulse::detect
