#include "core/time.hpp"

#include <charconv>

namespace netpulse::core {
namespace {

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
}

char* put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
  return p + 2;
}

char* put_date_time(TimeMs t, char* p, char sep) {
  const CivilTime c = to_civil(t);
  int64_t y = c.year;
  if (y < 0 || y > 9999) y = y < 0 ? 0 : 9999;  // outside the formats' range; clamp
  const unsigned yy = static_cast<unsigned>(y);
  p = put2(p, yy / 100);
  p = put2(p, yy % 100);
  *p++ = '-';
  p = put2(p, c.month);
  *p++ = '-';
  p = put2(p, c.day);
  *p++ = sep;
  p = put2(p, c.hour);
  *p++ = ':';
  p = put2(p, c.minute);
  *p++ = ':';
  p = put2(p, c.second);
  *p++ = '.';
  *p++ = static_cast<char>('0' + c.millisecond / 100);
  p = put2(p, c.millisecond % 100);
  return p;
}

bool digits(std::string_view s, size_t pos, size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  unsigned v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  out = v;
  return true;
}

}  // namespace

CivilTime to_civil(TimeMs t) {
  const int64_t days = floor_div(t, 86'400'000);
  int64_t ms_of_day = t - days * 86'400'000;
  CivilTime c{};
  civil_from_days(days, c.year, c.month, c.day);
  c.hour = static_cast<unsigned>(ms_of_day / 3'600'000);
  ms_of_day %= 3'600'000;
  c.minute = static_cast<unsigned>(ms_of_day / 60'000);
  ms_of_day %= 60'000;
  c.second = static_cast<unsigned>(ms_of_day / 1000);
  c.millisecond = static_cast<unsigned>(ms_of_day % 1000);
  return c;
}

char* format_iso8601(TimeMs t, char* out) {
  char* p = put_date_time(t, out, 'T');
  *p++ = 'Z';
  return p;
}

std::string format_iso8601(TimeMs t) {
  char buf[32];
  return std::string(buf, format_iso8601(t, buf));
}

char* format_line_time(TimeMs t, char* out) { return put_date_time(t, out, ' '); }

std::optional<TimeMs> parse_datetime(std::string_view s) {
  unsigned y, mo, d, h, mi, se;
  if (s.size() < 19 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) ||
      s[7] != '-' || !digits(s, 8, 2, d) || (s[10] != ' ' && s[10] != 'T') ||
      !digits(s, 11, 2, h) || s[13] != ':' || !digits(s, 14, 2, mi) || s[16] != ':' ||
      !digits(s, 17, 2, se))
    return std::nullopt;
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
      se > 59)
    return std::nullopt;
  unsigned ms = 0;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    size_t n = 0;
    for (++pos; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n)
      if (n < 3) ms = ms * 10 + static_cast<unsigned>(s[pos] - '0');
    if (n == 0 || n > 9) return std::nullopt;
    for (; n < 3; ++n) ms *= 10;
  }
  if (pos != s.size()) return std::nullopt;
  return days_from_civil(y, mo, d) * 86'400'000 + h * 3'600'000LL + mi * 60'000LL + se * 1000LL + ms;
}

std::optional<int64_t> parse_duration_ms(std::string_view s) {
  int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr == s.data() || v <= 0) return std::nullopt;
  const std::string_view unit(ptr, static_cast<size_t>(s.data() + s.size() - ptr));
  int64_t scale;
  if (unit == "ms") scale = 1;
  else if (unit == "s" || unit.empty()) scale = 1000;
  else if (unit == "m" || unit == "min") scale = 60'000;
  else if (unit == "h") scale = 3'600'000;
  else if (unit == "d") scale = 86'400'000;
  else return std::nullopt;
  if (v > INT64_MAX / scale / 1000) return std::nullopt;
  return v * scale;
}

namespace {

// n decimal digits at pos.
bool take_digits(std::string_view s, size_t& pos, size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  unsigned v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  out = v;
  return true;
}

bool take_char(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<TimeMs> parse_iso8601(std::string_view s) {
  size_t pos = 0;
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0;
  if (!take_digits(s, pos, 4, y) || !take_char(s, pos, '-') || !take_digits(s, pos, 2, mo) ||
      !take_char(s, pos, '-') || !take_digits(s, pos, 2, d))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) return std::nullopt;
  int64_t offset_ms = 0;
  if (pos < s.size()) {
    const char sep = s[pos++];
    if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
    if (!take_digits(s, pos, 2, h) || !take_char(s, pos, ':') || !take_digits(s, pos, 2, mi))
      return std::nullopt;
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!take_digits(s, pos, 2, sec)) return std::nullopt;
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        size_t n = 0;
        unsigned scale = 100;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          // Digits past the millisecond are truncated, like the line format's times.
          if (scale > 0) ms += static_cast<unsigned>(s[pos] - '0') * scale;
          scale /= 10;
          ++pos;
          ++n;
        }
        if (n == 0 || n > 9) return std::nullopt;
      }
    }
    if (h > 23 || mi > 59 || sec > 59) return std::nullopt;
    if (pos < s.size()) {
      const char z = s[pos++];
      if (z == 'Z' || z == 'z') {
        if (pos != s.size()) return std::nullopt;
      } else if (z == '+' || z == '-' || z == ' ') {
        unsigned oh = 0, om = 0;
        if (!take_digits(s, pos, 2, oh)) return std::nullopt;
        if (pos < s.size()) {
          take_char(s, pos, ':');
          if (!take_digits(s, pos, 2, om)) return std::nullopt;
        }
        if (pos != s.size() || oh > 23 || om > 59) return std::nullopt;
        offset_ms = (static_cast<int64_t>(oh) * 60 + om) * 60'000;
        if (z == '-') offset_ms = -offset_ms;
      } else {
        return std::nullopt;
      }
    }
  }
  const int64_t days = days_from_civil(y, mo, d);
  return days * 86'400'000 + static_cast<int64_t>(h) * 3'600'000 + static_cast<int64_t>(mi) * 60'000 +
         static_cast<int64_t>(sec) * 1000 + ms - offset_ms;
}

}  // namespace netpulse::core
