// The history's questions (store/history_query) against a plain reference: random records,
// summed exactly per minute and key by the test, cut to M keys and rolled up into hours and days
// as the writer does, stored in a real SQLite file by two origins; then top, series, sankey and
// filters over many random ranges must agree with the reference sums of the same records:
// exactly when nothing was cut, within the stated bounds when it was. Totals are always exact,
// so they also prove that no time is counted twice. Plus time arguments and the cover plan.
#include "store/history_query.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "store_test_support.hpp"

namespace netpulse::store {
namespace {

using testing::TempDir;

constexpr core::TimeMs kT0 = core::days_from_civil(2020, 5, 9) * kDayMs;  // a UTC midnight
// Records from kT0 to kDataEnd (2 days 5 h 37 min), none in the gap (whole hours).
constexpr core::TimeMs kDataEnd = kT0 + 2 * kDayMs + 5 * kHourMs + 37 * kMinuteMs;
constexpr core::TimeMs kGapFrom = kT0 + 30 * kHourMs, kGapTo = kT0 + 32 * kHourMs;

struct Rec {
  core::TimeMs t;
  std::string src, dst, protocol;
  uint64_t bytes;
  int origin;  // 0: "", 1: "b"
};

std::string key_of(const Rec& r, Dimension d) {
  switch (d) {
    case Dimension::kProtocol:
      return r.protocol;
    case Dimension::kSrc:
      return r.src;
    case Dimension::kDst:
      return r.dst;
    case Dimension::kConversation:
      return conversation_key(r.src, r.dst, r.protocol);
  }
  return {};
}

std::vector<Rec> make_records(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> srcs, dsts;
  for (int i = 0; i < 24; ++i)
    srcs.push_back("10.0." + std::to_string(i % 3) + "." + std::to_string(i));
  for (int i = 0; i < 8; ++i) srcs.push_back("192.168.1." + std::to_string(i + 1));
  for (int i = 0; i < 6; ++i) srcs.push_back("2001:db8::" + std::to_string(i + 1));
  for (int i = 0; i < 20; ++i) dsts.push_back("192.168.1." + std::to_string(i + 1));
  for (int i = 0; i < 6; ++i) dsts.push_back("172.16.0." + std::to_string(i + 1));
  for (int i = 0; i < 4; ++i) dsts.push_back("2001:db8:1::" + std::to_string(i + 1));
  const std::vector<std::string> protocols = {"TCP", "UDP", "ICMP", "DNS", "HTTP", "TLS", "SSH"};
  std::uniform_real_distribution<double> u(0, 1);
  // Squared uniforms: a few keys carry most traffic, so minutes overlap in their keys.
  auto pick = [&](const std::vector<std::string>& pool) -> const std::string& {
    const double x = u(rng);
    return pool[static_cast<size_t>(x * x * static_cast<double>(pool.size()))];
  };
  std::vector<Rec> out;
  out.reserve(n);
  while (out.size() < n) {
    const core::TimeMs t =
        kT0 + static_cast<core::TimeMs>(u(rng) * static_cast<double>(kDataEnd - kT0));
    if (t >= kGapFrom && t < kGapTo) continue;
    const double b = u(rng);
    out.push_back({t, pick(srcs), pick(dsts), pick(protocols),
                   static_cast<uint64_t>(40 + b * b * b * 20000),
                   static_cast<int>(rng() % 3 == 0)});
  }
  return out;
}

// The writer's buckets: exact minute sums cut to m keys; hours rolled up from the minutes of
// every finished hour, days from the hours of every finished day. Origin "b" leaves some hours
// and every day unrolled, so covers mix resolutions per origin.
std::vector<HistoryBucket> make_buckets(const std::vector<Rec>& records, size_t m) {
  std::vector<HistoryBucket> all;
  const char* origins[] = {"", "b"};
  for (int o = 0; o < 2; ++o) {
    for (Dimension d : kDimensions) {
      std::map<core::TimeMs, std::map<std::string, std::pair<uint64_t, uint64_t>>> minutes;
      for (const Rec& r : records) {
        if (r.origin != o) continue;
        auto& e = minutes[core::floor_div(r.t, kMinuteMs) * kMinuteMs][key_of(r, d)];
        e.first += r.bytes;
        e.second += 1;
      }
      std::map<core::TimeMs, std::vector<HistoryBucket>> hours;
      for (const auto& [start, keys] : minutes) {
        HistoryBucket b;
        b.resolution = Resolution::kMinute;
        b.start = start;
        b.dimension = d;
        b.origin = origins[o];
        for (const auto& [key, v] : keys) {
          b.entries.push_back({key, v.first, v.second});
          b.total_bytes += v.first;
          b.total_records += v.second;
        }
        cut_to_top(b, m);
        all.push_back(b);
        hours[core::floor_div(start, kHourMs) * kHourMs].push_back(std::move(b));
      }
      const core::TimeMs finished = core::floor_div(kDataEnd, kHourMs) * kHourMs;
      std::map<core::TimeMs, std::vector<HistoryBucket>> days;
      for (const auto& [start, parts] : hours) {
        if (start + kHourMs > finished) continue;
        if (o == 1 && (start / kHourMs) % 7 == 3) continue;
        HistoryBucket h = roll_up(parts, Resolution::kHour, start, m);
        all.push_back(h);
        days[core::floor_div(start, kDayMs) * kDayMs].push_back(std::move(h));
      }
      if (o == 1) continue;
      for (const auto& [start, parts] : days)
        if (start + kDayMs <= finished) all.push_back(roll_up(parts, Resolution::kDay, start, m));
    }
  }
  return all;
}

struct RefSum {
  uint64_t bytes = 0, records = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> keys;
};

RefSum reference(const std::vector<Rec>& records, Dimension d, HistoryRange range,
                 const HistoryFilter* filter = nullptr) {
  RefSum s;
  for (const Rec& r : records) {
    if (r.t < range.from || r.t >= range.to) continue;
    const std::string k = key_of(r, d);
    if (filter && !filter->matches(k)) continue;
    s.bytes += r.bytes;
    s.records += 1;
    auto& e = s.keys[k];
    e.first += r.bytes;
    e.second += 1;
  }
  return s;
}

// The reference's top: bytes desc, key asc.
std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> ref_top(const RefSum& s,
                                                                           size_t limit) {
  std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> v(s.keys.begin(),
                                                                       s.keys.end());
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) {
    return a.second.first != b.second.first ? a.second.first > b.second.first : a.first < b.first;
  });
  if (v.size() > limit) v.resize(limit);
  return v;
}

class HistoryQueryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    records_ = new std::vector<Rec>(make_records(17, 30000));
    dir_ = new TempDir();
    std::string why;
    exact_ = open_store("sqlite:" + dir_->file("exact.db"), &why).release();
    ASSERT_TRUE(exact_) << why;
    exact_->put_history(make_buckets(*records_, 100000));
    cut_ = open_store("sqlite:" + dir_->file("cut.db"), &why).release();
    ASSERT_TRUE(cut_) << why;
    cut_->put_history(make_buckets(*records_, 3));
  }
  static void TearDownTestSuite() {
    delete exact_;
    delete cut_;
    delete dir_;
    delete records_;
  }

  // Ranges of every kind: minute-aligned and hour-aligned, arbitrary milliseconds, across days,
  // ending in the unfinished hour, and longer than 14 days (day alignment).
  static std::vector<HistoryRange> random_ranges(uint64_t seed, size_t n) {
    std::mt19937_64 rng(seed);
    auto below = [&](core::TimeMs x) {
      return static_cast<core::TimeMs>(rng() % static_cast<uint64_t>(x));
    };
    const core::TimeMs span = kDataEnd - kT0;
    std::vector<HistoryRange> out;
    for (size_t i = 0; i < n; ++i) {
      HistoryRange r;
      switch (i % 6) {
        case 0:  // minute-aligned, up to 6 h
          r.from = kT0 - kHourMs + below(span / kMinuteMs) * kMinuteMs;
          r.to = r.from + (1 + below(360)) * kMinuteMs;
          break;
        case 1:  // hour-aligned, 7 h to 3 days
          r.from = kT0 - 2 * kHourMs + below(span / kHourMs) * kHourMs;
          r.to = r.from + (7 + below(66)) * kHourMs;
          break;
        case 2:  // arbitrary
          r.from = kT0 - kHourMs + below(span);
          r.to = r.from + 1 + below(3 * kDayMs);
          break;
        case 3:  // to the end of the data, within the unfinished hour
          r.to = kDataEnd - below(20) * kMinuteMs;
          r.from = r.to - 1 - below(2 * kDayMs + 8 * kHourMs);
          break;
        case 4:  // spanning a whole day or two, from a midnight
          r.from = kT0 + below(2) * kDayMs;
          r.to = r.from + kDayMs + below(2) * kDayMs + below(kHourMs);
          break;
        case 5:  // day alignment
          r.from = kT0 - below(3) * kDayMs - below(kDayMs);
          r.to = r.from + 15 * kDayMs + below(5 * kDayMs);
          break;
      }
      out.push_back(r);
    }
    return out;
  }

  static void check_top(const TopAnswer& a, Dimension d, HistoryRange requested, size_t limit,
                        bool exact, const HistoryFilter* filter = nullptr) {
    SCOPED_TRACE("dimension " + std::string(to_string(d)) + " range " +
                 core::format_iso8601(requested.from) + " - " + core::format_iso8601(requested.to));
    const Resolution res = alignment_for(requested.length());
    ASSERT_EQ(a.info.resolution, res);
    ASSERT_EQ(a.info.range, align_range(requested, res));
    const RefSum ref = reference(*records_, d, a.info.range, filter);
    if (!filter || exact) {
      EXPECT_EQ(a.total_bytes, ref.bytes);
      EXPECT_EQ(a.total_records, ref.records);
    } else {
      EXPECT_LE(a.total_bytes, ref.bytes);  // matching listed keys only
    }
    EXPECT_EQ(a.filtered, filter != nullptr);
    uint64_t sum = 0, sum_records = 0;
    for (size_t i = 0; i < a.rows.size(); ++i) {
      sum += a.rows[i].bytes;
      sum_records += a.rows[i].records;
      if (i) {
        EXPECT_TRUE(a.rows[i - 1].bytes > a.rows[i].bytes ||
                    (a.rows[i - 1].bytes == a.rows[i].bytes && a.rows[i - 1].key < a.rows[i].key));
      }
    }
    EXPECT_EQ(a.other_bytes, a.total_bytes - sum);
    EXPECT_EQ(a.other_records, a.total_records - sum_records);
    if (exact) {
      const auto want = ref_top(ref, limit);
      ASSERT_EQ(a.rows.size(), want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(a.rows[i].key, want[i].first);
        EXPECT_EQ(a.rows[i].bytes, want[i].second.first);
        EXPECT_EQ(a.rows[i].records, want[i].second.second);
        EXPECT_EQ(a.rows[i].error_bytes, 0u);
        EXPECT_DOUBLE_EQ(a.rows[i].share, static_cast<double>(want[i].second.first) /
                                              static_cast<double>(ref.bytes));
      }
      EXPECT_TRUE(a.exact);
      EXPECT_EQ(a.absent_bound, 0u);
      return;
    }
    EXPECT_LE(a.rows.size(), limit);
    std::set<std::string> shown;
    for (const TopRow& r : a.rows) {
      shown.insert(r.key);
      const auto it = ref.keys.find(r.key);
      const uint64_t truth = it == ref.keys.end() ? 0 : it->second.first;
      EXPECT_LE(r.bytes, truth) << r.key;
      EXPECT_LE(truth, r.bytes + r.error_bytes) << r.key;
      EXPECT_LE(r.records, it == ref.keys.end() ? 0 : it->second.second) << r.key;
    }
    const uint64_t bound = std::max(
        a.absent_bound, a.rows.empty() ? 0 : a.rows.back().bytes + a.rows.back().error_bytes);
    for (const auto& [key, v] : ref.keys)
      if (!shown.count(key)) {
        EXPECT_LE(v.first, bound) << key;
      }
  }

  static std::vector<Rec>* records_;
  static TempDir* dir_;
  static Store* exact_;
  static Store* cut_;
};

