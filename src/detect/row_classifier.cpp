#include "detect/row_classifier.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>
#include <initializer_list>

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

namespace {

template <size_t N>
inline char* put_literal(char* w, const char (&literal)[N]) {
  std::memcpy(w, literal, N - 1);
  return w + N - 1;
}

// 0 <= n < 10^4, as exactly four digits.
inline char* put4(char* w, uint32_t n) {
  w[0] = static_cast<char>('0' + n / 1000);
  w[1] = static_cast<char>('0' + n / 100 % 10);
  w[2] = static_cast<char>('0' + n / 10 % 10);
  w[3] = static_cast<char>('0' + n % 10);
  return w + 4;
}

// What std::to_chars(v, fixed, 4) writes, without its general machinery for the usual case:
// 0 <= v <= 100 (not -0) and v * 10^4 not within 10^-6 of a half (where rounding the product
// could decide a tie differently from the exact decimal value; those go to std::to_chars).
char* put_score(char* w, double v) {
  if (v >= 0 && v <= 100 && !std::signbit(v)) {
    const double t = v * 1e4;  // within 2^-33 of the exact product: far inside the margin
    const double whole = std::floor(t);
    const double rest = t - whole;
    if (std::fabs(rest - 0.5) > 1e-6) {
      const auto n = static_cast<uint64_t>(whole) + (rest > 0.5 ? 1 : 0);
      w = std::to_chars(w, w + 24, n / 10000).ptr;
      *w++ = '.';
      return put4(w, static_cast<uint32_t>(n % 10000));
    }
  }
  return std::to_chars(w, w + 32, v, std::chars_format::fixed, 4).ptr;
}

// (Appends rather than operator+, which GCC 12 warns about with -Wrestrict, wrongly.)
std::string quoted(std::string_view text) {
  std::string s;
  s.reserve(text.size() + 2);
  s.append(1, '"').append(text).append(1, '"');
  return s;
}

std::string joined(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (std::string_view p : parts) s.append(p);
  return s;
}

}  // namespace

RowClassifier::RowClassifier(std::span<const CompiledModel> models, size_t path_features,
                             FeatureMask features)
    : models_(models),
      path_features_(std::min<size_t>(path_features, 16)),
      parser_(false, false, features) {
  size_t longest_name = 0;
  for (const CompiledModel& m : models_) {
    const std::string_view name = detector_name(m.detector());
    detector_text_.push_back(add_piece(joined({",\"detector\":", quoted(name), ",\"score\":"})));
    longest_name = std::max(longest_name, name.size());
  }
  size_t longest_value = 16;  // a float's shortest text is at most 15 bytes
  size_t longest_key = 0;
  for (size_t f = 0; f < kFeatureCount; ++f) {
    const FeatureInfo& info = feature_info(f);
    key_text_[f] = add_piece(joined({quoted(info.name), ":"}));
    longest_key = std::max<size_t>(longest_key, key_text_[f].size);
    for (std::string_view v : info.vocabulary) {
      category_text_[f].push_back(add_piece(quoted(v)));
      longest_value = std::max(longest_value, v.size() + 2);
    }
  }
  for (size_t k = 0; k < kHundredths; ++k) {
    hundredths_[k] = static_cast<float>(static_cast<double>(k) / 100.0);
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, hundredths_[k]);
    hundredths_text_[k] = add_piece(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
  }
  // The buffer write_alert fills must hold the longest line and a piece's padding.
  const size_t longest = 128 + longest_name + path_features_ * (longest_key + longest_value + 1);
  assert(longest + kPieceCopy <= kAlertBytes);
  (void)longest;
}

RowClassifier::Piece RowClassifier::add_piece(std::string_view text) {
  const Piece p{static_cast<uint32_t>(text_.size()), static_cast<uint32_t>(text.size())};
  text_.append(text);
  text_.append(kPieceCopy, '\0');
  return p;
}

inline char* RowClassifier::put(char* w, Piece p) const {
  const char* from = text_.data() + p.offset;
  if (p.size <= kPieceCopy)
    std::memcpy(w, from, kPieceCopy);
  else
    std::memcpy(w, from, p.size);
  return w + p.size;
}

char* RowClassifier::write_value(char* w, float v) const {
  if (v >= 0 && !std::signbit(v)) {
    // Whole numbers below 10^5: std::to_chars writes their digits (from 10^5 on, "1e+05" is
    // shorter and wins).
    if (v < 1e5f) {
      const auto n = static_cast<uint32_t>(v);
      if (static_cast<float>(n) == v) return std::to_chars(w, w + 16, n).ptr;
    }
    // Rates: the text std::to_chars gave for the very same float.
    if (v <= 1.0f) {
      const auto k = static_cast<size_t>(std::lround(v * 100.0f));
      if (hundredths_[k] == v) return put(w, hundredths_text_[k]);
    }
  }
  return std::to_chars(w, w + 32, v).ptr;
}

char* RowClassifier::write_alert(char* w, uint64_t line, size_t model, double score,
                                 const FeatureRow& x) const {
  const CompiledModel& m = models_[model];
  w = put_literal(w, "{\"row\":");
  w = std::to_chars(w, w + 24, line).ptr;
  w = put(w, detector_text_[model]);
  w = put_score(w, score);
  w = put_literal(w, ",\"path\":{");
  uint8_t features[16];
  // The caller has the score: explain() need not compute it again.
  const size_t n = m.explain(x.data(), score >= m.threshold(), features, path_features_);
  for (size_t k = 0; k < n; ++k) {
    const size_t f = features[k];
    if (k) *w++ = ',';
    w = put(w, key_text_[f]);
    const float v = x[f];
    if (!category_text_[f].empty())
      w = put(w, category_text_[f][static_cast<size_t>(v)]);
    else
      w = write_value(w, v);
  }
  return put_literal(w, "}}\n");
}

void RowClassifier::append_alert(uint64_t line, size_t model, double score, const FeatureRow& x,
                                 std::string& out) const {
  char buf[kAlertBytes];
  const char* end = write_alert(buf, line, model, score, x);
  out.append(buf, static_cast<size_t>(end - buf));
}

void RowClassifier::classify(const char* data, size_t size, uint64_t first_line, std::string& out,
                             ClassifyStats& stats) const {
  const char* p = data;
  const char* const end = data + size;
  uint64_t line = first_line;
  FeatureRow x{};
  const size_t nm = models_.size();
  char batch[kBatchBytes];
  size_t used = 0;
  while (p < end) {
    const char* eol;
    RowError err;
    const RowStatus s = parser_.parse_line(p, end, &eol, x, nullptr, &err);
    if (s == RowStatus::kOk) {
      ++stats.rows;
      for (size_t m = 0; m < nm; ++m) {
        const double score = models_[m].score(x.data());
        if (score >= models_[m].threshold()) {
          ++stats.alerts[m];
          if (used + kAlertBytes > kBatchBytes) {
            out.append(batch, used);
            used = 0;
          }
          used = static_cast<size_t>(write_alert(batch + used, line, m, score, x) - batch);
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
  out.append(batch, used);
  stats.lines += line - first_line;
}

}  // namespace netpulse::detect
