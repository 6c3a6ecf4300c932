#include "app/outputs.hpp"

#include <cstdlib>

#include "app/store_status.hpp"

namespace netpulse::app {

namespace {

FanoutSink::Outputs fanout_outputs(const OutputOptions& o, store::StoreWriter* writer,
                                   server::WsHub& hub) {
  FanoutSink::Outputs out;
  out.json_lines = o.output;
  if (writer) FanoutSink::store_to(out, *writer);
  if (!o.web.empty()) out.hub = &hub;
  return out;
}

}  // namespace

std::unique_ptr<Outputs> Outputs::open(const OutputOptions& o, std::string* why) {
  std::unique_ptr<store::Store> writer_store, api_store;
  if (!o.store.empty()) {
    writer_store = store::open_store(o.store, why);
    if (!writer_store) return nullptr;
    if (!o.web.empty()) {
      api_store = store::open_store(o.store, why);
      if (!api_store) return nullptr;
    }
  }
  return std::unique_ptr<Outputs>(new Outputs(o, std::move(writer_store), std::move(api_store)));
}

Outputs::Outputs(const OutputOptions& o, std::unique_ptr<store::Store> writer_store,
                 std::unique_ptr<store::Store> api_store)
    : options_(o),
      writer_(writer_store ? std::make_unique<store::StoreWriter>(std::move(writer_store)) : nullptr),
      api_store_(std::move(api_store)),
      fanout_(fanout_outputs(o, writer_.get(), hub_)) {
  if (options_.token.empty())
    if (const char* env = std::getenv("NETPULSE_TOKEN")) options_.token = env;
  hub_.register_metrics(metrics_);
  fanout_.register_metrics(metrics_);
  if (writer_) register_store_metrics(metrics_, *writer_);
  if (!options_.alert_endpoints.empty()) {
    router_ = std::make_unique<AlertRouter>(make_endpoints(options_.alert_endpoints));
    router_->register_metrics(metrics_);
  }
  if (!options_.alert_rules.empty()) {
    rules_ = std::make_unique<RuleSink>(results_sink(), options_.alert_rules,
                                        [this](store::Alert a) { emit_alert(std::move(a)); });
  }
}

void Outputs::emit_alert(store::Alert alert) {
  if (router_) router_->route(alert);
  fanout_.emit_alert(std::move(alert));
}

Outputs::~Outputs() { close(); }

query::ResultSink& Outputs::results_sink() {
  if (writer_ || has_web() || options_.output == nullptr) return fanout_;
  return *options_.output;
}

query::ResultSink& Outputs::sink() { return rules_ ? *rules_ : results_sink(); }

bool Outputs::start_web(server::WebParts parts, std::string* why, std::string* notice) {
  if (!has_web()) return true;
  server::WebOptions web;
  web.address = options_.web;
  web.token = options_.token;
  web.web_root = options_.web_root;
  web.threads = options_.web_threads;
  parts.store = std::move(api_store_);
  if (writer_) parts.store_status = [w = writer_.get()] { return store_status(*w); };
  // /api/status gets an "alerting" object; POST /api/alerts/test reaches the endpoints.
  nlohmann::json rules = nlohmann::json::array();
  for (const AlertRule& r : options_.alert_rules) rules.push_back(r.text);
  parts.input_status = [input = std::move(parts.input_status), router = router_.get(), rules] {
    nlohmann::json s = input ? input() : nlohmann::json::object();
    nlohmann::json alerting = router ? router->status_json()
                                     : nlohmann::json{{"endpoints", nlohmann::json::array()}};
    alerting["rules"] = rules;
    s["alerting"] = std::move(alerting);
    return s;
  };
  parts.alerts_test = [router = router_.get()](const std::string& which) {
    if (!router)
      return server::ApiResult::error(409, "no alert endpoints (--alert-webhook, --alert-syslog)");
    auto answer = router->test(which);
    if (!answer)
      return server::ApiResult::error(404, "no alert endpoint '" + which.substr(0, 80) + "'");
    return server::ApiResult{200, nlohmann::json{{"endpoints", std::move(*answer)}}};
  };
  web_ = server::WebApp::start(web, std::move(parts), metrics_, hub_, why, notice);
  return web_ != nullptr;
}

std::string Outputs::dashboard_url() const {
  if (!web_) return {};
  std::string url = web_->url();
  if (!options_.token.empty()) url += "#token=" + options_.token;
  return url;
}

void Outputs::flush() {
  fanout_.flush();
  if (writer_) writer_->flush();
}

void Outputs::close() {
  if (closed_) return;
  closed_ = true;
  if (router_) router_->close();
  if (web_) web_->stop();
  if (writer_) writer_->close();
}

}  // namespace netpulse::app
