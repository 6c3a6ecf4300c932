// Scale-out on real Kafka clients against librdkafka's mock cluster: records produced by kcat
// (a third-party client), `netpulse process` instances in one consumer group, `netpulse merge`
// — and the merged results must be byte for byte those of one `netpulse process` on the file,
// also when an instance is killed with SIGKILL mid-stream and when brokers fail.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "kafka_test_support.hpp"

namespace netpulse::testkafka {
namespace {

const std::vector<std::string> kQuery = {"--T", "10", "--H", "5", "--k", "3", "--X", "1.5"};

// A generated flow file of `count` records, with a few malformed lines in it.
std::string make_flows(const TempDir& dir, int count, const std::string& name = "flows.txt",
                       int rate = 20000) {
  const std::string path = dir / name;
  const auto g = run_netpulse({"generate", "--count", std::to_string(count), "--rate", std::to_string(rate),
                               "--seed", "11", "--start-time", "2020-05-09 20:41:00",
                               "--output", "file:" + path},
                              dir);
  if (g.code != 0) throw std::runtime_error("generate: " + g.err);
  std::string text = read_file(path);
  const size_t mid = text.find('\n', text.size() / 2) + 1;
  text.insert(mid, "not a record\n2020-05-09 20:41:01 TCP 1.2.3.4 5.6.7.8 -5\n");
  write_file(path, text);
  return path;
}

std::string expected_results(const TempDir& dir, const std::string& flows) {
  std::vector<std::string> args{"process", "--input", flows, "--quiet"};
  args.insert(args.end(), kQuery.begin(), kQuery.end());
  const auto r = run_netpulse(args, dir);
  if (r.code != 0) throw std::runtime_error("process: " + r.err);
  return r.out;
}

std::vector<std::string> instance_args(const std::string& boot, const std::string& group,
                                       bool exit_at_end) {
  std::vector<std::string> a{"process", "--input", kafka_uri(boot, "flows", group)};
  a.insert(a.end(), kConsumerArgs.begin(), kConsumerArgs.end());
  if (exit_at_end) a.push_back("--exit-at-end");
  return a;
}

std::vector<std::string> merge_args(const std::string& boot) {
  std::vector<std::string> a{"merge", "--input", kafka_uri(boot, "flows.panes"), "--exit-at-end"};
  a.insert(a.end(), kQuery.begin(), kQuery.end());
  return a;
}

// Every stored result, in a fixed order, as text (the sqlite3 command-line tool).
std::string dump_results(const TempDir& dir, const std::string& db) {
  const std::string out = dir / "dump.txt";
  const std::string cmd = "sqlite3 '" + db + "' \"SELECT window_start, window_end, query, params, records, "
                          "total_bytes, keys, \\\"rows\\\" FROM results ORDER BY window_end, query, params\" > '" +
                          out + "'";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("sqlite3 failed: " + cmd);
  return read_file(out);
}

// The stored traffic history of some dimensions, in a fixed order, as text.
std::string dump_history(const TempDir& dir, const std::string& db, const std::string& dimensions) {
  const std::string out = dir / "history.txt";
  const std::string cmd = "sqlite3 '" + db + "' \"SELECT resolution, dimension, start, origin, total_bytes, "
                          "total_records, other_bytes, other_records, cut_bytes, error_bytes, hex(entries) "
                          "FROM history WHERE dimension IN (" + dimensions + ") ORDER BY 1, 2, 3, 4\" > '" + out + "'";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("sqlite3 failed: " + cmd);
  return read_file(out);
}

uint64_t records_read(const std::string& err) {
  const auto pos = err.rfind(" records read");
  if (pos == std::string::npos) return 0;
  const auto start = err.rfind(' ', pos - 1);
  return std::stoull(err.substr(start + 1, pos - start - 1));
}

// Splits the file's lines into `parts` consecutive pieces.
std::vector<std::string> split_file(const TempDir& dir, const std::string& path, int parts) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::vector<std::string> out;
  for (int p = 0; p < parts; ++p) {
    std::string text;
    for (size_t i = lines.size() * p / parts; i < lines.size() * (p + 1) / parts; ++i) text += lines[i] + "\n";
    out.push_back(dir / ("part" + std::to_string(p)));
    write_file(out.back(), text);
  }
  return out;
}

TEST(ScaleOut, TwoInstancesAndMergeGiveExactlyTheResultsOfOneProcess) {
  TempDir dir;
  auto mock = start_mock({{"flows", 8}, {"flows.panes", 1}});
  const std::string boot = mock->bootstraps();
  const std::string flows = make_flows(dir, 60000);
  const std::string want = expected_results(dir, flows);
  ASSERT_GT(want.size(), 1000u);

  run_kcat_produce(boot, "flows", flows, true, dir);
  Child a(instance_args(boot, "g", true), dir);
  Child b(instance_args(boot, "g", true), dir);
  Child merge(merge_args(boot), dir);
  ASSERT_TRUE(merge.wait(std::chrono::seconds(90))) << merge.err();
  ASSERT_TRUE(a.wait(std::chrono::seconds(30))) << a.err();
  ASSERT_TRUE(b.wait(std::chrono::seconds(30))) << b.err();
  EXPECT_EQ(a.exit_code(), 0) << a.err();
  EXPECT_EQ(b.exit_code(), 0) << b.err();
  EXPECT_EQ(merge.exit_code(), 0) << merge.err();
  EXPECT_EQ(merge.out(), want) << "merge: " << merge.err() << "\nA: " << a.err() << "\nB: " << b.err();
  // Both members were given partitions. (Which records each read depends on when each joined:
  // on a loaded machine one may finish before the other is in; a rebalance makes the new owner
  // read from the last commit again.)
  EXPECT_NE(a.err().find("assigned partitions ["), std::string::npos) << a.err();
  EXPECT_NE(b.err().find("assigned partitions ["), std::string::npos) << b.err();
  EXPECT_GE(records_read(a.err()) + records_read(b.err()), 60002u);
}

TEST(ScaleOut, AnInstanceKilledMidStreamIsReplayedExactly) {
  TempDir dir;
  auto mock = start_mock({{"flows", 8}, {"flows.panes", 1}});
  const std::string boot = mock->bootstraps();
  const std::string flows = make_flows(dir, 90000);
  const std::string want = expected_results(dir, flows);
  const auto parts = split_file(dir, flows, 3);

  run_kcat_produce(boot, "flows", parts[0], true, dir);
  Child merge(merge_args(boot), dir);
  auto a = std::make_unique<Child>(instance_args(boot, "g", false), dir);
  Child b(instance_args(boot, "g", false), dir);
  // Mid-stream: windows have come out of the merge, so both have published and committed.
  ASSERT_TRUE(testref::wait_until([&] { return merge.out().size() > 0; }, std::chrono::seconds(30)))
      << merge.err() << a->err() << b.err();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  a->signal(SIGKILL);
  ASSERT_TRUE(a->wait());
  run_kcat_produce(boot, "flows", parts[1], true, dir);
  Child a2(instance_args(boot, "g", false), dir);  // the restart
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  run_kcat_produce(boot, "flows", parts[2], true, dir);
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  // A graceful stop commits and leaves; a last member drains the rest and ends the stream.
  b.signal(SIGTERM);
  a2.signal(SIGTERM);
  ASSERT_TRUE(b.wait());
  ASSERT_TRUE(a2.wait());
  EXPECT_EQ(b.exit_code(), 0) << b.err();
  EXPECT_EQ(a2.exit_code(), 0) << a2.err();
  Child drain(instance_args(boot, "g", true), dir);
  ASSERT_TRUE(drain.wait(std::chrono::seconds(60))) << drain.err();
  EXPECT_EQ(drain.exit_code(), 0) << drain.err();
  ASSERT_TRUE(merge.wait(std::chrono::seconds(30))) << merge.err();
  EXPECT_EQ(merge.exit_code(), 0) << merge.err();
  EXPECT_EQ(merge.out(), want) << "merge: " << merge.err() << "\nB: " << b.err() << "\nA2: " << a2.err()
                               << "\ndrain: " << drain.err();
}

TEST(ScaleOut, BrokerErrorsAreRetriedWithNothingLostOrDoubled) {
  TempDir dir;
  auto mock = start_mock({{"flows", 8}, {"flows.panes", 1}});
  const std::string boot = mock->bootstraps();
  const std::string flows = make_flows(dir, 60000);
  run_kcat_produce(boot, "flows", flows, true, dir);
  const std::string want = expected_results(dir, flows);

  // Produce (panes), Fetch (records and panes) and OffsetCommit (8) requests fail for a while,
  // and one broker goes away for a second and a half.
  mock->push_request_errors(kafka::kApiProduce,
                            {RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                             RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION});
  mock->push_request_errors(kafka::kApiFetch,
                            {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR__TRANSPORT,
                             RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART});
  mock->push_request_errors(8, {RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT});
  Child merge(merge_args(boot), dir);
  Child a(instance_args(boot, "g", true), dir);
  Child b(instance_args(boot, "g", true), dir);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(mock->set_broker_down(2, true));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_TRUE(mock->set_broker_down(2, false));
  ASSERT_TRUE(merge.wait(std::chrono::seconds(90))) << merge.err() << a.err() << b.err();
  ASSERT_TRUE(a.wait(std::chrono::seconds(30))) << a.err();
  ASSERT_TRUE(b.wait(std::chrono::seconds(30))) << b.err();
  EXPECT_EQ(a.exit_code(), 0) << a.err();
  EXPECT_EQ(b.exit_code(), 0) << b.err();
  EXPECT_EQ(merge.exit_code(), 0) << merge.err();
  EXPECT_EQ(merge.out(), want) << "merge: " << merge.err() << "\nA: " << a.err() << "\nB: " << b.err();
}

// merge killed with SIGKILL mid-stream and started again on the same store: it reads the panes
// again from the start, emits every window again, and the store ends up with exactly the rows
// `netpulse process --store` writes for the same records (replacing, never doubling).
TEST(ScaleOut, StoreAfterMergeIsKilledEqualsARunWithoutCrash) {
  TempDir dir;
  auto mock = start_mock({{"flows", 8}, {"flows.panes", 1}});
  const std::string boot = mock->bootstraps();
  const std::string flows = make_flows(dir, 60000);
  // History summed exactly (60,000 records a minute would be sampled by default): merge's is
  // exact, from the panes' sums.
  std::vector<std::string> single{"process", "--input", flows, "--quiet", "--store", "sqlite:" + dir / "single.db",
                                  "--output", dir / "single.json", "--history-sample", "0"};
  single.insert(single.end(), kQuery.begin(), kQuery.end());
  ASSERT_EQ(run_netpulse(single, dir).code, 0);
  run_kcat_produce(boot, "flows", flows, true, dir);

  // The instance's conversation samples keep every record, so merge's history is exact too.
  auto exact = instance_args(boot, "g", true);
  exact.insert(exact.end(), {"--history-sample", "0"});
  Child instance(exact, dir);
  std::vector<std::string> m{"merge", "--input", kafka_uri(boot, "flows.panes"), "--store",
                             "sqlite:" + dir / "merged.db"};
  m.insert(m.end(), kQuery.begin(), kQuery.end());
  auto first = std::make_unique<Child>(m, dir);
  ASSERT_TRUE(testref::wait_until([&] { return first->out().size() > 2000; }, std::chrono::seconds(30)))
      << first->err();
  first->signal(SIGKILL);
  ASSERT_TRUE(first->wait());
  ASSERT_TRUE(instance.wait(std::chrono::seconds(60))) << instance.err();
  m.push_back("--exit-at-end");
  Child second(m, dir);
  ASSERT_TRUE(second.wait(std::chrono::seconds(60))) << second.err();
  EXPECT_EQ(second.exit_code(), 0) << second.err();
  const std::string want = dump_results(dir, dir / "single.db");
  ASSERT_GT(want.size(), 1000u);
  EXPECT_EQ(dump_results(dir, dir / "merged.db"), want);
  // Traffic history (issue 17): merge writes it from the panes (protocol, and source address:
  // the instances' --ip-key) and their samples (destination, conversation), and with samples
  // that keep every record it equals what `process --store` writes from the records, byte for
  // byte, in every dimension.
  const std::string dims = "'protocol', 'src', 'dst', 'conversation'";
  const std::string history = dump_history(dir, dir / "single.db", dims);
  for (const char* d : {"minute|protocol|", "minute|src|", "minute|dst|", "minute|conversation|"})
    ASSERT_NE(history.find(d), std::string::npos) << d << "\n" << history;
  EXPECT_EQ(dump_history(dir, dir / "merged.db", dims), history);
}

// merge --control: "stop" pauses reading panes (nothing is emitted meanwhile, nothing lost),
// "start" resumes, and the results are the whole run's.
TEST(ScaleOut, MergeControlPortStopsAndStarts) {
  TempDir dir;
  auto mock = start_mock({{"flows", 8}, {"flows.panes", 1}});
  const std::string boot = mock->bootstraps();
  const std::string flows = make_flows(dir, 30000);
  const std::string want = expected_results(dir, flows);
  const uint16_t port = testref::free_port();
  std::vector<std::string> m = merge_args(boot);
  m.insert(m.end(), {"--control", "tcp://127.0.0.1:" + std::to_string(port)});
  Child merge(m, dir);
  testref::Connection control(port);
  ASSERT_TRUE(control.send("stop\n"));
  EXPECT_EQ(control.read_line(), "ok");
  run_kcat_produce(boot, "flows", flows, true, dir);
  Child instance(instance_args(boot, "g", true), dir);
  ASSERT_TRUE(instance.wait(std::chrono::seconds(60))) << instance.err();
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  EXPECT_EQ(merge.out(), "") << "stopped, yet it emitted";
  EXPECT_TRUE(merge.running());
  ASSERT_TRUE(control.send("start\n"));
  EXPECT_EQ(control.read_line(), "ok");
  ASSERT_TRUE(merge.wait(std::chrono::seconds(60))) << merge.err();
  EXPECT_EQ(merge.exit_code(), 0) << merge.err();
  EXPECT_EQ(merge.out(), want);
}

// Records in 2 of 8 partitions: the 6 empty ones hold the watermark (the minimum) back until
// --idle-timeout marks them idle; with --idle-timeout 0, merge emits nothing.
TEST(ScaleOut, IdlePartitionsDoNotStallResults) {
  TempDir dir;
  auto mock = start_mock({{"flows", 8}, {"flows.panes", 1}});
  const std::string boot = mock->bootstraps();
  // 20 s of event time: partition 0 holds the first 10 s, partition 5 the next 10 s, so
  // partition 5's panes become complete while the records come in, and partition 0's too.
  const std::string flows = make_flows(dir, 20000, "flows.txt", 1000);
  const auto parts = split_file(dir, flows, 2);
  run_kcat({"-P", "-b", boot, "-t", "flows", "-p", "0", "-l", parts[0]}, dir);
  run_kcat({"-P", "-b", boot, "-t", "flows", "-p", "5", "-l", parts[1]}, dir);
  for (const char* idle : {"0", "1s"}) {
    SCOPED_TRACE(std::string("--idle-timeout ") + idle);
    const std::string group = std::string("idle") + (idle[0] == '0' ? "0" : "1");
    const std::string panes = "panes-" + group;
    mock->create_topic(panes, 1, nullptr);
    std::vector<std::string> args = instance_args(boot, group, false);
    args.insert(args.end(), {"--idle-timeout", idle, "--panes-topic", panes});
    Child instance(args, dir);
    std::vector<std::string> m{"merge", "--input", kafka_uri(boot, panes)};
    m.insert(m.end(), kQuery.begin(), kQuery.end());
    Child merge(m, dir);
    const bool emitted =
        testref::wait_until([&] { return !merge.out().empty(); }, std::chrono::seconds(idle[0] == '0' ? 8 : 30));
    if (idle[0] == '0') {
      EXPECT_FALSE(emitted) << "six partitions never said anything: merge must wait";
    } else {
      EXPECT_TRUE(emitted) << merge.err() << instance.err();
      // Every window up to the data's end comes out: the records' last pane is complete.
      ASSERT_TRUE(testref::wait_until(
          [&] {
            const std::string out = merge.out();
            return std::count(out.begin(), out.end(), '\n') >= 6 * 3;
          },
          std::chrono::seconds(20)));
    }
    instance.signal(SIGTERM);
    merge.signal(SIGTERM);
    ASSERT_TRUE(instance.wait());
    ASSERT_TRUE(merge.wait());
    EXPECT_EQ(instance.exit_code(), 0) << instance.err();
    EXPECT_EQ(merge.exit_code(), 0) << merge.err();
  }
}

// --output kafka://: every result object is one message, keyed by its query, in window order
// per query; the same objects as the JSON lines.
TEST(ScaleOut, ResultsGoToAKafkaTopic) {
  TempDir dir;
  auto mock = start_mock({{"results", 3}});
  const std::string boot = mock->bootstraps();
  const std::string flows = make_flows(dir, 20000);
  const std::string want = expected_results(dir, flows);
  std::vector<std::string> args{"process", "--input", flows, "--output", kafka_uri(boot, "results"), "--quiet"};
  args.insert(args.end(), kQuery.begin(), kQuery.end());
  const auto r = run_netpulse(args, dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  const std::string path = dir / "results.kcat";
  run_kcat_consume(boot, "results", path, dir, "%k\t%s\n");
  std::map<std::string, std::vector<std::string>> got, expected;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    const size_t tab = line.find('\t');
    ASSERT_NE(tab, std::string::npos) << line;
    got[line.substr(0, tab)].push_back(line.substr(tab + 1));
  }
  std::istringstream lines(want);
  for (std::string line; std::getline(lines, line);) {
    const size_t q = line.find("\"query\":\"") + 9;
    expected[line.substr(q, line.find('"', q) - q)].push_back(line);
  }
  ASSERT_EQ(expected.size(), 6u);
  EXPECT_EQ(got, expected);
}

TEST(ScaleOut, BadKafkaArgumentsAreUsageErrors) {
  TempDir dir;
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"process", "--input", "kafka://127.0.0.1:1/flows"},              // no group
           {"process", "--input", "kafka://127.0.0.1:1"},                    // no topic
           {"process", "--input", "kafka://127.0.0.1:1/t?group=g", "--format", "csv"},
           {"process", "--input", "kafka://127.0.0.1:1/t?group=g", "--kafka-property", "oops"},
           {"merge", "--input", "flows.txt"},
       }) {
    const auto r = run_netpulse(args, dir);
    EXPECT_EQ(r.code, 2) << args[2] << ": " << r.err;
    EXPECT_NE(r.err.find("netpulse: "), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace netpulse::testkafka
