// Builds input text for engine tests: line-format records written in varied but valid ways
// (fractions of 0 to 9 digits, tabs, several spaces, CRLF), random streams with out-of-order
// and late records, gaps, a few malformed and blank lines. Deterministic for a given seed.
// Header-only; a StreamGen belongs to one test.
#pragma once

#include <cstdint>
#include <ctime>
#include <random>
#include <string>
#include <vector>

namespace netpulse::testref {

// "YYYY-MM-DD HH:MM:SS.mmm" for a time in ms since the epoch (UTC).
inline std::string line_time(int64_t ms, int fraction_digits = 3) {
  int64_t secs = ms / 1000, rem = ms % 1000;
  if (rem < 0) {
    rem += 1000;
    --secs;
  }
  const std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  std::string s = buf;
  if (fraction_digits > 0) {
    char frac[16];
    std::snprintf(frac, sizeof frac, "%03d", static_cast<int>(rem));
    std::string f = frac;
    if (fraction_digits < 3) f = f.substr(0, static_cast<size_t>(fraction_digits));
    while (static_cast<int>(f.size()) < fraction_digits) f += static_cast<char>('0' + f.size() % 10);
    s += "." + f;
  }
  return s;
}

// One record line with single spaces.
inline std::string record_line(int64_t ms, const std::string& proto, const std::string& src,
                               const std::string& dst, uint64_t bytes) {
  return line_time(ms) + " " + proto + " " + src + " " + dst + " " + std::to_string(bytes);
}

// 2020-05-09 20:41:00 UTC, the spec's example date, in ms.
inline constexpr int64_t kBaseMs = 1589056860000;

struct StreamShape {
  size_t records = 400;
  int64_t unit_ms = 1000;
  int64_t lateness = 0;         // units, to aim the out-of-order records around the watermark
  double step_units = 0.3;      // mean advance of event time per record, in units
  double out_of_order = 0.2;    // share of records placed behind the newest time
  double gap = 0.02;            // share of records after a jump of several windows
  double malformed = 0.02;
  double blank = 0.01;
  double same_src_dst = 0.1;
  size_t protocols = 4;         // how many protocol names the stream uses (at most 8)
  size_t v4_addresses = 12;
  size_t v6_addresses = 3;      // at most 6
  bool varied_layout = true;    // tabs, runs of spaces, CRLF, 0-9 fraction digits
  int64_t start_ms = kBaseMs;
};

class StreamGen {
 public:
  explicit StreamGen(uint64_t seed) : rng_(seed) {}

  std::string make(const StreamShape& s) {
    static const char* kProtocols[] = {"HTTP", "SOAP", "DNS", "HTTPS", "a", "A", "_x-1.2", "SSH"};
    static const char* kV6[] = {"2001:db8::1", "2001:db8::a:0:0:1", "fe80::1", "::ffff:10.0.0.1",
                                "2001:db8:0:0:1::1", "ff02::2"};
    std::vector<std::string> protos(kProtocols, kProtocols + std::min<size_t>(s.protocols, 8));
    std::vector<std::string> addrs;
    for (size_t i = 0; i < s.v4_addresses; ++i) {
      uint32_t a = static_cast<uint32_t>(rng_());
      if (i == 0) a = 0;
      if (i == 1) a = 0xffffffffu;
      if (i == 2) a = 0x0a000001u;  // 10.0.0.1: also written as ::ffff:10.0.0.1 (a distinct key)
      addrs.push_back(std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
                      std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255));
    }
    for (size_t i = 0; i < std::min<size_t>(s.v6_addresses, 6); ++i) addrs.push_back(kV6[i]);