std::vector<Rec>* HistoryQueryTest::records_ = nullptr;
TempDir* HistoryQueryTest::dir_ = nullptr;
Store* HistoryQueryTest::exact_ = nullptr;
Store* HistoryQueryTest::cut_ = nullptr;

TEST_F(HistoryQueryTest, TopIsExactWhenNothingWasCut) {
  size_t i = 0;
  for (const HistoryRange& r : random_ranges(1, 60)) {
    const Dimension d = kDimensions[i % 4];
    const size_t limit = 1 + (i * 7) % 15;
    ++i;
    check_top(history_top(*exact_, d, r, limit, HistoryFilter()), d, r, limit, true);
  }
}

TEST_F(HistoryQueryTest, TopStaysWithinItsBoundsWhenCut) {
  size_t i = 0;
  for (const HistoryRange& r : random_ranges(2, 90)) {
    const Dimension d = kDimensions[i % 4];
    const size_t limit = 1 + (i * 5) % 12;
    ++i;
    const TopAnswer a = history_top(*cut_, d, r, limit, HistoryFilter());
    check_top(a, d, r, limit, false);
    // A key listed in no bucket of the cover is within absent_bound itself.
    const Cover c = load_cover(*cut_, d, r);
    const Merged m = merge_buckets(c.buckets);
    std::set<std::string> listed;
    for (const MergedKey& k : m.keys) listed.insert(k.key);
    for (const auto& [key, v] : reference(*records_, d, a.info.range).keys) {
      if (!listed.count(key)) {
        EXPECT_LE(v.first, a.absent_bound) << key;
      }
    }
  }
  // A wide range over cut buckets cannot be exact.
  const HistoryRange all{kT0, kDataEnd};
  EXPECT_FALSE(history_top(*cut_, Dimension::kConversation, all, 5, HistoryFilter()).exact);
}

TEST_F(HistoryQueryTest, CoverUsesCoarseBucketsAndNeverCountsTwice) {
  // Two whole days and the unfinished rest: origin "" gives 2 days, then hours, then the
  // unfinished hour's minutes; origin "b" hours and minutes. Totals prove no overlap.
  const HistoryRange r{kT0, kDataEnd};
  const Cover c = load_cover(*exact_, Dimension::kProtocol, r);
  EXPECT_EQ(c.info.resolution, Resolution::kHour);
  size_t days = 0, hours = 0, minutes = 0;
  for (const HistoryBucket& b : c.buckets) {
    days += b.resolution == Resolution::kDay;
    hours += b.resolution == Resolution::kHour;
    minutes += b.resolution == Resolution::kMinute;
  }
  EXPECT_EQ(days, 2u);
  EXPECT_GT(hours, 5u);
  EXPECT_GT(minutes, 37u);  // the unfinished hour (both origins) and origin b's unrolled hours
  EXPECT_EQ(c.info.buckets, c.buckets.size());
  // Every (origin, instant) covered at most once.
  std::map<std::string, std::vector<std::pair<core::TimeMs, core::TimeMs>>> spans;
  for (const HistoryBucket& b : c.buckets)
    spans[b.origin].push_back({b.start, b.start + resolution_ms(b.resolution)});
  for (auto& [origin, v] : spans) {
    std::sort(v.begin(), v.end());
    for (size_t i = 1; i < v.size(); ++i) EXPECT_LE(v[i - 1].second, v[i].first) << origin;
  }
  const TopAnswer a = history_top(*exact_, Dimension::kProtocol, r, 3, HistoryFilter());
  EXPECT_EQ(a.total_bytes, reference(*records_, Dimension::kProtocol, a.info.range).bytes);
}

