#include "app/alert_router.hpp"

#include <algorithm>
#include <utility>

#include "core/time.hpp"

namespace netpulse::app {

namespace {

core::TimeMs wall_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool in_prefix(const core::IpAddr& a, const core::IpAddr& net, int prefix) {
  if (a.is_v6 != net.is_v6) return false;
  if (!a.is_v6) {
    const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
    return (a.v4_value() & mask) == (net.v4_value() & mask);
  }
  const auto masked = [](uint64_t v, int bits) {
    if (bits <= 0) return uint64_t{0};
    if (bits >= 64) return v;
    return v & (~uint64_t{0} << (64 - bits));
  };
  return masked(a.bits.hi, prefix) == masked(net.bits.hi, prefix) &&
         masked(a.bits.lo, prefix - 64) == masked(net.bits.lo, prefix - 64);
}

}  // namespace

std::string_view kind_name(Delivery::Kind kind) {
  switch (kind) {
    case Delivery::Kind::kAlert:
      return "alert";
    case Delivery::Kind::kSummary:
      return "summary";
    case Delivery::Kind::kTest:
      return "test";
  }
  return "alert";
}

std::optional<AlertFilter::KeyMatch> parse_key_match(const std::string& text, std::string* why) {
  AlertFilter::KeyMatch m;
  m.text = text;
  const size_t slash = text.find('/');
  const std::string addr = text.substr(0, slash);
  if (auto ip = core::parse_ip(addr)) {
    const int max = ip->is_v6 ? 128 : 32;
    m.net = *ip;
    m.prefix = max;
    if (slash != std::string::npos) {
      const std::string bits = text.substr(slash + 1);
      char* end = nullptr;
      const long n = bits.empty() ? -1 : std::strtol(bits.c_str(), &end, 10);
      if (bits.empty() || end != bits.c_str() + bits.size() || n < 0 || n > max) {
        *why = "key '" + text + "': the prefix length must be 0 to " + std::to_string(max);
        return std::nullopt;
      }
      m.prefix = static_cast<int>(n);
    }
  } else if (slash != std::string::npos) {
    *why = "key '" + text + "': not an address prefix";
    return std::nullopt;
  }
  return m;
}

bool AlertFilter::matches(const store::Alert& alert) const {
  if (!detectors.empty() &&
      std::find(detectors.begin(), detectors.end(), alert.detector) == detectors.end())
    return false;
  if (alert.score < min_score) return false;
  if (keys.empty()) return true;
  const auto ip = core::parse_ip(alert.source);
  for (const KeyMatch& k : keys) {
    if (k.net ? ip && in_prefix(*ip, *k.net, k.prefix) : alert.source == k.text) return true;
  }
  return false;
}

AlertGate::Verdict AlertGate::offer(const store::Alert& alert, AlertClock::time_point now) {
  if (!policy_.filter.matches(alert)) return Verdict::kFiltered;
  if (policy_.dedup.count() > 0) {
    const std::string key = alert.detector + '\0' + alert.source;
    auto [it, fresh] = seen_.try_emplace(key, now);
    if (!fresh) {
      if (now - it->second < policy_.dedup) return Verdict::kDeduplicated;
      it->second = now;  // a new window of de-duplication starts with this alert
    }
    if (seen_.size() > prune_at_) {  // forget the windows that are over
      std::erase_if(seen_, [&](const auto& kv) { return now - kv.second >= policy_.dedup; });
      // Under a flood of distinct sources none may be over: the memory stays bounded (repeats
      // of forgotten keys then pass, and the rate limit still holds them), and the next prune
      // waits until the table has doubled, so pruning costs O(1) an alert on average.
      if (seen_.size() > kMaxRemembered) seen_.clear();
      prune_at_ = std::max<size_t>(kPruneAt, 2 * seen_.size());
    }
  }
  if (policy_.rate > 0) {
    auto it = bursts_.find(alert.detector);
    if (it != bursts_.end() && now - it->second.start >= policy_.rate_period) {
      finish(it->first, it->second);
      bursts_.erase(it);
      it = bursts_.end();
    }
    if (it == bursts_.end())
      it = bursts_.emplace(alert.detector, Burst{now, wall_now(), 0, 0}).first;
    Burst& b = it->second;
    if (b.sent >= policy_.rate) {
      ++b.suppressed;
      return Verdict::kSuppressed;
    }
    ++b.sent;
  }
  return Verdict::kPass;
}

void AlertGate::finish(const std::string& detector, const Burst& b) {
  if (b.suppressed == 0) return;
  const long long period_s = policy_.rate_period.count() / 1000;
  store::Alert a;
  a.time = wall_now();
  a.detector = detector;
  a.source = "rate limit";
  a.score = static_cast<double>(b.suppressed);
  const std::string why = std::to_string(b.suppressed) + " more " + detector + " alert" +
                          (b.suppressed == 1 ? "" : "s") + " suppressed since " +
                          core::format_iso8601(b.start_wall) + " (at most " +
                          std::to_string(policy_.rate) + " of a detector every " +
                          std::to_string(period_s) + " s)";
  a.detail_json = nlohmann::json{
      {"suppressed", b.suppressed},
      {"sent", b.sent},
      {"since", core::format_iso8601(b.start_wall)},
      {"rate", policy_.rate},
      {"period_s", period_s},
      {"why", why}}.dump();
  pending_.push_back(std::move(a));
}

std::vector<store::Alert> AlertGate::summaries(AlertClock::time_point now, bool all) {
  for (auto it = bursts_.begin(); it != bursts_.end();) {
    if (all || now - it->second.start >= policy_.rate_period) {
      finish(it->first, it->second);
      it = bursts_.erase(it);
    } else {
      ++it;
    }
  }
  return std::exchange(pending_, {});
}

struct AlertRouter::Endpoint {
  Endpoint(EndpointConfig c)
      : name(std::move(c.name)), policy(c.policy), sender(std::move(c.sender)), gate(policy) {}
  struct Item {
    Delivery delivery;
    std::shared_ptr<std::promise<nlohmann::json>> reply;  // a test's answer
  };

