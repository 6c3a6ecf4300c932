// The history values (store/history.hpp): names, conversation keys, the entries codec, cut_to_top,
// merge_buckets and roll_up against plain references over random data.
#include "store/history.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <random>

namespace netpulse::store {
namespace {

TEST(History, NamesRoundTrip) {
  for (Dimension d : kDimensions) EXPECT_EQ(parse_dimension(to_string(d)), d);
  for (Resolution r : kResolutions) EXPECT_EQ(parse_resolution(to_string(r)), r);
  EXPECT_STREQ(to_string(Dimension::kConversation), "conversation");
  EXPECT_STREQ(to_string(Resolution::kDay), "day");
  EXPECT_EQ(parse_dimension("Src"), std::nullopt);
  EXPECT_EQ(parse_dimension(""), std::nullopt);
  EXPECT_EQ(parse_resolution("minutes"), std::nullopt);
  EXPECT_EQ(resolution_ms(Resolution::kMinute), 60'000);
  EXPECT_EQ(resolution_ms(Resolution::kHour), 3'600'000);
  EXPECT_EQ(resolution_ms(Resolution::kDay), 86'400'000);
}

TEST(History, ConversationKeys) {
  const std::string key = conversation_key("2001:db8::1", "10.0.0.2", "HTTPS");
  EXPECT_EQ(key, "2001:db8::1 10.0.0.2 HTTPS");
  std::string_view src, dst, protocol;
  ASSERT_TRUE(split_conversation_key(key, &src, &dst, &protocol));
  EXPECT_EQ(src, "2001:db8::1");
  EXPECT_EQ(dst, "10.0.0.2");
  EXPECT_EQ(protocol, "HTTPS");
  for (const char* bad : {"", "10.0.0.1", "10.0.0.1 10.0.0.2", "10.0.0.1 10.0.0.2 ",
                          " 10.0.0.2 TCP", "10.0.0.1  TCP"}) {
    EXPECT_FALSE(split_conversation_key(bad, &src, &dst, &protocol)) << bad;
  }
}

std::vector<HistoryEntry> random_entries(std::mt19937_64& rng, size_t n) {
  std::map<std::string, HistoryEntry> by_key;
  std::uniform_int_distribution<int> octet(0, 255);
  while (by_key.size() < n) {
    std::string key = "10." + std::to_string(octet(rng)) + "." + std::to_string(octet(rng)) + "." +
                      std::to_string(octet(rng));
    if (rng() % 7 == 0) key = "2001:db8::" + std::to_string(rng() % 100000);
    if (rng() % 11 == 0)
      key += std::string(1, static_cast<char>(0x80 + rng() % 100));  // high bytes
    by_key[key] = {key, rng() >> (rng() % 64), rng() % 1000};
  }
  std::vector<HistoryEntry> out;
  for (auto& [k, e] : by_key) out.push_back(e);
  return out;
}

TEST(History, CodecRoundTrips) {
  std::mt19937_64 rng(17);
  for (size_t n : {0, 1, 2, 10, 1000}) {
    std::vector<HistoryEntry> in = random_entries(rng, n);
    if (n == 2) {
      in[0].bytes = UINT64_MAX;  // the widest varints
      in[1].records = UINT64_MAX;
      in[0].key = "";  // an empty key sorts first
    }
    const std::string blob = encode_entries(in);
    std::vector<HistoryEntry> out = {{"junk", 1, 1}};
    ASSERT_TRUE(decode_entries(blob, out)) << n;
    EXPECT_EQ(out, in);
  }
  // Prefix sharing makes sorted addresses compact.
  std::vector<HistoryEntry> addresses;
  for (int i = 100; i < 200; ++i) addresses.push_back({"192.168.10." + std::to_string(i), 1, 1});
  EXPECT_LT(encode_entries(addresses).size(), 100u * 6);
}

TEST(History, DecodeRefusesMalformedBlobs) {
  std::vector<HistoryEntry> out;
  const std::vector<HistoryEntry> in = {
      {"10.0.0.1", 300, 2}, {"10.0.0.10", 1u << 20, 5}, {"10.0.1.7", 9, 1}};
  const std::string blob = encode_entries(in);
  ASSERT_TRUE(decode_entries(blob, out));
  // Truncated at every byte, entry boundaries included: refused.
  for (size_t n = 0; n < blob.size(); ++n) {
    EXPECT_FALSE(decode_entries(blob.substr(0, n), out)) << "cut at " << n;
  }
  ASSERT_TRUE(decode_entries(std::string("\x01\x00", 2), out));  // the empty bucket
  EXPECT_TRUE(out.empty());
  // A count larger or smaller than the entries.
  std::string more = blob;
  more[1] = 4;
  EXPECT_FALSE(decode_entries(more, out));
  std::string fewer = blob;
  fewer[1] = 2;
  EXPECT_FALSE(decode_entries(fewer, out));
  // Trailing bytes, a wrong format byte.
  EXPECT_FALSE(decode_entries(blob + '\0', out));
  EXPECT_FALSE(decode_entries(blob + "\x01", out));
  std::string other_format = blob;
  other_format[0] = 0x02;
  EXPECT_FALSE(decode_entries(other_format, out));
  // Unsorted and repeated keys, encoded as the codec would if asked to.
  EXPECT_FALSE(
      decode_entries(encode_entries(std::vector<HistoryEntry>{{"b", 1, 1}, {"a", 1, 1}}), out));
  EXPECT_FALSE(
      decode_entries(encode_entries(std::vector<HistoryEntry>{{"a", 1, 1}, {"a", 2, 1}}), out));
  EXPECT_FALSE(
      decode_entries(encode_entries(std::vector<HistoryEntry>{{"ab", 1, 1}, {"a", 2, 1}}), out));
  // A shared prefix longer than the previous key; a first key claiming a prefix.
  EXPECT_FALSE(decode_entries(std::string("\x01\x02"
                                          "\x00\x01"
                                          "a\x01\x01"
                                          "\x05\x01"
                                          "b\x01\x01",
                                          12),
                              out));
  EXPECT_TRUE(decode_entries(std::string("\x01\x02"
                                         "\x00\x01"
                                         "a\x01\x01"
                                         "\x01\x01"
                                         "b\x01\x01",
                                         12),
                             out));
  EXPECT_EQ(out[1].key, "ab");
  EXPECT_FALSE(decode_entries(std::string("\x01\x01"
                                          "\x01\x01"
                                          "a\x01\x01",
                                          7),
                              out));
  // Keys that share less than they could (not the encoder's form, still well ordered or not).
  const std::string ab(
      "\x01\x02"
      "\x00\x02"
      "ab\x01\x01",
      8);
  ASSERT_TRUE(decode_entries(ab + std::string("\x01\x02"
                                              "bc\x01\x01",
                                              6),
                             out));
  EXPECT_EQ(out[1].key, "abc");
  ASSERT_TRUE(decode_entries(ab + std::string("\x00\x03"
                                              "abc\x01\x01",
                                              7),
                             out));
  EXPECT_EQ(out[1].key, "abc");
  EXPECT_FALSE(decode_entries(ab + std::string("\x00\x02"
                                               "aa\x01\x01",
                                               6),
                              out));
  EXPECT_FALSE(decode_entries(ab + std::string("\x00\x02"
                                               "ab\x01\x01",
                                               6),
                              out));
  EXPECT_FALSE(decode_entries(ab + std::string("\x01\x00"
                                               "\x01\x01",
                                               4),
                              out));  // "a" < "ab"
  EXPECT_FALSE(decode_entries(ab + std::string("\x02\x00"
                                               "\x01\x01",
                                               4),
                              out));  // "ab" again
  ASSERT_TRUE(decode_entries(ab + std::string("\x02\x01"
                                              "\x00\x01\x01",
                                              5),
                             out));
  EXPECT_EQ(out[1].key, std::string("ab\0", 3));
  // A varint beyond 64 bits, and one that never ends.
  const std::string head(
      "\x01\x01"
      "\x00\x01"
      "a",
      5);
  EXPECT_FALSE(decode_entries(head + std::string(9, '\xff') + '\x02' + '\x00', out));
  ASSERT_TRUE(decode_entries(head + std::string(9, '\xff') + '\x01' + '\x00', out));
  EXPECT_EQ(out[0].bytes, UINT64_MAX);
  EXPECT_FALSE(decode_entries(head + std::string(20, '\x80'), out));
  // A suffix length past the end.
  EXPECT_FALSE(decode_entries(std::string("\x01\x01"
                                          "\x00\x7f"
                                          "abc",
                                          7),
                              out));
}

// The reference cut: sort by (bytes desc, key asc), keep the first m, re-sort by key.
HistoryBucket reference_cut(HistoryBucket b, size_t m) {
  auto entries = b.entries;
  std::sort(entries.begin(), entries.end(), [](const HistoryEntry& x, const HistoryEntry& y) {
    return x.bytes != y.bytes ? x.bytes > y.bytes : x.key < y.key;
  });
  b.entries.clear();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i < m) {
      b.entries.push_back(entries[i]);
    } else {
      b.other_bytes += entries[i].bytes;
      b.other_records += entries[i].records;
      b.cut_bytes = std::max(b.cut_bytes, entries[i].bytes + b.error_bytes);
    }
  }
  std::sort(b.entries.begin(), b.entries.end(),
            [](const HistoryEntry& x, const HistoryEntry& y) { return x.key < y.key; });
  return b;
}

TEST(History, CutToTopMatchesReference) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 200; ++round) {
    HistoryBucket b;
    b.entries = random_entries(rng, rng() % 50);
    // Many ties: the key decides.
    if (round % 2 == 0) {
      for (auto& e : b.entries) e.bytes = rng() % 4;
    }
    b.other_bytes = rng() % 100;
    b.cut_bytes = rng() % 3;
    b.error_bytes = round % 3 == 0 ? rng() % 5 : 0;
    const size_t m = rng() % 60;
    HistoryBucket cut = b;
    cut_to_top(cut, m);
    EXPECT_EQ(cut, reference_cut(b, m)) << "round " << round << " m " << m;
    EXPECT_TRUE(std::is_sorted(cut.entries.begin(), cut.entries.end(),
                               [](auto& x, auto& y) { return x.key < y.key; }));
  }
  HistoryBucket b;
  b.entries = {{"a", 5, 1}, {"b", 7, 2}};
  cut_to_top(b, 0);
  EXPECT_TRUE(b.entries.empty());
  EXPECT_EQ(b.other_bytes, 12u);
  EXPECT_EQ(b.other_records, 3u);
  EXPECT_EQ(b.cut_bytes, 7u);
}

