// The HTTP API, WebSocket and dashboard served in-process on 127.0.0.1 (a free port), over an
// in-memory store, a real EngineControl and a real (idle) Generator: every route, the errors,
// the token, the body limit, path traversal, WebSocket push and control, and garbage frames.
#include <gtest/gtest.h>

#include <thread>

#include "engine/pipeline.hpp"
#include "query/result_json.hpp"
#include "server/result_codec.hpp"
#include "app/engine_metrics.hpp"
#include "app/result_fanout.hpp"
#include "server/status_board.hpp"
#include "server/web_app.hpp"
#include "../server/server_test_support.hpp"

namespace netpulse::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::http;
using testing::raw_exchange;
using testing::server_closes_after;
using testing::WsTestClient;

constexpr core::TimeMs kT0 = 1589056900000;  // 2020-05-09T20:41:40Z

query::WindowResult window(int i, int64_t k = 3) {
  query::WindowResult r;
  r.window_end = kT0 + i * 1000;
  r.window_start = r.window_end - 10000;
  r.params = {10, 10, k, 2};
  r.records = 100 + i;
  r.total_bytes = 10000;
  r.protocol_keys = 2;
  r.ip_keys = 3;
  for (auto& rows : r.rows) rows.push_back({"10.0.0.1", 6000, 0.6, 1.2});
  return r;
}

class ServerTest : public ::testing::Test {
 protected:
  void start(const std::string& token = "", size_t body_limit = 1 << 20) {
    auto fake = std::make_unique<testing::FakeStore>();
    store_ = fake.get();
    hub_.register_metrics(metrics_);
    app::register_engine_metrics(metrics_, counters_);
    fanout_ = std::make_unique<app::FanoutSink>(app::FanoutSink::Outputs{
        .json_lines = nullptr,
        .store_results =
            [this](std::vector<store::StoredResult>&& rows) { store_->put_results(rows); },
        .store_alert =
            [this](store::Alert&& a) {
              store_->put_alerts({&a, 1});
            },
        .hub = &hub_});
    fanout_->register_metrics(metrics_);
    WebOptions options;
    options.address = "127.0.0.1:0";
    options.token = token;
    options.web_root = std::string(NETPULSE_SOURCE_DIR) + "/web";
    options.body_limit = body_limit;
    WebParts parts;
    parts.processor = &control_;
    parts.generator = &generator_;
    parts.store = std::move(fake);
    parts.store_status = [] { return json{{"uri", "fake"}, {"queue_depth", 0}}; };
    std::string why, notice;
    app_ = WebApp::start(options, std::move(parts), metrics_, hub_, &why, &notice);
    ASSERT_TRUE(app_) << why;
    port_ = app_->port();
  }
  void TearDown() override {
    if (app_) app_->stop();
  }

  engine::EngineControl control_{engine::QueryParams{}, 3600};
  engine::Counters counters_;
  generate::Generator generator_{generate::GeneratorConfig{}};
  MetricsRegistry metrics_;
  WsHub hub_;
  testing::FakeStore* store_ = nullptr;
  std::unique_ptr<app::FanoutSink> fanout_;
  std::unique_ptr<WebApp> app_;
  uint16_t port_ = 0;
};

TEST_F(ServerTest, StatusShowsParametersGeneratorCountersAndStore) {
  start();
  counters_.records_read = 42;
  counters_.late = 2;
  counters_.malformed = 1;
  const auto r = http(port_, "GET", "/api/status");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  const json s = r.json();
  EXPECT_EQ(s["processor"]["params"], (json{{"H", 10.0}, {"T", 10}, {"k", 3}, {"X", 2.0}}));
  EXPECT_EQ(s["processor"]["running"], true);
  EXPECT_EQ(s["generator"]["params"]["rate"], 5000);
  EXPECT_EQ(s["generator"]["params"]["ips"], 15);
  EXPECT_EQ(s["generator"]["params"]["protocols"], 19);
  EXPECT_EQ(s["records"]["read"], 42);
  EXPECT_EQ(s["records"]["late"], 2);
  EXPECT_EQ(s["records"]["malformed"], 1);
  EXPECT_TRUE(s.contains("records_per_second"));
  EXPECT_TRUE(s.contains("watermark"));
  EXPECT_EQ(s["store"]["queue_depth"], 0);
}

