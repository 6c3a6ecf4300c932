// Tests for ingest/flow_parser: every malformed case we could think of, line by line, then a
// reference parser written here from spec section 1 (with glibc's inet_pton and timegm as the
// references for addresses and times) that the real parser must agree with on random, mutated and
// binary lines, including sequences that exercise the parser's "YYYY-MM-DD HH:MM" cache; and last
// the parser as it was before its SIMD fast path (flow_parser_reference.hpp), which the new one
// must match exactly on every input, with and without readable bytes after the line.
#include "ingest/flow_parser.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "flow_parser_reference.hpp"

// Heap allocations made on this thread while counting is on (alloc_counter_test.cpp).
namespace netpulse::ingest::testing {
extern thread_local constinit bool count_allocations;
extern thread_local constinit size_t allocations;
}  // namespace netpulse::ingest::testing

namespace netpulse::ingest {
namespace {

using core::FlowRecord;
using core::IpAddr;
using core::TimeMs;

const TimeMs kBase = 1589056897000;  // 2020-05-09 20:41:37 UTC
const char* const kValid = "2020-05-09 20:41:37.123 SOAP 222.186.237.75 53.215.218.189 6772";

// The line format's five fields, to build variations of one line.
struct Fields {
  std::string date = "2020-05-09";
  std::string time = "20:41:37.123";
  std::string proto = "SOAP";
  std::string src = "222.186.237.75";
  std::string dst = "53.215.218.189";
  std::string bytes = "6772";
  std::string line(const char* sep = " ") const {
    return date + sep + time + sep + proto + sep + src + sep + dst + sep + bytes;
  }
};

class LineParserTest : public ::testing::Test {
 protected:
  ParseStatus parse(std::string_view line) {
    rec_ = FlowRecord{};
    err_ = ParseError{};
    return parser_.parse(line.data(), line.data() + line.size(), rec_, &err_);
  }
  std::string proto() const { return std::string(table_.name(rec_.protocol)); }

