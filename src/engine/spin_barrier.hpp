// A barrier for the engine's threads that spins a little before it sleeps.
//
// The pipeline crosses a barrier three hundred times a second of input or more (every round of
// blocks, every window), and most crossings are close: the threads arrive within microseconds
// of each other. std::barrier sleeps in the kernel almost at once, so the last thread to arrive
// has to wake the others with a futex call, and a sleeping virtual CPU takes 15-20 µs (75 µs on
// a busy host) to run again: 5-6 ms of a 0.25 s two-thread run (traced barrier by barrier,
// 2026-12-05). Here a waiter first watches the phase for a while (kSpin), then sleeps on it; the
// last arriver calls into the kernel only when someone sleeps. With more threads than CPUs a
// spinning waiter holds a CPU the others need (`--threads 4` on 2 cores was 4-7% slower), so
// the barrier then sleeps at once, as std::barrier does.
//
// Same contract as std::barrier's arrive_and_wait() with a completion: the last thread to arrive
// runs `completion` (noexcept), then all go on. Every thread must arrive at every phase.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace netpulse::engine {

template <class Completion>
class SpinBarrier {
  // A completion that threw would leave the phase unfinished and every waiter asleep.
  static_assert(std::is_nothrow_invocable_v<Completion&>, "the completion must be noexcept");

 public:
  // How long a waiter watches before it sleeps: longer than a close crossing, short against
  // the milliseconds a thread waits when the other has more work (it then sleeps).
  static constexpr std::chrono::microseconds kSpin{50};

  // cpus: how many CPUs the threads can run on (spinning only when each has one of its own).
  SpinBarrier(size_t threads, size_t cpus, Completion completion)
      : threads_(static_cast<uint32_t>(threads)),
        spin_(threads <= cpus ? kSpin : std::chrono::microseconds{0}),
        completion_(std::move(completion)) {}
  SpinBarrier(const SpinBarrier&) = delete;
  SpinBarrier& operator=(const SpinBarrier&) = delete;

  void arrive_and_wait() {
    const uint32_t phase = phase_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      // Nobody else can arrive before the phase moves on: all are waiting for it.
      arrived_.store(0, std::memory_order_relaxed);
      completion_();
      // seq_cst with the sleeper's: either it sees the new phase, or this sees it sleeping.
      phase_.store(phase + 1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) phase_.notify_all();
      return;
    }
    if (spin_.count() > 0) {
      const auto until = std::chrono::steady_clock::now() + spin_;
      for (uint32_t i = 1;; ++i) {
        if (phase_.load(std::memory_order_acquire) != phase) return;
#if defined(__x86_64__)
        _mm_pause();
#endif
        if (i % 64 == 0 && std::chrono::steady_clock::now() >= until) break;
      }
    }
    sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (phase_.load(std::memory_order_seq_cst) == phase)
      phase_.wait(phase, std::memory_order_acquire);
    sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  const uint32_t threads_;
  const std::chrono::microseconds spin_;
  Completion completion_;
  alignas(64) std::atomic<uint32_t> arrived_{0};
  alignas(64) std::atomic<uint32_t> phase_{0};
  std::atomic<uint32_t> sleepers_{0};
};

}  // namespace netpulse::engine
