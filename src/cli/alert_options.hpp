// The alert options `run`, `process` and `merge` share: --alert-webhook, --alert-syslog and
// --alert-rule (all repeatable; also from NETPULSE_ALERT_* and --config arrays), defined once
// so their names, help and checks stay the same. Parsed after CLI11 has read them, into what
// app::OutputOptions takes; a bad one is a usage error (exit 2) naming it.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "app/outputs.hpp"

namespace netpulse::cli {

struct AlertOptions {
  std::vector<std::string> webhooks;
  std::vector<std::string> syslogs;
  std::vector<std::string> rules;
};

void add_alert_options(CLI::App* sub, AlertOptions& options);

// Parses the endpoints and rules into `out` (alert_endpoints, alert_rules). Throws the usage
// error of the first bad one.
void apply_alert_options(const AlertOptions& options, app::OutputOptions& out);

}  // namespace netpulse::cli
