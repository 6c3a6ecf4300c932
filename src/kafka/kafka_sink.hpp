// The generator's output to a Kafka topic: one message per record, the line without its '\n' as
// the value and the record's source address as the key, so that all of one address's records
// land in one partition, in order (lateness is decided per partition, and an address's sums
// are pre-aggregated by one instance). The producer is
// idempotent: retries after broker errors neither lose nor duplicate records. Called from the
// generating thread only, like every RecordSink.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "generate/record_sink.hpp"
#include "kafka/client.hpp"
#include "kafka/kafka_uri.hpp"

namespace netpulse::kafka {

// The key of a line-format record: its source address, the 4th field counting the date and the
// time of day as two ("2020-05-09 20:41:37.123 SOAP 222.186.237.75 ..."). A line with fewer
// fields is keyed by the whole line (it is malformed; any partition will do).
std::string_view record_key(std::string_view line);

class KafkaSink final : public generate::RecordSink {
 public:
  // Producer settings before the URI's ?k=v and --kafka-property: idempotence, and batching
  // sized for millions of small messages per second.
  static const Properties& default_properties();

  // Opens a producer for uri.topic on uri.brokers (it connects in the background). Returns
  // nullptr with a one-line reason in *why: an unknown or invalid property.
  static std::unique_ptr<KafkaSink> open(const KafkaUri& uri, const Properties& overrides,
                                         std::string* why);

  // Only the line format goes to Kafka (one record per message, no header): a non-empty
  // header fails.
  bool begin(std::string_view header) override;
  bool write(const char* data, size_t size, uint64_t records) override;
  std::string error() const override { return error_; }

  // Waits until every record is delivered or has failed (message.timeout.ms bounds it).
  // False when any failed or the wait timed out; error() then says why.
  bool finish(std::chrono::milliseconds timeout = std::chrono::minutes(10));

  uint64_t produced() const { return produced_; }
  uint64_t delivered() const { return producer_->delivered(); }
  uint64_t failed() const { return producer_->failed(); }
  std::string describe() const { return "kafka://" + brokers_ + "/" + topic_; }

 private:
  KafkaSink() = default;
  bool check_producer();

  std::unique_ptr<Producer> producer_;
  rd_kafka_topic_t* topic_handle_ = nullptr;  // owned by producer_
  std::string brokers_, topic_;
  uint64_t produced_ = 0;
  std::string error_;
};

}  // namespace netpulse::kafka
