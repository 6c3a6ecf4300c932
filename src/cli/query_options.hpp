// The window and query options every subcommand that runs the six queries takes (process,
// merge, run), defined once so their names, checks and help stay the same.
#pragma once

#include <CLI/CLI.hpp>

#include "engine/params.hpp"

namespace netpulse::cli {

// --T, --H, --k, --X and --max-window; with `slide`, also --slide. `unit` names the time unit
// in the help ("time units", "seconds").
void add_query_options(CLI::App* sub, engine::QueryParams& params, engine::EngineConfig& config,
                       bool slide = true, const char* unit = "time units");

}  // namespace netpulse::cli
