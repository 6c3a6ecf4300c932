// Writes generated flow records as text in the line format or CSV (spec section 1), straight
// into the caller's buffer: no allocation, no printf. The "YYYY-MM-DD HH:MM:SS." prefix is cached
// (it changes once a second), protocol labels are preformatted, IPv4 addresses are written from
// a 256-entry octet table, packet sizes below 4096 from a table. The default shape (a
// millisecond time, IPv4 addresses) has its own write(); write_extended() adds IPv6 text and
// 0 to 9 fraction digits. Not thread-safe: one per thread.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/time.hpp"
#include "generate/catalog.hpp"

namespace netpulse::generate {

enum class OutputFormat : uint8_t { kLine, kCsv };

// Fraction digits of the time: 0 to 9, or kMixedTimeDigits (drawn per record).
inline constexpr int kMaxTimeDigits = 9;
inline constexpr int kMixedTimeDigits = -1;
inline constexpr int kDefaultTimeDigits = 3;

class RecordFormatter {
 public:
  // Longest record text (time 23, protocol 15, two addresses 15, bytes 10, separators).
  static constexpr size_t kMaxRecordText = 96;
  // Likewise for write_extended() (time 29, two IPv6 addresses 39), with the slack of its
  // fixed-size copies.
  static constexpr size_t kMaxExtendedRecordText = 160;

  explicit RecordFormatter(OutputFormat format);

  // The CSV header line with its '\n' (empty for the line format).
  std::string_view header() const;

  // Writes one record and its '\n' at p; returns the end. REQUIRES: kMaxRecordText bytes at p,
  // protocol < kMaxProtocols.
  char* write(char* p, core::TimeMs time, uint32_t protocol, uint32_t src, uint32_t dst,
              uint32_t bytes) {
    p = write_time(p, time);
    p = write_protocol(p, protocol);
    p = write_ip(p, src);
    p = write_ip(p, dst);
    return write_bytes(p, bytes);
  }

  // An address to write: an IPv4 value, or (when v6 is set) IPv6 text.
  struct Address {
    uint32_t v4;
    const AddressList::V6Text* v6;
  };
  // Writes one record with `digits` (0..9) fraction digits: those past the millisecond are the
  // leading digits of `filler` written as six (filler < 10^6); fewer than 3 truncate the time,
  // 0 writes no '.'.
  // REQUIRES: kMaxExtendedRecordText bytes at p, protocol < kMaxProtocols.
  char* write_extended(char* p, core::TimeMs time, int digits, uint32_t filler, uint32_t protocol,
                       Address src, Address dst, uint32_t bytes) {
    p = write_time_digits(p, time, digits, filler);
    p = write_protocol(p, protocol);
    p = write_address(p, src);
    p = write_address(p, dst);
    return write_bytes(p, bytes);
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

  char* write_time(char* p, core::TimeMs time) {
    const int64_t second = core::floor_div(time, 1000);
    if (second != cached_second_) cache_second(second);
    std::memcpy(p, prefix_, 20);
    std::memcpy(p + 20, millis_[static_cast<size_t>(time - second * 1000)].data(), 4);
    return p + 24;
  }

  char* write_time_digits(char* p, core::TimeMs time, int digits, uint32_t filler) {
    const int64_t second = core::floor_div(time, 1000);
    if (second != cached_second_) cache_second(second);
    std::memcpy(p, prefix_, 20);
    if (digits == 0) {
      p[19] = separator_;
      return p + 20;
    }
    // All nine digits, then the separator where the fraction ends.
    std::memcpy(p + 20, millis_[static_cast<size_t>(time - second * 1000)].data(), 4);
    std::memcpy(p + 23, millis_[filler / 1000].data(), 4);
    std::memcpy(p + 26, millis_[filler % 1000].data(), 4);
    p += 20 + digits;
    *p = separator_;
    return p + 1;
  }

  char* write_protocol(char* p, uint32_t protocol) const {
    const Token& proto = protocols_[protocol];
    std::memcpy(p, proto.text, sizeof proto.text);
    return p + proto.size;
  }

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

  char* write_address(char* p, Address a) const {
    if (a.v6 == nullptr) return write_ip(p, a.v4);
    std::memcpy(p, a.v6->text, sizeof a.v6->text);
    p += a.v6->size;
    *p = separator_;
    return p + 1;
  }

  char* write_bytes(char* p, uint32_t bytes) const {
    if (bytes < kSizeTableEntries) {
      const ShortToken& b = sizes_[bytes];
      std::memcpy(p, &b, sizeof b);  // 8 bytes; the tail past size is overwritten later
      return p + b.size;
    }
    return write_number(p, bytes);
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
