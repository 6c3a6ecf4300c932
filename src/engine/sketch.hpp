// The two sketches behind an approximate window's key count and standard deviation (spec
// section 9), kept per summarized pane and added up over a window. Written here: each is a
// few lines over a fixed array, and the engine needs them mergeable pane by pane with its own
// hash (a library's would hash every key a second time).
//
// - HyperLogLog (Flajolet et al. 2007, with the small-range correction of Heule et al. 2013):
//   the number of distinct keys of a union of panes is the estimate over the registers' maxima.
//   2^12 registers: standard error 1.04 / sqrt(4096) = 1.6%.
// - An AMS "tug of war" sketch in the fast Count-Sketch layout (Alon, Matias, Szegedy 1996;
//   Thorup and Zhang 2004): each row adds sign(key) * bytes into one of W counters; the sum of
//   squares of a row estimates the sum over keys of bytes^2 with variance at most 2 F2^2 / W;
//   the median of R rows is the estimate. It is linear, so a window's sketch is the sum of its
//   panes' sketches, whatever keys each pane saw, and shards (disjoint keys) add up too.
//   R = 5, W = 128: a relative standard error of about 12% per row, less for the median.
// Values; not thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <span>

namespace netpulse::engine {

class HyperLogLog {
 public:
  static constexpr int kBits = 12;
  static constexpr size_t kRegisters = size_t{1} << kBits;

  // h: a well-mixed 64-bit hash of the key.
  void add(uint64_t h) {
    const size_t i = static_cast<size_t>(h >> (64 - kBits));
    const uint64_t rest = h << kBits;
    const uint8_t rank = rest == 0 ? uint8_t{64 - kBits + 1}
                                   : static_cast<uint8_t>(std::countl_zero(rest) + 1);
    if (rank > reg_[i]) reg_[i] = rank;
  }
  void merge(const HyperLogLog& o) {
    for (size_t i = 0; i < kRegisters; ++i) reg_[i] = std::max(reg_[i], o.reg_[i]);
  }
  double estimate() const {
    double sum = 0;
    size_t zeros = 0;
    for (uint8_t r : reg_) {
      sum += std::ldexp(1.0, -static_cast<int>(r));
      zeros += r == 0;
    }
    const double m = static_cast<double>(kRegisters);
    const double alpha = 0.7213 / (1 + 1.079 / m);
    const double raw = alpha * m * m / sum;
    // Linear counting while many registers are still empty.
    if (raw <= 2.5 * m && zeros != 0) return m * std::log(m / static_cast<double>(zeros));
    return raw;
  }
  static constexpr double relative_error() { return 1.04 / 64.0; }  // 1.04 / sqrt(2^12)

  // The registers, for a codec (a Kafka instance's pane carries its sketches to merge).
  std::span<const uint8_t, kRegisters> registers() const { return reg_; }
  std::span<uint8_t, kRegisters> registers() { return reg_; }

 private:
  std::array<uint8_t, kRegisters> reg_{};
};

class F2Sketch {
 public:
  static constexpr size_t kRows = 5;
  static constexpr size_t kWidth = 128;

  // h: a well-mixed 64-bit hash of the key (the same for every pane). Each row takes 7 bits for
  // its counter and one for its sign from a second mix of h, so rows are independent of the
  // bits the tables and the HyperLogLog use.
  void add(uint64_t h, int64_t bytes) {
    uint64_t g = h * 0x9E3779B97F4A7C15ULL;
    g ^= g >> 29;
    g *= 0xBF58476D1CE4E5B9ULL;
    g ^= g >> 32;
    for (size_t r = 0; r < kRows; ++r) {
      const uint64_t bits = g >> (r * 8);
      const int64_t v = (bits & 0x80) ? -bytes : bytes;
      c_[r * kWidth + (bits & (kWidth - 1))] += v;
    }
  }
  void merge(const F2Sketch& o) {
    for (size_t i = 0; i < c_.size(); ++i) c_[i] += o.c_[i];
  }
  double estimate() const {
    std::array<double, kRows> est{};
    for (size_t r = 0; r < kRows; ++r) {
      long double s = 0;
      for (size_t i = 0; i < kWidth; ++i) {
        const auto c = static_cast<long double>(c_[r * kWidth + i]);
        s += c * c;
      }
      est[r] = static_cast<double>(s);
    }
    std::nth_element(est.begin(), est.begin() + kRows / 2, est.end());
    return est[kRows / 2];
  }
  // One row's relative standard error, sqrt(2 / W); the median of the rows does better.
  static double relative_error() { return std::sqrt(2.0 / static_cast<double>(kWidth)); }

  // The counters, row after row, for a codec.
  std::span<const int64_t, kRows * kWidth> counters() const { return c_; }
  std::span<int64_t, kRows * kWidth> counters() { return c_; }

 private:
  std::array<int64_t, kRows * kWidth> c_{};  // row after row
};

}  // namespace netpulse::engine
