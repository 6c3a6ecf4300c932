#include "ingest/flow_parser.hpp"

#include <cassert>
#include <cstddef>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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
    if (q - sep == 1) {
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

FlowParser::Lines FlowParser::parse_lines(const char* from, const char* end, uint64_t first,
                                          size_t n, FlowRecord* out, BadLine* bad) {
  assert(from <= end);
#if defined(__x86_64__)
  if (fast_) return parse_lines_x86(from, end, first, n, out, bad);
#endif
  // The same loop as parse_lines_x86's, around parse() and memchr: one loop for both would have
  // to carry AVX2's target (to inline the fast parse) and could then not run where AVX2 is
  // missing.
  size_t lines = 0, records = 0, n_bad = 0;  // (locals: see parse_lines_x86)
  const char* p = from;
  for (; lines < n && p != end; ++lines) {
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* line_end = nl ? nl : end;
    const ParseStatus s = parse(p, line_end, end, out[records], nullptr);
    records += s == ParseStatus::kOk;
    if (s != ParseStatus::kOk && s != ParseStatus::kBlank) [[unlikely]]
      bad[n_bad++] = BadLine{first + lines, s, p, line_end};
    p = nl ? nl + 1 : end;
  }
  return Lines{records, n_bad, lines, p};
}

ParseStatus FlowParser::parse(const char* begin, const char* end, const char* readable_end,
                              FlowRecord& out, ParseError* err) {
  assert(begin <= end && end <= readable_end);
#if defined(__x86_64__)
  if (fast_) return parse_line_x86(begin, end, readable_end, out, err);
#else
  (void)readable_end;
#endif
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

#if defined(__x86_64__)

// The fast path, for the usual line: "YYYY-MM-DD HH:MM" as cached, the rest of the line within
// the 64 bytes after "HH:MM:SS", a protocol of at most 15 bytes. Those 64 bytes are compared
// with AVX2 into bit masks (bit i for byte i: not blank, digit, dot); the four fields after the
// time start where a run of blanks ends, all found at once, and each ends where its own class
// of bytes does, which must be at a blank or the line's end. Bits at or past the end are
// cleared, so bytes loaded from there never count. Anything else returns false, for parse_line
// to judge. Compiled for AVX2 with a target attribute and used when the CPU has it.
#define NETPULSE_AVX2 __attribute__((target("avx2,bmi,bmi2,popcnt")))

namespace parser_detail {

// The vector constants, in memory: GCC 12 builds a broadcast constant in registers with three
// instructions each time it is used; read through opaque_constants(), a constant is one operand
// of the instruction that uses it.
struct alignas(32) Bytes32 {
  char b[32];
};
constexpr Bytes32 splat(char c) {
  Bytes32 v{};
  for (char& x : v.b) x = c;
  return v;
}
constexpr Bytes32 repeat4(char a, char b, char c, char d) {
  Bytes32 v{};
  for (int i = 0; i < 32; i += 4) v.b[i] = a, v.b[i + 1] = b, v.b[i + 2] = c, v.b[i + 3] = d;
  return v;
}
struct Constants {
  Bytes32 space = splat(' ');
  Bytes32 tab = splat('\t');
  Bytes32 dot = splat('.');
  Bytes32 slash = splat('/');  // '0' - 1
  Bytes32 nine = splat('9');
  Bytes32 zero = splat('0');
  Bytes32 case_bit = splat(0x20);
  Bytes32 before_a = splat('a' - 1);
  Bytes32 z = splat('z');
  Bytes32 f = splat('f');
  Bytes32 colon = splat(':');
  Bytes32 underscore = splat('_');
  Bytes32 dash = splat('-');
  Bytes32 index = {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};
  Bytes32 weights = repeat4(100, 10, 1, 0);                      // digit places in an octet
  Bytes32 ones16 = repeat4(1, 0, 1, 0);                          // 16-bit lanes of 1
  Bytes32 max_octet = repeat4(static_cast<char>(255), 0, 0, 0);  // 32-bit lanes of 255
  Bytes32 octet_order = {{-1, -1, -1, -1, -1, -1, -1, -1, 12, 8, 4, 0, -1, -1, -1, -1}};
  Bytes32 tens = repeat4(10, 1, 10, 1);               // pairs of digits, in bytes
  Bytes32 hundreds = repeat4(100, 0, 1, 0);           // pairs of pairs, in 16-bit lanes
  Bytes32 ten_thousands = repeat4(0x10, 0x27, 1, 0);  // 10000 and 1, in 16-bit lanes
};

// Not const, and not local to this file: the compiler cannot know the values, so it reads
// them, and at a fixed address an instruction's memory operand needs no register for it
// (through a pointer it hid, the pointer was spilled and reloaded several times a line).
extern Constants constants;
alignas(32) constinit Constants constants;

}  // namespace parser_detail

namespace {

using parser_detail::Bytes32;
using parser_detail::Constants;
inline const Constants& opaque_constants() {
  return parser_detail::constants;
}

NETPULSE_AVX2 inline __m128i load16(const void* p) {
  return _mm_loadu_si128(static_cast<const __m128i*>(p));
}
NETPULSE_AVX2 inline __m256i load32(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}
NETPULSE_AVX2 inline __m128i v16(const Bytes32& c) {
  return _mm_load_si128(reinterpret_cast<const __m128i*>(c.b));
}
NETPULSE_AVX2 inline __m256i v32(const Bytes32& c) {
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(c.b));
}
NETPULSE_AVX2 inline uint32_t bits(__m128i v) {
  return static_cast<uint32_t>(_mm_movemask_epi8(v));
}
NETPULSE_AVX2 inline uint32_t bits(__m256i v) {
  return static_cast<uint32_t>(_mm256_movemask_epi8(v));
}
NETPULSE_AVX2 inline uint64_t bits(__m256i lo, __m256i hi) {
  return bits(lo) | static_cast<uint64_t>(bits(hi)) << 32;
}
// Trailing zeros; 64 for 0.
NETPULSE_AVX2 inline uint64_t tz(uint64_t m) {
  return _tzcnt_u64(m);
}

// The fast path's bit masks, a bit per byte after "HH:MM:SS": 64 bits for lines shorter than
// 83 bytes (nearly all), 128 for lines up to 146 (most of them hold an IPv6 address; through
// the general parser they cost four times an ordinary line, a tenth of all parsing on the
// issue-12 file).
using Mask128 = unsigned __int128;
// Trailing zeros; 128 for 0.
NETPULSE_AVX2 inline uint64_t tz(Mask128 m) {
  const auto lo = static_cast<uint64_t>(m);
  const uint64_t high = 64 + _tzcnt_u64(static_cast<uint64_t>(m >> 64));
  return lo != 0 ? _tzcnt_u64(lo) : high;
}
NETPULSE_AVX2 inline uint64_t blsr(uint64_t m) {
  return _blsr_u64(m);
}
NETPULSE_AVX2 inline Mask128 blsr(Mask128 m) {
  return m & (m - 1);
}
NETPULSE_AVX2 inline uint64_t popcount(uint64_t m) {
  return static_cast<uint64_t>(_mm_popcnt_u64(m));
}
NETPULSE_AVX2 inline uint64_t popcount(Mask128 m) {
  return static_cast<uint64_t>(_mm_popcnt_u64(static_cast<uint64_t>(m)) +
                               _mm_popcnt_u64(static_cast<uint64_t>(m >> 64)));
}
// The n lowest bits. REQUIRES: n below the mask's width.
template <class M>
NETPULSE_AVX2 inline M low_bits(uint64_t n) {
  return (M{1} << n) - 1;
}
// '0' to '9'; the signed compare puts bytes >= 0x80 below '0'.
NETPULSE_AVX2 inline __m256i digit32(__m256i v, const Constants& c) {
  return _mm256_andnot_si256(_mm256_cmpgt_epi8(v, v32(c.nine)), _mm256_cmpgt_epi8(v, v32(c.slash)));
}
NETPULSE_AVX2 inline __m256i blank32(__m256i v, const Constants& c) {
  return _mm256_or_si256(_mm256_cmpeq_epi8(v, v32(c.space)), _mm256_cmpeq_epi8(v, v32(c.tab)));
}

// The byte shuffles that put n digits (n = 1 to 8, the first digit in byte 0) right-aligned in
// 8 bytes, zeros before them and in the upper 8.
struct alignas(16) Align8 {
  int8_t shuffle[16];
};
constexpr std::array<Align8, 9> make_align8() {
  std::array<Align8, 9> t{};
  for (int n = 0; n <= 8; ++n)
    for (int i = 0; i < 16; ++i)
      t[static_cast<size_t>(n)].shuffle[i] =
          static_cast<int8_t>(i < 8 && i >= 8 - n ? i - (8 - n) : -1);
  return t;
}
constexpr std::array<Align8, 9> kAlign8 = make_align8();

// A dotted quad's shape: where its dots are and where it ends, as a key with a bit at each dot
// and one at its end (81 shapes: octets of 1-3 digits). A multiplicative hash, checked perfect
// on the 81 keys at compile time, indexes the shapes; each holds the byte shuffle that puts
// octet k's digits right-aligned in bytes 4k..4k+2 (zeros before) and the least value each
// octet may have without a leading zero.
struct Ipv4Shape {
  alignas(16) int8_t shuffle[16];
  alignas(16) int32_t least[4];
  uint64_t key;  // 0: no shape hashes here
};
constexpr uint64_t ipv4_shape_slot(uint64_t key) {
  return (key * 0xbd4097f63aca8183ULL) >> 56;
}
constexpr std::array<Ipv4Shape, 256> make_ipv4_shapes() {
  std::array<Ipv4Shape, 256> shapes{};
  for (int i = 0; i < 81; ++i) {
    const int len[4] = {i / 27 + 1, i / 9 % 3 + 1, i / 3 % 3 + 1, i % 3 + 1};
    Ipv4Shape s{};
    int start = 0;
    for (int k = 0; k < 4; ++k) {
      for (int j = 0; j < 4; ++j) s.shuffle[4 * k + j] = -1;  // -1: a zero byte
      for (int j = 0; j < len[k]; ++j)
        s.shuffle[4 * k + 3 - len[k] + j] = static_cast<int8_t>(start + j);
      s.least[k] = len[k] == 1 ? 0 : len[k] == 2 ? 10 : 100;
      start += len[k];
      s.key |= 1ULL << start;  // the dot after the octet, or the end
      ++start;
    }
    Ipv4Shape& slot = shapes[ipv4_shape_slot(s.key)];
    if (slot.key != 0) throw "the shape hash is not perfect";  // fails the constant evaluation
    slot = s;
  }
  return shapes;
}
constexpr std::array<Ipv4Shape, 256> kIpv4Shapes = make_ipv4_shapes();

// '0' to '9', 'a' to 'f' and 'A' to 'F'.
NETPULSE_AVX2 inline __m256i hex32(__m256i v, const Constants& c) {
  const __m256i lower = _mm256_or_si256(v, v32(c.case_bit));
  const __m256i letter = _mm256_andnot_si256(_mm256_cmpgt_epi8(lower, v32(c.f)),
                                             _mm256_cmpgt_epi8(lower, v32(c.before_a)));
  return _mm256_or_si256(digit32(v, c), letter);
}

// Up to 8 digits at p (the first in p[0]) to their value, with vector multiply-adds
// (pairs, then fours, then the two fours): 10 instructions, where the same in scalar
// multiplies took 18.
// REQUIRES: 1 <= n <= 8; the first n bytes at p are digits; 8 bytes readable from p.
NETPULSE_AVX2 inline uint32_t eight_digits_x86(const char* p, uint64_t n, const Constants& c) {
  assert(n >= 1 && n <= 8);
  const __m128i digits =
      _mm_sub_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)), v16(c.zero));
  const __m128i placed = _mm_shuffle_epi8(digits, load16(kAlign8[n].shuffle));
  const __m128i pairs = _mm_maddubs_epi16(placed, v16(c.tens));
  const __m128i fours = _mm_madd_epi16(pairs, v16(c.hundreds));
  const __m128i eight = _mm_madd_epi16(_mm_packs_epi32(fours, fours), v16(c.ten_thousands));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(eight));
}

