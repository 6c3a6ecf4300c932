#include "collect/udp_receiver.hpp"

#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <netdb.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace netpulse::collect {

namespace {

constexpr size_t kControlSpace = CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(64);

ExporterAddress to_exporter(const sockaddr_storage& ss) {
  ExporterAddress a;
  if (ss.ss_family == AF_INET) {
    const auto& s4 = reinterpret_cast<const sockaddr_in&>(ss);
    a.address = core::IpAddr::v4(ntohl(s4.sin_addr.s_addr));
    a.port = ntohs(s4.sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto& s6 = reinterpret_cast<const sockaddr_in6&>(ss);
    const uint8_t* b = s6.sin6_addr.s6_addr;
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < 8; ++i) hi = hi << 8 | b[i];
    for (int i = 8; i < 16; ++i) lo = lo << 8 | b[i];
    // An IPv4 exporter seen through a dual-stack socket (::ffff:a.b.c.d) is that IPv4 exporter.
    if (hi == 0 && (lo >> 32) == 0xffff)
      a.address = core::IpAddr::v4(static_cast<uint32_t>(lo));
    else
      a.address = core::IpAddr::v6(core::Ip6{hi, lo});
    a.port = ntohs(s6.sin6_port);
  }
  return a;
}

}  // namespace

std::unique_ptr<UdpReceiver> UdpReceiver::open(const std::string& host, uint16_t port,
                                               size_t buffer_bytes, const std::string& label,
                                               std::string* why) {
  addrinfo hints{};
  hints.ai_family = host.empty() ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0 && host.empty()) {  // no IPv6 on this machine: every IPv4 address
    hints.ai_family = AF_INET;
    rc = ::getaddrinfo(nullptr, service.c_str(), &hints, &res);
  }
  if (rc != 0) {
    *why = label + ": cannot resolve '" + host + "': " + ::gai_strerror(rc);
    return nullptr;
  }
  std::unique_ptr<UdpReceiver> r(new UdpReceiver());
  r->label_ = label;
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    if (ai->ai_family == AF_INET6 && host.empty()) {
      const int off = 0;  // dual stack: IPv4 exporters too
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    }
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      continue;
    }
    r->fd_ = fd;
    break;
  }
  ::freeaddrinfo(res);
  if (r->fd_ < 0 && host.empty()) {
    // No IPv6 in this kernel (ipv6.disable=1): every IPv4 address instead.
    sockaddr_in any{};
    any.sin_family = AF_INET;
    any.sin_port = htons(port);
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0)
      r->fd_ = fd;
    else if (fd >= 0)
      ::close(fd);
  }
  if (r->fd_ < 0) {
    *why = label + ": cannot listen: " + last_error;
    return nullptr;
  }
  if (buffer_bytes > 0) {
    const int size = static_cast<int>(std::min<size_t>(buffer_bytes, 1u << 30));
    // SO_RCVBUFFORCE (root) ignores net.core.rmem_max; otherwise the kernel caps SO_RCVBUF.
    if (::setsockopt(r->fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
      ::setsockopt(r->fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  int granted = 0;
  socklen_t len = sizeof granted;
  // Linux reports twice what was asked (the other half is its bookkeeping, socket(7)).
  if (::getsockopt(r->fd_, SOL_SOCKET, SO_RCVBUF, &granted, &len) == 0)
    r->buffer_bytes_ = static_cast<size_t>(granted) / 2;
  const int on = 1;
  ::setsockopt(r->fd_, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  if (::getsockname(r->fd_, reinterpret_cast<sockaddr*>(&bound), &blen) == 0)
    r->port_ = to_exporter(bound).port;

  r->buffers_.resize(kBatch * kMaxDatagram);
  r->headers_.resize(kBatch);
  r->iovecs_.resize(kBatch);
  r->addresses_.resize(kBatch);
  r->controls_.resize(kBatch * kControlSpace);
  return r;
}

UdpReceiver::~UdpReceiver() {
  if (fd_ >= 0) ::close(fd_);
}

size_t UdpReceiver::receive(std::vector<Datagram>& out, std::string* error) {
  out.clear();
  for (size_t i = 0; i < kBatch; ++i) {
    iovecs_[i] = iovec{buffers_.data() + i * kMaxDatagram, kMaxDatagram};
    msghdr& h = headers_[i].msg_hdr;
    h = msghdr{};
    h.msg_name = &addresses_[i];
    h.msg_namelen = sizeof(sockaddr_storage);
    h.msg_iov = &iovecs_[i];
    h.msg_iovlen = 1;
    h.msg_control = controls_.data() + i * kControlSpace;
    h.msg_controllen = kControlSpace;
    headers_[i].msg_len = 0;
  }
  const int n = ::recvmmsg(fd_, headers_.data(), kBatch, MSG_DONTWAIT, nullptr);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && error)
      *error = label_ + ": " + std::strerror(errno);
    return 0;
  }
  for (int i = 0; i < n; ++i) {
    msghdr& h = headers_[size_t(i)].msg_hdr;
    // The kernel's drop counter rides on every datagram: the total dropped on this socket so
    // far (a 32-bit counter that wraps).
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        uint32_t total = 0;
        std::memcpy(&total, CMSG_DATA(c), sizeof total);
        // The counter as it was when this datagram was queued: it only grows (mod 2^32), and
        // refresh_drops() may already have read a later value.
        if (static_cast<int32_t>(total - last_overflow_) > 0) {
          kernel_drops_.fetch_add(total - last_overflow_, std::memory_order_relaxed);
          last_overflow_ = total;
        }
      }
    }
    Datagram d;
    d.data = buffers_.data() + size_t(i) * kMaxDatagram;
    d.size = headers_[size_t(i)].msg_len;
    d.truncated = (h.msg_flags & MSG_TRUNC) != 0;
    d.from = to_exporter(addresses_[size_t(i)]);
    out.push_back(d);
  }
  return static_cast<size_t>(n);
}

bool UdpReceiver::close_to_new() {
  sockaddr_storage self{};
  socklen_t len = sizeof self;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&self), &len) != 0) return false;
  // A connected UDP socket is only matched by datagrams from its peer; those already queued
  // stay (connect(2) does not purge the receive queue). Its own address as the peer: nothing
  // else sends from there.
  if (self.ss_family == AF_INET) {
    auto& s4 = reinterpret_cast<sockaddr_in&>(self);
    if (s4.sin_addr.s_addr == htonl(INADDR_ANY)) s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (self.ss_family == AF_INET6) {
    auto& s6 = reinterpret_cast<sockaddr_in6&>(self);
    if (IN6_IS_ADDR_UNSPECIFIED(&s6.sin6_addr)) s6.sin6_addr = in6addr_loopback;
  } else {
    return false;
  }
  return ::connect(fd_, reinterpret_cast<const sockaddr*>(&self), len) == 0;
}

void UdpReceiver::refresh_drops() {
  // SO_MEMINFO reads the socket's drop counter now; SO_RXQ_OVFL only reports it on the next
  // datagram, so drops at the end of a burst would stay invisible until the exporter sends again.
  uint32_t info[SK_MEMINFO_VARS] = {};
  socklen_t len = sizeof info;
  if (::getsockopt(fd_, SOL_SOCKET, SO_MEMINFO, info, &len) == 0 &&
      len > SK_MEMINFO_DROPS * sizeof(uint32_t)) {
    const uint32_t total = info[SK_MEMINFO_DROPS];
    kernel_drops_.fetch_add(total - last_overflow_, std::memory_order_relaxed);
    last_overflow_ = total;
  }
}

}  // namespace netpulse::collect
