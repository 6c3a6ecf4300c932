#include "store/store_writer.hpp"

#include <algorithm>
#include <cassert>
#include <exception>
#include <limits>

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
    : StoreWriter(std::move(store), [capacity] {
        Options o;
        o.capacity = capacity;
        return o;
      }()) {}

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

void StoreWriter::push(HistoryBucket bucket) {
  assert(core::floor_div(bucket.start, resolution_ms(bucket.resolution)) *
             resolution_ms(bucket.resolution) ==
         bucket.start);
  enqueue(std::move(bucket));
}

void StoreWriter::enqueue(Item item) {
  std::unique_lock lock(mu_);
  if (closing_) {
    abandoned_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // A history bucket weighs its entries: a queue of 10,000 items could otherwise hold
  // thousands of 10,000-key buckets while the database is away. One bucket always fits.
  const auto* bucket = std::get_if<HistoryBucket>(&item);
  const size_t weight = bucket ? bucket->entries.size() + 1 : 0;
  auto has_room = [&] {
    if (abandon_) return true;
    if (queue_.size() + in_flight_ >= options_.capacity) return false;
    return weight == 0 || history_entries_ == 0 ||
           history_entries_ + weight <= options_.max_history_entries;
  };
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
  history_entries_ += weight;
  ++enqueued_;
  depth_.store(queue_.size() + in_flight_, std::memory_order_relaxed);
  lock.unlock();
  not_empty_.notify_one();
}

void StoreWriter::run() {
  std::vector<StoredResult> results;
  std::vector<Alert> alerts;
  std::vector<HistoryBucket> history;
  for (;;) {
    size_t taken = 0, taken_weight = 0;
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
        } else if (auto* a = std::get_if<Alert>(&item)) {
          alerts.push_back(std::move(*a));
        } else {
          history.push_back(std::move(std::get<HistoryBucket>(item)));
          taken_weight += history.back().entries.size() + 1;
        }
        queue_.pop_front();
      }
      in_flight_ = taken;
    }
    Outcome outcome = Outcome::kStored;
    if (!results.empty() || !alerts.empty()) outcome = write(results, alerts);
    if (outcome != Outcome::kAbandoned && !history.empty()) outcome = write_history(history);
    results.clear();
    alerts.clear();
    history.clear();
    {
      std::lock_guard lock(mu_);
      if (outcome == Outcome::kAbandoned) {
        abandoned_.fetch_add(in_flight_, std::memory_order_relaxed);
      } else {
        done_ += taken;
      }
      in_flight_ = 0;
      history_entries_ -= taken_weight;
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

namespace {

core::TimeMs floor_to(core::TimeMs t, Resolution r) {
  const core::TimeMs step = resolution_ms(r);
  return core::floor_div(t, step) * step;
}

}  // namespace

StoreWriter::Outcome StoreWriter::history_call(const std::function<void()>& call,
                                               std::string* what) {
  auto wait = options_.retry_initial;
  for (;;) {
    StoreError::Kind kind = StoreError::Kind::kUnavailable;
    // No exception leaves this thread, as in write_retrying.
    try {
      call();
      failing_.store(false, std::memory_order_relaxed);
      return Outcome::kStored;
    } catch (const StoreError& e) {
      kind = e.kind();
      *what = e.what();
    } catch (const std::exception& e) {
      *what = description_ + ": " + e.what();
    } catch (...) {
      *what = description_ + ": unknown error";
    }
    write_errors_.fetch_add(1, std::memory_order_relaxed);
    note_error(*what);
    if (kind == StoreError::Kind::kRejected) return Outcome::kRejected;
    // A full disk is not waited out here: history stops and the results keep the room left.
    if (kind == StoreError::Kind::kFull) return Outcome::kFull;
    failing_.store(true, std::memory_order_relaxed);
    std::unique_lock lock(mu_);
    if (retry_.wait_for(lock, wait, [&] { return abandon_; })) return Outcome::kAbandoned;
    wait = std::min(wait * 2, options_.retry_max);
  }
}

void StoreWriter::stop_history(const std::string& why) {
  history_retry_at_ = std::chrono::steady_clock::now() + options_.history.full_retry;
  {
    std::lock_guard lock(mu_);
    history_last_error_ = why;
  }
  if (history_stopped_) return;  // reported once per stop
  history_stopped_ = true;
  history_stopped_flag_.store(true, std::memory_order_relaxed);
  if (options_.history.on_stopped) {
    try {
      options_.history.on_stopped(why);
    } catch (...) {  // the app's alert path must not end the writer
    }
  }
}

StoreWriter::Outcome StoreWriter::write_history(std::span<const HistoryBucket> buckets) {
  if (history_stopped_ && std::chrono::steady_clock::now() < history_retry_at_) {
    history_dropped_.fetch_add(buckets.size(), std::memory_order_relaxed);
    return Outcome::kStored;
  }
  std::string what;
  const Outcome outcome = history_call([&] { store_->put_history(buckets); }, &what);
  switch (outcome) {
    case Outcome::kAbandoned:
      return outcome;
    case Outcome::kFull:
      stop_history(what);
      history_dropped_.fetch_add(buckets.size(), std::memory_order_relaxed);
      return Outcome::kStored;
    case Outcome::kRejected:
      if (buckets.size() == 1) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        return Outcome::kStored;
      }
      // Store the others: one at a time, the refused one alone is counted.
      for (size_t i = 0; i < buckets.size(); ++i) {
        if (write_history(buckets.subspan(i, 1)) == Outcome::kAbandoned) return Outcome::kAbandoned;
      }
      return Outcome::kStored;
    default:
      break;
  }
  history_written_.fetch_add(buckets.size(), std::memory_order_relaxed);
  if (history_stopped_) {
    history_stopped_ = false;
    history_stopped_flag_.store(false, std::memory_order_relaxed);
    // Buckets were dropped meanwhile: look for complete hours again as after a start.
    streams_.clear();
    retention_hour_.reset();
    if (options_.history.on_resumed) {
      try {
        options_.history.on_resumed();
      } catch (...) {
      }
    }
  }
  return after_minutes(buckets);
}

