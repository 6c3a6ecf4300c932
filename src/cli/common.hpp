// Helpers shared by the subcommands: exit codes, one-line errors, output files, signals,
// resource figures for the summaries.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

namespace netpulse::cli {

// Spec section 8: bad arguments exit 2, inputs/outputs that cannot be opened exit 1.
inline constexpr int kExitUsage = 2;
inline constexpr int kExitIo = 1;

// Thrown by a subcommand for a failure that ends it; main() prints "netpulse: <what>".
struct CommandError : std::runtime_error {
  CommandError(int code, const std::string& what) : std::runtime_error(what), exit_code(code) {}
  int exit_code;
};

[[noreturn]] inline void usage_error(const std::string& what) { throw CommandError(kExitUsage, what); }
[[noreturn]] inline void io_error(const std::string& what) { throw CommandError(kExitIo, what); }

// Opens an output address (-, stdout, file:PATH or a bare path) for writing; returns the fd
// (1 for stdout). A bad address is a usage error naming `option`; one that cannot be opened
// exits with kExitIo naming it.
int open_output(const std::string& uri, const char* option = "--output");

// Runs on_signal (on a helper thread, not in the signal handler) at the first SIGINT or
// SIGTERM, after printing "netpulse: interrupt received, <doing>"; a second one ends the process
// at once. Call before starting other threads.
void on_termination(std::function<void()> on_signal, const char* doing = "stopping");

// Peak resident memory of this process so far, in bytes.
size_t peak_rss_bytes();
std::string human_bytes(double bytes);
std::string human_rate(double per_second);

// A CLI11 validator for "100ms", "1s", "2m" style durations.
const CLI::Validator& duration_validator();
// A CLI11 validator for "64MiB", "2GiB", "1500" style byte sizes (core/size.hpp).
const CLI::Validator& size_validator();

}  // namespace netpulse::cli
