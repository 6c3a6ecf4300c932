// Tests for core/time: the civil-calendar conversions against glibc's timegm()/gmtime_r(), the
// two text formats, parse_datetime and parse_duration_ms.
#include "core/time.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>

namespace netpulse::core {
namespace {

constexpr int64_t kMsPerDay = 86'400'000;

// Seconds since the epoch of a civil time, by glibc (64-bit time_t, proleptic Gregorian).
int64_t reference_seconds(int64_t y, unsigned mo, unsigned d, unsigned h = 0, unsigned mi = 0,
                          unsigned s = 0) {
  std::tm tm{};
  tm.tm_year = static_cast<int>(y - 1900);
  tm.tm_mon = static_cast<int>(mo) - 1;
  tm.tm_mday = static_cast<int>(d);
  tm.tm_hour = static_cast<int>(h);
  tm.tm_min = static_cast<int>(mi);
  tm.tm_sec = static_cast<int>(s);
  return static_cast<int64_t>(timegm(&tm));
}

// "YYYY-MM-DD<sep>HH:MM:SS.mmm" by strftime, for comparison with our formatter.
std::string reference_format(TimeMs t, char sep) {
  const int64_t secs = floor_div(t, 1000);
  const int64_t ms = t - secs * 1000;
  const time_t tt = static_cast<time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d%c%02d:%02d:%02d.%03d", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, sep, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms));
  return buf;
}

// Milliseconds of 0001-01-01 and of 9999-12-31T23:59:59.999, the range the formats cover.
const TimeMs kMinTime = reference_seconds(1, 1, 1) * 1000;
const TimeMs kMaxTime = reference_seconds(9999, 12, 31, 23, 59, 59) * 1000 + 999;

TEST(FloorDiv, KnownValues) {
  EXPECT_EQ(floor_div(0, 5), 0);
  EXPECT_EQ(floor_div(4, 5), 0);
  EXPECT_EQ(floor_div(5, 5), 1);
  EXPECT_EQ(floor_div(-1, 5), -1);
  EXPECT_EQ(floor_div(-5, 5), -1);
  EXPECT_EQ(floor_div(-6, 5), -2);
  EXPECT_EQ(floor_div(-1, 1), -1);
  EXPECT_EQ(floor_div(INT64_MIN, 1), INT64_MIN);
  EXPECT_EQ(floor_div(INT64_MAX, INT64_MAX), 1);
  EXPECT_EQ(floor_div(INT64_MIN, INT64_MAX), -2);
  static_assert(floor_div(-1, 1000) == -1);
}

TEST(FloorDiv, RandomAgainstDefinition) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    const int64_t a = static_cast<int64_t>(rng() % 2'000'000'001ULL) - 1'000'000'000;
    const int64_t b = static_cast<int64_t>(rng() % 100'000) + 1;
    const int64_t q = floor_div(a, b);
    // q is the floor iff q*b <= a < (q+1)*b.
    ASSERT_LE(q * b, a) << a << " / " << b;
    ASSERT_GT((q + 1) * b, a) << a << " / " << b;
  }
}

TEST(DaysFromCivil, KnownDates) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(1970, 1, 2), 1);
  EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(days_from_civil(2000, 2, 29), 11016);
  EXPECT_EQ(days_from_civil(2020, 5, 9), 18391);
  EXPECT_EQ(days_from_civil(1, 1, 1), -719162);
  EXPECT_EQ(days_from_civil(9999, 12, 31), 2932896);
  static_assert(days_from_civil(1970, 1, 1) == 0);
}

TEST(DaysFromCivil, EveryDayOfSomeYearsAgainstTimegm) {
  // Every day of years around the tricky century rules: 1600 (leap), 1700/1800/1900 (not),
  // 2000 (leap), 2100 (not), and the ends of the four-digit range.
  for (int64_t y : {1, 2, 4, 99, 100, 400, 1600, 1700, 1899, 1900, 1969, 1970, 1972, 1999, 2000,
                    2001, 2020, 2024, 2038, 2100, 2400, 9999}) {
    for (unsigned m = 1; m <= 12; ++m) {
      for (unsigned d = 1; d <= days_in_month(y, m); ++d) {
        ASSERT_EQ(days_from_civil(y, m, d) * 86400, reference_seconds(y, m, d))
            << y << "-" << m << "-" << d;
      }
    }
  }
}

TEST(DaysFromCivil, RandomDatesAgainstTimegm) {
  std::mt19937_64 rng(2);
  for (int i = 0; i < 200000; ++i) {
    const int64_t y = static_cast<int64_t>(rng() % 9999) + 1;
    const unsigned m = static_cast<unsigned>(rng() % 12) + 1;
    const unsigned d = static_cast<unsigned>(rng() % days_in_month(y, m)) + 1;
    ASSERT_EQ(days_from_civil(y, m, d) * 86400, reference_seconds(y, m, d))
        << y << "-" << m << "-" << d;
  }
}

