// The flow-detection options `run` and `process` share: --detect (which detectors watch the
// records: the hand-written rules, the NSL-KDD flow models, model files), --confirm and --hold
// for the models. Parsed after CLI11 has read them into the AlertTap's options; a bad item is a
// usage error (exit 2) naming it, a model file that cannot be read or cannot run on flow
// records an I/O error (exit 1) naming it.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "app/alert_tap.hpp"
#include "ingest/uri.hpp"

namespace netpulse::cli {

struct DetectOptions {
  std::vector<std::string> detect;  // items: rules, models, FILE.json or DIR
  std::string models_dir = "models";
  uint32_t confirm = 3;
  double hold_s = 10;
  // `models` finding no flow model in models_dir is an error (process, where --detect models
  // was asked for); false: nothing runs (run, whose default includes models).
  bool models_required = true;
};

// A flow model's file: flow-*.json or line-*.json (`--detect models` runs these; run's --rows
// the others).
bool is_flow_model_file(const std::filesystem::path& file);

// --detect (with `default_items` when not given: {"rules", "models"} for run, none for
// process), --confirm and --hold. --models is the command's own (run already has it).
void add_detect_options(CLI::App* sub, DetectOptions& options,
                        const std::vector<std::string>& default_items);

// The tap's options from the items: "rules" runs the rules; "models" the flow models of
// models_dir (none when it holds none); a directory its flow models; a file that model. Of a
// directory's, those that run on the detectors' records, `kind` (flow_input_kind(): line
// records, or a collector's or capture's CSV; see detect::pick_flow_models: line-attack.json
// on line records, flow-attack.json where the records carry ports and flags). Alerts are named
// after the file ("line-attack"). *listing: "rules, flow-bruteforce (bruteforce, tree),
// line-attack (attack, forest), line-dos (dos, forest)", or "" when nothing runs.
app::AlertTap::Options detect_tap_options(
    const DetectOptions& options, std::string* listing,
    detect::FlowInputKind kind = detect::FlowInputKind::kLine);

// True when the tap's input (tap.kind) is a collector or captured flows and one of its models
// needs more than line records give (ports, flags, flow times): the input is then read as CSV.
bool reads_flow_columns(const app::AlertTap::Options& tap);

// Fits the tap to the command: under the memory budget (memory_limit bytes, 0: none) the
// detectors' backlog is a sixteenth of it and the rules' tables fit in another sixteenth; an
// input that can wait (a file, stdin, a capture file; `input` null: the generator, which
// cannot) makes the engine wait for the detectors instead of skipping blocks.
void fit_tap(app::AlertTap::Options& tap, const ingest::Uri* input, uint64_t memory_limit);

}  // namespace netpulse::cli
