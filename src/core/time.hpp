// Event time: milliseconds since the Unix epoch, UTC, and the civil-calendar conversions the
// parsers and the JSON output need. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace netpulse::core {

// Milliseconds since 1970-01-01T00:00:00Z (negative before it).
using TimeMs = int64_t;

// Days since 1970-01-01 of a proleptic Gregorian date. REQUIRES: a valid date.
constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

constexpr bool is_leap_year(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr unsigned days_in_month(int64_t y, unsigned m) {
  constexpr unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap_year(y) ? 29 : kDays[m - 1];
}

struct CivilTime {
  int64_t year;
  unsigned month, day, hour, minute, second, millisecond;
};

CivilTime to_civil(TimeMs t);

// Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 characters) at out; returns the end.
char* format_iso8601(TimeMs t, char* out);
std::string format_iso8601(TimeMs t);

// Writes "YYYY-MM-DD HH:MM:SS.mmm" (23 characters, the line format) at out; returns the end.
char* format_line_time(TimeMs t, char* out);

// Parses "YYYY-MM-DD HH:MM:SS" with an optional fraction of 1 to 9 digits (truncated to the
// millisecond), as used by --start-time. Returns nullopt for anything else.
std::optional<TimeMs> parse_datetime(std::string_view text);

// Parses ISO 8601 as operators type it: YYYY-MM-DD, optionally followed by (T| )HH:MM[:SS[.frac]]
// (a fraction of 1 to 9 digits, truncated to the millisecond) and Z or an offset +HH[[:]MM] /
// -HH[[:]MM] (a space stands for '+': a form-decoded query string turns '+' into one). No zone:
// UTC. Returns nullopt for anything else.
std::optional<TimeMs> parse_iso8601(std::string_view text);

// Parses a duration such as "100ms", "1s", "2m", "1h", "1d" into milliseconds (> 0).
std::optional<int64_t> parse_duration_ms(std::string_view text);

// floor(a / b) for b > 0.
constexpr int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

}  // namespace netpulse::core
