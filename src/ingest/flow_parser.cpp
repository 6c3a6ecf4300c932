#include "ingest/flow_parser.hpp"

#include <cstring>

namespace netpulse::ingest {

using core::FlowRecord;
using core::TimeMs;

namespace {

// Character classes, one table lookup per byte.
constexpr uint8_t kBlankChar = 1;  // space or tab: separates fields
constexpr uint8_t kProtoChar = 2;  // A-Z a-z 0-9 _ . -

constexpr std::array<uint8_t, 256> make_classes() {
  std::array<uint8_t, 256> t{};
  t[' '] = t['\t'] = kBlankChar;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = kProtoChar;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = kProtoChar;
  for (int c = '0'; c <= '9'; ++c) t[c] = kProtoChar;
  t['_'] = t['.'] = t['-'] = kProtoChar;
  return t;
}
constexpr std::array<uint8_t, 256> kClass = make_classes();

inline bool is_blank(char c) { return kClass[static_cast<uint8_t>(c)] == kBlankChar; }
inline unsigned digit(char c) { return static_cast<unsigned>(static_cast<uint8_t>(c) - '0'); }

inline const char* skip_blanks(const char* p, const char* end) {
  while (p != end && is_blank(*p)) ++p;
  return p;
}
inline const char* token_end(const char* p, const char* end) {
  while (p != end && !is_blank(*p)) ++p;
  return p;
}

// Two decimal digits at p, or -1.
inline int two_digits(const char* p) {
  const unsigned a = digit(p[0]), b = digit(p[1]);
  return (a > 9 || b > 9) ? -1 : static_cast<int>(a * 10 + b);
}

bool valid_protocol(const char* p, const char* end) {
  const size_t n = static_cast<size_t>(end - p);
  if (n == 0 || n > core::kMaxProtocolLength) return false;
  for (; p != end; ++p)
    if (kClass[static_cast<uint8_t>(*p)] != kProtoChar) return false;
  return true;
}

// Reads a protocol label at p; returns its end when it is 1-32 label characters followed by a
// blank or the end of the line, else nullptr.
inline const char* scan_protocol(const char* p, const char* end) {
  const char* q = p;
  while (q != end && kClass[static_cast<uint8_t>(*q)] == kProtoChar) ++q;
  if (q == p || q - p > static_cast<ptrdiff_t>(core::kMaxProtocolLength)) return nullptr;
  if (q != end && !is_blank(*q)) return nullptr;
  return q;
}

// Reads a dotted quad at p in one pass (the common case); returns its end when it is followed
// by a blank or the end of the line, else nullptr (the caller then tries the general path,
// which also handles IPv6 and explains errors).
inline const char* scan_ipv4(const char* p, const char* end, core::IpAddr& out) {
  uint32_t value = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (p == end || *p != '.') return nullptr;
      ++p;
    }
    if (p == end) return nullptr;
    unsigned v = digit(*p);
    if (v > 9) return nullptr;
    ++p;
    if (p != end && digit(*p) <= 9) {
      if (v == 0) return nullptr;  // leading zero
      v = v * 10 + digit(*p++);
      if (p != end && digit(*p) <= 9) {
        v = v * 10 + digit(*p++);
        if (v > 255) return nullptr;
      }
    }
    value = (value << 8) | v;
  }
  if (p != end && !is_blank(*p)) return nullptr;
  out = core::IpAddr::v4(value);
  return p;
}

ParseStatus parse_bytes(const char* p, const char* end, uint32_t& out) {
  if (p == end) return ParseStatus::kBadBytes;
  uint64_t v = 0;
  for (; p != end; ++p) {
    const unsigned d = digit(*p);
    if (d > 9) return ParseStatus::kBadBytes;
    v = v * 10 + d;
    if (v > 0xFFFFFFFFULL) {
      // Keep checking the rest is digits, so "99999999999x" is reported as not a number.
      for (++p; p != end; ++p)
        if (digit(*p) > 9) return ParseStatus::kBadBytes;
      return ParseStatus::kBytesRange;
    }
  }
  out = static_cast<uint32_t>(v);
  return ParseStatus::kOk;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

}  // namespace

const char* describe(ParseStatus s) {
  switch (s) {
    case ParseStatus::kOk: return "ok";
    case ParseStatus::kBlank: return "blank line";
    case ParseStatus::kTooLong: return "line too long";
    case ParseStatus::kMissingField: return "missing field";
    case ParseStatus::kExtraField: return "extra field";
    case ParseStatus::kBadDate: return "bad date";
    case ParseStatus::kBadTime: return "bad time of day";
    case ParseStatus::kBadFraction: return "bad fraction of a second (1 to 9 digits)";
    case ParseStatus::kBadProtocol: return "bad protocol (1-32 of A-Z a-z 0-9 _ . -)";
    case ParseStatus::kBadSrc: return "bad source address";
    case ParseStatus::kBadDst: return "bad destination address";
    case ParseStatus::kBadBytes: return "bytes is not a whole number";
    case ParseStatus::kBytesRange: return "bytes out of range (0 to 4294967295)";
  }
  return "unknown";
}

