#include "detect/isolation_forest.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <functional>
#include <cstdint>
#include <limits>
#include <utility>
#include <stdexcept>
#include <thread>

#include "detect/metrics.hpp"
#include "detect/random.hpp"

namespace netpulse::detect {

using nlohmann::json;

namespace {

// Grows one isolation tree on a subsample (indexes into rows), splitting until a row is alone,
// all rows are equal on the allowed features, or the depth limit.
class IsolationTreeGrower {
 public:
  IsolationTreeGrower(const std::vector<FeatureRow>& rows, const IsolationOptions& o,
                      int depth_limit, uint64_t seed)
      : rows_(rows),
        scale_(o.scale),
        guard_beyond_range_(o.guard_beyond_range),
        depth_limit_(depth_limit),
        rng_(seed) {
    const FeatureMask features = o.features;
    for (size_t f = 0; f < kFeatureCount; ++f)
      if ((features >> f) & 1) allowed_.push_back(static_cast<uint32_t>(f));
  }

  struct Candidate {
    uint32_t feature = 0;
    float lo = 0, hi = 0;  // the feature's range in the node
  };

  Tree grow(std::vector<uint32_t> sample) {
    tree_ = Tree{};
    grow_node(sample.data(), sample.data() + sample.size(), 0);
    return std::move(tree_);
  }

 private:
  void grow_node(uint32_t* begin, uint32_t* end, int depth) {
    const size_t n = static_cast<size_t>(end - begin);
    TreeNode node;
    node.weight = static_cast<double>(n);
    node.value = depth + average_path_length(n);
    Candidate c;
    if (depth >= depth_limit_ || n <= 1 || !pick_split(begin, end, node, c)) {
      tree_.nodes.push_back(node);
      return;
    }
    const size_t f = c.feature;
    const bool categorical = feature_info(f).type == FeatureType::kCategorical;
    // Guards: a row further beyond the node's range than the range is wide is isolated by this
    // split (a leaf one deeper), where the plain forest would send it on with the node's
    // extreme rows. They are free: the rows within range keep their depth.
    TreeNode guard = node;
    guard.right = -1;
    size_t upper_guard = SIZE_MAX;
    if (!categorical && guard_beyond_range_) {
      const auto [lower, upper] = guard_bounds(c.lo, c.hi);
      if (upper > c.hi) {
        guard.threshold = upper;
        upper_guard = tree_.nodes.size();
        tree_.nodes.push_back(guard);  // x <= upper: on to the split; else the leaf after it
      }
      if (lower < c.lo) {
        guard.threshold = lower;
        guard.right = static_cast<int32_t>(tree_.nodes.size() + 2);
        tree_.nodes.push_back(guard);  // x <= lower: the leaf next; else on to the split
        tree_.nodes.push_back(isolated_leaf(depth));
      }
    }
    uint32_t* mid =
        categorical
            ? std::partition(begin, end,
                             [&](uint32_t r) {
                               return node.left_categories.has(
                                   static_cast<unsigned>(rows_[r][f]));
                             })
            : std::partition(begin, end, [&](uint32_t r) { return rows_[r][f] <= node.threshold; });
    const size_t at = tree_.nodes.size();
    tree_.nodes.push_back(node);
    grow_node(begin, mid, depth + 1);
    tree_.nodes[at].right = static_cast<int32_t>(tree_.nodes.size());
    grow_node(mid, end, depth + 1);
    if (upper_guard != SIZE_MAX) {
      tree_.nodes[upper_guard].right = static_cast<int32_t>(tree_.nodes.size());
      tree_.nodes.push_back(isolated_leaf(depth));
    }
  }

  // A row split off alone at this depth: the path ends one deeper, nothing below (c(1) = 0).
  static TreeNode isolated_leaf(int depth) {
    TreeNode leaf;
    leaf.value = depth + 1;
    return leaf;
  }

  // The guards of a numeric split on [lo, hi], one range width beyond either end, measured as
  // the thresholds are (log1p or linear). A bound that would not exclude anything is returned
  // as lo or hi itself.
  std::pair<float, float> guard_bounds(float lo, float hi) const {
    double lower, upper;
    if (scale_ == ThresholdScale::kLog1p && lo >= 0) {
      const double a = std::log1p(static_cast<double>(lo)), b = std::log1p(static_cast<double>(hi));
      lower = std::expm1(a - (b - a));
      upper = std::expm1(b + (b - a));
    } else {
      lower = lo - (static_cast<double>(hi) - lo);
      upper = hi + (static_cast<double>(hi) - lo);
    }
    // Rows of this node must not reach a guard's leaf: round toward the range.
    float l = static_cast<float>(lower), u = static_cast<float>(upper);
    if (!(l < lo) || lower < 0) l = lo;  // NSL-KDD's numbers are not negative
    if (!(u > hi)) u = hi;
    return {l, u};
  }

