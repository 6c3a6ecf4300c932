// A labelled NSL-KDD data set in memory, for training and evaluation: feature rows, label
// indexes, and what was wrong with the lines that were skipped. Also the SHA-256 of the bytes
// it was read from, which the model file records. Plain value; not synchronized.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "detect/nslkdd_schema.hpp"
#include "detect/row_parser.hpp"

namespace netpulse::detect {

struct MalformedRow {
  uint64_t line = 0;
  RowStatus status = RowStatus::kOk;
  int column = -1;
  std::string field;
};

struct Dataset {
  std::vector<FeatureRow> rows;
  std::vector<int16_t> labels;  // index in label_names()
  uint64_t malformed = 0;
  std::vector<MalformedRow> first_malformed;  // the first 10
  std::string sha256;                         // of the input bytes, hex

  size_t size() const { return rows.size(); }
  // The rows this detector trains and evaluates on (normal plus its family).
  Dataset select(Detector d) const;
};

// Parses labelled rows from text (rows without a label are malformed).
Dataset parse_dataset(std::string_view text);

// Reads a file; returns false with a one-line reason naming it.
bool read_file(const std::string& path, std::string& out, std::string* why);

// A one-line description of a malformed row: "line 7: not a number in column 5 'x1'".
std::string describe(const MalformedRow& m);

}  // namespace netpulse::detect
