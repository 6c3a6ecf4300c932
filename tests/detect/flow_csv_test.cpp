// The CSV helpers the detectors share (detect-flows, and the tap of process and run): the extra
// columns of a collector's or capture's CSV found by name in any order, read into a connection
// (a missing or broken column is left out, never guessed), and a capture's two directions
// joined into one connection.
#include "detect/flow_csv.hpp"

#include <gtest/gtest.h>

namespace netpulse::detect {
namespace {

ConnectionEvent event(const char* src, const char* dst, uint16_t sport, uint16_t dport,
                      uint64_t bytes) {
  ConnectionEvent c;
  c.src = *core::parse_ip(src);
  c.dst = *core::parse_ip(dst);
  c.src_port = sport;
  c.dst_port = dport;
  c.ip_protocol = 6;
  c.src_bytes = bytes;
  c.has = ConnectionEvent::kPorts | ConnectionEvent::kIpProtocol;
  return c;
}

TEST(CsvFlowColumns, FindsTheExtraColumnsByNameInAnyOrder) {
  const auto x = CsvFlowColumns::from_header(
      "src_port,time,flow_end,protocol,src,dst_port,dst,bytes,tcp_flags,ip_protocol,packets,"
      "flow_start\r");
  EXPECT_EQ(x.src_port, 0);
  EXPECT_EQ(x.flow_end, 2);
  EXPECT_EQ(x.dst_port, 5);
  EXPECT_EQ(x.tcp_flags, 8);
  EXPECT_EQ(x.ip_protocol, 9);
  EXPECT_EQ(x.packets, 10);
  EXPECT_EQ(x.flow_start, 11);  // the line end's \r is not part of the name
  EXPECT_TRUE(x.flow_export());
  // A line-format CSV (the five columns) is not a flow export.
  EXPECT_FALSE(CsvFlowColumns::from_header("time,protocol,src,dst,bytes").flow_export());
}

TEST(CsvFlowColumns, ReadsWhatIsThereAndLeavesOutWhatIsNot) {
  const auto x = CsvFlowColumns::from_header(
      "time,protocol,src,dst,bytes,packets,src_port,dst_port,ip_protocol,tcp_flags,flow_start,"
      "flow_end");
  ConnectionEvent c;
  core::TimeMs start = -1, end = -1;
  x.read(
      "2024-01-01 00:00:10.000,HTTP,10.0.0.1,10.0.0.2,4000,3,51000,80,6,18,"
      "2024-01-01 00:00:09.500,2024-01-01 00:00:10.000\r",
      c, &start, &end);
  EXPECT_EQ(c.has, ConnectionEvent::kIpProtocol | ConnectionEvent::kPorts |
                       ConnectionEvent::kTcpFlags | ConnectionEvent::kPackets |
                       ConnectionEvent::kDuration);
  EXPECT_EQ(c.ip_protocol, 6);
  EXPECT_EQ(c.src_port, 51000);
  EXPECT_EQ(c.dst_port, 80);
  EXPECT_EQ(c.tcp_flags, 18);
  EXPECT_EQ(c.src_packets, 3u);
  EXPECT_EQ(c.duration_ms, 500);
  EXPECT_EQ(end - start, 500);

  // Out of range, not a number, missing: each left out, the others still read.
  ConnectionEvent d;
  start = end = -1;
  x.read("2024-01-01 00:00:10.000,HTTP,10.0.0.1,10.0.0.2,4000,x,70000,80,300,18,bad", d, &start,
         &end);
  EXPECT_EQ(d.has, ConnectionEvent::kTcpFlags);
  EXPECT_EQ(d.tcp_flags, 18);
  EXPECT_EQ(start, -1);  // no flow times: left alone
  EXPECT_EQ(end, -1);
}

TEST(DirectionPairer, JoinsAReplyAndEndsAConnectionWithout) {
  DirectionPairer p;
  ConnectionEvent out;
  // The originator's direction waits for its reply.
  EXPECT_FALSE(p.add(event("10.0.0.1", "10.0.0.2", 51000, 80, 100), 1000, 1200, out));
  // The reply completes it: both directions, the responder's bytes, the whole duration.
  auto reply = event("10.0.0.2", "10.0.0.1", 80, 51000, 5000);
  reply.tcp_flags = 0x12;
  reply.has |= ConnectionEvent::kDuration;
  ASSERT_TRUE(p.add(reply, 1010, 1500, out));
  EXPECT_EQ(out.src, *core::parse_ip("10.0.0.1"));
  EXPECT_EQ(out.src_bytes, 100u);
  EXPECT_EQ(out.dst_bytes, 5000u);
  EXPECT_EQ(out.responder_flags, 0x12);

  // A connection followed by another (not its reply) ends unanswered when the next comes.
  EXPECT_FALSE(p.add(event("10.0.0.3", "10.0.0.4", 40000, 22, 60), 2000, 2000, out));
  ASSERT_TRUE(p.add(event("10.0.0.5", "10.0.0.4", 40001, 22, 60), 2100, 2100, out));
  EXPECT_EQ(out.src, *core::parse_ip("10.0.0.3"));
  EXPECT_EQ(out.dst_bytes, 0u);
  EXPECT_TRUE(out.has & ConnectionEvent::kDstBytes);  // known to be none
  // The last one at the end of the input.
  ASSERT_TRUE(p.flush(out));
  EXPECT_EQ(out.src, *core::parse_ip("10.0.0.5"));
  EXPECT_FALSE(p.flush(out));

  // After a gap the waiting connection is forgotten: what comes next is not taken as its reply.
  EXPECT_FALSE(p.add(event("10.0.0.1", "10.0.0.2", 51000, 80, 100), 3000, 3000, out));
  p.clear();
  EXPECT_FALSE(p.add(event("10.0.0.2", "10.0.0.1", 80, 51000, 5000), 3010, 3010, out));
  ASSERT_TRUE(p.flush(out));
  EXPECT_EQ(out.src, *core::parse_ip("10.0.0.2"));  // a connection of its own
}

}  // namespace
}  // namespace netpulse::detect