TEST_F(ServerTest, ResultsListPageLatestAndDelete) {
  start();
  for (int i = 0; i < 3; ++i) fanout_->emit(window(i));
  auto r = http(port_, "GET", "/api/results/ip-topk");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = r.json();
  EXPECT_EQ(j["count"], 3);
  ASSERT_EQ(j["results"].size(), 3u);
  EXPECT_EQ(j["results"][0]["window_end"], "2020-05-09T20:41:40.000Z");
  EXPECT_EQ(j["results"][0]["params"], (json{{"T", 10}, {"k", 3}}));
  EXPECT_EQ(j["results"][0]["rows"][0]["key"], "10.0.0.1");
  EXPECT_TRUE(j["next"].is_null());

  // Paging: two, then the rest from "next".
  j = http(port_, "GET", "/api/results/ip-topk?limit=2").json();
  ASSERT_EQ(j["count"], 2);
  ASSERT_TRUE(j["next"].is_string());
  j = http(port_, "GET", "/api/results/ip-topk?limit=2&since=" + j["next"].get<std::string>())
          .json();
  ASSERT_EQ(j["count"], 1);
  EXPECT_EQ(j["results"][0]["window_end"], "2020-05-09T20:41:42.000Z");
  j = http(port_, "GET", "/api/results/ip-topk?until=2020-05-09T20:41:41.000Z").json();
  EXPECT_EQ(j["count"], 1);
  j = http(port_, "GET", "/api/results/ip-topk?since=1589056901000").json();
  EXPECT_EQ(j["count"], 2);

  r = http(port_, "GET", "/api/results/protocol-share/latest");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["window_end"], "2020-05-09T20:41:42.000Z");
  EXPECT_EQ(r.json()["query"], "protocol-share");

  r = http(port_, "DELETE", "/api/results/protocol-share");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.json()["deleted"], 3);
  r = http(port_, "GET", "/api/results/protocol-share/latest");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(r.json().contains("error"));
  EXPECT_EQ(http(port_, "GET", "/api/results/ip-topk").json()["count"], 3);  // others kept
}

TEST_F(ServerTest, ResultsErrors) {
  start();
  for (const char* target :
       {"/api/results/nope", "/api/results/nope/latest", "/api/results/IP-TOPK"}) {
    const auto r = http(port_, "GET", target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_TRUE(r.json().contains("error")) << target;
  }
  EXPECT_EQ(http(port_, "DELETE", "/api/results/nope").status, 404);
  EXPECT_EQ(http(port_, "POST", "/api/results/nope", "{}").status, 404);
  for (const char* target :
       {"/api/results/ip-topk?limit=0", "/api/results/ip-topk?limit=abc",
        "/api/results/ip-topk?limit=100000", "/api/results/ip-topk?since=yesterday",
        "/api/results/ip-topk?until=2020-13-01T00:00:00Z"}) {
    const auto r = http(port_, "GET", target);
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_TRUE(r.json().contains("error")) << target;
  }
}

TEST_F(ServerTest, PostedResultsAreValidatedStoredAndPushed) {
  start();
  WsTestClient ws(port_);
  std::string line;
  query::append_json(window(5), query::QueryKind::kIpTopk, line);
  auto r = http(port_, "POST", "/api/results/ip-topk", line);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["stored"], 1);
  EXPECT_EQ(store_->size(), 1u);
  EXPECT_EQ(http(port_, "GET", "/api/results/ip-topk/latest").body, line);
  const auto pushed = ws.wait_for([](const json& m) { return m["type"] == "result"; });
  ASSERT_TRUE(pushed);
  EXPECT_EQ((*pushed)["result"], json::parse(line));

  // The same again replaces; an array stores several.
  EXPECT_EQ(http(port_, "POST", "/api/results/ip-topk", line).status, 201);
  EXPECT_EQ(store_->size(), 1u);
  std::string line2;
  query::append_json(window(6), query::QueryKind::kIpTopk, line2);
  r = http(port_, "POST", "/api/results/ip-topk", "[" + line + "," + line2 + "]");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.json()["stored"], 2);
  EXPECT_EQ(store_->size(), 2u);

  // Bad input: each a clear 400 and nothing stored.
  for (const std::string& body : {std::string("{not json"), std::string(""), std::string("[]"),
                                  std::string("42"), std::string(R"({"window_start":1})"),
                                  line.substr(0, line.size() - 1), "[" + line + ",{}]"}) {
    r = http(port_, "POST", "/api/results/ip-topk", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_TRUE(r.json().contains("error")) << body;
  }
  r = http(port_, "POST", "/api/results/ip-share", line);  // the object says ip-topk
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(store_->size(), 2u);
}

