#include "server/history_api.hpp"

#include <charconv>
#include <chrono>

#include "store/history.hpp"
#include "store/history_query.hpp"

namespace netpulse::server {

using ojson = nlohmann::ordered_json;

namespace {

// A parameter given with a value; "from=" counts as absent, so a form's empty fields mean
// the defaults.
std::optional<std::string_view> param(const Request& req, std::string_view name) {
  auto v = req.query_param(name);
  if (!v || v->empty()) return std::nullopt;
  return v;
}

std::optional<Reply> parse_dimension(const Request& req, store::Dimension& out) {
  const auto text = param(req, "dimension");
  if (!text) return Reply::error(400, "dimension is required (protocol, src, dst, conversation)");
  const auto d = store::parse_dimension(*text);
  if (!d)
    return Reply::error(400, "unknown dimension '" + std::string(text->substr(0, 40)) +
                                 "' (protocol, src, dst, conversation)");
  out = *d;
  return std::nullopt;
}

std::optional<Reply> parse_limit(const Request& req, size_t fallback, size_t& out) {
  out = fallback;
  if (const auto text = param(req, "limit")) {
    size_t v = 0;
    const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || ptr != text->data() + text->size() || v < 1 ||
        v > store::kMaxHistoryLimit)
      return Reply::error(
          400, "limit must be a whole number from 1 to " + std::to_string(store::kMaxHistoryLimit));
    out = v;
  }
  return std::nullopt;
}

std::optional<Reply> parse_filter(const Request& req, store::Dimension d,
                                  store::HistoryFilter& out) {
  if (const auto text = param(req, "filter")) {
    std::string why;
    auto f = store::HistoryFilter::parse(*text, d, &why);
    if (!f) return Reply::error(400, why);
    out = std::move(*f);
  }
  return std::nullopt;
}

std::optional<Reply> parse_range(const Request& req, core::TimeMs now, store::HistoryRange& out) {
  std::string why;
  auto r = store::parse_history_range(param(req, "from"), param(req, "to"), now, &why);
  if (!r) return Reply::error(400, why);
  out = *r;
  return std::nullopt;
}

Reply no_store() {
  return Reply::error(503, "no store is configured (start with --store)");
}

Reply json_reply(const ojson& j) {
  return Reply::json_text(j.dump(-1, ' ', false, ojson::error_handler_t::replace));
}

void put_range(ojson& j, const store::CoverInfo& info) {
  j["from"] = core::format_iso8601(info.range.from);
  j["to"] = core::format_iso8601(info.range.to);
  j["from_ms"] = info.range.from;
  j["to_ms"] = info.range.to;
  j["resolution"] = store::to_string(info.resolution);
  j["buckets"] = info.buckets;
}

ojson rows_json(const store::TopAnswer& a) {
  ojson rows = ojson::array();
  const bool conversation = a.info.dimension == store::Dimension::kConversation;
  for (const store::TopRow& r : a.rows) {
    ojson row;
    row["key"] = r.key;
    if (conversation) {
      std::string_view src, dst, protocol;
      if (store::split_conversation_key(r.key, &src, &dst, &protocol)) {
        row["src"] = src;
        row["dst"] = dst;
        row["protocol"] = protocol;
      }
    }
    row["bytes"] = r.bytes;
    row["records"] = r.records;
    row["share"] = r.share;
    row["error_bytes"] = r.error_bytes;
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

HistoryApi::HistoryApi(std::unique_ptr<store::Store> store, InfoSource info, Clock clock)
    : store_(std::move(store)), info_(std::move(info)), clock_(std::move(clock)) {
  if (!clock_)
    clock_ = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
}

Reply HistoryApi::history_impl(const Request&) {
  if (!store_) return no_store();
  const nlohmann::json info = info_ ? info_() : nlohmann::json::object();
  ojson j;
  j["enabled"] = info.is_object() && info.value("enabled", false);
  j["keys_per_bucket"] = info.is_object() && info.contains("keys_per_bucket")
                             ? ojson(info["keys_per_bucket"])
                             : ojson(nullptr);
  std::lock_guard lock(mu_);
  const core::TimeMs now = store::history_now(*store_, clock_());
  j["now"] = core::format_iso8601(now);
  j["now_ms"] = now;
  ojson resolutions;
  for (store::Resolution r : store::kResolutions) {
    const char* name = store::to_string(r);
    const store::HistoryUsage u = store_->history_usage(r);
    ojson o;
    o["buckets"] = u.buckets;
    o["bytes"] = u.bytes;
    o["oldest"] = u.oldest ? ojson(core::format_iso8601(*u.oldest)) : ojson(nullptr);
    o["newest"] = u.newest ? ojson(core::format_iso8601(*u.newest)) : ojson(nullptr);
    nlohmann::json settings;
    if (info.is_object() && info.contains("resolutions") && info["resolutions"].is_object() &&
        info["resolutions"].contains(name))
      settings = info["resolutions"][name];
    for (const char* field : {"retention_seconds", "retention_bytes"})
      o[field] = settings.is_object() && settings.contains(field) ? ojson(settings[field])
                                                                  : ojson(nullptr);
    resolutions[name] = std::move(o);
  }
  j["resolutions"] = std::move(resolutions);
  ojson dims = ojson::array();
  for (store::Dimension d : store::kDimensions) dims.push_back(store::to_string(d));
  j["dimensions"] = std::move(dims);
  return json_reply(j);
}

Reply HistoryApi::top_impl(const Request& req) {
  store::Dimension d{};
  size_t limit = 0;
  store::HistoryFilter filter;
  if (auto r = parse_dimension(req, d)) return *r;
  if (auto r = parse_limit(req, kDefaultTopLimit, limit)) return *r;
  if (auto r = parse_filter(req, d, filter)) return *r;
  if (!store_) return no_store();
  store::TopAnswer a;
  {
    std::lock_guard lock(mu_);
    store::HistoryRange range;
    if (auto r = parse_range(req, store::history_now(*store_, clock_()), range)) return *r;
    a = store::history_top(*store_, d, range, limit, filter);
  }
  ojson j;
  j["dimension"] = store::to_string(d);
  put_range(j, a.info);
  j["filtered"] = a.filtered;
  j["total_bytes"] = a.total_bytes;
  j["total_records"] = a.total_records;
  j["rows"] = rows_json(a);
  j["other"] = {{"bytes", a.other_bytes}, {"records", a.other_records}};
  j["absent_bound"] = a.absent_bound;
  j["exact"] = a.exact;
  return json_reply(j);
}

Reply HistoryApi::series_impl(const Request& req) {
  store::Dimension d{};
  size_t limit = 0;
  store::HistoryFilter filter;
  core::TimeMs step = 0;
  if (auto r = parse_dimension(req, d)) return *r;
  if (auto r = parse_limit(req, kDefaultSeriesLimit, limit)) return *r;
  if (auto r = parse_filter(req, d, filter)) return *r;
  if (const auto text = param(req, "step")) {
    std::string why;
    auto s = store::parse_history_duration(*text, &why);
    if (!s) return Reply::error(400, "step: " + why);
    step = *s;
  }
  const auto key = param(req, "key");
  if (!store_) return no_store();
  store::SeriesAnswer a;
  {
    std::lock_guard lock(mu_);
    store::HistoryRange range;
    if (auto r = parse_range(req, store::history_now(*store_, clock_()), range)) return *r;
    a = store::history_series(*store_, d, range, step, key, limit, filter);
  }
  ojson j;
  j["dimension"] = store::to_string(d);
  put_range(j, a.info);
  j["filtered"] = a.filtered;
  j["step_ms"] = a.step_ms;
  j["times"] = a.times;
  ojson series = ojson::array();
  for (const store::SeriesLine& line : a.series) {
    ojson s;
    s["key"] = line.key;
    s["bytes"] = line.bytes;
    s["records"] = line.records;
    if (!line.error_bytes.empty()) s["error_bytes"] = line.error_bytes;
    series.push_back(std::move(s));
  }
  j["series"] = std::move(series);
  j["total_bytes"] = a.total_bytes;
  j["missing"] = a.missing;
  return json_reply(j);
}

Reply HistoryApi::sankey_impl(const Request& req) {
  size_t limit = 0;
  store::HistoryFilter filter;
  if (auto r = parse_limit(req, kDefaultSankeyLimit, limit)) return *r;
  if (auto r = parse_filter(req, store::Dimension::kConversation, filter)) return *r;
  if (!store_) return no_store();
  store::SankeyAnswer a;
  {
    std::lock_guard lock(mu_);
    store::HistoryRange range;
    if (auto r = parse_range(req, store::history_now(*store_, clock_()), range)) return *r;
    a = store::history_sankey(*store_, range, limit, filter);
  }
  ojson j;
  put_range(j, a.top.info);
  j["filtered"] = a.top.filtered;
  ojson nodes = ojson::array();
  for (const std::string& n : a.nodes) nodes.push_back({{"name", n}});
  j["nodes"] = std::move(nodes);
  ojson links = ojson::array();
  for (const store::SankeyLink& l : a.links)
    links.push_back({{"source", l.source}, {"target", l.target}, {"value", l.value}});
  j["links"] = std::move(links);
  j["rows"] = rows_json(a.top);
  j["total_bytes"] = a.top.total_bytes;
  j["other_bytes"] = a.top.other_bytes;
  j["absent_bound"] = a.top.absent_bound;
  j["exact"] = a.top.exact;
  return json_reply(j);
}

Reply HistoryApi::guarded(Reply (HistoryApi::*impl)(const Request&), const Request& req) {
  try {
    return (this->*impl)(req);
  } catch (const store::StoreError& e) {
    return Reply::error(503, e.what());
  }
}

Reply HistoryApi::history(const Request& req) {
  return guarded(&HistoryApi::history_impl, req);
}
Reply HistoryApi::top(const Request& req) {
  return guarded(&HistoryApi::top_impl, req);
}
Reply HistoryApi::series(const Request& req) {
  return guarded(&HistoryApi::series_impl, req);
}
Reply HistoryApi::sankey(const Request& req) {
  return guarded(&HistoryApi::sankey_impl, req);
}

}  // namespace netpulse::server