TEST(DaysInMonth, LeapYears) {
  EXPECT_TRUE(is_leap_year(2000));
  EXPECT_TRUE(is_leap_year(2024));
  EXPECT_TRUE(is_leap_year(1600));
  EXPECT_FALSE(is_leap_year(1900));
  EXPECT_FALSE(is_leap_year(2100));
  EXPECT_FALSE(is_leap_year(2023));
  EXPECT_EQ(days_in_month(2000, 2), 29u);
  EXPECT_EQ(days_in_month(1900, 2), 28u);
  EXPECT_EQ(days_in_month(2024, 2), 29u);
  EXPECT_EQ(days_in_month(2023, 2), 28u);
  EXPECT_EQ(days_in_month(2023, 1), 31u);
  EXPECT_EQ(days_in_month(2023, 4), 30u);
  EXPECT_EQ(days_in_month(2023, 12), 31u);
}

TEST(ToCivil, EpochAndNeighbours) {
  CivilTime c = to_civil(0);
  EXPECT_EQ(c.year, 1970);
  EXPECT_EQ(c.month, 1u);
  EXPECT_EQ(c.day, 1u);
  EXPECT_EQ(c.hour + c.minute + c.second + c.millisecond, 0u);

  c = to_civil(-1);  // one millisecond before the epoch
  EXPECT_EQ(c.year, 1969);
  EXPECT_EQ(c.month, 12u);
  EXPECT_EQ(c.day, 31u);
  EXPECT_EQ(c.hour, 23u);
  EXPECT_EQ(c.minute, 59u);
  EXPECT_EQ(c.second, 59u);
  EXPECT_EQ(c.millisecond, 999u);

  c = to_civil(-kMsPerDay);
  EXPECT_EQ(c.year, 1969);
  EXPECT_EQ(c.day, 31u);
  EXPECT_EQ(c.hour, 0u);
  EXPECT_EQ(c.millisecond, 0u);
}

TEST(ToCivil, RandomTimesAgainstGmtime) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<TimeMs> dist(kMinTime, kMaxTime);
  for (int i = 0; i < 200000; ++i) {
    const TimeMs t = dist(rng);
    const CivilTime c = to_civil(t);
    const time_t secs = static_cast<time_t>(floor_div(t, 1000));
    std::tm tm{};
    ASSERT_NE(gmtime_r(&secs, &tm), nullptr);
    ASSERT_EQ(c.year, tm.tm_year + 1900LL) << t;
    ASSERT_EQ(c.month, static_cast<unsigned>(tm.tm_mon + 1)) << t;
    ASSERT_EQ(c.day, static_cast<unsigned>(tm.tm_mday)) << t;
    ASSERT_EQ(c.hour, static_cast<unsigned>(tm.tm_hour)) << t;
    ASSERT_EQ(c.minute, static_cast<unsigned>(tm.tm_min)) << t;
    ASSERT_EQ(c.second, static_cast<unsigned>(tm.tm_sec)) << t;
    ASSERT_EQ(c.millisecond, static_cast<unsigned>(t - floor_div(t, 1000) * 1000)) << t;
    // And back.
    ASSERT_EQ(days_from_civil(c.year, c.month, c.day) * kMsPerDay + c.hour * 3'600'000LL +
                  c.minute * 60'000LL + c.second * 1000LL + c.millisecond,
              t);
  }
}

