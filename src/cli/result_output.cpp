#include "cli/result_output.hpp"

#include <unistd.h>

#include "cli/common.hpp"
#include "cli/kafka_options.hpp"
#include "ingest/uri.hpp"
#include "kafka/client.hpp"

namespace netpulse::cli {

ResultOutput::ResultOutput(const std::string& uri, const std::vector<std::string>& kafka_properties)
    : uri_(uri) {
  std::string why;
  const auto parsed = ingest::parse_uri(uri);
  if (parsed.ok() && parsed->kind == ingest::Uri::Kind::kKafka) {
    const auto k = kafka::parse_kafka_uri(parsed->path, &why);
    if (!k) usage_error("--output '" + uri + "': " + why);
    // A producer: consumer-only properties of a shared --kafka-property list stay out.
    kafka_ = kafka::KafkaResultSink::open(
        *k, kafka::producer_properties(parse_kafka_properties(kafka_properties)), &why);
    if (!kafka_) usage_error("--output '" + uri + "': " + why);
    return;
  }
  fd_ = open_output(uri);  // the errors for everything else
  json_ = std::make_unique<query::JsonLinesSink>(fd_);
}

ResultOutput::~ResultOutput() { close(); }

std::optional<std::string> ResultOutput::close() {
  if (closed_) return std::nullopt;
  closed_ = true;
  std::optional<std::string> error;
  if (kafka_) {
    error = kafka_->finish();
  } else {
    json_->flush();
    if (!json_->ok()) error = json_->error();
    if (fd_ > 1) ::close(fd_);
  }
  if (error) return "--output '" + uri_ + "': " + *error;
  return std::nullopt;
}

}  // namespace netpulse::cli
