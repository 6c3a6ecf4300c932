// The generator's built-in world (spec section 6): 19 application protocols and a list of
// addresses: 15 fixed IPv4 ones, then made-up ones (IPv4, and IPv6 on request), up to
// kMaxAddresses. `--ips N` and `--protocols N` take the first N. Immutable after construction;
// thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace netpulse::generate {

inline constexpr size_t kBuiltinAddresses = 15;
inline constexpr size_t kMaxAddresses = 10'000'000;
inline constexpr size_t kMaxProtocols = 19;

// The protocol labels, in the order --protocols takes them.
const std::array<std::string_view, kMaxProtocols>& protocol_names();
// Indexes of the protocols the scenarios use (checked against the list in the tests).
inline constexpr uint32_t kProtocolHttp = 0;
inline constexpr uint32_t kProtocolHttps = 1;
inline constexpr uint32_t kProtocolDns = 2;
inline constexpr uint32_t kProtocolSsh = 6;
// The index of a built-in protocol label; -1 when it is not one.
int protocol_index(std::string_view name);
// Protocols whose packets are mostly small (DNS, DHCP, NTP, ...): they draw from the small-packet
// mix instead of the bulk-transfer one.
bool is_small_packet_protocol(size_t index);

// The first addresses of the list as 32-bit values (a.b.c.d = a<<24 | b<<16 | c<<8 | d).
const std::array<uint32_t, kBuiltinAddresses>& builtin_addresses();

// Whether the generator may make up this address: a public unicast address outside the ranges
// the scenarios use (documentation ranges, 100.64.0.0/10), not ending in .0 or .255.
bool is_made_up_candidate(uint32_t address);

// The first n addresses of the list. Addresses beyond the built-in 15 come from a fixed
// permutation of the 32-bit space, so the list does not depend on the seed and --ips N is always
// a prefix of --ips M for N < M. 4 bytes per address (40 MB at 10 million).
//
// With an IPv6 percent P > 0, a made-up address whose index hashes below P% is an IPv6 address
// instead (global unicast, canonical RFC 5952 text kept ready to copy, 40 bytes more each); the
// choice depends on the index only, so it is spread evenly over the list (and the Zipf ranks),
// the other indexes keep the address they have at 0%, and the prefix property holds per P.
// The 15 built-in addresses stay IPv4.
class AddressList {
 public:
  // Entry encoding for the generating loop: an IPv4 address is its 32-bit value; an IPv6
  // address is its slot in the IPv6 text table, below kV6Slots. No listed IPv4 address is in
  // 0.0.0.0/8, so the two never meet.
  static constexpr uint32_t kV6Slots = uint32_t{1} << 24;
  static bool is_v6_entry(uint32_t entry) { return entry < kV6Slots; }

  // The canonical text of an IPv6 address, padded to a fixed size so it is copied in one go.
  struct V6Text {
    char text[39];
    uint8_t size;
  };

  // REQUIRES: 1 <= n <= kMaxAddresses, 0 <= ipv6_percent <= 100.
  explicit AddressList(size_t n, double ipv6_percent = 0);

  size_t size() const { return values_.size(); }
  double ipv6_percent() const { return ipv6_percent_; }
  size_t ipv6_count() const { return v6_text_.size(); }
  // Entries as encoded above; an IPv4 value when ipv6_count() is 0.
  uint32_t operator[](size_t i) const { return values_[i]; }
  const uint32_t* data() const { return values_.data(); }
  bool is_v6(size_t i) const { return !v6_text_.empty() && is_v6_entry(values_[i]); }
  // REQUIRES: is_v6_entry(entry).
  const V6Text& v6_text(uint32_t entry) const { return v6_text_[entry]; }
  // Address i in canonical text (tests, tools; not for the hot path).
  std::string text(size_t i) const;

 private:
  double ipv6_percent_ = 0;
  std::vector<uint32_t> values_;
  std::vector<V6Text> v6_text_;
};

// Whether made-up address index i (>= kBuiltinAddresses) is IPv6 at this percent.
bool is_ipv6_index(size_t i, double ipv6_percent);
// The made-up IPv6 address of index i: a global unicast address (outside 2001:db8::/32,
// 2001::/32 and 2002::/16) of one of several shapes seen on real networks (a server's ::N, a
// random or an EUI-64 interface identifier); distinct indexes give distinct addresses.
// Returned as two big-endian 64-bit halves.
void made_up_ipv6(size_t i, uint64_t& hi, uint64_t& lo);

// Builds a 32-bit IPv4 value from its four octets.
constexpr uint32_t ipv4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

}  // namespace netpulse::generate
