// `netpulse merge`: reads the panes topic that Kafka instances of `netpulse process` publish
// (every partition, from the beginning: the panes of the windows still open are needed again after
// a restart, and emitting a window again stores the same row), and feeds PaneMerge.
#pragma once

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "engine/params.hpp"
#include "kafka/kafka_uri.hpp"
#include "kafka/pane_merge.hpp"

namespace netpulse::kafka {

struct MergeOptions {
  KafkaUri input;  // the panes topic
  Properties properties;
  bool exit_at_end = false;  // stop once every source partition ended and all panes are read
  // The control port's "stop" pauses reading panes (nothing read is lost), "start" resumes.
  const engine::EngineControl* control = nullptr;
};

// Runs until stop() or, with exit_at_end, the end; then emits every pending window. Returns a
// one-line error when it cannot go on. `on_reject` sees each message that does not fit.
std::optional<std::string> run_merge(const MergeOptions& o, PaneMerge& merge,
                                     const std::atomic<bool>& stop,
                                     const std::function<void(const std::string&)>& on_reject);

}  // namespace netpulse::kafka
