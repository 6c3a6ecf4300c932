// capture_replay: the program behind the capture benchmark (bench/capture_bench.sh). Three jobs:
//
//  --write-mix FILE   writes a synthetic capture of mixed traffic (Ethernet, pcap, deterministic
//                     from a seed): TCP flows with handshake, a TLS ClientHello with SNI / an HTTP
//                     GET / SSH banners in their first data packets, then bulk data of varied
//                     sizes and the FIN or RST; DNS query/response pairs; QUIC whose client
//                     Initial decrypts (so nDPI reads its SNI); NTP; other UDP; ICMP echo; about
//                     3 % of the flows over IPv6. Flow sizes are heavy-tailed (Pareto, alpha 1.0,
//                     no flow above 1 % of the packets, over a minimum that is the protocol's own
//                     exchange): about half the packets are in flows of over 100 packets.
//  --read FILE        maps the capture (not timed), then times capture::PacketProcessor over its
//                     packets on this thread: with and without nDPI, in packets and in flows
//                     mode, plus the bare packet decoder as a floor. One untimed pass first; then
//                     passes repeat until --seconds have gone by, each shifted in time past the
//                     idle timeout (so every pass brings new flows, as a link would, and not flows
//                     already classified). --prefetch N prefetches the packet N ahead, as a ring
//                     just written by the kernel or libpcap's file buffer would have it in the
//                     cache. Packets/s and ns/packet per second of this thread's CPU time (the
//                     machine is shared) and of wall time.
//  --read FILE --send IFACE
//                     sends the packets on an interface through an AF_PACKET socket with
//                     sendmmsg, paced on the steady clock: the live half's traffic source (a veth
//                     in a network namespace of its own, so nothing leaves the machine). Past the
//                     end of the file it starts again with the IPv4/IPv6 addresses changed per
//                     round (both directions alike), so a long trial brings new flows too.
//
//   capture_replay --write-mix /dev/shm/mix.pcap --packets 2000000 --flows 80000 --seed 1
//   capture_replay --read /dev/shm/mix.pcap --seconds 2 --runs 3 --prefetch 8
//   capture_replay --read /dev/shm/mix.pcap --records packets --ndpi on --seconds 5   # for perf
//   capture_replay --read /dev/shm/mix.pcap --send veth0 --rate 200000 --seconds 2
//
// Single-threaded. Timing and sending lines go to stdout; the mix's make-up to stderr.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gcrypt.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "capture/packet_processor.hpp"
#include "collect/service_table.hpp"
#include "core/packet_decode.hpp"
#include "generate/rng.hpp"

