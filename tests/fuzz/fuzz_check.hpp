// What every fuzz target shares: FUZZ_CHECK, a property that must hold for any input (a
// violation aborts, so libFuzzer keeps the input as a crash), and FuzzInput, which hands out
// the input's bytes as the target's choices and data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                    \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "fuzz: property violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

namespace netpulse::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  // The next byte (0 when none is left).
  uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
  // The next n bytes at most.
  std::string_view take(size_t n) {
    const size_t k = std::min<size_t>(n, static_cast<size_t>(end_ - p_));
    std::string_view s(reinterpret_cast<const char*>(p_), k);
    p_ += k;
    return s;
  }
  std::string_view rest() { return take(static_cast<size_t>(end_ - p_)); }
  bool empty() const { return p_ == end_; }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace netpulse::fuzz
