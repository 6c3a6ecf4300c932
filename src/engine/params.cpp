#include "engine/params.hpp"

#include <charconv>
#include <cmath>
#include <vector>

#include "engine/window_shard.hpp"

namespace netpulse::engine {

std::optional<IpKey> parse_ip_key(std::string_view name) {
  if (name == "src") return IpKey::kSrc;
  if (name == "dst") return IpKey::kDst;
  if (name == "host") return IpKey::kHost;
  return std::nullopt;
}

const char* to_string(IpKey k) {
  switch (k) {
    case IpKey::kSrc: return "src";
    case IpKey::kDst: return "dst";
    case IpKey::kHost: return "host";
  }
  return "?";
}

core::Status validate(const QueryParams& p, int64_t max_window) {
  using core::Status;
  if (!(p.H > 0 && p.H <= 100))
    return Status::invalid_argument("H must be a percentage in (0, 100]");
  if (p.T < 1 || p.T > max_window)
    return Status::invalid_argument(
        "T must be a whole number of time units from 1 to max-window (" +
        std::to_string(max_window) + ")");
  if (p.k < 1) return Status::invalid_argument("k must be a whole number >= 1");
  if (!(p.X >= 0) || !std::isfinite(p.X))
    return Status::invalid_argument("X must be a number >= 0");
  return Status();
}

core::Status validate(const EngineConfig& c) {
  using core::Status;
  if (c.time_unit_ms < 1) return Status::invalid_argument("time unit must be at least 1ms");
  if (c.slide < 1) return Status::invalid_argument("slide must be a whole number >= 1");
  if (c.lateness < 0) return Status::invalid_argument("lateness must be >= 0");
  if (c.max_window < 1 || c.max_window > 10'000'000)
    return Status::invalid_argument("max-window must be from 1 to 10000000 units");
  if (c.threads < 1 || c.threads > kMaxThreads)
    return Status::invalid_argument("threads must be from 1 to " + std::to_string(kMaxThreads));
  return budget_for(c, static_cast<uint32_t>(c.threads)).status();
}

core::Status EngineControl::set_params(const QueryParams& p) {
  if (core::Status s = validate(p, max_window_); !s.ok()) return s;
  std::lock_guard lock(mu_);
  params_ = p;
  return core::Status();
}

void EngineControl::pause() { paused_ = true; }

void EngineControl::resume() {
  {
    std::lock_guard lock(mu_);
    paused_ = false;
  }
  cv_.notify_all();
}

bool EngineControl::wait_while_paused(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !paused_.load() || shutdown_.load(); });
  return paused_.load() && !shutdown_.load();
}

void EngineControl::request_shutdown() {
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
  }
  cv_.notify_all();
}

namespace {

std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

std::string handle_processor_command(std::string_view line, EngineControl& control) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  const auto words = split_words(line);
  if (words.empty()) return "error: empty command (expected start, stop or change H T k X)";
  if (words[0] == "start" && words.size() == 1) {
    control.resume();
    return "ok";
  }
  if (words[0] == "stop" && words.size() == 1) {
    control.pause();
    return "ok";
  }
  if (words[0] == "change") {
    if (words.size() != 5) return "error: change takes four values: change H T k X";
    QueryParams p;
    if (!parse_number(words[1], p.H) || !std::isfinite(p.H)) return "error: H is not a number";
    if (!parse_number(words[2], p.T)) return "error: T is not a whole number";
    if (!parse_number(words[3], p.k)) return "error: k is not a whole number";
    if (!parse_number(words[4], p.X) || !std::isfinite(p.X)) return "error: X is not a number";
    if (core::Status s = control.set_params(p); !s.ok()) return "error: " + s.message();
    return "ok";
  }
  return "error: unknown command '" + std::string(words[0].substr(0, 40)) +
         "' (expected start, stop or change H T k X)";
}

}  // namespace netpulse::engine
