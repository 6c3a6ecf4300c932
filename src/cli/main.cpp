// netpulse: real-time network traffic monitor and anomaly detector. One binary, subcommands.
#include <malloc.h>

#include <cstdio>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "cli/config_env.hpp"

int main(int argc, char** argv) {
  // Allocations of 256 KiB and more get pages of their own, given back when freed. glibc
  // otherwise raises this threshold each time such a block is freed (up to 32 MiB), after which
  // the engine's pane arrays and the feed's blocks come from heaps that keep what was freed:
  // `run` under a flood held 290-900 MiB for 40 MiB of live data, past --memory-limit.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  // And the heap keeps up to 16 MiB free at its top instead of 128 KiB. Windows closing free
  // their panes' tables many times a second, and each time the top grew past 128 KiB glibc gave
  // it back (brk down): the kernel then interrupts every other core running our threads to
  // flush its TLB, and with the history recorder and the store writer busy on the other core
  // those interrupts took up to 9% of the engine's thread (perf, issue 17's benchmark).
  mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
  using namespace netpulse::cli;
  CLI::App app{
      "netpulse: continuous window queries over network flow records (who takes the bandwidth, "
      "who stands out), a traffic generator, and anomaly detection.",
      "netpulse"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  app.footer("Run 'netpulse SUBCOMMAND --help' for a subcommand's options.");

  std::vector<Command> commands;
  commands.push_back(make_run_command(app));
  commands.push_back(make_process_command(app));
  commands.push_back(make_generate_command(app));
  commands.push_back(make_merge_command(app));
  commands.push_back(make_kafka_mock_command(app));
  commands.push_back(make_train_command(app));
  commands.push_back(make_evaluate_command(app));
  commands.push_back(make_classify_command(app));
  commands.push_back(make_detect_flows_command(app));
  commands.push_back(make_collect_command(app));

  add_config_options(app);

  std::string why;
  std::vector<std::string> args = expand_arguments(app, argc, argv, &why);
  if (args.empty()) {
    std::fprintf(stderr, "netpulse: %s\n", why.c_str());
    return kExitUsage;
  }
  std::vector<char*> argp;
  for (std::string& a : args) argp.push_back(a.data());
  try {
    app.parse(static_cast<int>(argp.size()), argp.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "netpulse: %s (see --help)\n", e.what());
    return kExitUsage;
  }
  try {
    for (auto& c : commands)
      if (c.sub->parsed()) return c.run();
  } catch (const CommandError& e) {
    std::fprintf(stderr, "netpulse: %s\n", e.what());
    return e.exit_code;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netpulse: %s\n", e.what());
    return 1;
  }
  return 0;
}