  core::ProtocolTable table_;
  FlowParser parser_{table_, Format::kLine};
  FlowRecord rec_;
  ParseError err_;
};

// ---------------------------------------------------------------------------------------------
// Hand-written cases

TEST_F(LineParserTest, TheSpecExample) {
  ASSERT_EQ(parse(kValid), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 123);
  EXPECT_EQ(proto(), "SOAP");
  EXPECT_EQ(rec_.src, *core::parse_ip("222.186.237.75"));
  EXPECT_EQ(rec_.dst, *core::parse_ip("53.215.218.189"));
  EXPECT_EQ(rec_.bytes, 6772u);
  EXPECT_EQ(err_.status, ParseStatus::kOk);
}

TEST_F(LineParserTest, SeparatorsAreRunsOfSpacesAndTabs) {
  for (const char* sep : {" ", "\t", "  ", "\t\t", " \t", "\t ", "     \t \t   "}) {
    ASSERT_EQ(parse(Fields{}.line(sep)), ParseStatus::kOk) << '"' << sep << '"';
    EXPECT_EQ(rec_.time, kBase + 123);
    EXPECT_EQ(rec_.bytes, 6772u);
  }
  EXPECT_EQ(parse(std::string("  \t") + kValid + " \t "), ParseStatus::kOk);
  EXPECT_EQ(rec_.bytes, 6772u);
  // Other whitespace is not a separator.
  for (const std::string& sep : {std::string("\v"), std::string("\f"), std::string("\r"),
                                 std::string(","), std::string(";"), std::string("\xa0"),
                                 std::string(1, '\0')}) {
    Fields f;
    const std::string line = f.date + " " + f.time + " " + f.proto + sep + f.src + " " + f.dst +
                             " " + f.bytes;
    EXPECT_EQ(parse(line), ParseStatus::kBadProtocol) << int(sep[0]);
  }
}

TEST_F(LineParserTest, CrLfAndCarriageReturns) {
  EXPECT_EQ(parse(std::string(kValid) + "\r"), ParseStatus::kOk);
  EXPECT_EQ(rec_.bytes, 6772u);
  EXPECT_EQ(parse(std::string(kValid) + " \r"), ParseStatus::kOk);
  EXPECT_EQ(parse(std::string(kValid) + "\t\r"), ParseStatus::kOk);
  // Only one trailing '\r' is a line end; others are bytes of the last field.
  EXPECT_EQ(parse(std::string(kValid) + "\r\r"), ParseStatus::kBadBytes);
  EXPECT_EQ(parse(std::string(kValid) + "\r "), ParseStatus::kBadBytes);
  // A '\r' inside the line is not a separator.
  Fields f;
  f.proto = "SO\rAP";
  EXPECT_EQ(parse(f.line()), ParseStatus::kBadProtocol);
  EXPECT_EQ(parse(Fields{}.line("\r")), ParseStatus::kBadDate);
  EXPECT_EQ(parse("2020-05-09 20:41:37\r.123 SOAP 1.2.3.4 1.2.3.4 1"), ParseStatus::kBadTime);
  EXPECT_EQ(parse("2020-05-09 20:41:37.12\r3 SOAP 1.2.3.4 1.2.3.4 1"), ParseStatus::kBadFraction);
  EXPECT_EQ(parse("2020-05-09 20:41:37 SOAP 1.2.3.4\r 1.2.3.4 1"), ParseStatus::kBadSrc);
  EXPECT_EQ(parse("2020-05-09 20:41:37 SOAP 1.2.3.4 1.2.3.4\r 1"), ParseStatus::kBadDst);
  EXPECT_EQ(parse("2020-05-09 20:41:37 SOAP 1.2.3.4 1.2.3.4 1\r1"), ParseStatus::kBadBytes);
}

TEST_F(LineParserTest, BlankLines) {
  for (const char* s : {"", " ", "\t", "  \t  ", "\r", " \r", "\t\r", " \t \t\r"}) {
    EXPECT_EQ(parse(s), ParseStatus::kBlank) << '"' << s << '"';
  }
  EXPECT_EQ(parse("\r\r"), ParseStatus::kBadDate);  // not blank: a stray '\r'
  EXPECT_EQ(parse("\v"), ParseStatus::kBadDate);
  EXPECT_EQ(parse(std::string_view("\0", 1)), ParseStatus::kBadDate);
  EXPECT_EQ(parse(" \f "), ParseStatus::kBadDate);
}

TEST_F(LineParserTest, LineLengthLimit) {
  // A valid record padded with blanks to exactly kMaxLineLength bytes is accepted...
  std::string line = kValid;
  line.append(kMaxLineLength - line.size(), ' ');
  ASSERT_EQ(line.size(), kMaxLineLength);
  EXPECT_EQ(parse(line), ParseStatus::kOk);
  EXPECT_EQ(parse(line + "\r"), ParseStatus::kOk);  // the '\r' is not part of the line
  // ... one byte more is too long, whatever the bytes.
  EXPECT_EQ(parse(line + " "), ParseStatus::kTooLong);
  EXPECT_EQ(parse(line + " \r"), ParseStatus::kTooLong);
  EXPECT_EQ(err_.status, ParseStatus::kTooLong);
  EXPECT_TRUE(err_.field.empty());
  EXPECT_EQ(parse(std::string(kMaxLineLength + 1, ' ')), ParseStatus::kTooLong);
  EXPECT_EQ(parse(std::string(kMaxLineLength + 1, 'x')), ParseStatus::kTooLong);
  EXPECT_EQ(parse(std::string(1 << 20, '7')), ParseStatus::kTooLong);
  // Padding in the middle counts too.
  std::string mid = "2020-05-09 20:41:37 SOAP" + std::string(kMaxLineLength, '\t') + "1.2.3.4 1.2.3.4 1";
  EXPECT_EQ(parse(mid), ParseStatus::kTooLong);
  // A long protocol is a bad protocol, not too long, while the line fits.
  Fields f;
  f.proto = std::string(4000, 'A');
  EXPECT_EQ(parse(f.line()), ParseStatus::kBadProtocol);
}

TEST_F(LineParserTest, BadDates) {
  for (const char* date :
       {"2020-00-09", "2020-13-09", "2020-99-09", "2020-05-00", "2020-05-32", "2020-04-31",
        "2020-06-31", "2020-09-31", "2020-11-31", "2021-02-29", "2023-02-29", "1900-02-29",
        "2100-02-29", "2020-02-30", "0000-01-01", "0000-00-00", "2020/05/09", "2020.05.09",
        "2020_05_09", "2020-5-09", "2020-05-9", "20-05-09", "202-05-09", "20200509", "2020-05-091",
        "12020-05-09", "x020-05-09", "2020-0x-09", "2020-05-0a", "-020-05-09", "+020-05-09",
        "2020-05-09T20:41:37", "2020-05-09Z", "2020--05-09", "2020-05--9", "2020-05-09-",
        "\xef\xbc\x92" "020-05-09", "2O20-05-09", " 2020-05-0", "2020-05"}) {
    Fields f;
    f.date = date;
    EXPECT_EQ(parse(f.line()), ParseStatus::kBadDate) << date;
  }
  // The error points at the date.
  Fields f;
  f.date = "2020-13-09";
  const std::string line = f.line();  // err_.field points into it
  ASSERT_EQ(parse(line), ParseStatus::kBadDate);
  EXPECT_EQ(err_.status, ParseStatus::kBadDate);
  EXPECT_EQ(err_.field, "2020-13-09");
  // Short junk.
  for (const char* s : {"2", "2020", "2020-05-0", "hello", "x", "-", ":", "."}) {
    EXPECT_EQ(parse(s), ParseStatus::kBadDate) << s;
  }
}

TEST_F(LineParserTest, ValidDatesAtTheEdges) {
  const std::pair<const char*, TimeMs> cases[] = {
      {"0001-01-01", -62135596800000}, {"1970-01-01", 0}, {"1969-12-31", -86400000},
      {"2000-02-29", 951782400000},    {"2024-02-29", 1709164800000},
      {"9999-12-31", 253402214400000}, {"2020-12-31", 1609372800000},
      {"2020-01-31", 1580428800000},   {"2020-04-30", 1588204800000},
  };
  for (const auto& [date, day] : cases) {
    Fields f;
    f.date = date;
    f.time = "00:00:00";
    ASSERT_EQ(parse(f.line()), ParseStatus::kOk) << date;
    EXPECT_EQ(rec_.time, day) << date;
  }
}

TEST_F(LineParserTest, BadTimesOfDay) {
  for (const char* t :
       {"24:00:00", "25:00:00", "99:00:00", "20:60:00", "20:99:00", "20:41:60", "20:41:61",
        "20:41:99", "2:41:37", "20:4:37", "20:41:3", "20:41", "20", "20:41:", "20-41-37",
        "20.41.37", "20:41:37x", "20:41:37:00", "20:41:37,123", "20:41:37Z", "20:41:37+00",
        "-1:41:37", "+1:41:37", "2a:41:37", "20:4a:37", "20:41:3a", "20::41:37", "T20:41:37",
        "204137", "20:41 :37", "\xb2" "0:41:37", "SOAP"}) {
    Fields f;
    f.time = t;
    EXPECT_EQ(parse(f.line()), ParseStatus::kBadTime) << t;
  }
  Fields f;
  f.time = "24:00:00";
  const std::string line = f.line();
  ASSERT_EQ(parse(line), ParseStatus::kBadTime);
  EXPECT_EQ(err_.status, ParseStatus::kBadTime);
  EXPECT_FALSE(err_.field.empty());
}

TEST_F(LineParserTest, ValidTimesOfDay) {
  const std::pair<const char*, TimeMs> cases[] = {
      {"00:00:00", 0},        {"23:59:59", 86399000}, {"12:00:00", 43200000},
      {"00:00:59", 59000},    {"00:59:00", 3540000},  {"23:59:59.999", 86399999},
      {"09:05:07.5", 32707500},
  };
  for (const auto& [t, ms] : cases) {
    Fields f;
    f.time = t;
    ASSERT_EQ(parse(f.line()), ParseStatus::kOk) << t;
    EXPECT_EQ(rec_.time, 1588982400000 + ms) << t;
  }
}

TEST_F(LineParserTest, FractionsOfOneToNineDigitsAreTruncated) {
  const std::pair<const char*, int> cases[] = {
      {"", 0},           {".0", 0},           {".1", 100},          {".12", 120},
      {".123", 123},     {".1239", 123},      {".12399", 123},      {".123999", 123},
      {".1239999", 123}, {".12399999", 123},  {".123999999", 123},  {".999999999", 999},
      {".000000001", 0}, {".9", 900},         {".09", 90},          {".009", 9},
      {".0009", 0},      {".5", 500},         {".999", 999},        {".000", 0},
  };
  for (const auto& [frac, ms] : cases) {
    Fields f;
    f.time = std::string("20:41:37") + frac;
    ASSERT_EQ(parse(f.line()), ParseStatus::kOk) << frac;
    EXPECT_EQ(rec_.time, kBase + ms) << frac;
  }
}

TEST_F(LineParserTest, BadFractions) {
  for (const char* frac : {".", ".1234567890", ".12345678901234567890", ".12a", ".a", "..1",
                           ".1.2", ".-1", ".+1", ". 1", ".1e3", ".12:", ".\xb1"}) {
    Fields f;
    f.time = std::string("20:41:37") + frac;
    EXPECT_EQ(parse(f.line()), ParseStatus::kBadFraction) << frac;
  }
  // A comma is not a decimal point.
  Fields f;
  f.time = "20:41:37,5";
  EXPECT_EQ(parse(f.line()), ParseStatus::kBadTime);
}

TEST_F(LineParserTest, Protocols) {
  const std::string max(core::kMaxProtocolLength, 'P');
  for (const std::string& p : {std::string("A"), std::string("z"), std::string("0"), std::string("_"),
                               std::string("."), std::string("-"), std::string("HTTP-2.0_x"),
                               std::string("SOAP"), max}) {
    Fields f;
    f.proto = p;
    ASSERT_EQ(parse(f.line()), ParseStatus::kOk) << p;
    EXPECT_EQ(proto(), p);
  }
  for (const std::string& p :
       {max + "P", std::string(100, 'A'), std::string("HT/TP"), std::string("HT+TP"),
        std::string("HTTP!"), std::string("HT:TP"), std::string("H\x80"), std::string("\xff"),
        std::string("H\0P", 3), std::string("\"HTTP\""), std::string("HT,TP"),
        std::string("HTTP\v"), std::string("SO@P"), std::string("ÄÖ")}) {
    Fields f;
    f.proto = p;
    const std::string line = f.line();
    EXPECT_EQ(parse(line), ParseStatus::kBadProtocol) << p;
    EXPECT_EQ(err_.field, p);
  }
}

TEST_F(LineParserTest, ProtocolsAreInternedCaseSensitively) {
  Fields f;
  f.proto = "HTTP";
  ASSERT_EQ(parse(f.line()), ParseStatus::kOk);
  const uint32_t http = rec_.protocol;
  f.proto = "http";
  ASSERT_EQ(parse(f.line()), ParseStatus::kOk);
  EXPECT_NE(rec_.protocol, http);
  f.proto = "HTTP";
  ASSERT_EQ(parse(f.line()), ParseStatus::kOk);
  EXPECT_EQ(rec_.protocol, http);
  // A second parser over the same table agrees.
  FlowParser other(table_, Format::kLine);
  const std::string line = f.line();
  FlowRecord r;
  ASSERT_EQ(other.parse(line.data(), line.data() + line.size(), r), ParseStatus::kOk);
  EXPECT_EQ(r.protocol, http);
}

TEST_F(LineParserTest, Addresses) {
  const char* good[] = {"0.0.0.0", "255.255.255.255", "10.0.0.1", "::", "::1", "2001:db8::1",
                        "2001:DB8:0:0:0:0:0:1", "fe80::1:2:3:4", "::ffff:1.2.3.4",
                        "1:2:3:4:5:6:7:8", "1::", "::1.2.3.4"};
  for (const char* a : good) {
    Fields f;
    f.src = a;
    f.dst = a;
    ASSERT_EQ(parse(f.line()), ParseStatus::kOk) << a;
    EXPECT_EQ(rec_.src, *core::parse_ip(a));
    EXPECT_EQ(rec_.dst, rec_.src);
  }
  const char* bad[] = {"1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1.2.3.4:80",
                       "1.2.3.4/32", "localhost", "-", "x", "1..2.3", "::1::", ":::", "1:2:3",
                       "12345::", "fe80::1%eth0", "[::1]", "::ffff:1.2.3.256", "1.2.3.4::",
                       "::g", "1:2:3:4:5:6:7:8:9", "\xff", "0x01020304", "16909060"};
  for (const char* a : bad) {
    Fields f;
    f.src = a;
    std::string line = f.line();
    EXPECT_EQ(parse(line), ParseStatus::kBadSrc) << a;
    EXPECT_EQ(err_.field, a);
    f = Fields{};
    f.dst = a;
    line = f.line();
    EXPECT_EQ(parse(line), ParseStatus::kBadDst) << a;
    EXPECT_EQ(err_.field, a);
  }
  // Both bad: the source is reported.
  Fields f;
  f.src = f.dst = "1.2.3";
  EXPECT_EQ(parse(f.line()), ParseStatus::kBadSrc);
  // IPv4 and IPv4-mapped IPv6 stay different keys.
  f = Fields{};
  f.src = "1.2.3.4";
  f.dst = "::ffff:1.2.3.4";
  ASSERT_EQ(parse(f.line()), ParseStatus::kOk);
  EXPECT_NE(rec_.src, rec_.dst);
}

TEST_F(LineParserTest, Bytes) {
  const std::pair<const char*, uint32_t> good[] = {
      {"0", 0}, {"1", 1}, {"4294967295", 4294967295u}, {"4294967294", 4294967294u},
      {"007", 7}, {"0000000000000000000004294967295", 4294967295u}, {"1500", 1500}};
  for (const auto& [b, v] : good) {
    Fields f;
    f.bytes = b;
    ASSERT_EQ(parse(f.line()), ParseStatus::kOk) << b;
    EXPECT_EQ(rec_.bytes, v) << b;
  }
  for (const char* b : {"4294967296", "4294967300", "9999999999", "18446744073709551615",
                        "18446744073709551616", "99999999999999999999999999999999999"}) {
    Fields f;
    f.bytes = b;
    const std::string line = f.line();
    EXPECT_EQ(parse(line), ParseStatus::kBytesRange) << b;
    EXPECT_EQ(err_.field, b);
  }
  for (const char* b : {"-1", "-0", "+1", "1.0", "1.", ".5", "1e3", "0x10", "12a", "a12", "1,000",
                        "1_000", "99999999999x", "4294967296.0", "\xb1", "one"}) {
    Fields f;
    f.bytes = b;
    const std::string line = f.line();
    EXPECT_EQ(parse(line), ParseStatus::kBadBytes) << b;
    EXPECT_EQ(err_.field, b);
  }
}

TEST_F(LineParserTest, MissingAndExtraFields) {
  EXPECT_EQ(parse("2020-05-09"), ParseStatus::kMissingField);
  EXPECT_EQ(parse("2020-05-09   \t"), ParseStatus::kMissingField);
  EXPECT_EQ(parse("2020-05-09 20:41:37"), ParseStatus::kMissingField);
  EXPECT_EQ(parse("2020-05-09 20:41:37.5 "), ParseStatus::kMissingField);
  EXPECT_EQ(parse("2020-05-09 20:41:37 SOAP"), ParseStatus::kMissingField);
  EXPECT_EQ(parse("2020-05-09 20:41:37 SOAP 1.2.3.4"), ParseStatus::kMissingField);
  EXPECT_EQ(parse("2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8"), ParseStatus::kMissingField);
  EXPECT_EQ(parse("2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 \t "), ParseStatus::kMissingField);
  EXPECT_EQ(err_.status, ParseStatus::kMissingField);
  EXPECT_EQ(parse("2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 1 2"), ParseStatus::kExtraField);
  EXPECT_EQ(err_.field, "2");
  EXPECT_EQ(parse("2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 1 extra junk"),
            ParseStatus::kExtraField);
  EXPECT_EQ(err_.field, "extra");
  // A field missing in the middle shifts the rest: reported as the field that is then wrong
  // ("1.2.3.4" is a valid protocol label, "1" is not an address).
  EXPECT_EQ(parse("2020-05-09 20:41:37 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadDst);
  EXPECT_EQ(parse("2020-05-09 20:41:37 SOAP 5.6.7.8 1"), ParseStatus::kBadDst);
  EXPECT_EQ(parse("20:41:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadDate);
  EXPECT_EQ(parse("2020-05-09 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadTime);
}

TEST_F(LineParserTest, NulAndHighBytesAnywhereAreNeverAccepted) {
  const std::string base = kValid;
  for (char junk : {'\0', '\xff', '\x80', '\r', '\x7f', '\x01', '\n', '\v'}) {
    for (size_t i = 0; i < base.size(); ++i) {
      std::string replaced = base;
      replaced[i] = junk;
      // (A '\r' in place of the last byte is a line end: "... 677\r" is a valid record.)
      if (!(junk == '\r' && i + 1 == base.size())) {
        EXPECT_NE(parse(replaced), ParseStatus::kOk) << i << " " << int(junk);
      }
      std::string inserted = base;
      inserted.insert(i, 1, junk);
      EXPECT_NE(parse(inserted), ParseStatus::kOk) << i << " " << int(junk);
    }
  }
}

TEST_F(LineParserTest, ErrorFieldPointsIntoTheLine) {
  const std::string line = "2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.999 1";
  ASSERT_EQ(parser_.parse(line.data(), line.data() + line.size(), rec_, &err_),
            ParseStatus::kBadDst);
  EXPECT_EQ(err_.field, "5.6.7.999");
  EXPECT_GE(err_.field.data(), line.data());
  EXPECT_LE(err_.field.data() + err_.field.size(), line.data() + line.size());
  // No error slot is fine too.
  EXPECT_EQ(parser_.parse(line.data(), line.data() + line.size(), rec_), ParseStatus::kBadDst);
}

TEST_F(LineParserTest, DoesNotReadPastTheEnd) {
  // The line is a prefix of a longer buffer: bytes after end must not change the answer.
  const std::string full = std::string(kValid) + "9 more stuff";
  const char* end = full.data() + std::strlen(kValid);
  ASSERT_EQ(parser_.parse(full.data(), end, rec_, &err_), ParseStatus::kOk);
  EXPECT_EQ(rec_.bytes, 6772u);
  const size_t last_blank = std::string_view(kValid).rfind(' ');
  for (size_t cut = 0; cut < std::strlen(kValid); ++cut) {
    // Every prefix that ends before the bytes field is malformed (or blank), never a record;
    // one that ends inside it is a record with fewer bytes.
    const ParseStatus s = parser_.parse(full.data(), full.data() + cut, rec_, &err_);
    if (cut <= last_blank + 1) {
      EXPECT_NE(s, ParseStatus::kOk) << cut;
      EXPECT_EQ(s == ParseStatus::kBlank, cut == 0) << cut;
    } else {
      ASSERT_EQ(s, ParseStatus::kOk) << cut;
      EXPECT_EQ(std::to_string(rec_.bytes), std::string(kValid + last_blank + 1, kValid + cut));
    }
  }
}

TEST_F(LineParserTest, HeapCopiesOfEachLineAreParsedWithoutAllocating) {
  // Warm up: the protocol is interned (which may allocate) once.
  ASSERT_EQ(parse(kValid), ParseStatus::kOk);
  std::vector<std::string> lines = {kValid, Fields{}.line("\t"), "2020-05-09 20:42:00 SOAP ::1 ::2 5",
                                    "bad line", "", std::string(5000, 'x')};
  testing::allocations = 0;
  testing::count_allocations = true;
  for (int i = 0; i < 1000; ++i)
    for (const auto& l : lines) parser_.parse(l.data(), l.data() + l.size(), rec_, &err_);
  testing::count_allocations = false;
  EXPECT_EQ(testing::allocations, 0u);
  // The counter works: a string that does not fit the small-string buffer allocates.
  testing::count_allocations = true;
  const std::string big(100, 'x');
  testing::count_allocations = false;
  EXPECT_EQ(testing::allocations, 1u);
}

TEST(ParseStatusText, EveryStatusIsDescribed) {
  std::vector<std::string> seen;
  for (int s = 0; s <= static_cast<int>(ParseStatus::kBytesRange); ++s) {
    const std::string text = describe(static_cast<ParseStatus>(s));
    EXPECT_FALSE(text.empty());
    EXPECT_NE(text, "unknown") << s;
    for (const auto& t : seen) EXPECT_NE(t, text);
    seen.push_back(text);
  }
  EXPECT_EQ(parse_format("line"), Format::kLine);
  EXPECT_EQ(parse_format("csv"), Format::kCsv);
  EXPECT_EQ(parse_format("CSV"), std::nullopt);
  EXPECT_EQ(parse_format(""), std::nullopt);
  EXPECT_EQ(parse_format("json"), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// The "YYYY-MM-DD HH:MM" cache: each line must get the same answer as from a fresh parser.

class PrefixCacheTest : public LineParserTest {
 protected:
  // Parses with the long-lived parser and with a fresh one; both must agree.
  ParseStatus parse_both(const std::string& line) {
    const ParseStatus s = parse(line);
    FlowParser fresh(table_, Format::kLine);
    FlowRecord r;
    const ParseStatus f = fresh.parse(line.data(), line.data() + line.size(), r);
    EXPECT_EQ(s, f) << line;
    if (s == ParseStatus::kOk && f == ParseStatus::kOk) {
      EXPECT_EQ(rec_.time, r.time) << line;
    }
    return s;
  }
};

TEST_F(PrefixCacheTest, SamePrefixThenInvalidSecond) {
  ASSERT_EQ(parse_both("2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(parse_both("2020-05-09 20:41:60 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-05-09 20:41:6 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-05-09 20:41:xx SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-05-09 20:41.37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-05-09 20:411:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-05-09 20:41:37. SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadFraction);
  EXPECT_EQ(parse_both("2020-05-09 20:41:37x SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-05-09 20:41"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-05-09 20:41:"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-05-09 20:41:3"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-05-09 20:41:37"), ParseStatus::kMissingField);
  EXPECT_EQ(parse_both("2020-05-09 20:41:59.999 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 22999);
}

TEST_F(PrefixCacheTest, SamePrefixDifferentSeparators) {
  ASSERT_EQ(parse_both("2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(parse_both("2020-05-09\t20:41:38 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 1000);
  EXPECT_EQ(parse_both("2020-05-09  20:41:39 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 2000);
  EXPECT_EQ(parse_both("2020-05-09 \t 20:41:40 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 3000);
  EXPECT_EQ(parse_both("2020-05-09T20:41:40 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadDate);
  EXPECT_EQ(parse_both("2020-05-09\r20:41:40 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadDate);
  EXPECT_EQ(parse_both(std::string("2020-05-09") + '\0' + "20:41:40 SOAP 1.2.3.4 5.6.7.8 1"),
            ParseStatus::kBadDate);
  EXPECT_EQ(parse_both("2020-05-09 20:41:41 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 4000);
  // Leading blanks before a cached prefix.
  EXPECT_EQ(parse_both(" \t2020-05-09 20:41:42 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 5000);
}

TEST_F(PrefixCacheTest, DifferentDateOrMinuteSameSecond) {
  ASSERT_EQ(parse_both("2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(parse_both("2020-05-10 20:41:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 86400000);
  EXPECT_EQ(parse_both("2020-05-10 20:42:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 86400000 + 60000);
  EXPECT_EQ(parse_both("2020-05-10 21:42:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 86400000 + 60000 + 3600000);
  EXPECT_EQ(parse_both("2021-05-10 21:42:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(parse_both("2020-05-09 20:41:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase);
}

TEST_F(PrefixCacheTest, InvalidLinesDoNotPoisonTheCache) {
  // A bad date, a bad hour, a bad minute, each after a good line with a near prefix.
  ASSERT_EQ(parse_both("2020-02-28 20:41:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(parse_both("2020-02-30 20:41:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadDate);
  EXPECT_EQ(parse_both("2020-02-28 24:41:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-02-28 20:61:37 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-02-28 20:41:37 SO/AP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadProtocol);
  EXPECT_EQ(parse_both("2020-02-28 20:41:38 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  // A line whose date and hour:minute are valid but whose second is not caches its prefix;
  // the next valid line with that prefix must still be right.
  EXPECT_EQ(parse_both("2020-03-01 00:00:99 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-03-01 00:00:01 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, 1583020801000);
  // Truncated after the prefix, then the full line.
  EXPECT_EQ(parse_both("2020-03-01 00:01"), ParseStatus::kBadTime);
  EXPECT_EQ(parse_both("2020-03-01 00:01:02 SOAP 1.2.3.4 5.6.7.8 1"), ParseStatus::kOk);
  EXPECT_EQ(rec_.time, 1583020862000);
}

TEST_F(PrefixCacheTest, CsvFieldsShareTheCache) {
  FlowParser csv(table_, Format::kCsv);
  ASSERT_TRUE(csv.read_header("time,protocol,src,dst,bytes").ok());
  FlowRecord r;
  auto run = [&](const std::string& l) { return csv.parse(l.data(), l.data() + l.size(), r); };
  ASSERT_EQ(run("2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,1"), ParseStatus::kOk);
  EXPECT_EQ(run("2020-05-09 20:41:60,SOAP,1.2.3.4,5.6.7.8,1"), ParseStatus::kBadTime);
  EXPECT_EQ(run("2020-05-09 20:41,SOAP,1.2.3.4,5.6.7.8,1"), ParseStatus::kBadTime);
  EXPECT_EQ(run("2020-05-09 20:41:3,SOAP,1.2.3.4,5.6.7.8,1"), ParseStatus::kBadTime);
  EXPECT_EQ(run("2020-05-09 20:41:37 x,SOAP,1.2.3.4,5.6.7.8,1"), ParseStatus::kBadTime);
  EXPECT_EQ(run("2020-05-09 20:41:38,SOAP,1.2.3.4,5.6.7.8,1"), ParseStatus::kOk);
  EXPECT_EQ(r.time, kBase + 1000);
}

// ---------------------------------------------------------------------------------------------
// A reference parser, written from the spec with glibc as the address and time reference.

struct Ref {
  ParseStatus status = ParseStatus::kOk;
  TimeMs time = 0;
  std::string proto;
  IpAddr src, dst;
  uint32_t bytes = 0;
};

bool ref_ip(const std::string& tok, IpAddr& out) {
  if (tok.find('\0') != std::string::npos) return false;
  if (tok.find(':') != std::string::npos) {
    in6_addr a{};
    if (inet_pton(AF_INET6, tok.c_str(), &a) != 1) return false;
    core::Ip6 v;
    for (int i = 0; i < 8; ++i) v.hi = (v.hi << 8) | a.s6_addr[i];
    for (int i = 8; i < 16; ++i) v.lo = (v.lo << 8) | a.s6_addr[i];
    out = IpAddr::v6(v);
    return true;
  }
  in_addr a{};
  if (inet_pton(AF_INET, tok.c_str(), &a) != 1) return false;
  out = IpAddr::v4(ntohl(a.s_addr));
  return true;
}

bool all_digits(const std::string& s, size_t from, size_t to) {
  if (from >= to) return false;
  for (size_t i = from; i < to; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

int num(const std::string& s, size_t from, size_t n) { return std::atoi(s.substr(from, n).c_str()); }

// The date token: "YYYY-MM-DD", a real day of year 1 or later. Returns days since the epoch.
bool ref_date(const std::string& t, int64_t& seconds) {
  if (t.size() != 10 || t[4] != '-' || t[7] != '-' || !all_digits(t, 0, 4) ||
      !all_digits(t, 5, 7) || !all_digits(t, 8, 10))
    return false;
  const int y = num(t, 0, 4), m = num(t, 5, 2), d = num(t, 8, 2);
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  seconds = timegm(&tm);
  // timegm normalizes 2021-02-29 to March 1: a real date round-trips.
  return tm.tm_mday == d && tm.tm_mon == m - 1;
}

// The time token: "HH:MM:SS" with an optional fraction of 1 to 9 digits.
ParseStatus ref_time(const std::string& t, int64_t& ms) {
  if (t.size() < 8 || t[2] != ':' || t[5] != ':' || !all_digits(t, 0, 2) ||
      !all_digits(t, 3, 5) || !all_digits(t, 6, 8))
    return ParseStatus::kBadTime;
  const int h = num(t, 0, 2), mi = num(t, 3, 2), s = num(t, 6, 2);
  if (h > 23 || mi > 59 || s > 59) return ParseStatus::kBadTime;
  ms = (h * 3600 + mi * 60 + s) * 1000LL;
  if (t.size() == 8) return ParseStatus::kOk;
  if (t[8] != '.') return ParseStatus::kBadTime;
  const size_t digits = t.size() - 9;
  if (!all_digits(t, 9, t.size()) || digits > 9) return ParseStatus::kBadFraction;
  ms += num(t + "00", 9, 3);
  return ParseStatus::kOk;
}

Ref ref_parse(std::string line) {
  Ref r;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  auto fail = [](ParseStatus s) {
    Ref f;
    f.status = s;
    return f;
  };
  if (line.size() > kMaxLineLength) return fail(ParseStatus::kTooLong);
  std::vector<std::string> tok;
  for (size_t i = 0; i < line.size();) {
    if (line[i] == ' ' || line[i] == '\t') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    tok.push_back(line.substr(i, j - i));
    i = j;
  }
  if (tok.empty()) return fail(ParseStatus::kBlank);
  int64_t day_seconds = 0, ms = 0;
  if (!ref_date(tok[0], day_seconds)) return fail(ParseStatus::kBadDate);
  if (tok.size() < 2) return fail(ParseStatus::kMissingField);
  if (ParseStatus s = ref_time(tok[1], ms); s != ParseStatus::kOk) return fail(s);
  r.time = day_seconds * 1000 + ms;
  if (tok.size() < 3) return fail(ParseStatus::kMissingField);
  r.proto = tok[2];
  if (r.proto.size() > core::kMaxProtocolLength ||
      r.proto.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") !=
          std::string::npos)
    return fail(ParseStatus::kBadProtocol);
  if (tok.size() < 4) return fail(ParseStatus::kMissingField);
  if (!ref_ip(tok[3], r.src)) return fail(ParseStatus::kBadSrc);
  if (tok.size() < 5) return fail(ParseStatus::kMissingField);
  if (!ref_ip(tok[4], r.dst)) return fail(ParseStatus::kBadDst);
  if (tok.size() < 6) return fail(ParseStatus::kMissingField);
  const std::string& b = tok[5];
  if (!all_digits(b, 0, b.size())) return fail(ParseStatus::kBadBytes);
  const size_t nz = std::min(b.find_first_not_of('0'), b.size());
  if (b.size() - nz > 10 || std::strtoull(b.c_str(), nullptr, 10) > 4294967295ULL)
    return fail(ParseStatus::kBytesRange);
  r.bytes = static_cast<uint32_t>(std::strtoull(b.c_str(), nullptr, 10));
  if (tok.size() > 6) return fail(ParseStatus::kExtraField);
  return r;
}

TEST(ReferenceParser, SanityOnHandWrittenLines) {
  EXPECT_EQ(ref_parse(kValid).status, ParseStatus::kOk);
  EXPECT_EQ(ref_parse(kValid).time, kBase + 123);
  EXPECT_EQ(ref_parse("2021-02-29 00:00:00 A 1.2.3.4 1.2.3.4 1").status, ParseStatus::kBadDate);
  EXPECT_EQ(ref_parse("2020-05-09 20:41:37.1234567890 A 1.2.3.4 1.2.3.4 1").status,
            ParseStatus::kBadFraction);
  EXPECT_EQ(ref_parse("2020-05-09 20:41:37 A 1.2.3.4 1.2.3.4 4294967296").status,
            ParseStatus::kBytesRange);
}

// Formats a record the way the line format writes it, for the round-trip check.
std::string format_record(const FlowRecord& r, const core::ProtocolTable& table) {
  char buf[64];
  std::string line(buf, core::format_line_time(r.time, buf));
  line += ' ';
  line += table.name(r.protocol);
  line += ' ';
  line += core::to_string(r.src);
  line += ' ';
  line += core::to_string(r.dst);
  line += ' ';
  line += std::to_string(r.bytes);
  return line;
}

// A record parsed from `line` holds the reference's fields.
void expect_record(const core::ProtocolTable& table, const FlowRecord& rec, const Ref& want,
                   const std::string& line) {
  ASSERT_EQ(rec.time, want.time) << line;
  ASSERT_EQ(table.name(rec.protocol), want.proto) << line;
  ASSERT_EQ(rec.src, want.src) << line;
  ASSERT_EQ(rec.dst, want.dst) << line;
  ASSERT_EQ(rec.bytes, want.bytes) << line;
}

// Checks one line against the reference; on kOk also that re-formatting the record and parsing it
// again gives the same record.
void check_line(FlowParser& parser, const core::ProtocolTable& table, const std::string& line) {
  FlowRecord rec;
  ParseError err;
  const ParseStatus got = parser.parse(line.data(), line.data() + line.size(), rec, &err);
  const Ref want = ref_parse(line);
  ASSERT_EQ(got, want.status) << "line: \"" << line << "\" (" << line.size() << " bytes)";
  if (got != ParseStatus::kOk && got != ParseStatus::kBlank) {
    ASSERT_EQ(err.status, got);
    if (!err.field.empty()) {
      ASSERT_GE(err.field.data(), line.data());
      ASSERT_LE(err.field.data() + err.field.size(), line.data() + line.size());
    }
  }
  if (got != ParseStatus::kOk) return;
  ASSERT_NO_FATAL_FAILURE(expect_record(table, rec, want, line));
  const std::string again = format_record(rec, table);
  FlowRecord rec2;
  ASSERT_EQ(parser.parse(again.data(), again.data() + again.size(), rec2), ParseStatus::kOk)
      << again;
  ASSERT_EQ(rec2.time, rec.time) << again;
  ASSERT_EQ(rec2.protocol, rec.protocol) << again;
  ASSERT_EQ(rec2.src, rec.src) << again;
  ASSERT_EQ(rec2.dst, rec.dst) << again;
  ASSERT_EQ(rec2.bytes, rec.bytes) << again;
}

// A random valid line: few distinct minutes (so the prefix cache is hit and missed), both
// address families, every fraction length, random separators and an optional '\r'.
std::string random_line(std::mt19937_64& rng) {
  static const char* const kProtos[] = {"HTTP", "HTTPS", "DNS", "SOAP", "x", "A-b_c.d",
                                        "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP"};
  static const char* const kSeps[] = {" ", " ", " ", "\t", "  ", " \t"};
  auto sep = [&] { return std::string(kSeps[rng() % 6]); };
  char buf[64];
  const int year = rng() % 8 == 0 ? static_cast<int>(1 + rng() % 9999) : 2020;
  const int month = rng() % 4 == 0 ? static_cast<int>(1 + rng() % 12) : 5;
  const int day = rng() % 4 == 0 ? static_cast<int>(1 + rng() % 28) : 9;
  const int minute = static_cast<int>(rng() % 3);
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
  std::string line = (rng() % 10 == 0 ? sep() : "") + buf + sep();
  std::snprintf(buf, sizeof buf, "20:%02d:%02d", minute, static_cast<int>(rng() % 60));
  line += buf;
  const int frac = static_cast<int>(rng() % 10);  // 0: none
  if (frac > 0) {
    line += '.';
    for (int i = 0; i < frac; ++i) line += static_cast<char>('0' + rng() % 10);
  }
  line += sep() + kProtos[rng() % 7] + sep();
  for (int a = 0; a < 2; ++a) {
    if (rng() % 3 == 0) {
      core::Ip6 v{rng() % 2 ? 0 : rng(), rng() % 2 ? rng() % 65536 : rng()};
      line += core::to_string(IpAddr::v6(v));
    } else {
      line += core::to_string(IpAddr::v4(static_cast<uint32_t>(rng())));
    }
    line += sep();
  }
  line += std::to_string(rng() % 3 == 0 ? rng() % 100 : rng() % 4294967296ULL);
  if (rng() % 10 == 0) line += sep();
  if (rng() % 5 == 0) line += '\r';
  return line;
}

TEST(FlowParserAgainstReference, RandomValidLines) {
  core::ProtocolTable table;
  FlowParser parser(table, Format::kLine);
  std::mt19937_64 rng(21);
  for (int i = 0; i < 30000; ++i) {
    const std::string line = random_line(rng);
    ASSERT_EQ(ref_parse(line).status, ParseStatus::kOk) << line;
    ASSERT_NO_FATAL_FAILURE(check_line(parser, table, line));
  }
}

TEST(FlowParserAgainstReference, MutatedLines) {
  core::ProtocolTable table;
  FlowParser parser(table, Format::kLine);
  std::mt19937_64 rng(22);
  static const char kJunk[] = {'\0', '\xff', '\x80', '\r', '\t', ' ', ':', '.', '-', '0', '9',
                               '5', 'a', 'f', 'Z', '/', '\n', '_', '%', '+', '2', '3', '6', '1'};
  int ok = 0;
  for (int i = 0; i < 100000; ++i) {
    std::string line = random_line(rng);
    const int mutations = static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations; ++m) {
      const size_t pos = line.empty() ? 0 : rng() % line.size();
      const char c = kJunk[rng() % sizeof kJunk];
      switch (rng() % 5) {
        case 0: if (!line.empty()) line[pos] = c; break;
        case 1: line.insert(pos, 1, c); break;
        case 2: if (!line.empty()) line.erase(pos, 1 + rng() % 3); break;
        case 3: if (!line.empty()) line[pos] = static_cast<char>(line[pos] + (rng() % 2 ? 1 : -1)); break;
        case 4: line.insert(pos, line.substr(pos, rng() % 6)); break;
      }
    }
    ASSERT_NO_FATAL_FAILURE(check_line(parser, table, line));
    ok += ref_parse(line).status == ParseStatus::kOk;
  }
  EXPECT_GT(ok, 10000);  // mutations leave a fair share of lines valid
}

TEST(FlowParserAgainstReference, RandomBytes) {
  core::ProtocolTable table;
  FlowParser parser(table, Format::kLine);
  std::mt19937_64 rng(23);
  for (int i = 0; i < 50000; ++i) {
    std::string line(rng() % 80, '\0');
    for (char& c : line) c = static_cast<char>(rng());
    ASSERT_NO_FATAL_FAILURE(check_line(parser, table, line));
  }
  // Random bytes after a valid-looking start.
  for (int i = 0; i < 50000; ++i) {
    std::string line = random_line(rng);
    line.resize(rng() % (line.size() + 1));
    const size_t tail = rng() % 20;
    for (size_t k = 0; k < tail; ++k) line += static_cast<char>(rng());
    ASSERT_NO_FATAL_FAILURE(check_line(parser, table, line));
  }
}

TEST(FlowParserAgainstReference, LinesAroundTheLengthLimit) {
  core::ProtocolTable table;
  FlowParser parser(table, Format::kLine);
  std::mt19937_64 rng(24);
  for (int i = 0; i < 2000; ++i) {
    std::string line = random_line(rng);
    const bool cr = !line.empty() && line.back() == '\r';
    if (cr) line.pop_back();
    const size_t target = kMaxLineLength - 2 + rng() % 5;  // 4094..4098
    if (line.size() < target) {
      // Pad in a random gap between fields (or at either end).
      size_t at = rng() % 3 == 0 ? line.size() : line.find(' ', rng() % line.size());
      if (at == std::string::npos) at = line.size();
      line.insert(at, target - line.size(), rng() % 2 ? ' ' : '\t');
    }
    if (cr) line += '\r';
    ASSERT_NO_FATAL_FAILURE(check_line(parser, table, line));
  }
}

// The fast path reads a line through 64-bit masks up to 82 bytes and through 128-bit ones up to
// 146, and IPv6 addresses of up to 40 bytes with SIMD. Lines of every length from 60 to 159
// bytes (random valid ones padded between fields; a third of their addresses IPv6, most of
// those 33-39 bytes long), half of them with one byte changed, agree with the reference both
// alone (copied: nothing readable past them) and in place in a block, where the bytes after
// them are read too and must change nothing.
TEST(FlowParserAgainstReference, LinesOfEveryLengthAcrossBothMaskWidths) {
  core::ProtocolTable table;
  FlowParser parser(table, Format::kLine);
  std::mt19937_64 rng(31);
  static const char kSwaps[] = " \t:.0a9fgF-x\x80";
  size_t wide = 0;
  for (int i = 0; i < 40000; ++i) {
    std::string line = random_line(rng);
    const bool cr = !line.empty() && line.back() == '\r';
    if (cr) line.pop_back();
    const size_t target = 60 + rng() % 100;
    if (line.size() < target) {
      size_t at = rng() % 3 == 0 ? line.size() : line.find(' ', rng() % line.size());
      if (at == std::string::npos) at = line.size();
      line.insert(at, target - line.size(), rng() % 2 ? ' ' : '\t');
    }
    if (cr) line += '\r';
    if (rng() % 2) line[rng() % line.size()] = kSwaps[rng() % (sizeof kSwaps - 1)];
    wide += line.size() >= 83 && line.size() < 147;
    ASSERT_NO_FATAL_FAILURE(check_line(parser, table, line));
    const std::string block = line + "\n2020-05-09 20:00:00 HTTP 1.2.3.4 ::1 9\n" +
                              std::string(rng() % 300, static_cast<char>('0' + rng() % 10));
    FlowRecord rec;
    const ParseStatus got =
        parser.parse(block.data(), block.data() + line.size(), block.data() + block.size(), rec);
    const Ref want = ref_parse(line);
    ASSERT_EQ(got, want.status) << "in place: \"" << line << "\" (" << line.size() << " bytes)";
    if (got != ParseStatus::kOk) continue;
    ASSERT_NO_FATAL_FAILURE(expect_record(table, rec, want, line));
  }
  EXPECT_GT(wide, 10000u);  // the 128-bit path was taken often
}

// parse_lines (the engine's batches, which find their own line ends) gives what parse() gives
// line by line between the block's '\n's: the same records in order, the same lines
// reported bad with the same status and bytes, blank lines skipped, the lines counted, and
// where the next batch starts; over blocks of valid, mutated, blank, long (past the 83 bytes
// the parser scans for a line end) and CRLF lines cut into batches at random places, in both
// formats (the line format's fast path and the general loop).
TEST(FlowParserLines, ABatchParsesAsItsLinesOneByOne) {
  std::mt19937_64 rng(41);
  for (const Format format : {Format::kLine, Format::kCsv}) {
    core::ProtocolTable batch_table, single_table;
    FlowParser batch(batch_table, format), single(single_table, format);
    if (format == Format::kCsv) {
      ASSERT_TRUE(batch.read_header("time,protocol,src,dst,bytes").ok());
      ASSERT_TRUE(single.read_header("time,protocol,src,dst,bytes").ok());
    }
    for (int round = 0; round < 200; ++round) {
      std::string block;
      const size_t count = 1 + rng() % 700;
      for (size_t i = 0; i < count; ++i) {
        std::string line = rng() % 8 == 0 ? std::string(rng() % 3, ' ') : random_line(rng);
        if (rng() % 10 == 0) line += std::string(rng() % 120, ' ');  // ends past 83 bytes
        if (format == Format::kCsv)
          for (char& c : line)
            if (c == ' ' || c == '\t') c = ',';
        if (!line.empty() && rng() % 6 == 0) line[rng() % line.size()] = static_cast<char>(rng());
        if (rng() % 12 == 0) line += '\r';  // a CRLF line end
        block += line;
        if (i + 1 < count || rng() % 2) block += '\n';  // the last line may lack its '\n'
      }
      std::vector<uint32_t> ends;  // the '\n's, by a plain loop
      for (size_t i = 0; i < block.size(); ++i)
        if (block[i] == '\n') ends.push_back(static_cast<uint32_t>(i));
      const char* data = block.data();
      const char* end = data + block.size();
      const size_t lines =
          ends.size() + (ends.empty() ? !block.empty() : ends.back() + 1 < block.size());
      // One by one.
      std::vector<FlowRecord> want;
      std::vector<FlowParser::BadLine> want_bad;
      const char* p = data;
      for (uint64_t line = 0; line < lines; ++line) {
        const char* line_end = line < ends.size() ? data + ends[line] : end;
        FlowRecord rec;
        const ParseStatus st = single.parse(p, line_end, end, rec);
        if (st == ParseStatus::kOk)
          want.push_back(rec);
        else if (st != ParseStatus::kBlank)
          want_bad.push_back({line, st, p, line_end});
        p = line_end + 1;
      }
      // In batches of random sizes.
      std::vector<FlowRecord> got;
      std::vector<FlowParser::BadLine> got_bad;
      const char* from = data;
      for (uint64_t first = 0; first < lines;) {
        const size_t n = 1 + rng() % 300;
        std::vector<FlowRecord> out(n);
        std::vector<FlowParser::BadLine> bad(n);
        const auto r = batch.parse_lines(from, end, first, n, out.data(), bad.data());
        ASSERT_EQ(r.lines, std::min<size_t>(n, lines - first));
        ASSERT_LE(r.records + r.bad, r.lines);
        got.insert(got.end(), out.begin(), out.begin() + static_cast<ptrdiff_t>(r.records));
        got_bad.insert(got_bad.end(), bad.begin(), bad.begin() + static_cast<ptrdiff_t>(r.bad));
        first += r.lines;
        const char* next = first < lines ? data + ends[first - 1] + 1 : end;
        ASSERT_EQ(r.next, next) << "batch ending at line " << first;
        from = r.next;
      }
      const auto none = batch.parse_lines(end, end, lines, 5, nullptr, nullptr);
      EXPECT_EQ(none.lines, 0u);
      EXPECT_EQ(none.next, end);
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i].time, want[i].time) << i;
        ASSERT_EQ(batch_table.name(got[i].protocol), single_table.name(want[i].protocol)) << i;
        ASSERT_EQ(got[i].src, want[i].src) << i;
        ASSERT_EQ(got[i].dst, want[i].dst) << i;
        ASSERT_EQ(got[i].bytes, want[i].bytes) << i;
      }
      ASSERT_EQ(got_bad.size(), want_bad.size());
      for (size_t i = 0; i < got_bad.size(); ++i) {
        ASSERT_EQ(got_bad[i].line, want_bad[i].line) << i;
        ASSERT_EQ(got_bad[i].status, want_bad[i].status) << i;
        ASSERT_EQ(got_bad[i].begin, want_bad[i].begin) << i;
        ASSERT_EQ(got_bad[i].end, want_bad[i].end) << i;
      }
    }
  }
}

// A page that can be written, followed by one that cannot be read: end() is where every read
// must stop.
class PageBeforeAGuard {
 public:
  PageBeforeAGuard() : size_(static_cast<size_t>(sysconf(_SC_PAGESIZE))) {
    void* m = mmap(nullptr, 2 * size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return;
    base_ = static_cast<char*>(m);
    if (mprotect(base_ + size_, size_, PROT_NONE) != 0) {
      munmap(base_, 2 * size_);
      base_ = nullptr;
    }
  }
  ~PageBeforeAGuard() {
    if (base_) munmap(base_, 2 * size_);
  }
  PageBeforeAGuard(const PageBeforeAGuard&) = delete;
  PageBeforeAGuard& operator=(const PageBeforeAGuard&) = delete;
  bool ok() const { return base_ != nullptr; }
  size_t size() const { return size_; }
  char* end() const { return base_ + size_; }

 private:
  size_t size_;
  char* base_ = nullptr;
};

// parse_lines over a block that ends exactly where an inaccessible page starts: finding the line
// ends must read nothing past the block (the test crashes if it does), whatever the length of
// the last line (81 to 85 bytes put its start on either side of the 83 bytes the parser scans
// for a '\n' before it turns to memchr), with or without its '\n'; and it finds the lines the
// block has, with parse()'s statuses.
TEST(FlowParserLines, ABlockEndingAtAnUnreadablePageIsNotReadPast) {
  const PageBeforeAGuard guarded;
  ASSERT_TRUE(guarded.ok());
  char* const page_end = guarded.end();
  core::ProtocolTable batch_table, single_table;
  FlowParser batch(batch_table, Format::kLine), single(single_table, Format::kLine);
  std::mt19937_64 rng(47);
  size_t checked = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string block;
    // Up to 8 lines before the last: those starting 256 bytes or more before the page's end go
    // through the parser's bulk loop, the others through its tail loop.
    for (int k = static_cast<int>(rng() % 9); k > 0; --k) block += random_line(rng) + "\n";
    std::string last = random_line(rng);
    const size_t size = 81 + rng() % 5;  // with its '\n', if it has one
    const bool newline = rng() % 2;
    if (last.size() + newline > size) continue;
    last.resize(size - newline, ' ');
    block += last;
    if (newline) block += '\n';
    char* const begin = page_end - block.size();
    std::memcpy(begin, block.data(), block.size());
    // One by one, between the '\n's.
    std::vector<ParseStatus> want;
    for (const char* p = begin; p != page_end;) {
      const auto* nl =
          static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(page_end - p)));
      const char* line_end = nl ? nl : page_end;
      FlowRecord rec;
      want.push_back(single.parse(p, line_end, page_end, rec));
      p = nl ? nl + 1 : page_end;
    }
    FlowRecord out[16];
    FlowParser::BadLine bad[16];
    const auto r = batch.parse_lines(begin, page_end, 0, 16, out, bad);
    ASSERT_EQ(r.lines, want.size()) << block;
    ASSERT_EQ(r.next, page_end);
    size_t ok = 0, n_bad = 0;
    for (ParseStatus st : want) {
      ok += st == ParseStatus::kOk;
      if (st != ParseStatus::kOk && st != ParseStatus::kBlank) {
        ASSERT_LT(n_bad, r.bad) << block;
        EXPECT_EQ(bad[n_bad++].status, st) << block;
      }
    }
    EXPECT_EQ(r.records, ok) << block;
    EXPECT_EQ(r.bad, n_bad) << block;
    ++checked;
  }
  EXPECT_GT(checked, 1000u);
}

TEST(FlowParserAgainstReference, RandomTimesAgainstTimegm) {
  core::ProtocolTable table;
  FlowParser parser(table, Format::kLine);
  std::mt19937_64 rng(25);
  for (int i = 0; i < 50000; ++i) {
    char line[128];
    const int y = static_cast<int>(rng() % 10001), mo = static_cast<int>(rng() % 14),
              d = static_cast<int>(rng() % 33), h = static_cast<int>(rng() % 25),
              mi = static_cast<int>(rng() % 61), s = static_cast<int>(rng() % 61);
    std::snprintf(line, sizeof line, "%04d-%02d-%02d %02d:%02d:%02d.%03d P 1.1.1.1 2.2.2.2 1", y,
                  mo, d, h, mi, s, static_cast<int>(rng() % 1000));
    ASSERT_NO_FATAL_FAILURE(check_line(parser, table, line));
  }
}

// ---------------------------------------------------------------------------------------------
// CSV

class CsvParserTest : public ::testing::Test {
 protected:
  ParseStatus parse(std::string_view line) {
    rec_ = FlowRecord{};
    err_ = ParseError{};
    return parser_.parse(line.data(), line.data() + line.size(), rec_, &err_);
  }
  core::ProtocolTable table_;
  FlowParser parser_{table_, Format::kCsv};
  FlowRecord rec_;
  ParseError err_;
};

TEST_F(CsvParserTest, HeaderInAnyOrderWithExtraColumns) {
  EXPECT_FALSE(parser_.has_header());
  ASSERT_TRUE(parser_.read_header("id,bytes,dst,comment,src,protocol,time").ok());
  EXPECT_TRUE(parser_.has_header());
  ASSERT_EQ(parse("7,6772,53.215.218.189,hi there,222.186.237.75,SOAP,2020-05-09 20:41:37.123"),
            ParseStatus::kOk);
  EXPECT_EQ(rec_.time, kBase + 123);
  EXPECT_EQ(rec_.bytes, 6772u);
  EXPECT_EQ(table_.name(rec_.protocol), "SOAP");
  EXPECT_EQ(rec_.src, *core::parse_ip("222.186.237.75"));
  EXPECT_EQ(rec_.dst, *core::parse_ip("53.215.218.189"));
  // The ignored columns may hold anything, even empty.
  EXPECT_EQ(parse(",6772,53.215.218.189,,222.186.237.75,SOAP,2020-05-09 20:41:37"), ParseStatus::kOk);
}

TEST_F(CsvParserTest, HeaderSpellings) {
  for (const char* h : {"time,protocol,src,dst,bytes", "TIME,Protocol,SRC,Dst,BYTES",
                        " time , protocol ,\tsrc,dst , bytes ", "\"time\",\"protocol\",\"src\",\"dst\",\"bytes\"",
                        "time,protocol,src,dst,bytes\r", "bytes,time,dst,src,protocol",
                        // A UTF-8 byte order mark, as spreadsheet programs write it.
                        "\xef\xbb\xbftime,protocol,src,dst,bytes"}) {
    FlowParser p(table_, Format::kCsv);
    EXPECT_TRUE(p.read_header(h).ok()) << h;
    EXPECT_TRUE(p.has_header());
  }
  for (const char* h : {"", "time", "time,protocol,src,dst", "time,protocol,source,dst,bytes",
                        "time;protocol;src;dst;bytes", "time,protocol,src,dst,bytes,time",
                        "time,protocol,src,src,dst,bytes", "2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,1"}) {
    FlowParser p(table_, Format::kCsv);
    const core::Status why = p.read_header(h);
    ASSERT_FALSE(why.ok()) << h;
    EXPECT_EQ(why.code(), core::Status::Code::kInvalidArgument) << h;
    EXPECT_FALSE(why.message().empty());
    EXPECT_FALSE(p.has_header()) << h;
  }
  FlowParser p(table_, Format::kCsv);
  EXPECT_NE(p.read_header("time,protocol,src,dst").message().find("bytes"), std::string::npos);
  EXPECT_NE(p.read_header("time,protocol,src,dst,bytes,src").message().find("src"),
            std::string::npos);
}

TEST_F(CsvParserTest, Rows) {
  ASSERT_TRUE(parser_.read_header("time,protocol,src,dst,bytes").ok());
  const std::pair<const char*, ParseStatus> cases[] = {
      {"2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,1", ParseStatus::kOk},
      {"2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,1\r", ParseStatus::kOk},
      {" 2020-05-09 20:41:37 , SOAP ,\t1.2.3.4\t, 5.6.7.8 , 1 ", ParseStatus::kOk},
      {"\"2020-05-09 20:41:37\",\"SOAP\",\"1.2.3.4\",\"5.6.7.8\",\"1\"", ParseStatus::kOk},
      {"2020-05-09\t20:41:37.5,SOAP,::1,2001:db8::1,1", ParseStatus::kOk},
      {"2020-05-09   20:41:37.123456789,SOAP,::ffff:1.2.3.4,1.2.3.4,4294967295", ParseStatus::kOk},
      {"", ParseStatus::kBlank},
      {" \t ", ParseStatus::kBlank},
      {"\r", ParseStatus::kBlank},
      {",,,,", ParseStatus::kMissingField},
      {"2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8", ParseStatus::kMissingField},
      {"2020-05-09 20:41:37", ParseStatus::kMissingField},
      {"2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,1,", ParseStatus::kExtraField},
      {"2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,1,2", ParseStatus::kExtraField},
      {",SOAP,1.2.3.4,5.6.7.8,1", ParseStatus::kMissingField},
      {"2020-05-09 20:41:37,,1.2.3.4,5.6.7.8,1", ParseStatus::kMissingField},
      {"2020-05-09,SOAP,1.2.3.4,5.6.7.8,1", ParseStatus::kMissingField},
      {"2020-13-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,1", ParseStatus::kBadDate},
      {"2020-05-09T20:41:37,SOAP,1.2.3.4,5.6.7.8,1", ParseStatus::kBadDate},
      {"2020-05-09 20:41:60,SOAP,1.2.3.4,5.6.7.8,1", ParseStatus::kBadTime},
      {"2020-05-09 20:41:37 junk,SOAP,1.2.3.4,5.6.7.8,1", ParseStatus::kBadTime},
      {"2020-05-09 20:41:37.,SOAP,1.2.3.4,5.6.7.8,1", ParseStatus::kBadFraction},
      {"2020-05-09 20:41:37.1234567890,SOAP,1.2.3.4,5.6.7.8,1", ParseStatus::kBadFraction},
      {"2020-05-09 20:41:37,SO AP,1.2.3.4,5.6.7.8,1", ParseStatus::kBadProtocol},
      {"2020-05-09 20:41:37,\" SOAP\",1.2.3.4,5.6.7.8,1", ParseStatus::kBadProtocol},
      {"2020-05-09 20:41:37,SOAP,1.2.3,5.6.7.8,1", ParseStatus::kBadSrc},
      {"2020-05-09 20:41:37,SOAP,1.2.3.4,::1::,1", ParseStatus::kBadDst},
      {"2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,-1", ParseStatus::kBadBytes},
      {"2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,4294967296", ParseStatus::kBytesRange},
      {"2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,1 2", ParseStatus::kBadBytes},
  };
  for (const auto& [line, want] : cases) EXPECT_EQ(parse(line), want) << line;
  // Empty address and bytes fields are malformed whatever the reason given.
  EXPECT_NE(parse("2020-05-09 20:41:37,SOAP,,5.6.7.8,1"), ParseStatus::kOk);
  EXPECT_NE(parse("2020-05-09 20:41:37,SOAP,1.2.3.4,,1"), ParseStatus::kOk);
  EXPECT_NE(parse("2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,"), ParseStatus::kOk);
  // Too long, as in the line format.
  std::string longline = "2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,1";
  longline.append(kMaxLineLength - longline.size(), ' ');
  EXPECT_EQ(parse(longline), ParseStatus::kOk);
  EXPECT_EQ(parse(longline + " "), ParseStatus::kTooLong);
}

TEST_F(CsvParserTest, ValuesMatchTheLineFormat) {
  ASSERT_TRUE(parser_.read_header("time,protocol,src,dst,bytes").ok());
  FlowParser line_parser(table_, Format::kLine);
  std::mt19937_64 rng(26);
  for (int i = 0; i < 20000; ++i) {
    std::string line = random_line(rng);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    FlowRecord a;
    ASSERT_EQ(line_parser.parse(line.data(), line.data() + line.size(), a), ParseStatus::kOk);
    // The line's fields, joined by commas (date and time stay one field).
    std::vector<std::string> tok;
    for (size_t k = 0; k < line.size();) {
      if (line[k] == ' ' || line[k] == '\t') { ++k; continue; }
      size_t j = k;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
      tok.push_back(line.substr(k, j - k));
      k = j;
    }
    ASSERT_EQ(tok.size(), 6u);
    const std::string csv = tok[0] + " " + tok[1] + "," + tok[2] + "," + tok[3] + "," + tok[4] +
                            "," + tok[5];
    ASSERT_EQ(parse(csv), ParseStatus::kOk) << csv;
    EXPECT_EQ(rec_.time, a.time);
    EXPECT_EQ(rec_.protocol, a.protocol);
    EXPECT_EQ(rec_.src, a.src);
    EXPECT_EQ(rec_.dst, a.dst);
    EXPECT_EQ(rec_.bytes, a.bytes);
  }
}

TEST_F(CsvParserTest, WithoutAHeaderNothingIsARecord) {
  EXPECT_NE(parse("2020-05-09 20:41:37,SOAP,1.2.3.4,5.6.7.8,1"), ParseStatus::kOk);
  EXPECT_NE(parse("2020-05-09 20:41:37"), ParseStatus::kOk);
  EXPECT_EQ(parse(""), ParseStatus::kBlank);
}

TEST_F(CsvParserTest, CopyHeaderFrom) {
  ASSERT_TRUE(parser_.read_header("bytes,dst,src,protocol,time").ok());
  FlowParser other(table_, Format::kCsv);
  other.copy_header_from(parser_);
  EXPECT_TRUE(other.has_header());
  const std::string line = "5,1.1.1.1,2.2.2.2,DNS,2020-05-09 20:41:37";
  FlowRecord r;
  ASSERT_EQ(other.parse(line.data(), line.data() + line.size(), r), ParseStatus::kOk);
  EXPECT_EQ(r.bytes, 5u);
  EXPECT_EQ(r.src, *core::parse_ip("2.2.2.2"));
  EXPECT_EQ(r.dst, *core::parse_ip("1.1.1.1"));
}

// Mutated CSV rows: whatever passes must be a valid record by the reference once each field is
// unwrapped (blanks around it, then one pair of quotes) and the fields written as a line.
TEST_F(CsvParserTest, MutatedRowsAgainstTheReference) {
  ASSERT_TRUE(parser_.read_header("time,protocol,src,dst,bytes").ok());
  std::mt19937_64 rng(27);
  static const char kJunk[] = {'\0', '\xff', '\r', '\t', ' ', ',', '"', ':', '.', '-', '0', '7'};
  int ok = 0;
  for (int i = 0; i < 100000; ++i) {
    std::string line = "2020-05-09 20:41:37.5,SOAP,1.2.3.4,::1,77";
    for (int m = static_cast<int>(rng() % 4); m > 0; --m) {
      const size_t pos = rng() % line.size();
      if (rng() % 2) line[pos] = kJunk[rng() % sizeof kJunk];
      else line.insert(pos, 1, kJunk[rng() % sizeof kJunk]);
    }
    const ParseStatus s = parse(line);
    if (s != ParseStatus::kOk) continue;
    ++ok;
    std::string body = line;
    if (body.back() == '\r') body.pop_back();
    std::vector<std::string> fields;
    for (size_t k = 0;;) {
      const size_t comma = body.find(',', k);
      std::string f = body.substr(k, comma == std::string::npos ? std::string::npos : comma - k);
      const size_t b = f.find_first_not_of(" \t"), e = f.find_last_not_of(" \t");
      f = b == std::string::npos ? "" : f.substr(b, e - b + 1);
      if (f.size() >= 2 && f.front() == '"' && f.back() == '"') f = f.substr(1, f.size() - 2);
      fields.push_back(f);
      if (comma == std::string::npos) break;
      k = comma + 1;
    }
    ASSERT_EQ(fields.size(), 5u) << line;
    const Ref want = ref_parse(fields[0] + " " + fields[1] + " " + fields[2] + " " + fields[3] +
                               " " + fields[4]);
    ASSERT_EQ(want.status, ParseStatus::kOk) << line;
    EXPECT_EQ(rec_.time, want.time) << line;
    EXPECT_EQ(table_.name(rec_.protocol), want.proto) << line;
    EXPECT_EQ(rec_.src, want.src) << line;
    EXPECT_EQ(rec_.dst, want.dst) << line;
    EXPECT_EQ(rec_.bytes, want.bytes) << line;
  }
  EXPECT_GT(ok, 10000);
}

// ---------------------------------------------------------------------------------------------
// Against the parser as it was before its fast path (flow_parser_reference.hpp): the same status,
// the same record for a valid line, the same error field and the same protocol ids (the same
// labels interned, failed lines' included), line after line, with nothing readable past the
// line and with garbage after it.

std::string random_ipv4(std::mt19937_64& rng) {
  char buf[32];
  unsigned o[4];
  for (unsigned& x : o) {
    const unsigned r = static_cast<unsigned>(rng() % 4);
    x = r == 0   ? static_cast<unsigned>(rng() % 10)
        : r == 1 ? static_cast<unsigned>(rng() % 100)
                 : static_cast<unsigned>(rng() % 256);
  }
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", o[0], o[1], o[2], o[3]);
  return buf;
}

std::string random_ipv6(std::mt19937_64& rng) {
  core::Ip6 v{rng(), rng()};
  if (rng() % 2) v.hi &= 0xFFFF0000FFFF0000ULL;  // zero groups, for "::"
  if (rng() % 2) v.lo &= rng() % 2 ? 0xFFFFULL : 0xFFFF0000FFFFULL;
  char buf[64];
  switch (rng() % 7) {
    case 0: {  // all eight groups, some with leading zeros
      std::string t;
      for (int i = 0; i < 8; ++i) {
        const unsigned g = static_cast<unsigned>(
            (i < 4 ? v.hi >> (48 - 16 * i) : v.lo >> (112 - 16 * i)) & 0xFFFF);
        std::snprintf(buf, sizeof buf, rng() % 2 ? "%x" : "%04x", g);
        t += (i ? ":" : "") + std::string(buf);
      }
      return t;
    }
    case 1: {  // upper case
      std::string t = core::to_string(IpAddr::v6(v));
      for (char& c : t) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return t;
    }
    case 2:  // a dotted quad in the last 32 bits
      return (rng() % 2 ? "::ffff:" : "64:ff9b::") + random_ipv4(rng);
    case 3: {
      static const char* const kShort[] = {"::", "::1", "1::", "fe80::1", "::a:b", "a::b:c"};
      return kShort[rng() % 6];
    }
    case 4:  // the realistic kind
      std::snprintf(buf, sizeof buf, "2001:db8:%x:%x::%x", static_cast<unsigned>(rng() % 65536),
                    static_cast<unsigned>(rng() % 65536), static_cast<unsigned>(rng() % 65536));
      return buf;
    default:
      return core::to_string(IpAddr::v6(v));
  }
}

// A line near the usual shape: mostly one space between fields and the same minutes (so the
// fast path and the prefix cache are used), fractions of 0 to 10 digits, both address
// families, protocols and byte counts of every length around the limits, sometimes other
// separators, other dates, blanks at either end and a '\r'.
std::string random_flow_line(std::mt19937_64& rng) {
  static const char* const kProtos[] = {"HTTP",   "HTTPS", "DNS",     "SOAP", "SSH", "MQTT",
                                        "Telnet", "x",     "A-b_c.d", "9",    "_.-"};
  static const size_t kLongProtos[] = {15, 16, 17, 32, 33};  // around the limits
  static const char* const kSeps[] = {" ", " ", " ", " ", " ", " ", "\t", "  ", " \t", "\t\t "};
  auto sep = [&] { return std::string(rng() % 4 ? " " : kSeps[rng() % 10]); };
  char buf[64];
  std::string line = rng() % 20 == 0 ? sep() : "";
  if (rng() % 10 == 0) {
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", static_cast<int>(rng() % 10000),
                  static_cast<int>(rng() % 14), static_cast<int>(rng() % 32));
  } else {
    std::snprintf(buf, sizeof buf, "2020-05-%02d",
                  rng() % 8 ? 9 : static_cast<int>(1 + rng() % 31));
  }
  line += buf;
  line += rng() % 8 ? " " : sep();
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", rng() % 8 ? 20 : static_cast<int>(rng() % 25),
                static_cast<int>(rng() % 3), static_cast<int>(rng() % 61));
  line += buf;
  const int frac = static_cast<int>(rng() % 11);  // 0: none; 10: too many
  if (frac > 0) {
    line += '.';
    for (int i = 0; i < frac; ++i) line += static_cast<char>('0' + rng() % 10);
  }
  const size_t proto = rng() % 16;
  line += sep() + (proto < 11 ? kProtos[proto] : std::string(kLongProtos[proto - 11], 'P')) + sep();
  line += (rng() % 7 == 0 ? random_ipv6(rng) : random_ipv4(rng)) + sep();
  line += rng() % 7 == 0 ? random_ipv6(rng) : random_ipv4(rng);
  line += sep();
  const int digits = rng() % 4 ? static_cast<int>(1 + rng() % 5) : static_cast<int>(1 + rng() % 12);
  for (int i = 0; i < digits; ++i) line += static_cast<char>('0' + rng() % 10);
  if (rng() % 10 == 0) line += sep();
  if (rng() % 10 == 0) line += '\r';
  return line;
}

// Byte flips, deletions, insertions, truncations, repeats, extra fields and huge numbers.
void mutate(std::string& line, std::mt19937_64& rng) {
  static const char kJunk[] = {'\0', '\xff', '\x80', '\r', '\t', ' ', ':',    '.',
                               '-',  '0',    '9',    '5',  'a',  'f', 'F',    'Z',
                               '/',  '\n',   '_',    '%',  '+',  '2', '\x0b', '1'};
  for (int m = static_cast<int>(rng() % 4); m > 0; --m) {
    const size_t pos = line.empty() ? 0 : rng() % line.size();
    const char c = kJunk[rng() % sizeof kJunk];
    switch (rng() % 8) {
      case 0:
        if (!line.empty()) line[pos] = c;
        break;
      case 1:
        line.insert(pos, 1, c);
        break;
      case 2:
        if (!line.empty()) line.erase(pos, 1 + rng() % 3);
        break;
      case 3:
        if (!line.empty()) line[pos] = static_cast<char>(line[pos] + (rng() % 2 ? 1 : -1));
        break;
      case 4:
        line.insert(pos, line.substr(pos, rng() % 6));
        break;
      case 5:
        line.resize(pos);
        break;
      case 6:
        line += rng() % 2 ? " x" : "\t77";
        break;
      case 7:
        line.insert(pos, std::string(1 + rng() % 25, static_cast<char>('0' + rng() % 10)));
        break;
    }
  }
}

FlowRecord poisoned_record() {
  FlowRecord r;
  r.time = 0x5A5A5A5A5A5A;
  r.protocol = 0xA5A5A5A5;
  r.bytes = 0x5A5A5A5A;
  r.src = IpAddr::v6(core::Ip6{0x1111, 0x2222});
  r.dst = IpAddr::v4(0x33333333);
  return r;
}

// The new parser and the reference side by side, each with its own protocol table, fed the same
// lines in the same order.
class Differential {
 public:
  explicit Differential(Format format) : parser_(table_, format), ref_(ref_table_, format) {}

  // (The reference says a failure as an optional message, the parser as a Status.)
  void read_header(const std::string& h) {
    const core::Status got = parser_.read_header(h);
    ASSERT_EQ(got.ok() ? std::nullopt : std::optional<std::string>(got.message()),
              ref_.read_header(h));
  }

  // Parses [begin, end) with both, the new one allowed to read up to readable_end.
  void check(const char* begin, const char* end, const char* readable_end) {
    FlowRecord got = poisoned_record(), want = poisoned_record();
    ParseError got_err, want_err;
    const ParseStatus s = parser_.parse(begin, end, readable_end, got, &got_err);
    const ParseStatus w = ref_.parse(begin, end, want, &want_err);
    const std::string line(begin, end);
    ASSERT_EQ(s, w) << "\"" << line << "\"";
    ASSERT_EQ(got_err.status, want_err.status) << line;
    ASSERT_EQ(got_err.field.data(), want_err.field.data()) << line;
    ASSERT_EQ(got_err.field.size(), want_err.field.size()) << line;
    // Labels are interned as the reference did (a failed line's too, when its protocol was read).
    ASSERT_EQ(table_.size(), ref_table_.size()) << line;
    if (s == ParseStatus::kOk) {  // (a failed line's fields are unspecified: parse())
      ASSERT_EQ(got.time, want.time) << line;
      ASSERT_EQ(got.protocol, want.protocol) << line;
      ASSERT_EQ(got.src, want.src) << line;
      ASSERT_EQ(got.dst, want.dst) << line;
      ASSERT_EQ(got.bytes, want.bytes) << line;
      ASSERT_EQ(table_.name(got.protocol), ref_table_.name(want.protocol));
    }
    ++checked_;
    ok_ += s == ParseStatus::kOk;
  }

  // The line alone in an allocation of its size, then followed by `after` bytes of garbage.
  void check(const std::string& line, size_t after, std::mt19937_64& rng) {
    const std::unique_ptr<char[]> exact(new char[line.size()]);
    std::memcpy(exact.get(), line.data(), line.size());
    ASSERT_NO_FATAL_FAILURE(
        check(exact.get(), exact.get() + line.size(), exact.get() + line.size()));
    std::string buf = line;
    for (size_t i = 0; i < after; ++i) {
      // Garbage that looks like more of a line: its own bytes, digits, dots, blanks, line ends.
      static const char kMore[] = "0123456789. \t\n\r:abcdef";
      buf += rng() % 3 == 0 && !line.empty() ? line[rng() % line.size()]
                                             : kMore[rng() % (sizeof kMore - 1)];
    }
    ASSERT_NO_FATAL_FAILURE(check(buf.data(), buf.data() + line.size(), buf.data() + buf.size()));
  }

  size_t checked() const { return checked_; }
  size_t ok() const { return ok_; }

 private:
  core::ProtocolTable table_, ref_table_;
  FlowParser parser_;
  testref::RefFlowParser ref_;
  size_t checked_ = 0, ok_ = 0;
};

TEST(FlowParserAgainstOldParser, ValidAndMutatedLines) {
  Differential d(Format::kLine);
  std::mt19937_64 rng(41);
  for (int i = 0; i < 150000; ++i) {
    std::string line = random_flow_line(rng);
    if (rng() % 3 == 0) mutate(line, rng);
    const size_t after = rng() % 3 == 0 ? rng() % 16 : 16 + rng() % 200;
    ASSERT_NO_FATAL_FAILURE(d.check(line, after, rng));
  }
  // Most lines are records, most of them of the usual shape.
  EXPECT_GT(d.ok(), d.checked() / 3);
}

TEST(FlowParserAgainstOldParser, EveryPrefixOfValidLines) {
  Differential d(Format::kLine);
  std::mt19937_64 rng(42);
  for (int i = 0; i < 3000; ++i) {
    const std::string line = random_flow_line(rng);
    for (size_t cut = 0; cut <= line.size(); ++cut)
      ASSERT_NO_FATAL_FAILURE(d.check(line.substr(0, cut), rng() % 2 ? 0 : 128, rng));
  }
}

TEST(FlowParserAgainstOldParser, EveryByteAtEveryPosition) {
  Differential d(Format::kLine);
  std::mt19937_64 rng(43);
  const std::string base =
      "2020-05-09 00:00:01.123456789 LDAP 100.11.136.40 2001:db8:9a:1f3c::5 1478";
  for (size_t pos = 0; pos < base.size(); ++pos) {
    for (int c = 0; c < 256; ++c) {
      std::string line = base;
      line[pos] = static_cast<char>(c);
      ASSERT_NO_FATAL_FAILURE(d.check(line, 200, rng));
    }
  }
}

TEST(FlowParserAgainstOldParser, RandomBytes) {
  Differential d(Format::kLine);
  std::mt19937_64 rng(44);
  for (int i = 0; i < 30000; ++i) {
    std::string line(rng() % 100, '\0');
    for (char& c : line) c = static_cast<char>(rng() % 4 ? "0123456789 .:-\t"[rng() % 15] : rng());
    if (rng() % 2) line = "2020-05-09 20:00:0" + std::to_string(rng() % 10) + line;
    ASSERT_NO_FATAL_FAILURE(d.check(line, rng() % 2 ? 0 : 200, rng));
  }
}

TEST(FlowParserAgainstOldParser, CsvRows) {
  Differential d(Format::kCsv);
  std::mt19937_64 rng(45);
  ASSERT_NO_FATAL_FAILURE(d.read_header("bytes,time,x,src,dst,protocol"));
  for (int i = 0; i < 50000; ++i) {
    std::string line = random_flow_line(rng);
    std::vector<std::string> tok;
    for (size_t k = 0; k < line.size();) {
      if (line[k] == ' ' || line[k] == '\t') {
        ++k;
        continue;
      }
      size_t j = k;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
      tok.push_back(line.substr(k, j - k));
      k = j;
    }
    tok.resize(6);
    std::string row = tok[5] + "," + (rng() % 4 ? "" : "\"") + tok[0] + " " + tok[1] +
                      (rng() % 4 ? "" : "\"") + ",x," + tok[3] + (rng() % 5 ? "" : " ") + "," +
                      tok[4] + "," + tok[2];
    if (rng() % 3 == 0) mutate(row, rng);
    ASSERT_NO_FATAL_FAILURE(d.check(row, rng() % 2 ? 0 : 200, rng));
  }
  EXPECT_GT(d.ok(), d.checked() / 4);
}

// core::parse_ip (which the parser uses for IPv6) against its old version, on address-like text.
TEST(FlowParserAgainstOldParser, Addresses) {
  std::mt19937_64 rng(47);
  static const char kAlphabet[] = "0123456789abcdefABCDEF:.:::g% ";
  for (int i = 0; i < 300000; ++i) {
    std::string text;
    switch (rng() % 3) {
      case 0:
        text = random_ipv6(rng);
        break;
      case 1:
        text = random_ipv4(rng);
        break;
      default:
        text.resize(rng() % 45);
        for (char& c : text) c = kAlphabet[rng() % (sizeof kAlphabet - 1)];
    }
    if (rng() % 2) mutate(text, rng);
    IpAddr got = IpAddr::v4(0x01020304), want = got;
    const bool g = core::parse_ip(text.data(), text.data() + text.size(), got);
    const bool w = testref::ref_parse_ip(text.data(), text.data() + text.size(), want);
    ASSERT_EQ(g, w) << text;
    ASSERT_EQ(got, want) << text;
  }
}

// Short tokens of address characters as the addresses of usual lines: every shape of groups,
// colons and dots the fast path must either read right or leave to the general parser.
TEST(FlowParserAgainstOldParser, AddressLikeTokensInLines) {
  Differential d(Format::kLine);
  std::mt19937_64 rng(48);
  static const char kChars[] = "::::00001aF.g";
  auto token = [&] {
    std::string t(1 + rng() % 24, ' ');
    for (char& c : t) c = kChars[rng() % (sizeof kChars - 1)];
    return t;
  };
  for (int i = 0; i < 200000; ++i) {
    const std::string src = rng() % 2 ? token() : random_ipv6(rng);
    const std::string dst = rng() % 2 ? token() : random_ipv4(rng);
    const std::string line =
        "2020-05-09 20:00:01.5 DNS " + (rng() % 2 ? src + " " + dst : dst + " " + src) + " 40";
    ASSERT_NO_FATAL_FAILURE(d.check(line, 200, rng));
  }
  EXPECT_GT(d.ok(), d.checked() / 10);
}

// A line ending exactly where an inaccessible page starts: with readable_end == end the parser
// must read nothing past the line (it crashes if it does); with readable_end at the page end,
// lines nearer the end than the fast path's reach are copied first.
TEST(FlowParserAgainstOldParser, LinesAtTheEndOfAPage) {
  const PageBeforeAGuard guarded;
  ASSERT_TRUE(guarded.ok());
  const size_t page = guarded.size();
  char* const page_end = guarded.end();
  Differential d(Format::kLine);
  std::mt19937_64 rng(46);
  for (int i = 0; i < 20000; ++i) {
    std::string line = random_flow_line(rng);
    if (rng() % 4 == 0) mutate(line, rng);
    if (line.size() > page / 2) continue;
    // At the very end, then up to 200 bytes before it with the page's end readable.
    const size_t gap = rng() % 2 ? 0 : rng() % 200;
    char* begin = page_end - gap - line.size();
    std::memcpy(begin, line.data(), line.size());
    for (char* q = begin + line.size(); q < page_end; ++q)
      *q = static_cast<char>("9. \n"[rng() % 4]);
    char* end = begin + line.size();
    ASSERT_NO_FATAL_FAILURE(d.check(begin, end, end));
    ASSERT_NO_FATAL_FAILURE(d.check(begin, end, page_end));
  }
}

}  // namespace
}  // namespace netpulse::ingest
