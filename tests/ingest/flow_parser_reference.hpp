// The line and CSV parser as it was before the SSE2 fast path (src/ingest/flow_parser.cpp,
// core/ip_addr.cpp's address parsers and core::ProtocolCache, copied unchanged but for
// names: ref_parse_ip, RefProtocolCache, RefFlowParser),
// kept as the reference the new parser must match byte for byte: status, a valid line's record
// and error field. Test code only.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/flow_record.hpp"
#include "core/protocol_table.hpp"
#include "core/time.hpp"
#include "ingest/flow_parser.hpp"

namespace netpulse::testref {

using core::FlowRecord;
using core::TimeMs;
using ingest::Format;
using ingest::kMaxLineLength;
using ingest::ParseError;
using ingest::ParseStatus;

// ---- core/ip_addr.cpp

inline bool ref_parse_ipv4(const char* p, const char* end, uint32_t& out) {
  uint32_t value = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0) {
      if (p == end || *p != '.') return false;
      ++p;
    }
    if (p == end || static_cast<unsigned>(*p - '0') > 9) return false;
    unsigned v = static_cast<unsigned>(*p++ - '0');
    int n = 1;
    while (p != end && static_cast<unsigned>(*p - '0') <= 9) {
      if (v == 0 || ++n > 3) return false;  // leading zero, or more than 3 digits
      v = v * 10 + static_cast<unsigned>(*p++ - '0');
    }
    if (v > 255) return false;
    value = (value << 8) | v;
  }
  if (p != end) return false;
  out = value;
  return true;
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

inline bool ref_parse_ipv6(const char* p, const char* end, core::Ip6& out) {
  uint16_t groups[8] = {};
  int n = 0;            // groups written
  int gap = -1;         // index in groups where "::" stands
  if (p == end) return false;
  if (*p == ':') {
    if (end - p < 2 || p[1] != ':') return false;  // a lone leading ':'
    gap = 0;
    p += 2;
    if (p == end) {
      out = core::Ip6{};
      return true;
    }
  }
  while (true) {
    // One group, or a trailing dotted quad.
    const char* start = p;
    unsigned v = 0;
    int digits = 0;
    while (p != end && digits < 5) {
      const int h = hex_value(*p);
      if (h < 0) break;
      v = (v << 4) | static_cast<unsigned>(h);
      ++digits;
      ++p;
    }
    if (p != end && *p == '.') {
      // Embedded IPv4 in the last 32 bits.
      uint32_t v4;
      if (n > 6 || !ref_parse_ipv4(start, end, v4)) return false;
      groups[n++] = static_cast<uint16_t>(v4 >> 16);
      groups[n++] = static_cast<uint16_t>(v4 & 0xffff);
      p = end;
      break;
    }
    if (digits == 0 || digits > 4 || n == 8) return false;
    groups[n++] = static_cast<uint16_t>(v);
    if (p == end) break;
    if (*p != ':') return false;
    ++p;
    if (p != end && *p == ':') {
      if (gap >= 0) return false;  // a second "::"
      gap = n;
      ++p;
      if (p == end) break;
    } else if (p == end) {
      return false;  // a trailing single ':'
    }
  }
  if (gap >= 0) {
    if (n > 7) return false;  // "::" must stand for at least one group
    const int tail = n - gap;
    std::memmove(groups + 8 - tail, groups + gap, static_cast<size_t>(tail) * sizeof(uint16_t));
    std::memset(groups + gap, 0, static_cast<size_t>(8 - tail - gap) * sizeof(uint16_t));
  } else if (n != 8) {
    return false;
  }
  uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 4; ++i) hi = (hi << 16) | groups[i];
  for (int i = 4; i < 8; ++i) lo = (lo << 16) | groups[i];
  out = core::Ip6{hi, lo};
  return true;
}

inline bool ref_parse_ip(const char* begin, const char* end, core::IpAddr& out) {
  // A ':' can only be in IPv6 text; look at the first 5 bytes (an IPv4 has a '.' by then).
  for (const char* p = begin; p != end && p < begin + 5; ++p) {
    if (*p == ':') {
      out.is_v6 = true;
      return ref_parse_ipv6(begin, end, out.bits);
    }
    if (*p == '.') break;
  }
  uint32_t v4;
  if (!ref_parse_ipv4(begin, end, v4)) return false;
  out = core::IpAddr::v4(v4);
  return true;
}

// ---- core/protocol_table.{hpp,cpp}: ProtocolCache

class RefProtocolCache {
 public:
  explicit RefProtocolCache(core::ProtocolTable& table) : table_(table) { slots_.resize(kInitialSlots); }

  // REQUIRES: 1 <= size <= core::kMaxProtocolLength.
  uint32_t intern(const char* data, size_t size) {
    Key key{};
    std::memcpy(key.bytes, data, size);
    key.size = static_cast<uint8_t>(size);
    const uint64_t h = hash(key);
    size_t mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.key.size == 0) return insert(key, i);
      if (s.key == key) return s.id;
    }
  }

 private:
  struct Key {
    char bytes[core::kMaxProtocolLength];
    uint8_t size;
    bool operator==(const Key& o) const {
      return size == o.size && std::memcmp(bytes, o.bytes, core::kMaxProtocolLength) == 0;
    }
  };
  struct Slot {
    Key key{};
    uint32_t id = 0;
  };
  static constexpr size_t kInitialSlots = 64;

  static uint64_t hash(const Key& k) {
    uint64_t a, b;
    std::memcpy(&a, k.bytes, 8);
    std::memcpy(&b, k.bytes + 8, 8);
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ULL) ^ k.size) * 0xff51afd7ed558ccdULL;
    if (k.size > 16) {
      std::memcpy(&a, k.bytes + 16, 8);
      std::memcpy(&b, k.bytes + 24, 8);
      h ^= (a + b * 0xc4ceb9fe1a85ec53ULL) * 0x9E3779B97F4A7C15ULL;
    }
    return h ^ (h >> 29);
  }
  uint32_t insert(const Key& key, size_t slot);

  core::ProtocolTable& table_;
  std::vector<Slot> slots_;
  size_t used_ = 0;
};

