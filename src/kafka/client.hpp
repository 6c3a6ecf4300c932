// Thin RAII over librdkafka's C API (Debian librdkafka-dev; the C++ API adds nothing we need):
// owned handles, configuration built in layers, and a producer that counts delivery reports.
// A Producer is used from one thread at a time; librdkafka's own threads call back into it
// only through rd_kafka_poll/flush on that thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kafka/kafka_uri.hpp"
#include "kafka/rdkafka_api.hpp"

namespace netpulse::kafka {

struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const;
};
using Handle = std::unique_ptr<rd_kafka_t, HandleDeleter>;

struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rdk().rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;

struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rdk().rd_kafka_message_destroy(m); }
};
using Message = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;

// A configuration with bootstrap.servers = brokers, then each layer in order (a later layer
// overrides an earlier one): the caller's defaults, the URI's ?k=v, then --kafka-property.
// Returns nullptr with librdkafka's reason in *why for an unknown or invalid property.
rd_kafka_conf_t* make_conf(const std::string& brokers, const Properties& defaults,
                           const Properties& from_uri, const Properties& overrides,
                           std::string* why);

// Defaults every netpulse consumer starts from (callers add their group and commit settings):
// end-of-partition events (--exit-at-end, idleness), a new group reads from the start, and
// fetching does not pause on one-record messages (see client.cpp).
const Properties& consumer_defaults();

// The properties of a shared list (--kafka-property) that mean something to a producer:
// consumer-only keys are left out, so librdkafka does not warn about them.
Properties producer_properties(const Properties& all);

// librdkafka's log, cut to configuration warnings and worse-than-error lines: broker trouble is
// reported once per kind through error callbacks instead of once per broker and reconnect.
void quiet_log(const rd_kafka_t* rk, int level, const char* facility, const char* text);

// Applies a rebalance callback's assignment or revocation with the call the group's protocol
// requires (incremental under COOPERATIVE, whole under EAGER). Does nothing once the
// consumer's group has terminated (librdkafka then knows no protocol).
void apply_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                     rd_kafka_topic_partition_list_t* partitions);

// A consumer in group uri.group (required), subscribed to nothing yet; its messages are polled
// with rd_kafka_consumer_poll. `conf` is consumed.
Handle open_consumer(rd_kafka_conf_t* conf, std::string* why);

// The number of partitions of `topic`, retrying until `timeout` (a topic the cluster is still
// creating has none yet). Returns nullopt with the reason in *why.
std::optional<int> partition_count(rd_kafka_t* rk, const std::string& topic,
                                   std::chrono::milliseconds timeout, std::string* why);

class Producer {
 public:
  // Opens a producer on `conf` (consumed). Returns nullptr with a reason in *why.
  static std::unique_ptr<Producer> open(rd_kafka_conf_t* conf, std::string* why);
  ~Producer();

  // The handle of `topic`, created on first use and kept for the producer's life: producing
  // through it spares librdkafka a lookup by name per message, and creating it early fetches
  // the topic's metadata with the first connection.
  rd_kafka_topic_t* topic(const std::string& name);

  // Queues one message (copied). partition = RD_KAFKA_PARTITION_UA lets the partitioner pick
  // by key. While librdkafka's queue is full, serves delivery reports and retries (that is the
  // back-pressure). Returns false when the message cannot be queued; error() says why.
  bool produce(rd_kafka_topic_t* topic, int32_t partition, std::string_view key,
               std::string_view value);
  // Every message produced from now on carries this header (e.g. who published it).
  void set_header(std::string name, std::string value) {
    header_name_ = std::move(name);
    header_value_ = std::move(value);
  }
  // Serves delivery reports without blocking.
  void poll() { rdk().rd_kafka_poll(rk_.get(), 0); }
  // Waits until every queued message is delivered or failed. False on timeout or when any
  // delivery failed since the last flush.
  bool flush(std::chrono::milliseconds timeout);

  uint64_t delivered() const { return delivered_; }
  uint64_t failed() const { return failed_; }
  std::string error() const { return error_; }
  rd_kafka_t* get() const { return rk_.get(); }

 private:
  Producer() = default;
  std::string header_name_, header_value_;
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque);

  struct TopicDeleter {
    void operator()(rd_kafka_topic_t* t) const { rdk().rd_kafka_topic_destroy(t); }
  };

  Handle rk_;
  // Declared after rk_: destroyed before it, as librdkafka requires.
  std::vector<std::pair<std::string, std::unique_ptr<rd_kafka_topic_t, TopicDeleter>>> topics_;
  uint64_t delivered_ = 0;
  uint64_t failed_ = 0;
  bool failed_since_flush_ = false;
  std::string error_;
};

}  // namespace netpulse::kafka
