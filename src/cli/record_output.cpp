#include "cli/record_output.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdio>

#include "cli/common.hpp"
#include "cli/kafka_options.hpp"
#include "core/net.hpp"
#include "ingest/uri.hpp"

namespace netpulse::cli {

namespace {

// The options of a netflow:// output, from its query: version=5|9|10 (default 10: IPFIX is the
// IETF standard, carries IPv6, and its absolute ms times never wrap), domain=N (v9 source id /
// IPFIX observation domain), sampling=N (announce 1:N and send 1 record in N), mtu=N (datagram
// size). Anything else in the query is a usage error.
collect::NetflowExportOptions netflow_options(const ingest::Uri& uri) {
  const std::string bad = "--output '" + uri.text + "': ";
  collect::NetflowExportOptions o;
  for (const auto& [key, text] : ingest::query_pairs(uri.query)) {
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    const bool number = !text.empty() && ec == std::errc() && end == text.data() + text.size();
    const auto need = [&](bool ok, const char* what) {
      if (!ok || !number) usage_error(bad + std::string(key) + " must be " + what);
    };
    if (key == "version") {
      need(value == 5 || value == 9 || value == 10, "5, 9 or 10 (IPFIX)");
      o.encoder.version = static_cast<collect::ExportProtocol>(value);
    } else if (key == "domain") {
      need(value <= UINT32_MAX, "a number 0 to 4294967295");
      o.encoder.domain = static_cast<uint32_t>(value);
    } else if (key == "sampling") {
      need(value >= 1 && value <= UINT32_MAX, "a rate of 1 or more (1 in N)");
      o.encoder.sampling_rate = static_cast<uint32_t>(value);
    } else if (key == "mtu") {
      need(value >= collect::kMinDatagram && value <= collect::kMaxDatagram,
           "a datagram size of 512 to 65507 bytes");
      o.encoder.max_datagram = value;
    } else {
      usage_error(bad + "unknown option '" + std::string(key) +
                  "' (version, domain, sampling or mtu)");
    }
  }
  if (auto why = collect::validate(o.encoder)) usage_error(bad + *why);
  return o;
}

}  // namespace


RecordOutput::RecordOutput(const std::string& text, bool csv,
                           const std::vector<std::string>& kafka_properties, bool quiet,
                           bool allow_netflow)
    : text_(text) {
  std::string why;
  const auto uri = ingest::parse_uri(text);
  if (!uri.ok()) usage_error("--output '" + text + "': " + uri.status().message());
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
      if (const auto fd = core::connect_tcp(uri->host, uri->port, "--output " + text); fd.ok())
        fd_ = *fd;
      else
        io_error(fd.status().message());
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
    case ingest::Uri::Kind::kNetflow: {
      if (!allow_netflow) usage_error("--output '" + text + "': flow-export addresses are inputs here");
      // The text format never reaches the wire: asking for CSV there is a mistake.
      if (csv) usage_error("--format csv: a netflow:// output sends flow records, not text");
      if (uri->host.empty())
        usage_error("--output '" + text + "': a netflow:// output needs a host");
      netflow_ = collect::NetflowExportSink::open(uri->host, uri->port, netflow_options(*uri),
                                                  collect::ServiceTable(), text, &why);
      if (!netflow_) io_error(why);
      return;
    }
    case ingest::Uri::Kind::kSflow:
      usage_error("--output '" + text + "': sflow:// is an input only");
    case ingest::Uri::Kind::kPcap:
    case ingest::Uri::Kind::kPcapLive:
      usage_error("--output '" + text + "': packet captures are inputs only");
  }
}

RecordOutput::~RecordOutput() {
  if (fd_ > 1) ::close(fd_);
}

generate::RecordSink& RecordOutput::sink() {
  if (kafka_) return *kafka_;
  if (netflow_) return *netflow_;
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
  if (netflow_) {
    const bool ok = netflow_->finish();
    const collect::NetflowExportCounters& c = netflow_->counters();
    extra += "; " + std::to_string(c.datagrams_sent) + " datagrams, " +
             std::to_string(c.flows_sent) + " flows sent to " + text_ + ", " +
             std::to_string(c.flows_skipped) + " flows skipped" +
             (c.flows_skipped > 0 ? " (IPv6 cannot go over v5), " : ", ") +
             std::to_string(c.send_errors) + " send errors";
    if (c.refused > 0) extra += ", " + std::to_string(c.refused) + " refused (nothing listening)";
    if (c.unknown_labels > 0)
      extra += ", " + std::to_string(c.unknown_labels) + " unknown labels sent as TCP port 0";
    if (c.sampled_out > 0) extra += ", " + std::to_string(c.sampled_out) + " sampled out";
    if (!ok && error) *error = netflow_->error();
  }
  return extra;
}

}  // namespace netpulse::cli
