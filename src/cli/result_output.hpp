// --output of the commands that emit results (process, merge): -, file:PATH or a path (JSON
// lines), or kafka://BROKERS/TOPIC (one message per result, keyed by query name).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kafka/result_sink.hpp"
#include "query/result_json.hpp"

namespace netpulse::cli {

class ResultOutput {
 public:
  // Usage error for a bad address or property (exit 2); I/O error when it cannot be opened.
  ResultOutput(const std::string& uri, const std::vector<std::string>& kafka_properties);
  ~ResultOutput();

  query::ResultSink& sink() { return kafka_ ? static_cast<query::ResultSink&>(*kafka_) : *json_; }
  // Flushes (Kafka: waits for delivery) and closes; the reason when results were lost.
  std::optional<std::string> close();

 private:
  std::string uri_;
  int fd_ = -1;
  std::unique_ptr<query::JsonLinesSink> json_;
  std::unique_ptr<kafka::KafkaResultSink> kafka_;
  bool closed_ = false;
};

}  // namespace netpulse::cli