// An IPv6 address of n bytes at p: groups of 1-4 hex digits, one "::" at most, no dotted quad
// (those go to core::parse_ip, which also judges every invalid text). The checks are masks of
// the token's bytes, so a valid address costs few branches: the scalar parser mispredicts
// several times per address on the lengths of its groups.
// Masks of 64 bytes: the longest address without a dotted quad has 39 ("1111:...:8888"); read
// as 32 bytes, those of 33 to 39 went to core::parse_ip, eight times the instructions, and they
// are most of the IPv6 addresses in a flow log.
// REQUIRES: 1 <= n <= 40; 64 bytes readable from p and 3 before it.
NETPULSE_AVX2 inline bool scan_ipv6(const char* p, uint64_t n, const Constants& c, core::Ip6& out) {
  const uint64_t token = _bzhi_u64(~0ULL, static_cast<unsigned>(n));
  const __m256i v0 = load32(p), v1 = load32(p + 32);
  const uint64_t hex = bits(hex32(v0, c), hex32(v1, c)) & token;
  const uint64_t colons =
      bits(_mm256_cmpeq_epi8(v0, v32(c.colon)), _mm256_cmpeq_epi8(v1, v32(c.colon))) & token;
  const uint64_t pairs = colons & (colons >> 1);  // "::" starting at the bit
  const uint64_t starts = hex & ~(hex << 1), lasts = hex & ~(hex >> 1);
  const auto groups = static_cast<unsigned>(_mm_popcnt_u64(starts));
  const bool lone_first = (colons & ~pairs) & 1;
  const bool lone_last = ((colons & ~(pairs << 1)) >> (n - 1)) & 1;
  const bool long_group = (hex & (hex >> 1) & (hex >> 2) & (hex >> 3) & (hex >> 4)) != 0;
  // (":::" has two pairs.)
  if (((colons | hex) != token) | (_mm_popcnt_u64(pairs) > 1) | lone_first | lone_last |
      long_group | (pairs == 0 ? groups != 8 : groups > 7))
    return false;
  // The groups, first one highest; then those after "::" moved to the bottom.
  unsigned __int128 all = 0;
  for (uint64_t s = starts, l = lasts; s != 0; s = _blsr_u64(s), l = _blsr_u64(l)) {
    const auto first = static_cast<uint32_t>(_tzcnt_u64(s));
    const auto last = static_cast<uint32_t>(_tzcnt_u64(l));
    uint32_t x;
    std::memcpy(&x, p + last - 3, 4);                    // the 4 bytes up to its last digit
    x = (x & 0x0F0F0F0F) + 9 * ((x >> 6) & 0x01010101);  // hex digit values
    x &= ~0U << (8 * (3 - (last - first)));              // only the group's own
    const uint32_t pairs_of_digits = (x << 4) | (x >> 8);
    all = all << 16 | ((pairs_of_digits & 0xFF) << 8) | ((pairs_of_digits >> 16) & 0xFF);
  }
  if (pairs != 0) {
    const auto before = static_cast<unsigned>(
        _mm_popcnt_u64(starts & _bzhi_u64(~0ULL, static_cast<unsigned>(_tzcnt_u64(pairs)))));
    const unsigned after = groups - before;
    const unsigned __int128 tail = all & ((static_cast<unsigned __int128>(1) << (16 * after)) - 1);
    all = before == 0 ? tail : (all >> (16 * after)) << (16 * (8 - before)) | tail;
  }
  out = core::Ip6{static_cast<uint64_t>(all >> 64), static_cast<uint64_t>(all)};
  return true;
}

