// Where alerts go to people: an HTTP webhook (--alert-webhook http://HOST[:PORT]/PATH, a JSON
// body per alert, or Slack's {"text": ...} with format=slack) and syslog (--alert-syslog
// udp://HOST:PORT or tcp://HOST:PORT: RFC 5424 messages, app-name netpulse, the alert's fields
// as structured data [netpulse@32473 ...]; TCP frames them by octet counting, RFC 6587).
// netpulse's own settings ride in the URI's query (docs: README "Alerts to people"):
//
//   detector=dos,portscan  min-score=0.5  key=10.0.0.0/8,HTTPS  dedup=60s  rate=20
//   retries=5  backoff=500ms  timeout=5s  queue=1000  name=oncall  format=json|slack
//
// and are taken out of a webhook's URL; any other query parameter is sent on to the server.
// Senders are used from their endpoint's delivery thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/alert_router.hpp"

namespace netpulse::app {

struct EndpointSpec {
  enum class Kind : uint8_t { kWebhook, kSyslogUdp, kSyslogTcp };
  Kind kind = Kind::kWebhook;
  std::string host;
  uint16_t port = 0;
  std::string target = "/";  // a webhook's path and the query parameters that are not ours
  bool slack = false;
  std::string name;                         // name=; empty: made from the kind, host and port
  std::chrono::milliseconds timeout{5000};  // connect, send and answer, per attempt
  EndpointPolicy policy;
};

// nullopt with a one-line reason (without the URI itself).
std::optional<EndpointSpec> parse_webhook_uri(const std::string& text, std::string* why);
std::optional<EndpointSpec> parse_syslog_uri(const std::string& text, std::string* why);

// The human line every message carries: what, where, how sure, and why (the rule and its
// values, or the detector's deciding features).
std::string alert_summary(const Delivery& d);
// The webhook's body: {"kind","time","detector","source","score","detail":{...},"summary"}, or
// {"text": summary} for Slack.
std::string webhook_body(const Delivery& d, bool slack);
// One RFC 5424 message (no framing, no trailing newline).
std::string syslog_message(const Delivery& d, const std::string& hostname, int pid);

std::unique_ptr<AlertSender> make_sender(const EndpointSpec& spec);
// The router's endpoints, named (name=, else "webhook 127.0.0.1:9000"; repeated names get
// "#2", "#3").
std::vector<EndpointConfig> make_endpoints(const std::vector<EndpointSpec>& specs);

}  // namespace netpulse::app
