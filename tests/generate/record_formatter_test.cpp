#include "generate/record_formatter.hpp"

#include <gtest/gtest.h>

#include <cstring>
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
      ASSERT_TRUE(parser.read_header(h.substr(0, h.size() - 1)).ok());
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

std::string format_extended(RecordFormatter& f, core::TimeMs t, int digits, uint32_t filler,
                            uint32_t protocol, RecordFormatter::Address src,
                            RecordFormatter::Address dst, uint32_t bytes) {
  char buf[RecordFormatter::kMaxExtendedRecordText + 16];
  char* end = f.write_extended(buf, t, digits, filler, protocol, src, dst, bytes);
  EXPECT_LE(static_cast<size_t>(end - buf), RecordFormatter::kMaxExtendedRecordText);
  return std::string(buf, end);
}

AddressList::V6Text v6(std::string_view text) {
  AddressList::V6Text t{};
  std::memcpy(t.text, text.data(), text.size());
  t.size = static_cast<uint8_t>(text.size());
  return t;
}

TEST(RecordFormatter, WritesZeroToNineFractionDigits) {
  RecordFormatter f(OutputFormat::kLine);
  const core::TimeMs t = *core::parse_datetime("2020-05-09 20:41:37.123");
  const RecordFormatter::Address a{ipv4(1, 2, 3, 4), nullptr}, b{ipv4(5, 6, 7, 8), nullptr};
  const char* expected[] = {"2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 60\n",
                            "2020-05-09 20:41:37.1 SOAP 1.2.3.4 5.6.7.8 60\n",
                            "2020-05-09 20:41:37.12 SOAP 1.2.3.4 5.6.7.8 60\n",
                            "2020-05-09 20:41:37.123 SOAP 1.2.3.4 5.6.7.8 60\n",
                            "2020-05-09 20:41:37.1230 SOAP 1.2.3.4 5.6.7.8 60\n",
                            "2020-05-09 20:41:37.12304 SOAP 1.2.3.4 5.6.7.8 60\n",
                            "2020-05-09 20:41:37.123045 SOAP 1.2.3.4 5.6.7.8 60\n",
                            "2020-05-09 20:41:37.1230456 SOAP 1.2.3.4 5.6.7.8 60\n",
                            "2020-05-09 20:41:37.12304567 SOAP 1.2.3.4 5.6.7.8 60\n",
                            "2020-05-09 20:41:37.123045678 SOAP 1.2.3.4 5.6.7.8 60\n"};
  for (int d = 0; d <= kMaxTimeDigits; ++d)
    EXPECT_EQ(format_extended(f, t, d, 45678, 4, a, b, 60), expected[d]) << d;
  // Three digits and IPv4 addresses: exactly what write() gives.
  EXPECT_EQ(format_extended(f, t, 3, 999999, 4, a, b, 4096), format(f, t, 4, a.v4, b.v4, 4096));
}

TEST(RecordFormatter, WritesIpv6TextInCsvToo) {
  RecordFormatter f(OutputFormat::kCsv);
  const core::TimeMs t = *core::parse_datetime("2020-05-09 00:00:00.005");
  const auto longest = v6("2a02:8071:b82:e600:9d3c:a1b2:4c5e:1f00");
  const auto server = v6("2001:470:1f0b:45e::25");
  EXPECT_EQ(format_extended(f, t, 9, 999999, 18, {0, &longest}, {0, &server}, 4294967295u),
            "2020-05-09 00:00:00.005999999,MQTT,2a02:8071:b82:e600:9d3c:a1b2:4c5e:1f00,"
            "2001:470:1f0b:45e::25,4294967295\n");
  EXPECT_EQ(format_extended(f, t, 0, 0, 0, {ipv4(9, 9, 9, 9), nullptr}, {0, &server}, 0),
            "2020-05-09 00:00:00,HTTP,9.9.9.9,2001:470:1f0b:45e::25,0\n");
}

// Random extended records parse back: the time to the millisecond, truncated below 3 digits.
TEST(RecordFormatter, EveryRandomExtendedRecordParsesBackToItsFields) {
  const AddressList list(20'000, 30);
  for (OutputFormat format_kind : {OutputFormat::kLine, OutputFormat::kCsv}) {
    RecordFormatter f(format_kind);
    core::ProtocolTable table;
    ingest::FlowParser parser(
        table, format_kind == OutputFormat::kCsv ? ingest::Format::kCsv : ingest::Format::kLine);
    if (format_kind == OutputFormat::kCsv) {
      const std::string_view h = f.header();
      ASSERT_TRUE(parser.read_header(h.substr(0, h.size() - 1)).ok());
    }
    SplitMix64 rng(7);
    core::TimeMs t = *core::parse_datetime("1999-12-31 23:59:00");
    auto address = [&](uint32_t i) -> RecordFormatter::Address {
      const uint32_t e = list[i];
      return list.is_v6(i) ? RecordFormatter::Address{0, &list.v6_text(e)}
                           : RecordFormatter::Address{e, nullptr};
    };
    for (int i = 0; i < 20000; ++i) {
      t += static_cast<core::TimeMs>(rng.next() % 1500);
      const uint64_t r = rng.next();
      const int digits = static_cast<int>(r % 10);
      const uint32_t protocol = static_cast<uint32_t>((r >> 8) % kMaxProtocols);
      const uint32_t s = scale32(high32(rng.next()), 20'000), d = scale32(low32(r), 20'000);
      const uint32_t bytes = high32(r) % 70000;
      const std::string line = format_extended(f, t, digits, scale32(high32(r), 1'000'000),
                                               protocol, address(s), address(d), bytes);
      core::FlowRecord rec;
      ingest::ParseError err;
      ASSERT_EQ(parser.parse(line.data(), line.data() + line.size() - 1, rec, &err),
                ingest::ParseStatus::kOk)
          << line << ingest::describe(err.status);
      const core::TimeMs unit = digits == 0 ? 1000 : digits == 1 ? 100 : digits == 2 ? 10 : 1;
      EXPECT_EQ(rec.time, t - t % unit) << line;
      EXPECT_EQ(table.name(rec.protocol), protocol_names()[protocol]);
      EXPECT_EQ(core::to_string(rec.src), list.text(s));
      EXPECT_EQ(core::to_string(rec.dst), list.text(d));
      EXPECT_EQ(rec.bytes, bytes);
    }
  }
}

}  // namespace
}  // namespace netpulse::generate
