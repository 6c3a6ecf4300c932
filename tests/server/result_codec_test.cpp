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

// A window whose address dimension came from the memory budget's summary: the ip-* rows carry
// "approximate" exactly as the JSON lines do; the protocol rows stay exact.
TEST(ResultCodec, ApproximateIpResultsKeepTheirMember) {
  auto r = sample();
  const auto exact = r;
  r.ip_approximate = query::Approximation{0.0005, 1234567};
  for (size_t q = 0; q < query::kQueryCount; ++q) {
    const auto kind = static_cast<query::QueryKind>(q);
    std::string line;
    query::append_json(r, kind, line);
    const auto stored = to_stored(r, kind);
    EXPECT_EQ(result_json(stored), line) << query::kQueryNames[q];
    // The rows are the same text as in the exact window: "approximate" is cut off them.
    EXPECT_EQ(stored.rows_json, to_stored(exact, kind).rows_json) << query::kQueryNames[q];
    EXPECT_EQ(stored.params_json, to_stored(exact, kind).params_json) << query::kQueryNames[q];
    if (kind <= query::QueryKind::kProtocolOutliers) {
      EXPECT_FALSE(stored.approximate_json) << query::kQueryNames[q];
      EXPECT_FALSE(nlohmann::json::parse(result_json(stored)).contains("approximate"));
    } else {
      ASSERT_TRUE(stored.approximate_json) << query::kQueryNames[q];
      // The engine's shortest number form (query::append_number): 0.0005 is "5e-04".
      EXPECT_EQ(*stored.approximate_json, R"({"epsilon":5e-04,"keys_estimated":1234567})");
      const auto object = nlohmann::json::parse(result_json(stored));
      EXPECT_EQ(object["approximate"]["epsilon"], 0.0005);
      EXPECT_EQ(object["approximate"]["keys_estimated"], 1234567u);
      EXPECT_EQ(object["rows"].size(), 2u);
    }
  }
  // Exact windows never carry it.
  for (size_t q = 0; q < query::kQueryCount; ++q) {
    const auto stored = to_stored(exact, static_cast<query::QueryKind>(q));
    EXPECT_FALSE(stored.approximate_json);
    EXPECT_EQ(result_json(stored).find("approximate"), std::string::npos);
  }
  // No rows at all (nothing above H): still cut right.
  for (auto& rows : r.rows) rows.clear();
  const auto empty = to_stored(r, query::QueryKind::kIpShare);
  EXPECT_EQ(empty.rows_json, "[]");
  EXPECT_EQ(*empty.approximate_json, R"({"epsilon":5e-04,"keys_estimated":1234567})");
}

TEST(ResultCodec, PostedApproximateResultRoundTripsAndIsValidated) {
  auto r = sample();
  r.ip_approximate = query::Approximation{0.25, 42};
  std::string line;
  query::append_json(r, query::QueryKind::kIpTopk, line);
  std::string why;
  auto parsed = parse_result(nlohmann::json::parse(line), "ip-topk", &why);
  ASSERT_TRUE(parsed) << why;
  EXPECT_EQ(parsed->approximate_json, R"({"epsilon":0.25,"keys_estimated":42})");
  EXPECT_EQ(result_json(*parsed), line);

  // Written back in the engine's member order and number form.
  auto j = nlohmann::json::parse(line);
  j["approximate"] = nlohmann::json::parse(R"({"keys_estimated":7,"epsilon":1e-3})");
  parsed = parse_result(j, "ip-topk", &why);
  ASSERT_TRUE(parsed) << why;
  EXPECT_EQ(parsed->approximate_json, R"({"epsilon":0.001,"keys_estimated":7})");

  auto rejected = [&](const nlohmann::json& approximate, const std::string& query = "ip-topk") {
    auto object = nlohmann::json::parse(line);
    object["query"] = query;
    object["approximate"] = approximate;
    if (query == "protocol-share") object["params"] = nlohmann::json::parse(R"({"T":10,"H":5})");
    std::string reason;
    const bool refused = !parse_result(object, query, &reason);
    EXPECT_NE(reason.find("approximate"), std::string::npos) << reason;
    return refused;
  };
  const auto good = nlohmann::json::parse(R"({"epsilon":0.01,"keys_estimated":5})");
  EXPECT_TRUE(rejected(good, "protocol-topk"));  // the protocol dimension is always exact
  EXPECT_TRUE(rejected(good, "protocol-share"));
  EXPECT_TRUE(rejected(nullptr));
  EXPECT_TRUE(rejected(nlohmann::json::array({0.01, 5})));
  EXPECT_TRUE(rejected(nlohmann::json::parse(R"({"epsilon":-0.01,"keys_estimated":5})")));
  EXPECT_TRUE(rejected(nlohmann::json::parse(R"({"epsilon":1.5,"keys_estimated":5})")));
  EXPECT_TRUE(rejected(nlohmann::json::parse(R"({"epsilon":"0.01","keys_estimated":5})")));
  EXPECT_TRUE(rejected(nlohmann::json::parse(R"({"keys_estimated":5})")));
  EXPECT_TRUE(rejected(nlohmann::json::parse(R"({"epsilon":0.01})")));
  EXPECT_TRUE(rejected(nlohmann::json::parse(R"({"epsilon":0.01,"keys_estimated":-5})")));
  EXPECT_TRUE(rejected(nlohmann::json::parse(R"({"epsilon":0.01,"keys_estimated":5.5})")));
  EXPECT_TRUE(rejected(nlohmann::json::parse(R"({"epsilon":0.01,"keys_estimated":5,"x":1})")));
  // The same object is fine on every ip-* query.
  for (const char* q : {"ip-share", "ip-topk", "ip-outliers"}) {
    auto object = nlohmann::json::parse(line);
    object.erase("query");
    object["params"] = nlohmann::json::parse(q == std::string("ip-share")  ? R"({"T":10,"H":3})"
                                             : q == std::string("ip-topk") ? R"({"T":10,"k":3})"
                                                                           : R"({"T":10,"X":3})");
    object["approximate"] = good;
    ASSERT_TRUE(parse_result(object, q, &why)) << q << ": " << why;
  }
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
