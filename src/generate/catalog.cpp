#include "generate/catalog.hpp"

#include <algorithm>

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

// A bijection of the 32-bit integers with good mixing (Wellons' "lowbias32"): every step is
// invertible, so distinct inputs give distinct addresses and no duplicate check is needed.
constexpr uint32_t permute(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

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

AddressList::AddressList(size_t n) {
  values_.reserve(n);
  for (size_t i = 0; i < n && i < kBuiltinAddresses; ++i) values_.push_back(kAddresses[i]);
  for (uint32_t j = 0; values_.size() < n; ++j) {
    const uint32_t a = permute(j);
    if (!is_made_up_candidate(a)) continue;
    if (std::find(kAddresses.begin(), kAddresses.end(), a) != kAddresses.end()) continue;
    values_.push_back(a);
  }
}

}  // namespace netpulse::generate
