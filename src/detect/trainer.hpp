// Training and cross-validation of a detector on NSL-KDD rows: one pruned CART tree, a random
// forest (bagging plus a random subset of features at each split), or gradient-boosted trees
// on the logistic loss. Deterministic for a given seed. Functions are thread-safe (no shared
// state); each call may use several threads internally when asked.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "detect/dataset.hpp"
#include "detect/metrics.hpp"
#include "detect/model.hpp"

namespace netpulse::detect {

struct TrainOptions {
  Algo algo = Algo::kTree;
  int max_depth = 0;           // 0: the algo's default (tree 30, forest 30, boost 6)
  int min_samples_leaf = 0;    // 0: the algo's default (tree 1, forest 1, boost 5)
  int trees = 0;               // forest and boost; 0: default 100
  double learning_rate = 0.1;  // boost
  int features_per_split = 0;  // forest; 0: sqrt of the number of features allowed
  int prune_folds = 5;  // tree: folds of the inner cross-validation choosing the pruning level
                        // (0: no pruning)
  double ratio = 0;     // normal rows per attack row kept for training (0: all rows)
  uint64_t seed = 1;
  int threads = 1;  // forest trees and cross-validation folds run in parallel
  FeatureMask features = kAllFeatures;  // the features the model may split on

  // The effective values after defaults.
  TrainOptions resolved() const;
  nlohmann::json to_json() const;
};

// Trains on the rows (already restricted to the detector's families: Dataset::select). The
// model's `training` holds the options, row counts, pruning choice and training-set metrics.
Model train(const Dataset& data, Detector detector, const TrainOptions& options);

// The normal rows subsampled to `ratio` per positive row (all positives kept); indexes into rows.
std::vector<uint32_t> ratio_sample(const Dataset& data, Detector detector, double ratio,
                                   uint64_t seed);

// Stratified K-fold cross-validation of the whole training procedure (including the inner
// pruning choice). Each fold's model is trained on K-1 folds (ratio subsampling applied to
// them) and tested on the held-out fold as it is.
struct CrossValidation {
  std::vector<Confusion> folds;
  MeanSd accuracy, precision, recall, f1, false_positive_rate;
  nlohmann::json to_json() const;
};
CrossValidation cross_validate(const Dataset& data, Detector detector, const TrainOptions& options,
                               int folds);

Confusion evaluate(const Model& model, const Dataset& data);

}  // namespace netpulse::detect