// An address at p, given the window's masks shifted to p: a dotted quad (same rules as
// core::parse_ipv4) or an IPv6 address read here, anything else through core::parse_ip.
// Returns true when the token is a valid address.
NETPULSE_AVX2 __attribute__((always_inline)) inline bool scan_ip(const char* p, uint64_t field,
                                                                 uint64_t digits, uint64_t dots,
                                                                 const Constants& c,
                                                                 core::IpAddr& out) {
  const uint64_t n = tz(~(digits | dots));  // below 64: the masks end with the line
  const uint64_t key = _bzhi_u64(dots, static_cast<unsigned>(n)) | 1ULL << n;
  const Ipv4Shape& shape = kIpv4Shapes[ipv4_shape_slot(key)];
  if (shape.key != key || ((field >> n) & 1)) {
    const uint64_t size = tz(~field);
    core::Ip6 v6;
    if (size <= 40 && scan_ipv6(p, size, c, v6)) {
      out = core::IpAddr::v6(v6);
      return true;
    }
    return core::parse_ip(p, p + size, out);
  }
  const __m128i placed =
      _mm_shuffle_epi8(_mm_sub_epi8(load16(p), v16(c.zero)), load16(shape.shuffle));
  const __m128i octets = _mm_madd_epi16(_mm_maddubs_epi16(placed, v16(c.weights)), v16(c.ones16));
  const __m128i bad = _mm_or_si128(_mm_cmpgt_epi32(load16(shape.least), octets),
                                   _mm_cmpgt_epi32(octets, v16(c.max_octet)));
  if (!_mm_testz_si128(bad, bad)) return false;  // a leading zero, or above 255
  // The address as core::IpAddr::v4 holds it, in one store: bits.lo (bytes 8-11) the value with
  // octet 1 in its top byte, bits.hi zero.
  static_assert(offsetof(core::Ip6, hi) == 0 && offsetof(core::Ip6, lo) == 8);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(&out.bits),
                   _mm_shuffle_epi8(octets, v16(c.octet_order)));
  out.is_v6 = false;
  return true;
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
         __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
}

}  // namespace

