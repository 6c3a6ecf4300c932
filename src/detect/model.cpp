#include "detect/model.hpp"

#include <cerrno>
#include <cstdint>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace netpulse::detect {

using nlohmann::json;

std::optional<Algo> parse_algo(std::string_view name) {
  if (name == "tree") return Algo::kTree;
  if (name == "forest") return Algo::kForest;
  if (name == "boost") return Algo::kBoost;
  if (name == "isolation") return Algo::kIsolation;
  if (name == "any") return Algo::kAny;
  return std::nullopt;
}

std::string_view algo_name(Algo a) {
  switch (a) {
    case Algo::kTree:
      return "tree";
    case Algo::kForest:
      return "forest";
    case Algo::kBoost:
      return "boost";
    case Algo::kIsolation:
      return "isolation";
    case Algo::kAny:
      return "any";
  }
  return "?";
}

namespace {

std::string_view output_name(Algo a) {
  switch (a) {
    case Algo::kTree:
      return "leaf_fraction";
    case Algo::kForest:
      return "mean_leaf_fraction";
    case Algo::kBoost:
      return "sigmoid_of_sum";
    case Algo::kIsolation:
      return "isolation_score";
    case Algo::kAny:
      return "max_of_parts";
  }
  return "?";
}

json tree_to_json(const Tree& t) {
  json feature = json::array(), threshold = json::array(), cats = json::array(),
       left = json::array(), right = json::array(), value = json::array(), weight = json::array(),
       positive = json::array();
  for (size_t i = 0; i < t.nodes.size(); ++i) {
    const TreeNode& n = t.nodes[i];
    feature.push_back(n.feature);
    left.push_back(n.is_leaf() ? -1 : static_cast<int>(i + 1));
    right.push_back(n.right);
    value.push_back(n.value);
    weight.push_back(n.weight);
    positive.push_back(n.positive);
    if (n.is_leaf()) {
      threshold.push_back(nullptr);
      cats.push_back(nullptr);
      continue;
    }
    const FeatureInfo& info = feature_info(static_cast<size_t>(n.feature));
    if (info.type == FeatureType::kNumeric) {
      threshold.push_back(static_cast<double>(n.threshold));
      cats.push_back(nullptr);
    } else {
      threshold.push_back(nullptr);
      json names = json::array();
      for (size_t c = 0; c < info.vocabulary.size(); ++c)
        if (n.left_categories.has(static_cast<unsigned>(c))) names.push_back(info.vocabulary[c]);
      cats.push_back(std::move(names));
    }
  }
  return json{{"nodes", t.nodes.size()}, {"feature", feature}, {"threshold", threshold},
              {"left_categories", cats}, {"left", left},       {"right", right},
              {"value", value},          {"weight", weight},   {"positive", positive}};
}

struct TreeReader {
  const json& j;
  const std::vector<int>& feature_map;  // model feature index -> schema index
  std::string* why;
  Tree out;
  size_t n = 0;

  bool fail(const std::string& s) {
    *why = s;
    return false;
  }

  // An index field (feature, left, right): an integer in int's range. Not get<int>(): it
  // converts a float such as 1e300 with undefined behaviour (found by fuzzing).
  bool index(const char* field, size_t i, int& out) {
    const json& v = j[field][i];
    if (v.is_number_integer() && v.get<int64_t>() >= INT32_MIN && v.get<int64_t>() <= INT32_MAX) {
      out = static_cast<int>(v.get<int64_t>());
      return true;
    }
    return fail(std::string(field) + "[" + std::to_string(i) + "] is not an integer node or feature index");
  }

