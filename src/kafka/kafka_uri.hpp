// kafka://BROKERS/TOPIC?group=G&key=value addresses, and the librdkafka configuration built from
// them plus --kafka-property K=V. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace netpulse::kafka {

using Properties = std::vector<std::pair<std::string, std::string>>;

struct KafkaUri {
  std::string brokers;  // bootstrap.servers, comma-separated host:port
  std::string topic;
  std::string group;    // ?group=G (consumers); empty when not given
  Properties properties;  // any other ?k=v, passed to librdkafka as is
};

// Parses the part after "kafka://" (ingest::Uri::path). Returns nullopt with a reason in *why.
std::optional<KafkaUri> parse_kafka_uri(std::string_view rest, std::string* why);

// Parses one --kafka-property "K=V". Returns nullopt with a reason in *why.
std::optional<std::pair<std::string, std::string>> parse_property(std::string_view text,
                                                                 std::string* why);

}  // namespace netpulse::kafka