bool FlowParser::fast_path_available() {
  static const bool available = cpu_has_avx2();
  return available;
}

// (Inlined into parse_one_x86 and parse_lines_x86's bulk loop, its callers.)
// REQUIRES: size in (19, kFastNarrowSize) with M = uint64_t, [kFastNarrowSize, kFastMaxSize)
// with Mask128: the line ends within the masks, and below the bit past their last.
template <class M>
NETPULSE_AVX2 __attribute__((always_inline)) inline bool FlowParser::parse_line_fast(
    const char* p, const char* end, FlowRecord& out) {
  constexpr bool kWide = sizeof(M) > 8;
  const ptrdiff_t size = end - p;
  if (!prefix_valid_) return false;
  const Constants& c = opaque_constants();

  // "YYYY-MM-DD HH:MM" as cached (parse_time's rule), then ":SS", seconds 00 to 59 (each digit
  // checked as an unsigned difference from '0').
  const auto tens = static_cast<uint32_t>(static_cast<uint8_t>(p[17])) - '0';
  const auto ones = static_cast<uint32_t>(static_cast<uint8_t>(p[18])) - '0';
  if (bits(_mm_cmpeq_epi8(load16(p), load16(prefix_))) != 0xFFFF || p[16] != ':' ||
      ((tens > 5) | (ones > 9)))
    return false;
  const uint32_t s = tens * 10 + ones;

  // The rest of the line: masks of the 64 (or 128) bytes after "HH:MM:SS".
  const char* w = p + 19;
  const M live = low_bits<M>(static_cast<uint64_t>(size - 19));
  M field, digits, dots;
  {
    const __m256i lo = load32(w), hi = load32(w + 32);
    field = ~bits(blank32(lo, c), blank32(hi, c));  // not blank (nor past the end, below)
    digits = bits(digit32(lo, c), digit32(hi, c));
    dots = bits(_mm256_cmpeq_epi8(lo, v32(c.dot)), _mm256_cmpeq_epi8(hi, v32(c.dot)));
  }
  if constexpr (kWide) {
    const __m256i lo = load32(w + 64), hi = load32(w + 96);
    field |= M{~bits(blank32(lo, c), blank32(hi, c))} << 64;
    digits |= M{bits(digit32(lo, c), digit32(hi, c))} << 64;
    dots |= M{bits(_mm256_cmpeq_epi8(lo, v32(c.dot)), _mm256_cmpeq_epi8(hi, v32(c.dot)))} << 64;
  }
  field &= live;
  digits &= live;
  dots &= live;

  // The fraction: 1-9 digits after a '.'. No branch: lines with and without one come mixed.
  const auto point = static_cast<uint64_t>(dots & 1);
  const uint64_t f = tz(~(digits >> 1)) & (0 - point);  // its digits
  uint32_t first3;
  std::memcpy(&first3, w + 1, 4);
  first3 = _bzhi_u32(first3 & 0x0F0F0F, static_cast<unsigned>(8 * f));  // 0 when f is
  const uint32_t ms = (first3 & 0xFF) * 100 + (first3 >> 8 & 0xFF) * 10 + (first3 >> 16);
  const uint64_t time_end = point + f;
  if ((point & (f - 1 > 8)) | ((field >> time_end) & 1)) return false;
  // Each field is stored as soon as it is known (out is the caller's to overwrite when the
  // line fails): held until the end, the values were spilled to the stack and read back.
  out.time = prefix_time_ + s * 1000 + ms;

  // Four more fields, each starting where a run of blanks ends.
  M starts = field & ~(field << 1) & ~M{1};  // (bit 0 is the fraction's '.')
  if (popcount(starts) != 4) return false;
  const uint64_t a_proto = tz(starts);
  starts = blsr(starts);
  const uint64_t a_src = tz(starts);
  starts = blsr(starts);
  const uint64_t a_dst = tz(starts);
  const uint64_t a_bytes = tz(blsr(starts));
  // scan_ip reads an address through the 64 bits of masks from its start: each must end within
  // them (a blank follows it before the next field), as it always does on a short line.
  if (kWide && ((a_dst - a_src > 63) | (a_bytes - a_dst > 63))) return false;

  // Protocol: 1-15 bytes up to the next blank (longer ones go the general way). A label the
  // cache holds was checked when it was added, so only one it lacks is checked here, each byte's
  // class, before it is interned (the classes took 15 instructions a line). Interned before the
  // addresses are read, as parse_fields does.
  const __m128i label = load16(w + a_proto);
  const uint64_t n = tz(~static_cast<uint64_t>(field >> a_proto));  // >= 1: a field starts there
  if (n >= 16) return false;
  const __m128i word =
      _mm_and_si128(label, _mm_cmpgt_epi8(_mm_set1_epi8(static_cast<char>(n)), v16(c.index)));
  const auto lo = static_cast<uint64_t>(_mm_cvtsi128_si64(word));
  const auto hi = static_cast<uint64_t>(_mm_extract_epi64(word, 1));
  uint32_t id;
  if (!cache_.find16(lo, hi, n, id)) [[unlikely]] {
    const __m128i lower = _mm_or_si128(label, v16(c.case_bit));
    const __m128i letter =
        _mm_andnot_si128(_mm_cmpgt_epi8(lower, v16(c.z)), _mm_cmpgt_epi8(lower, v16(c.before_a)));
    const __m128i other = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(label, v16(c.underscore)), _mm_cmpeq_epi8(label, v16(c.dot))),
        _mm_cmpeq_epi8(label, v16(c.dash)));
    const uint64_t label_bytes =
        bits(_mm_or_si128(letter, other)) | static_cast<uint64_t>(digits >> a_proto);
    if (tz(~label_bytes) < n) return false;  // a byte that is not a label character
    id = cache_.intern16(lo, hi, n);
  }
  out.protocol = id;

  // Bytes: digits up to the line's end or blanks.
  const uint64_t n_bytes = tz(~(digits >> a_bytes));
  if ((field >> (a_bytes + n_bytes)) & 1) return false;
  if (n_bytes <= 8) {
    out.bytes = eight_digits_x86(w + a_bytes, n_bytes, c);
  } else if (parse_bytes(w + a_bytes, w + a_bytes + n_bytes, out.bytes) != ParseStatus::kOk) {
    return false;
  }

  auto from = [](M m, uint64_t at) { return static_cast<uint64_t>(m >> at); };
  return scan_ip(w + a_src, from(field, a_src), from(digits, a_src), from(dots, a_src), c,
                 out.src) &&
         scan_ip(w + a_dst, from(field, a_dst), from(digits, a_dst), from(dots, a_dst), c, out.dst);
}

