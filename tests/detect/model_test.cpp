#include "detect/model.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "detect/compiled_model.hpp"
#include "detect/isolation_forest.hpp"
#include "detect/trainer.hpp"
#include "synthetic.hpp"

namespace netpulse::detect {
namespace {

const Dataset& training_data() {
  static const Dataset ds = parse_dataset(testdetect::known_rule_text(3000, 21));
  return ds;
}

// Rows the models never saw, including categories absent from training.
std::vector<FeatureRow> probe_rows() {
  testdetect::Rng rng(77);
  std::vector<FeatureRow> rows;
  for (int i = 0; i < 5000; ++i) rows.push_back(testdetect::random_row(rng));
  for (const FeatureRow& r : training_data().rows) rows.push_back(r);
  return rows;
}

Model trained(Algo algo) {
  if (algo == Algo::kIsolation) {
    IsolationOptions o;
    o.trees = 20;
    o.fpr_budget = 0.05;
    return train_isolation_forest(training_data(), Detector::kAttack, o);
  }
  if (algo == Algo::kAny)
    return combine_any(Detector::kAttack,
                       {trained(Algo::kTree), trained(Algo::kIsolation), trained(Algo::kBoost)},
                       {{"parts", "tree, isolation, boost"}});
  TrainOptions o;
  o.algo = algo;
  o.trees = 20;
  o.max_depth = algo == Algo::kBoost ? 4 : 12;
  o.prune_folds = 0;  // keep the tree big: more paths to compare
  return train(training_data(), Detector::kAttack, o);
}

class ModelRoundTrip : public ::testing::TestWithParam<Algo> {};

TEST_P(ModelRoundTrip, SaveLoadPredictsIdentically) {
  const Model m = trained(GetParam());
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("netpulse-model-" + std::to_string(::getpid()) + ".json"))
                               .string();
  std::string why;
  ASSERT_TRUE(save_model(m, path, &why)) << why;
  const auto loaded = load_model(path, &why);
  std::filesystem::remove(path);
  ASSERT_TRUE(loaded) << why;
  EXPECT_EQ(loaded->algo, m.algo);
  EXPECT_EQ(loaded->detector, m.detector);
  ASSERT_EQ(loaded->trees.size(), m.trees.size());
  ASSERT_EQ(loaded->parts.size(), m.parts.size());
  for (const FeatureRow& x : probe_rows()) ASSERT_EQ(loaded->score(x), m.score(x));
  EXPECT_EQ(to_json(*loaded).dump(), to_json(m).dump());
}

TEST_P(ModelRoundTrip, CompiledEvaluatorAgreesOnEveryRow) {
  const Model m = trained(GetParam());
  const CompiledModel c(m);
  size_t positives = 0;
  for (const FeatureRow& x : probe_rows()) {
    ASSERT_EQ(c.score(x), m.score(x));  // same arithmetic, bit for bit
    positives += c.score(x) >= c.threshold();
  }
  EXPECT_GT(positives, 0u);
}

INSTANTIATE_TEST_SUITE_P(Algos, ModelRoundTrip,
                         ::testing::Values(Algo::kTree, Algo::kForest, Algo::kBoost,
                                           Algo::kIsolation, Algo::kAny),
                         [](const auto& info) { return std::string(algo_name(info.param)); });

TEST(ModelFile, IsSelfDescribing) {
  const Model m = trained(Algo::kTree);
  const nlohmann::json j = to_json(m);
  EXPECT_EQ(j["format"], "netpulse-detector");
  EXPECT_EQ(j["version"], 1);  // a tree is written in the oldest version that can express it
  EXPECT_EQ(j["detector"], "attack");
  ASSERT_EQ(j["features"].size(), kFeatureCount);
  EXPECT_EQ(j["features"][2]["name"], "service");
  EXPECT_EQ(j["features"][2]["values"].size(), 70u);
  EXPECT_EQ(j["training"]["data_sha256"], training_data().sha256);
  EXPECT_TRUE(j["training"].contains("training_set_metrics"));
  EXPECT_TRUE(j["training"]["options"].contains("seed"));
  const auto& t = j["trees"][0];
  EXPECT_EQ(t["feature"].size(), t["nodes"].get<size_t>());
  EXPECT_EQ(t["left"].size(), t["right"].size());
}

TEST(ModelFile, RejectsWhatItCannotRead) {
  const nlohmann::json good = to_json(trained(Algo::kTree));
  std::string why;
  EXPECT_TRUE(model_from_json(good, &why)) << why;

  nlohmann::json j = good;
  j["version"] = 99;
  EXPECT_FALSE(model_from_json(j, &why));
  EXPECT_NE(why.find("version 99"), std::string::npos);

  j = good;
  j["features"][4]["name"] = "no_such_feature";
  EXPECT_FALSE(model_from_json(j, &why));

  j = good;
  j["format"] = "something-else";
  EXPECT_FALSE(model_from_json(j, &why));

  j = good;
  j["trees"][0]["right"][0] = 0;  // a cycle
  EXPECT_FALSE(model_from_json(j, &why));

  // Indices that are not integers of int's range (fuzzing found -2.2e110 converted to int,
  // undefined behaviour): refused with a reason, for every index field.
  for (const char* field : {"feature", "left", "right"}) {
    for (const nlohmann::json& bad : {nlohmann::json(-2.2e110), nlohmann::json(1.5),
                                      nlohmann::json(int64_t{1} << 40), nlohmann::json("3")}) {
      j = good;
      j["trees"][0][field][0] = bad;
      why.clear();
      EXPECT_FALSE(model_from_json(j, &why)) << field << " " << bad;
      EXPECT_NE(why.find("not an integer"), std::string::npos) << field << " " << bad << ": " << why;
    }
  }

  // A numeric threshold beyond a float's range (fuzzing: 3.3e114 became infinity, written back
  // as null, so the written model did not load again): refused with a reason.
  const auto& feature0 = good["trees"][0]["feature"];
  size_t numeric = 0;
  while (numeric < feature0.size() && !good["trees"][0]["threshold"][numeric].is_number()) ++numeric;
  ASSERT_LT(numeric, feature0.size());
  for (const double bad : {3.3e114, -1e39}) {
    j = good;
    j["trees"][0]["threshold"][numeric] = bad;
    why.clear();
    EXPECT_FALSE(model_from_json(j, &why)) << bad;
    EXPECT_NE(why.find("outside a float's range"), std::string::npos) << bad << ": " << why;
  }
  j = good;
  j["trees"][0]["threshold"][numeric] = 3.0e38;  // within range: loads, and loads again written
  const auto edge = model_from_json(j, &why);
  ASSERT_TRUE(edge) << why;
  EXPECT_TRUE(model_from_json(nlohmann::json::parse(model_file_text(*edge)), &why)) << why;

  // Per-node arrays shorter than the tree, or not arrays, the optional ones included (fuzzing
  // found a short "weight" array read past its end): refused with a reason.
  ASSERT_TRUE(good["trees"][0].contains("weight"));
  ASSERT_GT(good["trees"][0]["feature"].size(), 2u);
  for (const char* field : {"threshold", "left_categories", "left", "right", "value", "weight", "positive"}) {
    for (const nlohmann::json& bad : {nlohmann::json::array({0}), nlohmann::json(1.0),
                                      nlohmann::json::object({{"a", 1}})}) {
      j = good;
      j["trees"][0][field] = bad;
      why.clear();
      EXPECT_FALSE(model_from_json(j, &why)) << field << " " << bad;
      EXPECT_NE(why.find(field), std::string::npos) << field << " " << bad << ": " << why;
      EXPECT_NE(why.find("has the wrong length"), std::string::npos) << field << " " << bad << ": " << why;
    }
  }
  for (const nlohmann::json& bad : {nlohmann::json(3), nlohmann::json::array({1, 2})}) {
    j = good;
    j["trees"][0] = bad;
    EXPECT_FALSE(model_from_json(j, &why)) << bad;
  }

  EXPECT_FALSE(load_model("/nonexistent/model.json", &why));
  EXPECT_NE(why.find("/nonexistent/model.json"), std::string::npos);
}

TEST(ModelFile, ReadsNodesInAnyOrder) {
  // A stump written by hand with its children in reverse order: src_bytes <= 10 -> 0.1,
  // else 0.9.
  nlohmann::json j = to_json(trained(Algo::kTree));
  j["trees"][0] = {{"nodes", 3},
                   {"feature", {4, -1, -1}},
                   {"threshold", {10.0, nullptr, nullptr}},
                   {"left_categories", {nullptr, nullptr, nullptr}},
                   {"left", {2, -1, -1}},
                   {"right", {1, -1, -1}},
                   {"value", {0.5, 0.9, 0.1}}};
  std::string why;
  const auto m = model_from_json(j, &why);
  ASSERT_TRUE(m) << why;
  FeatureRow x{};
  x[4] = 5;
  EXPECT_DOUBLE_EQ(m->score(x), 0.1);
  x[4] = 50;
  EXPECT_DOUBLE_EQ(m->score(x), 0.9);
  EXPECT_DOUBLE_EQ(CompiledModel(*m).score(x), 0.9);
}

// A model whose score is `score` on every row: one leaf.
Model constant(double score, double threshold) {
  Model m;
  m.detector = Detector::kDos;
  m.algo = Algo::kTree;
  Tree t;
  t.nodes.emplace_back();
  t.nodes[0].value = score;
  m.trees.push_back(t);
  m.threshold = threshold;
  return m;
}

// A stump: `value_above` when feature > threshold, else `value_below`.
Model stump(int feature, float threshold, double value_below, double value_above,
            double alert_threshold) {
  Model m;
  m.detector = Detector::kAttack;
  m.algo = Algo::kTree;
  Tree t;
  t.nodes.resize(3);
  t.nodes[0].feature = feature;
  t.nodes[0].threshold = threshold;
  t.nodes[0].right = 2;
  t.nodes[1].value = value_below;
  t.nodes[2].value = value_above;
  m.trees.push_back(t);
  m.threshold = alert_threshold;
  return m;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(ModelFile, VersionOneModelsKeepTheirBytes) {
  for (const char* name : {"dos.json", "attack.json", "bruteforce.json"}) {
    const std::string path = std::string(NETPULSE_SOURCE_DIR) + "/models/" + name;
    if (!std::filesystem::exists(path)) continue;
    std::string why;
    const auto m = load_model(path, &why);
    ASSERT_TRUE(m) << why;
    EXPECT_EQ(model_format_version(*m), 1);
    const std::string bytes = file_bytes(path);
    EXPECT_TRUE(model_file_text(*m) == bytes) << name << " is not written back byte for byte";
  }
}

TEST(ModelFile, NewAlgosAreVersionTwoWithPartsSharingTheFeatures) {
  const Model iso = trained(Algo::kIsolation);
  nlohmann::json j = to_json(iso);
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["algo"], "isolation");
  EXPECT_EQ(j["output"], "isolation_score");
  EXPECT_EQ(j["base_score"], average_path_length(256));
  EXPECT_EQ(j["trees"].size(), 20u);

  const Model any = trained(Algo::kAny);
  j = to_json(any);
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["algo"], "any");
  EXPECT_EQ(j["output"], "max_of_parts");
  EXPECT_EQ(j["threshold"], 0.5);
  EXPECT_EQ(j["features"].size(), kFeatureCount);
  EXPECT_FALSE(j.contains("trees"));
  ASSERT_EQ(j["parts"].size(), 3u);
  for (const auto& part : j["parts"]) {
    EXPECT_FALSE(part.contains("features"));
    EXPECT_FALSE(part.contains("format"));
    EXPECT_FALSE(part.contains("version"));
    EXPECT_TRUE(part.contains("trees"));
    EXPECT_TRUE(part.contains("threshold"));
  }
  EXPECT_EQ(j["parts"][1]["algo"], "isolation");

