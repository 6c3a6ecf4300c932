#include "detect/isolation_forest.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "detect/compiled_model.hpp"
#include "synthetic.hpp"

namespace netpulse::detect {
namespace {

int feature(std::string_view name) {
  return feature_index(name);
}
float category(size_t f, std::string_view value) {
  return static_cast<float>(category_index(f, value));
}

// Normal traffic of the synthetic tests: web and mail sessions of a few hundred bytes out and a
// few thousand back, low counts, no errors. Numeric features are triangular (the mean of two
// uniform draws): dense in the middle, thin at the edges, as real traffic is.
FeatureRow normal_row(testdetect::Rng& rng) {
  auto around = [&](double mid, double spread) {
    return static_cast<float>(std::round(mid + spread * (rng.unit() + rng.unit() - 1)));
  };
  FeatureRow x{};
  const std::string_view services[] = {"http", "smtp", "ftp_data"};
  x[kProtocolType] = category(kProtocolType, "tcp");
  x[kService] = category(kService, services[rng.below(3)]);
  x[kFlag] = category(kFlag, "SF");
  x[static_cast<size_t>(feature("duration"))] = around(5, 5);
  x[static_cast<size_t>(feature("src_bytes"))] = around(350, 250);
  x[static_cast<size_t>(feature("dst_bytes"))] = around(2500, 2000);
  x[static_cast<size_t>(feature("logged_in"))] = 1;
  x[static_cast<size_t>(feature("count"))] = around(15, 14);
  x[static_cast<size_t>(feature("srv_count"))] = around(15, 14);
  x[static_cast<size_t>(feature("same_srv_rate"))] =
      static_cast<float>(0.9 + 0.1 * rng.unit());
  x[static_cast<size_t>(feature("dst_host_count"))] = around(128, 127);
  x[static_cast<size_t>(feature("dst_host_srv_count"))] = around(128, 127);
  return x;
}

// The middle of the normal cluster (a little jitter).
FeatureRow central_row(testdetect::Rng& rng) {
  FeatureRow x = normal_row(rng);
  x[static_cast<size_t>(feature("duration"))] = 5;
  x[static_cast<size_t>(feature("src_bytes"))] = static_cast<float>(340 + rng.below(20));
  x[static_cast<size_t>(feature("dst_bytes"))] = static_cast<float>(2450 + rng.below(100));
  x[static_cast<size_t>(feature("count"))] = 15;
  x[static_cast<size_t>(feature("srv_count"))] = 15;
  x[static_cast<size_t>(feature("dst_host_count"))] = static_cast<float>(120 + rng.below(16));
  x[static_cast<size_t>(feature("dst_host_srv_count"))] = static_cast<float>(120 + rng.below(16));
  return x;
}

// Rows far from the normal cluster, each in several of the features normal traffic varies in.
std::vector<FeatureRow> far_rows(testdetect::Rng& rng) {
  std::vector<FeatureRow> out;
  for (int i = 0; i < 20; ++i) {
    FeatureRow syn_flood = normal_row(rng);  // many connections, nothing sent either way
    syn_flood[static_cast<size_t>(feature("src_bytes"))] = 0;
    syn_flood[static_cast<size_t>(feature("dst_bytes"))] = 0;
    syn_flood[static_cast<size_t>(feature("count"))] = static_cast<float>(300 + rng.below(200));
    syn_flood[static_cast<size_t>(feature("srv_count"))] = static_cast<float>(300 + rng.below(200));
    out.push_back(syn_flood);
    FeatureRow upload = normal_row(rng);  // a long, huge transfer out
    upload[static_cast<size_t>(feature("src_bytes"))] = static_cast<float>(1e6 + rng.below(1000000));
    upload[static_cast<size_t>(feature("dst_bytes"))] = 0;
    upload[static_cast<size_t>(feature("duration"))] = static_cast<float>(5000 + rng.below(1000));
    out.push_back(upload);
    FeatureRow scan = normal_row(rng);  // another service, one host, many ports
    scan[kService] = category(kService, "private");
    scan[static_cast<size_t>(feature("src_bytes"))] = 0;
    scan[static_cast<size_t>(feature("dst_bytes"))] = 0;
    scan[static_cast<size_t>(feature("dst_host_count"))] = 1;
    scan[static_cast<size_t>(feature("dst_host_srv_count"))] = 1;
    out.push_back(scan);
  }
  return out;
}

Dataset normal_data(size_t n, uint64_t seed) {
  testdetect::Rng rng(seed);
  Dataset d;
  for (size_t i = 0; i < n; ++i) {
    d.rows.push_back(normal_row(rng));
    d.labels.push_back(kNormalLabel);
  }
  return d;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

TEST(IsolationForest, AveragePathLength) {
  EXPECT_EQ(average_path_length(0), 0.0);
  EXPECT_EQ(average_path_length(1), 0.0);
  EXPECT_DOUBLE_EQ(average_path_length(2), 1.0);
  EXPECT_DOUBLE_EQ(average_path_length(3), 2 * 1.5 - 4.0 / 3);
  // The paper's approximation, H(i) ~ ln(i) + Euler's constant, for large n.
  EXPECT_NEAR(average_path_length(256), 2 * (std::log(255.0) + 0.5772156649) - 2 * 255.0 / 256,
              0.01);
  // Continuous at the switch from the exact sum to the asymptotic series.
  EXPECT_NEAR(average_path_length(4097), average_path_length(4098), 1e-3);
  EXPECT_LT(average_path_length(4097), average_path_length(4098));
}

TEST(IsolationForest, ScoresFarRowsAboveTheNormalCluster) {
  const Dataset train = normal_data(5000, 1);
  IsolationOptions o;
  const Model m = train_isolation_forest(train, Detector::kAttack, o);
  EXPECT_EQ(m.algo, Algo::kIsolation);
  EXPECT_EQ(m.trees.size(), 100u);
  EXPECT_DOUBLE_EQ(m.base_score, average_path_length(256));
  for (const Tree& t : m.trees) {  // depth limit ceil(log2 256)
    for (const TreeNode& n : t.nodes) {
      if (n.is_leaf()) {
        EXPECT_LE(n.value - average_path_length(static_cast<size_t>(n.weight)), 8.0 + 1e-9);
      }
    }
  }

  testdetect::Rng rng(3);
  double central_max = 0;
  for (int i = 0; i < 200; ++i) central_max = std::max(central_max, m.score(central_row(rng)));
  const Dataset normal = normal_data(5000, 2);
  std::vector<double> normal_scores;
  for (const FeatureRow& x : normal.rows) normal_scores.push_back(m.score(x));
  size_t alerts = 0, far = 0;
  for (const FeatureRow& x : far_rows(rng)) {
    EXPECT_GT(m.score(x), central_max);
    EXPECT_GT(m.score(x), quantile(normal_scores, 0.9));
    alerts += m.positive(x);
    ++far;
  }
  std::printf("far rows: %zu of %zu alert; central max %.3f, normal median %.3f, p99 %.3f\n",
              alerts, far, central_max, quantile(normal_scores, 0.5),
              quantile(normal_scores, 0.99));
  EXPECT_GE(alerts, far * 9 / 10);
  // The paper: rows well inside the data score clearly below 0.5.
  EXPECT_LT(central_max, 0.45);
}

TEST(IsolationForest, ThresholdMeetsTheBudgetOnHeldOutNormalRows) {
  const Dataset train = normal_data(30000, 4);
  const Dataset held_out = normal_data(20000, 5);
  for (const double budget : {0.01, 0.05}) {
    for (const ThresholdScale scale : {ThresholdScale::kLinear, ThresholdScale::kLog1p}) {
      IsolationOptions o;
      o.fpr_budget = budget;
      o.scale = scale;
      const Model m = train_isolation_forest(train, Detector::kAttack, o);
      const auto& t = m.training["threshold"];
      EXPECT_EQ(t["rows"], "normal rows in no tree's sample");
      EXPECT_EQ(t["row_count"].get<size_t>() + m.training["rows_in_samples"].get<size_t>(),
                30000u);
      EXPECT_LE(t["false_positive_rate"].get<double>(), budget);
      size_t alerts = 0;
      for (const FeatureRow& x : held_out.rows) alerts += m.positive(x);
      const double fpr = static_cast<double>(alerts) / static_cast<double>(held_out.size());
      // Binomial noise on 20000 rows is ~0.1 to 0.15 points; the threshold's own error on
      // ~10000 calibration rows about the same.
      EXPECT_NEAR(fpr, budget, budget * 0.3 + 0.002) << "budget " << budget << " scale "
                                                      << static_cast<int>(scale);
    }
  }
}

TEST(IsolationForest, CalibratesOnAllNormalRowsWhenTooFewAreLeftOut) {
  const Dataset train = normal_data(1000, 6);  // 100 trees x 256 rows leave ~0 rows out
  IsolationOptions o;
  o.trees = 50;
  const Model m = train_isolation_forest(train, Detector::kAttack, o);
  const auto& t = m.training["threshold"];
  EXPECT_EQ(t["rows"], "all normal rows");
  EXPECT_EQ(t["row_count"], 1000);
  size_t alerts = 0;
  for (const FeatureRow& x : train.rows) alerts += m.positive(x);
  EXPECT_LE(alerts, 10u);  // floor(1% of 1000)
  EXPECT_EQ(alerts, t["alerting_rows"].get<size_t>());
}

TEST(IsolationForest, TrainsOnNormalRowsOnlyAndCountsTheDetectorsPositives) {
  testdetect::Rng rng(7);
  Dataset d = normal_data(3000, 8);
  for (const FeatureRow& x : far_rows(rng)) {
    d.rows.push_back(x);
    d.labels.push_back(static_cast<int16_t>(label_index("neptune")));
  }
  for (const FeatureRow& x : far_rows(rng)) {  // r2l: not the dos detector's
    d.rows.push_back(x);
    d.labels.push_back(static_cast<int16_t>(label_index("guess_passwd")));
  }
  IsolationOptions o;
  o.trees = 30;
  const Model m = train_isolation_forest(d, Detector::kDos, o);
  EXPECT_EQ(m.training["rows"], 3000);
  EXPECT_EQ(m.training["positives"], 60);
  EXPECT_EQ(m.training["negatives"], 3000);
  // Every tree's root saw exactly sample_size normal rows.
  for (const Tree& t : m.trees) EXPECT_EQ(t.nodes[0].weight, 256.0);
  const auto& metrics = m.training["training_set_metrics"];
  EXPECT_EQ(metrics["rows"], 3060);
  EXPECT_EQ(metrics["confusion"]["tp"], 60);
}

TEST(IsolationForest, SplitsOnAllowedFeaturesAndSendsUnseenCategoriesToTheSmallerSide) {
  const Dataset train = normal_data(3000, 9);
  IsolationOptions o;
  o.trees = 20;
  o.features = (FeatureMask{1} << kService) | (FeatureMask{1} << feature("src_bytes"));
  const Model m = train_isolation_forest(train, Detector::kAttack, o);
  EXPECT_EQ(m.training["options"]["features"],
            (nlohmann::json{"service", "src_bytes"}));
  const std::set<unsigned> present = {static_cast<unsigned>(category(kService, "http")),
                                      static_cast<unsigned>(category(kService, "smtp")),
                                      static_cast<unsigned>(category(kService, "ftp_data"))};
  const unsigned absent = static_cast<unsigned>(category(kService, "private"));
  size_t categorical = 0, absent_left = 0;
  for (const Tree& t : m.trees) {
    for (size_t i = 0; i < t.nodes.size(); ++i) {
      const TreeNode& n = t.nodes[i];
      if (n.is_leaf()) continue;
      ASSERT_TRUE(n.feature == static_cast<int>(kService) || n.feature == feature("src_bytes"));
      // Every split separates the node's rows, but the guards (isolation_forest.hpp), which
      // only catch rows far beyond them.
      const double l = t.nodes[i + 1].weight, r = t.nodes[static_cast<size_t>(n.right)].weight;
      if (l == 0 || r == 0) {
        EXPECT_EQ(n.feature, feature("src_bytes"));
        continue;
      }
      if (n.feature != static_cast<int>(kService)) continue;
      ++categorical;
      if (i == 0) {  // the root saw all three services: a non-trivial subset goes left
        size_t present_left = 0;
        for (unsigned c : present) present_left += n.left_categories.has(c);
        EXPECT_GE(present_left, 1u);
        EXPECT_LT(present_left, 3u);
      }
      // A category the node never saw goes to the side with fewer rows.
      const double left_rows = t.nodes[i + 1].weight;
      const bool smaller_left = 2 * left_rows < n.weight;
      EXPECT_EQ(n.left_categories.has(absent), smaller_left);
      absent_left += n.left_categories.has(absent);
    }
  }
  EXPECT_GT(categorical, 0u);
  EXPECT_GT(absent_left, 0u);
}

TEST(IsolationForest, LeafValueIsDepthPlusAveragePathLength) {
  const Dataset train = normal_data(2000, 10);
  for (const bool guards : {false, true}) {
    IsolationOptions o;
    o.trees = 5;
    o.guard_beyond_range = guards;
    const Model m = train_isolation_forest(train, Detector::kAttack, o);
    size_t guard_nodes = 0;
    for (const Tree& t : m.trees) {
      // Walk the tree keeping the depth a row has when it reaches each node: value = depth +
      // c(rows reaching the leaf). A guard (a split with a leaf no training row reached) costs
      // nothing to the rows it lets through, and isolates the others one deeper.
      std::vector<int> depth(t.nodes.size(), 0);
      for (size_t i = 0; i < t.nodes.size(); ++i) {
        const TreeNode& n = t.nodes[i];
        if (n.is_leaf()) {
          EXPECT_EQ(n.value, depth[i] + average_path_length(static_cast<size_t>(n.weight)));
          continue;
        }
        const size_t l = i + 1, r = static_cast<size_t>(n.right);
        EXPECT_EQ(t.nodes[l].weight + t.nodes[r].weight, n.weight);
        const bool guard = t.nodes[l].weight == 0 || t.nodes[r].weight == 0;
        guard_nodes += guard;
        for (const size_t child : {l, r})
          depth[child] = depth[i] + (!guard || t.nodes[child].weight == 0 ? 1 : 0);
      }
    }
    EXPECT_EQ(guard_nodes > 0, guards);
  }
}

TEST(IsolationForest, GuardsIsolateRowsFarBeyondTheRange) {
  // A plain isolation forest sends a 1 MB upload along with the largest normal transfers (a few
  // hundred bytes): it is no more isolated than they are. The guards isolate it.
  const Dataset train = normal_data(5000, 14);
  size_t alerts[2] = {};
  for (const bool guards : {false, true}) {
    IsolationOptions o;
    o.guard_beyond_range = guards;
    const Model m = train_isolation_forest(train, Detector::kAttack, o);
    testdetect::Rng rng(15);
    for (int i = 0; i < 100; ++i) {
      FeatureRow x = normal_row(rng);
      x[static_cast<size_t>(feature("src_bytes"))] = static_cast<float>(1e6 + rng.below(1000000));
      x[static_cast<size_t>(feature("duration"))] = static_cast<float>(5000 + rng.below(1000));
      alerts[guards] += m.positive(x);
    }
  }
  std::printf("far uploads alerting: %zu of 100 without guards, %zu with\n", alerts[0], alerts[1]);
  EXPECT_GE(alerts[1], 95u);
  EXPECT_GT(alerts[1], alerts[0] + 20);
}

TEST(IsolationForest, SameModelForAnyThreadCount) {
  const Dataset train = normal_data(20000, 11);
  IsolationOptions o;
  o.trees = 40;
  o.threads = 1;
  const std::string one = to_json(train_isolation_forest(train, Detector::kAttack, o)).dump();
  for (const int threads : {2, 3, 8}) {
    o.threads = threads;
    EXPECT_EQ(to_json(train_isolation_forest(train, Detector::kAttack, o)).dump(), one)
        << threads << " threads";
  }
  o.seed = 2;
  EXPECT_NE(to_json(train_isolation_forest(train, Detector::kAttack, o)).dump(), one);
}

TEST(IsolationForest, ExplainsAnAlertWithTheTreeThatIsolatesTheRowSoonest) {
  const Dataset train = normal_data(5000, 12);
  IsolationOptions o;
  o.trees = 30;
  const Model m = train_isolation_forest(train, Detector::kAttack, o);
  const CompiledModel c(m);
  testdetect::Rng rng(13);
  for (const FeatureRow& x : far_rows(rng)) {
    size_t best = 0;
    for (size_t t = 1; t < m.trees.size(); ++t)
      if (m.trees[t].predict(x) < m.trees[best].predict(x)) best = t;
    std::vector<uint8_t> expected;
    const Tree& t = m.trees[best];
    for (size_t i = 0; !t.nodes[i].is_leaf();) {
      const auto f = static_cast<uint8_t>(t.nodes[i].feature);
      if (std::find(expected.begin(), expected.end(), f) == expected.end()) expected.push_back(f);
      i = t.nodes[i].goes_left(x) ? i + 1 : static_cast<size_t>(t.nodes[i].right);
    }
    uint8_t out[16];
    const size_t n = c.explain(x.data(), true, out, 16);
    EXPECT_EQ(std::vector<uint8_t>(out, out + n),
              std::vector<uint8_t>(expected.begin(), expected.begin() +
                                                         std::min<size_t>(16, expected.size())));
  }
}

TEST(IsolationForest, RejectsWhatItCannotTrainOn) {
  Dataset attacks;
  attacks.rows.push_back(FeatureRow{});
  attacks.labels.push_back(static_cast<int16_t>(label_index("smurf")));
  EXPECT_THROW(train_isolation_forest(attacks, Detector::kDos, IsolationOptions{}),
               std::invalid_argument);
  IsolationOptions o;
  o.sample_size = 1;
  EXPECT_THROW(train_isolation_forest(normal_data(10, 1), Detector::kDos, o),
               std::invalid_argument);
}

// Trains on the normal rows of KDDTrain+ but a held-out fifth, and reports the detection rate
// of every attack family at a 1% budget. Skipped without the data.
TEST(IsolationForest, KddTrainDetectsFloodsAndScansAtOnePercentFpr) {
  const std::string path = std::string(NETPULSE_SOURCE_DIR) + "/../shared/data/nsl-kdd/KDDTrain+.txt";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " absent";
  std::string text, why;
  ASSERT_TRUE(read_file(path, text, &why)) << why;
  const Dataset all = parse_dataset(text);
  Dataset train, held_normal;
  testdetect::Rng rng(2024);
  for (size_t i = 0; i < all.size(); ++i) {
    Dataset& to = all.labels[i] == kNormalLabel && rng.below(5) == 0 ? held_normal : train;
    to.rows.push_back(all.rows[i]);
    to.labels.push_back(all.labels[i]);
  }
  train.sha256 = all.sha256;

  for (const ThresholdScale scale : {ThresholdScale::kLog1p, ThresholdScale::kLinear}) {
    IsolationOptions o;
    o.threads = 2;
    o.scale = scale;
    const auto start = std::chrono::steady_clock::now();
    const Model m = train_isolation_forest(train, Detector::kAttack, o);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::vector<double> normal_scores;
    for (const FeatureRow& x : held_normal.rows) normal_scores.push_back(m.score(x));
    std::sort(normal_scores.begin(), normal_scores.end());
    // Per label and family: rows, alerts, and the sum over rows of the share of held-out normal
    // rows scoring below (the AUC once divided by the rows).
    struct Tally {
      size_t rows = 0, alerts = 0;
      double below = 0;
      double rate() const { return static_cast<double>(alerts) / static_cast<double>(rows); }
      double auc() const { return below / static_cast<double>(rows); }
    };
    std::map<std::string_view, Tally> by_label, by_family;
    for (size_t i = 0; i < train.size(); ++i) {
      const int label = train.labels[i];
      if (label == kNormalLabel) continue;
      const double s = m.score(train.rows[i]);
      const double below =
          static_cast<double>(std::lower_bound(normal_scores.begin(), normal_scores.end(), s) -
                              normal_scores.begin()) /
          static_cast<double>(normal_scores.size());
      for (Tally* t : {&by_label[label_names()[static_cast<size_t>(label)]],
                       &by_family[family_name(label_family(label))]}) {
        ++t->rows;
        t->alerts += s >= m.threshold;
        t->below += below;
      }
    }
    const size_t fp = static_cast<size_t>(
        normal_scores.end() -
        std::lower_bound(normal_scores.begin(), normal_scores.end(), m.threshold));
    const double held_fpr = static_cast<double>(fp) / static_cast<double>(held_normal.size());
    std::printf("isolation forest (%s thresholds) on KDDTrain+: trained in %.2f s (2 threads), "
                "threshold %.4f, held-out normal FPR %.4f (%zu rows)\n",
                scale == ThresholdScale::kLog1p ? "log1p" : "linear", seconds, m.threshold,
                held_fpr, held_normal.size());
    for (const auto& [name, t] : by_family)
      std::printf("  family %-6s %6.2f%% of %5zu rows  AUC %.4f\n", std::string(name).c_str(),
                  100 * t.rate(), t.rows, t.auc());
    for (const auto& [name, t] : by_label)
      if (t.rows >= 500)
        std::printf("  %-12s %6.2f%% of %5zu rows  AUC %.4f\n", std::string(name).c_str(),
                    100 * t.rate(), t.rows, t.auc());

    EXPECT_NEAR(held_fpr, 0.01, 0.004);
    if (scale != IsolationOptions{}.scale) continue;
    // Measured with the defaults (seed 1): neptune 99.97%, portsweep 89.0%, satan 66.3%, dos
    // 90.0%, probe 48.9%. Smurf is not caught at 1%: its count of 511 is extreme and its
    // service rare, but 4 unusual features in 41 are seldom on a path of 8 random splits, so
    // it ranks above most normal rows (AUC 0.92) but not above the top 1%.
    EXPECT_GT(by_label["neptune"].rate(), 0.99);
    EXPECT_GT(by_label["portsweep"].rate(), 0.80);
    EXPECT_GT(by_label["satan"].rate(), 0.55);
    EXPECT_GT(by_family["dos"].rate(), 0.85);
    EXPECT_GT(by_family["probe"].rate(), 0.40);
    EXPECT_GT(by_label["smurf"].auc(), 0.85);
    EXPECT_GT(by_family["r2l"].auc(), 0.80);
  }
}

}  // namespace
}  // namespace netpulse::detect
