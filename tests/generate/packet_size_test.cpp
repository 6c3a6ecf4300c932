#include "generate/packet_size.hpp"

#include <gtest/gtest.h>

namespace netpulse::generate {
namespace {

TEST(PacketSizeMix, BulkIsTrimodal) {
  PacketSizeMix mix(PacketSizeMix::Profile::kBulk);
  SplitMix64 rng(1);
  const int n = 256'000;
  int control = 0, around576 = 0, full = 0;
  for (int i = 0; i < n; ++i) {
    const uint32_t b = mix.draw(high32(rng.next()));
    ASSERT_GE(b, 40u);
    ASSERT_LE(b, 1500u);
    control += b <= 66;
    around576 += b >= 512 && b <= 600;
    full += b >= 1400;
  }
  EXPECT_NEAR(control / double(n), 102 / 256.0, 0.01);
  EXPECT_NEAR(around576 / double(n), 31 / 256.0, 0.01);
  EXPECT_NEAR(full / double(n), 77 / 256.0, 0.01);
  EXPECT_GT(mix.mean(), 550);
  EXPECT_LT(mix.mean(), 700);
}

TEST(PacketSizeMix, SmallPacketProtocolsStayMostlySmall) {
  PacketSizeMix mix(PacketSizeMix::Profile::kSmall);
  SplitMix64 rng(2);
  int over600 = 0, under200 = 0;
  for (int i = 0; i < 100'000; ++i) {
    const uint32_t b = mix.draw(high32(rng.next()));
    ASSERT_GE(b, 40u);
    over600 += b > 600;
    under200 += b <= 200;
  }
  EXPECT_EQ(over600, 0);
  EXPECT_NEAR(under200 / 100'000.0, 0.75, 0.01);
}

}  // namespace
}  // namespace netpulse::generate
