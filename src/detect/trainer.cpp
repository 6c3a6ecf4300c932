#include "detect/trainer.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <thread>

#include "detect/cart.hpp"
#include "detect/random.hpp"

namespace netpulse::detect {

using nlohmann::json;

namespace {

template <typename T>
void shuffle(std::vector<T>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[rng.below(i)]);
}

// The training rows for one fit: features, 0/1 targets.
struct TrainSet {
  std::vector<FeatureRow> rows;
  std::vector<uint8_t> y;
};

TrainSet make_train_set(const Dataset& data, Detector d, const std::vector<uint32_t>& idx) {
  TrainSet s;
  s.rows.reserve(idx.size());
  s.y.reserve(idx.size());
  for (uint32_t i : idx) {
    s.rows.push_back(data.rows[i]);
    s.y.push_back(detector_positive(d, data.labels[i]) ? 1 : 0);
  }
  return s;
}

RowTargets gini_targets(const std::vector<uint8_t>& y) {
  RowTargets t;
  t.a.resize(y.size());
  t.b.resize(y.size());
  for (size_t i = 0; i < y.size(); ++i) {
    t.a[i] = y[i];
    t.b[i] = 1 - y[i];
  }
  return t;
}

std::vector<uint32_t> all_rows(size_t n) {
  std::vector<uint32_t> v(n);
  std::iota(v.begin(), v.end(), 0u);
  return v;
}

// Stratified folds: fold[i] for each row.
std::vector<int> stratified_folds(const std::vector<uint8_t>& y, int k, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint32_t> pos, neg;
  for (uint32_t i = 0; i < y.size(); ++i) (y[i] ? pos : neg).push_back(i);
  shuffle(pos, rng);
  shuffle(neg, rng);
  std::vector<int> fold(y.size());
  int next = 0;
  for (uint32_t i : pos) fold[i] = next++ % k;
  for (uint32_t i : neg) fold[i] = next++ % k;
  return fold;
}

Tree grow_gini(const TrainSet& s, const GrowOptions& g) {
  const BinnedData bins = bin_rows(s.rows);
  const RowTargets targets = gini_targets(s.y);
  TreeGrower grower(bins, targets, g);
  return grower.grow(all_rows(s.rows.size()));
}

struct PruneChoice {
  double alpha = 0;
  size_t leaves_before = 0, leaves_after = 0;
  double cv_error = 0;
};

// Chooses the cost-complexity parameter by K-fold cross-validation on the training rows
// (Breiman et al.: evaluate the geometric midpoints of the full tree's alpha sequence).
PruneChoice choose_alpha(const TrainSet& s, const Tree& full, const GrowOptions& g, int folds,
                         uint64_t seed) {
  const std::vector<double> ca_full = collapse_alphas(full);
  std::vector<double> alphas{0.0};
  for (double a : ca_full)
    if (std::isfinite(a)) alphas.push_back(a);
  std::sort(alphas.begin(), alphas.end());
  alphas.erase(std::unique(alphas.begin(), alphas.end()), alphas.end());
  std::vector<double> beta(alphas.size());
  for (size_t k = 0; k < alphas.size(); ++k)
    beta[k] = k + 1 < alphas.size() ? std::sqrt(alphas[k] * alphas[k + 1]) : alphas[k];

  std::vector<double> errors(beta.size(), 0.0);
  const std::vector<int> fold = stratified_folds(s.y, folds, seed ^ 0xC0FFEEULL);
  std::vector<size_t> path;
  for (int f = 0; f < folds; ++f) {
    TrainSet part;
    std::vector<uint32_t> held;
    for (uint32_t i = 0; i < s.rows.size(); ++i) {
      if (fold[i] == f) {
        held.push_back(i);
      } else {
        part.rows.push_back(s.rows[i]);
        part.y.push_back(s.y[i]);
      }
    }
    const Tree t = grow_gini(part, g);
    const std::vector<double> ca = collapse_alphas(t);
    for (uint32_t i : held) {
      path.clear();
      size_t n = 0;
      while (true) {
        path.push_back(n);
        if (t.nodes[n].is_leaf()) break;
        n = t.nodes[n].goes_left(s.rows[i]) ? n + 1 : static_cast<size_t>(t.nodes[n].right);
      }
      // Along a path collapse alphas do not increase; for growing beta the deciding node (the
      // shallowest one already collapsed, else the leaf) moves up.
      size_t j = path.size() - 1;
      for (size_t k = 0; k < beta.size(); ++k) {
        while (j > 0 && ca[path[j - 1]] <= beta[k]) --j;
        const bool predicted = t.nodes[path[j]].value >= 0.5;
        errors[k] += predicted != (s.y[i] != 0);
      }
    }
  }
  size_t best = 0;
  for (size_t k = 1; k < errors.size(); ++k)
    if (errors[k] <= errors[best]) best = k;  // ties: the simpler tree
  PruneChoice c;
  c.alpha = beta[best];
  c.leaves_before = full.leaf_count();
  c.cv_error = errors[best] / static_cast<double>(std::max<size_t>(1, s.rows.size()));
  return c;
}

}  // namespace

