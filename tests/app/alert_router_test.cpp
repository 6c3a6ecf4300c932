// The alert router: filters, de-duplication and the rate limit (with time passed in), and the
// delivery threads (retries with backoff, a bounded queue that drops and counts, the summary
// after a burst, the drain at close) over a scripted sender.
#include "app/alert_router.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace netpulse::app {
namespace {

using namespace std::chrono_literals;

store::Alert alert(const std::string& detector, const std::string& source, double score = 1) {
  store::Alert a;
  a.time = 1'700'000'000'000;
  a.detector = detector;
  a.source = source;
  a.score = score;
  a.detail_json = "{\"packets\":12}";
  return a;
}

AlertFilter::KeyMatch key(const std::string& text) {
  std::string why;
  auto k = parse_key_match(text, &why);
  EXPECT_TRUE(k) << why;
  return *k;
}

TEST(AlertFilter, DetectorsScoreAndKeys) {
  AlertFilter f;
  EXPECT_TRUE(f.matches(alert("dos", "10.0.0.1")));
  f.detectors = {"dos", "portscan"};
  f.min_score = 0.5;
  f.keys = {key("10.0.0.0/8"), key("2001:db8::/32"), key("HTTPS"), key("192.168.1.7")};
  EXPECT_TRUE(f.matches(alert("dos", "10.200.3.4", 0.5)));
  EXPECT_FALSE(f.matches(alert("dos", "10.200.3.4", 0.49)));
  EXPECT_FALSE(f.matches(alert("bruteforce", "10.200.3.4")));
  EXPECT_FALSE(f.matches(alert("dos", "11.0.0.1")));
  EXPECT_TRUE(f.matches(alert("dos", "2001:db8:1::5")));
  EXPECT_FALSE(f.matches(alert("dos", "2001:db9::5")));
  EXPECT_TRUE(f.matches(alert("portscan", "HTTPS")));
  EXPECT_TRUE(f.matches(alert("portscan", "192.168.1.7")));
  EXPECT_FALSE(f.matches(alert("portscan", "192.168.1.8")));
  EXPECT_FALSE(f.matches(alert("portscan", "row 12")));
  std::string why;
  EXPECT_FALSE(parse_key_match("10.0.0.0/33", &why));
  EXPECT_NE(why.find("0 to 32"), std::string::npos);
  EXPECT_FALSE(parse_key_match("abc/3", &why));
}

TEST(AlertGate, SameDetectorAndSourceWithinTheWindowIsOneAlert) {
  EndpointPolicy p;
  p.dedup = 10s;
  p.rate = 0;
  AlertGate g(p);
  const auto t0 = AlertClock::time_point{} + 1h;
  using V = AlertGate::Verdict;
  EXPECT_EQ(g.offer(alert("dos", "10.0.0.1"), t0), V::kPass);
  EXPECT_EQ(g.offer(alert("dos", "10.0.0.1"), t0 + 9s), V::kDeduplicated);
  EXPECT_EQ(g.offer(alert("dos", "10.0.0.2"), t0 + 9s), V::kPass);       // another source
  EXPECT_EQ(g.offer(alert("portscan", "10.0.0.1"), t0 + 9s), V::kPass);  // another detector
  EXPECT_EQ(g.offer(alert("dos", "10.0.0.1"), t0 + 10s), V::kPass);      // the window is over
  EXPECT_EQ(g.offer(alert("dos", "10.0.0.1"), t0 + 19s), V::kDeduplicated);
  EXPECT_EQ(g.offer(alert("dos", "10.0.0.1"), t0 + 20s), V::kPass);
  p.dedup = 0ms;  // off
  AlertGate off(p);
  EXPECT_EQ(off.offer(alert("dos", "10.0.0.1"), t0), V::kPass);
  EXPECT_EQ(off.offer(alert("dos", "10.0.0.1"), t0), V::kPass);
}

TEST(AlertGate, RateLimitPerDetectorThenOneSummary) {
  EndpointPolicy p;
  p.dedup = 0ms;
  p.rate = 3;
  p.rate_period = 60s;
  AlertGate g(p);
  const auto t0 = AlertClock::time_point{} + 1h;
  using V = AlertGate::Verdict;
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(g.offer(alert("dos", "10.0.0." + std::to_string(i)), t0 + 1s * i), V::kPass);
  for (int i = 3; i < 10; ++i)
    EXPECT_EQ(g.offer(alert("dos", "10.0.0." + std::to_string(i)), t0 + 10s), V::kSuppressed);
  EXPECT_EQ(g.offer(alert("portscan", "10.0.0.1"), t0 + 10s), V::kPass);  // its own budget
  EXPECT_TRUE(g.summaries(t0 + 59s).empty());                             // the burst goes on
  const auto s = g.summaries(t0 + 60s);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].detector, "dos");
  EXPECT_EQ(s[0].score, 7);
  const auto d = nlohmann::json::parse(s[0].detail_json);
  EXPECT_EQ(d["suppressed"], 7);
  EXPECT_EQ(d["sent"], 3);
  EXPECT_NE(d["why"].get<std::string>().find("7 more dos alerts suppressed"), std::string::npos);
  EXPECT_TRUE(g.summaries(t0 + 120s).empty());  // once
  // A new period: a fresh budget.
  EXPECT_EQ(g.offer(alert("dos", "10.0.1.1"), t0 + 61s), V::kPass);
  // A burst whose period ends at the next offer yields its summary then.
  for (int i = 0; i < 5; ++i) g.offer(alert("dos", "10.0.2." + std::to_string(i)), t0 + 62s);
  EXPECT_EQ(g.offer(alert("dos", "10.0.3.1"), t0 + 125s), V::kPass);
  const auto s2 = g.summaries(t0 + 125s);
  ASSERT_EQ(s2.size(), 1u);
  EXPECT_EQ(s2[0].score, 3);  // 6 offered in that period, 3 sent
  // At close every pending burst is summarised.
  for (int i = 0; i < 4; ++i) g.offer(alert("dos", "10.0.4." + std::to_string(i)), t0 + 126s);
  EXPECT_EQ(g.summaries(t0 + 126s, /*all=*/true).size(), 1u);
}

