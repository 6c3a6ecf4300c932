// Tests for core/ip_addr: parsing compared with glibc's inet_pton() on many generated strings
// (random and structured), RFC 5952 output on the RFC's own examples and against inet_ntop(),
// and the spec's address order.
#include "core/ip_addr.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace netpulse::core {
namespace {

std::optional<uint32_t> ours_v4(std::string_view s) {
  uint32_t v = 0;
  if (!parse_ipv4(s.data(), s.data() + s.size(), v)) return std::nullopt;
  return v;
}

std::optional<Ip6> ours_v6(std::string_view s) {
  Ip6 v;
  if (!parse_ipv6(s.data(), s.data() + s.size(), v)) return std::nullopt;
  return v;
}

// glibc's answer. inet_pton reads a C string, so text with a NUL is never passed to it.
std::optional<uint32_t> glibc_v4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

Ip6 from_bytes(const unsigned char* b) {
  Ip6 v;
  for (int i = 0; i < 8; ++i) v.hi = (v.hi << 8) | b[i];
  for (int i = 8; i < 16; ++i) v.lo = (v.lo << 8) | b[i];
  return v;
}

void to_bytes(const Ip6& v, unsigned char* b) {
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v.hi >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) b[8 + i] = static_cast<unsigned char>(v.lo >> (56 - 8 * i));
}

std::optional<Ip6> glibc_v6(const std::string& s) {
  in6_addr a{};
  if (inet_pton(AF_INET6, s.c_str(), &a) != 1) return std::nullopt;
  return from_bytes(a.s6_addr);
}

std::string glibc_ntop6(const Ip6& v) {
  in6_addr a{};
  to_bytes(v, a.s6_addr);
  char buf[INET6_ADDRSTRLEN];
  EXPECT_NE(inet_ntop(AF_INET6, &a, buf, sizeof buf), nullptr);
  return buf;
}

std::string v6_text(const Ip6& v) { return to_string(IpAddr::v6(v)); }

Ip6 v6(std::string_view s) {
  auto v = ours_v6(s);
  EXPECT_TRUE(v.has_value()) << s;
  return v.value_or(Ip6{});
}

// ---------------------------------------------------------------------------------------------
// IPv4

TEST(ParseIpv4, Valid) {
  EXPECT_EQ(ours_v4("0.0.0.0"), 0u);
  EXPECT_EQ(ours_v4("255.255.255.255"), 0xffffffffu);
  EXPECT_EQ(ours_v4("1.2.3.4"), 0x01020304u);
  EXPECT_EQ(ours_v4("10.0.0.1"), 0x0a000001u);
  EXPECT_EQ(ours_v4("222.186.237.75"), 0xdebaed4bu);
  EXPECT_EQ(ours_v4("100.20.3.0"), 0x64140300u);
  EXPECT_EQ(ours_v4("199.250.249.9"), 0xc7faf909u);
}

TEST(ParseIpv4, Invalid) {
  for (const char* s :
       {"", ".", "...", "1", "1.2", "1.2.3", "1.2.3.", ".1.2.3", "1.2.3.4.", "1.2.3.4.5",
        "1..2.3", "256.1.1.1", "1.256.1.1", "1.1.1.256", "999.1.1.1", "1000.1.1.1",
        "01.2.3.4", "1.02.3.4", "1.2.3.04", "00.0.0.0", "0.0.0.00", "1.2.3.010", "0x1.2.3.4",
        "1.2.3.a", "a.2.3.4", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\t", "1.2.3.-4", "-1.2.3.4",
        "1.2.3.+4", "1.2.3.4/24", "1.2.3.4:80", "1,2,3,4", "1.2.3.4\r", "1 .2.3.4",
        "4294967295", "0", "::1", "1.2.3.4e"}) {
    EXPECT_EQ(ours_v4(s), std::nullopt) << '"' << s << '"';
    EXPECT_EQ(glibc_v4(s), std::nullopt) << "the reference disagrees: " << s;
  }
  // A NUL anywhere, even where a C string would end.
  EXPECT_EQ(ours_v4(std::string_view("1.2.3.4\0", 8)), std::nullopt);
  EXPECT_EQ(ours_v4(std::string_view("1.2\0.3.4", 8)), std::nullopt);
  EXPECT_EQ(ours_v4(std::string_view("\0", 1)), std::nullopt);
  // High bytes (signed char) must not look like digits.
  EXPECT_EQ(ours_v4("1.2.3.\xb4"), std::nullopt);
  EXPECT_EQ(ours_v4("\xff.2.3.4"), std::nullopt);
}

