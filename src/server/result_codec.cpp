#include "server/result_codec.hpp"

#include <charconv>
#include <cmath>

#include "query/result_json.hpp"

namespace netpulse::server {

using nlohmann::json;

store::StoredResult to_stored(const query::WindowResult& r, query::QueryKind q) {
  std::string line;
  query::append_json(r, q, line);
  store::StoredResult s;
  s.window_start = r.window_start;
  s.window_end = r.window_end;
  s.query = std::string(query::kQueryNames[static_cast<size_t>(q)]);
  s.records = r.records;
  s.total_bytes = r.total_bytes;
  s.keys = q <= query::QueryKind::kProtocolOutliers ? r.protocol_keys : r.ip_keys;
  // The line is {..."params":{...},"records":...,"rows":[...]} with ,"approximate":{...} after
  // the rows when the address dimension was summarized: params hold no nested object, "rows" is
  // the last member but "approximate", and keys (protocol labels, addresses) hold no quote, so
  // every part is found by its fixed neighbours.
  constexpr std::string_view kParams = "\"params\":";
  constexpr std::string_view kRecords = ",\"records\":";
  constexpr std::string_view kRows = "\"rows\":";
  constexpr std::string_view kApproximate = ",\"approximate\":";
  const size_t p = line.find(kParams) + kParams.size();
  const size_t p_end = line.find(kRecords, p);
  s.params_json = line.substr(p, p_end - p);
  const size_t rows = line.rfind(kRows) + kRows.size();
  size_t rows_end = line.size() - 1;  // the closing brace
  const size_t approximate = line.find(kApproximate, rows);
  if (approximate != std::string::npos) {
    const size_t a = approximate + kApproximate.size();
    s.approximate_json = line.substr(a, rows_end - a);
    rows_end = approximate;
  }
  s.rows_json = line.substr(rows, rows_end - rows);
  return s;
}

void append_result_json(const store::StoredResult& r, std::string& out) {
  char buf[32];
  out += "{\"window_start\":\"";
  out.append(buf, core::format_iso8601(r.window_start, buf));
  out += "\",\"window_end\":\"";
  out.append(buf, core::format_iso8601(r.window_end, buf));
  out += "\",\"query\":";
  out += json(r.query).dump();
  out += ",\"params\":";
  out += r.params_json.empty() ? "{}" : r.params_json;
  out += ",\"records\":" + std::to_string(r.records);
  out += ",\"total_bytes\":" + std::to_string(r.total_bytes);
  out += ",\"keys\":" + std::to_string(r.keys);
  out += ",\"rows\":";
  out += r.rows_json.empty() ? "[]" : r.rows_json;
  if (r.approximate_json) {
    out += ",\"approximate\":";
    out += *r.approximate_json;
  }
  out += '}';
}

std::string result_json(const store::StoredResult& r) {
  std::string out;
  append_result_json(r, out);
  return out;
}

std::optional<core::TimeMs> parse_time_param(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.find_first_not_of("-0123456789") == std::string_view::npos) {
    int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
    return v;
  }
  return core::parse_iso8601(text);
}

namespace {

bool get_uint(const json& o, const char* name, uint64_t& out, std::string* why) {
  const auto it = o.find(name);
  if (it == o.end()) {
    *why = std::string("missing \"") + name + "\"";
    return false;
  }
  if (!it->is_number_unsigned()) {
    *why = std::string("\"") + name + "\" must be a whole number >= 0";
    return false;
  }
  out = it->get<uint64_t>();
  return true;
}

bool get_time(const json& o, const char* name, core::TimeMs& out, std::string* why) {
  const auto it = o.find(name);
  if (it == o.end() || !it->is_string()) {
    *why = std::string("\"") + name + "\" must be a time such as \"2020-05-09T20:41:30.000Z\"";
    return false;
  }
  const auto t = parse_time_param(it->get_ref<const std::string&>());
  if (!t ||
      it->get_ref<const std::string&>().find_first_not_of("-0123456789") == std::string::npos) {
    *why = std::string("\"") + name + "\" must be a time such as \"2020-05-09T20:41:30.000Z\"";
    return false;
  }
  out = *t;
  return true;
}

}  // namespace

