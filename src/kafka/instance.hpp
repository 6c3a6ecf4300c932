// `netpulse process --input kafka://...`: one member of a consumer group. For each partition it
// is assigned, it decides lateness against that partition's own order, sums accepted records per
// pane, and publishes each pane once it is complete (pane_codec.hpp) to the panes topic, followed
// by a mark; `netpulse merge` adds the panes of all partitions and runs the six queries on them,
// so N instances give exactly the results of one. Offsets are committed (with the checkpoint
// of partition_state.hpp as metadata) only after the panes they cover are delivered.
//
//   flows topic (P partitions) ──► instance 1 ─┐  panes + marks   ┌─► merge ─► results
//                                ──► instance 2 ─┴─► panes topic ───┘   (watermark = min over P)
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "engine/params.hpp"
#include "kafka/kafka_uri.hpp"

namespace netpulse::kafka {

// Every pane and mark an instance publishes carries this header: the instance's name, which
// `merge --web` shows as the owner of the source partition.
inline constexpr std::string_view kInstanceHeader = "netpulse-instance";
// HOST:PID-XXXX, XXXX four random hex digits (in a container, HOST is the container's host
// name; the suffix tells apart replicas that share the host's name and have the same PID).
std::string default_instance_name();

struct InstanceOptions {
  KafkaUri input;           // topic and group (required)
  std::string name;         // kInstanceHeader's value; empty: default_instance_name()
  std::string panes_topic;  // where panes go (source partition mod its partitions); default: input.topic + ".panes"
  Properties properties;    // --kafka-property, for the consumer and the producer
  engine::EngineConfig config;
  bool exit_at_end = false;
  std::chrono::milliseconds idle_timeout{10'000};  // 0: a partition never counts as idle
  std::chrono::milliseconds commit_interval{1'000};
  bool quiet = false;  // no notice on stderr at each assignment
  // Records of a minute's conversation sample (`--history-sample`), spread over its panes
  // (pane_sample()) and published with each pane for merge's traffic history; 0: every record;
  // kNoSample (partition_state.hpp): none.
  size_t history_sample = 5'000;
};

struct InstanceCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> late{0};
  std::atomic<uint64_t> malformed{0};
  std::atomic<uint64_t> replayed{0};  // records of panes published before a restart: skipped
  std::atomic<uint64_t> panes{0};     // pane messages published
  std::atomic<uint64_t> samples{0};   // sample messages published (conversation history)
  std::atomic<uint64_t> summarized{0};  // panes published as summaries (--memory-limit)
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> rebalances{0};

  uint64_t records_read() const {
    return accepted.load() + late.load() + malformed.load() + replayed.load();
  }
};

class Instance {
 public:
  // (partition, offset, reason, the offending text)
  using MalformedHandler = std::function<void(int32_t, int64_t, const char*, std::string_view)>;

  explicit Instance(InstanceOptions options) : o_(std::move(options)) {}

  void on_malformed(MalformedHandler h, size_t limit = 10) {
    malformed_handler_ = std::move(h);
    malformed_limit_ = limit;
  }

  // Runs until stop() (or, with exit_at_end, until every assigned partition is at its end and
  // its panes are published). Returns a one-line error when it cannot go on.
  std::optional<std::string> run();
  // Safe from any thread: commits what is delivered and leaves the group.
  void stop() { stop_ = true; }

  const InstanceCounters& counters() const { return counters_; }

 private:
  InstanceOptions o_;
  InstanceCounters counters_;
  std::atomic<bool> stop_{false};
  MalformedHandler malformed_handler_;
  size_t malformed_limit_ = 10;
};

}  // namespace netpulse::kafka
