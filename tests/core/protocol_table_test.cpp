// Tests for core/protocol_table: interning through the shared table and the per-thread cache,
// growth of the cache, labels that differ in one byte, and concurrent use.
#include "core/protocol_table.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace netpulse::core {
namespace {

// Labels of every length 1..32 from the allowed characters.
std::vector<std::string> make_labels(size_t n, uint64_t seed) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";
  std::mt19937_64 rng(seed);
  std::set<std::string> seen;
  std::vector<std::string> out;
  while (out.size() < n) {
    const size_t len = 1 + rng() % kMaxProtocolLength;
    std::string s;
    for (size_t i = 0; i < len; ++i) s += kChars[rng() % (sizeof kChars - 1)];
    if (seen.insert(s).second) out.push_back(s);
  }
  return out;
}

TEST(ProtocolTable, DenseStableIds) {
  ProtocolTable t;
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.intern("HTTP"), 0u);
  EXPECT_EQ(t.intern("DNS"), 1u);
  EXPECT_EQ(t.intern("HTTP"), 0u);
  EXPECT_EQ(t.intern("http"), 2u);  // case matters
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.name(0), "HTTP");
  EXPECT_EQ(t.name(1), "DNS");
  EXPECT_EQ(t.name(2), "http");
}

TEST(ProtocolTable, ViewsStayValidWhileTheTableGrows) {
  ProtocolTable t;
  const auto labels = make_labels(5000, 1);
  std::vector<std::string_view> views;
  for (const auto& l : labels) views.push_back(t.name(t.intern(l)));
  ASSERT_EQ(t.size(), labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    ASSERT_EQ(views[i], labels[i]);
    ASSERT_EQ(t.intern(labels[i]), i);
  }
}

TEST(ProtocolTable, ConcurrentInterningAgrees) {
  ProtocolTable t;
  const auto labels = make_labels(400, 2);
  constexpr int kThreads = 4;
  std::vector<std::vector<uint32_t>> ids(kThreads, std::vector<uint32_t>(labels.size()));
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      std::vector<size_t> order(labels.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937_64(100 + th));
      for (int round = 0; round < 5; ++round)
        for (size_t i : order) ids[th][i] = t.intern(labels[i]);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(t.size(), labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    for (int th = 1; th < kThreads; ++th) ASSERT_EQ(ids[th][i], ids[0][i]);
    ASSERT_EQ(t.name(ids[0][i]), labels[i]);
  }
}

TEST(ProtocolCache, AgreesWithTheTable) {
  ProtocolTable t;
  ProtocolCache c(t);
  const auto labels = make_labels(3000, 3);  // many times the initial 64 slots: several growths
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < labels.size(); ++i) {
      const uint32_t id = c.intern(labels[i].data(), labels[i].size());
      ASSERT_EQ(id, i) << labels[i];  // first seen, first numbered
      ASSERT_EQ(t.name(id), labels[i]);
    }
  }
  EXPECT_EQ(t.size(), labels.size());
}

TEST(ProtocolCache, LabelsDifferingInOneByteOrInLength) {
  ProtocolTable t;
  ProtocolCache c(t);
  std::vector<std::string> labels;
  const std::string base(kMaxProtocolLength, 'A');
  // Every prefix of a 32-byte label, then one byte changed at every position.
  for (size_t n = 1; n <= kMaxProtocolLength; ++n) labels.push_back(base.substr(0, n));
  for (size_t pos = 0; pos < kMaxProtocolLength; ++pos) {
    std::string s = base;
    s[pos] = 'B';
    labels.push_back(s);
  }
  // Labels that share their first 16 bytes (the cache hashes 16-byte words).
  for (int i = 0; i < 50; ++i) labels.push_back(std::string(16, 'x') + std::to_string(i));
  labels.push_back("0");
  labels.push_back("00");
  labels.push_back("-");
  labels.push_back(".");
  labels.push_back("_");
  std::set<uint32_t> ids;
  for (const auto& l : labels) ids.insert(c.intern(l.data(), l.size()));
  EXPECT_EQ(ids.size(), labels.size());
  for (const auto& l : labels) {
    const uint32_t id = c.intern(l.data(), l.size());
    EXPECT_EQ(t.name(id), l);
  }
}

TEST(ProtocolCache, ReadsOnlyTheLabelsBytes) {
  // The label is a slice of a longer line: bytes after it must not matter.
  ProtocolTable t;
  ProtocolCache c(t);
  const std::string line1 = "HTTP 1.2.3.4", line2 = "HTTPS 1.2.3.4";
  const uint32_t a = c.intern(line1.data(), 4);
  const uint32_t b = c.intern(line2.data(), 4);
  EXPECT_EQ(a, b);
  EXPECT_EQ(t.name(a), "HTTP");
}

TEST(ProtocolCache, OneCachePerThreadOverASharedTable) {
  ProtocolTable t;
  const auto labels = make_labels(1000, 4);
  constexpr int kThreads = 4;
  std::vector<std::vector<uint32_t>> ids(kThreads, std::vector<uint32_t>(labels.size()));
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      ProtocolCache c(t);
      std::mt19937_64 rng(200 + th);
      for (int i = 0; i < 20000; ++i) {
        const size_t k = rng() % labels.size();
        const uint32_t id = c.intern(labels[k].data(), labels[k].size());
        if (ids[th][k] == 0) ids[th][k] = id + 1;
        else if (ids[th][k] != id + 1) ids[th][k] = UINT32_MAX;  // changed: a failure
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<uint32_t> agreed(labels.size(), 0);
  for (int th = 0; th < kThreads; ++th) {
    for (size_t k = 0; k < labels.size(); ++k) {
      const uint32_t v = ids[th][k];
      ASSERT_NE(v, UINT32_MAX);
      if (v == 0) continue;
      if (agreed[k] == 0) agreed[k] = v;
      ASSERT_EQ(agreed[k], v) << labels[k];
      ASSERT_EQ(t.name(v - 1), labels[k]);
    }
  }
}

}  // namespace
}  // namespace netpulse::core
