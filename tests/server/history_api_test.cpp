// The history routes (/api/history, /api/top, /api/series, /api/sankey) through the route
// table, without sockets, over a SQLite store in memory with a few known minutes and a fixed
// clock: the JSON of the contract, the defaults, the 400s with one-line reasons, and 503
// without a store. The answers' arithmetic is tested in tests/store/history_query_test.cpp.
#include "server/history_api.hpp"

#include <gtest/gtest.h>

#include "server/handlers.hpp"
#include "store/history.hpp"

namespace netpulse::server {
namespace {

using nlohmann::json;
using store::Dimension;
using store::HistoryBucket;

constexpr core::TimeMs kMin = 60'000;
constexpr core::TimeMs kT = core::days_from_civil(2020, 5, 9) * 86'400'000 + 10 * 3'600'000;
constexpr core::TimeMs kNow = kT + 10 * kMin;  // 2020-05-09T10:10:00Z

HistoryBucket bucket(Dimension d, core::TimeMs start,
                     std::vector<std::pair<std::string, uint64_t>> entries) {
  HistoryBucket b;
  b.start = start;
  b.dimension = d;
  std::sort(entries.begin(), entries.end());
  for (auto& [key, bytes] : entries) {
    b.entries.push_back({key, bytes, 1});
    b.total_bytes += bytes;
    b.total_records += 1;
  }
  return b;
}

// Minutes 0-9 after kT but minute 5: TCP 1000+i and UDP 500; 10.0.0.1 700, 10.0.0.2 300+i,
// 2001:db8::1 100; two conversations.
std::unique_ptr<store::Store> sample_store() {
  std::string why;
  auto s = store::open_store("sqlite::memory:", &why);
  EXPECT_TRUE(s) << why;
  std::vector<HistoryBucket> buckets;
  for (core::TimeMs i = 0; i < 10; ++i) {
    if (i == 5) continue;
    const core::TimeMs t = kT + i * kMin;
    const auto n = static_cast<uint64_t>(i);
    buckets.push_back(bucket(Dimension::kProtocol, t, {{"TCP", 1000 + n}, {"UDP", 500}}));
    buckets.push_back(bucket(Dimension::kSrc, t,
                             {{"10.0.0.1", 700}, {"10.0.0.2", 300 + n}, {"2001:db8::1", 100}}));
    buckets.push_back(bucket(Dimension::kDst, t, {{"192.168.1.1", 800}, {"192.168.1.2", 300 + n}}));
    buckets.push_back(bucket(Dimension::kConversation, t,
                             {{"10.0.0.1 192.168.1.1 TCP", 700},
                              {"10.0.0.2 192.168.1.2 UDP", 300 + n},
                              {"2001:db8::1 192.168.1.1 TCP", 100}}));
  }
  s->put_history(buckets);
  return s;
}

// The whole route table, as WebApp builds it, with a history API over the given store.
class HistoryRoutes {
 public:
  explicit HistoryRoutes(std::unique_ptr<store::Store> store)
      : history_(
            std::move(store),
            [] {
              return json{
                  {"enabled", true},
                  {"keys_per_bucket", 10000},
                  {"resolutions",
                   {{"minute", {{"retention_seconds", 604800}, {"retention_bytes", nullptr}}},
                    {"day", {{"retention_bytes", 1000000}}}}}};
            },
            [] { return kNow; }) {
    add_routes(routes_, api_);
  }
  Reply get(const std::string& target) {
    Request r;
    r.method = Method::kGet;
    EXPECT_TRUE(parse_target(target, r)) << target;
    return routes_.dispatch(r);
  }
  Reply post(const std::string& target) {
    Request r;
    r.method = Method::kPost;
    EXPECT_TRUE(parse_target(target, r)) << target;
    return routes_.dispatch(r);
  }

