// Engine configuration (fixed for a run) and the query parameters H, T, k, X (changeable while
// it runs). ParamStore is the one place parameters change: thread-safe, read once per window.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.hpp"

namespace netpulse::engine {

enum class IpKey : uint8_t { kSrc, kDst, kHost };
std::optional<IpKey> parse_ip_key(std::string_view name);
const char* to_string(IpKey k);

struct QueryParams {
  double H = 10;   // percent, 0 < H <= 100
  int64_t T = 10;  // window length in time units, 1 <= T <= max_window
  int64_t k = 3;   // top k, >= 1
  double X = 2;    // standard deviations, >= 0
  friend bool operator==(const QueryParams&, const QueryParams&) = default;
};

// The most threads (and so shards) an engine runs.
inline constexpr int kMaxThreads = 256;

struct EngineConfig {
  int64_t time_unit_ms = 1000;
  int64_t slide = 1;        // units
  int64_t lateness = 0;     // units
  int64_t max_window = 3600;  // units: panes are kept this long so T can grow
  IpKey ip_key = IpKey::kSrc;
  int threads = 1;  // 1 to kMaxThreads
  // Resident memory the window state may use, in bytes (spec section 9); 0: unbounded.
  uint64_t memory_limit = uint64_t{1} << 30;
};

// Ok, or why the parameters are invalid (an invalid argument, worded for the command line
// without its "--": "T must be ...").
core::Status validate(const QueryParams& p, int64_t max_window);
core::Status validate(const EngineConfig& c);

// Parameters in force plus the pause switch; shared by the pipeline and every control front
// (text port, HTTP, dashboard). Thread-safe.
class EngineControl {
 public:
  EngineControl(QueryParams initial, int64_t max_window) : params_(initial), max_window_(max_window) {}

  QueryParams params() const {
    std::lock_guard lock(mu_);
    return params_;
  }
  int64_t max_window() const { return max_window_; }
  // Applies a complete new set, or returns why it was rejected (nothing changes then).
  core::Status set_params(const QueryParams& p);

  // stop: the pipeline stops reading input (nothing read is lost); start: it reads again.
  void pause();
  void resume();
  bool paused() const { return paused_.load(); }
  // Blocks while paused, up to `timeout`; returns whether still paused.
  bool wait_while_paused(std::chrono::milliseconds timeout);

  // Ends the run at the next round: pending windows are flushed (Ctrl-C, `netpulse run` exit).
  void request_shutdown();
  bool shutdown_requested() const { return shutdown_.load(); }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  QueryParams params_;
  int64_t max_window_;
  std::atomic<bool> paused_{false};
  std::atomic<bool> shutdown_{false};
};

// The processor's text control protocol (spec section 5): "start", "stop", "change H T k X".
// Returns the reply line without '\n': "ok" or "error: <reason>".
std::string handle_processor_command(std::string_view line, EngineControl& control);

}  // namespace netpulse::engine
