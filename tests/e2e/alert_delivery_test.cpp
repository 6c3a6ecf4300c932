// Alerts to people, through the real binary: `netpulse process` with threshold rules sends
// exactly the alerts a plain evaluation of its own output says to a webhook (which fails the
// first attempts), a UDP and a TCP syslog receiver, each once; de-duplication and the rate limit
// as documented; POST /api/alerts/test and the "alerting" status; and bad rules and endpoint
// URIs as one-line usage errors (exit 2) on run, process and merge. Everything on 127.0.0.1.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <tuple>

#include "../engine/process_runner.hpp"
#include "../server/server_test_support.hpp"
#include "../support/alert_receivers.hpp"

namespace netpulse::testref {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testsupport::HttpReceiver;
using testsupport::TcpSyslogReceiver;
using testsupport::UdpSyslogReceiver;

// 90 seconds of records from five addresses whose weights change every 10 s, over 4 protocols.
std::string make_flows(unsigned seed) {
  std::mt19937 rng(seed);
  const std::vector<std::string> ips{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"};
  const std::vector<std::string> protocols{"HTTPS", "DNS", "SSH", "HTTP"};
  std::string out;
  std::vector<int> weight(5, 1);
  for (int s = 0; s < 90; ++s) {
    if (s % 10 == 0)
      for (int& w : weight) w = 1 + static_cast<int>(rng() % 6);
    for (int i = 0; i < 20; ++i) {
      int total = 0;
      for (int w : weight) total += w;
      int pick = static_cast<int>(rng() % total), ip = 0;
      while (pick >= weight[ip]) pick -= weight[ip++];
      char line[160];
      std::snprintf(line, sizeof line, "2024-03-01 12:%02d:%02d.%03d %s %s 192.168.0.9 %d\n",
                    s / 60, s % 60, i * 50, protocols[rng() % protocols.size()].c_str(),
                    ips[ip].c_str(), 200 + static_cast<int>(rng() % 1000));
      out += line;
    }
  }
  return out;
}

struct Rule {
  std::string text, query;
  std::string metric;  // bytes | share
  double value;
  int windows;
  std::string key;  // empty: every key
};

// The reference: per window (output order), the keys each rule's query lists with the metric
// above the value; a rule fires for a key where its run of such windows reaches N exactly.
std::set<std::tuple<std::string, std::string, std::string>> expected_alerts(
    const std::string& output, const std::vector<Rule>& rules) {
  // query -> [(window_end, {key: row})]
  std::map<std::string, std::vector<std::pair<std::string, std::map<std::string, json>>>> by_query;
  for (const std::string& line : split_lines(output)) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    std::map<std::string, json> rows;
    for (const auto& r : j["rows"]) rows[r["key"]] = r;
    by_query[j["query"]].emplace_back(j["window_end"], std::move(rows));
  }
  std::set<std::tuple<std::string, std::string, std::string>> want;  // (rule, key, window_end)
  for (const Rule& rule : rules) {
    const auto& windows = by_query[rule.query];
    auto holds = [&](size_t w, const std::string& key) {
      auto it = windows[w].second.find(key);
      if (it == windows[w].second.end()) return false;
      const double v = rule.metric == "bytes" ? it->second["bytes"].get<double>()
                                              : it->second["share"].get<double>() * 100;
      return v > rule.value;
    };
    for (const std::string key : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"}) {
      if (!rule.key.empty() && key != rule.key) continue;
      for (size_t w = 0; w < windows.size(); ++w) {
        int run = 0;
        while (run <= static_cast<int>(w) && holds(w - run, key)) ++run;
        if (run == rule.windows) want.emplace(rule.text, key, windows[w].first);
      }
    }
  }
  return want;
}

std::string field(const std::string& message, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(message, m, std::regex(" " + name + "=\"((?:[^\"\\\\]|\\\\.)*)\"")))
    return "";
  std::string v = m[1];
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

const std::vector<Rule> kRules = {
    {"ip-share > 30 for 3", "ip-share", "share", 30, 3, ""},
    {"ip-topk bytes > 30000 for 2", "ip-topk", "bytes", 30000, 2, ""},
    {"ip-share 10.0.0.3 > 25", "ip-share", "share", 25, 1, "10.0.0.3"},
};

TEST(AlertDelivery, RulesReachWebhookAndSyslogExactlyOnce) {
  TempDir dir;
  write_file(dir / "flows.txt", make_flows(7));
  HttpReceiver hook(/*fail_first=*/2);
  UdpSyslogReceiver udp;
  TcpSyslogReceiver tcp;
  const std::string all = "dedup=0&rate=0";
  std::vector<std::string> args{
      "process",
      "--input",
      dir / "flows.txt",
      "--T",
      "5",
      "--output",
      dir / "out.jsonl",
      "--quiet",
      "--alert-webhook",
      "http://127.0.0.1:" + std::to_string(hook.port()) + "/in?" + all + "&backoff=50ms",
      "--alert-syslog",
      "udp://127.0.0.1:" + std::to_string(udp.port()) + "?" + all,
      "--alert-syslog",
      "tcp://127.0.0.1:" + std::to_string(tcp.port()) + "?" + all};
  for (const Rule& r : kRules) {
    args.push_back("--alert-rule");
    args.push_back(r.text);
  }
  const Finished f = run_netpulse(args, dir);
  ASSERT_EQ(f.code, 0) << f.err;
  const auto want = expected_alerts(read_file(dir / "out.jsonl"), kRules);
  ASSERT_GE(want.size(), 5u) << "the input should make the rules fire";

  // The webhook: every alert once, after two 500s on the first.
  std::vector<std::tuple<std::string, std::string, std::string>> hook_got;
  for (const std::string& body : hook.messages()) {
    const json j = json::parse(body);
    EXPECT_EQ(j["kind"], "alert");
    EXPECT_EQ(j["detector"], "rule");
    EXPECT_EQ(j["detail"]["key"], j["source"]);
    EXPECT_NE(j["summary"].get<std::string>().find(j["detail"]["why"].get<std::string>()),
              std::string::npos);
    hook_got.emplace_back(j["detail"]["rule"], j["source"], j["time"]);
  }
  EXPECT_EQ(hook.attempts().size(), hook_got.size() + 2);
  EXPECT_EQ(std::set(hook_got.begin(), hook_got.end()).size(), hook_got.size()) << "doubled";
  EXPECT_EQ(std::set(hook_got.begin(), hook_got.end()), want);

  for (const testsupport::Receiver* rx : std::vector<const testsupport::Receiver*>{&udp, &tcp}) {
    ASSERT_TRUE(eventually([&] { return rx->count() >= want.size(); }, 5s));
    std::vector<std::tuple<std::string, std::string, std::string>> got;
    for (const std::string& m : rx->messages()) {
      EXPECT_EQ(m.rfind("<132>1 ", 0), 0u) << m;
      EXPECT_NE(m.find(" netpulse "), std::string::npos);
      const json detail = json::parse(field(m, "detail"));
      got.emplace_back(detail["rule"], field(m, "source"), field(m, "time"));
    }
    EXPECT_EQ(got.size(), want.size());
    EXPECT_EQ(std::set(got.begin(), got.end()), want);
  }
}

TEST(AlertDelivery, DedupAndRateLimitAsDocumented) {
  TempDir dir;
  write_file(dir / "flows.txt", make_flows(7));
  HttpReceiver hook;
  const Finished f = run_netpulse(
      {"process", "--input", dir / "flows.txt", "--T", "5", "--output", dir / "out.jsonl",
       "--quiet", "--alert-rule", kRules[0].text, "--alert-rule", kRules[1].text, "--alert-webhook",
       "http://127.0.0.1:" + std::to_string(hook.port()) + "/?dedup=1h&rate=2"},
      dir);
  ASSERT_EQ(f.code, 0) << f.err;
  const auto want = expected_alerts(read_file(dir / "out.jsonl"), {kRules[0], kRules[1]});
  std::set<std::string> keys;  // dedup folds the same detector ("rule") and source
  for (const auto& [rule, key, end] : want) keys.insert(key);
  ASSERT_GT(keys.size(), 2u);
  // Two alerts pass the rate limit; the rest of the distinct keys are suppressed and summed up
  // in one summary when the process ends.
  const auto got = hook.messages();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(json::parse(got[0])["kind"], "alert");
  EXPECT_EQ(json::parse(got[1])["kind"], "alert");
  EXPECT_NE(json::parse(got[0])["source"], json::parse(got[1])["source"]);
  const json summary = json::parse(got[2]);
  EXPECT_EQ(summary["kind"], "summary");
  EXPECT_EQ(summary["detail"]["suppressed"], keys.size() - 2);
  EXPECT_NE(summary["summary"].get<std::string>().find("suppressed"), std::string::npos);
}

TEST(AlertDelivery, TestAlertEndpointAndStatus) {
  TempDir dir;
  HttpReceiver hook;
  UdpSyslogReceiver udp;
  const uint16_t in_port = free_port(), web_port = free_port();
  Child p({"process", "--input", "tcp-listen://127.0.0.1:" + std::to_string(in_port), "--web",
           "127.0.0.1:" + std::to_string(web_port), "--token", "s3cret", "--output",
           dir / "out.jsonl", "--alert-webhook",
           "http://127.0.0.1:" + std::to_string(hook.port()) + "/?name=oncall", "--alert-syslog",
           "udp://127.0.0.1:" + std::to_string(udp.port()), "--alert-rule", "ip-share > 50"},
          dir);
  using server::testing::http;
  ASSERT_TRUE(eventually([&] { return http(web_port, "GET", "/api/status").status == 200; }))
      << p.err();
  EXPECT_EQ(http(web_port, "POST", "/api/alerts/test").status, 401);  // a control endpoint
  auto r = http(web_port, "POST", "/api/alerts/test", "", "s3cret");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  ASSERT_EQ(j["endpoints"].size(), 2u);
  EXPECT_EQ(j["endpoints"][0]["endpoint"], "oncall");
  EXPECT_EQ(j["endpoints"][0]["ok"], true);
  EXPECT_EQ(j["endpoints"][1]["kind"], "syslog");
  EXPECT_EQ(j["endpoints"][1]["ok"], true);
  ASSERT_EQ(hook.count(), 1u);
  EXPECT_EQ(json::parse(hook.messages()[0])["kind"], "test");
  ASSERT_TRUE(eventually([&] { return udp.count() == 1; }));
  EXPECT_NE(udp.messages()[0].find(" test [netpulse@32473 kind=\"test\""), std::string::npos);
  // One endpoint by name, an unknown one.
  r = http(web_port, "POST", "/api/alerts/test", R"({"endpoint":"oncall"})", "s3cret");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["endpoints"].size(), 1u);
  EXPECT_EQ(http(web_port, "POST", "/api/alerts/test?endpoint=nope", "", "s3cret").status, 404);
  EXPECT_EQ(hook.count(), 2u);

