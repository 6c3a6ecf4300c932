// The generator's text control protocol (spec section 5), one command a line:
//   start | stop | change_<rate>_<ipNum>_<protocolNum>_<ipPercent>_<protocolPercent> | status
// Each is answered by one line, "ok" (status: "ok <key=value ...>") or "error: <reason>".
// An invalid command changes nothing. Thread-safe (as the Generator's control methods are).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "generate/generator.hpp"

namespace netpulse::generate {

// Parses a change command against the current parameters (needed to keep a Zipf exponent
// when the percent field says "zipf"). Returns the new parameters or the reason it is invalid.
struct ChangeResult {
  std::optional<TrafficParams> params;
  std::string error;
};
ChangeResult parse_change_command(std::string_view line, const TrafficParams& current);

// Handles one line; returns the reply without '\n'.
std::string handle_generator_command(std::string_view line, Generator& generator);

}  // namespace netpulse::generate
