#include "core/packet_decode.hpp"

namespace netpulse::core {

namespace {

// Big-endian loads by bytes: compilers fold them into one load and a byte swap, with no
// alignment or aliasing assumption.
inline uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}
inline uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
inline uint64_t be64(const uint8_t* p) {
  return uint64_t{be32(p)} << 32 | be32(p + 4);
}

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr uint16_t kEtherVlan = 0x8100;
constexpr uint16_t kEtherQinQ = 0x88a8;
constexpr uint16_t kEtherQinQOld = 0x9100;
constexpr uint16_t kEtherMpls = 0x8847;
constexpr uint16_t kEtherMplsMulticast = 0x8848;
constexpr uint16_t kEtherPppoeSession = 0x8864;

constexpr uint8_t kProtoHopByHop = 0;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoDccp = 33;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoIcmpv6 = 58;
constexpr uint8_t kProtoDestOptions = 60;
constexpr uint8_t kProtoSctp = 132;
constexpr uint8_t kProtoUdpLite = 136;

// The transport header at p, of which avail bytes are both captured and inside the IP length.
void decode_l4(const uint8_t* p, size_t avail, uint32_t l4_offset, PacketInfo& out) {
  switch (out.ip_protocol) {
    case kProtoTcp:
      if (avail >= 4) {
        out.src_port = be16(p);
        out.dst_port = be16(p + 2);
      }
      if (avail >= 14) out.tcp_flags = p[13];
      if (avail >= 20) {
        out.l4_complete = true;
        const uint32_t header = static_cast<uint32_t>(p[12] >> 4) * 4;
        // A data offset below 5 words is broken: leave the payload unknown.
        if (header >= 20) out.payload_offset = l4_offset + header;
      }
      break;
    case kProtoUdp:
    case kProtoUdpLite:
      if (avail >= 4) {
        out.src_port = be16(p);
        out.dst_port = be16(p + 2);
      }
      if (avail >= 8) {
        out.l4_complete = true;
        out.payload_offset = l4_offset + 8;
      }
      break;
    case kProtoSctp:
    case kProtoDccp:
      if (avail >= 4) {
        out.src_port = be16(p);
        out.dst_port = be16(p + 2);
      }
      out.l4_complete = avail >= 12;
      break;
    case kProtoIcmp:
    case kProtoIcmpv6:
      // Type and code ride in the destination port, as NetFlow v5 and most collectors carry it.
      if (avail >= 2) out.dst_port = static_cast<uint16_t>(p[0] << 8 | p[1]);
      out.l4_complete = avail >= 4;
      break;
    default:
      break;
  }
}

// Bounds of the IP packet in the capture: `cap` where the captured bytes end, `ip` where the IP
// length says the packet ends (often before cap: Ethernet pads short frames).
struct IpEnd {
  size_t cap;
  size_t ip;
  size_t limit() const { return cap < ip ? cap : ip; }
};

PacketStatus decode_ipv4(const uint8_t* data, size_t caplen, size_t off, PacketInfo& out) {
  if (caplen - off < 20) return PacketStatus::kTruncated;
  const uint8_t* p = data + off;
  if (p[0] >> 4 != 4) return PacketStatus::kBadHeader;
  const size_t header = size_t{p[0] & 0x0fu} * 4;
  if (header < 20) return PacketStatus::kBadHeader;
  const uint16_t total = be16(p + 2);
  out.ip_version = 4;
  out.tos = p[1];
  out.ttl = p[8];
  out.ip_protocol = p[9];
  out.ip_id = be16(p + 4);
  out.src = IpAddr::v4(be32(p + 12));
  out.dst = IpAddr::v4(be32(p + 16));
  out.l3_offset = static_cast<uint32_t>(off);
  if (total == 0) {
    // Segmentation offload: the sending host captured a segment before the NIC split it.
    out.ip_length = static_cast<uint32_t>(caplen - off);
    out.ip_length_from_header = false;
  } else if (total < header) {
    return PacketStatus::kBadHeader;
  } else {
    out.ip_length = total;
  }
  if (caplen - off < header) return PacketStatus::kTruncated;  // options cut

  const uint16_t frag = be16(p + 6);
  const uint16_t frag_offset = frag & 0x1fff;
  const bool more_fragments = (frag & 0x2000) != 0;
  out.is_fragment = more_fragments || frag_offset != 0;
  out.first_fragment = out.is_fragment && frag_offset == 0;
  out.l4_offset = static_cast<uint32_t>(off + header);
  if (frag_offset != 0) return PacketStatus::kOk;  // later fragments carry no transport header

  const IpEnd end{caplen, off + out.ip_length};
  const size_t l4 = off + header;
  const size_t avail = end.limit() > l4 ? end.limit() - l4 : 0;
  decode_l4(data + l4, avail, static_cast<uint32_t>(l4), out);
  return PacketStatus::kOk;
}

// The jumbo payload option (RFC 2675) in a hop-by-hop header's options [p, end).
uint32_t find_jumbo_length(const uint8_t* p, const uint8_t* end) {
  while (p < end) {
    if (p[0] == 0) {  // Pad1: a single byte
      ++p;
      continue;
    }
    if (end - p < 2) break;
    const size_t len = size_t{p[1]} + 2;
    if (static_cast<size_t>(end - p) < len) break;
    if (p[0] == 0xc2 && p[1] == 4) return be32(p + 2);
    p += len;
  }
  return 0;
}

PacketStatus decode_ipv6(const uint8_t* data, size_t caplen, size_t off, PacketInfo& out) {
  if (caplen - off < 40) return PacketStatus::kTruncated;
  const uint8_t* p = data + off;
  const uint32_t first = be32(p);
  if (first >> 28 != 6) return PacketStatus::kBadHeader;
  const uint16_t payload = be16(p + 4);
  uint8_t next = p[6];
  out.ip_version = 6;
  out.tos = static_cast<uint8_t>(first >> 20);
  out.ttl = p[7];
  out.src = IpAddr::v6(Ip6{be64(p + 8), be64(p + 16)});
  out.dst = IpAddr::v6(Ip6{be64(p + 24), be64(p + 32)});
  out.l3_offset = static_cast<uint32_t>(off);
  out.ip_protocol = next;
  if (payload != 0) {
    out.ip_length = 40u + payload;
  } else {
    // A jumbogram states its length in the hop-by-hop header (looked up below); offload
    // captures state none: the bytes captured are the best there is.
    out.ip_length = static_cast<uint32_t>(caplen - off);
    out.ip_length_from_header = false;
  }

  size_t pos = off + 40;
  bool first_header = true;
  while (true) {
    const IpEnd end{caplen, out.ip_length_from_header ? off + out.ip_length : caplen};
    size_t len;
    switch (next) {
      case kProtoHopByHop:
      case kProtoRouting:
      case kProtoDestOptions:
      case kProtoAh:
      case kProtoFragment:
        break;
      default: {
        // The upper-layer protocol (or ESP / no next header, whose contents are opaque).
        out.ip_protocol = next;
        out.l4_offset = static_cast<uint32_t>(pos);
        const size_t avail = end.limit() > pos ? end.limit() - pos : 0;
        decode_l4(data + pos, avail, static_cast<uint32_t>(pos), out);
        return PacketStatus::kOk;
      }
    }
    out.ip_protocol = next;
    const size_t need = next == kProtoFragment ? 8 : 2;
    if (pos + need > end.ip) return PacketStatus::kBadHeader;
    if (pos + need > end.cap) return PacketStatus::kTruncated;
    const uint8_t* h = data + pos;
    if (next == kProtoFragment) {
      len = 8;
    } else if (next == kProtoAh) {
      len = (size_t{h[1]} + 2) * 4;
    } else {
      len = (size_t{h[1]} + 1) * 8;
    }
    if (pos + len > end.ip) return PacketStatus::kBadHeader;
    if (pos + len > end.cap) return PacketStatus::kTruncated;
    if (next == kProtoHopByHop && first_header && payload == 0) {
      const uint32_t jumbo = find_jumbo_length(h + 2, h + len);
      if (jumbo != 0) {
        out.ip_length = 40 + jumbo;
        out.ip_length_from_header = true;
      }
    }
    if (next == kProtoFragment) {
      // An atomic fragment (offset 0, M clear; RFC 6946) still counts as the first fragment.
      const uint16_t frag_offset = be16(h + 2) >> 3;
      out.is_fragment = true;
      out.first_fragment = frag_offset == 0;
      out.ip_id = be32(h + 4);
      if (frag_offset != 0) {
        // What follows is the middle of the original payload, not a header.
        out.ip_protocol = h[0];
        out.l4_offset = static_cast<uint32_t>(pos + len);
        return PacketStatus::kOk;
      }
    }
    next = h[0];
    pos += len;
    first_header = false;
  }
}

// Dispatches on an EtherType at data[off - 2 .. off), after any link header.
PacketStatus decode_ether_type(uint16_t type, const uint8_t* data, size_t caplen, size_t off,
                               PacketInfo& out) {
  // Each pass consumes at least 4 bytes, so the loop ends with the capture.
  int tags = 0;
  while (true) {
    switch (type) {
      case kEtherIpv4:
        return decode_ipv4(data, caplen, off, out);
      case kEtherIpv6:
        return decode_ipv6(data, caplen, off, out);
      case kEtherVlan:
      case kEtherQinQ:
      case kEtherQinQOld: {
        if (caplen - off < 4) return PacketStatus::kTruncated;
        const uint16_t id = be16(data + off) & 0x0fff;
        if (tags == 0) out.vlan = id;
        if (tags == 1) out.inner_vlan = id;
        ++tags;
        type = be16(data + off + 2);
        off += 4;
        break;
      }
      case kEtherMpls:
      case kEtherMplsMulticast: {
        // Labels to the bottom of the stack, then guess the payload by its first nibble, as
        // routers do for IP over MPLS (a pseudowire's Ethernet is not followed).
        while (true) {
          if (caplen - off < 4) return PacketStatus::kTruncated;
          const bool bottom = (data[off + 2] & 1) != 0;
          off += 4;
          if (bottom) break;
        }
        if (caplen - off < 1) return PacketStatus::kTruncated;
        const int version = data[off] >> 4;
        if (version == 4) return decode_ipv4(data, caplen, off, out);
        if (version == 6) return decode_ipv6(data, caplen, off, out);
        return PacketStatus::kNotIp;
      }
      case kEtherPppoeSession: {
        if (caplen - off < 8) return PacketStatus::kTruncated;
        const uint16_t ppp = be16(data + off + 6);
        off += 8;
        if (ppp == 0x0021) return decode_ipv4(data, caplen, off, out);
        if (ppp == 0x0057) return decode_ipv6(data, caplen, off, out);
        return PacketStatus::kNotIp;
      }
      default:
        if (type <= 1500) {
          // 802.3 length: only LLC/SNAP (AA AA 03, OUI 00 00 00) carries an EtherType on.
          if (caplen - off < 8) return PacketStatus::kTruncated;
          const uint8_t* s = data + off;
          if (s[0] != 0xaa || s[1] != 0xaa || s[2] != 0x03 || s[3] != 0 || s[4] != 0 || s[5] != 0) {
            return PacketStatus::kNotIp;
          }
          type = be16(s + 6);
          off += 8;
          if (type <= 1500) return PacketStatus::kNotIp;  // no second LLC inside
          break;
        }
        return PacketStatus::kNotIp;
    }
  }
}

PacketStatus decode_raw_ip(const uint8_t* data, size_t caplen, size_t off, PacketInfo& out) {
  if (caplen - off < 1) return PacketStatus::kTruncated;
  const int version = data[off] >> 4;
  if (version == 4) return decode_ipv4(data, caplen, off, out);
  if (version == 6) return decode_ipv6(data, caplen, off, out);
  return PacketStatus::kBadHeader;
}

}  // namespace

