// A trained detector: its tree or trees, how their outputs become a score in [0, 1], the alert
// threshold, and what it was trained on. Saved as versioned, self-describing JSON (format
// documented in docs/detect.md): feature names and vocabularies, trees as flat node arrays,
// training options, metrics and the SHA-256 of the training data. Plain value; const methods
// are thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/nslkdd_schema.hpp"
#include "detect/tree.hpp"

namespace netpulse::detect {

inline constexpr int kModelFormatVersion = 1;
inline constexpr std::string_view kModelFormat = "netpulse-detector";

enum class Algo : uint8_t { kTree, kForest, kBoost };
std::optional<Algo> parse_algo(std::string_view name);
std::string_view algo_name(Algo a);

struct Model {
  Detector detector = Detector::kAttack;
  Algo algo = Algo::kTree;
  std::vector<Tree> trees;
  // kTree: the leaf's positive fraction. kForest: the mean of the trees' leaf fractions.
  // kBoost: sigmoid(base_score + sum of leaf weights).
  double base_score = 0;
  double threshold = 0.5;                              // an alert when score >= threshold
  nlohmann::json training = nlohmann::json::object();  // options, data hash, metrics

  // The reference evaluator (used by training and tests; CompiledModel is the fast one).
  double score(const FeatureRow& x) const;
  bool positive(const FeatureRow& x) const { return score(x) >= threshold; }
};

nlohmann::json to_json(const Model& m);
// Returns nullopt with a reason when the JSON is not a model this version can read.
std::optional<Model> model_from_json(const nlohmann::json& j, std::string* why);

bool save_model(const Model& m, const std::string& path, std::string* why);
std::optional<Model> load_model(const std::string& path, std::string* why);

// The name a model's alerts carry, given the names of the models loaded before it: the
// detector's name, or "dos#2", "dos#3" for the second and third model of one detector.
std::string alert_name(std::string_view detector, const std::vector<std::string>& earlier);

}  // namespace netpulse::detect
