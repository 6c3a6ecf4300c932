// Tests for collect/sflow_decoder: datagrams written field by field (sflow_builder.hpp) with
// flow samples over IPv4, IPv6 and VLANs, expanded samples, counter and enterprise samples,
// sampled IPv4/IPv6 records, non-IP samples; sequence loss and agent restarts; the bound on
// agents; every truncation of a valid datagram (each in an exact-size buffer, so the sanitizer
// build catches reads past it) and thousands of random byte flips.
#include "collect/sflow_decoder.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "sflow_builder.hpp"

namespace netpulse::collect {
namespace {

using test::Bytes;
using test::cat;
using test::ip4;
using test::SflowBuilder;

const core::IpAddr kAgent = core::IpAddr::v4(ip4(192, 0, 2, 1));
const ExporterAddress kFrom{core::IpAddr::v4(ip4(198, 51, 100, 7)), 50000};
constexpr core::TimeMs kNow = 1'700'000'000'123;

struct Decoded {
  DecodeResult result;
  std::vector<ExportedFlow> flows;
};

Decoded run(SflowDecoder& d, const Bytes& datagram, const ExporterAddress& from = kFrom) {
  Decoded out;
  out.result = d.decode(datagram.data(), datagram.size(), from, kNow, out.flows);
  return out;
}

const ExporterStats* stats_of(const std::vector<ExporterStats>& all, core::IpAddr agent,
                              uint32_t sub_agent) {
  for (const ExporterStats& s : all) {
    if (s.agent == agent && s.domain == sub_agent) return &s;
  }
  return nullptr;
}

// A 1500-byte IPv4/TCP packet on Ethernet, a 200-byte IPv6/UDP one, and a VLAN-tagged
// IPv4/TCP one, as three compact flow samples; then a counter sample.
Bytes three_flows_datagram(uint32_t sequence = 1) {
  const Bytes tcp = test::tcp4_frame(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 40000, 443, 0x18, 1460);
  const Bytes udp6 = test::udp6_frame(test::doc_ip6(1), test::doc_ip6(2), 5353, 53, 152);
  const Bytes tagged =
      test::tcp4_frame(ip4(10, 9, 0, 1), ip4(10, 9, 0, 2), 22, 50001, 0x10, 36, {{0x8100, 42}});
  return SflowBuilder(kAgent, 0, sequence, 360'000)
      .flow_sample(100, 0x00000003, 1000, 5000, 0, 3, 7)
      .ethernet_frame(tcp)
      .record(0, 1001, Bytes(16, 0))  // extended switch data: skipped by length
      .end_sample()
      .flow_sample(101, 0x00000004, 512, 6000, 2, 4, 0x3fffffff)
      .ethernet_frame(udp6)
      .end_sample()
      .flow_sample(102, 0x0100002a, 0, 7000, 0, 5, 6)
      .ethernet_frame(tagged)
      .end_sample()
      .counter_sample()
      .build();
}

TEST(SflowDecoder, FlowSamplesIpv4Ipv6Vlan) {
  SflowDecoder d;
  const Decoded r = run(d, three_flows_datagram());
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  ASSERT_EQ(r.result.flows, 3u);
  ASSERT_EQ(r.flows.size(), 3u);

  const ExportedFlow& a = r.flows[0];
  EXPECT_EQ(a.src, core::IpAddr::v4(ip4(10, 0, 0, 1)));
  EXPECT_EQ(a.dst, core::IpAddr::v4(ip4(10, 0, 0, 2)));
  EXPECT_EQ(a.src_port, 40000);
  EXPECT_EQ(a.dst_port, 443);
  EXPECT_EQ(a.ip_protocol, 6);
  EXPECT_EQ(a.tcp_flags, 0x18);
  EXPECT_EQ(a.bytes, 1500u);  // IP length; nfdump and pmacct would say 1518 (frame + FCS)
  EXPECT_EQ(a.packets, 1u);
  EXPECT_EQ(a.sampling_rate, 1000u);
  EXPECT_EQ(a.scaled_bytes(), 1'500'000u);
  EXPECT_EQ(a.input_if, 3u);
  EXPECT_EQ(a.output_if, 7u);
  EXPECT_EQ(a.domain, 3u);
  EXPECT_EQ(a.exporter, kAgent);
  EXPECT_EQ(a.start, kNow);
  EXPECT_EQ(a.end, kNow);
  EXPECT_EQ(a.received, kNow);
  EXPECT_EQ(a.protocol, ExportProtocol::kSflowV5);

  const ExportedFlow& b = r.flows[1];
  EXPECT_EQ(b.src, core::IpAddr::v6(test::doc_ip6(1)));
  EXPECT_EQ(b.dst, core::IpAddr::v6(test::doc_ip6(2)));
  EXPECT_EQ(b.src_port, 5353);
  EXPECT_EQ(b.dst_port, 53);
  EXPECT_EQ(b.ip_protocol, 17);
  EXPECT_EQ(b.bytes, 40u + 8 + 152);
  EXPECT_EQ(b.sampling_rate, 512u);
  EXPECT_EQ(b.output_if, 0x3fffffffu);  // "the agent itself", passed on as sent

  const ExportedFlow& c = r.flows[2];
  EXPECT_EQ(c.src, core::IpAddr::v4(ip4(10, 9, 0, 1)));
  EXPECT_EQ(c.dst_port, 50001);
  EXPECT_EQ(c.bytes, 76u);
  EXPECT_EQ(c.sampling_rate, 1u);  // 0 announced: treated as unsampled
  EXPECT_EQ(c.domain, 0x0100002au);

  const std::vector<ExporterStats> stats = d.exporters();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].from, kFrom);
  EXPECT_EQ(stats[0].agent, kAgent);
  EXPECT_EQ(stats[0].domain, 0u);
  EXPECT_EQ(stats[0].protocol, ExportProtocol::kSflowV5);
  EXPECT_EQ(stats[0].datagrams, 1u);
  EXPECT_EQ(stats[0].flows, 3u);
  EXPECT_EQ(stats[0].counter_samples, 1u);
  EXPECT_EQ(stats[0].malformed, 0u);
  EXPECT_EQ(stats[0].skipped_samples, 0u);
  EXPECT_EQ(stats[0].sampling_rate, 512u);  // the last non-zero rate announced
}

TEST(SflowDecoder, ExpandedSamplesAndInterfaceEncodings) {
  const Bytes frame = test::tcp4_frame(1, 2, 3, 4, 0x02, 0);
  const Bytes datagram = SflowBuilder(kAgent, 0, 1, 1000)
                             .expanded_flow_sample(1, 0, 70000, 4096, 9999, 0, {0, 70000}, {2, 3})
                             .ethernet_frame(frame)
                             .end_sample()
                             .expanded_flow_sample(2, 2, 9, 4096, 9999, 0, {1, 5}, {0, 12})
                             .ethernet_frame(frame)
                             .end_sample()
                             // Compact: input "discarded" (format 1), output "multiple" (format 2).
                             .flow_sample(3, 1, 64, 100, 0, 1u << 30 | 259, 2u << 30 | 3)
                             .ethernet_frame(frame)
                             .end_sample()
                             .build();
  SflowDecoder d;
  const Decoded r = run(d, datagram);
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  ASSERT_EQ(r.flows.size(), 3u);
  EXPECT_EQ(r.flows[0].input_if, 70000u);
  EXPECT_EQ(r.flows[0].output_if, 0u);  // multiple interfaces
  EXPECT_EQ(r.flows[0].domain, 70000u);
  EXPECT_EQ(r.flows[0].sampling_rate, 4096u);
  EXPECT_EQ(r.flows[0].dst_port, 4);
  EXPECT_EQ(r.flows[1].input_if, 0u);  // discarded
  EXPECT_EQ(r.flows[1].output_if, 12u);
  EXPECT_EQ(r.flows[1].domain, 2u << 24 | 9);
  EXPECT_EQ(r.flows[2].input_if, 0u);
  EXPECT_EQ(r.flows[2].output_if, 0u);
  EXPECT_EQ(r.flows[2].sampling_rate, 64u);
}

TEST(SflowDecoder, CounterAndEnterpriseSamplesSkipped) {
  const Bytes frame = test::tcp4_frame(1, 2, 3, 4, 0x02, 0);
  const Bytes datagram = SflowBuilder(kAgent, 0, 1, 1000)
                             .counter_sample()
                             .sample(4413, 5, Bytes(40, 0xab))  // an enterprise sample
                             .sample(0, 5, Bytes(12, 0))        // a standard format not read
                             .counter_sample(true)
                             .flow_sample(1, 1, 10, 10, 0, 1, 2)
                             .ethernet_frame(frame)
                             .end_sample()
                             .sample(9, 1, Bytes(8, 0))  // enterprise 9's format 1: not a flow
                             .build();
  SflowDecoder d;
  const Decoded r = run(d, datagram);
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].dst_port, 4);
  const ExporterStats s = d.exporters().at(0);
  EXPECT_EQ(s.counter_samples, 2u);
  EXPECT_EQ(s.malformed, 0u);
  EXPECT_EQ(s.flows, 1u);
}