  // The file: one key per line, a part's trees one per line; it reads back as it was.
  const std::string text = model_file_text(any);
  EXPECT_EQ(nlohmann::json::parse(text), j);
  EXPECT_NE(text.find("\n\"parts\": [\n{\n\"algo\": \"tree\",\n"), std::string::npos);
  EXPECT_NE(text.find("\"trees\": [\n  {\"feature\":"), std::string::npos);
}

TEST(ModelFile, RejectsVersionsAndAlgosItCannotRead) {
  const nlohmann::json iso = to_json(trained(Algo::kIsolation));
  const nlohmann::json any = to_json(trained(Algo::kAny));
  std::string why;
  ASSERT_TRUE(model_from_json(iso, &why)) << why;
  ASSERT_TRUE(model_from_json(any, &why)) << why;

  nlohmann::json j = any;
  j["version"] = 3;
  EXPECT_FALSE(model_from_json(j, &why));
  EXPECT_NE(why.find("version 3"), std::string::npos) << why;
  j["version"] = 0;
  EXPECT_FALSE(model_from_json(j, &why));

  j = iso;
  j["version"] = 1;  // version 1 has no isolation forests
  EXPECT_FALSE(model_from_json(j, &why));
  EXPECT_NE(why.find("needs version 2"), std::string::npos) << why;

  j = iso;
  j["algo"] = "svm";
  EXPECT_FALSE(model_from_json(j, &why));
  EXPECT_NE(why.find("unknown algo 'svm'"), std::string::npos) << why;

  j = iso;
  j["base_score"] = 0.0;  // the normalizer the score divides by
  EXPECT_FALSE(model_from_json(j, &why));

  j = any;
  nlohmann::json nested = any["parts"][0];
  nested["algo"] = "any";
  nested["parts"] = any["parts"];
  nested.erase("trees");
  j["parts"][0] = nested;
  EXPECT_FALSE(model_from_json(j, &why));
  EXPECT_NE(why.find("one level only"), std::string::npos) << why;

  j = any;
  j["parts"] = nlohmann::json::array();
  EXPECT_FALSE(model_from_json(j, &why));

  j = any;
  j["parts"][2]["detector"] = "nobody";
  EXPECT_FALSE(model_from_json(j, &why));
  EXPECT_NE(why.find("part 2"), std::string::npos) << why;
}

