// `netpulse merge --web`: the HTTP API over the merged results serves exactly what one
// `netpulse process` computes on the same records, /api/status shows the cluster (which
// instance owns which source partition, their state and lag), /metrics has the merge's series,
// and the control plane changes the merge's parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../server/server_test_support.hpp"
#include "kafka_test_support.hpp"

namespace netpulse::testkafka {
namespace {

using nlohmann::json;
using server::testing::http;

const std::vector<std::string> kQuery = {"--T", "10", "--H", "5", "--k", "3", "--X", "1.5"};
const std::vector<std::string> kQueries = {"protocol-share", "protocol-topk", "protocol-outliers",
                                           "ip-share",       "ip-topk",       "ip-outliers"};

// process's JSON lines, by query, in window order.
std::map<std::string, std::vector<json>> by_query(const std::string& lines) {
  std::map<std::string, std::vector<json>> out;
  std::istringstream in(lines);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) {
      json j = json::parse(line);
      out[j["query"].get<std::string>()].push_back(std::move(j));
    }
  return out;
}

TEST(MergeWeb, ServesExactlyTheResultsOfOneProcessAndTheCluster) {
  TempDir dir;
  auto mock = start_mock({{"flows", 4}, {"flows.panes", 2}});
  const std::string boot = mock->bootstraps();
  const std::string flows = dir / "flows.txt";
  ASSERT_EQ(run_netpulse({"generate", "--count", "20000", "--rate", "20000", "--seed", "5",
                          "--start-time", "2020-05-09 20:41:00", "--output", "file:" + flows},
                         dir)
                .code,
            0);
  std::vector<std::string> ref{"process", "--input", flows, "--quiet"};
  ref.insert(ref.end(), kQuery.begin(), kQuery.end());
  const auto want_run = run_netpulse(ref, dir);
  ASSERT_EQ(want_run.code, 0) << want_run.err;
  const auto want = by_query(want_run.out);
  ASSERT_EQ(want.size(), 6u);
  const size_t windows = want.at("protocol-share").size();
  ASSERT_GT(windows, 5u);

  run_kcat_produce(boot, "flows", flows, true, dir);
  const uint16_t port = testref::free_port();
  std::vector<std::string> m{"merge",  "--input", kafka_uri(boot, "flows.panes"),
                             "--web",  "127.0.0.1:" + std::to_string(port),
                             "--store", "sqlite:" + (dir / "merged.db"), "--token", "s3cret"};
  m.insert(m.end(), kQuery.begin(), kQuery.end());
  Child merge(m, dir);
  std::vector<std::unique_ptr<Child>> instances;
  for (const char* name : {"alpha", "beta"}) {
    std::vector<std::string> a{"process", "--input", kafka_uri(boot, "flows", "g"),
                               "--instance-name", name, "--exit-at-end"};
    a.insert(a.end(), kConsumerArgs.begin(), kConsumerArgs.end());
    instances.push_back(std::make_unique<Child>(a, dir));
  }
  for (auto& i : instances) {
    ASSERT_TRUE(i->wait(std::chrono::seconds(60))) << i->err();
    ASSERT_EQ(i->exit_code(), 0) << i->err();
  }

  // Every partition ended: merge emits every window and keeps serving.
  json status;
  ASSERT_TRUE(testref::eventually(
      [&] {
        status = http(port, "GET", "/api/status").json();
        return status.is_object() && status["windows"] == windows &&
               status["store"]["queue_depth"] == 0;
      },
      std::chrono::seconds(60)))
      << status.dump() << "\n" << merge.err();
  EXPECT_TRUE(merge.running());

  // The cluster: 4 source partitions, all ended, each owned by one of the two instances.
  const json& cluster = status["cluster"];
  ASSERT_TRUE(cluster.is_object()) << status.dump();
  EXPECT_EQ(cluster["source"]["topic"], "flows");
  EXPECT_EQ(cluster["source"]["partitions"], 4);
  ASSERT_EQ(cluster["partitions"].size(), 4u);
  EXPECT_TRUE(cluster["merged_below"].is_string()) << "all ended: everything is merged";
  std::set<std::string> owners;
  for (const json& p : cluster["partitions"]) {
    EXPECT_EQ(p["state"], "ended") << p.dump();
    EXPECT_EQ(p["lag_seconds"], 0.0) << p.dump();
    ASSERT_TRUE(p["owner"].is_string()) << p.dump();
    owners.insert(p["owner"].get<std::string>());
    EXPECT_TRUE(p["last_merged_pane"].is_string()) << p.dump();
  }
  for (const std::string& o : owners) EXPECT_TRUE(o == "alpha" || o == "beta") << o;
  EXPECT_EQ(status["records"]["read"], 20000) << "the records merged";

  // The API's results are those of one process, window for window.
  for (const std::string& q : kQueries) {
    const auto reply = http(port, "GET", "/api/results/" + q + "?limit=10000");
    ASSERT_EQ(reply.status, 200) << reply.body;
    const std::vector<json> got = reply.json()["results"].get<std::vector<json>>();  // oldest first
    const auto& expected = want.at(q);
    ASSERT_EQ(got.size(), expected.size()) << q;
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], expected[i]) << q << " window " << i;
  }

  // /metrics carries the merge's series, per partition.
  const std::string metrics = http(port, "GET", "/metrics").body;
  EXPECT_NE(metrics.find("netpulse_merge_pane_messages_total"), std::string::npos);
  EXPECT_NE(metrics.find("netpulse_merge_partition_lag_seconds{partition=\"3\"} 0"), std::string::npos)
      << metrics;

  // The control plane: the token is required, and new parameters are in force.
  EXPECT_EQ(http(port, "PUT", "/api/processor/params", R"({"T":20})").status, 401);
  const auto put = http(port, "PUT", "/api/processor/params", R"({"T":20,"k":5})", "s3cret");
  EXPECT_EQ(put.status, 200) << put.body;
  status = http(port, "GET", "/api/status").json();
  EXPECT_EQ(status["processor"]["params"]["T"], 20) << status["processor"].dump();
  EXPECT_EQ(status["processor"]["params"]["k"], 5) << status["processor"].dump();

  merge.signal(SIGTERM);
  ASSERT_TRUE(merge.wait(std::chrono::seconds(20)));
  EXPECT_EQ(merge.exit_code(), 0) << merge.err();
  EXPECT_NE(merge.err().find("dashboard and API at http://127.0.0.1:"), std::string::npos) << merge.err();
}

TEST(MergeWeb, WebOptionsNeedAPortAndWebOnlyOptionsAreChecked) {
  TempDir dir;
  const auto r = run_netpulse({"merge", "--input", "kafka://127.0.0.1:1/flows.panes", "--web",
                               "127.0.0.1:notaport"},
                              dir);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("notaport"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;
}

}  // namespace
}  // namespace netpulse::testkafka
