// The history API's speed (issue 17): builds a SQLite file with --days of minute buckets for
// the four dimensions, --keys entries each for src, dst and conversation (Zipf-like popularity:
// a fixed head and a rotating tail, so minutes share most keys; each minute has 10% more keys
// than it keeps and is cut to --keys like the writer's), with the hours and days rolled up as
// the writer makes them; then times GET /api/top through HistoryApi (no sockets) for ranges of
// 1 h, 6 h, 1 d and 7 d with random ends in the last day, and /api/series and /api/sankey over
// 7 days, each as wall-clock and thread CPU-time percentiles (the CPU time leaves out what
// neighbours on a shared machine take), and where a top's time goes (read+decode, merge).
// The target: /api/top under 100 ms p99 with 10,000 keys per bucket.
//
//   build/bench/history_query_bench                         # 10,000 keys, 7 days: 5.2 GB,
//                                                           # about 4.5 min to build on 1 core
//   build/bench/history_query_bench --keys 2000 --days 2    # a quick look
//   build/bench/history_query_bench --db /tmp/h.db --keep   # build once, then --reuse
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "server/history_api.hpp"
#include "store/history.hpp"
#include "store/history_query.hpp"

namespace {

using namespace netpulse;
using store::Dimension;
using store::HistoryBucket;
using store::Resolution;
using Clock = std::chrono::steady_clock;

struct Options {
  size_t keys = 10000;
  int days = 7;
  size_t requests = 200;
  std::string db;
  bool keep = false;
  bool reuse = false;
  uint64_t seed = 1;
};

// CPU time of this thread: on a machine shared with other work, wall-clock percentiles
// measure the neighbours too.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Every key a dimension may have, with its rank (popularity) and its place in key order.
struct Universe {
  std::vector<std::string> keys;   // by rank
  std::vector<uint32_t> position;  // rank -> place in sorted order
};

std::string v4(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

Universe make_universe(Dimension d, size_t size) {
  static const char* const kProtocols[] = {"TCP",  "UDP",  "ICMP", "DNS",   "HTTP",  "TLS",
                                           "SSH",  "QUIC", "NTP",  "SNMP",  "SMTP",  "IMAP",
                                           "LDAP", "RDP",  "SMB",  "MySQL", "Redis", "BGP",
                                           "OSPF", "GRE",  "ESP",  "SIP",   "RTP",   "DHCP"};
  Universe u;
  if (d == Dimension::kProtocol) {
    for (const char* p : kProtocols) u.keys.emplace_back(p);
  } else {
    u.keys.reserve(size);
    for (uint32_t r = 0; r < size; ++r) {
      // Ranks spread over the address space (an odd multiplier is a bijection), so neighbours in
      // key order are not neighbours in popularity, as in real traffic.
      const std::string src = v4((10u << 24) | ((r * 40503u) & 0xffffff));
      switch (d) {
        case Dimension::kSrc:
          u.keys.push_back(src);
          break;
        case Dimension::kDst:
          u.keys.push_back(v4((100u << 24) | ((r * 2654435761u) & 0xffffff)));
          break;
        default:
          u.keys.push_back(src + " " + v4((172u << 24) | (16u << 16) | ((r * 7u) & 0xffff)) + " " +
                           kProtocols[r % 7]);
      }
    }
  }
  std::vector<uint32_t> order(u.keys.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return u.keys[a] < u.keys[b]; });
  u.position.resize(u.keys.size());
  for (uint32_t p = 0; p < order.size(); ++p) u.position[order[p]] = p;
  return u;
}

// One minute of one dimension: the head of the universe and a tail window rotating by minute.
HistoryBucket make_minute(const Universe& u, Dimension d, core::TimeMs start, size_t keys,
                          uint64_t minute_no, std::mt19937_64& rng) {
  HistoryBucket b;
  b.resolution = Resolution::kMinute;
  b.start = start;
  b.dimension = d;
  const size_t n = u.keys.size();
  std::vector<std::pair<uint32_t, uint32_t>> chosen;  // (position, rank)
  if (d == Dimension::kProtocol) {
    for (uint32_t r = 0; r < n; ++r) chosen.push_back({u.position[r], r});
  } else {
    const size_t head = keys / 2, tail = keys - head + keys / 10;
    const size_t span = n - head;
    chosen.reserve(head + tail);
    for (uint32_t r = 0; r < head; ++r) chosen.push_back({u.position[r], r});
    const size_t offset = (minute_no * 7919) % span;
    for (size_t j = 0; j < tail; ++j) {
      const auto r = static_cast<uint32_t>(head + (offset + j) % span);
      chosen.push_back({u.position[r], r});
    }
  }
  std::sort(chosen.begin(), chosen.end());
  std::uniform_real_distribution<double> jitter(0.7, 1.3);
  b.entries.reserve(chosen.size());
  for (const auto& [pos, rank] : chosen) {
    const auto bytes = static_cast<uint64_t>(2e8 / (rank + 1.0) * jitter(rng)) + 64;
    const uint64_t records = bytes / 700 + 1;
    b.entries.push_back({u.keys[rank], bytes, records});
    b.total_bytes += bytes;
    b.total_records += records;
  }
  store::cut_to_top(b, keys);
  return b;
}

struct Built {
  core::TimeMs start = 0, end = 0;
};

// Minutes from end - days to end, hours and days rolled up when they end, written a few hundred
// buckets per transaction.
Built build(store::Store& s, const Options& o) {
  const auto t0 = Clock::now();
  const core::TimeMs now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  Built b;
  b.end = core::floor_div(now, store::kMinuteMs) * store::kMinuteMs;
  b.start = b.end - o.days * store::kDayMs;
  std::vector<Universe> universes;
  for (Dimension d : store::kDimensions) universes.push_back(make_universe(d, o.keys * 3));
  std::mt19937_64 rng(o.seed);
  std::vector<HistoryBucket> batch;
  std::vector<std::vector<HistoryBucket>> minutes(4), hours(4);
  size_t written = 0;
  auto flush = [&](bool force) {
    if (batch.empty() || (!force && batch.size() < 200)) return;
    s.put_history(batch);
    written += batch.size();
    batch.clear();
  };
  uint64_t minute_no = 0;
  for (core::TimeMs t = b.start; t < b.end; t += store::kMinuteMs, ++minute_no) {
    for (size_t di = 0; di < 4; ++di) {
      HistoryBucket m =
          make_minute(universes[di], store::kDimensions[di], t, o.keys, minute_no, rng);
      batch.push_back(m);
      minutes[di].push_back(std::move(m));
    }
    const core::TimeMs next = t + store::kMinuteMs;
    if (next % store::kHourMs == 0) {
      const core::TimeMs hour = next - store::kHourMs;
      for (size_t di = 0; di < 4; ++di) {
        HistoryBucket h = store::roll_up(minutes[di], Resolution::kHour, hour, o.keys);
        minutes[di].clear();
        batch.push_back(h);
        hours[di].push_back(std::move(h));
      }
    }
    if (next % store::kDayMs == 0) {
      for (size_t di = 0; di < 4; ++di) {
        batch.push_back(store::roll_up(hours[di], Resolution::kDay, next - store::kDayMs, o.keys));
        hours[di].clear();
      }
    }
    flush(false);
    if (minute_no % 1440 == 1439)
      std::fprintf(stderr, "  day %llu of %d built, %.0f s\n",
                   static_cast<unsigned long long>(minute_no / 1440 + 1), o.days,
                   seconds_since(t0));
  }
  flush(true);
  std::printf("built %zu buckets (%d days, %zu keys) in %.1f s\n", written, o.days, o.keys,
              seconds_since(t0));
  return b;
}

struct Stats {
  double p50, p99, max;
};

Stats stats(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
  };
  return {at(0.5), at(0.99), ms.back()};
}

