#include "detect/xgboost_trainer.hpp"

#include <xgboost/c_api.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

#include "core/shared_library.hpp"

namespace netpulse::detect {

using nlohmann::json;

namespace {

// XGBoost, loaded when a booster is first trained or read (core/shared_library.hpp): every
// call goes through xgb(), which throws std::runtime_error when it cannot be loaded; the entry
// points below call xgb_loaded() first.
#define NETPULSE_XGB_FUNCTIONS(X) \
  X(XGBGetLastError)              \
  X(XGBoostVersion)               \
  X(XGBoosterCreate)              \
  X(XGBoosterFree)                \
  X(XGBoosterGetNumFeature)       \
  X(XGBoosterLoadModelFromBuffer) \
  X(XGBoosterPredictFromDMatrix)  \
  X(XGBoosterSaveModelToBuffer)   \
  X(XGBoosterSetParam)            \
  X(XGBoosterUpdateOneIter)       \
  X(XGDMatrixCreateFromMat)       \
  X(XGDMatrixFree)                \
  X(XGDMatrixSetFloatInfo)        \
  X(XGDMatrixSetStrFeatureInfo)

NETPULSE_LAZY_API(XgbApi, xgb, NETPULSE_XGBOOST_SONAME, "XGBoost", NETPULSE_XGB_FUNCTIONS)

// Loads XGBoost; false, with the reason, when it cannot be.
bool xgb_loaded(std::string* why) {
  return core::ok_or_why(core::load_library(xgb), why);
}

// XGBoost's last error, as one line: the first line, without the time stamp and source location
// that CHECK failures carry ("[17:11:21] ./src/objective/regression_loss.h:94: Check failed...").
std::string last_error() {
  std::string s = xgb().XGBGetLastError();
  s = s.substr(0, s.find('\n'));
  if (!s.empty() && s[0] == '[') {
    const size_t end = s.find("] ");
    if (end != std::string::npos) s.erase(0, end + 2);
  }
  if (!s.empty() && (s[0] == '.' || s[0] == '/')) {
    const size_t end = s.find(": ");
    if (end != std::string::npos) s.erase(0, end + 2);
  }
  return s.empty() ? "unknown XGBoost error" : s;
}

// Every C API call goes through here: false, with the reason, when XGBoost reports an error.
bool ok(int rc, const char* what, std::string* why) {
  if (rc == 0) return true;
  if (why) *why = std::string("xgboost ") + what + ": " + last_error();
  return false;
}

// Owning handles: freed however the function leaves.
class DMatrix {
 public:
  DMatrix() = default;
  DMatrix(const DMatrix&) = delete;
  DMatrix& operator=(const DMatrix&) = delete;
  ~DMatrix() {
    if (h_) xgb().XGDMatrixFree(h_);
  }
  DMatrixHandle get() const { return h_; }
  DMatrixHandle* out() { return &h_; }

 private:
  DMatrixHandle h_ = nullptr;
};

class Booster {
 public:
  Booster() = default;
  Booster(const Booster&) = delete;
  Booster& operator=(const Booster&) = delete;
  ~Booster() {
    if (h_) xgb().XGBoosterFree(h_);
  }
  BoosterHandle get() const { return h_; }
  BoosterHandle* out() { return &h_; }