  // A random split on a random allowed feature that is not constant in the node; false when
  // every allowed feature is.
  bool pick_split(const uint32_t* begin, const uint32_t* end, TreeNode& node, Candidate& c) {
    candidates_.clear();
    for (uint32_t f : allowed_) {
      float lo = rows_[*begin][f], hi = lo;
      for (const uint32_t* r = begin + 1; r != end; ++r) {
        const float v = rows_[*r][f];
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      if (lo < hi) candidates_.push_back({f, lo, hi});
    }
    if (candidates_.empty()) return false;
    c = candidates_[rng_.below(candidates_.size())];
    node.feature = static_cast<int32_t>(c.feature);
    if (feature_info(c.feature).type == FeatureType::kCategorical) {
      // A random non-trivial subset of the categories present goes left. A category absent
      // from the node goes to the side with fewer rows, where it is isolated sooner: unseen
      // is unusual (isotree's "smallest"; on KDDTrain+ it lifts the mean per-family AUC a little).
      bool present[kMaxCategories] = {};
      for (const uint32_t* r = begin; r != end; ++r)
        present[static_cast<unsigned>(rows_[*r][c.feature]) & (kMaxCategories - 1)] = true;
      categories_.clear();
      for (unsigned k = 0; k < kMaxCategories; ++k)
        if (present[k]) categories_.push_back(k);
      const size_t left = 1 + rng_.below(categories_.size() - 1);
      for (size_t i = 0; i < left; ++i) {
        std::swap(categories_[i], categories_[i + rng_.below(categories_.size() - i)]);
        node.left_categories.add(categories_[i]);
      }
      size_t rows_left = 0;
      for (const uint32_t* r = begin; r != end; ++r)
        rows_left += node.left_categories.has(static_cast<unsigned>(rows_[*r][c.feature]));
      if (2 * rows_left < static_cast<size_t>(end - begin)) {
        const size_t vocabulary = feature_info(c.feature).vocabulary.size();
        for (unsigned k = 0; k < vocabulary; ++k)
          if (!present[k]) node.left_categories.add(k);
      }
      return true;
    }
    const double u = rng_.unit();
    double t;
    if (scale_ == ThresholdScale::kLog1p && c.lo >= 0) {
      const double a = std::log1p(static_cast<double>(c.lo));
      const double b = std::log1p(static_cast<double>(c.hi));
      t = std::expm1(a + u * (b - a));
    } else {
      t = c.lo + u * (static_cast<double>(c.hi) - c.lo);
    }
    // As a float in [lo, hi): the node's least row goes left, its greatest right.
    float threshold = static_cast<float>(t);
    if (!(threshold < c.hi)) threshold = std::nextafter(c.hi, -std::numeric_limits<float>::infinity());
    if (threshold < c.lo) threshold = c.lo;
    node.threshold = threshold;
    return true;
  }

  const std::vector<FeatureRow>& rows_;
  const ThresholdScale scale_;
  const bool guard_beyond_range_;
  const int depth_limit_;
  Rng rng_;
  std::vector<uint32_t> allowed_;
  std::vector<Candidate> candidates_;
  std::vector<unsigned> categories_;
  Tree tree_;
};

// The scores of the given rows, in their order.
std::vector<double> score_rows(const Model& m, const Dataset& data,
                               const std::vector<uint32_t>& rows, int threads) {
  std::vector<double> out(rows.size());
  constexpr size_t kChunk = 4096;
  parallel_for((rows.size() + kChunk - 1) / kChunk, threads, [&](size_t c) {
    const size_t end = std::min(rows.size(), (c + 1) * kChunk);
    for (size_t i = c * kChunk; i < end; ++i) out[i] = m.score(data.rows[rows[i]]);
  });
  return out;
}

// The threshold that lets at most floor(budget * n) of the scores reach it: halfway between the
// (1 - budget) quantile and the next greater score.
json choose_threshold(std::vector<double> scores, double budget, double& threshold) {
  std::sort(scores.begin(), scores.end(), std::greater<>());
  const size_t n = scores.size();
  const size_t allowed =
      std::min(n - 1, static_cast<size_t>(std::floor(budget * static_cast<double>(n))));
  const double at_quantile = scores[allowed];
  size_t above = allowed;  // the scores greater than at_quantile are scores[0, above)
  while (above > 0 && scores[above - 1] == at_quantile) --above;
  if (above == 0) {
    threshold = std::nextafter(at_quantile, std::numeric_limits<double>::infinity());
  } else {
    const double next = scores[above - 1];
    threshold = at_quantile + (next - at_quantile) / 2;
    if (!(threshold > at_quantile)) threshold = next;
  }
  return json{{"quantile", 1 - budget},
              {"score_at_quantile", at_quantile},
              {"alerting_rows", above},
              {"false_positive_rate", Confusion::ratio(above, n)}};
}

}  // namespace

double average_path_length(size_t n) {
  if (n <= 1) return 0;
  const double m = static_cast<double>(n - 1);
  double h;  // H(n - 1)
  if (n - 1 <= 4096) {
    h = 0;
    for (size_t i = n - 1; i >= 1; --i) h += 1.0 / static_cast<double>(i);  // small terms first
  } else {
    h = std::log(m) + 0.5772156649015329 + 1 / (2 * m) - 1 / (12 * m * m);
  }
  return 2 * h - 2 * m / static_cast<double>(n);
}

json IsolationOptions::to_json() const {
  json j{{"algo", "isolation"},
         {"trees", trees},
         {"sample_size", sample_size},
         {"fpr_budget", fpr_budget},
         {"thresholds", scale == ThresholdScale::kLog1p ? "log1p" : "linear"},
         {"guard_beyond_range", guard_beyond_range},
         {"seed", seed}};
  if ((features & kAllFeatures) != kAllFeatures) j["features"] = feature_names(features);
  return j;
}

Model train_isolation_forest(const Dataset& data, Detector detector, const IsolationOptions& o) {
  if (o.trees < 1 || o.sample_size < 2 || !(o.fpr_budget >= 0 && o.fpr_budget < 1))
    throw std::invalid_argument(
        "isolation forest: needs trees >= 1, sample size >= 2 and a budget in [0, 1)");
  std::vector<uint32_t> normal;
  for (uint32_t i = 0; i < data.size(); ++i)
    if (data.labels[i] == kNormalLabel) normal.push_back(i);
  if (normal.empty()) throw std::invalid_argument("isolation forest: no normal rows to train on");

  const size_t psi = std::min(static_cast<size_t>(o.sample_size), normal.size());
  const int depth_limit = static_cast<int>(std::bit_width(psi - 1));  // ceil(log2 psi)
  Model m;
  m.detector = detector;
  m.algo = Algo::kIsolation;
  m.base_score = psi >= 2 ? average_path_length(psi) : 1.0;  // c(1) = 0: never divide by it
  m.trees.resize(static_cast<size_t>(o.trees));

  std::vector<std::vector<uint32_t>> samples(m.trees.size());
  parallel_for(m.trees.size(), o.threads, [&](size_t t) {
    const uint64_t seed = o.seed * 1000003ULL + t;
    Rng rng(seed ^ 0x15014710ULL);
    // Partial Fisher-Yates: the first psi of the shuffled normal rows, without replacement.
    std::vector<uint32_t> pool = normal;
    for (size_t i = 0; i < psi; ++i) std::swap(pool[i], pool[i + rng.below(pool.size() - i)]);
    pool.resize(psi);
    samples[t] = pool;
    IsolationTreeGrower grower(data.rows, o, depth_limit, seed);
    m.trees[t] = grower.grow(std::move(pool));
  });

  // Calibrate on the normal rows no tree has seen, as long as there are enough of them for the
  // quantile to mean something; otherwise on every normal row (in-sample rows score lower, so
  // the threshold is then a little optimistic).
  std::vector<uint8_t> in_sample(data.size(), 0);
  for (const auto& s : samples)
    for (uint32_t r : s) in_sample[r] = 1;
  std::vector<uint32_t> held_out;
  for (uint32_t r : normal)
    if (!in_sample[r]) held_out.push_back(r);
  const double min_held_out = o.fpr_budget > 0 ? std::ceil(20 / o.fpr_budget) : 0;
  const bool out_of_sample = o.fpr_budget > 0 && static_cast<double>(held_out.size()) >= min_held_out;
  const std::vector<uint32_t>& calibration = out_of_sample ? held_out : normal;
  json threshold_info = choose_threshold(score_rows(m, data, calibration, o.threads), o.fpr_budget,
                                         m.threshold);
  threshold_info["fpr_budget"] = o.fpr_budget;
  threshold_info["rows"] = out_of_sample ? "normal rows in no tree's sample" : "all normal rows";
  threshold_info["row_count"] = calibration.size();
  threshold_info["threshold"] = m.threshold;

  std::vector<uint32_t> used;
  size_t positives = 0;
  for (uint32_t i = 0; i < data.size(); ++i) {
    if (!detector_uses(detector, data.labels[i])) continue;
    used.push_back(i);
    positives += detector_positive(detector, data.labels[i]);
  }
  const std::vector<double> scores = score_rows(m, data, used, o.threads);
  Confusion c;
  for (size_t k = 0; k < used.size(); ++k)
    c.add(scores[k] >= m.threshold, detector_positive(detector, data.labels[used[k]]));

  size_t nodes = 0, depth = 0;
  for (const Tree& t : m.trees) {
    nodes += t.nodes.size();
    depth = std::max(depth, t.depth());
  }
  m.training = json{{"options", o.to_json()},
                    {"data_sha256", data.sha256},
                    {"rows", normal.size()},
                    {"rows_in_samples", normal.size() - held_out.size()},
                    {"sample_size", psi},
                    {"depth_limit", depth_limit},
                    {"average_path_length", m.base_score},
                    {"positives", positives},
                    {"negatives", used.size() - positives},
                    {"trees", m.trees.size()},
                    {"nodes", nodes},
                    {"max_depth_reached", depth},
                    {"threshold", std::move(threshold_info)},
                    {"training_set_metrics", metrics_json(c)}};
  return m;
}

}  // namespace netpulse::detect
