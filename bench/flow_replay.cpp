// flow_replay: the sender of the collector benchmark (bench/collect_bench.sh). Builds N flows
// (deterministic from a seed: IPv4 5-tuples over a few thousand hosts, heavy-tailed packet and
// byte counts, millisecond times), encodes them once into NetFlow v5, v9 or IPFIX datagrams in
// memory with collect::NetflowEncoder, and then writes them to a file and/or sends them over UDP
// to 127.0.0.1:PORT with sendmmsg, paced on the steady clock. Single-threaded.
//
// Sending more datagrams than the set holds replays the set again, with the header sequence
// numbers moved on by one set each time (v5 flows, v9 datagrams, IPFIX data records), so a
// collector sees one unbroken stream and counts no loss that is not there. Templates travel in
// the set's first datagram and every 20th, as a router sends them.
//
// File format (--write / --read): per datagram, a 16-byte little-endian prefix (u32 length,
// u32 flow records in it, u64 packets in those records), then the datagram's bytes.
//
//   flow_replay --version 9 --flows 200000 --write /tmp/v9.bin
//   flow_replay --read /tmp/v9.bin --port 2055 --rate 100000 --seconds 3
//   flow_replay --version 5 --port 2055 --rate 0        # the set once, as fast as possible
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "collect/netflow_encoder.hpp"

namespace netpulse::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  int version = 5;
  uint64_t flows = 200'000;
  uint64_t seed = 1;
  double rate = 0;         // datagrams per second; 0: as fast as possible
  double seconds = 0;      // with --rate: send rate * seconds datagrams
  uint64_t datagrams = 0;  // datagrams to send (0: the set once, or rate * seconds)
  int port = 0;            // 0: do not send
  size_t batch = 32;       // datagrams per sendmmsg when paced (a burst every batch/rate s)
  std::string write_path;
  std::string read_path;
};

// Datagrams stored back to back, with what each carries.
struct DatagramSet {
  std::vector<uint8_t> bytes;
  std::vector<size_t> offset;
  std::vector<uint32_t> size;
  std::vector<uint32_t> flows;
  std::vector<uint64_t> packets;
  int version = 0;

  size_t count() const { return size.size(); }
  uint8_t* data(size_t i) { return bytes.data() + offset[i]; }
  void add(const uint8_t* d, size_t n, uint32_t f, uint64_t p) {
    offset.push_back(bytes.size());
    bytes.insert(bytes.end(), d, d + n);
    size.push_back(static_cast<uint32_t>(n));
    flows.push_back(f);
    packets.push_back(p);
  }
};

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "flow_replay: %s\n", why.c_str());
  std::exit(1);
}

// SplitMix64: small, fast and the same on every platform (std distributions are not).
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Standard normal (Box-Muller).
  double normal() {
    const double u = 1.0 - unit(), v = unit();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * v);
  }
};

template <size_t N>
uint16_t pick(Rng& rng, const uint16_t (&ports)[N], const uint8_t (&weights)[N]) {
  unsigned total = 0;
  for (uint8_t w : weights) total += w;
  unsigned r = static_cast<unsigned>(rng.below(total));
  for (size_t i = 0; i < N; ++i) {
    if (r < weights[i]) return ports[i];
    r -= weights[i];
  }
  return ports[N - 1];
}

