#include "core/net.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netpulse::core {

namespace {

int open_socket(const std::string& host, uint16_t port, const std::string& label, bool listen,
                std::string* why) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  if (listen) hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string port_text = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res); rc != 0) {
    if (why) *why = label + ": " + gai_strerror(rc);
    return -1;
  }
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
      ok = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
    }
    if (ok) break;
    last = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0 && why) *why = label + (listen ? ": cannot listen: " : ": cannot connect: ") + last;
  return fd;
}

}  // namespace

int connect_tcp(const std::string& host, uint16_t port, const std::string& label, std::string* why) {
  return open_socket(host, port, label, false, why);
}

int listen_tcp(const std::string& host, uint16_t port, const std::string& label, std::string* why) {
  return open_socket(host, port, label, true, why);
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
