// netpulse generate: placeholder until the generator lands.
#include "cli/commands.hpp"
#include "cli/common.hpp"

namespace netpulse::cli {

Command make_generate_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("generate", "Generate synthetic flow records");
  return Command{sub, [] { return 0; }};
}

}  // namespace netpulse::cli
