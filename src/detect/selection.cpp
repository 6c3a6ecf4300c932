#include "detect/selection.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include "detect/compiled_model.hpp"
#include "detect/random.hpp"
#include "detect/isolation_forest.hpp"
#include "detect/xgboost_trainer.hpp"

namespace netpulse::detect {

using nlohmann::json;

namespace {

template <typename T>
bool parse_number(std::string_view s, T& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::string group_names(const std::vector<int>& labels) {
  std::string s;
  for (int l : labels) s += (s.empty() ? "" : ",") + std::string(label_names()[static_cast<size_t>(l)]);
  return s;
}

// The fraction of scores that reach t (0 for none).
double rate(const std::vector<double>& s, double t) {
  if (s.empty()) return 0.0;
  size_t hit = 0;
  for (double x : s) hit += x >= t;
  return static_cast<double>(hit) / static_cast<double>(s.size());
}

// The fraction of rows i where a[i] reaches ta or b[i] reaches tb (two parts' scores of the same
// rows; 0 for none).
double either_rate(const std::vector<double>& a, const std::vector<double>& b, double ta, double tb) {
  if (a.empty()) return 0.0;
  size_t hit = 0;
  for (size_t i = 0; i < a.size(); ++i) hit += a[i] >= ta || b[i] >= tb;
  return static_cast<double>(hit) / static_cast<double>(a.size());
}

// The unseen-type figures from each held-out group's detection rate (rate_of(g); the group's
// rows are groups[g]): the mean over the groups, so one large group does not drown the others,
// and the rate over all their rows.
template <class GroupRate>
void unseen_figures(const std::vector<std::vector<double>>& groups, GroupRate rate_of, double& mean,
                    double* pooled, std::vector<double>* per_group) {
  mean = 0;
  size_t hits = 0, rows = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    const double x = rate_of(g);
    mean += x / static_cast<double>(groups.size());
    if (per_group) per_group->push_back(x);
    hits += static_cast<size_t>(std::llround(x * static_cast<double>(groups[g].size())));
    rows += groups[g].size();
  }
  if (pooled) *pooled = rows ? static_cast<double>(hits) / static_cast<double>(rows) : 0;
}

}  // namespace

std::optional<Candidate> parse_candidate(std::string_view spec, const TrainOptions& base,
                                         std::string* why) {
  Candidate c;
  c.options = base;
  c.name = std::string(spec);
  bool have_algo = false, plus_isolation = false;
  double iso_budget = IsolationOptions{}.fpr_budget;
  auto fail = [&](const std::string& reason) {
    if (why) *why = "candidate '" + c.name + "': " + reason;
    return std::nullopt;
  };
  while (!spec.empty()) {
    const size_t space = spec.find(' ');
    const std::string_view item = spec.substr(0, space);
    spec = space == std::string_view::npos ? std::string_view{} : spec.substr(space + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return fail("'" + std::string(item) + "' is not key=value");
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    bool ok = true;
    if (key == "algo" && value == "xgboost") {
      c.options.algo = Algo::kBoost;
      c.train = train_xgboost_function();
      have_algo = true;
    } else if (key == "algo" && value == "isolation") {
      c.options.algo = Algo::kIsolation;
      have_algo = true;
    } else if (key == "plus") {
      if (value != "isolation") return fail("plus= takes only 'isolation'");
      plus_isolation = true;
    } else if (key == "iso-budget") {
      ok = parse_number(value, iso_budget) && iso_budget >= 0 && iso_budget < 1;
    } else if (key == "algo") {
      const auto a = parse_algo(value);
      if (!a || *a == Algo::kAny) return fail("unknown algo '" + std::string(value) + "'");
      c.options.algo = *a;
      have_algo = true;
    } else if (key == "features") {
      std::string bad;
      const auto mask = parse_feature_list(value, &bad);
      if (!mask) return fail("unknown feature '" + bad + "'");
      if (*mask == 0) return fail("no features left");
      c.options.features = *mask;
    } else if (key == "depth") {
      ok = parse_number(value, c.options.max_depth) && c.options.max_depth >= 1;
    } else if (key == "trees") {
      ok = parse_number(value, c.options.trees) && c.options.trees >= 1;
    } else if (key == "min-leaf") {
      ok = parse_number(value, c.options.min_samples_leaf) && c.options.min_samples_leaf >= 1;
    } else if (key == "lr") {
      ok = parse_number(value, c.options.learning_rate) && c.options.learning_rate > 0 &&
           c.options.learning_rate <= 1;
    } else if (key == "ratio") {
      ok = parse_number(value, c.options.ratio) && c.options.ratio >= 0;
    } else {
      return fail("unknown key '" + std::string(key) +
                  "' (algo, plus, features, depth, trees, min-leaf, lr, ratio, iso-budget)");
    }
    if (!ok) return fail("bad value for " + std::string(key) + ": '" + std::string(value) + "'");
  }
  if (!have_algo) return fail("no algo=");
  if (c.options.algo == Algo::kIsolation) {
    if (plus_isolation) return fail("plus=isolation with algo=isolation");
    c.train = train_isolation_function(iso_budget);
  } else if (plus_isolation) {
    c.train = plus_isolation_function(c.train, iso_budget);
  }
  return c;
}

std::vector<Candidate> default_candidates(const TrainOptions& base) {
  std::vector<Candidate> out;
  for (const char* spec : {"algo=tree", "algo=tree features=-content", "algo=forest",
                           "algo=forest features=-content", "algo=xgboost",
                           "algo=xgboost features=-content"})
    out.push_back(*parse_candidate(spec, base, nullptr));
  return out;
}

TrainFunction train_xgboost_function() {
  return [](const Dataset& data, Detector d, const TrainOptions& o, std::string* why) {
    return train_xgboost(data, d, o, why);
  };
}

IsolationOptions isolation_options(const TrainOptions& o) {
  IsolationOptions iso;
  if (o.trees > 0) iso.trees = o.trees;
  iso.features = o.features;
  iso.seed = o.seed;
  iso.threads = o.threads;
  return iso;
}

TrainFunction train_isolation_function(double fpr_budget) {
  return [fpr_budget](const Dataset& data, Detector d, const TrainOptions& o,
                      std::string* why) -> std::optional<Model> {
    try {
      IsolationOptions iso = isolation_options(o);
      iso.fpr_budget = fpr_budget;
      return train_isolation_forest(data, d, iso);
    } catch (const std::exception& e) {
      if (why) *why = e.what();
      return std::nullopt;
    }
  };
}

TrainFunction plus_isolation_function(TrainFunction supervised, double fpr_budget) {
  return [supervised, fpr_budget](const Dataset& data, Detector d, const TrainOptions& o,
                                  std::string* why) -> std::optional<Model> {
    std::optional<Model> first =
        supervised ? supervised(data, d, o, why) : std::optional<Model>(train(data, d, o));
    if (!first) return std::nullopt;
    // The model of normal traffic keeps its own defaults (100 trees of 256 rows): the
    // candidate's tree count and depth are the supervised model's.
    IsolationOptions iso = isolation_options(TrainOptions{});
    iso.features = o.features;
    iso.seed = o.seed;
    iso.threads = o.threads;
    iso.fpr_budget = fpr_budget;
    try {
      Model normal = train_isolation_forest(data, d, iso);
      nlohmann::json info{{"options", {{"combine", "any"}}}, {"data_sha256", data.sha256}};
      return combine_any(d, {std::move(*first), std::move(normal)}, std::move(info));
    } catch (const std::exception& e) {
      if (why) *why = e.what();
      return std::nullopt;
    }
  };
}

double threshold_at_budget(std::vector<double> normal_scores, double budget) {
  if (normal_scores.empty()) return 0.5;
  std::sort(normal_scores.begin(), normal_scores.end(), std::greater<>());
  const auto allowed = static_cast<size_t>(
      std::floor(std::max(0.0, budget) * static_cast<double>(normal_scores.size()) + 1e-9));
  if (allowed >= normal_scores.size()) return normal_scores.back();
  // The first score that must not alert; everything strictly above it may.
  return std::nextafter(normal_scores[allowed], std::numeric_limits<double>::infinity());
}

json Selection::to_json() const {
  json g = json::array();
  for (const auto& labels : groups) {
    json names = json::array();
    for (int l : labels) names.push_back(label_names()[static_cast<size_t>(l)]);
    g.push_back(names);
  }
  json cands = json::array();
  for (const auto& r : results) {
    json c{{"name", r.name}, {"options", r.options}};
    if (!r.error.empty()) {
      c["error"] = r.error;
    } else {
      c["threshold"] = r.threshold;
      if (!r.part_thresholds.empty()) {
        c["part_thresholds"] = r.part_thresholds;
        c["first_part_budget_share"] = r.first_part_share;
        c["shared_threshold"] = {{"threshold", r.shared_threshold},
                                 {"false_positive_rate", r.shared_false_positive_rate},
                                 {"unseen_recall", r.shared_unseen_recall}};
      }
      c["false_positive_rate"] = r.false_positive_rate;
      c["unseen_recall"] = r.unseen_recall;
      c["unseen_recall_rows"] = r.unseen_recall_rows;
      c["seen_recall"] = r.seen_recall;
      c["group_recall"] = r.group_recall;
      c["at_default_threshold"] = {{"false_positive_rate", r.default_false_positive_rate},
                                   {"unseen_recall", r.default_unseen_recall},
                                   {"seen_recall", r.default_seen_recall}};
      // No seconds here: the model file must be reproduced byte for byte.
    }
    cands.push_back(std::move(c));
  }
  return json{{"method", "leave attack types out"},
              {"fpr_budget", fpr_budget},
              {"groups", std::move(g)},
              {"candidates", std::move(cands)},
              {"chosen", results.empty() ? "" : results[chosen].name}};
}

void split_budget(const PartScores& p0, const PartScores& p1, double budget, CandidateResult& r) {
  r.shared_unseen_recall = r.unseen_recall;
  r.shared_threshold = r.threshold;
  r.shared_false_positive_rate = r.false_positive_rate;
  for (int tenth = 1; tenth <= 9; ++tenth) {
    const double share = tenth / 10.0;
    const double t0 = threshold_at_budget(p0.normal, share * budget);
    const double t1 = threshold_at_budget(p1.normal, (1 - share) * budget);
    double unseen_mean = 0, pooled = 0;
    std::vector<double> per_group;
    unseen_figures(
        p0.unseen, [&](size_t g) { return either_rate(p0.unseen[g], p1.unseen[g], t0, t1); },
        unseen_mean, &pooled, &per_group);
    const double seen = either_rate(p0.seen, p1.seen, t0, t1);
    if (unseen_mean > r.unseen_recall || (unseen_mean == r.unseen_recall && seen > r.seen_recall)) {
      r.unseen_recall = unseen_mean;
      r.group_recall = std::move(per_group);
      r.unseen_recall_rows = pooled;
      r.seen_recall = seen;
      r.false_positive_rate = either_rate(p0.normal, p1.normal, t0, t1);
      r.threshold = 0.5;
      r.part_thresholds = {t0, t1};
      r.first_part_share = share;
    }
  }
}

std::optional<Selection> select_model(const Dataset& data, Detector detector,
                                      const std::vector<Candidate>& candidates,
                                      const SelectOptions& options, std::string* why) {
  // The detector's rows and its attack labels by size.
  std::map<int, size_t> label_rows;
  size_t normals = 0;
  for (int16_t l : data.labels) {
    if (!detector_uses(detector, l)) continue;
    if (detector_positive(detector, l))
      ++label_rows[l];
    else
      ++normals;
  }
  if (normals == 0) {
    if (why) *why = "no normal rows to measure false positives on";
    return std::nullopt;
  }
  Selection sel;
  sel.fpr_budget = options.fpr_budget;
  if (!options.holdout_groups.empty()) {
    for (const auto& g : options.holdout_groups) {
      std::vector<int> kept;
      for (int l : g)
        if (label_rows.count(l)) kept.push_back(l);
      if (!kept.empty()) sel.groups.push_back(std::move(kept));
    }
  } else {
    std::vector<std::pair<size_t, int>> by_size;
    for (const auto& [l, n] : label_rows) by_size.emplace_back(n, l);
    std::sort(by_size.begin(), by_size.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    const size_t k = std::min<size_t>(static_cast<size_t>(std::max(1, options.groups)),
                                      by_size.size());
    sel.groups.resize(k);
    for (size_t i = 0; i < by_size.size(); ++i) {
      const size_t round = i / k, pos = i % k;
      sel.groups[round % 2 ? k - 1 - pos : pos].push_back(by_size[i].second);
    }
  }
  if (label_rows.size() < 2 || sel.groups.size() < 2) {
    if (why)
      *why = "leaving attack types out needs at least two attack labels in two groups (the " +
             std::string(detector_name(detector)) + " rows have " +
             std::to_string(label_rows.size()) + ")";
    return std::nullopt;
  }
  const size_t k = sel.groups.size();
  std::vector<int> group_of(label_names().size(), -1);
  for (size_t g = 0; g < k; ++g)
    for (int l : sel.groups[g]) group_of[static_cast<size_t>(l)] = static_cast<int>(g);

  // Row roles: fold of every row (normal and attack), by a hash of the seed and the index.
  const size_t n = data.size();
  std::vector<uint8_t> fold(n);
  for (size_t i = 0; i < n; ++i) fold[i] = static_cast<uint8_t>(splitmix64(options.seed * 0x100000001B3ULL + i) % k);

  for (const Candidate& cand : candidates) {
    CandidateResult r;
    r.name = cand.name;
    r.options = cand.options.resolved().to_json();
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<double> normal_scores;
    std::vector<std::vector<double>> unseen(k);  // per group
    std::vector<double> seen;
    // A combined model of two parts: each part's own scores of the same rows, in the same order
    // (for the budget split).
    std::vector<PartScores> parts;
    bool two_parts = true;
    for (size_t round = 0; round < k && r.error.empty(); ++round) {
      Dataset train_set;
      train_set.sha256 = data.sha256;
      std::vector<uint32_t> test_normal, test_unseen, test_seen;
      for (size_t i = 0; i < n; ++i) {
        const int l = data.labels[i];
        if (!detector_uses(detector, l)) continue;
        const bool positive = detector_positive(detector, l);
        const int g = positive ? group_of[static_cast<size_t>(l)] : -1;
        if (positive && g == static_cast<int>(round)) {
          test_unseen.push_back(static_cast<uint32_t>(i));
        } else if (fold[i] == round) {
          (positive ? test_seen : test_normal).push_back(static_cast<uint32_t>(i));
        } else {
          train_set.rows.push_back(data.rows[i]);
          train_set.labels.push_back(data.labels[i]);
        }
      }
      std::string err;
      std::optional<Model> m = cand.train ? cand.train(train_set, detector, cand.options, &err)
                                          : std::optional<Model>(train(train_set, detector, cand.options));
      if (!m) {
        r.error = err.empty() ? "training failed" : err;
        break;
      }
      two_parts = two_parts && m->algo == Algo::kAny && m->parts.size() == 2;
      if (two_parts) {
        // Each part's scores, and the combined score from them as the combined model computes
        // it (the greater part score, each mapped by its threshold), rather than scoring the
        // rows a third time.
        parts.resize(2);
        const CompiledModel part0(m->parts[0]), part1(m->parts[1]);
        const double t0 = m->parts[0].threshold, t1 = m->parts[1].threshold;
        auto score = [&](uint32_t i, std::vector<double>& out, std::vector<double>& out0,
                         std::vector<double>& out1) {
          const double s0 = part0.score(data.rows[i]), s1 = part1.score(data.rows[i]);
          out0.push_back(s0);
          out1.push_back(s1);
          out.push_back(std::max(any_part_score(s0, t0), any_part_score(s1, t1)));
        };
        for (PartScores& ps : parts) ps.unseen.resize(k);
        for (uint32_t i : test_normal) score(i, normal_scores, parts[0].normal, parts[1].normal);
        for (uint32_t i : test_unseen)
          score(i, unseen[round], parts[0].unseen[round], parts[1].unseen[round]);
        for (uint32_t i : test_seen) score(i, seen, parts[0].seen, parts[1].seen);
      } else {
        const CompiledModel cm(*m);
        for (uint32_t i : test_normal) normal_scores.push_back(cm.score(data.rows[i]));
        for (uint32_t i : test_unseen) unseen[round].push_back(cm.score(data.rows[i]));
        for (uint32_t i : test_seen) seen.push_back(cm.score(data.rows[i]));
      }
      if (options.progress) {
        char line[256];
        std::snprintf(line, sizeof line, "select: %s: round %zu/%zu (held out %s) done, %.1f s",
                      cand.name.c_str(), round + 1, k, group_names(sel.groups[round]).c_str(),
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        options.progress(line);
      }
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r.error.empty()) {
      auto measure = [&](double t, double& fpr, double& unseen_mean, double& seen_rate,
                         std::vector<double>* per_group, double* pooled) {
        fpr = rate(normal_scores, t);
        unseen_figures(unseen, [&](size_t g) { return rate(unseen[g], t); }, unseen_mean, pooled,
                       per_group);
        seen_rate = rate(seen, t);
      };
      r.threshold = threshold_at_budget(normal_scores, options.fpr_budget);
      measure(r.threshold, r.false_positive_rate, r.unseen_recall, r.seen_recall, &r.group_recall,
              &r.unseen_recall_rows);
      measure(0.5, r.default_false_positive_rate, r.default_unseen_recall, r.default_seen_recall,
              nullptr, nullptr);
      if (two_parts && parts.size() == 2) split_budget(parts[0], parts[1], options.fpr_budget, r);
    }
    if (options.progress) {
      char line[320];
      if (r.error.empty() && !r.part_thresholds.empty())
        std::snprintf(line, sizeof line,
                      "select: %s: unseen recall %.4f (rows %.4f), seen %.4f, FPR %.4f with the "
                      "budget split %.1f/%.1f (part thresholds %.4g, %.4g; one shared threshold: "
                      "unseen recall %.4f); %.1f s",
                      r.name.c_str(), r.unseen_recall, r.unseen_recall_rows, r.seen_recall,
                      r.false_positive_rate, r.first_part_share, 1 - r.first_part_share,
                      r.part_thresholds[0], r.part_thresholds[1], r.shared_unseen_recall, r.seconds);
      else if (r.error.empty())
        std::snprintf(line, sizeof line,
                      "select: %s: unseen recall %.4f (rows %.4f), seen %.4f, FPR %.4f at "
                      "threshold %.4g; %.1f s",
                      r.name.c_str(), r.unseen_recall, r.unseen_recall_rows, r.seen_recall,
                      r.false_positive_rate, r.threshold, r.seconds);
      else
        std::snprintf(line, sizeof line, "select: %s: %s", r.name.c_str(), r.error.c_str());
      options.progress(line);
    }
    sel.results.push_back(std::move(r));
  }

  bool any = false;
  for (size_t i = 0; i < sel.results.size(); ++i) {
    const auto& r = sel.results[i];
    if (!r.error.empty()) continue;
    const auto& best = sel.results[sel.chosen];
    if (!any || r.unseen_recall > best.unseen_recall ||
        (r.unseen_recall == best.unseen_recall && r.seen_recall > best.seen_recall))
      sel.chosen = i;
    any = true;
  }
  if (!any) {
    if (why) *why = "no candidate could be trained: " + sel.results.front().error;
    return std::nullopt;
  }
  return sel;
}

}  // namespace netpulse::detect