TEST(Format, KnownValues) {
  EXPECT_EQ(format_iso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso8601(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(format_iso8601(1589056897123), "2020-05-09T20:41:37.123Z");
  EXPECT_EQ(format_iso8601(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(format_iso8601(kMinTime), "0001-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso8601(kMaxTime), "9999-12-31T23:59:59.999Z");

  char buf[32];
  char* end = format_iso8601(1589056897007, buf);
  EXPECT_EQ(end - buf, 24);
  EXPECT_EQ(std::string(buf, end), "2020-05-09T20:41:37.007Z");
  end = format_line_time(1589056897070, buf);
  EXPECT_EQ(end - buf, 23);
  EXPECT_EQ(std::string(buf, end), "2020-05-09 20:41:37.070");
}

TEST(Format, RandomAgainstStrftime) {
  std::mt19937_64 rng(4);
  std::uniform_int_distribution<TimeMs> dist(kMinTime, kMaxTime);
  char buf[32];
  for (int i = 0; i < 100000; ++i) {
    const TimeMs t = dist(rng);
    ASSERT_EQ(std::string(buf, format_line_time(t, buf)), reference_format(t, ' '));
    ASSERT_EQ(format_iso8601(t), reference_format(t, 'T') + "Z");
  }
}

TEST(Format, DoesNotWritePastItsLength) {
  char buf[32];
  std::memset(buf, '#', sizeof buf);
  format_line_time(1589056897123, buf);
  EXPECT_EQ(buf[23], '#');
  std::memset(buf, '#', sizeof buf);
  format_iso8601(1589056897123, buf);
  EXPECT_EQ(buf[24], '#');
}

TEST(ParseDatetime, Valid) {
  EXPECT_EQ(parse_datetime("1970-01-01 00:00:00"), 0);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37"), 1589056897000);
  EXPECT_EQ(parse_datetime("2020-05-09T20:41:37"), 1589056897000);
  EXPECT_EQ(parse_datetime("1969-12-31 23:59:59.999"), -1);
  EXPECT_EQ(parse_datetime("2000-02-29 00:00:00"), 951782400000);
  EXPECT_EQ(parse_datetime("0001-01-01 00:00:00"), kMinTime);
  EXPECT_EQ(parse_datetime("9999-12-31 23:59:59.999999999"), kMaxTime);
}

TEST(ParseDatetime, FractionsOfOneToNineDigitsAreTruncatedToTheMillisecond) {
  const TimeMs base = 1589056897000;
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.1"), base + 100);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.12"), base + 120);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.123"), base + 123);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.1239"), base + 123);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.12399"), base + 123);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.123999"), base + 123);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.1239999"), base + 123);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.12399999"), base + 123);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.999999999"), base + 999);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.000000001"), base);
  EXPECT_EQ(parse_datetime("2020-05-09 20:41:37.0"), base);
}

TEST(ParseDatetime, Invalid) {
  for (const char* s : {
           "", "2020-05-09", "2020-05-09 20:41", "2020-05-09 20:41:3", "2020-05-09 20:41:37.",
           "2020-05-09 20:41:37.1234567890",  // ten fraction digits
           "2020-05-09 20:41:37.12a", "2020-05-09 20:41:37 ", " 2020-05-09 20:41:37",
           "2020-05-09  20:41:37", "2020-05-09\t20:41:37", "2020-05-09x20:41:37",
           "2020/05/09 20:41:37", "2020-05-09 20.41.37", "20-05-09 20:41:37",
           "2020-5-9 20:41:37", "2020-05-9 20:41:37", "0000-01-01 00:00:00",
           "2020-00-09 20:41:37", "2020-13-09 20:41:37", "2020-05-00 20:41:37",
           "2020-05-32 20:41:37", "2020-04-31 20:41:37", "2023-02-29 00:00:00",
           "1900-02-29 00:00:00", "2100-02-29 00:00:00", "2020-02-30 00:00:00",
           "2020-05-09 24:00:00", "2020-05-09 20:60:00", "2020-05-09 20:41:60",
           "2020-05-09 -1:41:37", "+020-05-09 20:41:37", "2020-05-09 20:41:37Z",
           "2020-05-09 20:41:37,123", "２020-05-09 20:41:37", "2020-05-09 20:41:37.+1"}) {
    EXPECT_EQ(parse_datetime(s), std::nullopt) << '"' << s << '"';
  }
  // An embedded NUL is not the end of the text.
  EXPECT_EQ(parse_datetime(std::string_view("2020-05-09 20:41:37\0", 20)), std::nullopt);
  EXPECT_EQ(parse_datetime(std::string_view("2020-05-09\0""20:41:37", 19)), std::nullopt);
}

TEST(ParseDatetime, AgreesWithLeapYearRulesEveryFebruary29) {
  for (int y = 1; y <= 9999; ++y) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-02-29 12:00:00", y);
    ASSERT_EQ(parse_datetime(buf).has_value(), is_leap_year(y)) << buf;
  }
}

TEST(ParseDatetime, RoundTripsFormatLineTime) {
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<TimeMs> dist(kMinTime, kMaxTime);
  char buf[32];
  for (int i = 0; i < 100000; ++i) {
    const TimeMs t = dist(rng);
    const std::string text(buf, format_line_time(t, buf));
    ASSERT_EQ(parse_datetime(text), t) << text;
  }
}

