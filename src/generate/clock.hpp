// The generator's view of time, behind a small interface so that pacing tests run without
// waiting: a steady clock for pacing, the wall clock for event time, and sleeping.
// SystemClock is thread-safe; a test clock need not be.
#pragma once

#include <cstdint>

#include "core/time.hpp"

namespace netpulse::generate {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds (arbitrary origin).
  virtual int64_t steady_ns() = 0;
  // Wall-clock event time: milliseconds since the Unix epoch, UTC.
  virtual core::TimeMs wall_ms() = 0;
  // Sleeps until steady_ns() >= deadline (may return early; callers re-check).
  virtual void sleep_until(int64_t deadline_ns) = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t steady_ns() override;
  core::TimeMs wall_ms() override;
  void sleep_until(int64_t deadline_ns) override;
};

// The process-wide system clock.
Clock& system_clock();

}  // namespace netpulse::generate
