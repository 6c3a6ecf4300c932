// Where flow-record text goes, for the commands that write records (generate, collect): stdout,
// a file, a TCP connection, every consumer of a tcp-listen:// port, a Kafka topic (one message
// per record, keyed by source address), or (generate) a flow collector as NetFlow v5/v9 or
// IPFIX datagrams (netflow://HOST:PORT?version=5|9|10&domain=N&sampling=N&mtu=N). Opened from the --output address; errors end
// the command (exit 2 for a bad address, 1 when it cannot be opened). Used from one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "collect/export_sink.hpp"
#include "generate/record_sink.hpp"
#include "generate/tcp_broadcast_sink.hpp"
#include "kafka/kafka_sink.hpp"

namespace netpulse::cli {

class RecordOutput {
 public:
  // `csv`: the records are CSV (refused for Kafka, whose messages are single records).
  // `allow_netflow`: netflow:// is an output here (else a usage error).
  RecordOutput(const std::string& text, bool csv, const std::vector<std::string>& kafka_properties,
               bool quiet, bool allow_netflow = false);
  ~RecordOutput();
  RecordOutput(const RecordOutput&) = delete;
  RecordOutput& operator=(const RecordOutput&) = delete;

  generate::RecordSink& sink();
  // The netflow:// output (nullptr for the others): a flow probe hands it flows directly.
  collect::NetflowExportSink* netflow() { return netflow_.get(); }
  bool is_stdout() const { return is_stdout_; }

  // Ends the output: lets tcp-listen consumers take what is queued (up to `grace`), waits for
  // Kafka deliveries. Returns the summary's extra text ("; 2 consumers, ..."), and a one-line
  // error in *error when records were not delivered.
  std::string finish(std::chrono::milliseconds grace, std::string* error);

 private:
  int fd_ = -1;  // owned unless stdout
  bool is_stdout_ = false;
  std::unique_ptr<generate::RecordSink> fd_sink_;
  std::unique_ptr<generate::TcpBroadcastSink> broadcast_;
  std::unique_ptr<kafka::KafkaSink> kafka_;
  std::unique_ptr<collect::NetflowExportSink> netflow_;
  std::string text_;
  std::chrono::steady_clock::time_point opened_ = std::chrono::steady_clock::now();
};

}  // namespace netpulse::cli
