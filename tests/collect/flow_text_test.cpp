// Exported flows as flow-record text: the time --flow-time picks, the label, bytes times the
// sampling rate, flows over 4 GiB split into records that add up, CSV's extra columns, and the
// text read back by netpulse's own parser.
#include "collect/flow_text.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/protocol_table.hpp"
#include "ingest/flow_parser.hpp"

namespace netpulse::collect {
namespace {

ExportedFlow sample_flow() {
  ExportedFlow f;
  f.start = 1700000000123;  // 2023-11-14 22:13:20.123
  f.end = 1700000005456;
  f.received = 1700000009000;
  f.src = *core::parse_ip("192.0.2.10");
  f.dst = *core::parse_ip("2001:db8::1");
  f.exporter = *core::parse_ip("127.0.0.1");
  f.bytes = 1500;
  f.packets = 3;
  f.sampling_rate = 10;
  f.src_port = 51000;
  f.dst_port = 443;
  f.ip_protocol = 6;
  f.tcp_flags = 0x1b;
  f.input_if = 3;
  f.output_if = 7;
  return f;
}

TEST(FlowText, LineFormatPerFlowTime) {
  ServiceTable services;
  std::string out;
  FlowText(services, FlowTime::kEnd, TextFormat::kLine).append(sample_flow(), out);
  EXPECT_EQ(out, "2023-11-14 22:13:25.456 HTTPS 192.0.2.10 2001:db8::1 15000\n");
  out.clear();
  FlowText(services, FlowTime::kStart, TextFormat::kLine).append(sample_flow(), out);
  EXPECT_EQ(out, "2023-11-14 22:13:20.123 HTTPS 192.0.2.10 2001:db8::1 15000\n");
  out.clear();
  FlowText(services, FlowTime::kReceived, TextFormat::kLine).append(sample_flow(), out);
  EXPECT_EQ(out, "2023-11-14 22:13:29.000 HTTPS 192.0.2.10 2001:db8::1 15000\n");
  EXPECT_TRUE(FlowText(services, FlowTime::kEnd, TextFormat::kLine).header().empty());
}

TEST(FlowText, CsvKeepsWhatTheLineFormatCannotAndParsesBack) {
  ServiceTable services;
  FlowText text(services, FlowTime::kEnd, TextFormat::kCsv);
  std::string out(text.header());
  EXPECT_EQ(text.append(sample_flow(), out), 1u);
  EXPECT_EQ(out,
            "time,protocol,src,dst,bytes,packets,src_port,dst_port,ip_protocol,tcp_flags,input_if,"
            "output_if,exporter,sampling_rate,flow_start,flow_end\n"
            "2023-11-14 22:13:25.456,HTTPS,192.0.2.10,2001:db8::1,15000,30,51000,443,6,27,3,7,"
            "127.0.0.1,10,2023-11-14 22:13:20.123,2023-11-14 22:13:25.456\n");
  core::ProtocolTable protocols;
  ingest::FlowParser parser(protocols, ingest::Format::kCsv);
  const size_t nl = out.find('\n');
  ASSERT_TRUE(parser.read_header(std::string_view(out).substr(0, nl)).ok());
  core::FlowRecord r;
  const std::string_view line = std::string_view(out).substr(nl + 1, out.size() - nl - 2);
  ASSERT_EQ(parser.parse(line.data(), line.data() + line.size(), r), ingest::ParseStatus::kOk);
  EXPECT_EQ(r.time, 1700000005456);
  EXPECT_EQ(protocols.name(r.protocol), "HTTPS");
  EXPECT_EQ(r.bytes, 15000u);
  EXPECT_EQ(core::to_string(r.dst), "2001:db8::1");
}

TEST(FlowText, FlowsOverTheRecordLimitSplitIntoRecordsThatAddUp) {
  ServiceTable services;
  FlowText text(services, FlowTime::kEnd, TextFormat::kLine);
  ExportedFlow f = sample_flow();
  f.sampling_rate = 1;
  f.bytes = 3 * 4294967295ULL + 5;
  std::string out;
  ASSERT_EQ(text.append(f, out), 4u);
  core::ProtocolTable protocols;
  ingest::FlowParser parser(protocols, ingest::Format::kLine);
  uint64_t sum = 0;
  size_t start = 0;
  for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1) {
    core::FlowRecord r;
    ASSERT_EQ(parser.parse(out.data() + start, out.data() + nl, r), ingest::ParseStatus::kOk);
    sum += r.bytes;
  }
  EXPECT_EQ(sum, f.bytes);
  // Exactly the limit: one record.
  f.bytes = 4294967295ULL;
  out.clear();
  EXPECT_EQ(text.append(f, out), 1u);
  // A zero-byte flow is still a record.
  f.bytes = 0;
  out.clear();
  EXPECT_EQ(text.append(f, out), 1u);
}

TEST(FlowText, ImplausibleFlowsAreRefusedNotWrittenAThousandTimes) {
  ServiceTable services;
  FlowText text(services, FlowTime::kEnd, TextFormat::kLine);
  ExportedFlow f = sample_flow();
  f.bytes = UINT64_MAX / 3;
  f.sampling_rate = 1000;  // overflows: saturates, then refused
  std::string out;
  EXPECT_EQ(text.append(f, out), 0u);
  EXPECT_TRUE(out.empty());
  f.sampling_rate = 1;
  f.bytes = 5ULL << 40;  // 5 TiB in one record
  EXPECT_EQ(text.append(f, out), 0u);
}

TEST(FlowText, ParsesFlowTimeNames) {
  EXPECT_EQ(parse_flow_time("start"), FlowTime::kStart);
  EXPECT_EQ(parse_flow_time("end"), FlowTime::kEnd);
  EXPECT_EQ(parse_flow_time("received"), FlowTime::kReceived);
  EXPECT_FALSE(parse_flow_time("middle").has_value());
}

}  // namespace
}  // namespace netpulse::collect
