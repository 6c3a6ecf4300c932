// Event time and pacing for a stream of records at R records per second. Record i after the
// anchor has event time anchor_time + floor((i - anchor_index) * 1000 / R) (exact integer
// arithmetic, no drift) and, when paced, is due at anchor_ns + (i - anchor_index) * 1e9 / R of
// the steady clock. A change of rate re-anchors at the next record, so event time carries on.
// Values; not thread-safe.
#pragma once

#include <cstdint>

#include "core/time.hpp"

namespace netpulse::generate {

// Steps event time one record at a time with integer arithmetic only: the per-record increment
// 1000/R ms is kept as a whole part and a remainder over R.
class EventTimeStepper {
 public:
  // rate 0: time stands still (the caller sets it, e.g. from the wall clock per batch).
  void reset(core::TimeMs next_time, uint64_t rate) {
    ms_ = next_time;
    rate_ = rate;
    rem_ = 0;
    whole_ = rate == 0 ? 0 : 1000 / rate;
    frac_ = rate == 0 ? 0 : 1000 % rate;
  }
  // The event time of the next record.
  core::TimeMs next_time() const { return ms_; }
  void set_next_time(core::TimeMs t) { ms_ = t; }
  void step() {
    ms_ += static_cast<core::TimeMs>(whole_);
    rem_ += frac_;
    if (rem_ >= rate_ && rate_ != 0) {
      rem_ -= rate_;
      ++ms_;
    }
  }
  // Whether this stepper's next record comes no later than other's, compared exactly: the next
  // record's time is next_time() + rem_ / rate_ ms, so two streams at different rates
  // interleave within a millisecond too. (rem_ < rate_ <= 10^9: the products fit in 64 bits.)
  bool no_later_than(const EventTimeStepper& other) const {
    if (ms_ != other.ms_) return ms_ < other.ms_;
    return rem_ * other.rate_ <= other.rem_ * rate_;
  }

 private:
  core::TimeMs ms_ = 0;
  uint64_t rate_ = 0, rem_ = 0, whole_ = 0, frac_ = 0;
};

// When records are due on the steady clock, at `rate` per second from an anchor.
class Pacer {
 public:
  // Record `index` is due at steady time `now_ns`; later ones follow at `rate` per second.
  void anchor(uint64_t index, int64_t now_ns, uint64_t rate) {
    index_ = index;
    ns_ = now_ns;
    rate_ = rate;
  }
  uint64_t rate() const { return rate_; }
  // How many records (counted from the stream start) are due by steady time now_ns.
  // REQUIRES: rate > 0.
  uint64_t due(int64_t now_ns) const {
    if (now_ns <= ns_) return index_;
    const unsigned __int128 elapsed = static_cast<uint64_t>(now_ns - ns_);
    return index_ + static_cast<uint64_t>(elapsed * rate_ / 1'000'000'000U);
  }
  // The steady time at which `due()` reaches `count`. REQUIRES: rate > 0, count >= anchor index.
  int64_t time_of(uint64_t count) const {
    const unsigned __int128 n = count - index_;
    return ns_ + static_cast<int64_t>((n * 1'000'000'000U + rate_ - 1) / rate_);
  }

 private:
  uint64_t index_ = 0;
  int64_t ns_ = 0;
  uint64_t rate_ = 0;
};

}  // namespace netpulse::generate