  // Re-lays the nodes out in preorder (left child next) whatever order the file used.
  bool copy(size_t i, int depth) {
    if (i >= n) return fail("node index " + std::to_string(i) + " out of range");
    if (depth > 256) return fail("tree deeper than 256 (a cycle?)");
    TreeNode node;
    int f = 0;
    if (!index("feature", i, f)) return false;
    node.value = j["value"][i].get<double>();
    if (j.contains("weight")) node.weight = j["weight"][i].get<double>();
    if (j.contains("positive")) node.positive = j["positive"][i].get<double>();
    const size_t at = out.nodes.size();
    if (f < 0) {
      out.nodes.push_back(node);
      return true;
    }
    if (static_cast<size_t>(f) >= feature_map.size()) return fail("feature index out of range");
    node.feature = feature_map[static_cast<size_t>(f)];
    const FeatureInfo& info = feature_info(static_cast<size_t>(node.feature));
    if (info.type == FeatureType::kNumeric) {
      if (!j["threshold"][i].is_number()) return fail("numeric split without a threshold");
      // Thresholds are floats, as the features are: one beyond float's range would become
      // infinity, which the file cannot hold, so the model would not load again once written
      // (found by fuzzing).
      const double threshold = j["threshold"][i].get<double>();
      if (!(std::fabs(threshold) <= std::numeric_limits<float>::max()))
        return fail("threshold[" + std::to_string(i) + "] is outside a float's range");
      node.threshold = static_cast<float>(threshold);
    } else {
      const json& names = j["left_categories"][i];
      if (!names.is_array()) return fail("categorical split without left_categories");
      for (const auto& name : names) {
        const int c = category_index(static_cast<size_t>(node.feature), name.get<std::string>());
        if (c < 0)
          return fail("unknown category '" + name.get<std::string>() + "' of " +
                      std::string(info.name));
        node.left_categories.add(static_cast<unsigned>(c));
      }
    }
    out.nodes.push_back(node);
    int l = 0, r = 0;
    if (!index("left", i, l) || !index("right", i, r)) return false;
    if (l < 0 || r < 0) return fail("split node without two children");
    if (!copy(static_cast<size_t>(l), depth + 1)) return false;
    out.nodes[at].right = static_cast<int32_t>(out.nodes.size());
    return copy(static_cast<size_t>(r), depth + 1);
  }
};

}  // namespace

double Model::score(const FeatureRow& x) const {
  switch (algo) {
    case Algo::kTree:
      return trees.empty() ? 0.0 : trees[0].predict(x);
    case Algo::kForest: {
      double s = 0;
      for (const Tree& t : trees) s += t.predict(x);
      return trees.empty() ? 0.0 : s / static_cast<double>(trees.size());
    }
    case Algo::kBoost: {
      double s = base_score;
      for (const Tree& t : trees) s += t.predict(x);
      return 1.0 / (1.0 + std::exp(-s));
    }
    case Algo::kIsolation: {
      double s = 0;
      for (const Tree& t : trees) s += t.predict(x);
      return trees.empty() ? 0.0 : std::exp2(-(s / static_cast<double>(trees.size())) / base_score);
    }
    case Algo::kAny: {
      double best = 0;
      for (size_t p = 0; p < parts.size(); ++p) {
        const double m = any_part_score(parts[p].score(x), parts[p].threshold);
        if (p == 0 || m > best) best = m;
      }
      return best;
    }
  }
  return 0;
}

Model combine_any(Detector detector, std::vector<Model> parts, json training) {
  if (parts.empty()) throw std::invalid_argument("a combined model needs at least one part");
  Model m;
  m.detector = detector;
  m.algo = Algo::kAny;
  m.threshold = 0.5;
  m.training = std::move(training);
  for (Model& p : parts) {
    if (p.algo != Algo::kAny) {
      m.parts.push_back(std::move(p));
      continue;
    }
    for (Model& q : p.parts) m.parts.push_back(std::move(q));
  }
  return m;
}

int model_format_version(const Model& m) {
  return m.algo == Algo::kTree || m.algo == Algo::kForest || m.algo == Algo::kBoost ? 1 : 2;
}

namespace {

// The keys of a model but format, version and features: a whole model's body, or a part.
json body_to_json(const Model& m) {
  json j{{"detector", detector_name(m.detector)},
         {"algo", algo_name(m.algo)},
         {"output", output_name(m.algo)},
         {"base_score", m.base_score},
         {"threshold", m.threshold},
         {"training", m.training}};
  if (m.algo == Algo::kAny) {
    json parts = json::array();
    for (const Model& p : m.parts) parts.push_back(body_to_json(p));
    j["parts"] = std::move(parts);
  } else {
    json trees = json::array();
    for (const Tree& t : m.trees) trees.push_back(tree_to_json(t));
    j["trees"] = std::move(trees);
  }
  return j;
}

}  // namespace

