#include "generate/tcp_broadcast_sink.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "core/net.hpp"

namespace netpulse::generate {

namespace {

struct Block {
  std::vector<char> bytes;
  uint64_t records = 0;
};

struct Consumer {
  int fd = -1;
  std::string peer;
  std::deque<std::shared_ptr<const Block>> queue;
  size_t offset = 0;  // into queue.front()
  size_t queued_bytes = 0;
  uint64_t sent_records = 0;
  uint64_t dropped_records = 0;
  bool dropping = false;
  bool gone = false;
};

std::string peer_name(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
  ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
  port = ntohs(a->sin6_port);
  std::string out;
  out += '[';
  out += host;
  out += "]:";
  out += std::to_string(port);
  return out;
}

// Blocks handed to one writev().
constexpr int kMaxIov = 64;

}  // namespace

struct TcpBroadcastSink::State {
  Options options;
  int listen_fd = -1;
  int wake_fd = -1;
  uint16_t port = 0;
  std::thread io;

  mutable std::mutex mu;  // guards everything below
  std::vector<std::unique_ptr<Consumer>> consumers;
  std::shared_ptr<const Block> header;
  bool closing = false;
  std::chrono::steady_clock::time_point drain_deadline;
  Totals totals;

  void notice(const std::string& line) {
    if (options.on_notice) options.on_notice(line);
  }
  void wake() {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd, &one, sizeof one);
  }

  void run();
  void accept_all(std::vector<std::string>& notices);
  // Writes what the socket takes without blocking. Returns false when the consumer is gone.
  bool send_some(Consumer& c);
};