TEST_F(HistoryQueryTest, PlanCoverPicksTheCoarsestPerOriginAndStep) {
  std::vector<HistoryKey> index;
  for (core::TimeMs m = 0; m < 26 * 60; ++m) {
    index.push_back({Resolution::kMinute, kT0 + m * kMinuteMs, ""});
    index.push_back({Resolution::kMinute, kT0 + m * kMinuteMs, "b"});
  }
  for (core::TimeMs h = 0; h < 25; ++h) index.push_back({Resolution::kHour, kT0 + h * kHourMs, ""});
  index.push_back({Resolution::kHour, kT0 + 2 * kHourMs, "b"});
  index.push_back({Resolution::kDay, kT0, ""});
  const HistoryRange range{kT0, kT0 + 26 * kHourMs};
  auto count = [](const std::vector<HistoryKey>& keys, Resolution r, const std::string& origin) {
    return std::count_if(keys.begin(), keys.end(), [&](const HistoryKey& k) {
      return k.resolution == r && k.origin == origin;
    });
  };
  auto plan = plan_cover(index, range);
  EXPECT_EQ(count(plan, Resolution::kDay, ""), 1);
  EXPECT_EQ(count(plan, Resolution::kHour, ""), 1);     // hour 24; hour 25 unfinished
  EXPECT_EQ(count(plan, Resolution::kMinute, ""), 60);  // hour 25
  EXPECT_EQ(count(plan, Resolution::kHour, "b"), 1);
  EXPECT_EQ(count(plan, Resolution::kMinute, "b"), 26 * 60 - 60);
  // With a 2 h step the day spans many steps: hours instead.
  plan = plan_cover(index, range, 2 * kHourMs);
  EXPECT_EQ(count(plan, Resolution::kDay, ""), 0);
  EXPECT_EQ(count(plan, Resolution::kHour, ""), 25);
  // A range that cuts the day: no day.
  plan = plan_cover(index, HistoryRange{kT0 + kHourMs, kT0 + 26 * kHourMs});
  EXPECT_EQ(count(plan, Resolution::kDay, ""), 0);
  EXPECT_EQ(count(plan, Resolution::kHour, ""), 24);
}

TEST_F(HistoryQueryTest, SeriesAgreesWithTheReferencePerStep) {
  size_t n = 0;
  for (Store* store : {exact_, cut_}) {
    const bool exact = store == exact_;
    std::mt19937_64 rng(5);
    size_t i = 0;
    for (const HistoryRange& r : random_ranges(exact ? 3 : 4, 36)) {
      const Dimension d = kDimensions[i % 4];
      const Resolution res = alignment_for(r.length());
      // Default, a multiple, and one to round up.
      const core::TimeMs step = i % 3 == 0 ? 0
                                : i % 3 == 1
                                    ? resolution_ms(res) * static_cast<core::TimeMs>(1 + rng() % 5)
                                    : resolution_ms(res) + 1;
      ++i;
      const size_t limit = 1 + i % 6;
      const SeriesAnswer a =
          history_series(*store, d, r, step, std::nullopt, limit, HistoryFilter());
      SCOPED_TRACE(std::string(to_string(d)) + " " + core::format_iso8601(r.from) + " - " +
                   core::format_iso8601(r.to) + " step " + std::to_string(step));
      ASSERT_EQ(a.info.range, align_range(r, res));
      EXPECT_EQ(a.step_ms % resolution_ms(res), 0);
      if (step == 0) {
        EXPECT_LE(a.times.size(), kSeriesPoints);
      } else {
        EXPECT_GE(a.step_ms, step);
      }
      const size_t points =
          static_cast<size_t>((a.info.range.length() + a.step_ms - 1) / a.step_ms);
      ASSERT_EQ(a.times.size(), points);
      // The keys are /api/top's.
      const TopAnswer top = history_top(*store, d, r, limit, HistoryFilter());
      ASSERT_EQ(a.series.size(), top.rows.size() + 1);
      for (size_t k = 0; k < top.rows.size(); ++k) EXPECT_EQ(a.series[k].key, top.rows[k].key);
      EXPECT_EQ(a.series.back().key, "other");
      std::set<size_t> missing(a.missing.begin(), a.missing.end());
      for (size_t p = 0; p < points; ++p) {
        const HistoryRange step_range{a.times[p],
                                      std::min(a.times[p] + a.step_ms, a.info.range.to)};
        const RefSum ref = reference(*records_, d, step_range);
        ASSERT_EQ(a.total_bytes[p], ref.bytes) << "step " << p;
        EXPECT_EQ(missing.count(p) == 1, ref.records == 0) << "step " << p;
        uint64_t sum = 0;
        for (size_t k = 0; k + 1 < a.series.size(); ++k) {
          const SeriesLine& line = a.series[k];
          const auto it = ref.keys.find(line.key);
          const uint64_t truth = it == ref.keys.end() ? 0 : it->second.first;
          sum += line.bytes[p];
          if (exact) {
            EXPECT_EQ(line.bytes[p], truth);
            EXPECT_EQ(line.error_bytes[p], 0u);
          } else {
            EXPECT_LE(line.bytes[p], truth);
            EXPECT_LE(truth, line.bytes[p] + line.error_bytes[p]);
          }
        }
        EXPECT_EQ(a.series.back().bytes[p], a.total_bytes[p] - sum);
        ++n;
      }
    }
  }
  EXPECT_GT(n, 1000u);
}

