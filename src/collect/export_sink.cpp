#include "collect/export_sink.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace netpulse::collect {

namespace {

class UdpSender final : public DatagramSender {
 public:
  explicit UdpSender(int fd) : fd_(fd) {}
  ~UdpSender() override { ::close(fd_); }
  int send(const uint8_t* data, size_t size) override {
    while (true) {
      if (::send(fd_, data, size, 0) >= 0) return 0;
      if (errno != EINTR) return errno;
    }
  }

 private:
  int fd_;
};

// Mixes an address pair into 64 bits (SplitMix64's finalizer): the source port must stay the
// same for the same hosts from run to run, and spread over the ephemeral range.
uint64_t pair_hash(const core::IpAddr& a, const core::IpAddr& b) {
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  uint64_t h = mix(a.bits.hi ^ mix(a.bits.lo + 0x9E3779B97F4A7C15ULL));
  h = mix(h ^ b.bits.hi);
  return mix(h ^ b.bits.lo);
}

bool has_ports(uint8_t ip_protocol) {
  return ip_protocol == 6 || ip_protocol == 17 || ip_protocol == 132;
}

}  // namespace

std::unique_ptr<DatagramSender> connect_udp(const std::string& host, uint16_t port,
                                            const std::string& label, std::string* why) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &list); rc != 0) {
    *why = label + ": cannot resolve '" + host + "': " + ::gai_strerror(rc);
    return nullptr;
  }
  int last_errno = 0;
  for (const addrinfo* ai = list; ai; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_errno = errno;
      continue;
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      ::freeaddrinfo(list);
      return std::make_unique<UdpSender>(fd);
    }
    last_errno = errno;
    ::close(fd);
  }
  ::freeaddrinfo(list);
  *why = label + ": " + std::strerror(last_errno);
  return nullptr;
}

NetflowExportSink::NetflowExportSink(NetflowExportOptions options, ServiceTable services,
                                     std::unique_ptr<DatagramSender> sender, std::string name)
    : options_(std::move(options)),
      services_(std::move(services)),
      sender_(std::move(sender)),
      name_(std::move(name)),
      encoder_(options_.encoder, [this](const uint8_t* d, size_t n) { on_datagram(d, n); }) {}

NetflowExportSink::~NetflowExportSink() {
  finish();
}

std::unique_ptr<NetflowExportSink> NetflowExportSink::open(const std::string& host, uint16_t port,
                                                           NetflowExportOptions options,
                                                           ServiceTable services,
                                                           const std::string& name,
                                                           std::string* why) {
  auto sender = connect_udp(host, port, name, why);
  if (!sender) return nullptr;
  return std::make_unique<NetflowExportSink>(std::move(options), std::move(services),
                                             std::move(sender), name);
}

int64_t NetflowExportSink::now_ms() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool NetflowExportSink::begin(std::string_view header) {
  // The generator's CSV has a header line; the line format has none.
  while (!header.empty() && (header.back() == '\n' || header.back() == '\r'))
    header.remove_suffix(1);
  if (header.empty()) {
    parser_.emplace(protocols_, ingest::Format::kLine);
    return true;
  }
  parser_.emplace(protocols_, ingest::Format::kCsv);
  if (core::Status s = parser_->read_header(header); !s.ok()) {
    error_ = name_ + ": CSV header: " + s.message();
    failed_ = true;
    return false;
  }
  return true;
}

const NetflowExportSink::Mapping& NetflowExportSink::mapping(uint32_t id) {
  if (id >= mappings_.size()) mappings_.resize(id + 1);
  std::optional<Mapping>& m = mappings_[id];
  if (m) return *m;
  const std::string_view label = protocols_.name(id);
  m.emplace();
  if (const auto service = services_.find(label)) {
    m->ip_protocol = service->ip_protocol;
    m->port = service->port;
    m->known = true;
    return *m;
  }
  for (int p = 0; p < 256; ++p)
    if (services_.transport_name(static_cast<uint8_t>(p)) == label) {
      m->ip_protocol = static_cast<uint8_t>(p);
      m->known = true;
      return *m;
    }
  return *m;  // unknown: TCP port 0
}

