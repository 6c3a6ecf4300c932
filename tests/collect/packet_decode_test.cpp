// Tests for core/packet_decode: each link type and encapsulation on packets written byte by
// byte (one transcribed in hex, the rest by the helpers in sflow_builder.hpp), IPv4 fragments
// and options, IPv6 extension headers, ICMP type/code, every truncation of valid packets (each
// cut copied to a buffer of its exact size, so the sanitizer build catches any read past it),
// and random bytes. Lives in collect_test (a light build); the decoder itself is in core.
#include "core/packet_decode.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "sflow_builder.hpp"

namespace netpulse::core {
namespace {

using test::Bytes;
using test::cat;
using test::ip4;

PacketStatus decode(LinkType link, const Bytes& b, PacketInfo& info) {
  return decode_packet(link, b.data(), b.size(), info);
}

Bytes hex(const std::string& text) {
  Bytes out;
  int high = -1;
  for (char c : text) {
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else
      continue;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  return out;
}

TEST(PacketDecode, EthernetIpv4TcpFromHex) {
  // A SYN with MSS, SACK-permitted, timestamp and window-scale options, as a Linux host sends it.
  const Bytes frame =
      hex("ffffffffffff 000000000001 0800"
          "4500003c 1c464000 4006 0000 c0a8010a 5db8d822"
          "c93a01bb 00000001 00000000 a002faf0 00000000"
          "020405b4 0402 080a0000000100000000 01 030307");
  ASSERT_EQ(frame.size(), 74u);
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_EQ(to_string(p.src), "192.168.1.10");
  EXPECT_EQ(to_string(p.dst), "93.184.216.34");
  EXPECT_EQ(p.ip_version, 4);
  EXPECT_EQ(p.ip_protocol, 6);
  EXPECT_EQ(p.src_port, 51514);
  EXPECT_EQ(p.dst_port, 443);
  EXPECT_EQ(p.tcp_flags, 0x02);
  EXPECT_EQ(p.ip_length, 60u);
  EXPECT_EQ(p.ttl, 64);
  EXPECT_EQ(p.l3_offset, 14u);
  EXPECT_EQ(p.l4_offset, 34u);
  EXPECT_EQ(p.payload_offset, 74u);  // after 20 bytes of TCP options
  EXPECT_TRUE(p.l4_complete);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_EQ(p.vlan, 0);
}

TEST(PacketDecode, EthernetIpv4Tcp) {
  const Bytes frame = test::tcp4_frame(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 40000, 80, 0x18, 100);
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_EQ(p.src, IpAddr::v4(ip4(10, 0, 0, 1)));
  EXPECT_EQ(p.dst, IpAddr::v4(ip4(10, 0, 0, 2)));
  EXPECT_EQ(p.src_port, 40000);
  EXPECT_EQ(p.dst_port, 80);
  EXPECT_EQ(p.tcp_flags, 0x18);
  EXPECT_EQ(p.ip_length, 140u);
  EXPECT_EQ(p.payload_offset, 54u);
}

TEST(PacketDecode, Vlan8021Q) {
  const Bytes frame = test::tcp4_frame(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 1, 2, 0x10, 0,
                                       {{0x8100, 3 << 13 | 100}});
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_EQ(p.vlan, 100);
  EXPECT_EQ(p.inner_vlan, 0);
  EXPECT_EQ(p.l3_offset, 18u);
  EXPECT_EQ(p.src_port, 1);
  EXPECT_EQ(p.dst_port, 2);
}

TEST(PacketDecode, QinQEveryOuterTpid) {
  for (uint16_t outer : {0x88a8, 0x9100, 0x8100}) {
    const Bytes frame = test::udp6_frame(test::doc_ip6(1), test::doc_ip6(2), 53, 5353, 10,
                                         {{outer, 10}, {0x8100, 20}});
    PacketInfo p;
    ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk) << outer;
    EXPECT_EQ(p.vlan, 10);
    EXPECT_EQ(p.inner_vlan, 20);
    EXPECT_EQ(p.l3_offset, 22u);
    EXPECT_EQ(p.ip_version, 6);
    EXPECT_EQ(p.ip_protocol, 17);
    EXPECT_EQ(p.src_port, 53);
    EXPECT_EQ(p.dst_port, 5353);
    EXPECT_EQ(p.ip_length, 40u + 18);
  }
  // Three tags: the two outer ones are reported, the packet still decodes.
  const Bytes triple =
      test::tcp4_frame(1, 2, 3, 4, 0x02, 0, {{0x88a8, 7}, {0x8100, 8}, {0x8100, 9}});
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, triple, p), PacketStatus::kOk);
  EXPECT_EQ(p.vlan, 7);
  EXPECT_EQ(p.inner_vlan, 8);
  EXPECT_EQ(p.dst_port, 4);
}