TEST_F(ServerTest, ProcessorControl) {
  start();
  auto r = http(port_, "PUT", "/api/processor/params", R"({"k":5})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["params"]["k"], 5);
  EXPECT_EQ(control_.params().k, 5);
  r = http(port_, "PUT", "/api/processor/params", R"({"H":20,"T":60,"k":4,"X":2.5})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(control_.params(), (engine::QueryParams{20, 60, 4, 2.5}));

  // Rejected changes change nothing, even the valid fields beside the bad one.
  const auto before = control_.params();
  for (const char* body :
       {R"({"H":0})", R"({"H":101,"k":9})", R"({"T":0})", R"({"T":3601})", R"({"k":0})",
        R"({"X":-1})", R"({"T":"10"})", R"({"k":2.5})", R"({"H":null})", R"({"Q":1})", R"({})",
        R"([1])", R"("k")", "{bad json", ""}) {
    r = http(port_, "PUT", "/api/processor/params", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_TRUE(r.json().contains("error")) << body;
    EXPECT_EQ(control_.params(), before) << body;
  }
  r = http(port_, "PUT", "/api/processor/params", R"({"H":0})");
  EXPECT_EQ(r.json()["error"], "H must be a percentage in (0, 100]");  // the text protocol's words

  EXPECT_EQ(http(port_, "POST", "/api/processor/stop").status, 200);
  EXPECT_TRUE(control_.paused());
  EXPECT_EQ(http(port_, "GET", "/api/status").json()["processor"]["running"], false);
  EXPECT_EQ(http(port_, "POST", "/api/processor/start").status, 200);
  EXPECT_FALSE(control_.paused());
  EXPECT_EQ(http(port_, "GET", "/api/processor/start").status, 405);
}

TEST_F(ServerTest, GeneratorControl) {
  start();
  auto r = http(port_, "PUT", "/api/generator/params",
                R"({"rate":1000,"ips":20,"protocols":5,"ipPercent":40})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto p = generator_.params();
  EXPECT_EQ(p.rate, 1000u);
  EXPECT_EQ(p.ips, 20u);
  EXPECT_EQ(p.protocols, 5u);
  EXPECT_EQ(p.ip_skew, generate::Skew::first_percent(40));
  EXPECT_EQ(r.json()["params"]["ipPercent"], 40.0);
  r = http(port_, "PUT", "/api/generator/params", R"({"ipPercent":null,"protocolPercent":30})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(generator_.params().ip_skew, generate::Skew::uniform());
  EXPECT_EQ(generator_.params().protocol_skew, generate::Skew::first_percent(30));

  p = generator_.params();
  for (const char* body :
       {R"({"protocols":20})", R"({"protocols":0})", R"({"rate":-1})", R"({"rate":"fast"})",
        R"({"ips":0,"rate":10})", R"({"ipPercent":101})", R"({"bogus":1})", "{", "[]"}) {
    r = http(port_, "PUT", "/api/generator/params", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_TRUE(r.json().contains("error")) << body;
    EXPECT_EQ(generator_.params(), p) << body;
  }
  EXPECT_EQ(http(port_, "POST", "/api/generator/stop").status, 200);
  EXPECT_TRUE(generator_.paused());
  EXPECT_EQ(http(port_, "GET", "/api/status").json()["generator"]["running"], false);
  EXPECT_EQ(http(port_, "POST", "/api/generator/start").status, 200);
  EXPECT_FALSE(generator_.paused());
}

TEST_F(ServerTest, MetricsInPrometheusFormat) {
  start();
  counters_.records_read = 1000;
  counters_.late = 7;
  counters_.malformed = 3;
  fanout_->emit(window(0));
  http(port_, "GET", "/api/status");
  const auto r = http(port_, "GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  for (const char* line :
       {"# TYPE netpulse_records_total counter\n", "netpulse_records_total 1000\n",
        "netpulse_late_records_total 7\n", "netpulse_malformed_records_total 3\n",
        "netpulse_results_total 6\n", "# TYPE netpulse_websocket_clients gauge\n",
        "netpulse_http_requests_total{code=\"2xx\"} 1\n", "netpulse_records_per_second ",
        "# TYPE process_resident_memory_bytes gauge\n", "# TYPE process_open_fds gauge\n"})
    EXPECT_NE(r.body.find(line), std::string::npos) << line << "\n" << r.body;
}

// A window computed from the memory budget's summary (spec section 9): the ip-* results carry
// "approximate" in the API and on the WebSocket exactly as in the JSON lines, the protocol ones
// do not, and /metrics counts the window and shows its epsilon until an exact window follows.
TEST_F(ServerTest, ApproximateResultsInApiWebSocketAndMetrics) {
  start();
  WsTestClient ws(port_);
  auto summarized = window(0);
  summarized.ip_approximate = query::Approximation{0.0005, 1200000};
  fanout_->emit(summarized);

  const json expected = {{"epsilon", 0.0005}, {"keys_estimated", 1200000}};
  for (size_t q = 0; q < query::kQueryCount; ++q) {
    const auto kind = static_cast<query::QueryKind>(q);
    const std::string name(query::kQueryNames[q]);
    std::string line;
    query::append_json(summarized, kind, line);
    const auto latest = http(port_, "GET", "/api/results/" + name + "/latest");
    ASSERT_EQ(latest.status, 200) << name;
    EXPECT_EQ(latest.body, line) << name;  // byte for byte the JSON line
    const json listed = http(port_, "GET", "/api/results/" + name).json()["results"][0];
    if (kind <= query::QueryKind::kProtocolOutliers) {
      EXPECT_FALSE(listed.contains("approximate")) << name;
    } else {
      EXPECT_EQ(listed["approximate"], expected) << name;
    }
  }
  std::vector<json> pushed;
  ASSERT_TRUE(ws.wait_for([&](const json& m) {
    if (m["type"] == "result") pushed.push_back(m["result"]);
    return pushed.size() == 6;
  }));
  for (const json& r : pushed) {
    const bool ip = r["query"].get<std::string>().starts_with("ip-");
    EXPECT_EQ(r.contains("approximate"), ip) << r["query"];
    if (ip) {
      EXPECT_EQ(r["approximate"], expected) << r["query"];
    }
  }
  EXPECT_EQ(metrics_.value("netpulse_approximate_windows_total"), 1);
  EXPECT_EQ(metrics_.value("netpulse_ip_epsilon"), 0.0005);
  auto text = http(port_, "GET", "/metrics").body;
  for (const char* line :
       {"# TYPE netpulse_approximate_windows_total counter\n",
        "netpulse_approximate_windows_total 1\n", "# TYPE netpulse_ip_epsilon gauge\n",
        "netpulse_ip_epsilon 5e-04\n", "# HELP netpulse_ip_epsilon Error bound"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;

  // An exact window: nothing approximate in it, epsilon back to 0, the count kept.
  fanout_->emit(window(1));
  const json exact = http(port_, "GET", "/api/results/ip-topk/latest").json();
  EXPECT_EQ(exact["window_end"], "2020-05-09T20:41:41.000Z");
  EXPECT_FALSE(exact.contains("approximate"));
  text = http(port_, "GET", "/metrics").body;
  EXPECT_NE(text.find("netpulse_approximate_windows_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("netpulse_ip_epsilon 0\n"), std::string::npos) << text;
  // Another summarized window counts again and sets its own epsilon.
  auto again = window(2);
  again.ip_approximate = query::Approximation{0.002, 900};
  fanout_->emit(again);
  EXPECT_EQ(metrics_.value("netpulse_approximate_windows_total"), 2);
  EXPECT_EQ(metrics_.value("netpulse_ip_epsilon"), 0.002);
  EXPECT_EQ(http(port_, "GET", "/api/status").json()["metrics"]["netpulse_ip_epsilon"], 0.002);

  // Posted results keep it too, and the WebSocket push shows it.
  std::string line;
  query::append_json(again, query::QueryKind::kIpShare, line);
  auto posted = json::parse(line);
  posted["window_end"] = "2020-05-09T20:42:00.000Z";
  posted["window_start"] = "2020-05-09T20:41:50.000Z";
  ASSERT_EQ(http(port_, "POST", "/api/results/ip-share", posted.dump()).status, 201);
  EXPECT_EQ(http(port_, "GET", "/api/results/ip-share/latest").json()["approximate"],
            (json{{"epsilon", 0.002}, {"keys_estimated", 900}}));
  const auto push = ws.wait_for([](const json& m) {
    return m["type"] == "result" && m["result"]["window_end"] == "2020-05-09T20:42:00.000Z";
  });
  ASSERT_TRUE(push);
  EXPECT_EQ((*push)["result"]["approximate"]["keys_estimated"], 900);
}

TEST_F(ServerTest, DashboardFilesAndTraversal) {
  start();
  auto r = http(port_, "GET", "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("netpulse"), std::string::npos);
  r = http(port_, "GET", "/app.js");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(http(port_, "GET", "/style.css").headers.at("content-type"), "text/css; charset=utf-8");
  for (const char* target : {"/../CMakeLists.txt", "/..%2fCMakeLists.txt", "/%2e%2e/CMakeLists.txt",
                             "/web/../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                             "/.git/config", "/vendor/echarts/../../package.json", "/nope.html"}) {
    r = http(port_, "GET", target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
    EXPECT_EQ(r.body.find("cmake_minimum_required"), std::string::npos) << target;
  }
  EXPECT_EQ(http(port_, "GET", "/api/unknown").status, 404);
  EXPECT_TRUE(http(port_, "GET", "/api/unknown").json().contains("error"));
  EXPECT_EQ(http(port_, "POST", "/index.html").status, 404);
}

TEST_F(ServerTest, BodyLimitAndMalformedRequests) {
  start("", 1024);
  // A body over the limit is refused from its header, before it is read.
  auto r = raw_exchange(
      port_,
      "PUT /api/processor/params HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 2097152\r\n\r\n{\"k\":");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(r->json().contains("error"));
  // And one that is sent whole.
  const std::string big = R"({"k":5,"pad":")" + std::string(4000, 'x') + "\"}";
  EXPECT_EQ(http(port_, "PUT", "/api/processor/params", big).status, 413);
  EXPECT_EQ(control_.params().k, 3);

  r = raw_exchange(port_, "GARBAGE\r\n\r\n");
  EXPECT_TRUE(!r || r->status == 400);
  r = raw_exchange(port_, "GET /api/status HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
  EXPECT_TRUE(!r || r->status == 400);
  r = raw_exchange(port_, "GET /api/status HTTP/1.1\r\nHost: x\r\nX-Big: " +
                              std::string(20000, 'a') + "\r\n\r\n");
  EXPECT_TRUE(!r || r->status == 431 || r->status == 400);
  r = raw_exchange(port_, "GET api/status HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(!r || r->status == 400);
  // Still serving.
  EXPECT_EQ(http(port_, "GET", "/api/status").status, 200);
}

TEST_F(ServerTest, DefaultBodyLimitIsOneMebibyte) {
  start();
  auto r = raw_exchange(
      port_, "POST /api/results/ip-topk HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
}

TEST_F(ServerTest, TokenGuardsControlOverHttpAndWebSocket) {
  start("t0k3n");
  EXPECT_EQ(http(port_, "GET", "/api/status").status, 200);
  EXPECT_EQ(http(port_, "GET", "/api/results/ip-topk").status, 200);
  EXPECT_EQ(http(port_, "GET", "/metrics").status, 200);
  for (auto [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"PUT", "/api/processor/params"},
                                                        {"POST", "/api/processor/stop"},
                                                        {"POST", "/api/processor/start"},
                                                        {"PUT", "/api/generator/params"},
                                                        {"POST", "/api/generator/stop"},
                                                        {"POST", "/api/generator/start"},
                                                        {"DELETE", "/api/results/ip-topk"},
                                                        {"POST", "/api/results/ip-topk"}}) {
    const auto r = http(port_, method, target, R"({"k":5})");
    EXPECT_EQ(r.status, 401) << method << " " << target;
    EXPECT_TRUE(r.json().contains("error"));
    EXPECT_EQ(http(port_, method, target, R"({"k":5})", "wrong").status, 401);
  }
  EXPECT_FALSE(control_.paused());
  EXPECT_EQ(control_.params().k, 3);
  EXPECT_EQ(http(port_, "PUT", "/api/processor/params", R"({"k":5})", "t0k3n").status, 200);
  EXPECT_EQ(control_.params().k, 5);

  WsTestClient ws(port_);
  ws.send(R"({"id":1,"action":"processor.params","params":{"k":7}})");
  auto reply = ws.reply(1);
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["ok"], false);
  EXPECT_EQ((*reply)["status"], 401);
  EXPECT_EQ(control_.params().k, 5);
  ws.send(R"({"id":2,"action":"auth","token":"nope"})");
  EXPECT_EQ((*ws.reply(2))["ok"], false);
  ws.send(R"({"id":3,"action":"auth","token":"t0k3n"})");
  EXPECT_EQ((*ws.reply(3))["ok"], true);
  ws.send(R"({"id":4,"action":"processor.params","params":{"k":7}})");
  EXPECT_EQ((*ws.reply(4))["ok"], true);
  EXPECT_EQ(control_.params().k, 7);

  WsTestClient with_query(port_, "/ws?token=t0k3n");
  with_query.send(R"({"id":5,"action":"processor.stop"})");
  EXPECT_EQ((*with_query.reply(5))["ok"], true);
  EXPECT_TRUE(control_.paused());
}

TEST_F(ServerTest, WebSocketPushesResultsAlertsAndStatus) {
  start();
  fanout_->emit(window(0));  // before the client: comes as history
  WsTestClient ws(port_);
  int results = 0;
  ASSERT_TRUE(ws.wait_for([&](const json& m) { return m["type"] == "result" && ++results == 6; }));
  fanout_->emit(window(1, 4));
  std::vector<json> fresh;
  ASSERT_TRUE(ws.wait_for([&](const json& m) {
    if (m["type"] == "result") fresh.push_back(m["result"]);
    return fresh.size() == 6;
  }));
  EXPECT_EQ(fresh[0]["query"], "protocol-share");
  EXPECT_EQ(fresh[4]["query"], "ip-topk");
  EXPECT_EQ(fresh[4]["params"]["k"], 4);
  EXPECT_EQ(fresh[4]["window_end"], "2020-05-09T20:41:41.000Z");

  fanout_->emit_alert({kT0, "dos", "10.0.0.5", 0.97, R"({"count":12})"});
  const auto alert = ws.wait_for([](const json& m) { return m["type"] == "alert"; });
  ASSERT_TRUE(alert);
  EXPECT_EQ((*alert)["alert"]["detector"], "dos");
  EXPECT_EQ((*alert)["alert"]["detail"]["count"], 12);

  const auto status = ws.wait_for([](const json& m) { return m["type"] == "status"; }, 3s);
  ASSERT_TRUE(status);
  EXPECT_EQ((*status)["status"]["processor"]["params"]["k"], 3);
  EXPECT_EQ((*status)["status"]["websocket_clients"], 1);
  EXPECT_EQ(http(port_, "GET", "/api/status").json()["results"], 12);
}

TEST_F(ServerTest, WebSocketControlMessages) {
  start();
  WsTestClient ws(port_);
  ws.send(R"({"id":1,"action":"processor.params","params":{"k":5,"T":20}})");
  auto reply = ws.reply(1);
  ASSERT_TRUE(reply);
  EXPECT_EQ((*reply)["ok"], true);
  EXPECT_EQ((*reply)["result"]["params"]["k"], 5);
  EXPECT_EQ(control_.params().T, 20);

  ws.send(R"({"id":2,"action":"processor.params","params":{"k":0}})");
  reply = ws.reply(2);
  EXPECT_EQ((*reply)["ok"], false);
  EXPECT_EQ((*reply)["status"], 400);
  EXPECT_EQ(control_.params().k, 5);

  ws.send(R"({"id":3,"action":"generator.params","params":{"rate":100}})");
  EXPECT_EQ((*ws.reply(3))["ok"], true);
  EXPECT_EQ(generator_.params().rate, 100u);
  ws.send(R"({"id":4,"action":"generator.stop"})");
  EXPECT_EQ((*ws.reply(4))["ok"], true);
  EXPECT_TRUE(generator_.paused());
  ws.send(R"({"id":5,"action":"generator.start"})");
  EXPECT_EQ((*ws.reply(5))["ok"], true);
  EXPECT_FALSE(generator_.paused());
  ws.send(R"({"id":6,"action":"processor.stop"})");
  EXPECT_EQ((*ws.reply(6))["ok"], true);
  EXPECT_TRUE(control_.paused());
  ws.send(R"({"id":7,"action":"processor.start"})");
  EXPECT_EQ((*ws.reply(7))["ok"], true);
  ws.send(R"({"id":8,"action":"status"})");
  EXPECT_EQ((*ws.reply(8))["result"]["processor"]["params"]["T"], 20);

  // Bad messages get an error reply; the connection stays.
  ws.send(R"({"id":9,"action":"launch.rockets"})");
  EXPECT_EQ((*ws.reply(9))["status"], 400);
  ws.send(R"({"id":10})");
  EXPECT_EQ((*ws.reply(10))["ok"], false);
  for (const char* bad : {"not json", "[1,2]", "", "{\"action\":"}) {
    ws.send(bad);
    const auto r =
        ws.wait_for([](const json& m) { return m["type"] == "reply" && !m.contains("id"); });
    ASSERT_TRUE(r) << bad;
    EXPECT_EQ((*r)["ok"], false);
  }
  ws.send_binary(std::string("\x00\x01\x02", 3));
  EXPECT_TRUE(ws.wait_for([](const json& m) { return m["type"] == "reply" && m["ok"] == false; }));
  ws.send(R"({"id":11,"action":"processor.params","params":{"k":6}})");
  EXPECT_EQ((*ws.reply(11))["ok"], true);
  EXPECT_FALSE(ws.closed());
}

TEST_F(ServerTest, GarbageWebSocketFramesCloseOnlyThatConnection) {
  start();
  WsTestClient bystander(port_);
  // Unmasked frame from a client, reserved bits, a bad opcode, a lying length, random bytes.
  EXPECT_TRUE(server_closes_after(port_, std::string("\x81\x05hello", 7)));
  EXPECT_TRUE(server_closes_after(port_, std::string("\xF1\x80\x00\x00\x00\x00", 6)));
  EXPECT_TRUE(server_closes_after(port_, std::string("\x83\x80\x01\x02\x03\x04", 6)));
  EXPECT_TRUE(server_closes_after(
      port_, std::string("\x81\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01\x02\x03\x04", 14)));
  EXPECT_TRUE(server_closes_after(port_, std::string("GET / HTTP/1.1\r\n\r\n")));
  // A message over the limit (64 KiB). The server fails the connection on the frame header,
  // and Beast (1.74) closes the socket after one read of the rest, so the client's write of the
  // message may itself fail (EPIPE or a reset): that is the server closing, as wanted.
  WsTestClient big(port_);
  if (big.try_send(std::string(100 << 10, 'x'))) {
    EXPECT_FALSE(big.wait_for([](const json&) { return false; }, 10s));
  }
  EXPECT_TRUE(big.closed());

  // The server keeps serving: the other client, new clients, HTTP.
  bystander.send(R"({"id":1,"action":"status"})");
  ASSERT_TRUE(bystander.reply(1));
  WsTestClient fresh(port_);
  fresh.send(R"({"id":2,"action":"status"})");
  ASSERT_TRUE(fresh.reply(2));
  EXPECT_EQ(http(port_, "GET", "/api/status").status, 200);
  // A failed session leaves the hub (and counts its error) when its read completes, which
  // Beast does after closing the socket: the client can see the close first. So these settle
  // shortly after, not necessarily by now.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((hub_.clients() != 2u || metrics_.value("netpulse_websocket_errors_total") < 5) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_GE(metrics_.value("netpulse_websocket_errors_total"), 5);
  EXPECT_EQ(hub_.clients(), 2u);
}

TEST_F(ServerTest, UpgradeElsewhereIs404) {
  start();
  auto r = raw_exchange(
      port_,
      "GET /api/status HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST(HostPort, Parses) {
  std::string why;
  EXPECT_EQ(parse_host_port("127.0.0.1:8080", &why),
            std::make_pair(std::string("127.0.0.1"), uint16_t{8080}));
  EXPECT_EQ(parse_host_port("[::1]:0", &why), std::make_pair(std::string("::1"), uint16_t{0}));
  EXPECT_FALSE(parse_host_port("127.0.0.1", &why));
  EXPECT_FALSE(parse_host_port(":80", &why));
  EXPECT_FALSE(parse_host_port("h:99999", &why));
  EXPECT_FALSE(parse_host_port("::1:80", &why));
}

}  // namespace
}  // namespace netpulse::server
