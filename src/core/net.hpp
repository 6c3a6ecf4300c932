// Small POSIX socket helpers shared by the TCP sources and sinks. Thread-safe (no state).
#pragma once

#include <cstdint>
#include <string>

namespace netpulse::core {

// Connects to host:port; returns the socket or -1 with a one-line reason (prefixed by label).
int connect_tcp(const std::string& host, uint16_t port, const std::string& label, std::string* why);
// The same for a TCP (stream) or UDP (datagram: connect() only sets the peer) socket, trying
// each address for at most timeout_ms (0: as long as the kernel does). The socket is blocking.
int connect_socket(const std::string& host, uint16_t port, bool datagram, int timeout_ms,
                   const std::string& label, std::string* why);
// Binds and listens on host:port (SO_REUSEADDR); returns the socket or -1 with a reason.
int listen_tcp(const std::string& host, uint16_t port, const std::string& label, std::string* why);
// The port a bound socket listens on (useful after binding port 0).
uint16_t local_port(int fd);

}  // namespace netpulse::core
