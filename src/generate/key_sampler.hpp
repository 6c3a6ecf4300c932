// Draws key indexes (an address or a protocol of the list) in O(1) from one 64-bit random number:
// uniform, "the first key P percent of the time, the others uniform" (the original's ipPercent),
// or a Zipf law through an alias table. Immutable after construction; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "generate/rng.hpp"

namespace netpulse::generate {

// How keys are drawn.
struct Skew {
  enum class Kind : uint8_t { kUniform, kFirstPercent, kZipf };
  Kind kind = Kind::kUniform;
  double value = 0;  // kFirstPercent: percent 0..100; kZipf: exponent s >= 0

  static Skew uniform() { return {}; }
  static Skew first_percent(double p) { return {Kind::kFirstPercent, p}; }
  static Skew zipf(double s) { return {Kind::kZipf, s}; }
  friend bool operator==(const Skew&, const Skew&) = default;
};

// Returns why a skew is invalid ("percent must be 0 to 100"), or nullopt.
std::optional<std::string> validate(const Skew& skew);
// "uniform", "40%", "zipf 1.2".
std::string to_string(const Skew& skew);

// Zipf exponents above this make every draw the first key anyway; the cap keeps pow() finite.
inline constexpr double kMaxZipfExponent = 20;

class KeySampler {
 public:
  // REQUIRES: n >= 1 and validate(skew) is nullopt. Zipf with n keys builds an 8n-byte table.
  KeySampler(uint32_t n, Skew skew);

  uint32_t size() const { return n_; }

  // Branch-free where the outcome is random: a mispredicted branch that waits on a cache miss
  // (the alias table of a large Zipf law) would throw away the work overlapping that miss.
  uint32_t draw(uint64_t r) const {
    switch (kind_) {
      case Skew::Kind::kUniform:
        return scale32(high32(r), n_);
      case Skew::Kind::kFirstPercent: {
        // High half decides "the first key or not", low half picks one of the other n-1.
        const uint32_t other = 1 + scale32(low32(r), n_ - 1);
        const uint32_t not_first = -static_cast<uint32_t>(uint64_t{high32(r)} >= first_threshold_);
        return other & not_first;
      }
      case Skew::Kind::kZipf: {
        // Alias method (Walker/Vose): a uniform bucket, then the bucket's own key or its alias.
        const uint32_t bucket = scale32(high32(r), n_);
        const uint64_t e = alias_[bucket];
        const uint32_t keep = -static_cast<uint32_t>(low32(r) < static_cast<uint32_t>(e));
        return (bucket & keep) | (static_cast<uint32_t>(e >> 32) & ~keep);
      }
    }
    return 0;
  }

  // The probability of key i under this sampler (exact model, not the table's rounding).
  double probability(uint32_t i) const;

 private:
  uint32_t n_;
  Skew::Kind kind_;
  double value_;
  uint64_t first_threshold_ = 0;  // kFirstPercent: P/100 * 2^32 (2^32 at 100%: always)
  // kZipf: per bucket, low 32 bits the threshold below which the bucket keeps its own key,
  // high 32 bits the alias key.
  std::vector<uint64_t> alias_;
  double zipf_norm_ = 1;  // kZipf: sum over i of 1/(i+1)^s
};

}  // namespace netpulse::generate