TEST_F(HistoryQueryTest, SeriesOfOneKey) {
  const HistoryRange r{kT0 + 20 * kHourMs, kT0 + 40 * kHourMs};
  const SeriesAnswer a = history_series(*exact_, Dimension::kSrc, r, kHourMs,
                                        std::string_view("10.0.0.0"), 5, HistoryFilter());
  ASSERT_EQ(a.series.size(), 1u);
  EXPECT_EQ(a.series[0].key, "10.0.0.0");
  ASSERT_EQ(a.times.size(), 20u);
  EXPECT_EQ(a.missing, (std::vector<size_t>{10, 11}));  // the gap
  for (size_t p = 0; p < a.times.size(); ++p) {
    const RefSum ref = reference(*records_, Dimension::kSrc, {a.times[p], a.times[p] + kHourMs});
    const auto it = ref.keys.find("10.0.0.0");
    EXPECT_EQ(a.series[0].bytes[p], it == ref.keys.end() ? 0 : it->second.first);
    EXPECT_EQ(a.series[0].records[p], it == ref.keys.end() ? 0 : it->second.second);
  }
}

TEST_F(HistoryQueryTest, FiltersApplyBeforeRanking) {
  std::string why;
  struct Case {
    Dimension d;
    const char* filter;
  };
  const Case cases[] = {
      {Dimension::kSrc, "src=10.0.0.0/16"},
      {Dimension::kSrc, "src=2001:db8::/32"},
      {Dimension::kSrc, "src=10.0.1.0/24,src=192.168.1.3"},
      {Dimension::kDst, "dst=172.16.0.0/12"},
      {Dimension::kProtocol, "protocol=udp,protocol=DNS"},
      {Dimension::kConversation, "protocol=tcp,dst=192.168.1.0/24"},
      {Dimension::kConversation, "src=10.0.0.0/8, protocol=Http"},
      {Dimension::kConversation, "key=10.0.0.0 192.168.1.1 TCP"},
      {Dimension::kDst, "key=192.168.1.2"},
  };
  size_t i = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.filter);
    const auto f = HistoryFilter::parse(c.filter, c.d, &why);
    ASSERT_TRUE(f) << why;
    for (const HistoryRange& r : random_ranges(10 + i++, 12)) {
      check_top(history_top(*exact_, c.d, r, 8, *f), c.d, r, 8, true, &*f);
      check_top(history_top(*cut_, c.d, r, 8, *f), c.d, r, 8, false, &*f);
    }
    // Some rows exist over the whole data.
    const TopAnswer all = history_top(*exact_, c.d, {kT0, kDataEnd}, 8, *f);
    EXPECT_FALSE(all.rows.empty());
    for (const TopRow& row : all.rows) EXPECT_TRUE(f->matches(row.key)) << row.key;
  }
}

