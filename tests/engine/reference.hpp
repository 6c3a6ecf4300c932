// A brute-force reference for the engine and the six queries (spec sections 1-5), written to be
// obviously correct rather than fast: it parses every line with plain code, decides lateness in
// arrival order, enumerates every candidate window end, and recomputes each window from the
// list of accepted records with std::map and std::sort. Tests hold the engine to it.
//
// Where a decision rests on a real-number comparison that can tie exactly (outliers: b > mean +
// X*sd; share with an H that is not a multiple of 1/1024), the reference marks the rows within a
// hair of the threshold as `boundary`: the engine may list them or not (see rows_match()).
//
// Header-only; no shared state; thread-safe.
#pragma once

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace netpulse::testref {

enum class KeyMode { kSrc, kDst, kHost };

struct Params {
  double H = 10;
  int64_t T = 10;
  int64_t k = 3;
  double X = 2;
};

struct Options {
  int64_t unit_ms = 1000;
  int64_t slide = 1;     // units
  int64_t lateness = 0;  // units
  KeyMode ip_key = KeyMode::kSrc;
  Params params;
};

// A parameter change that takes effect before line `before_line` (0-based index into the input
// lines) is processed: windows that became final on the lines before it keep the old values.
struct Change {
  size_t before_line = 0;
  Params params;
};

struct Row {
  std::string key;
  uint64_t bytes = 0;
  double share = 0;
  std::optional<double> z;
  bool boundary = false;  // within rounding of the threshold: may be listed or not
};

inline constexpr std::array<const char*, 6> kQueries = {
    "protocol-share", "protocol-topk", "protocol-outliers", "ip-share", "ip-topk", "ip-outliers"};

struct Window {
  int64_t start_ms = 0, end_ms = 0;
  Params params;
  uint64_t records = 0;
  uint64_t total_bytes = 0;
  uint64_t protocol_keys = 0;
  uint64_t ip_keys = 0;
  std::array<std::vector<Row>, 6> rows;  // in kQueries order
};

struct Result {
  std::vector<Window> windows;
  uint64_t lines = 0;      // lines in the input, blank ones included
  uint64_t records = 0;    // well-formed records
  uint64_t accepted = 0;
  uint64_t late = 0;
  uint64_t malformed = 0;
  std::vector<uint64_t> malformed_lines;  // 1-based, all of them
};

// ---------------------------------------------------------------------------------------------
// Parsing, the plain way.

// An address as the spec orders it: IPv4 before IPv6, then numerically (network byte order
// compares lexicographically like the number).
struct Addr {
  bool v6 = false;
  std::array<unsigned char, 16> b{};  // IPv4: the first 4 bytes
  friend bool operator<(const Addr& x, const Addr& y) {
    if (x.v6 != y.v6) return !x.v6;
    return x.b < y.b;
  }
  friend bool operator==(const Addr& x, const Addr& y) { return x.v6 == y.v6 && x.b == y.b; }
  std::string text() const {
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(v6 ? AF_INET6 : AF_INET, b.data(), buf, sizeof buf)) throw std::logic_error("inet_ntop");
    return buf;
  }
};

inline std::optional<Addr> parse_addr(const std::string& s) {
  Addr a;
  if (s.find(':') != std::string::npos) {
    a.v6 = true;
    if (inet_pton(AF_INET6, s.c_str(), a.b.data()) != 1) return std::nullopt;
    return a;
  }
  if (inet_pton(AF_INET, s.c_str(), a.b.data()) != 1) return std::nullopt;
  return a;
}

inline int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && a < 0) --q;
  return q;
}

