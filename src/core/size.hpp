// Byte sizes as operators write them: "64MiB", "2GiB", "512KiB", "1500", "10MB" (powers of ten),
// for --udp-buffer and --memory-limit. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace netpulse::core {

// Parses a non-negative integer with an optional unit: B, KiB, MiB, GiB, TiB (1024^n) or
// KB, MB, GB, TB (1000^n), also k/K, M, G, T as binary shorthands. nullopt on anything else or
// on overflow.
std::optional<uint64_t> parse_size(std::string_view text);

}  // namespace netpulse::core
