// Writes results and alerts to a Store on a background thread, so the engine never waits for the
// database unless it falls a whole queue behind. A bounded queue (capacity items, those being
// written included) feeds one writer thread that stores up to max_batch items per transaction.
// When the queue is full, push() waits: nothing is ever dropped for lack of room. A failed write
// is reported in stats(), kept and retried with exponential backoff; only items the store refuses
// as data (StoreError::Kind::kRejected, e.g. malformed JSON) are given up, one by one, and
// counted. Thread-safe: any thread may push, flush and read stats; the Store is used only by the
// writer thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
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

  struct Options {
    size_t capacity = kDefaultCapacity;            // items queued or being written, at most
    size_t max_batch = 1000;                       // items per transaction, at most
    std::chrono::milliseconds retry_initial{100};  // first wait after a failed write
    std::chrono::milliseconds retry_max{5000};     // the wait doubles up to this
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
  using Item = std::variant<StoredResult, Alert>;
  enum class Outcome : uint8_t { kStored, kRejected, kAbandoned };

  void enqueue(Item item);
  void run();
  // Writes one batch, retrying until stored or abandoned; splits it when the store rejects data.
  Outcome write(std::span<const StoredResult> results, std::span<const Alert> alerts);
  // One transaction, retried with backoff while the store is unavailable.
  Outcome write_retrying(std::span<const StoredResult> results, std::span<const Alert> alerts);
  void note_error(const std::string& what);

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
  uint64_t enqueued_ = 0;              // guarded by mu_: items ever queued
  uint64_t done_ = 0;                  // guarded by mu_: items stored or rejected
  bool closing_ = false;               // guarded by mu_
  bool abandon_ = false;               // guarded by mu_
  std::string last_error_;             // guarded by mu_
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

  std::mutex join_mu_;  // serialises close() callers
  std::thread thread_;  // last: starts after everything above exists
};

}  // namespace netpulse::store
