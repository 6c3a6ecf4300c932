// The NSL-KDD record layout (../shared/data/nsl-kdd/README.md): 41 features, three of them
// categorical with fixed vocabularies, then an optional label and difficulty; the attack labels
// and the family each belongs to; the detectors named after those families (spec section 7).
// Constant tables and pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace netpulse::detect {

inline constexpr size_t kFeatureCount = 41;

// Column indexes of the categorical features.
inline constexpr size_t kProtocolType = 1;
inline constexpr size_t kService = 2;
inline constexpr size_t kFlag = 3;

// A feature row: numeric features as their value, categorical ones as their index in the
// feature's vocabulary.
using FeatureRow = std::array<float, kFeatureCount>;

// A set of features (bit i: column i), e.g. the ones a model may split on.
using FeatureMask = uint64_t;
inline constexpr FeatureMask kAllFeatures = (FeatureMask{1} << kFeatureCount) - 1;

enum class FeatureType : uint8_t { kNumeric, kCategorical };

struct FeatureInfo {
  std::string_view name;
  FeatureType type;
  std::span<const std::string_view> vocabulary;  // empty for numeric features
};

std::span<const FeatureInfo> feature_infos();
const FeatureInfo& feature_info(size_t index);
// The feature's column index, or -1.
int feature_index(std::string_view name);
// The names of the features in a mask, in column order.
std::vector<std::string> feature_names(FeatureMask mask);
// The features of a named group: "basic" (duration .. urgent), "content" (hot ..
// is_guest_login), "time" (the 2-second traffic features), "host" (the dst_host_* ones), "all".
std::optional<FeatureMask> feature_group(std::string_view name);
// Parses a comma-separated list of feature or group names, each optionally preceded by '-',
// applied left to right from every feature when the list starts with a removal, else from
// none: "-content,-hot" (all but those), "basic,time" (only those), "basic,-land" (basic without
// land), "-basic,service" (all but basic, then service back). Returns nullopt and the offending
// name in *bad when a name is unknown.
std::optional<FeatureMask> parse_feature_list(std::string_view list, std::string* bad);
// The index of a category value in a categorical feature's vocabulary, or -1.
int category_index(size_t feature, std::string_view value);

// The standard 5-class grouping.
enum class Family : uint8_t { kNormal, kDos, kProbe, kR2l, kU2r };
std::string_view family_name(Family f);

// Every label of the grouping table (training and test sets), normal first. The parser reports
// a label as its index here.
std::span<const std::string_view> label_names();
int label_index(std::string_view label);
Family label_family(int label);
inline constexpr int kNormalLabel = 0;

enum class Detector : uint8_t { kDos, kProbe, kR2l, kU2r, kBruteforce, kAttack };
std::optional<Detector> parse_detector(std::string_view name);
std::string_view detector_name(Detector d);

// Whether rows of this label take part in training and evaluating the detector (normal rows,
// and the rows of its family; all rows for kAttack).
bool detector_uses(Detector d, int label);
// Whether the label is a positive ("attack of this family") for the detector.
bool detector_positive(Detector d, int label);

}  // namespace netpulse::detect
