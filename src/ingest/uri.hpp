// Input and output addresses as the CLI takes them: file:PATH (or a bare path), "-" (stdin or
// stdout), tcp://HOST:PORT, tcp-listen://HOST:PORT, kafka://BROKERS/TOPIC. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace netpulse::ingest {

struct Uri {
  enum class Kind { kStdio, kFile, kTcp, kTcpListen, kKafka };
  Kind kind = Kind::kStdio;
  std::string path;  // kFile: the path; kKafka: "BROKERS/TOPIC?..."
  std::string host;  // kTcp, kTcpListen
  uint16_t port = 0;
  std::string text;  // as given, for messages
};

// Returns the URI, or nullopt with a reason in *why.
std::optional<Uri> parse_uri(std::string_view text, std::string* why);

}  // namespace netpulse::ingest
