// Model selection by generalization: `netpulse train --select`. Plain cross-validation cannot
// choose between detectors on NSL-KDD (every algorithm scores about 99.9%), and what makes the
// official test set hard is attack types that never occur in training. So each candidate
// (algorithm, features, depth, ...) is judged by the leave-attack-types-out experiment:
//
//   - the detector's attack labels are split into K groups, its normal rows and the remaining
//     attack rows into K random folds;
//   - round k trains on every normal row outside fold k and every attack row whose label is not
//     in group k and whose row is outside fold k, then scores the normal rows of fold k (false
//     positives), the attack rows of group k (attack types never seen: "unseen recall") and the
//     other attack rows of fold k ("seen recall");
//   - so every row is scored once by a model that never saw it, and the alert threshold is set
//     from the pooled held-out normal scores: the lowest threshold whose false-positive rate is
//     within the budget;
//   - a model that alerts when either of two parts does (plus=isolation) is also tried with the
//     budget split between its parts, each with its own threshold at its share (0.1, 0.2, ...,
//     0.9 of the budget for the first part); the split that catches the most unseen types is
//     kept when it beats the shared threshold;
//   - the candidate with the best unseen recall at that threshold (the mean over groups, so a
//     large group does not drown the others; ties: seen recall, then the earlier candidate) is
//     chosen, trained on all rows, and given that threshold (or, with a budget split, each part
//     its own).
//
// Everything is deterministic for a seed. Functions are thread-safe (no shared state).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/dataset.hpp"
#include "detect/model.hpp"
#include "detect/trainer.hpp"

namespace netpulse::detect {

// Trains one model on the given rows (already the detector's rows); nullopt with a reason when
// it cannot.
using TrainFunction = std::function<std::optional<Model>(const Dataset&, Detector,
                                                         const TrainOptions&, std::string*)>;

// XGBoost's trainer (xgboost_trainer.hpp) as a TrainFunction.
TrainFunction train_xgboost_function();
// An isolation forest of the normal rows (isolation_forest.hpp; trees and features from the
// options) as a TrainFunction.
TrainFunction train_isolation_function(double fpr_budget = 0.01);
// The supervised trainer (empty: detect::train) combined with an isolation forest of the normal
// rows: the model alerts when either does (combine_any).
TrainFunction plus_isolation_function(TrainFunction supervised, double fpr_budget = 0.01);

struct Candidate {
  std::string name;  // as given or derived from the options, e.g. "forest features=-content"
  TrainOptions options;
  TrainFunction train;  // empty: detect::train
};

// Parses a candidate spec: space-separated key=value pairs, `algo=tree|forest|boost|xgboost|
// isolation` (required), `plus=isolation` (the model alerts when it or an isolation forest of
// the normal rows does), `iso-budget=X` (that forest's own false-positive budget, default
// 0.01), `features=LIST` (parse_feature_list), `depth=N`, `trees=N`, `min-leaf=N`,
// `lr=X`, `ratio=X`. `base` gives the other options (seed, threads). Returns nullopt with a
// one-line reason.
std::optional<Candidate> parse_candidate(std::string_view spec, const TrainOptions& base,
                                         std::string* why);

// The default candidates for a detector: tree, forest and XGBoost's boosted trees, each over
// all features and without the content features, at their default depths.
std::vector<Candidate> default_candidates(const TrainOptions& base);

struct SelectOptions {
  double fpr_budget = 0.02;  // the false-positive rate allowed on held-out normal rows
  int groups = 5;            // K; at most the number of attack labels
  // Explicit groups of labels (indexes in label_names()); empty: the detector's attack labels
  // sorted by row count, dealt to the groups in snake order (0, 1, ..., K-1, K-1, ..., 0) so
  // group sizes balance.
  std::vector<std::vector<int>> holdout_groups;
  uint64_t seed = 1;
  std::function<void(const std::string&)> progress;  // one line per finished round
};

struct CandidateResult {
  std::string name;
  nlohmann::json options;
  double threshold = 0.5;           // chosen on the held-out normal rows
  double false_positive_rate = 0;   // at the chosen threshold
  double unseen_recall = 0;         // mean over groups, at the chosen threshold
  double unseen_recall_rows = 0;    // pooled over every unseen row
  double seen_recall = 0;           // attack types seen in training, held-out rows
  std::vector<double> group_recall;  // per group, at the chosen threshold
  // The same at the model's own threshold (0.5), for comparison.
  double default_false_positive_rate = 0, default_unseen_recall = 0, default_seen_recall = 0;
  // A combined model of two parts (plus=isolation): when splitting the budget between the parts
  // caught more unseen types than one threshold over their combined score, each part's own
  // threshold (set at its share of the budget on its held-out normal scores) and the first
  // part's share; `threshold` is then 0.5 (any part alerting). Empty: one shared threshold.
  std::vector<double> part_thresholds;
  double first_part_share = 0;
  // The shared threshold's figures, kept for the report when the split won.
  double shared_unseen_recall = 0;
  double shared_threshold = 0;
  double shared_false_positive_rate = 0;
  double seconds = 0;
  std::string error;  // non-empty: the candidate could not be trained
};

struct Selection {
  double fpr_budget = 0;
  std::vector<std::vector<int>> groups;
  std::vector<CandidateResult> results;
  size_t chosen = 0;  // index into results
  nlohmann::json to_json() const;
};

// Runs the experiment for every candidate over the detector's rows. Returns nullopt with a
// reason when the data cannot support it (fewer than two attack labels, no normal rows).
std::optional<Selection> select_model(const Dataset& data, Detector detector,
                                      const std::vector<Candidate>& candidates,
                                      const SelectOptions& options, std::string* why);

// One part's scores of a combined model, over the held-out rows of select_model's rounds: normal
// rows, rows of the types seen in training, and per group the rows of the types held out. The
// two parts' lists hold the same rows in the same order.
struct PartScores {
  std::vector<double> normal, seen;
  std::vector<std::vector<double>> unseen;  // per group
};
// Tries the first part's share of `budget` at 0.1, 0.2, ..., 0.9 (the second part has the rest),
// each part's threshold at its share of its normal scores (threshold_at_budget), a row alerting
// when either part reaches its threshold. When a split catches more unseen types (mean over
// groups; ties: seen recall) than r holds, r takes its figures, part_thresholds and share, with
// threshold 0.5, and keeps its former unseen recall, threshold and false-positive rate in the
// shared_* fields.
void split_budget(const PartScores& first, const PartScores& second, double budget,
                  CandidateResult& r);

// The threshold whose false-positive rate over these normal-row scores is at most `budget`
// while alerting on as much as possible: scores >= threshold alert.
double threshold_at_budget(std::vector<double> normal_scores, double budget);

}  // namespace netpulse::detect
