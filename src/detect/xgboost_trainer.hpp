// Gradient-boosted trees trained by XGBoost (Debian's libxgboost, C API) and converted into our
// own Tree format, so the model file, Model::score and CompiledModel evaluate them unchanged
// (algo kBoost: sigmoid of base_score plus the leaf values). Functions are thread-safe: each
// call owns its XGBoost handles, and XGBoost keeps its last error per thread.
//
// What XGBoost sees: the rows train() would use (detector_uses, ratio_sample), each allowed
// numeric feature as one column, each allowed categorical feature as one 0/1 indicator column
// per vocabulary value (xgboost_columns); dense, no missing values. Conversion: a numeric split
// "x < c" becomes "x <= nextafter(c, -inf)" (the same test on floats); a split on the indicator
// of category j of feature f becomes a categorical split of f whose left set holds the
// categories whose indicator value v passes XGBoost's "v < c".
//
// Parameters: binary:logistic; tree_method hist with 256 bins (one bin per value for every
// NSL-KDD column but duration, src_bytes, dst_bytes, count and srv_count, which get quantile
// cuts); max_depth; eta = learning_rate; lambda 1, gamma 0; no row or column sampling;
// base_score = the positive fraction of the training rows (where our boost starts too); and
// min_child_weight = min_samples_leaf / 4: a row's hessian p(1-p) is at most 1/4, so a leaf
// holds at least min_samples_leaf rows, and more where the rows are already classified
// confidently (they weigh less), the "evidence" XGBoost means it to count. tree_method exact
// gave the same held-out quality on KDDTrain+ and trained 15 times slower.
//
// Determinism: with no sampling nothing is drawn at random (the seed is passed but unused), and
// hist's cuts come from the data alone, so a seed and data give the same model file byte for
// byte. Thread count: dos and attack on KDDTrain+_20Percent (1, 2 and 4 threads) and on all of
// KDDTrain+ (1 and 2), and the synthetic test sets, gave identical files, so `nthread` is not
// recorded in the file. XGBoost does not promise this (per-thread gradient sums are added in a
// thread-dependent order); tests/detect/xgboost_trainer_test.cpp checks it for 1 and 2.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "detect/dataset.hpp"
#include "detect/model.hpp"
#include "detect/trainer.hpp"

namespace netpulse::detect {

// One column of the matrix XGBoost trains on.
struct XgboostColumn {
  uint8_t feature = 0;    // column of the feature row
  int16_t category = -1;  // -1: the numeric feature itself; else the indicator of this category

  friend bool operator==(const XgboostColumn&, const XgboostColumn&) = default;
};

// The columns for a feature mask, in feature order (categories in vocabulary order).
std::vector<XgboostColumn> xgboost_columns(FeatureMask features);

// Trains gradient-boosted trees with XGBoost on the rows the detector uses, honouring trees,
// max_depth, learning_rate, min_samples_leaf, seed, threads, ratio and features (defaults as
// train() resolves them for Algo::kBoost), and converts them into a Model with algo kBoost.
// `training` records the options (algo "xgboost") with the XGBoost parameters used, the library
// version, the data's hash, row counts and training-set metrics. When booster_json is given, it
// receives XGBoost's own model (JSON), for xgboost_predict. Returns nullopt with a one-line
// reason on an XGBoost error or when no row or no feature is left to train on.
std::optional<Model> train_xgboost(const Dataset& data, Detector detector,
                                   const TrainOptions& options, std::string* why,
                                   std::string* booster_json = nullptr);

// XGBoost's own predicted probabilities for rows, from a booster_json of train_xgboost trained
// with the same feature mask: the reference the conversion is checked against. Returns nullopt
// with a one-line reason on an XGBoost error.
std::optional<std::vector<float>> xgboost_predict(std::string_view booster_json,
                                                  std::span<const FeatureRow> rows,
                                                  FeatureMask features, std::string* why);

// "xgboost 1.7.4": the library the process runs with.
std::string xgboost_version();

}  // namespace netpulse::detect