// Random exact minutes over a key universe, each cut to its top m like the engine would; the
// truth per key kept aside.
struct Scenario {
  std::vector<HistoryBucket> buckets;
  std::map<std::string, uint64_t> truth_bytes;
  std::map<std::string, uint64_t> truth_records;
  uint64_t total_bytes = 0;
  bool any_cut = false;
};

Scenario random_scenario(std::mt19937_64& rng, size_t buckets, size_t universe, size_t m) {
  Scenario s;
  std::vector<std::string> keys;
  for (size_t i = 0; i < universe; ++i) keys.push_back("k" + std::to_string(i * 7919 % 100003));
  for (size_t i = 0; i < buckets; ++i) {
    std::map<std::string, HistoryEntry> by_key;
    const size_t records = 1 + rng() % (universe * 3);
    for (size_t r = 0; r < records; ++r) {
      // Skewed: low indices are heavy hitters.
      const size_t k = std::min<size_t>(
          universe - 1, (rng() % universe) * (rng() % universe) / std::max<size_t>(universe, 1));
      const uint64_t bytes = 40 + rng() % 1500;
      auto& e = by_key[keys[k]];
      e.key = keys[k];
      e.bytes += bytes;
      e.records += 1;
      s.truth_bytes[keys[k]] += bytes;
      s.truth_records[keys[k]] += 1;
      s.total_bytes += bytes;
    }
    HistoryBucket b;
    b.start = static_cast<core::TimeMs>(i) * 60'000;
    b.dimension = Dimension::kSrc;
    b.origin = "a";
    for (auto& [k, e] : by_key) {
      b.entries.push_back(e);
      b.total_bytes += e.bytes;
      b.total_records += e.records;
    }
    if (b.entries.size() > m) s.any_cut = true;
    cut_to_top(b, m);
    s.buckets.push_back(std::move(b));
  }
  return s;
}