inline uint32_t RefProtocolCache::insert(const Key& key, size_t slot) {
  const uint32_t id = table_.intern(std::string_view(key.bytes, key.size));
  if ((used_ + 1) * 2 > slots_.size()) {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.key.size == 0) continue;
      size_t i = hash(s.key) & mask;
      while (slots_[i].key.size != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
    slot = hash(key) & mask;
    while (slots_[slot].key.size != 0) slot = (slot + 1) & mask;
  }
  slots_[slot].key = key;
  slots_[slot].id = id;
  ++used_;
  return id;
}

// ---- ingest/flow_parser.{hpp,cpp}

namespace detail {

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

inline bool valid_protocol(const char* p, const char* end) {
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

inline ParseStatus parse_bytes(const char* p, const char* end, uint32_t& out) {
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

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

}  // namespace detail

using namespace detail;

class RefFlowParser {
 public:
  RefFlowParser(core::ProtocolTable& protocols, Format format)
      : protocols_(protocols), cache_(protocols), format_(format) {}

  Format format() const { return format_; }

  // CSV only: reads the header line. Returns an error message, or nullopt when the header names
  // time, protocol, src, dst and bytes (in any order; other columns are ignored).
  std::optional<std::string> read_header(std::string_view line);
  bool has_header() const { return csv_columns_ > 0; }
  // Copies the column layout from another parser of the same stream (parallel parsing).
  void copy_header_from(const RefFlowParser& other);

  // Parses one line without its '\n' (a trailing '\r' is allowed).
  ParseStatus parse(const char* begin, const char* end, core::FlowRecord& out, ParseError* err = nullptr);

 private:
  ParseStatus parse_line(const char* p, const char* end, core::FlowRecord& out, ParseError* err);
  ParseStatus parse_csv(const char* p, const char* end, core::FlowRecord& out, ParseError* err);
  bool parse_time(const char*& p, const char* end, core::TimeMs& out, ParseStatus& status);
  ParseStatus parse_fields(std::string_view time, std::string_view proto, std::string_view src,
                           std::string_view dst, std::string_view bytes, core::FlowRecord& out,
                           ParseError* err);

  core::ProtocolTable& protocols_;
  RefProtocolCache cache_;
  Format format_;

  // The last "YYYY-MM-DD HH:MM" prefix seen and its time: most lines share it.
  char prefix_[16] = {};
  core::TimeMs prefix_time_ = 0;
  bool prefix_valid_ = false;

  // CSV column index of each field (time, protocol, src, dst, bytes), and the column count.
  std::array<int, 5> csv_index_{};
  int csv_columns_ = 0;
};

// Reads "YYYY-MM-DD<blanks>HH:MM:SS[.f{1,9}]" at p and leaves p after it.
inline bool RefFlowParser::parse_time(const char*& p, const char* end, TimeMs& out, ParseStatus& status) {
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

inline ParseStatus RefFlowParser::parse(const char* begin, const char* end, FlowRecord& out,
                              ParseError* err) {
  if (end != begin && end[-1] == '\r') --end;
  if (static_cast<size_t>(end - begin) > kMaxLineLength) {
    if (err) *err = ParseError{ParseStatus::kTooLong, {}};
    return ParseStatus::kTooLong;
  }
  return format_ == Format::kLine ? parse_line(begin, end, out, err)
                                  : parse_csv(begin, end, out, err);
}

inline ParseStatus RefFlowParser::parse_line(const char* p, const char* end, FlowRecord& out,
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
    if (!ref_parse_ip(p, src_end, out.src)) return fail(ParseStatus::kBadSrc, p, src_end);
  }

  p = skip_blanks(src_end, end);
  const char* dst_end = scan_ipv4(p, end, out.dst);
  if (!dst_end) {
    dst_end = token_end(p, end);
    if (p == end) return fail(ParseStatus::kMissingField, p, p);
    if (!ref_parse_ip(p, dst_end, out.dst)) return fail(ParseStatus::kBadDst, p, dst_end);
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

inline std::optional<std::string> RefFlowParser::read_header(std::string_view line) {
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

inline void RefFlowParser::copy_header_from(const RefFlowParser& other) {
  csv_index_ = other.csv_index_;
  csv_columns_ = other.csv_columns_;
}

inline ParseStatus RefFlowParser::parse_csv(const char* p, const char* end, FlowRecord& out,
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

inline ParseStatus RefFlowParser::parse_fields(std::string_view time, std::string_view proto,
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
  if (!ref_parse_ip(src.data(), src.data() + src.size(), out.src))
    return fail(ParseStatus::kBadSrc, src);
  if (!ref_parse_ip(dst.data(), dst.data() + dst.size(), out.dst))
    return fail(ParseStatus::kBadDst, dst);
  if (ParseStatus s = parse_bytes(bytes.data(), bytes.data() + bytes.size(), out.bytes);
      s != ParseStatus::kOk)
    return fail(s, bytes);
  return ParseStatus::kOk;
}

}  // namespace netpulse::testref