TEST(SflowDecoder, SampledIpRecordsAndPreference) {
  const Bytes frame = test::tcp4_frame(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 1000, 80, 0x02, 0);
  Bytes arp = cat({test::ethernet(0x0806), test::zeros(28)});
  const Bytes datagram =
      SflowBuilder(kAgent, 0, 1, 1000)
          // Sampled IPv4 alone.
          .flow_sample(1, 1, 100, 0, 0, 1, 2)
          .sampled_ipv4(1200, 17, ip4(172, 16, 1, 1), ip4(172, 16, 1, 2), 1111, 2222, 0, 0)
          .end_sample()
          // Sampled IPv6 alone.
          .flow_sample(2, 1, 100, 0, 0, 1, 2)
          .sampled_ipv6(80, 6, test::doc_ip6(7), test::doc_ip6(8), 443, 3333, 0x12, 0)
          .end_sample()
          // Both: the raw header wins.
          .flow_sample(3, 1, 100, 0, 0, 1, 2)
          .sampled_ipv4(999, 17, 9, 9, 9, 9, 0, 0)
          .ethernet_frame(frame)
          .end_sample()
          // A raw header that is not IP, and a sampled IPv4: the sampled record stands in.
          .flow_sample(4, 1, 100, 0, 0, 1, 2)
          .ethernet_frame(arp)
          .sampled_ipv4(60, 1, ip4(1, 1, 1, 1), ip4(2, 2, 2, 2), 0, 0x0800, 0, 0)
          .end_sample()
          .build();
  SflowDecoder d;
  const Decoded r = run(d, datagram);
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  ASSERT_EQ(r.flows.size(), 4u);
  EXPECT_EQ(r.flows[0].src, core::IpAddr::v4(ip4(172, 16, 1, 1)));
  EXPECT_EQ(r.flows[0].dst, core::IpAddr::v4(ip4(172, 16, 1, 2)));
  EXPECT_EQ(r.flows[0].bytes, 1200u);
  EXPECT_EQ(r.flows[0].ip_protocol, 17);
  EXPECT_EQ(r.flows[0].src_port, 1111);
  EXPECT_EQ(r.flows[0].dst_port, 2222);
  EXPECT_EQ(r.flows[1].src, core::IpAddr::v6(test::doc_ip6(7)));
  EXPECT_EQ(r.flows[1].dst, core::IpAddr::v6(test::doc_ip6(8)));
  EXPECT_EQ(r.flows[1].tcp_flags, 0x12);
  EXPECT_EQ(r.flows[1].bytes, 80u);
  EXPECT_EQ(r.flows[2].src, core::IpAddr::v4(ip4(10, 0, 0, 1)));
  EXPECT_EQ(r.flows[2].bytes, 40u);
  EXPECT_EQ(r.flows[3].src, core::IpAddr::v4(ip4(1, 1, 1, 1)));
  EXPECT_EQ(r.flows[3].dst_port, 0x0800);
  EXPECT_EQ(d.exporters().at(0).skipped_samples, 0u);
}