TEST_F(HistoryQueryTest, FilterMatching) {
  std::string why;
  auto f = HistoryFilter::parse("src=10.0.0.0/8,dst=2001:db8::/32,protocol=tcp",
                                Dimension::kConversation, &why);
  ASSERT_TRUE(f) << why;
  EXPECT_TRUE(f->matches("10.1.2.3 2001:db8::1 TCP"));
  EXPECT_FALSE(f->matches("10.1.2.3 2001:db9::1 TCP"));
  EXPECT_FALSE(f->matches("11.1.2.3 2001:db8::1 TCP"));
  EXPECT_FALSE(f->matches("10.1.2.3 2001:db8::1 UDP"));
  EXPECT_FALSE(f->matches("not a conversation"));
  f = HistoryFilter::parse("src=10.0.0.7", Dimension::kSrc, &why);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->matches("10.0.0.7"));
  EXPECT_FALSE(f->matches("10.0.0.8"));
  EXPECT_FALSE(f->matches("::ffff:10.0.0.7"));  // another family
  f = HistoryFilter::parse("src=0.0.0.0/0", Dimension::kSrc, &why);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->matches("1.2.3.4"));
  EXPECT_FALSE(f->matches("::1"));
  f = HistoryFilter::parse("src=2001:db8:abcd::/48", Dimension::kSrc, &why);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->matches("2001:db8:abcd:1::5"));
  EXPECT_FALSE(f->matches("2001:db8:abce::5"));
  f = HistoryFilter::parse("src=::/0", Dimension::kSrc, &why);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->matches("2001:db8::1"));
  f = HistoryFilter::parse("", Dimension::kSrc, &why);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->empty());

  struct Bad {
    Dimension d;
    const char* text;
    const char* says;
  };
  const Bad bad[] = {
      {Dimension::kSrc, "dst=10.0.0.1", "does not apply to dimension src"},
      {Dimension::kProtocol, "src=10.0.0.1", "does not apply"},
      {Dimension::kSrc, "protocol=tcp", "does not apply"},
      {Dimension::kSrc, "port=80", "unknown filter field 'port'"},
      {Dimension::kSrc, "src", "not field=value"},
      {Dimension::kSrc, "src=", "has no value"},
      {Dimension::kSrc, "src=10.0.0.0/33", "not an address or CIDR"},
      {Dimension::kSrc, "src=10.0.0/8", "not an address or CIDR"},
      {Dimension::kDst, "dst=2001:db8::/129", "not an address or CIDR"},
  };
  for (const Bad& b : bad) {
    why.clear();
    EXPECT_FALSE(HistoryFilter::parse(b.text, b.d, &why)) << b.text;
    EXPECT_NE(why.find(b.says), std::string::npos) << b.text << ": " << why;
    EXPECT_EQ(why.find('\n'), std::string::npos);
  }
}

TEST_F(HistoryQueryTest, SankeyLinksSumToTheConversationRows) {
  for (Store* store : {exact_, cut_}) {
    for (const HistoryRange& r : random_ranges(20, 12)) {
      const SankeyAnswer s = history_sankey(*store, r, 15, HistoryFilter());
      const TopAnswer top = history_top(*store, Dimension::kConversation, r, 15, HistoryFilter());
      ASSERT_EQ(s.top.rows.size(), top.rows.size());
      uint64_t rows = 0;
      for (size_t i = 0; i < top.rows.size(); ++i) {
        EXPECT_EQ(s.top.rows[i].key, top.rows[i].key);
        rows += top.rows[i].bytes;
      }
      uint64_t first = 0, second = 0;
      std::set<std::string> nodes(s.nodes.begin(), s.nodes.end());
      EXPECT_EQ(nodes.size(), s.nodes.size());
      for (const SankeyLink& l : s.links) {
        EXPECT_TRUE(nodes.count(l.source) && nodes.count(l.target)) << l.source << " " << l.target;
        if (l.source.rfind("src ", 0) == 0) {
          EXPECT_EQ(l.target.rfind("proto ", 0), 0u);
          first += l.value;
        } else {
          EXPECT_EQ(l.source.rfind("proto ", 0), 0u);
          EXPECT_EQ(l.target.rfind("dst ", 0), 0u);
          second += l.value;
        }
      }
      EXPECT_EQ(first, rows);
      EXPECT_EQ(second, rows);
      EXPECT_EQ(s.top.other_bytes, s.top.total_bytes - rows);
    }
  }
  // One link per (src, protocol): the values of rows sharing both add up.
  TopAnswer t;
  t.rows = {{"10.0.0.1 10.0.0.2 TCP", 5, 1, 0, 0},
            {"10.0.0.1 10.0.0.3 TCP", 7, 1, 0, 0},
            {"10.0.0.2 10.0.0.1 UDP", 1, 1, 0, 0}};
  const SankeyAnswer s = sankey_of(t);
  EXPECT_EQ(s.nodes,
            (std::vector<std::string>{"src 10.0.0.1", "src 10.0.0.2", "proto TCP", "proto UDP",
                                      "dst 10.0.0.2", "dst 10.0.0.3", "dst 10.0.0.1"}));
  ASSERT_EQ(s.links.size(), 5u);
  EXPECT_EQ(s.links[0].source, "src 10.0.0.1");
  EXPECT_EQ(s.links[0].target, "proto TCP");
  EXPECT_EQ(s.links[0].value, 12u);
}

