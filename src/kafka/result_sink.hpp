// Results to a Kafka topic (`process`/`merge --output kafka://BROKERS/TOPIC`): one message per
// result object of spec section 4 (the JSON line without its '\n'), keyed by the query name so
// each query's results stay in window order on one partition. The producer is idempotent;
// consumers that store results can key them on (query, window_end, params) as the store does.
// Called from the engine's emitting thread only.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "kafka/client.hpp"
#include "query/result.hpp"

namespace netpulse::kafka {

class KafkaResultSink final : public query::ResultSink {
 public:
  // Returns nullptr with a reason in *why (bad property, cannot create the producer).
  static std::unique_ptr<KafkaResultSink> open(const KafkaUri& uri, const Properties& overrides,
                                               std::string* why);

  void emit(const query::WindowResult& r) override;
  void flush() override;
  // Waits for every result to be delivered; the reason when some were not.
  std::optional<std::string> finish();

 private:
  KafkaResultSink() = default;

  std::unique_ptr<Producer> producer_;
  std::string topic_;
  rd_kafka_topic_t* topic_handle_ = nullptr;  // owned by producer_
  std::string line_;
  std::optional<std::string> error_;
};

}  // namespace netpulse::kafka
