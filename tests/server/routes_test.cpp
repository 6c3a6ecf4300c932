// Request targets, route matching, 404/405 and the token check, without sockets.
#include "server/routes.hpp"

#include <gtest/gtest.h>

#include "server/request.hpp"

namespace netpulse::server {
namespace {

TEST(Request, ParsesPathAndQuery) {
  Request r;
  ASSERT_TRUE(parse_target("/api/results/ip-topk?since=2020-05-09T00%3A00%3A00Z&limit=5&x", r));
  EXPECT_EQ(r.path, "/api/results/ip-topk");
  EXPECT_EQ(r.query_param("since").value(), "2020-05-09T00:00:00Z");
  EXPECT_EQ(r.query_param("limit").value(), "5");
  EXPECT_EQ(r.query_param("x").value(), "");
  EXPECT_FALSE(r.query_param("until"));
}

TEST(Request, RejectsBadTargets) {
  Request r;
  EXPECT_FALSE(parse_target("api/status", r));
  EXPECT_FALSE(parse_target("http://example/api", r));
  EXPECT_FALSE(parse_target("/a%zz", r));
  EXPECT_FALSE(parse_target("/a%0", r));
  EXPECT_FALSE(parse_target("/a%00b", r));  // an encoded NUL
}

TEST(Request, PercentDecodes) {
  EXPECT_EQ(percent_decode("a%2Fb").value(), "a/b");
  EXPECT_EQ(percent_decode("a+b", true).value(), "a b");
  EXPECT_EQ(percent_decode("a+b").value(), "a+b");
  EXPECT_FALSE(percent_decode("%"));
}

Routes make_routes(const std::string& token = "") {
  Routes routes(token);
  routes.add(Method::kGet, "/api/results/{query}", Access::kOpen, [](const Request& r) {
    return Reply::json({{"list", r.path_param("query")}});
  });
  routes.add(Method::kGet, "/api/results/{query}/latest", Access::kOpen, [](const Request& r) {
    return Reply::json({{"latest", r.path_param("query")}});
  });
  routes.add(Method::kDelete, "/api/results/{query}", Access::kToken, [](const Request&) {
    return Reply::json({{"deleted", 1}});
  });
  routes.add(Method::kGet, "/boom", Access::kOpen,
             [](const Request&) -> Reply { throw std::runtime_error("kaboom"); });
  return routes;
}

Reply call(const Routes& routes, Method m, const std::string& target,
           const std::string& auth = "") {
  Request r;
  r.method = m;
  EXPECT_TRUE(parse_target(target, r));
  r.authorization = auth;
  return routes.dispatch(r);
}

TEST(Routes, MatchesPatternsAndCaptures) {
  const Routes routes = make_routes();
  Reply r = call(routes, Method::kGet, "/api/results/ip-topk");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"list":"ip-topk"})");
  r = call(routes, Method::kGet, "/api/results/ip-topk/latest");
  EXPECT_EQ(r.body, R"({"latest":"ip-topk"})");
  r = call(routes, Method::kGet, "/api/results/ip-topk/");  // trailing slash
  EXPECT_EQ(r.status, 200);
}

TEST(Routes, UnknownPathIs404AndWrongMethodIs405) {
  const Routes routes = make_routes();
  Reply r = call(routes, Method::kGet, "/api/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("\"error\""), std::string::npos);
  r = call(routes, Method::kPut, "/api/results/ip-topk");
  EXPECT_EQ(r.status, 405);
  ASSERT_FALSE(r.headers.empty());
  EXPECT_EQ(r.headers[0].first, "Allow");
  EXPECT_EQ(r.headers[0].second, "GET, DELETE");
}

TEST(Routes, HandlerExceptionsBecome500) {
  const Routes routes = make_routes();
  const Reply r = call(routes, Method::kGet, "/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("kaboom"), std::string::npos);
}

TEST(Routes, TokenGuardsControlRoutesOnly) {
  const Routes routes = make_routes("s3cret");
  EXPECT_EQ(call(routes, Method::kGet, "/api/results/ip-topk").status, 200);
  EXPECT_EQ(call(routes, Method::kDelete, "/api/results/ip-topk").status, 401);
  EXPECT_EQ(call(routes, Method::kDelete, "/api/results/ip-topk", "Bearer wrong").status, 401);
  EXPECT_EQ(call(routes, Method::kDelete, "/api/results/ip-topk", "Bearer s3cre").status, 401);
  EXPECT_EQ(call(routes, Method::kDelete, "/api/results/ip-topk", "Basic s3cret").status, 401);
  EXPECT_EQ(call(routes, Method::kDelete, "/api/results/ip-topk", "Bearer s3cret").status, 200);
  EXPECT_EQ(call(routes, Method::kDelete, "/api/results/ip-topk", "bearer  s3cret ").status, 200);
  EXPECT_TRUE(routes.token_matches("s3cret"));
  EXPECT_FALSE(routes.token_matches("s3cret2"));
}

TEST(Routes, NoTokenMeansOpen) {
  const Routes routes = make_routes();
  EXPECT_EQ(call(routes, Method::kDelete, "/api/results/ip-topk").status, 200);
}

}  // namespace
}  // namespace netpulse::server
