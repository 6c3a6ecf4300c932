#include "detect/row_classifier.hpp"

#include <charconv>
#include <cstring>

namespace netpulse::detect {

void ClassifyStats::merge(const ClassifyStats& next) {
  lines += next.lines;
  rows += next.rows;
  malformed += next.malformed;
  for (size_t i = 0; i < alerts.size(); ++i) alerts[i] += next.alerts[i];
  for (const auto& m : next.first_malformed) {
    if (first_malformed.size() >= kMalformedShown) break;
    first_malformed.push_back(m);
  }
}

RowClassifier::RowClassifier(std::span<const CompiledModel> models, size_t path_features)
    : models_(models), path_features_(path_features), parser_(false, false) {}

namespace {

inline void append_chars(std::string& out, const char* s, size_t n) {
  out.append(s, n);
}

template <typename T>
inline void append_number(std::string& out, T v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

inline void append_score(std::string& out, double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 4);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

}  // namespace

void RowClassifier::append_alert(uint64_t line, size_t model, double score, const FeatureRow& x,
                                 std::string& out) const {
  const CompiledModel& m = models_[model];
  out.append("{\"row\":");
  append_number(out, line);
  out.append(",\"detector\":\"");
  const std::string_view name = detector_name(m.detector());
  append_chars(out, name.data(), name.size());
  out.append("\",\"score\":");
  append_score(out, score);
  out.append(",\"path\":{");
  uint8_t features[16];
  // The caller has the score: explain() need not compute it again.
  const size_t n = m.explain(x.data(), score >= m.threshold(), features,
                             std::min<size_t>(path_features_, 16));
  for (size_t k = 0; k < n; ++k) {
    const FeatureInfo& info = feature_info(features[k]);
    if (k) out.push_back(',');
    out.push_back('"');
    append_chars(out, info.name.data(), info.name.size());
    out.append("\":");
    const float v = x[features[k]];
    if (info.type == FeatureType::kCategorical) {
      out.push_back('"');
      const std::string_view value = info.vocabulary[static_cast<size_t>(v)];
      append_chars(out, value.data(), value.size());
      out.push_back('"');
    } else {
      append_number(out, v);
    }
  }
  out.append("}}\n");
}

void RowClassifier::classify(const char* data, size_t size, uint64_t first_line, std::string& out,
                             ClassifyStats& stats) const {
  const char* p = data;
  const char* end = data + size;
  uint64_t line = first_line;
  FeatureRow x;
  const size_t nm = models_.size();
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* eol = nl ? nl : end;
    RowError err;
    const RowStatus s = parser_.parse(p, eol, x, nullptr, &err);
    if (s == RowStatus::kOk) {
      ++stats.rows;
      for (size_t m = 0; m < nm; ++m) {
        const double score = models_[m].score(x.data());
        if (score >= models_[m].threshold()) {
          ++stats.alerts[m];
          append_alert(line, m, score, x, out);
        }
      }
    } else if (s != RowStatus::kBlank) {
      ++stats.malformed;
      if (stats.first_malformed.size() < kMalformedShown)
        stats.first_malformed.push_back(
            MalformedRow{line, s, err.column, std::string(err.field.substr(0, 40))});
    }
    ++line;
    p = eol + 1;
  }
  stats.lines += line - first_line;
}

}  // namespace netpulse::detect