TEST(SflowDecoder, IpHeaderProtocols) {
  const Bytes v4 = cat({test::ipv4(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 17, 8 + 100),
                        test::udp(123, 123, 100), test::zeros(100)});
  const Bytes v6 = cat({test::ipv6(test::doc_ip6(1), test::doc_ip6(2), 58, 8), test::icmp(128, 0)});
  const Bytes datagram = SflowBuilder(kAgent, 0, 1, 1000)
                             .flow_sample(1, 1, 10, 0, 0, 1, 2)
                             .raw_header(11, static_cast<uint32_t>(v4.size()), 0, v4)
                             .end_sample()
                             .flow_sample(2, 1, 10, 0, 0, 1, 2)
                             .raw_header(12, static_cast<uint32_t>(v6.size()), 0, v6)
                             .end_sample()
                             .build();
  SflowDecoder d;
  const Decoded r = run(d, datagram);
  ASSERT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(r.flows[0].dst_port, 123);
  EXPECT_EQ(r.flows[0].bytes, 128u);
  EXPECT_EQ(r.flows[1].ip_protocol, 58);
  EXPECT_EQ(r.flows[1].dst_port, 128 * 256);
}

TEST(SflowDecoder, UndecodablePacketsAreSkippedNotMalformed) {
  const Bytes arp = cat({test::ethernet(0x0806), test::zeros(28)});
  const Bytes frame = test::tcp4_frame(1, 2, 3, 4, 0x02, 0);
  const Bytes cut(frame.begin(), frame.begin() + 30);  // ends inside the IPv4 header
  const Bytes datagram = SflowBuilder(kAgent, 0, 1, 1000)
                             .flow_sample(1, 1, 10, 0, 0, 1, 2)
                             .ethernet_frame(arp)
                             .end_sample()
                             .flow_sample(2, 1, 10, 0, 0, 1, 2)
                             .raw_header(1, 100, 4, cut)
                             .end_sample()
                             .flow_sample(3, 1, 10, 0, 0, 1, 2)
                             .raw_header(7, 100, 4, frame)  // PPP: not read
                             .end_sample()
                             .flow_sample(4, 1, 10, 0, 0, 1, 2)  // no records at all
                             .end_sample()
                             .flow_sample(5, 1, 10, 0, 0, 1, 2)
                             .ethernet_frame(frame)
                             .end_sample()
                             .build();
  SflowDecoder d;
  const Decoded r = run(d, datagram);
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  ASSERT_EQ(r.flows.size(), 1u);
  const ExporterStats s = d.exporters().at(0);
  EXPECT_EQ(s.skipped_samples, 4u);
  EXPECT_EQ(s.malformed, 0u);
  EXPECT_EQ(s.flows, 1u);
}