json to_json(const Model& m) {
  json features = json::array();
  for (const FeatureInfo& f : feature_infos()) {
    json entry{{"name", f.name},
               {"type", f.type == FeatureType::kNumeric ? "numeric" : "categorical"}};
    if (f.type == FeatureType::kCategorical) {
      json values = json::array();
      for (auto v : f.vocabulary) values.push_back(v);
      entry["values"] = std::move(values);
    }
    features.push_back(std::move(entry));
  }
  json j = body_to_json(m);
  j["format"] = kModelFormat;
  j["version"] = model_format_version(m);
  j["features"] = std::move(features);
  return j;
}

namespace {

bool fail(std::string* why, std::string reason) {
  *why = std::move(reason);
  return false;
}

// Reads a model's body (a whole model's, or a part's) from j into m. `part`: j is a part of a
// combined model, which cannot itself be combined.
bool body_from_json(const json& j, int version, const std::vector<int>& feature_map, bool part,
                    Model& m, std::string* why) {
  const std::string detector_text = j.at("detector").get<std::string>();
  const std::string algo_text = j.at("algo").get<std::string>();
  const auto detector = parse_detector(detector_text);
  if (!detector) return fail(why, "unknown detector '" + detector_text + "'");
  const auto algo = parse_algo(algo_text);
  if (!algo)
    return fail(why, "unknown algo '" + algo_text +
                         "' (this netpulse reads tree, forest, boost, isolation and any)");
  m.detector = *detector;
  m.algo = *algo;
  if (model_format_version(m) > version)
    return fail(why, "algo '" + algo_text + "' in a version " + std::to_string(version) +
                         " model (it needs version " + std::to_string(model_format_version(m)) +
                         ")");
  m.base_score = j.value("base_score", 0.0);
  m.threshold = j.value("threshold", 0.5);
  if (j.contains("training")) m.training = j["training"];

  if (m.algo == Algo::kAny) {
    if (part) return fail(why, "a part of an 'any' model is itself an 'any' model (one level only)");
    const json& parts = j.at("parts");
    if (!parts.is_array() || parts.empty()) return fail(why, "'any' model without parts");
    for (size_t p = 0; p < parts.size(); ++p) {
      Model pm;
      if (!body_from_json(parts[p], version, feature_map, true, pm, why)) {
        *why = "part " + std::to_string(p) + ": " + *why;
        return false;
      }
      m.parts.push_back(std::move(pm));
    }
    return true;
  }
  for (const auto& tj : j.at("trees")) {
    TreeReader reader{tj, feature_map, why, {}, 0};
    if (!tj.is_object() || !tj.at("feature").is_array())
      return fail(why, "a tree is not an object with a 'feature' array");
    reader.n = tj.at("feature").size();
    // Every per-node array, the optional ones included: copy() indexes them all by node, and
    // a const json's operator[] does not check the bounds (a short "weight" array was read
    // past its end: found by fuzzing).
    for (const char* key : {"threshold", "left_categories", "left", "right", "value"})
      if (!tj.at(key).is_array() || tj.at(key).size() != reader.n)
        return fail(why, std::string("tree array '") + key + "' has the wrong length");
    for (const char* key : {"weight", "positive"})
      if (tj.contains(key) && (!tj[key].is_array() || tj[key].size() != reader.n))
        return fail(why, std::string("tree array '") + key + "' has the wrong length");
    if (reader.n == 0) return fail(why, "empty tree");
    if (!reader.copy(0, 0)) return false;
    m.trees.push_back(std::move(reader.out));
  }
  if (m.trees.empty()) return fail(why, "model has no trees");
  // Its normalizer: the score divides by it.
  if (m.algo == Algo::kIsolation && !(m.base_score > 0))
    return fail(why, "isolation model with a base_score that is not positive");
  return true;
}

// Writes j (a model or a part) with one key per line; trees one per line, parts as objects of
// their own.
void write_object(std::ostream& out, const json& j) {
  out << "{\n";
  bool first = true;
  for (const auto& [key, value] : j.items()) {
    out << (first ? "" : ",\n") << json(key).dump() << ": ";
    first = false;
    if (key == "trees") {
      out << "[\n";
      for (size_t i = 0; i < value.size(); ++i)
        out << "  " << value[i].dump() << (i + 1 < value.size() ? ",\n" : "\n");
      out << " ]";
    } else if (key == "parts") {
      out << "[\n";
      for (size_t i = 0; i < value.size(); ++i) {
        write_object(out, value[i]);
        out << (i + 1 < value.size() ? ",\n" : "\n");
      }
      out << " ]";
    } else {
      out << value.dump();
    }
  }
  out << "\n}";
}

}  // namespace

