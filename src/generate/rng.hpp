// The generator's random numbers: SplitMix64 (Steele, Lea, Flood 2014), one 64-bit add and two
// multiply-xorshifts per draw; passes BigCrush, and the state chain is a single add, so draws of
// consecutive records overlap in the CPU. Not thread-safe: one per generating thread.
#pragma once

#include <cstdint>

namespace netpulse::generate {

// SplitMix64's output function: a bijection of the 64-bit integers with good mixing (every step
// is invertible), so distinct inputs give distinct outputs.
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The same for 32 bits (Wellons' "lowbias32"): distinct inputs, distinct outputs, so a counter
// through it gives values that look random and never repeat before 2^32 of them.
constexpr uint32_t permute32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t next() { return mix64(state_ += kGamma); }

 private:
  static constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;

  uint64_t state_;
};

// A number in [0, n) from 32 random bits, by multiply-shift (Lemire): no division. The bias is at
// most n / 2^32 relative, under 0.25% even for n = 10 million.
inline uint32_t scale32(uint32_t random_bits, uint32_t n) {
  return static_cast<uint32_t>((static_cast<uint64_t>(random_bits) * n) >> 32);
}

inline uint32_t high32(uint64_t r) {
  return static_cast<uint32_t>(r >> 32);
}
inline uint32_t low32(uint64_t r) {
  return static_cast<uint32_t>(r);
}

}  // namespace netpulse::generate
