#include "generate/clock.hpp"

#include <time.h>

namespace netpulse::generate {

int64_t SystemClock::steady_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

core::TimeMs SystemClock::wall_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

void SystemClock::sleep_until(int64_t deadline_ns) {
  timespec ts{};
  ts.tv_sec = deadline_ns / 1'000'000'000;
  ts.tv_nsec = deadline_ns % 1'000'000'000;
  // Absolute sleep: no drift from the time spent computing the deadline. EINTR: return early.
  ::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
}

Clock& system_clock() {
  static SystemClock clock;
  return clock;
}

}  // namespace netpulse::generate