TEST(ParseIpv4, LeavesOutputAloneOnFailure) {
  uint32_t v = 77;
  const std::string s = "1.2.3.256";
  EXPECT_FALSE(parse_ipv4(s.data(), s.data() + s.size(), v));
  EXPECT_EQ(v, 77u);
}

TEST(ParseIpv4, EveryOctetValueInEveryPosition) {
  for (int pos = 0; pos < 4; ++pos) {
    for (int v = 0; v < 1000; ++v) {
      for (int pad = 0; pad < 3; ++pad) {
        std::string octet = std::string(static_cast<size_t>(pad), '0') + std::to_string(v);
        std::string s;
        for (int i = 0; i < 4; ++i) {
          if (i) s += '.';
          s += i == pos ? octet : "7";
        }
        ASSERT_EQ(ours_v4(s), glibc_v4(s)) << s;
      }
    }
  }
}

TEST(ParseIpv4, RandomStringsAgainstInetPton) {
  std::mt19937_64 rng(11);
  static constexpr char kAlphabet[] = "0123456789.........0000011111255 a-+:x";
  int valid = 0;
  for (int i = 0; i < 300000; ++i) {
    const size_t len = rng() % 18;
    std::string s;
    for (size_t j = 0; j < len; ++j) s += kAlphabet[rng() % (sizeof kAlphabet - 1)];
    const auto got = ours_v4(s);
    ASSERT_EQ(got, glibc_v4(s)) << '"' << s << '"';
    valid += got.has_value();
  }
  EXPECT_GT(valid, 100);  // the generator reaches valid addresses too
}

TEST(ParseIpv4, StructuredStringsAgainstInetPton) {
  std::mt19937_64 rng(12);
  int valid = 0;
  for (int i = 0; i < 200000; ++i) {
    const int parts = 3 + static_cast<int>(rng() % 3);  // 3, 4 or 5 octets
    std::string s;
    for (int p = 0; p < parts; ++p) {
      if (p) s += (rng() % 50 == 0) ? "," : ".";
      switch (rng() % 8) {
        case 0: break;                                   // empty octet
        case 1: s += '0'; s += std::to_string(rng() % 300); break;  // leading zero
        case 2: s += std::to_string(250 + rng() % 10); break;   // around 255
        default: s += std::to_string(rng() % 256);
      }
    }
    const auto got = ours_v4(s);
    ASSERT_EQ(got, glibc_v4(s)) << s;
    valid += got.has_value();
  }
  EXPECT_GT(valid, 10000);
}

// ---------------------------------------------------------------------------------------------
// IPv6

TEST(ParseIpv6, Valid) {
  EXPECT_EQ(v6("::"), (Ip6{0, 0}));
  EXPECT_EQ(v6("::1"), (Ip6{0, 1}));
  EXPECT_EQ(v6("1::"), (Ip6{0x0001000000000000ULL, 0}));
  EXPECT_EQ(v6("2001:db8::1"), (Ip6{0x20010db800000000ULL, 1}));
  EXPECT_EQ(v6("2001:DB8::1"), (Ip6{0x20010db800000000ULL, 1}));
  EXPECT_EQ(v6("2001:0db8:0000:0000:0000:0000:0000:0001"), (Ip6{0x20010db800000000ULL, 1}));
  EXPECT_EQ(v6("1:2:3:4:5:6:7:8"), (Ip6{0x0001000200030004ULL, 0x0005000600070008ULL}));
  EXPECT_EQ(v6("1:2:3:4:5:6:7::"), (Ip6{0x0001000200030004ULL, 0x0005000600070000ULL}));
  EXPECT_EQ(v6("::2:3:4:5:6:7:8"), (Ip6{0x0000000200030004ULL, 0x0005000600070008ULL}));
  EXPECT_EQ(v6("1::8"), (Ip6{0x0001000000000000ULL, 8}));
  EXPECT_EQ(v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), (Ip6{~0ULL, ~0ULL}));
  EXPECT_EQ(v6("::ffff:1.2.3.4"), (Ip6{0, 0x0000ffff01020304ULL}));
  EXPECT_EQ(v6("::1.2.3.4"), (Ip6{0, 0x01020304ULL}));
  EXPECT_EQ(v6("1:2:3:4:5:6:1.2.3.4"), (Ip6{0x0001000200030004ULL, 0x0005000601020304ULL}));
  EXPECT_EQ(v6("1::6:255.255.255.255"), (Ip6{0x0001000000000000ULL, 0x00000006ffffffffULL}));
  EXPECT_EQ(v6("fe80::1:2"), (Ip6{0xfe80000000000000ULL, 0x0000000000010002ULL}));
  EXPECT_EQ(v6("0:0:0:0:0:0:0:0"), (Ip6{0, 0}));
  EXPECT_EQ(v6("0::0"), (Ip6{0, 0}));
}

