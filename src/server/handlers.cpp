#include "server/handlers.hpp"

namespace netpulse::server {

using nlohmann::json;

namespace {

Reply to_reply(const ApiResult& r) {
  return Reply::json(r.body, r.status);
}

// Control bodies: a JSON object.
std::optional<json> parse_object(const Request& req, Reply* error) {
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) {
    *error = Reply::error(400, "the body is not valid JSON");
    return std::nullopt;
  }
  if (!body.is_object()) {
    *error = Reply::error(400, "the body must be a JSON object");
    return std::nullopt;
  }
  return body;
}

}  // namespace

void add_routes(Routes& routes, ApiServices& api) {
  ResultsApi& results = api.results;
  routes.add(Method::kGet, "/api/results/{query}", Access::kOpen,
             [&results](const Request& r) { return results.list(r); });
  routes.add(Method::kGet, "/api/results/{query}/latest", Access::kOpen,
             [&results](const Request& r) { return results.latest(r); });
  routes.add(Method::kPost, "/api/results/{query}", Access::kToken,
             [&results](const Request& r) { return results.post(r); });
  routes.add(Method::kDelete, "/api/results/{query}", Access::kToken,
             [&results](const Request& r) { return results.remove(r); });
  routes.add(Method::kGet, "/api/alerts", Access::kOpen,
             [&results](const Request& r) { return results.alerts(r); });

  if (HistoryApi* history = api.history) {
    routes.add(Method::kGet, "/api/history", Access::kOpen,
               [history](const Request& r) { return history->history(r); });
    routes.add(Method::kGet, "/api/top", Access::kOpen,
               [history](const Request& r) { return history->top(r); });
    routes.add(Method::kGet, "/api/series", Access::kOpen,
               [history](const Request& r) { return history->series(r); });
    routes.add(Method::kGet, "/api/sankey", Access::kOpen,
               [history](const Request& r) { return history->sankey(r); });
  }

  StatusBoard& status = api.status;
  routes.add(Method::kGet, "/api/status", Access::kOpen,
             [&status](const Request&) { return Reply::json(status.status()); });

  ControlApi& control = api.control;
  routes.add(Method::kPut, "/api/processor/params", Access::kToken, [&control](const Request& r) {
    Reply error;
    auto body = parse_object(r, &error);
    return body ? to_reply(control.set_processor_params(*body)) : error;
  });
  routes.add(Method::kPost, "/api/processor/start", Access::kToken,
             [&control](const Request&) { return to_reply(control.start_processor()); });
  routes.add(Method::kPost, "/api/processor/stop", Access::kToken,
             [&control](const Request&) { return to_reply(control.stop_processor()); });
  routes.add(Method::kPut, "/api/generator/params", Access::kToken, [&control](const Request& r) {
    Reply error;
    auto body = parse_object(r, &error);
    return body ? to_reply(control.set_generator_params(*body)) : error;
  });
  routes.add(Method::kPost, "/api/generator/start", Access::kToken,
             [&control](const Request&) { return to_reply(control.start_generator()); });
  routes.add(Method::kPost, "/api/generator/stop", Access::kToken,
             [&control](const Request&) { return to_reply(control.stop_generator()); });

  MetricsRegistry& metrics = api.metrics;
  routes.add(Method::kGet, "/metrics", Access::kOpen, [&metrics](const Request&) {
    Reply r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics.prometheus_text();
    return r;
  });

  if (const StaticFiles* files = api.files) {
    routes.set_fallback([files](const Request& r) {
      if (r.path.rfind("/api/", 0) == 0) return Reply::error(404, "no such route: GET " + r.path);
      return files->serve(r);
    });
  }
}

std::string handle_ws_message(std::string_view text, bool& authorized, const Routes& routes,
                              ApiServices& api) {
  json reply{{"type", "reply"}};
  const json msg = json::parse(text, nullptr, false);
  auto fail = [&reply](int status, std::string message) {
    reply["ok"] = false;
    reply["status"] = status;
    reply["error"] = std::move(message);
    return reply.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  if (msg.is_discarded()) return fail(400, "the message is not valid JSON");
  if (!msg.is_object()) return fail(400, "a message must be a JSON object with an \"action\"");
  if (const auto id = msg.find("id"); id != msg.end() && (id->is_number() || id->is_string()))
    reply["id"] = *id;
  const auto action_it = msg.find("action");
  if (action_it == msg.end() || !action_it->is_string())
    return fail(400, "a message needs an \"action\" such as \"processor.params\"");
  const std::string& action = action_it->get_ref<const std::string&>();
  reply["action"] = action;

  if (action == "auth") {
    const auto token = msg.find("token");
    if (token == msg.end() || !token->is_string() ||
        !routes.token_matches(token->get_ref<const std::string&>()))
      return fail(401, "wrong token");
    authorized = true;
    reply["ok"] = true;
    return reply.dump();
  }
  if (action == "status") {
    reply["ok"] = true;
    reply["result"] = api.status.status();
    return reply.dump(-1, ' ', false, json::error_handler_t::replace);
  }

  static const char* const kActions[] = {"processor.params", "processor.start", "processor.stop",
                                         "generator.params", "generator.start", "generator.stop"};
  bool known = false;
  for (const char* a : kActions) known = known || action == a;
  if (!known)
    return fail(400, "unknown action '" + action.substr(0, 40) +
                         "' (processor.params, processor.start, processor.stop, generator.params, "
                         "generator.start, generator.stop, status, auth)");
  if (!authorized && routes.requires_token())
    return fail(401, "this action needs the token: send {\"action\":\"auth\",\"token\":...} first");

  ApiResult result;
  const json params = msg.contains("params") ? msg["params"] : json::object();
  if (action == "processor.params")
    result = api.control.set_processor_params(params);
  else if (action == "processor.start")
    result = api.control.start_processor();
  else if (action == "processor.stop")
    result = api.control.stop_processor();
  else if (action == "generator.params")
    result = api.control.set_generator_params(params);
  else if (action == "generator.start")
    result = api.control.start_generator();
  else
    result = api.control.stop_generator();
  if (!result.ok()) return fail(result.status, result.body.value("error", "failed"));
  reply["ok"] = true;
  reply["result"] = result.body;
  return reply.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace netpulse::server