inline bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// "YYYY-MM-DD" and "HH:MM:SS[.f{1,9}]" to ms since the epoch, or nullopt.
inline std::optional<int64_t> parse_time(const std::string& date, const std::string& time) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-') return std::nullopt;
  if (!all_digits(date.substr(0, 4)) || !all_digits(date.substr(5, 2)) || !all_digits(date.substr(8, 2)))
    return std::nullopt;
  const int year = std::stoi(date.substr(0, 4)), month = std::stoi(date.substr(5, 2)),
            day = std::stoi(date.substr(8, 2));
  static const int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (year < 1 || month < 1 || month > 12 || day < 1) return std::nullopt;
  if (day > kDays[month - 1] + (month == 2 && leap ? 1 : 0)) return std::nullopt;
  if (time.size() < 8 || time[2] != ':' || time[5] != ':') return std::nullopt;
  if (!all_digits(time.substr(0, 2)) || !all_digits(time.substr(3, 2)) || !all_digits(time.substr(6, 2)))
    return std::nullopt;
  const int hour = std::stoi(time.substr(0, 2)), minute = std::stoi(time.substr(3, 2)),
            second = std::stoi(time.substr(6, 2));
  if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
  int ms = 0;
  if (time.size() > 8) {
    if (time[8] != '.') return std::nullopt;
    const std::string frac = time.substr(9);
    if (frac.empty() || frac.size() > 9 || !all_digits(frac)) return std::nullopt;
    const std::string three = (frac + "00").substr(0, 3);  // to the millisecond, truncated
    ms = std::stoi(three);
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const int64_t secs = static_cast<int64_t>(timegm(&tm));
  return secs * 1000 + ms;
}

struct Record {
  int64_t time = 0;
  std::string protocol;
  Addr src, dst;
  uint32_t bytes = 0;
};

enum class LineKind { kRecord, kBlank, kMalformed };

inline LineKind parse_line(std::string line, Record& out) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.size() > 4096) return LineKind::kMalformed;
  std::vector<std::string> f;
  std::string cur;
  for (char c : line) {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) f.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) f.push_back(cur);
  if (f.empty()) return LineKind::kBlank;
  if (f.size() != 6) return LineKind::kMalformed;
  const auto t = parse_time(f[0], f[1]);
  if (!t) return LineKind::kMalformed;
  if (f[2].empty() || f[2].size() > 32) return LineKind::kMalformed;
  for (char c : f[2]) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) return LineKind::kMalformed;
  }
  const auto src = parse_addr(f[3]), dst = parse_addr(f[4]);
  if (!src || !dst) return LineKind::kMalformed;
  if (!all_digits(f[5])) return LineKind::kMalformed;
  std::string digits = f[5];
  while (digits.size() > 1 && digits[0] == '0') digits.erase(0, 1);
  if (digits.size() > 10 || std::stoull(digits) > 4294967295ULL) return LineKind::kMalformed;
  out.time = *t;
  out.protocol = f[2];
  out.src = *src;
  out.dst = *dst;
  out.bytes = static_cast<uint32_t>(std::stoull(digits));
  return LineKind::kRecord;
}

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back(text.substr(pos));
      break;
    }
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// The queries over one window's records.

using i128 = __int128;