StoreWriter::Outcome StoreWriter::after_minutes(std::span<const HistoryBucket> stored) {
  bool retention_due = false;
  for (const HistoryBucket& b : stored) {
    if (b.resolution != Resolution::kMinute) continue;
    const core::TimeMs hour = floor_to(b.start, Resolution::kHour);
    auto [it, first] = streams_.try_emplace({b.dimension, b.origin}, Stream{hour});
    Outcome o = Outcome::kStored;
    if (first) {
      o = catch_up(b.dimension, b.origin, hour);
    } else if (hour > it->second.hour) {
      // The previous minute's hour is complete (minutes arrive in event-time order per stream);
      // a late minute of an earlier hour changes nothing already built.
      const core::TimeMs done = it->second.hour;
      it->second.hour = hour;
      o = build(Resolution::kHour, b.dimension, b.origin, done);
      const core::TimeMs done_day = floor_to(done, Resolution::kDay);
      if (o == Outcome::kStored && floor_to(hour, Resolution::kDay) > done_day) {
        o = build(Resolution::kDay, b.dimension, b.origin, done_day);
      }
    }
    if (o == Outcome::kAbandoned) return o;
    if (o == Outcome::kFull) return Outcome::kStored;  // stopped; retention waits too
    if (!retention_hour_ || hour > *retention_hour_) {
      retention_hour_ = hour;
      retention_due = true;
    }
  }
  return retention_due ? apply_retention() : Outcome::kStored;
}

StoreWriter::Outcome StoreWriter::build(Resolution to, Dimension d, const std::string& origin,
                                        core::TimeMs start) {
  const Resolution from = to == Resolution::kDay ? Resolution::kHour : Resolution::kMinute;
  const core::TimeMs step = resolution_ms(from);
  // The parts one at a time, each summed and freed before the next is read: an hour's minutes
  // decoded together took twice the memory (RollUp keeps its own tables out of malloc's way).
  RollUp rollup(to, start, options_.history.keys);
  std::vector<HistoryBucket> parts;
  std::string what;
  Outcome o = Outcome::kStored;
  for (core::TimeMs t = start; o == Outcome::kStored && t < start + resolution_ms(to); t += step) {
    o = history_call([&] { parts = store_->history_range(from, d, origin, t, t + step); }, &what);
    // Summing is not retried (a part added twice would count twice): what it throws rejects
    // this bucket, as a malformed part would.
    if (o != Outcome::kStored) break;
    const auto sum = [&] {
      for (const HistoryBucket& p : parts) rollup.add(p);
    };
    o = compute(sum, &what);
  }
  parts = {};
  if (o == Outcome::kStored && rollup.parts() > 0) {
    HistoryBucket bucket;
    o = compute([&] { bucket = std::move(rollup).take(); }, &what);
    if (o == Outcome::kStored) {
      o = history_call([&] { store_->put_history(std::span(&bucket, 1)); }, &what);
    }
    if (o == Outcome::kStored) history_rollups_.fetch_add(1, std::memory_order_relaxed);
  }
  if (o == Outcome::kFull) stop_history(what);
  if (o == Outcome::kRejected) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    o = Outcome::kStored;  // that bucket cannot be built; the others can
  }
  return o;
}