TEST(SflowDecoder, HeaderCutInsideTransportGivesZeroPorts) {
  const Bytes frame = test::tcp4_frame(1, 2, 3, 4, 0x02, 0);
  const Bytes cut(frame.begin(), frame.begin() + 36);  // 2 bytes of TCP
  const Bytes datagram = SflowBuilder(kAgent, 0, 1, 1000)
                             .flow_sample(1, 1, 10, 0, 0, 1, 2)
                             .raw_header(1, 64, 4, cut)
                             .end_sample()
                             .build();
  SflowDecoder d;
  const Decoded r = run(d, datagram);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].ip_protocol, 6);
  EXPECT_EQ(r.flows[0].src_port, 0);
  EXPECT_EQ(r.flows[0].dst_port, 0);
  EXPECT_EQ(r.flows[0].bytes, 40u);
}

TEST(SflowDecoder, SegmentationOffloadTakesTheFrameLength) {
  Bytes frame = test::tcp4_frame(1, 2, 3, 4, 0x10, 8000);
  frame[14 + 2] = frame[14 + 3] = 0;  // IPv4 total length 0
  const Bytes datagram = SflowBuilder(kAgent, 0, 1, 1000)
                             .flow_sample(1, 1, 10, 0, 0, 1, 2)
                             .ethernet_frame(frame)
                             .end_sample()
                             .build();
  SflowDecoder d;
  const Decoded r = run(d, datagram);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].bytes, 8040u);  // frame + FCS - 4 stripped - 14 Ethernet
}

