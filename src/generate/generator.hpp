// The traffic generator (spec section 6): draws flow records from the TrafficModel, mixes in
// scenarios, merges in flood records by event time, stamps event time and writes text to a
// RecordSink. run() is called on one thread; the control methods (set_params, pause, resume,
// request_stop, status) are thread-safe and take effect at the next batch (well under a
// millisecond at full speed) without restarting the stream: the record counter and event time
// carry on.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "generate/clock.hpp"
#include "generate/record_formatter.hpp"
#include "generate/record_sink.hpp"
#include "generate/scenario.hpp"
#include "generate/traffic_params.hpp"

namespace netpulse::generate {

// With --start-time and --rate 0 (no spacing given), event time advances as at this rate:
// 1 ms per 1000 records, about what "as fast as possible" delivers into the engine.
inline constexpr uint64_t kUnpacedEventRate = 1'000'000;

struct GeneratorConfig {
  TrafficParams params;
  uint64_t seed = 1;
  // Given: event time is virtual, record i at start + floor(i * 1000 / rate), and the output is
  // as fast as possible (unless realtime). Absent: event time is the wall clock and the rate is
  // held in real time.
  std::optional<core::TimeMs> start_time;
  bool realtime = false;    // with start_time: hold the rate in real time too
  uint64_t count = 0;       // stop after this many records, flood ones included (0: no limit)
  int64_t duration_ms = 0;  // stop after this long (0: no limit): wall-clock time, or event time
                            // with start_time
  OutputFormat format = OutputFormat::kLine;
  std::vector<Scenario> scenarios;
  // Records per second of event time that a flood scenario adds on top of the normal ones.
  uint64_t flood_rate = kDefaultFloodRate;
  // Percent of the made-up addresses that are IPv6 (AddressList); 0: IPv4 only.
  double ipv6_percent = 0;
  // Fraction digits of the printed time, 0 to 9, or kMixedTimeDigits (0 to 9 per record).
  // Digits past the millisecond come from a random stream of their own, so the records' other
  // fields do not depend on this setting.
  int time_digits = kDefaultTimeDigits;
};

// Returns why a configuration is invalid (one line), or nullopt.
std::optional<std::string> validate(const GeneratorConfig& c);

struct GeneratorStatus {
  TrafficParams params;
  bool paused = false;
  bool running = false;         // inside run()
  uint64_t records = 0;         // written so far
  uint64_t bytes = 0;           // of text written so far
  core::TimeMs event_time = 0;  // of the last record written (0 before the first)
  uint64_t fell_behind = 0;     // times pacing gave up on catching up (output slower than rate)
};

struct RunSummary {
  enum class End : uint8_t { kCount, kDuration, kStopped, kReaderGone, kOutputError };
  End end = End::kStopped;
  uint64_t records = 0;
  uint64_t bytes = 0;
  double seconds = 0;  // wall-clock time spent in run()
  std::string error;   // kOutputError and kReaderGone: the sink's message
};

class Generator {
 public:
  // REQUIRES: validate(config) is nullopt. Builds the model (for a Zipf law over 10 million
  // addresses that takes a moment and 120 MB).
  explicit Generator(GeneratorConfig config, Clock& clock = system_clock());
  ~Generator();
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  // Control; thread-safe. set_params builds the new model on the calling thread, then swaps it
  // in; on invalid parameters it returns the reason and nothing changes.
  std::optional<std::string> set_params(const TrafficParams& p);
  TrafficParams params() const;
  // stop/start of the control protocol: no record is written while paused; connections stay.
  void pause();
  void resume();
  bool paused() const { return paused_.load(); }
  // Makes run() return after writing out what it holds (Ctrl-C, the end of `netpulse run`).
  void request_stop();
  GeneratorStatus status() const;

  const GeneratorConfig& config() const { return config_; }

  // Generates until the count or duration is reached, request_stop(), or the sink fails.
  // Call once, from one thread.
  RunSummary run(RecordSink& sink);

 private:
  struct Loop;

  std::shared_ptr<const TrafficModel> model(uint64_t* version) const;
  // Waits while paused, up to timeout; returns whether still paused.
  bool wait_while_paused(int64_t timeout_ms);

  const GeneratorConfig config_;
  Clock& clock_;

  mutable std::mutex mu_;  // guards model_ and the wake-ups of cv_
  std::condition_variable cv_;
  std::shared_ptr<const TrafficModel> model_;
  std::atomic<uint64_t> model_version_{0};
  std::mutex set_mu_;  // one set_params at a time (it builds outside mu_)

  std::atomic<bool> paused_{false};
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> records_{0};
  std::atomic<uint64_t> bytes_{0};
  std::atomic<int64_t> event_time_{0};
  std::atomic<uint64_t> fell_behind_{0};
};

}  // namespace netpulse::generate
