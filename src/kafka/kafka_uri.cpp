#include "kafka/kafka_uri.hpp"

namespace netpulse::kafka {

std::optional<KafkaUri> parse_kafka_uri(std::string_view rest, std::string* why) {
  KafkaUri out;
  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
    *why = "expected kafka://BROKERS/TOPIC (e.g. kafka://127.0.0.1:9092/flows)";
    return std::nullopt;
  }
  out.brokers = std::string(rest.substr(0, slash));
  out.topic = std::string(rest.substr(slash + 1));
  if (out.topic.find('/') != std::string::npos) {
    *why = "a Kafka topic name cannot contain '/': " + out.topic;
    return std::nullopt;
  }
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    auto kv = parse_property(item, why);
    if (!kv) return std::nullopt;
    if (kv->first == "group") {
      out.group = kv->second;
    } else {
      out.properties.push_back(std::move(*kv));
    }
  }
  return out;
}

std::optional<std::pair<std::string, std::string>> parse_property(std::string_view text,
                                                                 std::string* why) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    *why = "expected KEY=VALUE, got '" + std::string(text) + "'";
    return std::nullopt;
  }
  return std::pair{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

}  // namespace netpulse::kafka
