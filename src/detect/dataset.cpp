#include "detect/dataset.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "detect/sha256.hpp"

namespace netpulse::detect {

Dataset Dataset::select(Detector d) const {
  Dataset out;
  out.sha256 = sha256;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (!detector_uses(d, labels[i])) continue;
    out.rows.push_back(rows[i]);
    out.labels.push_back(labels[i]);
  }
  return out;
}

Dataset parse_dataset(std::string_view text) {
  Dataset ds;
  ds.sha256 = sha256_hex(text);
  const RowParser parser(/*require_label=*/true);
  const char* p = text.data();
  const char* end = p + text.size();
  uint64_t line = 0;
  FeatureRow row;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* eol = nl ? nl : end;
    ++line;
    int label = -1;
    RowError err;
    const RowStatus s = parser.parse(p, eol, row, &label, &err);
    if (s == RowStatus::kOk) {
      ds.rows.push_back(row);
      ds.labels.push_back(static_cast<int16_t>(label));
    } else if (s != RowStatus::kBlank) {
      ++ds.malformed;
      if (ds.first_malformed.size() < 10)
        ds.first_malformed.push_back(
            MalformedRow{line, s, err.column, std::string(err.field.substr(0, 40))});
    }
    p = eol + 1;
  }
  return ds;
}

bool read_file(const std::string& path, std::string& out, std::string* why) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    if (why) *why = path + ": is a directory";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (why) *why = path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    if (why) *why = path + ": read error";
    return false;
  }
  out = std::move(ss).str();
  return true;
}

std::string describe(const MalformedRow& m) {
  std::string s = "line " + std::to_string(m.line) + ": " + describe(m.status);
  if (m.column >= 0) {
    s += " in column " + std::to_string(m.column + 1);
    if (m.column < static_cast<int>(kFeatureCount))
      s += " (" + std::string(feature_info(static_cast<size_t>(m.column)).name) + ")";
  }
  if (!m.field.empty()) s += " '" + m.field + "'";
  return s;
}

}  // namespace netpulse::detect
