#include "generate/key_sampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace netpulse::generate {
namespace {

std::vector<uint64_t> histogram(const KeySampler& s, size_t draws, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<uint64_t> h(s.size());
  for (size_t i = 0; i < draws; ++i) ++h[s.draw(rng.next())];
  return h;
}

TEST(KeySampler, FirstPercentGivesTheFirstKeyThatShareAndSpreadsTheRestEvenly) {
  KeySampler s(15, Skew::first_percent(40));
  const auto h = histogram(s, 200'000, 7);
  EXPECT_NEAR(h[0] / 200'000.0, 0.40, 0.01);
  // The other 14 share 60%: about 4.29% each.
  for (size_t i = 1; i < h.size(); ++i) EXPECT_NEAR(h[i] / 200'000.0, 0.60 / 14, 0.004) << i;
}

TEST(KeySampler, ZeroAndHundredPercentAreExact) {
  const auto none = histogram(KeySampler(5, Skew::first_percent(0)), 50'000, 1);
  EXPECT_EQ(none[0], 0u);
  const auto all = histogram(KeySampler(5, Skew::first_percent(100)), 50'000, 1);
  EXPECT_EQ(all[0], 50'000u);
}

TEST(KeySampler, UniformCoversEveryKeyEvenly) {
  const auto h = histogram(KeySampler(19, Skew::uniform()), 190'000, 3);
  for (uint64_t c : h) EXPECT_NEAR(c / 190'000.0, 1.0 / 19, 0.003);
}

TEST(KeySampler, OneKeyIsEveryDraw) {
  for (Skew skew : {Skew::uniform(), Skew::first_percent(30), Skew::zipf(1)}) {
    const auto h = histogram(KeySampler(1, skew), 1000, 5);
    EXPECT_EQ(h[0], 1000u);
  }
}

class ZipfShape : public ::testing::TestWithParam<double> {};

TEST_P(ZipfShape, RankOneOverRankTwoIsTwoToTheExponent) {
  const double s = GetParam();
  KeySampler sampler(1000, Skew::zipf(s));
  const auto h = histogram(sampler, 1'000'000, 11);
  const double ratio12 = static_cast<double>(h[0]) / static_cast<double>(h[1]);
  EXPECT_NEAR(ratio12, std::pow(2.0, s), 0.05 * std::pow(2.0, s));
  const double ratio13 = static_cast<double>(h[0]) / static_cast<double>(h[2]);
  EXPECT_NEAR(ratio13, std::pow(3.0, s), 0.07 * std::pow(3.0, s));
  // And the head's share matches the law: P(rank 1) = 1 / H(n, s).
  EXPECT_NEAR(h[0] / 1e6, sampler.probability(0), 0.01);
}

INSTANTIATE_TEST_SUITE_P(Exponents, ZipfShape, ::testing::Values(0.8, 1.0, 1.5));

TEST(KeySampler, ZipfProbabilitiesSumToOneAndDecrease) {
  KeySampler s(500, Skew::zipf(1.2));
  double sum = 0;
  for (uint32_t i = 0; i < 500; ++i) {
    sum += s.probability(i);
    if (i > 0) {
      EXPECT_LT(s.probability(i), s.probability(i - 1));
    }
  }
  EXPECT_NEAR(sum, 1.0, 1e-9);
}

TEST(KeySampler, ZipfOverAMillionKeysReachesTheTail) {
  KeySampler s(1'000'000, Skew::zipf(1.0));
  SplitMix64 rng(3);
  uint32_t max_key = 0;
  for (int i = 0; i < 200'000; ++i) max_key = std::max(max_key, s.draw(rng.next()));
  EXPECT_GT(max_key, 500'000u);
  EXPECT_LT(max_key, 1'000'000u);
}

TEST(Skew, ValidationAndText) {
  EXPECT_FALSE(validate(Skew::first_percent(0)));
  EXPECT_FALSE(validate(Skew::first_percent(100)));
  EXPECT_TRUE(validate(Skew::first_percent(100.5)));
  EXPECT_TRUE(validate(Skew::first_percent(-1)));
  EXPECT_TRUE(validate(Skew::first_percent(std::nan(""))));
  EXPECT_TRUE(validate(Skew::zipf(-0.5)));
  EXPECT_EQ(to_string(Skew::first_percent(40)), "40%");
  EXPECT_EQ(to_string(Skew::zipf(1.5)), "zipf 1.5");
  EXPECT_EQ(to_string(Skew::uniform()), "uniform");
}

}  // namespace
}  // namespace netpulse::generate
