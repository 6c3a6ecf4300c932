// FlowFeatures against a brute-force reference (every traffic feature recomputed from the whole
// history for each connection), the feature mask of each input kind, the service and flag
// mappings, bounded memory under floods, and its cost.
#include "detect/flow_features.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "collect/service_table.hpp"
#include "synthetic.hpp"

// Counts heap allocations of this test binary, so a test can check the steady state allocates
// nothing. The count is all this does; every allocation still goes to malloc. Not inlined, so
// the compiler never pairs an inlined free() with a container's operator new (a false
// -Wmismatched-new-delete).
namespace {
std::atomic<uint64_t> g_allocations{0};
}
[[gnu::noinline]] void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept {
  std::free(p);
}
[[gnu::noinline]] void operator delete(void* p, size_t) noexcept {
  std::free(p);
}

namespace netpulse::detect {
namespace {

using core::IpAddr;
using E = ConnectionEvent;

int svc(std::string_view name) {
  return category_index(kService, name);
}
int flg(std::string_view name) {
  return category_index(kFlag, name);
}
int proto(std::string_view name) {
  return category_index(kProtocolType, name);
}
size_t col(std::string_view name) {
  return static_cast<size_t>(feature_index(name));
}

const char* const kLabels[] = {"HTTP", "HTTPS",  "DNS", "SSH",  "FTP",
                               "SMTP", "Telnet", "NTP", "SNMP", "RDP"};

// A random stream: few hosts (so windows hold many connections to each), bursts and pauses
// in time, some late connections, every input kind's fields.
struct Stream {
  core::ProtocolTable protocols;
  std::vector<uint32_t> labels;
  Stream() {
    for (const char* l : kLabels) labels.push_back(protocols.intern(l));
  }