TEST(AlertGate, DedupComesBeforeTheRateLimit) {
  EndpointPolicy p;
  p.dedup = 60s;
  p.rate = 2;
  AlertGate g(p);
  const auto t0 = AlertClock::time_point{} + 1h;
  using V = AlertGate::Verdict;
  EXPECT_EQ(g.offer(alert("dos", "a"), t0), V::kPass);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(g.offer(alert("dos", "a"), t0), V::kDeduplicated);
  EXPECT_EQ(g.offer(alert("dos", "b"), t0), V::kPass);  // the repeats did not use the budget
  EXPECT_EQ(g.offer(alert("dos", "c"), t0), V::kSuppressed);
}

// Fails the first `fail` sends, optionally blocks until released; records what it delivered.
class ScriptedSender final : public AlertSender {
 public:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    int fail = 0;
    int attempts = 0;
    bool hold = false;
    std::vector<std::pair<AlertClock::time_point, bool>> times;  // each attempt, and its outcome
    std::vector<Delivery> delivered;
  };
  explicit ScriptedSender(std::shared_ptr<State> s) : s_(std::move(s)) {}
  std::string kind() const override { return "scripted"; }
  bool send(const Delivery& d, std::string* error) override {
    std::unique_lock lock(s_->mu);
    s_->cv.wait(lock, [&] { return !s_->hold; });
    const bool ok = ++s_->attempts > s_->fail;
    s_->times.emplace_back(AlertClock::now(), ok);
    if (!ok) {
      *error = "HTTP 500 Internal Server Error";
      return false;
    }
    s_->delivered.push_back(d);
    return true;
  }

 private:
  std::shared_ptr<State> s_;
};

