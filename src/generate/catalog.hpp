// The generator's built-in world (spec section 6): 19 application protocols and a list of IPv4
// addresses: 15 fixed ones, then made-up ones, up to kMaxAddresses. `--ips N` and
// `--protocols N` take the first N. Immutable after construction; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace netpulse::generate {

inline constexpr size_t kBuiltinAddresses = 15;
inline constexpr size_t kMaxAddresses = 10'000'000;
inline constexpr size_t kMaxProtocols = 19;

// The protocol labels, in the order --protocols takes them.
const std::array<std::string_view, kMaxProtocols>& protocol_names();
// Indexes of the protocols the scenarios use (checked against the list in the tests).
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
class AddressList {
 public:
  // REQUIRES: 1 <= n <= kMaxAddresses.
  explicit AddressList(size_t n);

  size_t size() const { return values_.size(); }
  uint32_t operator[](size_t i) const { return values_[i]; }
  const uint32_t* data() const { return values_.data(); }

 private:
  std::vector<uint32_t> values_;
};

// Builds a 32-bit IPv4 value from its four octets.
constexpr uint32_t ipv4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

}  // namespace netpulse::generate
