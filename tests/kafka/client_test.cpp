// client.hpp against the mock cluster: apply_rebalance once the consumer's group is gone.
#include "kafka/client.hpp"

#include <gtest/gtest.h>

#include <chrono>

#include "kafka_test_support.hpp"

namespace netpulse::kafka {
namespace {

using namespace std::chrono_literals;

void count_assignments(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                       rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  apply_rebalance(rk, err, partitions);
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) ++*static_cast<int*>(opaque);
}

// rd_kafka_consumer_close() may serve a rebalance the group queued before it terminated; the
// callback then finds no rebalance protocol (NULL). `process --input kafka://` died of SIGSEGV
// there (strcmp on it) in some runs of ScaleOut.BrokerErrorsAreRetriedWithNothingLostOrDoubled.
TEST(ApplyRebalance, DoesNothingOnceTheGroupHasTerminated) {
  auto mock = testkafka::start_mock({{"flows", 2}}, 1);
  std::string why;
  rd_kafka_conf_t* conf = make_conf(
      mock->bootstraps(), consumer_defaults(), {},
      {{"group.id", "g"}, {"session.timeout.ms", "6000"}, {"heartbeat.interval.ms", "500"}}, &why);
  ASSERT_NE(conf, nullptr) << why;
  int assignments = 0;
  rd_kafka_conf_set_opaque(conf, &assignments);
  rd_kafka_conf_set_rebalance_cb(conf, &count_assignments);
  Handle rk = open_consumer(conf, &why);
  ASSERT_TRUE(rk) << why;
  PartitionList topics(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(topics.get(), "flows", RD_KAFKA_PARTITION_UA);
  ASSERT_EQ(rd_kafka_subscribe(rk.get(), topics.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  for (auto deadline = std::chrono::steady_clock::now() + 20s;
       assignments == 0 && std::chrono::steady_clock::now() < deadline;) {
    Message m(rd_kafka_consumer_poll(rk.get(), 100));
  }
  ASSERT_EQ(assignments, 1);
  ASSERT_STREQ(rd_kafka_rebalance_protocol(rk.get()), "EAGER");

  ASSERT_EQ(rd_kafka_consumer_close(rk.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(rd_kafka_rebalance_protocol(rk.get()), nullptr);
  PartitionList parts(rd_kafka_topic_partition_list_new(2));
  rd_kafka_topic_partition_list_add(parts.get(), "flows", 0);
  rd_kafka_topic_partition_list_add(parts.get(), "flows", 1);
  apply_rebalance(rk.get(), RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, parts.get());
  apply_rebalance(rk.get(), RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS, parts.get());
  rd_kafka_destroy(rk.release());  // closed already
}

}  // namespace
}  // namespace netpulse::kafka
