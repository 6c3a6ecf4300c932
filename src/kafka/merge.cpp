#include "kafka/merge.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>
#include <set>
#include <thread>

#include "kafka/client.hpp"
#include "kafka/instance.hpp"

namespace netpulse::kafka {

namespace {

// The publishing instance's name (kInstanceHeader), or empty.
std::string_view instance_of(const rd_kafka_message_t* m) {
  rd_kafka_headers_t* headers = nullptr;
  if (rdk().rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  const void* value = nullptr;
  size_t size = 0;
  const std::string name(kInstanceHeader);
  if (rdk().rd_kafka_header_get_last(headers, name.c_str(), &value, &size) !=
          RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr)
    return {};
  return {static_cast<const char*>(value), size};
}

}  // namespace

std::optional<std::string> run_merge(const MergeOptions& o, PaneMerge& merge,
                                     const std::atomic<bool>& stop,
                                     const std::function<void(const std::string&)>& on_reject) {
  std::string why;
  // No group membership: merge reads every partition itself and commits nothing.
  Properties defaults = consumer_defaults();
  defaults.insert(defaults.end(), {{"group.id", "netpulse-merge"}, {"enable.auto.commit", "false"}});
  rd_kafka_conf_t* conf = make_conf(o.input.brokers, defaults, o.input.properties, o.properties, &why);
  if (!conf) return why;
  rdk().rd_kafka_conf_set_log_cb(conf, &quiet_log);
  Handle rk = open_consumer(conf, &why);
  if (!rk) return why;
  // Every partition of the panes topic (instances spread source partitions over them).
  const auto count = partition_count(rk.get(), o.input.topic, std::chrono::seconds(15), &why);
  if (!count) return why + " (on " + o.input.brokers + ")";
  PartitionList parts(rdk().rd_kafka_topic_partition_list_new(*count));
  for (int p = 0; p < *count; ++p)
    rdk().rd_kafka_topic_partition_list_add(parts.get(), o.input.topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  if (auto e = rdk().rd_kafka_assign(rk.get(), parts.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR)
    return "cannot read " + o.input.topic + ": " + rdk().rd_kafka_err2str(e);

  std::vector<bool> at_end(static_cast<size_t>(*count), false);
  const auto all_at_end = [&] { return std::all_of(at_end.begin(), at_end.end(), [](bool b) { return b; }); };
  std::set<std::string> logged;
  while (!stop) {
    if (o.control && o.control->paused()) {
      // librdkafka keeps the group-less assignment while we do not poll.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    bool got = false;
    for (int n = 0; n < 10'000; ++n) {
      rd_kafka_message_t* m = rdk().rd_kafka_consumer_poll(rk.get(), n == 0 ? 100 : 0);
      if (m == nullptr) break;
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (m->partition >= 0 && m->partition < *count) at_end[static_cast<size_t>(m->partition)] = true;
      } else if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
          std::string e = rdk().rd_kafka_message_errstr(m);
          rdk().rd_kafka_message_destroy(m);
          return "Kafka: " + e;
        }
        if (logged.insert(std::to_string(m->err)).second)
          std::fprintf(stderr, "netpulse: Kafka consumer: %s (retrying)\n",
                       rdk().rd_kafka_message_errstr(m));
      } else {
        if (m->partition >= 0 && m->partition < *count) at_end[static_cast<size_t>(m->partition)] = false;
        got = true;
        const std::string_view value(static_cast<const char*>(m->payload), m->len);
        auto d = decode(value, &why);
        if (!d) {
          on_reject("panes topic offset " + std::to_string(m->offset) + ": " + why);
        } else if (auto bad = merge.accept(std::move(*d), instance_of(m))) {
          on_reject("panes topic offset " + std::to_string(m->offset) + ": " + *bad);
        }
      }
      rdk().rd_kafka_message_destroy(m);
    }
    if (got) merge.advance();
    if (o.exit_at_end && all_at_end() && merge.all_ended()) break;
  }
  merge.finish();
  return std::nullopt;
}

}  // namespace netpulse::kafka
