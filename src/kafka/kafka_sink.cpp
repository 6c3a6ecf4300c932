#include "kafka/kafka_sink.hpp"

#include <syslog.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>

#include "kafka/rdkafka_api.hpp"

namespace netpulse::kafka {

namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Errors the producer retries by itself: said once per kind for the whole process (records
// are not lost while they last; a record that cannot be delivered in message.timeout.ms
// fails, and that ends the run). Called on the producing thread, from rd_kafka_poll.
void producer_error(rd_kafka_t*, int err, const char* reason, void*) {
  static std::mutex mu;
  static std::set<int> seen;
  std::lock_guard lock(mu);
  if (!seen.insert(err).second) return;
  std::fprintf(stderr, "netpulse: Kafka: %s (retrying)\n", reason);
}

}  // namespace

std::string_view record_key(std::string_view line) {
  size_t i = 0;
  for (int field = 0; field < 3; ++field) {
    while (i < line.size() && is_blank(line[i])) ++i;
    while (i < line.size() && !is_blank(line[i])) ++i;
  }
  while (i < line.size() && is_blank(line[i])) ++i;
  const size_t begin = i;
  while (i < line.size() && !is_blank(line[i])) ++i;
  return begin < i ? line.substr(begin, i - begin) : line;
}

const Properties& KafkaSink::default_properties() {
  static const Properties p = {
      // Retries after a lost acknowledgement would otherwise write a record twice.
      {"enable.idempotence", "true"},
      // A few ms of batching turns a million records/s into a few hundred requests/s.
      {"linger.ms", "5"},
      {"batch.num.messages", "100000"},  // batch.size (1 MB, the brokers' default limit) binds
      // The generator runs ahead of the brokers by up to this many records, then waits.
      {"queue.buffering.max.messages", "1000000"},
      // An unreachable cluster fails the run within 30 s instead of librdkafka's 5 minutes.
      {"message.timeout.ms", "30000"},
  };
  return p;
}

std::unique_ptr<KafkaSink> KafkaSink::open(const KafkaUri& uri, const Properties& overrides,
                                           std::string* why) {
  rd_kafka_conf_t* conf = make_conf(uri.brokers, default_properties(), uri.properties, overrides, why);
  if (conf == nullptr) return nullptr;
  rdk().rd_kafka_conf_set_log_cb(conf, &quiet_log);
  rdk().rd_kafka_conf_set_error_cb(conf, &producer_error);
  std::unique_ptr<KafkaSink> sink(new KafkaSink());
  sink->producer_ = Producer::open(conf, why);
  if (!sink->producer_) return nullptr;
  // Known from the start, the topic's metadata comes with the first connection; otherwise the
  // first records wait for librdkafka's once-a-second topic scan (up to 1 s lost per run).
  sink->topic_handle_ = sink->producer_->topic(uri.topic);
  sink->brokers_ = uri.brokers;
  sink->topic_ = uri.topic;
  return sink;
}

bool KafkaSink::begin(std::string_view header) {
  if (!header.empty()) {
    error_ = describe() + ": Kafka carries the line format only (one record per message)";
    return false;
  }
  return true;
}

bool KafkaSink::write(const char* data, size_t size, uint64_t) {
  const char* p = data;
  const char* end = data + size;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* eol = nl ? nl : end;
    const std::string_view line(p, static_cast<size_t>(eol - p));
    p = eol + 1;
    if (line.empty()) continue;
    if (!producer_->produce(topic_handle_, RD_KAFKA_PARTITION_UA, record_key(line), line)) {
      char reason[512];
      if (rdk().rd_kafka_fatal_error(producer_->get(), reason, sizeof reason) !=
          RD_KAFKA_RESP_ERR_NO_ERROR)
        error_ = describe() + ": the Kafka producer failed: " + reason;
      else
        error_ = describe() + ": " + producer_->error();
      return false;
    }
    ++produced_;
  }
  producer_->poll();  // delivery reports: counts, and the first failure ends the run early
  return check_producer();
}

bool KafkaSink::check_producer() {
  if (producer_->failed() == 0) return true;
  if (error_.empty())
    error_ = describe() + ": " + producer_->error() + " (" + std::to_string(producer_->failed()) +
             " records not delivered)";
  return false;
}

bool KafkaSink::finish(std::chrono::milliseconds timeout) {
  const bool flushed = producer_->flush(timeout);
  if (!check_producer()) return false;
  if (!flushed) {
    error_ = describe() + ": " + std::to_string(produced_ - delivered()) +
             " records still undelivered after " + std::to_string(timeout.count() / 1000) + " s";
    return false;
  }
  return true;
}

}  // namespace netpulse::kafka
