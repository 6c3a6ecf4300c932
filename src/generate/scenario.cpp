#include "generate/scenario.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "generate/catalog.hpp"

namespace netpulse::generate {

namespace {

// Culprits and peers come from the documentation ranges (RFC 5737) and 100.64.0.0/10, which the
// made-up address list never uses, so a culprit is never also an ordinary host.
constexpr uint32_t kDosVictim = ipv4(203, 0, 113, 80);
constexpr uint32_t kDosSources = ipv4(100, 64, 0, 0);  // a /10: 4 million spoofed sources
constexpr uint32_t kScanner = ipv4(198, 51, 100, 23);
constexpr uint32_t kScanTargets = ipv4(10, 20, 0, 0);  // the swept /16
constexpr uint32_t kBruteforcer = ipv4(198, 51, 100, 66);
constexpr uint32_t kSshServer = ipv4(203, 0, 113, 22);
constexpr uint32_t kElephantHost = ipv4(203, 0, 113, 77);
constexpr uint32_t kElephantServer = ipv4(198, 51, 100, 200);

// In ScenarioKind order.
constexpr ScenarioProfile kProfiles[] = {
    {ScenarioKind::kDos, "dos", 0.5, kDosVictim, "203.0.113.80", "dst",
     "many spoofed sources (100.64.0.0/10) flood 203.0.113.80 with 1200-1500-byte DNS "
     "amplification answers"},
    {ScenarioKind::kPortscan, "portscan", 0.6, kScanner, "198.51.100.23", "src",
     "198.51.100.23 sweeps 10.20.0.0/16 with 40-60-byte probes across all protocols"},
    {ScenarioKind::kBruteforce, "bruteforce", 0.2, kBruteforcer, "198.51.100.66", "src",
     "198.51.100.66 opens many short SSH sessions (100-500 bytes) to 203.0.113.22"},
    {ScenarioKind::kElephant, "elephant", 0.3, kElephantHost, "203.0.113.77", "dst",
     "203.0.113.77 pulls a bulk HTTPS download of full 1400-1500-byte frames from "
     "198.51.100.200"},
    {ScenarioKind::kFlood, "flood", 0, kFloodVictim, "203.0.113.81", "dst",
     "on top of the normal traffic, --flood-rate records/s of 40-64-byte HTTP SYNs to "
     "203.0.113.81, each from a new spoofed IPv4 source"},
    {ScenarioKind::kFlood6, "flood6", 0, 0, "2001:db8:ffff::81", "dst",
     "on top of the normal traffic, --flood-rate records/s of 60-84-byte HTTP SYNs to "
     "2001:db8:ffff::81, each from a new spoofed source in 2001:db8::/32"},
};

// "0", "0s", "0ms" are a valid START; parse_duration_ms takes only positive durations.
std::optional<int64_t> parse_offset(std::string_view s) {
  if (auto ms = core::parse_duration_ms(s)) return ms;
  size_t i = 0;
  while (i < s.size() && s[i] == '0') ++i;
  if (i == 0) return std::nullopt;
  const std::string_view unit = s.substr(i);
  if (unit.empty() || unit == "ms" || unit == "s" || unit == "m" || unit == "min" || unit == "h" ||
      unit == "d")
    return 0;
  return std::nullopt;
}

std::string duration_text(int64_t ms) {
  if (ms % 1000 != 0 || ms == 0) return std::to_string(ms) + (ms == 0 ? "s" : "ms");
  return std::to_string(ms / 1000) + "s";
}

}  // namespace

std::span<const ScenarioProfile> scenario_profiles() {
  return kProfiles;
}

const ScenarioProfile& profile(ScenarioKind kind) {
  return kProfiles[static_cast<size_t>(kind)];
}

std::optional<Scenario> parse_scenario(std::string_view text, std::string* why) {
  std::string scratch;
  if (!why) why = &scratch;
  const size_t at = text.find('@');
  const size_t plus = text.find('+', at == std::string_view::npos ? 0 : at);
  if (at == std::string_view::npos || plus == std::string_view::npos) {
    *why = "expected NAME@START+LENGTH, e.g. dos@30s+20s";
    return std::nullopt;
  }
  const std::string_view name = text.substr(0, at);
  Scenario s;
  bool known = false;
  std::string names;
  for (const ScenarioProfile& p : kProfiles) {
    names += names.empty() ? "" : ", ";
    names += p.name;
    if (p.name == name) {
      s.kind = p.kind;
      known = true;
    }
  }
  if (!known) {
    *why = "unknown scenario '" + std::string(name) + "' (known: " + names + ")";
    return std::nullopt;
  }
  const auto start = parse_offset(text.substr(at + 1, plus - at - 1));
  const auto length = core::parse_duration_ms(text.substr(plus + 1));
  if (!start) {
    *why = "START '" + std::string(text.substr(at + 1, plus - at - 1)) +
           "' is not a duration such as 0, 30s, 2m";
    return std::nullopt;
  }
  if (!length) {
    *why = "LENGTH '" + std::string(text.substr(plus + 1)) + "' is not a duration such as 20s, 1m";
    return std::nullopt;
  }
  s.start_ms = *start;
  s.length_ms = *length;
  return s;
}

std::string to_string(const Scenario& s) {
  return std::string(profile(s.kind).name) + "@" + duration_text(s.start_ms) + "+" +
         duration_text(s.length_ms);
}

ScenarioMixer::ScenarioMixer(const std::vector<Scenario>& scenarios) {
  for (const Scenario& s : scenarios)
    if (!is_flood(s.kind)) scenarios_.push_back(s);
  active_kinds_.resize(scenarios_.size());
  cumulative_.resize(scenarios_.size() + 1);
}

void ScenarioMixer::set_origin(core::TimeMs stream_start) {
  begin_.clear();
  end_.clear();
  next_change_ = INT64_MAX;
  active_count_ = 0;
  for (const Scenario& s : scenarios_) {
    begin_.push_back(stream_start + s.start_ms);
    end_.push_back(stream_start + s.start_ms + s.length_ms);
    next_change_ = std::min(next_change_, begin_.back());
  }
}

void ScenarioMixer::update(core::TimeMs t) {
  active_count_ = 0;
  next_change_ = INT64_MAX;
  double total = 0;
  for (size_t i = 0; i < scenarios_.size(); ++i) {
    if (t < begin_[i]) {
      next_change_ = std::min(next_change_, begin_[i]);
    } else if (t < end_[i]) {
      next_change_ = std::min(next_change_, end_[i]);
      active_kinds_[active_count_++] = scenarios_[i].kind;
      total += profile(scenarios_[i].kind).share;
    }
  }
  const double scale = total > kMaxScenarioShare ? kMaxScenarioShare / total : 1.0;
  double cumulative = 0;
  for (size_t k = 0; k < active_count_; ++k) {
    cumulative += profile(active_kinds_[k]).share * scale;
    cumulative_[k] = static_cast<uint64_t>(std::floor(cumulative * 4294967296.0));
  }
}

void ScenarioMixer::draw_kind(ScenarioKind kind, uint64_t r, RecordFields& out) {
  switch (kind) {
    case ScenarioKind::kDos:
      out.protocol = kProtocolDns;
      out.src = kDosSources | scale32(high32(r), 1U << 22);
      out.dst = kDosVictim;
      out.bytes = 1200 + scale32(low32(r), 301);
      return;
    case ScenarioKind::kPortscan:
      out.protocol = scale32(high32(r), kMaxProtocols);
      out.src = kScanner;
      out.dst = kScanTargets | (1 + sweep_);
      sweep_ = (sweep_ + 1) % 65534;  // 10.20.0.1 .. 10.20.255.254
      out.bytes = 40 + scale32(low32(r), 21);
      return;
    case ScenarioKind::kBruteforce:
      out.protocol = kProtocolSsh;
      out.src = kBruteforcer;
      out.dst = kSshServer;
      out.bytes = 100 + scale32(low32(r), 401);
      return;
    case ScenarioKind::kElephant:
      out.protocol = kProtocolHttps;
      out.src = kElephantServer;
      out.dst = kElephantHost;
      out.bytes = 1400 + scale32(low32(r), 101);
      return;
    case ScenarioKind::kFlood:
    case ScenarioKind::kFlood6:
      assert(false && "floods are not mixed: FloodSchedule draws them");
      return;
  }
}

namespace {

// The IPv4 space a flood's spoofed sources come from: all but "this network", loopback,
// multicast and reserved (224/3, with the broadcast address), and the documentation /24s where
// the scenarios' culprits live, so a spoofed source is never a culprit or the victim.
bool is_flood_source(uint32_t a) {
  const unsigned first = a >> 24;
  if (first == 0 || first == 127 || first >= 224) return false;
  const uint32_t net = a & 0xffffff00U;
  return net != ipv4(192, 0, 2, 0) && net != ipv4(198, 51, 100, 0) && net != ipv4(203, 0, 113, 0);
}

constexpr uint64_t kFlood6Prefix = 0x20010db800000000ULL;  // 2001:db8::/32

}  // namespace

FloodSchedule::FloodSchedule(const std::vector<Scenario>& scenarios, uint64_t rate, uint64_t seed)
    : rate_(rate), rng_(seed) {
  assert(rate >= 1);
  for (const Scenario& s : scenarios)
    if (is_flood(s.kind)) floods_.push_back(Flood{s, 0, {}});
  // The permutations' keys, so each seed walks the address space in an order of its own.
  v4_key_[0] = low32(rng_.next());
  v4_key_[1] = low32(rng_.next());
  v6_key_[0] = rng_.next();
  v6_key_[1] = rng_.next();
}

bool FloodSchedule::has_ipv6() const {
  return std::any_of(floods_.begin(), floods_.end(),
                     [](const Flood& f) { return f.scenario.kind == ScenarioKind::kFlood6; });
}

void FloodSchedule::set_origin(core::TimeMs stream_start) {
  for (Flood& f : floods_) {
    f.step.reset(stream_start + f.scenario.start_ms, rate_);
    f.end = stream_start + f.scenario.start_ms + f.scenario.length_ms;
  }
  select_next();
}

void FloodSchedule::select_next() {
  next_time_ = INT64_MAX;
  for (size_t i = 0; i < floods_.size(); ++i) {
    const Flood& f = floods_[i];
    if (f.step.next_time() >= f.end) continue;  // over
    if (next_time_ == INT64_MAX || !floods_[next_].step.no_later_than(f.step)) {
      next_ = i;
      next_time_ = f.step.next_time();
    }
  }
}

void FloodSchedule::draw(FloodRecord& out) {
  assert(next_time_ != INT64_MAX);
  Flood& f = floods_[next_];
  out.time = f.step.next_time();
  out.fields.protocol = kProtocolHttp;
  const uint64_t r = rng_.next();
  if (f.scenario.kind == ScenarioKind::kFlood) {
    out.v6 = false;
    // The next address of this seed's walk through the 32-bit space that is a valid source:
    // 1.15 steps on average.
    uint32_t a;
    do {
      a = permute32(permute32(v4_count_++ + v4_key_[0]) ^ v4_key_[1]);
    } while (!is_flood_source(a));
    out.fields.src = a;
    out.fields.dst = kFloodVictim;
    out.fields.bytes = 40 + scale32(low32(r), 25);  // 20-byte IPv4 and TCP headers, 0-24 of options
  } else {
    out.v6 = true;
    out.fields.src = out.fields.dst = 0;
    // Group 3 below ffff (not the victim's /48), group 4 random, the low 64 bits a permutation
    // of a counter: distinct for 2^64 records.
    const uint64_t group3 = scale32(high32(r), 0xffff);
    const uint64_t group4 = (low32(r) >> 16) & 0xffff;
    out.src6 = core::Ip6{kFlood6Prefix | (group3 << 16) | group4,
                         mix64(mix64(v6_count_++ + v6_key_[0]) ^ v6_key_[1])};
    out.fields.bytes = 60 + scale32(low32(r) << 16, 25);  // a 40-byte IPv6 header
  }
  f.step.step();
  if (floods_.size() == 1) {
    next_time_ = f.step.next_time() < f.end ? f.step.next_time() : INT64_MAX;
  } else {
    select_next();
  }
}

void FloodSchedule::skip_to(core::TimeMs t) {
  for (Flood& f : floods_)
    if (f.step.next_time() < t) f.step.reset(t, rate_);
  select_next();
}

}  // namespace netpulse::generate
