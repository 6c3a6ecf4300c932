// Names a flow's application protocol from its IP protocol and ports, as operators expect from
// a flow collector: the generator's catalog names for their well-known ports (HTTP 80, HTTPS
// 443, DNS 53, SSH 22, ...), otherwise TCP, UDP, ICMP, ICMPv6, GRE, ESP or IP-<n>. Overridable
// from a file (--services FILE). Also answers the reverse question for the exporter: which
// (IP protocol, port) stands for a label. Immutable after construction; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace netpulse::collect {

struct Service {
  uint8_t ip_protocol = 0;  // 6, 17, ...
  uint16_t port = 0;
  std::string name;
};

class ServiceTable {
 public:
  // The built-in table.
  ServiceTable();
  // The built-in table, then the entries of a services file on top (same port: the file wins).
  // File lines: "NAME PORT/PROTO" (PROTO: tcp, udp or sctp), '#' comments, blank
  // lines; /etc/services syntax is accepted (aliases ignored). Returns nullopt with a one-line
  // reason naming the file and line in *why.
  static std::optional<ServiceTable> load(const std::string& path, std::string* why);

  // The label of a flow: the service of the lower well-known port that has one (the server side;
  // destination first on a tie), else the transport name.
  std::string_view name(uint8_t ip_protocol, uint16_t src_port, uint16_t dst_port) const;
  // The (IP protocol, port) for a label, for exporting generated records; nullopt when unknown.
  std::optional<Service> find(std::string_view name) const;

  // The fallback label of an IP protocol: "TCP", "UDP", "ICMP", "ICMPv6", "GRE", "ESP", or "IP-<n>".
  std::string_view transport_name(uint8_t ip_protocol) const;

 private:
  void add(uint8_t ip_protocol, uint16_t port, std::string_view name);
  // Index by (tcp/udp/sctp/other) x port -> label index + 1 (0: none).
  std::vector<uint16_t> tcp_, udp_, sctp_;
  // Which ports have a name, one bit each (8 KiB per transport, stays in L1): most flows have
  // one ephemeral port, whose lookup in the 128 KiB index would miss the cache.
  std::vector<uint64_t> tcp_named_, udp_named_, sctp_named_;
  std::vector<std::string> labels_;
  std::vector<Service> services_;  // for find(), in insertion order
  std::vector<std::string> transport_;  // 256 fallback labels
};

}  // namespace netpulse::collect
