// A trained detector: its tree or trees (or, for a combined model, its parts), how their outputs
// become a score in [0, 1], the alert threshold, and what it was trained on. Saved as versioned,
// self-describing JSON (docs/detect.md): feature names and vocabularies, trees as flat node
// arrays, training options, metrics and the SHA-256 of the training data. Plain value; const
// methods are thread-safe.
//
// File versions. A model is written in the oldest version that can express it, so files of
// version-1 models keep their bytes:
// - version 1: algo tree, forest or boost. Keys: format, version, detector, algo, output,
//   base_score, threshold, features, training, trees.
// - version 2: adds algo "isolation" and "any"; readers of version 2 read version 1.
//   - isolation: the version-1 layout; output "isolation_score" = 2^(-mean leaf value /
//     base_score), where a leaf's value is its depth plus c(leaf rows) and base_score is
//     c(sample size), the normalizer of the isolation forest (isolation_forest.hpp).
//   - any: no `trees`; `parts` instead, an array of part objects, each with the keys of a
//     model (detector, algo, output, base_score, threshold, training, trees) except format,
//     version and features: the parts share the top-level `features`. A part is a tree, forest,
//     boost or isolation model (not "any": one level only). output "max_of_parts"; threshold
//     0.5 (see any_part_score).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/nslkdd_schema.hpp"
#include "detect/tree.hpp"

namespace netpulse::detect {

// The newest version this netpulse reads and writes (it reads every version from 1).
inline constexpr int kModelFormatVersion = 2;
inline constexpr std::string_view kModelFormat = "netpulse-detector";

enum class Algo : uint8_t { kTree, kForest, kBoost, kIsolation, kAny };
std::optional<Algo> parse_algo(std::string_view name);
std::string_view algo_name(Algo a);

struct Model {
  Detector detector = Detector::kAttack;
  Algo algo = Algo::kTree;
  std::vector<Tree> trees;
  // kAny: the models combined (none of them kAny); empty for every other algo.
  std::vector<Model> parts;
  // kTree: the leaf's positive fraction. kForest: the mean of the trees' leaf fractions.
  // kBoost: sigmoid(base_score + sum of leaf weights). kIsolation: 2^(-mean leaf value /
  // base_score). kAny: the greatest any_part_score of the parts.
  double base_score = 0;
  double threshold = 0.5;                              // an alert when score >= threshold
  nlohmann::json training = nlohmann::json::object();  // options, data hash, metrics

  // The reference evaluator (used by training and tests; CompiledModel is the fast one).
  double score(const FeatureRow& x) const;
  bool positive(const FeatureRow& x) const { return score(x) >= threshold; }
};

// A part's score s with its threshold t mapped monotonically onto [0, 1] so that t maps to 0.5:
// the part alerts (s >= t) exactly when the mapped score is >= 0.5, whatever t is (t <= 0:
// every row alerts; t > 1: none does). A combined model alerts when its greatest mapped score
// reaches 0.5, i.e. when any part alerts. Shared by Model::score and CompiledModel::score so
// both give the same double.
inline double any_part_score(double s, double t) {
  if (s >= t) {
    if (t >= 1) return 1.0;  // only s >= 1 reaches a threshold of 1 or more
    const double m = 0.5 + 0.5 * (s - t) / (1 - t);
    return m < 1 ? m : 1.0;
  }
  if (t <= 0) return 0.0;  // s < t <= 0: scores are not negative; keep it below 0.5 anyway
  const double m = 0.5 * s / t;
  // s / t can round up to 1 when s is just below t: stay below 0.5, or a part below its
  // threshold would make the combined model alert.
  return m < 0.5 ? m : 0.49999999999999994;
}

// A model that alerts when any of the parts alerts (threshold 0.5; see any_part_score). Parts
// that are themselves kAny are flattened into their parts (same alerts). `training` is stored
// as the combined model's training info.
// REQUIRES: parts is not empty (else std::invalid_argument).
Model combine_any(Detector detector, std::vector<Model> parts, nlohmann::json training);

// The file version a model is written in: 1 for tree, forest and boost, 2 for the others.
int model_format_version(const Model& m);

nlohmann::json to_json(const Model& m);
// Returns nullopt with a reason when the JSON is not a model this version can read.
std::optional<Model> model_from_json(const nlohmann::json& j, std::string* why);

bool save_model(const Model& m, const std::string& path, std::string* why);
std::optional<Model> load_model(const std::string& path, std::string* why);
// The text save_model writes: one key per line, one tree per line (parts: one key per line).
std::string model_file_text(const Model& m);

// The name a model's alerts carry, given the names of the models loaded before it: the
// detector's name, or "dos#2", "dos#3" for the second and third model of one detector.
std::string alert_name(std::string_view detector, const std::vector<std::string>& earlier);

// The columns a model's trees split on (its parts' too): what a classifier must convert.
FeatureMask features_used(const Model& model);

}  // namespace netpulse::detect
