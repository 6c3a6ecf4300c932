// Scenarios: attack and anomaly traffic mixed into the normal stream during an interval of event
// time, so that the outlier queries and the detectors have something real to find
// (`--scenario dos@30s+20s`). Each kind has a fixed culprit address, documented in
// docs/generator.md. Scenario and ScenarioProfile are values; a ScenarioMixer is not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"
#include "generate/rng.hpp"

namespace netpulse::generate {

enum class ScenarioKind : uint8_t { kDos, kPortscan, kBruteforce, kElephant };

// One --scenario: a kind active from start_ms to start_ms + length_ms of event time, counted
// from the stream's first record.
struct Scenario {
  ScenarioKind kind = ScenarioKind::kDos;
  int64_t start_ms = 0;
  int64_t length_ms = 0;
  friend bool operator==(const Scenario&, const Scenario&) = default;
};

// Parses NAME@START+LENGTH, e.g. "dos@30s+20s" (START may be 0). Returns nullopt with a reason.
std::optional<Scenario> parse_scenario(std::string_view text, std::string* why);
std::string to_string(const Scenario& s);  // "dos@30s+20s"

// What a kind looks like and which query should flag it.
struct ScenarioProfile {
  ScenarioKind kind;
  std::string_view name;
  double share;             // fraction of the stream's records while active
  uint32_t culprit;         // the address the ip-outliers query should list
  std::string_view ip_key;  // the --ip-key under which the culprit stands out
  std::string_view summary;
};
std::span<const ScenarioProfile> scenario_profiles();
const ScenarioProfile& profile(ScenarioKind kind);

// All active scenarios together take at most this share of the records.
inline constexpr double kMaxScenarioShare = 0.9;

// The fields of one generated record (protocol is an index into protocol_names()).
struct RecordFields {
  uint32_t protocol;
  uint32_t src;
  uint32_t dst;
  uint32_t bytes;
};

class ScenarioMixer {
 public:
  explicit ScenarioMixer(std::vector<Scenario> scenarios);

  bool empty() const { return scenarios_.empty(); }
  // Fixes the intervals in absolute event time. Call once, before the first record.
  void set_origin(core::TimeMs stream_start);

  // The event time at which the set of active scenarios changes next (INT64_MAX: never).
  core::TimeMs next_change() const { return next_change_; }
  // Recomputes the active set for event time t. REQUIRES: t >= the previous t.
  void update(core::TimeMs t);
  bool active() const { return active_count_ > 0; }

  // r is a fresh random number. Returns true, and fills out, when this record belongs to an
  // active scenario; more random numbers come from rng.
  bool draw(uint64_t r, SplitMix64& rng, RecordFields& out) {
    const uint64_t u = high32(r);
    if (u >= cumulative_[active_count_ - 1]) return false;
    size_t k = 0;
    while (u >= cumulative_[k]) ++k;
    draw_kind(active_kinds_[k], rng.next(), out);
    return true;
  }

 private:
  void draw_kind(ScenarioKind kind, uint64_t r, RecordFields& out);

  std::vector<Scenario> scenarios_;
  std::vector<core::TimeMs> begin_, end_;  // absolute event time
  core::TimeMs next_change_ = INT64_MAX;
  size_t active_count_ = 0;
  std::vector<ScenarioKind> active_kinds_;
  std::vector<uint64_t> cumulative_;  // cumulative share of the active ones, in 2^-32 units
  uint32_t sweep_ = 0;                // portscan: next destination of the sweep
};

}  // namespace netpulse::generate
