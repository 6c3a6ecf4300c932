// The alert endpoints for real, on 127.0.0.1: the webhook (JSON and Slack bodies, through a
// receiver that answers 500 before 200), syslog over UDP and TCP (RFC 5424 messages, RFC 6587
// octet counting, a reconnect after the receiver drops the connection), the endpoint URIs and
// their one-line errors, and the messages' text.
#include "app/alert_endpoints.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "../support/alert_receivers.hpp"

namespace netpulse::app {
namespace {

using namespace std::chrono_literals;
using testsupport::HttpReceiver;
using testsupport::TcpSyslogReceiver;
using testsupport::UdpSyslogReceiver;

store::Alert alert(const std::string& detector, const std::string& source, double score = 0.9) {
  store::Alert a;
  a.time = 1'700'000'000'123;
  a.detector = detector;
  a.source = source;
  a.score = score;
  a.detail_json = R"({"distinct_ports":250,"flows":300})";
  return a;
}

EndpointSpec spec_of(const std::string& uri) {
  std::string why;
  auto s = uri.rfind("http", 0) == 0 ? parse_webhook_uri(uri, &why) : parse_syslog_uri(uri, &why);
  EXPECT_TRUE(s) << uri << ": " << why;
  return s.value_or(EndpointSpec{});
}

std::string error_of(const std::string& uri) {
  std::string why;
  auto s = uri.rfind("http", 0) == 0 ? parse_webhook_uri(uri, &why) : parse_syslog_uri(uri, &why);
  EXPECT_FALSE(s) << uri;
  EXPECT_EQ(why.find('\n'), std::string::npos);
  return why;
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds t = 10s) {
  const auto end = std::chrono::steady_clock::now() + t;
  while (std::chrono::steady_clock::now() < end) {
    if (p()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return p();
}

TEST(EndpointUri, SettingsAreTakenOutOfTheUrl) {
  const EndpointSpec w = spec_of(
      "http://127.0.0.1:9000/hooks/x?token=abc&format=slack&detector=dos,portscan&min-score=0.5"
      "&key=10.0.0.0/8&dedup=30s&rate=5&retries=2&backoff=100ms&timeout=2s&queue=10&name=oncall");
  EXPECT_EQ(w.kind, EndpointSpec::Kind::kWebhook);
  EXPECT_EQ(w.host, "127.0.0.1");
  EXPECT_EQ(w.port, 9000);
  EXPECT_EQ(w.target, "/hooks/x?token=abc");  // the server's own parameter stays
  EXPECT_TRUE(w.slack);
  EXPECT_EQ(w.policy.filter.detectors, (std::vector<std::string>{"dos", "portscan"}));
  EXPECT_EQ(w.policy.filter.min_score, 0.5);
  ASSERT_EQ(w.policy.filter.keys.size(), 1u);
  EXPECT_EQ(w.policy.dedup, 30s);
  EXPECT_EQ(w.policy.rate, 5u);
  EXPECT_EQ(w.policy.retries, 2u);
  EXPECT_EQ(w.policy.backoff, 100ms);
  EXPECT_EQ(w.timeout, 2s);
  EXPECT_EQ(w.policy.queue, 10u);
  EXPECT_EQ(w.name, "oncall");
  const EndpointSpec d = spec_of("http://example.com");
  EXPECT_EQ(d.port, 80);
  EXPECT_EQ(d.target, "/");
  EXPECT_EQ(d.policy.dedup, 60s);
  EXPECT_EQ(d.policy.rate, 20u);
  const EndpointSpec u = spec_of("udp://127.0.0.1:5514?dedup=0&rate=0");
  EXPECT_EQ(u.kind, EndpointSpec::Kind::kSyslogUdp);
  EXPECT_EQ(u.policy.dedup, 0ms);
  EXPECT_EQ(u.policy.rate, 0u);
  EXPECT_EQ(spec_of("tcp://[::1]:6514").host, "::1");
  EXPECT_EQ(spec_of("tcp://[::1]:6514").kind, EndpointSpec::Kind::kSyslogTcp);
  EXPECT_EQ(spec_of("udp://localhost").port, 514);
}

TEST(EndpointUri, BadOnesSayWhy) {
  EXPECT_NE(error_of("https://hooks.slack.com/x").find("http://"), std::string::npos);
  EXPECT_NE(error_of("ftp://x").find("expected"), std::string::npos);
  EXPECT_NE(error_of("http://:80/").find("HOST:PORT"), std::string::npos);
  EXPECT_NE(error_of("http://h:99999/").find("port"), std::string::npos);
  EXPECT_NE(error_of("http://h/?format=xml").find("json or slack"), std::string::npos);
  EXPECT_NE(error_of("http://h/?rate=-1").find("rate='-1'"), std::string::npos);
  EXPECT_NE(error_of("http://h/?dedup=soon").find("dedup='soon'"), std::string::npos);
  EXPECT_NE(error_of("http://h/?key=10.0.0.0/40").find("0 to 32"), std::string::npos);
  EXPECT_NE(error_of("http://h/?min-score=high").find("not a number"), std::string::npos);
  EXPECT_NE(error_of("syslog://h:514").find("udp://HOST:PORT or tcp://HOST:PORT"),
            std::string::npos);
  EXPECT_NE(error_of("udp://h:514?format=slack").find("unknown parameter 'format'"),
            std::string::npos);
  EXPECT_NE(error_of("udp://h:514/path").find("no path"), std::string::npos);
  EXPECT_NE(error_of("tcp://h:0").find("port 0"), std::string::npos);
}

TEST(AlertMessages, SayWhy) {
  const Delivery d{Delivery::Kind::kAlert, alert("portscan", "10.0.0.9")};
  EXPECT_EQ(alert_summary(d),
            "netpulse alert: portscan on 10.0.0.9 (score 0.9) at 2023-11-14T22:13:20.123Z: "
            "distinct_ports=250, flows=300");
  store::Alert r = alert("rule", "10.0.0.5", 25);
  r.detail_json = R"({"rule":"ip-share > 20","why":"10.0.0.5: ip-share share 25 % > 20 %"})";
  EXPECT_EQ(alert_summary({Delivery::Kind::kAlert, r}),
            "netpulse alert: rule on 10.0.0.5 (value 25) at 2023-11-14T22:13:20.123Z: 10.0.0.5: "
            "ip-share share 25 % > 20 %");
  store::Alert f = alert("dos", "203.0.113.80");
  f.detail_json = R"({"features":{"flows":1256,"share":0.2093},"victim":"203.0.113.80"})";
  EXPECT_EQ(
      alert_summary({Delivery::Kind::kAlert, f}),
      "netpulse alert: dos on 203.0.113.80 (score 0.9) at 2023-11-14T22:13:20.123Z: flows=1256, "
      "share=0.2093, victim=203.0.113.80");
  const auto body = nlohmann::json::parse(webhook_body(d, false));
  EXPECT_EQ(body["kind"], "alert");
  EXPECT_EQ(body["detector"], "portscan");
  EXPECT_EQ(body["source"], "10.0.0.9");
  EXPECT_EQ(body["score"], 0.9);
  EXPECT_EQ(body["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(body["detail"]["distinct_ports"], 250);
  EXPECT_EQ(body["summary"], alert_summary(d));
  const auto slack = nlohmann::json::parse(webhook_body(d, true));
  EXPECT_EQ(slack, (nlohmann::json{{"text", alert_summary(d)}}));

  store::Alert q = alert("dos", "a\"b]c\\d");
  q.detail_json = R"({"x":"]"})";
  const std::string m = syslog_message({Delivery::Kind::kAlert, q}, "host1", 42);
  EXPECT_EQ(
      m.rfind(
          "<132>1 2023-11-14T22:13:20.123Z host1 netpulse 42 alert [netpulse@32473 kind=\"alert\" "
          "detector=\"dos\" source=\"a\\\"b\\]c\\\\d\" score=\"0.9\" "
          "time=\"2023-11-14T22:13:20.123Z\" "
          "detail=\"{\\\"x\\\":\\\"\\]\\\"}\"] netpulse alert: dos on ",
          0),
      0u)
      << m;
}

std::unique_ptr<AlertRouter> router_for(const std::vector<std::string>& uris) {
  std::vector<EndpointSpec> specs;
  for (const auto& u : uris) specs.push_back(spec_of(u));
  return std::make_unique<AlertRouter>(make_endpoints(specs));
}

TEST(WebhookEndpoint, RetriesThrough500AndDeliversEachAlertOnce) {
  HttpReceiver rx(/*fail_first=*/2);
  auto r = router_for(
      {"http://127.0.0.1:" + std::to_string(rx.port()) + "/hook?k=v&backoff=50ms&retries=3"});
  r->route(alert("dos", "10.0.0.1"));
  r->route(alert("portscan", "10.0.0.2"));
  r->route(alert("dos", "10.0.0.1"));  // a repeat within the dedup window
  r->close();
  const auto got = rx.messages();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(rx.attempts().size(), 4u);  // 500, 500, then 200 twice
  EXPECT_EQ(rx.targets()[0], "/hook?k=v");
  EXPECT_EQ(nlohmann::json::parse(got[0])["source"], "10.0.0.1");
  EXPECT_EQ(nlohmann::json::parse(got[1])["source"], "10.0.0.2");
  EXPECT_NE(nlohmann::json::parse(got[1])["summary"].get<std::string>().find("distinct_ports=250"),
            std::string::npos);
  const auto c = r->counters(0);
  EXPECT_EQ(c.sent, 2u);
  EXPECT_EQ(c.failed_attempts, 2u);
  EXPECT_EQ(c.retried, 2u);
  EXPECT_EQ(c.deduplicated, 1u);
  EXPECT_EQ(c.last_error, "HTTP 500 Internal Server Error");
  EXPECT_EQ(r->name(0), "webhook 127.0.0.1:" + std::to_string(rx.port()));
}

TEST(WebhookEndpoint, SlackBodyAndAnUnreachableServer) {
  HttpReceiver rx;
  const uint16_t closed = [] {
    HttpReceiver gone;
    return gone.port();
  }();
  auto r = router_for({"http://127.0.0.1:" + std::to_string(rx.port()) + "/?format=slack",
                       "http://127.0.0.1:" + std::to_string(closed) + "/?retries=1&backoff=10ms"});
  r->route(alert("bruteforce", "10.1.1.1"));
  r->close();
  ASSERT_EQ(rx.count(), 1u);
  const auto body = nlohmann::json::parse(rx.messages()[0]);
  ASSERT_TRUE(body.contains("text"));
  EXPECT_EQ(body.size(), 1u);
  EXPECT_NE(body["text"].get<std::string>().find("bruteforce on 10.1.1.1"), std::string::npos);
  const auto c = r->counters(1);
  EXPECT_EQ(c.sent, 0u);
  EXPECT_EQ(c.failed_attempts, 2u);
  EXPECT_EQ(c.dropped, 1u);
  EXPECT_NE(c.last_error.find("connect"), std::string::npos) << c.last_error;
}

TEST(SyslogEndpoint, UdpAndTcpGetRfc5424MessagesOnce) {
  UdpSyslogReceiver udp;
  TcpSyslogReceiver tcp;
  auto r = router_for({"udp://127.0.0.1:" + std::to_string(udp.port()),
                       "tcp://127.0.0.1:" + std::to_string(tcp.port()) + "?detector=dos"});
  r->route(alert("dos", "10.0.0.1"));
  r->route(alert("portscan", "10.0.0.2"));
  r->route(alert("dos", "10.0.0.3"));
  r->close();
  ASSERT_TRUE(eventually([&] { return udp.count() == 3 && tcp.count() == 2; }))
      << udp.count() << " " << tcp.count();
  const std::regex rfc5424(
      R"re(^<132>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ netpulse \d+ alert \[netpulse@32473 kind="alert" detector="(\w+)" source="([\d.]+)" score="0\.9" time="[^"]+" detail="\{\\"distinct_ports\\":250,\\"flows\\":300\}"\] netpulse alert: \w+ on [\d.]+ .*distinct_ports=250, flows=300$)re");
  std::vector<std::string> udp_sources, tcp_sources;
  for (const auto& m : udp.messages()) {
    std::smatch sm;
    ASSERT_TRUE(std::regex_match(m, sm, rfc5424)) << m;
    udp_sources.push_back(sm[2]);
  }
  for (const auto& m : tcp.messages()) {
    std::smatch sm;
    ASSERT_TRUE(std::regex_match(m, sm, rfc5424)) << m;
    EXPECT_EQ(sm[1], "dos");
    tcp_sources.push_back(sm[2]);
  }
  EXPECT_EQ(udp_sources, (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  EXPECT_EQ(tcp_sources, (std::vector<std::string>{"10.0.0.1", "10.0.0.3"}));
  EXPECT_EQ(tcp.connections(), 1);  // one connection for both
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(udp.count(), 3u);  // nothing doubled, late or not
  EXPECT_EQ(tcp.count(), 2u);
}

TEST(SyslogEndpoint, TcpRetriesUntilTheReceiverIsBack) {
  const uint16_t port = [] {
    TcpSyslogReceiver gone;
    return gone.port();
  }();
  auto r = router_for({"tcp://127.0.0.1:" + std::to_string(port) + "?backoff=200ms&retries=8"});
  r->route(alert("dos", "10.0.0.1"));
  ASSERT_TRUE(eventually([&] { return r->counters(0).failed_attempts >= 1; }));
  EXPECT_NE(r->counters(0).last_error.find("connect"), std::string::npos);
  // Not the same port, necessarily: a receiver cannot be forced onto it. So bind one there.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0) {
    ::close(fd);
    GTEST_SKIP() << "the port was taken meanwhile";
  }
  pollfd p{fd, POLLIN, 0};
  ASSERT_GT(::poll(&p, 1, 10000), 0);
  const int c = ::accept(fd, nullptr, nullptr);
  std::string in;
  char buf[4096];
  while (in.find("flows=300") == std::string::npos) {
    pollfd q{c, POLLIN, 0};
    ASSERT_GT(::poll(&q, 1, 5000), 0);
    const ssize_t n = ::recv(c, buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    in.append(buf, static_cast<size_t>(n));
  }
  r->close();
  ::close(c);
  ::close(fd);
  const size_t sp = in.find(' ');
  EXPECT_EQ(std::stoul(in.substr(0, sp)), in.size() - sp - 1);  // exactly one frame
  EXPECT_EQ(r->counters(0).sent, 1u);
  EXPECT_GE(r->counters(0).retried, 1u);
}

TEST(SyslogEndpoint, TcpReconnectsWhenTheReceiverDropsTheConnection) {
  auto tcp = std::make_unique<TcpSyslogReceiver>();
  const uint16_t port = tcp->port();
  auto r = router_for({"tcp://127.0.0.1:" + std::to_string(port) + "?backoff=50ms&dedup=0"});
  r->route(alert("dos", "10.0.0.1"));
  ASSERT_TRUE(eventually([&] { return tcp->count() == 1; }));
  tcp.reset();  // closes the connection and the port: the sender now fails, and says so
  r->route(alert("dos", "10.0.0.2"));
  r->close(300ms);
  const auto c = r->counters(0);
  EXPECT_EQ(c.sent, 1u);
  EXPECT_GE(c.failed_attempts, 1u);
  EXPECT_EQ(c.dropped, 1u);
}

}  // namespace
}  // namespace netpulse::app
