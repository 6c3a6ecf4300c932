#include "kafka/merge.hpp"

#include <cstdio>
#include <set>

#include "kafka/client.hpp"

namespace netpulse::kafka {

std::optional<std::string> run_merge(const MergeOptions& o, PaneMerge& merge,
                                     const std::atomic<bool>& stop,
                                     const std::function<void(const std::string&)>& on_reject) {
  std::string why;
  // No group membership: merge reads the one partition itself and commits nothing.
  Properties defaults = {{"group.id", "netpulse-merge"},
                         {"enable.auto.commit", "false"},
                         {"enable.partition.eof", "true"},
                         {"auto.offset.reset", "earliest"}};
  rd_kafka_conf_t* conf = make_conf(o.input.brokers, defaults, o.input.properties, o.properties, &why);
  if (!conf) return why;
  Handle rk = open_consumer(conf, &why);
  if (!rk) return why;
  PartitionList parts(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(parts.get(), o.input.topic.c_str(), 0)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  if (auto e = rd_kafka_assign(rk.get(), parts.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return "cannot read " + o.input.topic + ": " + rd_kafka_err2str(e);

  bool at_end = false;
  std::set<std::string> logged;
  while (!stop) {
    bool got = false;
    for (int n = 0; n < 10'000; ++n) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), n == 0 ? 100 : 0);
      if (m == nullptr) break;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        at_end = true;
      } else if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
          std::string e = rd_kafka_message_errstr(m);
          rd_kafka_message_destroy(m);
          return "Kafka: " + e;
        }
        if (logged.insert(std::to_string(m->err)).second)
          std::fprintf(stderr, "netpulse: Kafka consumer: %s (retrying)\n", rd_kafka_message_errstr(m));
      } else {
        at_end = false;
        got = true;
        const std::string_view value(static_cast<const char*>(m->payload), m->len);
        auto d = decode(value, &why);
        if (!d) {
          on_reject("panes topic offset " + std::to_string(m->offset) + ": " + why);
        } else if (auto bad = merge.accept(std::move(*d))) {
          on_reject("panes topic offset " + std::to_string(m->offset) + ": " + *bad);
        }
      }
      rd_kafka_message_destroy(m);
    }
    if (got) merge.advance();
    if (o.exit_at_end && at_end && merge.all_ended()) break;
  }
  merge.finish();
  return std::nullopt;
}

}  // namespace netpulse::kafka