TEST(History, MergeBoundsHoldOnRandomData) {
  std::mt19937_64 rng(99);
  for (int round = 0; round < 60; ++round) {
    const size_t m = 1 + rng() % 12;
    Scenario s = random_scenario(rng, 1 + rng() % 12, 2 + rng() % 30, m);
    const Merged merged = merge_buckets(s.buckets);
    EXPECT_EQ(merged.total_bytes, s.total_bytes);
    uint64_t absent = 0;
    for (auto& b : s.buckets) absent += b.cut_bytes;
    EXPECT_EQ(merged.absent_bound, absent);
    ASSERT_TRUE(std::is_sorted(merged.keys.begin(), merged.keys.end(),
                               [](auto& x, auto& y) { return x.key < y.key; }));
    std::map<std::string, const MergedKey*> listed;
    for (const MergedKey& k : merged.keys) {
      EXPECT_TRUE(listed.emplace(k.key, &k).second) << "repeated " << k.key;
      // The plain reference: per bucket, listed or not.
      uint64_t bytes = 0, records = 0, error = 0;
      for (auto& b : s.buckets) {
        auto it = std::find_if(b.entries.begin(), b.entries.end(),
                               [&](auto& e) { return e.key == k.key; });
        if (it != b.entries.end()) {
          bytes += it->bytes;
          records += it->records;
          error += b.error_bytes;
        } else {
          error += b.cut_bytes;
        }
      }
      EXPECT_EQ(k.bytes, bytes);
      EXPECT_EQ(k.records, records);
      EXPECT_EQ(k.error_bytes, error);
      const uint64_t truth = s.truth_bytes.at(k.key);
      EXPECT_LE(k.bytes, truth);
      EXPECT_LE(truth, k.bytes + k.error_bytes) << k.key;
    }
    for (auto& [key, truth] : s.truth_bytes) {
      if (!listed.count(key)) {
        EXPECT_LE(truth, merged.absent_bound) << key;
      }
    }
  }
}