  const json status = http(web_port, "GET", "/api/status").json();
  const json& alerting = status["alerting"];
  ASSERT_EQ(alerting["endpoints"].size(), 2u);
  EXPECT_EQ(alerting["endpoints"][0]["name"], "oncall");
  EXPECT_EQ(alerting["endpoints"][0]["sent"], 2);
  EXPECT_EQ(alerting["endpoints"][0]["dropped"], 0);
  EXPECT_EQ(alerting["endpoints"][0]["queue_depth"], 0);
  EXPECT_EQ(alerting["endpoints"][1]["sent"], 1);
  EXPECT_EQ(alerting["rules"], json::array({"ip-share > 50"}));
  const std::string metrics = http(web_port, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("netpulse_alert_sent_total{endpoint=\"oncall\"} 2"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("netpulse_alert_retries_total{endpoint=\"syslog udp 127.0.0.1:" +
                         std::to_string(udp.port()) + "\"} 0"),
            std::string::npos);
  p.signal(SIGINT);
  ASSERT_TRUE(p.wait());
  EXPECT_EQ(p.exit_code(), 0) << p.err();
}

TEST(AlertDelivery, BadRulesAndEndpointsAreOneLineUsageErrors) {
  TempDir dir;
  write_file(dir / "flows.txt", make_flows(1));
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--alert-rule", "ip-share >> 20"}, "--alert-rule 'ip-share >> 20': '>' is not a number"},
      {{"--alert-rule", "ip-sharez > 20"},
       "--alert-rule 'ip-sharez > 20': unknown query 'ip-sharez'"},
      {{"--alert-rule", "ip-share > 20 for 0"}, "--alert-rule 'ip-share > 20 for 0': 'for 0'"},
      {{"--alert-webhook", "https://hooks.example/x"},
       "--alert-webhook 'https://hooks.example/x': https is not supported"},
      {{"--alert-webhook", "http://127.0.0.1:80/?rate=lots"}, "rate='lots'"},
      {{"--alert-syslog", "syslog://127.0.0.1:514"},
       "--alert-syslog 'syslog://127.0.0.1:514': expected udp://"},
      {{"--alert-syslog", "tcp://127.0.0.1:514?colour=red"}, "unknown parameter 'colour'"},
  };
  for (const Case& c : cases) {
    for (const std::string cmd : {"process", "run", "merge"}) {
      std::vector<std::string> args{cmd};
      if (cmd == "process") args.insert(args.end(), {"--input", dir / "flows.txt"});
      if (cmd == "merge") args.insert(args.end(), {"--input", "kafka://127.0.0.1:1/panes"});
      if (cmd == "run")
        args.insert(args.end(), {"--web", "127.0.0.1:0", "--store", "sqlite:" + (dir / "x.db")});
      args.insert(args.end(), c.args.begin(), c.args.end());
      const Finished f = run_netpulse(args, dir);
      SCOPED_TRACE(cmd + " " + c.args[1]);
      EXPECT_EQ(f.code, 2) << f.err;
      EXPECT_EQ(std::count(f.err.begin(), f.err.end(), '\n'), 1) << f.err;
      EXPECT_NE(f.err.find(c.says), std::string::npos) << f.err;
    }
  }
  // A repeatable option from a TOML array: the second rule is read (and refused).
  write_file(dir / "np.toml", "[process]\nalert-rule = [\"ip-share > 20\", \"ip-share > x\"]\n");
  const Finished f =
      run_netpulse({"process", "--input", dir / "flows.txt", "--config", dir / "np.toml"}, dir);
  EXPECT_EQ(f.code, 2);
  EXPECT_NE(f.err.find("--alert-rule 'ip-share > x': 'x' is not a number"), std::string::npos)
      << f.err;
}

}  // namespace
}  // namespace netpulse::testref