namespace netpulse::bench {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& why) {
  std::fprintf(stderr, "capture_replay: %s\n", why.c_str());
  std::exit(1);
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Rng {
  generate::SplitMix64 g;
  explicit Rng(uint64_t seed) : g(seed) {}
  uint64_t next() { return g.next(); }
  uint32_t below(uint32_t n) { return generate::scale32(generate::high32(next()), n); }
  uint32_t between(uint32_t lo, uint32_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  bool chance(double p) { return unit() < p; }
  // Log-uniform in [lo, hi]: as many flows at 1-10 ms as at 10-100 ms.
  double log_uniform(double lo, double hi) { return lo * std::pow(hi / lo, unit()); }
  void fill(uint8_t* p, size_t n) {
    for (; n >= 8; n -= 8, p += 8) {
      const uint64_t r = next();
      std::memcpy(p, &r, 8);
    }
    if (n) {
      const uint64_t r = next();
      std::memcpy(p, &r, n);
    }
  }
};

// --- writing bytes ---------------------------------------------------------------------------

struct Writer {
  uint8_t* p;
  uint8_t* begin;
  explicit Writer(uint8_t* at) : p(at), begin(at) {}
  size_t size() const { return static_cast<size_t>(p - begin); }
  Writer& u8(unsigned v) {
    *p++ = static_cast<uint8_t>(v);
    return *this;
  }
  Writer& u16(unsigned v) {
    u8(v >> 8);
    return u8(v);
  }
  Writer& u32(uint32_t v) {
    u16(v >> 16);
    return u16(v & 0xffff);
  }
  Writer& bytes(const void* d, size_t n) {
    std::memcpy(p, d, n);
    p += n;
    return *this;
  }
  Writer& text(std::string_view s) { return bytes(s.data(), s.size()); }
  Writer& random(Rng& rng, size_t n) {
    rng.fill(p, n);
    p += n;
    return *this;
  }
  // A placeholder for a big-endian length of `width` bytes, filled in by close().
  uint8_t* open(int width) {
    uint8_t* at = p;
    p += width;
    return at;
  }
  void close(uint8_t* at, int width) {
    const size_t n = static_cast<size_t>(p - at - width);
    for (int i = width - 1; i >= 0; --i) at[width - 1 - i] = static_cast<uint8_t>(n >> (8 * i));
  }
};

void put16(uint8_t* p, unsigned v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

uint16_t ipv4_checksum(const uint8_t* h, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(h[i] << 8 | h[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// --- the mix ---------------------------------------------------------------------------------

enum class FlowKind : uint8_t {
  kDns,
  kHttps,
  kHttp,
  kQuic,
  kSsh,
  kOtherTcp,
  kNtp,
  kOtherUdp,
  kPing
};
constexpr int kKinds = 9;
const char* kKindNames[kKinds] = {"DNS",       "TLS/443", "HTTP",      "QUIC",     "SSH",
                                  "other TCP", "NTP",     "other UDP", "ICMP echo"};
// Share of flows. DNS and short TLS connections are most of the flows; bulk TLS, QUIC and HTTP
// most of the packets (the flow sizes below decide that).
constexpr double kKindShare[kKinds] = {0.30, 0.33, 0.08, 0.08, 0.02, 0.07, 0.03, 0.05, 0.04};
constexpr double kIpv6Share = 0.03;
// The tail of the flow sizes (Pareto alpha): at 1.0, with the 1 % cap below, about half the packets
// are in flows over 100 packets and the median flow is a dozen packets.
constexpr double kParetoAlpha = 1.0;

// Names for SNI, HTTP Host and DNS questions: well-known services (nDPI names many of them:
// TLS.Google, TLS.YouTube, ...), then made-up hosts.
constexpr const char* kPopularHosts[] = {"www.google.com",
                                         "www.youtube.com",
                                         "i.ytimg.com",
                                         "www.facebook.com",
                                         "static.xx.fbcdn.net",
                                         "www.instagram.com",
                                         "web.whatsapp.com",
                                         "www.netflix.com",
                                         "occ-0-2433-2430.1.nflxso.net",
                                         "www.amazon.com",
                                         "m.media-amazon.com",
                                         "login.microsoftonline.com",
                                         "outlook.office365.com",
                                         "www.apple.com",
                                         "api.github.com",
                                         "github.com",
                                         "en.wikipedia.org",
                                         "twitter.com",
                                         "pbs.twimg.com",
                                         "open.spotify.com",
                                         "zoom.us",
                                         "www.cloudflare.com",
                                         "slack.com",
                                         "www.linkedin.com",
                                         "www.reddit.com",
                                         "discord.com",
                                         "docs.google.com",
                                         "mail.google.com",
                                         "fonts.gstatic.com",
                                         "www.googleapis.com",
                                         "clients4.google.com",
                                         "play.googleapis.com",
                                         "www.bing.com",
                                         "teams.microsoft.com",
                                         "www.dropbox.com",
                                         "www.tiktok.com",
                                         "www.twitch.tv",
                                         "update.googleapis.com",
                                         "ocsp.digicert.com",
                                         "www.ebay.com"};
constexpr uint32_t kPopular = sizeof kPopularHosts / sizeof kPopularHosts[0];

std::string_view host_name(uint32_t host, char (&buf)[64]) {
  if (host < kPopular) return kPopularHosts[host];
  const uint32_t n = host - kPopular;
  const int len = std::snprintf(buf, sizeof buf, "%s%u.example-%u.%s",
                                n % 3 == 0   ? "cdn"
                                : n % 3 == 1 ? "api"
                                             : "www",
                                n % 50, n / 50, n % 2 ? "com" : "net");
  return {buf, static_cast<size_t>(len)};
}

struct Flow {
  FlowKind kind = FlowKind::kDns;
  bool v6 = false;
  bool upload = false;  // bulk data goes client to server
  uint8_t ending = 0;   // TCP: 0 FIN, 1 RST, 2 still open at the end of the file
  uint32_t client = 0;  // host numbers
  uint32_t server = 0;
  uint16_t client_port = 0;
  uint16_t server_port = 0;
  uint32_t host = 0;     // name index
  uint32_t packets = 0;  // planned (the minimum exchange + bulk)
  uint32_t bulk = 0;
  uint16_t udp_size = 0;  // other UDP: this flow's typical payload
  int64_t start_us = 0;
  double rtt_us = 0;
  double gap_us = 0;  // between bulk packets
  // State while the frames are written, in time order (so in the flow's own order).
  uint32_t seq[2] = {0, 0};  // next TCP sequence number, [0] client to server
  uint16_t ip_id[2] = {0, 0};
  uint16_t dns_id = 0;
  uint16_t icmp_seq = 0;
  uint64_t cid[2] = {0, 0};  // QUIC connection IDs
};

// What goes into a packet's transport payload.
enum class Payload : uint8_t {
  kNone,
  kHttpRequest,
  kHttpResponse,
  kTlsClientHello,
  kTlsServerHello,
  kTlsData,
  kSshBanner,
  kSshKexInit,
  kRandom,
  kDnsQuery,
  kDnsQueryAaaa,
  kDnsResponse,
  kDnsResponseAaaa,
  kQuicClientHello,
  kQuicInitial,
  kQuicHandshake,
  kQuicShort,
  kNtp,
  kEcho,
};

struct PacketSpec {
  int64_t time_us;
  uint32_t flow;
  uint16_t size;  // payload bytes where the kind does not fix them (0: the most that fits)
  Payload payload;
  uint8_t tcp_flags;
  bool from_server;
};

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

constexpr size_t kTcpOptionsSyn = 20;  // MSS, SACK permitted, timestamps, NOP, window scale
constexpr size_t kTcpOptions = 12;     // NOP, NOP, timestamps
size_t ip_header(bool v6) {
  return v6 ? 40 : 20;
}
// The most transport payload a 1500-byte IP packet holds.
size_t tcp_room(bool v6) {
  return 1500 - ip_header(v6) - 20 - kTcpOptions;
}
size_t udp_room(bool v6) {
  return 1500 - ip_header(v6) - 8;
}

// Packets of a flow's own exchange before any bulk data.
uint32_t minimum_packets(const Flow& f) {
  const uint32_t teardown = f.ending == 0 ? 3 : f.ending == 1 ? 1 : 0;
  switch (f.kind) {
    case FlowKind::kHttps:
      return 3 + 4 + teardown;  // handshake, CH, SH, ACK, Finished+request
    case FlowKind::kHttp:
      return 3 + 3 + teardown;  // handshake, GET, response, ACK
    case FlowKind::kSsh:
      return 3 + 4 + teardown;  // handshake, banners, KEXINITs
    case FlowKind::kOtherTcp:
      return 3 + 2 + teardown;
    case FlowKind::kQuic:
      return 3;  // Initial, server Initial, client Initial
    case FlowKind::kDns:
      return f.packets;  // fixed: 2 or 4
    case FlowKind::kNtp:
      return 2;
    case FlowKind::kOtherUdp:
      return 2;
    case FlowKind::kPing:
      return f.packets;  // fixed: 2 to 10
  }
  return 2;
}

bool takes_bulk(FlowKind k) {
  return k != FlowKind::kDns && k != FlowKind::kNtp && k != FlowKind::kPing;
}

struct Mix {
  std::vector<Flow> flows;
  std::vector<PacketSpec> packets;
};

// The flows' make-up: kinds, hosts, ports, sizes, times. Sizes: the protocol's minimum plus a
// share of the remaining packet budget in proportion to a Pareto weight, so the total is exact.
Mix plan_mix(uint64_t n_packets, uint64_t n_flows, uint64_t seed, double rate) {
  Rng rng(seed);
  Mix mix;
  mix.flows.resize(n_flows);
  const uint32_t clients = static_cast<uint32_t>(std::clamp<uint64_t>(n_flows / 4, 256, 60000));
  const uint32_t servers = static_cast<uint32_t>(std::clamp<uint64_t>(n_flows / 20, 64, 60000));
  const uint32_t names =
      kPopular + static_cast<uint32_t>(std::clamp<uint64_t>(n_flows / 10, 64, 100000));
  const double span_us = static_cast<double>(n_packets) / rate * 1e6;
  static constexpr uint16_t kOtherTcpPorts[] = {3306, 5432, 6379, 25, 993, 5222, 8443, 9092};
  static constexpr uint16_t kOtherUdpPorts[] = {1194, 51820, 3478, 5060, 27015, 4500};

  uint64_t fixed = 0;
  double weight_sum = 0;
  std::vector<double> weight(n_flows, 0.0);
  for (uint64_t i = 0; i < n_flows; ++i) {
    Flow& f = mix.flows[i];
    double r = rng.unit();
    int k = 0;
    while (k < kKinds - 1 && r >= kKindShare[k]) r -= kKindShare[k++];
    f.kind = static_cast<FlowKind>(k);
    f.v6 = rng.chance(kIpv6Share);
    f.upload = rng.chance(0.2);
    const double e = rng.unit();
    f.ending = e < 0.80 ? 0 : e < 0.93 ? 1 : 2;
    f.client = rng.below(clients);
    f.client_port = static_cast<uint16_t>(rng.between(32768, 60999));
    // 60 % of names are the well-known ones, the rest spread over made-up hosts.
    f.host = rng.chance(0.6) ? rng.below(kPopular) : kPopular + rng.below(names - kPopular);
    // Popular names live on a few servers; made-up ones anywhere.
    f.server = f.host < kPopular ? f.host * 7 % servers : rng.below(servers);
    f.rtt_us = rng.log_uniform(500, 120'000);
    f.gap_us = rng.log_uniform(15, 3'000);
    f.start_us = static_cast<int64_t>(rng.unit() * span_us);
    f.seq[0] = static_cast<uint32_t>(rng.next());
    f.seq[1] = static_cast<uint32_t>(rng.next());
    f.ip_id[0] = static_cast<uint16_t>(rng.next());
    f.ip_id[1] = static_cast<uint16_t>(rng.next());
    f.dns_id = static_cast<uint16_t>(rng.next());
    f.cid[0] = rng.next();
    f.cid[1] = rng.next();
    switch (f.kind) {
      case FlowKind::kDns:
        f.server = rng.below(4);  // a few resolvers
        f.server_port = 53;
        f.packets = rng.chance(0.3) ? 4 : 2;  // A, and often AAAA too
        break;
      case FlowKind::kHttps:
        f.server_port = 443;
        break;
      case FlowKind::kHttp:
        f.server_port = rng.chance(0.9) ? 80 : 8080;
        break;
      case FlowKind::kQuic:
        f.server_port = 443;
        break;
      case FlowKind::kSsh:
        f.server_port = 22;
        break;
      case FlowKind::kOtherTcp:
        f.server_port = rng.chance(0.5) ? kOtherTcpPorts[rng.below(8)]
                                        : static_cast<uint16_t>(rng.between(1024, 32767));
        break;
      case FlowKind::kNtp:
        f.server = 4 + rng.below(4);
        f.server_port = 123;
        break;
      case FlowKind::kOtherUdp:
        f.server_port = rng.chance(0.5) ? kOtherUdpPorts[rng.below(6)]
                                        : static_cast<uint16_t>(rng.between(1024, 32767));
        f.udp_size =
            static_cast<uint16_t>(rng.chance(0.5) ? rng.between(60, 220) : rng.between(200, 1200));
        break;
      case FlowKind::kPing:
        f.packets = 2 * rng.between(1, 5);
        break;
    }
    f.packets = minimum_packets(f);
    fixed += f.packets;
    if (takes_bulk(f.kind)) {
      weight[i] = std::pow(1.0 - rng.unit(), -1.0 / kParetoAlpha);  // x_m 1
      weight_sum += weight[i];
    }
  }
  // No one flow above 1 % of the packets: a 2 M-packet sample of a link is seconds long, and no
  // single connection fills that much of a shared link for so long (water-filling: capping
  // raises the others' share, so cap again until it holds).
  for (int round = 0; round < 8 && weight_sum > 0; ++round) {
    const double cap =
        0.01 * weight_sum * static_cast<double>(n_packets) /
        std::max<double>(1, static_cast<double>(n_packets) - static_cast<double>(fixed));
    double capped_sum = 0;
    bool changed = false;
    for (double& w : weight) {
      if (w > cap) {
        w = cap;
        changed = true;
      }
      capped_sum += w;
    }
    weight_sum = capped_sum;
    if (!changed) break;
  }
  if (fixed > n_packets)
    fail("--flows " + std::to_string(n_flows) + " need at least " + std::to_string(fixed) +
         " packets (their handshakes and queries); give more --packets or fewer --flows");
  const uint64_t budget = n_packets - fixed;
  uint64_t given = 0;
  for (uint64_t i = 0; i < n_flows; ++i) {
    if (weight[i] == 0) continue;
    Flow& f = mix.flows[i];
    f.bulk = static_cast<uint32_t>(static_cast<double>(budget) * weight[i] / weight_sum);
    given += f.bulk;
  }
  if (weight_sum > 0) {
    // What rounding down left over, a packet each to the flows in turn: the total is exact.
    for (uint64_t i = 0, left = budget - given; left > 0; i = (i + 1) % n_flows) {
      if (weight[i] > 0) {
        ++mix.flows[i].bulk;
        --left;
      }
    }
  } else if (budget > 0) {
    fail("no flow of a kind that carries bulk data: give more --flows");
  }
  for (Flow& f : mix.flows) {
    f.packets += f.bulk;
    // Long flows send faster: each lasts at most ~80 % of the capture's span.
    if (f.bulk > 0) f.gap_us = std::min(f.gap_us, 0.8 * span_us / f.bulk);
  }
  return mix;
}

// Each flow's packets, with times: the exchange at RTT pace, bulk at the flow's own gap.
void script_flows(Mix& mix, uint64_t seed) {
  Rng rng(seed ^ 0x5eedULL);
  uint64_t total = 0;
  for (const Flow& f : mix.flows) total += f.packets;
  mix.packets.reserve(total);
  for (uint32_t id = 0; id < mix.flows.size(); ++id) {
    const Flow& f = mix.flows[id];
    double t = static_cast<double>(f.start_us);
    int64_t last = -1;
    auto add = [&](bool from_server, Payload p, uint8_t flags, double wait_us, uint16_t size = 0) {
      t += wait_us * (0.7 + 0.6 * rng.unit());
      int64_t at = static_cast<int64_t>(t);
      if (at <= last) at = last + 1;  // strictly increasing within a flow
      last = at;
      mix.packets.push_back(PacketSpec{at, id, size, p, flags, from_server});
    };
    const double half_rtt = f.rtt_us / 2;
    const bool tcp = f.kind == FlowKind::kHttps || f.kind == FlowKind::kHttp ||
                     f.kind == FlowKind::kSsh || f.kind == FlowKind::kOtherTcp;
    if (tcp) {
      add(false, Payload::kNone, kSyn, 0);
      add(true, Payload::kNone, kSyn | kAck, half_rtt);
      add(false, Payload::kNone, kAck, half_rtt);
      switch (f.kind) {
        case FlowKind::kHttps:
          add(false, Payload::kTlsClientHello, kPsh | kAck, 20);
          add(true, Payload::kTlsServerHello, kPsh | kAck, half_rtt);
          add(false, Payload::kNone, kAck, half_rtt);
          add(false, Payload::kTlsData, kPsh | kAck, 200,
              static_cast<uint16_t>(rng.between(80, 700)));
          break;
        case FlowKind::kHttp:
          add(false, Payload::kHttpRequest, kPsh | kAck, 20);
          add(true, Payload::kHttpResponse, kPsh | kAck, half_rtt,
              static_cast<uint16_t>(rng.chance(0.6) ? 0 : rng.between(300, 1400)));
          add(false, Payload::kNone, kAck, half_rtt);
          break;
        case FlowKind::kSsh:
          add(true, Payload::kSshBanner, kPsh | kAck, 300);
          add(false, Payload::kSshBanner, kPsh | kAck, half_rtt);
          add(false, Payload::kSshKexInit, kPsh | kAck, 50);
          add(true, Payload::kSshKexInit, kPsh | kAck, half_rtt);
          break;
        default:
          add(false, Payload::kRandom, kPsh | kAck, 20,
              static_cast<uint16_t>(rng.between(20, 600)));
          add(true, Payload::kRandom, kPsh | kAck, half_rtt,
              static_cast<uint16_t>(rng.between(20, 1400)));
          break;
      }
      // Bulk: two full (mostly) segments, then the receiver's ACK.
      const Payload data = f.kind == FlowKind::kHttps ? Payload::kTlsData : Payload::kRandom;
      const bool sender_is_server = !f.upload;
      for (uint32_t i = 0; i < f.bulk; ++i) {
        if (i % 3 == 2) {
          add(!sender_is_server, Payload::kNone, kAck, f.gap_us / 4);
        } else {
          const uint16_t size = rng.chance(0.85) ? 0 : static_cast<uint16_t>(rng.between(1, 1400));
          add(sender_is_server, data, i % 3 == 1 ? kPsh | kAck : kAck, f.gap_us, size);
        }
      }
      if (f.ending == 0) {
        add(false, Payload::kNone, kFin | kAck, 1000);
        add(true, Payload::kNone, kFin | kAck, half_rtt);
        add(false, Payload::kNone, kAck, half_rtt);
      } else if (f.ending == 1) {
        add(rng.chance(0.5), Payload::kNone, kRst | kAck, 1000);
      }
      continue;
    }
    switch (f.kind) {
      case FlowKind::kDns:
        add(false, Payload::kDnsQuery, 0, 0);
        add(true, Payload::kDnsResponse, 0, f.rtt_us);
        if (f.packets == 4) {
          add(false, Payload::kDnsQueryAaaa, 0, 100);
          add(true, Payload::kDnsResponseAaaa, 0, f.rtt_us);
        }
        break;
      case FlowKind::kNtp:
        add(false, Payload::kNtp, 0, 0);
        add(true, Payload::kNtp, 0, f.rtt_us);
        break;
      case FlowKind::kPing:
        for (uint32_t i = 0; i < f.packets / 2; ++i) {
          add(false, Payload::kEcho, 0, i == 0 ? 0 : 1e6);
          add(true, Payload::kEcho, 0, f.rtt_us);
        }
        break;
      case FlowKind::kQuic: {
        add(false, Payload::kQuicClientHello, 0, 0);
        add(true, Payload::kQuicHandshake, 0, f.rtt_us);
        add(false, Payload::kQuicInitial, 0, 100);
        const bool sender_is_server = !f.upload;
        for (uint32_t i = 0; i < f.bulk; ++i) {
          if (i % 4 == 3)
            add(!sender_is_server, Payload::kQuicShort, 0, f.gap_us / 4,
                static_cast<uint16_t>(rng.between(25, 60)));
          else
            add(sender_is_server, Payload::kQuicShort, 0, f.gap_us,
                static_cast<uint16_t>(rng.chance(0.8) ? rng.between(1200, 1350)
                                                      : rng.between(100, 1200)));
        }
        break;
      }
      case FlowKind::kOtherUdp:
        add(false, Payload::kRandom, 0, 0, f.udp_size);
        add(true, Payload::kRandom, 0, f.rtt_us, f.udp_size);
        for (uint32_t i = 0; i < f.bulk; ++i) {
          const int jitter = static_cast<int>(rng.between(0, 40)) - 20;
          add(rng.chance(0.5), Payload::kRandom, 0, f.gap_us,
              static_cast<uint16_t>(std::max(20, f.udp_size + jitter)));
        }
        break;
      default:
        break;
    }
  }
  // Time order; a flow's own packets have distinct times, so (time, flow) orders them all.
  std::sort(mix.packets.begin(), mix.packets.end(), [](const PacketSpec& a, const PacketSpec& b) {
    return a.time_us != b.time_us ? a.time_us < b.time_us : a.flow < b.flow;
  });
}

// --- payloads ---

// A TLS 1.3 ClientHello handshake message (type 1, no record header) naming sni: as a browser
// sends it over TCP, or (quic) inside a QUIC Initial's CRYPTO frame.
void client_hello(Writer& w, std::string_view sni, Rng& rng, bool quic) {
  static constexpr uint8_t kCiphers[] = {
      0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x2c, 0xc0, 0x30, 0xcc,
      0xa9, 0xcc, 0xa8, 0xc0, 0x13, 0xc0, 0x14, 0x00, 0x9c, 0x00, 0x9d, 0x00, 0x2f, 0x00, 0x35};
  static constexpr uint8_t kSigAlgs[] = {0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03,
                                         0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01};
  w.u8(0x01);
  uint8_t* hello = w.open(3);
  w.u16(0x0303).random(rng, 32);
  if (quic)
    w.u8(0);  // no legacy session id
  else
    w.u8(32).random(rng, 32);
  const size_t ciphers = quic ? 6 : sizeof kCiphers;
  w.u16(static_cast<unsigned>(ciphers)).bytes(kCiphers, ciphers);
  w.u8(1).u8(0);  // compression: null
  uint8_t* ext = w.open(2);
  w.u16(0x0000);  // server_name
  uint8_t* sn = w.open(2);
  uint8_t* list = w.open(2);
  w.u8(0).u16(static_cast<unsigned>(sni.size())).text(sni);
  w.close(list, 2);
  w.close(sn, 2);
  if (!quic) {
    w.u16(0x0017).u16(0);              // extended_master_secret
    w.u16(0xff01).u16(1).u8(0);        // renegotiation_info
    w.u16(0x000b).u16(2).u8(1).u8(0);  // ec_point_formats
    w.u16(0x0023).u16(0);              // session_ticket
    w.u16(0x0010).u16(14).u16(12).u8(2).text("h2").u8(8).text("http/1.1");  // ALPN
    w.u16(0x0005).u16(5).u8(1).u16(0).u16(0);                               // status_request
  } else {
    w.u16(0x0010).u16(5).u16(3).u8(2).text("h3");  // ALPN
  }
  w.u16(0x000a).u16(8).u16(6).u16(0x001d).u16(0x0017).u16(0x0018);  // supported_groups
  w.u16(0x000d).u16(sizeof kSigAlgs + 2).u16(sizeof kSigAlgs).bytes(kSigAlgs, sizeof kSigAlgs);
  w.u16(0x0033).u16(38).u16(36).u16(0x001d).u16(32).random(rng, 32);  // key_share
  if (quic)
    w.u16(0x002b).u16(3).u8(2).u16(0x0304);  // supported_versions
  else
    w.u16(0x002b).u16(5).u8(4).u16(0x0304).u16(0x0303);
  w.u16(0x002d).u16(2).u8(1).u8(1);  // psk_key_exchange_modes
  if (quic) {
    // quic_transport_parameters: initial_max_data 1 MiB, initial_max_streams_bidi 100,
    // initial_source_connection_id.
    w.u16(0x0039).u16(4 + 2 + 2 + 10);
    w.u8(0x04).u8(4).u32(0x80100000).u8(0x08).u8(2).u16(0x4064).u8(0x0f).u8(8).random(rng, 8);
  }
  w.close(ext, 2);
  w.close(hello, 3);
}

void tls_client_hello(Writer& w, std::string_view sni, Rng& rng) {
  w.u8(0x16).u16(0x0301);
  uint8_t* record = w.open(2);
  client_hello(w, sni, rng, false);
  w.close(record, 2);
}

// ServerHello (TLS 1.3), ChangeCipherSpec, then encrypted records up to `size` bytes.
void tls_server_hello(Writer& w, size_t size, Rng& rng) {
  w.u8(0x16).u16(0x0303);
  uint8_t* record = w.open(2);
  w.u8(0x02);
  uint8_t* hello = w.open(3);
  w.u16(0x0303).random(rng, 32).u8(32).random(rng, 32).u16(0x1301).u8(0);
  uint8_t* ext = w.open(2);
  w.u16(0x002b).u16(2).u16(0x0304);
  w.u16(0x0033).u16(36).u16(0x001d).u16(32).random(rng, 32);
  w.close(ext, 2);
  w.close(hello, 3);
  w.close(record, 2);
  w.u8(0x14).u16(0x0303).u16(1).u8(1);
  if (w.size() + 6 <= size) {
    const size_t n = size - w.size() - 5;
    w.u8(0x17).u16(0x0303).u16(static_cast<unsigned>(n)).random(rng, n);
  }
}

void tls_data(Writer& w, size_t size, Rng& rng) {
  if (size < 6) {
    w.random(rng, size);
    return;
  }
  w.u8(0x17).u16(0x0303).u16(static_cast<unsigned>(size - 5)).random(rng, size - 5);
}

void http_request(Writer& w, std::string_view host, uint32_t path, Rng& rng) {
  static constexpr const char* kPaths[] = {
      "/", "/index.html", "/api/v1/items", "/static/app.js", "/images/logo.png", "/search"};
  char line[96];
  const int n =
      std::snprintf(line, sizeof line, "GET %s?id=%u HTTP/1.1\r\nHost: ", kPaths[path % 6],
                    static_cast<unsigned>(rng.below(100000)));
  w.bytes(line, static_cast<size_t>(n)).text(host);
  w.text(
      "\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36\r\nAccept: text/html,application/xhtml+xml,*/*;q=0.8\r\n"
      "Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\n"
      "Connection: keep-alive\r\n\r\n");
}

void http_response(Writer& w, size_t size, Rng& rng) {
  char head[256];
  const int n = std::snprintf(head, sizeof head,
                              "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 01 Jan 2024 "
                              "00:00:00 GMT\r\nContent-Type: text/html; charset=utf-8\r\n"
                              "Content-Length: %u\r\nConnection: keep-alive\r\n\r\n",
                              static_cast<unsigned>(rng.between(2000, 2'000'000)));
  w.bytes(head, static_cast<size_t>(n));
  if (size > w.size()) w.random(rng, size - w.size());
}

void ssh_kexinit(Writer& w, Rng& rng) {
  static constexpr const char* kLists[] = {
      "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
      "diffie-hellman-group16-sha512,ext-info-c",
      "ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256",
      "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com",
      "chacha20-poly1305@openssh.com,aes128-ctr,aes256-gcm@openssh.com",
      "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256",
      "umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256",
      "none,zlib@openssh.com",
      "none,zlib@openssh.com",
      "",
      ""};
  uint8_t* packet = w.open(4);
  const size_t body_start = w.size();
  w.u8(0);                   // padding length, set below
  w.u8(20).random(rng, 16);  // SSH_MSG_KEXINIT, cookie
  for (const char* l : kLists) w.u32(static_cast<uint32_t>(std::strlen(l))).text(l);
  w.u8(0).u32(0);
  size_t pad = 8 - (w.size() - body_start + 4) % 8;
  if (pad < 4) pad += 8;
  packet[4] = static_cast<uint8_t>(pad);
  w.random(rng, pad);
  w.close(packet, 4);
}

void dns_name(Writer& w, std::string_view name) {
  while (!name.empty()) {
    const size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    w.u8(static_cast<unsigned>(label.size())).text(label);
    name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  }
  w.u8(0);
}

void dns_message(Writer& w, std::string_view name, uint16_t id, bool aaaa, bool response,
                 Rng& rng) {
  const unsigned answers = response ? rng.between(1, 3) : 0;
  w.u16(id).u16(response ? 0x8180 : 0x0100).u16(1).u16(answers).u16(0).u16(1);
  dns_name(w, name);
  w.u16(aaaa ? 28 : 1).u16(1);
  for (unsigned i = 0; i < answers; ++i) {
    w.u16(0xc00c).u16(aaaa ? 28 : 1).u16(1).u32(rng.between(30, 3600));
    w.u16(aaaa ? 16 : 4).random(rng, aaaa ? 16 : 4);
  }
  w.u8(0).u16(41).u16(1232).u32(0).u16(0);  // EDNS0 OPT
}

// QUIC v1 Initial keys (RFC 9001 section 5.2), with libgcrypt (which nDPI itself needs, so it
// is there wherever nDPI's headers are).
struct QuicKeys {
  uint8_t key[16], iv[12], hp[16];
};

void hmac_sha256(const uint8_t* key, size_t key_len, const uint8_t* data, size_t len,
                 uint8_t* out) {
  gcry_md_hd_t h;
  if (gcry_md_open(&h, GCRY_MD_SHA256, GCRY_MD_FLAG_HMAC) != 0) fail("libgcrypt: no HMAC-SHA256");
  gcry_md_setkey(h, key, key_len);
  gcry_md_write(h, data, len);
  std::memcpy(out, gcry_md_read(h, GCRY_MD_SHA256), 32);
  gcry_md_close(h);
}

// HKDF-Expand-Label (RFC 8446 section 7.1) with an empty context, at most 32 bytes.
void expand_label(const uint8_t* secret, const char* label, uint8_t* out, size_t len) {
  uint8_t info[64];
  Writer w(info);
  const size_t label_len = std::strlen(label);
  w.u16(static_cast<unsigned>(len)).u8(static_cast<unsigned>(6 + label_len)).text("tls13 ");
  w.text(label).u8(0).u8(1);  // empty context, then HKDF's block counter 1
  uint8_t block[32];
  hmac_sha256(secret, 32, info, w.size(), block);
  std::memcpy(out, block, len);
}

QuicKeys quic_client_keys(const uint8_t* dcid, size_t dcid_len) {
  static constexpr uint8_t kSalt[] = {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                                      0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a};
  uint8_t initial[32], client[32];
  hmac_sha256(kSalt, sizeof kSalt, dcid, dcid_len, initial);  // HKDF-Extract
  expand_label(initial, "client in", client, 32);
  QuicKeys k;
  expand_label(client, "quic key", k.key, 16);
  expand_label(client, "quic iv", k.iv, 12);
  expand_label(client, "quic hp", k.hp, 16);
  return k;
}

// RFC 9001 appendix A.1: a wrong key derivation would make every QUIC flow Unknown to nDPI.
void check_quic_keys() {
  static constexpr uint8_t kDcid[] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
  static constexpr uint8_t kKey[] = {0x1f, 0x36, 0x96, 0x13, 0xdd, 0x76, 0xd5, 0x46,
                                     0x77, 0x30, 0xef, 0xcb, 0xe3, 0xb1, 0xa2, 0x2d};
  const QuicKeys k = quic_client_keys(kDcid, sizeof kDcid);
  if (std::memcmp(k.key, kKey, 16) != 0)
    fail("internal: QUIC Initial keys differ from RFC 9001 A.1");
}

// A client Initial of 1200 bytes carrying a ClientHello for sni, encrypted and header-protected
// so that nDPI can read it, as it reads a browser's.
void quic_client_initial(Writer& w, uint64_t dcid, uint64_t scid, std::string_view sni, Rng& rng) {
  constexpr size_t kSize = 1200, kPnLen = 2, kTag = 16;
  uint8_t* start = w.p;
  w.u8(0xc0 | (kPnLen - 1)).u32(1).u8(8).bytes(&dcid, 8).u8(8).bytes(&scid, 8).u8(0);
  const size_t length = kSize - (w.size() + 2);  // packet number + frames + tag
  w.u16(0x4000 | static_cast<unsigned>(length));
  uint8_t* pn = w.p;
  w.u16(0);  // packet number 0
  const size_t header_len = w.size();
  // Frames: CRYPTO at offset 0 with the ClientHello, then PADDING (zeros) up to the size.
  uint8_t* frames = w.p;
  uint8_t hello[600];
  Writer h(hello);
  client_hello(h, sni, rng, true);
  w.u8(0x06).u8(0).u16(0x4000 | static_cast<unsigned>(h.size())).bytes(hello, h.size());
  const size_t frames_len = kSize - header_len - kTag;
  std::memset(w.p, 0, frames_len - (w.p - frames));
  w.p = frames + frames_len;
  const QuicKeys k = quic_client_keys(reinterpret_cast<const uint8_t*>(&dcid), 8);
  uint8_t nonce[12];
  std::memcpy(nonce, k.iv, 12);  // XOR packet number 0: unchanged
  gcry_cipher_hd_t c;
  if (gcry_cipher_open(&c, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_GCM, 0) != 0)
    fail("libgcrypt: no AES-GCM");
  gcry_cipher_setkey(c, k.key, 16);
  gcry_cipher_setiv(c, nonce, 12);
  gcry_cipher_authenticate(c, start, header_len);
  gcry_cipher_encrypt(c, frames, frames_len, nullptr, 0);
  gcry_cipher_gettag(c, w.p, kTag);
  gcry_cipher_close(c);
  w.p += kTag;
  // Header protection: the sample starts 4 bytes after the packet number's start.
  uint8_t mask[16];
  if (gcry_cipher_open(&c, GCRY_CIPHER_AES128, GCRY_CIPHER_MODE_ECB, 0) != 0)
    fail("libgcrypt: no AES");
  gcry_cipher_setkey(c, k.hp, 16);
  gcry_cipher_encrypt(c, mask, 16, pn + 4, 16);
  gcry_cipher_close(c);
  start[0] ^= mask[0] & 0x0f;
  for (size_t i = 0; i < kPnLen; ++i) pn[i] ^= mask[1 + i];
}

// A long-header packet nobody here decrypts (the server's Initial and Handshake, a client's
// second Initial): the right header, random payload.
void quic_long(Writer& w, bool initial, uint64_t dcid, uint64_t scid, size_t size, Rng& rng) {
  w.u8(initial ? 0xc3 : 0xe3).u32(1);  // long header, packet number length 4; version 1
  w.u8(8).bytes(&dcid, 8).u8(8).bytes(&scid, 8);
  if (initial) w.u8(0);  // no token
  const size_t rest = size - w.size() - 2;
  w.u16(0x4000 | static_cast<unsigned>(rest));  // two-byte varint length
  w.random(rng, rest);
}

void quic_short(Writer& w, uint64_t dcid, size_t size, Rng& rng) {
  w.u8(0x40 | (rng.next() & 0x3f)).bytes(&dcid, 8);
  if (size > w.size()) w.random(rng, size - w.size());
}

void ntp(Writer& w, bool from_server, Rng& rng) {
  w.u8(from_server ? 0x24 : 0x23).u8(from_server ? 2 : 0).u8(6).u8(0xe9);
  w.random(rng, 44);
}

// The frame of one packet into out (at least 1514 bytes). Returns its length.
size_t build_frame(Flow& f, const PacketSpec& s, uint8_t* out, Rng& rng) {
  const bool v6 = f.v6;
  const int dir = s.from_server ? 1 : 0;
  static constexpr uint8_t kMacA[6] = {0x02, 0x00, 0x00, 0x00, 0x01, 0x01};
  static constexpr uint8_t kMacB[6] = {0x02, 0x00, 0x00, 0x00, 0x02, 0x02};
  std::memcpy(out, dir ? kMacA : kMacB, 6);
  std::memcpy(out + 6, dir ? kMacB : kMacA, 6);
  put16(out + 12, v6 ? 0x86dd : 0x0800);
  uint8_t* ip = out + 14;
  const bool tcp = f.kind == FlowKind::kHttps || f.kind == FlowKind::kHttp ||
                   f.kind == FlowKind::kSsh || f.kind == FlowKind::kOtherTcp;
  const uint8_t proto = tcp ? 6 : f.kind == FlowKind::kPing ? (v6 ? 58 : 1) : 17;
  const size_t l4_header = tcp ? 20 + ((s.tcp_flags & kSyn) ? kTcpOptionsSyn : kTcpOptions) : 8;
  uint8_t* l4 = ip + ip_header(v6);
  Writer w(l4 + l4_header);
  const size_t room = tcp ? tcp_room(v6) : udp_room(v6);
  const size_t want = s.size == 0 ? room : std::min<size_t>(s.size, room);
  char name_buf[64];
  const std::string_view name = host_name(f.host, name_buf);
  switch (s.payload) {
    case Payload::kNone:
      break;
    case Payload::kHttpRequest:
      http_request(w, name, f.host, rng);
      break;
    case Payload::kHttpResponse:
      http_response(w, want, rng);
      break;
    case Payload::kTlsClientHello:
      tls_client_hello(w, name, rng);
      break;
    case Payload::kTlsServerHello:
      tls_server_hello(w, want, rng);
      break;
    case Payload::kTlsData:
      tls_data(w, want, rng);
      break;
    case Payload::kSshBanner:
      w.text(s.from_server ? "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n"
                           : "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2\r\n");
      break;
    case Payload::kSshKexInit:
      ssh_kexinit(w, rng);
      break;
    case Payload::kRandom:
      w.random(rng, want);
      break;
    case Payload::kDnsQuery:
    case Payload::kDnsQueryAaaa:
    case Payload::kDnsResponse:
    case Payload::kDnsResponseAaaa: {
      const bool aaaa =
          s.payload == Payload::kDnsQueryAaaa || s.payload == Payload::kDnsResponseAaaa;
      const bool response =
          s.payload == Payload::kDnsResponse || s.payload == Payload::kDnsResponseAaaa;
      dns_message(w, name, static_cast<uint16_t>(f.dns_id + aaaa), aaaa, response, rng);
      break;
    }
    case Payload::kQuicClientHello:
      quic_client_initial(w, f.cid[1], f.cid[0], name, rng);
      break;
    case Payload::kQuicInitial:
      quic_long(w, true, f.cid[1], f.cid[0], 1200, rng);
      break;
    case Payload::kQuicHandshake:
      quic_long(w, false, f.cid[0], f.cid[1], std::min<size_t>(1250, room), rng);
      break;
    case Payload::kQuicShort:
      quic_short(w, f.cid[1 - dir], want, rng);
      break;
    case Payload::kNtp:
      ntp(w, s.from_server, rng);
      break;
    case Payload::kEcho:
      w.random(rng, 56);
      break;
  }
  const size_t payload = w.size();
  const size_t l4_len = l4_header + payload;
  // Transport header.
  if (tcp) {
    const uint16_t sport = dir ? f.server_port : f.client_port;
    const uint16_t dport = dir ? f.client_port : f.server_port;
    Writer t(l4);
    t.u16(sport).u16(dport).u32(f.seq[dir]).u32((s.tcp_flags & kAck) ? f.seq[1 - dir] : 0);
    t.u8(static_cast<unsigned>(l4_header / 4) << 4)
        .u8(s.tcp_flags)
        .u16(s.tcp_flags & kSyn ? 64240 : 501);
    t.u16(0).u16(0);  // checksum (not computed), urgent
    const uint32_t tsval = static_cast<uint32_t>(s.time_us / 1000);
    if (s.tcp_flags & kSyn) {
      t.u8(2).u8(4).u16(v6 ? 1440 : 1460).u8(4).u8(2).u8(8).u8(10).u32(tsval).u32(0);
      t.u8(1).u8(3).u8(3).u8(7);
    } else {
      t.u8(1).u8(1).u8(8).u8(10).u32(tsval).u32(tsval - 7);
    }
    f.seq[dir] += static_cast<uint32_t>(payload) + ((s.tcp_flags & (kSyn | kFin)) ? 1 : 0);
  } else if (proto == 17) {
    Writer u(l4);
    u.u16(dir ? f.server_port : f.client_port).u16(dir ? f.client_port : f.server_port);
    u.u16(static_cast<unsigned>(l4_len)).u16(0);
  } else {  // ICMP / ICMPv6 echo
    Writer e(l4);
    const unsigned type = v6 ? (dir ? 129 : 128) : (dir ? 0 : 8);
    e.u8(type).u8(0).u16(0).u16(f.client_port).u16(f.icmp_seq);
    if (dir) ++f.icmp_seq;
  }
  // IP header.
  const uint32_t client = f.client, server = f.server;
  const uint32_t src = dir ? server : client;
  const uint32_t dst = dir ? client : server;
  const bool src_is_client = dir == 0;
  if (v6) {
    Writer h(ip);
    h.u32(0x60000000).u16(static_cast<unsigned>(l4_len)).u8(proto).u8(dir ? 56 : 64);
    // 2001:db8:1::/48 clients, 2001:db8:2::/48 servers.
    for (int side = 0; side < 2; ++side) {
      const bool is_client = side == 0 ? src_is_client : !src_is_client;
      const uint32_t host = side == 0 ? src : dst;
      h.u16(0x2001).u16(0x0db8).u16(is_client ? 1 : 2).u16(0).u32(0).u32(host + 1);
    }
  } else {
    Writer h(ip);
    h.u8(0x45).u8(0).u16(static_cast<unsigned>(20 + l4_len)).u16(f.ip_id[dir]++).u16(0x4000);
    h.u8(dir ? 56 : 64).u8(proto).u16(0);
    // Clients in 10.1.0.0/16, servers in 172.16.0.0/16, resolvers and NTP in 172.31.255.0/24.
    for (int side = 0; side < 2; ++side) {
      const bool is_client = side == 0 ? src_is_client : !src_is_client;
      const uint32_t host = side == 0 ? src : dst;
      uint32_t a;
      const uint32_t low = (host / 250 % 250) << 8 | (1 + host % 250);  // no .0, no .255
      if (is_client)
        a = 0x0a000000u | (host / 62500 + 1) << 16 | low;
      else if (f.kind == FlowKind::kDns || f.kind == FlowKind::kNtp)
        a = 0xac1fff00u | (host + 1);
      else
        a = 0xac100000u | low;
      h.u32(a);
    }
    put16(ip + 10, ipv4_checksum(ip, 20));
  }
  size_t frame = 14 + ip_header(v6) + l4_len;
  if (frame < 60) {
    std::memset(out + frame, 0, 60 - frame);  // Ethernet padding
    frame = 60;
  }
  return frame;
}

struct PcapFile {
  FILE* f = nullptr;
  explicit PcapFile(const std::string& path) {
    f = std::fopen(path.c_str(), "wb");
    if (!f) fail(path + ": " + std::strerror(errno));
    static char buf[1 << 20];
    std::setvbuf(f, buf, _IOFBF, sizeof buf);
    const uint32_t header[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 262144, 1};  // LINKTYPE_ETHERNET
    std::fwrite(header, sizeof header, 1, f);
  }
  void add(int64_t time_us, const uint8_t* frame, size_t len) {
    const uint32_t rec[4] = {static_cast<uint32_t>(time_us / 1'000'000),
                             static_cast<uint32_t>(time_us % 1'000'000), static_cast<uint32_t>(len),
                             static_cast<uint32_t>(len)};
    std::fwrite(rec, sizeof rec, 1, f);
    std::fwrite(frame, len, 1, f);
  }
  void close(const std::string& path) {
    if (std::ferror(f) || std::fclose(f) != 0)
      fail(path + ": write failed: " + std::strerror(errno));
  }
};

int write_mix(const std::string& path, uint64_t n_packets, uint64_t n_flows, uint64_t seed,
              double rate) {
  const auto t0 = Clock::now();
  if (!gcry_check_version(GCRYPT_VERSION)) fail("libgcrypt: version mismatch");
  gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
  check_quic_keys();
  Mix mix = plan_mix(n_packets, n_flows, seed, rate);
  script_flows(mix, seed);
  if (mix.packets.size() != n_packets)
    fail("internal: scripted " + std::to_string(mix.packets.size()) + " packets, not " +
         std::to_string(n_packets));
  constexpr int64_t kEpochUs = 1'704'067'200'000'000;  // 2024-01-01 00:00:00 UTC
  PcapFile out(path);
  Rng rng(seed ^ 0xfeedULL);
  uint8_t frame[1600];
  uint64_t frame_bytes = 0, v6_packets = 0;
  uint64_t kind_packets[kKinds] = {}, kind_flows[kKinds] = {}, kind_bytes[kKinds] = {};
  for (const Flow& f : mix.flows) ++kind_flows[static_cast<int>(f.kind)];
  for (const PacketSpec& s : mix.packets) {
    Flow& f = mix.flows[s.flow];
    const size_t len = build_frame(f, s, frame, rng);
    out.add(kEpochUs + s.time_us, frame, len);
    frame_bytes += len;
    v6_packets += f.v6;
    kind_packets[static_cast<int>(f.kind)] += 1;
    kind_bytes[static_cast<int>(f.kind)] += len;
  }
  out.close(path);
  // The make-up, so a reader of the benchmark knows what was measured.
  std::vector<uint32_t> sizes;
  sizes.reserve(mix.flows.size());
  for (const Flow& f : mix.flows) sizes.push_back(f.packets);
  std::sort(sizes.begin(), sizes.end());
  uint64_t in_long = 0;
  for (uint32_t s : sizes) in_long += s > 100 ? s : 0;
  const double span =
      static_cast<double>(mix.packets.back().time_us - mix.packets.front().time_us) / 1e6;
  std::fprintf(stderr,
               "capture_replay: wrote %s: %llu packets, %llu flows, %.1f MB of frames (%.0f bytes "
               "a frame), %.1f s of traffic, %.1f %% IPv6 packets, in %.1f s\n",
               path.c_str(), static_cast<unsigned long long>(n_packets),
               static_cast<unsigned long long>(n_flows), static_cast<double>(frame_bytes) / 1e6,
               static_cast<double>(frame_bytes) / static_cast<double>(n_packets), span,
               100.0 * static_cast<double>(v6_packets) / static_cast<double>(n_packets),
               seconds_since(t0));
  std::fprintf(stderr,
               "capture_replay:   flow sizes in packets: median %u, 90th %u, 99th %u, largest %u; "
               "%.0f %% of the packets are in flows over 100 packets\n",
               sizes[sizes.size() / 2], sizes[sizes.size() * 9 / 10],
               sizes[sizes.size() * 99 / 100], sizes.back(),
               100.0 * static_cast<double>(in_long) / static_cast<double>(n_packets));
  for (int k = 0; k < kKinds; ++k) {
    std::fprintf(
        stderr,
        "capture_replay:   %-9s %6.1f %% of flows, %6.1f %% of packets, %6.1f %% of bytes\n",
        kKindNames[k], 100.0 * static_cast<double>(kind_flows[k]) / static_cast<double>(n_flows),
        100.0 * static_cast<double>(kind_packets[k]) / static_cast<double>(n_packets),
        100.0 * static_cast<double>(kind_bytes[k]) / static_cast<double>(frame_bytes));
  }
  return 0;
}

// --- packets in memory -----------------------------------------------------------------------

struct PacketSet {
  struct Packet {
    int64_t time_us;
    uint64_t offset;
    uint32_t caplen;
    uint32_t len;
  };
  // Every packet back to back, as a capture ring holds them: the file itself, mapped (a classic
  // pcap file: no copy, so a file in /dev/shm costs no more memory), or a copy (pcapng).
  uint8_t* base = nullptr;
  size_t mapped = 0;
  std::vector<uint8_t> copy;
  std::vector<Packet> packets;
  core::LinkType link = core::LinkType::kEthernet;
  std::string link_name;

  PacketSet() = default;
  PacketSet(const PacketSet&) = delete;
  PacketSet& operator=(const PacketSet&) = delete;
  ~PacketSet() {
    if (mapped) munmap(base, mapped);
  }
  int64_t span_us() const {
    return packets.empty() ? 0 : packets.back().time_us - packets.front().time_us;
  }
  uint64_t bytes() const {
    uint64_t n = 0;
    for (const auto& p : packets) n += p.caplen;
    return n;
  }
};

void set_link(PacketSet& set, const std::string& path, uint32_t linktype) {
  const auto link = core::link_type_from_pcap(linktype);
  if (!link)
    fail(path + ": link type " + std::to_string(linktype) + " is not one netpulse decodes");
  set.link = *link;
  const char* name = pcap_datalink_val_to_name(static_cast<int>(linktype));
  set.link_name = name ? name : std::to_string(linktype);
}

uint32_t get32(const uint8_t* p, bool swap) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return swap ? __builtin_bswap32(v) : v;
}

// A classic pcap file (either byte order, micro- or nanosecond stamps), mapped read-only; with
// populate, every page is mapped up front (the timing loop then takes no page fault). False: not
// classic pcap.
bool map_pcap(PacketSet& set, const std::string& path, uint64_t max_packets, bool populate) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) fail(path + ": " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size < 24) {
    close(fd);
    return false;
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* m = mmap(nullptr, size, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, 0);
  close(fd);
  if (m == MAP_FAILED) fail(path + ": mmap: " + std::strerror(errno));
  auto* b = static_cast<uint8_t*>(m);
  uint32_t magic;
  std::memcpy(&magic, b, 4);
  const bool swap = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
  const bool nano = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;
  if (!(magic == 0xa1b2c3d4 || magic == 0xa1b23c4d || swap)) {
    munmap(m, size);
    return false;
  }
  set.base = b;
  set.mapped = size;
  set_link(set, path, get32(b + 20, swap) & 0x0fffffff);
  size_t at = 24;
  while (at + 16 <= size && (max_packets == 0 || set.packets.size() < max_packets)) {
    const uint32_t sec = get32(b + at, swap), frac = get32(b + at + 4, swap);
    const uint32_t caplen = get32(b + at + 8, swap), len = get32(b + at + 12, swap);
    if (at + 16 + caplen > size) break;  // a cut last record, as libpcap would warn
    set.packets.push_back({static_cast<int64_t>(sec) * 1'000'000 + (nano ? frac / 1000 : frac),
                           at + 16, caplen, len});
    at += 16 + caplen;
  }
  return true;
}

PacketSet* load(const std::string& path, uint64_t max_packets, bool populate) {
  auto* set = new PacketSet;
  if (!map_pcap(*set, path, max_packets, populate)) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (!p) fail(path + ": " + errbuf);
    set_link(*set, path, static_cast<uint32_t>(pcap_datalink(p)));
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    while ((max_packets == 0 || set->packets.size() < max_packets) &&
           pcap_next_ex(p, &h, &data) == 1) {
      set->packets.push_back({static_cast<int64_t>(h->ts.tv_sec) * 1'000'000 + h->ts.tv_usec,
                              set->copy.size(), h->caplen, h->len});
      set->copy.insert(set->copy.end(), data, data + h->caplen);
    }
    pcap_close(p);
    set->base = set->copy.data();
  }
  if (set->packets.empty()) fail(path + ": no packets");
  return set;
}

// --- timing ----------------------------------------------------------------------------------

struct Timing {
  double wall = 0;
  double cpu = 0;
  uint64_t packets = 0;
  uint64_t passes = 0;
  uint64_t records = 0;
  uint64_t checksum = 0;  // keeps the work observable
  capture::ProcessorStats stats;
  double rate() const { return static_cast<double>(packets) / cpu; }
};

// The packet decoder alone over the packets: the floor under any processing.
Timing time_decode(const PacketSet& set, double min_seconds, size_t prefetch) {
  Timing t;
  core::PacketInfo info;
  const auto w0 = Clock::now();
  const double c0 = thread_cpu_seconds();
  do {
    const size_t n = set.packets.size();
    for (size_t i = 0; i < n; ++i) {
      if (prefetch && i + prefetch < n) {
        const uint8_t* ahead = set.base + set.packets[i + prefetch].offset;
        __builtin_prefetch(ahead);
        __builtin_prefetch(ahead + 64);
      }
      const auto& k = set.packets[i];
      if (core::decode_packet(set.link, set.base + k.offset, k.caplen, info) ==
          core::PacketStatus::kOk)
        t.checksum += info.ip_length + info.src_port;
    }
    t.packets += set.packets.size();
    ++t.passes;
  } while (seconds_since(w0) < min_seconds);
  t.cpu = thread_cpu_seconds() - c0;
  t.wall = seconds_since(w0);
  return t;
}

Timing time_processor(const PacketSet& set, const capture::ProcessorOptions& options,
                      const collect::ServiceTable& services, double min_seconds, size_t prefetch) {
  Timing t;
  uint64_t records = 0, checksum = 0;
  // Built before the clock starts: nDPI's module takes ~50 ms to set up.
  capture::PacketProcessor processor(
      options, set.link, services,
      [&](const collect::ExportedFlow& flow, std::string_view label, bool guessed) {
        ++records;
        checksum += flow.bytes + label.size() + guessed;
      });
  // Each pass starts after every flow of the one before has gone idle: new flows, as on a link.
  const int64_t shift = set.span_us() + (options.idle_timeout_ms + 1000) * 1000;
  const uint8_t* base = set.base;
  const size_t n = set.packets.size();
  int64_t pass = 0;
  const auto one_pass = [&] {
    const int64_t d = pass++ * shift;
    for (size_t i = 0; i < n; ++i) {
      if (prefetch && i + prefetch < n) {
        const uint8_t* ahead = base + set.packets[i + prefetch].offset;
        __builtin_prefetch(ahead);
        __builtin_prefetch(ahead + 64);
      }
      const auto& k = set.packets[i];
      processor.process(k.time_us + d, base + k.offset, k.caplen, k.len);
    }
  };
  // One pass untimed: the flow table and nDPI's spare flows reach the size they keep (a monitor
  // runs for days; its first seconds are not its speed).
  one_pass();
  const capture::ProcessorStats before = processor.stats();
  const uint64_t records_before = records;
  const auto w0 = Clock::now();
  const double c0 = thread_cpu_seconds();
  do {
    one_pass();
    t.packets += n;
    ++t.passes;
  } while (seconds_since(w0) < min_seconds);
  processor.finish();  // timed: ending the last pass's flows is part of the work
  t.cpu = thread_cpu_seconds() - c0;
  t.wall = seconds_since(w0);
  t.records = records - records_before;
  t.checksum = checksum;
  // The timed passes' figures: the untimed pass's are taken off.
  t.stats = processor.stats();
  t.stats.records -= before.records;
  t.stats.guessed_records -= before.guessed_records;
  t.stats.flows_created -= before.flows_created;
  t.stats.flows_detected -= before.flows_detected;
  t.stats.flows_guessed -= before.flows_guessed;
  return t;
}

struct TimeOptions {
  double seconds = 2;
  int runs = 1;
  std::vector<std::string> records = {"packets", "flows"};
  std::vector<std::string> ndpi = {"on", "off"};
  bool decode = true;
  size_t prefetch = 0;  // prefetch the packet this many ahead (0: none)
};

void print_row(const char* records, const char* ndpi, size_t ahead, const Timing& t, int runs) {
  const double guessed = t.stats.records ? 100.0 * static_cast<double>(t.stats.guessed_records) /
                                               static_cast<double>(t.stats.records)
                                         : 0;
  std::printf(
      "%-8s %-4s %5zu %4d %6llu %10llu %7.2f %7.2f %8.3f %7.1f %8.3f %10llu %8llu %8llu %7.1f\n",
      records, ndpi, ahead, runs, static_cast<unsigned long long>(t.passes),
      static_cast<unsigned long long>(t.packets), t.wall, t.cpu, t.rate() / 1e6,
      1e9 * t.cpu / static_cast<double>(t.packets), static_cast<double>(t.packets) / t.wall / 1e6,
      static_cast<unsigned long long>(t.records),
      static_cast<unsigned long long>(t.stats.flows_created),
      static_cast<unsigned long long>(t.stats.flows_detected), guessed);
  std::fflush(stdout);
}

int time_file(const std::string& path, const TimeOptions& o) {
  const auto t0 = Clock::now();
  const std::unique_ptr<PacketSet> loaded(load(path, 0, true));
  const PacketSet& set = *loaded;
  std::printf(
      "capture_replay: %s: %zu packets, %.1f MB, link %s, %.1f s of traffic; loaded in %.1f s; "
      "best of %d run%s of >= %.1f s each, one thread\n",
      path.c_str(), set.packets.size(), static_cast<double>(set.bytes()) / 1e6,
      set.link_name.c_str(), static_cast<double>(set.span_us()) / 1e6, seconds_since(t0), o.runs,
      o.runs == 1 ? "" : "s", o.seconds);
  std::printf("%-8s %-4s %5s %4s %6s %10s %7s %7s %8s %7s %8s %10s %8s %8s %7s\n", "records",
              "nDPI", "ahead", "runs", "passes", "packets", "wall s", "CPU s", "Mpkt/s", "ns/pkt",
              "Mpkt/s", "records", "flows", "detected", "guessed");
  std::printf("%-8s %-4s %5s %4s %6s %10s %7s %7s %8s %7s %8s %10s %8s %8s %7s\n", "", "", "", "",
              "", "", "", "", "(CPU)", "(CPU)", "(wall)", "", "", "by nDPI", "% recs");
  std::fflush(stdout);
  uint64_t sink = 0;
  if (o.decode) {
    Timing best;
    for (int r = 0; r < o.runs; ++r) {
      const Timing t = time_decode(set, o.seconds, o.prefetch);
      sink += t.checksum;
      if (r == 0 || t.rate() > best.rate()) best = t;
    }
    print_row("decode", "-", o.prefetch, best, o.runs);
  }
  const collect::ServiceTable services;
  for (const std::string& ndpi : o.ndpi) {
    for (const std::string& records : o.records) {
      capture::ProcessorOptions po;
      po.mode = records == "flows" ? capture::RecordMode::kFlows : capture::RecordMode::kPackets;
      po.ndpi = ndpi == "on";
      Timing best;
      for (int r = 0; r < o.runs; ++r) {
        const Timing t = time_processor(set, po, services, o.seconds, o.prefetch);
        sink += t.checksum;
        if (r == 0 || t.rate() > best.rate()) best = t;
      }
      print_row(records.c_str(), ndpi.c_str(), o.prefetch, best, o.runs);
    }
  }
  if (sink == 42) std::printf("\n");  // never; the sums must be used
  return 0;
}

// --- sending ---------------------------------------------------------------------------------

struct SendOptions {
  std::string iface;
  double rate = 0;     // packets/s; 0: as fast as possible
  double seconds = 0;  // with rate: send rate * seconds packets
  uint64_t count = 0;  // packets to send (0: the file once, or rate * seconds)
  size_t batch = 64;
  bool fresh = true;  // change the addresses on every round past the first
};

// Round r's address change: XOR into one byte of each address (both directions alike, so flows
// stay flows). Round 0 is the file as it is.
uint8_t round_key(uint64_t round) {
  return static_cast<uint8_t>(round == 0 ? 0 : (round * 37) % 255 + 1);
}

void rekey(uint8_t* frame, uint32_t caplen, uint8_t key) {
  if (caplen < 14) return;
  const unsigned type = static_cast<unsigned>(frame[12] << 8 | frame[13]);
  if (type == 0x0800 && caplen >= 34) {
    uint8_t* ip = frame + 14;
    ip[13] ^= key;  // second octet of the source
    ip[17] ^= key;  // and of the destination
    const size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
    if (ihl >= 20 && 14 + ihl <= caplen) {
      ip[10] = ip[11] = 0;
      put16(ip + 10, ipv4_checksum(ip, ihl));
    }
  } else if (type == 0x86dd && caplen >= 54) {
    uint8_t* ip = frame + 14;
    ip[8 + 3] ^= key;
    ip[24 + 3] ^= key;
  }
}

int send_file(const std::string& path, const SendOptions& o) {
  uint64_t total = o.count;
  if (total == 0 && o.rate > 0 && o.seconds > 0) total = static_cast<uint64_t>(o.rate * o.seconds);
  // Only what will be sent is loaded.
  const std::unique_ptr<PacketSet> loaded(load(path, total, false));
  PacketSet& set = *loaded;
  if (total == 0) total = set.packets.size();
  if (set.link != core::LinkType::kEthernet) fail(path + ": --send takes Ethernet captures only");
  const unsigned ifindex = if_nametoindex(o.iface.c_str());
  if (ifindex == 0) fail("--send " + o.iface + ": " + std::strerror(errno));
  // Protocol 0: the socket sends only, the kernel hands it nothing it sees.
  const int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) fail(std::string("AF_PACKET socket: ") + std::strerror(errno));
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = static_cast<int>(ifindex);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
    fail("--send " + o.iface + ": bind: " + std::strerror(errno));
  const int one = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);  // best effort
  const int sndbuf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) != 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  const size_t n = set.packets.size();
  uint32_t max_caplen = 0;
  for (const auto& p : set.packets) max_caplen = std::max(max_caplen, p.caplen);
  // Paced: bursts of at most ~1 ms of traffic, so the pace holds at low rates too.
  size_t batch = o.batch;
  if (o.rate > 0) batch = std::clamp<size_t>(static_cast<size_t>(o.rate / 1000), 1, o.batch);
  std::vector<mmsghdr> msgs(batch);
  std::vector<iovec> iov(batch);
  // Rounds past the first send rewritten copies (the file's pages stay shared and read-only).
  std::vector<uint8_t> scratch(o.fresh && total > n ? batch * max_caplen : 0);
  uint64_t sent = 0, frame_bytes = 0, retries = 0;
  const auto t0 = Clock::now();
  while (sent < total) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(batch, total - sent));
    if (o.rate > 0) {
      const auto due = t0 + std::chrono::nanoseconds(
                                static_cast<int64_t>(static_cast<double>(sent) / o.rate * 1e9));
      for (auto now = Clock::now(); now < due; now = Clock::now()) {
        if (due - now > std::chrono::microseconds(200))
          std::this_thread::sleep_for(due - now - std::chrono::microseconds(100));
      }
    }
    for (size_t j = 0; j < k; ++j) {
      const uint64_t i = sent + j;
      const size_t p = static_cast<size_t>(i % n);
      const auto& pk = set.packets[p];
      uint8_t* frame = set.base + pk.offset;
      if (!scratch.empty() && i >= n) {
        uint8_t* copy = scratch.data() + j * max_caplen;
        std::memcpy(copy, frame, pk.caplen);
        rekey(copy, pk.caplen, round_key(i / n));
        frame = copy;
      }
      iov[j] = {frame, pk.caplen};
      msgs[j] = {};
      msgs[j].msg_hdr.msg_iov = &iov[j];
      msgs[j].msg_hdr.msg_iovlen = 1;
      frame_bytes += pk.caplen;
    }
    size_t done = 0;
    while (done < k) {
      const int r = sendmmsg(fd, msgs.data() + done, static_cast<unsigned>(k - done), 0);
      if (r > 0) {
        done += static_cast<size_t>(r);
      } else if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
        ++retries;  // the device's queue is full for a moment: the same packet again
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      } else {
        fail("--send " + o.iface + ": sendmmsg: " + std::strerror(errno));
      }
    }
    sent += k;
  }
  const double s = seconds_since(t0);
  close(fd);
  std::printf(
      "capture_replay: sent %llu packets, %llu bytes of frames in %.3f s: %.0f packets/s, "
      "%.1f Mbit/s (asked %.0f/s; %llu retries)\n",
      static_cast<unsigned long long>(sent), static_cast<unsigned long long>(frame_bytes), s,
      static_cast<double>(sent) / s, static_cast<double>(frame_bytes) * 8 / s / 1e6, o.rate,
      static_cast<unsigned long long>(retries));
  return 0;
}

