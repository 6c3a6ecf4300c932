// The streaming classifier's inner loop: parse each NSL-KDD line of a block, run every compiled
// model on it (as each tuple went to every bolt of the original), and append one JSON line per
// alert. Only the columns the models split on are converted (the others are still checked), and
// alert lines are formatted from precomputed pieces. No allocation per row beyond the growth of
// the caller's output buffer. Immutable; one RowClassifier may serve several threads, each with
// its own output buffer and stats.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
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
  // features: the columns the models read (features_used() of each, combined); the others are
  // checked but not converted.
  // REQUIRES: 1 <= models.size() <= kMaxModels; the models outlive the classifier; `features`
  // holds every feature the models split on.
  explicit RowClassifier(std::span<const CompiledModel> models, size_t path_features = 4,
                         FeatureMask features = kAllFeatures);

  // Classifies the lines of [data, data + size) (whole lines; the last may lack its '\n'),
  // the first of which is line number first_line (1-based). Appends alert lines to out.
  void classify(const char* data, size_t size, uint64_t first_line, std::string& out,
                ClassifyStats& stats) const;

  // Appends one alert JSON line (with its '\n').
  void append_alert(uint64_t line, size_t model, double score, const FeatureRow& x,
                    std::string& out) const;

 private:
  // A piece of alert text in text_, followed there by kPieceCopy bytes of padding, so that it
  // is copied with one fixed-size copy (no library call) and the length added.
  struct Piece {
    uint32_t offset = 0, size = 0;
  };
  Piece add_piece(std::string_view text);
  char* put(char* w, Piece p) const;

  // Writes one alert line at w (kAlertBytes room); returns its end.
  char* write_alert(char* w, uint64_t line, size_t model, double score, const FeatureRow& x) const;
  char* write_value(char* w, float v) const;

  static constexpr size_t kPieceCopy = 64;
  static constexpr size_t kAlertBytes = 2048;  // > the longest alert line + kPieceCopy
  static constexpr size_t kBatchBytes = 32 << 10;  // alert lines go to `out` this many at once
  static constexpr size_t kHundredths = 101;

  std::span<const CompiledModel> models_;
  size_t path_features_;
  RowParser parser_;
  std::string text_;
  // `,"detector":"dos","score":` per model, `"count":` per feature, `"http"` per category
  // value (per categorical feature).
  std::vector<Piece> detector_text_;
  std::array<Piece, kFeatureCount> key_text_{};
  std::array<std::vector<Piece>, kFeatureCount> category_text_;
  // The numbers k / 100 (0 <= k <= 100) as the parser makes them from "0.kk", and their text.
  std::array<float, kHundredths> hundredths_{};
  std::array<Piece, kHundredths> hundredths_text_{};
};

}  // namespace netpulse::detect
