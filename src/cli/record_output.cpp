#include "cli/record_output.hpp"

#include <unistd.h>

#include <cstdio>

#include "cli/common.hpp"
#include "cli/kafka_options.hpp"
#include "core/net.hpp"
#include "ingest/uri.hpp"

namespace netpulse::cli {

RecordOutput::RecordOutput(const std::string& text, bool csv,
                           const std::vector<std::string>& kafka_properties, bool quiet) {
  std::string why;
  const auto uri = ingest::parse_uri(text, &why);
  if (!uri) usage_error("--output '" + text + "': " + why);
  if (!kafka_properties.empty() && uri->kind != ingest::Uri::Kind::kKafka)
    usage_error("--kafka-property: only with a kafka:// --output");
  switch (uri->kind) {
    case ingest::Uri::Kind::kStdio:
    case ingest::Uri::Kind::kFile:
      fd_ = open_output(text);
      is_stdout_ = fd_ == 1;
      fd_sink_ = std::make_unique<generate::FdSink>(fd_, is_stdout_ ? "stdout" : uri->path);
      return;
    case ingest::Uri::Kind::kTcp:
      fd_ = core::connect_tcp(uri->host, uri->port, "--output " + text, &why);
      if (fd_ < 0) io_error(why);
      fd_sink_ = std::make_unique<generate::FdSink>(fd_, text);
      return;
    case ingest::Uri::Kind::kTcpListen: {
      generate::TcpBroadcastSink::Options options;
      options.on_notice = [quiet](const std::string& line) {
        if (!quiet) std::fprintf(stderr, "netpulse: %s\n", line.c_str());
      };
      broadcast_ = generate::TcpBroadcastSink::start(uri->host, uri->port, options, &why);
      if (!broadcast_) io_error("--output " + text + ": " + why);
      if (!quiet)
        std::fprintf(stderr, "netpulse: serving records on tcp-listen://%s:%u\n", uri->host.c_str(),
                     broadcast_->port());
      return;
    }
    case ingest::Uri::Kind::kKafka: {
      if (csv) usage_error("--format csv: a kafka:// output carries the line format only");
      const auto kuri = kafka::parse_kafka_uri(uri->path, &why);
      if (!kuri) usage_error("--output '" + text + "': " + why);
      kafka_ = kafka::KafkaSink::open(*kuri, parse_kafka_properties(kafka_properties), &why);
      if (!kafka_) usage_error("--output '" + text + "': " + why);
      return;
    }
    case ingest::Uri::Kind::kNetflow:
    case ingest::Uri::Kind::kSflow:
      usage_error("--output '" + text + "': flow-export addresses are inputs here");
  }
}

RecordOutput::~RecordOutput() {
  if (fd_ > 1) ::close(fd_);
}

generate::RecordSink& RecordOutput::sink() {
  if (kafka_) return *kafka_;
  return broadcast_ ? static_cast<generate::RecordSink&>(*broadcast_) : *fd_sink_;
}

std::string RecordOutput::finish(std::chrono::milliseconds grace, std::string* error) {
  std::string extra;
  if (broadcast_) {
    const auto totals = broadcast_->close(grace);
    extra = "; " + std::to_string(totals.consumers) + " consumers, " +
            std::to_string(totals.dropped_records) + " records dropped for slow consumers";
  }
  if (kafka_) {
    const bool ok = kafka_->finish();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - opened_).count();
    extra += "; " + std::to_string(kafka_->delivered()) + " delivered to Kafka, " +
             std::to_string(kafka_->failed()) + " failed, " +
             human_rate(seconds > 0 ? kafka_->delivered() / seconds : 0) + "records/s delivered";
    if (!ok && error) *error = kafka_->error();
  }
  return extra;
}

}  // namespace netpulse::cli
