#include "core/ip_addr.hpp"

#include <array>

#include <cstring>

namespace netpulse::core {

bool parse_ipv4(const char* p, const char* end, uint32_t& out) {
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

namespace {

// The value of each hex digit byte, 16 for every other byte: one lookup instead of three tests
// per character (the line parser reads IPv6 addresses through here).
constexpr std::array<uint8_t, 256> make_hex_values() {
  std::array<uint8_t, 256> t{};
  for (uint8_t& v : t) v = 16;
  for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<uint8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<uint8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[c] = static_cast<uint8_t>(c - 'A' + 10);
  return t;
}
constexpr std::array<uint8_t, 256> kHexValue = make_hex_values();

}  // namespace

bool parse_ipv6(const char* p, const char* end, Ip6& out) {
  uint16_t groups[8] = {};
  int n = 0;            // groups written
  int gap = -1;         // index in groups where "::" stands
  if (p == end) return false;
  if (*p == ':') {
    if (end - p < 2 || p[1] != ':') return false;  // a lone leading ':'
    gap = 0;
    p += 2;
    if (p == end) {
      out = Ip6{};
      return true;
    }
  }
  while (true) {
    // One group, or a trailing dotted quad.
    const char* start = p;
    unsigned v = 0;
    int digits = 0;
    while (p != end && digits < 5) {
      const unsigned h = kHexValue[static_cast<uint8_t>(*p)];
      if (h > 15) break;
      v = (v << 4) | h;
      ++digits;
      ++p;
    }
    if (p != end && *p == '.') {
      // Embedded IPv4 in the last 32 bits.
      uint32_t v4;
      if (n > 6 || !parse_ipv4(start, end, v4)) return false;
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
  } else if (n != 8) {
    return false;
  } else {
    gap = 8;
  }
  // The groups before "::" at the top, those after it at the bottom, zeros between.
  uint64_t hi = 0, lo = 0;
  for (int i = 0; i < 8; ++i) {
    const int from = i < gap ? i : i - (8 - n);
    const uint64_t g = i < gap || from >= gap ? groups[from] : 0;
    if (i < 4) hi = (hi << 16) | g;
    else lo = (lo << 16) | g;
  }
  out = Ip6{hi, lo};
  return true;
}

bool parse_ip(const char* begin, const char* end, IpAddr& out) {
  // A ':' can only be in IPv6 text; look at the first 5 bytes (an IPv4 has a '.' by then).
  for (const char* p = begin; p != end && p < begin + 5; ++p) {
    if (*p == ':') {
      out.is_v6 = true;
      return parse_ipv6(begin, end, out.bits);
    }
    if (*p == '.') break;
  }
  uint32_t v4;
  if (!parse_ipv4(begin, end, v4)) return false;
  out = IpAddr::v4(v4);
  return true;
}

std::optional<IpAddr> parse_ip(std::string_view text) {
  IpAddr a;
  if (!parse_ip(text.data(), text.data() + text.size(), a)) return std::nullopt;
  return a;
}

namespace {


// "0." to "255.": each octet with its dot, copied as one 4-byte word (the collector and the
// JSON output format millions of addresses a second).
struct OctetText {
  char text[4];
  uint8_t size;
};
constexpr std::array<OctetText, 256> make_octets() {
  std::array<OctetText, 256> t{};
  for (unsigned v = 0; v < 256; ++v) {
    OctetText& o = t[v];
    unsigned n = 0;
    if (v >= 100) o.text[n++] = static_cast<char>('0' + v / 100);
    if (v >= 10) o.text[n++] = static_cast<char>('0' + v / 10 % 10);
    o.text[n++] = static_cast<char>('0' + v % 10);
    o.text[n++] = '.';
    o.size = static_cast<uint8_t>(n);
  }
  return t;
}
constexpr std::array<OctetText, 256> kOctets = make_octets();

// Writes up to 16 bytes at p (one past the text); returns the end of the text.
char* put_v4(char* p, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    const OctetText& o = kOctets[(v >> shift) & 0xff];
    std::memcpy(p, o.text, 4);
    p += o.size;
  }
  return p - 1;  // the last octet's dot is not part of it
}

char* put_hex(char* p, unsigned v) {
  static constexpr char kHex[] = "0123456789abcdef";
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    const unsigned d = (v >> shift) & 0xf;
    if (d || started || shift == 0) {
      *p++ = kHex[d];
      started = true;
    }
  }
  return p;
}

}  // namespace

char* format_ip(const IpAddr& a, char* p) {
  if (!a.is_v6) return put_v4(p, a.v4_value());
  uint16_t g[8];
  for (int i = 0; i < 4; ++i) g[i] = static_cast<uint16_t>(a.bits.hi >> (48 - 16 * i));
  for (int i = 0; i < 4; ++i) g[4 + i] = static_cast<uint16_t>(a.bits.lo >> (48 - 16 * i));
  // RFC 5952 section 5: IPv4-mapped addresses keep the dotted quad.
  if (a.bits.hi == 0 && (a.bits.lo >> 32) == 0xffff) {
    std::memcpy(p, "::ffff:", 7);
    return put_v4(p + 7, static_cast<uint32_t>(a.bits.lo));
  }
  // Section 4.2: compress the longest run of two or more zero groups, the first on a tie.
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) {
      best = i;
      best_len = j - i;
    }
    i = j;
  }
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      *p++ = ':';
      *p++ = ':';
      i += best_len - 1;
      continue;
    }
    if (i > 0 && i != best + best_len) *p++ = ':';
    p = put_hex(p, g[i]);
  }
  return p;
}

std::string to_string(const IpAddr& a) {
  char buf[kMaxIpText];
  return std::string(buf, format_ip(a, buf));
}

}  // namespace netpulse::core
