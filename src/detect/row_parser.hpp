// The NSL-KDD row parser: one comma-separated line into a FeatureRow, by hand, with no allocation
// (it is the hot path of `netpulse classify`). 41 features, then optionally the label (a trailing
// '.' as in the KDD'99 files is dropped) and the difficulty. Categorical values must be in the
// schema's vocabulary. On x86-64 with AVX2 or AVX-512 a row is checked whole with SIMD byte masks
// and only the columns asked for are converted; any row the fast path does not accept is parsed
// again by the scalar reference, which decides the status and the error report, so both give the
// same results.
// Stateless apart from its options; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
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

// The fast path's kernel: AVX-512 (BW, VBMI2) or AVX2 where the CPU has it, else none (the
// scalar reference parses every row).
enum class ParserKernel : uint8_t { kScalar, kAvx2, kAvx512 };
// The kernel parse() and parse_line() use: the best the CPU has, unless set_parser_kernel chose
// another (thread-safe: an atomic).
ParserKernel parser_kernel();
// For tests and benchmarks: forces a kernel, clamped to what the CPU has (read parser_kernel()
// after it to see which one that is).
void set_parser_kernel(ParserKernel kernel);

class RowParser {
 public:
  // require_label: rows without a label are malformed (training and evaluation). Otherwise a
  // label column, when present, is checked to be a known label only if check_label is set.
  // convert: the columns whose values are written to the row (e.g. the features the loaded
  // models split on); every column is still checked as the format requires, but the values of
  // the others are unspecified after a parse.
  explicit RowParser(bool require_label = false, bool check_label = false,
                     FeatureMask convert = kAllFeatures);

  // Parses one line without its '\n' (a trailing '\r' is allowed). On kOk, *label (when not
  // null) is the label's index in label_names(), or -1 for an unlabelled row.
  RowStatus parse(const char* begin, const char* end, FeatureRow& out, int* label = nullptr,
                  RowError* err = nullptr) const;

  // Parses the line that starts at begin and ends at the first '\n' before limit, or at limit;
  // *line_end is set to that '\n' (or limit). The same results as
  // parse(begin, *line_end, ...), with the line end found in the same pass.
  // REQUIRES: begin < limit.
  RowStatus parse_line(const char* begin, const char* limit, const char** line_end,
                       FeatureRow& out, int* label = nullptr, RowError* err = nullptr) const;

  // The scalar reference parser (every column converted): what parse() does on CPUs without
  // AVX2, and the judge of every row the fast path does not accept. For tests.
  RowStatus parse_reference(const char* begin, const char* end, FeatureRow& out,
                            int* label = nullptr, RowError* err = nullptr) const;
  // The fast path alone, for tests: kOk or kBlank when it accepts the line, nullopt when it
  // leaves the line to the reference (or the kernel is kScalar).
  std::optional<RowStatus> parse_fast(const char* begin, const char* end, FeatureRow& out,
                                      int* label = nullptr) const;

 private:
  bool require_label_;
  bool check_label_;
  struct Options;  // the fast path's view of the fields below

  // The numeric columns of `convert`, in order, then repeats of the last up to a multiple of 8
  // (the fast path converts four or eight at a time).
  std::array<uint8_t, kFeatureCount + 3> numeric_columns_{};
  size_t numeric_count4_ = 0;  // rounded up to a multiple of 4
  size_t numeric_count8_ = 0;  // ... of 8
  // Per group of 8 columns whose span is under 16: bit c - first for each column c (the lanes
  // of one masked store); else 0.
  std::array<uint16_t, (kFeatureCount + 7) / 8> group_at_{};
};

}  // namespace netpulse::detect
