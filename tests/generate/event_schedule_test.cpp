#include "generate/event_schedule.hpp"

#include <gtest/gtest.h>

#include <utility>

namespace netpulse::generate {
namespace {

class StepperExactness : public ::testing::TestWithParam<uint64_t> {};

TEST_P(StepperExactness, RecordIHasStartPlusFloorOfIThousandOverR) {
  const uint64_t rate = GetParam();
  EventTimeStepper s;
  const core::TimeMs start = 1'589'000'000'000;
  s.reset(start, rate);
  for (uint64_t i = 0; i < 300'000; ++i) {
    ASSERT_EQ(s.next_time(), start + static_cast<core::TimeMs>(i * 1000 / rate)) << "i=" << i;
    s.step();
  }
}

INSTANTIATE_TEST_SUITE_P(Rates, StepperExactness,
                         ::testing::Values(1, 3, 7, 999, 1000, 1001, 5000, 200'000, 999'999,
                                           1'000'000, 7'000'003));

TEST(EventTimeStepper, RateZeroStandsStill) {
  EventTimeStepper s;
  s.reset(500, 0);
  for (int i = 0; i < 10; ++i) s.step();
  EXPECT_EQ(s.next_time(), 500);
  s.set_next_time(900);
  EXPECT_EQ(s.next_time(), 900);
}

// Two streams merged by no_later_than come out in the order of their exact times
// (start + i * 1000 / rate as a fraction), ties to the first.
TEST(EventTimeStepper, NoLaterThanComparesExactTimes) {
  const std::pair<uint64_t, uint64_t> rates[] = {{3, 7}, {1000, 1'000'000}, {7'000'003, 999}};
  for (const auto& [ra, rb] : rates) {
    EventTimeStepper a, b;
    a.reset(100, ra);
    b.reset(100, rb);
    uint64_t i = 0, j = 0;  // records taken from a and b
    for (int n = 0; n < 100'000; ++n) {
      // a's next is i/ra s after the start, b's j/rb s: compare i*rb with j*ra.
      const bool expect_a =
          static_cast<unsigned __int128>(i) * rb <= static_cast<unsigned __int128>(j) * ra;
      ASSERT_EQ(a.no_later_than(b), expect_a) << ra << " " << rb << " i=" << i << " j=" << j;
      if (expect_a) {
        a.step();
        ++i;
      } else {
        b.step();
        ++j;
      }
    }
  }
  EventTimeStepper still, moving;
  still.reset(5, 0);
  moving.reset(5, 1000);
  EXPECT_TRUE(still.no_later_than(moving));
  EXPECT_TRUE(moving.no_later_than(still));  // a tie: the first goes first
  moving.step();
  EXPECT_FALSE(moving.no_later_than(still));
}

TEST(Pacer, DueCountsFollowTheRate) {
  Pacer p;
  p.anchor(100, 1'000'000'000, 1000);  // record 100 due at t = 1 s, then 1000/s
  EXPECT_EQ(p.due(0), 100u);
  EXPECT_EQ(p.due(1'000'000'000), 100u);
  EXPECT_EQ(p.due(1'000'999'999), 100u);
  EXPECT_EQ(p.due(1'001'000'000), 101u);
  EXPECT_EQ(p.due(2'000'000'000), 1100u);
  EXPECT_EQ(p.time_of(101), 1'001'000'000);
  EXPECT_EQ(p.time_of(1100), 2'000'000'000);
}

TEST(Pacer, TimeOfIsTheFirstInstantWithThatManyDue) {
  Pacer p;
  p.anchor(0, 0, 3);  // 3 per second: not a whole number of ns apart
  for (uint64_t n = 1; n < 20; ++n) {
    const int64_t t = p.time_of(n);
    EXPECT_EQ(p.due(t), n);
    EXPECT_LT(p.due(t - 1), n);
  }
}

TEST(Pacer, HugeElapsedTimesDoNotOverflow) {
  Pacer p;
  p.anchor(0, 0, 1'000'000'000);
  const int64_t ten_years = 10LL * 365 * 86'400 * 1'000'000'000;
  EXPECT_EQ(p.due(ten_years), static_cast<uint64_t>(ten_years));
}

}  // namespace
}  // namespace netpulse::generate
