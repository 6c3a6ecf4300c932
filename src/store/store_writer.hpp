// Writes results, alerts and traffic history to a Store on a background thread, so the engine
// never waits for the database unless it falls a whole queue behind. A bounded queue (capacity
// items, those being written included) feeds one writer thread that stores up to max_batch items
// per transaction. When the queue is full, push() waits: nothing is ever dropped for lack of room.
// A failed write is reported in stats(), kept and retried with exponential backoff; only items the
// store refuses as data (StoreError::Kind::kRejected, e.g. malformed JSON) are given up, one by
// one, and counted. History (minute buckets) goes the same way; after storing a minute bucket the
// writer also builds the hour and day buckets that became complete and applies retention (event
// time), and when the disk is full (StoreError::Kind::kFull) it stops writing history, dropping and
// counting buckets, until a later try succeeds; results and alerts are never dropped.
// Thread-safe: any thread may push, flush and read stats; the Store is used only by the writer
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "store/store.hpp"

namespace netpulse::store {

class StoreWriter {
 public:
  static constexpr size_t kDefaultCapacity = 10000;

  // Traffic history: roll-ups, retention and what to do when the disk is full.
  struct HistoryOptions {
    size_t keys = 10000;  // top keys kept in the hour and day buckets the writer builds
    // Per resolution (minute, hour, day): the age kept, relative to the newest stored bucket of
    // that resolution (event time: replayed old files keep their history); 0 keeps forever.
    core::TimeMs retention_ms[3] = {core::TimeMs{7} * 86'400'000, core::TimeMs{90} * 86'400'000,
                                    core::TimeMs{730} * 86'400'000};
    // Per resolution: the size kept (the rows' size column), oldest starts deleted first; 0: no
    // limit.
    uint64_t retention_bytes[3] = {0, 0, 0};
    // After history stopped on a full disk, the next bucket tries again only this much later.
    std::chrono::milliseconds full_retry{5000};
    // Called on the writer thread, once when history stops on a full disk (the reason, one
    // line) and once when it resumes. Must not block for long; exceptions are swallowed.
    std::function<void(const std::string&)> on_stopped;
    std::function<void()> on_resumed;
  };

  struct Options {
    size_t capacity = kDefaultCapacity;            // items queued or being written, at most
    size_t max_batch = 1000;                       // items per transaction, at most
    std::chrono::milliseconds retry_initial{100};  // first wait after a failed write
    std::chrono::milliseconds retry_max{5000};     // the wait doubles up to this
    // History entries (keys of queued buckets) queued or being written, at most: bounds the
    // queue's memory (about 60 MiB at the default) when the database is slow or away.
    size_t max_history_entries = size_t{1} << 20;
    HistoryOptions history;
  };

  // A snapshot for /api/status and /metrics.
  struct Stats {
    size_t capacity = 0;
    size_t queue_depth = 0;        // items queued or being written
    uint64_t results_written = 0;  // results stored (replacements included)
    uint64_t alerts_written = 0;
    uint64_t batches = 0;              // transactions committed
    uint64_t write_errors = 0;         // failed attempts (each one retried or split)
    uint64_t rejected = 0;             // items the store refused as data; not stored
    uint64_t abandoned = 0;            // items left behind by close_for(), or pushed after close
    uint64_t producer_waits = 0;       // pushes that found the queue full and waited
    uint64_t producer_wait_us = 0;     // total time those pushes waited
    uint32_t producers_waiting = 0;    // pushes waiting right now
    bool failing = false;              // the last write attempt failed; retrying
    std::string last_error;            // empty if none so far
    core::TimeMs last_error_time = 0;  // wall clock, ms since the epoch; 0 if none
    uint64_t history_written = 0;      // history buckets pushed and stored
    uint64_t history_rollups = 0;      // hour and day buckets built and stored
    uint64_t history_deleted = 0;      // buckets deleted by retention
    uint64_t history_dropped = 0;      // buckets pushed while history was stopped; not stored
    bool history_stopped = false;      // the disk is full: history is not written
    std::string history_last_error;    // why history stopped last; empty if never
  };

  // REQUIRES: store != nullptr.
  StoreWriter(std::unique_ptr<Store> store, size_t capacity = kDefaultCapacity);
  StoreWriter(std::unique_ptr<Store> store, Options options);
  // close(): waits until everything pushed is stored. Call close_for() first to bound that.
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Queues a copy for storage; waits while the queue is full.
  void push(StoredResult result);
  void push(Alert alert);
  // REQUIRES: bucket.start is a multiple of resolution_ms(bucket.resolution). Minute buckets
  // drive the roll-ups; hour and day buckets are stored as given.
  void push(HistoryBucket bucket);

