#include "cli/kafka_options.hpp"

#include "cli/common.hpp"

namespace netpulse::cli {

kafka::Properties parse_kafka_properties(const std::vector<std::string>& texts) {
  kafka::Properties out;
  for (const std::string& t : texts) {
    std::string why;
    auto kv = kafka::parse_property(t, &why);
    if (!kv) usage_error("--kafka-property: " + why);
    out.push_back(std::move(*kv));
  }
  return out;
}

}  // namespace netpulse::cli