TrainOptions TrainOptions::resolved() const {
  TrainOptions o = *this;
  if (o.max_depth <= 0) o.max_depth = o.algo == Algo::kBoost ? 6 : 30;
  if (o.min_samples_leaf <= 0) o.min_samples_leaf = o.algo == Algo::kBoost ? 5 : 1;
  if (o.trees <= 0) o.trees = o.algo == Algo::kTree ? 1 : 100;
  if (o.algo == Algo::kTree) o.trees = 1;
  if (o.features_per_split <= 0 && o.algo == Algo::kForest)
    o.features_per_split =
        static_cast<int>(std::lround(std::sqrt(static_cast<double>(std::popcount(o.features)))));
  if (o.algo != Algo::kForest) o.features_per_split = 0;
  if (o.algo != Algo::kTree) o.prune_folds = 0;
  return o;
}

json TrainOptions::to_json() const {
  json j{{"algo", algo_name(algo)},
         {"max_depth", max_depth},
         {"min_samples_leaf", min_samples_leaf},
         {"ratio", ratio},
         {"seed", seed}};
  if (algo == Algo::kTree) j["prune_folds"] = prune_folds;
  if (algo != Algo::kTree) j["trees"] = trees;
  if (algo == Algo::kForest) j["features_per_split"] = features_per_split;
  if (algo == Algo::kBoost) j["learning_rate"] = learning_rate;
  // Only when restricted, so models trained on all features keep their bytes.
  if ((features & kAllFeatures) != kAllFeatures) j["features"] = feature_names(features);
  return j;
}

std::vector<uint32_t> ratio_sample(const Dataset& data, Detector detector, double ratio,
                                   uint64_t seed) {
  std::vector<uint32_t> pos, neg;
  for (uint32_t i = 0; i < data.size(); ++i) {
    if (!detector_uses(detector, data.labels[i])) continue;
    (detector_positive(detector, data.labels[i]) ? pos : neg).push_back(i);
  }
  if (ratio > 0) {
    const size_t keep = static_cast<size_t>(std::llround(ratio * static_cast<double>(pos.size())));
    if (keep < neg.size()) {
      Rng rng(seed ^ 0x5EED5EEDULL);
      // Partial Fisher-Yates: the first `keep` are a uniform sample.
      for (size_t i = 0; i < keep; ++i) std::swap(neg[i], neg[i + rng.below(neg.size() - i)]);
      neg.resize(keep);
    }
  }
  std::vector<uint32_t> out;
  out.reserve(pos.size() + neg.size());
  out.insert(out.end(), pos.begin(), pos.end());
  out.insert(out.end(), neg.begin(), neg.end());
  std::sort(out.begin(), out.end());
  return out;
}

