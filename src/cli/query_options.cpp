#include "cli/query_options.hpp"

#include <string>

#include "cli/common.hpp"
#include "core/size.hpp"

namespace netpulse::cli {

void add_query_options(CLI::App* sub, engine::QueryParams& params, engine::EngineConfig& config,
                       bool slide, const char* unit) {
  const std::string u = unit;
  sub->add_option("--T", params.T, "Window length in " + u + " (changeable at run time)")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}))
      ->capture_default_str();
  if (slide) {
    sub->add_option("--slide", config.slide, "Slide in " + u + ": windows end at multiples of it")
        ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}))
        ->capture_default_str();
  }
  sub->add_option("--max-window", config.max_window,
                  "Largest T allowed at run time, in " + u + "; panes are kept this long")
      ->check(CLI::Range(int64_t{1}, int64_t{10'000'000}))
      ->capture_default_str();
  sub->add_option_function<std::string>(
         "--memory-limit",
         [&config](const std::string& s) { config.memory_limit = core::parse_size(s).value_or(0); },
         "Memory the window state may use, e.g. 512MiB, 2GiB (0: unbounded). Beyond it, during "
         "a flood of new addresses, the address dimension becomes a bounded summary: ip-share "
         "misses no key above H, byte counts are within epsilon * total, and results say "
         "\"approximate\" (README: Memory budget). Protocols and totals stay exact")
      ->check(size_validator())
      ->default_str("1GiB");
  sub->add_option("--H", params.H, "Share threshold in percent, 0 < H <= 100")->capture_default_str();
  sub->add_option("--k", params.k, "How many keys the top-k queries list (>= 1)")
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}))
      ->capture_default_str();
  sub->add_option("--X", params.X, "Outliers: keys above mean + X standard deviations (X >= 0)")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
}

}  // namespace netpulse::cli
