// The engine's barrier: every thread passes every phase only after all have arrived and the
// completion has run once, whether the others arrive at once (the spinning path) or long after
// (the sleeping path), and nobody is left asleep.
#include "engine/spin_barrier.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace netpulse::engine {
namespace {

void run_phases(size_t threads, size_t cpus, uint32_t phases, uint32_t slow_every) {
  std::atomic<uint32_t> completions{0};
  std::atomic<uint32_t> arrived_this_phase{0};
  std::atomic<bool> bad_completion{false};
  auto completion = [&]() noexcept {
    // Runs once per phase, after every thread has arrived.
    if (arrived_this_phase.exchange(0) != threads) bad_completion = true;
    completions.fetch_add(1);
  };
  SpinBarrier barrier(threads, cpus, completion);
  std::vector<uint32_t> mismatches(threads, 0);
  std::vector<std::thread> pool;
  for (size_t w = 0; w < threads; ++w) {
    pool.emplace_back([&, w] {
      std::mt19937 rng(static_cast<uint32_t>(w) + 1);
      for (uint32_t p = 0; p < phases; ++p) {
        // Now and then one thread is late by more than the spin, so the others sleep.
        if (slow_every > 0 && rng() % slow_every == 0)
          std::this_thread::sleep_for(std::chrono::microseconds(100 + rng() % 300));
        arrived_this_phase.fetch_add(1);
        barrier.arrive_and_wait();
        // Past the barrier: this phase's completion has run, the next one's cannot have.
        if (completions.load() != 2 * p + 1) ++mismatches[w];
        arrived_this_phase.fetch_add(1);
        barrier.arrive_and_wait();  // so no thread starts the next phase before all checked
      }
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_FALSE(bad_completion.load()) << "a completion ran before every thread arrived";
  for (size_t w = 0; w < threads; ++w) EXPECT_EQ(mismatches[w], 0u) << "thread " << w;
  EXPECT_EQ(completions.load(), 2 * phases);
}

TEST(SpinBarrier, EveryPhaseCompletesOnceAfterAllArriveSpinningOrSleeping) {
  // Close arrivals and late ones (the others spin, then sleep), at 1 to 4 threads; and the
  // same with fewer CPUs than threads (no spinning: straight to sleep).
  for (size_t threads : {1u, 2u, 3u, 4u}) {
    for (size_t cpus : {size_t{64}, size_t{1}}) {
      SCOPED_TRACE("threads=" + std::to_string(threads) + " cpus=" + std::to_string(cpus));
      run_phases(threads, cpus, 5000, 0);
      run_phases(threads, cpus, 300, 4);
    }
  }
}

}  // namespace
}  // namespace netpulse::engine
