#include "kafka/result_sink.hpp"

#include <chrono>

#include "query/result_json.hpp"

namespace netpulse::kafka {

std::unique_ptr<KafkaResultSink> KafkaResultSink::open(const KafkaUri& uri,
                                                       const Properties& overrides,
                                                       std::string* why) {
  rd_kafka_conf_t* conf = make_conf(uri.brokers,
                                    {{"enable.idempotence", "true"}, {"linger.ms", "5"}},
                                    uri.properties, overrides, why);
  if (!conf) return nullptr;
  std::unique_ptr<KafkaResultSink> s(new KafkaResultSink());
  s->producer_ = Producer::open(conf, why);
  if (!s->producer_) return nullptr;
  s->topic_ = uri.topic;
  s->topic_handle_ = s->producer_->topic(uri.topic);
  return s;
}

void KafkaResultSink::emit(const query::WindowResult& r) {
  if (error_) return;
  for (size_t q = 0; q < query::kQueryCount; ++q) {
    line_.clear();
    query::append_json(r, static_cast<query::QueryKind>(q), line_);
    if (!producer_->produce(topic_handle_, RD_KAFKA_PARTITION_UA, query::kQueryNames[q], line_)) {
      error_ = producer_->error();
      return;
    }
  }
  producer_->poll();
}

void KafkaResultSink::flush() { producer_->poll(); }

std::optional<std::string> KafkaResultSink::finish() {
  if (!producer_->flush(std::chrono::seconds(30)) && !error_) error_ = producer_->error();
  if (error_) return "topic " + topic_ + ": " + *error_;
  return std::nullopt;
}

}  // namespace netpulse::kafka
