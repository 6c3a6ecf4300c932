// Traffic with a spoofed-source flood, and the checks of spec section 9 on merged results: the
// engine's memory budget test (tests/engine/memory_budget_test.cpp) takes the traffic; the
// Kafka scale-out ones (pane_budget_test.cpp in-process, scale_out_budget_test.cpp through
// instances and merge on the mock cluster) take the checks too. Every
// window's JSON lines are checked against the exact per-address sums of the records and against an
// exact run:
//   - windows without "approximate" are byte for byte the exact run's;
//   - the protocol queries, totals and record counts are always the exact run's;
//   - every listed address's bytes are within [true, true + epsilon * total];
//   - ip-share misses no address above H; ip-topk is a true top k up to epsilon * total;
//   - the estimated address count is within 10% of the true one.
// Header-only; values.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ip_addr.hpp"

namespace netpulse::testkafka {

inline constexpr int64_t kTrafficBase = 1577836800;  // 2020-01-01 00:00:00 UTC: second 0

struct FloodRec {
  int64_t second;
  int ms;
  const char* proto;
  std::string src;  // canonical text
  uint32_t bytes;
};

struct FloodShape {
  int64_t seconds = 12;
  size_t normal = 1500;  // records a second from `sources` addresses (10.0.0.0/16), skewed
  uint32_t sources = 400;
  std::vector<int64_t> flood_seconds{4};
  size_t flood = 30000;  // records a second in a flood second, each from a new random source
  uint64_t seed = 7;
};

inline std::string v4_text(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." +
         std::to_string((a >> 8) & 255) + "." + std::to_string(a & 255);
}

// Normal records interleaved with the flood's in time order; a tenth of the flood is IPv6.
inline std::vector<FloodRec> make_flood_traffic(const FloodShape& shape) {
  std::vector<FloodRec> out;
  std::mt19937_64 g(shape.seed);
  const char* protos[] = {"HTTPS", "HTTP", "DNS", "SSH", "SMTP"};
  for (int64_t s = 0; s < shape.seconds; ++s) {
    const bool flooding = std::find(shape.flood_seconds.begin(), shape.flood_seconds.end(), s) !=
                          shape.flood_seconds.end();
    const size_t n = shape.normal + (flooding ? shape.flood : 0);
    const size_t every = flooding ? std::max<size_t>(1, n / shape.normal) : 1;
    for (size_t i = 0; i < n; ++i) {
      FloodRec r;
      r.second = s;
      r.ms = static_cast<int>(i * 1000 / n);
      if (!flooding || i % every == 0) {
        // Rank r with probability ~ 1/r: a few heavy hitters and a long tail.
        const double u = std::uniform_real_distribution<double>(0, 1)(g);
        const uint32_t rank =
            static_cast<uint32_t>(std::pow(static_cast<double>(shape.sources), u));
        r.src = v4_text((10u << 24) + rank);
        r.proto = protos[rank % 5];
        r.bytes = 200 + static_cast<uint32_t>(g() % 1300);
      } else {
        const uint64_t x = g();
        if (x % 10 == 0) {
          char buf[64];
          std::snprintf(buf, sizeof buf, "2001:db8:%x:%x:%x:%x:%x:%x", unsigned(x >> 48) & 0xffff,
                        unsigned(x >> 32) & 0xffff, unsigned(x >> 16) & 0xffff,
                        unsigned(g() & 0xffff), unsigned(g() & 0xffff), unsigned(g() & 0xffff));
          r.src = core::to_string(*core::parse_ip(buf));
        } else {
          // Outside 10.0.0.0/8, so tests can tell the flood from the normal sources.
          r.src = v4_text(static_cast<uint32_t>(x >> 32) | 0x80000000u);
        }
        r.proto = "HTTP";
        r.bytes = 40 + static_cast<uint32_t>(x % 25);
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

inline std::string flood_line(const FloodRec& r) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "2020-01-01 00:%02lld:%02lld.%03d %s %s 192.0.2.1 %u",
                static_cast<long long>(r.second / 60), static_cast<long long>(r.second % 60), r.ms,
                r.proto, r.src.c_str(), r.bytes);
  return buf;
}

inline std::string flood_text(const std::vector<FloodRec>& records) {
  std::string out;
  out.reserve(records.size() * 64);
  for (const FloodRec& r : records) {
    out += flood_line(r);
    out += '\n';
  }
  return out;
}

// Bytes per source address, per second of the traffic.
using PerSecond = std::vector<std::unordered_map<std::string, uint64_t>>;
inline PerSecond per_second(const std::vector<FloodRec>& records, int64_t seconds) {
  PerSecond out(static_cast<size_t>(seconds));
  for (const FloodRec& r : records) out[static_cast<size_t>(r.second)][r.src] += r.bytes;
  return out;
}

// "2020-01-01T00:01:05.000Z" -> 65 (seconds from kTrafficBase; the traffic stays in that hour).
inline int64_t traffic_second(const std::string& iso) {
  return std::stoll(iso.substr(14, 2)) * 60 + std::stoll(iso.substr(17, 2));
}

struct BoundsReport {
  size_t windows = 0;
  size_t approximate = 0;
  double max_epsilon = 0;
};

// Checks the JSON lines `got` (six per window) against `exact` (an exact run on the same
// records, same parameters) and the truth; see the top of this file. H and k: the query's.
inline BoundsReport check_flood_results(const std::string& got, const std::string& exact,
                                        const PerSecond& truth_by_second, double H, size_t k) {
  auto lines = [](const std::string& text) {
    std::vector<std::string> v;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  };
  const auto g = lines(got), e = lines(exact);
  BoundsReport report;
  EXPECT_EQ(g.size(), e.size());
  EXPECT_EQ(g.size() % 6, 0u);
  for (size_t w = 0; w + 6 <= std::min(g.size(), e.size()); w += 6) {
    ++report.windows;
    const auto first = nlohmann::json::parse(g[w]);
    const int64_t lo = traffic_second(first["window_start"]),
                  hi = traffic_second(first["window_end"]);
    SCOPED_TRACE("window [" + std::to_string(lo) + ", " + std::to_string(hi) + ")");
    std::unordered_map<std::string, uint64_t> truth;
    for (int64_t s = std::max<int64_t>(lo, 0); s < std::min<int64_t>(hi, truth_by_second.size());
         ++s)
      for (const auto& [key, bytes] : truth_by_second[static_cast<size_t>(s)]) truth[key] += bytes;
    std::vector<std::pair<uint64_t, std::string>> ranked;
    for (const auto& [key, bytes] : truth) ranked.emplace_back(bytes, key);
    std::sort(ranked.begin(), ranked.end(), std::greater<>());
    bool approximate = false;
    for (size_t q = 0; q < 6; ++q) {
      const auto a = nlohmann::json::parse(g[w + q]);
      const auto x = nlohmann::json::parse(e[w + q]);
      const std::string query = a["query"];
      EXPECT_EQ(a["window_end"], x["window_end"]);
      EXPECT_EQ(a["total_bytes"], x["total_bytes"]) << query;
      EXPECT_EQ(a["records"], x["records"]) << query;
      if (query.rfind("ip-", 0) != 0 || !a.contains("approximate")) {
        EXPECT_EQ(g[w + q], e[w + q]) << "an exact result must equal the exact run's";
        continue;
      }
      approximate = true;
      const double total = a["total_bytes"].get<double>();
      const double eps = a["approximate"]["epsilon"].get<double>();
      report.max_epsilon = std::max(report.max_epsilon, eps);
      EXPECT_GT(eps, 0) << query;
      const double slack = eps * total + 1;
      std::vector<std::string> listed;
      for (const auto& row : a["rows"]) {
        const std::string key = row["key"];
        const uint64_t bytes = row["bytes"];
        const uint64_t t = truth.count(key) ? truth.at(key) : 0;
        EXPECT_GE(bytes, t) << query << " " << key << ": below the truth";
        EXPECT_LE(static_cast<double>(bytes - std::min(bytes, t)), slack)
            << query << " " << key << ": above the truth by more than epsilon * total";
        listed.push_back(key);
      }
      if (query == "ip-share") {
        for (const auto& [bytes, key] : ranked) {
          if (static_cast<double>(bytes) * 100 <= H * total) break;
          EXPECT_NE(std::find(listed.begin(), listed.end(), key), listed.end())
              << "ip-share misses " << key;
        }
      } else if (query == "ip-topk") {
        EXPECT_EQ(listed.size(), std::min(k, ranked.size()));
        const double kth = ranked.size() >= k ? static_cast<double>(ranked[k - 1].first) : 0;
        for (const auto& key : listed) {
          const double t = truth.count(key) ? static_cast<double>(truth.at(key)) : 0;
          EXPECT_GE(t, kth - slack) << "ip-topk lists " << key;
        }
      }
      const double n = static_cast<double>(truth.size());
      EXPECT_NEAR(a["approximate"]["keys_estimated"].get<double>(), n, 0.1 * n) << query;
    }
    report.approximate += approximate;
  }
  return report;
}

}  // namespace netpulse::testkafka
