#include "detect/compiled_model.hpp"

#include <cmath>

namespace netpulse::detect {

CompiledModel::CompiledModel(const Model& model)
    : detector_(model.detector),
      algo_(model.algo),
      base_score_(model.base_score),
      alert_threshold_(model.threshold) {
  parts_.reserve(model.parts.size());
  for (const Model& part : model.parts) parts_.emplace_back(part);
  for (const Tree& tree : model.trees) {
    const uint32_t base = static_cast<uint32_t>(feature_.size());
    roots_.push_back(base);
    for (const TreeNode& n : tree.nodes) {
      if (n.is_leaf()) {
        feature_.push_back(kLeaf);
        threshold_.push_back(0);
        right_.push_back(static_cast<uint32_t>(leaf_values_.size()));
        right_bits_.push_back(0);
        leaf_values_.push_back(n.value);
        continue;
      }
      const bool categorical =
          feature_info(static_cast<size_t>(n.feature)).type == FeatureType::kCategorical;
      feature_.push_back(static_cast<uint16_t>(n.feature | (categorical ? kCategorical : 0)));
      threshold_.push_back(n.threshold);
      right_.push_back(base + static_cast<uint32_t>(n.right));
      right_bits_.push_back(static_cast<uint32_t>(bits_.size()));
      if (categorical)
        bits_.insert(bits_.end(), std::begin(n.left_categories.words),
                     std::end(n.left_categories.words));
    }
  }
  if (roots_.empty()) {  // an empty model scores 0
    roots_.push_back(0);
    feature_.push_back(kLeaf);
    threshold_.push_back(0);
    right_.push_back(0);
    right_bits_.push_back(0);
    leaf_values_.push_back(0);
  }
}

double CompiledModel::sigmoid(double s) {
  return 1.0 / (1.0 + std::exp(-s));
}

double CompiledModel::isolation_score(double mean_leaf_value) const {
  return std::exp2(-mean_leaf_value / base_score_);
}

double CompiledModel::any_score(const float* x, size_t* decider) const {
  // As Model::score: the first part with the greatest mapped score decides.
  double best = 0;
  size_t at = 0;
  for (size_t p = 0; p < parts_.size(); ++p) {
    const double m = any_part_score(parts_[p].score(x), parts_[p].alert_threshold_);
    if (p == 0 || m > best) {
      best = m;
      at = p;
    }
  }
  if (decider) *decider = at;
  return best;
}

size_t CompiledModel::explain(const float* x, bool alert, uint8_t* out, size_t max) const {
  if (algo_ == Algo::kAny) {
    if (parts_.empty()) return 0;
    size_t p = 0;
    any_score(x, &p);
    const CompiledModel& part = parts_[p];
    return part.explain(x, part.score(x) >= part.alert_threshold_, out, max);
  }
  // The deciding tree: for an alert the one with the highest leaf value, else the lowest. An
  // isolation tree's leaf value is a path length, which is short for an anomaly: reversed.
  if (algo_ == Algo::kIsolation) alert = !alert;
  uint32_t root = roots_[0];
  double best = 0;
  for (size_t t = 0; t < roots_.size(); ++t) {
    const double v = leaf_value(roots_[t], x);
    if (t == 0 || (alert ? v > best : v < best)) {
      best = v;
      root = roots_[t];
    }
  }
  size_t n = 0;
  for (uint32_t i = root; feature_[i] != kLeaf && n < max;) {
    const uint16_t f = feature_[i];
    const uint8_t feature = static_cast<uint8_t>(f & ~kCategorical);
    bool seen = false;
    for (size_t k = 0; k < n; ++k) seen |= out[k] == feature;
    if (!seen) out[n++] = feature;
    bool left;
    if (f & kCategorical) {
      const uint32_t c = static_cast<uint32_t>(x[feature]) & 127u;
      left = (bits_[right_bits_[i] + (c >> 6)] >> (c & 63)) & 1;
    } else {
      left = x[feature] <= threshold_[i];
    }
    i = left ? i + 1 : right_[i];
  }
  return n;
}

}  // namespace netpulse::detect