// Keys that share long prefixes, differ only past 16 bytes, end in zero bytes or hold 0xff:
// merge_buckets compares packed prefixes first, and must still agree with std::map's order.
TEST(History, MergeMatchesAMapOnTrickyKeys) {
  const std::string p16 = "2001:db8:0:1:0:0";  // 16 bytes
  std::vector<std::string> universe = {"",
                                       std::string("a"),
                                       std::string("a\0", 2),
                                       std::string("a\0\0", 3),
                                       std::string("\0", 1),
                                       "ab",
                                       p16,
                                       p16.substr(0, 15),
                                       p16 + "1",
                                       p16 + "10",
                                       p16 + std::string("\0", 1),
                                       p16 + "1 10.0.0.1 TCP",
                                       p16 + "1 10.0.0.1 UDP",
                                       std::string(16, '\xff'),
                                       std::string(17, '\xff'),
                                       std::string(8, '\xff') + "x",
                                       "10.0.0.1 10.0.0.2 HTTPS",
                                       "10.0.0.1 10.0.0.2 HTTP"};
  std::mt19937_64 rng(11);
  for (int round = 0; round < 100; ++round) {
    std::vector<HistoryBucket> buckets(1 + rng() % 6);
    std::map<std::string, MergedKey> want;
    uint64_t absent = 0;
    for (auto& b : buckets) {
      b.cut_bytes = rng() % 50;
      b.error_bytes = rng() % 5;
      absent += b.cut_bytes;
      std::map<std::string, HistoryEntry> chosen;
      for (const auto& k : universe) {
        if (rng() % 2) chosen[k] = {k, rng() % 1000, rng() % 10};
      }
      for (auto& [k, e] : chosen) b.entries.push_back(e);
    }
    for (auto& b : buckets) {
      for (auto& e : b.entries) {
        MergedKey& m = want[e.key];
        m.key = e.key;
        m.bytes += e.bytes;
        m.records += e.records;
      }
    }
    for (auto& [k, m] : want) {
      for (auto& b : buckets) {
        const bool listed =
            std::any_of(b.entries.begin(), b.entries.end(), [&](auto& e) { return e.key == k; });
        m.error_bytes += listed ? b.error_bytes : b.cut_bytes;
      }
    }
    const Merged got = merge_buckets(buckets);
    EXPECT_EQ(got.absent_bound, absent);
    ASSERT_EQ(got.keys.size(), want.size()) << round;
    size_t i = 0;
    for (auto& [k, m] : want) {
      EXPECT_EQ(got.keys[i].key, k) << round << " at " << i;
      EXPECT_EQ(got.keys[i].bytes, m.bytes);
      EXPECT_EQ(got.keys[i].records, m.records);
      EXPECT_EQ(got.keys[i].error_bytes, m.error_bytes);
      ++i;
    }
  }
}

