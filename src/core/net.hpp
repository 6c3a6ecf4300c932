// Small POSIX socket helpers shared by the TCP sources and sinks. Thread-safe (no state).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.hpp"

namespace netpulse::core {

// Connects to host:port; returns the socket (the caller's to close), or an I/O error with a
// one-line reason prefixed by label ("--output tcp://...: cannot connect: Connection refused").
Result<int> connect_tcp(const std::string& host, uint16_t port, const std::string& label);
// The same for a TCP (stream) or UDP (datagram: connect() only sets the peer) socket, trying
// each address for at most timeout_ms (0: as long as the kernel does). The socket is blocking.
Result<int> connect_socket(const std::string& host, uint16_t port, bool datagram, int timeout_ms,
                           const std::string& label);
// Binds and listens on host:port (SO_REUSEADDR); returns the socket or an I/O error.
Result<int> listen_tcp(const std::string& host, uint16_t port, const std::string& label);
// The port a bound socket listens on (useful after binding port 0).
uint16_t local_port(int fd);

}  // namespace netpulse::core