    std::string out;
    double newest = static_cast<double>(s.start_ms);
    const double unit = static_cast<double>(s.unit_ms);
    for (size_t i = 0; i < s.records; ++i) {
      const double u = uniform();
      if (u < s.blank) {
        out += pick({"", "   ", "\t", " \t "}) + eol();
        continue;
      }
      if (u < s.blank + s.malformed) {
        out += malformed_line(static_cast<int64_t>(newest)) + eol();
        continue;
      }
      double t;
      const double v = uniform();
      if (v < s.gap) {
        newest += unit * (5 + 30 * uniform());
        t = newest;
      } else if (v < s.gap + s.out_of_order) {
        // Behind the newest time: up to two units past the allowed lateness, so some are late.
        t = newest - unit * (s.lateness + 2) * uniform();
      } else {
        newest += unit * s.step_units * 2 * uniform();
        t = newest;
      }
      const int64_t ms = static_cast<int64_t>(t);
      const std::string& proto = protos[index(protos.size())];
      const std::string& src = addrs[index(addrs.size())];
      const std::string& dst = uniform() < s.same_src_dst ? src : addrs[index(addrs.size())];
      out += format(ms, proto, src, dst, bytes(), s.varied_layout) + eol(s.varied_layout);
    }
    return out;
  }

  uint64_t bytes() {
    const double u = uniform();
    if (u < 0.05) return 0;
    if (u < 0.10) return 4294967295u;
    if (u < 0.40) return 1500;                       // many ties
    if (u < 0.60) return 40 + index(3) * 536;        // 40, 576, 1112
    if (u < 0.90) return 1 + index(100000);
    return static_cast<uint32_t>(rng_());
  }

  double uniform() { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  size_t index(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::string pick(std::initializer_list<const char*> options) {
    std::vector<const char*> v(options);
    return v[index(v.size())];
  }

  std::string eol(bool varied = true) { return varied && uniform() < 0.1 ? "\r\n" : "\n"; }

  std::string format(int64_t ms, const std::string& proto, const std::string& src,
                     const std::string& dst, uint64_t b, bool varied) {
    if (!varied) return record_line(ms, proto, src, dst, b);
    auto sep = [&] { return pick({" ", " ", " ", "  ", "\t", " \t"}); };
    std::string time = line_time(ms, 0);
    const int64_t frac = ((ms % 1000) + 1000) % 1000;
    const double u = uniform();
    if (frac != 0 || u < 0.5) {
      // 3 digits, or 4 to 9 (the extra digits are truncated), or fewer when they are zeros.
      std::string f = line_time(ms, 3).substr(20);
      if (u < 0.3) {
        for (size_t n = 3 + index(7); f.size() < n;) f += static_cast<char>('0' + index(10));
      } else if (f[2] == '0' && u < 0.6) {
        f.pop_back();
        if (f[1] == '0') f.pop_back();
      }
      time += "." + f;
    }
    const std::string date = time.substr(0, 10), clock = time.substr(11);
    return pick({"", "", "", " ", "\t"}) + date + sep() + clock + sep() + proto + sep() + src + sep() +
           dst + sep() + std::to_string(b) + pick({"", "", "", " ", "\t"});
  }

  std::string malformed_line(int64_t ms) {
    const std::string t = line_time(ms);
    switch (index(14)) {
      case 0: return t + " HTTP 1.2.3.4 5.6.7.8";                          // missing bytes
      case 1: return t + " HTTP 1.2.3.4 5.6.7.8 100 extra";                // extra field
      case 2: return t + " HT@P 1.2.3.4 5.6.7.8 100";                      // bad protocol
      case 3: return t + " HTTP 256.2.3.4 5.6.7.8 100";                    // bad src
      case 4: return t + " HTTP 1.2.3.4 5.6.7 100";                        // bad dst
      case 5: return t + " HTTP 1.2.3.4 5.6.7.8 4294967296";               // bytes out of range
      case 6: return t + " HTTP 1.2.3.4 5.6.7.8 -1";                       // bytes not a number
      case 7: return "2020-02-30 10:00:00 HTTP 1.2.3.4 5.6.7.8 100";       // no such day
      case 8: return "2020-05-09 24:00:00 HTTP 1.2.3.4 5.6.7.8 100";       // no such hour
      case 9: return t.substr(0, 19) + ".1234567890 HTTP 1.2.3.4 5.6.7.8 1";  // 10 fraction digits
      case 10: return t + " HTTP 1.2.3.4 2001:db8:::1 100";                 // bad IPv6
      case 11: return "garbage";
      case 12: return t + " ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg 1.2.3.4 5.6.7.8 1";  // 33 chars
      default: return std::string("\x01\xff binary") + t;
    }
  }

  std::mt19937_64 rng_;
};

}  // namespace netpulse::testref
