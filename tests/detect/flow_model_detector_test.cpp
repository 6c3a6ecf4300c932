// FlowModelDetector: a hand-built tree on count and same_srv_rate alerts once per hold time on a
// synthetic flood and never on quiet traffic; models needing features the input lacks are
// refused; alert JSON; the held-subject table stays bounded; and the command end to end.
#include "detect/flow_model_detector.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../support/pcap_writer.hpp"
#include "synthetic.hpp"

namespace netpulse::detect {
namespace {

using core::FlowRecord;
using core::IpAddr;

size_t col(std::string_view name) {
  return static_cast<size_t>(feature_index(name));
}

// count > 50.5 and same_srv_rate > 0.8 -> attack (score 1), else 0; trained (by hand) on those
// two features only, as `train --features count,same_srv_rate` would record it.
Model flood_model() {
  Model m;
  m.detector = Detector::kDos;
  m.algo = Algo::kTree;
  Tree t;
  TreeNode root;
  root.feature = static_cast<int32_t>(col("count"));
  root.threshold = 50.5f;
  root.right = 2;
  TreeNode quiet;  // leaf 0
  TreeNode same;
  same.feature = static_cast<int32_t>(col("same_srv_rate"));
  same.threshold = 0.8f;
  same.right = 4;
  TreeNode attack;
  attack.value = 1.0;
  t.nodes = {root, quiet, same, quiet, attack};
  m.trees.push_back(t);
  m.training["options"]["features"] = {"count", "same_srv_rate"};
  return m;
}

const char* const kLabels[] = {"HTTP", "HTTPS", "DNS",  "DHCP", "SOAP",   "UPnP", "SSH",
                               "FTP",  "SMTP",  "IMAP", "POP3", "Telnet", "SNMP", "NTP",
                               "LDAP", "RDP",   "SMB",  "SIP",  "MQTT"};

struct Traffic {
  core::ProtocolTable protocols;
  std::vector<uint32_t> ids;
  Traffic() {
    for (const char* l : kLabels) ids.push_back(protocols.intern(l));
  }
  // 15 hosts talking over 19 protocols.
  FlowRecord normal(testdetect::Rng& rng, core::TimeMs t) const {
    FlowRecord r;
    r.time = t;
    r.protocol = ids[rng.below(ids.size())];
    const auto s = static_cast<uint32_t>(rng.below(15));
    auto d = static_cast<uint32_t>(rng.below(14));
    if (d >= s) ++d;
    r.src = IpAddr::v4(0x0b000001u + s);
    r.dst = IpAddr::v4(0x0b000001u + d);
    r.bytes = static_cast<uint32_t>(40 + rng.below(1500));
    return r;
  }
};

constexpr core::TimeMs kStart = 1'600'000'000'000;
const IpAddr kVictim = IpAddr::v4(0xcb007150);    // 203.0.113.80
const IpAddr kAttacker = IpAddr::v4(0xc6336442);  // 198.51.100.66

// `seconds` of normal traffic at `rate`/s; from 10 s to 10 s + attack_s, every other record
// is the attack's (spoofed: a random source each time; else kAttacker), SSH to the victim.
std::vector<FlowModelAlert> run(const Traffic& tr, FlowModelDetector& det, double seconds, int rate,
                                double attack_s, bool spoofed, uint64_t seed = 1) {
  std::vector<FlowModelAlert> alerts;
  testdetect::Rng rng(seed);
  const auto n = static_cast<int64_t>(seconds * rate);
  for (int64_t i = 0; i < n; ++i) {
    const core::TimeMs t = kStart + i * 1000 / rate;
    FlowRecord r = tr.normal(rng, t);
    const bool attacking = t >= kStart + 10'000 && t < kStart + 10'000 + attack_s * 1000;
    if (attacking && i % 2 == 0) {
      r.protocol = tr.ids[6];  // SSH
      r.src =
          spoofed ? IpAddr::v4(0x64400000u + static_cast<uint32_t>(rng.below(1 << 22))) : kAttacker;
      r.dst = kVictim;
      r.bytes = 300;
    }
    det.add(r, alerts);
  }
  return alerts;
}

TEST(FlowModelDetector, AlertsOncePerHoldTimeOnAFlood) {
  Traffic tr;
  FlowModelDetector det(FlowInputKind::kLine, FlowModelConfig{}, tr.protocols);
  std::string why;
  ASSERT_TRUE(det.add_model(flood_model(), "dos", &why)) << why;
  // A 25-second flood from one source: alerts at its start, then 10 and 20 s later (the hold
  // time), never one per flow.
  const auto alerts = run(tr, det, 60, 1000, 25, false);
  ASSERT_EQ(alerts.size(), 3u);
  for (size_t i = 0; i < alerts.size(); ++i) {
    EXPECT_EQ(alerts[i].src, kAttacker);
    EXPECT_EQ(alerts[i].dst, kVictim);
    if (i > 0) {
      EXPECT_GE(alerts[i].time - alerts[i - 1].time, 10'000);
    }
  }
  EXPECT_GE(alerts[0].time, kStart + 10'000);
  EXPECT_LT(alerts[0].time, kStart + 10'200);  // 51 flood flows in: about 100 ms
  EXPECT_EQ(det.alerts(), 3u);
  EXPECT_EQ(det.alerts(0), 3u);
  EXPECT_GT(det.suppressed(), 10'000u);  // the flood's other flows
  EXPECT_EQ(det.flows(), 60'000u);
}

// land > 0.5 -> 1: fires on a connection from a host to itself.
Model land_model() {
  Model m;
  m.detector = Detector::kAttack;
  m.algo = Algo::kTree;
  Tree t;
  TreeNode root;
  root.feature = static_cast<int32_t>(col("land"));
  root.threshold = 0.5f;
  root.right = 2;
  TreeNode no;
  TreeNode yes;
  yes.value = 1.0;
  t.nodes = {root, no, yes};
  m.trees.push_back(t);
  return m;
}

TEST(FlowModelDetector, ALoneFiringIsNoAlertUntilConfirmed) {
  // Normal traffic with a land connection every 3 s, each from another host: every one fires,
  // none is confirmed (3 firings on one subject within 2 s). Then three from one host within a
  // second: one alert, at the third.
  Traffic tr;
  for (const uint32_t confirm : {1u, 3u}) {
    FlowModelConfig cfg;
    cfg.confirm = confirm;
    FlowModelDetector det(FlowInputKind::kLine, cfg, tr.protocols);
    ASSERT_TRUE(det.add_model(land_model(), "attack", nullptr));
    testdetect::Rng rng(5);
    std::vector<FlowModelAlert> alerts;
    core::TimeMs t = kStart;
    auto land = [&](uint32_t host) {
      FlowRecord r = tr.normal(rng, t);
      r.src = r.dst = IpAddr::v4(0x0b000001u + host);
      det.add(r, alerts);
    };
    for (int i = 0; i < 30'000; ++i, ++t) {
      det.add(tr.normal(rng, t), alerts);
      if (i >= 3000 && i % 3000 == 0) land(static_cast<uint32_t>(i / 3000));
    }
    EXPECT_EQ(alerts.size(), confirm == 1 ? 9u : 0u) << confirm;
    if (confirm == 1) continue;
    EXPECT_EQ(det.unconfirmed(), 9u);
    land(1);
    t += 400;
    land(1);
    EXPECT_TRUE(alerts.empty());
    t += 400;
    land(1);
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_EQ(alerts[0].time, t);
    EXPECT_EQ(alerts[0].src, IpAddr::v4(0x0b000002u));
  }
}

TEST(FlowModelDetector, NoScoringUntilTheWindowsHaveFilled) {
  // A flood from the first connection on: nothing is scored for the first 2 s of event time
  // (and 100 connections), then the flood alerts at its third firing (confirm 3).
  Traffic tr;
  FlowModelDetector det(FlowInputKind::kLine, FlowModelConfig{}, tr.protocols);
  ASSERT_TRUE(det.add_model(flood_model(), "dos", nullptr));
  std::vector<FlowModelAlert> alerts;
  for (int i = 0; i < 5000; ++i) {
    FlowRecord r;
    r.time = kStart + i;  // 1,000 a second
    r.protocol = tr.ids[6];
    r.src = kAttacker;
    r.dst = kVictim;
    det.add(r, alerts);
    EXPECT_EQ(det.warm(), i >= 2000);
  }
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].time, kStart + 2002);
  EXPECT_EQ(det.warming_up(), 2000u);
  EXPECT_EQ(det.unconfirmed(), 2u);
  FlowModelConfig cold;
  cold.warm_up = false;
  FlowModelDetector eager(FlowInputKind::kLine, cold, tr.protocols);
  ASSERT_TRUE(eager.add_model(flood_model(), "dos", nullptr));
  alerts.clear();
  for (int i = 0; i < 100; ++i) {
    FlowRecord r;
    r.time = kStart + i;
    r.protocol = tr.ids[6];
    r.src = kAttacker;
    r.dst = kVictim;
    eager.add(r, alerts);
  }
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].time, kStart + 52);  // the 51st connection (count 51) fires first
}

TEST(FlowModelDetector, WarmsUpAgainAfterAGap) {
  // Connections lost (a skipped block): nothing is scored until 2 s of event time and 100
  // connections have filled the windows again; then the flood alerts.
  Traffic tr;
  FlowModelDetector det(FlowInputKind::kLine, FlowModelConfig{}, tr.protocols);
  ASSERT_TRUE(det.add_model(flood_model(), "dos", nullptr));
  std::vector<FlowModelAlert> alerts;
  testdetect::Rng rng(3);
  for (int i = 0; i < 3000; ++i) det.add(tr.normal(rng, kStart + i), alerts);
  ASSERT_TRUE(det.warm());
  det.restart_warm_up();
  EXPECT_FALSE(det.warm());
  const uint64_t before = det.warming_up();
  for (int i = 0; i < 3000; ++i) {
    FlowRecord r;
    r.time = kStart + 3000 + i;
    r.protocol = tr.ids[6];
    r.src = kAttacker;
    r.dst = kVictim;
    det.add(r, alerts);
  }
  EXPECT_EQ(det.warming_up() - before, 2000u);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].time, kStart + 3000 + 2002);  // the third firing once warm
}

TEST(FlowModelDetector, TheScoreCacheChangesNothing) {
  // The shipped line models over normal traffic with a flood in it, with and without the cache:
  // the same alerts, the same firings; and the cache is used.
  std::string why;
  std::vector<Model> models;
  for (const char* name : {"line-attack", "line-dos", "flow-bruteforce"}) {
    auto m = load_model(std::string(NETPULSE_SOURCE_DIR) + "/models/" + name + ".json", &why);
    ASSERT_TRUE(m) << why;
    models.push_back(std::move(*m));
  }
  Traffic tr;
  std::vector<std::string> out[2];
  uint64_t unconfirmed[2] = {0, 0}, hits[2] = {0, 0};
  for (int cached = 0; cached < 2; ++cached) {
    FlowModelConfig cfg;
    cfg.score_cache = cached == 1;
    FlowModelDetector det(FlowInputKind::kLine, cfg, tr.protocols);
    for (size_t i = 0; i < models.size(); ++i)
      ASSERT_TRUE(det.add_model(models[i], "m" + std::to_string(i), &why)) << why;
    for (const auto& a : run(tr, det, 40, 2000, 10, true)) out[cached].push_back(det.to_json(a));
    unconfirmed[cached] = det.unconfirmed();
    hits[cached] = det.cache_hits();
  }
  EXPECT_FALSE(out[0].empty());
  EXPECT_EQ(out[0], out[1]);
  EXPECT_EQ(unconfirmed[0], unconfirmed[1]);
  EXPECT_EQ(hits[0], 0u);
  EXPECT_GT(hits[1], 10'000u);  // of 3 x 76,000 scores
}

TEST(FlowModelDetector, ADirectoryRunsTheFlowModelsTheInputHasTheFeaturesOf) {
  // The shipped directory: flow-attack needs ports and flags (flow exports and captures),
  // line-attack and line-dos only what line records give, flow-bruteforce too; there is no
  // flow-dos, so line-dos runs on every input.
  std::string why;
  std::vector<std::string> stems = {"attack", "flow-attack", "flow-bruteforce", "line-attack",
                                    "line-dos"};
  std::vector<Model> loaded;
  for (const auto& stem : stems) {
    auto m = load_model(std::string(NETPULSE_SOURCE_DIR) + "/models/" + stem + ".json", &why);
    ASSERT_TRUE(m) << why;
    loaded.push_back(std::move(*m));
  }
  std::vector<const Model*> models;
  for (const auto& m : loaded) models.push_back(&m);
  auto picked = [&](FlowInputKind kind, size_t without = SIZE_MAX) {
    std::vector<std::string> s;
    std::vector<const Model*> m;
    for (size_t i = 0; i < stems.size(); ++i)
      if (i != without) {
        s.push_back(stems[i]);
        m.push_back(models[i]);
      }
    std::vector<std::string> names;
    for (size_t i : pick_flow_models(s, m, kind)) names.push_back(s[i]);
    return names;
  };
  using V = std::vector<std::string>;
  // The row model "attack" is never a flow model.
  EXPECT_EQ(picked(FlowInputKind::kLine), (V{"flow-bruteforce", "line-attack", "line-dos"}));
  EXPECT_EQ(picked(FlowInputKind::kFlowExport), (V{"flow-attack", "flow-bruteforce", "line-dos"}));
  EXPECT_EQ(picked(FlowInputKind::kCapture), (V{"flow-attack", "flow-bruteforce", "line-dos"}));
  // Without flow-attack, a flow export runs line-attack in its place.
  EXPECT_EQ(picked(FlowInputKind::kFlowExport, 1),
            (V{"flow-bruteforce", "line-attack", "line-dos"}));
  // On line records flow-attack is left out; it is reported unreplaced only without line-attack.
  std::vector<size_t> unreplaced;
  pick_flow_models(stems, models, FlowInputKind::kLine, &unreplaced);
  EXPECT_TRUE(unreplaced.empty());
  std::vector<std::string> no_line = {"flow-attack", "flow-bruteforce", "line-dos"};
  pick_flow_models(no_line, {models[1], models[2], models[4]}, FlowInputKind::kLine, &unreplaced);
  EXPECT_EQ(unreplaced, (std::vector<size_t>{0}));
  // And each picked model is one the input kind's detector takes.
  for (FlowInputKind kind :
       {FlowInputKind::kLine, FlowInputKind::kFlowExport, FlowInputKind::kCapture}) {
    core::ProtocolTable protocols;
    FlowModelDetector det(kind, FlowModelConfig{}, protocols);
    for (size_t i : pick_flow_models(stems, models, kind))
      EXPECT_TRUE(det.add_model(*models[i], stems[i], &why)) << stems[i] << ": " << why;
    // flow-attack is refused on line records, naming what they lack.
    if (kind == FlowInputKind::kLine) {
      EXPECT_FALSE(det.add_model(*models[1], "flow-attack", &why));
      EXPECT_NE(why.find("needs features that line input does not give: duration,flag"),
                std::string::npos)
          << why;
    }
  }
}

TEST(FlowModelDetector, LongerHoldMeansFewerAlerts) {
  Traffic tr;
  FlowModelConfig cfg;
  cfg.hold_ms = 60'000;
  FlowModelDetector det(FlowInputKind::kLine, cfg, tr.protocols);
  ASSERT_TRUE(det.add_model(flood_model(), "dos", nullptr));
  EXPECT_EQ(run(tr, det, 60, 1000, 25, false).size(), 1u);
}

TEST(FlowModelDetector, SpoofedFloodIsOneAlertPerVictim) {
  Traffic tr;
  {
    FlowModelDetector det(FlowInputKind::kLine, FlowModelConfig{}, tr.protocols);
    ASSERT_TRUE(det.add_model(flood_model(), "dos", nullptr));
    const auto alerts = run(tr, det, 40, 1000, 8, true);
    ASSERT_EQ(alerts.size(), 1u);  // the destination is held, whatever the sources
    EXPECT_EQ(alerts[0].dst, kVictim);
    EXPECT_EQ(alerts[0].by, FlowModelAlert::By::kDestination);  // confirmed by the victim
  }
  {
    // Holding pairs only: every new spoofed source is a new pair. The held table stays at its
    // cap, the oldest forgotten and counted.
    FlowModelConfig cfg;
    cfg.hold_hosts = false;
    cfg.max_held = 1000;
    cfg.confirm = 1;
    FlowModelDetector det(FlowInputKind::kLine, cfg, tr.protocols);
    ASSERT_TRUE(det.add_model(flood_model(), "dos", nullptr));
    const auto alerts = run(tr, det, 40, 1000, 8, true);
    EXPECT_GT(alerts.size(), 3000u);
    EXPECT_LE(det.held(), 1000u);
    EXPECT_GT(det.held_evicted(), 2000u);
  }
}

TEST(FlowModelDetector, QuietTrafficRaisesNothing) {
  Traffic tr;
  for (int rate : {100, 1000, 5000}) {
    FlowModelDetector det(FlowInputKind::kLine, FlowModelConfig{}, tr.protocols);
    ASSERT_TRUE(det.add_model(flood_model(), "dos", nullptr));
    EXPECT_TRUE(run(tr, det, 60, rate, 0, false, static_cast<uint64_t>(rate)).empty()) << rate;
    EXPECT_EQ(det.suppressed(), 0u);
  }
}

TEST(FlowModelDetector, RefusesAModelNeedingMissingFeatures) {
  core::ProtocolTable protocols;
  // A tree on serror_rate: line records carry no TCP flags.
  Model m = flood_model();
  m.trees[0].nodes[2].feature = static_cast<int32_t>(col("serror_rate"));
  m.training = nlohmann::json::object();  // trained on all features: only the splits count
  {
    FlowModelDetector det(FlowInputKind::kLine, FlowModelConfig{}, protocols);
    std::string why;
    EXPECT_FALSE(det.add_model(m, "syn", &why));
    EXPECT_NE(why.find("syn: needs features that line input does not give: serror_rate"),
              std::string::npos)
        << why;
    EXPECT_NE(why.find("--features protocol_type,service,src_bytes"), std::string::npos) << why;
    EXPECT_EQ(det.models(), 0u);
  }
  {
    FlowModelDetector det(FlowInputKind::kFlowExport, FlowModelConfig{}, protocols);
    std::string why;
    EXPECT_TRUE(det.add_model(m, "syn", &why)) << why;
  }
  // Restricted at training to features that include content ones: refused even where the
  // trees do not split on them, naming each.
  Model content = flood_model();
  content.training["options"]["features"] = {"count", "same_srv_rate", "hot", "logged_in"};
  FlowModelDetector det(FlowInputKind::kCapture, FlowModelConfig{}, protocols);
  std::string why;
  EXPECT_FALSE(det.add_model(content, "r2l", &why));
  EXPECT_NE(why.find("hot,logged_in"), std::string::npos) << why;
  // A model of all features (no list), as the shipped ones, needs what its trees split on.
  EXPECT_EQ(model_features(flood_model()),
            (FeatureMask{1} << col("count")) | (FeatureMask{1} << col("same_srv_rate")));
}

TEST(FlowModelDetector, AlertJson) {
  Traffic tr;
  FlowModelDetector det(FlowInputKind::kLine, FlowModelConfig{}, tr.protocols);
  ASSERT_TRUE(det.add_model(flood_model(), "dos", nullptr));
  const auto alerts = run(tr, det, 15, 1000, 3, false);
  ASSERT_EQ(alerts.size(), 1u);
  const auto j = nlohmann::json::parse(det.to_json(alerts[0]));
  EXPECT_EQ(j["detector"], "dos");
  EXPECT_EQ(j["source"], "198.51.100.66");
  EXPECT_EQ(j["destination"], "203.0.113.80");
  EXPECT_EQ(j["protocol"], "SSH");
  EXPECT_EQ(j["score"], 1.0);
  EXPECT_EQ(j["by"], "pair");  // one attacker: the pair confirmed it first
  EXPECT_EQ(j["time"].get<std::string>().substr(0, 19), "2020-09-13T12:26:50");
  ASSERT_EQ(j["features"].size(), 2u);
  EXPECT_GT(j["features"]["count"].get<double>(), 50.5);
  EXPECT_GT(j["features"]["same_srv_rate"].get<double>(), 0.8);
  // Keys in the order of the path, root first.
  EXPECT_EQ(j["features"].begin().key(), "count");
  const std::string text = det.to_json(alerts[0]);
  EXPECT_EQ(text.rfind("{\"time\":", 0), 0u) << text;
}

TEST(FlowModelDetector, SecondModelOfADetectorHasItsOwnName) {
  Traffic tr;
  FlowModelDetector det(FlowInputKind::kLine, FlowModelConfig{}, tr.protocols);
  ASSERT_TRUE(det.add_model(flood_model(), "dos", nullptr));
  ASSERT_TRUE(det.add_model(flood_model(), "dos#2", nullptr));
  const auto alerts = run(tr, det, 15, 1000, 3, false);
  ASSERT_EQ(alerts.size(), 2u);  // each model holds its own subjects
  EXPECT_EQ(det.name(alerts[0].model), "dos");
  EXPECT_EQ(det.name(alerts[1].model), "dos#2");
}

// The command, with the real binary: the generator's DoS scenario through `detect-flows
// --feature-rows` gives labelled rows; `train` on the features line records give makes a
// model; `detect-flows --model` on another stream alerts on the victim only, and stays quiet
// on normal traffic. A KDD model needing flags is refused (exit 2).
std::string run_command(const std::string& cmd, int* rc) {
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; p && (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int status = p ? ::pclose(p) : -1;
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(FlowModelCli, TrainOnFeatureRowsThenDetect) {
  const std::string bin = NETPULSE_BINARY;
  const std::string dir = ::testing::TempDir();
  const std::string rows = dir + "/flow_rows.txt", model = dir + "/flow_dos.json";
  const std::string generate = bin + " generate -q --start-time '2020-05-09 20:00:00' ";
  int rc = 0;
  run_command(generate + "--duration 40s --rate 1000 --scenario dos@15s+10s | " + bin +
                  " detect-flows -i - -q --rules none --feature-rows " + rows +
                  " --label-host 203.0.113.80=neptune > /dev/null",
              &rc);
  ASSERT_EQ(rc, 0);
  std::string features;
  for (const auto& n : feature_names(flow_feature_mask(FlowInputKind::kLine)))
    features += (features.empty() ? "" : ",") + n;
  run_command(bin + " train -q --data " + rows + " --detector dos --features " + features +
                  " --out " + model + " 2>&1",
              &rc);
  ASSERT_EQ(rc, 0);

  const std::string detect = " | " + bin + " detect-flows -i - -q --rules none --model " + model;
  std::istringstream out(run_command(
      generate + "--seed 5 --duration 40s --rate 2000 --scenario dos@15s+10s" + detect, &rc));
  ASSERT_EQ(rc, 0);
  int alerts = 0;
  for (std::string line; std::getline(out, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("summary")) {
      EXPECT_EQ(j["summary"]["models"]["input"], "line");
      EXPECT_EQ(j["summary"]["models"]["alerts"]["dos"], alerts);
      continue;
    }
    ++alerts;
    EXPECT_EQ(j["detector"], "dos");
    EXPECT_EQ(j["destination"], "203.0.113.80") << line;
    EXPECT_EQ(j["protocol"], "DNS");
    EXPECT_FALSE(j["features"].empty());
  }
  EXPECT_GE(alerts, 1);
  EXPECT_LE(alerts, 2);  // 10 s of flood, --hold 10 s
  const std::string quiet = run_command(generate + "--seed 6 --duration 60s" + detect, &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(quiet.find("\"detector\""), std::string::npos) << quiet;

  run_command("echo '2020-05-09 20:00:00.000 HTTP 1.2.3.4 5.6.7.8 100' | " + bin +
                  " detect-flows -i - -q --model " + NETPULSE_SOURCE_DIR + "/models/dos.json 2>&1",
              &rc);
  EXPECT_EQ(rc, 2);
}

// Rows of `detect-flows --rules none --feature-rows -` for an input, one vector of columns each.
std::vector<std::vector<std::string>> feature_rows(const std::string& input_args) {
  int rc = 0;
  std::istringstream out(run_command(std::string(NETPULSE_BINARY) +
                                         " detect-flows -q --rules none " + input_args +
                                         " --feature-rows -",
                                     &rc));
  EXPECT_EQ(rc, 0) << input_args;
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(out, line);) {
    if (line.rfind("{\"summary\"", 0) == 0) continue;
    std::vector<std::string> cols;
    std::istringstream fields(line);
    for (std::string f; std::getline(fields, f, ',');) cols.push_back(f);
    EXPECT_EQ(cols.size(), 43u) << line;
    rows.push_back(std::move(cols));
  }
  return rows;
}

// Ethernet, IPv4 and TCP (flags) or UDP (flags ignored) with `payload` bytes.
std::vector<uint8_t> ip_packet(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                               uint8_t proto, uint8_t flags, size_t payload) {
  std::vector<uint8_t> p = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00};
  const size_t l4 = (proto == 6 ? 20 : 8) + payload;
  const size_t total = 20 + l4;
  const uint8_t ip[20] = {0x45,
                          0,
                          uint8_t(total >> 8),
                          uint8_t(total),
                          0,
                          1,
                          0,
                          0,
                          64,
                          proto,
                          0,
                          0,
                          uint8_t(src >> 24),
                          uint8_t(src >> 16),
                          uint8_t(src >> 8),
                          uint8_t(src),
                          uint8_t(dst >> 24),
                          uint8_t(dst >> 16),
                          uint8_t(dst >> 8),
                          uint8_t(dst)};
  p.insert(p.end(), ip, ip + 20);
  const uint8_t ports[4] = {uint8_t(sport >> 8), uint8_t(sport), uint8_t(dport >> 8),
                            uint8_t(dport)};
  p.insert(p.end(), ports, ports + 4);
  if (proto == 6) {
    const uint8_t tcp[16] = {0, 0, 0, 1, 0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0};
    p.insert(p.end(), tcp, tcp + 16);
  } else {
    const uint8_t udp[4] = {uint8_t(l4 >> 8), uint8_t(l4), 0, 0};
    p.insert(p.end(), udp, udp + 4);
  }
  p.resize(p.size() + payload, 'x');
  return p;
}

TEST(FlowModelCli, FeatureRowsFromFlowExportAndCapture) {
  const std::string dir = ::testing::TempDir();
  // collect --format csv columns: ports, IP protocol and the originator's TCP flags give
  // service, flag and duration; packets take the headers off the bytes.
  const std::string csv = dir + "/flows.csv";
  {
    std::ofstream f(csv);
    f << "time,protocol,src,dst,bytes,packets,src_port,dst_port,ip_protocol,tcp_flags,input_if,"
         "output_if,exporter,sampling_rate,flow_start,flow_end\n";
    for (int i = 0; i < 120; ++i)  // a warm-up's worth of connections first
      f << "2020-05-09 20:00:00.000,HTTP,10.0.0.1,10.0.0.9,140,2,40000,80,6,27,0,0,127.0.0.1,1,"
           "2020-05-09 20:00:00.000,2020-05-09 20:00:00.000\n";
    f << "2020-05-09 20:00:03.000,SSH,10.0.0.1,10.0.0.2,1080,10,40001,22,6,27,0,0,127.0.0.1,1,"
         "2020-05-09 20:00:00.500,2020-05-09 20:00:03.000\n"
         "2020-05-09 20:00:03.100,TCP,10.0.0.1,10.0.0.2,40,1,40002,999,6,2,0,0,127.0.0.1,1,"
         "2020-05-09 20:00:03.100,2020-05-09 20:00:03.100\n";
  }
  auto rows = feature_rows("-i " + csv + " --format csv");
  ASSERT_EQ(rows.size(), 2u);        // the first 2 s are warm-up
  EXPECT_EQ(rows[0][0], "2");        // duration
  EXPECT_EQ(rows[0][2], "ssh");      // service from port 22
  EXPECT_EQ(rows[0][3], "SF");       // SYN ACK FIN PSH
  EXPECT_EQ(rows[0][4], "680");      // 1080 - 10 x 40 header bytes
  EXPECT_EQ(rows[1][2], "private");  // port 999 has no KDD name
  EXPECT_EQ(rows[1][3], "S0");       // SYN alone
  EXPECT_EQ(rows[1][22], "2");       // count: both to 10.0.0.2
  EXPECT_EQ(rows[1][24], "0.50");    // serror_rate
  EXPECT_EQ(rows[1][35], "0.50");    // dst_host_same_src_port_rate: itself of the two

  // A capture with --records flows: both directions of a connection are paired, so the
  // responder's RST gives REJ and its bytes dst_bytes.
  std::vector<test::PcapPacket> packets;
  const int64_t t0 = 1'589'054'400'000'000;  // 2020-05-09 20:00:00
  const uint32_t c = 0x0a000001, s = 0x0a000002;
  // Warm-up: 110 DNS exchanges over 2.2 s.
  for (int i = 0; i < 110; ++i) {
    packets.push_back({t0 + i * 20'000, ip_packet(c, s, uint16_t(5000 + i), 53, 17, 0, 30)});
    packets.push_back(
        {t0 + i * 20'000 + 1'000, ip_packet(s, c, 53, uint16_t(5000 + i), 17, 0, 90)});
  }
  const int64_t t1 = t0 + 3'000'000;
  const uint8_t S = 2, A = 16, F = 1, R = 4;
  packets.push_back({t1, ip_packet(c, s, 40000, 22, 6, S, 0)});
  packets.push_back({t1 + 1'000, ip_packet(s, c, 22, 40000, 6, S | A, 0)});
  packets.push_back({t1 + 2'000, ip_packet(c, s, 40000, 22, 6, A, 100)});
  packets.push_back({t1 + 3'000, ip_packet(s, c, 22, 40000, 6, A, 300)});
  packets.push_back({t1 + 4'000, ip_packet(c, s, 40000, 22, 6, F | A, 0)});
  packets.push_back({t1 + 5'000, ip_packet(s, c, 22, 40000, 6, F | A, 0)});
  packets.push_back({t1 + 10'000, ip_packet(c, s, 40001, 999, 6, S, 0)});
  packets.push_back({t1 + 11'000, ip_packet(s, c, 999, 40001, 6, R | A, 0)});
  const std::string pcap = dir + "/conns.pcap";
  std::ofstream(pcap, std::ios::binary) << test::pcap_file(packets);
  rows = feature_rows("-i pcap:" + pcap + " --records flows --no-ndpi");
  std::vector<std::vector<std::string>> tcp;
  for (auto& r : rows)
    if (r[1] == "tcp") tcp.push_back(r);
  ASSERT_EQ(tcp.size(), 2u);
  const auto& ssh = tcp[0][2] == "ssh" ? tcp[0] : tcp[1];
  const auto& rej = tcp[0][2] == "ssh" ? tcp[1] : tcp[0];
  EXPECT_EQ(ssh[3], "SF");
  EXPECT_EQ(ssh[4], "100");  // payload bytes each way
  EXPECT_EQ(ssh[5], "300");
  EXPECT_EQ(rej[2], "private");
  EXPECT_EQ(rej[3], "REJ");
  EXPECT_EQ(rej[5], "0");
  EXPECT_EQ(rows.size(), 2u + 110u - 100u) << "the DNS exchanges after warm-up, paired";
}
}  // namespace
}  // namespace netpulse::detect