StoreWriter::Outcome StoreWriter::compute(const std::function<void()>& step, std::string* what) {
  try {
    step();
    return Outcome::kStored;
  } catch (const std::exception& e) {
    *what = description_ + ": " + e.what();
  } catch (...) {
    *what = description_ + ": unknown error";
  }
  write_errors_.fetch_add(1, std::memory_order_relaxed);
  note_error(*what);
  return Outcome::kRejected;
}

StoreWriter::Outcome StoreWriter::catch_up(Dimension d, const std::string& origin,
                                           core::TimeMs hour) {
  // Looks back as far as the parts are kept: what retention deleted cannot be rebuilt.
  auto since = [&](core::TimeMs until, Resolution parts) {
    const core::TimeMs age = options_.history.retention_ms[static_cast<size_t>(parts)];
    return age > 0 ? until - age : std::numeric_limits<core::TimeMs>::min();
  };
  // Starts of the `parts` buckets' enclosing `to` buckets that have no `to` bucket yet.
  auto missing = [&](const std::vector<HistoryKey>& keys, Resolution parts, Resolution to) {
    std::vector<core::TimeMs> have, want;
    for (const HistoryKey& k : keys) {
      if (k.origin != origin) continue;
      if (k.resolution == to) have.push_back(k.start);
      if (k.resolution == parts) want.push_back(floor_to(k.start, to));
    }
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    std::vector<core::TimeMs> out;
    for (core::TimeMs t : want) {
      if (!std::binary_search(have.begin(), have.end(), t)) out.push_back(t);
    }
    return out;
  };
  std::string what;
  std::vector<HistoryKey> keys;
  Outcome o = history_call(
      [&] { keys = store_->history_index(d, since(hour, Resolution::kMinute), hour); }, &what);
  if (o != Outcome::kStored) return o;  // kUnavailable is retried inside; kRejected: none
  for (core::TimeMs h : missing(keys, Resolution::kMinute, Resolution::kHour)) {
    // An hour cut by the look-back: its first minutes are gone, so it would be partial.
    if (h < since(hour, Resolution::kMinute)) continue;
    if ((o = build(Resolution::kHour, d, origin, h)) != Outcome::kStored) return o;
  }
  const core::TimeMs day = floor_to(hour, Resolution::kDay);
  o = history_call([&] { keys = store_->history_index(d, since(day, Resolution::kHour), day); },
                   &what);
  if (o != Outcome::kStored) return o;
  for (core::TimeMs t : missing(keys, Resolution::kHour, Resolution::kDay)) {
    if (t < since(day, Resolution::kHour)) continue;
    if ((o = build(Resolution::kDay, d, origin, t)) != Outcome::kStored) return o;
  }
  return Outcome::kStored;
}

StoreWriter::Outcome StoreWriter::apply_retention() {
  const HistoryOptions& h = options_.history;
  std::string what;
  for (Resolution r : kResolutions) {
    const size_t i = static_cast<size_t>(r);
    uint64_t deleted = 0;
    Outcome o = Outcome::kStored;
    if (h.retention_ms[i] > 0) {
      o = history_call(
          [&] {
            // Event time: relative to the newest bucket stored, not to the wall clock.
            const HistoryUsage usage = store_->history_usage(r);
            if (usage.newest)
              deleted += store_->delete_history(r, *usage.newest - h.retention_ms[i]);
          },
          &what);
    }
    if (o == Outcome::kStored && h.retention_bytes[i] > 0) {
      o = history_call(
          [&] {
            const auto sizes = store_->history_sizes(r);
            uint64_t total = 0;
            for (const auto& [start, bytes] : sizes) total += bytes;
            if (total <= h.retention_bytes[i]) return;
            // The oldest starts go first, until the rest fits.
            core::TimeMs before = sizes.back().first + 1;
            for (const auto& [start, bytes] : sizes) {
              if (total <= h.retention_bytes[i]) {
                before = start;
                break;
              }
              total -= bytes;
            }
            deleted += store_->delete_history(r, before);
          },
          &what);
    }
    history_deleted_.fetch_add(deleted, std::memory_order_relaxed);
    if (o == Outcome::kAbandoned) return o;
    if (o == Outcome::kFull) {
      stop_history(what);
      return Outcome::kStored;
    }
  }
  return Outcome::kStored;
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
  s.history_written = history_written_.load(std::memory_order_relaxed);
  s.history_rollups = history_rollups_.load(std::memory_order_relaxed);
  s.history_deleted = history_deleted_.load(std::memory_order_relaxed);
  s.history_dropped = history_dropped_.load(std::memory_order_relaxed);
  s.history_stopped = history_stopped_flag_.load(std::memory_order_relaxed);
  s.history_last_error = history_last_error_;
  return s;
}

}  // namespace netpulse::store
