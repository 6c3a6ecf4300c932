// Synthetic NSL-KDD rows with a known rule, for the detector tests. Header-only.
#pragma once

#include <cstdint>
#include <string>

#include "detect/dataset.hpp"
#include "detect/nslkdd_schema.hpp"
#include "detect/random.hpp"

namespace netpulse::testdetect {

// SplitMix64 (the trainers' own), so the data is the same on every platform.
using Rng = detect::Rng;

// A random but well-formed row: every feature drawn, rates with two decimals.
inline detect::FeatureRow random_row(Rng& rng) {
  detect::FeatureRow x{};
  for (size_t f = 0; f < detect::kFeatureCount; ++f) {
    const auto& info = detect::feature_info(f);
    if (info.type == detect::FeatureType::kCategorical) {
      x[f] = static_cast<float>(rng.below(info.vocabulary.size()));
    } else if (info.name.find("rate") != std::string_view::npos) {
      x[f] = static_cast<float>(static_cast<double>(rng.below(101)) / 100.0);
    } else {
      x[f] = static_cast<float>(rng.below(2000));
    }
  }
  return x;
}

// The text of a row as NSL-KDD writes it (with label and difficulty when label is not empty).
inline std::string row_text(const detect::FeatureRow& x, const std::string& label,
                            int difficulty = 20) {
  std::string s;
  for (size_t f = 0; f < detect::kFeatureCount; ++f) {
    if (f) s += ',';
    const auto& info = detect::feature_info(f);
    if (info.type == detect::FeatureType::kCategorical) {
      s += info.vocabulary[static_cast<size_t>(x[f])];
    } else if (info.name.find("rate") != std::string_view::npos) {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(x[f]));
      s += buf;
    } else {
      s += std::to_string(static_cast<long long>(x[f]));
    }
  }
  if (!label.empty()) s += "," + label + "," + std::to_string(difficulty);
  return s;
}

// The known rule: an attack ("neptune") when src_bytes > 1000 and the service is one of
// http, smtp, ftp; else normal.
inline bool known_rule(const detect::FeatureRow& x) {
  const int http = detect::category_index(detect::kService, "http");
  const int smtp = detect::category_index(detect::kService, "smtp");
  const int ftp = detect::category_index(detect::kService, "ftp");
  const int s = static_cast<int>(x[detect::kService]);
  return x[4] > 1000 && (s == http || s == smtp || s == ftp);
}

// n rows following known_rule; the services are drawn so that about a third are attacks.
inline std::string known_rule_text(size_t n, uint64_t seed) {
  Rng rng(seed);
  const int picks[] = {detect::category_index(detect::kService, "http"),
                       detect::category_index(detect::kService, "smtp"),
                       detect::category_index(detect::kService, "ftp")};
  std::string text;
  for (size_t i = 0; i < n; ++i) {
    detect::FeatureRow x = random_row(rng);
    if (rng.below(2) == 0) x[detect::kService] = static_cast<float>(picks[rng.below(3)]);
    text += row_text(x, known_rule(x) ? "neptune" : "normal") + "\n";
  }
  return text;
}

// The known rule's rows, parsed once: 4,000 to train on and 3,000 held out.
inline const detect::Dataset& known_rule_data() {
  static const detect::Dataset ds = detect::parse_dataset(known_rule_text(4000, 7));
  return ds;
}
inline const detect::Dataset& known_rule_test() {
  static const detect::Dataset ds = detect::parse_dataset(known_rule_text(3000, 99));
  return ds;
}

}  // namespace netpulse::testdetect
