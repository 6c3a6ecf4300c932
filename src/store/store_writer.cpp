#include "store/store_writer.hpp"

#include <algorithm>
#include <exception>

namespace netpulse::store {
namespace {

StoreWriter::Options normalized(StoreWriter::Options o) {
  o.capacity = std::max<size_t>(o.capacity, 1);
  o.max_batch = std::max<size_t>(o.max_batch, 1);
  o.retry_initial = std::max(o.retry_initial, std::chrono::milliseconds(1));
  o.retry_max = std::max(o.retry_max, o.retry_initial);
  return o;
}

core::TimeMs wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

StoreWriter::StoreWriter(std::unique_ptr<Store> store, size_t capacity)
    : StoreWriter(std::move(store), Options{.capacity = capacity}) {}

StoreWriter::StoreWriter(std::unique_ptr<Store> store, Options options)
    : store_(std::move(store)),
      options_(normalized(options)),
      description_(store_->describe()),
      thread_([this] { run(); }) {}

StoreWriter::~StoreWriter() {
  close();
}

void StoreWriter::push(StoredResult result) {
  enqueue(std::move(result));
}

void StoreWriter::push(Alert alert) {
  enqueue(std::move(alert));
}

void StoreWriter::enqueue(Item item) {
  std::unique_lock lock(mu_);
  if (closing_) {
    abandoned_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto has_room = [&] { return queue_.size() + in_flight_ < options_.capacity || abandon_; };
  if (!has_room()) {
    // Back-pressure: the engine waits here instead of dropping a result.
    producer_waits_.fetch_add(1, std::memory_order_relaxed);
    producers_waiting_.fetch_add(1, std::memory_order_relaxed);
    const auto start = std::chrono::steady_clock::now();
    not_full_.wait(lock, has_room);
    producers_waiting_.fetch_sub(1, std::memory_order_relaxed);
    producer_wait_us_.fetch_add(std::chrono::duration_cast<std::chrono::microseconds>(
                                    std::chrono::steady_clock::now() - start)
                                    .count(),
                                std::memory_order_relaxed);
    if (abandon_) {
      abandoned_.fetch_add(1, std::memory_order_relaxed);
      lock.unlock();
      progress_.notify_all();  // close_for() counts this item before it returns
      return;
    }
  }
  queue_.push_back(std::move(item));
  ++enqueued_;
  depth_.store(queue_.size() + in_flight_, std::memory_order_relaxed);
  lock.unlock();
  not_empty_.notify_one();
}

void StoreWriter::run() {
  std::vector<StoredResult> results;
  std::vector<Alert> alerts;
  for (;;) {
    size_t taken = 0;
    {
      std::unique_lock lock(mu_);
      // A producer still waiting for room at close gets its item in before the thread ends.
      not_empty_.wait(lock, [&] {
        return !queue_.empty() || abandon_ ||
               (closing_ && producers_waiting_.load(std::memory_order_relaxed) == 0);
      });
      if (abandon_ || queue_.empty()) break;
      taken = std::min(queue_.size(), options_.max_batch);
      for (size_t i = 0; i < taken; ++i) {
        Item& item = queue_.front();
        if (auto* r = std::get_if<StoredResult>(&item)) {
          results.push_back(std::move(*r));
        } else {
          alerts.push_back(std::move(std::get<Alert>(item)));
        }
        queue_.pop_front();
      }
      in_flight_ = taken;
    }
    const Outcome outcome = write(results, alerts);
    results.clear();
    alerts.clear();
    {
      std::lock_guard lock(mu_);
      if (outcome == Outcome::kAbandoned) {
        abandoned_.fetch_add(in_flight_, std::memory_order_relaxed);
      } else {
        done_ += taken;
      }
      in_flight_ = 0;
      depth_.store(queue_.size(), std::memory_order_relaxed);
    }
    not_full_.notify_all();
    progress_.notify_all();
    if (outcome == Outcome::kAbandoned) break;
  }
  {
    std::lock_guard lock(mu_);
    abandoned_.fetch_add(queue_.size(), std::memory_order_relaxed);
    queue_.clear();
    depth_.store(0, std::memory_order_relaxed);
  }
  not_full_.notify_all();
  progress_.notify_all();
}

StoreWriter::Outcome StoreWriter::write(std::span<const StoredResult> results,
                                        std::span<const Alert> alerts) {
  const Outcome outcome = write_retrying(results, alerts);
  if (outcome != Outcome::kRejected) return outcome;
  const size_t n = results.size() + alerts.size();
  if (n == 1) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return Outcome::kStored;  // done with it: it can never be stored
  }
  // Some item is refused as data: halve until it is alone, storing the rest.
  std::span<const StoredResult> r1, r2;
  std::span<const Alert> a1, a2;
  if (!results.empty() && !alerts.empty()) {
    r1 = results;
    a2 = alerts;
  } else if (!results.empty()) {
    r1 = results.first(results.size() / 2);
    r2 = results.subspan(results.size() / 2);
  } else {
    a1 = alerts.first(alerts.size() / 2);
    a2 = alerts.subspan(alerts.size() / 2);
  }
  if (write(r1, a1) == Outcome::kAbandoned) return Outcome::kAbandoned;
  return write(r2, a2);
}

StoreWriter::Outcome StoreWriter::write_retrying(std::span<const StoredResult> results,
                                                 std::span<const Alert> alerts) {
  auto wait = options_.retry_initial;
  for (;;) {
    StoreError::Kind kind = StoreError::Kind::kUnavailable;
    std::string what;
    // No exception leaves this thread: every failure becomes a counted, reported retry.
    try {
      store_->put(results, alerts);
      results_written_.fetch_add(results.size(), std::memory_order_relaxed);
      alerts_written_.fetch_add(alerts.size(), std::memory_order_relaxed);
      batches_.fetch_add(1, std::memory_order_relaxed);
      failing_.store(false, std::memory_order_relaxed);
      return Outcome::kStored;
    } catch (const StoreError& e) {
      kind = e.kind();
      what = e.what();
    } catch (const std::exception& e) {
      what = description_ + ": " + e.what();
    } catch (...) {
      what = description_ + ": unknown error";
    }
    write_errors_.fetch_add(1, std::memory_order_relaxed);
    note_error(what);
    if (kind == StoreError::Kind::kRejected) return Outcome::kRejected;
    failing_.store(true, std::memory_order_relaxed);
    std::unique_lock lock(mu_);
    if (retry_.wait_for(lock, wait, [&] { return abandon_; })) return Outcome::kAbandoned;
    wait = std::min(wait * 2, options_.retry_max);
  }
}

void StoreWriter::note_error(const std::string& what) {
  std::lock_guard lock(mu_);
  last_error_ = what;
  last_error_time_ = wall_clock_ms();
}

void StoreWriter::flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = enqueued_;
  progress_.wait(lock, [&] { return done_ >= target || abandon_; });
}

bool StoreWriter::flush_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const uint64_t target = enqueued_;
  return progress_.wait_for(lock, timeout, [&] { return done_ >= target || abandon_; }) &&
         done_ >= target;
}