  std::string name;
  EndpointPolicy policy;
  std::unique_ptr<AlertSender> sender;

  mutable std::mutex mu;
  std::condition_variable cv;
  AlertGate gate;                   // under mu
  std::deque<Item> queue;           // under mu
  bool closing = false;             // under mu
  AlertClock::time_point deadline;  // under mu, once closing
  std::string last_error;           // under mu

  std::atomic<uint64_t> sent{0}, failed_attempts{0}, retried{0}, dropped{0}, suppressed{0},
      deduplicated{0}, filtered{0};
  std::thread thread;

  // REQUIRES: mu held.
  void drop(const std::string& why, uint64_t n = 1) {
    dropped += n;
    last_error = why;
  }
};

AlertRouter::AlertRouter(std::vector<EndpointConfig> endpoints) {
  for (auto& c : endpoints) endpoints_.push_back(std::make_unique<Endpoint>(std::move(c)));
  for (auto& e : endpoints_) e->thread = std::thread([this, ep = e.get()] { deliver_loop(*ep); });
}

AlertRouter::~AlertRouter() {
  close();
}

void AlertRouter::route(const store::Alert& alert) {
  const auto now = AlertClock::now();
  for (auto& ep : endpoints_) {
    Endpoint& e = *ep;
    std::lock_guard lock(e.mu);
    if (e.closing) {
      e.drop("an alert came after the endpoint closed");
      continue;
    }
    switch (e.gate.offer(alert, now)) {
      case AlertGate::Verdict::kFiltered:
        ++e.filtered;
        break;
      case AlertGate::Verdict::kDeduplicated:
        ++e.deduplicated;
        break;
      case AlertGate::Verdict::kSuppressed:
        ++e.suppressed;
        break;
      case AlertGate::Verdict::kPass:
        if (e.queue.size() >= e.policy.queue) {
          e.drop("queue full (" + std::to_string(e.policy.queue) + " alerts): alert dropped");
        } else {
          e.queue.push_back({Delivery{Delivery::Kind::kAlert, alert}, nullptr});
          e.cv.notify_one();
        }
        break;
    }
  }
}

void AlertRouter::deliver_loop(Endpoint& e) {
  std::unique_lock lk(e.mu);
  for (;;) {
    const auto now = AlertClock::now();
    for (auto& s : e.gate.summaries(now, e.closing)) {
      if (e.queue.size() >= e.policy.queue)
        e.drop("queue full: a rate-limit summary dropped");
      else
        e.queue.push_back({Delivery{Delivery::Kind::kSummary, std::move(s)}, nullptr});
    }
    if (e.closing && now >= e.deadline && !e.queue.empty()) {
      e.drop("closing: " + std::to_string(e.queue.size()) + " alerts not delivered in time",
             e.queue.size());
      for (auto& item : e.queue)
        if (item.reply) item.reply->set_value({{"ok", false}, {"error", "closing"}});
      e.queue.clear();
    }
    if (e.queue.empty()) {
      if (e.closing) return;
      e.cv.wait_for(lk, std::chrono::milliseconds(200));
      continue;
    }
    Endpoint::Item item = std::move(e.queue.front());
    e.queue.pop_front();
    lk.unlock();

    const bool test = item.delivery.kind == Delivery::Kind::kTest;
    const uint32_t attempts = test ? 1 : 1 + e.policy.retries;
    auto backoff = e.policy.backoff;
    std::string error;
    bool ok = false;
    uint32_t tried = 0;
    while (tried < attempts) {
      ++tried;
      error.clear();
      if (e.sender->send(item.delivery, &error)) {
        ok = true;
        break;
      }
      ++e.failed_attempts;
      {
        std::lock_guard l(e.mu);
        e.last_error = error;
      }
      if (tried == attempts) break;
      // Wait before the next attempt; while closing, only as long as the drain allows.
      lk.lock();
      const auto wake = AlertClock::now() + backoff;
      const bool give_up =
          e.cv.wait_until(lk, wake, [&] { return e.closing && wake > e.deadline; });
      lk.unlock();
      if (give_up) break;
      ++e.retried;
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(30));
    }
    if (ok) {
      ++e.sent;
    } else {
      std::lock_guard l(e.mu);
      e.drop(error + " (gave up after " + std::to_string(tried) + " attempt" +
             (tried == 1 ? "" : "s") + ")");
    }
    if (item.reply)
      item.reply->set_value(
          ok ? nlohmann::json{{"ok", true}, {"attempts", tried}}
             : nlohmann::json{{"ok", false}, {"attempts", tried}, {"error", error}});
    lk.lock();
  }
}

