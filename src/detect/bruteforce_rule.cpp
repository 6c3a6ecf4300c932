#include "detect/bruteforce_rule.hpp"

#include <functional>

#include "detect/metrics.hpp"
#include "detect/trainer.hpp"

namespace netpulse::detect {

using nlohmann::json;

json BruteforceRule::to_json() const {
  if (flows)
    return json{{"algo", "rule"},
                {"variant", "flows"},
                {"services", services},
                {"max_src_bytes", max_src_bytes},
                {"min_attempts", flow_min_attempts},
                {"min_same_service", min_same_service}};
  return json{{"algo", "rule"},
              {"services", services},
              {"max_duration", max_duration},
              {"min_attempts", min_attempts},
              {"min_same_service", min_same_service},
              {"failed_login_same_service", failed_login_same_service}};
}

std::optional<Model> bruteforce_rule_model(const BruteforceRule& rule, Detector detector,
                                           const Dataset& data, std::string* why) {
  CategorySet auth, half_open;
  for (const auto& s : rule.services) {
    const int c = category_index(kService, s);
    if (c < 0) {
      if (why) *why = "unknown service '" + s + "'";
      return std::nullopt;
    }
    auth.add(static_cast<unsigned>(c));
  }
  for (const char* f : {"S0", "REJ", "RSTOS0", "SH"})
    half_open.add(static_cast<unsigned>(category_index(kFlag, f)));

  Tree tree;
  // Preorder construction: a split's left subtree follows it, then its right one.
  using Build = std::function<void()>;
  auto leaf = [&](double value) {
    return [&tree, value] {
      TreeNode n;
      n.value = value;
      tree.nodes.push_back(n);
    };
  };
  auto split = [&](const char* feature, float threshold, const CategorySet* left_categories,
                   Build left, Build right) -> Build {
    return [&tree, feature, threshold, left_categories, left, right] {
      const size_t at = tree.nodes.size();
      TreeNode n;
      n.feature = feature_index(feature);
      n.threshold = threshold;
      if (left_categories) n.left_categories = *left_categories;
      tree.nodes.push_back(n);
      left();
      tree.nodes[at].right = static_cast<int32_t>(tree.nodes.size());
      right();
    };
  };
  // Rates in the data have two decimals: "at least R" is "greater than R - 0.005".
  const float same_service = static_cast<float>(rule.min_same_service - 0.005);
  // Categorical splits send the listed categories left, numeric ones values <= the threshold.
  if (rule.flows) {
    const auto attempts = static_cast<float>(rule.flow_min_attempts - 0.5);
    split("service", 0, &auth,
          split("dst_host_count", attempts, nullptr, leaf(0),
                split("dst_host_srv_count", attempts, nullptr, leaf(0),
                      split("dst_host_same_srv_rate", same_service, nullptr, leaf(0),
                            split("src_bytes", static_cast<float>(rule.max_src_bytes), nullptr,
                                  leaf(1), leaf(0))))),
          leaf(0))();
  } else {
    const Build guessing =
        split("service", 0, &auth,
              split("logged_in", 0.5f, nullptr,
                    split("flag", 0, &half_open, leaf(0),
                          split("duration", static_cast<float>(rule.max_duration), nullptr,
                                split("dst_host_srv_count",
                                      static_cast<float>(rule.min_attempts - 0.5), nullptr, leaf(0),
                                      split("dst_host_same_srv_rate", same_service, nullptr,
                                            leaf(0), leaf(1))),
                                leaf(0))),
                    leaf(0)),
              leaf(0));
    const Build failed_logins =
        split("dst_host_same_srv_rate", static_cast<float>(rule.failed_login_same_service), nullptr,
              leaf(0), leaf(1));
    split("num_failed_logins", 0.5f, nullptr, guessing, failed_logins)();
  }

  // Node statistics from the data, as a fitted tree carries them: rows reaching each node and
  // how many were positive; an inner node's value is its positive fraction.
  size_t rows = 0, positives = 0;
  for (size_t r = 0; r < data.size(); ++r) {
    if (!detector_uses(detector, data.labels[r])) continue;
    const bool pos = detector_positive(detector, data.labels[r]);
    ++rows;
    positives += pos;
    size_t i = 0;
    for (;;) {
      TreeNode& n = tree.nodes[i];
      n.weight += 1;
      n.positive += pos;
      if (n.is_leaf()) break;
      i = n.goes_left(data.rows[r]) ? i + 1 : static_cast<size_t>(n.right);
    }
  }
  for (TreeNode& n : tree.nodes)
    if (!n.is_leaf()) n.value = n.weight > 0 ? n.positive / n.weight : 0;

  Model m;
  m.detector = detector;
  m.algo = Algo::kTree;
  m.training =
      json{{"options", rule.to_json()},  {"data_sha256", data.sha256},       {"rows", rows},
           {"positives", positives},     {"negatives", rows - positives},    {"trees", 1},
           {"nodes", tree.nodes.size()}, {"max_depth_reached", tree.depth()}};
  m.trees.push_back(std::move(tree));
  m.training["training_set_metrics"] = metrics_json(evaluate(m, data));
  return m;
}

}  // namespace netpulse::detect
