#include "detect/model.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "detect/compiled_model.hpp"
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
                         ::testing::Values(Algo::kTree, Algo::kForest, Algo::kBoost),
                         [](const auto& info) { return std::string(algo_name(info.param)); });

TEST(ModelFile, IsSelfDescribing) {
  const Model m = trained(Algo::kTree);
  const nlohmann::json j = to_json(m);
  EXPECT_EQ(j["format"], "netpulse-detector");
  EXPECT_EQ(j["version"], kModelFormatVersion);
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

}  // namespace
}  // namespace netpulse::detect
