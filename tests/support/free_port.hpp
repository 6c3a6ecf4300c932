// Ports for the servers a test starts in a child process (netpulse itself, PostgreSQL).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <stdexcept>

namespace netpulse::testsupport {

// True when `port` on 127.0.0.1 can be bound right now for sockets of `type`.
inline bool bindable(int type, uint16_t port) {
  const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A port on 127.0.0.1 free for both TCP and UDP a moment ago, for a child to bind.
//
// Not bind(0): the kernel gives port-0 binds and the source ports of outgoing connections from one
// ephemeral range (net.ipv4.ip_local_port_range), so between this probe and the child's own bind, a
// connection made by a test running alongside can take the port. CI saw exactly that ("control
// port 127.0.0.1:43421: Address already in use"). These ports come from below that range instead,
// in an order that starts at a point drawn from the process id and steps by a prime, so two test
// processes rarely try the same ports, and each is checked before it is handed out.
inline uint16_t free_port() {
  int ephemeral_low = 32768, ephemeral_high = 60999;
  std::ifstream("/proc/sys/net/ipv4/ip_local_port_range") >> ephemeral_low >> ephemeral_high;
  unsigned first = 10000, count = 0;
  if (ephemeral_low > 12000) {
    count = static_cast<unsigned>(ephemeral_low) - first;
  } else {  // an unusual range set low: use the ports above it
    first = static_cast<unsigned>(ephemeral_high) + 1;
    count = first < 63000 ? 65536 - first : 0;
  }
  if (count == 0) throw std::runtime_error("free_port: no ports outside the ephemeral range");
  static std::atomic<unsigned> step{static_cast<unsigned>(::getpid()) * 2654435761u};
  for (unsigned tries = 0; tries < count; ++tries) {
    const auto port = static_cast<uint16_t>(first + (step.fetch_add(7919) % count));
    if (bindable(SOCK_STREAM, port) && bindable(SOCK_DGRAM, port)) return port;
  }
  throw std::runtime_error("free_port: every port outside the ephemeral range is taken");
}

}  // namespace netpulse::testsupport
