// Options from NETPULSE_* environment variables and from a TOML file (--config FILE), for every
// subcommand, as containers and services are configured: the command line first, then the
// environment, then the file. CLI11 2.1 (Debian 12) does not read a subcommand's own config
// file and ranks the environment below a file, so both become command-line arguments here,
// before parsing, for the options the command line does not give; CLI11 then validates them
// exactly as if typed. The file is read with CLI11's TOML reader.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace netpulse::cli {

// Adds --config FILE to every subcommand of app (its --help explains the three sources).
void add_config_options(CLI::App& app);

// argv with the arguments the environment and the --config file supply added. Empty, with
// *error set to a one-line reason, when the file cannot be read or names an option the
// subcommand does not have.
std::vector<std::string> expand_arguments(const CLI::App& app, int argc, const char* const* argv,
                                          std::string* error);

}  // namespace netpulse::cli
