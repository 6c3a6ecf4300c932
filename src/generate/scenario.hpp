// Scenarios: attack and anomaly traffic mixed into the normal stream during an interval of event
// time, so that the outlier queries and the detectors have something real to find
// (`--scenario dos@30s+20s`). Each kind has a fixed culprit address, documented in
// docs/generator.md. Most kinds replace a share of the normal records (ScenarioMixer); a flood
// adds records on top of them (FloodSchedule). Scenario and ScenarioProfile are values; a
// ScenarioMixer and a FloodSchedule are not thread-safe.
#pragma once

#include <cassert>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip_addr.hpp"
#include "core/time.hpp"
#include "generate/catalog.hpp"
#include "generate/event_schedule.hpp"
#include "generate/rng.hpp"

namespace netpulse::generate {

enum class ScenarioKind : uint8_t { kDos, kPortscan, kBruteforce, kElephant, kFlood, kFlood6 };

// A flood adds its records to the normal ones instead of taking a share of them.
constexpr bool is_flood(ScenarioKind k) {
  return k == ScenarioKind::kFlood || k == ScenarioKind::kFlood6;
}

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
  double share;                   // fraction of the stream's records while active; 0 for a
                                  // flood, whose records come on top (at --flood-rate)
  uint32_t culprit;               // the address the ip-outliers query should list (0: IPv6)
  std::string_view culprit_text;  // the same as text, IPv4 or IPv6
  std::string_view ip_key;        // the --ip-key under which the culprit stands out
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

// Draws the records of the share-taking scenarios in place of normal ones.
class ScenarioMixer {
 public:
  // Floods among the scenarios are left out (FloodSchedule has them).
  explicit ScenarioMixer(const std::vector<Scenario>& scenarios);

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

// The floods' victims (RFC 5737 and RFC 3849 documentation addresses, distinct from the other
// scenarios' culprits).
inline constexpr uint32_t kFloodVictim = ipv4(203, 0, 113, 81);
inline constexpr core::Ip6 kFlood6Victim{0x20010db8ffff0000ULL, 0x81};  // 2001:db8:ffff::81
inline constexpr uint64_t kDefaultFloodRate = 1'000'000;

// One flood record: to the victim, from a source no earlier flood record of the stream had.
struct FloodRecord {
  core::TimeMs time;
  bool v6;              // flood6: src6 to kFlood6Victim; else fields.src to fields.dst (IPv4)
  RecordFields fields;  // protocol and bytes always; src and dst when IPv4
  core::Ip6 src6;
};

// The floods of a stream (`--scenario flood@START+LENGTH`, `flood6@...`): while one is active
// it adds `rate` records per second of event time on top of the normal stream. Record j of a
// flood starting at B has event time B + floor(j * 1000 / rate) ms, so a flood of LENGTH ms
// adds ceil(LENGTH * rate / 1000) records; overlapping floods add up. Sources are spoofed and
// never repeat: IPv4 ones walk a seeded permutation of the 32-bit space, skipping 0.0.0.0/8,
// 127.0.0.0/8, 224.0.0.0/3 and the three RFC 5737 /24s (3.72 billion addresses before the walk
// starts over); IPv6 ones are in 2001:db8::/32 outside 2001:db8:ffff::/48 (the victim's), with
// a seeded 64-bit permutation of a counter as the low 64 bits. Destination: the victim; HTTP,
// 40-64 bytes (IPv4) or 60-84 bytes (IPv6): TCP SYNs. The records depend on the seed only, not
// on the normal stream, and come out in event-time order.
class FloodSchedule {
 public:
  // Non-flood kinds among the scenarios are left out. REQUIRES: 1 <= rate <= kMaxRate (10^9).
  FloodSchedule(const std::vector<Scenario>& scenarios, uint64_t rate, uint64_t seed);

  bool empty() const { return floods_.empty(); }
  bool has_ipv6() const;
  // Fixes the intervals in absolute event time. Call once, before the first record.
  void set_origin(core::TimeMs stream_start);

  // The event time of the next flood record, INT64_MAX when there is none left: a cheap test
  // before precedes().
  core::TimeMs next_time() const { return next_time_; }
  // Whether the next flood record comes no later than the next record of `normal`, exactly
  // (the flood goes first on a tie). REQUIRES: next_time() != INT64_MAX.
  bool precedes(const EventTimeStepper& normal) const {
    assert(next_time_ != INT64_MAX);
    return floods_[next_].step.no_later_than(normal);
  }
  // Writes the next flood record and moves on. REQUIRES: next_time() != INT64_MAX.
  void draw(FloodRecord& out);
  // Drops the records before t: when event time on the wall clock jumps after a pause, the
  // flood's records of the gap are not written, as the normal ones are not.
  void skip_to(core::TimeMs t);

 private:
  struct Flood {
    Scenario scenario;
    core::TimeMs end = 0;  // absolute event time
    EventTimeStepper step;
  };
  void select_next();

  std::vector<Flood> floods_;
  uint64_t rate_;
  size_t next_ = 0;  // the flood whose record comes next
  core::TimeMs next_time_ = INT64_MAX;
  SplitMix64 rng_;
  uint32_t v4_count_ = 0;  // sources drawn so far (mod 2^32): the permutations' input
  uint64_t v6_count_ = 0;
  uint32_t v4_key_[2];
  uint64_t v6_key_[2];
};

}  // namespace netpulse::generate
