// Traffic history from the engine: sums the records the engine logs (HistoryBatch, engine/
// history_accumulator.hpp) into per-minute conversation tables on a thread of its own, turns
// each finished minute into its four history buckets (store/history.hpp: protocol, src, dst,
// conversation) and hands them to the store writer, which stores them, makes the hourly and
// daily rollups and applies retention. The engine's serial step only queues a batch; the queue
// holds a bounded number of records, and when it is full the engine waits: history is never
// dropped for lack of room.
//
// A bucket keeps the `keys` keys with the most bytes (ties: the smaller key) and the rest as
// other; source and destination sums are the conversations' marginals. Bounds (docs/history.md):
// conversations are exact for every conversation kept; when a minute held more conversations
// than max_conversations, the records that did not fit (overflow) may belong to any source or
// destination, so those buckets' error_bytes is the overflow and every cut_bytes is at least it.
// A sampled minute (the engine's logs made with a sample size) holds estimates: its buckets
// state their error both ways (minute_buckets).
// Thread-safe: offer() from the engine's thread, stop() from the owner's.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/protocol_table.hpp"
#include "engine/history_accumulator.hpp"
#include "engine/params.hpp"
#include "engine/window_shard.hpp"
#include "kafka/pane_merge.hpp"
#include "store/history.hpp"

namespace netpulse::app {

// The four buckets of one minute, each cut to `keys` keys. Deterministic: an exact minute's
// records give the same buckets for any number of engine threads.
std::vector<store::HistoryBucket> minute_buckets(const engine::HistoryMinute& minute,
                                                 const core::ProtocolTable& protocols,
                                                 size_t keys, const std::string& origin);

class HistoryRecorder {
 public:
  using BucketSink = std::function<void(store::HistoryBucket)>;

  // Records queued between the engine and the recorder, at most (64 MiB of IPv4 records).
  static constexpr size_t kDefaultMaxQueued = size_t{4} << 20;

  // sink: where buckets go (the store writer's push), called on the recorder's thread.
  HistoryRecorder(BucketSink sink, const core::ProtocolTable& protocols, size_t keys,
                  std::string origin, size_t max_conversations, size_t sample = 0,
                  size_t max_queued_records = kDefaultMaxQueued);
  ~HistoryRecorder();
  HistoryRecorder(const HistoryRecorder&) = delete;
  HistoryRecorder& operator=(const HistoryRecorder&) = delete;

  // Queues a batch; waits while the queue is full (a batch always fits an empty queue).
  void offer(engine::HistoryBatch batch);
  // Builds what is queued and joins the thread. Idempotent.
  void stop();

  // The chunk buffers' way back to the engine's logs (Pipeline::on_history).
  engine::HistoryChunkPool* pool() { return &pool_; }

  // The sample size K the engine's logs must be given (Pipeline::on_history); 0: exact.
  size_t sample() const { return sample_; }
  uint64_t minutes() const { return minutes_.load(); }
  uint64_t sampled_minutes() const { return sampled_.load(); }
  uint64_t buckets() const { return buckets_.load(); }
  uint64_t overflow_records() const { return overflow_.load(); }
  uint64_t producer_wait_us() const { return wait_us_.load(); }
  // CPU time the recorder's thread has spent (summing, cutting, handing buckets on).
  uint64_t busy_us() const { return busy_us_.load(); }

 private:
  void run();

  BucketSink sink_;
  const core::ProtocolTable& protocols_;
  const size_t keys_;
  const std::string origin_;
  const size_t sample_;
  const size_t max_queued_;
  engine::HistoryAggregator aggregator_;  // the recorder's thread only
  engine::HistoryChunkPool pool_;
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<engine::HistoryBatch> queue_;  // guarded by mu_
  size_t queued_records_ = 0;               // guarded by mu_: queued or being summed
  bool stopping_ = false;                    // guarded by mu_
  std::atomic<uint64_t> minutes_{0}, sampled_{0}, buckets_{0}, overflow_{0}, wait_us_{0},
      busy_us_{0};
  std::mutex join_mu_;
  std::thread thread_;  // last: starts after the members above exist
};

// History for `merge --store`, from the merged panes (kafka::PaneMerge). The panes carry
// exact per-protocol and per-address sums (the address of --ip-key), so the protocol bucket and
// the bucket of that address are exact (a summarized pane, under the memory budget, adds its
// floor to the address bucket's bounds). Conversations, and the other address (both, for
// --ip-key host), come from the conversation samples the instances publish with each pane
// (kafka/pane_codec.hpp): summed as the recorder sums a sampled minute's, with the same bounds
// (exact when every pane's sample kept every record). A minute with a pane whose sample is
// missing (an instance of an older version) gets its exact buckets only. A pane counts in the
// minute its start falls in. Buckets go to `sink` on the merge's thread as minutes complete.
class PaneHistory final : public kafka::PaneObserver {
 public:
  PaneHistory(std::function<void(store::HistoryBucket)> sink, const core::ProtocolTable& protocols,
              std::function<engine::IpKey()> ip_key, size_t keys, std::string origin);

  void pane(int64_t start_ms, const engine::KeySums& sums, kafka::PaneSamples&& samples) override;
  void complete_below(int64_t ms) override;

  uint64_t buckets() const { return buckets_; }
  // Minutes whose conversations were estimated from a sample that left records out.
  uint64_t sampled_minutes() const { return sampled_; }

 private:
  struct Minute {
    engine::AggMap<uint32_t> ip4;
    engine::AggMap<core::Ip6> ip6;
    uint64_t floor = 0;  // summarized panes: a listed address may be short by this much
    bool samples_complete = true;
  };

  std::function<void(store::HistoryBucket)> sink_;
  const core::ProtocolTable& protocols_;
  std::function<engine::IpKey()> ip_key_;  // the instances' (known once panes arrive)
  size_t keys_;
  std::string origin_;
  engine::HistoryAggregator aggregator_;
  engine::HistoryBatch batch_;  // the panes' chunks since the last complete_below
  std::map<int64_t, Minute> minutes_;
  uint64_t buckets_ = 0, sampled_ = 0;
};

}  // namespace netpulse::app