 private:
  BoosterHandle h_ = nullptr;
};

std::string column_name(const XgboostColumn& c) {
  const FeatureInfo& info = feature_info(c.feature);
  std::string name(info.name);
  if (c.category >= 0) name += "=" + std::string(info.vocabulary[static_cast<size_t>(c.category)]);
  return name;
}

// The rows as XGBoost's dense matrix (row-major), with the columns named, so the booster's own
// JSON says what each split index is.
bool make_matrix(std::span<const FeatureRow> rows, const std::vector<uint32_t>* index,
                 const std::vector<XgboostColumn>& cols, DMatrix& out, std::string* why) {
  const size_t n = index ? index->size() : rows.size();
  std::vector<float> x(n * cols.size());
  for (size_t r = 0; r < n; ++r) {
    const FeatureRow& row = rows[index ? (*index)[r] : r];
    float* dst = &x[r * cols.size()];
    for (size_t c = 0; c < cols.size(); ++c) {
      const float v = row[cols[c].feature];
      dst[c] =
          cols[c].category < 0 ? v : static_cast<float>(static_cast<int>(v) == cols[c].category);
    }
  }
  // Missing is NaN, which no row holds: 0 is a value like any other.
  if (!ok(xgb().XGDMatrixCreateFromMat(x.data(), n, cols.size(),
                                       std::numeric_limits<float>::quiet_NaN(), out.out()),
          "creating the matrix", why))
    return false;
  std::vector<std::string> names;
  std::vector<const char*> name_ptrs, type_ptrs;
  for (const XgboostColumn& c : cols) names.push_back(column_name(c));
  for (size_t c = 0; c < cols.size(); ++c) {
    name_ptrs.push_back(names[c].c_str());
    type_ptrs.push_back(cols[c].category < 0 ? "q" : "i");  // quantitative, indicator
  }
  return ok(xgb().XGDMatrixSetStrFeatureInfo(out.get(), "feature_name", name_ptrs.data(),
                                             cols.size()),
            "naming the columns", why) &&
         ok(xgb().XGDMatrixSetStrFeatureInfo(out.get(), "feature_type", type_ptrs.data(),
                                             cols.size()),
            "typing the columns", why);
}

// A float in its shortest form that XGBoost's parameter parser reads back exactly.
std::string float_text(float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// XGBoost writes floats in their shortest decimal form; read them as the float they were.
double as_float(const json& j) {
  return static_cast<double>(static_cast<float>(j.get<double>()));
}

// One XGBoost tree (its JSON arrays) into ours, in preorder from node i.
struct TreeConverter {
  const json& t;
  const std::vector<XgboostColumn>& cols;
  float eta;
  Tree out;

  void copy(size_t i, int depth) {
    if (depth > 256) throw std::runtime_error("tree deeper than 256 (a cycle?)");
    TreeNode node;
    node.weight = t.contains("sum_hessian") ? as_float(t["sum_hessian"].at(i)) : 0.0;
    const int left = t.at("left_children").at(i).get<int>();
    if (left < 0) {
      // A leaf's split_conditions holds its value, the learning rate applied.
      node.value = as_float(t.at("split_conditions").at(i));
      out.nodes.push_back(node);
      return;
    }
    // Internal nodes: base_weights is the weight before the learning rate (exact and hist
    // alike), so this is the value the node would have as a leaf.
    node.value =
        static_cast<double>(static_cast<float>(t.at("base_weights").at(i).get<double>()) * eta);
    const size_t column = t.at("split_indices").at(i).get<size_t>();
    if (column >= cols.size()) throw std::runtime_error("split on an unknown column");
    const XgboostColumn& c = cols[column];
    const float cond = static_cast<float>(t.at("split_conditions").at(i).get<double>());
    node.feature = c.feature;
    if (c.category < 0) {
      // XGBoost: x < cond goes left; ours: x <= threshold. For floats the two agree.
      node.threshold = std::nextafter(cond, -std::numeric_limits<float>::infinity());
    } else {
      // The indicator is 1 for category c.category, 0 for every other.
      const size_t n = feature_info(c.feature).vocabulary.size();
      for (size_t k = 0; k < n; ++k) {
        const float v = static_cast<int>(k) == c.category ? 1.0f : 0.0f;
        if (v < cond) node.left_categories.add(static_cast<unsigned>(k));
      }
    }
    const size_t at = out.nodes.size();
    out.nodes.push_back(node);
    copy(static_cast<size_t>(left), depth + 1);
    out.nodes[at].right = static_cast<int32_t>(out.nodes.size());
    copy(t.at("right_children").at(i).get<size_t>(), depth + 1);
  }
};

}  // namespace

std::vector<XgboostColumn> xgboost_columns(FeatureMask features) {
  std::vector<XgboostColumn> cols;
  for (size_t f = 0; f < kFeatureCount; ++f) {
    if (!((features >> f) & 1)) continue;
    const FeatureInfo& info = feature_info(f);
    if (info.type == FeatureType::kNumeric) {
      cols.push_back({static_cast<uint8_t>(f), -1});
    } else {
      for (size_t k = 0; k < info.vocabulary.size(); ++k)
        cols.push_back({static_cast<uint8_t>(f), static_cast<int16_t>(k)});
    }
  }
  return cols;
}

std::string xgboost_version() {
  std::string why;
  if (!xgb_loaded(&why)) return "xgboost (" + why + ")";
  int major = 0, minor = 0, patch = 0;
  xgb().XGBoostVersion(&major, &minor, &patch);
  return "xgboost " + std::to_string(major) + "." + std::to_string(minor) + "." +
         std::to_string(patch);
}

std::optional<Model> train_xgboost(const Dataset& data, Detector detector,
                                   const TrainOptions& options, std::string* why,
                                   std::string* booster_json) {
  std::string scratch;
  if (!why) why = &scratch;
  if (!xgb_loaded(why)) return std::nullopt;
  TrainOptions o = options;
  o.algo = Algo::kBoost;
  o = o.resolved();
  o.features &= kAllFeatures;
  if (o.features == 0) {
    *why = "no feature left to train on (the feature mask is empty)";
    return std::nullopt;
  }
  if (!std::isfinite(o.learning_rate)) {
    *why = "learning rate is not a number";
    return std::nullopt;
  }
  const std::vector<uint32_t> idx = ratio_sample(data, detector, o.ratio, o.seed);
  if (idx.empty()) {
    *why = "no training rows for detector " + std::string(detector_name(detector));
    return std::nullopt;
  }
  std::vector<float> labels(idx.size());
  size_t positives = 0;
  for (size_t r = 0; r < idx.size(); ++r) {
    labels[r] = detector_positive(detector, data.labels[idx[r]]) ? 1.0f : 0.0f;
    positives += labels[r] != 0;
  }
  const std::vector<XgboostColumn> cols = xgboost_columns(o.features);

  DMatrix train;
  if (!make_matrix(data.rows, &idx, cols, train, why) ||
      !ok(xgb().XGDMatrixSetFloatInfo(train.get(), "label", labels.data(), labels.size()),
          "setting the labels", why))
    return std::nullopt;

  // Start from the positive fraction, as our boost does (XGBoost needs it inside (0, 1)).
  const float base_score = static_cast<float>(
      std::clamp(static_cast<double>(positives) / static_cast<double>(idx.size()), 1e-6, 1 - 1e-6));
  // The parameters that decide the model, recorded in the file; nthread and verbosity do not.
  const std::vector<std::pair<std::string, std::string>> params{
      {"objective", "binary:logistic"},
      {"tree_method", "hist"},
      {"max_bin", "256"},
      {"max_depth", std::to_string(o.max_depth)},
      {"eta", float_text(static_cast<float>(o.learning_rate))},
      {"min_child_weight", float_text(0.25f * static_cast<float>(o.min_samples_leaf))},
      {"lambda", "1"},
      {"gamma", "0"},
      {"subsample", "1"},
      {"colsample_bytree", "1"},
      {"base_score", float_text(base_score)},
      // XGBoost's seed is a signed 64-bit integer.
      {"seed", std::to_string(o.seed & static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))},
  };