TEST(PacketDecode, Ipv6ExtensionHeadersThenUdp) {
  // hop-by-hop -> routing (2 units) -> destination options -> fragment (first) -> UDP
  const Bytes ext = cat({test::ipv6_options(43), test::ipv6_options(60, 2), test::ipv6_options(44),
                         test::ipv6_fragment(17, 0, true)});
  const Bytes udp = test::udp(1234, 4321, 16);
  const size_t payload = ext.size() + udp.size() + 16;
  const Bytes frame =
      cat({test::ethernet(0x86dd), test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 0, payload, 0xb8),
           ext, udp, test::zeros(16)});
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_EQ(p.src, IpAddr::v6(test::doc_ip6(1)));
  EXPECT_EQ(p.dst, IpAddr::v6(test::doc_ip6(2)));
  EXPECT_EQ(p.ip_protocol, 17);
  EXPECT_EQ(p.src_port, 1234);
  EXPECT_EQ(p.dst_port, 4321);
  EXPECT_EQ(p.ip_length, 40 + payload);
  EXPECT_EQ(p.tos, 0xb8);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_TRUE(p.first_fragment);
  EXPECT_EQ(p.l4_offset, 14u + 40 + ext.size());
  EXPECT_EQ(p.payload_offset, p.l4_offset + 8);
  EXPECT_TRUE(p.l4_complete);
}

TEST(PacketDecode, Ipv6LaterFragmentHasNoPorts) {
  const Bytes frame =
      cat({test::ethernet(0x86dd), test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 44, 8 + 64),
           test::ipv6_fragment(17, 181, false), test::udp(1, 2, 56)});
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_FALSE(p.first_fragment);
  EXPECT_EQ(p.ip_protocol, 17);
  EXPECT_EQ(p.src_port, 0);
  EXPECT_EQ(p.dst_port, 0);
  EXPECT_FALSE(p.l4_complete);
}

TEST(PacketDecode, Ipv6AuthenticationHeaderThenTcp) {
  const Bytes frame =
      cat({test::ethernet(0x86dd), test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 51, 24 + 20),
           test::ipv6_ah(6), test::tcp(22, 50000, 0x11)});
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_EQ(p.ip_protocol, 6);
  EXPECT_EQ(p.src_port, 22);
  EXPECT_EQ(p.dst_port, 50000);
  EXPECT_EQ(p.tcp_flags, 0x11);
}

TEST(PacketDecode, Ipv6StopsAtEspAndNoNextHeader) {
  for (uint8_t last : {50, 59}) {
    const Bytes frame =
        cat({test::ethernet(0x86dd), test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 60, 8 + 32),
             test::ipv6_options(last), test::zeros(32)});
    PacketInfo p;
    ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
    EXPECT_EQ(p.ip_protocol, last);
    EXPECT_EQ(p.src_port, 0);
    EXPECT_EQ(p.dst_port, 0);
    EXPECT_FALSE(p.l4_complete);
  }
}