std::optional<LinkType> link_type_from_pcap(uint32_t linktype) {
  switch (linktype) {
    case 0:    // LINKTYPE_NULL
    case 108:  // LINKTYPE_LOOP
      return LinkType::kLoopback;
    case 1:  // LINKTYPE_ETHERNET
      return LinkType::kEthernet;
    case 12:   // DLT_RAW on most systems
    case 14:   // DLT_RAW on OpenBSD
    case 101:  // LINKTYPE_RAW
    case 228:  // LINKTYPE_IPV4
    case 229:  // LINKTYPE_IPV6
      return LinkType::kRawIp;
    case 113:  // LINKTYPE_LINUX_SLL
      return LinkType::kLinuxSll;
    case 276:  // LINKTYPE_LINUX_SLL2
      return LinkType::kLinuxSll2;
    default:
      return std::nullopt;
  }
}

const char* describe(PacketStatus s) {
  switch (s) {
    case PacketStatus::kOk:
      return "ok";
    case PacketStatus::kTruncated:
      return "capture ends inside the link or IP header";
    case PacketStatus::kNotIp:
      return "not an IP packet";
    case PacketStatus::kBadHeader:
      return "malformed IP header";
  }
  return "unknown packet status";
}

PacketStatus decode_packet(LinkType link, const uint8_t* data, size_t caplen, PacketInfo& out) {
  out = PacketInfo{};
  switch (link) {
    case LinkType::kEthernet:
      if (caplen < 14) return PacketStatus::kTruncated;
      return decode_ether_type(be16(data + 12), data, caplen, 14, out);
    case LinkType::kRawIp:
      return decode_raw_ip(data, caplen, 0, out);
    case LinkType::kLinuxSll:
      // packet type, ARPHRD type, address length, 8 address bytes, protocol.
      if (caplen < 16) return PacketStatus::kTruncated;
      return decode_ether_type(be16(data + 14), data, caplen, 16, out);
    case LinkType::kLinuxSll2:
      // protocol, reserved, interface index, ARPHRD type, packet type, address length, address.
      if (caplen < 20) return PacketStatus::kTruncated;
      return decode_ether_type(be16(data), data, caplen, 20, out);
    case LinkType::kLoopback: {
      if (caplen < 4) return PacketStatus::kTruncated;
      // The family is in the capturing host's byte order (DLT_NULL) or in network order
      // (DLT_LOOP); the values are small, so whichever end is non-zero holds it. AF_INET is 2
      // everywhere; AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (macOS), 10 (Linux).
      const uint32_t family =
          data[0] == 0 && data[1] == 0 ? be32(data) : uint32_t{data[0]} | data[1] << 8;
      if (family == 2) return decode_ipv4(data, caplen, 4, out);
      if (family == 24 || family == 28 || family == 30 || family == 10) {
        return decode_ipv6(data, caplen, 4, out);
      }
      return PacketStatus::kNotIp;
    }
  }
  return PacketStatus::kNotIp;
}

}  // namespace netpulse::core
