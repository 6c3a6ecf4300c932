#include "kafka/client.hpp"

#include <syslog.h>

#include <cstdio>
#include <cstring>
#include <thread>

namespace netpulse::kafka {

void HandleDeleter::operator()(rd_kafka_t* rk) const {
  if (rk == nullptr) return;
  if (rdk().rd_kafka_type(rk) == RD_KAFKA_CONSUMER) rdk().rd_kafka_consumer_close(rk);
  rdk().rd_kafka_destroy(rk);
}

rd_kafka_conf_t* make_conf(const std::string& brokers, const Properties& defaults,
                           const Properties& from_uri, const Properties& overrides,
                           std::string* why) {
  // Every Kafka handle starts here.
  if (!core::ok_or_why(core::load_library(rdk), why)) return nullptr;
  rd_kafka_conf_t* conf = rdk().rd_kafka_conf_new();
  char err[512];
  const auto set = [&](const std::string& k, const std::string& v) {
    if (rdk().rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      // Some of librdkafka's reasons (out of range values) end with a newline.
      std::string reason = err;
      while (!reason.empty() && (reason.back() == '\n' || reason.back() == ' ')) reason.pop_back();
      *why = "Kafka property " + k + "=" + v + ": " + reason;
      return false;
    }
    return true;
  };
  bool ok = set("bootstrap.servers", brokers);
  for (const Properties* layer : {&defaults, &from_uri, &overrides}) {
    for (const auto& [k, v] : *layer) ok = ok && set(k, v);
  }
  if (!ok) {
    rdk().rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  return conf;
}

const Properties& consumer_defaults() {
  static const Properties p = {
      {"enable.partition.eof", "true"},
      {"auto.offset.reset", "earliest"},
      // librdkafka pauses fetching once this many messages are queued and resumes only on the
      // broker thread's next wake-up (up to a second later): with one small record per message
      // the default (100,000) made consumption stall a second at a time (85k records/s). The
      // byte bound (queued.max.messages.kbytes, 64 MiB) still caps the memory.
      {"queued.min.messages", "10000000"},
      {"fetch.wait.max.ms", "100"},  // the end of a partition is seen sooner
  };
  return p;
}

Properties producer_properties(const Properties& all) {
  static constexpr std::string_view kConsumerOnly[] = {
      "session.", "heartbeat.", "group.", "auto.", "enable.auto", "partition.assignment",
      "max.poll", "fetch.", "queued.", "enable.partition.eof", "isolation.level"};
  Properties out;
  for (const auto& kv : all) {
    bool consumer_only = false;
    for (std::string_view prefix : kConsumerOnly) consumer_only |= kv.first.starts_with(prefix);
    if (!consumer_only) out.push_back(kv);
  }
  return out;
}

void quiet_log(const rd_kafka_t*, int level, const char* facility, const char* text) {
  if (level <= LOG_CRIT || std::strcmp(facility, "CONFWARN") == 0)
    std::fprintf(stderr, "netpulse: Kafka: %s\n", text);
}

void apply_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                     rd_kafka_topic_partition_list_t* partitions) {
  // NULL once the group sub-system has terminated: rd_kafka_consumer_close() can still serve a
  // rebalance queued before (seen while brokers were failing: strcmp(NULL) crashed `process`).
  // The group has dropped its assignment itself; there is nothing left to apply.
  const char* protocol = rdk().rd_kafka_rebalance_protocol(rk);
  if (protocol == nullptr) return;
  const bool cooperative = std::strcmp(protocol, "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative)
      rdk().rd_kafka_incremental_assign(rk, partitions);
    else
      rdk().rd_kafka_assign(rk, partitions);
  } else if (cooperative) {
    rdk().rd_kafka_incremental_unassign(rk, partitions);
  } else {
    rdk().rd_kafka_assign(rk, nullptr);
  }
}

Handle open_consumer(rd_kafka_conf_t* conf, std::string* why) {
  char err[512];
  rd_kafka_t* rk = rdk().rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) {
    rdk().rd_kafka_conf_destroy(conf);
    *why = std::string("cannot create a Kafka consumer: ") + err;
    return nullptr;
  }
  rdk().rd_kafka_poll_set_consumer(rk);
  return Handle(rk);
}