TEST(PacketDecode, Ipv6ExtensionHeaderPastPayloadLengthIsBad) {
  // Payload length 4, but the hop-by-hop header needs 8 bytes: the header lies.
  const Bytes frame =
      cat({test::ethernet(0x86dd), test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 0, 4),
           test::ipv6_options(17), test::udp(1, 2, 0)});
  PacketInfo p;
  EXPECT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kBadHeader);
}

TEST(PacketDecode, Ipv6Jumbogram) {
  Bytes hbh = {17, 0, 0xc2, 4};
  test::put32(hbh, 70000);
  const Bytes frame =
      cat({test::ethernet(0x86dd), test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 0, 0), hbh,
           test::udp(7, 8, 100)});
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_EQ(p.ip_length, 40u + 70000);
  EXPECT_TRUE(p.ip_length_from_header);
  EXPECT_EQ(p.dst_port, 8);
}

TEST(PacketDecode, Ipv4Fragments) {
  const uint32_t a = ip4(172, 16, 0, 1);
  const uint32_t b = ip4(172, 16, 0, 2);
  // First fragment: MF set, offset 0: the UDP header is there.
  const Bytes first = cat({test::ethernet(0x0800), test::ipv4(a, b, 17, 1480, 0x2000),
                           test::udp(5000, 6000, 3000), test::zeros(1472)});
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, first, p), PacketStatus::kOk);
  EXPECT_TRUE(p.is_fragment);
  EXPECT_TRUE(p.first_fragment);
  EXPECT_EQ(p.src_port, 5000);
  EXPECT_EQ(p.dst_port, 6000);
  EXPECT_EQ(p.ip_length, 1500u);
  // Middle fragment (MF, offset 185 * 8) and last (offset 370 * 8): no ports, even though the
  // payload's first bytes could be mistaken for a header.
  for (uint16_t frag : {uint16_t{0x2000 | 185}, uint16_t{370}}) {
    const Bytes later = cat({test::ethernet(0x0800), test::ipv4(a, b, 17, 48, frag),
                             test::udp(1111, 2222, 40), test::zeros(40)});
    ASSERT_EQ(decode(LinkType::kEthernet, later, p), PacketStatus::kOk);
    EXPECT_TRUE(p.is_fragment);
    EXPECT_FALSE(p.first_fragment);
    EXPECT_EQ(p.ip_protocol, 17);
    EXPECT_EQ(p.src_port, 0);
    EXPECT_EQ(p.dst_port, 0);
    EXPECT_FALSE(p.l4_complete);
    EXPECT_EQ(p.ip_length, 68u);
  }
  // Don't-fragment alone is not a fragment.
  const Bytes df =
      cat({test::ethernet(0x0800), test::ipv4(a, b, 6, 20, 0x4000), test::tcp(1, 2, 0x10)});
  ASSERT_EQ(decode(LinkType::kEthernet, df, p), PacketStatus::kOk);
  EXPECT_FALSE(p.is_fragment);
  EXPECT_EQ(p.dst_port, 2);
}

TEST(PacketDecode, Ipv4OptionsMoveTheTransportHeader) {
  const Bytes options = {0x94, 0x04, 0x00, 0x00};  // router alert
  const Bytes frame =
      cat({test::ethernet(0x0800), test::ipv4(1, 2, 17, 8, 0, options), test::udp(67, 68, 0)});
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_EQ(p.l4_offset, 14u + 24);
  EXPECT_EQ(p.src_port, 67);
  EXPECT_EQ(p.dst_port, 68);
  EXPECT_EQ(p.ip_length, 32u);
}

TEST(PacketDecode, IcmpTypeAndCode) {
  PacketInfo p;
  const Bytes echo = cat({test::ethernet(0x0800), test::ipv4(1, 2, 1, 8), test::icmp(8, 0)});
  ASSERT_EQ(decode(LinkType::kEthernet, echo, p), PacketStatus::kOk);
  EXPECT_EQ(p.ip_protocol, 1);
  EXPECT_EQ(p.src_port, 0);
  EXPECT_EQ(p.dst_port, 8 * 256);
  const Bytes unreachable = cat({test::ethernet(0x0800), test::ipv4(1, 2, 1, 8), test::icmp(3, 3)});
  ASSERT_EQ(decode(LinkType::kEthernet, unreachable, p), PacketStatus::kOk);
  EXPECT_EQ(p.dst_port, 3 * 256 + 3);
}