TEST(ParseIpv6, Invalid) {
  for (const char* s : {
           "", ":", ":::", "::::", "1", "1:", ":1", "1:2", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9",
           "1:2:3:4:5:6:7:8:", ":1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8",
           "1::2:3:4:5:6:7:8", "1:2:3:4::5:6:7:8", "1::2::3", "::1::", "1:::2", ":::1", "1:::",
           "12345::", "::12345", "1:2:3:4:5:6:7:10000", "g::", "::g", "1:2:3:4:5:6:7:-8",
           "::1 ", " ::1", "::1\t", "[::1]", "fe80::1%eth0", "fe80::1%1", "::1/128",
           "::ffff:1.2.3", "::ffff:1.2.3.4.5", "::ffff:256.1.1.1", "::ffff:01.2.3.4",
           "::1.2.3.4:1", "1.2.3.4::", "1.2.3.4", "::1.2.3.4.", "1:2:3:4:5:6:7:1.2.3.4",
           "1:2:3:4:5:6::1.2.3.4", "::1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:1.2.3.4",
           "::a.b.c.d", "::ffff:1.2.3.4/96", "::0x1", "0x1::", "1:2:3:4:5:6:7:8 ", "1,2::"}) {
    EXPECT_EQ(ours_v6(s), std::nullopt) << '"' << s << '"';
    EXPECT_EQ(glibc_v6(s), std::nullopt) << "the reference disagrees: " << s;
  }
  EXPECT_EQ(ours_v6(std::string_view("::1\0", 4)), std::nullopt);
  EXPECT_EQ(ours_v6(std::string_view("\0::1", 4)), std::nullopt);
  EXPECT_EQ(ours_v6(std::string_view("::\0", 3)), std::nullopt);
  EXPECT_EQ(ours_v6("::\xff"), std::nullopt);
  EXPECT_EQ(ours_v6("\xa0::"), std::nullopt);
}

// Random text over the characters IPv6 text is made of.
TEST(ParseIpv6, RandomStringsAgainstInetPton) {
  std::mt19937_64 rng(13);
  static constexpr char kAlphabet[] = "0123456789abcdefABCDEF::::::::..0000ffgx% ";
  int valid = 0;
  for (int i = 0; i < 300000; ++i) {
    const size_t len = rng() % 24;
    std::string s;
    for (size_t j = 0; j < len; ++j) s += kAlphabet[rng() % (sizeof kAlphabet - 1)];
    const auto got = ours_v6(s);
    ASSERT_EQ(got, glibc_v6(s)) << '"' << s << '"';
    valid += got.has_value();
  }
  EXPECT_GT(valid, 100);
}

// Addresses built group by group, then written with random group counts, digit counts, "::"
// placements, embedded dotted quads and junk: mostly near-valid text.
std::string structured_v6(std::mt19937_64& rng) {
  static constexpr char kHex[] = "0123456789abcdefABCDEF";
  const int groups = 6 + static_cast<int>(rng() % 4);  // 6..9 before any "::"
  const bool dotted = rng() % 4 == 0;
  // Where "::" goes (or -1), and how many groups it hides.
  const int gap_at = rng() % 3 == 0 ? -1 : static_cast<int>(rng() % (groups + 1));
  const int hidden = static_cast<int>(rng() % 4);
  std::string s;
  int written = 0;
  const int total = groups - (gap_at >= 0 ? hidden : 0) - (dotted ? 2 : 0);
  for (int g = 0; g < std::max(total, 0); ++g) {
    if (g == gap_at) s += "::";
    else if (g > 0) s += ':';
    const int ndigits = static_cast<int>(rng() % 6);  // 0..5 digits (0 and 5 are invalid)
    const bool zero = rng() % 3 == 0;
    for (int d = 0; d < ndigits; ++d) s += zero ? '0' : kHex[rng() % (sizeof kHex - 1)];
    ++written;
  }
  if (gap_at >= written) s += "::";
  if (dotted) {
    if (!s.empty() && s.back() != ':') s += ':';
    for (int o = 0; o < 4; ++o) {
      if (o) s += '.';
      s += std::to_string(rng() % 10 == 0 ? 256 + rng() % 10 : rng() % 256);
    }
  }
  switch (rng() % 40) {
    case 0: s += "%eth0"; break;
    case 1: s += ":"; break;
    case 2: s = ":" + s; break;
    case 3: s += "::"; break;
    case 4: if (!s.empty()) s.pop_back(); break;
    default: break;
  }
  return s;
}