std::optional<store::StoredResult> parse_result(const json& o, std::string_view query_name,
                                                std::string* why) {
  const auto kind = query::parse_query_name(query_name);
  if (!kind) {
    *why = "unknown query '" + std::string(query_name) + "'";
    return std::nullopt;
  }
  if (!o.is_object()) {
    *why = "a result must be a JSON object";
    return std::nullopt;
  }
  static const char* const kMembers[] = {"window_start", "window_end", "query",
                                         "params",       "records",    "total_bytes",
                                         "keys",         "rows",       "approximate"};
  for (const auto& [name, value] : o.items()) {
    bool known = false;
    for (const char* m : kMembers) known = known || name == m;
    if (!known) {
      *why = "unknown member \"" + name.substr(0, 40) + "\"";
      return std::nullopt;
    }
  }
  store::StoredResult r;
  r.query = std::string(query_name);
  if (const auto it = o.find("query"); it != o.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>() != query_name) {
      *why = "\"query\" must be \"" + std::string(query_name) + "\" (the query of the path)";
      return std::nullopt;
    }
  }
  if (!get_time(o, "window_start", r.window_start, why) ||
      !get_time(o, "window_end", r.window_end, why))
    return std::nullopt;
  if (r.window_start >= r.window_end) {
    *why = "\"window_start\" must be before \"window_end\"";
    return std::nullopt;
  }
  if (!get_uint(o, "records", r.records, why) || !get_uint(o, "total_bytes", r.total_bytes, why) ||
      !get_uint(o, "keys", r.keys, why))
    return std::nullopt;

  // params: T and the one parameter of this query, in the engine's order and number format.
  const auto params = o.find("params");
  if (params == o.end() || !params->is_object()) {
    *why = "\"params\" must be an object such as {\"T\":10,\"k\":3}";
    return std::nullopt;
  }
  const char* own = "H";
  if (*kind == query::QueryKind::kProtocolTopk || *kind == query::QueryKind::kIpTopk) own = "k";
  if (*kind == query::QueryKind::kProtocolOutliers || *kind == query::QueryKind::kIpOutliers)
    own = "X";
  for (const auto& [name, value] : params->items()) {
    if (name != "T" && name != own) {
      *why = "\"params\" of " + std::string(query_name) + " hold T and " + own + " only";
      return std::nullopt;
    }
  }
  const auto T = params->find("T");
  const auto P = params->find(own);
  if (T == params->end() || !T->is_number_unsigned() || T->get<uint64_t>() < 1) {
    *why = "params.T must be a whole number >= 1";
    return std::nullopt;
  }
  if (P == params->end() || !P->is_number()) {
    *why = std::string("params.") + own + " must be a number";
    return std::nullopt;
  }
  r.params_json = "{\"T\":" + std::to_string(T->get<uint64_t>()) + ",\"" + own + "\":";
  if (own[0] == 'k') {
    if (!P->is_number_unsigned() || P->get<uint64_t>() < 1) {
      *why = "params.k must be a whole number >= 1";
      return std::nullopt;
    }
    r.params_json += std::to_string(P->get<uint64_t>());
  } else {
    const double v = P->get<double>();
    if (own[0] == 'H' && !(v > 0 && v <= 100)) {
      *why = "params.H must be a percentage in (0, 100]";
      return std::nullopt;
    }
    if (own[0] == 'X' && !(v >= 0 && std::isfinite(v))) {
      *why = "params.X must be a number >= 0";
      return std::nullopt;
    }
    query::append_number(v, r.params_json);
  }
  r.params_json += '}';

  const auto rows = o.find("rows");
  if (rows == o.end() || !rows->is_array()) {
    *why = "\"rows\" must be an array";
    return std::nullopt;
  }
  r.rows_json = "[";
  size_t index = 0;
  for (const json& row : *rows) {
    const std::string at = "rows[" + std::to_string(index) + "]";
    if (!row.is_object()) {
      *why = at + " must be an object";
      return std::nullopt;
    }
    for (const auto& [name, value] : row.items()) {
      if (name != "key" && name != "bytes" && name != "share" && name != "z") {
        *why = at + " has an unknown member \"" + name.substr(0, 40) + "\"";
        return std::nullopt;
      }
    }
    const auto key = row.find("key");
    if (key == row.end() || !key->is_string() || key->get_ref<const std::string&>().empty() ||
        key->get_ref<const std::string&>().size() > 64) {
      *why = at + ".key must be a string of 1 to 64 characters";
      return std::nullopt;
    }
    const auto bytes = row.find("bytes");
    if (bytes == row.end() || !bytes->is_number_unsigned()) {
      *why = at + ".bytes must be a whole number >= 0";
      return std::nullopt;
    }
    const auto share = row.find("share");
    if (share == row.end() || !share->is_number() || !(share->get<double>() >= 0) ||
        share->get<double>() > 1) {
      *why = at + ".share must be a number from 0 to 1";
      return std::nullopt;
    }
    const auto z = row.find("z");
    if (z == row.end() || !(z->is_null() || z->is_number())) {
      *why = at + ".z must be a number or null";
      return std::nullopt;
    }
    if (index > 0) r.rows_json += ',';
    r.rows_json += "{\"key\":" + key->dump(-1, ' ', false, json::error_handler_t::replace);
    r.rows_json += ",\"bytes\":" + std::to_string(bytes->get<uint64_t>());
    r.rows_json += ",\"share\":";
    query::append_number(share->get<double>(), r.rows_json);
    r.rows_json += ",\"z\":";
    if (z->is_null())
      r.rows_json += "null";
    else
      query::append_number(z->get<double>(), r.rows_json);
    r.rows_json += '}';
    ++index;
  }
  r.rows_json += ']';

  // approximate: only the address dimension is ever summarized (spec section 9); written back
  // in the engine's member order and number format.
  if (const auto a = o.find("approximate"); a != o.end()) {
    if (*kind <= query::QueryKind::kProtocolOutliers) {
      *why =
          "\"approximate\" is for ip-share, ip-topk and ip-outliers only (the protocol "
          "dimension is always exact)";
      return std::nullopt;
    }
    if (!a->is_object()) {
      *why =
          "\"approximate\" must be an object such as "
          "{\"epsilon\":0.0005,\"keys_estimated\":1200000} (leave it out when exact)";
      return std::nullopt;
    }
    for (const auto& [name, value] : a->items()) {
      if (name != "epsilon" && name != "keys_estimated") {
        *why = "\"approximate\" has an unknown member \"" + name.substr(0, 40) + "\"";
        return std::nullopt;
      }
    }
    const auto epsilon = a->find("epsilon");
    if (epsilon == a->end() || !epsilon->is_number() || !(epsilon->get<double>() >= 0) ||
        epsilon->get<double>() > 1) {
      *why = "approximate.epsilon must be a number from 0 to 1 (a fraction of total_bytes)";
      return std::nullopt;
    }
    const auto keys = a->find("keys_estimated");
    if (keys == a->end() || !keys->is_number_unsigned()) {
      *why = "approximate.keys_estimated must be a whole number >= 0";
      return std::nullopt;
    }
    std::string text = "{\"epsilon\":";
    query::append_number(epsilon->get<double>(), text);
    text += ",\"keys_estimated\":" + std::to_string(keys->get<uint64_t>()) + '}';
    r.approximate_json = std::move(text);
  }
  return r;
}

std::string alert_json(const store::Alert& a) {
  char buf[32];
  std::string out = "{\"time\":\"";
  out.append(buf, core::format_iso8601(a.time, buf));
  out += "\",\"detector\":" + json(a.detector).dump(-1, ' ', false, json::error_handler_t::replace);
  out += ",\"source\":" + json(a.source).dump(-1, ' ', false, json::error_handler_t::replace);
  out += ",\"score\":";
  query::append_number(a.score, out);
  out += ",\"detail\":";
  out += a.detail_json.empty() ? "{}" : a.detail_json;
  out += '}';
  return out;
}

}  // namespace netpulse::server
