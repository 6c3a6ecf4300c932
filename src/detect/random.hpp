// What the trainers share for randomness and threads: SplitMix64, a small fast generator that
// gives the same sequence on every platform (std distributions do not, and model files must be
// reproduced byte for byte), and a parallel loop whose result does not depend on the thread
// count as long as body(i) writes only its own slot. Header-only; an Rng is not thread-safe (one
// per thread), parallel_for is.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace netpulse::detect {

// SplitMix64's output function: a well-mixed 64-bit value of z (also a hash of an index).
inline uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

struct Rng {
  uint64_t state;
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() {
    const uint64_t z = splitmix64(state);
    state += 0x9E3779B97F4A7C15ULL;
    return z;
  }
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

// Runs body(i) for i in [0, n) on up to `threads` threads. body must not throw.
inline void parallel_for(size_t n, int threads, const std::function<void(size_t)>& body) {
  const size_t t = std::min<size_t>(static_cast<size_t>(std::max(1, threads)), n);
  if (t <= 1) {
    for (size_t i = 0; i < n; ++i) body(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (size_t k = 0; k < t; ++k)
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < n;) body(i);
    });
  for (auto& th : pool) th.join();
}

}  // namespace netpulse::detect
