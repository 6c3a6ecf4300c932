// The six queries (spec section 3) on hand-made windows: ties, one key, equal keys, H = 100,
// k > n, X = 0, exact ties at the outlier threshold, --ip-key host with src = dst, address
// order. Each case runs through the real pipeline with 1 to 4 threads (keys spread over
// shards), is checked by hand, and against the brute-force reference.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../engine/harness.hpp"
#include "../engine/reference.hpp"
#include "../engine/stream_gen.hpp"
#include "query/queries.hpp"

namespace netpulse::testref {
namespace {

using query::QueryKind;

// One record line, all at the same second so one window [0, 1) holds them with T = 1.
std::string rec(const std::string& proto, const std::string& src, uint64_t bytes,
                const std::string& dst = "192.0.2.1") {
  return record_line(kBaseMs + 500, proto, src, dst, bytes) + "\n";
}

Options one_window(Params p, KeyMode key = KeyMode::kSrc) {
  Options o;
  o.params = p;
  o.params.T = 1;
  o.ip_key = key;
  return o;
}

// The single window's results, after checking every thread count against the reference.
query::WindowResult only_window(const std::string& text, const Options& o) {
  expect_matches_reference(text, o);
  EngineRun run = run_engine(text, o, 1);
  EXPECT_EQ(run.results.size(), 1u);
  if (run.results.empty()) return {};
  return run.results[0];
}

std::vector<std::string> keys(const query::WindowResult& r, QueryKind q) {
  std::vector<std::string> out;
  for (const auto& row : r.of(q)) out.push_back(row.key);
  return out;
}

using Keys = std::vector<std::string>;

TEST(Queries, EqualBytesAreOrderedByKey) {
  std::string text;
  for (const char* p : {"b", "a", "HTTPS", "B", "HTTP", "A", "_", "-", "9"}) text += rec(p, "10.0.0.1", 100);
  for (const char* a : {"10.0.0.1", "9.0.0.1", "::1", "2001:db8::10", "2001:db8::2", "255.255.255.255", "0.0.0.0",
                        "::ffff:9.0.0.1", "100.0.0.0"})
    text += rec("HTTP", a, 100);
  const auto r = only_window(text, one_window(Params{1, 1, 4, 0}));
  // Protocols byte-wise: '-' < '9' < 'A' < 'B' < 'HTTP' < 'HTTPS' < '_' < 'a' < 'b'. HTTP also
  // has the 900 bytes of the address records.
  EXPECT_EQ(keys(r, QueryKind::kProtocolTopk), (Keys{"HTTP", "-", "9", "A"}));
  EXPECT_EQ(keys(r, QueryKind::kProtocolShare),
            (Keys{"HTTP", "-", "9", "A", "B", "HTTPS", "_", "a", "b"}));
  // Addresses: IPv4 before IPv6, numerically (not as text: 9 < 10 < 100; ::2 < ::10).
  // 10.0.0.1 leads with the nine protocol records' bytes.
  EXPECT_EQ(keys(r, QueryKind::kIpShare),
            (Keys{"10.0.0.1", "0.0.0.0", "9.0.0.1", "100.0.0.0", "255.255.255.255", "::1",
                  "::ffff:9.0.0.1", "2001:db8::2", "2001:db8::10"}));
  EXPECT_EQ(keys(r, QueryKind::kIpTopk), (Keys{"10.0.0.1", "0.0.0.0", "9.0.0.1", "100.0.0.0"}));
}

TEST(Queries, TopKTieAtTheCutIsDecidedByKey) {
  std::string text;
  for (const char* a : {"10.0.0.5", "10.0.0.3", "10.0.0.9", "10.0.0.1", "10.0.0.7"}) text += rec("P", a, 10);
  text += rec("P", "10.0.0.8", 11);
  const auto r = only_window(text, one_window(Params{10, 1, 3, 2}));
  EXPECT_EQ(keys(r, QueryKind::kIpTopk), (Keys{"10.0.0.8", "10.0.0.1", "10.0.0.3"}));
}

TEST(Queries, OneKeyHasNoDeviation) {
  const std::string text = rec("DNS", "10.0.0.1", 300) + rec("DNS", "10.0.0.1", 700);
  for (double X : {0.0, 2.0}) {
    const auto r = only_window(text, one_window(Params{10, 1, 3, X}));
    EXPECT_EQ(r.records, 2u);
    EXPECT_EQ(r.total_bytes, 1000u);
    EXPECT_EQ(r.protocol_keys, 1u);
    EXPECT_EQ(r.ip_keys, 1u);
    for (QueryKind q : {QueryKind::kProtocolShare, QueryKind::kProtocolTopk, QueryKind::kIpShare,
                        QueryKind::kIpTopk}) {
      ASSERT_EQ(r.of(q).size(), 1u);
      EXPECT_EQ(r.of(q)[0].bytes, 1000u);
      EXPECT_EQ(r.of(q)[0].share, 1.0);
      EXPECT_FALSE(r.of(q)[0].z) << "sd = 0: z is null";
    }
    EXPECT_TRUE(r.of(QueryKind::kProtocolOutliers).empty());
    EXPECT_TRUE(r.of(QueryKind::kIpOutliers).empty());
  }
}

TEST(Queries, AllKeysEqual) {
  std::string text;
  for (const char* p : {"A", "B", "C", "D"}) text += rec(p, "10.1.1." + std::to_string(p[0] % 10), 250);
  {
    const auto r = only_window(text, one_window(Params{25, 1, 2, 0}));
    EXPECT_TRUE(r.of(QueryKind::kProtocolShare).empty()) << "25% is not more than 25%";
    EXPECT_TRUE(r.of(QueryKind::kProtocolOutliers).empty()) << "nothing above the mean";
    EXPECT_TRUE(r.of(QueryKind::kIpOutliers).empty());
    EXPECT_EQ(keys(r, QueryKind::kProtocolTopk), (Keys{"A", "B"}));
    for (const auto& row : r.of(QueryKind::kProtocolTopk)) EXPECT_FALSE(row.z);
    for (const auto& row : r.of(QueryKind::kIpTopk)) EXPECT_FALSE(row.z);
  }
  {
    const auto r = only_window(text, one_window(Params{24.5, 1, 2, 0}));
    EXPECT_EQ(keys(r, QueryKind::kProtocolShare), (Keys{"A", "B", "C", "D"}));
    EXPECT_EQ(r.of(QueryKind::kIpShare).size(), 4u);
  }
}

TEST(Queries, HundredPercentListsNothing) {
  for (const std::string& text : {rec("A", "10.0.0.1", 5), rec("A", "10.0.0.1", 5) + rec("B", "10.0.0.2", 0)}) {
    const auto r = only_window(text, one_window(Params{100, 1, 3, 2}));
    EXPECT_TRUE(r.of(QueryKind::kProtocolShare).empty());
    EXPECT_TRUE(r.of(QueryKind::kIpShare).empty());
  }
}

TEST(Queries, ShareThresholdIsStrict) {
  // total 800; H 12.5: 100 * 100 > 12.5 * 800 is false, 101 * 100 is more.
  const std::string text = rec("A", "10.0.0.1", 100) + rec("B", "10.0.0.2", 101) + rec("C", "10.0.0.3", 599);
  const auto r = only_window(text, one_window(Params{12.5, 1, 3, 2}));
  EXPECT_EQ(keys(r, QueryKind::kProtocolShare), (Keys{"C", "B"}));
  EXPECT_EQ(keys(r, QueryKind::kIpShare), (Keys{"10.0.0.3", "10.0.0.2"}));
}

TEST(Queries, KLargerThanTheNumberOfKeys) {
  const std::string text = rec("A", "10.0.0.1", 1) + rec("B", "10.0.0.2", 2) + rec("C", "::2", 3);
  const auto r = only_window(text, one_window(Params{10, 1, 50, 2}));
  EXPECT_EQ(keys(r, QueryKind::kProtocolTopk), (Keys{"C", "B", "A"}));
  EXPECT_EQ(keys(r, QueryKind::kIpTopk), (Keys{"::2", "10.0.0.2", "10.0.0.1"}));
}

TEST(Queries, XZeroListsKeysAboveTheMean) {
  // 100, 200, 300: mean 200; 200 is not above it.
  const std::string text = rec("A", "10.0.0.1", 100) + rec("B", "10.0.0.2", 200) + rec("C", "10.0.0.3", 300);
  const auto r = only_window(text, one_window(Params{10, 1, 3, 0}));
  EXPECT_EQ(keys(r, QueryKind::kProtocolOutliers), (Keys{"C"}));
  EXPECT_EQ(keys(r, QueryKind::kIpOutliers), (Keys{"10.0.0.3"}));
  const auto& row = r.of(QueryKind::kIpOutliers)[0];
  EXPECT_DOUBLE_EQ(*row.z, std::sqrt(1.5));  // (300 - 200) / sqrt(20000 / 3)
  EXPECT_DOUBLE_EQ(row.share, 0.5);
}

TEST(Queries, ExactTieAtTheOutlierThresholdIsNotListed) {
  // Two keys: z = +1 and -1 exactly, so with X = 1 the larger key equals mean + sd.
  for (uint64_t small : {0ull, 1ull, 1000ull}) {
    const std::string text = rec("A", "10.0.0.1", small) + rec("B", "10.0.0.2", small + 3000);
    const auto r = only_window(text, one_window(Params{10, 1, 3, 1}));
    EXPECT_TRUE(r.of(QueryKind::kProtocolOutliers).empty());
    EXPECT_TRUE(r.of(QueryKind::kIpOutliers).empty());
    EXPECT_EQ(*r.of(QueryKind::kIpTopk)[0].z, 1.0);
    EXPECT_EQ(*r.of(QueryKind::kIpTopk)[1].z, -1.0);
  }
  // Five keys, one of them big: its z is exactly 2.
  std::string text;
  for (const char* a : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}) text += rec("A", a, 10);
  text += rec("A", "10.0.0.5", 60);
  const auto r = only_window(text, one_window(Params{10, 1, 3, 2}));
  EXPECT_TRUE(r.of(QueryKind::kIpOutliers).empty());
  EXPECT_EQ(*r.of(QueryKind::kIpTopk)[0].z, 2.0);
}

TEST(Queries, HostKeyCountsSelfFlowsOnce) {
  const std::string text = rec("A", "10.0.0.1", 100, "10.0.0.1") + rec("A", "10.0.0.1", 50, "10.0.0.2") +
                           rec("B", "::1", 7, "::1") + rec("B", "10.0.0.2", 3, "::1");
  const auto r = only_window(text, one_window(Params{10, 1, 5, 2}, KeyMode::kHost));
  EXPECT_EQ(r.records, 4u);
  EXPECT_EQ(r.total_bytes, 160u);  // each record once
  EXPECT_EQ(r.ip_keys, 3u);
  ASSERT_EQ(keys(r, QueryKind::kIpTopk), (Keys{"10.0.0.1", "10.0.0.2", "::1"}));
  EXPECT_EQ(r.of(QueryKind::kIpTopk)[0].bytes, 150u);
  EXPECT_EQ(r.of(QueryKind::kIpTopk)[1].bytes, 53u);
  EXPECT_EQ(r.of(QueryKind::kIpTopk)[2].bytes, 10u);
  EXPECT_DOUBLE_EQ(r.of(QueryKind::kIpTopk)[0].share, 150.0 / 160);
}

TEST(Queries, DstKey) {
  const std::string text = rec("A", "10.0.0.1", 100, "10.9.9.9") + rec("A", "10.0.0.2", 50, "10.9.9.9") +
                           rec("A", "10.0.0.3", 5, "10.9.9.8");
  const auto r = only_window(text, one_window(Params{10, 1, 5, 2}, KeyMode::kDst));
  EXPECT_EQ(keys(r, QueryKind::kIpTopk), (Keys{"10.9.9.9", "10.9.9.8"}));
  EXPECT_EQ(r.of(QueryKind::kIpTopk)[0].bytes, 150u);
}

TEST(Queries, MappedAndPlainIpv4AreDistinctKeys) {
  const std::string text = rec("A", "10.0.0.1", 5) + rec("A", "::ffff:10.0.0.1", 5) + rec("A", "::ffff:a00:1", 5);
  const auto r = only_window(text, one_window(Params{10, 1, 5, 2}));
  EXPECT_EQ(r.ip_keys, 2u);
  EXPECT_EQ(keys(r, QueryKind::kIpTopk), (Keys{"::ffff:10.0.0.1", "10.0.0.1"}));
}

TEST(Queries, ZeroBytes) {
  const std::string text = rec("A", "10.0.0.1", 0) + rec("B", "10.0.0.2", 0);
  const auto r = only_window(text, one_window(Params{10, 1, 5, 0}));
  EXPECT_EQ(r.total_bytes, 0u);
  EXPECT_TRUE(r.of(QueryKind::kProtocolShare).empty());
  EXPECT_TRUE(r.of(QueryKind::kIpOutliers).empty());
  ASSERT_EQ(r.of(QueryKind::kIpTopk).size(), 2u);
  EXPECT_EQ(r.of(QueryKind::kIpTopk)[0].share, 0.0);
  EXPECT_FALSE(r.of(QueryKind::kIpTopk)[0].z);
}

TEST(Queries, LargeSumsAreExact) {
  // 3000 records of 4294967295 bytes on one key and 1 byte on another: sums beyond 2^32 and
  // squares beyond 2^64.
  std::string text;
  for (int i = 0; i < 3000; ++i) text += rec("BIG", "10.0.0.1", 4294967295u);
  text += rec("SMALL", "10.0.0.2", 1);
  Options o = one_window(Params{99.5, 1, 3, 0});
  const EngineRun run = run_engine(text, o, 2);
  ASSERT_EQ(run.results.size(), 1u);
  const auto& r = run.results[0];
  EXPECT_EQ(r.total_bytes, 3000ull * 4294967295u + 1);
  EXPECT_EQ(keys(r, QueryKind::kProtocolShare), (Keys{"BIG"}));
  EXPECT_EQ(r.of(QueryKind::kProtocolShare)[0].bytes, 3000ull * 4294967295u);
  EXPECT_EQ(keys(r, QueryKind::kIpOutliers), (Keys{"10.0.0.1"}));
  EXPECT_EQ(windows_match(run.results, compute(text, o).windows), "");
}

TEST(Queries, ManyKeysAcrossShardsMatchTheReference) {
  // Hundreds of addresses, many with equal bytes, so top k and the thresholds cut through ties
  // whose members live on different shards.
  StreamGen g(99);
  std::string text;
  for (int i = 0; i < 1000; ++i) {
    const std::string src = i % 5 == 0 ? "2001:db8::" + std::to_string(g.index(50))
                                       : "10.0." + std::to_string(g.index(3)) + "." + std::to_string(g.index(200));
    text += rec(i % 3 ? "HTTP" : "DNS", src, 10 * (1 + g.index(4)));
  }
  for (Params p : {Params{0.5, 1, 1, 0}, Params{1, 1, 7, 1.5}, Params{2.5, 1, 40, 3}, Params{0.25, 1, 1000, 0.5}})
    for (KeyMode key : {KeyMode::kSrc, KeyMode::kHost}) only_window(text, one_window(p, key));
}

// The threshold helpers directly.

engine::DimStats stats(std::initializer_list<uint64_t> bytes) {
  engine::DimStats s;
  for (uint64_t b : bytes) s.on_add(engine::Agg{}, b);
  return s;
}

TEST(Thresholds, Share) {
  EXPECT_EQ(query::share_threshold(10, 1000), 101u);
  EXPECT_EQ(query::share_threshold(12.5, 800), 101u);
  EXPECT_EQ(query::share_threshold(100, 1000), 1001u);  // nothing qualifies
  EXPECT_EQ(query::share_threshold(50, 0), 1u);         // 0 bytes is never more than 0
  EXPECT_EQ(query::share_threshold(0.0001, 1), 1u);
  const uint64_t big = 100ull * 4294967295u;
  EXPECT_EQ(query::share_threshold(50, big), big / 2 + 1);
}

TEST(Thresholds, Outliers) {
  EXPECT_EQ(query::outlier_threshold(0, stats({100, 200, 300})), 201u);
  EXPECT_GT(query::outlier_threshold(1, stats({0, 1000})), 1000u);  // exact tie: not listed
  EXPECT_GT(query::outlier_threshold(0, stats({7, 7, 7})), 7u);
  EXPECT_GT(query::outlier_threshold(2, stats({10, 10, 10, 10, 60})), 60u);
  // One key above four equal ones always has z = 2 (sqrt(n - 1)), whatever the values.
  EXPECT_GT(query::outlier_threshold(2, stats({10, 10, 10, 10, 61})), 61u);
  // mean 10, sd sqrt(200) = 14.14...: the least b above 24.14 is 25.
  EXPECT_EQ(query::outlier_threshold(1, stats({0, 0, 30})), 25u);
}

TEST(Thresholds, OutlierTieWithHugeSums) {
  // Two keys, z = +-1 exactly, with sums whose squares need more than 64 bits.
  for (uint64_t records : {1ull, 3ull, 300ull, 3000ull, 1000000ull}) {
    const uint64_t big = records * 4294967295ull;
    EXPECT_GT(query::outlier_threshold(1, stats({0, big})), big) << records;
    EXPECT_GT(query::outlier_threshold(1, stats({12345, big})), big) << records;
  }
}

TEST(Thresholds, ZScore) {
  EXPECT_FALSE(query::z_score(5, stats({5})));
  EXPECT_FALSE(query::z_score(5, stats({5, 5})));
  EXPECT_EQ(*query::z_score(10, stats({0, 10})), 1.0);
  EXPECT_EQ(*query::z_score(0, stats({0, 10})), -1.0);
  EXPECT_DOUBLE_EQ(*query::z_score(300, stats({100, 200, 300})), std::sqrt(1.5));
}

}  // namespace
}  // namespace netpulse::testref
