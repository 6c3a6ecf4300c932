// Randomized differential test (issue 12): many random streams through the real pipeline at 1,
// 2 and 4 threads with random block sizes, and random H/T/k/X changes at random points (several
// in a row, and right where a window becomes final), against the plain reference
// (reference.hpp). Every run must match the reference window for window and in its
// accepted/late/malformed counts, and every thread count must write the same JSON bytes.
//
// The streams aim at what an incremental engine gets wrong: late and out-of-order records right
// at the watermark, gaps past max-window, bursts at one instant, records exactly at window ends,
// IPv4 and IPv6 (v4-mapped text stays a key of its own; one address written several ways is
// one key), duplicate lines, bytes 0 and 4294967295, a heavy hitter far above the rest, hundreds
// to thousands of keys per window, keys whose bytes rise and fall as windows slide past them
// (they enter and leave the top k), and groups of keys that always tie on bytes (the k-th and
// (k+1)-th rows tie).
//
// Deterministic from the seed: a failure's trace names the seed, the test and every option, and
// the input is written to a file; a test stops after three failing seeds and lists them.
// NETPULSE_DIFF_SCALE=n runs n times as many seeds; NETPULSE_DIFF_STATS=1 prints what each
// case's windows hold.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "reference.hpp"
#include "stream_gen.hpp"

namespace netpulse::testref {
namespace {

class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  double uniform() { return std::uniform_real_distribution<double>(0, 1)(g_); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool chance(double p) { return uniform() < p; }
  size_t index(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(g_); }
  int64_t between(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(g_);
  }
  double log_uniform(double lo, double hi) { return std::exp(uniform(std::log(lo), std::log(hi))); }
  // An index in [0, n) that favours the low end more the larger `skew` is (1: uniform).
  size_t skewed(size_t n, double skew) {
    return std::min(n - 1, static_cast<size_t>(std::pow(uniform(), skew) * static_cast<double>(n)));
  }
  uint64_t bits() { return g_(); }

