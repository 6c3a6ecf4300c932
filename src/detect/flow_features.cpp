#include "detect/flow_features.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cctype>

namespace netpulse::detect {

namespace {

// Column indexes (nslkdd_schema.cpp's order).
enum Column : size_t {
  kDuration = 0,
  kSrcBytes = 4,
  kDstBytes = 5,
  kLand = 6,
  kCount = 22,
  kSrvCount,
  kSerrorRate,
  kSrvSerrorRate,
  kRerrorRate,
  kSrvRerrorRate,
  kSameSrvRate,
  kDiffSrvRate,
  kSrvDiffHostRate,
  kDstHostCount,
  kDstHostSrvCount,
  kDstHostSameSrvRate,
  kDstHostDiffSrvRate,
  kDstHostSameSrcPortRate,
  kDstHostSrvDiffHostRate,
  kDstHostSerrorRate,
  kDstHostSrvSerrorRate,
  kDstHostRerrorRate,
  kDstHostSrvRerrorRate,
};

int service(std::string_view name) {
  const int i = category_index(kService, name);
  assert(i >= 0);
  return i;
}
int protocol(std::string_view name) {
  return category_index(kProtocolType, name);
}
int flag(std::string_view name) {
  return category_index(kFlag, name);
}

constexpr uint8_t kTcp = 6, kUdp = 17, kIcmp = 1, kIcmp6 = 58;

// KDD's service names at their IANA ports (TCP), then the ports of netpulse's own labels
// (generator catalog, collector service table) mapped as their labels are, so a label and its
// port give the same service.
struct PortName {
  uint16_t port;
  const char* service;
};
constexpr PortName kTcpPorts[] = {
    {7, "echo"},
    {9, "discard"},
    {11, "systat"},
    {13, "daytime"},
    {15, "netstat"},
    {20, "ftp_data"},
    {21, "ftp"},
    {22, "ssh"},
    {23, "telnet"},
    {25, "smtp"},
    {37, "time"},
    {42, "name"},
    {43, "whois"},
    {53, "domain"},
    {57, "mtp"},
    {70, "gopher"},
    {71, "remote_job"},
    {77, "rje"},
    {79, "finger"},
    {80, "http"},
    {84, "ctf"},
    {95, "supdup"},
    {101, "hostnames"},
    {102, "iso_tsap"},
    {105, "csnet_ns"},
    {109, "pop_2"},
    {110, "pop_3"},
    {111, "sunrpc"},
    {113, "auth"},
    {117, "uucp_path"},
    {119, "nntp"},
    {137, "netbios_ns"},
    {138, "netbios_dgm"},
    {139, "netbios_ssn"},
    {143, "imap4"},
    {150, "sql_net"},
    {175, "vmnet"},
    {179, "bgp"},
    {194, "IRC"},
    {210, "Z39_50"},
    {245, "link"},
    {389, "ldap"},
    {433, "nnsp"},
    {443, "http_443"},
    {512, "exec"},
    {513, "login"},
    {514, "shell"},
    {515, "printer"},
    {520, "efs"},
    {530, "courier"},
    {540, "uucp"},
    {543, "klogin"},
    {544, "kshell"},
    {2784, "http_2784"},
    {5190, "aol"},
    {6667, "IRC"},
    {8001, "http_8001"},
    // netpulse's labels: SMB (445) as NetBIOS session service, the TLS variants as the plain
    // protocol, HTTP on 8080, DNS over TLS as TCP DNS.
    {445, "netbios_ssn"},
    {465, "smtp"},
    {587, "smtp"},
    {636, "ldap"},
    {853, "domain"},
    {993, "imap4"},
    {995, "pop_3"},
    {8080, "http"},
};
// KDD names only three UDP services; every other UDP port is private or other.
constexpr PortName kUdpPorts[] = {{53, "domain_u"}, {69, "tftp_u"}, {123, "ntp_u"}};

struct LabelName {
  const char* label;  // upper case
  const char* service;
  const char* protocol;
};
// Labels: netpulse's generator catalog (src/generate/catalog.cpp), the collector's service
// table (src/collect/service_table.cpp) and common nDPI names. A label whose port KDD leaves
// unnamed takes what its port would give (private below 1024, other above).
constexpr LabelName kLabels[] = {
    {"HTTP", "http", "tcp"},
    {"HTTP_PROXY", "http", "tcp"},
    {"HTTP_CONNECT", "http", "tcp"},
    {"HTTPS", "http_443", "tcp"},
    {"TLS", "http_443", "tcp"},
    {"SSL", "http_443", "tcp"},
    {"QUIC", "private", "udp"},
    {"DNS", "domain_u", "udp"},
    {"DOT", "domain", "tcp"},
    {"DHCP", "private", "udp"},
    {"SOAP", "other", "tcp"},
    {"UPNP", "other", "udp"},
    {"SSDP", "other", "udp"},
    {"SSH", "ssh", "tcp"},
    {"FTP", "ftp", "tcp"},
    {"FTP_CONTROL", "ftp", "tcp"},
    {"FTP_DATA", "ftp_data", "tcp"},
    {"SMTP", "smtp", "tcp"},
    {"SMTPS", "smtp", "tcp"},
    {"IMAP", "imap4", "tcp"},
    {"IMAPS", "imap4", "tcp"},
    {"POP3", "pop_3", "tcp"},
    {"POP3S", "pop_3", "tcp"},
    {"POPS", "pop_3", "tcp"},
    {"TELNET", "telnet", "tcp"},
    {"SNMP", "private", "udp"},
    {"NTP", "ntp_u", "udp"},
    {"LDAP", "ldap", "tcp"},
    {"LDAPS", "ldap", "tcp"},
    {"RDP", "other", "tcp"},
    {"SMB", "netbios_ssn", "tcp"},
    {"SMBV1", "netbios_ssn", "tcp"},
    {"SMBV23", "netbios_ssn", "tcp"},
    {"NETBIOS", "private", "udp"},
    {"SIP", "other", "udp"},
    {"MQTT", "other", "tcp"},
    {"TFTP", "tftp_u", "udp"},
    {"BGP", "bgp", "tcp"},
    {"IRC", "IRC", "tcp"},
    {"WHOIS", "whois", "tcp"},
    {"FINGER", "finger", "tcp"},
    {"GOPHER", "gopher", "tcp"},
    {"NNTP", "nntp", "tcp"},
    {"X11", "X11", "tcp"},
    {"SUNRPC", "sunrpc", "tcp"},
    {"RPC", "sunrpc", "tcp"},
    {"SYSLOG", "private", "udp"},
    {"IKE", "private", "udp"},
    {"MYSQL", "other", "tcp"},
    {"POSTGRESQL", "other", "tcp"},
    {"REDIS", "other", "tcp"},
    {"KAFKA", "other", "tcp"},
    {"XMPP", "other", "tcp"},
    {"OPENVPN", "other", "udp"},
    {"WIREGUARD", "other", "udp"},
    {"STUN", "other", "udp"},
    {"RADIUS", "other", "udp"},
    {"NETFLOW", "other", "udp"},
    {"IPFIX", "other", "udp"},
    {"SFLOW", "other", "udp"},
    {"ICMP", "eco_i", "icmp"},
    {"ICMPV6", "eco_i", "icmp"},
    {"TCP", "other", "tcp"},
    {"UDP", "other", "udp"},
};

struct Tables {
  std::vector<int8_t> tcp = std::vector<int8_t>(65536, -1);
  std::vector<int8_t> udp = std::vector<int8_t>(65536, -1);
  int other = service("other"), priv = service("private");
  int eco = service("eco_i"), ecr = service("ecr_i"), urp = service("urp_i"),
      urh = service("urh_i"), red = service("red_i"), tim = service("tim_i");
  int tcp_p = protocol("tcp"), udp_p = protocol("udp"), icmp_p = protocol("icmp");
  int sf = flag("SF"), s0 = flag("S0"), s1 = flag("S1"), s2 = flag("S2"), s3 = flag("S3"),
      sh = flag("SH"), rej = flag("REJ"), rsto = flag("RSTO"), rstos0 = flag("RSTOS0"),
      rstr = flag("RSTR"), oth = flag("OTH");
  Tables() {
    for (const PortName& p : kTcpPorts) tcp[p.port] = static_cast<int8_t>(service(p.service));
    for (int port = 6000; port <= 6063; ++port)
      tcp[size_t(port)] = static_cast<int8_t>(service("X11"));
    for (const PortName& p : kUdpPorts) udp[p.port] = static_cast<int8_t>(service(p.service));
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

bool iequal(std::string_view a, const char* upper) {
  size_t i = 0;
  for (; i < a.size(); ++i) {
    if (upper[i] == 0) return false;
    if (std::toupper(static_cast<unsigned char>(a[i])) != upper[i]) return false;
  }
  return upper[i] == 0;
}

const LabelName* find_label(std::string_view label) {
  const size_t dot = label.find('.');
  if (dot != std::string_view::npos && dot > 0) label = label.substr(0, dot);
  for (const LabelName& l : kLabels)
    if (iequal(label, l.label)) return &l;
  return nullptr;
}

// Mask bits of the features each input kind computes.
constexpr FeatureMask bit(size_t i) {
  return FeatureMask{1} << i;
}
constexpr FeatureMask kLineMask = bit(kProtocolType) | bit(kService) | bit(kSrcBytes) | bit(kLand) |
                                  bit(kCount) | bit(kSrvCount) | bit(kSameSrvRate) |
                                  bit(kDiffSrvRate) | bit(kSrvDiffHostRate) | bit(kDstHostCount) |
                                  bit(kDstHostSrvCount) | bit(kDstHostSameSrvRate) |
                                  bit(kDstHostDiffSrvRate) | bit(kDstHostSrvDiffHostRate);
constexpr FeatureMask kExportMask = kLineMask | bit(kDuration) | bit(kFlag) | bit(kSerrorRate) |
                                    bit(kSrvSerrorRate) | bit(kRerrorRate) | bit(kSrvRerrorRate) |
                                    bit(kDstHostSameSrcPortRate) | bit(kDstHostSerrorRate) |
                                    bit(kDstHostSrvSerrorRate) | bit(kDstHostRerrorRate) |
                                    bit(kDstHostSrvRerrorRate);
constexpr FeatureMask kCaptureMask = kExportMask | bit(kDstBytes);

struct Origin {
  size_t feature;
  std::string_view line, flow_export, capture;
};
constexpr std::string_view kFlagsText = "TCP flags (see kdd_flag)";
constexpr Origin kOrigins[] = {
    {kDuration, "", "flow end - start, whole seconds", "first to last packet, whole seconds"},
    {kProtocolType, "implied by the protocol label", "IP protocol", "IP protocol"},
    {kService, "protocol label", "IP protocol and destination port (ICMP: type, code)",
     "IP protocol and destination port (ICMP: type, code)"},
    {kFlag, "", "originator's TCP flags (no REJ/RSTR: needs the reply)",
     "TCP flags of both directions"},
    {kSrcBytes, "record bytes", "bytes minus packets x IP+transport header",
     "originator's bytes minus headers"},
    {kDstBytes, "", "", "responder's bytes minus headers"},
    {kLand, "src == dst", "src == dst and src port == dst port",
     "src == dst and src port == dst port"},
    {kCount, "2 s window by dst", "2 s window by dst", "2 s window by dst"},
    {kSrvCount, "2 s window by service", "2 s window by service", "2 s window by service"},
    {kSerrorRate, "", kFlagsText, kFlagsText},
    {kSrvSerrorRate, "", kFlagsText, kFlagsText},
    {kRerrorRate, "", kFlagsText, kFlagsText},
    {kSrvRerrorRate, "", kFlagsText, kFlagsText},
    {kSameSrvRate, "2 s window", "2 s window", "2 s window"},
    {kDiffSrvRate, "2 s window", "2 s window", "2 s window"},
    {kSrvDiffHostRate, "2 s window", "2 s window", "2 s window"},
    {kDstHostCount, "host window (last 100 connections)", "host window (last 100 connections)",
     "host window (last 100 connections)"},
    {kDstHostSrvCount, "host window (last 100 connections)", "host window (last 100 connections)",
     "host window (last 100 connections)"},
    {kDstHostSameSrvRate, "host window (last 100 connections)",
     "host window (last 100 connections)", "host window (last 100 connections)"},
    {kDstHostDiffSrvRate, "host window (last 100 connections)",
     "host window (last 100 connections)", "host window (last 100 connections)"},
    {kDstHostSameSrcPortRate, "", "host window, source ports", "host window, source ports"},
    {kDstHostSrvDiffHostRate, "host window (last 100 connections)",
     "host window (last 100 connections)", "host window (last 100 connections)"},
    {kDstHostSerrorRate, "", kFlagsText, kFlagsText},
    {kDstHostSrvSerrorRate, "", kFlagsText, kFlagsText},
    {kDstHostRerrorRate, "", kFlagsText, kFlagsText},
    {kDstHostSrvRerrorRate, "", kFlagsText, kFlagsText},
};

uint64_t addr_hash(const core::IpAddr& a) {
  uint64_t h = a.bits.lo * 0x9E3779B97F4A7C15ULL ^
               (a.bits.hi + static_cast<uint64_t>(a.is_v6)) * 0xC2B2AE3D27D4EB4FULL;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 32);
}

// Payload bytes: the IP bytes less one IP and transport header per packet (TCP without
// options), as KDD's src_bytes and dst_bytes count data bytes.
uint64_t payload(uint64_t bytes, uint64_t packets, bool known_packets, bool v6, int ip_protocol) {
  if (!known_packets) return bytes;
  uint64_t header = v6 ? 40 : 20;
  if (ip_protocol == kTcp)
    header += 20;
  else if (ip_protocol == kUdp || ip_protocol == kIcmp || ip_protocol == kIcmp6)
    header += 8;
  const uint64_t h = packets * header;
  return bytes > h ? bytes - h : 0;
}

}  // namespace

std::string_view input_kind_name(FlowInputKind k) {
  switch (k) {
    case FlowInputKind::kLine:
      return "line";
    case FlowInputKind::kFlowExport:
      return "flow_export";
    case FlowInputKind::kCapture:
      return "capture";
  }
  return "?";
}

FeatureMask flow_feature_mask(FlowInputKind k) {
  switch (k) {
    case FlowInputKind::kLine:
      return kLineMask;
    case FlowInputKind::kFlowExport:
      return kExportMask;
    case FlowInputKind::kCapture:
      return kCaptureMask;
  }
  return 0;
}

std::string_view feature_origin(size_t feature, FlowInputKind k) {
  if (!((flow_feature_mask(k) >> feature) & 1)) return {};
  for (const Origin& o : kOrigins)
    if (o.feature == feature)
      return k == FlowInputKind::kLine         ? o.line
             : k == FlowInputKind::kFlowExport ? o.flow_export
                                               : o.capture;
  return {};
}

const FeatureRow& neutral_row() {
  static const FeatureRow row = [] {
    FeatureRow r{};
    r[kProtocolType] = static_cast<float>(tables().tcp_p);
    r[kService] = static_cast<float>(tables().other);
    r[kFlag] = static_cast<float>(tables().sf);
    return r;
  }();
  return row;
}

ConnectionEvent connection_from_record(const core::FlowRecord& r) {
  ConnectionEvent c;
  c.time = r.time;
  c.src = r.src;
  c.dst = r.dst;
  c.label = r.protocol;
  c.src_bytes = r.bytes;
  c.has = ConnectionEvent::kLabel | ConnectionEvent::kSrcBytes;
  return c;
}

int kdd_service_for_port(uint8_t ip_protocol, uint16_t dst_port) {
  const Tables& t = tables();
  if (ip_protocol == kIcmp || ip_protocol == kIcmp6) {
    const unsigned type = dst_port >> 8, code = dst_port & 0xff;
    if (ip_protocol == kIcmp) {
      switch (type) {
        case 8:
          return t.eco;
        case 0:
          return t.ecr;
        case 3:
          return code == 1 ? t.urh : t.urp;
        case 5:
          return t.red;
        case 13:
        case 14:
          return t.tim;
        default:
          return t.other;
      }
    }
    switch (type) {
      case 128:
        return t.eco;
      case 129:
        return t.ecr;
      case 1:
        return code == 3 ? t.urh : t.urp;
      case 137:
        return t.red;
      default:
        return t.other;
    }
  }
  const std::vector<int8_t>* table = ip_protocol == kTcp   ? &t.tcp
                                     : ip_protocol == kUdp ? &t.udp
                                                           : nullptr;
  if (table && (*table)[dst_port] >= 0) return (*table)[dst_port];
  return dst_port < 1024 && table ? t.priv : t.other;
}

int kdd_service_for_label(std::string_view label) {
  const LabelName* l = find_label(label);
  return l ? service(l->service) : tables().other;
}

int kdd_protocol_for_label(std::string_view label) {
  const LabelName* l = find_label(label);
  return l ? protocol(l->protocol) : tables().tcp_p;
}

int kdd_protocol_for_ip(uint8_t ip_protocol) {
  const Tables& t = tables();
  return ip_protocol == kTcp                             ? t.tcp_p
         : ip_protocol == kIcmp || ip_protocol == kIcmp6 ? t.icmp_p
                                                         : t.udp_p;
}

int kdd_flag(uint8_t o, bool has_responder, uint8_t r) {
  const Tables& t = tables();
  if (!(o & kTcpSyn)) return t.oth;
  if (!has_responder) {
    if (!(o & kTcpAck)) return (o & kTcpRst) ? t.rstos0 : (o & kTcpFin) ? t.sh : t.s0;
    return (o & kTcpRst) ? t.rsto : (o & kTcpFin) ? t.sf : t.s1;
  }
  if (r == 0) return (o & kTcpRst) ? t.rstos0 : (o & kTcpFin) ? t.sh : t.s0;
  if (!(r & kTcpSyn)) return (r & kTcpRst) ? t.rej : t.oth;
  if (o & kTcpRst) return t.rsto;
  if (r & kTcpRst) return t.rstr;
  if ((o & kTcpFin) && (r & kTcpFin)) return t.sf;
  if (o & kTcpFin) return t.s2;
  if (r & kTcpFin) return t.s3;
  return t.s1;
}

bool is_syn_error_flag(int f) {
  const Tables& t = tables();
  return f == t.s0 || f == t.s1 || f == t.s2 || f == t.s3 || f == t.sh;
}
bool is_rej_error_flag(int f) {
  const Tables& t = tables();
  return f == t.rej || f == t.rsto || f == t.rstos0 || f == t.rstr;
}

// --- FlowFeatures::PairTable ---

FlowFeatures::PairTable::PairTable() {
  entries_.assign(1024, Entry{0, 0, kEmpty, 0, 0});
}

size_t FlowFeatures::PairTable::live() const {
  size_t n = 0;
  for (const Entry& e : entries_) n += e.sub != kEmpty && (e.n2 | e.nw) != 0;
  return n;
}

void FlowFeatures::PairTable::rebuild() {
  // Live entries fill at most 3/4 after a rebuild, so the next one is at least 1/8 of the
  // slots of inserts away.
  size_t size = entries_.size();
  const size_t n = live();
  while (size * 3 < n * 4 + 8) size *= 2;
  if (spare_.size() != size)
    spare_.assign(size, Entry{0, 0, kEmpty, 0, 0});
  else
    std::fill(spare_.begin(), spare_.end(), Entry{0, 0, kEmpty, 0, 0});
  const size_t mask = size - 1;
  used_ = 0;
  for (const Entry& e : entries_) {
    if (e.sub == kEmpty || (e.n2 | e.nw) == 0) continue;
    size_t i = hash(e.slot, e.gen, e.sub) & mask;
    while (spare_[i].sub != kEmpty) i = (i + 1) & mask;
    spare_[i] = e;
    ++used_;
  }
  entries_.swap(spare_);
  if (spare_.size() != entries_.size()) spare_.clear();  // grown: the old size is no use
}

// --- FlowFeatures ---

FlowFeatures::FlowFeatures(const FlowFeaturesConfig& config, const core::ProtocolTable& protocols)
    : config_(config), protocols_(protocols) {
  assert(config.window_ms >= 1 && config.host_window >= 1 &&
         config.host_window < config.max_window_connections && config.max_hosts >= 1);
  size_t index = 16;
  while (index < 2 * config.max_hosts) index *= 2;
  index_.assign(index, 0);
  const size_t services = feature_info(kService).vocabulary.size();
  service2_.assign(services, {});
  servicew_.assign(services, {});
  size_t ring = 1024;
  while (ring < config.host_window + 1) ring *= 2;
  ring_.resize(ring);
}

size_t FlowFeatures::memory_bytes() const {
  return hosts_.capacity() * sizeof(Host) + index_.capacity() * sizeof(uint32_t) +
         ring_.capacity() * sizeof(Conn) + pairs_.capacity() * sizeof(PairTable::Entry) * 2 +
         (service2_.capacity() + servicew_.capacity()) * sizeof(ServiceCount) +
         labels_.capacity() * sizeof(LabelInfo);
}

const FlowFeatures::LabelInfo& FlowFeatures::label_info(uint32_t label) {
  if (label >= labels_.size()) labels_.resize(size_t{label} + 1);
  LabelInfo& l = labels_[label];
  if (l.service < 0) {
    const std::string_view name = protocols_.name(label);
    l.service = static_cast<int8_t>(kdd_service_for_label(name));
    l.protocol = static_cast<int8_t>(kdd_protocol_for_label(name));
  }
  return l;
}

void FlowFeatures::unlink(uint32_t slot) {
  Host& h = hosts_[slot];
  if (h.older != kNone)
    hosts_[h.older].newer = h.newer;
  else
    oldest_host_ = h.newer;
  if (h.newer != kNone)
    hosts_[h.newer].older = h.older;
  else
    newest_host_ = h.older;
  h.older = h.newer = kNone;
}

void FlowFeatures::touch(uint32_t slot) {
  if (slot == newest_host_) return;
  unlink(slot);
  Host& h = hosts_[slot];
  h.older = newest_host_;
  if (newest_host_ != kNone) hosts_[newest_host_].newer = slot;
  newest_host_ = slot;
  if (oldest_host_ == kNone) oldest_host_ = slot;
}

void FlowFeatures::erase_from_index(uint32_t slot) {
  const size_t mask = index_.size() - 1;
  size_t i = hosts_[slot].hash & mask;
  while (index_[i] != slot + 1) i = (i + 1) & mask;
  // Backward shift, as FlatMap::erase: later members of the probe run move into the hole
  // when their home slot allows.
  for (size_t j = (i + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
    const size_t home = hosts_[index_[j] - 1].hash & mask;
    const bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i] = 0;
}

uint32_t FlowFeatures::find_or_add_host(const core::IpAddr& a) {
  const uint32_t hash = static_cast<uint32_t>(addr_hash(a));
  const size_t mask = index_.size() - 1;
  for (size_t i = hash & mask; index_[i] != 0; i = (i + 1) & mask) {
    const uint32_t slot = index_[i] - 1;
    if (hosts_[slot].hash == hash && hosts_[slot].addr == a) {
      touch(slot);
      return slot;
    }
  }
  uint32_t slot;
  if (host_count_ < config_.max_hosts) {
    slot = static_cast<uint32_t>(hosts_.size());
    hosts_.emplace_back();
    ++host_count_;
  } else {
    // The least recently seen host gives its slot up; its connections still in the windows
    // carry the old generation and no longer count for the slot.
    slot = oldest_host_;
    erase_from_index(slot);
    unlink(slot);
    const uint32_t gen = hosts_[slot].gen + 1;
    hosts_[slot] = Host{};
    hosts_[slot].gen = gen;
    ++evicted_;
  }
  Host& h = hosts_[slot];
  h.addr = a;
  h.hash = hash;
  size_t i = hash & mask;
  while (index_[i] != 0) i = (i + 1) & mask;
  index_[i] = slot + 1;
  touch(slot);
  return slot;
}

void FlowFeatures::leave_time_window(const Conn& c) {
  Host& h = hosts_[c.slot];
  const uint32_t serror = c.bits & kSerror, rerror = (c.bits & kRerror) >> 1;
  if (h.gen == c.gen) {
    --h.n2;
    h.serror2 -= serror;
    h.rerror2 -= rerror;
  }
  --pairs_.find(c.slot, c.gen, c.service).n2;
  ServiceCount& s = service2_[c.service];
  --s.n;
  s.serror -= serror;
  s.rerror -= rerror;
}

void FlowFeatures::leave_host_window(const Conn& c) {
  Host& h = hosts_[c.slot];
  const uint32_t serror = c.bits & kSerror, rerror = (c.bits & kRerror) >> 1;
  if (h.gen == c.gen) {
    --h.nw;
    h.serrorw -= serror;
    h.rerrorw -= rerror;
  }
  --pairs_.find(c.slot, c.gen, c.service).nw;
  if (c.bits & kHasPort) --pairs_.find(c.slot, c.gen, kPortPair | c.src_port).nw;
  ServiceCount& s = servicew_[c.service];
  --s.n;
  s.serror -= serror;
  s.rerror -= rerror;
}

void FlowFeatures::add(const ConnectionEvent& c, FeatureRow& row) {
  using E = ConnectionEvent;
  const Tables& t = tables();
  ++connections_;
  core::TimeMs now = c.time;
  if (now < newest_time_) {
    ++late_;
    now = newest_time_;
  } else {
    newest_time_ = now;
  }

  // The windows as they are just before c: the time window keeps (now - window, now], the
  // host window the last host_window - 1 connections (c makes it full).
  while (time_tail_ < head_ && at(time_tail_).time <= now - config_.window_ms)
    leave_time_window(at(time_tail_++));
  if (head_ - time_tail_ >= config_.max_window_connections) {
    leave_time_window(at(time_tail_++));
    ++overflow_;
  }
  if (head_ - host_tail_ >= config_.host_window) leave_host_window(at(host_tail_++));

  // What c is.
  const bool has_ports = (c.has & E::kPorts) && (c.has & E::kIpProtocol);
  int svc, proto;
  if (has_ports) {
    svc = kdd_service_for_port(c.ip_protocol, c.dst_port);
  } else if (c.has & E::kLabel) {
    svc = label_info(c.label).service;
  } else {
    svc = t.other;
  }
  if (c.has & E::kIpProtocol)
    proto = kdd_protocol_for_ip(c.ip_protocol);
  else if (c.has & E::kLabel)
    proto = label_info(c.label).protocol;
  else
    proto = t.tcp_p;
  int flg = t.sf;
  if (proto == t.tcp_p && (c.has & E::kTcpFlags)) {
    if (c.has & E::kResponderFlags)
      flg = kdd_flag(c.tcp_flags, true, c.responder_flags);
    else if (c.tcp_flags != 0)
      flg = kdd_flag(c.tcp_flags, false, 0);
  }
  const uint32_t serror = is_syn_error_flag(flg), rerror = is_rej_error_flag(flg);
  const uint8_t bits = static_cast<uint8_t>(serror | rerror << 1 | (has_ports ? kHasPort : 0));

  row = neutral_row();
  if (c.has & E::kDuration)
    row[kDuration] = static_cast<float>(std::max<int64_t>(0, c.duration_ms) / 1000);
  row[kProtocolType] = static_cast<float>(proto);
  row[kService] = static_cast<float>(svc);
  row[kFlag] = static_cast<float>(flg);
  const int ipp = (c.has & E::kIpProtocol) ? c.ip_protocol : -1;
  if (c.has & E::kSrcBytes)
    row[kSrcBytes] = static_cast<float>(
        payload(c.src_bytes, c.src_packets, c.has & E::kPackets, c.dst.is_v6, ipp));
  if (c.has & E::kDstBytes)
    row[kDstBytes] = static_cast<float>(
        payload(c.dst_bytes, c.dst_packets, c.has & E::kPackets, c.dst.is_v6, ipp));
  row[kLand] = c.src == c.dst && (!has_ports || c.src_port == c.dst_port) ? 1.0f : 0.0f;

  const uint32_t slot = find_or_add_host(c.dst);
  Host& h = hosts_[slot];
  const ServiceCount& s2 = service2_[size_t(svc)];
  const ServiceCount& sw = servicew_[size_t(svc)];
  PairTable::Entry& pair = pairs_.at(slot, h.gen, static_cast<uint32_t>(svc));

  // Time window, c included.
  const uint32_t count = h.n2 + 1, srv = s2.n + 1, same = pair.n2 + 1;
  row[kCount] = static_cast<float>(std::min(count, kMaxCount2s));
  row[kSrvCount] = static_cast<float>(std::min(srv, kMaxCount2s));
  row[kSerrorRate] = kdd_rate(h.serror2 + serror, count);
  row[kSrvSerrorRate] = kdd_rate(s2.serror + serror, srv);
  row[kRerrorRate] = kdd_rate(h.rerror2 + rerror, count);
  row[kSrvRerrorRate] = kdd_rate(s2.rerror + rerror, srv);
  row[kSameSrvRate] = kdd_rate(same, count);
  row[kDiffSrvRate] = kdd_rate(count - same, count);
  row[kSrvDiffHostRate] = kdd_rate(srv - same, srv);
  // Host window, c included.
  const uint32_t hc = h.nw + 1, hs = sw.n + 1, hsame = pair.nw + 1;
  row[kDstHostCount] = static_cast<float>(std::min(hc, kMaxHostCount));
  row[kDstHostSrvCount] = static_cast<float>(std::min(hs, kMaxHostCount));
  row[kDstHostSameSrvRate] = kdd_rate(hsame, hc);
  row[kDstHostDiffSrvRate] = kdd_rate(hc - hsame, hc);
  row[kDstHostSrvDiffHostRate] = kdd_rate(hs - hsame, hs);
  row[kDstHostSerrorRate] = kdd_rate(h.serrorw + serror, hc);
  row[kDstHostSrvSerrorRate] = kdd_rate(sw.serror + serror, hs);
  row[kDstHostRerrorRate] = kdd_rate(h.rerrorw + rerror, hc);
  row[kDstHostSrvRerrorRate] = kdd_rate(sw.rerror + rerror, hs);

  // c joins both windows.
  ++pair.n2;
  ++pair.nw;
  if (has_ports) {
    PairTable::Entry& port = pairs_.at(slot, h.gen, kPortPair | c.src_port);
    row[kDstHostSameSrcPortRate] = kdd_rate(port.nw + 1, hc);
    ++port.nw;
  }
  h.n2 += 1;
  h.serror2 += serror;
  h.rerror2 += rerror;
  h.nw += 1;
  h.serrorw += serror;
  h.rerrorw += rerror;
  for (ServiceCount* s : {&service2_[size_t(svc)], &servicew_[size_t(svc)]}) {
    s->n += 1;
    s->serror += serror;
    s->rerror += rerror;
  }
  const uint64_t oldest = std::min(time_tail_, host_tail_);
  if (head_ - oldest + 1 > ring_.size()) {
    std::vector<Conn> bigger(ring_.size() * 2);
    for (uint64_t i = oldest; i < head_; ++i) bigger[i & (bigger.size() - 1)] = at(i);
    ring_.swap(bigger);
  }
  at(head_++) = Conn{now, slot, h.gen, c.src_port, static_cast<uint8_t>(svc), bits};
}

}  // namespace netpulse::detect
