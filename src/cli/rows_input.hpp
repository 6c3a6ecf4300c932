// A stream of NSL-KDD connection rows as `netpulse classify --input` and `netpulse run --rows`
// take it: file:PATH or PATH, - (stdin), tcp://HOST:PORT, tcp-listen://HOST:PORT, or
// kafka://BROKERS/TOPIC?group=G (one row per message). Parsing and opening are separate so a
// command can check its arguments, set up its signal handling, and only then open the input
// (which may start reader threads).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ingest/block_source.hpp"
#include "ingest/uri.hpp"

namespace netpulse::cli {

struct RowsInput {
  std::string option;  // the argument's name for messages: "--input", "--rows"
  ingest::Uri uri;
  std::vector<std::string> kafka_properties;  // K=V, kafka:// only
  bool exit_at_end = false;                   // kafka:// only
};

// Parses the address and checks the Kafka-only settings against it; a bad one is a usage error
// (exit 2) naming the argument.
RowsInput parse_rows_input(const std::string& option, const std::string& text,
                           std::vector<std::string> kafka_properties = {},
                           bool exit_at_end = false);

// Opens the input. Kafka arguments librdkafka refuses are usage errors; an input that cannot be
// opened is an I/O error (exit 1) naming it.
std::unique_ptr<ingest::BlockSource> open_rows_input(const RowsInput& input);

}  // namespace netpulse::cli