std::optional<Model> model_from_json(const json& j, std::string* why) {
  std::string scratch;
  if (!why) why = &scratch;
  try {
    if (!j.is_object() || j.value("format", "") != kModelFormat) {
      *why = "not a netpulse detector model (format is not \"netpulse-detector\")";
      return std::nullopt;
    }
    const int version = j.at("version").get<int>();
    if (version < 1 || version > kModelFormatVersion) {
      *why = "model format version " + std::to_string(version) +
             " (this netpulse reads versions 1 to " + std::to_string(kModelFormatVersion) + ")";
      return std::nullopt;
    }
    std::vector<int> feature_map;
    for (const auto& f : j.at("features")) {
      const std::string name = f.at("name").get<std::string>();
      const int index = feature_index(name);
      if (index < 0) {
        *why = "unknown feature '" + name + "'";
        return std::nullopt;
      }
      const bool categorical = f.at("type").get<std::string>() == "categorical";
      if (categorical !=
          (feature_info(static_cast<size_t>(index)).type == FeatureType::kCategorical)) {
        *why = "feature '" + name + "' has the wrong type";
        return std::nullopt;
      }
      feature_map.push_back(index);
    }
    Model m;
    if (!body_from_json(j, version, feature_map, false, m, why)) return std::nullopt;
    return m;
  } catch (const json::exception& e) {
    *why = std::string("bad model JSON: ") + e.what();
    return std::nullopt;
  }
}

std::string model_file_text(const Model& m) {
  // One key per line and one tree per line: readable at the top, compact where it is big.
  std::ostringstream out;
  write_object(out, to_json(m));
  out << "\n";
  return out.str();
}

bool save_model(const Model& m, const std::string& path, std::string* why) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    if (why) *why = path + ": cannot open for writing";
    return false;
  }
  out << model_file_text(m);
  out.flush();
  if (!out) {
    if (why) *why = path + ": write error";
    return false;
  }
  return true;
}

std::optional<Model> load_model(const std::string& path, std::string* why) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    if (why) *why = path + ": is a directory";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (why) *why = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    if (why) *why = path + ": not a JSON model file (" + e.what() + ")";
    return std::nullopt;
  }
  std::string reason;
  auto m = model_from_json(j, &reason);
  if (!m && why) *why = path + ": " + reason;
  return m;
}

std::string alert_name(std::string_view detector, const std::vector<std::string>& earlier) {
  const std::string name(detector);
  int dup = 1;
  for (const auto& n : earlier) dup += n == name || n.rfind(name + "#", 0) == 0;
  return dup > 1 ? name + "#" + std::to_string(dup) : name;
}

FeatureMask features_used(const Model& model) {
  FeatureMask mask = 0;
  for (const Tree& tree : model.trees)
    for (const TreeNode& node : tree.nodes)
      if (!node.is_leaf() && static_cast<size_t>(node.feature) < kFeatureCount)
        mask |= FeatureMask{1} << node.feature;
  for (const Model& part : model.parts) mask |= features_used(part);
  return mask;
}

}  // namespace netpulse::detect
