#include "server/results_api.hpp"

#include <charconv>

#include "query/result.hpp"
#include "server/result_codec.hpp"

namespace netpulse::server {

using nlohmann::json;

ResultsApi::ResultsApi(std::unique_ptr<store::Store> store, PostedHandler on_posted)
    : store_(std::move(store)), on_posted_(std::move(on_posted)) {}

std::optional<Reply> ResultsApi::check(const Request& req) const {
  const std::string_view q = req.path_param("query");
  if (!query::parse_query_name(q))
    return Reply::error(404, "unknown query '" + std::string(q.substr(0, 40)) +
                                 "' (protocol-share, protocol-topk, protocol-outliers, ip-share, "
                                 "ip-topk, ip-outliers)");
  if (!store_) return Reply::error(503, "no store is configured (start with --store)");
  return std::nullopt;
}

namespace {

std::optional<Reply> parse_limit(const Request& req, size_t& limit) {
  limit = kDefaultResultLimit;
  if (auto text = req.query_param("limit")) {
    size_t v = 0;
    const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || ptr != text->data() + text->size() || v < 1 || v > kMaxResultLimit)
      return Reply::error(
          400, "limit must be a whole number from 1 to " + std::to_string(kMaxResultLimit));
    limit = v;
  }
  return std::nullopt;
}

std::optional<Reply> parse_time(const Request& req, const char* name,
                                std::optional<core::TimeMs>& out) {
  if (auto text = req.query_param(name)) {
    out = parse_time_param(*text);
    if (!out)
      return Reply::error(
          400,
          std::string(name) +
              " must be a time such as 2020-05-09T20:41:30.000Z or milliseconds since the epoch");
  }
  return std::nullopt;
}

}  // namespace

Reply ResultsApi::list_impl(const Request& req) {
  if (auto r = check(req)) return *r;
  store::ResultFilter f;
  f.query = std::string(req.path_param("query"));
  if (auto r = parse_limit(req, f.limit)) return *r;
  if (auto r = parse_time(req, "since", f.since)) return *r;
  if (auto r = parse_time(req, "until", f.until)) return *r;
  std::vector<store::StoredResult> rows;
  {
    std::lock_guard lock(mu_);
    rows = store_->results(f);
  }
  std::string body =
      "{\"query\":\"" + f.query + "\",\"count\":" + std::to_string(rows.size()) + ",\"results\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i) body += ',';
    append_result_json(rows[i], body);
  }
  body += "],\"next\":";
  if (rows.size() == f.limit && !rows.empty()) {
    // The next page starts after the last window end shown.
    body += '"' + core::format_iso8601(rows.back().window_end + 1) + '"';
  } else {
    body += "null";
  }
  body += '}';
  return Reply::json_text(std::move(body));
}

Reply ResultsApi::latest_impl(const Request& req) {
  if (auto r = check(req)) return *r;
  std::optional<store::StoredResult> row;
  {
    std::lock_guard lock(mu_);
    row = store_->latest(req.path_param("query"));
  }
  if (!row)
    return Reply::error(404, "no results for " + std::string(req.path_param("query")) + " yet");
  return Reply::json_text(result_json(*row));
}

Reply ResultsApi::post_impl(const Request& req) {
  if (auto r = check(req)) return *r;
  const json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) return Reply::error(400, "the body is not valid JSON");
  const std::string_view q = req.path_param("query");
  std::vector<store::StoredResult> rows;
  std::string why;
  if (body.is_array()) {
    if (body.empty()) return Reply::error(400, "the array holds no result");
    if (body.size() > kMaxPostedResults)
      return Reply::error(413,
                          "at most " + std::to_string(kMaxPostedResults) + " results per request");
    for (size_t i = 0; i < body.size(); ++i) {
      auto r = parse_result(body[i], q, &why);
      if (!r) return Reply::error(400, "result " + std::to_string(i) + ": " + why);
      rows.push_back(std::move(*r));
    }
  } else {
    auto r = parse_result(body, q, &why);
    if (!r) return Reply::error(400, why);
    rows.push_back(std::move(*r));
  }
  {
    std::lock_guard lock(mu_);
    store_->put_results(rows);
  }
  if (on_posted_)
    for (const auto& r : rows) on_posted_(r);
  return Reply::json(json{{"stored", rows.size()}}, 201);
}

Reply ResultsApi::remove_impl(const Request& req) {
  if (auto r = check(req)) return *r;
  uint64_t n = 0;
  {
    std::lock_guard lock(mu_);
    n = store_->delete_results(req.path_param("query"));
  }
  return Reply::json(json{{"deleted", n}});
}

Reply ResultsApi::alerts_impl(const Request& req) {
  if (!store_) return Reply::error(503, "no store is configured (start with --store)");
  size_t limit = 0;
  if (auto r = parse_limit(req, limit)) return *r;
  std::optional<core::TimeMs> since;
  if (auto r = parse_time(req, "since", since)) return *r;
  std::vector<store::Alert> rows;
  {
    std::lock_guard lock(mu_);
    rows = since ? store_->alerts(since, limit) : store_->latest_alerts(limit);
  }
  std::string body = "{\"count\":" + std::to_string(rows.size()) + ",\"alerts\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i) body += ',';
    body += alert_json(rows[i]);
  }
  body += "]}";
  return Reply::json_text(std::move(body));
}

Reply ResultsApi::guarded(Reply (ResultsApi::*impl)(const Request&), const Request& req) {
  try {
    return (this->*impl)(req);
  } catch (const store::StoreError& e) {
    // Data the database refused is the client's fault; anything else is the store's.
    return Reply::error(e.kind() == store::StoreError::Kind::kRejected ? 400 : 503, e.what());
  }
}

Reply ResultsApi::list(const Request& req) {
  return guarded(&ResultsApi::list_impl, req);
}
Reply ResultsApi::latest(const Request& req) {
  return guarded(&ResultsApi::latest_impl, req);
}
Reply ResultsApi::post(const Request& req) {
  return guarded(&ResultsApi::post_impl, req);
}
Reply ResultsApi::remove(const Request& req) {
  return guarded(&ResultsApi::remove_impl, req);
}
Reply ResultsApi::alerts(const Request& req) {
  return guarded(&ResultsApi::alerts_impl, req);
}

}  // namespace netpulse::server