  Booster booster;
  DMatrixHandle cache[] = {train.get()};
  if (!ok(xgb().XGBoosterCreate(cache, 1, booster.out()), "creating the booster", why))
    return std::nullopt;
  for (const auto& [key, value] : params)
    if (!ok(xgb().XGBoosterSetParam(booster.get(), key.c_str(), value.c_str()),
            "setting parameters", why))
      return std::nullopt;
  if (!ok(xgb().XGBoosterSetParam(booster.get(), "nthread",
                                  std::to_string(std::max(1, o.threads)).c_str()),
          "setting parameters", why) ||
      !ok(xgb().XGBoosterSetParam(booster.get(), "verbosity", "0"), "setting parameters", why) ||
      !ok(xgb().XGBoosterSetParam(booster.get(), "validate_parameters", "1"), "setting parameters",
          why))
    return std::nullopt;
  // A failed round leaves the booster unusable (a further round may crash): stop at the first.
  for (int t = 0; t < o.trees; ++t)
    if (!ok(xgb().XGBoosterUpdateOneIter(booster.get(), t, train.get()), "training", why))
      return std::nullopt;

  bst_ulong len = 0;
  const char* buf = nullptr;
  if (!ok(xgb().XGBoosterSaveModelToBuffer(booster.get(), R"({"format": "json"})", &len, &buf),
          "saving the model", why))
    return std::nullopt;
  const std::string text(buf, len);
  if (booster_json) *booster_json = text;