// A campus behind a border router: 4000 clients in 10.0.0.0/16 talking to 1000 servers in
// 172.16.0.0/16 (and back: half the flows are the reply direction). TCP 85 %, UDP 13 %,
// ICMP 2 %; flow ends 100 per ms of event time on average, durations up to two minutes.
std::vector<collect::ExportedFlow> make_flows(uint64_t n, uint64_t seed) {
  static constexpr uint16_t kTcpPorts[] = {443, 80, 22, 25, 993, 3306, 8080, 5432};
  static constexpr uint8_t kTcpWeights[] = {50, 20, 8, 5, 5, 5, 5, 2};
  static constexpr uint16_t kUdpPorts[] = {53, 123, 443, 161, 514, 5353};
  static constexpr uint8_t kUdpWeights[] = {60, 10, 20, 4, 4, 2};
  Rng rng{seed};
  std::vector<collect::ExportedFlow> flows(n);
  core::TimeMs t = 1'704'067'200'000;  // 2024-01-01 00:00:00 UTC
  for (collect::ExportedFlow& f : flows) {
    t += static_cast<core::TimeMs>(rng.below(100) == 0);
    const uint32_t client = 0x0A000000u + 1 + static_cast<uint32_t>(rng.below(4000));
    const uint32_t server = 0xAC100000u + 1 + static_cast<uint32_t>(rng.below(1000));
    const uint64_t kind = rng.below(100);
    uint16_t service = 0, ephemeral = static_cast<uint16_t>(32768 + rng.below(28232));
    double mean_size;
    if (kind < 85) {
      f.ip_protocol = 6;
      service = pick(rng, kTcpPorts, kTcpWeights);
      mean_size = 200 + static_cast<double>(rng.below(1200));
    } else if (kind < 98) {
      f.ip_protocol = 17;
      service = pick(rng, kUdpPorts, kUdpWeights);
      mean_size = service == 443 ? 1200 : 60 + static_cast<double>(rng.below(300));
    } else {
      f.ip_protocol = 1;
      mean_size = 84;
    }
    // Packets: log-normal, median about 5, a tail into the hundred thousands.
    const double packets = std::min(1e6, std::exp(1.6 + 1.8 * rng.normal()));
    f.packets = 1 + static_cast<uint64_t>(packets);
    f.bytes = std::max<uint64_t>(f.packets * 28,
                                 static_cast<uint64_t>(static_cast<double>(f.packets) * mean_size));
    const bool reply = rng.below(2) == 1;
    f.src = core::IpAddr::v4(reply ? server : client);
    f.dst = core::IpAddr::v4(reply ? client : server);
    if (f.ip_protocol == 1) {
      f.dst_port = reply ? 0 : 8 * 256;  // echo reply / echo request, type * 256 + code
    } else {
      f.src_port = reply ? service : ephemeral;
      f.dst_port = reply ? ephemeral : service;
    }
    f.tcp_flags = f.ip_protocol != 6 ? 0 : f.packets == 1 ? 0x02 : 0x1b;
    f.input_if = reply ? 2 : 1;
    f.output_if = reply ? 1 : 2;
    const auto duration = static_cast<core::TimeMs>(
        f.packets == 1 ? 0
                       : std::min(120'000.0, 40.0 * static_cast<double>(f.packets) * rng.unit()));
    f.end = t;
    f.start = t - duration;
  }
  return flows;
}

DatagramSet encode(const std::vector<collect::ExportedFlow>& flows, int version) {
  collect::NetflowEncoderOptions o;
  o.version = static_cast<collect::ExportProtocol>(version);
  if (auto why = collect::validate(o)) fail(*why);
  DatagramSet set;
  set.version = version;
  set.bytes.reserve(flows.size() * 60);
  size_t next = 0;  // the first flow of the datagram being emitted (no v5 splits: counters fit)
  collect::NetflowEncoder* self = nullptr;
  collect::NetflowEncoder encoder(o, [&](const uint8_t* d, size_t n) {
    const uint32_t records = self->emitted_records();
    uint64_t packets = 0;
    for (size_t i = next; i < next + records; ++i) packets += flows[i].packets;
    next += records;
    set.add(d, n, records, packets);
  });
  self = &encoder;
  encoder.encode(flows);
  if (next != flows.size()) fail("encoder split or skipped flows; the counts would be wrong");
  return set;
}

void put_le(std::FILE* f, uint64_t v, int bytes) {
  uint8_t b[8];
  for (int i = 0; i < bytes; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  if (std::fwrite(b, 1, static_cast<size_t>(bytes), f) != static_cast<size_t>(bytes))
    fail("write failed");
}

void write_set(const DatagramSet& set, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail("cannot write " + path + ": " + std::strerror(errno));
  for (size_t i = 0; i < set.count(); ++i) {
    put_le(f, set.size[i], 4);
    put_le(f, set.flows[i], 4);
    put_le(f, set.packets[i], 8);
    if (std::fwrite(set.bytes.data() + set.offset[i], 1, set.size[i], f) != set.size[i])
      fail("write failed");
  }
  if (std::fclose(f) != 0) fail("write failed: " + path);
}

DatagramSet read_set(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail("cannot read " + path + ": " + std::strerror(errno));
  DatagramSet set;
  std::vector<uint8_t> buf(65536);
  uint8_t prefix[16];
  while (std::fread(prefix, 1, 16, f) == 16) {
    uint64_t v[3] = {0, 0, 0};
    for (int i = 0; i < 4; ++i) v[0] |= uint64_t{prefix[i]} << (8 * i);
    for (int i = 0; i < 4; ++i) v[1] |= uint64_t{prefix[4 + i]} << (8 * i);
    for (int i = 0; i < 8; ++i) v[2] |= uint64_t{prefix[8 + i]} << (8 * i);
    if (v[0] < 4 || v[0] > buf.size() || std::fread(buf.data(), 1, v[0], f) != v[0])
      fail(path + ": truncated or not a flow_replay file");
    set.add(buf.data(), v[0], static_cast<uint32_t>(v[1]), v[2]);
  }
  std::fclose(f);
  if (set.count() == 0) fail(path + ": no datagrams");
  set.version = (set.bytes[0] << 8) | set.bytes[1];
  return set;
}

uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void set32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Where the header's sequence number sits, and how far one pass over the set moves it.
struct Sequence {
  size_t at;
  uint32_t per_pass;
};
Sequence sequence_of(const DatagramSet& set) {
  uint64_t flows = 0;
  for (uint32_t f : set.flows) flows += f;
  switch (set.version) {
    case 5:
      return {16, static_cast<uint32_t>(flows)};
    case 9:
      return {12, static_cast<uint32_t>(set.count())};
    case 10:
      return {8, static_cast<uint32_t>(flows)};  // unsampled: no options data records
    default:
      fail("not a v5, v9 or IPFIX datagram set (version " + std::to_string(set.version) + ")");
  }
}

void wait_until(Clock::time_point when) {
  const auto left = when - Clock::now();
  if (left > std::chrono::microseconds(80))
    std::this_thread::sleep_for(left - std::chrono::microseconds(50));
  while (Clock::now() < when) {
  }
}

struct Sent {
  uint64_t datagrams = 0, flows = 0, packets = 0, bytes = 0, errors = 0;
  double seconds = 0;
};

Sent send_set(DatagramSet& set, const Options& o, uint64_t total) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
  const int sndbuf = 8 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(o.port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);  // sleeps end when asked, not up to 50 us later

  constexpr size_t kMaxBatch = 64;
  std::vector<mmsghdr> msgs(kMaxBatch);
  std::vector<iovec> iov(kMaxBatch);
  const Sequence seq = sequence_of(set);
  std::vector<uint32_t> base_seq(set.count());
  for (size_t i = 0; i < set.count(); ++i) base_seq[i] = get32(set.data(i) + seq.at);

  Sent s;
  const size_t batch = std::clamp<size_t>(o.batch, 1, kMaxBatch);
  const double ns_per_datagram = o.rate > 0 ? 1e9 / o.rate : 0;
  const auto due_time = [&](uint64_t i) {  // when datagram i (0-based) is due
    return std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(i) * ns_per_datagram));
  };
  const Clock::time_point t0 = Clock::now();
  uint64_t pass = 0;
  size_t at = 0;  // index in the set of the next datagram
  while (s.datagrams < total) {
    size_t n = std::min<uint64_t>(batch, total - s.datagrams);
    if (o.rate > 0) {
      // Wait for a whole batch to be due, then send every datagram due (bounded): late wake-ups
      // catch up at once, so the average rate holds even when the scheduler is slow.
      wait_until(t0 + due_time(s.datagrams + n - 1));
      const double elapsed = std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
      const auto due = static_cast<uint64_t>(elapsed / ns_per_datagram) + 1;
      n = std::min<uint64_t>(
          {kMaxBatch, total - s.datagrams, std::max<uint64_t>(due - s.datagrams, n)});
    }
    if (at == set.count()) {  // between batches: the bytes of a batch are sent as they are
      at = 0;
      ++pass;
      const uint32_t shift = static_cast<uint32_t>(pass * seq.per_pass);
      for (size_t i = 0; i < set.count(); ++i) set32(set.data(i) + seq.at, base_seq[i] + shift);
    }
    n = std::min(n, set.count() - at);
    size_t k = 0;
    for (; k < n; ++k) {
      iov[k] = {set.data(at), set.size[at]};
      msgs[k].msg_hdr = msghdr{};
      msgs[k].msg_hdr.msg_name = &to;
      msgs[k].msg_hdr.msg_namelen = sizeof to;
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      s.flows += set.flows[at];
      s.packets += set.packets[at];
      s.bytes += set.size[at];
      ++at;
    }
    size_t done = 0;
    while (done < k) {
      const int r = sendmmsg(fd, msgs.data() + done, static_cast<unsigned>(k - done), 0);
      if (r > 0) {
        done += static_cast<size_t>(r);
      } else if (errno != EINTR) {
        ++s.errors;  // the datagram is lost: counted, and the flow counts above stay "sent"
        ++done;
      }
    }
    s.datagrams += k;
  }
  s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  close(fd);
  return s;
}

