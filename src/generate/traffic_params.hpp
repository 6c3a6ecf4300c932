// The generator's run-time parameters (what `change_<rate>_<ipNum>_<protocolNum>_<ipPercent>_
// <protocolPercent>` sets) and the immutable model built from them: the address list and the
// key samplers. A model is built off the generating thread and swapped in whole. Values;
// a TrafficModel is immutable after construction, so thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "generate/catalog.hpp"
#include "generate/key_sampler.hpp"
#include "generate/packet_size.hpp"

namespace netpulse::generate {

// Rates above this are refused: far beyond what one core can write, and it keeps the event
// time arithmetic well inside 64 bits.
inline constexpr uint64_t kMaxRate = 1'000'000'000;
inline constexpr uint64_t kDefaultRate = 5000;

struct TrafficParams {
  uint64_t rate = kDefaultRate;        // records per second of event time; 0: as fast as possible
  uint32_t ips = kBuiltinAddresses;    // the first ips addresses of the list
  uint32_t protocols = kMaxProtocols;  // the first protocols of the list
  Skew ip_skew;                        // how src addresses are drawn
  Skew protocol_skew;                  // how protocols are drawn
  friend bool operator==(const TrafficParams&, const TrafficParams&) = default;
};

// Returns why the parameters are invalid (one line, naming the parameter), or nullopt.
std::optional<std::string> validate(const TrafficParams& p);
// "rate=5000 ips=15 protocols=19 ip-skew=40% protocol-skew=uniform".
std::string to_string(const TrafficParams& p);

// Everything the generating loop reads per record, built once per parameter change.
struct TrafficModel {
  // REQUIRES: validate(p) is nullopt, 0 <= ipv6_percent <= 100. Reuses `addresses` when it
  // holds at least p.ips of them at this IPv6 percent (the list is the same for every run, so
  // a longer one serves a shorter request).
  TrafficModel(const TrafficParams& p, std::shared_ptr<const AddressList> addresses,
               double ipv6_percent = 0);

  TrafficParams params;
  std::shared_ptr<const AddressList> addresses;  // at least params.ips entries
  KeySampler src;
  KeySampler protocol;
  PacketSizeMix bulk_sizes{PacketSizeMix::Profile::kBulk};
  PacketSizeMix small_sizes{PacketSizeMix::Profile::kSmall};
};

}  // namespace netpulse::generate
