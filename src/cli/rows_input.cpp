#include "cli/rows_input.hpp"

#include "cli/common.hpp"
#include "cli/kafka_options.hpp"
#include "kafka/kafka_source.hpp"

namespace netpulse::cli {

namespace {

// A kafka:// input: a consumer in the URI's group.
std::unique_ptr<ingest::BlockSource> open_kafka_source(const RowsInput& in) {
  std::string why;
  const auto kuri = kafka::parse_kafka_uri(in.uri.path, &why);
  if (!kuri) usage_error(in.option + " '" + in.uri.text + "': " + why);
  const kafka::Properties overrides = parse_kafka_properties(in.kafka_properties);
  kafka::KafkaSource::Options options;
  options.exit_at_end = in.exit_at_end;
  auto source = kafka::KafkaSource::open(*kuri, overrides, options, &why);
  if (!source) usage_error(in.option + " '" + in.uri.text + "': " + why);
  return source;
}

}  // namespace

RowsInput parse_rows_input(const std::string& option, const std::string& text,
                           std::vector<std::string> kafka_properties, bool exit_at_end) {
  auto uri = ingest::parse_uri(text);
  if (!uri.ok()) usage_error(option + " '" + text + "': " + uri.status().message());
  const bool kafka = uri->kind == ingest::Uri::Kind::kKafka;
  if (!kafka && !kafka_properties.empty())
    usage_error("--kafka-property: only with a kafka:// " + option);
  if (!kafka && exit_at_end) usage_error("--exit-at-end: only with a kafka:// " + option);
  if (kafka) {
    // Checked here, before the command opens its output, so a bad argument truncates nothing.
    std::string why;
    const auto k = kafka::parse_kafka_uri(uri->path, &why);
    if (!k) usage_error(option + " '" + text + "': " + why);
    if (k->group.empty())
      usage_error(option + " '" + text + "': a Kafka input needs a consumer group: add ?group=NAME");
    parse_kafka_properties(kafka_properties);
  }
  return RowsInput{option, std::move(*uri), std::move(kafka_properties), exit_at_end};
}

std::unique_ptr<ingest::BlockSource> open_rows_input(const RowsInput& in) {
  if (in.uri.kind == ingest::Uri::Kind::kKafka) return open_kafka_source(in);
  auto source = ingest::open_source(in.uri, ingest::SourceOptions{});
  if (!source.ok()) io_error(source.status().message());
  return std::move(source).value();
}

}  // namespace netpulse::cli