TEST(PacketDecode, Icmpv6TypeAndCode) {
  PacketInfo p;
  const Bytes echo =
      cat({test::ethernet(0x86dd), test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 58, 8),
           test::icmp(128, 0)});
  ASSERT_EQ(decode(LinkType::kEthernet, echo, p), PacketStatus::kOk);
  EXPECT_EQ(p.ip_protocol, 58);
  EXPECT_EQ(p.dst_port, 128 * 256);
  // Neighbour solicitation behind a hop-by-hop header (as MLD reports come).
  const Bytes ns =
      cat({test::ethernet(0x86dd), test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 0, 16),
           test::ipv6_options(58), test::icmp(135, 0)});
  ASSERT_EQ(decode(LinkType::kEthernet, ns, p), PacketStatus::kOk);
  EXPECT_EQ(p.dst_port, 135 * 256);
}

TEST(PacketDecode, SctpAndUdpLitePorts) {
  PacketInfo p;
  Bytes sctp;
  test::put16(sctp, 2905);
  test::put16(sctp, 2906);
  test::put32(sctp, 0);
  test::put32(sctp, 0);
  const Bytes frame = cat({test::ethernet(0x0800), test::ipv4(1, 2, 132, 12), sctp});
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_EQ(p.src_port, 2905);
  EXPECT_EQ(p.dst_port, 2906);
  EXPECT_TRUE(p.l4_complete);
}

TEST(PacketDecode, EthernetPaddingIsNotPayload) {
  // 28 bytes of IP in a 60-byte minimum frame: the IP length wins, the padding is ignored.
  Bytes frame = cat({test::ethernet(0x0800), test::ipv4(1, 2, 17, 8), test::udp(9, 10, 0)});
  frame.resize(60, 0);
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_EQ(p.ip_length, 28u);
  EXPECT_EQ(p.dst_port, 10);
  // An IP length that ends inside the UDP header: the ports are read only from inside it.
  Bytes lying = cat({test::ethernet(0x0800), test::ipv4(1, 2, 17, 2), test::udp(9, 10, 0)});
  ASSERT_EQ(decode(LinkType::kEthernet, lying, p), PacketStatus::kOk);
  EXPECT_EQ(p.dst_port, 0);
  EXPECT_FALSE(p.l4_complete);
}

TEST(PacketDecode, SegmentationOffloadLength) {
  Bytes frame = test::tcp4_frame(1, 2, 3, 4, 0x10, 1000);
  frame[14 + 2] = 0;  // total length 0, as a host captures a TSO segment
  frame[14 + 3] = 0;
  PacketInfo p;
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_FALSE(p.ip_length_from_header);
  EXPECT_EQ(p.ip_length, 1040u);
  EXPECT_EQ(p.dst_port, 4);
}