// --- command line ----------------------------------------------------------------------------

double parse_number(const std::string& flag, const char* v) {
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(v, &end);
  if (errno || end == v || *end || d < 0 || !std::isfinite(d)) fail(flag + ": not a number: " + v);
  return d;
}

std::vector<std::string> parse_list(const std::string& flag, const std::string& v,
                                    std::initializer_list<const char*> allowed) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= v.size()) {
    const size_t comma = v.find(',', at);
    const std::string item =
        v.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    bool ok = false;
    for (const char* a : allowed) ok = ok || item == a;
    if (!ok) fail(flag + ": '" + item + "' is not one of the choices (--help)");
    out.push_back(item);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

constexpr const char* kUsage =
    "usage: capture_replay --write-mix FILE [--packets N] [--flows F] [--seed S] [--rate PPS]\n"
    "       capture_replay --read FILE [--seconds S] [--runs R] [--records packets,flows]\n"
    "                      [--ndpi on,off] [--prefetch P] [--no-decode]\n"
    "       capture_replay --read FILE --send IFACE [--rate PPS] [--seconds S | --count N]\n"
    "                      [--batch B] [--no-fresh-flows]\n"
    "--write-mix: N packets (2000000) in F flows (N/25), seeded; --rate spreads flow starts over\n"
    "  N/PPS seconds (250000). --read: times the packet processor over the file in memory, best\n"
    "  of R runs (1) of at least S seconds (2), prefetching P packets ahead (0). --send: "
    "AF_PACKET,\n"
    "  paced at PPS (0: flat out), past the file's end again with changed addresses (unless\n"
    "  --no-fresh-flows).\n";

int run(int argc, char** argv) {
  std::string write_path, read_path;
  uint64_t packets = 2'000'000, flows = 0, seed = 1;
  double rate = -1;
  TimeOptions timing;
  SendOptions send;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--no-decode") {
      timing.decode = false;
      continue;
    }
    if (a == "--no-fresh-flows") {
      send.fresh = false;
      continue;
    }
    if (i + 1 >= argc) fail(a + " needs a value (--help)");
    const char* v = argv[++i];
    if (a == "--write-mix")
      write_path = v;
    else if (a == "--read")
      read_path = v;
    else if (a == "--packets")
      packets = static_cast<uint64_t>(parse_number(a, v));
    else if (a == "--flows")
      flows = static_cast<uint64_t>(parse_number(a, v));
    else if (a == "--seed")
      seed = static_cast<uint64_t>(parse_number(a, v));
    else if (a == "--rate")
      rate = parse_number(a, v);
    else if (a == "--seconds")
      timing.seconds = send.seconds = parse_number(a, v);
    else if (a == "--runs")
      timing.runs = std::max(1, static_cast<int>(parse_number(a, v)));
    else if (a == "--records")
      timing.records = parse_list(a, v, {"packets", "flows"});
    else if (a == "--ndpi")
      timing.ndpi = parse_list(a, v, {"on", "off"});
    else if (a == "--prefetch")
      timing.prefetch = static_cast<size_t>(parse_number(a, v));
    else if (a == "--send")
      send.iface = v;
    else if (a == "--count")
      send.count = static_cast<uint64_t>(parse_number(a, v));
    else if (a == "--batch")
      send.batch = std::max<size_t>(1, static_cast<size_t>(parse_number(a, v)));
    else
      fail("unknown option " + a + " (--help)");
  }
  if (!write_path.empty()) {
    if (!read_path.empty()) fail("--write-mix and --read: one at a time");
    if (packets == 0) fail("--packets: at least 1");
    if (flows == 0) flows = std::max<uint64_t>(1, packets / 25);
    return write_mix(write_path, packets, flows, seed, rate > 0 ? rate : 250'000);
  }
  if (read_path.empty()) fail("--write-mix FILE or --read FILE (--help)");
  if (!send.iface.empty()) {
    send.rate = std::max(0.0, rate);
    if (send.seconds > 0 && send.rate <= 0 && send.count == 0) fail("--seconds needs --rate");
    return send_file(read_path, send);
  }
  return time_file(read_path, timing);
}

}  // namespace
}  // namespace netpulse::bench

int main(int argc, char** argv) {
  return netpulse::bench::run(argc, argv);
}
