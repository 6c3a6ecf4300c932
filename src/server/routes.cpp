#include "server/routes.hpp"

#include <cctype>
#include <exception>
#include <map>

namespace netpulse::server {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const size_t start = i;
    while (i < path.size() && path[i] != '/') ++i;
    if (i > start) out.push_back(path.substr(start, i - start));
  }
  return out;
}

void Routes::add(Method method, std::string_view pattern, Access access, Handler handler) {
  Route r{method, {}, access, std::move(handler)};
  for (auto seg : split_path(pattern)) r.segments.emplace_back(seg);
  routes_.push_back(std::move(r));
}

bool Routes::match(const Route& r, const std::vector<std::string_view>& path,
                   std::map<std::string, std::string, std::less<>>* params) {
  if (r.segments.size() != path.size()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& seg = r.segments[i];
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') continue;
    if (seg != path[i]) return false;
  }
  if (params) {
    params->clear();
    for (size_t i = 0; i < path.size(); ++i) {
      const std::string& seg = r.segments[i];
      if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}')
        params->insert_or_assign(seg.substr(1, seg.size() - 2), std::string(path[i]));
    }
  }
  return true;
}

bool Routes::token_matches(std::string_view token) const {
  if (token_.empty()) return true;
  // Constant time in the token's length: do not reveal how much of a guess was right.
  unsigned char diff = token.size() == token_.size() ? 0 : 1;
  for (size_t i = 0; i < token_.size(); ++i)
    diff |= static_cast<unsigned char>(token_[i] ^ (i < token.size() ? token[i] : 0));
  return diff == 0;
}

bool Routes::authorized(std::string_view header) const {
  if (token_.empty()) return true;
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size()) return false;
  for (size_t i = 0; i < kBearer.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) !=
        std::tolower(static_cast<unsigned char>(kBearer[i])))
      return false;
  std::string_view token = header.substr(kBearer.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token_matches(token);
}

Reply Routes::dispatch(Request& req) const {
  const auto path = split_path(req.path);
  const Method method = req.method == Method::kHead ? Method::kGet : req.method;
  std::string allow;
  for (const Route& r : routes_) {
    if (!match(r, path, nullptr)) continue;
    if (r.method != method) {
      if (!allow.empty()) allow += ", ";
      allow += to_string(r.method);
      continue;
    }
    if (r.access == Access::kToken && !authorized(req.authorization)) {
      Reply reply =
          Reply::error(401, "this endpoint needs the token: Authorization: Bearer <token>");
      reply.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"netpulse\"");
      return reply;
    }
    match(r, path, &req.path_params);
    try {
      return r.handler(req);
    } catch (const std::exception& e) {
      return Reply::error(500, std::string("internal error: ") + e.what());
    }
  }
  if (!allow.empty()) {
    Reply reply = Reply::error(405, std::string(to_string(req.method)) + " is not allowed on " +
                                        req.path + " (allowed: " + allow + ")");
    reply.headers.emplace_back("Allow", allow);
    return reply;
  }
  if (fallback_ && method == Method::kGet) {
    try {
      return fallback_(req);
    } catch (const std::exception& e) {
      return Reply::error(500, std::string("internal error: ") + e.what());
    }
  }
  return Reply::error(404, "no such route: " + std::string(to_string(req.method)) + " " + req.path);
}

}  // namespace netpulse::server
