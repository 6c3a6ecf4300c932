// The reference itself, checked by hand on small inputs: if it were wrong, the property tests
// would hold the engine to the wrong answers.
#include <gtest/gtest.h>

#include <cmath>

#include "reference.hpp"
#include "stream_gen.hpp"

namespace netpulse::testref {
namespace {

std::string rec(double seconds, const std::string& proto, const std::string& src,
                const std::string& dst, uint64_t bytes) {
  return record_line(kBaseMs + static_cast<int64_t>(seconds * 1000), proto, src, dst, bytes) + "\n";
}

std::vector<std::string> keys(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const Row& r : rows) out.push_back(r.key);
  return out;
}

TEST(Reference, ParsesTheSpecExampleLine) {
  Record r;
  ASSERT_EQ(parse_line("2020-05-09 20:41:37.123 SOAP 222.186.237.75 53.215.218.189 6772", r),
            LineKind::kRecord);
  EXPECT_EQ(r.time, 1589056897123);
  EXPECT_EQ(r.protocol, "SOAP");
  EXPECT_EQ(r.src.text(), "222.186.237.75");
  EXPECT_EQ(r.dst.text(), "53.215.218.189");
  EXPECT_EQ(r.bytes, 6772u);
  ASSERT_EQ(parse_line("2020-05-09\t20:41:37.1239999 a ::1 ::ffff:1.2.3.4 4294967295\r", r), LineKind::kRecord);
  EXPECT_EQ(r.time, 1589056897123);
  EXPECT_EQ(r.dst.text(), "::ffff:1.2.3.4");
  EXPECT_EQ(r.bytes, 4294967295u);
  EXPECT_EQ(parse_line(" \t ", r), LineKind::kBlank);
  EXPECT_EQ(parse_line("", r), LineKind::kBlank);
}

TEST(Reference, RejectsWhatTheSpecCallsMalformed) {
  Record r;
  for (const char* bad : {
           "2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8",              // missing field
           "2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 1 2",          // extra field
           "2020-05-09 20:41:37 SO/AP 1.2.3.4 5.6.7.8 1",           // protocol character
           "2020-05-09 20:41:37 ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg 1.2.3.4 5.6.7.8 1",
           "2020-05-09 20:41:37 SOAP 1.2.3.256 5.6.7.8 1",          // octet
           "2020-05-09 20:41:37 SOAP 01.2.3.4 5.6.7.8 1",           // leading zero
           "2020-05-09 20:41:37 SOAP 1.2.3.4 2001:db8:::1 1",       // IPv6
           "2020-05-09 20:41:37 SOAP 1.2.3.4 fe80::1%eth0 1",       // zone
           "2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 4294967296",   // bytes range
           "2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 1x",
           "2020-02-30 20:41:37 SOAP 1.2.3.4 5.6.7.8 1",            // date
           "2019-02-29 20:41:37 SOAP 1.2.3.4 5.6.7.8 1",
           "2020-05-09 20:60:37 SOAP 1.2.3.4 5.6.7.8 1",            // time
           "2020-05-09 20:41:37. SOAP 1.2.3.4 5.6.7.8 1",           // fraction
           "2020-05-09 20:41:37.1234567890 SOAP 1.2.3.4 5.6.7.8 1",
       }) {
    EXPECT_EQ(parse_line(bad, r), LineKind::kMalformed) << bad;
  }
  EXPECT_EQ(parse_line("2020-02-29 20:41:37 SOAP 1.2.3.4 5.6.7.8 1", r), LineKind::kRecord);
  EXPECT_EQ(parse_line(std::string(5000, 'x'), r), LineKind::kMalformed);
}

TEST(Reference, OrdersAddressesIpv4FirstThenNumerically) {
  std::vector<Addr> a;
  for (const char* s : {"::1", "10.0.0.1", "9.0.0.1", "2001:db8::10", "2001:db8::2", "255.255.255.255"})
    a.push_back(*parse_addr(s));
  std::sort(a.begin(), a.end());
  std::vector<std::string> text;
  for (const Addr& x : a) text.push_back(x.text());
  EXPECT_EQ(text, (std::vector<std::string>{"9.0.0.1", "10.0.0.1", "255.255.255.255", "::1",
                                            "2001:db8::2", "2001:db8::10"}));
}

TEST(Reference, LatenessAndWindows) {
  // T=2, slide 1, lateness 1: the watermark trails the newest time by one second.
  Options o;
  o.params.T = 2;
  o.lateness = 1;
  const std::string text = rec(10.5, "A", "1.1.1.1", "2.2.2.2", 10) +  // accepted
                           rec(9.5, "A", "1.1.1.1", "2.2.2.2", 20) +   // 9.5 >= 9.5: accepted
                           rec(9.4, "A", "1.1.1.1", "2.2.2.2", 40) +   // late
                           rec(20.0, "B", "3.3.3.3", "2.2.2.2", 80);   // a gap
  const Result r = compute(text, o);
  EXPECT_EQ(r.accepted, 3u);
  EXPECT_EQ(r.late, 1u);
  // Windows ending at 10, 11, 12 hold the first two records; 21 and 22 the last.
  std::vector<int64_t> ends;
  for (const Window& w : r.windows) ends.push_back((w.end_ms - kBaseMs) / 1000);
  EXPECT_EQ(ends, (std::vector<int64_t>{10, 11, 12, 21, 22}));
  EXPECT_EQ(r.windows[1].records, 2u);
  EXPECT_EQ(r.windows[1].total_bytes, 30u);
  EXPECT_EQ(r.windows[1].start_ms, kBaseMs + 9000);
}

TEST(Reference, QueryRowsByHand) {
  // Three sources: 600, 300, 100 bytes. mean 1000/3, population sd = sqrt(((800/3)^2 +
  // (-100/3)^2 + (-700/3)^2) / 3) = sqrt(1140000/27).
  Options o;
  o.params = Params{25, 10, 2, 1};
  const std::string text = rec(1, "HTTP", "10.0.0.1", "9.9.9.9", 600) +
                           rec(1, "DNS", "10.0.0.2", "9.9.9.9", 300) +
                           rec(1, "HTTP", "10.0.0.3", "9.9.9.9", 100);
  const Result r = compute(text, o);
  ASSERT_EQ(r.windows.size(), 10u);
  const Window& w = r.windows[0];
  EXPECT_EQ(w.total_bytes, 1000u);
  EXPECT_EQ(w.ip_keys, 3u);
  EXPECT_EQ(keys(w.rows[3]), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));  // > 25%
  EXPECT_EQ(keys(w.rows[4]), (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));  // top 2
  EXPECT_EQ(keys(w.rows[5]), (std::vector<std::string>{"10.0.0.1"}));              // > mean + sd
  const double sd = std::sqrt(1140000.0 / 27);
  EXPECT_NEAR(*w.rows[4][0].z, (600 - 1000.0 / 3) / sd, 1e-12);
  EXPECT_DOUBLE_EQ(w.rows[4][0].share, 0.6);
  // Protocols: HTTP 700, DNS 300; two keys, z = +-1 exactly: with X = 1, no outlier (a tie).
  EXPECT_EQ(keys(w.rows[1]), (std::vector<std::string>{"HTTP", "DNS"}));
  EXPECT_EQ(w.rows[1][0].z, 1.0);
  ASSERT_EQ(w.rows[2].size(), 1u);
  EXPECT_TRUE(w.rows[2][0].boundary);
}

TEST(Reference, ParameterChangesApplyToWindowsFinalAfterThem) {
  Options o;
  o.params.T = 1;
  const std::string text = rec(0.5, "A", "1.1.1.1", "1.1.1.1", 1) + rec(1.5, "A", "1.1.1.1", "1.1.1.1", 1) +
                           rec(2.5, "A", "1.1.1.1", "1.1.1.1", 1);
  Params p = o.params;
  p.T = 3;
  // Before line 2: windows final after line 1 (ending at 1) keep T = 1.
  const Result r = compute(split_lines(text), o, {Change{2, p}});
  ASSERT_EQ(r.windows.size(), 5u);
  EXPECT_EQ(r.windows[0].params.T, 1);
  EXPECT_EQ(r.windows[1].params.T, 3);
  EXPECT_EQ(r.windows[1].records, 2u);  // [-1, 2): the first two records
}

}  // namespace
}  // namespace netpulse::testref