void StoreWriter::close() {
  close_for(std::chrono::milliseconds::max());
}

uint64_t StoreWriter::close_for(std::chrono::milliseconds timeout) {
  std::lock_guard join(join_mu_);
  const uint64_t before = abandoned_.load(std::memory_order_relaxed);
  {
    std::unique_lock lock(mu_);
    closing_ = true;
    not_empty_.notify_all();
    auto drained = [&] {
      return abandon_ || (done_ >= enqueued_ && queue_.empty() && in_flight_ == 0 &&
                          producers_waiting_.load(std::memory_order_relaxed) == 0);
    };
    const bool ok = timeout == std::chrono::milliseconds::max()
                        ? (progress_.wait(lock, drained), true)
                        : progress_.wait_for(lock, timeout, drained);
    if (!ok) abandon_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  retry_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::unique_lock lock(mu_);
  progress_.wait(lock, [&] { return producers_waiting_.load(std::memory_order_relaxed) == 0; });
  return abandoned_.load(std::memory_order_relaxed) - before;
}

StoreWriter::Stats StoreWriter::stats() const {
  Stats s;
  s.capacity = options_.capacity;
  s.queue_depth = depth_.load(std::memory_order_relaxed);
  s.results_written = results_written_.load(std::memory_order_relaxed);
  s.alerts_written = alerts_written_.load(std::memory_order_relaxed);
  s.batches = batches_.load(std::memory_order_relaxed);
  s.write_errors = write_errors_.load(std::memory_order_relaxed);
  s.rejected = rejected_.load(std::memory_order_relaxed);
  s.abandoned = abandoned_.load(std::memory_order_relaxed);
  s.producer_waits = producer_waits_.load(std::memory_order_relaxed);
  s.producer_wait_us = producer_wait_us_.load(std::memory_order_relaxed);
  s.producers_waiting = producers_waiting_.load(std::memory_order_relaxed);
  s.failing = failing_.load(std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  s.last_error = last_error_;
  s.last_error_time = last_error_time_;
  return s;
}

}  // namespace netpulse::store
