// A flow record as the engine sees it: event time, interned protocol, two addresses, bytes.
// Plain value, no heap: the parsers fill these in place.
#pragma once

#include <cstdint>

#include "core/ip_addr.hpp"
#include "core/time.hpp"

namespace netpulse::core {

struct FlowRecord {
  TimeMs time = 0;
  uint32_t protocol = 0;  // id in the ProtocolTable
  uint32_t bytes = 0;
  IpAddr src;
  IpAddr dst;
};

}  // namespace netpulse::core