TEST(ParseIpv6, StructuredStringsAgainstInetPton) {
  std::mt19937_64 rng(14);
  int valid = 0;
  for (int i = 0; i < 300000; ++i) {
    const std::string s = structured_v6(rng);
    const auto got = ours_v6(s);
    ASSERT_EQ(got, glibc_v6(s)) << '"' << s << '"';
    valid += got.has_value();
  }
  EXPECT_GT(valid, 20000);
}

// ---------------------------------------------------------------------------------------------
// parse_ip: either family

TEST(ParseIp, PicksTheFamily) {
  auto a = parse_ip("1.2.3.4");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->is_v6);
  EXPECT_EQ(a->v4_value(), 0x01020304u);

  auto b = parse_ip("::ffff:1.2.3.4");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->is_v6);
  EXPECT_NE(*a, *b);  // same bits in the low word, different families: distinct keys
  EXPECT_EQ(to_string(*b), "::ffff:1.2.3.4");

  auto c = parse_ip("2001:db8::1");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->is_v6);
  auto d = parse_ip("ffff:1::");
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->is_v6);
  EXPECT_EQ(to_string(*d), "ffff:1::");

  for (const char* s : {"", "1.2.3.4:80", "1.2.3", "12345::", "[::1]", "localhost", "1.2.3.4.",
                        "fe80::1%eth0", "::1.2.3.4:80", ":", "."}) {
    EXPECT_EQ(parse_ip(s), std::nullopt) << s;
  }
}

