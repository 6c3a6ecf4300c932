// A binary decision tree over NSL-KDD feature rows, as training builds it and the model file
// stores it: a flat node array in preorder (a node's left child is the next node). Numeric
// splits send x <= threshold left; categorical splits send the categories in a bitset over the
// feature's vocabulary left. This is the reference evaluator; CompiledModel is the fast one.
// Plain value; const methods are thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "detect/nslkdd_schema.hpp"

namespace netpulse::detect {

// Largest vocabulary a categorical split can take (service has 70 values).
inline constexpr size_t kMaxCategories = 128;

struct CategorySet {
  uint64_t words[kMaxCategories / 64] = {};
  bool has(unsigned c) const { return c < kMaxCategories && ((words[c >> 6] >> (c & 63)) & 1); }
  void add(unsigned c) { words[c >> 6] |= uint64_t{1} << (c & 63); }
  friend bool operator==(const CategorySet&, const CategorySet&) = default;
};

struct TreeNode {
  int32_t feature = -1;         // -1: a leaf
  float threshold = 0;          // numeric split: x <= threshold goes left
  CategorySet left_categories;  // categorical split: these go left, every other value right
  int32_t right = -1;           // the right child (the left one is this node + 1)
  double value = 0;             // output if this node is (or were pruned to) a leaf
  double weight = 0;            // training weight that reached the node
  double positive = 0;          // ... of which positive (classification trees)

  bool is_leaf() const { return feature < 0; }
  bool goes_left(const FeatureRow& x) const {
    const float v = x[static_cast<size_t>(feature)];
    return feature_info(static_cast<size_t>(feature)).type == FeatureType::kCategorical
               ? left_categories.has(static_cast<unsigned>(v))
               : v <= threshold;
  }
};

struct Tree {
  std::vector<TreeNode> nodes;

  // The index of the leaf the row reaches.
  size_t leaf(const FeatureRow& x) const {
    size_t i = 0;
    while (!nodes[i].is_leaf())
      i = nodes[i].goes_left(x) ? i + 1 : static_cast<size_t>(nodes[i].right);
    return i;
  }
  double predict(const FeatureRow& x) const { return nodes[leaf(x)].value; }
  size_t leaf_count() const {
    size_t n = 0;
    for (const auto& node : nodes) n += node.is_leaf();
    return n;
  }
  size_t depth() const;
};

}  // namespace netpulse::detect