std::optional<Format> parse_format(std::string_view name) {
  if (name == "line") return Format::kLine;
  if (name == "csv") return Format::kCsv;
  return std::nullopt;
}

// Reads "YYYY-MM-DD<blanks>HH:MM:SS[.f{1,9}]" at p and leaves p after it.
bool FlowParser::parse_time(const char*& p, const char* end, TimeMs& out, ParseStatus& status) {
  TimeMs minute_time;
  const char* q = p;
  if (prefix_valid_ && end - q >= 19 && std::memcmp(q, prefix_, 16) == 0) {
    minute_time = prefix_time_;
    q += 16;
  } else {
    status = ParseStatus::kBadDate;
    if (end - q < 10) return false;
    const int y1 = two_digits(q), y2 = two_digits(q + 2);
    const int mo = two_digits(q + 5), d = two_digits(q + 8);
    if (y1 < 0 || y2 < 0 || q[4] != '-' || mo < 0 || q[7] != '-' || d < 0) return false;
    const int year = y1 * 100 + y2;
    if (year < 1 || mo < 1 || mo > 12 || d < 1 ||
        static_cast<unsigned>(d) > core::days_in_month(year, static_cast<unsigned>(mo)))
      return false;
    const char* date = q;
    q += 10;
    if (q == end) {
      status = ParseStatus::kMissingField;
      return false;
    }
    if (!is_blank(*q)) return false;  // e.g. "2020-05-091"
    const char* sep = q;
    q = skip_blanks(q, end);
    status = ParseStatus::kBadTime;
    if (q == end) {
      status = ParseStatus::kMissingField;
      return false;
    }
    if (end - q < 8) return false;
    const int h = two_digits(q), mi = two_digits(q + 3);
    if (h < 0 || q[2] != ':' || mi < 0 || h > 23 || mi > 59) return false;
    minute_time = core::days_from_civil(year, static_cast<unsigned>(mo), static_cast<unsigned>(d)) *
                      86'400'000 +
                  h * 3'600'000LL + mi * 60'000LL;
    if (q - sep == 1 && *sep == ' ') {
      std::memcpy(prefix_, date, 16);
      prefix_time_ = minute_time;
      prefix_valid_ = true;
    }
    q += 5;
  }
  status = ParseStatus::kBadTime;
  if (end - q < 3 || q[0] != ':') return false;
  const int s = two_digits(q + 1);
  if (s < 0 || s > 59) return false;
  q += 3;
  unsigned ms = 0;
  if (q != end && *q == '.') {
    status = ParseStatus::kBadFraction;
    ++q;
    int n = 0;
    for (; q != end && digit(*q) <= 9; ++q, ++n)
      if (n < 3) ms = ms * 10 + digit(*q);
    if (n == 0 || n > 9) return false;
    for (; n < 3; ++n) ms *= 10;
  }
  if (q != end && !is_blank(*q)) {
    if (status != ParseStatus::kBadFraction) status = ParseStatus::kBadTime;
    return false;
  }
  out = minute_time + s * 1000LL + ms;
  p = q;
  return true;
}

ParseStatus FlowParser::parse(const char* begin, const char* end, FlowRecord& out,
                              ParseError* err) {
  if (end != begin && end[-1] == '\r') --end;
  if (static_cast<size_t>(end - begin) > kMaxLineLength) {
    if (err) *err = ParseError{ParseStatus::kTooLong, {}};
    return ParseStatus::kTooLong;
  }
  return format_ == Format::kLine ? parse_line(begin, end, out, err)
                                  : parse_csv(begin, end, out, err);
}

ParseStatus FlowParser::parse_line(const char* p, const char* end, FlowRecord& out,
                                   ParseError* err) {
  p = skip_blanks(p, end);
  if (p == end) return ParseStatus::kBlank;

  auto fail = [&](ParseStatus s, const char* b, const char* e) {
    if (err) *err = ParseError{s, std::string_view(b, static_cast<size_t>(e - b))};
    return s;
  };

  ParseStatus status = ParseStatus::kOk;
  const char* time_begin = p;
  if (!parse_time(p, end, out.time, status))
    return fail(status, time_begin, token_end(time_begin, end));

  p = skip_blanks(p, end);
  const char* proto_end = scan_protocol(p, end);
  if (!proto_end) {
    if (p == end) return fail(ParseStatus::kMissingField, p, p);
    return fail(ParseStatus::kBadProtocol, p, token_end(p, end));
  }
  out.protocol = cache_.intern(p, static_cast<size_t>(proto_end - p));

  p = skip_blanks(proto_end, end);
  const char* src_end = scan_ipv4(p, end, out.src);
  if (!src_end) {
    src_end = token_end(p, end);
    if (p == end) return fail(ParseStatus::kMissingField, p, p);
    if (!core::parse_ip(p, src_end, out.src)) return fail(ParseStatus::kBadSrc, p, src_end);
  }

  p = skip_blanks(src_end, end);
  const char* dst_end = scan_ipv4(p, end, out.dst);
  if (!dst_end) {
    dst_end = token_end(p, end);
    if (p == end) return fail(ParseStatus::kMissingField, p, p);
    if (!core::parse_ip(p, dst_end, out.dst)) return fail(ParseStatus::kBadDst, p, dst_end);
  }

  p = skip_blanks(dst_end, end);
  const char* bytes_end = token_end(p, end);
  if (p == end) return fail(ParseStatus::kMissingField, p, p);
  if (ParseStatus s = parse_bytes(p, bytes_end, out.bytes); s != ParseStatus::kOk)
    return fail(s, p, bytes_end);

  p = skip_blanks(bytes_end, end);
  if (p != end) return fail(ParseStatus::kExtraField, p, token_end(p, end));
  return ParseStatus::kOk;
}

