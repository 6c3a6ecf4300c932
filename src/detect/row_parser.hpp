// The NSL-KDD row parser: one comma-separated line into a FeatureRow, by hand, in one pass, with
// no allocation (it is the hot path of `netpulse classify`). 41 features, then optionally the
// label (a trailing '.' as in the KDD'99 files is dropped) and the difficulty. Categorical values
// must be in the schema's vocabulary. Stateless apart from its options; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "detect/nslkdd_schema.hpp"

namespace netpulse::detect {

enum class RowStatus : uint8_t {
  kOk,
  kBlank,  // an empty line: not a row, skipped silently
  kTooFewColumns,
  kTooManyColumns,
  kBadNumber,        // a numeric column that is not a plain decimal number
  kUnknownCategory,  // protocol_type, service or flag outside the vocabulary
  kMissingLabel,     // a labelled row was required and the row has 41 columns
  kUnknownLabel,
  kBadDifficulty,
};

const char* describe(RowStatus s);

// Where a malformed row's problem is, for the error report.
struct RowError {
  RowStatus status = RowStatus::kOk;
  int column = -1;         // 0-based column of the offending field, -1 if none
  std::string_view field;  // the offending text inside the line (empty if none)
};

class RowParser {
 public:
  // require_label: rows without a label are malformed (training and evaluation). Otherwise a
  // label column, when present, is checked to be a known label only if check_label is set.
  explicit RowParser(bool require_label = false, bool check_label = false)
      : require_label_(require_label), check_label_(require_label || check_label) {}

  // Parses one line without its '\n' (a trailing '\r' is allowed). On kOk, *label (when not
  // null) is the label's index in label_names(), or -1 for an unlabelled row.
  RowStatus parse(const char* begin, const char* end, FeatureRow& out, int* label = nullptr,
                  RowError* err = nullptr) const;

 private:
  bool require_label_;
  bool check_label_;
};

}  // namespace netpulse::detect