TEST(AnyModel, PartScoreMapsEachThresholdToOneHalf) {
  testdetect::Rng rng(5);
  for (int i = 0; i < 200000; ++i) {
    const double t = i < 4 ? std::vector<double>{1e-300, 0.5, 1 - 1e-16, 1}[i] : rng.unit();
    if (t <= 0) continue;
    const double below = std::nextafter(t, 0.0);
    ASSERT_LT(any_part_score(below, t), 0.5) << t;
    ASSERT_GE(any_part_score(t, t), 0.5) << t;
    ASSERT_GE(any_part_score(below, t), 0.0);
    ASSERT_LE(any_part_score(1.0, t), 1.0);
    // Monotone in the part's score.
    const double a = rng.unit(), b = rng.unit();
    ASSERT_LE(any_part_score(std::min(a, b), t), any_part_score(std::max(a, b), t));
  }
  EXPECT_EQ(any_part_score(0.3, 0.0), 0.65);  // a threshold of 0: every row alerts
  EXPECT_EQ(any_part_score(0.0, 0.0), 0.5);
  EXPECT_EQ(any_part_score(1.0, 1.0), 1.0);  // ... of 1: only a score of 1
  EXPECT_EQ(any_part_score(0.5, 1.0), 0.25);
  EXPECT_LT(any_part_score(1.0, 1.5), 0.5);  // ... above 1: none
}

