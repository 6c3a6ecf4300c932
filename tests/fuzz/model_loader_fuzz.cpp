// The model-file loader (detect/model.hpp): `--models` may point at any file. The input is the
// file's text, then (after the JSON) bytes for the feature rows to score. Properties: a file
// that loads writes back to a file that loads to the same model (same text); the compiled
// evaluator (detect/compiled_model.hpp), which runs on live traffic, scores every row exactly
// as the reference evaluator does, and alerts on the same rows. Rows are made as the parser
// makes them (finite; a categorical feature holds a category's index): a float such as 3e29 in
// a categorical column cannot reach the evaluators (fuzzing tried).
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "detect/compiled_model.hpp"
#include "detect/model.hpp"
#include "detect/nslkdd_schema.hpp"
#include "fuzz_check.hpp"

using namespace netpulse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // The JSON is everything up to a NUL byte; what follows fills the rows.
  const size_t nul = text.find('\0');
  const std::string_view json_text = text.substr(0, nul);
  const std::string_view rows = nul == std::string_view::npos ? std::string_view{} : text.substr(nul + 1);
  const nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
  if (j.is_discarded()) return 0;
  std::string why;
  const auto model = detect::model_from_json(j, &why);
  if (!model) {
    FUZZ_CHECK(!why.empty());
    return 0;
  }
  const std::string file = detect::model_file_text(*model);
  const auto again = detect::model_from_json(nlohmann::json::parse(file, nullptr, false), &why);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(detect::model_file_text(*again) == file);

  const detect::CompiledModel compiled(*model);
  detect::FeatureRow row{};
  for (size_t start = 0;; start += sizeof row) {
    if (start > 0) {
      if (start - sizeof row >= rows.size()) break;
      row = {};
      std::memcpy(row.data(), rows.data() + start - sizeof row,
                  std::min(sizeof row, rows.size() - (start - sizeof row)));
      // Rows as the parser and the flow features make them: finite, and a categorical
      // feature holds the index of one of its categories.
      for (size_t i = 0; i < row.size(); ++i) {
        float& f = row[i];
        if (!std::isfinite(f)) f = 0;
        const auto& info = detect::feature_info(i);
        if (info.type == detect::FeatureType::kCategorical)
          f = std::floor(std::fabs(std::fmod(f, static_cast<float>(info.vocabulary.size()))));
      }
    }
    const double want = model->score(row), got = compiled.score(row);
    FUZZ_CHECK((std::isnan(want) && std::isnan(got)) || want == got);
    FUZZ_CHECK(model->positive(row) == (got >= compiled.threshold()));
  }
  return 0;
}
