// Receivers for the alert endpoints' tests, on 127.0.0.1 (any free port), each on its own
// thread, stopped and joined by its destructor: an HTTP server that answers 500 to the first
// `fail_first` requests and 200 after, a UDP syslog receiver (one message a datagram) and a TCP
// syslog receiver that reads RFC 6587 octet-counted frames. Header-only; the getters are
// thread-safe.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace netpulse::testsupport {

class Receiver {
 public:
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  virtual ~Receiver() = default;
  uint16_t port() const { return port_; }
  std::vector<std::string> messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return messages_.size();
  }

 protected:
  Receiver() = default;
  void open(int type) {
    fd_ = ::socket(AF_INET, type, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("receiver: bind failed");
    if (type == SOCK_STREAM && ::listen(fd_, 16) != 0)
      throw std::runtime_error("receiver: listen failed");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  void stop_and_join() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Waits up to 50 ms for fd to be readable.
  static bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 50) > 0;
  }
  void add(std::string m) {
    std::lock_guard lock(mu_);
    messages_.push_back(std::move(m));
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<std::string> messages_;
};

// POST bodies. messages(): the bodies answered 200; attempts(): every request's body.
class HttpReceiver final : public Receiver {
 public:
  explicit HttpReceiver(int fail_first = 0) : fail_first_(fail_first) {
    open(SOCK_STREAM);
    thread_ = std::thread([this] { loop(); });
  }
  ~HttpReceiver() override { stop_and_join(); }
  std::vector<std::string> attempts() const {
    std::lock_guard lock(mu_);
    return attempts_;
  }
  std::vector<std::string> targets() const {
    std::lock_guard lock(mu_);
    return targets_;
  }

 private:
  void loop() {
    while (!stop_) {
      if (!readable(fd_)) continue;
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      serve(c);
      ::close(c);
    }
  }
  void serve(int c) {
    std::string in;
    char buf[4096];
    size_t header_end = std::string::npos, length = 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline && !stop_) {
      if (header_end != std::string::npos && in.size() >= header_end + 4 + length) break;
      if (!readable(c)) continue;
      const ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos &&
          (header_end = in.find("\r\n\r\n")) != std::string::npos) {
        std::string head = in.substr(0, header_end);
        for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        const size_t at = head.find("content-length:");
        if (at != std::string::npos) length = std::stoul(head.substr(at + 15));
      }
    }
    if (header_end == std::string::npos) return;
    const std::string body = in.substr(header_end + 4, length);
    const std::string target =
        in.substr(in.find(' ') + 1, in.find(' ', in.find(' ') + 1) - in.find(' ') - 1);
    bool fail;
    {
      std::lock_guard lock(mu_);
      attempts_.push_back(body);
      targets_.push_back(target);
      fail = static_cast<int>(attempts_.size()) <= fail_first_;
      // Recorded before the reply goes out: once the sender has its 200, a test may count it.
      if (!fail) messages_.push_back(body);
    }
    const std::string reply =
        fail ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\nConnection: "
               "close\r\n\r\nfail"
             : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
  }
  int fail_first_;
  std::vector<std::string> attempts_, targets_;
};

class UdpSyslogReceiver final : public Receiver {
 public:
  UdpSyslogReceiver() {
    open(SOCK_DGRAM);
    thread_ = std::thread([this] {
      char buf[65536];
      while (!stop_) {
        if (!readable(fd_)) continue;
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) add(std::string(buf, static_cast<size_t>(n)));
      }
    });
  }
  ~UdpSyslogReceiver() override { stop_and_join(); }
};

// Frames "LEN SP MSG"; a malformed frame is recorded as "BAD FRAME: ..." (so a test sees it).
class TcpSyslogReceiver final : public Receiver {
 public:
  TcpSyslogReceiver() {
    open(SOCK_STREAM);
    thread_ = std::thread([this] { loop(); });
  }
  ~TcpSyslogReceiver() override { stop_and_join(); }
  int connections() const { return connections_.load(); }

 private:
  void loop() {
    std::vector<std::pair<int, std::string>> conns;
    while (!stop_) {
      std::vector<pollfd> fds{{fd_, POLLIN, 0}};
      for (auto& [c, _] : conns) fds.push_back({c, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c >= 0) {
          conns.emplace_back(c, std::string());
          ++connections_;
        }
      }
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        auto& [c, pending] = conns[i - 1];
        char buf[4096];
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) {
          ::close(c);
          c = -1;
          continue;
        }
        pending.append(buf, static_cast<size_t>(n));
        for (;;) {
          const size_t sp = pending.find(' ');
          if (sp == std::string::npos) break;
          const std::string len_text = pending.substr(0, sp);
          if (len_text.empty() || len_text.find_first_not_of("0123456789") != std::string::npos) {
            add("BAD FRAME: " + pending);
            pending.clear();
            break;
          }
          const size_t len = std::stoul(len_text);
          if (pending.size() < sp + 1 + len) break;
          add(pending.substr(sp + 1, len));
          pending.erase(0, sp + 1 + len);
        }
      }
      std::erase_if(conns, [](const auto& p) { return p.first < 0; });
    }
    for (auto& [c, _] : conns) ::close(c);
  }
  std::atomic<int> connections_{0};
};

}  // namespace netpulse::testsupport
