// SHA-256 (FIPS 180-4) of a byte string, for the training-data fingerprint in model files.
// Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace netpulse::detect {

// The digest as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);

}  // namespace netpulse::detect
