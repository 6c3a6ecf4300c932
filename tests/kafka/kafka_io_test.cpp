// kafka:// inputs and outputs against the mock cluster, checked with kcat and with the same
// commands over files: generate's records arrive once each, keyed by source address; classify
// over a topic finds what it finds over the file; bad addresses are usage errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "kafka/kafka_sink.hpp"
#include "kafka/kafka_source.hpp"
#include "kafka_test_support.hpp"

namespace netpulse::kafka {
namespace {

using namespace std::chrono_literals;
using testkafka::TempDir;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// "2020-05-09 00:00:00.000 HTTP 10.0.0.1 10.1.0.1 100" for i = 0, 1, ...: distinct lines over
// `sources` source addresses.
std::string flow_lines(size_t n, size_t sources) {
  std::string out;
  char buf[128];
  for (size_t i = 0; i < n; ++i) {
    const size_t s = i % sources;
    std::snprintf(buf, sizeof buf, "2020-05-09 00:%02zu:%02zu.%03zu HTTP 10.0.%zu.%zu 10.1.0.1 %zu\n",
                  i / 60000 % 60, i / 1000 % 60, i % 1000, s / 256, s % 256, i);
    out += buf;
  }
  return out;
}

TEST(RecordKey, IsTheSourceAddress) {
  EXPECT_EQ(record_key("2020-05-09 20:41:37.123 SOAP 222.186.237.75 53.215.218.189 6772"),
            "222.186.237.75");
  EXPECT_EQ(record_key("2020-05-09\t20:41:37  SOAP   ::1 ::2 1"), "::1");
  EXPECT_EQ(record_key(" 2020-05-09 20:41:37 SOAP 10.0.0.1"), "10.0.0.1");
  // Too few fields: the whole line (malformed; any partition will do).
  EXPECT_EQ(record_key("0,tcp,ftp_data,SF,491"), "0,tcp,ftp_data,SF,491");
  EXPECT_EQ(record_key("2020-05-09 20:41:37 SOAP"), "2020-05-09 20:41:37 SOAP");
}

// Every address's records in one partition, in generation order; all of them, once.
TEST(GenerateToKafka, OneMessagePerRecordKeyedBySourceAddress) {
  TempDir dir;
  auto mock = testkafka::start_mock({{"flows", 8}});
  const std::string boot = mock->bootstraps();
  const std::vector<std::string> gen = {"generate", "--count", "20000", "--seed", "7",
                                        "--ips", "300", "--start-time", "2020-05-09 00:00:00",
                                        "--rate", "1000"};
  auto r = testkafka::run_netpulse(concat(gen, {"--output", testkafka::kafka_uri(boot, "flows")}), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("20000 delivered to Kafka, 0 failed"), std::string::npos) << r.err;
  r = testkafka::run_netpulse(concat(gen, {"--output", dir / "flows.txt"}), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::vector<std::string> reference = lines_of(testkafka::read_file(dir / "flows.txt"));
  ASSERT_EQ(reference.size(), 20000u);

  const auto by_partition = testkafka::consume_by_partition(boot, "flows", dir);
  std::map<std::string, int> partition_of;
  size_t consumed = 0;
  for (const auto& [p, lines] : by_partition) {
    consumed += lines.size();
    for (const std::string& line : lines) {
      const std::string key(record_key(line));
      const auto [it, fresh] = partition_of.emplace(key, p);
      ASSERT_EQ(it->second, p) << key << " is in partitions " << it->second << " and " << p;
    }
  }
  EXPECT_EQ(consumed, reference.size());
  EXPECT_GE(by_partition.size(), 6u) << "records should spread over the 8 partitions";

  // Partition p holds exactly the reference's records whose source lives in p, in order.
  std::map<int, std::vector<std::string>> expected;
  for (const std::string& line : reference) {
    const auto it = partition_of.find(std::string(record_key(line)));
    ASSERT_NE(it, partition_of.end()) << "no message for " << line;
    expected[it->second].push_back(line);
  }
  for (const auto& [p, lines] : expected) {
    ASSERT_TRUE(by_partition.count(p));
    EXPECT_EQ(by_partition.at(p), lines) << "partition " << p;
  }
}

TEST(GenerateToKafka, UndeliverableRecordsAreAnError) {
  TempDir dir;
  // Nothing listens on port 1: every record times out after message.timeout.ms.
  const auto r = testkafka::run_netpulse(
      {"generate", "--count", "100", "--start-time", "2020-05-09 00:00:00", "--output",
       "kafka://127.0.0.1:1/flows", "--kafka-property", "message.timeout.ms=1000"},
      dir);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("netpulse: kafka://127.0.0.1:1/flows: Kafka delivery failed"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("100 records not delivered"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("0 delivered to Kafka, 100 failed"), std::string::npos) << r.err;
}

// Retriable Produce errors, cluster-wide and on each broker: every record still arrives once
// (the idempotent producer retries without duplicating), in order per partition.
TEST(KafkaSink, DeliversExactlyOnceThroughInjectedProduceErrors) {
  TempDir dir;
  auto mock = testkafka::start_mock({{"flows", 6}});
  mock->push_request_errors(kApiProduce,
                            {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                             RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                             RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR__TRANSPORT,
                             RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND});
  for (int32_t b = 1; b <= 3; ++b) {
    ASSERT_EQ(rd_kafka_mock_broker_push_request_error_rtts(
                  mock->get(), b, kApiProduce, 2, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 0,
                  RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 0),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  std::string why;
  const KafkaUri uri{mock->bootstraps(), "flows", "", {}};
  auto sink = KafkaSink::open(uri, {}, &why);
  ASSERT_TRUE(sink) << why;
  const std::string text = flow_lines(20000, 500);
  ASSERT_TRUE(sink->begin(""));
  // In the generator's way: blocks of whole lines.
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', std::min(text.size() - 1, pos + 64 * 1024)) + 1;
    ASSERT_TRUE(sink->write(text.data() + pos, end - pos, 0)) << sink->error();
    pos = end;
  }
  ASSERT_TRUE(sink->finish(60s)) << sink->error();
  EXPECT_EQ(sink->produced(), 20000u);
  EXPECT_EQ(sink->delivered(), 20000u);
  EXPECT_EQ(sink->failed(), 0u);
  // Each partition leader was sent requests, so its injected errors were all served.
  const auto meta = nlohmann::json::parse(
      testkafka::run_kcat({"-L", "-J", "-b", mock->bootstraps(), "-t", "flows"}, dir));
  for (const auto& partition : meta.at("topics").at(0).at("partitions")) {
    const int32_t leader = partition.at("leader").get<int32_t>();
    size_t left = 99;
    rd_kafka_mock_broker_error_stack_cnt(mock->get(), leader, kApiProduce, &left);
    EXPECT_EQ(left, 0u) << "broker " << leader << " left errors unserved";
  }

  const auto by_partition = testkafka::consume_by_partition(mock->bootstraps(), "flows", dir);
  std::vector<std::string> got;
  for (const auto& [p, lines] : by_partition) {
    // Generation order within the partition (flow_lines numbers its records).
    std::vector<std::string> sorted = lines;
    std::stable_sort(sorted.begin(), sorted.end(), [](const std::string& a, const std::string& b) {
      return std::stoul(a.substr(a.rfind(' ') + 1)) < std::stoul(b.substr(b.rfind(' ') + 1));
    });
    EXPECT_EQ(lines, sorted) << "partition " << p << " out of order";
    got.insert(got.end(), lines.begin(), lines.end());
  }
  std::vector<std::string> want = lines_of(text);
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "records lost or duplicated";
}

// Reads lines from `source` until kEnd (or `limit` passes); counts the blocks.
std::vector<std::string> drain(ingest::BlockSource& source, std::chrono::milliseconds limit,
                               size_t* blocks = nullptr) {
  std::vector<std::string> out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  ingest::Block b;
  while (std::chrono::steady_clock::now() < deadline) {
    const auto r = source.next(b, 200ms);
    if (r == ingest::BlockSource::Next::kEnd) break;
    if (r != ingest::BlockSource::Next::kBlock) continue;
    if (blocks) ++*blocks;
    for (auto& line : lines_of(std::string(b.data, b.size))) out.push_back(std::move(line));
  }
  return out;
}

TEST(KafkaSource, HandsOutASlowStreamWithoutWaitingForAFullBlock) {
  auto mock = testkafka::start_mock({{"slow", 2}});
  std::string why;
  const KafkaUri uri{mock->bootstraps(), "slow", "watchers", {}};
  auto source = KafkaSource::open(uri, testkafka::kConsumerProperties, {}, &why);
  ASSERT_TRUE(source) << why;
  auto producer = Producer::open(make_conf(mock->bootstraps(), {}, {}, {}, &why), &why);
  ASSERT_TRUE(producer) << why;

  // The group takes a moment to form: produce until a message comes through, then take what
  // is left of them.
  ingest::Block b;
  bool first = false;
  for (int i = 0; i < 100 && !first; ++i) {
    ASSERT_TRUE(producer->produce(producer->topic("slow"), RD_KAFKA_PARTITION_UA, "k", "first"));
    producer->flush(5s);
    first = source->next(b, 200ms) == ingest::BlockSource::Next::kBlock;
  }
  ASSERT_TRUE(first) << "the consumer never got a message";
  while (source->next(b, 300ms) == ingest::BlockSource::Next::kBlock) {
  }

  // One more line: it comes out on its own, promptly, far short of a 1 MiB block.
  ASSERT_TRUE(producer->produce(producer->topic("slow"), RD_KAFKA_PARTITION_UA, "k", "2020-05-09 00:00:00 TCP 10.0.0.1 10.0.0.2 7"));
  ASSERT_TRUE(producer->flush(5s));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(source->next(b, 5s), ingest::BlockSource::Next::kBlock);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(std::string(b.data, b.size), "2020-05-09 00:00:00 TCP 10.0.0.1 10.0.0.2 7\n");

  // close() from another thread ends the stream.
  std::thread([&] { source->close(); }).join();
  EXPECT_EQ(source->next(b, 5s), ingest::BlockSource::Next::kEnd);
}

// A backfill: every message of every partition once, then kEnd; an empty topic ends at once, a
// missing one with an error. (ClassifyFromKafka checks that the group's offsets are committed.)
TEST(KafkaSource, ExitAtEndReadsEveryPartitionThenEnds) {
  TempDir dir;
  auto mock = testkafka::start_mock({{"flows", 5}, {"empty", 3}});
  const std::string text = flow_lines(30000, 200);
  testkafka::write_file(dir / "flows.txt", text);
  testkafka::run_kcat_produce(mock->bootstraps(), "flows", dir / "flows.txt", true, dir);

  KafkaSource::Options options;
  options.exit_at_end = true;
  options.block_size = 64 * 1024;
  std::string why;
  {
    auto source = KafkaSource::open({mock->bootstraps(), "flows", "backfill", {}},
                                    testkafka::kConsumerProperties, options, &why);
    ASSERT_TRUE(source) << why;
    size_t blocks = 0;
    std::vector<std::string> got = drain(*source, 30s, &blocks);
    EXPECT_GT(blocks, 10u) << "blocks of about 64 KiB";
    std::vector<std::string> want = lines_of(text);
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_TRUE(got == want) << got.size() << " lines read, " << want.size() << " produced";
    EXPECT_EQ(source->error(), "");
  }
  auto empty = KafkaSource::open({mock->bootstraps(), "empty", "backfill-empty", {}},
                                 testkafka::kConsumerProperties, options, &why);
  ASSERT_TRUE(empty) << why;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(drain(*empty, 30s).size(), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);
  EXPECT_EQ(empty->error(), "");

  // The mock creates any topic asked for, unless told to answer that it does not exist.
  rd_kafka_mock_topic_set_error(mock->get(), "missing", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
  auto missing = KafkaSource::open({mock->bootstraps(), "missing", "backfill-missing", {}},
                                   testkafka::kConsumerProperties, options, &why);
  ASSERT_TRUE(missing) << why;
  EXPECT_EQ(drain(*missing, 30s).size(), 0u);
  EXPECT_NE(missing->error().find("missing"), std::string::npos) << missing->error();
}

std::string model(const char* name) {
  return std::string(NETPULSE_SOURCE_DIR) + "/models/" + name + ".json";
}

struct Classified {
  nlohmann::json summary;
  std::multiset<std::string> alerts;  // without their row numbers
};

Classified parse_classify(const std::string& out) {
  Classified c;
  for (const std::string& line : lines_of(out)) {
    auto j = nlohmann::json::parse(line);
    if (j.contains("summary")) {
      c.summary = j["summary"];
      continue;
    }
    j.erase("row");
    c.alerts.insert(j.dump());
  }
  return c;
}

// NSL-KDD rows put into a 4-partition topic by kcat: classify over the topic finds the same
// alerts (up to row numbers: partitions interleave) and the same counts as over the file.
TEST(ClassifyFromKafka, SameAlertsAsTheFile) {
  TempDir dir;
  auto mock = testkafka::start_mock({{"rows", 4}});
  const std::string boot = mock->bootstraps();
  {
    std::ifstream in(std::string(NETPULSE_SOURCE_DIR) +
                     "/../shared/data/nsl-kdd/KDDTrain+_20Percent.txt");
    std::ofstream out(dir / "rows.txt");
    std::string line;
    for (int i = 0; i < 4000 && std::getline(in, line); ++i) out << line << '\n';
  }
  testkafka::run_kcat_produce(boot, "rows", dir / "rows.txt", true, dir);
  const std::vector<std::string> classify = {"classify", "-m", model("dos"), "-m",
                                             model("attack"), "-m", model("bruteforce")};

  auto r = testkafka::run_netpulse(concat(classify, {"--input", dir / "rows.txt"}), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const Classified from_file = parse_classify(r.out);
  ASSERT_EQ(from_file.summary["rows"], 4000);
  ASSERT_GT(from_file.alerts.size(), 100u);

  const std::string input = testkafka::kafka_uri(boot, "rows", "classifiers");
  for (const char* threads : {"1", "2"}) {
    // The second run is a new group: it reads everything again.
    const std::string in = std::string(input) + threads;
    r = testkafka::run_netpulse(concat(concat(classify, {"--input", in, "--exit-at-end",
                                                          "--threads", threads}),
                                       testkafka::kConsumerArgs),
                                dir);
    ASSERT_EQ(r.code, 0) << r.err;
    const Classified from_kafka = parse_classify(r.out);
    EXPECT_EQ(from_kafka.summary["rows"], from_file.summary["rows"]) << threads;
    EXPECT_EQ(from_kafka.summary["malformed"], from_file.summary["malformed"]);
    EXPECT_EQ(from_kafka.summary["alerts"], from_file.summary["alerts"]);
    EXPECT_TRUE(from_kafka.alerts == from_file.alerts) << "alerts differ";
  }

  // The group's offsets were committed: the same group has nothing left to read.
  r = testkafka::run_netpulse(
      concat(concat(classify, {"--input", input + "1", "--exit-at-end"}), testkafka::kConsumerArgs),
      dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(parse_classify(r.out).summary["rows"], 0) << r.out;
}

TEST(KafkaArguments, BadAddressesAndPropertiesAreOneLineUsageErrors) {
  TempDir dir;
  const std::string m = model("dos");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"classify", "-m", m, "--input", "kafka://127.0.0.1:9"}, "BROKERS/TOPIC"},
      {{"classify", "-m", m, "--input", "kafka:///rows?group=g"}, "BROKERS/TOPIC"},
      {{"classify", "-m", m, "--input", "kafka://127.0.0.1:9/rows"}, "?group=NAME"},
      {{"classify", "-m", m, "--input", "kafka://127.0.0.1:9/rows?group=g", "--kafka-property",
        "nonsense"},
       "--kafka-property"},
      {{"classify", "-m", m, "--input", "kafka://127.0.0.1:9/rows?group=g", "--kafka-property",
        "no.such.property=1"},
       "no.such.property"},
      {{"classify", "-m", m, "--input", "kafka://127.0.0.1:9/rows?group=g&fetch.wait.max.ms=x"},
       "fetch.wait.max.ms"},
      {{"classify", "-m", m, "--input", "rows.txt", "--exit-at-end"}, "--exit-at-end"},
      {{"generate", "--output", "kafka://127.0.0.1:9"}, "BROKERS/TOPIC"},
      {{"generate", "--format", "csv", "--output", "kafka://127.0.0.1:9/flows"}, "line format"},
      {{"generate", "--output", "kafka://127.0.0.1:9/flows", "--kafka-property", "linger.ms=-5"},
       "linger.ms"},
      {{"generate", "--kafka-property", "linger.ms=1"}, "--kafka-property"},
  };
  for (const auto& [args, mention] : cases) {
    const auto r = testkafka::run_netpulse(args, dir);
    std::string cmd;
    for (const auto& a : args) cmd += a + " ";
    EXPECT_EQ(r.code, 2) << cmd << "\n" << r.err;
    EXPECT_EQ(r.err.rfind("netpulse: ", 0), 0u) << cmd << "\n" << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << cmd << "\n" << r.err;
    EXPECT_NE(r.err.find(mention), std::string::npos) << cmd << "\n" << r.err;
  }
}

}  // namespace
}  // namespace netpulse::kafka

namespace netpulse::kafka {
namespace {

// `netpulse collect --output kafka://`: a collector at the edge forwards decoded flows, one
// message per record keyed by source address, every flow once. And `--output tcp://` to a
// consumer that accepts the connection.
TEST(CollectToKafka, FlowsArriveOnceKeyedBySourceAddress) {
  TempDir dir;
  auto mock = testkafka::start_mock({{"flows", 4}});
  const std::string boot = mock->bootstraps();
  const std::vector<std::string> gen = {"generate", "-q", "--count", "3000", "--seed", "5",
                                        "--ips", "200", "--start-time", "2020-05-09 00:00:00",
                                        "--rate", "1000"};
  auto r = testkafka::run_netpulse(concat(gen, {"--output", dir / "flows.txt"}), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const uint16_t port = testref::free_port();  // free for TCP a moment ago: likely for UDP too
  const std::string input = "netflow://127.0.0.1:" + std::to_string(port);
  testkafka::Child collect({"collect", "--input", input, "--output", testkafka::kafka_uri(boot, "flows")},
                           dir);
  ASSERT_TRUE(testref::wait_until(
      [&] { return collect.err().find("on UDP port") != std::string::npos || !collect.running(); },
      10s))
      << collect.err();
  r = testkafka::run_netpulse(concat(gen, {"--output", input + "?version=10"}), dir);
  ASSERT_EQ(r.code, 0) << r.err;
  collect.signal(SIGTERM);
  ASSERT_TRUE(collect.wait(30s));
  ASSERT_EQ(collect.exit_code(), 0) << collect.err();
  EXPECT_NE(collect.err().find("3000 delivered to Kafka, 0 failed"), std::string::npos)
      << collect.err();

  const auto by_partition = testkafka::consume_by_partition(boot, "flows", dir);
  std::map<std::string, int> partition_of;
  std::vector<std::string> consumed;
  for (const auto& [p, lines] : by_partition)
    for (const std::string& line : lines) {
      const auto [it, fresh] = partition_of.emplace(std::string(record_key(line)), p);
      EXPECT_EQ(it->second, p) << line;
      consumed.push_back(line);
    }
  std::vector<std::string> expected = lines_of(testkafka::read_file(dir / "flows.txt"));
  std::sort(expected.begin(), expected.end());
  std::sort(consumed.begin(), consumed.end());
  EXPECT_EQ(consumed, expected);
}

}  // namespace
}  // namespace netpulse::kafka
