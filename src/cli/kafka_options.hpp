// --kafka-property K=V, as every subcommand with a kafka:// address takes it.
#pragma once

#include <string>
#include <vector>

#include "kafka/kafka_uri.hpp"

namespace netpulse::cli {

// Parses each K=V; a malformed one is a usage error (exit 2) naming it.
kafka::Properties parse_kafka_properties(const std::vector<std::string>& texts);

}  // namespace netpulse::cli