 private:
  ControlApi control_{nullptr, nullptr};
  ResultsApi results_{nullptr};
  MetricsRegistry metrics_;
  StatusBoard status_{metrics_, control_};
  HistoryApi history_;
  ApiServices api_{control_, results_, status_, metrics_, nullptr, &history_};
  Routes routes_;
};

json body(const Reply& r) {
  return json::parse(r.body, nullptr, false);
}

TEST(HistoryApi, TopAnswersTheContractsShape) {
  HistoryRoutes routes(sample_store());
  const Reply r = routes.get("/api/top?dimension=src");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  const json j = body(r);
  // Defaults: the last hour to now, minute resolution.
  EXPECT_EQ(j["dimension"], "src");
  EXPECT_EQ(j["from"], "2020-05-09T09:10:00.000Z");
  EXPECT_EQ(j["to"], "2020-05-09T10:10:00.000Z");
  EXPECT_EQ(j["from_ms"], kNow - 60 * kMin);
  EXPECT_EQ(j["to_ms"], kNow);
  EXPECT_EQ(j["resolution"], "minute");
  EXPECT_EQ(j["buckets"], 9);
  EXPECT_EQ(j["filtered"], false);
  const uint64_t total = 9 * 700 + (9 * 300 + 40) + 9 * 100;
  EXPECT_EQ(j["total_bytes"], total);
  EXPECT_EQ(j["total_records"], 27);
  ASSERT_EQ(j["rows"].size(), 3u);
  EXPECT_EQ(j["rows"][0], (json{{"key", "10.0.0.1"},
                                {"bytes", 6300},
                                {"records", 9},
                                {"share", 6300.0 / static_cast<double>(total)},
                                {"error_bytes", 0}}));
  EXPECT_EQ(j["rows"][1]["key"], "10.0.0.2");
  EXPECT_EQ(j["rows"][2]["key"], "2001:db8::1");
  EXPECT_EQ(j["other"], (json{{"bytes", 0}, {"records", 0}}));
  EXPECT_EQ(j["absent_bound"], 0);
  EXPECT_EQ(j["exact"], true);
  // Members in the contract's order.
  EXPECT_LT(r.body.find("\"dimension\""), r.body.find("\"from\""));
  EXPECT_LT(r.body.find("\"rows\""), r.body.find("\"other\""));
}

TEST(HistoryApi, TopOfConversationsLimitAndFilter) {
  HistoryRoutes routes(sample_store());
  Reply r = routes.get("/api/top?dimension=conversation&limit=1&from=2020-05-09T10:00:00Z&to=-1m");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = body(r);
  EXPECT_EQ(j["from"], "2020-05-09T10:00:00.000Z");
  EXPECT_EQ(j["to"], "2020-05-09T10:09:00.000Z");
  EXPECT_EQ(j["buckets"], 8);
  ASSERT_EQ(j["rows"].size(), 1u);
  EXPECT_EQ(j["rows"][0]["key"], "10.0.0.1 192.168.1.1 TCP");
  EXPECT_EQ(j["rows"][0]["src"], "10.0.0.1");
  EXPECT_EQ(j["rows"][0]["dst"], "192.168.1.1");
  EXPECT_EQ(j["rows"][0]["protocol"], "TCP");
  EXPECT_EQ(j["rows"][0]["bytes"], 8 * 700);
  EXPECT_EQ(j["other"]["bytes"], j["total_bytes"].get<uint64_t>() - 8 * 700);
  EXPECT_EQ(j["other"]["records"], 16);

  r = routes.get("/api/top?dimension=src&filter=src%3D10.0.0.0%2F8");
  ASSERT_EQ(r.status, 200) << r.body;
  j = body(r);
  EXPECT_EQ(j["filtered"], true);
  EXPECT_EQ(j["total_bytes"], 9 * 700 + 9 * 300 + 40);
  ASSERT_EQ(j["rows"].size(), 2u);
  r = routes.get("/api/top?dimension=conversation&filter=protocol%3Dudp");
  j = body(r);
  ASSERT_EQ(j["rows"].size(), 1u);
  EXPECT_EQ(j["rows"][0]["protocol"], "UDP");
  EXPECT_DOUBLE_EQ(j["rows"][0]["share"].get<double>(), 1.0);
}

TEST(HistoryApi, SeriesOfTheTopKeysAndOfOneKey) {
  HistoryRoutes routes(sample_store());
  Reply r = routes.get(
      "/api/series?dimension=protocol&from=2020-05-09T10:00:00Z&to=2020-05-09T12:10:00%2B02:00");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = body(r);
  EXPECT_EQ(j["resolution"], "minute");
  EXPECT_EQ(j["step_ms"], kMin);
  ASSERT_EQ(j["times"].size(), 10u);
  EXPECT_EQ(j["times"][0], kT);
  EXPECT_EQ(j["times"][9], kT + 9 * kMin);
  EXPECT_EQ(j["missing"], json::array({5}));
  ASSERT_EQ(j["series"].size(), 3u);
  EXPECT_EQ(j["series"][0]["key"], "TCP");
  EXPECT_EQ(j["series"][0]["bytes"][3], 1003);
  EXPECT_EQ(j["series"][0]["bytes"][5], 0);
  EXPECT_EQ(j["series"][0]["error_bytes"][3], 0);
  EXPECT_EQ(j["series"][1]["key"], "UDP");
  EXPECT_EQ(j["series"][2]["key"], "other");
  EXPECT_EQ(j["series"][2]["bytes"][3], 0);
  EXPECT_FALSE(j["series"][2].contains("error_bytes"));
  EXPECT_EQ(j["total_bytes"][3], 1503);

  // Two-minute steps, one key.
  r = routes.get("/api/series?dimension=src&key=10.0.0.2&step=2m&from=" + std::to_string(kT) +
                 "&to=" + std::to_string(kT + 10 * kMin));
  ASSERT_EQ(r.status, 200) << r.body;
  j = body(r);
  EXPECT_EQ(j["step_ms"], 2 * kMin);
  ASSERT_EQ(j["series"].size(), 1u);
  EXPECT_EQ(j["series"][0]["key"], "10.0.0.2");
  EXPECT_EQ(j["series"][0]["bytes"], json::array({601, 605, 304, 613, 617}));
  EXPECT_EQ(j["missing"], json::array());

  // A step that is not a multiple of the resolution is rounded up.
  r = routes.get("/api/series?dimension=src&step=90&from=-10m");
  EXPECT_EQ(body(r)["step_ms"], 2 * kMin);
}

TEST(HistoryApi, SankeyLinksTheTopConversations) {
  HistoryRoutes routes(sample_store());
  const Reply r = routes.get("/api/sankey?from=-10m&limit=2");
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = body(r);
  EXPECT_EQ(j["from_ms"], kT);
  EXPECT_EQ(j["nodes"], (json{{{"name", "src 10.0.0.1"}},
                              {{"name", "src 10.0.0.2"}},
                              {{"name", "proto TCP"}},
                              {{"name", "proto UDP"}},
                              {{"name", "dst 192.168.1.1"}},
                              {{"name", "dst 192.168.1.2"}}}));
  ASSERT_EQ(j["links"].size(), 4u);
  EXPECT_EQ(j["links"][0],
            (json{{"source", "src 10.0.0.1"}, {"target", "proto TCP"}, {"value", 6300}}));
  EXPECT_EQ(j["links"][2],
            (json{{"source", "proto TCP"}, {"target", "dst 192.168.1.1"}, {"value", 6300}}));
  ASSERT_EQ(j["rows"].size(), 2u);
  EXPECT_EQ(j["total_bytes"], 6300 + 2740 + 900);
  EXPECT_EQ(j["other_bytes"], 900);
  EXPECT_EQ(j["exact"], true);
}

TEST(HistoryApi, HistoryShowsWhatIsStoredAndTheSettings) {
  HistoryRoutes routes(sample_store());
  const Reply r = routes.get("/api/history");
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = body(r);
  EXPECT_EQ(j["enabled"], true);
  EXPECT_EQ(j["keys_per_bucket"], 10000);
  EXPECT_EQ(j["now"], "2020-05-09T10:10:00.000Z");
  EXPECT_EQ(j["now_ms"], kNow);
  const json& minute = j["resolutions"]["minute"];
  EXPECT_EQ(minute["buckets"], 36);
  EXPECT_GT(minute["bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(minute["oldest"], "2020-05-09T10:00:00.000Z");
  EXPECT_EQ(minute["newest"], "2020-05-09T10:09:00.000Z");
  EXPECT_EQ(minute["retention_seconds"], 604800);
  EXPECT_EQ(minute["retention_bytes"], nullptr);
  const json& hour = j["resolutions"]["hour"];
  EXPECT_EQ(hour["buckets"], 0);
  EXPECT_EQ(hour["oldest"], nullptr);
  EXPECT_EQ(hour["retention_seconds"], nullptr);
  EXPECT_EQ(j["resolutions"]["day"]["retention_bytes"], 1000000);
  EXPECT_EQ(j["dimensions"], json::array({"protocol", "src", "dst", "conversation"}));
}

TEST(HistoryApi, BadParametersAre400WithOneLine) {
  HistoryRoutes routes(sample_store());
  const std::pair<const char*, const char*> cases[] = {
      {"/api/top", "dimension is required"},
      {"/api/top?dimension=port", "unknown dimension 'port'"},
      {"/api/top?dimension=src&from=yesterday", "from: 'yesterday' is not a time"},
      {"/api/top?dimension=src&to=2020-13-01", "to: '2020-13-01' is not a time"},
      {"/api/top?dimension=src&from=-1h&to=-2h", "must be before to"},
      {"/api/top?dimension=src&from=-500d", "longer than 400 days"},
      {"/api/top?dimension=src&limit=0", "limit must be a whole number from 1 to 1000"},
      {"/api/top?dimension=src&limit=1001", "limit must be"},
      {"/api/top?dimension=src&limit=ten", "limit must be"},
      {"/api/top?dimension=src&filter=dst%3D10.0.0.1", "does not apply to dimension src"},
      {"/api/top?dimension=src&filter=src%3D10.0.0.0%2F99", "not an address or CIDR"},
      {"/api/top?dimension=protocol&filter=port%3D80", "unknown filter field 'port'"},
      {"/api/series?dimension=src&step=5x", "step: '5x' is not a duration"},
      {"/api/series?dimension=src&limit=-1", "limit must be"},
      {"/api/series?from=-1h", "dimension is required"},
      {"/api/sankey?filter=key", "not field=value"},
      {"/api/sankey?to=soon", "to: 'soon' is not a time"},
  };
  for (const auto& [target, says] : cases) {
    const Reply r = routes.get(target);
    EXPECT_EQ(r.status, 400) << target << ": " << r.body;
    const json j = body(r);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << target << ": " << r.body;
    const std::string error = j["error"];
    EXPECT_NE(error.find(says), std::string::npos) << target << ": " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << target;
  }
  EXPECT_EQ(routes.post("/api/top?dimension=src").status, 405);
}

TEST(HistoryApi, NoStoreIs503) {
  HistoryRoutes routes(nullptr);
  for (const char* target :
       {"/api/history", "/api/top?dimension=src", "/api/series?dimension=dst", "/api/sankey"}) {
    const Reply r = routes.get(target);
    EXPECT_EQ(r.status, 503) << target;
    EXPECT_TRUE(body(r).contains("error")) << target;
  }
}

TEST(HistoryApi, NowFollowsAnOldStore) {
  // The sample's newest minute ends at kT + 10 min; seen 3 days later, "now" is that end.
  HistoryApi api(sample_store(), {}, [] { return kNow + 3 * 86'400'000; });
  Request req;
  ASSERT_TRUE(parse_target("/api/top?dimension=protocol&from=-30m", req));
  const json j = body(api.top(req));
  EXPECT_EQ(j["to_ms"], kNow);
  EXPECT_EQ(j["from_ms"], kNow - 30 * kMin);
  ASSERT_TRUE(parse_target("/api/history", req));
  const json h = body(api.history(req));
  EXPECT_EQ(h["now_ms"], kNow);
  EXPECT_EQ(h["enabled"], false);
  EXPECT_EQ(h["keys_per_bucket"], nullptr);
}

}  // namespace
}  // namespace netpulse::server