// Out of line: inlined beside the 64-bit path, it made parse_line_x86 too large for GCC to
// inline scan_ip and the protocol lookup into either (795 M instructions instead of 770 M on a
// million issue-12 records, callgrind).
NETPULSE_AVX2 __attribute__((noinline)) bool FlowParser::parse_line_wide(const char* p,
                                                                         const char* end,
                                                                         FlowRecord& out) {
  return parse_line_fast<Mask128>(p, end, out);
}

NETPULSE_AVX2 __attribute__((noinline)) ParseStatus FlowParser::parse_line_x86(
    const char* begin, const char* end, const char* readable_end, FlowRecord& out,
    ParseError* err) {
  return parse_one_x86(begin, end, readable_end, out, err);
}

// parse_line_x86's body, inlined there (for parse()) and into parse_lines_x86's tail loop (the
// lines near a block's end), where the call it saves (its prologue and epilogue: 14 and 8
// instructions) was a tenth of a valid line's cost.
NETPULSE_AVX2 __attribute__((always_inline)) inline ParseStatus FlowParser::parse_one_x86(
    const char* begin, const char* end, const char* readable_end, FlowRecord& out,
    ParseError* err) {
  if (end != begin && end[-1] == '\r') --end;
  const auto size = static_cast<size_t>(end - begin);
  if (size < kFastMaxSize) {
    const char* p = begin;
    char copy[kFastReadable];
    if (readable_end - begin < kFastReadable) {
      // Too near the end of what may be read: the fast path reads a copy. It never points into
      // its input (errors are left to parse_line, on the line itself).
      std::memcpy(copy, begin, size);
      std::memset(copy + size, 0, kFastReadable - size);
      p = copy;
    }
    if (size < kFastNarrowSize ? size > 19 && parse_line_fast<uint64_t>(p, p + size, out)
                               : parse_line_wide(p, p + size, out))
      return ParseStatus::kOk;
  } else if (size > kMaxLineLength) {
    if (err) *err = ParseError{ParseStatus::kTooLong, {}};
    return ParseStatus::kTooLong;
  }
  return parse_line(begin, end, out, err);
}