  std::vector<ConnectionEvent> make(FlowInputKind kind, size_t n, uint64_t seed, int hosts,
                                    int64_t mean_gap_ms) {
    testdetect::Rng rng(seed);
    std::vector<ConnectionEvent> out;
    core::TimeMs t = 1'600'000'000'000;
    const uint8_t kTcpFlags[] = {kTcpSyn,
                                 kTcpSyn | kTcpAck | kTcpFin,
                                 kTcpSyn | kTcpAck,
                                 kTcpSyn | kTcpRst,
                                 kTcpSyn | kTcpAck | kTcpRst,
                                 kTcpAck,
                                 0};
    const uint16_t kPorts[] = {80, 22, 25, 53, 443, 999, 5000, 23, 21};
    for (size_t i = 0; i < n; ++i) {
      // Bursts (gap 0), normal gaps, and now and then a pause longer than the window.
      const uint64_t g = rng.below(100);
      t += g < 40 ? 0 : g < 98 ? static_cast<int64_t>(rng.below(2 * mean_gap_ms + 1)) : 2500;
      ConnectionEvent c;
      c.time = rng.below(50) == 0 ? t - static_cast<int64_t>(rng.below(300)) : t;  // late
      c.src = IpAddr::v4(0x0b000000u + static_cast<uint32_t>(rng.below(hosts)));
      c.dst = IpAddr::v4(0x0b000000u + static_cast<uint32_t>(rng.below(hosts)));
      c.label = labels[rng.below(labels.size())];
      c.src_bytes = rng.below(3000);
      c.has = E::kLabel | E::kSrcBytes;
      if (kind != FlowInputKind::kLine) {
        const uint64_t p = rng.below(10);
        c.ip_protocol = p < 7 ? 6 : p < 9 ? 17 : 1;
        c.dst_port = c.ip_protocol == 1 ? static_cast<uint16_t>(rng.below(2) ? 0x0800 : 0x0303)
                                        : kPorts[rng.below(std::size(kPorts))];
        c.src_port = static_cast<uint16_t>(rng.below(4) ? 40000 + rng.below(8) : c.dst_port);
        c.tcp_flags = kTcpFlags[rng.below(std::size(kTcpFlags))];
        c.duration_ms = static_cast<int64_t>(rng.below(5000));
        c.src_packets = 1 + rng.below(10);
        c.has |= E::kIpProtocol | E::kPorts | E::kTcpFlags | E::kDuration | E::kPackets;
      }
      if (kind == FlowInputKind::kCapture) {
        c.responder_flags = kTcpFlags[rng.below(std::size(kTcpFlags))];
        c.dst_bytes = rng.below(5000);
        c.dst_packets = rng.below(10);
        c.has |= E::kResponderFlags | E::kDstBytes;
      }
      out.push_back(c);
    }
    return out;
  }
};

// The plain definition: for connection i, look at every earlier connection (and i itself).
struct Seen {
  core::TimeMs time;
  IpAddr dst;
  int service;
  bool serror, rerror, has_port;
  uint16_t src_port;
};

void expect_reference(const std::vector<ConnectionEvent>& events, const FlowFeaturesConfig& cfg,
                      const core::ProtocolTable& protocols, const std::string& what) {
  FlowFeatures ff(cfg, protocols);
  std::vector<Seen> history;
  core::TimeMs newest = INT64_MIN;
  FeatureRow row;
  size_t mismatches = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const ConnectionEvent& c = events[i];
    ff.add(c, row);
    newest = std::max(newest, c.time);
    const int flag = static_cast<int>(row[kFlag]);
    history.push_back(Seen{newest, c.dst, static_cast<int>(row[kService]), is_syn_error_flag(flag),
                           is_rej_error_flag(flag), (c.has & E::kPorts) != 0, c.src_port});
    const Seen& me = history.back();
    // 2-second window: (t - window, t].
    uint64_t count = 0, srv = 0, same = 0, serr = 0, rerr = 0, srv_serr = 0, srv_rerr = 0;
    for (size_t j = 0; j <= i; ++j) {
      const Seen& o = history[j];
      if (o.time <= me.time - cfg.window_ms) continue;
      if (o.dst == me.dst) {
        ++count;
        same += o.service == me.service;
        serr += o.serror;
        rerr += o.rerror;
      }
      if (o.service == me.service) {
        ++srv;
        srv_serr += o.serror;
        srv_rerr += o.rerror;
      }
    }
    // Host window: the last host_window connections.
    uint64_t hc = 0, hs = 0, hsame = 0, hport = 0, hserr = 0, hrerr = 0, hs_serr = 0, hs_rerr = 0;
    const size_t from = i + 1 > cfg.host_window ? i + 1 - cfg.host_window : 0;
    for (size_t j = from; j <= i; ++j) {
      const Seen& o = history[j];
      if (o.dst == me.dst) {
        ++hc;
        hsame += o.service == me.service;
        hport += o.has_port && o.src_port == me.src_port;
        hserr += o.serror;
        hrerr += o.rerror;
      }
      if (o.service == me.service) {
        ++hs;
        hs_serr += o.serror;
        hs_rerr += o.rerror;
      }
    }
    const std::pair<const char*, float> expected[] = {
        {"count", static_cast<float>(std::min<uint64_t>(count, kMaxCount2s))},
        {"srv_count", static_cast<float>(std::min<uint64_t>(srv, kMaxCount2s))},
        {"serror_rate", kdd_rate(serr, count)},
        {"srv_serror_rate", kdd_rate(srv_serr, srv)},
        {"rerror_rate", kdd_rate(rerr, count)},
        {"srv_rerror_rate", kdd_rate(srv_rerr, srv)},
        {"same_srv_rate", kdd_rate(same, count)},
        {"diff_srv_rate", kdd_rate(count - same, count)},
        {"srv_diff_host_rate", kdd_rate(srv - same, srv)},
        {"dst_host_count", static_cast<float>(std::min<uint64_t>(hc, kMaxHostCount))},
        {"dst_host_srv_count", static_cast<float>(std::min<uint64_t>(hs, kMaxHostCount))},
        {"dst_host_same_srv_rate", kdd_rate(hsame, hc)},
        {"dst_host_diff_srv_rate", kdd_rate(hc - hsame, hc)},
        {"dst_host_same_src_port_rate", me.has_port ? kdd_rate(hport, hc) : 0.0f},
        {"dst_host_srv_diff_host_rate", kdd_rate(hs - hsame, hs)},
        {"dst_host_serror_rate", kdd_rate(hserr, hc)},
        {"dst_host_srv_serror_rate", kdd_rate(hs_serr, hs)},
        {"dst_host_rerror_rate", kdd_rate(hrerr, hc)},
        {"dst_host_srv_rerror_rate", kdd_rate(hs_rerr, hs)},
    };
    for (const auto& [name, value] : expected) {
      if (row[col(name)] != value && ++mismatches <= 10)
        ADD_FAILURE() << what << ": connection " << i << " " << name << " = " << row[col(name)]
                      << ", reference " << value;
    }
  }
  EXPECT_EQ(mismatches, 0u) << what;
  EXPECT_EQ(ff.evicted_hosts(), 0u);
  EXPECT_EQ(ff.window_overflow(), 0u);
}

TEST(FlowFeatures, TrafficFeaturesMatchBruteForceReference) {
  Stream s;
  struct Case {
    FlowInputKind kind;
    int hosts;
    int64_t gap_ms;
    size_t host_window;
    int64_t window_ms;
  };
  const Case cases[] = {
      {FlowInputKind::kLine, 5, 20, 100, 2000},     {FlowInputKind::kFlowExport, 5, 20, 100, 2000},
      {FlowInputKind::kCapture, 5, 20, 100, 2000},  {FlowInputKind::kCapture, 40, 3, 100, 2000},
      {FlowInputKind::kFlowExport, 2, 50, 7, 2000}, {FlowInputKind::kFlowExport, 300, 1, 256, 2000},
      {FlowInputKind::kCapture, 8, 10, 100, 150},   {FlowInputKind::kLine, 1, 5, 1, 2000},
  };
  uint64_t seed = 1;
  for (const Case& k : cases) {
    const auto events = s.make(k.kind, 6000, seed++, k.hosts, k.gap_ms);
    FlowFeaturesConfig cfg;
    cfg.host_window = k.host_window;
    cfg.window_ms = k.window_ms;
    expect_reference(events, cfg, s.protocols,
                     std::string(input_kind_name(k.kind)) + " hosts " + std::to_string(k.hosts) +
                         " window " + std::to_string(k.host_window));
  }
}

TEST(FlowFeatures, EvictionOnlyForgets) {
  // With room for 3 of 12 destination hosts, hosts are evicted all the time: a host's counts
  // then start again, so they never exceed the exact ones, and every rate stays in [0, 1]
  // (connections of an evicted host leaving the windows later must not touch its successor).
  Stream s;
  const auto events = s.make(FlowInputKind::kCapture, 20000, 5, 12, 10);
  FlowFeaturesConfig small;
  small.max_hosts = 3;
  FlowFeatures exact(FlowFeaturesConfig{}, s.protocols), evicting(small, s.protocols);
  FeatureRow a, b;
  for (const auto& c : events) {
    exact.add(c, a);
    evicting.add(c, b);
    ASSERT_GE(b[col("count")], 1.0f);
    ASSERT_LE(b[col("count")], a[col("count")]);
    ASSERT_GE(b[col("dst_host_count")], 1.0f);
    ASSERT_LE(b[col("dst_host_count")], a[col("dst_host_count")]);
    // Service counts do not depend on hosts.
    ASSERT_EQ(b[col("srv_count")], a[col("srv_count")]);
    ASSERT_EQ(b[col("dst_host_srv_count")], a[col("dst_host_srv_count")]);
    for (size_t f = 0; f < kFeatureCount; ++f)
      if (feature_info(f).name.find("rate") != std::string_view::npos) {
        ASSERT_GE(b[f], 0.0f) << feature_info(f).name;
        ASSERT_LE(b[f], 1.0f) << feature_info(f).name;
      }
  }
  EXPECT_EQ(evicting.hosts(), 3u);
  EXPECT_GT(evicting.evicted_hosts(), 1000u);
  EXPECT_EQ(exact.evicted_hosts(), 0u);
}

TEST(FlowFeatures, CountsSaturateAsInKdd) {
  // 600 connections to one host and service inside a second: count and srv_count stop at 511,
  // dst_host_count at 255 with a 300-connection host window; the rates use the true counts.
  core::ProtocolTable protocols;
  FlowFeaturesConfig cfg;
  cfg.host_window = 300;
  FlowFeatures ff(cfg, protocols);
  FeatureRow row;
  ConnectionEvent c;
  c.dst = IpAddr::v4(0x0a000001);
  c.has = E::kIpProtocol | E::kPorts | E::kTcpFlags;
  c.ip_protocol = 6;
  c.dst_port = 80;
  for (int i = 0; i < 600; ++i) {
    c.time = 1000 + i;
    c.src = IpAddr::v4(0x0b000000u + static_cast<uint32_t>(i));
    c.tcp_flags = i % 2 ? kTcpSyn : kTcpSyn | kTcpAck | kTcpFin;  // every other one S0
    ff.add(c, row);
  }
  EXPECT_EQ(row[col("count")], 511.0f);
  EXPECT_EQ(row[col("srv_count")], 511.0f);
  EXPECT_EQ(row[col("dst_host_count")], 255.0f);
  EXPECT_EQ(row[col("dst_host_srv_count")], 255.0f);
  EXPECT_EQ(row[col("serror_rate")], 0.5f);
  EXPECT_EQ(row[col("dst_host_serror_rate")], 0.5f);
  EXPECT_EQ(row[col("same_srv_rate")], 1.0f);
}

TEST(FlowFeatures, MaskPerInputKind) {
  const auto names = [](FlowInputKind k) { return feature_names(flow_feature_mask(k)); };
  const std::vector<std::string> line = {"protocol_type",
                                         "service",
                                         "src_bytes",
                                         "land",
                                         "count",
                                         "srv_count",
                                         "same_srv_rate",
                                         "diff_srv_rate",
                                         "srv_diff_host_rate",
                                         "dst_host_count",
                                         "dst_host_srv_count",
                                         "dst_host_same_srv_rate",
                                         "dst_host_diff_srv_rate",
                                         "dst_host_srv_diff_host_rate"};
  EXPECT_EQ(names(FlowInputKind::kLine), line);
  const FeatureMask flags = FeatureMask{1} << kFlag;
  const FeatureMask line_mask = flow_feature_mask(FlowInputKind::kLine);
  const FeatureMask export_mask = flow_feature_mask(FlowInputKind::kFlowExport);
  const FeatureMask capture_mask = flow_feature_mask(FlowInputKind::kCapture);
  EXPECT_EQ(line_mask & ~export_mask, 0u);
  EXPECT_EQ(export_mask & ~capture_mask, 0u);
  EXPECT_EQ(std::popcount(export_mask), 25);
  EXPECT_TRUE(export_mask & flags);
  EXPECT_FALSE(export_mask & (FeatureMask{1} << col("dst_bytes")));
  EXPECT_EQ(capture_mask & ~export_mask, FeatureMask{1} << col("dst_bytes"));
  // Content features are never computed.
  for (const char* content : {"hot", "num_failed_logins", "logged_in", "root_shell",
                              "wrong_fragment", "urgent", "is_guest_login"})
    EXPECT_FALSE(capture_mask & (FeatureMask{1} << col(content))) << content;
  // Every computed feature says where it comes from; the others say nothing.
  for (FlowInputKind k :
       {FlowInputKind::kLine, FlowInputKind::kFlowExport, FlowInputKind::kCapture})
    for (size_t f = 0; f < kFeatureCount; ++f)
      EXPECT_EQ(!feature_origin(f, k).empty(), ((flow_feature_mask(k) >> f) & 1) != 0)
          << feature_info(f).name << " " << input_kind_name(k);

  // Outside its mask, every row of an input kind holds the neutral values; inside, each
  // feature takes more than one value over a varied stream (it is really computed).
  Stream s;
  for (FlowInputKind k :
       {FlowInputKind::kLine, FlowInputKind::kFlowExport, FlowInputKind::kCapture}) {
    const auto events = s.make(k, 3000, 7, 6, 20);
    FlowFeatures ff(FlowFeaturesConfig{}, s.protocols);
    FeatureRow row, first{};
    FeatureMask varied = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      ff.add(events[i], row);
      if (i == 0) first = row;
      for (size_t f = 0; f < kFeatureCount; ++f) {
        if (row[f] != first[f]) varied |= FeatureMask{1} << f;
        if (!((flow_feature_mask(k) >> f) & 1)) {
          ASSERT_EQ(row[f], neutral_row()[f]) << feature_info(f).name << " " << input_kind_name(k);
        }
      }
    }
    // land is 1 only for the rare src == dst connections; the stream has some.
    EXPECT_EQ(varied, flow_feature_mask(k))
        << input_kind_name(k) << ": "
        << testing::PrintToString(feature_names(flow_feature_mask(k) & ~varied));
  }
}

