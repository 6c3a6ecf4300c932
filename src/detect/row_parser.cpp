#include "detect/row_parser.hpp"

#include <array>
#include <cstring>

namespace netpulse::detect {

namespace {

inline unsigned digit(char c) {
  return static_cast<unsigned>(static_cast<uint8_t>(c) - '0');
}

constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                             1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19};

// A small open-addressing table from short names to indexes, built once. Lookup hashes the
// bytes (FNV-1a) and confirms with one comparison.
class NameTable {
 public:
  template <typename Names>
  explicit NameTable(const Names& names) {
    for (size_t i = 0; i < std::size(names); ++i) {
      const std::string_view n = names[i];
      for (size_t s = hash(n.data(), n.size()) & kMask;; s = (s + 1) & kMask) {
        if (slots_[s].index < 0) {
          slots_[s].name = n;
          slots_[s].index = static_cast<int>(i);
          break;
        }
      }
    }
  }

  int find(const char* p, size_t n) const {
    for (size_t s = hash(p, n) & kMask;; s = (s + 1) & kMask) {
      const Slot& slot = slots_[s];
      if (slot.index < 0) return -1;
      if (slot.name.size() == n && std::memcmp(slot.name.data(), p, n) == 0) return slot.index;
    }
  }

 private:
  static constexpr size_t kSlots = 256;
  static constexpr size_t kMask = kSlots - 1;
  struct Slot {
    std::string_view name;
    int index = -1;
  };
  static uint32_t hash(const char* p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<uint8_t>(p[i])) * 16777619u;
    return h ^ (h >> 15);
  }
  std::array<Slot, kSlots> slots_{};
};

const NameTable& category_table(size_t feature) {
  static const NameTable protocols(feature_info(kProtocolType).vocabulary);
  static const NameTable services(feature_info(kService).vocabulary);
  static const NameTable flags(feature_info(kFlag).vocabulary);
  return feature == kProtocolType ? protocols : feature == kService ? services : flags;
}

const NameTable& label_table() {
  static const NameTable labels(label_names());
  return labels;
}

// Parses a plain decimal number ("0", "491", "0.17") ending at ',' or end; leaves p at the end.
inline bool parse_number(const char*& p, const char* end, float& out) {
  const char* q = p;
  uint64_t m = 0;
  int digits = 0;
  int frac = -1;
  for (; q != end && *q != ','; ++q) {
    const unsigned d = digit(*q);
    if (d <= 9) {
      m = m * 10 + d;
      ++digits;
      if (frac >= 0) ++frac;
    } else if (*q == '.' && frac < 0 && digits > 0) {
      frac = 0;
    } else {
      p = q;
      return false;
    }
  }
  p = q;
  if (digits == 0 || digits > 19 || frac == 0) return false;
  out =
      frac <= 0 ? static_cast<float>(m) : static_cast<float>(static_cast<double>(m) / kPow10[frac]);
  return true;
}

inline const char* field_end(const char* p, const char* end) {
  while (p != end && *p != ',') ++p;
  return p;
}

}  // namespace

const char* describe(RowStatus s) {
  switch (s) {
    case RowStatus::kOk:
      return "ok";
    case RowStatus::kBlank:
      return "blank line";
    case RowStatus::kTooFewColumns:
      return "too few columns (41 features, then label and difficulty)";
    case RowStatus::kTooManyColumns:
      return "too many columns (41 features, then label and difficulty)";
    case RowStatus::kBadNumber:
      return "not a number";
    case RowStatus::kUnknownCategory:
      return "unknown category value";
    case RowStatus::kMissingLabel:
      return "missing label";
    case RowStatus::kUnknownLabel:
      return "unknown label";
    case RowStatus::kBadDifficulty:
      return "difficulty is not a whole number";
  }
  return "unknown";
}

RowStatus RowParser::parse(const char* begin, const char* end, FeatureRow& out, int* label,
                           RowError* err) const {
  if (end != begin && end[-1] == '\r') --end;
  if (begin == end) return RowStatus::kBlank;
  const char* p = begin;
  auto fail = [&](RowStatus s, int column, const char* from, const char* to) {
    if (err) *err = RowError{s, column, std::string_view(from, static_cast<size_t>(to - from))};
    return s;
  };

  for (size_t c = 0; c < kFeatureCount; ++c) {
    if (c > 0) {
      if (p == end) return fail(RowStatus::kTooFewColumns, static_cast<int>(c), p, p);
      ++p;  // the ','
    }
    const char* start = p;
    if (c >= kProtocolType && c <= kFlag) {
      p = field_end(p, end);
      const int index = category_table(c).find(start, static_cast<size_t>(p - start));
      if (index < 0) return fail(RowStatus::kUnknownCategory, static_cast<int>(c), start, p);
      out[c] = static_cast<float>(index);
    } else if (!parse_number(p, end, out[c])) {
      return fail(RowStatus::kBadNumber, static_cast<int>(c), start, field_end(p, end));
    }
  }

  int label_value = -1;
  if (p != end) {
    ++p;
    const char* start = p;
    p = field_end(p, end);
    if (check_label_) {
      const char* stop = p;
      if (stop != start && stop[-1] == '.') --stop;  // KDD'99 writes "smurf."
      label_value = label_table().find(start, static_cast<size_t>(stop - start));
      if (label_value < 0)
        return fail(RowStatus::kUnknownLabel, static_cast<int>(kFeatureCount), start, p);
    }
    if (p != end) {
      ++p;
      start = p;
      p = field_end(p, end);
      bool ok = p != start && p - start <= 9;
      for (const char* q = start; ok && q != p; ++q) ok = digit(*q) <= 9;
      if (!ok)
        return fail(RowStatus::kBadDifficulty, static_cast<int>(kFeatureCount + 1), start, p);
      if (p != end)
        return fail(RowStatus::kTooManyColumns, static_cast<int>(kFeatureCount + 2), p + 1, end);
    }
  } else if (require_label_) {
    return fail(RowStatus::kMissingLabel, static_cast<int>(kFeatureCount), p, p);
  }
  if (label) *label = label_value;
  return RowStatus::kOk;
}

}  // namespace netpulse::detect
