// The memory budget through real Kafka clients (librdkafka's mock cluster, records produced by
// kcat): `netpulse process --input kafka://... --memory-limit` instances summarize the panes a
// flood of spoofed sources fills, `netpulse merge` merges their summaries, and the results keep
// every guarantee of spec section 9 against the exact sums; without a flood, a bounded run is
// byte for byte an unbounded one.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "../support/flood_traffic.hpp"
#include "kafka_test_support.hpp"

namespace netpulse::testkafka {
namespace {

// T 5 over one-second panes; merge keeps 20 panes (its budget must fit --max-window).
const std::vector<std::string> kQuery = {"--T", "5", "--H", "2", "--k", "5", "--X", "2"};
constexpr double kH = 2;
constexpr size_t kK = 5;

std::string write_flows(const TempDir& dir, const std::vector<FloodRec>& recs,
                        const std::string& name) {
  const std::string path = dir / name;
  write_file(path, flood_text(recs));
  return path;
}

// One process on the file, without a budget: the exact results.
std::string exact_results(const TempDir& dir, const std::string& flows) {
  std::vector<std::string> args{"process",        "--input", flows,          "--quiet",
                                "--memory-limit", "0",       "--max-window", "20"};
  args.insert(args.end(), kQuery.begin(), kQuery.end());
  const auto r = run_netpulse(args, dir);
  if (r.code != 0) throw std::runtime_error("process: " + r.err);
  return r.out;
}

std::vector<std::string> instance_args(const std::string& boot, const std::string& group,
                                       const std::string& panes, const std::string& limit) {
  std::vector<std::string> a{"process",
                             "--input",
                             kafka_uri(boot, "flows", group),
                             "--exit-at-end",
                             "--panes-topic",
                             panes,
                             "--memory-limit",
                             limit};
  a.insert(a.end(), kConsumerArgs.begin(), kConsumerArgs.end());
  return a;
}

struct MergeRun {
  std::string out, err;
};

// Two instances in group `group` publishing to `panes`, and merge on it, to the end.
MergeRun scale_out(kafka::MockCluster& mock, const TempDir& dir, const std::string& group,
                   const std::string& panes, const std::string& instance_limit,
                   const std::string& merge_limit) {
  std::string why;
  if (!mock.create_topic(panes, 1, &why)) throw std::runtime_error(why);
  const std::string boot = mock.bootstraps();
  Child a(instance_args(boot, group, panes, instance_limit), dir);
  Child b(instance_args(boot, group, panes, instance_limit), dir);
  std::vector<std::string> m{"merge",        "--input", kafka_uri(boot, panes), "--exit-at-end",
                             "--max-window", "20",      "--memory-limit",       merge_limit};
  m.insert(m.end(), kQuery.begin(), kQuery.end());
  Child merge(m, dir);
  const bool done = merge.wait(std::chrono::seconds(60));
  EXPECT_TRUE(done) << merge.err();
  EXPECT_TRUE(a.wait(std::chrono::seconds(30))) << a.err();
  EXPECT_TRUE(b.wait(std::chrono::seconds(30))) << b.err();
  if (done) {
    EXPECT_EQ(merge.exit_code(), 0) << merge.err();
  }
  EXPECT_EQ(a.exit_code(), 0) << a.err();
  EXPECT_EQ(b.exit_code(), 0) << b.err();
  return MergeRun{merge.out(), merge.err() + "\nA: " + a.err() + "\nB: " + b.err()};
}

// The bytes of every message of a topic (kcat's %S).
uint64_t topic_bytes(const std::string& boot, const std::string& topic, const TempDir& dir) {
  const std::string path = dir / ("sizes." + topic);
  run_kcat_consume(boot, topic, path, dir, "%S\n");
  std::ifstream in(path);
  uint64_t total = 0;
  for (std::string line; std::getline(in, line);) total += std::stoull(line);
  return total;
}

// 210,000 new sources in second 4 (26,000 per partition, past the instances' limit of about
// 13,000 a partition's pane under --memory-limit 128MiB; m = 69): the windows that hold it are
// approximate and within the bounds, the others exact, and the panes the instances publish
// stay small.
TEST(ScaleOutBudget, AFloodIsSummarizedByTheInstancesAndMergedWithinTheBounds) {
  TempDir dir;
  auto mock = start_mock({{"flows", 8}});
  FloodShape shape;
  shape.seconds = 12;
  shape.flood_seconds = {4};
  shape.flood = 210000;
  const auto recs = make_flood_traffic(shape);
  const std::string flows = write_flows(dir, recs, "flood.txt");
  const std::string exact = exact_results(dir, flows);
  run_kcat_produce(mock->bootstraps(), "flows", flows, true, dir);

  const MergeRun run = scale_out(*mock, dir, "g", "flows.panes", "128MiB", "64MiB");
  const BoundsReport report =
      check_flood_results(run.out, exact, per_second(recs, shape.seconds), kH, kK);
  EXPECT_GE(report.windows, 10u);
  EXPECT_EQ(report.approximate, 5u) << "the windows holding second 4 (T 5)\n" << run.err;
  EXPECT_GT(report.max_epsilon, 0);
  EXPECT_LT(report.max_epsilon, 0.05);
  // The instance that held the flood's source partitions says so in its summary.
  EXPECT_NE(run.err.find("panes were published as summaries"), std::string::npos) << run.err;
  // Exact, the flood's pane alone would be 210,000 address lines (over 5 MB).
  EXPECT_LT(topic_bytes(mock->bootstraps(), "flows.panes", dir), 1500000u);
}

// Without a flood the budget changes nothing: instances and merge under small budgets give, byte
// for byte, what they give unbounded, and what one process gives.
TEST(ScaleOutBudget, WithoutAFloodABoundedRunIsByteIdenticalToAnUnboundedOne) {
  TempDir dir;
  auto mock = start_mock({{"flows", 8}});
  FloodShape shape;
  shape.seconds = 12;
  shape.flood_seconds = {};
  shape.normal = 4000;
  shape.sources = 20000;
  const auto recs = make_flood_traffic(shape);
  const std::string flows = write_flows(dir, recs, "calm.txt");
  const std::string exact = exact_results(dir, flows);
  ASSERT_GT(exact.size(), 1000u);
  run_kcat_produce(mock->bootstraps(), "flows", flows, true, dir);

  const MergeRun bounded = scale_out(*mock, dir, "bounded", "panes-bounded", "128MiB", "64MiB");
  const MergeRun unbounded = scale_out(*mock, dir, "unbounded", "panes-unbounded", "0", "0");
  EXPECT_EQ(bounded.out, unbounded.out) << bounded.err;
  EXPECT_EQ(unbounded.out, exact) << unbounded.err;
  EXPECT_EQ(bounded.out.find("approximate"), std::string::npos);
  EXPECT_EQ(bounded.err.find("published as summaries"), std::string::npos) << bounded.err;
}

}  // namespace
}  // namespace netpulse::testkafka
