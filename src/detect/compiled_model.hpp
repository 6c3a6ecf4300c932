// A Model compiled for inference: every tree's nodes in one struct-of-arrays (feature, threshold,
// right child; the left child is the next node), categorical splits as bitsets over the
// vocabulary, leaf values in their own array. Scoring a row walks the arrays: no allocation, no
// virtual call, and the same arithmetic as Model::score, so both give identical scores. A
// combined ("any") model keeps its parts compiled on their own, apart from the trees' arrays,
// so scoring a tree, forest or boost model pays nothing for them.
// Immutable after construction; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "detect/model.hpp"

namespace netpulse::detect {

class CompiledModel {
 public:
  explicit CompiledModel(const Model& model);

  Detector detector() const { return detector_; }
  double threshold() const { return alert_threshold_; }

  double score(const float* x) const {
    switch (algo_) {
      case Algo::kTree:
        return leaf_value(roots_[0], x);
      case Algo::kForest: {
        double s = 0;
        for (uint32_t root : roots_) s += leaf_value(root, x);
        return s / static_cast<double>(roots_.size());
      }
      case Algo::kBoost: {
        double s = base_score_;
        for (uint32_t root : roots_) s += leaf_value(root, x);
        return sigmoid(s);
      }
      case Algo::kIsolation: {
        double s = 0;
        for (uint32_t root : roots_) s += leaf_value(root, x);
        return isolation_score(s / static_cast<double>(roots_.size()));
      }
      case Algo::kAny:
        return any_score(x, nullptr);
    }
    return 0;
  }
  double score(const FeatureRow& x) const { return score(x.data()); }

  // The distinct features on the deciding path, root first, at most max of them (feature
  // indexes written to out; returns how many). For an ensemble the deciding path is that of
  // the tree that votes most strongly for the outcome (for an isolation forest, the tree that
  // isolates the row soonest for an alert, latest otherwise); for a combined model it is the
  // path of the part with the greatest mapped score. `alert`: the row's score reached the
  // threshold (the caller has computed it already).
  size_t explain(const float* x, bool alert, uint8_t* out, size_t max) const;

 private:
  static constexpr uint16_t kLeaf = 0xFFFF;
  static constexpr uint16_t kCategorical = 0x8000;

  static double sigmoid(double s);
  double isolation_score(double mean_leaf_value) const;
  // The greatest any_part_score of the parts; the index of that part in *decider if not null.
  double any_score(const float* x, size_t* decider) const;

  uint32_t leaf_index(uint32_t i, const float* x) const {
    for (;;) {
      const uint16_t f = feature_[i];
      if (f == kLeaf) return i;
      const float v = x[f & ~kCategorical];
      bool left;
      if (f & kCategorical) {
        const uint32_t c = static_cast<uint32_t>(v) & 127u;
        left = (bits_[right_bits_[i] + (c >> 6)] >> (c & 63)) & 1;
      } else {
        left = v <= threshold_[i];
      }
      i = left ? i + 1 : right_[i];
    }
  }
  double leaf_value(uint32_t root, const float* x) const {
    return leaf_values_[right_[leaf_index(root, x)]];
  }

  Detector detector_;
  Algo algo_;
  double base_score_;
  double alert_threshold_;
  std::vector<uint32_t> roots_;
  // One entry per node, all trees back to back.
  std::vector<uint16_t> feature_;     // kLeaf, or the feature index (| kCategorical)
  std::vector<float> threshold_;      // numeric splits
  std::vector<uint32_t> right_;       // splits: the right child; leaves: index in leaf_values_
  std::vector<uint32_t> right_bits_;  // categorical splits: offset of their bitset in bits_
  std::vector<double> leaf_values_;
  std::vector<uint64_t> bits_;
  // kAny: the parts (none of them kAny). Empty for every other algo.
  std::vector<CompiledModel> parts_;
};

}  // namespace netpulse::detect