TEST(SflowDecoder, SequenceLossAndResetsPerAgent) {
  SflowDecoder d;
  const core::IpAddr other = core::IpAddr::v4(ip4(192, 0, 2, 2));
  auto send = [&](core::IpAddr agent, uint32_t sub, uint32_t seq, uint32_t uptime) {
    const Bytes b = SflowBuilder(agent, sub, seq, uptime).build();
    EXPECT_EQ(run(d, b).result.status, DecodeStatus::kOk);
  };
  // Agent 1, sub-agent 0: 1, 2, 5 (3 and 4 lost), 6, 4 (late: neither loss nor reset).
  send(kAgent, 0, 1, 10'000'000);
  send(kAgent, 0, 2, 10'000'010);
  send(kAgent, 0, 5, 10'000'020);
  send(kAgent, 0, 6, 10'000'030);
  send(kAgent, 0, 4, 10'000'015);
  // Sub-agent 1 of the same agent, and another agent, interleaved: their own sequences.
  send(kAgent, 1, 0xfffffffd, 10'000'000);
  send(other, 0, 77, 5'000);
  send(kAgent, 1, 0xfffffffe, 10'000'040);
  send(other, 0, 80, 5'050);  // 78 and 79 lost
  // Agent 1 restarts: sequence and uptime start again.
  send(kAgent, 0, 1, 1'500);
  send(kAgent, 0, 2, 1'600);
  send(kAgent, 0, 2, 1'600);  // a duplicate: nothing
  send(kAgent, 0, 4, 1'700);  // 3 lost after the restart
  // Wrap of the sequence number: no loss.
  send(kAgent, 1, 0xffffffff, 10'000'050);
  send(kAgent, 1, 0, 10'000'060);
  send(kAgent, 1, 2, 10'000'070);  // 1 lost across the wrap
  // A jump far back with the uptime still running forward: also a restart.
  send(other, 0, 80 - 5000, 5'100);
  send(other, 0, 80 - 4999, 5'200);
  // The uptime wrapping after 49.7 days is not a restart (sub-agent 2).
  send(kAgent, 2, 10, 0xfffff000);
  send(kAgent, 2, 11, 0xffffff00);
  send(kAgent, 2, 12, 0x100);

  const std::vector<ExporterStats> all = d.exporters();
  ASSERT_EQ(all.size(), 4u);
  const ExporterStats* a0 = stats_of(all, kAgent, 0);
  const ExporterStats* a1 = stats_of(all, kAgent, 1);
  const ExporterStats* b0 = stats_of(all, other, 0);
  const ExporterStats* a2 = stats_of(all, kAgent, 2);
  ASSERT_TRUE(a0 && a1 && b0 && a2);
  EXPECT_EQ(a0->datagrams, 9u);
  EXPECT_EQ(a0->lost, 3u);
  EXPECT_EQ(a0->sequence_resets, 1u);
  EXPECT_EQ(a1->lost, 1u);
  EXPECT_EQ(a1->sequence_resets, 0u);
  EXPECT_EQ(b0->lost, 2u);
  EXPECT_EQ(b0->sequence_resets, 1u);
  EXPECT_EQ(a2->lost, 0u);
  EXPECT_EQ(a2->sequence_resets, 0u);
  // First-seen order.
  EXPECT_EQ(&all[0], a0);
  EXPECT_EQ(&all[1], a1);
  EXPECT_EQ(&all[2], b0);
  EXPECT_EQ(&all[3], a2);
}

TEST(SflowDecoder, Ipv6AgentAddress) {
  const core::IpAddr agent6 = core::IpAddr::v6(test::doc_ip6(0xa9e));
  const ExporterAddress from{core::IpAddr::v6(test::doc_ip6(0xf00)), 6343};
  const Bytes datagram = SflowBuilder(agent6, 3, 10, 1000)
                             .flow_sample(1, 1, 10, 0, 0, 1, 2)
                             .ethernet_frame(test::tcp4_frame(1, 2, 3, 4, 0x02, 0))
                             .end_sample()
                             .build();
  SflowDecoder d;
  const Decoded r = run(d, datagram, from);
  EXPECT_EQ(r.result.status, DecodeStatus::kOk);
  ASSERT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(r.flows[0].exporter, agent6);
  const ExporterStats s = d.exporters().at(0);
  EXPECT_EQ(s.agent, agent6);
  EXPECT_EQ(s.domain, 3u);
  EXPECT_EQ(s.from, from);
}

TEST(SflowDecoder, AgentTableIsBounded) {
  SflowDecoder d(3);
  auto agent = [](uint8_t n) { return core::IpAddr::v4(ip4(10, 0, 0, n)); };
  for (uint8_t n : {1, 2, 3}) run(d, SflowBuilder(agent(n), 0, 1, 1000).build());
  run(d, SflowBuilder(agent(1), 0, 2, 1010).build());  // 2 is now the one silent longest
  run(d, SflowBuilder(agent(4), 0, 1, 1000).build());
  const std::vector<ExporterStats> all = d.exporters();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(stats_of(all, agent(2), 0), nullptr);
  ASSERT_NE(stats_of(all, agent(1), 0), nullptr);
  EXPECT_EQ(stats_of(all, agent(1), 0)->datagrams, 2u);
  EXPECT_NE(stats_of(all, agent(3), 0), nullptr);
  EXPECT_NE(stats_of(all, agent(4), 0), nullptr);
  // Many more agents than room: still bounded.
  for (uint32_t n = 0; n < 1000; ++n) run(d, SflowBuilder(core::IpAddr::v4(n), n, 1, 1).build());
  EXPECT_EQ(d.exporters().size(), 3u);
}

TEST(SflowDecoder, BrokenHeadersCountedAgainstTheSource) {
  SflowDecoder d;
  Bytes v4 = three_flows_datagram();
  v4[3] = 4;  // sFlow version 4
  EXPECT_EQ(run(d, v4).result.status, DecodeStatus::kBadVersion);
  EXPECT_EQ(run(d, Bytes{0, 0, 0, 5}).result.status, DecodeStatus::kTooShort);
  Bytes bad_type = three_flows_datagram();
  bad_type[7] = 3;
  EXPECT_EQ(run(d, bad_type).result.status, DecodeStatus::kBadLength);
  const Bytes whole = three_flows_datagram();
  const Bytes short_header(whole.begin(), whole.begin() + 20);
  EXPECT_EQ(run(d, short_header).result.status, DecodeStatus::kTooShort);
  const ExporterStats s = d.exporters().at(0);
  EXPECT_EQ(s.agent, kFrom.address);
  EXPECT_EQ(s.datagrams, 4u);
  EXPECT_EQ(s.malformed, 4u);
}

TEST(SflowDecoder, SamplePastTheEndKeepsEarlierFlows) {
  Bytes datagram = three_flows_datagram();
  // The third flow sample's length grows past the datagram's end.
  const Bytes first_two = SflowBuilder(kAgent, 0, 1, 360'000).build();
  size_t at = first_two.size();  // the first sample's tag
  for (int i = 0; i < 2; ++i) {
    const uint32_t len = uint32_t{datagram[at + 4]} << 24 | datagram[at + 5] << 16 |
                         datagram[at + 6] << 8 | datagram[at + 7];
    at += 8 + len;
  }
  test::patch32(datagram, at + 4, 100000);
  SflowDecoder d;
  const Decoded r = run(d, datagram);
  EXPECT_EQ(r.result.status, DecodeStatus::kBadSample);
  EXPECT_EQ(r.result.flows, 2u);
  EXPECT_EQ(r.flows.size(), 2u);
  EXPECT_EQ(d.exporters().at(0).malformed, 1u);
  EXPECT_EQ(d.exporters().at(0).flows, 2u);
  EXPECT_EQ(d.exporters().at(0).counter_samples, 0u);  // the sample after it is not reached
}

TEST(SflowDecoder, LyingCountsEndWithTheData) {
  // Four billion samples announced, each an empty (zero-length) sample: the loop ends with
  // the bytes.
  Bytes datagram = SflowBuilder(kAgent, 0, 1, 1).build();
  for (int i = 0; i < 100; ++i) {
    test::put32(datagram, 0x1234);
    test::put32(datagram, 0);
  }
  test::patch32(datagram, 24, 0xffffffff);
  SflowDecoder d;
  Decoded r = run(d, datagram);
  EXPECT_EQ(r.result.status, DecodeStatus::kBadLength);
  EXPECT_EQ(r.flows.size(), 0u);
  // A flow sample announcing four billion records, all zero-length.
  Bytes records;
  for (int i = 0; i < 100; ++i) {
    test::put32(records, 1001);
    test::put32(records, 0);
  }
  Bytes body;
  for (uint32_t v : {1u, 1u, 10u, 0u, 0u, 1u, 2u, 0xffffffffu}) test::put32(body, v);
  body.insert(body.end(), records.begin(), records.end());
  r = run(d, SflowBuilder(kAgent, 0, 2, 2).sample(0, 1, body).build());
  EXPECT_EQ(r.result.status, DecodeStatus::kBadLength);
  EXPECT_EQ(r.flows.size(), 0u);
  EXPECT_EQ(d.exporters().at(0).malformed, 2u);
}

TEST(SflowDecoder, RecordPastItsSampleIsBadButLaterSamplesDecode) {
  const Bytes frame = test::tcp4_frame(1, 2, 3, 4, 0x02, 0);
  Bytes body;
  for (uint32_t v : {1u, 1u, 10u, 0u, 0u, 1u, 2u, 1u}) test::put32(body, v);
  test::put32(body, 1);    // raw packet header
  test::put32(body, 999);  // longer than the sample
  test::put32(body, 1);
  const Bytes datagram = SflowBuilder(kAgent, 0, 1, 1)
                             .sample(0, 1, body)
                             .flow_sample(2, 1, 10, 0, 0, 1, 2)
                             .ethernet_frame(frame)
                             .end_sample()
                             .build();
  SflowDecoder d;
  const Decoded r = run(d, datagram);
  EXPECT_EQ(r.result.status, DecodeStatus::kBadSample);
  EXPECT_EQ(r.flows.size(), 1u);
  EXPECT_EQ(d.exporters().at(0).malformed, 1u);
}

// The byte offsets at which each sample of a well-formed datagram ends, and whether it is a
// flow sample with a decodable packet.
std::vector<std::pair<size_t, bool>> sample_ends(const Bytes& d) {
  std::vector<std::pair<size_t, bool>> ends;
  size_t at = d[7] == 1 ? 28 : 40;
  auto word = [&](size_t i) {
    return uint32_t{d[i]} << 24 | uint32_t{d[i + 1]} << 16 | uint32_t{d[i + 2]} << 8 | d[i + 3];
  };
  while (at < d.size()) {
    const uint32_t tag = word(at);
    at += 8 + word(at + 4);
    ends.emplace_back(at, tag == 1 || tag == 3);
  }
  return ends;
}

TEST(SflowDecoder, EveryTruncation) {
  const Bytes full = three_flows_datagram();
  const auto ends = sample_ends(full);
  ASSERT_EQ(ends.size(), 4u);
  SflowDecoder d;
  uint64_t expected_malformed = 0;
  for (size_t cut = 0; cut < full.size(); ++cut) {
    const Bytes part(full.begin(), full.begin() + static_cast<long>(cut));
    std::vector<ExportedFlow> flows;
    const DecodeResult r = d.decode(part.data(), part.size(), kFrom, kNow, flows);
    SCOPED_TRACE("cut at " + std::to_string(cut));
    EXPECT_NE(r.status, DecodeStatus::kOk);  // something announced is missing
    ++expected_malformed;
    uint32_t complete = 0;
    for (const auto& [end, is_flow] : ends) complete += end <= cut && is_flow;
    EXPECT_EQ(r.flows, complete);
    EXPECT_EQ(flows.size(), complete);
  }
  uint64_t malformed = 0;
  for (const ExporterStats& s : d.exporters()) malformed += s.malformed;
  EXPECT_EQ(malformed, expected_malformed);
}

TEST(SflowDecoder, RandomByteFlips) {
  std::mt19937_64 rng(7);
  const Bytes seeds[] = {
      three_flows_datagram(),
      SflowBuilder(core::IpAddr::v6(test::doc_ip6(1)), 1, 1, 1)
          .expanded_flow_sample(1, 0, 1, 10, 0, 0, {0, 1}, {0, 2})
          .ethernet_frame(test::udp6_frame(test::doc_ip6(1), test::doc_ip6(2), 1, 2, 300))
          .sampled_ipv6(100, 17, test::doc_ip6(3), test::doc_ip6(4), 1, 2, 0, 0)
          .end_sample()
          .flow_sample(2, 1, 10, 0, 0, 1, 2)
          .sampled_ipv4(100, 17, 1, 2, 3, 4, 0, 0)
          .end_sample()
          .build(),
  };
  size_t flows_total = 0;
  for (int round = 0; round < 5000; ++round) {
    Bytes b = seeds[round % 2];
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < flips; ++i) {
      // Mostly the low byte of a word (where counts and lengths live), sometimes anywhere.
      size_t at = rng() % b.size();
      if (rng() % 2) at |= 3;
      b[std::min(at, b.size() - 1)] = static_cast<uint8_t>(rng());
    }
    if (rng() % 4 == 0) b.resize(rng() % (b.size() + 1));
    SflowDecoder d;
    std::vector<ExportedFlow> flows;
    const DecodeResult r = d.decode(b.data(), b.size(), kFrom, kNow, flows);
    ASSERT_EQ(flows.size(), r.flows);
    // Each flow needs a sample header (8), a flow sample (32), a record header (8) and at
    // least a sampled IPv4 record (32) or an IPv4 header (20 + 16 of record fields).
    const size_t header = b.size() >= 8 && b[7] == 2 ? 40 : 28;
    ASSERT_LE(r.flows, b.size() > header ? (b.size() - header) / 80 : 0);
    const std::vector<ExporterStats> stats = d.exporters();
    ASSERT_EQ(stats.size(), 1u);
    ASSERT_EQ(stats[0].malformed > 0, r.status != DecodeStatus::kOk);
    ASSERT_EQ(stats[0].flows, r.flows);
    for (const ExportedFlow& f : flows) {
      ASSERT_EQ(f.packets, 1u);
      ASSERT_GE(f.sampling_rate, 1u);
    }
    flows_total += flows.size();
  }
  EXPECT_GT(flows_total, 1000u);  // most flips leave samples decodable
}

TEST(SflowDecoder, RandomGarbage) {
  std::mt19937_64 rng(11);
  SflowDecoder d(16);
  for (int round = 0; round < 3000; ++round) {
    Bytes b(rng() % 400);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    if (b.size() >= 8 && rng() % 2) {  // get past the version check half the time
      test::patch32(b, 0, 5);
      test::patch32(b, 4, 1 + rng() % 2);
    }
    std::vector<ExportedFlow> flows;
    const DecodeResult r = d.decode(b.data(), b.size(), kFrom, kNow, flows);
    ASSERT_EQ(flows.size(), r.flows);
  }
  EXPECT_LE(d.exporters().size(), 16u);
}

// --- tshark as the reference ----------------------------------------------------------------

// Classic pcap (microsecond, Ethernet) of the datagrams, each in Ethernet / IPv4 / UDP to 6343.
void write_pcap(const std::string& path, const std::vector<Bytes>& datagrams) {
  Bytes file;
  auto le32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) file.push_back(static_cast<uint8_t>(v >> (8 * i)));
  };
  le32(0xa1b2c3d4);
  le32(2 | 4u << 16);  // version 2.4
  le32(0);
  le32(0);
  le32(65535);
  le32(1);
  for (const Bytes& d : datagrams) {
    const Bytes frame =
        cat({test::ethernet(0x0800),
             test::ipv4(kFrom.address.v4_value(), ip4(127, 0, 0, 1), 17, 8 + d.size()),
             test::udp(kFrom.port, 6343, d.size()), d});
    le32(1'700'000'000);
    le32(0);
    le32(static_cast<uint32_t>(frame.size()));
    le32(static_cast<uint32_t>(frame.size()));
    file.insert(file.end(), frame.begin(), frame.end());
  }
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
}

// One row per pcap record: the last occurrence of each field (the sampled packet's, not the
// carrying UDP's), empty when absent.
std::vector<std::vector<std::string>> tshark_fields(const std::string& pcap,
                                                    const std::vector<std::string>& fields) {
  std::string cmd = "tshark -r '" + pcap + "' -T fields -E occurrence=l -E separator=/t";
  for (const std::string& f : fields) cmd += " -e " + f;
  cmd += " 2>/dev/null";
  std::vector<std::vector<std::string>> rows;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return rows;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::vector<std::string> row;
    size_t start = 0;
    while (true) {
      const size_t tab = line.find('\t', start);
      row.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    row.resize(fields.size());
    rows.push_back(row);
  }
  return rows;
}

TEST(SflowDecoderTshark, AgreesOnHandMadeDatagrams) {
  if (access("/usr/bin/tshark", X_OK) != 0) GTEST_SKIP() << "tshark not installed";
  const core::IpAddr agent6 = core::IpAddr::v6(test::doc_ip6(0xa9e));
  // One flow sample per datagram, so each pcap record is one expected flow (or none).
  std::vector<Bytes> datagrams;
  uint32_t seq = 1;
  auto one = [&](const Bytes& frame, uint32_t rate, bool expanded, core::IpAddr agent) {
    SflowBuilder b(agent, 0, seq++, 1000);
    if (expanded) {
      b.expanded_flow_sample(seq, 0, 9, rate, 0, 0, {0, 1}, {0, 2});
    } else {
      b.flow_sample(seq, 9, rate, 0, 0, 1, 2);
    }
    datagrams.push_back(b.ethernet_frame(frame).end_sample().counter_sample().build());
  };
  one(test::tcp4_frame(ip4(10, 0, 0, 1), ip4(10, 0, 0, 2), 40000, 443, 0x18, 1460), 1000, false,
      kAgent);
  one(test::udp6_frame(test::doc_ip6(1), test::doc_ip6(2), 5353, 53, 152), 512, true, agent6);
  one(test::tcp4_frame(ip4(10, 9, 0, 1), ip4(10, 9, 0, 2), 22, 50001, 0x02, 0, {{0x8100, 42}}), 1,
      false, kAgent);
  one(cat({test::ethernet(0x86dd, {{0x88a8, 5}, {0x8100, 6}}),
           test::ipv6(test::doc_ip6(3), test::doc_ip6(4), 6, 20 + 500), test::tcp(443, 1025, 0x11),
           test::zeros(500)}),
      64, true, kAgent);
  one(cat({test::ethernet(0x0800), test::ipv4(ip4(1, 2, 3, 4), ip4(5, 6, 7, 8), 1, 8 + 56),
           test::icmp(8, 0), test::zeros(56)}),
      100, false, agent6);
  one(cat({test::ethernet(0x86dd), test::ipv6(test::doc_ip6(5), test::doc_ip6(6), 0, 8 + 8 + 56),
           test::ipv6_options(58), test::icmp(129, 0), test::zeros(56)}),
      100, false, kAgent);
  one(cat({test::ethernet(0x0800),
           test::ipv4(ip4(9, 9, 9, 9), ip4(8, 8, 8, 8), 17, 8 + 30, 0, Bytes{0x94, 4, 0, 0}),
           test::udp(1000, 2000, 30), test::zeros(30)}),
      100, false, kAgent);
  one(cat({test::ethernet(0x0806), test::zeros(28)}), 100, false, kAgent);  // ARP: no flow

  char dir_template[] = "/tmp/netpulse-sflow-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string pcap = std::string(dir_template) + "/sflow.pcap";
  write_pcap(pcap, datagrams);
  const std::vector<std::string> fields = {"sflow_245.agent",
                                           "sflow_245.agent.v6",
                                           "sflow.flow_sample.sampling_rate",
                                           "ip.src",
                                           "ip.dst",
                                           "ipv6.src",
                                           "ipv6.dst",
                                           "ip.len",
                                           "ipv6.plen",
                                           "tcp.srcport",
                                           "tcp.dstport",
                                           "udp.srcport",
                                           "udp.dstport",
                                           "icmp.type",
                                           "icmp.code",
                                           "icmpv6.type",
                                           "icmpv6.code",
                                           "tcp.flags",
                                           "sflow_245.numsamples"};
  const auto rows = tshark_fields(pcap, fields);
  std::filesystem::remove_all(dir_template);
  ASSERT_EQ(rows.size(), datagrams.size()) << "tshark gave no output";

  SflowDecoder d;
  size_t compared = 0;
  for (size_t i = 0; i < datagrams.size(); ++i) {
    SCOPED_TRACE("datagram " + std::to_string(i));
    const auto& t = rows[i];
    ASSERT_EQ(t[18], "2");  // tshark read both samples
    const Decoded r = run(d, datagrams[i]);
    ASSERT_EQ(r.result.status, DecodeStatus::kOk);
    const bool v6 = !t[5].empty();
    // The carrying packet is IPv4 from kFrom: an inner IPv4 address differs from it.
    const bool v4 = !v6 && t[3] != core::to_string(kFrom.address);
    if (!v4 && !v6) {
      EXPECT_EQ(r.flows.size(), 0u);
      continue;
    }
    ASSERT_EQ(r.flows.size(), 1u);
    const ExportedFlow& f = r.flows[0];
    const std::string agent = core::to_string(f.exporter);
    EXPECT_EQ(agent, f.exporter.is_v6 ? t[1] : t[0]);
    EXPECT_EQ(std::to_string(f.sampling_rate), t[2]);
    EXPECT_EQ(core::to_string(f.src), v6 ? t[5] : t[3]);
    EXPECT_EQ(core::to_string(f.dst), v6 ? t[6] : t[4]);
    EXPECT_EQ(std::to_string(f.bytes), v6 ? std::to_string(40 + std::stoul(t[8])) : t[7]);
    if (f.ip_protocol == 6) {
      EXPECT_EQ(std::to_string(f.src_port), t[9]);
      EXPECT_EQ(std::to_string(f.dst_port), t[10]);
      EXPECT_EQ(std::stoul(t[17], nullptr, 16), f.tcp_flags);
    } else if (f.ip_protocol == 17) {
      EXPECT_EQ(std::to_string(f.src_port), t[11]);
      EXPECT_EQ(std::to_string(f.dst_port), t[12]);
    } else if (f.ip_protocol == 1) {
      EXPECT_EQ(std::to_string(f.dst_port),
                std::to_string(std::stoul(t[13]) * 256 + std::stoul(t[14])));
    } else {
      ASSERT_EQ(f.ip_protocol, 58);
      EXPECT_EQ(std::to_string(f.dst_port),
                std::to_string(std::stoul(t[15]) * 256 + std::stoul(t[16])));
    }
    ++compared;
  }
  EXPECT_EQ(compared, datagrams.size() - 1);
}

}  // namespace
}  // namespace netpulse::collect
