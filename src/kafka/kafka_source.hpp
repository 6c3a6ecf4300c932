// Lines from a Kafka topic, as an ingest::BlockSource: a consumer in the URI's group, each
// message value one line, packed into blocks of about block_size. A block is handed out when
// it is full or when no message came for `idle` (a slow stream is not held back). Partitions
// are interleaved in arrival order; within a partition the order is kept. The group's offsets
// are committed at least once: only for blocks the caller has taken (see kafka_source.cpp).
//
// next() runs on one thread at a time; close() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ingest/block_source.hpp"
#include "kafka/client.hpp"
#include "kafka/kafka_uri.hpp"

namespace netpulse::kafka {

class KafkaSource final : public ingest::BlockSource {
 public:
  struct Options {
    // End (kEnd) once every partition of the assignment has reached its end, as `kcat -e`
    // does: for backfills. Otherwise the stream waits for new messages until close().
    bool exit_at_end = false;
    size_t block_size = ingest::kBlockSize;
    std::chrono::milliseconds idle{5};
  };

  // Consumer settings before the URI's ?k=v and --kafka-property.
  static const Properties& default_properties();

  // Opens a consumer in uri.group subscribed to uri.topic (it connects in the background).
  // Returns nullptr with a one-line reason in *why: no group, or an unknown or invalid
  // property.
  static std::unique_ptr<KafkaSource> open(const KafkaUri& uri, const Properties& overrides,
                                           const Options& options, std::string* why);
  ~KafkaSource() override;

  Next next(ingest::Block& out, std::chrono::milliseconds timeout) override;
  void close() override { closing_ = true; }
  std::string error() const override { return error_; }
  std::string describe() const override { return describe_; }

 private:
  KafkaSource() = default;
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque);
  void rebalanced(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions);
  // Client-wide errors (brokers down, ...), served by rd_kafka_consumer_poll on next()'s thread.
  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  // Ends the stream for a fatal error (or a missing topic in a backfill); otherwise says it
  // once per kind: librdkafka keeps retrying.
  void failed(rd_kafka_resp_err_t err, const std::string& reason);
  // Takes one polled message (or event) into the block being built.
  void take(const rd_kafka_message_t& m);
  void report(rd_kafka_resp_err_t err, const std::string& reason);
  void hand_out(ingest::Block& out);
  void store_handed_out_offsets();
  bool all_at_end() const;

  struct PartitionState {
    int32_t partition;
    bool at_end;
  };

  Handle rk_;
  Options options_;
  std::string topic_, describe_;
  std::atomic<bool> closing_{false};
  bool ended_ = false;

  std::shared_ptr<std::string> block_;  // the block being built
  std::chrono::steady_clock::time_point block_started_;  // when its first line came
  // Next offset per partition, for the messages in block_ and in the block handed out last.
  std::vector<std::pair<int32_t, int64_t>> building_offsets_, handed_offsets_;

  bool assigned_ = false;  // holding an assignment (possibly empty) from the group
  std::vector<PartitionState> partitions_;
  std::vector<int> reported_;  // error kinds already said on stderr
  std::string error_;
};

}  // namespace netpulse::kafka