TEST(HistoryTime, ParsesEveryForm) {
  const core::TimeMs now = kT0 + 12 * kHourMs + 34 * kMinuteMs + 56789;
  const core::TimeMs t = kT0 + 20 * kHourMs + 41 * kMinuteMs + 30 * 1000;  // 2020-05-09T20:41:30Z
  std::string why;
  auto parse = [&](std::string_view text) { return parse_history_time(text, now, &why); };
  EXPECT_EQ(parse("2020-05-09T20:41:30Z"), t);
  EXPECT_EQ(parse("2020-05-09T20:41:30.000Z"), t);
  EXPECT_EQ(parse("2020-05-09T20:41:30.5Z"), t + 500);
  EXPECT_EQ(parse("2020-05-09T20:41:30.123456789Z"), t + 123);
  EXPECT_EQ(parse("2020-05-09 20:41:30"), t);
  EXPECT_EQ(parse("2020-05-09t20:41:30z"), t);
  EXPECT_EQ(parse("2020-05-09T20:41"), t - 30000);
  EXPECT_EQ(parse("2020-05-09"), kT0);
  EXPECT_EQ(parse("2020-05-09T22:41:30+02:00"), t);
  EXPECT_EQ(parse("2020-05-09T22:41:30+0200"), t);
  EXPECT_EQ(parse("2020-05-09T22:41:30 02:00"), t);  // '+' decoded as a space
  EXPECT_EQ(parse("2020-05-09T19:11:30-01:30"), t);
  EXPECT_EQ(parse("2020-05-09T22:41:30.000+02"), t);
  EXPECT_EQ(parse("1589056890000"), t);
  EXPECT_EQ(parse("0"), 0);
  EXPECT_EQ(parse("now"), now);
  EXPECT_EQ(parse("NOW"), now);
  EXPECT_EQ(parse("-90s"), now - 90000);
  EXPECT_EQ(parse("-5m"), now - 5 * kMinuteMs);
  EXPECT_EQ(parse("-1h"), now - kHourMs);
  EXPECT_EQ(parse("-7d"), now - 7 * kDayMs);
  EXPECT_EQ(parse("-2w"), now - 14 * kDayMs);
  EXPECT_EQ(parse("2020-02-29T00:00:00Z"), core::days_from_civil(2020, 2, 29) * kDayMs);

  for (const char* bad : {"",
                          "yesterday",
                          "2020-13-01T00:00:00Z",
                          "2020-02-30T00:00:00Z",
                          "2019-02-29",
                          "2020-05-09T24:00:00Z",
                          "2020-05-09T20:60:00Z",
                          "2020-05-09T20:41:61Z",
                          "2020-05-09T20:41:30+25:00",
                          "2020-05-09T20:41:30ZZ",
                          "2020-05-09X20:41:30",
                          "2020-5-9",
                          "2020-05-09T20:41:30.Z",
                          "-5",
                          "-5y",
                          "--5m",
                          "-m",
                          "5m",
                          "12a",
                          "99999999999999999999999",
                          "2020-05-09T20:41:30.1234567890Z"}) {
    why.clear();
    EXPECT_FALSE(parse(bad)) << bad;
    EXPECT_NE(why.find("is not a time"), std::string::npos) << bad << ": " << why;
    EXPECT_EQ(why.find('\n'), std::string::npos);
  }
}

