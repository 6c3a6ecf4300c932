// Writes classic pcap files (microsecond stamps, this machine's byte order) from packets the
// tests build byte by byte. Header-only; pure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace netpulse::test {

struct PcapPacket {
  int64_t time_us = 0;
  std::vector<uint8_t> bytes;
  uint32_t wire_len = 0;  // 0: the captured size
};

// The whole file: the global header (LINKTYPE `linktype`, 1 = Ethernet), then each packet.
inline std::string pcap_file(const std::vector<PcapPacket>& packets, uint32_t linktype = 1) {
  std::string out;
  const auto put32 = [&out](uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  const auto put16 = [&out](uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); };
  put32(0xa1b2c3d4);
  put16(2);
  put16(4);
  put32(0);
  put32(0);
  put32(65535);
  put32(linktype);
  for (const PcapPacket& p : packets) {
    put32(static_cast<uint32_t>(p.time_us / 1'000'000));
    put32(static_cast<uint32_t>(p.time_us % 1'000'000));
    put32(static_cast<uint32_t>(p.bytes.size()));
    put32(p.wire_len ? p.wire_len : static_cast<uint32_t>(p.bytes.size()));
    out.append(reinterpret_cast<const char*>(p.bytes.data()), p.bytes.size());
  }
  return out;
}

}  // namespace netpulse::test
