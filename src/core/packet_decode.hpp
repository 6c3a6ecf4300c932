// Decodes a captured packet from its link layer down to the transport ports: the addresses,
// IP protocol, ports (ICMP type/code), TCP flags and IP length that a flow record needs, and the
// offsets a deeper inspector (nDPI) needs. Shared by the sFlow decoder (sampled packet headers)
// and packet capture (pcap files and live interfaces). Pure function over caller-owned bytes;
// thread-safe.
//
// Link layers: Ethernet II (and 802.3 LLC/SNAP carrying an EtherType), any stack of VLAN tags
// (0x8100, 0x88a8, 0x9100), MPLS label stacks, PPPoE sessions; Linux cooked (SLL, SLL2); raw IP;
// BSD loopback (DLT_NULL / DLT_LOOP, either byte order). IPv4 with options and fragments; IPv6
// with extension headers (hop-by-hop, routing, fragment, destination options, AH) up to the
// upper-layer protocol, stopping at ESP and no-next-header. Ports from TCP, UDP, UDP-Lite, SCTP
// and DCCP; type and code from ICMP and ICMPv6.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/ip_addr.hpp"

namespace netpulse::core {

// Where a captured packet starts.
enum class LinkType : uint8_t {
  kEthernet,   // DLT_EN10MB; also sFlow header protocol 1 (ethernet-ISO88023)
  kRawIp,      // the IP header first; version from its first nibble (DLT_RAW, LINKTYPE_IPV4/6,
               // sFlow header protocols 11 and 12)
  kLinuxSll,   // DLT_LINUX_SLL: 16-byte Linux cooked header
  kLinuxSll2,  // DLT_LINUX_SLL2: 20-byte Linux cooked header, v2
  kLoopback,   // DLT_NULL / DLT_LOOP: 4-byte address family, host or network byte order
};

// The link type of a pcap / pcapng LINKTYPE_ value (also the common DLT_ aliases), or nullopt
// for one this decoder does not take.
std::optional<LinkType> link_type_from_pcap(uint32_t linktype);

enum class PacketStatus : uint8_t {
  kOk,         // the IP header (with IPv6 extension headers) is complete; see l4_complete
  kTruncated,  // the capture ends inside the link or IP header
  kNotIp,      // neither IPv4 nor IPv6 (ARP, LLDP, ...)
  kBadHeader,  // an IP header that cannot be right (version, header length, total length)
};
const char* describe(PacketStatus s);  // static text

// What a packet says. Fields past the point where decoding stopped keep their defaults; on kOk
// the addresses, protocol and ip_length are always set.
struct PacketInfo {
  IpAddr src;
  IpAddr dst;
  // IP bytes as the header states them: IPv4 total length, IPv6 40 + payload length (+ the
  // jumbo payload option), whatever the capture holds. When the header gives 0 (TCP
  // segmentation offload seen on the sending host; IPv6 jumbogram without the option) it is the
  // IP bytes captured and ip_length_from_header is false.
  uint32_t ip_length = 0;
  // Offsets into the captured bytes: the IP header, the transport header, the transport payload
  // (TCP after its options, UDP after 8 bytes; 0 when not reached or not known). The payload
  // offset can lie past the capture when it ends inside TCP options.
  uint32_t l3_offset = 0;
  uint32_t l4_offset = 0;
  uint32_t payload_offset = 0;
  // IPv4 identification, or the identification of an IPv6 fragment header (0 without one):
  // with the addresses and protocol it names the packet a later fragment belongs to.
  uint32_t ip_id = 0;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;     // ICMP and ICMPv6: type * 256 + code
  uint16_t vlan = 0;         // outermost VLAN ID (0: untagged or priority-tagged)
  uint16_t inner_vlan = 0;   // second VLAN ID of a QinQ stack
  uint8_t ip_version = 0;    // 4 or 6 once the fixed IP header is read, else 0
  uint8_t ip_protocol = 0;   // upper-layer protocol after IPv6 extension headers (50 ESP, 59 none)
  uint8_t tcp_flags = 0;     // TCP header byte 13 (CWR ... FIN)
  uint8_t tos = 0;           // IPv4 TOS / IPv6 traffic class
  uint8_t ttl = 0;           // IPv4 TTL / IPv6 hop limit
  bool is_fragment = false;  // a fragment of a larger IP packet
  bool first_fragment = false;  // the fragment at offset 0 (the only one with ports)
  bool ip_length_from_header = true;
  // The transport header is complete in the capture and inside the IP length, so the ports,
  // type/code or flags are all there. False for later fragments, for protocols without ports,
  // and for captures cut inside the transport header (the ports then read as 0, or as read when
  // the first 4 bytes were captured).
  bool l4_complete = false;
};

// Decodes the caplen bytes at data as a packet of the given link type into out (reset first).
// Never reads outside [data, data + caplen). REQUIRES: data points to caplen readable bytes
// (it may be null when caplen is 0).
PacketStatus decode_packet(LinkType link, const uint8_t* data, size_t caplen, PacketInfo& out);

}  // namespace netpulse::core