  Model m;
  m.detector = detector;
  m.algo = Algo::kBoost;
  try {
    const json j = json::parse(text);
    const json& learner = j.at("learner");
    // A probability, as a string ("5E-1"); the margin it starts from is its logit, computed in
    // float as XGBoost does (ProbToMargin), so both sums start from the same number.
    const float b =
        std::stof(learner.at("learner_model_param").at("base_score").get<std::string>());
    m.base_score = static_cast<double>(-std::log(1.0f / b - 1.0f));
    const float eta = static_cast<float>(o.learning_rate);
    for (const json& t : learner.at("gradient_booster").at("model").at("trees")) {
      if (t.contains("split_type"))
        for (const json& s : t["split_type"])
          if (s.get<int>() != 0) throw std::runtime_error("categorical split in the booster");
      TreeConverter conv{t, cols, eta, {}};
      conv.copy(0, 0);
      m.trees.push_back(std::move(conv.out));
    }
  } catch (const std::exception& e) {
    *why = std::string("reading XGBoost's model: ") + e.what();
    return std::nullopt;
  }
  if (m.trees.size() != static_cast<size_t>(o.trees)) {
    *why = "XGBoost's model has " + std::to_string(m.trees.size()) + " trees, not " +
           std::to_string(o.trees);
    return std::nullopt;
  }

  json opts = o.to_json();
  opts["algo"] = "xgboost";
  json xgb = json::object();
  for (const auto& [key, value] : params) xgb[key] = value;
  opts["xgboost"] = std::move(xgb);
  size_t nodes = 0, depth = 0;
  for (const Tree& t : m.trees) {
    nodes += t.nodes.size();
    depth = std::max(depth, t.depth());
  }
  m.training = json{{"options", std::move(opts)}, {"library", xgboost_version()},
                    {"data_sha256", data.sha256}, {"rows", idx.size()},
                    {"positives", positives},     {"negatives", idx.size() - positives},
                    {"trees", m.trees.size()},    {"nodes", nodes},
                    {"max_depth_reached", depth}};
  m.training["training_set_metrics"] = metrics_json(evaluate(m, data));
  return m;
}

std::optional<std::vector<float>> xgboost_predict(std::string_view booster_json,
                                                  std::span<const FeatureRow> rows,
                                                  FeatureMask features, std::string* why) {
  std::string scratch;
  if (!why) why = &scratch;
  if (!xgb_loaded(why)) return std::nullopt;
  const std::vector<XgboostColumn> cols = xgboost_columns(features & kAllFeatures);
  Booster booster;
  if (!ok(xgb().XGBoosterCreate(nullptr, 0, booster.out()), "creating the booster", why) ||
      !ok(xgb().XGBoosterLoadModelFromBuffer(booster.get(), booster_json.data(),
                                             booster_json.size()),
          "loading the model", why))
    return std::nullopt;
  bst_ulong n_features = 0;
  if (!ok(xgb().XGBoosterGetNumFeature(booster.get(), &n_features), "reading the model", why))
    return std::nullopt;
  if (n_features != cols.size()) {
    *why = "the model has " + std::to_string(n_features) + " columns, the feature mask gives " +
           std::to_string(cols.size());
    return std::nullopt;
  }
  DMatrix matrix;
  if (!make_matrix(rows, nullptr, cols, matrix, why)) return std::nullopt;
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  if (!ok(xgb().XGBoosterPredictFromDMatrix(
              booster.get(), matrix.get(),
              R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false})",
              &shape, &dim, &result),
          "predicting", why))
    return std::nullopt;
  if (dim < 1 || shape[0] != rows.size()) {
    *why = "xgboost predicting: unexpected output shape";
    return std::nullopt;
  }
  // Copy out before the booster (which owns the buffer) goes.
  return std::vector<float>(result, result + rows.size());
}

}  // namespace netpulse::detect
