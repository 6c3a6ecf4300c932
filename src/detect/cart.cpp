#include "detect/cart.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "detect/random.hpp"

namespace netpulse::detect {

size_t Tree::depth() const {
  if (nodes.empty()) return 0;
  std::vector<size_t> d(nodes.size(), 0);
  size_t deepest = 0;
  for (size_t i = 0; i < nodes.size(); ++i) {
    deepest = std::max(deepest, d[i]);
    if (!nodes[i].is_leaf()) {
      d[i + 1] = d[i] + 1;
      d[static_cast<size_t>(nodes[i].right)] = d[i] + 1;
    }
  }
  return deepest;
}

BinnedData bin_rows(std::span<const FeatureRow> rows) {
  BinnedData out;
  out.rows = rows.size();
  out.raw = rows;
  out.bins.resize(rows.size() * kFeatureCount);
  std::vector<float> values(rows.size());
  for (size_t f = 0; f < kFeatureCount; ++f) {
    const FeatureInfo& info = feature_info(f);
    if (info.type == FeatureType::kCategorical) {
      out.bin_count[f] = static_cast<uint16_t>(info.vocabulary.size());
      out.bin_min[f].assign(info.vocabulary.size(), 0);
      out.bin_max[f].assign(info.vocabulary.size(), 0);
      for (size_t c = 0; c < info.vocabulary.size(); ++c)
        out.bin_min[f][c] = out.bin_max[f][c] = static_cast<float>(c);
      for (size_t r = 0; r < rows.size(); ++r)
        out.bins[r * kFeatureCount + f] = static_cast<uint8_t>(rows[r][f]);
      continue;
    }
    for (size_t r = 0; r < rows.size(); ++r) values[r] = rows[r][f];
    std::sort(values.begin(), values.end());
    std::vector<float>& lo = out.bin_min[f];
    std::vector<float>& hi = out.bin_max[f];
    lo.clear();
    hi.clear();
    size_t distinct = values.empty() ? 0 : 1;
    for (size_t i = 1; i < values.size(); ++i) distinct += values[i] != values[i - 1];
    if (distinct <= kMaxBins) {
      for (size_t i = 0; i < values.size(); ++i)
        if (i == 0 || values[i] != values[i - 1]) {
          lo.push_back(values[i]);
          hi.push_back(values[i]);
        }
    } else {
      // Quantile bins: a bin closes once it holds its share of the rows; a value never spans
      // two bins.
      const double per_bin = static_cast<double>(values.size()) / kMaxBins;
      size_t i = 0;
      while (i < values.size()) {
        const size_t target = std::max<size_t>(
            i + 1, static_cast<size_t>(std::ceil(per_bin * static_cast<double>(lo.size() + 1))));
        lo.push_back(values[i]);
        size_t j = std::min(target, values.size());
        while (j < values.size() && values[j] == values[j - 1]) ++j;
        if (lo.size() == kMaxBins) j = values.size();
        hi.push_back(values[j - 1]);
        i = j;
      }
    }
    out.bin_count[f] = static_cast<uint16_t>(lo.size());
    for (size_t r = 0; r < rows.size(); ++r) {
      const auto it = std::lower_bound(hi.begin(), hi.end(), rows[r][f]);
      out.bins[r * kFeatureCount + f] = static_cast<uint8_t>(it - hi.begin());
    }
  }
  return out;
}

struct TreeGrower::Split {
  int feature = -1;
  double gain = 0;
  unsigned last_left_bin = 0;  // numeric: bins <= this go left
  unsigned first_right_bin = 0;
  float threshold = 0;
  CategorySet left;  // categorical: these bins (categories) go left
};

TreeGrower::TreeGrower(const BinnedData& data, const RowTargets& targets,
                       const GrowOptions& options)
    : data_(data),
      targets_(targets),
      options_(options),
      rng_(options.seed * 0x9E3779B97F4A7C15ULL + 1) {
  hist_.resize(kFeatureCount * kMaxBins);
}

double TreeGrower::score(double a, double b) const {
  if (options_.criterion == Criterion::kGini) {
    const double w = a + b;
    return w > 0 ? -(a * b) / w : 0.0;
  }
  return a * a / (b + options_.lambda);
}

double TreeGrower::leaf_value(double a, double b) const {
  if (options_.criterion == Criterion::kGini) return a + b > 0 ? a / (a + b) : 0.0;
  return -a / (b + options_.lambda);
}

Tree TreeGrower::grow(std::vector<uint32_t> rows) {
  Tree tree;
  if (!rows.empty()) grow_node(tree, rows.data(), rows.data() + rows.size(), 0);
  return tree;
}

void TreeGrower::grow_node(Tree& tree, uint32_t* begin, uint32_t* end, int depth) {
  double a = 0, b = 0;
  for (const uint32_t* r = begin; r != end; ++r) {
    a += targets_.a[*r];
    b += targets_.b[*r];
  }
  const size_t n = static_cast<size_t>(end - begin);
  const size_t index = tree.nodes.size();
  TreeNode node;
  node.value = leaf_value(a, b);
  if (options_.criterion == Criterion::kGini) {
    node.weight = a + b;
    node.positive = a;
  } else {
    node.weight = static_cast<double>(n);
  }
  tree.nodes.push_back(node);

  const bool pure = options_.criterion == Criterion::kGini && (a <= 0 || b <= 0);
  const size_t min_leaf = static_cast<size_t>(std::max(1, options_.min_samples_leaf));
  if (pure || depth >= options_.max_depth || n < static_cast<size_t>(options_.min_samples_split) ||
      n < 2 * min_leaf)
    return;
  Split split;
  if (!find_split(begin, end, split)) return;

  const size_t f = static_cast<size_t>(split.feature);
  uint32_t* middle;
  if (feature_info(f).type == FeatureType::kCategorical) {
    middle =
        std::partition(begin, end, [&](uint32_t r) { return split.left.has(data_.bin(r, f)); });
  } else {
    middle =
        std::partition(begin, end, [&](uint32_t r) { return data_.raw[r][f] <= split.threshold; });
  }
  tree.nodes[index].feature = split.feature;
  tree.nodes[index].threshold = split.threshold;
  tree.nodes[index].left_categories = split.left;
  grow_node(tree, begin, middle, depth + 1);
  tree.nodes[index].right = static_cast<int32_t>(tree.nodes.size());
  grow_node(tree, middle, end, depth + 1);
}

bool TreeGrower::find_split(const uint32_t* begin, const uint32_t* end, Split& best) {
  // Which features to look at: the allowed ones, or a random subset of them (random forests).
  features_.clear();
  for (uint32_t f = 0; f < kFeatureCount; ++f)
    if ((options_.features >> f) & 1) features_.push_back(f);
  const size_t allowed = features_.size();
  size_t nf = allowed;
  if (options_.features_per_split > 0 &&
      static_cast<size_t>(options_.features_per_split) < allowed) {
    nf = static_cast<size_t>(options_.features_per_split);
    for (size_t i = 0; i < nf; ++i) {
      const uint64_t z = splitmix64(rng_);
      rng_ += 0x9E3779B97F4A7C15ULL;
      const size_t j = i + static_cast<size_t>(z % (allowed - i));
      std::swap(features_[i], features_[j]);
    }
    std::sort(features_.begin(), features_.begin() + static_cast<ptrdiff_t>(nf));
  }

  for (size_t k = 0; k < nf; ++k) {
    const size_t f = features_[k];
    std::fill_n(hist_.begin() + static_cast<ptrdiff_t>(f * kMaxBins), data_.bin_count[f],
                BinStats{});
  }
  const double* ta = targets_.a.data();
  const double* tb = targets_.b.data();
  double total_a = 0, total_b = 0;
  for (const uint32_t* r = begin; r != end; ++r) {
    const uint8_t* row_bins = &data_.bins[static_cast<size_t>(*r) * kFeatureCount];
    const double ra = ta[*r], rb = tb[*r];
    total_a += ra;
    total_b += rb;
    for (size_t k = 0; k < nf; ++k) {
      const size_t f = features_[k];
      BinStats& s = hist_[f * kMaxBins + row_bins[f]];
      s.a += ra;
      s.b += rb;
      ++s.n;
    }
  }
  const uint32_t n = static_cast<uint32_t>(end - begin);
  const uint32_t min_leaf = static_cast<uint32_t>(std::max(1, options_.min_samples_leaf));
  const bool gradient = options_.criterion == Criterion::kGradient;
  const double parent = score(total_a, total_b);
  // A split must gain more than rounding noise.
  const double min_gain = 1e-9 * (std::abs(parent) + 1e-9);
  best.feature = -1;
  best.gain = min_gain;

  auto admissible = [&](const BinStats& left) {
    if (left.n < min_leaf || n - left.n < min_leaf) return false;
    if (gradient &&
        (left.b < options_.min_child_hessian || total_b - left.b < options_.min_child_hessian))
      return false;
    return true;
  };

  std::vector<std::pair<double, unsigned>> order;
  for (size_t k = 0; k < nf; ++k) {
    const size_t f = features_[k];
    const BinStats* h = &hist_[f * kMaxBins];
    const unsigned nb = data_.bin_count[f];
    if (feature_info(f).type == FeatureType::kNumeric) {
      BinStats left;
      int prev = -1;
      for (unsigned bin = 0; bin < nb; ++bin) {
        if (h[bin].n == 0) continue;
        if (prev >= 0 && admissible(left)) {
          const double gain =
              score(left.a, left.b) + score(total_a - left.a, total_b - left.b) - parent;
          if (gain > best.gain) {
            best.feature = static_cast<int>(f);
            best.gain = gain;
            best.last_left_bin = static_cast<unsigned>(prev);
            best.first_right_bin = bin;
            const float lo = data_.bin_max[f][static_cast<size_t>(prev)];
            const float hi = data_.bin_min[f][bin];
            float t =
                static_cast<float>(static_cast<double>(lo) + (static_cast<double>(hi) - lo) / 2);
            if (!(t < hi) || t < lo) t = lo;
            best.threshold = t;
          }
        }
        left.a += h[bin].a;
        left.b += h[bin].b;
        left.n += h[bin].n;
        prev = static_cast<int>(bin);
      }
    } else {
      // Sorting the categories by positive rate (or gradient per unit hessian) makes the best
      // binary partition one of the prefixes of that order.
      order.clear();
      for (unsigned c = 0; c < nb; ++c) {
        if (h[c].n == 0) continue;
        const double key =
            gradient ? h[c].a / (h[c].b + options_.lambda) : h[c].a / (h[c].a + h[c].b + 1e-300);
        order.emplace_back(key, c);
      }
      std::sort(order.begin(), order.end());
      BinStats left;
      for (size_t i = 0; i + 1 < order.size(); ++i) {
        const BinStats& s = h[order[i].second];
        left.a += s.a;
        left.b += s.b;
        left.n += s.n;
        if (!admissible(left)) continue;
        const double gain =
            score(left.a, left.b) + score(total_a - left.a, total_b - left.b) - parent;
        if (gain > best.gain) {
          best.feature = static_cast<int>(f);
          best.gain = gain;
          // Categories this node never saw go with the larger side.
          const bool unseen_left = left.n > n - left.n;
          CategorySet set;
          if (unseen_left) {
            CategorySet right;
            for (size_t j = i + 1; j < order.size(); ++j) right.add(order[j].second);
            for (unsigned c = 0; c < nb; ++c)
              if (!right.has(c)) set.add(c);
          } else {
            for (size_t j = 0; j <= i; ++j) set.add(order[j].second);
          }
          best.left = set;
        }
      }
    }
  }
  if (best.feature >= 0 &&
      feature_info(static_cast<size_t>(best.feature)).type == FeatureType::kNumeric)
    refine_threshold(begin, end, total_a, total_b, best);
  return best.feature >= 0;
}

// Quantile bins put a split between bins; the rows in the two bins beside it are sorted and
// every threshold between them tried, so the split lands where exact CART would put it.
void TreeGrower::refine_threshold(const uint32_t* begin, const uint32_t* end, double total_a,
                                  double total_b, Split& best) {
  const size_t f = static_cast<size_t>(best.feature);
  const unsigned lo = best.last_left_bin, hi = best.first_right_bin;
  if (data_.bin_min[f][lo] == data_.bin_max[f][lo] && data_.bin_min[f][hi] == data_.bin_max[f][hi])
    return;
  const BinStats* h = &hist_[f * kMaxBins];
  BinStats base;  // the bins wholly on the left
  for (unsigned b = 0; b < lo; ++b) {
    base.a += h[b].a;
    base.b += h[b].b;
    base.n += h[b].n;
  }
  candidates_.clear();
  for (const uint32_t* r = begin; r != end; ++r) {
    const uint8_t bin = data_.bin(*r, f);
    if (bin == lo || bin == hi)
      candidates_.push_back(Candidate{data_.raw[*r][f], targets_.a[*r], targets_.b[*r]});
  }
  std::sort(candidates_.begin(), candidates_.end(),
            [](const Candidate& x, const Candidate& y) { return x.value < y.value; });
  const uint32_t n = static_cast<uint32_t>(end - begin);
  const uint32_t min_leaf = static_cast<uint32_t>(std::max(1, options_.min_samples_leaf));
  const bool gradient = options_.criterion == Criterion::kGradient;
  const double parent = score(total_a, total_b);
  BinStats left = base;
  for (size_t i = 0; i + 1 < candidates_.size(); ++i) {
    left.a += candidates_[i].a;
    left.b += candidates_[i].b;
    ++left.n;
    const float v = candidates_[i].value, next = candidates_[i + 1].value;
    if (v == next) continue;
    if (left.n < min_leaf || n - left.n < min_leaf) continue;
    if (gradient &&
        (left.b < options_.min_child_hessian || total_b - left.b < options_.min_child_hessian))
      continue;
    const double gain = score(left.a, left.b) + score(total_a - left.a, total_b - left.b) - parent;
    if (gain > best.gain) {
      best.gain = gain;
      float t = static_cast<float>(static_cast<double>(v) + (static_cast<double>(next) - v) / 2);
      if (!(t < next) || t < v) t = v;
      best.threshold = t;
    }
  }
}

namespace {

double leaf_error(const TreeNode& n) {
  return n.value >= 0.5 ? n.weight - n.positive : n.positive;
}

}  // namespace

std::vector<double> collapse_alphas(const Tree& tree) {
  const size_t n = tree.nodes.size();
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> alpha(n, kInf);
  std::vector<char> collapsed(n, 0), alive(n, 0);
  std::vector<double> sub_error(n), g(n);
  std::vector<size_t> leaves(n);
  double last = 0;
  while (n > 0 && !tree.nodes[0].is_leaf() && !collapsed[0]) {
    std::fill(alive.begin(), alive.end(), 0);
    alive[0] = 1;
    for (size_t i = 0; i < n; ++i) {
      const TreeNode& node = tree.nodes[i];
      if (!alive[i] || node.is_leaf() || collapsed[i]) continue;
      alive[i + 1] = 1;
      alive[static_cast<size_t>(node.right)] = 1;
    }
    double gmin = kInf;
    for (size_t k = n; k-- > 0;) {
      const TreeNode& node = tree.nodes[k];
      if (!alive[k]) continue;
      if (node.is_leaf() || collapsed[k]) {
        sub_error[k] = leaf_error(node);
        leaves[k] = 1;
        continue;
      }
      const size_t r = static_cast<size_t>(node.right);
      sub_error[k] = sub_error[k + 1] + sub_error[r];
      leaves[k] = leaves[k + 1] + leaves[r];
      g[k] = (leaf_error(node) - sub_error[k]) / static_cast<double>(leaves[k] - 1);
      gmin = std::min(gmin, g[k]);
    }
    const double cut = gmin + 1e-12 * (std::abs(gmin) + 1);
    last = std::max(last, gmin);
    for (size_t k = 0; k < n; ++k) {
      const TreeNode& node = tree.nodes[k];
      if (alive[k] && !node.is_leaf() && !collapsed[k] && g[k] <= cut) {
        collapsed[k] = 1;
        alpha[k] = last;
      }
    }
  }
  // A node removed with its collapsing ancestor goes at the ancestor's alpha: alphas then do
  // not increase along any root-to-leaf path.
  for (size_t k = 0; k < n; ++k) {
    const TreeNode& node = tree.nodes[k];
    if (node.is_leaf()) continue;
    for (size_t c : {k + 1, static_cast<size_t>(node.right)})
      if (!tree.nodes[c].is_leaf()) alpha[c] = std::min(alpha[c], alpha[k]);
  }
  return alpha;
}

namespace {

void copy_pruned(const Tree& in, const std::vector<double>& ca, double alpha, size_t i, Tree& out) {
  const size_t at = out.nodes.size();
  out.nodes.push_back(in.nodes[i]);
  if (in.nodes[i].is_leaf()) return;
  if (ca[i] <= alpha) {
    TreeNode& leaf = out.nodes[at];
    leaf.feature = -1;
    leaf.right = -1;
    leaf.threshold = 0;
    leaf.left_categories = CategorySet{};
    return;
  }
  copy_pruned(in, ca, alpha, i + 1, out);
  out.nodes[at].right = static_cast<int32_t>(out.nodes.size());
  copy_pruned(in, ca, alpha, static_cast<size_t>(in.nodes[i].right), out);
}

}  // namespace

Tree prune(const Tree& tree, const std::vector<double>& collapse_alpha, double alpha) {
  Tree out;
  if (!tree.nodes.empty()) copy_pruned(tree, collapse_alpha, alpha, 0, out);
  return out;
}

}  // namespace netpulse::detect
