// The subcommands. Each make_*_command adds its options to the app and returns a runner that
// main() calls when that subcommand was chosen.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace netpulse::cli {

struct Command {
  CLI::App* sub;
  std::function<int()> run;
};

Command make_run_command(CLI::App& app);
Command make_process_command(CLI::App& app);
Command make_generate_command(CLI::App& app);
Command make_merge_command(CLI::App& app);
Command make_kafka_mock_command(CLI::App& app);
Command make_train_command(CLI::App& app);
Command make_evaluate_command(CLI::App& app);
Command make_classify_command(CLI::App& app);
Command make_detect_flows_command(CLI::App& app);
Command make_collect_command(CLI::App& app);

}  // namespace netpulse::cli