std::optional<nlohmann::json> AlertRouter::test(const std::string& which,
                                                std::chrono::milliseconds wait) {
  std::vector<size_t> chosen;
  for (size_t i = 0; i < endpoints_.size(); ++i)
    if (which.empty() || which == endpoints_[i]->name || which == std::to_string(i))
      chosen.push_back(i);
  if (chosen.empty() && !which.empty()) return std::nullopt;
  std::vector<std::future<nlohmann::json>> answers;
  for (size_t i : chosen) {
    Endpoint& e = *endpoints_[i];
    store::Alert a;
    a.time = wall_now();
    a.detector = "test";
    a.source = "netpulse";
    a.detail_json =
        nlohmann::json{{"why", "a test alert (POST /api/alerts/test) for endpoint " + e.name}}
            .dump();
    auto reply = std::make_shared<std::promise<nlohmann::json>>();
    answers.push_back(reply->get_future());
    std::lock_guard lock(e.mu);
    if (e.closing) {
      reply->set_value({{"ok", false}, {"error", "closing"}});
      continue;
    }
    e.queue.push_back({Delivery{Delivery::Kind::kTest, std::move(a)}, reply});  // not bounded: rare
    e.cv.notify_one();
  }
  nlohmann::json out = nlohmann::json::array();
  const auto deadline = AlertClock::now() + wait;
  for (size_t j = 0; j < chosen.size(); ++j) {
    const Endpoint& e = *endpoints_[chosen[j]];
    nlohmann::json r;
    if (answers[j].wait_until(deadline) == std::future_status::ready)
      r = answers[j].get();
    else
      r = {{"ok", false}, {"error", "no answer in time (the endpoint is busy retrying)"}};
    r["index"] = chosen[j];
    r["endpoint"] = e.name;
    r["kind"] = e.sender->kind();
    out.push_back(std::move(r));
  }
  return out;
}