 private:
  std::mt19937_64 g_;
};

const char* key_name(KeyMode m) {
  return m == KeyMode::kSrc ? "src" : m == KeyMode::kDst ? "dst" : "host";
}

// ---------------------------------------------------------------------------------------------
// Keys.

// An address and the ways the stream writes it; spellings[0] is the canonical text.
struct AddrKey {
  std::vector<std::string> spellings;
};

std::string v4_text(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

AddrKey v6_key(const std::array<unsigned char, 16>& b) {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, b.data(), buf, sizeof buf);
  AddrKey k;
  k.spellings.push_back(buf);
  // All eight groups with leading zeros, lower and upper case: the same key.
  std::string full, upper;
  for (int g = 0; g < 8; ++g) {
    char grp[8];
    std::snprintf(grp, sizeof grp, "%02x%02x", b[2 * g], b[2 * g + 1]);
    if (g) full += ':';
    full += grp;
  }
  upper = k.spellings[0];
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  k.spellings.push_back(full);
  if (upper != k.spellings[0]) k.spellings.push_back(upper);
  return k;
}

// Addresses that are easy to get wrong: the ends of the IPv4 range, 10.0.0.1 and its v4-mapped
// IPv6 twin (a different key, written four ways), "::" and "::1", zero runs that RFC 5952
// compresses (the first of equal runs, never a single group), IPv4-translated text.
std::vector<AddrKey> special_addresses() {
  return {
      {{"0.0.0.0"}},
      {{"255.255.255.255"}},
      {{"10.0.0.1"}},
      {{"::ffff:10.0.0.1", "::ffff:a00:1", "0:0:0:0:0:ffff:a00:1", "::FFFF:10.0.0.1"}},
      {{"::ffff:0.0.0.0", "::ffff:0:0"}},
      {{"::", "0:0:0:0:0:0:0:0"}},
      {{"::1", "0:0:0:0:0:0:0:1"}},
      {{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF"}},
      {{"2001:db8::1:0:0:1", "2001:db8:0:0:1:0:0:1", "2001:0db8:0000:0000:0001:0000:0000:0001"}},
      {{"2001:db8:0:1:0:1:0:1"}},
      {{"1:0:0:2::3", "1:0:0:2:0:0:0:3"}},
      {{"0:2:3:4:5:6:7:8", "::2:3:4:5:6:7:8"}},
      {{"1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7::"}},
      {{"::ffff:0:102:304", "::ffff:0:1.2.3.4"}},
  };
}

// Distinct addresses: `v4` IPv4 and `v6` IPv6, none in `taken` (which collects them).
std::vector<AddrKey> random_addresses(Rng& r, size_t v4, size_t v6, std::set<std::string>& taken) {
  std::vector<AddrKey> out;
  while (v4 > 0) {
    uint32_t a = static_cast<uint32_t>(r.bits());
    // Some dense runs (neighbouring addresses order by number), some spread out.
    if (r.chance(0.4)) a = 0x0a010000u | static_cast<uint32_t>(r.index(4096));
    if (!taken.insert(v4_text(a)).second) continue;
    out.push_back({{v4_text(a)}});
    --v4;
  }
  while (v6 > 0) {
    std::array<unsigned char, 16> b{};
    const uint64_t hi = r.bits(), lo = r.bits();
    for (int i = 0; i < 8; ++i) {
      b[i] = static_cast<unsigned char>(hi >> (56 - 8 * i));
      b[8 + i] = static_cast<unsigned char>(lo >> (56 - 8 * i));
    }
    const size_t kind = r.index(4);
    if (kind == 0) {  // in 2001:db8::/32
      b[0] = 0x20;
      b[1] = 0x01;
      b[2] = 0x0d;
      b[3] = 0xb8;
    } else if (kind == 1) {  // fe80::/64, with long zero runs
      b = {0xfe, 0x80};
      b[14] = static_cast<unsigned char>(r.index(4));
      b[15] = static_cast<unsigned char>(r.index(256));
    }
    // Never the deprecated IPv4-compatible ::a.b.c.d (the reference's inet_ntop writes it with
    // a dotted quad, RFC 5952 does not).
    if (std::all_of(b.begin(), b.begin() + 12, [](unsigned char c) { return c == 0; })) continue;
    AddrKey k = v6_key(b);
    if (!taken.insert(k.spellings[0]).second) continue;
    out.push_back(std::move(k));
    --v6;
  }
  return out;
}

std::vector<std::string> protocol_names(Rng& r, size_t n) {
  static const char* kNames[] = {"HTTP", "DNS", "SOAP", "HTTPS", "a", "A",   "_x-1.2", "SSH",
                                 "z",    "Z9",  "-",    ".",     "0", "ntp", "QUIC",   "smb"};
  std::vector<std::string> out;
  for (size_t i = 0; i < n; ++i) {
    if (i < std::size(kNames))
      out.push_back(kNames[i]);
    else if (i == std::size(kNames))
      out.push_back("abcdefghijklmnopqrstuvwxyz012345");  // 32 chars
    else
      out.push_back(std::string("P").append(std::to_string(i)));
  }
  std::shuffle(out.begin(), out.end(), std::mt19937_64(r.bits()));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Streams.

struct Recipe {
  size_t records = 2000;       // record lines, not counting duplicates, noise and tie events
  double rate = 20;            // mean records per time unit
  double out_of_order = 0.1;   // behind the newest time, up to two units past the lateness
  double far_late = 0.01;      // far behind: late
  double gap = 0.002;          // a jump of several windows, sometimes past max-window
  double burst = 0.01;         // starts a run of records at one millisecond
  double at_boundary = 0.02;   // exactly at a window end, or 1 ms before it
  double duplicate = 0.02;     // the previous record line again
  double noise = 0.01;         // malformed or blank lines
  double varied_layout = 0.1;  // tabs, runs of spaces, CRLF, 0 to 9 fraction digits
  size_t protocols = 6;
  size_t v4 = 50, v6 = 10;
  double skew = 1.5;        // > 1: low-index keys get more records, so key sizes spread out
  double self_flow = 0.05;  // src == dst
  double heavy = 0;         // share of records from one heavy hitter
  size_t waves = 0;         // keys whose bytes rise and then fall over time
  double wave_share = 0;    // share of records from them
  size_t tie_keys =
      0;  // keys (and protocols) that always tie: each tie event gives all the same bytes
  double tie_events = 0;
  size_t changes = 10;            // parameter changes
  double boundary_changes = 0.4;  // share of changes placed at a line where a window becomes final
  double change_runs = 0.2;       // share of changes that start a run of 2 to 4 in a row
};

std::string describe(const Recipe& c) {
  std::ostringstream s;
  s << "records=" << c.records << " rate=" << c.rate << " out_of_order=" << c.out_of_order
    << " far_late=" << c.far_late << " gap=" << c.gap << " burst=" << c.burst
    << " at_boundary=" << c.at_boundary << " duplicate=" << c.duplicate << " noise=" << c.noise
    << " protocols=" << c.protocols << " v4=" << c.v4 << " v6=" << c.v6 << " skew=" << c.skew
    << " self_flow=" << c.self_flow << " heavy=" << c.heavy << " waves=" << c.waves
    << " wave_share=" << c.wave_share << " tie_keys=" << c.tie_keys
    << " tie_events=" << c.tie_events << " changes=" << c.changes
    << " boundary_changes=" << c.boundary_changes << " change_runs=" << c.change_runs;
  return s.str();
}

struct Case {
  uint64_t seed = 0;
  Options o;
  int64_t max_window = 3600;
  Recipe recipe;
  size_t address_keys = 0;      // distinct addresses the stream may use
  std::vector<Change> changes;  // by before_line; several may share one line (applied in order)
  std::string text;
};

std::string describe(const Case& c) {
  std::ostringstream s;
  s << "seed=" << c.seed << " unit_ms=" << c.o.unit_ms << " slide=" << c.o.slide
    << " lateness=" << c.o.lateness << " ip_key=" << key_name(c.o.ip_key)
    << " max_window=" << c.max_window << " initial " << describe_params(c.o.params) << "\n  "
    << describe(c.recipe) << "\n  changes (before line, 0-based):";
  for (const Change& ch : c.changes)
    s << " [" << ch.before_line << ": " << describe_params(ch.params) << "]";
  return s.str();
}

// A record line, sometimes laid out in the other valid ways (spec section 1).
std::string format_line(Rng& r, int64_t ms, const std::string& proto, const std::string& src,
                        const std::string& dst, uint64_t bytes, double varied) {
  if (!r.chance(varied)) return record_line(ms, proto, src, dst, bytes) + "\n";
  auto sep = [&] {
    static const char* kSeps[] = {" ", "  ", "\t", " \t", "\t\t "};
    return std::string(kSeps[r.index(std::size(kSeps))]);
  };
  std::string time = line_time(ms, 0);
  std::string frac = line_time(ms, 3).substr(20);
  if (frac == "000" && r.chance(0.5)) {
    frac.clear();  // no fraction at all
  } else if (r.chance(0.5)) {
    const size_t digits = static_cast<size_t>(r.between(4, 9));  // past 3: truncated
    while (frac.size() < digits) frac += static_cast<char>('0' + r.index(10));
  } else {
    while (frac.size() > 1 && frac.back() == '0') frac.pop_back();
  }
  if (!frac.empty()) time += "." + frac;
  // One call at a time, so the layout does not depend on the order the compiler evaluates in.
  std::string line = r.chance(0.2) ? sep() : "";
  for (const std::string& field : {time.substr(0, 10), time.substr(11), proto, src, dst}) {
    line += field;
    line += sep();
  }
  line += std::to_string(bytes);
  if (r.chance(0.2)) line += sep();
  line += r.chance(0.3) ? "\r\n" : "\n";
  return line;
}

std::string noise_line(Rng& r, int64_t ms) {
  const std::string t = line_time(ms);
  switch (r.index(8)) {
    case 0:
      return "\n";
    case 1:
      return " \t \r\n";
    case 2:
      return t + " HTTP 1.2.3.4 5.6.7.8\n";
    case 3:
      return t + " HTTP 1.2.3.256 5.6.7.8 10\n";
    case 4:
      return t + " HTTP 1.2.3.4 ::ffff:1.2.3 10\n";
    case 5:
      return t + " HTTP 1.2.3.4 5.6.7.8 4294967296\n";
    case 6:
      return t + " HT/TP 1.2.3.4 5.6.7.8 10\n";
    default:
      return "garbage\n";
  }
}

uint64_t plain_bytes(Rng& r) {
  const double u = r.uniform();
  if (u < 0.04) return 0;
  if (u < 0.08) return 4294967295u;
  if (u < 0.28) return 1500;                   // ties
  if (u < 0.40) return 40 + r.index(3) * 536;  // 40, 576, 1112
  return static_cast<uint64_t>(r.log_uniform(1, 2e6));
}

// Fills c.text and c.address_keys from c.recipe and c.o.
void build_stream(Rng& r, Case& c) {
  const Recipe& rc = c.recipe;
  const int64_t unit = c.o.unit_ms, step = c.o.slide * c.o.unit_ms, L = c.o.lateness;
  std::set<std::string> taken;
  std::vector<AddrKey> pool = special_addresses();
  for (const AddrKey& k : pool) taken.insert(k.spellings[0]);
  for (AddrKey& k : random_addresses(r, rc.v4, rc.v6, taken)) pool.push_back(std::move(k));
  std::shuffle(pool.begin() + 3, pool.end(),
               std::mt19937_64(r.bits()));  // specials not always first
  const bool heavy_v6 = r.chance(0.5);
  const std::vector<AddrKey> heavy = random_addresses(r, heavy_v6 ? 0 : 1, heavy_v6 ? 1 : 0, taken);
  const size_t v6_waves = rc.waves / 3;
  const std::vector<AddrKey> waves = random_addresses(r, rc.waves - v6_waves, v6_waves, taken);
  const size_t v6_ties = rc.tie_keys / 2;
  std::vector<AddrKey> ties = random_addresses(r, rc.tie_keys - v6_ties, v6_ties, taken);
  std::shuffle(ties.begin(), ties.end(), std::mt19937_64(r.bits()));
  c.address_keys = pool.size() + heavy.size() + waves.size() + ties.size();

  std::vector<std::string> protos = protocol_names(r, std::max<size_t>(1, rc.protocols));
  std::vector<std::string> tie_protos;
  for (size_t j = 0; j < rc.tie_keys; ++j)
    tie_protos.push_back(std::string("tie").append(std::to_string(j)));

  int64_t newest = kBaseMs + r.between(0, 10 * unit);
  double clock = static_cast<double>(newest);  // newest with the fraction of a millisecond
  const double mean_step_ms = static_cast<double>(unit) / rc.rate;
  const double duration_ms = static_cast<double>(rc.records) / rc.rate * static_cast<double>(unit);
  struct Wave {
    double center, half_width, amplitude;
  };
  std::vector<Wave> wave_shape;
  for (size_t i = 0; i < waves.size(); ++i)
    wave_shape.push_back(
        Wave{static_cast<double>(newest) + r.uniform() * duration_ms,
             static_cast<double>(unit) * r.uniform(1, 2.0 * static_cast<double>(c.max_window)),
             r.log_uniform(1e4, 5e8)});
  std::sort(wave_shape.begin(), wave_shape.end(),
            [](const Wave& a, const Wave& b) { return a.center < b.center; });

  auto spell = [&](const AddrKey& k) -> const std::string& {
    return k.spellings.size() > 1 && r.chance(0.2) ? k.spellings[r.index(k.spellings.size())]
                                                   : k.spellings[0];
  };
  auto any_addr = [&]() -> const AddrKey& { return pool[r.skewed(pool.size(), rc.skew)]; };

  std::string out, last;
  int64_t burst_left = 0;
  for (size_t i = 0; i < rc.records; ++i) {
    while (r.chance(rc.noise)) out += noise_line(r, newest);
    if (!last.empty() && r.chance(rc.duplicate)) {
      out += last;
      continue;
    }
    // When: at the newest time (which a gap, a window end or the normal advance moves on), or
    // `behind` it.
    int64_t behind = 0;
    if (burst_left > 0) {
      --burst_left;
    } else {
      double v = r.uniform();
      if ((v -= rc.gap) < 0) {
        newest += unit * r.between(3, 2 * c.max_window + 5);
        clock = static_cast<double>(newest);
      } else if ((v -= rc.burst) < 0) {
        burst_left = r.between(5, 150);
      } else if ((v -= rc.at_boundary) < 0) {
        // On a window end or 1 ms before it: the next end when the stream is about to reach
        // it anyway, else the last one passed (behind the newest time, so maybe late).
        const int64_t next_end = (floor_div(newest, step) + 1) * step;
        const int64_t minus = r.chance(0.5) ? 1 : 0;
        if (static_cast<double>(next_end - newest) <= 4 * mean_step_ms) {
          newest = std::max(newest, next_end - minus);
          clock = static_cast<double>(newest);
        } else {
          behind = newest - (next_end - step - minus);
        }
      } else if ((v -= rc.out_of_order) < 0) {
        // newest is the greatest accepted time, so newest - L*unit is the watermark.
        const double u = r.uniform();
        if (u < 0.15) {
          behind = 0;
        } else if (u < 0.3) {
          behind = L * unit;  // exactly at the watermark: accepted
        } else if (u < 0.45) {
          behind = L * unit + 1;  // just below it: late
        } else {
          behind = static_cast<int64_t>(r.uniform() * static_cast<double>((L + 2) * unit));
        }
      } else if ((v -= rc.far_late) < 0) {
        behind = (L + 1) * unit +
                 static_cast<int64_t>(r.uniform() * 2.0 * static_cast<double>(c.max_window * unit));
      } else {
        clock += -std::log(1 - r.uniform()) * mean_step_ms;
        newest = static_cast<int64_t>(clock);
      }
    }
    const int64_t t = newest - behind;
    // What.
    if (!ties.empty() && r.chance(rc.tie_events)) {
      // Every tie key (and tie protocol) gets the same bytes at the same instant, so their sums
      // are equal in every window in every --ip-key mode.
      const uint64_t b =
          r.chance(0.3) ? 1500 : static_cast<uint64_t>(r.log_uniform(1e5, 4294967295.0));
      for (size_t j = 0; j < ties.size(); ++j) {
        const std::string src = spell(ties[j]);
        const std::string dst = spell(ties[(j + 1) % ties.size()]);
        out += format_line(r, t, tie_protos[j], src, dst, b, rc.varied_layout);
      }
      last.clear();
      continue;
    }
    const std::string& proto = protos[r.skewed(protos.size(), rc.skew)];
    const AddrKey* subject = nullptr;
    uint64_t b = 0;
    const double what = r.uniform();
    if (what < rc.heavy) {
      subject = &heavy[0];
      b = r.chance(0.2) ? 4294967295u : static_cast<uint64_t>(r.log_uniform(1e6, 4294967295.0));
    } else if (what < rc.heavy + rc.wave_share && !wave_shape.empty()) {
      // One of the waves whose centres are nearest to t.
      auto it = std::lower_bound(wave_shape.begin(), wave_shape.end(), static_cast<double>(t),
                                 [](const Wave& w, double x) { return w.center < x; });
      size_t at = static_cast<size_t>(it - wave_shape.begin());
      at = std::min(wave_shape.size() - 1, at + r.index(3) - std::min<size_t>(at, 1));
      const Wave& w = wave_shape[at];
      const double dist = std::fabs(static_cast<double>(t) - w.center) / w.half_width;
      if (dist < 1) {
        subject = &waves[at];
        b = 1 + static_cast<uint64_t>(w.amplitude * (1 - dist));
      }
    }
    if (!subject) {
      subject = &any_addr();
      b = plain_bytes(r);
    }
    const AddrKey& other = r.chance(rc.self_flow) ? *subject : any_addr();
    const bool subject_is_src = r.chance(0.5);
    const std::string src = spell(subject_is_src ? *subject : other);
    const std::string dst = spell(subject_is_src ? other : *subject);
    last = format_line(r, t, proto, src, dst, b, rc.varied_layout);
    out += last;
  }
  c.text = std::move(out);
}

// ---------------------------------------------------------------------------------------------
// Parameter changes.

// New parameters: `prev` with some fields changed (all of them when `all`).
Params random_params(Rng& r, const Case& c, const Params& prev, bool all) {
  Params p = prev;
  const int64_t mw = c.max_window;
  if (all || r.chance(0.6)) {
    const size_t pick = r.index(5);
    if (pick == 0)
      p.T = 1;
    else if (pick == 1)
      p.T = mw;  // grows to the whole of max-window
    else if (pick == 2)
      p.T = std::clamp<int64_t>(prev.T + r.between(-3, 3), 1, mw);
    else
      p.T = r.between(1, mw);
  }
  if (all || r.chance(0.5)) {
    const size_t ties = c.recipe.tie_keys;
    switch (r.index(ties > 0 ? 7 : 5)) {
      case 0:
        p.k = 1;
        break;
      case 1:
        p.k = r.between(2, 5);
        break;
      case 2:
        p.k = r.between(1, 30);
        break;
      case 3:  // more than n
        p.k = static_cast<int64_t>(c.address_keys) + r.between(1, 50);
        break;
      case 4:
        p.k = 1'000'000;
        break;
      default:  // the cut inside the group of tied keys
        p.k = r.between(1, static_cast<int64_t>(ties) + 2);
        break;
    }
  }
  if (all || r.chance(0.5)) {
    static const double kH[] = {0.01, 0.05, 0.5, 1, 2.5, 5, 10, 12.5, 33.3, 50, 99.99, 100};
    p.H = r.chance(0.7) ? kH[r.index(std::size(kH))] : r.uniform(0.01, 100);
  }
  if (all || r.chance(0.5)) {
    static const double kX[] = {0, 0, 0.25, 0.5, 1, 1.5, 2, 3, 5};
    p.X = r.chance(0.7) ? kX[r.index(std::size(kX))] : r.uniform(0, 5);
  }
  return p;
}

// The watermark after each line (INT64_MIN before the first record), as the reference decides.
std::vector<int64_t> watermarks(const std::vector<std::string>& lines, const Options& o) {
  std::vector<int64_t> wm(lines.size(), INT64_MIN);
  bool has = false;
  int64_t max_time = 0;
  const int64_t L = o.lateness * o.unit_ms;
  for (size_t i = 0; i < lines.size(); ++i) {
    Record rec;
    if (parse_line(lines[i], rec) == LineKind::kRecord && (!has || rec.time >= max_time - L)) {
      max_time = has ? std::max(max_time, rec.time) : rec.time;
      has = true;
    }
    if (has) wm[i] = max_time - L;
  }
  return wm;
}

// Change points: random lines; lines where a window becomes final (the change before it, so
// that window already has the new values, or after it, so it keeps the old); runs of 2 to 4
// changes at one line or on consecutive lines. Never before line 0 or after the last line.
void plan_changes(Rng& r, Case& c) {
  const std::vector<std::string> lines = split_lines(c.text);
  if (lines.size() < 3 || c.recipe.changes == 0) return;
  const std::vector<int64_t> wm = watermarks(lines, c.o);
  const int64_t step = c.o.slide * c.o.unit_ms;
  std::vector<size_t> final_at;  // lines on which the watermark passes a window end
  for (size_t i = 1; i < lines.size(); ++i)
    if (wm[i - 1] != INT64_MIN && floor_div(wm[i], step) > floor_div(wm[i - 1], step))
      final_at.push_back(i);
  const size_t n = lines.size();
  std::vector<size_t> at;
  while (at.size() < c.recipe.changes) {
    size_t line;
    if (!final_at.empty() && r.chance(c.recipe.boundary_changes))
      line = std::min(n - 1, final_at[r.index(final_at.size())] + r.index(2));
    else
      line = 1 + r.index(n - 1);
    at.push_back(line);
    if (r.chance(c.recipe.change_runs)) {
      const bool same_line = r.chance(0.5);
      for (int64_t more = r.between(1, 3); more > 0; --more) {
        if (!same_line) line = std::min(n - 1, line + 1);
        at.push_back(line);
      }
    }
  }
  std::sort(at.begin(), at.end());
  Params p = c.o.params;
  for (size_t line : at) {
    p = random_params(r, c, p, r.chance(0.2));
    c.changes.push_back(Change{line, p});
  }
}

// ---------------------------------------------------------------------------------------------
// Running and checking.

int scale() {
  const char* s = std::getenv("NETPULSE_DIFF_SCALE");
  return s && std::atoi(s) > 0 ? std::atoi(s) : 1;
}

size_t random_block(Rng& r) {
  switch (r.index(4)) {
    case 0:
      return static_cast<size_t>(r.between(20, 120));  // about one line
    case 1:
      return static_cast<size_t>(r.between(121, 4000));
    case 2:
      return static_cast<size_t>(r.between(4001, 100'000));
    default:
      return size_t{1} << 20;  // a segment in one block
  }
}

// Like harness.hpp's StepSource, but at each segment boundary the input stays quiet ("nothing
// yet") until drained(i) says the engine has caught up with the input before segment i (at
// least one poll, at most kMaxQuietPolls), and only then before_segment(i) runs and the segment
// follows. A pause in the input, in other words, as long as the engine needs to emit what is
// final so far: one round for a stream, more when the rounds are pipelined. So a change lands
// where the reference puts it. With `read_ahead` the source says
// the input is all there (as a file does), which lets the engine pipeline its rounds. Not
// thread-safe (one poller at a time).
class QuietStepSource final : public ingest::BlockSource {
 public:
  static constexpr int kMaxQuietPolls = 64;

  QuietStepSource(const std::vector<std::string>& segments, size_t block_size, bool read_ahead,
                  std::function<bool(size_t)> drained, std::function<void(size_t)> before_segment)
      : read_ahead_(read_ahead), drained_(std::move(drained)), before_(std::move(before_segment)) {
    for (const std::string& seg : segments) {
      auto data = std::make_shared<std::string>(seg);
      std::vector<ingest::Block> blocks;
      for (size_t pos = 0; pos < data->size();) {  // cut at line ends, about block_size bytes each
        const size_t nl = data->find('\n', pos + std::min(block_size, data->size() - pos) - 1);
        const size_t n = nl == std::string::npos ? data->size() - pos : nl + 1 - pos;
        blocks.push_back(ingest::Block{data->data() + pos, n, data});
        pos += n;
      }
      segments_.push_back(std::move(blocks));
    }
  }

  Next next(ingest::Block& out, std::chrono::milliseconds) override {
    while (seg_ < segments_.size() && block_ >= segments_[seg_].size()) {
      ++seg_;
      block_ = 0;
      quiet_ = 0;
      announced_ = false;
    }
    if (seg_ >= segments_.size()) return Next::kEnd;
    if (seg_ > 0 && block_ == 0 && !announced_) {
      if (quiet_ == 0 || (quiet_ < kMaxQuietPolls && !drained_(seg_))) {
        ++quiet_;
        return Next::kTimeout;
      }
      announced_ = true;
      before_(seg_);
    }
    out = segments_[seg_][block_++];
    return Next::kBlock;
  }
  std::string describe() const override { return "quiet-step"; }
  bool read_ahead_ok() const override { return read_ahead_; }

 private:
  std::vector<std::vector<ingest::Block>> segments_;
  bool read_ahead_;
  std::function<bool(size_t)> drained_;
  std::function<void(size_t)> before_;
  size_t seg_ = 0, block_ = 0;
  int quiet_ = 0;
  bool announced_ = false;
};

// With NETPULSE_DIFF_STATS set: one line per case on what its reference windows hold, to see
// that the streams reach what they aim at (many keys, ties at the cut, keys leaving the top k,
// parameter switches, a dominant key, IPv4 and its v4-mapped twin in one window).
void print_coverage(const Case& c, const Result& ref) {
  if (!std::getenv("NETPULSE_DIFF_STATS")) return;
  std::vector<Change> big_k = c.changes;  // the same windows, every key ranked
  for (Change& ch : big_k) ch.params.k = 1'000'000'000;
  Options all = c.o;
  all.params.k = 1'000'000'000;
  const Result ranked = compute(c.text, all, big_k);
  size_t max_keys = 0, switches = 0, tie_cut = 0, left_topk = 0, dominant = 0, mapped_twin = 0;
  for (size_t i = 0; i < ref.windows.size(); ++i) {
    const Window& w = ref.windows[i];
    max_keys = std::max<size_t>(max_keys, w.ip_keys);
    if (i > 0 &&
        !(w.params.H == ref.windows[i - 1].params.H && w.params.T == ref.windows[i - 1].params.T &&
          w.params.k == ref.windows[i - 1].params.k && w.params.X == ref.windows[i - 1].params.X))
      ++switches;
    for (size_t q : {1, 4}) {
      const auto& full = ranked.windows[i].rows[q];
      const size_t k = static_cast<size_t>(w.params.k);
      if (k < full.size() && full[k - 1].bytes == full[k].bytes) ++tie_cut;
    }
    const auto& top = w.rows[4];
    if (!top.empty() && top[0].share > 0.5) ++dominant;
    bool v4 = false, v6 = false;
    for (const Row& row : ranked.windows[i].rows[4]) {
      v4 |= row.key == "10.0.0.1";
      v6 |= row.key == "::ffff:10.0.0.1";
    }
    mapped_twin += v4 && v6;
    if (i + 1 < ref.windows.size() && ref.windows[i + 1].params.k == w.params.k) {
      std::set<std::string> next_top, next_all;
      for (const Row& row : ref.windows[i + 1].rows[4]) next_top.insert(row.key);
      for (const Row& row : ranked.windows[i + 1].rows[4]) next_all.insert(row.key);
      for (const Row& row : top) left_topk += next_all.count(row.key) && !next_top.count(row.key);
    }
  }
  std::printf(
      "seed %llu: %zu lines, %zu windows, accepted %llu late %llu, max ip keys %zu, param switches "
      "%zu, "
      "ties at the k-th row %zu, top-k leavers %zu, windows with a >50%% key %zu, 10.0.0.1 with "
      "::ffff:10.0.0.1 %zu\n",
      static_cast<unsigned long long>(c.seed), static_cast<size_t>(ref.lines), ref.windows.size(),
      static_cast<unsigned long long>(ref.accepted), static_cast<unsigned long long>(ref.late),
      max_keys, switches, tie_cut, left_topk, dominant, mapped_twin);
}

// Runs the case at 1, 2 and 4 threads (changes applied between segments, as the control channel
// would between rounds) and checks every run against the reference and the JSON across runs.
// Failed assertions so far in the running test (HasFailure() cannot tell one seed from the next).
int failed_parts() {
  const ::testing::TestResult* r =
      ::testing::UnitTest::GetInstance()->current_test_info()->result();
  int n = 0;
  for (int i = 0; i < r->total_part_count(); ++i) n += r->GetTestPartResult(i).failed() ? 1 : 0;
  return n;
}

// Returns whether every run matched.
bool check(const Case& c) {
  SCOPED_TRACE(describe(c));
  const int failed_before = failed_parts();
  const std::vector<std::string> lines = split_lines(c.text);
  const Result ref = compute(lines, c.o, c.changes);
  print_coverage(c, ref);

  // A new segment at each line that has changes; group_end[g]: the changes before segment g+1;
  // final_before[g]: how many of the reference's windows are final before that line (the
  // watermark reaches a window's end on the line that makes it final); wm_before[g]: the
  // watermark then.
  const std::vector<int64_t> wm = watermarks(lines, c.o);
  std::vector<std::string> segments(1);
  std::vector<size_t> group_end, final_before;
  std::vector<int64_t> wm_before;
  for (size_t i = 0, next = 0; i < lines.size(); ++i) {
    if (next < c.changes.size() && c.changes[next].before_line == i) {
      while (next < c.changes.size() && c.changes[next].before_line == i) ++next;
      group_end.push_back(next);
      const auto wm_end = wm.begin() + static_cast<std::ptrdiff_t>(i);
      final_before.push_back(static_cast<size_t>(
          std::count_if(ref.windows.begin(), ref.windows.end(), [&](const Window& w) {
            return std::lower_bound(wm.begin(), wm_end, w.end_ms) != wm_end;
          })));
      wm_before.push_back(wm.at(i - 1));
      segments.emplace_back();
    }
    segments.back() += lines[i];
    segments.back() += '\n';
  }

  Rng blocks(c.seed * 0x9e3779b97f4a7c15ULL + 17);
  std::string first_json;
  // Several threads as a stream (each round's windows emitted before more input is read) and
  // as a file (rounds pipelined), one of each per case, alternating over seeds.
  for (int threads : {1, 2, 4}) {
    const bool read_ahead = threads > 1 && (threads == 2) == (c.seed % 2 == 0);
    const size_t block = random_block(blocks);
    SCOPED_TRACE("threads=" + std::to_string(threads) + " block_size=" + std::to_string(block) +
                 (read_ahead ? " read-ahead input (pipelined rounds)" : " stream input"));
    // run_engine() of harness.hpp, with the sink in reach of the source.
    core::ProtocolTable protocols;
    CollectingSink sink;
    query::SixQueries queries(protocols, sink);
    engine::EngineControl control(to_engine(c.o.params), c.max_window);
    engine::Pipeline pipeline(to_engine(c.o, threads, c.max_window), control, protocols,
                              ingest::Format::kLine, queries);
    size_t applied = 0;
    QuietStepSource source(
        segments, block, read_ahead,
        [&](size_t segment) {
          // Caught up: its watermark is the input's (so even windows that emit nothing are
          // decided) and the windows final so far are out.
          return pipeline.counters().watermark_ms.load() >= wm_before.at(segment - 1) &&
                 sink.results.size() >= final_before.at(segment - 1);
        },
        [&](size_t segment) {
          // Every change of groups < segment, in order (several in a row at one line).
          for (; applied < group_end.at(segment - 1); ++applied) {
            const core::Status why = control.set_params(to_engine(c.changes[applied].params));
            EXPECT_TRUE(why.ok()) << why.message();
          }
        });
    EngineRun run;
    if (core::Status s = pipeline.run(source); !s.ok()) run.error = s.message();
    run.lines = pipeline.counters().lines.load();
    run.accepted = pipeline.counters().accepted.load();
    run.late = pipeline.counters().late.load();
    run.malformed = pipeline.counters().malformed.load();
    run.windows = pipeline.counters().windows.load();
    run.results = std::move(sink.results);
    run.json = std::move(sink.json);
    EXPECT_FALSE(run.error) << *run.error;
    EXPECT_EQ(applied, c.changes.size()) << "not every change reached the engine";
    EXPECT_EQ(windows_match(run.results, ref.windows), "");
    EXPECT_EQ(run.accepted, ref.accepted);
    EXPECT_EQ(run.late, ref.late);
    EXPECT_EQ(run.malformed, ref.malformed);
    EXPECT_EQ(run.lines, ref.lines);
    EXPECT_EQ(run.windows, ref.windows.size());
    if (threads == 1)
      first_json = run.json;
    else
      EXPECT_TRUE(run.json == first_json) << "JSON output differs from --threads 1";
    if (failed_parts() > failed_before) break;  // one report per case is enough
  }
  if (failed_parts() > failed_before) {
    // The input, for replaying the case by hand (netpulse process, or a test of its own).
    const std::string path =
        ::testing::TempDir() + "differential_seed_" + std::to_string(c.seed) + ".txt";
    if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
      std::fwrite(c.text.data(), 1, c.text.size(), f);
      std::fclose(f);
      ADD_FAILURE() << "input written to " << path;
    }
    return false;
  }
  return true;
}

using Shape = std::function<void(Rng&, Case&)>;

// A case from the seed: options and recipe at random, then `shape` narrows them. Every test
// cycles ip-key src/dst/host and time units 1 s / 100 ms over its seeds.
Case make_case(uint64_t seed, const Shape& shape) {
  Rng r(seed);
  Case c;
  c.seed = seed;
  c.o.ip_key = static_cast<KeyMode>(seed % 3);
  c.o.unit_ms = (seed / 3) % 2 == 0 ? 1000 : 100;
  static const int64_t kSlides[] = {1, 1, 1, 2, 3, 5};
  c.o.slide = kSlides[r.index(std::size(kSlides))];
  static const int64_t kLateness[] = {0, 0, 1, 2, 5};
  c.o.lateness = kLateness[r.index(std::size(kLateness))];
  c.max_window = r.between(4, 40);
  Recipe& rc = c.recipe;
  rc.records = static_cast<size_t>(r.between(800, 2500));
  rc.rate = r.log_uniform(1, 60);
  rc.out_of_order = r.uniform(0, 0.25);
  rc.far_late = r.uniform(0, 0.03);
  rc.gap = r.uniform(0, 0.004);
  rc.burst = r.uniform(0, 0.01);
  rc.at_boundary = r.uniform(0, 0.05);
  rc.protocols = static_cast<size_t>(r.between(1, 12));
  rc.v4 = static_cast<size_t>(r.log_uniform(3, 300));
  rc.v6 = static_cast<size_t>(r.log_uniform(1, 60));
  rc.skew = r.uniform(1, 3);
  rc.self_flow = r.uniform(0, 0.15);
  rc.heavy = r.chance(0.4) ? r.uniform(0.05, 0.5) : 0;
  rc.waves = r.chance(0.4) ? static_cast<size_t>(r.between(1, 12)) : 0;
  rc.wave_share = rc.waves ? r.uniform(0.05, 0.3) : 0;
  rc.tie_keys = r.chance(0.3) ? static_cast<size_t>(r.between(2, 6)) : 0;
  rc.tie_events = rc.tie_keys ? r.uniform(0.02, 0.1) : 0;
  rc.changes = static_cast<size_t>(r.between(0, 20));
  shape(r, c);
  build_stream(r, c);
  c.o.params = random_params(r, c, Params{}, true);
  plan_changes(r, c);
  return c;
}

void check_seeds(uint64_t first, uint64_t count, const Shape& shape) {
  // Goes on past a failing seed (the other seeds still test the rest while a bug is open), but
  // not past a few: by then it is rarely a new bug.
  count *= static_cast<uint64_t>(scale());
  std::string failing;
  int failures = 0;
  for (uint64_t seed = first; seed < first + count && failures < 3; ++seed) {
    if (check(make_case(seed, shape))) continue;
    ++failures;
    failing += " " + std::to_string(seed);
  }
  if (failures > 0)
    ADD_FAILURE() << "failing seeds:" << failing << (failures == 3 ? " (stopped there)" : "");
}

TEST(Differential, MixedStreamsWithChanges) {
  check_seeds(1, 60, [](Rng&, Case&) {});
}

TEST(Differential, ManyKeysPerWindow) {
  // Hundreds to a few thousand addresses in each window: per-shard candidate sets, gates and
  // thresholds over many keys, and a heavy hitter far above them.
  check_seeds(1000, 10, [](Rng& r, Case& c) {
    c.o.slide = r.chance(0.7) ? 1 : 2;
    c.max_window = r.between(6, 16);
    c.recipe.records = static_cast<size_t>(r.between(10'000, 16'000));
    c.recipe.rate = r.uniform(600, 1500);
    c.recipe.v4 = static_cast<size_t>(r.between(800, 2500));
    c.recipe.v6 = static_cast<size_t>(r.between(100, 500));
    c.recipe.skew = r.uniform(1, 1.5);
    c.recipe.heavy = r.uniform(0.02, 0.2);
    c.recipe.gap = 0.0002;
    c.recipe.changes = static_cast<size_t>(r.between(3, 10));
  });
}

TEST(Differential, HeavyHitterAndRisingFallingKeys) {
  // One key with most of the bytes, and keys that climb into the top k and fall out of it as
  // the window slides past them.
  check_seeds(2000, 36, [](Rng& r, Case& c) {
    c.recipe.records = static_cast<size_t>(r.between(2000, 4000));
    c.recipe.rate = r.uniform(20, 80);
    c.recipe.v4 = static_cast<size_t>(r.between(50, 300));
    c.recipe.heavy = r.uniform(0.2, 0.6);
    c.recipe.waves = static_cast<size_t>(r.between(8, 30));
    c.recipe.wave_share = r.uniform(0.2, 0.4);
  });
}

TEST(Differential, TiesAtTheKthKey) {
  // Groups of keys (IPv4 and IPv6) and protocols with equal bytes in every window, k often
  // cutting through the group: the order on equal bytes decides who is listed.
  check_seeds(3000, 40, [](Rng& r, Case& c) {
    c.recipe.tie_keys = static_cast<size_t>(r.between(2, 8));
    c.recipe.tie_events = r.uniform(0.1, 0.4);
    c.recipe.heavy = r.chance(0.3) ? r.uniform(0.05, 0.2) : 0;
  });
}

TEST(Differential, ChangesAtWindowBoundariesAndInRuns) {
  // Many changes, most where a window becomes final, and runs of changes at one line or on
  // consecutive lines.
  check_seeds(4000, 40, [](Rng& r, Case& c) {
    c.recipe.records = static_cast<size_t>(r.between(1000, 2500));
    c.recipe.changes = static_cast<size_t>(r.between(20, 60));
    c.recipe.boundary_changes = 0.7;
    c.recipe.change_runs = 0.35;
    c.recipe.at_boundary = r.uniform(0.02, 0.1);
  });
}

TEST(Differential, LateOutOfOrderAndBursts) {
  check_seeds(5000, 40, [](Rng& r, Case& c) {
    static const int64_t kLateness[] = {0, 1, 3, 6, 10};
    c.o.lateness = kLateness[r.index(std::size(kLateness))];
    c.recipe.out_of_order = r.uniform(0.3, 0.5);
    c.recipe.far_late = r.uniform(0.02, 0.08);
    c.recipe.burst = r.uniform(0.01, 0.03);
    c.recipe.duplicate = 0.05;
  });
}

TEST(Differential, SlidesGapsAndMaxWindow) {
  // Slides above 1 (some longer than T), gaps past max-window, T growing to max-window after
  // them.
  check_seeds(6000, 40, [](Rng& r, Case& c) {
    c.o.slide = r.between(2, 7);
    c.max_window = r.between(c.o.slide, 30);
    c.recipe.gap = r.uniform(0.005, 0.02);
    c.recipe.rate = r.log_uniform(0.5, 20);
  });
}

TEST(Differential, HostKeyAndIpv6) {
  // --ip-key host with many self flows; IPv6 (and v4-mapped text) as much as IPv4.
  check_seeds(7000, 40, [](Rng& r, Case& c) {
    if (c.seed % 3 == 0) c.o.ip_key = KeyMode::kHost;
    c.recipe.self_flow = r.uniform(0.2, 0.5);
    c.recipe.v6 = c.recipe.v4;
    c.recipe.varied_layout = 0.3;
  });
}

TEST(Differential, GrowingTDoesNotReopenAWindowAlreadyFinal) {
  // The smallest case behind the seeds above that failed first (5019, 2172): slide 5 s, T 1 s.
  // The 16.5 s record makes the window ending at 15 s final; it holds nothing in [14 s, 15 s),
  // so it emits nothing (spec section 2). T then grows to 5: the next window to be emitted
  // ends at 20 s. [10 s, 15 s) must not appear, though no window has been emitted yet.
  Case c;
  c.seed = 0;
  c.o.slide = 5;
  c.o.params = Params{10, 1, 3, 2};
  c.max_window = 10;
  c.recipe.changes = 1;
  c.text = record_line(kBaseMs + 11'500, "HTTP", "10.0.0.1", "10.0.0.2", 100) + "\n" +
           record_line(kBaseMs + 16'500, "HTTP", "10.0.0.1", "10.0.0.2", 200) + "\n" +
           record_line(kBaseMs + 17'000, "HTTP", "10.0.0.1", "10.0.0.2", 300) + "\n";
  c.changes = {Change{2, Params{10, 5, 3, 2}}};
  const Result ref = compute(c.text, c.o, c.changes);
  ASSERT_EQ(ref.windows.size(), 1u);
  EXPECT_EQ(ref.windows[0].end_ms, kBaseMs + 20'000);
  check(c);
}

}  // namespace
}  // namespace netpulse::testref