// Rows of one dimension: every key with its bytes, ordered bytes desc, then key asc.
template <class Key>
std::vector<std::pair<Key, uint64_t>> ranked(const std::map<Key, uint64_t>& bytes) {
  std::vector<std::pair<Key, uint64_t>> v(bytes.begin(), bytes.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return v;  // std::map iterates keys ascending and stable_sort keeps that order among ties
}

// Fills rows[first], rows[first+1], rows[first+2] (share, topk, outliers) for one dimension.
template <class Key, class ToText>
void dimension_rows(const std::map<Key, uint64_t>& bytes, uint64_t total, const Params& p,
                    ToText to_text, std::array<std::vector<Row>, 6>& rows, size_t first) {
  const auto keys = ranked(bytes);
  const int64_t n = static_cast<int64_t>(keys.size());
  i128 sum = 0;
  for (const auto& kv : keys) sum += kv.second;
  // mean = sum / n; b - mean = d / n with the exact integer d = n*b - sum; the population
  // sd = sqrt(sum((b - mean)^2) / n) = sqrt(D / n) / n with D = sum(d^2); so
  // z = (b - mean) / sd = d / sqrt(D / n), and b > mean + X*sd  <=>  d > X * sqrt(D / n).
  i128 D = 0;
  for (const auto& kv : keys) {
    const i128 d = static_cast<i128>(n) * kv.second - sum;
    i128 sq;
    if (__builtin_mul_overflow(d, d, &sq) || __builtin_add_overflow(D, sq, &D))
      throw std::logic_error("reference: window too large for exact statistics");
  }
  const long double root = n > 0 ? std::sqrt(static_cast<long double>(D) / n) : 0.0L;

  auto make_row = [&](const Key& key, uint64_t b) {
    Row r;
    r.key = to_text(key);
    r.bytes = b;
    r.share = total == 0 ? 0.0 : static_cast<double>(b) / static_cast<double>(total);
    if (D != 0) {
      const i128 d = static_cast<i128>(n) * b - sum;
      r.z = static_cast<double>(static_cast<long double>(d) / root);
    }
    return r;
  };

  // share: b * 100 > H * total, exactly when H is a multiple of 1/1024.
  const long double h1024 = static_cast<long double>(p.H) * 1024;
  const bool h_exact = h1024 == std::floor(h1024) && h1024 < 1e15L;
  for (const auto& [key, b] : keys) {
    Row r = make_row(key, b);
    if (h_exact) {
      if (static_cast<i128>(b) * 100 * 1024 > static_cast<i128>(h1024) * total) rows[first].push_back(r);
    } else {
      const long double lhs = static_cast<long double>(b) * 100, rhs = static_cast<long double>(p.H) * total;
      if (std::fabs(lhs - rhs) <= 1e-12L * std::max(1.0L, rhs)) {
        r.boundary = true;
        rows[first].push_back(r);
      } else if (lhs > rhs) {
        rows[first].push_back(r);
      }
    }
  }
  // top k: the first min(k, n) in rank order.
  for (int64_t i = 0; i < n && i < p.k; ++i) rows[first + 1].push_back(make_row(keys[i].first, keys[i].second));
  // outliers: d > X * sqrt(D / n).
  for (const auto& [key, b] : keys) {
    const long double d = static_cast<long double>(static_cast<i128>(n) * b - sum);
    const long double rhs = static_cast<long double>(p.X) * root;
    Row r = make_row(key, b);
    if (std::fabs(d - rhs) <= 1e-12L * std::max(1.0L, std::fabs(rhs))) {
      r.boundary = true;
      rows[first + 2].push_back(r);
    } else if (d > rhs) {
      rows[first + 2].push_back(r);
    }
  }
}

inline Window evaluate(int64_t start_ms, int64_t end_ms, const Params& p,
                       const std::vector<const Record*>& recs, KeyMode mode) {
  Window w;
  w.start_ms = start_ms;
  w.end_ms = end_ms;
  w.params = p;
  std::map<std::string, uint64_t> proto;
  std::map<Addr, uint64_t> ip;
  for (const Record* r : recs) {
    ++w.records;
    w.total_bytes += r->bytes;
    proto[r->protocol] += r->bytes;
    switch (mode) {
      case KeyMode::kSrc: ip[r->src] += r->bytes; break;
      case KeyMode::kDst: ip[r->dst] += r->bytes; break;
      case KeyMode::kHost:
        ip[r->src] += r->bytes;
        if (!(r->dst == r->src)) ip[r->dst] += r->bytes;
        break;
    }
  }
  w.protocol_keys = proto.size();
  w.ip_keys = ip.size();
  dimension_rows(proto, w.total_bytes, p, [](const std::string& s) { return s; }, w.rows, 0);
  dimension_rows(ip, w.total_bytes, p, [](const Addr& a) { return a.text(); }, w.rows, 3);
  return w;
}

// ---------------------------------------------------------------------------------------------
// The stream: lateness, finality, windows.

inline Result compute(const std::vector<std::string>& lines, const Options& o,
                      const std::vector<Change>& changes = {}) {
  Result res;
  res.lines = lines.size();
  std::vector<Record> accepted;
  // watermark_after[i]: the watermark once line i is processed (nullopt before any record).
  std::vector<std::optional<int64_t>> watermark_after(lines.size());
  std::optional<int64_t> max_time;
  const int64_t lateness_ms = o.lateness * o.unit_ms;
  for (size_t i = 0; i < lines.size(); ++i) {
    Record r;
    switch (parse_line(lines[i], r)) {
      case LineKind::kBlank: break;
      case LineKind::kMalformed:
        ++res.malformed;
        res.malformed_lines.push_back(i + 1);
        break;
      case LineKind::kRecord:
        ++res.records;
        if (max_time && r.time < *max_time - lateness_ms) {
          ++res.late;
        } else {
          ++res.accepted;
          accepted.push_back(r);
          max_time = max_time ? std::max(*max_time, r.time) : r.time;
        }
        break;
    }
    if (max_time) watermark_after[i] = *max_time - lateness_ms;
  }
  if (accepted.empty()) return res;

  // The parameters in force when a window becomes final after line i (i == lines.size(): at
  // the end of the input).
  auto params_at = [&](size_t i) {
    Params p = o.params;
    for (const Change& c : changes)
      if (c.before_line <= i) p = c.params;
    return p;
  };
  int64_t max_T = o.params.T;
  for (const Change& c : changes) max_T = std::max(max_T, c.params.T);

  int64_t lo = accepted[0].time, hi = accepted[0].time;
  for (const Record& r : accepted) {
    lo = std::min(lo, r.time);
    hi = std::max(hi, r.time);
  }
  // Accepted records by time, to find a window's records with two binary searches.
  std::vector<Record> by_time = accepted;
  std::stable_sort(by_time.begin(), by_time.end(), [](const Record& a, const Record& b) { return a.time < b.time; });
  // The watermark never goes down: the line at which a window becomes final is a binary
  // search too (lines before the first record have no watermark: treat it as -infinity).
  std::vector<int64_t> wm(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) wm[i] = watermark_after[i].value_or(INT64_MIN);

  const int64_t step = o.slide * o.unit_ms;
  const int64_t first_end = (floor_div(lo, step) + 1) * step;
  const int64_t last_end = (floor_div(hi + max_T * o.unit_ms, step) + 1) * step;
  for (int64_t end = first_end; end <= last_end; end += step) {
    // Final after the first line whose watermark reaches the end; else at the end of input.
    const size_t final_at = static_cast<size_t>(std::lower_bound(wm.begin(), wm.end(), end) - wm.begin());
    const Params p = params_at(final_at);
    const int64_t start = end - p.T * o.unit_ms;
    std::vector<const Record*> in;
    auto first = std::lower_bound(by_time.begin(), by_time.end(), start,
                                  [](const Record& r, int64_t t) { return r.time < t; });
    for (auto it = first; it != by_time.end() && it->time < end; ++it) in.push_back(&*it);
    if (in.empty()) continue;
    res.windows.push_back(evaluate(start, end, p, in, o.ip_key));
  }
  return res;
}

inline Result compute(const std::string& text, const Options& o, const std::vector<Change>& changes = {}) {
  return compute(split_lines(text), o, changes);
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers.

inline bool close_enough(double a, double b, double rel = 1e-9) {
  if (a == b) return true;
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

inline std::string describe_row(const Row& r) {
  std::ostringstream s;
  s.precision(17);
  s << "{" << r.key << " bytes=" << r.bytes << " share=" << r.share << " z=";
  if (r.z) s << *r.z;
  else s << "null";
  if (r.boundary) s << " (boundary)";
  s << "}";
  return s.str();
}

// Engine rows against reference rows: the same keys in the same order with the same bytes,
// share and z; reference rows marked boundary may be missing from the engine's list.
// Returns an empty string when they match, else what differs.
inline std::string rows_match(const std::vector<Row>& engine, const std::vector<Row>& ref) {
  std::vector<Row> want;
  for (const Row& r : ref) {
    if (!r.boundary) {
      want.push_back(r);
      continue;
    }
    for (const Row& e : engine)
      if (e.key == r.key) want.push_back(r);
  }
  std::ostringstream s;
  if (engine.size() != want.size()) {
    s << "row count " << engine.size() << ", expected " << want.size() << "\n  engine:";
    for (const Row& r : engine) s << " " << describe_row(r);
    s << "\n  reference:";
    for (const Row& r : ref) s << " " << describe_row(r);
    return s.str();
  }
  for (size_t i = 0; i < want.size(); ++i) {
    const Row& e = engine[i];
    const Row& w = want[i];
    const bool z_ok = e.z.has_value() == w.z.has_value() && (!e.z || close_enough(*e.z, *w.z));
    if (e.key != w.key || e.bytes != w.bytes || !close_enough(e.share, w.share) || !z_ok) {
      s << "row " << i << ": engine " << describe_row(e) << ", reference " << describe_row(w);
      return s.str();
    }
  }
  return {};
}

}  // namespace netpulse::testref