std::vector<EndpointConfig> one(std::shared_ptr<ScriptedSender::State> s, EndpointPolicy p) {
  std::vector<EndpointConfig> v;
  v.push_back({"scripted", p, std::make_unique<ScriptedSender>(std::move(s))});
  return v;
}

TEST(AlertRouter, RetriesWithBackoffAndDeliversOnce) {
  auto s = std::make_shared<ScriptedSender::State>();
  s->fail = 3;
  EndpointPolicy p;
  p.retries = 5;
  p.backoff = 40ms;
  AlertRouter r(one(s, p));
  r.route(alert("dos", "10.0.0.1"));
  r.close();
  ASSERT_EQ(s->delivered.size(), 1u);
  EXPECT_EQ(s->delivered[0].alert, alert("dos", "10.0.0.1"));
  EXPECT_EQ(s->attempts, 4);
  // Exponential: the gaps are at least 40, 80, 160 ms.
  ASSERT_EQ(s->times.size(), 4u);
  EXPECT_GE(s->times[1].first - s->times[0].first, 40ms);
  EXPECT_GE(s->times[2].first - s->times[1].first, 80ms);
  EXPECT_GE(s->times[3].first - s->times[2].first, 160ms);
  const auto c = r.counters(0);
  EXPECT_EQ(c.sent, 1u);
  EXPECT_EQ(c.failed_attempts, 3u);
  EXPECT_EQ(c.retried, 3u);
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(c.last_error, "HTTP 500 Internal Server Error");
}

TEST(AlertRouter, GivesUpAfterTheRetriesAndCountsTheDrop) {
  auto s = std::make_shared<ScriptedSender::State>();
  s->fail = 100;
  EndpointPolicy p;
  p.retries = 2;
  p.backoff = 10ms;
  AlertRouter r(one(s, p));
  r.route(alert("dos", "10.0.0.1"));
  r.close();
  EXPECT_EQ(s->attempts, 3);
  const auto c = r.counters(0);
  EXPECT_EQ(c.sent, 0u);
  EXPECT_EQ(c.failed_attempts, 3u);
  EXPECT_EQ(c.retried, 2u);
  EXPECT_EQ(c.dropped, 1u);
  EXPECT_NE(c.last_error.find("gave up after 3 attempts"), std::string::npos) << c.last_error;
}