TEST(PacketDecode, NotIpAndBadHeaders) {
  PacketInfo p;
  Bytes arp = cat({test::ethernet(0x0806), test::zeros(28)});
  EXPECT_EQ(decode(LinkType::kEthernet, arp, p), PacketStatus::kNotIp);
  // 802.3 with an LLC that is not SNAP (spanning tree).
  Bytes stp = cat({test::ethernet(38), Bytes{0x42, 0x42, 0x03}, test::zeros(35)});
  EXPECT_EQ(decode(LinkType::kEthernet, stp, p), PacketStatus::kNotIp);
  // 802.3 LLC/SNAP carrying IPv4.
  Bytes snap = cat({test::ethernet(48), Bytes{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00},
                    test::ipv4(1, 2, 17, 8), test::udp(1, 2, 0)});
  ASSERT_EQ(decode(LinkType::kEthernet, snap, p), PacketStatus::kOk);
  EXPECT_EQ(p.l3_offset, 22u);
  EXPECT_EQ(p.dst_port, 2);

  Bytes v6_in_v4 =
      cat({test::ethernet(0x0800), test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 17, 0)});
  EXPECT_EQ(decode(LinkType::kEthernet, v6_in_v4, p), PacketStatus::kBadHeader);
  Bytes short_ihl = cat({test::ethernet(0x0800), test::ipv4(1, 2, 6, 0)});
  short_ihl[14] = 0x44;
  EXPECT_EQ(decode(LinkType::kEthernet, short_ihl, p), PacketStatus::kBadHeader);
  Bytes short_total = cat({test::ethernet(0x0800), test::ipv4(1, 2, 6, 0)});
  short_total[14 + 3] = 19;
  EXPECT_EQ(decode(LinkType::kEthernet, short_total, p), PacketStatus::kBadHeader);
  Bytes raw_garbage = {0x00, 0x01, 0x02};
  EXPECT_EQ(decode(LinkType::kRawIp, raw_garbage, p), PacketStatus::kBadHeader);
  EXPECT_STREQ(describe(PacketStatus::kNotIp), "not an IP packet");
}

TEST(PacketDecode, MplsAndPppoe) {
  PacketInfo p;
  Bytes labels;
  test::put32(labels, 100u << 12 | 0 << 8 | 64);  // not bottom
  test::put32(labels, 200u << 12 | 1 << 8 | 64);  // bottom of stack
  const Bytes mpls =
      cat({test::ethernet(0x8847), labels, test::ipv4(1, 2, 6, 20), test::tcp(179, 40000, 0x18)});
  ASSERT_EQ(decode(LinkType::kEthernet, mpls, p), PacketStatus::kOk);
  EXPECT_EQ(p.l3_offset, 22u);
  EXPECT_EQ(p.src_port, 179);

  Bytes pppoe = {0x11, 0x00, 0x00, 0x01};  // version/type, code, session
  test::put16(pppoe, 2 + 40 + 8);
  test::put16(pppoe, 0x0057);  // PPP: IPv6
  const Bytes frame =
      cat({test::ethernet(0x8864), pppoe, test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 17, 8),
           test::udp(546, 547, 0)});
  ASSERT_EQ(decode(LinkType::kEthernet, frame, p), PacketStatus::kOk);
  EXPECT_EQ(p.ip_version, 6);
  EXPECT_EQ(p.dst_port, 547);
}

