#include "cli/detect_options.hpp"

#include <algorithm>
#include <filesystem>
#include <utility>

#include "cli/common.hpp"
#include "detect/flow_model_detector.hpp"
#include "detect/model.hpp"
#include "detect/row_classifier.hpp"

namespace netpulse::cli {

namespace fs = std::filesystem;

void add_detect_options(CLI::App* sub, DetectOptions& o,
                        const std::vector<std::string>& default_items) {
  o.detect = default_items;
  std::string defaults;
  for (const auto& d : default_items) defaults += (defaults.empty() ? "" : ",") + d;
  sub->add_option("--detect", o.detect,
                  "Detectors that watch the flow records, comma-separated or repeated: rules "
                  "(DoS, port scan, brute force: hand-written), models (the NSL-KDD flow models "
                  "of --models: of its flow-*.json and line-*.json those that run on the "
                  "input, line-X.json unless flow-X.json does; flow-X.json needs a netflow://, "
                  "sflow:// or captured-flows input, whose ports and flags it reads), a model "
                  "file (netpulse train; its features must come from the input's records) or a "
                  "directory of them; none: no "
                  "detection. Alerts go to the store, the WebSocket, the dashboard and the alert "
                  "endpoints. Default: " +
                      (defaults.empty() ? std::string("none") : defaults))
      ->delimiter(',');
  sub->add_option("--confirm", o.confirm,
                  "A flow model alerts only after firing this many times within 2 s of event "
                  "time on one subject (the source-destination pair, the source or the "
                  "destination); 1: every firing alerts")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  sub->add_option("--hold", o.hold_s,
                  "A flow model alerts on a subject (pair, source or destination) at most once "
                  "in this many seconds of event time")
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
}

bool is_flow_model_file(const fs::path& file) {
  const std::string name = file.filename().string();
  return (name.rfind("flow-", 0) == 0 || name.rfind("line-", 0) == 0) &&
         file.extension() == ".json";
}

namespace {

using LoadedModel = std::pair<fs::path, detect::Model>;

detect::Model load_or_fail(const fs::path& file) {
  std::string why;
  auto m = detect::load_model(file.string(), &why);
  if (!m) io_error(why);
  return std::move(*m);
}

// The records of an input kind, as an error message names them.
std::string records_of(detect::FlowInputKind kind) {
  switch (kind) {
    case detect::FlowInputKind::kLine:
      return "line records";
    case detect::FlowInputKind::kFlowExport:
      return "flow exports";
    case detect::FlowInputKind::kCapture:
      return "captured flows";
  }
  return "these records";
}

// The flow models of a directory that run on the detectors' records (`kind`), in name order:
// its line-*.json, and a flow-*.json in place of its line-*.json when the records give the
// features it needs (detect::pick_flow_models).
std::vector<LoadedModel> flow_models_in(const fs::path& dir, detect::FlowInputKind kind) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (is_flow_model_file(e.path()) && !e.is_directory()) files.push_back(e.path());
  if (ec) io_error(dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  std::vector<LoadedModel> all;
  std::vector<std::string> stems;
  std::vector<const detect::Model*> models;
  for (const fs::path& f : files) all.emplace_back(f, load_or_fail(f));
  for (const auto& [f, m] : all) {
    stems.push_back(f.stem().string());
    models.push_back(&m);
  }
  std::vector<size_t> unreplaced;
  const auto chosen = detect::pick_flow_models(stems, models, kind, &unreplaced);
  // A flow-X.json left out with no line-X.json in its place is a model the user may expect to
  // run: say why it cannot.
  for (size_t i : unreplaced) {
    const detect::FeatureMask missing =
        detect::model_features(*models[i]) & ~detect::flow_feature_mask(kind);
    std::string names;
    for (const auto& n : detect::feature_names(missing)) names += (names.empty() ? "" : ",") + n;
    io_error("--detect: " + all[i].first.string() + ": needs features that " + records_of(kind) +
             " do not give (" + names + "), and there is no " + "line-" + stems[i].substr(5) +
             ".json beside it to run instead");
  }
  std::vector<LoadedModel> picked;
  for (size_t i : chosen) picked.push_back(std::move(all[i]));
  return picked;
}

}  // namespace

app::AlertTap::Options detect_tap_options(const DetectOptions& o, std::string* listing,
                                          detect::FlowInputKind kind) {
  app::AlertTap::Options t;
  t.kind = kind;
  t.rules = false;
  t.models_config.confirm = o.confirm;
  t.models_config.hold_ms = static_cast<int64_t>(o.hold_s * 1000);
  std::vector<LoadedModel> files;
  bool none = false;
  for (const std::string& item : o.detect) {
    std::error_code ec;
    if (item == "none") {
      none = true;
    } else if (item == "rules") {
      t.rules = true;
    } else if (item == "models") {
      const size_t before = files.size();
      if (fs::is_directory(o.models_dir, ec))
        for (auto& f : flow_models_in(o.models_dir, kind)) files.push_back(std::move(f));
      if (files.size() == before && o.models_required)
        usage_error("--detect models: no flow-*.json or line-*.json model in '" + o.models_dir +
                    "' (--models names the directory)");
    } else if (fs::is_directory(item, ec)) {
      auto found = flow_models_in(item, kind);
      if (found.empty())
        usage_error("--detect '" + item + "': no flow-*.json or line-*.json model in it");
      for (auto& f : found) files.push_back(std::move(f));
    } else if (fs::exists(item, ec)) {
      files.emplace_back(item, load_or_fail(item));
    } else {
      usage_error("--detect '" + item +
                  "': not rules, models, none, a model file or a directory of them");
    }
  }
  if (none && (t.rules || !files.empty())) usage_error("--detect: none and detectors together");
  if (files.size() > detect::kMaxModels)
    usage_error("--detect: " + std::to_string(files.size()) + " models, at most " +
                std::to_string(detect::kMaxModels));
  listing->clear();
  if (t.rules) *listing = "rules";
  for (auto& [f, m] : files) {
    std::string name = f.stem().string();
    for (const auto& other : t.models)
      if (other.name == name) name += "#" + std::to_string(t.models.size() + 1);
    *listing += (listing->empty() ? "" : ", ") + name + " (" +
                std::string(detect::detector_name(m.detector)) + ", " +
                std::string(detect::algo_name(m.algo)) + ")";
    t.models.push_back({std::move(name), std::move(m)});
  }
  if (std::string why = app::AlertTap::check_flow_models(t.models, kind); !why.empty())
    io_error("--detect: " + why);
  return t;
}

bool reads_flow_columns(const app::AlertTap::Options& tap) {
  if (tap.kind == detect::FlowInputKind::kLine) return false;
  const detect::FeatureMask line = detect::flow_feature_mask(detect::FlowInputKind::kLine);
  return std::any_of(tap.models.begin(), tap.models.end(), [&](const app::AlertTap::FlowModel& m) {
    return (detect::model_features(m.model) & ~line) != 0;
  });
}

void fit_tap(app::AlertTap::Options& tap, const ingest::Uri* input, uint64_t memory_limit) {
  if (memory_limit != 0) {
    tap.max_queued_bytes = static_cast<size_t>(memory_limit / 16);
    // The rules' per-slice tables: about 350 bytes a key with its share of the window's table;
    // 20 slices, three tables each.
    tap.rules_config.max_keys = static_cast<size_t>(
        std::clamp<uint64_t>(memory_limit / 16 / (20 * 3 * 350), 1024, 1 << 20));
  }
  using K = ingest::Uri::Kind;
  tap.wait_when_behind =
      input && (input->kind == K::kFile || input->kind == K::kStdio || input->kind == K::kPcap);
}

}  // namespace netpulse::cli
