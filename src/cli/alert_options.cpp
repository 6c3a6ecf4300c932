#include "cli/alert_options.hpp"

#include "app/alert_endpoints.hpp"
#include "app/alert_rules.hpp"
#include "cli/common.hpp"

namespace netpulse::cli {

void add_alert_options(CLI::App* sub, AlertOptions& o) {
  sub->add_option("--alert-webhook", o.webhooks,
                  "Send each alert to this URL as an HTTP POST of JSON (plain http:// only; "
                  "https is not supported): http://HOST[:PORT]/PATH[?SETTINGS], settings "
                  "format=slack (a Slack {\"text\"} body), detector=dos,portscan, min-score=X, "
                  "key=10.0.0.0/8 (addresses, prefixes or keys), dedup=60s (same detector and "
                  "source: one alert; 0: off), rate=20 (alerts of a detector a minute; 0: "
                  "unlimited), retries=5, backoff=500ms, timeout=5s, queue=1000, name=NAME; "
                  "other query parameters go to the server. Repeatable")
      ->type_name("URL");
  sub->add_option("--alert-syslog", o.syslogs,
                  "Send each alert as an RFC 5424 syslog message (app-name netpulse, the alert in "
                  "structured data): udp://HOST:PORT or tcp://HOST:PORT (octet-counting framing, "
                  "RFC 6587), with the settings of --alert-webhook except format. Repeatable")
      ->type_name("URI");
  sub->add_option("--alert-rule", o.rules,
                  "Raise an alert (detector \"rule\") from the queries' results: \"QUERY [KEY] "
                  "[bytes|share|z] >|>=|<|<= VALUE [for N]\", e.g. \"ip-share > 20 for 3\" (a key "
                  "above 20 % of the bytes in 3 consecutive windows), \"protocol-topk HTTPS bytes "
                  "> 1e9\", \"ip-outliers z >= 4\"; share is in percent. Repeatable")
      ->type_name("RULE");
}

void apply_alert_options(const AlertOptions& o, app::OutputOptions& out) {
  std::string why;
  for (const std::string& text : o.webhooks) {
    auto spec = app::parse_webhook_uri(text, &why);
    if (!spec) usage_error("--alert-webhook '" + text + "': " + why);
    out.alert_endpoints.push_back(std::move(*spec));
  }
  for (const std::string& text : o.syslogs) {
    auto spec = app::parse_syslog_uri(text, &why);
    if (!spec) usage_error("--alert-syslog '" + text + "': " + why);
    out.alert_endpoints.push_back(std::move(*spec));
  }
  for (const std::string& text : o.rules) {
    auto rule = app::parse_alert_rule(text, &why);
    if (!rule) usage_error("--alert-rule '" + text + "': " + why);
    out.alert_rules.push_back(std::move(*rule));
  }
}

}  // namespace netpulse::cli