TEST(AlertRouter, AFullQueueDropsAndCountsWithoutBlocking) {
  auto s = std::make_shared<ScriptedSender::State>();
  s->hold = true;  // the endpoint hangs
  EndpointPolicy p;
  p.queue = 5;
  p.dedup = 0ms;
  p.rate = 0;
  AlertRouter r(one(s, p));
  r.route(alert("dos", "10.0.0.0"));
  for (int i = 0; i < 200 && r.counters(0).queued > 0; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(r.counters(0).queued, 0u);  // taken by the delivery thread, which now hangs
  const auto t0 = AlertClock::now();
  for (int i = 1; i < 50; ++i) r.route(alert("dos", "10.0.0." + std::to_string(i)));
  EXPECT_LT(AlertClock::now() - t0, 1s);  // never waits for the endpoint
  // One is being sent (held), five wait, the rest are dropped.
  EXPECT_TRUE([&] {
    for (int i = 0; i < 100 && r.counters(0).dropped < 44; ++i) std::this_thread::sleep_for(10ms);
    return r.counters(0).dropped == 44;
  }());
  EXPECT_EQ(r.counters(0).queued, 5u);
  const auto status = r.status_json();
  EXPECT_EQ(status["endpoints"][0]["dropped"], 44);
  EXPECT_EQ(status["endpoints"][0]["queue_depth"], 5);
  {
    std::lock_guard lock(s->mu);
    s->hold = false;
  }
  s->cv.notify_all();
  r.close();
  EXPECT_EQ(s->delivered.size(), 6u);
  EXPECT_EQ(r.counters(0).sent, 6u);
  EXPECT_EQ(r.counters(0).dropped, 44u);
}

TEST(AlertRouter, SummaryWhenTheBurstEndsAndCountersInMetrics) {
  auto s = std::make_shared<ScriptedSender::State>();
  EndpointPolicy p;
  p.rate = 2;
  p.rate_period = 300ms;
  p.dedup = 60s;
  AlertRouter r(one(s, p));
  server::MetricsRegistry m;
  r.register_metrics(m);
  for (int i = 0; i < 6; ++i) r.route(alert("dos", "10.0.0." + std::to_string(i)));
  r.route(alert("dos", "10.0.0.0"));  // a repeat
  r.route(alert("dos", "10.0.0.0"));
  // The period ends: the summary goes out without waiting for another alert.
  EXPECT_TRUE([&] {
    for (int i = 0; i < 200 && r.counters(0).sent < 3; ++i) std::this_thread::sleep_for(10ms);
    return r.counters(0).sent == 3;
  }());
  r.close();
  ASSERT_EQ(s->delivered.size(), 3u);
  EXPECT_EQ(s->delivered[0].alert.source, "10.0.0.0");
  EXPECT_EQ(s->delivered[1].alert.source, "10.0.0.1");
  EXPECT_EQ(s->delivered[2].kind, Delivery::Kind::kSummary);
  EXPECT_EQ(s->delivered[2].alert.score, 4);
  const std::string labels = "endpoint=\"scripted\"";
  EXPECT_EQ(m.value("netpulse_alert_sent_total", labels), 3);
  EXPECT_EQ(m.value("netpulse_alert_suppressed_total", labels), 4);
  EXPECT_EQ(m.value("netpulse_alert_deduplicated_total", labels), 2);
  EXPECT_EQ(m.value("netpulse_alert_queue_depth", labels), 0);
  EXPECT_NE(m.prometheus_text().find("netpulse_alert_dropped_total{endpoint=\"scripted\"} 0"),
            std::string::npos);
}

TEST(AlertRouter, FilteredAlertsAreCountedNotSent) {
  auto s = std::make_shared<ScriptedSender::State>();
  EndpointPolicy p;
  p.filter.detectors = {"portscan"};
  AlertRouter r(one(s, p));
  r.route(alert("dos", "10.0.0.1"));
  r.route(alert("portscan", "10.0.0.1"));
  r.close();
  ASSERT_EQ(s->delivered.size(), 1u);
  EXPECT_EQ(s->delivered[0].alert.detector, "portscan");
  EXPECT_EQ(r.counters(0).filtered, 1u);
}

TEST(AlertRouter, TestAlertReachesTheChosenEndpoints) {
  auto a = std::make_shared<ScriptedSender::State>();
  auto b = std::make_shared<ScriptedSender::State>();
  b->fail = 1;
  std::vector<EndpointConfig> v;
  v.push_back({"first", EndpointPolicy{}, std::make_unique<ScriptedSender>(a)});
  v.push_back({"second", EndpointPolicy{}, std::make_unique<ScriptedSender>(b)});
  AlertRouter r(std::move(v));
  auto all = r.test("");
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0]["endpoint"], "first");
  EXPECT_EQ((*all)[0]["ok"], true);
  EXPECT_EQ((*all)[1]["ok"], false);  // one attempt only: the answer says what happened
  EXPECT_EQ((*all)[1]["error"], "HTTP 500 Internal Server Error");
  auto second = r.test("1");
  ASSERT_TRUE(second);
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0]["endpoint"], "second");
  EXPECT_EQ((*second)[0]["ok"], true);
  EXPECT_TRUE(r.test("second"));
  EXPECT_FALSE(r.test("third"));
  r.close();
  EXPECT_EQ(a->delivered.size(), 1u);
  EXPECT_EQ(a->delivered[0].kind, Delivery::Kind::kTest);
  EXPECT_EQ(b->delivered.size(), 2u);
}

}  // namespace
}  // namespace netpulse::app
