// Packet sizes as seen on a real link: the well-known trimodal mix of 40-66-byte control
// packets (ACKs, SYNs), ~576-byte packets (the old default MTU) and ~1500-byte full Ethernet
// frames, with some spread between. Bulk protocols (HTTP, FTP, SMB, ...) and small-packet
// protocols (DNS, DHCP, NTP, ...) have their own mix. Immutable; thread-safe.
#pragma once

#include <array>
#include <cstdint>

#include "generate/rng.hpp"

namespace netpulse::generate {

class PacketSizeMix {
 public:
  enum class Profile : uint8_t { kBulk, kSmall };

  // A size band: sizes from lo to lo + span - 1, uniform.
  struct Band {
    uint16_t lo;
    uint16_t span;
  };

  explicit PacketSizeMix(Profile profile);

  // One draw from 32 random bits: the top 8 pick a band (each band holds a whole number of
  // 256ths), the low 24 the size within it.
  uint32_t draw(uint32_t r) const {
    const Band b = table_[r >> 24];
    return b.lo + (((r & 0xFFFFFFU) * b.span) >> 24);
  }

  // The mean size (for documentation and tests).
  double mean() const;

 private:
  std::array<Band, 256> table_{};
};

}  // namespace netpulse::generate
