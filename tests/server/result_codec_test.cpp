// Results between the engine, the store and the API: stored text is exactly the JSON-lines
// text; posted objects are validated against spec section 4.
#include "server/result_codec.hpp"

#include <gtest/gtest.h>

#include "query/result_json.hpp"

namespace netpulse::server {
namespace {

query::WindowResult sample() {
  query::WindowResult r;
  r.window_start = 1589056890000;  // 2020-05-09T20:41:30Z
  r.window_end = 1589056900000;
  r.params = {12.5, 10, 3, 1.5};
  r.records = 1234;
  r.total_bytes = 5678901;
  r.protocol_keys = 4;
  r.ip_keys = 15;
  for (auto& rows : r.rows) {
    rows.push_back({"10.0.0.1", 900312, 0.1585, 1.23});
    rows.push_back({"2001:db8::1", 10, 0.000001, std::nullopt});
  }
  return r;
}

TEST(ResultCodec, StoredResultReadsBackAsTheJsonLine) {
  const auto r = sample();
  for (size_t q = 0; q < query::kQueryCount; ++q) {
    const auto kind = static_cast<query::QueryKind>(q);
    std::string line;
    query::append_json(r, kind, line);
    const auto stored = to_stored(r, kind);
    EXPECT_EQ(stored.query, query::kQueryNames[q]);
    EXPECT_EQ(result_json(stored), line);
  }
  const auto s = to_stored(r, query::QueryKind::kIpTopk);
  EXPECT_EQ(s.params_json, R"({"T":10,"k":3})");
  EXPECT_EQ(s.keys, 15u);
  EXPECT_EQ(s.rows_json.front(), '[');
  EXPECT_EQ(s.rows_json.back(), ']');
  EXPECT_EQ(to_stored(r, query::QueryKind::kProtocolShare).params_json, R"({"T":10,"H":12.5})");
  EXPECT_EQ(to_stored(r, query::QueryKind::kProtocolShare).keys, 4u);
}

TEST(ResultCodec, PostedResultRoundTrips) {
  const auto r = sample();
  std::string line;
  query::append_json(r, query::QueryKind::kIpOutliers, line);
  std::string why;
  const auto parsed = parse_result(nlohmann::json::parse(line), "ip-outliers", &why);
  ASSERT_TRUE(parsed) << why;
  EXPECT_EQ(result_json(*parsed), line);
}

TEST(ResultCodec, PostedResultIsValidated) {
  const auto good = nlohmann::json::parse(
      R"({"window_start":"2020-05-09T20:41:30.000Z","window_end":"2020-05-09T20:41:40.000Z",)"
      R"("query":"ip-topk","params":{"T":10,"k":3},"records":5,"total_bytes":50,"keys":2,)"
      R"("rows":[{"key":"10.0.0.1","bytes":30,"share":0.6,"z":1}]})");
  std::string why;
  ASSERT_TRUE(parse_result(good, "ip-topk", &why)) << why;

  auto broken = [&](const std::function<void(nlohmann::json&)>& change,
                    const std::string& query = "ip-topk") {
    nlohmann::json j = good;
    change(j);
    std::string reason;
    const bool rejected = !parse_result(j, query, &reason);
    EXPECT_FALSE(reason.empty());
    return rejected;
  };
  EXPECT_TRUE(broken([](auto&) {}, "ip-share"));  // "query" differs from the path
  EXPECT_TRUE(broken([](auto&) {}, "nope"));
  EXPECT_TRUE(broken([](auto& j) { j["records"] = "5"; }));
  EXPECT_TRUE(broken([](auto& j) { j["records"] = -5; }));
  EXPECT_TRUE(broken([](auto& j) { j["total_bytes"] = 1.5; }));
  EXPECT_TRUE(broken([](auto& j) { j.erase("keys"); }));
  EXPECT_TRUE(broken([](auto& j) { j["window_start"] = "yesterday"; }));
  EXPECT_TRUE(broken([](auto& j) { j["window_start"] = j["window_end"]; }));
  EXPECT_TRUE(broken([](auto& j) { j["params"] = {{"T", 10}, {"H", 3}}; }));
  EXPECT_TRUE(broken([](auto& j) { j["params"] = {{"T", 0}, {"k", 3}}; }));
  EXPECT_TRUE(broken([](auto& j) { j["params"] = {{"T", 10}, {"k", 0}}; }));
  EXPECT_TRUE(broken([](auto& j) { j["params"] = {{"k", 3}}; }));
  EXPECT_TRUE(broken([](auto& j) { j["rows"] = "none"; }));
  EXPECT_TRUE(broken([](auto& j) { j["rows"][0]["bytes"] = "30"; }));
  EXPECT_TRUE(broken([](auto& j) { j["rows"][0]["share"] = 2; }));
  EXPECT_TRUE(broken([](auto& j) { j["rows"][0]["z"] = "high"; }));
  EXPECT_TRUE(broken([](auto& j) { j["rows"][0]["extra"] = 1; }));
  EXPECT_TRUE(broken([](auto& j) { j["rows"][0]["key"] = ""; }));
  EXPECT_TRUE(broken([](auto& j) { j["surprise"] = true; }));
  EXPECT_FALSE(parse_result(nlohmann::json::array(), "ip-topk", &why));
}

TEST(ResultCodec, KeysAreEscaped) {
  auto j = nlohmann::json::parse(
      R"({"window_start":"2020-05-09T20:41:30Z","window_end":"2020-05-09T20:41:40Z",)"
      R"("params":{"T":10,"H":5},"records":5,"total_bytes":50,"keys":2,)"
      R"("rows":[{"key":"a\"b","bytes":30,"share":0.6,"z":null}]})");
  std::string why;
  const auto r = parse_result(j, "protocol-share", &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->rows_json, R"([{"key":"a\"b","bytes":30,"share":0.6,"z":null}])");
  EXPECT_EQ(r->params_json, R"({"T":10,"H":5})");
  EXPECT_FALSE(nlohmann::json::parse(result_json(*r), nullptr, false).is_discarded());
}

TEST(ResultCodec, TimeParameters) {
  EXPECT_EQ(parse_time_param("2020-05-09T20:41:30.000Z").value(), 1589056890000);
  EXPECT_EQ(parse_time_param("2020-05-09 20:41:30").value(), 1589056890000);
  EXPECT_EQ(parse_time_param("1589056890000").value(), 1589056890000);
  EXPECT_FALSE(parse_time_param("soon"));
  EXPECT_FALSE(parse_time_param(""));
}

TEST(ResultCodec, AlertJson) {
  store::Alert a{1589056890000, "dos", "10.0.0.5", 0.97, R"({"count":511})"};
  EXPECT_EQ(
      alert_json(a),
      R"({"time":"2020-05-09T20:41:30.000Z","detector":"dos","source":"10.0.0.5","score":0.97,"detail":{"count":511}})");
}

}  // namespace
}  // namespace netpulse::server
