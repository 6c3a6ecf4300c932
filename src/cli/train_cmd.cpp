// netpulse train: fits a detector on labelled NSL-KDD rows and writes the model file.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "detect/bruteforce_rule.hpp"
#include "detect/sha256.hpp"
#include "detect/dataset.hpp"
#include "detect/selection.hpp"
#include "detect/trainer.hpp"

namespace netpulse::cli {

namespace {

struct TrainCmdOptions {
  std::vector<std::string> data;
  std::string detector;
  std::string algo = "tree";
  std::string out;
  detect::TrainOptions train;
  int folds = 0;
  std::vector<std::string> holdout_labels;
  std::string features;
  bool select = false;
  bool plus_isolation = false;
  std::vector<std::string> candidates;
  double fpr_budget = 0.02;
  int groups = 5;
  std::string holdout_groups;
  bool quiet = false;
};

// "a,b;c" -> label groups; ends the command on an unknown label.
std::vector<std::vector<int>> parse_label_groups(const std::string& text) {
  std::vector<std::vector<int>> groups(1);
  std::string name;
  auto flush = [&] {
    if (name.empty()) return;
    const int l = detect::label_index(name);
    if (l < 0 || l == detect::kNormalLabel)
      usage_error("--holdout-groups: '" + name + "' is not an attack label");
    groups.back().push_back(l);
    name.clear();
  };
  for (char c : text) {
    if (c == ',' || c == ';') flush();
    if (c == ';') groups.emplace_back();
    if (c != ',' && c != ';' && c != ' ') name += c;
  }
  flush();
  std::erase_if(groups, [](const auto& g) { return g.empty(); });
  return groups;
}

void print_selection(const detect::Selection& sel) {
  std::printf("leave-attack-types-out selection at a false-positive budget of %.4g; groups:",
              sel.fpr_budget);
  for (size_t g = 0; g < sel.groups.size(); ++g) {
    std::printf(" %zu=", g + 1);
    for (size_t i = 0; i < sel.groups[g].size(); ++i)
      std::printf("%s%s", i ? "," : "",
                  std::string(detect::label_names()[static_cast<size_t>(sel.groups[g][i])]).c_str());
  }
  std::printf("\n  %-42s %8s %8s %8s %8s %10s  %s\n", "candidate", "unseen", "(rows)", "seen",
              "FPR", "threshold", "per group");
  for (size_t i = 0; i < sel.results.size(); ++i) {
    const auto& r = sel.results[i];
    if (!r.error.empty()) {
      std::printf("  %-42s %s\n", r.name.c_str(), r.error.c_str());
      continue;
    }
    std::printf("%c %-42s %8.4f %8.4f %8.4f %8.4f %10.4g ", i == sel.chosen ? '*' : ' ',
                r.name.c_str(), r.unseen_recall, r.unseen_recall_rows, r.seen_recall,
                r.false_positive_rate, r.threshold);
    for (double g : r.group_recall) std::printf(" %.3f", g);
    if (!r.part_thresholds.empty())
      std::printf("  (budget split %.1f/%.1f, part thresholds %.4g and %.4g; one shared threshold: "
                  "unseen %.4f)",
                  r.first_part_share, 1 - r.first_part_share, r.part_thresholds[0],
                  r.part_thresholds[1], r.shared_unseen_recall);
    std::printf("\n");
  }
  std::fflush(stdout);
}

// Loads a labelled data set, reporting malformed rows on stderr; ends the command when the
// file cannot be read.
// The rows of every file, in order; the SHA-256 is of their bytes one after the other (that of
// `cat FILES`), so one file keeps its own.
detect::Dataset load_labelled(const std::vector<std::string>& paths, bool quiet) {
  detect::Dataset all;
  std::string bytes;
  for (const std::string& path : paths) {
    std::string text, why;
    if (!detect::read_file(path, text, &why)) io_error(why);
    detect::Dataset ds = detect::parse_dataset(text);
    for (const auto& m : ds.first_malformed)
      std::fprintf(stderr, "netpulse: %s %s\n", path.c_str(), detect::describe(m).c_str());
    if (ds.malformed > ds.first_malformed.size())
      std::fprintf(stderr, "netpulse: %s: %llu malformed rows in all (only the first %zu shown)\n",
                   path.c_str(), static_cast<unsigned long long>(ds.malformed),
                   ds.first_malformed.size());
    else if (ds.malformed > 0 && !quiet)
      std::fprintf(stderr, "netpulse: %s: %llu malformed rows skipped\n", path.c_str(),
                   static_cast<unsigned long long>(ds.malformed));
    if (paths.size() == 1) return ds;
    all.rows.insert(all.rows.end(), ds.rows.begin(), ds.rows.end());
    all.labels.insert(all.labels.end(), ds.labels.begin(), ds.labels.end());
    all.malformed += ds.malformed;
    bytes += text;
  }
  all.sha256 = detect::sha256_hex(bytes);
  return all;
}

// Trees and nodes of a model, its parts' included.
size_t tree_count(const detect::Model& m) {
  size_t n = m.trees.size();
  for (const auto& p : m.parts) n += tree_count(p);
  return n;
}
size_t node_count(const detect::Model& m) {
  size_t n = 0;
  for (const auto& t : m.trees) n += t.nodes.size();
  for (const auto& p : m.parts) n += node_count(p);
  return n;
}

void print_cv(const detect::CrossValidation& cv) {
  auto line = [](const char* name, const detect::MeanSd& m) {
    std::printf("  %-20s %.4f ± %.4f\n", name, m.mean, m.sd);
  };
  line("accuracy", cv.accuracy);
  line("precision", cv.precision);
  line("recall", cv.recall);
  line("f1", cv.f1);
  line("false_positive_rate", cv.false_positive_rate);
}

int run_train(const TrainCmdOptions& o) {
  const auto detector = detect::parse_detector(o.detector);
  const bool rule = o.algo == "rule";
  const bool xgboost = o.algo == "xgboost";
  if (o.algo == "isolation" && o.plus_isolation)
    usage_error("--plus-isolation: --algo isolation is already the model of normal traffic");
  if ((xgboost || o.algo == "isolation" || o.plus_isolation) && o.folds)
    usage_error("--folds: cross-validation runs netpulse's own tree, forest and boost trainers; use --select for the others");
  if (rule && *detector != detect::Detector::kBruteforce)
    usage_error("--algo rule: only the bruteforce detector is a rule");
  if (rule && (o.select || o.folds))
    usage_error("--algo rule: a rule is not fitted; --select and --folds do not apply");
  const auto algo = detect::parse_algo(rule ? "tree" : xgboost ? "boost" : o.algo);
  detect::TrainOptions options = o.train;
  options.algo = *algo;
  if (!o.features.empty()) {
    std::string bad;
    const auto mask = detect::parse_feature_list(o.features, &bad);
    if (!mask) usage_error("--features: unknown feature or group '" + bad + "'");
    if (*mask == 0) usage_error("--features: no feature left");
    options.features = *mask;
  }
  std::vector<detect::Candidate> candidates;
  if (o.select) {
    for (const auto& spec : o.candidates) {
      std::string why;
      auto c = detect::parse_candidate(spec, options, &why);
      if (!c) usage_error("--candidate: " + why);
      candidates.push_back(std::move(*c));
    }
    if (candidates.empty()) candidates = detect::default_candidates(options);
  }
  const auto t0 = std::chrono::steady_clock::now();
  detect::Dataset all = load_labelled(o.data, o.quiet);
  std::string data_name;  // for messages: "KDDTrain+.txt" or "KDDTrain+.txt + baseline.txt"
  for (const auto& d : o.data) data_name += (data_name.empty() ? "" : " + ") + d;
  if (!o.holdout_labels.empty()) {
    // Leave whole attack types out of training, to measure detection of attacks never seen.
    std::vector<int> drop;
    for (const auto& name : o.holdout_labels) {
      const int l = detect::label_index(name);
      if (l < 0) usage_error("--holdout-labels: unknown label '" + name + "'");
      drop.push_back(l);
    }
    detect::Dataset kept;
    kept.sha256 = all.sha256;
    for (size_t i = 0; i < all.size(); ++i) {
      if (std::find(drop.begin(), drop.end(), all.labels[i]) != drop.end()) continue;
      kept.rows.push_back(all.rows[i]);
      kept.labels.push_back(all.labels[i]);
    }
    all = std::move(kept);
  }
  detect::Dataset data = all.select(*detector);
  size_t positives = 0;
  for (int16_t l : data.labels) positives += detect::detector_positive(*detector, l);
  if (positives == 0 || positives == data.size())
    io_error(data_name + ": needs both normal rows and " +
             std::string(detect::detector_name(*detector)) + " rows to train the " +
             std::string(detect::detector_name(*detector)) + " detector");
  if (!o.quiet && !o.select)
    std::fprintf(stderr, "netpulse: training %s/%s on %zu rows (%zu positive) of %s\n",
                 std::string(detect::detector_name(*detector)).c_str(), o.algo.c_str(), data.size(),
                 positives, data_name.c_str());

  std::string algo_label = o.algo;
  detect::TrainFunction trainer;
  if (xgboost) trainer = detect::train_xgboost_function();
  if (options.algo == detect::Algo::kIsolation) trainer = detect::train_isolation_function();
  if (o.plus_isolation) {
    trainer = detect::plus_isolation_function(trainer);
    algo_label += "+isolation";
  }
  nlohmann::json selection_json;
  double threshold = -1;
  std::vector<double> part_thresholds;  // --select split the budget between the parts
  if (o.select) {
    detect::SelectOptions so;
    so.fpr_budget = o.fpr_budget;
    so.groups = o.groups;
    so.seed = options.seed;
    so.holdout_groups = parse_label_groups(o.holdout_groups);
    if (!o.quiet)
      so.progress = [](const std::string& line) { std::fprintf(stderr, "netpulse: %s\n", line.c_str()); };
    std::string why;
    const auto sel = detect::select_model(data, *detector, candidates, so, &why);
    if (!sel) io_error(data_name + ": cannot select a " + o.detector + " model: " + why);
    print_selection(*sel);
    selection_json = sel->to_json();
    options = candidates[sel->chosen].options;
    trainer = candidates[sel->chosen].train;
    threshold = sel->results[sel->chosen].threshold;
    part_thresholds = sel->results[sel->chosen].part_thresholds;
    algo_label = candidates[sel->chosen].name;
  }

  nlohmann::json cv_json;
  if (o.folds >= 2 && trainer)
    std::fprintf(stderr, "netpulse: --folds skipped: cross-validation runs netpulse's own trainers, "
                         "not %s\n", algo_label.c_str());
  if (o.folds >= 2 && !trainer) {
    const auto cv = detect::cross_validate(data, *detector, options, o.folds);
    std::printf("%d-fold cross-validation of %s/%s on %s (%zu rows, %zu positive), mean ± sd (at threshold 0.5):\n",
                o.folds, std::string(detect::detector_name(*detector)).c_str(), algo_label.c_str(),
                data_name.c_str(), data.size(), positives);
    print_cv(cv);
    std::fflush(stdout);
    cv_json = cv.to_json();
  }

  detect::Model model;
  if (rule) {
    std::string why;
    // Trained for inputs without logins (--features leaves out logged_in): the flow variant.
    detect::BruteforceRule r;
    r.flows = !(options.features & (detect::FeatureMask{1} << detect::feature_index("logged_in")));
    auto m = detect::bruteforce_rule_model(r, *detector, data, &why);
    if (!m) io_error(why);
    model = std::move(*m);
  } else if (trainer) {
    std::string why;
    auto m = trainer(data, *detector, options, &why);
    if (!m) io_error(data_name + ": training failed: " + why);
    model = std::move(*m);
  } else {
    model = detect::train(data, *detector, options);
  }
  if (threshold >= 0) model.threshold = threshold;
  // The selection split the budget between a combined model's parts: each alerts at its own
  // threshold, and the model when any does.
  if (!part_thresholds.empty()) {
    if (model.algo != detect::Algo::kAny || model.parts.size() != part_thresholds.size())
      io_error("the selected candidate's parts do not match its budget split");
    for (size_t p = 0; p < part_thresholds.size(); ++p) model.parts[p].threshold = part_thresholds[p];
  }
  if (threshold >= 0 || !model.training.contains("training_set_metrics")) {
    model.training["training_set_metrics"] = detect::metrics_json(detect::evaluate(model, data));
  }
  if (!selection_json.is_null()) model.training["selection"] = selection_json;
  if (o.data.size() == 1) {
    model.training["data"] = std::filesystem::path(o.data[0]).filename().string();
  } else {
    nlohmann::json names = nlohmann::json::array();
    for (const auto& d : o.data) names.push_back(std::filesystem::path(d).filename().string());
    model.training["data"] = names;
  }
  if (!cv_json.is_null()) model.training["cross_validation"] = cv_json;
  if (!o.holdout_labels.empty()) model.training["holdout_labels"] = o.holdout_labels;
  const auto out_path = std::filesystem::path(o.out);
  if (out_path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(out_path.parent_path(), ec);
  }
  std::string why;
  if (!detect::save_model(model, o.out, &why)) io_error(why);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto& m = model.training["training_set_metrics"];
  std::printf(
      "wrote %s: %s/%s, %zu tree(s), %zu nodes; training-set accuracy %.4f, recall %.4f; %.1f s\n",
      o.out.c_str(), std::string(detect::detector_name(*detector)).c_str(), algo_label.c_str(),
      tree_count(model), node_count(model), m["accuracy"].get<double>(),
      m["recall"].get<double>(), seconds);
  return 0;
}

}  // namespace

Command make_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainCmdOptions>();
  CLI::App* sub = app.add_subcommand(
      "train",
      "Train an anomaly detector (decision tree, random forest or boosted trees) on labelled "
      "NSL-KDD rows and write it as a JSON model file.");
  sub->add_option("--data", o->data, "Labelled NSL-KDD rows (41 features, label, difficulty); repeatable: the rows of every "
                  "file are trained on together (KDDTrain+.txt and rows of your own normal traffic "
                  "from detect-flows --feature-rows, say)")
      ->required();
  sub->add_option(
         "--detector", o->detector,
         "Which family to detect: dos, probe, r2l, u2r, bruteforce (guess_passwd) or attack "
         "(any); trained on normal rows plus that family's rows")
      ->required()
      ->check(CLI::IsMember({"dos", "probe", "r2l", "u2r", "bruteforce", "attack"}));
  sub->add_option("--algo", o->algo,
                  "tree: one CART tree, pruning chosen by cross-validation; forest: random forest; "
                  "boost: gradient-boosted trees; xgboost: the same trained by XGBoost; "
                  "isolation: an isolation forest of the normal rows only (alerts on what is far "
                  "from normal); rule (bruteforce only): repeated short "
                  "connections to an authentication service that do not log in, written as a "
                  "tree (docs/detect.md); with --features leaving out logged_in, the variant "
                  "for flows (short requests instead of failed logins)")
      ->check(CLI::IsMember({"tree", "forest", "boost", "xgboost", "isolation", "rule"}))
      ->capture_default_str();
  sub->add_option("--max-depth", o->train.max_depth,
                  "Deepest tree allowed (default: tree 30, forest 30, boost 6)")
      ->check(CLI::Range(1, 200));
  sub->add_option("--min-leaf", o->train.min_samples_leaf,
                  "Fewest training rows in a leaf (default: 1; boost 5)")
      ->check(CLI::Range(1, 1'000'000));
  sub->add_option("--trees", o->train.trees, "Trees in a forest or boosted ensemble (default 100)")
      ->check(CLI::Range(1, 10'000));
  sub->add_option("--learning-rate", o->train.learning_rate, "Boosting shrinkage")
      ->check(CLI::Range(1e-6, 1.0))
      ->capture_default_str();
  sub->add_option("--prune-folds", o->train.prune_folds,
                  "tree: folds of the inner cross-validation that chooses the pruning level (0: no "
                  "pruning)")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  sub->add_option(
         "--folds", o->folds,
         "Also run K-fold cross-validation and print mean ± sd of accuracy, precision, recall, F1")
      ->check(CLI::Range(2, 100));
  sub->add_option("--ratio", o->train.ratio,
                  "Normal rows per attack row kept for training (0: all rows)")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  sub->add_option("--seed", o->train.seed, "Seed for sampling, folds and forests")
      ->capture_default_str();
  sub->add_option("--threads", o->train.threads,
                  "Threads for forest trees and cross-validation folds")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  sub->add_option("--holdout-labels", o->holdout_labels,
                  "Leave these labels out of training (comma-separated), e.g. to measure how the "
                  "model detects attack types it never saw")
      ->delimiter(',');
  sub->add_option("--features", o->features,
                  "Features the model may use: names or groups (basic, content, time, host, all), "
                  "comma-separated; a leading '-' removes one, e.g. '-content' or 'basic,time,host'")
      ->capture_default_str();
  sub->add_flag("--plus-isolation", o->plus_isolation,
                "Combine the model with an isolation forest of the normal rows: it alerts when "
                "either does (format version 2, algo any)");
  sub->add_flag("--select", o->select,
                "Choose the model by leave-attack-types-out: each --candidate is trained with "
                "groups of attack labels left out, the threshold set at --fpr-budget on held-out "
                "normal rows, and the one catching the most unseen attack types is trained on "
                "all rows and written (docs/detect.md)");
  sub->add_option("--candidate", o->candidates,
                  "--select: a candidate, e.g. 'algo=forest features=-content depth=20 trees=50' "
                  "(keys algo, features, depth, trees, min-leaf, lr, ratio; plus=isolation adds a "
                  "model of normal traffic, whose own false-positive budget iso-budget sets, "
                  "default 0.01, and the selection also tries --fpr-budget split between the two "
                  "models, each with its own threshold); repeatable; default: tree, forest and "
                  "xgboost, each with all features and without the content ones");
  sub->add_option("--fpr-budget", o->fpr_budget,
                  "--select: false-positive rate allowed on held-out normal rows; sets the "
                  "written model's alert threshold")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--groups", o->groups,
                  "--select: how many groups the attack labels are dealt into (by size)")
      ->check(CLI::Range(2, 100))
      ->capture_default_str();
  sub->add_option("--holdout-groups", o->holdout_groups,
                  "--select: explicit label groups instead, e.g. 'back,land;nmap,satan'");
  sub->add_option("--out,-o", o->out, "Where to write the model, e.g. models/dos.json")->required();
  sub->add_flag("--quiet,-q", o->quiet, "No notices on stderr (malformed rows still reported)");
  return Command{sub, [o] { return run_train(*o); }};
}

}  // namespace netpulse::cli