TEST(ParseDatetime, RandomDatesAgainstTimegm) {
  std::mt19937_64 rng(6);
  for (int i = 0; i < 100000; ++i) {
    const int y = static_cast<int>(rng() % 9999) + 1;
    const unsigned mo = static_cast<unsigned>(rng() % 12) + 1;
    // Day 1..31 whatever the month: invalid days must be rejected.
    const unsigned d = static_cast<unsigned>(rng() % 31) + 1;
    const unsigned h = static_cast<unsigned>(rng() % 25), mi = static_cast<unsigned>(rng() % 61),
                   s = static_cast<unsigned>(rng() % 61);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02u:%02u:%02u", y, mo, d, h, mi, s);
    const bool valid = d <= days_in_month(y, mo) && h < 24 && mi < 60 && s < 60;
    const auto got = parse_datetime(buf);
    ASSERT_EQ(got.has_value(), valid) << buf;
    if (valid) {
      ASSERT_EQ(*got, reference_seconds(y, mo, d, h, mi, s) * 1000) << buf;
    }
  }
}

TEST(ParseDuration, Valid) {
  EXPECT_EQ(parse_duration_ms("100ms"), 100);
  EXPECT_EQ(parse_duration_ms("1ms"), 1);
  EXPECT_EQ(parse_duration_ms("1s"), 1000);
  EXPECT_EQ(parse_duration_ms("1"), 1000);  // a bare number is seconds
  EXPECT_EQ(parse_duration_ms("10s"), 10000);
  EXPECT_EQ(parse_duration_ms("2m"), 120000);
  EXPECT_EQ(parse_duration_ms("2min"), 120000);
  EXPECT_EQ(parse_duration_ms("1h"), 3600000);
  EXPECT_EQ(parse_duration_ms("1d"), 86400000);
  EXPECT_EQ(parse_duration_ms("365d"), 365LL * 86400000);
}

TEST(ParseDuration, Invalid) {
  for (const char* s : {"", "0", "0s", "0ms", "-1s", "+1s", "1.5s", "s", "ms", "1 s", " 1s", "1s ",
                        "1S", "1MS", "1w", "1y", "1us", "1sec", "1mss", "0x10s", "1e3ms",
                        "99999999999999999999s", "9223372036854775807ms",
                        "9223372036854775807d"}) {
    EXPECT_EQ(parse_duration_ms(s), std::nullopt) << '"' << s << '"';
  }
}

TEST(ParseDuration, LargeValuesDoNotOverflow) {
  // Whatever the bound, an accepted value must be exact (no wraparound).
  for (const char* unit : {"ms", "s", "m", "h", "d"}) {
    for (int64_t v = 1; v > 0 && v < INT64_MAX / 10; v *= 10) {
      const std::string text = std::to_string(v) + unit;
      if (auto got = parse_duration_ms(text)) {
        EXPECT_GT(*got, 0) << text;
        EXPECT_EQ(*got % v, 0) << text;
      }
    }
  }
}

}  // namespace
}  // namespace netpulse::core

namespace netpulse::core {
namespace {

TEST(Iso8601, TheFormsOperatorsType) {
  const TimeMs t = 1589056890000;  // 2020-05-09T20:41:30Z
  EXPECT_EQ(parse_iso8601("2020-05-09T20:41:30Z"), t);
  EXPECT_EQ(parse_iso8601("2020-05-09T20:41:30.000Z"), t);
  EXPECT_EQ(parse_iso8601("2020-05-09 20:41:30"), t);
  EXPECT_EQ(parse_iso8601("2020-05-09t20:41:30z"), t);
  EXPECT_EQ(parse_iso8601("2020-05-09T20:41:30.123456789Z"), t + 123);  // truncated to ms
  EXPECT_EQ(parse_iso8601("2020-05-09T20:41:30,5Z"), t + 500);
  EXPECT_EQ(parse_iso8601("2020-05-09T22:41:30+02:00"), t);
  EXPECT_EQ(parse_iso8601("2020-05-09T22:41:30+0200"), t);
  EXPECT_EQ(parse_iso8601("2020-05-09T22:41:30 02:00"), t);  // '+' form-decoded to a space
  EXPECT_EQ(parse_iso8601("2020-05-09T18:41:30-02"), t);
  EXPECT_EQ(parse_iso8601("2020-05-09T20:41"), t - 30'000);
  EXPECT_EQ(parse_iso8601("2020-05-09"), t - (20 * 3600 + 41 * 60 + 30) * 1000LL);
  EXPECT_EQ(parse_iso8601("2020-02-29"), parse_iso8601("2020-02-29T00:00:00Z"));  // a leap day
  EXPECT_TRUE(parse_iso8601("2020-02-29").has_value());
  for (const char* bad : {"", "2020", "2020-13-01", "2020-02-30", "2019-02-29", "2020-05-09T24:00",
                          "2020-05-09T20:60", "2020-05-09T20:41:30Zjunk", "2020-05-09T20:41:30.Z",
                          "2020-05-09X20:41", "2020-05-09T20:41:30+2", "20-05-09", "yesterday"}) {
    EXPECT_EQ(parse_iso8601(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace netpulse::core