  // Waits until everything pushed before the call is stored (or rejected).
  void flush();
  // The same, giving up after timeout; false if something is still queued then.
  bool flush_for(std::chrono::milliseconds timeout);
  // Flushes, then stops the writer thread. Later pushes are counted as abandoned. Idempotent.
  void close();
  // Flushes for at most timeout, then stops; returns how many items were left unstored
  // (the database stayed unavailable).
  uint64_t close_for(std::chrono::milliseconds timeout);

  Stats stats() const;
  // The store's describe(), taken at construction.
  const std::string& describe() const { return description_; }

 private:
  using Item = std::variant<StoredResult, Alert, HistoryBucket>;
  enum class Outcome : uint8_t { kStored, kRejected, kAbandoned, kFull };
  // The writer thread's view of one (dimension, origin) minute stream.
  struct Stream {
    core::TimeMs hour = 0;  // the hour of the last minute bucket stored
  };

  void enqueue(Item item);
  void run();
  // Writes one batch, retrying until stored or abandoned; splits it when the store rejects data.
  Outcome write(std::span<const StoredResult> results, std::span<const Alert> alerts);
  // One transaction, retried with backoff while the store is unavailable.
  Outcome write_retrying(std::span<const StoredResult> results, std::span<const Alert> alerts);
  void note_error(const std::string& what);

  // History, on the writer thread. Stores pushed buckets, dropping them while stopped.
  Outcome write_history(std::span<const HistoryBucket> buckets);
  // Runs a history call, retrying while the store is unavailable: kStored (done), kRejected,
  // kFull or kAbandoned; *what gets the error.
  Outcome history_call(const std::function<void()>& call, std::string* what);
  // Runs a step that is not retried (it is not idempotent): what it throws is kRejected.
  Outcome compute(const std::function<void()>& step, std::string* what);
  // After minute buckets are stored: the hours (and days) they complete, then retention.
  Outcome after_minutes(std::span<const HistoryBucket> stored);
  // The first minute bucket of a stream since the start: every complete earlier hour and day
  // within retention that has parts but no bucket.
  Outcome catch_up(Dimension d, const std::string& origin, core::TimeMs hour);
  // Builds and stores bucket `to` at start from its parts, if it has any.
  Outcome build(Resolution to, Dimension d, const std::string& origin, core::TimeMs start);
  Outcome apply_retention();
  void stop_history(const std::string& why);

  std::map<std::pair<Dimension, std::string>, Stream> streams_;  // writer thread only
  std::optional<core::TimeMs> retention_hour_;                   // writer thread only
  bool history_stopped_ = false;                                 // writer thread only
  std::chrono::steady_clock::time_point history_retry_at_;       // writer thread only

  std::unique_ptr<Store> store_;
  const Options options_;
  const std::string description_;

  mutable std::mutex mu_;
  std::condition_variable not_empty_;  // writer waits for items
  std::condition_variable not_full_;   // producers wait for room
  std::condition_variable progress_;   // flushers wait for items to be stored
  std::condition_variable retry_;      // the writer's backoff sleep, cut short by abandon
  std::deque<Item> queue_;             // guarded by mu_
  size_t in_flight_ = 0;               // guarded by mu_: taken by the writer, not yet done
  size_t history_entries_ = 0;         // guarded by mu_: weight of history queued or in flight
  uint64_t enqueued_ = 0;              // guarded by mu_: items ever queued
  uint64_t done_ = 0;                  // guarded by mu_: items stored or rejected
  bool closing_ = false;               // guarded by mu_
  bool abandon_ = false;               // guarded by mu_
  std::string last_error_;             // guarded by mu_
  std::string history_last_error_;     // guarded by mu_
  core::TimeMs last_error_time_ = 0;   // guarded by mu_

  std::atomic<size_t> depth_{0};
  std::atomic<uint64_t> results_written_{0};
  std::atomic<uint64_t> alerts_written_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> write_errors_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> abandoned_{0};
  std::atomic<uint64_t> producer_waits_{0};
  std::atomic<uint64_t> producer_wait_us_{0};
  std::atomic<uint32_t> producers_waiting_{0};
  std::atomic<bool> failing_{false};
  std::atomic<uint64_t> history_written_{0};
  std::atomic<uint64_t> history_rollups_{0};
  std::atomic<uint64_t> history_deleted_{0};
  std::atomic<uint64_t> history_dropped_{0};
  std::atomic<bool> history_stopped_flag_{false};

  std::mutex join_mu_;  // serialises close() callers
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace netpulse::store
