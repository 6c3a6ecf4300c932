#include "kafka/mock_cluster.hpp"

#include <syslog.h>

#include <charconv>
#include <cstdio>

namespace netpulse::kafka {

namespace {

// The bookkeeping handle has no bootstrap.servers on purpose, so librdkafka warns that it
// cannot connect; that and the mock's own chatter are noise. Errors still show.
void mock_log(const rd_kafka_t*, int level, const char* facility, const char* text) {
  if (level <= LOG_ERR) std::fprintf(stderr, "netpulse: kafka mock: %s: %s\n", facility, text);
}

bool legal_topic_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

std::optional<TopicSpec> parse_topic_spec(std::string_view text, std::string* why) {
  TopicSpec spec;
  std::string_view name = text;
  if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    name = text.substr(0, colon);
    const std::string_view count = text.substr(colon + 1);
    const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), spec.partitions);
    if (count.empty() || ec != std::errc() || end != count.data() + count.size() ||
        spec.partitions < 1 || spec.partitions > kMaxMockPartitions) {
      *why = "expected NAME:PARTITIONS with 1 to " + std::to_string(kMaxMockPartitions) +
             " partitions, e.g. flows:8, got '" + std::string(text) + "'";
      return std::nullopt;
    }
  }
  if (name.empty()) {
    *why = "expected NAME:PARTITIONS, e.g. flows:8, got '" + std::string(text) + "'";
    return std::nullopt;
  }
  if (name.size() > 249 || name == "." || name == "..") {
    *why = "not a legal Kafka topic name: ";
    why->append(name);
    return std::nullopt;
  }
  for (const char c : name) {
    if (!legal_topic_char(c)) {
      *why = "a Kafka topic name has only A-Z a-z 0-9 . _ -, got '" + std::string(name) + "'";
      return std::nullopt;
    }
  }
  spec.name = std::string(name);
  return spec;
}

std::unique_ptr<MockCluster> MockCluster::start(int brokers, std::string* why) {
  if (brokers < 1 || brokers > 64) {
    *why = "a mock cluster has 1 to 64 brokers, not " + std::to_string(brokers);
    return nullptr;
  }
  if (!core::ok_or_why(core::load_library(rdk), why)) return nullptr;
  rd_kafka_conf_t* conf = rdk().rd_kafka_conf_new();
  rdk().rd_kafka_conf_set_log_cb(conf, &mock_log);
  char err[512];
  rd_kafka_t* rk = rdk().rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rdk().rd_kafka_conf_destroy(conf);
    *why = std::string("cannot create the mock cluster's Kafka handle: ") + err;
    return nullptr;
  }
  std::unique_ptr<MockCluster> m(new MockCluster());
  m->rk_.reset(rk);
  m->cluster_ = rdk().rd_kafka_mock_cluster_new(rk, brokers);
  if (m->cluster_ == nullptr) {
    *why = "cannot start a mock Kafka cluster (no free 127.0.0.1 ports?)";
    return nullptr;
  }
  m->brokers_ = brokers;
  return m;
}

MockCluster::~MockCluster() {
  // The cluster lives on rk_'s bookkeeping: destroy it first.
  if (cluster_ != nullptr) rdk().rd_kafka_mock_cluster_destroy(cluster_);
}

bool MockCluster::create_topic(const std::string& name, int partitions, std::string* why) {
  const int replication = brokers_ < 3 ? brokers_ : 3;
  const rd_kafka_resp_err_t e =
      rdk().rd_kafka_mock_topic_create(cluster_, name.c_str(), partitions, replication);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    *why = "cannot create topic " + name + " on the mock cluster: " + rdk().rd_kafka_err2str(e);
    return false;
  }
  return true;
}

std::string MockCluster::bootstraps() const {
  return rdk().rd_kafka_mock_cluster_bootstraps(cluster_);
}

void MockCluster::push_request_errors(int16_t api_key,
                                      const std::vector<rd_kafka_resp_err_t>& errors) {
  rdk().rd_kafka_mock_push_request_errors_array(cluster_, api_key, errors.size(), errors.data());
}

bool MockCluster::set_broker_down(int32_t id, bool down) {
  const rd_kafka_resp_err_t e = down ? rdk().rd_kafka_mock_broker_set_down(cluster_, id)
                                     : rdk().rd_kafka_mock_broker_set_up(cluster_, id);
  return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}

}  // namespace netpulse::kafka
