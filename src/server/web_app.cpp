#include "server/web_app.hpp"

#include <charconv>

#include "server/process_metrics.hpp"
#include "server/result_codec.hpp"

namespace netpulse::server {

std::optional<std::pair<std::string, uint16_t>> parse_host_port(std::string_view text,
                                                                std::string* why) {
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *why = "expected HOST:PORT, e.g. 127.0.0.1:8080 or [::1]:8080";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) {
      *why = "expected HOST:PORT, e.g. 127.0.0.1:8080";
      return std::nullopt;
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc() || ptr != port.data() + port.size() ||
      value > 65535) {
    *why = "expected HOST:PORT with a port from 0 to 65535";
    return std::nullopt;
  }
  return std::make_pair(std::string(host), static_cast<uint16_t>(value));
}

WebApp::WebApp(const WebOptions& options, WebParts parts, MetricsRegistry& metrics, WsHub& hub)
    : metrics_(metrics),
      hub_(hub),
      control_(parts.processor, parts.generator),
      results_(std::move(parts.store),
               [&hub](const store::StoredResult& r) { hub.publish_result(result_json(r)); }),
      history_(std::move(parts.history_store), std::move(parts.history_info)),
      status_(metrics, control_, std::move(parts.store_status), std::move(parts.input_status)),
      routes_(options.token),
      alerts_test_(std::move(parts.alerts_test)) {}

WebApp::~WebApp() {
  stop();
}

std::unique_ptr<WebApp> WebApp::start(const WebOptions& options, WebParts parts,
                                      MetricsRegistry& metrics, WsHub& hub, std::string* why,
                                      std::string* notice) {
  auto address = parse_host_port(options.address, why);
  if (!address) {
    *why = "--web '" + options.address + "': " + *why;
    return nullptr;
  }
  std::unique_ptr<WebApp> app(new WebApp(options, std::move(parts), metrics, hub));
  app->host_ = address->first;

  std::string root_why;
  if (auto root = find_web_root(options.web_root, &root_why)) {
    app->files_.mount("/", *root);
    app->has_files_ = true;
    if (auto charts = find_chart_library(*root)) {
      app->files_.mount("/vendor/echarts/", *charts);
    } else if (notice) {
      *notice =
          "the chart library is not installed (node_modules/echarts): run npm ci in the "
          "repository; "
          "the dashboard shows numbers only";
    }
  } else {
    if (!options.web_root.empty()) {
      *why = root_why;
      return nullptr;
    }
    if (notice) *notice = root_why + "; the API works without it";
  }

  app->api_ =
      std::make_unique<ApiServices>(ApiServices{app->control_, app->results_, app->status_, metrics,
                                                app->has_files_ ? &app->files_ : nullptr,
                                                &app->history_});
  add_routes(app->routes_, *app->api_);
  if (app->alerts_test_)
    app->routes_.add(
        Method::kPost, "/api/alerts/test", Access::kToken, [self = app.get()](const Request& r) {
          std::string which(r.query_param("endpoint").value_or(""));
          if (which.empty() && !r.body.empty()) {
            const auto body = nlohmann::json::parse(r.body, nullptr, false);
            if (body.is_discarded() || !body.is_object())
              return Reply::error(
                  400, "the body must be a JSON object ({\"endpoint\": NAME or INDEX}) or empty");
            if (auto it = body.find("endpoint"); it != body.end())
              which = it->is_string() ? it->get<std::string>() : it->dump();
          }
          const ApiResult a = self->alerts_test_(which);
          return Reply::json(a.body, a.status);
        });

  HttpServerOptions so;
  so.host = address->first;
  so.port = address->second;
  so.threads = options.threads;
  so.body_limit = options.body_limit;
  WebApp* self = app.get();
  app->server_ = HttpServer::start(
      so, app->routes_, hub,
      [self](std::string_view text, bool& authorized) {
        return handle_ws_message(text, authorized, self->routes_, *self->api_);
      },
      [self] {
        self->status_.tick();
        self->hub_.publish_status(
            self->status_.status().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      },
      why);
  if (!app->server_) return nullptr;
  app->server_->register_metrics(metrics);
  add_process_metrics(metrics);
  return app;
}

std::string WebApp::url() const {
  const bool v6 = host_.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port()) + "/";
}

void WebApp::stop() {
  if (server_) server_->stop();
}

}  // namespace netpulse::server
