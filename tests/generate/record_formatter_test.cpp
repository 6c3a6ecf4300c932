#include "generate/record_formatter.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/ip_addr.hpp"
#include "generate/rng.hpp"
#include "ingest/flow_parser.hpp"

namespace netpulse::generate {
namespace {

std::string format(RecordFormatter& f, core::TimeMs t, uint32_t protocol, uint32_t src,
                   uint32_t dst, uint32_t bytes) {
  char buf[RecordFormatter::kMaxRecordText + 16];
  char* end = f.write(buf, t, protocol, src, dst, bytes);
  EXPECT_LE(static_cast<size_t>(end - buf), RecordFormatter::kMaxRecordText);
  return std::string(buf, end);
}

TEST(RecordFormatter, WritesTheSpecsLineFormat) {
  RecordFormatter f(OutputFormat::kLine);
  const core::TimeMs t = *core::parse_datetime("2020-05-09 20:41:37.123");
  EXPECT_EQ(format(f, t, 4, ipv4(222, 186, 237, 75), ipv4(53, 215, 218, 189), 6772),
            "2020-05-09 20:41:37.123 SOAP 222.186.237.75 53.215.218.189 6772\n");
  EXPECT_EQ(f.header(), "");
}

TEST(RecordFormatter, WritesCsvWithAHeader) {
  RecordFormatter f(OutputFormat::kCsv);
  const core::TimeMs t = *core::parse_datetime("2020-05-09 20:41:37.005");
  EXPECT_EQ(f.header(), "time,protocol,src,dst,bytes\n");
  EXPECT_EQ(format(f, t, 0, ipv4(0, 0, 0, 0), ipv4(255, 255, 255, 255), 0),
            "2020-05-09 20:41:37.005,HTTP,0.0.0.0,255.255.255.255,0\n");
}

TEST(RecordFormatter, CachedSecondPrefixFollowsTimeForwardAndBackward) {
  RecordFormatter f(OutputFormat::kLine);
  const core::TimeMs t = *core::parse_datetime("2020-12-31 23:59:59.999");
  EXPECT_EQ(format(f, t, 0, 1, 2, 3).substr(0, 23), "2020-12-31 23:59:59.999");
  EXPECT_EQ(format(f, t + 1, 0, 1, 2, 3).substr(0, 23), "2021-01-01 00:00:00.000");
  EXPECT_EQ(format(f, t, 0, 1, 2, 3).substr(0, 23), "2020-12-31 23:59:59.999");
}

TEST(RecordFormatter, LargeByteCountsUseTheSlowPath) {
  RecordFormatter f(OutputFormat::kLine);
  const std::string line = format(f, 0, 18, 1, 2, 4294967295u);
  EXPECT_EQ(line, "1970-01-01 00:00:00.000 MQTT 0.0.0.1 0.0.0.2 4294967295\n");
  EXPECT_EQ(format(f, 0, 18, 1, 2, 4095), "1970-01-01 00:00:00.000 MQTT 0.0.0.1 0.0.0.2 4095\n");
  EXPECT_EQ(format(f, 0, 18, 1, 2, 4096), "1970-01-01 00:00:00.000 MQTT 0.0.0.1 0.0.0.2 4096\n");
}

// Random fields, formatted and parsed back: the parser must get exactly what was drawn.
TEST(RecordFormatter, EveryRandomRecordParsesBackToItsFields) {
  for (OutputFormat format_kind : {OutputFormat::kLine, OutputFormat::kCsv}) {
    RecordFormatter f(format_kind);
    core::ProtocolTable table;
    ingest::FlowParser parser(
        table, format_kind == OutputFormat::kCsv ? ingest::Format::kCsv : ingest::Format::kLine);
    if (format_kind == OutputFormat::kCsv) {
      const std::string_view h = f.header();
      ASSERT_FALSE(parser.read_header(h.substr(0, h.size() - 1)));
    }
    SplitMix64 rng(42);
    core::TimeMs t = *core::parse_datetime("1999-12-31 23:59:00");
    for (int i = 0; i < 20000; ++i) {
      t += static_cast<core::TimeMs>(rng.next() % 1500);
      const uint64_t r = rng.next();
      const uint32_t protocol = static_cast<uint32_t>(r % kMaxProtocols);
      const uint32_t src = high32(rng.next()), dst = low32(r);
      const uint32_t bytes = i % 3 == 0 ? high32(r) : high32(r) % 5000;
      const std::string line = format(f, t, protocol, src, dst, bytes);
      ASSERT_EQ(line.back(), '\n');
      core::FlowRecord rec;
      ingest::ParseError err;
      ASSERT_EQ(parser.parse(line.data(), line.data() + line.size() - 1, rec, &err),
                ingest::ParseStatus::kOk)
          << line << ingest::describe(err.status);
      EXPECT_EQ(rec.time, t);
      EXPECT_EQ(table.name(rec.protocol), protocol_names()[protocol]);
      EXPECT_EQ(rec.src, core::IpAddr::v4(src));
      EXPECT_EQ(rec.dst, core::IpAddr::v4(dst));
      EXPECT_EQ(rec.bytes, bytes);
    }
  }
}

}  // namespace
}  // namespace netpulse::generate