void AlertRouter::close(std::chrono::milliseconds drain) {
  for (auto& e : endpoints_) {
    std::lock_guard lock(e->mu);
    if (e->closing) continue;
    e->closing = true;
    e->deadline = AlertClock::now() + drain;
    e->cv.notify_all();
  }
  for (auto& e : endpoints_)
    if (e->thread.joinable()) e->thread.join();
}

AlertRouter::Counters AlertRouter::counters(size_t i) const {
  const Endpoint& e = *endpoints_.at(i);
  Counters c;
  c.sent = e.sent;
  c.failed_attempts = e.failed_attempts;
  c.retried = e.retried;
  c.dropped = e.dropped;
  c.suppressed = e.suppressed;
  c.deduplicated = e.deduplicated;
  c.filtered = e.filtered;
  std::lock_guard lock(e.mu);
  c.queued = e.queue.size();
  c.last_error = e.last_error;
  return c;
}

const std::string& AlertRouter::name(size_t i) const {
  return endpoints_.at(i)->name;
}

nlohmann::json AlertRouter::status_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const Counters c = counters(i);
    list.push_back({{"index", i},
                    {"name", endpoints_[i]->name},
                    {"kind", endpoints_[i]->sender->kind()},
                    {"sent", c.sent},
                    {"failed_attempts", c.failed_attempts},
                    {"retried", c.retried},
                    {"dropped", c.dropped},
                    {"suppressed", c.suppressed},
                    {"deduplicated", c.deduplicated},
                    {"filtered", c.filtered},
                    {"queue_depth", c.queued},
                    {"last_error", c.last_error.empty() ? nlohmann::json(nullptr)
                                                        : nlohmann::json(c.last_error)}});
  }
  return nlohmann::json{{"endpoints", std::move(list)}};
}

void AlertRouter::register_metrics(server::MetricsRegistry& m) {
  using server::MetricType;
  struct Def {
    const char* name;
    const char* help;
    MetricType type;
    uint64_t Counters::*field;
  };
  static const Def defs[] = {
      {"netpulse_alert_sent_total",
       "Alerts delivered to an endpoint (summaries and tests included)", MetricType::kCounter,
       &Counters::sent},
      {"netpulse_alert_failed_attempts_total", "Delivery attempts that failed",
       MetricType::kCounter, &Counters::failed_attempts},
      {"netpulse_alert_retries_total", "Delivery attempts after a failed one", MetricType::kCounter,
       &Counters::retried},
      {"netpulse_alert_dropped_total",
       "Alerts not delivered: the queue was full, every retry failed, or the drain at exit ran out",
       MetricType::kCounter, &Counters::dropped},
      {"netpulse_alert_suppressed_total", "Alerts held back by the endpoint's rate limit",
       MetricType::kCounter, &Counters::suppressed},
      {"netpulse_alert_deduplicated_total",
       "Alerts folded into an earlier one of the same detector and source", MetricType::kCounter,
       &Counters::deduplicated},
      {"netpulse_alert_filtered_total", "Alerts the endpoint's filter does not want",
       MetricType::kCounter, &Counters::filtered},
      {"netpulse_alert_queue_depth", "Alerts waiting for the endpoint's delivery thread",
       MetricType::kGauge, &Counters::queued},
  };
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    const std::string labels =
        "endpoint=\"" + server::prometheus_label_value(endpoints_[i]->name) + "\"";
    for (const Def& d : defs)
      m.add(
          d.name, d.help, d.type,
          [this, i, f = d.field] { return static_cast<double>(counters(i).*f); }, labels);
  }
}

}  // namespace netpulse::app