TEST(History, RollUpBoundsHoldAndExactWhenNothingCut) {
  std::mt19937_64 rng(7);
  int cut_rounds = 0;
  for (int round = 0; round < 80; ++round) {
    const size_t m = 1 + rng() % 10;
    // Half the rounds: keep everything, so the roll-up must be exact.
    const bool exact = round % 2 == 0;
    Scenario s = random_scenario(rng, 1 + rng() % 15, 2 + rng() % 25, exact ? 1000 : m);
    const size_t m_up = exact ? 1000 : 1 + rng() % 10;
    const HistoryBucket hour = roll_up(s.buckets, Resolution::kHour, 3'600'000, m_up);
    EXPECT_EQ(hour.resolution, Resolution::kHour);
    EXPECT_EQ(hour.start, 3'600'000);
    EXPECT_EQ(hour.dimension, Dimension::kSrc);
    EXPECT_EQ(hour.origin, "a");
    EXPECT_EQ(hour.total_bytes, s.total_bytes);
    EXPECT_LE(hour.entries.size(), m_up);
    uint64_t listed_bytes = 0, listed_records = 0;
    for (auto& e : hour.entries) {
      listed_bytes += e.bytes;
      listed_records += e.records;
      const uint64_t truth = s.truth_bytes.at(e.key);
      EXPECT_LE(e.bytes, truth);
      EXPECT_LE(truth, e.bytes + hour.error_bytes) << e.key;
    }
    // other is exactly what is not listed.
    EXPECT_EQ(listed_bytes + hour.other_bytes, hour.total_bytes);
    EXPECT_EQ(listed_records + hour.other_records, hour.total_records);
    for (auto& [key, truth] : s.truth_bytes) {
      const bool listed = std::any_of(hour.entries.begin(), hour.entries.end(),
                                      [&](auto& e) { return e.key == key; });
      if (!listed) {
        EXPECT_LE(truth, hour.cut_bytes) << key;
      }
    }
    if (exact) {
      EXPECT_EQ(hour.cut_bytes, 0u);
      EXPECT_EQ(hour.error_bytes, 0u);
      EXPECT_EQ(hour.other_bytes, 0u);
      ASSERT_EQ(hour.entries.size(), s.truth_bytes.size());
      for (auto& e : hour.entries) {
        EXPECT_EQ(e.bytes, s.truth_bytes.at(e.key));
        EXPECT_EQ(e.records, s.truth_records.at(e.key));
      }
    } else if (s.any_cut) {
      ++cut_rounds;
    }
    // A day from hours made this way keeps the bounds too.
    const HistoryBucket day = roll_up(std::vector{hour, hour}, Resolution::kDay, 0, m_up);
    for (auto& e : day.entries) {
      EXPECT_LE(2 * s.truth_bytes.at(e.key), e.bytes + day.error_bytes) << e.key;
    }
    for (auto& [key, truth] : s.truth_bytes) {
      const bool listed = std::any_of(day.entries.begin(), day.entries.end(),
                                      [&](auto& e) { return e.key == key; });
      if (!listed) {
        EXPECT_LE(2 * truth, day.cut_bytes) << key;
      }
    }
  }
  EXPECT_GT(cut_rounds, 10);  // the bounds were exercised, not only the exact path
}

// The plain roll-up RollUp replaced: every part in memory, merged, sorted by (bytes desc, key
// asc), the first m kept and the rest moved to other.
HistoryBucket reference_roll_up(std::span<const HistoryBucket> parts, Resolution to,
                                core::TimeMs start, size_t m) {
  HistoryBucket out;
  out.resolution = to;
  out.start = start;
  out.dimension = parts.front().dimension;
  out.origin = parts.front().origin;
  for (const HistoryBucket& p : parts) {
    out.other_bytes += p.other_bytes;
    out.other_records += p.other_records;
  }
  Merged merged = merge_buckets(parts);
  out.total_bytes = merged.total_bytes;
  out.total_records = merged.total_records;
  out.cut_bytes = merged.absent_bound;
  std::vector<MergedKey> by_rank = merged.keys;
  std::sort(by_rank.begin(), by_rank.end(), [](const MergedKey& a, const MergedKey& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.key < b.key;
  });
  for (size_t i = 0; i < by_rank.size(); ++i) {
    const MergedKey& k = by_rank[i];
    if (i < m) {
      out.error_bytes = std::max(out.error_bytes, k.error_bytes);
      out.entries.push_back({k.key, k.bytes, k.records});
    } else {
      out.other_bytes += k.bytes;
      out.other_records += k.records;
      out.cut_bytes = std::max(out.cut_bytes, k.bytes + k.error_bytes);
    }
  }
  sort_entries(out.entries);
  return out;
}