Model train(const Dataset& data, Detector detector, const TrainOptions& options) {
  const TrainOptions o = options.resolved();
  const std::vector<uint32_t> idx = ratio_sample(data, detector, o.ratio, o.seed);
  const TrainSet s = make_train_set(data, detector, idx);
  const size_t positives = static_cast<size_t>(std::count(s.y.begin(), s.y.end(), 1));

  Model m;
  m.detector = detector;
  m.algo = o.algo;
  json info{{"options", o.to_json()},
            {"data_sha256", data.sha256},
            {"rows", s.rows.size()},
            {"positives", positives},
            {"negatives", s.rows.size() - positives}};

  GrowOptions g;
  g.max_depth = o.max_depth;
  g.min_samples_leaf = o.min_samples_leaf;
  g.min_samples_split = 2 * o.min_samples_leaf;
  g.seed = o.seed;
  g.features = o.features;

  switch (o.algo) {
    case Algo::kTree: {
      Tree full = grow_gini(s, g);
      if (o.prune_folds >= 2 && positives > 0 && positives < s.rows.size()) {
        const PruneChoice c = choose_alpha(s, full, g, o.prune_folds, o.seed);
        Tree pruned = prune(full, collapse_alphas(full), c.alpha);
        info["pruning"] = {{"alpha", c.alpha},
                           {"cv_error", c.cv_error},
                           {"leaves_before", c.leaves_before},
                           {"leaves_after", pruned.leaf_count()}};
        m.trees.push_back(std::move(pruned));
      } else {
        m.trees.push_back(std::move(full));
      }
      break;
    }
    case Algo::kForest: {
      const BinnedData bins = bin_rows(s.rows);
      const RowTargets targets = gini_targets(s.y);
      m.trees.resize(static_cast<size_t>(o.trees));
      g.features_per_split = o.features_per_split;
      parallel_for(m.trees.size(), o.threads, [&](size_t t) {
        GrowOptions gt = g;
        gt.seed = o.seed * 1000003ULL + t;
        Rng rng(gt.seed);
        std::vector<uint32_t> sample(s.rows.size());
        for (auto& r : sample) r = static_cast<uint32_t>(rng.below(s.rows.size()));
        TreeGrower grower(bins, targets, gt);
        m.trees[t] = grower.grow(std::move(sample));
      });
      break;
    }
    case Algo::kBoost: {
      const BinnedData bins = bin_rows(s.rows);
      const double p0 = std::clamp(
          static_cast<double>(positives) / static_cast<double>(std::max<size_t>(1, s.rows.size())),
          1e-6, 1 - 1e-6);
      m.base_score = std::log(p0 / (1 - p0));
      std::vector<double> f(s.rows.size(), m.base_score);
      RowTargets targets;
      targets.a.resize(s.rows.size());
      targets.b.resize(s.rows.size());
      g.criterion = Criterion::kGradient;
      for (int t = 0; t < o.trees; ++t) {
        for (size_t i = 0; i < s.rows.size(); ++i) {
          const double p = 1.0 / (1.0 + std::exp(-f[i]));
          targets.a[i] = p - s.y[i];
          targets.b[i] = std::max(p * (1 - p), 1e-12);
        }
        GrowOptions gt = g;
        gt.seed = o.seed * 1000003ULL + static_cast<uint64_t>(t);
        TreeGrower grower(bins, targets, gt);
        Tree tree = grower.grow(all_rows(s.rows.size()));
        for (TreeNode& n : tree.nodes) n.value *= o.learning_rate;
        for (size_t i = 0; i < s.rows.size(); ++i) f[i] += tree.predict(s.rows[i]);
        m.trees.push_back(std::move(tree));
      }
      break;
    }
    case Algo::kIsolation:
    case Algo::kAny:
      // Not fitted to labels: train_isolation_forest (isolation_forest.hpp) and combine_any
      // (model.hpp) make them.
      throw std::invalid_argument(std::string("train(): algo ") + std::string(algo_name(o.algo)) +
                                  " is made by train_isolation_forest or combine_any");
  }
  size_t nodes = 0, depth = 0;
  for (const Tree& t : m.trees) {
    nodes += t.nodes.size();
    depth = std::max(depth, t.depth());
  }
  info["trees"] = m.trees.size();
  info["nodes"] = nodes;
  info["max_depth_reached"] = depth;
  m.training = std::move(info);
  m.training["training_set_metrics"] = metrics_json(evaluate(m, data));
  return m;
}

Confusion evaluate(const Model& model, const Dataset& data) {
  Confusion c;
  for (size_t i = 0; i < data.size(); ++i) {
    if (!detector_uses(model.detector, data.labels[i])) continue;
    c.add(model.positive(data.rows[i]), detector_positive(model.detector, data.labels[i]));
  }
  return c;
}

json CrossValidation::to_json() const {
  auto ms = [](const MeanSd& m) { return json{{"mean", m.mean}, {"sd", m.sd}}; };
  return json{{"folds", folds.size()},
              {"accuracy", ms(accuracy)},
              {"precision", ms(precision)},
              {"recall", ms(recall)},
              {"f1", ms(f1)},
              {"false_positive_rate", ms(false_positive_rate)}};
}

CrossValidation cross_validate(const Dataset& data, Detector detector, const TrainOptions& options,
                               int k) {
  const Dataset d = data.select(detector);
  std::vector<uint8_t> y(d.size());
  for (size_t i = 0; i < d.size(); ++i) y[i] = detector_positive(detector, d.labels[i]);
  const std::vector<int> fold = stratified_folds(y, k, options.seed ^ 0xF01D5ULL);
  CrossValidation cv;
  cv.folds.resize(static_cast<size_t>(k));
  TrainOptions inner = options;
  inner.threads = 1;
  parallel_for(static_cast<size_t>(k), options.threads, [&](size_t f) {
    Dataset train_part, test_part;
    for (size_t i = 0; i < d.size(); ++i) {
      Dataset& to = fold[i] == static_cast<int>(f) ? test_part : train_part;
      to.rows.push_back(d.rows[i]);
      to.labels.push_back(d.labels[i]);
    }
    TrainOptions o = inner;
    o.seed = options.seed + f + 1;
    const Model m = train(train_part, detector, o);
    cv.folds[f] = evaluate(m, test_part);
  });
  std::vector<double> acc, prec, rec, f1, fpr;
  for (const Confusion& c : cv.folds) {
    acc.push_back(c.accuracy());
    prec.push_back(c.precision());
    rec.push_back(c.recall());
    f1.push_back(c.f1());
    fpr.push_back(c.false_positive_rate());
  }
  cv.accuracy = mean_sd(acc);
  cv.precision = mean_sd(prec);
  cv.recall = mean_sd(rec);
  cv.f1 = mean_sd(f1);
  cv.false_positive_rate = mean_sd(fpr);
  return cv;
}

}  // namespace netpulse::detect