uint64_t parse_count(const char* flag, const char* v) {
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(v, &end);
  if (errno || end == v || *end || d < 0) fail(std::string(flag) + ": not a count: " + v);
  return static_cast<uint64_t>(d);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: flow_replay [--version 5|9|10] [--flows N] [--seed S] [--read FILE] "
          "[--write FILE]\n"
          "                   [--port P [--rate DATAGRAMS/S] [--seconds S | --datagrams D] "
          "[--batch B]]\n");
      std::exit(0);
    }
    if (i + 1 >= argc) fail(a + " needs a value (--help)");
    const char* v = argv[++i];
    if (a == "--version")
      o.version = static_cast<int>(parse_count(a.c_str(), v));
    else if (a == "--flows")
      o.flows = parse_count(a.c_str(), v);
    else if (a == "--seed")
      o.seed = parse_count(a.c_str(), v);
    else if (a == "--rate")
      o.rate = static_cast<double>(parse_count(a.c_str(), v));
    else if (a == "--seconds")
      o.seconds = std::strtod(v, nullptr);
    else if (a == "--datagrams")
      o.datagrams = parse_count(a.c_str(), v);
    else if (a == "--port")
      o.port = static_cast<int>(parse_count(a.c_str(), v));
    else if (a == "--batch")
      o.batch = parse_count(a.c_str(), v);
    else if (a == "--write")
      o.write_path = v;
    else if (a == "--read")
      o.read_path = v;
    else
      fail("unknown option " + a + " (--help)");
  }
  if (o.version != 5 && o.version != 9 && o.version != 10) fail("--version: 5, 9 or 10");
  if (o.port < 0 || o.port > 65535) fail("--port: 1..65535");
  if (o.seconds > 0 && o.rate <= 0) fail("--seconds needs --rate");
  if (o.flows == 0) fail("--flows: at least 1");
  return o;
}

