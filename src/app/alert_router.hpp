// Alerts to people: every alert (flow detector, NSL-KDD models, threshold rules) offered to
// each configured endpoint (--alert-webhook, --alert-syslog). Per endpoint, in this order: a
// filter (detectors, minimum score, keys), de-duplication (the same detector and source within
// `dedup` of wall-clock time is one alert; the repeats are counted), a rate limit (at most
// `rate` alerts of one detector a minute; the excess is counted as suppressed, and one summary
// goes out when that minute ends), then a bounded queue drained by the endpoint's own delivery
// thread, which retries a failed send with exponential backoff. route() never blocks on the
// network: a full queue drops the alert and counts it. Thread-safe; route() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/ip_addr.hpp"
#include "server/metrics.hpp"
#include "store/store.hpp"

namespace netpulse::app {

using AlertClock = std::chrono::steady_clock;

// Which alerts an endpoint wants. Empty lists match everything.
struct AlertFilter {
  struct KeyMatch {
    std::string text;                 // as given
    std::optional<core::IpAddr> net;  // an address or prefix; none: the source must equal text
    int prefix = 0;                   // bits of net that must match
  };
  std::vector<std::string> detectors;
  double min_score = -std::numeric_limits<double>::infinity();
  std::vector<KeyMatch> keys;

  bool matches(const store::Alert& alert) const;
};

// "10.0.0.0/8", "2001:db8::/32", "10.0.0.5" or any other text (matched exactly). nullopt with a
// reason for a bad prefix length.
std::optional<AlertFilter::KeyMatch> parse_key_match(const std::string& text, std::string* why);

struct EndpointPolicy {
  AlertFilter filter;
  std::chrono::milliseconds dedup{60'000};  // 0: off
  uint32_t rate = 20;                       // per detector per rate_period; 0: unlimited
  std::chrono::milliseconds rate_period{60'000};
  uint32_t retries = 5;                    // attempts after the first
  std::chrono::milliseconds backoff{500};  // before the first retry; doubles, to 30 s
  size_t queue = 1000;                     // queued alerts at most
};

// One thing to deliver: an alert, the summary of a rate-limited burst, or a test alert.
struct Delivery {
  enum class Kind : uint8_t { kAlert, kSummary, kTest };
  Kind kind = Kind::kAlert;
  store::Alert alert;
};
std::string_view kind_name(Delivery::Kind kind);

// Sends one delivery to one place, once (the endpoint thread retries). Used from one thread.
class AlertSender {
 public:
  virtual ~AlertSender() = default;
  // True when delivered; else false with a one-line reason.
  virtual bool send(const Delivery& delivery, std::string* error) = 0;
  virtual std::string kind() const = 0;  // "webhook", "syslog"
};

// The filter, de-duplication and rate limit of one endpoint, with time passed in (so tests
// need no clock). Not thread-safe: the router holds it under the endpoint's lock.
class AlertGate {
 public:
  enum class Verdict : uint8_t { kPass, kFiltered, kDeduplicated, kSuppressed };
  explicit AlertGate(const EndpointPolicy& policy) : policy_(policy) {}

  Verdict offer(const store::Alert& alert, AlertClock::time_point now);
  // The summaries of the rate limit's periods that are over by `now` and suppressed something
  // (all of them, at any time, when `all`).
  std::vector<store::Alert> summaries(AlertClock::time_point now, bool all = false);

 private:
  struct Burst {
    AlertClock::time_point start;
    core::TimeMs start_wall = 0;
    uint32_t sent = 0;
    uint64_t suppressed = 0;
  };
  // Queues the summary of a burst that is over, if it suppressed anything.
  void finish(const std::string& detector, const Burst& b);

  EndpointPolicy policy_;
  std::vector<store::Alert> pending_;                             // summaries not yet taken
  static constexpr size_t kPruneAt = 4096;
  static constexpr size_t kMaxRemembered = 65536;  // (detector, source) pairs de-duplicated at most
  size_t prune_at_ = kPruneAt;
  std::unordered_map<std::string, AlertClock::time_point> seen_;  // detector\0source -> first
  std::map<std::string, Burst> bursts_;                           // by detector
};

struct EndpointConfig {
  std::string name;  // for metrics and the status; unique
  EndpointPolicy policy;
  std::unique_ptr<AlertSender> sender;
};

class AlertRouter {
 public:
  explicit AlertRouter(std::vector<EndpointConfig> endpoints);
  ~AlertRouter();
  AlertRouter(const AlertRouter&) = delete;
  AlertRouter& operator=(const AlertRouter&) = delete;

  void route(const store::Alert& alert);
  // Sends a test alert (one attempt, no filter) to every endpoint, or to the one whose name or
  // index (from 0) is `which`, and waits for each: [{"index":0,"endpoint":...,"ok":true,...}].
  // nullopt when `which` names none.
  std::optional<nlohmann::json> test(const std::string& which,
                                     std::chrono::milliseconds wait = std::chrono::seconds(15));
  // Delivers what is queued (the pending summaries too), giving up after `drain`, and stops the
  // delivery threads. Idempotent; route() afterwards drops and counts.
  void close(std::chrono::milliseconds drain = std::chrono::seconds(10));

  size_t size() const { return endpoints_.size(); }
  struct Counters {
    uint64_t sent = 0, failed_attempts = 0, retried = 0, dropped = 0, suppressed = 0,
             deduplicated = 0, filtered = 0, queued = 0;
    std::string last_error;
  };
  Counters counters(size_t endpoint) const;
  const std::string& name(size_t endpoint) const;
  // {"endpoints":[{"name":..,"kind":..,"sent":..,...}]}
  nlohmann::json status_json() const;
  // netpulse_alert_<counter>{endpoint="NAME"} for each endpoint.
  void register_metrics(server::MetricsRegistry& registry);

 private:
  struct Endpoint;
  void deliver_loop(Endpoint& e);
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
};

}  // namespace netpulse::app