// The store writer adds an hour's minutes one at a time and frees each before reading the next:
// RollUp must own what it keeps (ASan checks the reads), and equal the plain roll-up. Keys are
// long (past the 16 bytes packed, past the arena's 64 KiB chunk for some), as conversations are.
TEST(History, RollUpOnePartAtATimeEqualsThePlainRollUp) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 60; ++round) {
    const size_t m = 1 + rng() % 12;
    Scenario s = random_scenario(rng, 1 + rng() % 20, 2 + rng() % 40, m);
    for (HistoryBucket& b : s.buckets) {
      for (HistoryEntry& e : b.entries) {
        // A key's length follows from the key, so equal keys stay equal.
        const size_t n = std::hash<std::string>{}(e.key);
        e.key = std::string(n % 7 == 0 ? 70'000 + n % 100 : 17 + n % 40, 'x') + e.key;
      }
      sort_entries(b.entries);
    }
    const size_t m_up = 1 + rng() % 15;
    const HistoryBucket want = reference_roll_up(s.buckets, Resolution::kHour, 3'600'000, m_up);
    RollUp rollup(Resolution::kHour, 3'600'000, m_up);
    for (HistoryBucket& b : s.buckets) {
      rollup.add(b);
      b = HistoryBucket{};  // freed, as the writer frees a minute once summed
    }
    EXPECT_EQ(rollup.parts(), s.buckets.size());
    const HistoryBucket got = std::move(rollup).take();
    EXPECT_EQ(got, want) << "round " << round;
  }
}

TEST(History, RollUpRefusesMixedParts) {
  HistoryBucket a, b;
  b.origin = "other";
  EXPECT_THROW(roll_up(std::vector{a, b}, Resolution::kHour, 0, 10), std::invalid_argument);
  const HistoryBucket empty = roll_up({}, Resolution::kDay, 86'400'000, 10);
  EXPECT_EQ(empty.start, 86'400'000);
  EXPECT_TRUE(empty.entries.empty());
}

// /api/top's budget: 200 buckets of 10,000 keys merged in well under 100 ms (Release build).
TEST(History, MergeIsFastEnough) {
  std::vector<HistoryBucket> buckets(200);
  std::mt19937_64 rng(5);
  for (size_t i = 0; i < buckets.size(); ++i) {
    auto& entries = buckets[i].entries;
    for (uint32_t k = 0; k < 10000; ++k) {
      // Mostly the same hosts every minute, some churn.
      const uint32_t host = k < 8000 ? k : 8000 + static_cast<uint32_t>(rng() % 50000);
      entries.push_back({"10." + std::to_string(host >> 16) + "." +
                             std::to_string((host >> 8) & 255) + "." + std::to_string(host & 255),
                         rng() % 100000, 1});
    }
    std::sort(entries.begin(), entries.end(), [](auto& x, auto& y) { return x.key < y.key; });
    entries.erase(std::unique(entries.begin(), entries.end(),
                              [](auto& x, auto& y) { return x.key == y.key; }),
                  entries.end());
  }
  // The thread's CPU time: on a shared 2-core machine the wall clock measures the neighbours.
  auto cpu_ms = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
  };
  const double t0 = cpu_ms();
  const Merged merged = merge_buckets(buckets);
  const double ms = cpu_ms() - t0;
  EXPECT_GT(merged.keys.size(), 8000u);
  std::printf("merge of 200 x 10000: %.0f ms CPU, %zu keys\n", ms, merged.keys.size());
#ifdef NDEBUG
  // Measured 50-70 ms; the margin is for a busy machine, the bound for a quadratic mistake.
  EXPECT_LT(ms, 300);
#endif
}

}  // namespace
}  // namespace netpulse::store
