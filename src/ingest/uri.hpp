// Input and output addresses as the CLI takes them: file:PATH (or a bare path), "-" (stdin or
// stdout), tcp://HOST:PORT, tcp-listen://HOST:PORT, kafka://BROKERS/TOPIC, and the flow-export
// addresses netflow://HOST[:PORT][?opts] (default port 2055) and sflow://HOST[:PORT][?opts]
// (default 6343), after GoFlow2's convention: an empty host (netflow://:2055) means every local
// address; and the packet captures pcap:FILE[?speed=N] (a pcap or pcapng file) and
// pcap-live:IFACE (a live interface). Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.hpp"

namespace netpulse::ingest {

struct Uri {
  enum class Kind { kStdio, kFile, kTcp, kTcpListen, kKafka, kNetflow, kSflow, kPcap, kPcapLive };
  Kind kind = Kind::kStdio;
  std::string path;  // kFile, kPcap: the path; kPcapLive: the interface; kKafka: "BROKERS/TOPIC?..."
  std::string host;  // kTcp, kTcpListen, kNetflow, kSflow (empty: every local address)
  uint16_t port = 0;
  // kNetflow, kSflow, kPcap, kPcapLive: what follows '?' ("version=9&...", "speed=2"), without
  // the '?'.
  std::string query;
  std::string text;  // as given, for messages
};

// The URI, or the reason it is not one (an invalid argument: "expected HOST:PORT").
core::Result<Uri> parse_uri(std::string_view text);

// The key=value pairs of a URI query "a=1&b=2" in order (empty pairs skipped; a key without
// '=' has an empty value). The views point into `query`.
std::vector<std::pair<std::string_view, std::string_view>> query_pairs(std::string_view query);

// The value of `key` in a URI query "a=1&b=2"; nullopt when absent.
std::optional<std::string> query_value(std::string_view query, std::string_view key);

}  // namespace netpulse::ingest