TEST(FlowFeatures, NeutralValuesAreTheTrainingMedians) {
  const FeatureRow& n = neutral_row();
  EXPECT_EQ(n[kProtocolType], proto("tcp"));
  EXPECT_EQ(n[kService], svc("other"));
  EXPECT_EQ(n[kFlag], flg("SF"));
  for (const char* f :
       {"duration", "dst_bytes", "hot", "logged_in", "serror_rate", "dst_host_same_src_port_rate"})
    EXPECT_EQ(n[col(f)], 0.0f) << f;
}

TEST(FlowFeatures, ServiceFromPort) {
  struct Case {
    uint8_t ip;
    uint16_t port;
    const char* service;
  };
  const Case cases[] = {
      {6, 80, "http"},      {6, 25, "smtp"},      {6, 21, "ftp"},          {6, 20, "ftp_data"},
      {6, 23, "telnet"},    {6, 22, "ssh"},       {17, 53, "domain_u"},    {6, 53, "domain"},
      {6, 110, "pop_3"},    {6, 143, "imap4"},    {6, 79, "finger"},       {6, 443, "http_443"},
      {6, 113, "auth"},     {6, 6001, "X11"},     {6, 6667, "IRC"},        {6, 8001, "http_8001"},
      {17, 123, "ntp_u"},   {17, 69, "tftp_u"},   {6, 999, "private"},     {17, 161, "private"},
      {6, 5000, "other"},   {17, 40000, "other"}, {6, 445, "netbios_ssn"}, {6, 993, "imap4"},
      {1, 0x0800, "eco_i"}, {1, 0x0000, "ecr_i"}, {1, 0x0303, "urp_i"},    {1, 0x0301, "urh_i"},
      {1, 0x0500, "red_i"}, {1, 0x0d00, "tim_i"}, {58, 0x8000, "eco_i"},   {58, 0x8100, "ecr_i"},
      {47, 0, "other"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(kdd_service_for_port(c.ip, c.port), svc(c.service))
        << int(c.ip) << "/" << c.port << " -> " << c.service;
  EXPECT_EQ(kdd_protocol_for_ip(6), proto("tcp"));
  EXPECT_EQ(kdd_protocol_for_ip(17), proto("udp"));
  EXPECT_EQ(kdd_protocol_for_ip(1), proto("icmp"));
  EXPECT_EQ(kdd_protocol_for_ip(58), proto("icmp"));
}

TEST(FlowFeatures, ServiceFromLabel) {
  struct Case {
    const char* label;
    const char* service;
    const char* protocol;
  };
  const Case cases[] = {
      {"HTTP", "http", "tcp"},         {"HTTPS", "http_443", "tcp"},
      {"DNS", "domain_u", "udp"},      {"SSH", "ssh", "tcp"},
      {"SMTP", "smtp", "tcp"},         {"FTP", "ftp", "tcp"},
      {"Telnet", "telnet", "tcp"},     {"telnet", "telnet", "tcp"},
      {"POP3", "pop_3", "tcp"},        {"IMAP", "imap4", "tcp"},
      {"NTP", "ntp_u", "udp"},         {"SNMP", "private", "udp"},
      {"DHCP", "private", "udp"},      {"RDP", "other", "tcp"},
      {"SMB", "netbios_ssn", "tcp"},   {"TLS.Google", "http_443", "tcp"},
      {"ICMP", "eco_i", "icmp"},       {"UDP", "other", "udp"},
      {"NoSuchThing", "other", "tcp"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(kdd_service_for_label(c.label), svc(c.service)) << c.label;
    EXPECT_EQ(kdd_protocol_for_label(c.label), proto(c.protocol)) << c.label;
  }
}

TEST(FlowFeatures, LabelAndItsPortGiveTheSameService) {
  // The generator's 19 labels: the service from the label (line input) is the one from the
  // port the collector's service table exports the label at (flow export input).
  const collect::ServiceTable table;
  for (const char* label :
       {"HTTP", "HTTPS", "DNS", "DHCP", "SOAP", "UPnP", "SSH", "FTP", "SMTP", "IMAP", "POP3",
        "Telnet", "SNMP", "NTP", "LDAP", "RDP", "SMB", "SIP", "MQTT"}) {
    const auto s = table.find(label);
    ASSERT_TRUE(s) << label;
    EXPECT_EQ(kdd_service_for_label(label), kdd_service_for_port(s->ip_protocol, s->port))
        << label << " at " << int(s->ip_protocol) << "/" << s->port;
    EXPECT_EQ(kdd_protocol_for_label(label), kdd_protocol_for_ip(s->ip_protocol)) << label;
  }
}

TEST(FlowFeatures, FlagFromTcpFlags) {
  const uint8_t S = kTcpSyn, A = kTcpAck, F = kTcpFin, R = kTcpRst;
  struct Case {
    uint8_t o;
    bool reply;
    uint8_t r;
    const char* flag;
  };
  const Case cases[] = {
      // Originator's flags only (flow export).
      {S, false, 0, "S0"},
      {S | A | F, false, 0, "SF"},
      {S | A, false, 0, "S1"},
      {S | F, false, 0, "SH"},
      {S | R, false, 0, "RSTOS0"},
      {S | A | R, false, 0, "RSTO"},
      {A, false, 0, "OTH"},
      {A | F, false, 0, "OTH"},
      // Both directions (capture).
      {S | A | F, true, S | A | F, "SF"},
      {S, true, 0, "S0"},
      {S, true, R | A, "REJ"},
      {S | A, true, S | A | R, "RSTR"},
      {S | A | R, true, S | A, "RSTO"},
      {S | A | F, true, S | A, "S2"},
      {S | A, true, S | A | F, "S3"},
      {S | A, true, S | A, "S1"},
      {S | F, true, 0, "SH"},
      {S | R, true, 0, "RSTOS0"},
      {S, true, A, "OTH"},
      {A, true, A, "OTH"},
  };
  for (const Case& c : cases)
    EXPECT_EQ(kdd_flag(c.o, c.reply, c.r), flg(c.flag))
        << int(c.o) << (c.reply ? " / " + std::to_string(c.r) : std::string()) << " -> " << c.flag;
  for (const char* f : {"S0", "S1", "S2", "S3", "SH"}) {
    EXPECT_TRUE(is_syn_error_flag(flg(f))) << f;
    EXPECT_FALSE(is_rej_error_flag(flg(f))) << f;
  }
  for (const char* f : {"REJ", "RSTO", "RSTOS0", "RSTR"}) {
    EXPECT_TRUE(is_rej_error_flag(flg(f))) << f;
    EXPECT_FALSE(is_syn_error_flag(flg(f))) << f;
  }
  EXPECT_FALSE(is_syn_error_flag(flg("SF")) || is_rej_error_flag(flg("SF")));
  EXPECT_FALSE(is_syn_error_flag(flg("OTH")) || is_rej_error_flag(flg("OTH")));
}

TEST(FlowFeatures, RowOfOneConnection) {
  core::ProtocolTable protocols;
  FlowFeatures ff(FlowFeaturesConfig{}, protocols);
  FeatureRow row;
  ConnectionEvent c;
  c.time = 5000;
  c.src = IpAddr::v4(0x0a000001);
  c.dst = IpAddr::v4(0x0a000002);
  c.ip_protocol = 6;
  c.src_port = 40000;
  c.dst_port = 22;
  c.tcp_flags = kTcpSyn | kTcpAck | kTcpFin;
  c.responder_flags = kTcpSyn | kTcpAck | kTcpFin;
  c.duration_ms = 3700;
  c.src_bytes = 10 * 40 + 1234;  // 10 packets of 40 header bytes
  c.src_packets = 10;
  c.dst_bytes = 8 * 40 + 999;
  c.dst_packets = 8;
  c.has = E::kIpProtocol | E::kPorts | E::kTcpFlags | E::kResponderFlags | E::kDuration |
          E::kSrcBytes | E::kDstBytes | E::kPackets;
  ff.add(c, row);
  EXPECT_EQ(row[col("duration")], 3.0f);
  EXPECT_EQ(row[kProtocolType], proto("tcp"));
  EXPECT_EQ(row[kService], svc("ssh"));
  EXPECT_EQ(row[kFlag], flg("SF"));
  EXPECT_EQ(row[col("src_bytes")], 1234.0f);
  EXPECT_EQ(row[col("dst_bytes")], 999.0f);
  EXPECT_EQ(row[col("land")], 0.0f);
  EXPECT_EQ(row[col("count")], 1.0f);
  EXPECT_EQ(row[col("same_srv_rate")], 1.0f);
  EXPECT_EQ(row[col("dst_host_same_src_port_rate")], 1.0f);
  // A UDP connection is SF; a TCP flow whose exporter reported no flags is SF too.
  c.ip_protocol = 17;
  c.dst_port = 53;
  c.has &= static_cast<uint16_t>(~E::kResponderFlags);
  ff.add(c, row);
  EXPECT_EQ(row[kFlag], flg("SF"));
  EXPECT_EQ(row[kService], svc("domain_u"));
  EXPECT_EQ(row[kProtocolType], proto("udp"));
  c.ip_protocol = 6;
  c.tcp_flags = 0;
  ff.add(c, row);
  EXPECT_EQ(row[kFlag], flg("SF"));
  // land: same host and port.
  c.dst = c.src;
  c.dst_port = c.src_port;
  ff.add(c, row);
  EXPECT_EQ(row[col("land")], 1.0f);
  // A line record: label, bytes as they are.
  core::FlowRecord r;
  r.time = 6000;
  r.protocol = protocols.intern("Telnet");
  r.bytes = 77;
  r.src = IpAddr::v4(1);
  r.dst = IpAddr::v4(2);
  ff.add(connection_from_record(r), row);
  EXPECT_EQ(row[kService], svc("telnet"));
  EXPECT_EQ(row[kProtocolType], proto("tcp"));
  EXPECT_EQ(row[col("src_bytes")], 77.0f);
}

TEST(FlowFeatures, SpoofedSourcesCostNoState) {
  // A flood from 1 M random sources to one victim: sources keep no state, so the host table
  // holds the victim alone and nothing is evicted.
  core::ProtocolTable protocols;
  FlowFeaturesConfig cfg;
  FlowFeatures ff(cfg, protocols);
  testdetect::Rng rng(3);
  FeatureRow row;
  ConnectionEvent c;
  c.dst = IpAddr::v4(0xcb007150);
  c.has = E::kIpProtocol | E::kPorts | E::kTcpFlags;
  c.ip_protocol = 6;
  c.dst_port = 80;
  c.tcp_flags = kTcpSyn;
  for (int i = 0; i < 1'000'000; ++i) {
    c.time = 1'000'000 + i / 500;  // 500,000 a second
    c.src = IpAddr::v4(static_cast<uint32_t>(rng.next()));
    c.src_port = static_cast<uint16_t>(rng.next());
    ff.add(c, row);
  }
  EXPECT_EQ(ff.hosts(), 1u);
  EXPECT_EQ(ff.evicted_hosts(), 0u);
  // Pairs: one (victim, http), and the source ports of the last 100 connections.
  EXPECT_LE(ff.pair_counters(), 1u + cfg.host_window);
  // The time window was capped: 1 M connections in 2 s is more than it keeps.
  EXPECT_GT(ff.window_overflow(), 0u);
  EXPECT_EQ(row[col("count")], 511.0f);
  EXPECT_EQ(row[col("serror_rate")], 1.0f);
}

TEST(FlowFeatures, HostTableStaysAtItsCapUnderAFloodOfDestinations) {
  // 1 M connections to distinct (spoofed or swept) destinations: the host table stops at its
  // cap, every host beyond it evicts the least recently seen one (counted), the pair counters
  // stay bounded by the windows, and once warm nothing is allocated per connection.
  core::ProtocolTable protocols;
  FlowFeaturesConfig cfg;
  cfg.max_hosts = 4096;
  cfg.max_window_connections = 1 << 15;
  FlowFeatures ff(cfg, protocols);
  testdetect::Rng rng(4);
  FeatureRow row;
  ConnectionEvent c;
  c.src = IpAddr::v4(0xc6336417);
  c.has = E::kIpProtocol | E::kPorts | E::kTcpFlags;
  c.ip_protocol = 6;
  c.tcp_flags = kTcpSyn;
  uint64_t allocations = 0;
  const int n = 1'000'000;
  for (int i = 0; i < n; ++i) {
    if (i == n / 2) allocations = g_allocations.load();
    c.time = 1'000'000 + i / 100;  // 100,000 a second
    c.dst = IpAddr::v4(0x0a000000u + static_cast<uint32_t>(i));
    c.src_port = static_cast<uint16_t>(rng.next());
    c.dst_port = static_cast<uint16_t>(1 + rng.below(1024));
    ff.add(c, row);
    ASSERT_LE(ff.hosts(), cfg.max_hosts);
  }
  EXPECT_EQ(g_allocations.load() - allocations, 0u) << "allocations in the steady state";
  EXPECT_EQ(ff.hosts(), cfg.max_hosts);
  EXPECT_EQ(ff.evicted_hosts(), static_cast<uint64_t>(n) - cfg.max_hosts);
  EXPECT_LE(ff.pair_counters(), 2 * (cfg.max_window_connections + cfg.host_window));
  EXPECT_EQ(row[col("count")], 1.0f);  // each destination is new
  EXPECT_EQ(row[col("dst_host_count")], 1.0f);
}

TEST(FlowFeatures, MemoryBoundAtTheDefaults) {
  // The worst case for the default limits: every connection to a new destination, a new
  // source port, a million a second. Hosts stop at 65,536, the time window at 2^18
  // connections, the pair counters at what those windows hold.
  core::ProtocolTable protocols;
  FlowFeatures ff(FlowFeaturesConfig{}, protocols);
  testdetect::Rng rng(6);
  FeatureRow row;
  ConnectionEvent c;
  c.src = IpAddr::v4(0xc6336417);
  c.has = E::kIpProtocol | E::kPorts | E::kTcpFlags;
  c.ip_protocol = 6;
  c.tcp_flags = kTcpSyn;
  for (int i = 0; i < 1'500'000; ++i) {
    c.time = 1'000'000 + i / 1000;
    c.dst = IpAddr::v4(0x0a000000u + static_cast<uint32_t>(i));
    c.src_port = static_cast<uint16_t>(rng.next());
    c.dst_port = static_cast<uint16_t>(1 + rng.below(1024));
    ff.add(c, row);
  }
  std::printf("FlowFeatures worst-case memory at the defaults: %.1f MB\n",
              static_cast<double>(ff.memory_bytes()) / 1e6);
  EXPECT_EQ(ff.hosts(), 65536u);
  EXPECT_GT(ff.window_overflow(), 0u);
  EXPECT_LT(ff.memory_bytes(), size_t{40} << 20);
}

TEST(FlowFeatures, Throughput) {
  // Not a pass/fail figure (the machine is shared): prints connections per second for a
  // flow-export stream over 1,000 hosts and for line records.
  Stream s;
  for (FlowInputKind k : {FlowInputKind::kFlowExport, FlowInputKind::kLine}) {
    const auto events = s.make(k, 1'000'000, 11, 1000, 0);
    FlowFeatures ff(FlowFeaturesConfig{}, s.protocols);
    FeatureRow row;
    float sink = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int rep = 0; rep < 3; ++rep)
      for (const auto& c : events) {
        ff.add(c, row);
        sink += row[22];
      }
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("FlowFeatures %s: %.2f M connections/s (%.0f ns each)%s\n",
                std::string(input_kind_name(k)).c_str(), 3.0 * events.size() / sec / 1e6,
                sec * 1e9 / (3.0 * events.size()), sink < 0 ? "!" : "");
    EXPECT_GT(ff.connections(), 0u);
  }
}

}  // namespace
}  // namespace netpulse::detect