TEST(AnyModel, AlertsIffAnyPartAlerts) {
  const double scores[] = {0.0, 0.2, std::nextafter(0.5, 0.0), 0.5, std::nextafter(0.5, 1.0),
                           0.8, std::nextafter(1.0, 0.0), 1.0};
  const double thresholds[] = {0.0, 1e-9, 0.3, 0.5, std::nextafter(0.5, 1.0), 1.0, 1.5};
  std::vector<Model> parts;
  for (double s : scores)
    for (double t : thresholds) parts.push_back(constant(s, t));
  const FeatureRow x{};
  auto check = [&](const std::vector<Model>& chosen) {
    const Model m = combine_any(Detector::kDos, chosen, nlohmann::json::object());
    bool expected = false;
    for (const Model& p : chosen) expected |= p.positive(x);
    const double score = m.score(x);
    ASSERT_EQ(m.positive(x), expected);
    ASSERT_GE(score, 0.0);
    ASSERT_LE(score, 1.0);
    ASSERT_EQ(CompiledModel(m).score(x), score);
    ASSERT_EQ(CompiledModel(m).threshold(), 0.5);
  };
  for (size_t a = 0; a < parts.size(); ++a) {
    check({parts[a]});
    for (size_t b = 0; b < parts.size(); ++b) check({parts[a], parts[b]});
  }
  for (size_t a = 0; a < parts.size(); a += 5)
    for (size_t b = 1; b < parts.size(); b += 5)
      for (size_t c = 2; c < parts.size(); c += 5) check({parts[a], parts[b], parts[c]});
}

