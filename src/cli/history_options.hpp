// The traffic-history options `run`, `process` and `merge` share (issue 17): --history-keys,
// --retention and --retention-size, defined once so their names, help and checks stay the same.
// Parsed after CLI11 has read them into app::HistorySettings; a bad one is a usage error (exit 2)
// naming it.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "app/outputs.hpp"

namespace netpulse::cli {

struct HistoryOptions {
  size_t keys = app::HistorySettings::kDefaultKeys;
  size_t sample = app::HistorySettings::kDefaultSample;
  std::vector<std::string> retention;       // "[minute|hour|day=]AGE"
  std::vector<std::string> retention_size;  // "[minute|hour|day=]SIZE"
};

// from_records: the command sums records (run, process), so --history-sample applies.
void add_history_options(CLI::App* sub, HistoryOptions& options, bool from_records = true);

// Fills out (keys, retention per resolution). Throws the usage error of the first bad one.
void apply_history_options(const HistoryOptions& options, app::HistorySettings& out);

}  // namespace netpulse::cli
