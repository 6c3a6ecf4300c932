// Finds the line ends of a block in one pass, ahead of parsing, so the parser does not call
// memchr once per line. x86-64 with AVX2 uses a SIMD kernel picked at run time (the binary stays
// portable); other CPUs use memchr. Thread-safe: the chosen level is an atomic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace netpulse::ingest {

// Appends the offset (from data) of every '\n' in [data, data + size) to out, in order. Reads
// no byte outside that range.
// REQUIRES: size < 4 GiB.
void find_newlines(const char* data, size_t size, std::vector<uint32_t>& out);

enum class SimdLevel : uint8_t { kScalar, kAvx2 };

// The kernel find_newlines uses: the best the CPU has, unless set_simd_level chose another.
SimdLevel simd_level();
// For tests and benchmarks: forces a kernel, clamped to what the CPU has (read simd_level()
// after it to see which one that is).
void set_simd_level(SimdLevel level);

}  // namespace netpulse::ingest