int run(int argc, char** argv) {
  const Options o = parse(argc, argv);
  DatagramSet set;
  if (!o.read_path.empty()) {
    set = read_set(o.read_path);
  } else {
    const auto t0 = Clock::now();
    set = encode(make_flows(o.flows, o.seed), o.version);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::fprintf(stderr, "flow_replay: built %zu %s datagrams (%llu flows, %zu bytes) in %.3f s\n",
                 set.count(), to_string(static_cast<collect::ExportProtocol>(o.version)),
                 static_cast<unsigned long long>(o.flows), set.bytes.size(), s);
  }
  if (!o.write_path.empty()) write_set(set, o.write_path);
  if (o.port == 0) return 0;

  uint64_t total = o.datagrams;
  if (total == 0) total = o.seconds > 0 ? static_cast<uint64_t>(o.rate * o.seconds) : set.count();
  const Sent s = send_set(set, o, total);
  std::printf(
      "flow_replay: sent %llu datagrams, %llu flows, %llu packets, %llu bytes in %.3f s: %.0f "
      "datagrams/s, %.0f flows/s (asked %.0f/s; %llu send errors)\n",
      static_cast<unsigned long long>(s.datagrams), static_cast<unsigned long long>(s.flows),
      static_cast<unsigned long long>(s.packets), static_cast<unsigned long long>(s.bytes),
      s.seconds, static_cast<double>(s.datagrams) / s.seconds,
      static_cast<double>(s.flows) / s.seconds, o.rate, static_cast<unsigned long long>(s.errors));
  return s.errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace netpulse::bench

int main(int argc, char** argv) {
  return netpulse::bench::run(argc, argv);
}