std::optional<int> partition_count(rd_kafka_t* rk, const std::string& topic,
                                   std::chrono::milliseconds timeout, std::string* why) {
  rd_kafka_topic_t* t = rdk().rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::optional<int> count;
  do {
    const rd_kafka_metadata_t* md = nullptr;
    e = rdk().rd_kafka_metadata(rk, 0, t, &md, 5000);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == 0 && md->topics[0].partition_cnt > 0)
        count = md->topics[0].partition_cnt;
      else if (md->topic_cnt == 1)
        e = md->topics[0].err;
      rdk().rd_kafka_metadata_destroy(md);
    }
    if (count) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  } while (std::chrono::steady_clock::now() < deadline);
  rdk().rd_kafka_topic_destroy(t);
  if (!count) *why = "topic " + topic + ": " + (e ? rdk().rd_kafka_err2str(e) : "no partitions");
  return count;
}

std::unique_ptr<Producer> Producer::open(rd_kafka_conf_t* conf, std::string* why) {
  std::unique_ptr<Producer> p(new Producer());
  rdk().rd_kafka_conf_set_opaque(conf, p.get());
  rdk().rd_kafka_conf_set_dr_msg_cb(conf, &Producer::on_delivery);
  char err[512];
  rd_kafka_t* rk = rdk().rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (rk == nullptr) {
    rdk().rd_kafka_conf_destroy(conf);
    *why = std::string("cannot create a Kafka producer: ") + err;
    return nullptr;
  }
  p->rk_.reset(rk);
  return p;
}

Producer::~Producer() {
  // Give queued messages a moment; callers that care have flushed already.
  if (rk_) rdk().rd_kafka_flush(rk_.get(), 2000);
}

void Producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  if (msg->err) {
    ++self->failed_;
    self->failed_since_flush_ = true;
    if (self->error_.empty()) {
      self->error_ = std::string("Kafka delivery failed: ") + rdk().rd_kafka_err2str(msg->err);
    }
  } else {
    ++self->delivered_;
  }
}

rd_kafka_topic_t* Producer::topic(const std::string& name) {
  for (auto& [n, t] : topics_)
    if (n == name) return t.get();
  topics_.emplace_back(name, rdk().rd_kafka_topic_new(rk_.get(), name.c_str(), nullptr));
  return topics_.back().second.get();
}

bool Producer::produce(rd_kafka_topic_t* topic, int32_t partition, std::string_view key,
                       std::string_view value) {
  for (;;) {
    const rd_kafka_resp_err_t e =
        header_name_.empty()
            ? rdk().rd_kafka_producev(
                  rk_.get(), RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(partition),
                  RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                  RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)
            : rdk().rd_kafka_producev(
                  rk_.get(), RD_KAFKA_V_RKT(topic), RD_KAFKA_V_PARTITION(partition),
                  RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
                  RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                  RD_KAFKA_V_HEADER(header_name_.c_str(), header_value_.data(),
                                    static_cast<ssize_t>(header_value_.size())),
                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return true;
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rdk().rd_kafka_poll(rk_.get(), 10);  // serve delivery reports: that frees the queue
      continue;
    }
    error_ = std::string("Kafka produce to ") + rdk().rd_kafka_topic_name(topic) + ": " +
             rdk().rd_kafka_err2str(e);
    return false;
  }
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  const rd_kafka_resp_err_t e = rdk().rd_kafka_flush(rk_.get(), static_cast<int>(timeout.count()));
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (error_.empty()) error_ = std::string("Kafka flush: ") + rdk().rd_kafka_err2str(e);
    return false;
  }
  const bool ok = !failed_since_flush_;
  failed_since_flush_ = false;
  return ok;
}

}  // namespace netpulse::kafka
