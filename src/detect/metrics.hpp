// Binary classification figures (positive = "attack of this family"): the confusion counts and
// what derives from them, and the mean and standard deviation over cross-validation folds.
// Plain values; thread-safe.
#pragma once

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace netpulse::detect {

struct Confusion {
  uint64_t tp = 0, fp = 0, tn = 0, fn = 0;

  void add(bool predicted, bool actual) {
    if (predicted)
      (actual ? tp : fp)++;
    else
      (actual ? fn : tn)++;
  }
  uint64_t rows() const { return tp + fp + tn + fn; }
  double accuracy() const { return ratio(tp + tn, rows()); }
  double precision() const { return ratio(tp, tp + fp); }
  double recall() const { return ratio(tp, tp + fn); }
  double f1() const {
    const double p = precision(), r = recall();
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
  }
  double false_positive_rate() const { return ratio(fp, fp + tn); }

  static double ratio(uint64_t a, uint64_t b) {
    return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0;
  }
};

// Spec section 7's object, without the detector name.
inline nlohmann::json metrics_json(const Confusion& c) {
  return {{"rows", c.rows()},
          {"accuracy", c.accuracy()},
          {"precision", c.precision()},
          {"recall", c.recall()},
          {"f1", c.f1()},
          {"false_positive_rate", c.false_positive_rate()},
          {"confusion", {{"tp", c.tp}, {"fp", c.fp}, {"tn", c.tn}, {"fn", c.fn}}}};
}

struct MeanSd {
  double mean = 0, sd = 0;  // sd: sample standard deviation (n - 1)
};

inline MeanSd mean_sd(const std::vector<double>& v) {
  MeanSd out;
  if (v.empty()) return out;
  for (double x : v) out.mean += x;
  out.mean /= static_cast<double>(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - out.mean) * (x - out.mean);
    out.sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  }
  return out;
}

}  // namespace netpulse::detect
