// A line-oriented TCP control port (spec section 5): each line a client sends is handed to the
// handler and its reply written back, one line each. Many clients may connect at once. Runs on
// its own thread (Boost.Asio); the handler is called from that thread and must be thread-safe
// with respect to the rest of the program.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace netpulse::server {

class ControlServer {
 public:
  using Handler = std::function<std::string(std::string_view line)>;

  // Listens on host:port (port 0 picks a free one). Returns nullptr with a reason on failure.
  static std::unique_ptr<ControlServer> start(const std::string& host, uint16_t port,
                                              Handler handler, std::string* why);
  virtual ~ControlServer() = default;
  virtual uint16_t port() const = 0;
  virtual void stop() = 0;
};

// Longest command line accepted; a longer one is answered with an error and the rest dropped.
inline constexpr size_t kMaxControlLine = 1024;

}  // namespace netpulse::server