TEST(PacketDecode, LinkTypes) {
  const Bytes ip =
      cat({test::ipv4(ip4(10, 1, 1, 1), ip4(10, 2, 2, 2), 17, 8), test::udp(1000, 53, 0)});
  const Bytes ip6 =
      cat({test::ipv6(test::doc_ip6(5), test::doc_ip6(6), 6, 20), test::tcp(443, 1025, 0x12)});
  PacketInfo p;

  ASSERT_EQ(decode(LinkType::kRawIp, ip, p), PacketStatus::kOk);
  EXPECT_EQ(p.l3_offset, 0u);
  EXPECT_EQ(p.dst_port, 53);
  ASSERT_EQ(decode(LinkType::kRawIp, ip6, p), PacketStatus::kOk);
  EXPECT_EQ(p.src_port, 443);

  // SLL: packet type (outgoing), ARPHRD_ETHER, address length 6, address padded to 8, protocol.
  const Bytes sll = cat({Bytes{0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00}, ip});
  ASSERT_EQ(decode(LinkType::kLinuxSll, sll, p), PacketStatus::kOk);
  EXPECT_EQ(p.l3_offset, 16u);
  EXPECT_EQ(p.dst_port, 53);
  // SLL2: protocol, reserved, interface index, ARPHRD_ETHER, packet type, address length, address.
  const Bytes sll2 =
      cat({Bytes{0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0}, ip6});
  ASSERT_EQ(decode(LinkType::kLinuxSll2, sll2, p), PacketStatus::kOk);
  EXPECT_EQ(p.l3_offset, 20u);
  EXPECT_EQ(p.dst_port, 1025);
  const Bytes sll_arp =
      cat({Bytes{0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x06}, test::zeros(28)});
  EXPECT_EQ(decode(LinkType::kLinuxSll, sll_arp, p), PacketStatus::kNotIp);

  // Loopback: AF_INET in little-endian host order (DLT_NULL on x86), in network order
  // (DLT_LOOP), and AF_INET6 as macOS (30), FreeBSD (28) and OpenBSD (24) write it.
  ASSERT_EQ(decode(LinkType::kLoopback, cat({Bytes{2, 0, 0, 0}, ip}), p), PacketStatus::kOk);
  EXPECT_EQ(p.l3_offset, 4u);
  EXPECT_EQ(p.dst_port, 53);
  ASSERT_EQ(decode(LinkType::kLoopback, cat({Bytes{0, 0, 0, 2}, ip}), p), PacketStatus::kOk);
  for (uint8_t family : {30, 28, 24}) {
    ASSERT_EQ(decode(LinkType::kLoopback, cat({Bytes{family, 0, 0, 0}, ip6}), p),
              PacketStatus::kOk);
    EXPECT_EQ(p.src_port, 443);
  }
  EXPECT_EQ(decode(LinkType::kLoopback, cat({Bytes{7, 0, 0, 0}, ip}), p), PacketStatus::kNotIp);

  EXPECT_EQ(link_type_from_pcap(1), LinkType::kEthernet);
  EXPECT_EQ(link_type_from_pcap(0), LinkType::kLoopback);
  EXPECT_EQ(link_type_from_pcap(108), LinkType::kLoopback);
  EXPECT_EQ(link_type_from_pcap(101), LinkType::kRawIp);
  EXPECT_EQ(link_type_from_pcap(113), LinkType::kLinuxSll);
  EXPECT_EQ(link_type_from_pcap(276), LinkType::kLinuxSll2);
  EXPECT_EQ(link_type_from_pcap(105), std::nullopt);  // 802.11
}

// A valid packet, where its IP header (extension headers included) ends, and how many transport
// bytes it needs for its ports and for a complete header.
struct Case {
  const char* name;
  LinkType link;
  Bytes bytes;
  size_t l4;
  size_t port_bytes;
  size_t complete_bytes;
};

std::vector<Case> valid_packets() {
  std::vector<Case> cases;
  cases.push_back(
      {"eth/ipv4/tcp", LinkType::kEthernet, test::tcp4_frame(1, 2, 3, 4, 0x02, 10), 34, 4, 20});
  cases.push_back(
      {"vlan/ipv4-options/udp", LinkType::kEthernet,
       cat({test::ethernet(0x0800, {{0x8100, 5}}),
            test::ipv4(1, 2, 17, 8 + 4, 0, Bytes{1, 1, 1, 1}), test::udp(5, 6, 4), test::zeros(4)}),
       18 + 24, 4, 8});
  const Bytes ext =
      cat({test::ipv6_options(43), test::ipv6_options(44, 2), test::ipv6_fragment(17, 0, true)});
  cases.push_back({"qinq/ipv6-ext/udp", LinkType::kEthernet,
                   cat({test::ethernet(0x86dd, {{0x88a8, 1}, {0x8100, 2}}),
                        test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 0, ext.size() + 8 + 3), ext,
                        test::udp(7, 8, 3), test::zeros(3)}),
                   22 + 40 + ext.size(), 4, 8});
  cases.push_back({"sll/ipv6/icmpv6", LinkType::kLinuxSll,
                   cat({Bytes{0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x86, 0xdd},
                        test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 58, 8), test::icmp(129, 0)}),
                   16 + 40, 2, 4});
  cases.push_back({"sll2/ipv4/icmp", LinkType::kLinuxSll2,
                   cat({Bytes{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0},
                        test::ipv4(1, 2, 1, 8), test::icmp(0, 0)}),
                   20 + 20, 2, 4});
  cases.push_back({"raw/ipv6-ah/tcp", LinkType::kRawIp,
                   cat({test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 51, 24 + 20),
                        test::ipv6_ah(6), test::tcp(9, 10, 0x01)}),
                   40 + 24, 4, 20});
  cases.push_back({"null/ipv4/udp", LinkType::kLoopback,
                   cat({Bytes{2, 0, 0, 0}, test::ipv4(1, 2, 17, 8), test::udp(11, 12, 0)}), 4 + 20,
                   4, 8});
  return cases;
}