void TcpBroadcastSink::State::run() {
  std::vector<pollfd> fds;
  std::vector<Consumer*> polled;
  std::vector<std::string> notices;
  while (true) {
    fds.clear();
    polled.clear();
    bool draining = false;
    int timeout_ms = 1000;
    {
      std::lock_guard lock(mu);
      fds.push_back({wake_fd, POLLIN, 0});
      if (!closing) fds.push_back({listen_fd, POLLIN, 0});
      for (auto& c : consumers) {
        fds.push_back({c->fd, static_cast<short>(POLLIN | (c->queue.empty() ? 0 : POLLOUT)), 0});
        polled.push_back(c.get());
        draining |= !c->queue.empty();
      }
      if (closing) {
        const auto now = std::chrono::steady_clock::now();
        if (!draining || now >= drain_deadline) break;
        timeout_ms = static_cast<int>(
            std::chrono::duration_cast<std::chrono::milliseconds>(drain_deadline - now).count() +
            1);
      }
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    size_t next = 0;
    if (fds[next++].revents & POLLIN) {
      uint64_t count;
      [[maybe_unused]] ssize_t n = ::read(wake_fd, &count, sizeof count);
    }
    bool accept_ready = false;
    if (fds.size() > polled.size() + 1) accept_ready = fds[next++].revents & POLLIN;
    for (size_t k = 0; k < polled.size(); ++k) {
      Consumer& c = *polled[k];
      const short ev = fds[next + k].revents;
      if (ev & POLLIN) {  // consumers have nothing to say: read and discard; 0 means closed
        char scratch[4096];
        const ssize_t n = ::recv(c.fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
          c.gone = true;
      }
      if (ev & (POLLERR | POLLHUP | POLLNVAL)) c.gone = true;
      if (!c.gone && (ev & POLLOUT) && !send_some(c)) c.gone = true;
    }
    {
      std::lock_guard lock(mu);
      if (accept_ready) accept_all(notices);
      for (auto it = consumers.begin(); it != consumers.end();) {
        Consumer& c = **it;
        if (!c.gone) {
          ++it;
          continue;
        }
        notices.push_back("consumer " + c.peer + " disconnected after " +
                          std::to_string(c.sent_records) + " records (" +
                          std::to_string(c.dropped_records) + " dropped); " +
                          std::to_string(consumers.size() - 1) + " connected");
        ::close(c.fd);
        it = consumers.erase(it);
      }
    }
    for (const std::string& n : notices) notice(n);
    notices.clear();
  }
  {
    std::lock_guard lock(mu);
    for (auto& c : consumers) {
      uint64_t unsent = 0;
      for (const auto& b : c->queue) unsent += b->records;
      if (unsent > 0)
        notices.push_back("consumer " + c->peer + ": closed with " + std::to_string(unsent) +
                          " records not yet taken");
      totals.unsent_records += unsent;
      ::shutdown(c->fd, SHUT_WR);
      ::close(c->fd);
    }
    consumers.clear();
  }
  for (const std::string& n : notices) notice(n);  // outside the lock: it may call back
}

void TcpBroadcastSink::State::accept_all(std::vector<std::string>& notices) {
  while (true) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or an aborted connection: nothing more to take now
    auto c = std::make_unique<Consumer>();
    c->fd = fd;
    c->peer = peer_name(fd);
    if (header && !header->bytes.empty()) {
      c->queue.push_back(header);
      c->queued_bytes = header->bytes.size();
    }
    notices.push_back("consumer " + c->peer + " connected; " +
                      std::to_string(consumers.size() + 1) + " connected");
    consumers.push_back(std::move(c));
    ++totals.consumers;
  }
}

bool TcpBroadcastSink::State::send_some(Consumer& c) {
  while (true) {
    iovec iov[kMaxIov];
    int n = 0;
    {
      // The generator only appends to the queue and this thread alone pops from it, so the
      // blocks referenced here stay alive and in place while the lock is released.
      std::lock_guard lock(mu);
      size_t offset = c.offset;
      for (const auto& b : c.queue) {
        if (n == kMaxIov) break;
        iov[n].iov_base = const_cast<char*>(b->bytes.data() + offset);
        iov[n].iov_len = b->bytes.size() - offset;
        offset = 0;
        ++n;
      }
    }
    if (n == 0) return true;
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(n);
    const ssize_t sent = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    std::lock_guard lock(mu);
    size_t left = static_cast<size_t>(sent);
    c.queued_bytes -= left;
    while (left > 0) {
      const size_t in_front = c.queue.front()->bytes.size() - c.offset;
      if (left < in_front) {
        c.offset += left;
        return true;  // the socket took less than offered: it is full
      }
      left -= in_front;
      c.sent_records += c.queue.front()->records;
      c.queue.pop_front();
      c.offset = 0;
    }
  }
}

std::unique_ptr<TcpBroadcastSink> TcpBroadcastSink::start(const std::string& host, uint16_t port,
                                                          Options options, std::string* why) {
  auto state = std::make_unique<State>();
  state->options = std::move(options);
  const core::Result<int> fd = core::listen_tcp(host, port, host + ":" + std::to_string(port));
  if (!core::ok_or_why(fd.status(), why)) return nullptr;
  state->listen_fd = *fd;
  state->port = core::local_port(state->listen_fd);
  // Non-blocking accept: a connection reset between poll() and accept() must not hang the loop.
  const int flags = ::fcntl(state->listen_fd, F_GETFL);
  ::fcntl(state->listen_fd, F_SETFL, flags | O_NONBLOCK);
  state->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (state->wake_fd < 0) {
    if (why) *why = std::string("eventfd: ") + std::strerror(errno);
    ::close(state->listen_fd);
    return nullptr;
  }
  State* s = state.get();
  state->io = std::thread([s] { s->run(); });
  return std::unique_ptr<TcpBroadcastSink>(new TcpBroadcastSink(std::move(state)));
}

TcpBroadcastSink::TcpBroadcastSink(std::unique_ptr<State> state) : state_(std::move(state)) {}

TcpBroadcastSink::~TcpBroadcastSink() {
  close(std::chrono::milliseconds(0));
  ::close(state_->listen_fd);
  ::close(state_->wake_fd);
}

uint16_t TcpBroadcastSink::port() const {
  return state_->port;
}

bool TcpBroadcastSink::begin(std::string_view header) {
  auto block = std::make_shared<Block>();
  block->bytes.assign(header.begin(), header.end());
  std::lock_guard lock(state_->mu);
  state_->header = std::move(block);
  return true;
}

bool TcpBroadcastSink::write(const char* data, size_t size, uint64_t records) {
  auto block = std::make_shared<Block>();
  block->bytes.assign(data, data + size);
  block->records = records;
  std::vector<std::string> notices;
  {
    std::lock_guard lock(state_->mu);
    for (auto& c : state_->consumers) {
      if (c->queued_bytes + size > state_->options.max_queue_bytes) {
        c->dropped_records += records;
        state_->totals.dropped_records += records;
        if (!c->dropping)
          notices.push_back("consumer " + c->peer + " is too slow: dropping records for it");
        c->dropping = true;
        continue;
      }
      if (c->dropping)
        notices.push_back("consumer " + c->peer + " caught up after " +
                          std::to_string(c->dropped_records) + " dropped records in all");
      c->dropping = false;
      c->queue.push_back(block);
      c->queued_bytes += size;
    }
  }
  state_->wake();
  for (const std::string& n : notices) state_->notice(n);
  return true;
}

std::vector<TcpBroadcastSink::ConsumerStats> TcpBroadcastSink::consumers() const {
  std::lock_guard lock(state_->mu);
  std::vector<ConsumerStats> out;
  for (const auto& c : state_->consumers)
    out.push_back({c->peer, c->sent_records, c->dropped_records, c->queued_bytes});
  return out;
}

TcpBroadcastSink::Totals TcpBroadcastSink::close(std::chrono::milliseconds drain) {
  {
    std::lock_guard lock(state_->mu);
    if (!state_->closing) {
      state_->closing = true;
      state_->drain_deadline = std::chrono::steady_clock::now() + drain;
    }
  }
  state_->wake();
  if (state_->io.joinable()) state_->io.join();
  std::lock_guard lock(state_->mu);
  return state_->totals;
}

}  // namespace netpulse::generate