// Where the line at p ends: its '\n', or end. Most lines end within the 83 bytes two 32-byte
// loads and one of 64 cover, bytes the line's parse reads next from L1; longer ones (a few
// percent: IPv6 addresses) and those near the block's end go to memchr.
constexpr ptrdiff_t kLineEndScan = 19 + 64;  // FlowParser::kFastNarrowSize (parse_lines_x86)
NETPULSE_AVX2 __attribute__((always_inline)) static inline const char* line_end_x86(
    const char* p, const char* end) {
  const char* from = p;
  if (end - p >= kLineEndScan) {
    const __m256i nl = _mm256_set1_epi8('\n');
    const uint64_t head = bits(_mm256_cmpeq_epi8(load32(p), nl)) & 0x7FFFF;  // bytes 0-18
    const uint64_t rest = bits(_mm256_cmpeq_epi8(load32(p + 19), nl),
                               _mm256_cmpeq_epi8(load32(p + 51), nl));  // bytes 19-82
    if ((head | rest) != 0) return head != 0 ? p + tz(head) : p + 19 + tz(rest);
    from = p + kLineEndScan;
  }
  const auto* q =
      static_cast<const char*>(std::memchr(from, '\n', static_cast<size_t>(end - from)));
  return q ? q : end;
}

NETPULSE_AVX2 FlowParser::Lines FlowParser::parse_lines_x86(const char* from, const char* end,
                                                            uint64_t first, size_t n,
                                                            FlowRecord* out, BadLine* bad) {
  static_assert(kLineEndScan == kFastNarrowSize, "the line-end scan covers the narrow lines");
  // parse_lines' loop, with the line's parse inlined (see there). The counts are locals, not
  // the returned Lines' members: that one lives where the caller wants it, which the stores
  // through out and bad might alias, so they were loaded and stored on every line.
  size_t lines = 0, records = 0, n_bad = 0;
  const char* p = from;
  // The bulk of a block: lines that start kFastReadable bytes or more before its end, so that
  // neither the line-end scan nor the fast path needs a check or a copy for reading past the
  // line. A line whose '\n' is in bytes 19 to 82, 20 bytes or more without its '\r', goes to
  // the fast path, inlined; any other line, and one the fast path refuses (it then tries it
  // once more), to parse_line_x86, out of line. (With the one loop below for every line, its
  // checks and the values they kept live took 45 instructions a line.) Its state is held in as
  // few registers as can be (pointers for the outputs, a count of lines left): with indices
  // and limits, the parse spilled its own values to the stack.
  if (end - p > kFastReadable) {
    const char* const bulk_end = end - kFastReadable;
    const __m256i nl = _mm256_set1_epi8('\n');
    FlowRecord* o = out;
    BadLine* b = bad;
    size_t left = n;
    for (; left != 0 && p < bulk_end; --left) {
      const uint64_t head = bits(_mm256_cmpeq_epi8(load32(p), nl)) & 0x7FFFF;  // bytes 0-18
      const uint64_t rest = bits(_mm256_cmpeq_epi8(load32(p + 19), nl),
                                 _mm256_cmpeq_epi8(load32(p + 51), nl));  // bytes 19-82
      const char* line_end;
      ParseStatus st;
      if ((head == 0) & (rest != 0)) [[likely]] {
        line_end = p + 19 + tz(rest);
        const char* e = line_end - (line_end[-1] == '\r');
        if (e - p > 19 && parse_line_fast<uint64_t>(p, e, *o))
          st = ParseStatus::kOk;
        else
          st = parse_line_x86(p, line_end, end, *o, nullptr);
      } else {
        line_end = line_end_x86(p, end);
        st = parse_line_x86(p, line_end, end, *o, nullptr);
      }
      o += st == ParseStatus::kOk;
      if (st != ParseStatus::kOk && st != ParseStatus::kBlank) [[unlikely]]
        *b++ = BadLine{first + (n - left), st, p, line_end};
      p = line_end + (line_end != end);
    }
    lines = n - left;
    records = static_cast<size_t>(o - out);
    n_bad = static_cast<size_t>(b - bad);
  }
  for (; lines < n && p != end; ++lines) {
    const char* line_end = line_end_x86(p, end);
    const ParseStatus s = parse_one_x86(p, line_end, end, out[records], nullptr);
    records += s == ParseStatus::kOk;
    if (s != ParseStatus::kOk && s != ParseStatus::kBlank) [[unlikely]]
      bad[n_bad++] = BadLine{first + lines, s, p, line_end};
    p = line_end + (line_end != end);
  }
  return Lines{records, n_bad, lines, p};
}