bool NetflowExportSink::write(const char* data, size_t size, uint64_t) {
  if (failed_) return false;
  if (!parser_) begin({});
  const char* p = data;
  const char* const end = data + size;
  const uint32_t sampling = options_.encoder.sampling_rate;
  ExportedFlow flow;
  flow.packets = 1;
  flow.sampling_rate = sampling;
  flow.domain = options_.encoder.domain;
  flow.protocol = options_.encoder.version;
  while (p < end && !failed_) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
    const char* line_end = nl ? nl : end;
    core::FlowRecord r;
    const ingest::ParseStatus st = parser_->parse(p, line_end, r);
    p = nl ? nl + 1 : end;
    if (st == ingest::ParseStatus::kBlank) continue;
    if (st != ingest::ParseStatus::kOk) {
      ++counters_.malformed_lines;
      continue;
    }
    ++counters_.records;
    if (sampling > 1) {
      const bool take = sample_phase_ == 0;
      if (++sample_phase_ == sampling) sample_phase_ = 0;
      if (!take) {
        ++counters_.sampled_out;
        continue;
      }
    }
    const Mapping& m = mapping(r.protocol);
    counters_.unknown_labels += !m.known;
    flow.start = flow.end = r.time;
    flow.src = r.src;
    flow.dst = r.dst;
    flow.bytes = r.bytes;
    flow.ip_protocol = m.ip_protocol;
    flow.dst_port = m.port;
    flow.src_port = has_ports(m.ip_protocol)
                        ? static_cast<uint16_t>(49152 + pair_hash(r.src, r.dst) % 16384)
                        : 0;
    const uint64_t skipped_before = encoder_.stats().skipped_ipv6;
    encoder_.add(flow);
    counters_.flows_skipped += encoder_.stats().skipped_ipv6 - skipped_before;
  }
  return poll();
}

bool NetflowExportSink::poll() {
  if (failed_) return false;
  // Real exporters send a partly filled datagram after a while instead of holding it forever.
  if (encoder_.pending_flows() == 0 || options_.flush_after_ms <= 0) {
    pending_since_ms_.reset();
  } else {
    const int64_t now = now_ms();
    if (!pending_since_ms_)
      pending_since_ms_ = now;
    else if (now - *pending_since_ms_ >= options_.flush_after_ms)
      encoder_.flush();
  }
  return !failed_;
}

bool NetflowExportSink::add_flow(const ExportedFlow& f) {
  if (failed_) return false;
  ++counters_.records;
  const uint32_t sampling = options_.encoder.sampling_rate;
  if (sampling > 1) {
    const bool take = sample_phase_ == 0;
    if (++sample_phase_ == sampling) sample_phase_ = 0;
    if (!take) {
      ++counters_.sampled_out;
      return true;
    }
  }
  ExportedFlow flow = f;
  flow.sampling_rate = sampling;
  flow.domain = options_.encoder.domain;
  flow.protocol = options_.encoder.version;
  const uint64_t skipped_before = encoder_.stats().skipped_ipv6;
  encoder_.add(flow);
  counters_.flows_skipped += encoder_.stats().skipped_ipv6 - skipped_before;
  return !failed_;
}

void NetflowExportSink::on_datagram(const uint8_t* data, size_t size) {
  pending_since_ms_.reset();
  if (failed_) return;
  int err = sender_->send(data, size);
  if (err == ECONNREFUSED) {
    // The refusal reports an earlier datagram (ICMP port unreachable); this one was not sent.
    ++counters_.refused;
    err = sender_->send(data, size);
  }
  if (err == 0) {
    ++counters_.datagrams_sent;
    counters_.flows_sent += encoder_.emitted_records();
    return;
  }
  if (err == ENOBUFS || err == EAGAIN || err == EWOULDBLOCK || err == ECONNREFUSED) {
    ++counters_.send_errors;
    return;
  }
  failed_ = true;
  error_ = name_ + ": " + std::strerror(err);
}

bool NetflowExportSink::finish() {
  if (!finished_) {
    finished_ = true;
    encoder_.flush();
  }
  return !failed_;
}

}  // namespace netpulse::collect
