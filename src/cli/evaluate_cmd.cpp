// netpulse evaluate: a model's accuracy on labelled NSL-KDD rows, as spec section 7's JSON.
#include <cstdio>
#include <map>
#include <memory>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "detect/compiled_model.hpp"
#include "detect/dataset.hpp"
#include "detect/metrics.hpp"
#include "detect/model.hpp"

namespace netpulse::cli {

namespace {

struct EvaluateOptions {
  std::string model;
  std::string data;
  bool per_label = false;
};

int run_evaluate(const EvaluateOptions& o) {
  std::string why;
  const auto model = detect::load_model(o.model, &why);
  if (!model) io_error(why);
  std::string text;
  if (!detect::read_file(o.data, text, &why)) io_error(why);
  const detect::Dataset ds = detect::parse_dataset(text);
  for (const auto& m : ds.first_malformed)
    std::fprintf(stderr, "netpulse: %s %s\n", o.data.c_str(), detect::describe(m).c_str());
  if (ds.malformed > ds.first_malformed.size())
    std::fprintf(stderr, "netpulse: %s: %llu malformed rows in all (only the first %zu shown)\n",
                 o.data.c_str(), static_cast<unsigned long long>(ds.malformed),
                 ds.first_malformed.size());

  const detect::CompiledModel compiled(*model);
  detect::Confusion c;
  struct LabelCount {
    uint64_t rows = 0, detected = 0;
  };
  std::map<std::string, LabelCount> per_label;
  for (size_t i = 0; i < ds.size(); ++i) {
    const int label = ds.labels[i];
    if (!detect::detector_uses(model->detector, label)) continue;
    const bool predicted = compiled.score(ds.rows[i]) >= compiled.threshold();
    const bool actual = detect::detector_positive(model->detector, label);
    c.add(predicted, actual);
    if (actual) {
      auto& lc = per_label[std::string(detect::label_names()[static_cast<size_t>(label)])];
      ++lc.rows;
      lc.detected += predicted;
    }
  }
  // Spec section 7's keys, in its order.
  nlohmann::ordered_json j;
  j["detector"] = detect::detector_name(model->detector);
  j["rows"] = c.rows();
  j["accuracy"] = c.accuracy();
  j["precision"] = c.precision();
  j["recall"] = c.recall();
  j["f1"] = c.f1();
  j["false_positive_rate"] = c.false_positive_rate();
  j["confusion"] = {{"tp", c.tp}, {"fp", c.fp}, {"tn", c.tn}, {"fn", c.fn}};
  if (o.per_label) {
    nlohmann::ordered_json pl = nlohmann::ordered_json::object();
    for (const auto& [name, lc] : per_label)
      pl[name] = {{"rows", lc.rows},
                  {"detected", lc.detected},
                  {"detection_rate", detect::Confusion::ratio(lc.detected, lc.rows)}};
    j["per_label"] = std::move(pl);
  }
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

Command make_evaluate_command(CLI::App& app) {
  auto o = std::make_shared<EvaluateOptions>();
  CLI::App* sub = app.add_subcommand(
      "evaluate",
      "Score a detector model on labelled NSL-KDD rows: accuracy, precision, recall, F1, "
      "false-positive rate and the confusion counts, as one JSON object.");
  sub->add_option("--model,-m", o->model, "A model file written by netpulse train")->required();
  sub->add_option("--data", o->data, "Labelled NSL-KDD rows")->required();
  sub->add_flag("--per-label", o->per_label, "Add the detection rate of each attack label");
  return Command{sub, [o] { return run_evaluate(*o); }};
}

}  // namespace netpulse::cli