TEST(AnyModel, FlattensCombinedParts) {
  const Model inner = combine_any(Detector::kDos, {constant(0.1, 0.5), constant(0.7, 0.9)}, {});
  const Model outer = combine_any(Detector::kAttack, {inner, constant(0.6, 0.5)}, {{"k", 1}});
  ASSERT_EQ(outer.parts.size(), 3u);
  for (const Model& p : outer.parts) EXPECT_EQ(p.algo, Algo::kTree);
  EXPECT_EQ(outer.detector, Detector::kAttack);
  EXPECT_EQ(outer.training["k"], 1);
  EXPECT_THROW(combine_any(Detector::kDos, {}, {}), std::invalid_argument);
}

TEST(AnyModel, ExplainsWithTheDecidingPartsPath) {
  const int src_bytes = feature_index("src_bytes"), count = feature_index("count");
  // Part A alerts when src_bytes > 10 (0.9 against 0.5); part B when count > 100 (0.8 against
  // 0.7), and below that it is closer to its threshold than A is (0.6 / 0.7 against 0.1 / 0.5).
  const Model m = combine_any(Detector::kAttack,
                              {stump(src_bytes, 10, 0.1, 0.9, 0.5), stump(count, 100, 0.6, 0.8, 0.7)},
                              {});
  const CompiledModel c(m);
  auto path = [&](float bytes, float n) {
    FeatureRow x{};
    x[static_cast<size_t>(src_bytes)] = bytes;
    x[static_cast<size_t>(count)] = n;
    EXPECT_EQ(c.score(x), m.score(x));
    uint8_t out[4];
    const size_t k = c.explain(x.data(), c.score(x) >= c.threshold(), out, 4);
    return std::vector<int>(out, out + k);
  };
  EXPECT_EQ(path(50, 0), std::vector<int>{src_bytes});   // only A alerts
  EXPECT_EQ(path(0, 200), std::vector<int>{count});      // only B alerts
  EXPECT_EQ(path(50, 200), std::vector<int>{src_bytes});  // both: A is further above its own
  EXPECT_EQ(path(0, 0), std::vector<int>{count});        // neither: B is the closer
}

TEST(AnyModel, CompiledEqualsReferenceOnEveryRowOfEveryPartKind) {
  const Model m = combine_any(Detector::kAttack,
                              {trained(Algo::kForest), trained(Algo::kIsolation),
                               trained(Algo::kBoost), trained(Algo::kTree)},
                              {});
  const CompiledModel c(m);
  size_t alerts = 0;
  for (const FeatureRow& x : probe_rows()) {
    const double s = m.score(x);
    ASSERT_EQ(c.score(x), s);
    bool any = false;
    for (const Model& p : m.parts) any |= p.positive(x);
    ASSERT_EQ(s >= m.threshold, any);
    alerts += any;
  }
  EXPECT_GT(alerts, 0u);
}

}  // namespace
}  // namespace netpulse::detect