TEST(ParseIp, AgreesWithEachFamilysParser) {
  std::mt19937_64 rng(15);
  for (int i = 0; i < 100000; ++i) {
    std::string s;
    if (rng() % 2) {
      s = structured_v6(rng);
    } else {
      for (int o = 0; o < 4; ++o) {
        if (o) s += '.';
        s += std::to_string(rng() % 260);
      }
    }
    const auto g4 = glibc_v4(s);
    const auto g6 = glibc_v6(s);
    const auto got = parse_ip(s);
    ASSERT_EQ(got.has_value(), g4.has_value() || g6.has_value()) << s;
    if (g4) {
      ASSERT_EQ(*got, IpAddr::v4(*g4)) << s;
    } else if (g6) {
      ASSERT_EQ(*got, IpAddr::v6(*g6)) << s;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Canonical text

TEST(FormatIp, Ipv4) {
  EXPECT_EQ(to_string(IpAddr::v4(0)), "0.0.0.0");
  EXPECT_EQ(to_string(IpAddr::v4(0xffffffffu)), "255.255.255.255");
  EXPECT_EQ(to_string(IpAddr::v4(0x0a000001u)), "10.0.0.1");
  EXPECT_EQ(to_string(IpAddr::v4(0x64140300u)), "100.20.3.0");
  EXPECT_EQ(to_string(IpAddr::v4(0xdebaed4bu)), "222.186.237.75");
}

TEST(FormatIp, Ipv4RoundTripsEveryOctetValue) {
  char buf[kMaxIpText];
  for (uint32_t v = 0; v < 256; ++v) {
    for (uint32_t x : {v * 0x01010101u, v << 24 | 0x000a0b0c, v | 0x0a0b0c00, v << 12 | 1}) {
      const std::string text(buf, format_ip(IpAddr::v4(x), buf));
      in_addr a{};
      a.s_addr = htonl(x);
      char ref[INET_ADDRSTRLEN];
      ASSERT_NE(inet_ntop(AF_INET, &a, ref, sizeof ref), nullptr);
      ASSERT_EQ(text, ref);
      ASSERT_EQ(ours_v4(text), x);
    }
  }
}

// The examples of RFC 5952 (sections 2 and 4) and the rules they show.
TEST(FormatIp, Rfc5952Examples) {
  const std::pair<const char*, const char*> cases[] = {
      // 4.1: leading zeros suppressed; 4.3: lowercase.
      {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"2001:DB8::1", "2001:db8::1"},
      {"2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"},
      {"2001:db8::0001", "2001:db8::1"},
      {"2001:db8:0:0:0::1", "2001:db8::1"},
      {"2001:db8:0:0::1", "2001:db8::1"},
      {"2001:db8::0:1", "2001:db8::1"},
      {"2001:db8:0000:0:1::1", "2001:db8::1:0:0:1"},
      {"2001:DB8:0:0:1::1", "2001:db8::1:0:0:1"},
      {"2001:db8::aaaa:0:0:1", "2001:db8::aaaa:0:0:1"},
      {"2001:db8:0:0:aaaa::1", "2001:db8::aaaa:0:0:1"},
      {"2001:db8::1:0:0:1", "2001:db8::1:0:0:1"},
      // 4.2.1: "::" as long as possible.
      {"2001:db8:0:0:0:0:2:1", "2001:db8::2:1"},
      // 4.2.2: a single zero group is not compressed.
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      {"2001:db8::1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      // 4.2.3: the longest run; the first on a tie.
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
      {"1:0:0:2:0:0:3:4", "1::2:0:0:3:4"},
      {"0:0:1:0:0:1:0:0", "::1:0:0:1:0:0"},
      {"1:0:0:1:0:0:0:0", "1:0:0:1::"},
      // The ends.
      {"0:0:0:0:0:0:0:0", "::"},
      {"0:0:0:0:0:0:0:1", "::1"},
      {"1:0:0:0:0:0:0:0", "1::"},
      {"0:1:0:0:0:0:0:0", "0:1::"},
      {"0:0:0:0:0:0:1:0", "::1:0"},
      {"0:1:0:1:0:1:0:1", "0:1:0:1:0:1:0:1"},
      {"1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"},
      {"fe80::1:2:3:4", "fe80::1:2:3:4"},
      {"FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
      {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
      {"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"},
      // Section 5: IPv4-mapped keeps the dotted quad.
      {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
      {"0:0:0:0:0:FFFF:c000:0201", "::ffff:192.0.2.1"},
      {"::ffff:0.0.0.0", "::ffff:0.0.0.0"},
      {"::ffff:255.255.255.255", "::ffff:255.255.255.255"},
      // Not IPv4-mapped: plain hexadecimal (glibc's inet_ntop writes "::192.0.2.1" for the
      // deprecated IPv4-compatible form; RFC 5952 has no such rule, so we do not).
      {"::192.0.2.1", "::c000:201"},
      {"::0.0.0.2", "::2"},
      {"::1:ffff:1.2.3.4", "::1:ffff:102:304"},
      {"::ffff:0:1.2.3.4", "::ffff:0:102:304"},
      {"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
      {"1::ffff:1.2.3.4", "1::ffff:102:304"},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(v6_text(v6(in)), want) << in;
    EXPECT_EQ(v6(want), v6(in)) << want;  // the canonical text means the same address
  }
  // Documented difference from glibc's inet_ntop (IPv4-compatible addresses).
  EXPECT_EQ(glibc_ntop6(v6("::192.0.2.1")), "::192.0.2.1");
}

TEST(FormatIp, LongestTextFitsTheBuffer) {
  char buf[kMaxIpText + 8];
  std::memset(buf, '#', sizeof buf);
  char* end = format_ip(IpAddr::v6(v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")), buf);
  EXPECT_EQ(end - buf, 39);
  EXPECT_LE(static_cast<size_t>(end - buf), kMaxIpText);
  end = format_ip(IpAddr::v6(v6("::ffff:255.255.255.255")), buf);
  EXPECT_LE(static_cast<size_t>(end - buf), kMaxIpText);
  end = format_ip(IpAddr::v4(0xffffffffu), buf);
  EXPECT_EQ(end - buf, 15);
}

// Random addresses with many zero groups: our text must parse back to the same address, and must
// equal glibc's inet_ntop except for glibc's IPv4-compatible form (see Rfc5952Examples).
TEST(FormatIp, RandomAgainstInetNtop) {
  std::mt19937_64 rng(16);
  int compared = 0, compat = 0;
  for (int i = 0; i < 300000; ++i) {
    uint16_t g[8];
    const unsigned zero_odds = 1 + static_cast<unsigned>(rng() % 4);
    for (auto& x : g) {
      x = rng() % (zero_odds + 1) == 0 ? static_cast<uint16_t>(rng()) : 0;
      if (rng() % 8 == 0) x = static_cast<uint16_t>(rng() % 16);  // short groups
      if (rng() % 16 == 0) x = 0xffff;
    }
    Ip6 v;
    for (int k = 0; k < 4; ++k) v.hi = (v.hi << 16) | g[k];
    for (int k = 4; k < 8; ++k) v.lo = (v.lo << 16) | g[k];
    const std::string ours = v6_text(v);
    ASSERT_EQ(ours_v6(ours), v) << ours;
    ASSERT_EQ(ours, [&] {
      std::string lower = ours;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      return lower;
    }());
    ASSERT_EQ(ours.find(":::"), std::string::npos) << ours;
    ASSERT_LE(std::count(ours.begin(), ours.end(), ':') - (ours.find("::") != std::string::npos),
              7)
        << ours;
    const std::string ref = glibc_ntop6(v);
    const bool glibc_compat = ref.find('.') != std::string::npos && ref.rfind("::ffff:", 0) != 0;
    if (glibc_compat) {
      ++compat;
      ASSERT_EQ(v.hi, 0u);
      ASSERT_EQ(v.lo >> 32, 0u);
      ASSERT_EQ(ours.find('.'), std::string::npos) << ours;
    } else {
      ASSERT_EQ(ours, ref);
      ++compared;
    }
  }
  EXPECT_GT(compared, 250000);
  EXPECT_GT(compat, 0);
}

// ---------------------------------------------------------------------------------------------
// Order

TEST(IpOrder, Ipv4BeforeIpv6ThenNumeric) {
  const IpAddr a4 = *parse_ip("1.2.3.4");
  const IpAddr b4 = *parse_ip("1.2.3.5");
  const IpAddr c4 = *parse_ip("255.255.255.255");
  const IpAddr zero6 = *parse_ip("::");
  const IpAddr mapped = *parse_ip("::ffff:1.2.3.4");
  const IpAddr low6 = *parse_ip("::2");
  const IpAddr high6 = *parse_ip("ffff::");
  const IpAddr lo_word = *parse_ip("0:0:0:1::");
  EXPECT_TRUE(a4 < b4);
  EXPECT_FALSE(b4 < a4);
  EXPECT_FALSE(a4 < a4);
  EXPECT_TRUE(c4 < zero6);  // any IPv4 before any IPv6
  EXPECT_FALSE(zero6 < c4);
  EXPECT_TRUE(a4 < mapped);
  EXPECT_TRUE(zero6 < low6);
  EXPECT_TRUE(low6 < mapped);
  EXPECT_TRUE(mapped < lo_word);  // the high word decides first
  EXPECT_TRUE(lo_word < high6);
  // Numeric, not textual: "10.0.0.1" sorts after "9.0.0.1".
  EXPECT_TRUE(*parse_ip("9.0.0.1") < *parse_ip("10.0.0.1"));
  EXPECT_TRUE(*parse_ip("9::") < *parse_ip("10::"));
  EXPECT_TRUE(*parse_ip("a::") < *parse_ip("10::"));
}

TEST(IpOrder, SortAgreesWithFamilyThenBytes) {
  std::mt19937_64 rng(17);
  std::vector<IpAddr> v;
  for (int i = 0; i < 5000; ++i) {
    if (rng() % 2) {
      v.push_back(IpAddr::v4(static_cast<uint32_t>(rng() % 4 == 0 ? rng() % 16 : rng())));
    } else {
      v.push_back(IpAddr::v6(Ip6{rng() % 4 == 0 ? 0 : rng(), rng() % 4 == 0 ? rng() % 16 : rng()}));
    }
  }
  std::sort(v.begin(), v.end());
  for (size_t i = 1; i < v.size(); ++i) {
    const IpAddr& a = v[i - 1];
    const IpAddr& b = v[i];
    ASSERT_FALSE(b < a);
    if (a.is_v6 != b.is_v6) {
      ASSERT_FALSE(a.is_v6);
      continue;
    }
    unsigned char ab[16], bb[16];
    to_bytes(a.bits, ab);
    to_bytes(b.bits, bb);
    ASSERT_LE(std::memcmp(ab, bb, 16), 0) << to_string(a) << " " << to_string(b);
  }
}

}  // namespace
}  // namespace netpulse::core
