#include "generate/catalog.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/ip_addr.hpp"
#include "generate/rng.hpp"

namespace netpulse::generate {

namespace {

// The first nine are the spec's; the rest are common services seen on an enterprise link.
constexpr std::array<std::string_view, kMaxProtocols> kProtocols = {
    "HTTP", "HTTPS",  "DNS",  "DHCP", "SOAP", "UPnP", "SSH", "FTP", "SMTP", "IMAP",
    "POP3", "Telnet", "SNMP", "NTP",  "LDAP", "RDP",  "SMB", "SIP", "MQTT"};

constexpr std::array<bool, kMaxProtocols> kSmallPackets = {
    false, false, true, true, false, true,  false, false, false, false,
    false, true,  true, true, false, false, false, true,  true};

// Public addresses of well-known services; the first two are the spec's example line.
constexpr std::array<uint32_t, kBuiltinAddresses> kAddresses = {
    ipv4(222, 186, 237, 75), ipv4(53, 215, 218, 189),  ipv4(104, 16, 132, 229),
    ipv4(151, 101, 65, 69),  ipv4(93, 184, 216, 34),   ipv4(172, 217, 16, 142),
    ipv4(13, 107, 42, 14),   ipv4(185, 199, 108, 153), ipv4(31, 13, 72, 36),
    ipv4(52, 95, 110, 1),    ipv4(142, 250, 185, 78),  ipv4(8, 8, 8, 8),
    ipv4(1, 1, 1, 1),        ipv4(77, 88, 55, 242),    ipv4(45, 33, 32, 156)};

bool in(uint32_t a, uint32_t net, int prefix) {
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (a & mask) == (net & mask);
}

}  // namespace

const std::array<std::string_view, kMaxProtocols>& protocol_names() {
  return kProtocols;
}

int protocol_index(std::string_view name) {
  for (size_t i = 0; i < kProtocols.size(); ++i)
    if (kProtocols[i] == name) return static_cast<int>(i);
  return -1;
}

bool is_small_packet_protocol(size_t index) {
  return index < kSmallPackets.size() && kSmallPackets[index];
}

const std::array<uint32_t, kBuiltinAddresses>& builtin_addresses() {
  return kAddresses;
}

bool is_made_up_candidate(uint32_t a) {
  const unsigned first = a >> 24, last = a & 0xff;
  if (first == 0 || first == 10 || first == 127 || first >= 224) return false;
  if (last == 0 || last == 255) return false;
  return !in(a, ipv4(100, 64, 0, 0), 10) && !in(a, ipv4(169, 254, 0, 0), 16) &&
         !in(a, ipv4(172, 16, 0, 0), 12) && !in(a, ipv4(192, 0, 0, 0), 24) &&
         !in(a, ipv4(192, 0, 2, 0), 24) && !in(a, ipv4(192, 168, 0, 0), 16) &&
         !in(a, ipv4(198, 18, 0, 0), 15) && !in(a, ipv4(198, 51, 100, 0), 24) &&
         !in(a, ipv4(203, 0, 113, 0), 24);
}

bool is_ipv6_index(size_t i, double ipv6_percent) {
  if (i < kBuiltinAddresses || ipv6_percent <= 0) return false;
  if (ipv6_percent >= 100) return true;
  const auto threshold = static_cast<uint64_t>(std::floor(ipv6_percent / 100.0 * 4294967296.0));
  // A salt, so the choice is not correlated with the IPv4 permutation of the same index.
  return permute32(static_cast<uint32_t>(i) ^ 0x5bd1e995U) < threshold;
}

void made_up_ipv6(size_t i, uint64_t& hi, uint64_t& lo) {
  // Prefixes in the blocks the five registries hand out (2001::/16 beyond 2001:0::/32 and
  // 2001:db8::/32, 24xx, 26xx, 28xx, 2axx, 2c0f); 2001 twice, as the most common.
  static constexpr uint16_t kFirstGroups[] = {
      0x2001, 0x2001, 0x2400, 0x2401, 0x2405, 0x2600, 0x2601, 0x2603, 0x2604, 0x2607, 0x2620,
      0x2800, 0x2804, 0x2a00, 0x2a01, 0x2a02, 0x2a03, 0x2a04, 0x2a05, 0x2a0e, 0x2c0f};
  constexpr size_t kFirst = sizeof kFirstGroups / sizeof kFirstGroups[0];
  SplitMix64 rng(0x6970763600000000ULL ^ i);  // "ipv6"
  const uint64_t a = rng.next(), b = rng.next();
  const uint64_t g1 = kFirstGroups[scale32(high32(a), kFirst)];
  // 2001:0400::/23 and up: clear of 2001::/32 (Teredo), 2001:2::/48 and 2001:db8::/32.
  const uint64_t g2 =
      g1 == 0x2001 ? 0x0400 + scale32(low32(a), 0x4c00 - 0x0400) : (low32(a) & 0xffff);
  // Groups 3 and 4 are a bijection of the index: distinct indexes, distinct addresses.
  const uint64_t site = permute32(static_cast<uint32_t>(i) ^ 0xa5a5a5a5U);
  hi = (g1 << 48) | (g2 << 32) | site;
  switch (high32(b) % 10) {
    case 0:
    case 1:
    case 2:
    case 3:  // a server: ::N, N small
      lo = 1 + (low32(b) & 0xfff);
      break;
    case 4:
    case 5:
    case 6:
    case 7:  // SLAAC with a random (privacy) interface identifier
      lo = b * 0x9E3779B97F4A7C15ULL;
      break;
    default:  // EUI-64 from a MAC address: xxxx:xxff:fexx:xxxx
      lo = ((b & 0xffffff000000ULL) << 16) | 0x000000fffe000000ULL | (b & 0xffffffULL);
      lo ^= 0x0200000000000000ULL;  // the universal/local bit
      break;
  }
}

AddressList::AddressList(size_t n, double ipv6_percent) : ipv6_percent_(ipv6_percent) {
  values_.reserve(n);
  for (size_t i = 0; i < n && i < kBuiltinAddresses; ++i) values_.push_back(kAddresses[i]);
  for (uint32_t j = 0; values_.size() < n; ++j) {
    const uint32_t a = permute32(j);
    if (!is_made_up_candidate(a)) continue;
    if (std::find(kAddresses.begin(), kAddresses.end(), a) != kAddresses.end()) continue;
    const size_t i = values_.size();
    if (!is_ipv6_index(i, ipv6_percent)) {
      values_.push_back(a);
      continue;
    }
    // The IPv4 candidate of this index is left out, so every other index keeps its address.
    uint64_t hi = 0, lo = 0;
    made_up_ipv6(i, hi, lo);
    char buf[core::kMaxIpText];
    const char* end = core::format_ip(core::IpAddr::v6(core::Ip6{hi, lo}), buf);
    V6Text t{};
    t.size = static_cast<uint8_t>(end - buf);
    std::memcpy(t.text, buf, t.size);
    values_.push_back(static_cast<uint32_t>(v6_text_.size()));
    v6_text_.push_back(t);
  }
}

std::string AddressList::text(size_t i) const {
  if (is_v6(i)) {
    const V6Text& t = v6_text_[values_[i]];
    return std::string(t.text, t.size);
  }
  return core::to_string(core::IpAddr::v4(values_[i]));
}

}  // namespace netpulse::generate
