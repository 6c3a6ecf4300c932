// The streaming classifier's inner loop: parse each NSL-KDD line of a block, run every compiled
// model on it (as each tuple went to every bolt of the original), and append one JSON line per
// alert. No allocation per row beyond the growth of the caller's output buffer. Immutable; one
// RowClassifier may serve several threads, each with its own output buffer and stats.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "detect/compiled_model.hpp"
#include "detect/dataset.hpp"
#include "detect/row_parser.hpp"

namespace netpulse::detect {

inline constexpr size_t kMaxModels = 16;
inline constexpr size_t kMalformedShown = 10;

struct ClassifyStats {
  uint64_t lines = 0;
  uint64_t rows = 0;  // well-formed rows classified
  uint64_t malformed = 0;
  std::array<uint64_t, kMaxModels> alerts{};
  std::vector<MalformedRow> first_malformed;  // up to kMalformedShown, in line order

  // Adds the stats of the next block (in input order).
  void merge(const ClassifyStats& next);
};

class RowClassifier {
 public:
  // REQUIRES: 1 <= models.size() <= kMaxModels; the models outlive the classifier.
  explicit RowClassifier(std::span<const CompiledModel> models, size_t path_features = 4);

  // Classifies the lines of [data, data + size) (whole lines; the last may lack its '\n'),
  // the first of which is line number first_line (1-based). Appends alert lines to out.
  void classify(const char* data, size_t size, uint64_t first_line, std::string& out,
                ClassifyStats& stats) const;

  // Appends one alert JSON line (with its '\n').
  void append_alert(uint64_t line, size_t model, double score, const FeatureRow& x,
                    std::string& out) const;

 private:
  std::span<const CompiledModel> models_;
  size_t path_features_;
  RowParser parser_;
};

}  // namespace netpulse::detect