TEST(PacketDecode, EveryTruncationOfValidPackets) {
  for (const Case& c : valid_packets()) {
    PacketInfo full;
    ASSERT_EQ(decode(c.link, c.bytes, full), PacketStatus::kOk) << c.name;
    ASSERT_TRUE(full.l4_complete) << c.name;
    ASSERT_EQ(full.l4_offset, c.l4) << c.name;
    for (size_t cut = 0; cut < c.bytes.size(); ++cut) {
      // An exact-size heap copy: a read past `cut` is a sanitizer error, not a silent success.
      const Bytes part(c.bytes.begin(), c.bytes.begin() + static_cast<long>(cut));
      PacketInfo p;
      const PacketStatus s = decode(c.link, part, p);
      SCOPED_TRACE(std::string(c.name) + " cut at " + std::to_string(cut));
      if (cut < c.l4) {
        EXPECT_EQ(s, PacketStatus::kTruncated);
        continue;
      }
      ASSERT_EQ(s, PacketStatus::kOk);
      EXPECT_EQ(p.src, full.src);
      EXPECT_EQ(p.dst, full.dst);
      EXPECT_EQ(p.ip_protocol, full.ip_protocol);
      EXPECT_EQ(p.ip_length, full.ip_length);  // from the header, not from the capture
      EXPECT_TRUE(p.ip_length_from_header);
      const size_t l4_bytes = cut - c.l4;
      EXPECT_EQ(p.l4_complete, l4_bytes >= c.complete_bytes);
      if (l4_bytes >= c.port_bytes) {
        EXPECT_EQ(p.src_port, full.src_port);
        EXPECT_EQ(p.dst_port, full.dst_port);
      } else {
        EXPECT_EQ(p.src_port, 0);
        EXPECT_EQ(p.dst_port, 0);
      }
    }
  }
}

TEST(PacketDecode, RandomBytesNeverCrash) {
  std::mt19937_64 rng(42);
  const LinkType links[] = {LinkType::kEthernet, LinkType::kRawIp, LinkType::kLinuxSll,
                            LinkType::kLinuxSll2, LinkType::kLoopback};
  std::vector<Case> seeds = valid_packets();
  size_t ok = 0;
  for (int round = 0; round < 20000; ++round) {
    // Half pure noise, half valid packets with a few bytes flipped (to get past the early
    // checks); each in an exact-size buffer.
    Bytes b;
    LinkType link;
    if (round % 2 == 0) {
      b.resize(rng() % 200);
      for (auto& x : b) x = static_cast<uint8_t>(rng());
      link = links[rng() % 5];
    } else {
      const Case& c = seeds[rng() % seeds.size()];
      b = c.bytes;
      link = c.link;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) b[rng() % b.size()] = static_cast<uint8_t>(rng());
      b.resize(rng() % (b.size() + 1));
    }
    PacketInfo p;
    const PacketStatus s = decode(link, b, p);
    if (s == PacketStatus::kOk) {
      ++ok;
      EXPECT_LE(p.l3_offset, b.size());
      EXPECT_LE(p.l4_offset, b.size());
      EXPECT_LE(p.payload_offset, std::max<size_t>(b.size(), p.l4_offset + 60));
      EXPECT_TRUE(p.ip_version == 4 || p.ip_version == 6);
    }
  }
  EXPECT_GT(ok, 1000u);  // the flipped packets mostly still decode
}

}  // namespace
}  // namespace netpulse::core