std::optional<std::string> FlowParser::read_header(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Spreadsheet programs start UTF-8 CSV files with a byte order mark.
  if (line.substr(0, 3) == "\xef\xbb\xbf") line.remove_prefix(3);
  static constexpr const char* kNames[5] = {"time", "protocol", "src", "dst", "bytes"};
  std::array<int, 5> index{-1, -1, -1, -1, -1};
  int column = 0;
  size_t pos = 0;
  while (true) {
    const size_t comma = line.find(',', pos);
    std::string name(trim(line.substr(pos, comma == std::string_view::npos ? line.npos : comma - pos)));
    for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    for (int f = 0; f < 5; ++f) {
      if (name != kNames[f]) continue;
      if (index[f] >= 0) return "CSV header names column '" + name + "' twice";
      index[f] = column;
    }
    ++column;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  for (int f = 0; f < 5; ++f)
    if (index[f] < 0)
      return std::string("CSV header lacks column '") + kNames[f] +
             "' (expected time,protocol,src,dst,bytes in any order)";
  csv_index_ = index;
  csv_columns_ = column;
  return std::nullopt;
}

void FlowParser::copy_header_from(const FlowParser& other) {
  csv_index_ = other.csv_index_;
  csv_columns_ = other.csv_columns_;
}

ParseStatus FlowParser::parse_csv(const char* p, const char* end, FlowRecord& out,
                                  ParseError* err) {
  if (skip_blanks(p, end) == end) return ParseStatus::kBlank;
  std::string_view fields[5];
  int column = 0;
  const char* field = p;
  for (const char* q = p;; ++q) {
    if (q == end || *q == ',') {
      for (int f = 0; f < 5; ++f)
        if (csv_index_[f] == column) fields[f] = trim(std::string_view(field, static_cast<size_t>(q - field)));
      ++column;
      if (q == end) break;
      field = q + 1;
    }
  }
  if (column < csv_columns_) {
    if (err) *err = ParseError{ParseStatus::kMissingField, {}};
    return ParseStatus::kMissingField;
  }
  if (column > csv_columns_) {
    if (err) *err = ParseError{ParseStatus::kExtraField, {}};
    return ParseStatus::kExtraField;
  }
  return parse_fields(fields[0], fields[1], fields[2], fields[3], fields[4], out, err);
}

ParseStatus FlowParser::parse_fields(std::string_view time, std::string_view proto,
                                     std::string_view src, std::string_view dst,
                                     std::string_view bytes, FlowRecord& out, ParseError* err) {
  auto fail = [&](ParseStatus s, std::string_view f) {
    if (err) *err = ParseError{s, f};
    return s;
  };
  ParseStatus status = ParseStatus::kOk;
  const char* p = time.data();
  const char* time_end = time.data() + time.size();
  if (time.empty()) return fail(ParseStatus::kMissingField, time);
  if (!parse_time(p, time_end, out.time, status) || p != time_end)
    return fail(status == ParseStatus::kOk ? ParseStatus::kBadTime : status, time);
  if (proto.empty()) return fail(ParseStatus::kMissingField, proto);
  if (!valid_protocol(proto.data(), proto.data() + proto.size()))
    return fail(ParseStatus::kBadProtocol, proto);
  out.protocol = cache_.intern(proto.data(), proto.size());
  if (!core::parse_ip(src.data(), src.data() + src.size(), out.src))
    return fail(ParseStatus::kBadSrc, src);
  if (!core::parse_ip(dst.data(), dst.data() + dst.size(), out.dst))
    return fail(ParseStatus::kBadDst, dst);
  if (ParseStatus s = parse_bytes(bytes.data(), bytes.data() + bytes.size(), out.bytes);
      s != ParseStatus::kOk)
    return fail(s, bytes);
  return ParseStatus::kOk;
}

}  // namespace netpulse::ingest
