#include "core/net.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netpulse::core {

namespace {

// connect(), giving up after timeout_ms (0: a plain blocking connect). Sets errno on failure.
bool connect_within(int fd, const sockaddr* addr, socklen_t len, int timeout_ms) {
  if (timeout_ms <= 0) return ::connect(fd, addr, len) == 0;
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int r = ::connect(fd, addr, len);
  if (r < 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    r = ::poll(&p, 1, timeout_ms);
    if (r <= 0) {
      if (r == 0) errno = ETIMEDOUT;
      r = -1;
    } else {
      int err = 0;
      socklen_t err_len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
      errno = err;
      r = err == 0 ? 0 : -1;
    }
  }
  const int saved = errno;
  ::fcntl(fd, F_SETFL, flags);
  errno = saved;
  return r == 0;
}

Result<int> open_socket(const std::string& host, uint16_t port, const std::string& label,
                        bool listen, int socktype = SOCK_STREAM, int timeout_ms = 0) {
  addrinfo hints{};
  hints.ai_socktype = socktype;
  if (listen) hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string port_text = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res); rc != 0)
    return Status::io_error(label + ": " + gai_strerror(rc));
  int fd = -1;
  std::string last = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    bool ok;
    if (listen) {
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      ok = ::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, 64) == 0;
    } else {
      ok = connect_within(fd, a->ai_addr, a->ai_addrlen, timeout_ms);
    }
    if (ok) break;
    last = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0)
    return Status::io_error(label + (listen ? ": cannot listen: " : ": cannot connect: ") + last);
  return fd;
}

}  // namespace

Result<int> connect_tcp(const std::string& host, uint16_t port, const std::string& label) {
  return open_socket(host, port, label, false);
}

Result<int> connect_socket(const std::string& host, uint16_t port, bool datagram, int timeout_ms,
                           const std::string& label) {
  return open_socket(host, port, label, false, datagram ? SOCK_DGRAM : SOCK_STREAM, timeout_ms);
}

Result<int> listen_tcp(const std::string& host, uint16_t port, const std::string& label) {
  return open_socket(host, port, label, true);
}

uint16_t local_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

}  // namespace netpulse::core
