// Conversions between the engine's results, the store's rows and the JSON of spec section 4:
// a WindowResult to StoredResults (params and rows as the exact spec text), a StoredResult back
// to its spec object, a posted object validated into a StoredResult, and alerts to JSON.
// Pure functions; thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/time.hpp"
#include "query/result.hpp"
#include "store/store.hpp"

namespace netpulse::server {

// The store row of query q of a window; the row's JSON parts (params, rows and, for an ip-*
// query of a summarized window, approximate) are cut from query::append_json, so stored results
// read back byte-identical to the JSON-lines output.
store::StoredResult to_stored(const query::WindowResult& r, query::QueryKind q);

// Appends the spec section 4 object of a stored result.
void append_result_json(const store::StoredResult& r, std::string& out);
std::string result_json(const store::StoredResult& r);

// Validates a posted spec section 4 object for `query` (the path's query; the object's own
// "query", if present, must match; "approximate" only on an ip-* query). Returns the row with
// params, rows and approximate in canonical text, or nullopt with the reason in *why.
std::optional<store::StoredResult> parse_result(const nlohmann::json& object,
                                                std::string_view query, std::string* why);

// {"time":"...","detector":"dos","source":"...","score":0.97,"detail":{...}}
std::string alert_json(const store::Alert& a);

// "2020-05-09T20:41:30.000Z" (the fraction and the Z optional; a space may replace the T), or
// a whole number of milliseconds since the epoch.
std::optional<core::TimeMs> parse_time_param(std::string_view text);

}  // namespace netpulse::server
