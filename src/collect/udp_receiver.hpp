// One bound UDP socket that flow exports arrive on, read in batches with recvmmsg(2). It asks
// the kernel for the count of datagrams it dropped because the receive buffer was full
// (SO_RXQ_OVFL on each datagram, SO_MEMINFO when asked), so loss before netpulse ever saw a
// datagram is visible too. Not thread-safe:
// one thread receives; kernel_drops() may be read from any thread.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collect/flow_export.hpp"

namespace netpulse::collect {

struct Datagram {
  const uint8_t* data = nullptr;
  size_t size = 0;
  ExporterAddress from;
  bool truncated = false;  // longer than the receive buffer (65535 bytes): counted malformed
};

class UdpReceiver {
 public:
  // Binds host:port (empty host: every local address, IPv6 and IPv4 where the system allows).
  // buffer_bytes > 0 sets SO_RCVBUF (SO_RCVBUFFORCE first when running as root, so the
  // system's rmem_max does not silently cap it). Returns nullptr with a one-line reason.
  static std::unique_ptr<UdpReceiver> open(const std::string& host, uint16_t port,
                                           size_t buffer_bytes, const std::string& label,
                                           std::string* why);
  ~UdpReceiver();
  UdpReceiver(const UdpReceiver&) = delete;
  UdpReceiver& operator=(const UdpReceiver&) = delete;

  int fd() const { return fd_; }
  uint16_t port() const { return port_; }
  const std::string& label() const { return label_; }
  // The receive buffer the kernel granted, in the units SO_RCVBUF was given in.
  size_t buffer_bytes() const { return buffer_bytes_; }

  // Reads the datagrams waiting now, up to a batch, without blocking. The views stay valid
  // until the next call. Returns the count (0: nothing waiting, or an error in *error).
  size_t receive(std::vector<Datagram>& out, std::string* error);

  // Takes no more datagrams, keeping those already queued for receive(): the socket is
  // connected to its own address (on the loopback when it listens on every address), so the
  // kernel delivers nothing else to it, and a stop can drain exactly what had arrived,
  // however long that takes. Returns false (with the socket as it was) when the system refuses.
  bool close_to_new();

  // Datagrams the kernel dropped on this socket since it was opened, as of the last receive()
  // or refresh_drops().
  uint64_t kernel_drops() const { return kernel_drops_.load(std::memory_order_relaxed); }
  // Reads the kernel's drop counter now (SO_MEMINFO). Receiving thread only.
  void refresh_drops();

 private:
  UdpReceiver() = default;

  static constexpr size_t kBatch = 64;
  static constexpr size_t kMaxDatagram = 65535;

  int fd_ = -1;
  uint16_t port_ = 0;
  size_t buffer_bytes_ = 0;
  std::string label_;
  std::vector<uint8_t> buffers_;
  std::vector<mmsghdr> headers_;
  std::vector<iovec> iovecs_;
  std::vector<sockaddr_storage> addresses_;
  std::vector<char> controls_;
  uint32_t last_overflow_ = 0;  // the kernel's drop counter (mod 2^32) last seen
  std::atomic<uint64_t> kernel_drops_{0};
};

}  // namespace netpulse::collect
