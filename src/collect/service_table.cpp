#include "collect/service_table.hpp"

#include <charconv>
#include <fstream>

namespace netpulse::collect {

namespace {

constexpr uint8_t kTcp = 6, kUdp = 17, kSctp = 132;

// The generator's 19 catalog labels (src/generate/catalog.cpp) at their IANA ports, so that
// `generate --output netflow://` and a collector give back the generated labels. SOAP has no
// well-known port of its own: IANA's soap-http, 7627/tcp. UPnP is SSDP, 1900/udp.
struct Builtin {
  uint8_t proto;
  uint16_t port;
  const char* name;
};
constexpr Builtin kBuiltin[] = {
    {kTcp, 80, "HTTP"},     {kTcp, 443, "HTTPS"},  {kUdp, 443, "HTTPS"},  {kUdp, 53, "DNS"},
    {kTcp, 53, "DNS"},      {kUdp, 67, "DHCP"},    {kUdp, 68, "DHCP"},    {kTcp, 7627, "SOAP"},
    {kUdp, 1900, "UPnP"},   {kTcp, 22, "SSH"},     {kTcp, 21, "FTP"},     {kTcp, 25, "SMTP"},
    {kTcp, 143, "IMAP"},    {kTcp, 110, "POP3"},   {kTcp, 23, "Telnet"},  {kUdp, 161, "SNMP"},
    {kUdp, 162, "SNMP"},    {kUdp, 123, "NTP"},    {kTcp, 389, "LDAP"},   {kTcp, 3389, "RDP"},
    {kTcp, 445, "SMB"},     {kUdp, 5060, "SIP"},   {kTcp, 5060, "SIP"},   {kTcp, 1883, "MQTT"},
    // Common services beyond the catalog, so a real network's top list reads well.
    {kTcp, 8080, "HTTP"},   {kTcp, 993, "IMAPS"},  {kTcp, 995, "POP3S"},  {kTcp, 465, "SMTPS"},
    {kTcp, 587, "SMTP"},    {kTcp, 853, "DoT"},    {kUdp, 514, "Syslog"}, {kTcp, 3306, "MySQL"},
    {kTcp, 5432, "PostgreSQL"}, {kTcp, 6379, "Redis"}, {kTcp, 9092, "Kafka"}, {kUdp, 2055, "NetFlow"},
    {kUdp, 4739, "IPFIX"},  {kUdp, 6343, "sFlow"}, {kTcp, 179, "BGP"},    {kUdp, 500, "IKE"},
    {kUdp, 4500, "IKE"},    {kUdp, 1194, "OpenVPN"}, {kUdp, 51820, "WireGuard"}, {kUdp, 3478, "STUN"},
    {kTcp, 5222, "XMPP"},   {kTcp, 8883, "MQTT"},  {kUdp, 69, "TFTP"},    {kUdp, 137, "NetBIOS"},
    {kUdp, 138, "NetBIOS"}, {kTcp, 139, "NetBIOS"}, {kTcp, 636, "LDAPS"}, {kUdp, 1812, "RADIUS"},
};

bool valid_label(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-'))
      return false;
  return true;
}

}  // namespace

ServiceTable::ServiceTable()
    : tcp_(65536, 0),
      udp_(65536, 0),
      sctp_(65536, 0),
      tcp_named_(1024, 0),
      udp_named_(1024, 0),
      sctp_named_(1024, 0),
      transport_(256) {
  for (int p = 0; p < 256; ++p) transport_[size_t(p)] = "IP-" + std::to_string(p);
  transport_[1] = "ICMP";
  transport_[6] = "TCP";
  transport_[17] = "UDP";
  transport_[47] = "GRE";
  transport_[50] = "ESP";
  transport_[51] = "AH";
  transport_[58] = "ICMPv6";
  transport_[132] = "SCTP";
  for (const Builtin& b : kBuiltin) add(b.proto, b.port, b.name);
}

void ServiceTable::add(uint8_t ip_protocol, uint16_t port, std::string_view name) {
  std::vector<uint16_t>* index = ip_protocol == kTcp    ? &tcp_
                                 : ip_protocol == kUdp  ? &udp_
                                 : ip_protocol == kSctp ? &sctp_
                                                        : nullptr;
  if (!index) return;
  std::vector<uint64_t>& named = ip_protocol == kTcp ? tcp_named_
                                 : ip_protocol == kUdp ? udp_named_
                                                       : sctp_named_;
  named[port >> 6] |= uint64_t{1} << (port & 63);
  uint16_t label = 0;
  for (size_t i = 0; i < labels_.size(); ++i)
    if (labels_[i] == name) label = static_cast<uint16_t>(i + 1);
  if (label == 0) {
    labels_.emplace_back(name);
    label = static_cast<uint16_t>(labels_.size());
  }
  (*index)[port] = label;
  for (Service& s : services_)
    if (s.ip_protocol == ip_protocol && s.port == port) {
      s.name = std::string(name);
      return;
    }
  services_.push_back(Service{ip_protocol, port, std::string(name)});
}

std::optional<ServiceTable> ServiceTable::load(const std::string& path, std::string* why) {
  std::ifstream in(path);
  if (!in) {
    *why = "--services '" + path + "': cannot open";
    return std::nullopt;
  }
  ServiceTable t;
  std::string line;
  for (size_t no = 1; std::getline(in, line); ++no) {
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::string_view s(line);
    auto next_token = [&s]() {
      while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
      size_t n = 0;
      while (n < s.size() && s[n] != ' ' && s[n] != '\t' && s[n] != '\r') ++n;
      std::string_view tok = s.substr(0, n);
      s.remove_prefix(n);
      return tok;
    };
    const std::string_view name = next_token();
    if (name.empty()) continue;
    const std::string_view port_proto = next_token();
    const auto fail = [&](const std::string& what) {
      *why = "--services '" + path + "' line " + std::to_string(no) + ": " + what;
      return std::nullopt;
    };
    if (!valid_label(name))
      return fail("'" + std::string(name) + "' is not a protocol label (1-32 of A-Z a-z 0-9 _ . -)");
    const size_t slash = port_proto.find('/');
    if (slash == std::string_view::npos) return fail("expected NAME PORT/PROTO");
    unsigned port = 0;
    const std::string_view ps = port_proto.substr(0, slash), pr = port_proto.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
    if (ec != std::errc() || ptr != ps.data() + ps.size() || port > 65535)
      return fail("bad port '" + std::string(ps) + "'");
    uint8_t proto = 0;
    if (pr == "tcp") proto = kTcp;
    else if (pr == "udp") proto = kUdp;
    else if (pr == "sctp") proto = kSctp;
    else if (pr == "ddp") continue;  // /etc/services lists AppleTalk entries: not IP
    else return fail("unknown transport '" + std::string(pr) + "' (tcp, udp or sctp)");
    t.add(proto, static_cast<uint16_t>(port), name);
  }
  return t;
}

std::string_view ServiceTable::name(uint8_t ip_protocol, uint16_t src_port, uint16_t dst_port) const {
  const std::vector<uint16_t>* index = ip_protocol == kTcp    ? &tcp_
                                       : ip_protocol == kUdp  ? &udp_
                                       : ip_protocol == kSctp ? &sctp_
                                                              : nullptr;
  if (index) {
    const std::vector<uint64_t>& named = ip_protocol == kTcp ? tcp_named_
                                         : ip_protocol == kUdp ? udp_named_
                                                               : sctp_named_;
    const auto has = [&named](uint16_t port) { return (named[port >> 6] >> (port & 63)) & 1; };
    const uint16_t d = has(dst_port) ? (*index)[dst_port] : 0;
    const uint16_t s = has(src_port) ? (*index)[src_port] : 0;
    // Both ends named (HTTP client on 8080 talking to 80): the lower port is the server's.
    if (d && s) return labels_[(dst_port <= src_port ? d : s) - 1u];
    if (d) return labels_[d - 1u];
    if (s) return labels_[s - 1u];
  }
  return transport_[ip_protocol];
}

std::optional<Service> ServiceTable::find(std::string_view name) const {
  for (const Service& s : services_)
    if (s.name == name) return s;
  return std::nullopt;
}

std::string_view ServiceTable::transport_name(uint8_t ip_protocol) const { return transport_[ip_protocol]; }

}  // namespace netpulse::collect
