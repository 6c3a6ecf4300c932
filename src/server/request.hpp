// An HTTP request as the routes and handlers see it: decoded path, query parameters, the
// parameters captured by the route pattern, the body and the few headers the API reads. Kept
// apart from Boost.Beast so handlers are tested without sockets. A value; not shared.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace netpulse::server {

enum class Method : unsigned char { kGet, kHead, kPost, kPut, kDelete, kOptions, kOther };
std::string_view to_string(Method m);
Method parse_method(std::string_view name);

struct Request {
  Method method = Method::kGet;
  std::string target;  // as received: path and query
  std::string path;    // percent-decoded, without the query
  std::map<std::string, std::string, std::less<>> query;
  std::map<std::string, std::string, std::less<>> path_params;  // filled by Routes
  std::string body;
  std::string authorization;  // the Authorization header
  std::string content_type;

  // A query parameter, if present.
  std::optional<std::string_view> query_param(std::string_view name) const;
  // A parameter captured by the route pattern ("{query}"); empty if absent.
  std::string_view path_param(std::string_view name) const;
};

// Decodes %XX escapes (and '+' as a space when form is true). Returns nullopt for a malformed
// escape or an encoded NUL byte.
std::optional<std::string> percent_decode(std::string_view text, bool form = false);

// Splits a request target into its decoded path and query parameters. Returns false when the
// target is not an origin-form path ("/...") or has a malformed escape.
bool parse_target(std::string_view target, Request& out);

}  // namespace netpulse::server
