#include "detect/flow_detector.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "synthetic.hpp"

namespace netpulse::detect {
namespace {

using core::FlowRecord;
using core::IpAddr;

constexpr uint32_t ip(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

const char* const kProtocols[] = {"HTTP", "HTTPS", "DNS",  "DHCP", "SOAP",   "UPnP", "SSH",
                                  "FTP",  "SMTP",  "IMAP", "POP3", "Telnet", "SNMP", "NTP",
                                  "LDAP", "RDP",   "SMB",  "SIP",  "MQTT"};

// Synthetic traffic shaped like the generator's: `hosts` addresses talking to each other over 19
// protocols with a trimodal packet-size mix, `rate` records per second of event time, and an
// optional attack mixed in during [attack_from, attack_to).
struct Traffic {
  core::ProtocolTable protocols;
  std::vector<uint32_t> proto_ids;
  int hosts = 15;
  int rate = 2000;
  Traffic() {
    for (const char* p : kProtocols) proto_ids.push_back(protocols.intern(p));
  }

  FlowRecord normal(testdetect::Rng& rng, core::TimeMs t) const {
    FlowRecord r;
    r.time = t;
    r.protocol = proto_ids[rng.below(proto_ids.size())];
    const uint32_t s = static_cast<uint32_t>(rng.below(static_cast<uint64_t>(hosts)));
    uint32_t d = static_cast<uint32_t>(rng.below(static_cast<uint64_t>(hosts - 1)));
    if (d >= s) ++d;
    r.src = IpAddr::v4(ip(11, 0, 0, 1) + s);
    r.dst = IpAddr::v4(ip(11, 0, 0, 1) + d);
    const uint64_t band = rng.below(10);
    r.bytes = static_cast<uint32_t>(band < 4   ? 40 + rng.below(27)
                                    : band < 6 ? 500 + rng.below(100)
                                               : 1400 + rng.below(101));
    return r;
  }

  // Runs `seconds` of traffic; attack(rng, t, record) may replace a record (return true).
  std::vector<FlowAlert> run(
      double seconds,
      const std::function<bool(testdetect::Rng&, core::TimeMs, FlowRecord&)>& attack,
      uint64_t seed = 1, const FlowDetectorConfig& config = {}, uint64_t* pruned = nullptr) const {
    FlowDetector det(config, protocols);
    testdetect::Rng rng(seed);
    std::vector<FlowAlert> alerts;
    const core::TimeMs start = 1'600'000'000'000;
    const int64_t n = static_cast<int64_t>(seconds * rate);
    for (int64_t i = 0; i < n; ++i) {
      const core::TimeMs t = start + i * 1000 / rate;
      FlowRecord r = normal(rng, t);
      if (attack) attack(rng, t - start, r);
      det.add(r, alerts);
    }
    det.finish(alerts);
    if (pruned) *pruned = det.pruned_keys();
    return alerts;
  }
};

TEST(FlowDetector, NormalTrafficRaisesNothingOverTenMinutes) {
  Traffic traffic;
  for (int hosts : {2, 15, 200, 5000}) {
    traffic.hosts = hosts;
    const auto alerts = traffic.run(600, nullptr, static_cast<uint64_t>(hosts));
    EXPECT_TRUE(alerts.empty()) << hosts << " hosts: "
                                << (alerts.empty() ? "" : to_json(alerts[0], traffic.protocols));
  }
}

TEST(FlowDetector, FloodFromSpoofedSourcesIsDos) {
  Traffic traffic;
  const IpAddr victim = IpAddr::v4(ip(203, 0, 113, 80));
  const auto alerts = traffic.run(60, [&](testdetect::Rng& rng, core::TimeMs t, FlowRecord& r) {
    if (t < 30'000 || t >= 50'000 || rng.below(2)) return false;
    r.src = IpAddr::v4(ip(100, 64, 0, 0) | static_cast<uint32_t>(rng.below(1u << 22)));
    r.dst = victim;
    r.protocol = traffic.proto_ids[2];
    r.bytes = 1200 + static_cast<uint32_t>(rng.below(301));
    return true;
  });
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, FlowAlertKind::kDos);
  EXPECT_EQ(alerts[0].subject, victim);
  EXPECT_GT(alerts[0].distinct, 100);
  // Raised within the first window of the attack.
  EXPECT_LE(alerts[0].window_end - 1'600'000'000'000, 32'000);
  EXPECT_NE(to_json(alerts[0], traffic.protocols).find("\"victim\":\"203.0.113.80\""),
            std::string::npos);
}

// Under the memory bound (max_keys) a flood of one-flow spoofed sources fills the slices'
// tables and is pruned; the DoS on the victim and a port scan hidden in the flood are still
// raised, exactly as without the bound.
TEST(FlowDetector, BoundedTablesUnderASpoofedFloodRaiseTheSameAlerts) {
  Traffic traffic;
  traffic.rate = 100000;
  const IpAddr victim = IpAddr::v4(ip(203, 0, 113, 81));
  const IpAddr scanner = IpAddr::v4(ip(198, 51, 100, 23));
  uint32_t sweep = 0;
  auto attack = [&](testdetect::Rng& rng, core::TimeMs t, FlowRecord& r) {
    if (t < 3'000 || t >= 8'000) return false;
    const uint64_t u = rng.below(100);
    if (u < 60) {  // spoofed sources, one flow each
      r.src = IpAddr::v4(static_cast<uint32_t>(rng.next()));
      r.dst = victim;
      r.bytes = 40 + static_cast<uint32_t>(rng.below(25));
      return true;
    }
    if (u < 75) {
      r.src = scanner;
      r.dst = IpAddr::v4(ip(10, 20, 0, 1) + sweep++ % 65534);
      r.bytes = 40 + static_cast<uint32_t>(rng.below(21));
      return true;
    }
    return false;
  };
  FlowDetectorConfig bounded;
  bounded.max_keys = 1024;
  FlowDetectorConfig unbounded;
  unbounded.max_keys = 0;
  uint64_t pruned = 0, pruned_unbounded = 0;
  sweep = 0;
  const auto a = traffic.run(10, attack, 3, bounded, &pruned);
  sweep = 0;
  const auto b = traffic.run(10, attack, 3, unbounded, &pruned_unbounded);
  EXPECT_GT(pruned, 100000u);
  EXPECT_EQ(pruned_unbounded, 0u);
  auto kinds = [](const std::vector<FlowAlert>& v) {
    std::vector<std::pair<int, IpAddr>> out;
    for (const auto& x : v) out.emplace_back(static_cast<int>(x.kind), x.subject);
    return out;
  };
  EXPECT_EQ(kinds(a), kinds(b));
  bool dos = false, scan = false;
  for (const auto& x : a) {
    dos |= x.kind == FlowAlertKind::kDos && x.subject == victim;
    scan |= x.kind == FlowAlertKind::kPortscan && x.subject == scanner;
  }
  EXPECT_TRUE(dos);
  EXPECT_TRUE(scan);
}

TEST(FlowDetector, SweepWithSmallProbesIsPortscan) {
  Traffic traffic;
  const IpAddr scanner = IpAddr::v4(ip(198, 51, 100, 23));
  uint32_t sweep = 0;
  const auto alerts = traffic.run(60, [&](testdetect::Rng& rng, core::TimeMs t, FlowRecord& r) {
    if (t < 10'000 || t >= 40'000 || rng.below(10) >= 6) return false;
    r.src = scanner;
    r.dst = IpAddr::v4(ip(10, 20, 0, 1) + sweep++ % 65534);
    r.bytes = 40 + static_cast<uint32_t>(rng.below(21));
    return true;
  });
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, FlowAlertKind::kPortscan);
  EXPECT_EQ(alerts[0].subject, scanner);
  EXPECT_GT(alerts[0].small_ratio, 0.99);
}

TEST(FlowDetector, ManyShortSshSessionsToOneServerIsBruteforce) {
  Traffic traffic;
  const IpAddr attacker = IpAddr::v4(ip(198, 51, 100, 66));
  const IpAddr server = IpAddr::v4(ip(203, 0, 113, 22));
  const auto alerts = traffic.run(60, [&](testdetect::Rng& rng, core::TimeMs t, FlowRecord& r) {
    if (t < 20'000 || t >= 30'000 || rng.below(10) >= 2) return false;
    r.src = attacker;
    r.dst = server;
    r.protocol = traffic.proto_ids[6];  // SSH
    r.bytes = 100 + static_cast<uint32_t>(rng.below(401));
    return true;
  });
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, FlowAlertKind::kBruteforce);
  EXPECT_EQ(alerts[0].subject, attacker);
  EXPECT_EQ(alerts[0].peer, server);
  EXPECT_EQ(traffic.protocols.name(alerts[0].protocol), "SSH");
}

TEST(FlowDetector, RaisesAgainOnlyAfterAQuietWindow) {
  Traffic traffic;
  const IpAddr attacker = IpAddr::v4(ip(198, 51, 100, 66));
  const IpAddr server = IpAddr::v4(ip(203, 0, 113, 22));
  // Two bursts 10 s apart: two alerts.
  const auto alerts = traffic.run(60, [&](testdetect::Rng& rng, core::TimeMs t, FlowRecord& r) {
    const bool on = (t >= 10'000 && t < 15'000) || (t >= 25'000 && t < 30'000);
    if (!on || rng.below(10) >= 2) return false;
    r.src = attacker;
    r.dst = server;
    r.protocol = traffic.proto_ids[6];
    r.bytes = 300;
    return true;
  });
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_LT(alerts[0].window_end, alerts[1].window_end);
}

TEST(FlowDetector, LateRecordsAreCountedNotUsed) {
  core::ProtocolTable protocols;
  FlowDetector det(FlowDetectorConfig{}, protocols);
  std::vector<FlowAlert> alerts;
  FlowRecord r;
  r.protocol = protocols.intern("HTTP");
  r.time = 100'000;
  det.add(r, alerts);
  r.time = 10'000;  // far behind the window
  det.add(r, alerts);
  r.time = 99'500;  // inside the window: accepted
  det.add(r, alerts);
  EXPECT_EQ(det.flows(), 2u);
  EXPECT_EQ(det.late(), 1u);
}

}  // namespace
}  // namespace netpulse::detect
