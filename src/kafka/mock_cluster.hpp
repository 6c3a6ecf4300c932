// A Kafka cluster inside this process, for tests and `netpulse kafka-mock`: librdkafka's mock
// brokers (rdkafka_mock.h) listening on random 127.0.0.1 ports, with topics created up front
// and the error injection the tests use. Producers, consumer groups and committed offsets work
// against it like against real brokers. The mock runs on librdkafka's threads; the methods may
// be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kafka/client.hpp"
#include "kafka/rdkafka_api.hpp"

namespace netpulse::kafka {

// Kafka protocol request types (ApiKey) that the tests inject errors into.
inline constexpr int16_t kApiProduce = 0;
inline constexpr int16_t kApiFetch = 1;

// "NAME:PARTITIONS" (e.g. flows:8), or NAME alone for one partition.
struct TopicSpec {
  std::string name;
  int partitions = 1;
};
inline constexpr int kMaxMockPartitions = 1000;

// Returns nullopt with a one-line reason in *why for an empty or illegal topic name (Kafka
// allows A-Z a-z 0-9 . _ -, up to 249 characters) or a partition count outside 1..1000.
std::optional<TopicSpec> parse_topic_spec(std::string_view text, std::string* why);

class MockCluster {
 public:
  // Starts `brokers` (1..64) mock brokers. Returns nullptr with a reason in *why.
  static std::unique_ptr<MockCluster> start(int brokers, std::string* why);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // Creates a topic with replication factor min(3, brokers), as the mock's auto-creation does.
  bool create_topic(const std::string& name, int partitions, std::string* why);
  // bootstrap.servers for clients: "127.0.0.1:PORT,127.0.0.1:PORT,...".
  std::string bootstraps() const;
  int brokers() const { return brokers_; }

  // The next errors.size() requests of type api_key (any broker) fail with these errors, in
  // order. RD_KAFKA_RESP_ERR__TRANSPORT makes the broker drop the connection instead.
  void push_request_errors(int16_t api_key, const std::vector<rd_kafka_resp_err_t>& errors);
  // Disconnects broker `id` (1..brokers, -1 for all) and refuses new connections, or lets it
  // accept them again. Partition leadership does not move (a mock limitation).
  bool set_broker_down(int32_t id, bool down);

  rd_kafka_mock_cluster_t* get() const { return cluster_; }

 private:
  MockCluster() = default;

  Handle rk_;  // the handle librdkafka keeps the mock's bookkeeping on; never connects
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  int brokers_ = 0;
};

}  // namespace netpulse::kafka
