#include "app/outputs.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "app/store_status.hpp"
#include "server/result_codec.hpp"

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

store::StoreWriter::Options Outputs::writer_options(const OutputOptions& o, Outputs* self) {
  store::StoreWriter::Options w;
  w.history.keys = o.history.keys;
  for (size_t r = 0; r < 3; ++r) {
    w.history.retention_ms[r] = o.history.retention_ms[r];
    w.history.retention_bytes[r] = o.history.retention_bytes[r];
  }
  // On the writer's thread: the alert goes to the WebSocket and the alert endpoints, not to
  // the store (its disk is full, and a push from the writer's own thread could wait on itself).
  w.history.on_stopped = [self](const std::string& why) {
    store::Alert a;
    a.time = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
    a.detector = "history";
    a.source = "store";
    a.score = 1;
    a.detail_json = nlohmann::json{{"reason", why},
                                   {"action", "traffic history is not written until the store "
                                              "has room again (--retention-size bounds it)"}}
                        .dump();
    if (self->router_) self->router_->route(a);
    if (self->has_web()) self->hub_.publish_alert(server::alert_json(a));
    std::fprintf(stderr, "netpulse: history stopped: %s\n", why.c_str());
  };
  w.history.on_resumed = [] { std::fprintf(stderr, "netpulse: history resumed\n"); };
  return w;
}

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
      writer_(writer_store ? std::make_unique<store::StoreWriter>(std::move(writer_store),
                                                                   writer_options(o, this))
                           : nullptr),
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
  // The history routes' own connection: a week's top must not hold up /api/results.
  if (!options_.store.empty()) parts.history_store = store::open_store(options_.store, why);
  if (!options_.store.empty() && !parts.history_store) return false;
  parts.history_info = [h = options_.history, enabled = writer_ != nullptr] {
    nlohmann::json res = nlohmann::json::object();
    for (size_t r = 0; r < 3; ++r) {
      nlohmann::json one;
      one["retention_seconds"] = h.retention_ms[r] > 0 ? nlohmann::json(h.retention_ms[r] / 1000)
                                                        : nlohmann::json(nullptr);
      one["retention_bytes"] = h.retention_bytes[r] > 0 ? nlohmann::json(h.retention_bytes[r])
                                                         : nlohmann::json(nullptr);
      res[store::to_string(store::kResolutions[r])] = std::move(one);
    }
    return nlohmann::json{{"enabled", enabled && h.keys > 0},
                          {"keys_per_bucket", h.keys},
                          {"resolutions", std::move(res)}};
  };
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

static size_t history_conversations(size_t keys, uint64_t memory_limit) {
  // A conversation costs about 48 bytes of table (a 24-byte slot, half the slots free); keep
  // 100 per key kept, so the top keys are exact in all but floods, within 1/32 of the budget.
  size_t n = std::max<size_t>(keys * 100, 100'000);
  if (memory_limit != 0) n = std::min<size_t>(n, std::max<uint64_t>(memory_limit / 32 / 48, 10'000));
  return n;
}

void Outputs::record_history(engine::Pipeline& pipeline, const core::ProtocolTable& protocols,
                             uint64_t memory_limit) {
  if (!writer_ || options_.history.keys == 0) return;
  history_ = std::make_unique<HistoryRecorder>(
      [w = writer_.get()](store::HistoryBucket b) { w->push(std::move(b)); }, protocols,
      options_.history.keys, options_.history.origin,
      history_conversations(options_.history.keys, memory_limit), options_.history.sample);
  pipeline.on_history([h = history_.get()](engine::HistoryBatch b) { h->offer(std::move(b)); },
                      history_->pool(), history_->sample());
}

void Outputs::record_history(kafka::PaneMerge& merge, const core::ProtocolTable& protocols) {
  if (!writer_ || options_.history.keys == 0) return;
  pane_history_ = std::make_unique<PaneHistory>(
      [w = writer_.get()](store::HistoryBucket b) { w->push(std::move(b)); }, protocols,
      [&merge] { return merge.source() ? merge.source()->ip_key : engine::IpKey::kSrc; },
      options_.history.keys, options_.history.origin);
  merge.observe(pane_history_.get());
}

void Outputs::flush() {
  // The pipeline has finished: its last minutes are queued in the recorder.
  if (history_) history_->stop();
  fanout_.flush();
  if (writer_) writer_->flush();
}

void Outputs::close() {
  if (closed_) return;
  closed_ = true;
  if (router_) router_->close();
  if (web_) web_->stop();
  if (history_) history_->stop();
  if (writer_) writer_->close();
}

}  // namespace netpulse::app
