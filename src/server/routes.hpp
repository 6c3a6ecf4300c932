// The route table: (method, path pattern) to handler. Patterns are literal segments and
// "{name}" captures ("/api/results/{query}/latest"). Dispatch answers 404 for an unknown path,
// 405 (with Allow) for a known path and another method, and 401 for a route that needs the
// token when the request lacks it. Built once at start-up, then read-only: dispatch() is
// thread-safe if the handlers are.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "server/reply.hpp"
#include "server/request.hpp"

namespace netpulse::server {

enum class Access : unsigned char { kOpen, kToken };

class Routes {
 public:
  using Handler = std::function<Reply(const Request&)>;

  // An empty token turns authorisation off.
  explicit Routes(std::string token = {}) : token_(std::move(token)) {}

  void add(Method method, std::string_view pattern, Access access, Handler handler);
  // Called for GET/HEAD requests no route matches (static files); absent: 404.
  void set_fallback(Handler handler) { fallback_ = std::move(handler); }

  // Finds the route, checks the token, fills req.path_params and runs the handler. Exceptions
  // from a handler become 500 replies.
  Reply dispatch(Request& req) const;

  // Whether the request carries the token (always true when no token is set).
  bool authorized(std::string_view authorization_header) const;
  bool token_matches(std::string_view token) const;
  bool requires_token() const { return !token_.empty(); }

 private:
  struct Route {
    Method method;
    std::vector<std::string> segments;  // "{name}" captures
    Access access;
    Handler handler;
  };
  static bool match(const Route& r, const std::vector<std::string_view>& path,
                    std::map<std::string, std::string, std::less<>>* params);

  std::string token_;
  std::vector<Route> routes_;
  Handler fallback_;
};

// Splits "/a/b/c" into {"a","b","c"} (a trailing slash is ignored).
std::vector<std::string_view> split_path(std::string_view path);

}  // namespace netpulse::server