// Wall clock, then the thread's CPU time, of the same requests.
void report(const char* what, const std::vector<double>& ms, std::vector<double>& cpu_ms,
            size_t bytes) {
  const Stats s = stats(ms), c = stats(cpu_ms);
  std::printf(
      "%-20s n=%-4zu wall p50 %6.1f p99 %6.1f max %6.1f ms | cpu p50 %6.1f p99 %6.1f "
      "max %6.1f ms | %zu B\n",
      what, ms.size(), s.p50, s.p99, s.max, c.p50, c.p99, c.max, bytes);
  cpu_ms.clear();
}

int usage() {
  std::fprintf(stderr,
               "usage: history_query_bench [--keys N] [--days D] [--requests N] [--db PATH] "
               "[--keep] [--reuse] [--seed S]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--keep")
      o.keep = true;
    else if (a == "--reuse")
      o.reuse = o.keep = true;
    else if (!(v = value()))
      return usage();
    else if (a == "--keys")
      o.keys = std::strtoul(v, nullptr, 10);
    else if (a == "--days")
      o.days = std::atoi(v);
    else if (a == "--requests")
      o.requests = std::strtoul(v, nullptr, 10);
    else if (a == "--db")
      o.db = v;
    else if (a == "--seed")
      o.seed = std::strtoull(v, nullptr, 10);
    else
      return usage();
  }
  if (o.keys < 10 || o.days < 1 || o.requests < 1) return usage();
  std::string dir;
  if (o.db.empty()) {
    std::string pattern = std::filesystem::temp_directory_path().string() + "/np-history-XXXXXX";
    if (!mkdtemp(pattern.data())) return 1;
    dir = pattern;
    o.db = dir + "/history.db";
  }
  const bool exists = std::filesystem::exists(o.db);
  if (exists && !o.reuse) {
    std::fprintf(stderr, "%s exists: pass --reuse to query it, or another --db\n", o.db.c_str());
    return 2;
  }
  std::string why;
  Built built;
  {
    auto s = store::open_store("sqlite:" + o.db, &why);
    if (!s) {
      std::fprintf(stderr, "%s\n", why.c_str());
      return 1;
    }
    if (exists) {
      const auto u = s->history_usage(Resolution::kMinute);
      if (!u.oldest) {
        std::fprintf(stderr, "%s holds no history\n", o.db.c_str());
        return 1;
      }
      built.start = *u.oldest;
      built.end = *u.newest + store::kMinuteMs;
      std::printf("reusing %s: %llu minute buckets\n", o.db.c_str(),
                  static_cast<unsigned long long>(u.buckets));
    } else {
      built = build(*s, o);
    }
  }
  std::error_code ec;
  std::printf("file: %.2f GB\n", static_cast<double>(std::filesystem::file_size(o.db, ec)) / 1e9);

  std::string uri_why;
  server::HistoryApi api(store::open_store("sqlite:" + o.db, &uri_why));
  std::mt19937_64 rng(o.seed + 1);
  std::vector<double> cpu_ms;
  const Dimension big[] = {Dimension::kSrc, Dimension::kDst, Dimension::kConversation};
  auto random_to = [&] {
    const core::TimeMs window = std::min<core::TimeMs>(store::kDayMs, built.end - built.start);
    return built.end - static_cast<core::TimeMs>(rng() % static_cast<uint64_t>(window));
  };
  auto get = [&](const std::string& target,
                 server::Reply (server::HistoryApi::*route)(const server::Request&),
                 size_t* bytes) {
    server::Request req;
    server::parse_target(target, req);
    const auto t = Clock::now();
    const double cpu0 = thread_cpu_ms();
    const server::Reply r = (api.*route)(req);
    const double ms = seconds_since(t) * 1000;
    cpu_ms.push_back(thread_cpu_ms() - cpu0);
    if (r.status != 200) {
      std::fprintf(stderr, "%s: %d %s\n", target.c_str(), r.status, r.body.c_str());
      std::exit(1);
    }
    *bytes = r.body.size();
    return ms;
  };
  const std::pair<const char*, core::TimeMs> ranges[] = {{"1h", store::kHourMs},
                                                         {"6h", 6 * store::kHourMs},
                                                         {"1d", store::kDayMs},
                                                         {"7d", 7 * store::kDayMs}};
  std::printf("GET /api/top (src, dst, conversation in turn; limit 10; %zu keys per bucket)\n",
              o.keys);
  for (const auto& [name, length] : ranges) {
    std::vector<double> ms;
    size_t bytes = 0;
    for (size_t i = 0; i < o.requests; ++i) {
      const core::TimeMs to = random_to();
      ms.push_back(get("/api/top?dimension=" + std::string(store::to_string(big[i % 3])) +
                           "&limit=10&from=" + std::to_string(to - length) +
                           "&to=" + std::to_string(to),
                       &server::HistoryApi::top, &bytes));
    }
    report((std::string("top ") + name).c_str(), ms, cpu_ms, bytes);
  }
  const size_t fewer = std::max<size_t>(1, o.requests / 10);
  {
    // Where a top's time goes: reading and decoding the cover's buckets, then merging them.
    auto s = store::open_store("sqlite:" + o.db, &uri_why);
    for (const auto& [name, length] : ranges) {
      std::vector<double> load_ms, merge_ms;
      size_t buckets = 0, entries = 0;
      for (size_t i = 0; i < fewer; ++i) {
        const core::TimeMs to = random_to();
        const auto t = Clock::now();
        store::Cover c = store::load_cover(*s, big[i % 3], {to - length, to});
        load_ms.push_back(seconds_since(t) * 1000);
        const auto m = Clock::now();
        const store::TopAnswer a = store::top_of(c.info, c.buckets, 10, false);
        merge_ms.push_back(seconds_since(m) * 1000);
        buckets += c.buckets.size();
        for (const HistoryBucket& b : c.buckets) entries += b.entries.size();
      }
      std::printf(
          "  top %s: %zu buckets, %zu entries a request; read+decode p50 %.1f ms, "
          "merge+rank p50 %.1f ms\n",
          name, buckets / fewer, entries / fewer, stats(load_ms).p50, stats(merge_ms).p50);
    }
  }
  {
    std::vector<double> ms;
    size_t bytes = 0;
    for (size_t i = 0; i < fewer; ++i) {
      const core::TimeMs to = random_to();
      ms.push_back(get("/api/series?dimension=" + std::string(store::to_string(big[i % 3])) +
                           "&limit=5&from=" + std::to_string(to - 7 * store::kDayMs) +
                           "&to=" + std::to_string(to),
                       &server::HistoryApi::series, &bytes));
    }
    report("series 7d (limit 5)", ms, cpu_ms, bytes);
  }
  {
    std::vector<double> ms;
    size_t bytes = 0;
    for (size_t i = 0; i < fewer; ++i) {
      const core::TimeMs to = random_to();
      ms.push_back(get("/api/sankey?limit=20&from=" + std::to_string(to - 7 * store::kDayMs) +
                           "&to=" + std::to_string(to),
                       &server::HistoryApi::sankey, &bytes));
    }
    report("sankey 7d (limit 20)", ms, cpu_ms, bytes);
  }
  if (!o.keep && !dir.empty()) std::filesystem::remove_all(dir, ec);
  return 0;
}
