// The mock cluster (in-process and as `netpulse kafka-mock`) is a real Kafka endpoint: kcat
// sees its brokers and topics; the command prints its address first and stops cleanly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kafka_test_support.hpp"

namespace netpulse::kafka {
namespace {

using testkafka::TempDir;

TEST(TopicSpec, ParsesNameAndPartitions) {
  std::string why;
  auto s = parse_topic_spec("flows:8", &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->name, "flows");
  EXPECT_EQ(s->partitions, 8);

  s = parse_topic_spec("panes", &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->name, "panes");
  EXPECT_EQ(s->partitions, 1);

  s = parse_topic_spec("net.flows_v2-a:1000", &why);
  ASSERT_TRUE(s) << why;
  EXPECT_EQ(s->name, "net.flows_v2-a");
  EXPECT_EQ(s->partitions, 1000);
}

TEST(TopicSpec, RejectsWithAOneLineReason) {
  for (const char* bad : {"", ":8", "flows:", "flows:0", "flows:-1", "flows:x", "flows:8x",
                          "flows:1001", "fl ows:2", "a/b:2", "..", "flows:8:2"}) {
    std::string why;
    EXPECT_FALSE(parse_topic_spec(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
    EXPECT_EQ(why.find('\n'), std::string::npos) << why;
  }
  std::string why;
  parse_topic_spec("flows:0", &why);
  EXPECT_NE(why.find("flows:0"), std::string::npos) << why;
  EXPECT_NE(why.find("NAME:PARTITIONS"), std::string::npos) << why;
}

// kcat -L -J: {"brokers":[{"id":1,"name":"127.0.0.1:PORT"},...],"topics":[{"topic":...,
// "partitions":[...]}]}
nlohmann::json kcat_metadata(const std::string& bootstrap, const TempDir& dir) {
  return nlohmann::json::parse(testkafka::run_kcat({"-L", "-J", "-b", bootstrap}, dir));
}

size_t partitions_of(const nlohmann::json& meta, const std::string& topic) {
  for (const auto& t : meta.at("topics"))
    if (t.at("topic") == topic) return t.at("partitions").size();
  return 0;
}

TEST(MockCluster, ServesBrokersAndTopicsOn127001) {
  TempDir dir;
  auto mock = testkafka::start_mock({{"flows", 8}, {"panes", 1}});
  const std::string boot = mock->bootstraps();
  // Three brokers, each on its own 127.0.0.1 port.
  size_t addresses = 0;
  for (size_t p = 0; p != std::string::npos; p = boot.find(',', p + 1)) ++addresses;
  EXPECT_EQ(addresses, 3u) << boot;
  EXPECT_EQ(boot.rfind("127.0.0.1:", 0), 0u) << boot;

  const auto meta = kcat_metadata(boot, dir);
  EXPECT_EQ(meta.at("brokers").size(), 3u) << meta.dump();
  EXPECT_EQ(partitions_of(meta, "flows"), 8u) << meta.dump();
  EXPECT_EQ(partitions_of(meta, "panes"), 1u) << meta.dump();

  std::string why;
  EXPECT_FALSE(mock->create_topic("flows", 2, &why));
  EXPECT_NE(why.find("flows"), std::string::npos) << why;
}

TEST(MockCluster, BrokerDownRefusesClientsUntilUp) {
  TempDir dir;
  auto mock = testkafka::start_mock({{"flows", 2}}, 1);
  ASSERT_TRUE(mock->set_broker_down(1, true));
  EXPECT_THROW(testkafka::run_kcat({"-L", "-b", mock->bootstraps(), "-m", "1"}, dir),
               std::runtime_error);
  ASSERT_TRUE(mock->set_broker_down(1, false));
  EXPECT_EQ(partitions_of(kcat_metadata(mock->bootstraps(), dir), "flows"), 2u);
}

TEST(KafkaMockCommand, PrintsAnAddressKcatCanListAndStopsOnSigterm) {
  TempDir dir;
  testkafka::MockProcess mock({"--brokers", "3", "--topic", "flows:8", "--topic", "panes:1"},
                              dir);
  const std::string boot = mock.address();
  ASSERT_FALSE(boot.empty()) << mock.child().err();
  EXPECT_EQ(boot.rfind("127.0.0.1:", 0), 0u) << boot;

  const auto meta = kcat_metadata(boot, dir);
  EXPECT_EQ(meta.at("brokers").size(), 3u) << meta.dump();
  EXPECT_EQ(partitions_of(meta, "flows"), 8u) << meta.dump();
  EXPECT_EQ(partitions_of(meta, "panes"), 1u) << meta.dump();
  EXPECT_TRUE(mock.child().running());

  mock.child().signal(SIGTERM);
  ASSERT_TRUE(mock.child().wait(std::chrono::seconds(10)));
  EXPECT_EQ(mock.child().exit_code(), 0) << mock.child().err();
  const std::string err = mock.child().err();
  EXPECT_NE(err.find("mock Kafka cluster of 3 brokers at " + boot), std::string::npos) << err;
  EXPECT_NE(err.find("flows (8 partitions), panes (1 partition)"), std::string::npos) << err;
  EXPECT_EQ(mock.child().out(), boot + "\n");  // the address is all stdout says
}

TEST(KafkaMockCommand, TopicsNotCreatedUpFrontAppearOnFirstUse) {
  TempDir dir;
  testkafka::MockProcess mock({"--brokers", "1"}, dir);
  const std::string boot = mock.address();
  ASSERT_FALSE(boot.empty()) << mock.child().err();
  const std::string rows = dir / "rows.txt";
  testkafka::write_file(rows, "a\nb\n");
  testkafka::run_kcat_produce(boot, "fresh", rows, false, dir);
  EXPECT_EQ(partitions_of(kcat_metadata(boot, dir), "fresh"), 4u);
}

TEST(KafkaMockCommand, BadArgumentsAreUsageErrors) {
  TempDir dir;
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"kafka-mock", "--topic", "flows:0"},
                                             {"kafka-mock", "--topic", "a/b"},
                                             {"kafka-mock", "--brokers", "0"}}) {
    const auto r = testkafka::run_netpulse(args, dir);
    EXPECT_EQ(r.code, 2) << args.back() << ": " << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;  // one line
    EXPECT_EQ(r.out, "");
  }
  const auto r = testkafka::run_netpulse({"kafka-mock", "--topic", "flows:0"}, dir);
  EXPECT_NE(r.err.find("--topic"), std::string::npos) << r.err;
}

TEST(KafkaMockCommand, HelpExplainsEveryOption) {
  TempDir dir;
  const auto r = testkafka::run_netpulse({"kafka-mock", "--help"}, dir);
  EXPECT_EQ(r.code, 0);
  for (const char* option : {"--brokers", "--topic", "NAME:PARTITIONS", "--quiet"})
    EXPECT_NE(r.out.find(option), std::string::npos) << option << "\n" << r.out;
}

}  // namespace
}  // namespace netpulse::kafka