#else

bool FlowParser::fast_path_available() {
  return false;
}

#endif  // __x86_64__

core::Status FlowParser::read_header(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // Spreadsheet programs start UTF-8 CSV files with a byte order mark.
  if (line.substr(0, 3) == "\xef\xbb\xbf") line.remove_prefix(3);
  static constexpr const char* kNames[5] = {"time", "protocol", "src", "dst", "bytes"};
  std::array<int, 5> index{-1, -1, -1, -1, -1};
  int column = 0;
  size_t pos = 0;
  while (true) {
    const size_t comma = line.find(',', pos);
    std::string name(
        trim(line.substr(pos, comma == std::string_view::npos ? line.npos : comma - pos)));
    for (char& c : name) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    for (int f = 0; f < 5; ++f) {
      if (name != kNames[f]) continue;
      if (index[f] >= 0)
        return core::Status::invalid_argument("CSV header names column '" + name + "' twice");
      index[f] = column;
    }
    ++column;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  for (int f = 0; f < 5; ++f)
    if (index[f] < 0)
      return core::Status::invalid_argument(
          std::string("CSV header lacks column '") + kNames[f] +
          "' (expected time,protocol,src,dst,bytes in any order)");
  csv_index_ = index;
  csv_columns_ = column;
  return core::Status();
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
        if (csv_index_[f] == column)
          fields[f] = trim(std::string_view(field, static_cast<size_t>(q - field)));
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
