// Writes generated flow records as text in the line format or CSV (spec section 1), straight
// into the caller's buffer: no allocation, no printf. The "YYYY-MM-DD HH:MM:SS." prefix is cached
// (it changes once a second), protocol labels are preformatted, IPv4 addresses are written from
// a 256-entry octet table, packet sizes below 4096 from a table. Not thread-safe: one per thread.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/time.hpp"
#include "generate/catalog.hpp"

namespace netpulse::generate {

enum class OutputFormat : uint8_t { kLine, kCsv };

class RecordFormatter {
 public:
  // Longest record text (time 23, protocol 15, two addresses 15, bytes 10, separators).
  static constexpr size_t kMaxRecordText = 96;

  explicit RecordFormatter(OutputFormat format);

  // The CSV header line with its '\n' (empty for the line format).
  std::string_view header() const;

  // Writes one record and its '\n' at p; returns the end. REQUIRES: kMaxRecordText bytes at p,
  // protocol < kMaxProtocols.
  char* write(char* p, core::TimeMs time, uint32_t protocol, uint32_t src, uint32_t dst,
              uint32_t bytes) {
    const int64_t second = core::floor_div(time, 1000);
    if (second != cached_second_) cache_second(second);
    std::memcpy(p, prefix_, 20);
    std::memcpy(p + 20, millis_[static_cast<size_t>(time - second * 1000)].data(), 4);
    p += 24;
    const Token& proto = protocols_[protocol];
    std::memcpy(p, proto.text, sizeof proto.text);
    p += proto.size;
    p = write_ip(p, src);
    p = write_ip(p, dst);
    if (bytes < kSizeTableEntries) {
      const ShortToken& b = sizes_[bytes];
      std::memcpy(p, &b, sizeof b);  // 8 bytes; the tail past size is overwritten later
      return p + b.size;
    }
    return write_number(p, bytes);
  }

 private:
  struct Token {
    char text[16];
    uint8_t size;
  };
  struct ShortToken {  // 8 bytes: a table of 4096 fits in L1
    char text[7];
    uint8_t size;
  };
  static constexpr size_t kSizeTableEntries = 4096;

  void cache_second(int64_t second);

  // Dotted quad and then the field separator.
  char* write_ip(char* p, uint32_t a) const {
    for (int shift = 24; shift >= 0; shift -= 8) {
      const ShortToken& o = octets_[(a >> shift) & 0xff];
      std::memcpy(p, o.text, 4);
      p += o.size;
    }
    p[-1] = separator_;
    return p;
  }
  char* write_number(char* p, uint32_t v) const;

  char separator_;
  int64_t cached_second_ = INT64_MIN;
  char prefix_[24] = {};                               // "YYYY-MM-DD HH:MM:SS."
  std::array<std::array<char, 4>, 1000> millis_{};     // "123 " or "123,"
  std::array<Token, kMaxProtocols> protocols_{};       // "HTTP " or "HTTP,"
  std::array<ShortToken, 256> octets_{};               // "192."
  std::array<ShortToken, kSizeTableEntries> sizes_{};  // "1500\n"
};

}  // namespace netpulse::generate