TEST(HistoryTime, RangesAndDefaults) {
  const core::TimeMs now = kT0 + 12 * kHourMs;
  std::string why;
  auto r = parse_history_range(std::nullopt, std::nullopt, now, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(*r, (HistoryRange{now - kHourMs, now}));
  r = parse_history_range("-1d", std::nullopt, now, &why);
  EXPECT_EQ(*r, (HistoryRange{now - kDayMs, now}));
  r = parse_history_range(std::nullopt, "-2h", now, &why);
  EXPECT_EQ(*r, (HistoryRange{now - 3 * kHourMs, now - 2 * kHourMs}));
  r = parse_history_range("-400d", "now", now, &why);
  EXPECT_TRUE(r) << why;

  EXPECT_FALSE(parse_history_range("-401d", "now", now, &why));
  EXPECT_NE(why.find("longer than 400 days"), std::string::npos) << why;
  EXPECT_FALSE(parse_history_range("now", "-1h", now, &why));
  EXPECT_NE(why.find("must be before to"), std::string::npos) << why;
  EXPECT_FALSE(parse_history_range("now", "now", now, &why));
  EXPECT_FALSE(parse_history_range("x", "now", now, &why));
  EXPECT_EQ(why.rfind("from: 'x' is not a time", 0), 0u) << why;
  EXPECT_FALSE(parse_history_range("-1h", "y", now, &why));
  EXPECT_EQ(why.rfind("to: 'y' is not a time", 0), 0u) << why;

  EXPECT_EQ(alignment_for(6 * kHourMs), Resolution::kMinute);
  EXPECT_EQ(alignment_for(6 * kHourMs + 1), Resolution::kHour);
  EXPECT_EQ(alignment_for(14 * kDayMs), Resolution::kHour);
  EXPECT_EQ(alignment_for(14 * kDayMs + 1), Resolution::kDay);
  EXPECT_EQ(align_range({kT0 + 90 * kMinuteMs + 1, kT0 + 150 * kMinuteMs + 1}, Resolution::kHour),
            (HistoryRange{kT0 + kHourMs, kT0 + 3 * kHourMs}));
  EXPECT_EQ(align_range({kT0 + 1, kT0 + 60001}, Resolution::kMinute),
            (HistoryRange{kT0, kT0 + 120000}));
  EXPECT_EQ(align_range({kT0, kT0 + kMinuteMs}, Resolution::kMinute),
            (HistoryRange{kT0, kT0 + kMinuteMs}));

  EXPECT_EQ(parse_history_duration("60", &why), 60000);
  EXPECT_EQ(parse_history_duration("5m", &why), 5 * kMinuteMs);
  EXPECT_EQ(parse_history_duration("1h", &why), kHourMs);
  EXPECT_EQ(parse_history_duration("1w", &why), 7 * kDayMs);
  EXPECT_FALSE(parse_history_duration("0", &why));
  EXPECT_FALSE(parse_history_duration("-5m", &why));
  EXPECT_FALSE(parse_history_duration("5x", &why));
  EXPECT_NE(why.find("is not a duration"), std::string::npos);

  EXPECT_EQ(series_step({0, 6 * kHourMs}, Resolution::kMinute, 0), 2 * kMinuteMs);  // 180 points
  EXPECT_EQ(series_step({0, 5 * kHourMs}, Resolution::kMinute, 0), kMinuteMs);      // 300 points
  EXPECT_EQ(series_step({0, 7 * kDayMs}, Resolution::kHour, 0), kHourMs);
  EXPECT_EQ(series_step({0, 14 * kDayMs}, Resolution::kHour, 0), 2 * kHourMs);
  EXPECT_EQ(series_step({0, 7 * kDayMs}, Resolution::kHour, 90 * kMinuteMs), 2 * kHourMs);
  EXPECT_EQ(series_step({0, kHourMs}, Resolution::kMinute, 1000), kMinuteMs);
}

TEST(HistoryTime, NowFollowsAnOldStore) {
  const core::TimeMs wall = kT0 + 100 * kDayMs;
  EXPECT_EQ(history_now(wall, std::nullopt), wall);
  EXPECT_EQ(history_now(wall, wall - kHourMs), wall);
  EXPECT_EQ(history_now(wall, wall - kDayMs), wall);  // ends a minute after wall - 1 day
  EXPECT_EQ(history_now(wall, wall - kDayMs - kMinuteMs), wall);
  EXPECT_EQ(history_now(wall, wall - kDayMs - 2 * kMinuteMs), wall - kDayMs - kMinuteMs);
  EXPECT_EQ(history_now(wall, kT0), kT0 + kMinuteMs);
}

TEST_F(HistoryQueryTest, NowFromTheStore) {
  // The data ended long ago: "now" is the end of its newest minute.
  const core::TimeMs newest = core::floor_div(kDataEnd - 1, kMinuteMs) * kMinuteMs;
  EXPECT_EQ(history_now(*exact_, kDataEnd + 30 * kDayMs), newest + kMinuteMs);
  // Recent data: the wall clock.
  EXPECT_EQ(history_now(*exact_, kDataEnd + kHourMs), kDataEnd + kHourMs);
}

TEST_F(HistoryQueryTest, PostgresGivesTheSameAnswers) {
  // The same buckets in PostgreSQL (the test's own server): top and series over random ranges
  // equal SQLite's, field by field.
  const std::string uri = testing::fresh_pg_uri();
  ASSERT_FALSE(uri.empty());
  ASSERT_EQ(testing::pg_exec(uri, "DROP TABLE IF EXISTS history"), "");
  std::string why;
  auto pg = open_store(uri, &why);
  ASSERT_TRUE(pg) << why;
  pg->put_history(make_buckets(*records_, 3));
  size_t i = 0;
  for (const HistoryRange& r : random_ranges(30, 24)) {
    const Dimension d = kDimensions[i++ % 4];
    const TopAnswer a = history_top(*pg, d, r, 6, HistoryFilter());
    const TopAnswer b = history_top(*cut_, d, r, 6, HistoryFilter());
    EXPECT_EQ(a.info.buckets, b.info.buckets);
    EXPECT_EQ(a.total_bytes, b.total_bytes);
    EXPECT_EQ(a.absent_bound, b.absent_bound);
    ASSERT_EQ(a.rows.size(), b.rows.size());
    for (size_t k = 0; k < a.rows.size(); ++k) {
      EXPECT_EQ(a.rows[k].key, b.rows[k].key);
      EXPECT_EQ(a.rows[k].bytes, b.rows[k].bytes);
      EXPECT_EQ(a.rows[k].error_bytes, b.rows[k].error_bytes);
    }
    const SeriesAnswer s = history_series(*pg, d, r, 0, std::nullopt, 3, HistoryFilter());
    const SeriesAnswer t = history_series(*cut_, d, r, 0, std::nullopt, 3, HistoryFilter());
    EXPECT_EQ(s.total_bytes, t.total_bytes);
    EXPECT_EQ(s.missing, t.missing);
    ASSERT_EQ(s.series.size(), t.series.size());
    for (size_t k = 0; k < s.series.size(); ++k) EXPECT_EQ(s.series[k].bytes, t.series[k].bytes);
  }
  EXPECT_EQ(history_now(*pg, kDataEnd + 30 * kDayMs), history_now(*cut_, kDataEnd + 30 * kDayMs));
  pg.reset();
  EXPECT_EQ(testing::pg_exec(uri, "DROP TABLE IF EXISTS history"), "");  // leave no rows behind
}

}  // namespace
}  // namespace netpulse::store
