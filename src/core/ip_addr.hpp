// IP addresses in binary: IPv4 and IPv6 in one 17-byte value, parsed without allocation and
// printed in canonical text (dotted quad; RFC 5952 for IPv6). Value type; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netpulse::core {

struct Ip6 {
  uint64_t hi = 0;  // first 8 bytes, big-endian order folded into an integer
  uint64_t lo = 0;  // last 8 bytes
  friend bool operator==(const Ip6&, const Ip6&) = default;
  friend auto operator<=>(const Ip6&, const Ip6&) = default;
};

// An address of either family. IPv4 keeps its 32-bit value in v6.lo; the family is explicit,
// so ::ffff:1.2.3.4 (written as IPv6) and 1.2.3.4 stay distinct keys.
struct IpAddr {
  Ip6 bits;
  bool is_v6 = false;

  static IpAddr v4(uint32_t a) { return IpAddr{Ip6{0, a}, false}; }
  static IpAddr v6(Ip6 a) { return IpAddr{a, true}; }
  uint32_t v4_value() const { return static_cast<uint32_t>(bits.lo); }

  friend bool operator==(const IpAddr&, const IpAddr&) = default;
  // The spec's order: IPv4 before IPv6, numerically within each family.
  friend bool operator<(const IpAddr& a, const IpAddr& b) {
    if (a.is_v6 != b.is_v6) return !a.is_v6;
    return a.bits < b.bits;
  }
};

// Parses a dotted quad: four decimal octets 0-255, no leading zeros (01 is ambiguous: octal to
// some tools), nothing else. The hot-path entry points take [begin, end).
bool parse_ipv4(const char* begin, const char* end, uint32_t& out);
// Parses RFC 4291 text: 1-4 hex digits per group, at most one "::", an optional trailing dotted
// quad. Zone indices ("%eth0") are rejected.
bool parse_ipv6(const char* begin, const char* end, Ip6& out);
// Either family (IPv6 when the text has a ':').
bool parse_ip(const char* begin, const char* end, IpAddr& out);
std::optional<IpAddr> parse_ip(std::string_view text);

// Canonical text; returns the end. out needs kMaxIpText bytes.
inline constexpr size_t kMaxIpText = 46;
char* format_ip(const IpAddr& a, char* out);
std::string to_string(const IpAddr& a);

}  // namespace netpulse::core
