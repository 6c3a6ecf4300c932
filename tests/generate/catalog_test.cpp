#include "generate/catalog.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <unordered_set>

#include "core/ip_addr.hpp"
#include "core/protocol_table.hpp"

namespace netpulse::generate {
namespace {

TEST(Catalog, NineteenProtocolsStartingWithTheSpecsOnes) {
  const auto& names = protocol_names();
  ASSERT_EQ(names.size(), 19u);
  const std::vector<std::string_view> spec = {"HTTP", "HTTPS", "DNS", "DHCP", "SOAP",
                                              "UPnP", "SSH",   "FTP", "SMTP"};
  for (size_t i = 0; i < spec.size(); ++i) EXPECT_EQ(names[i], spec[i]);
  std::unordered_set<std::string_view> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
  for (std::string_view n : names) {
    EXPECT_GE(n.size(), 1u);
    EXPECT_LE(n.size(), core::kMaxProtocolLength);
    for (char c : n)
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')
          << n;
  }
}

TEST(Catalog, ScenarioProtocolIndexesNameTheRightProtocols) {
  EXPECT_EQ(protocol_names()[kProtocolHttp], "HTTP");
  EXPECT_EQ(protocol_names()[kProtocolHttps], "HTTPS");
  EXPECT_EQ(protocol_names()[kProtocolDns], "DNS");
  EXPECT_EQ(protocol_names()[kProtocolSsh], "SSH");
  EXPECT_EQ(protocol_index("SSH"), static_cast<int>(kProtocolSsh));
  EXPECT_EQ(protocol_index("nope"), -1);
}

TEST(Catalog, FifteenBuiltinAddressesComeFirst) {
  AddressList list(15);
  ASSERT_EQ(list.size(), 15u);
  EXPECT_EQ(core::to_string(core::IpAddr::v4(list[0])), "222.186.237.75");
  EXPECT_EQ(core::to_string(core::IpAddr::v4(list[1])), "53.215.218.189");
  std::unordered_set<uint32_t> unique(list.data(), list.data() + list.size());
  EXPECT_EQ(unique.size(), 15u);
}

TEST(Catalog, MadeUpAddressesAreDistinctPublicAndAPrefixOfLongerLists) {
  AddressList shorter(1000);
  AddressList longer(200'000);
  for (size_t i = 0; i < shorter.size(); ++i) ASSERT_EQ(shorter[i], longer[i]) << i;
  std::vector<uint32_t> sorted(longer.data(), longer.data() + longer.size());
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end()) << "duplicate address";
  for (size_t i = kBuiltinAddresses; i < longer.size(); ++i)
    ASSERT_TRUE(is_made_up_candidate(longer[i])) << core::to_string(core::IpAddr::v4(longer[i]));
}

TEST(Catalog, MadeUpAddressesAvoidReservedAndScenarioRanges) {
  EXPECT_FALSE(is_made_up_candidate(ipv4(10, 1, 2, 3)));
  EXPECT_FALSE(is_made_up_candidate(ipv4(127, 0, 0, 1)));
  EXPECT_FALSE(is_made_up_candidate(ipv4(192, 168, 1, 7)));
  EXPECT_FALSE(is_made_up_candidate(ipv4(172, 20, 1, 7)));
  EXPECT_FALSE(is_made_up_candidate(ipv4(224, 0, 0, 5)));
  EXPECT_FALSE(is_made_up_candidate(ipv4(203, 0, 113, 80)));   // dos victim
  EXPECT_FALSE(is_made_up_candidate(ipv4(198, 51, 100, 23)));  // scanner
  EXPECT_FALSE(is_made_up_candidate(ipv4(100, 70, 1, 1)));     // dos sources
  EXPECT_FALSE(is_made_up_candidate(ipv4(8, 8, 8, 0)));
  EXPECT_TRUE(is_made_up_candidate(ipv4(172, 217, 16, 142)));
  EXPECT_TRUE(is_made_up_candidate(ipv4(8, 8, 4, 4)));
}

TEST(Catalog, TenMillionAddressesAreAvailable) {
  AddressList list(kMaxAddresses);
  EXPECT_EQ(list.size(), kMaxAddresses);
  EXPECT_TRUE(is_made_up_candidate(list[kMaxAddresses - 1]));
}

TEST(Catalog, NoIpv6ByDefaultAndTheSameListAtZeroPercent) {
  AddressList plain(5000);
  AddressList zero(5000, 0);
  EXPECT_EQ(plain.ipv6_count(), 0u);
  EXPECT_EQ(zero.ipv6_count(), 0u);
  for (size_t i = 0; i < plain.size(); ++i) {
    ASSERT_EQ(plain[i], zero[i]) << i;
    ASSERT_FALSE(plain.is_v6(i));
  }
}

// The data shape: ~3% IPv6, spread over the list, canonical, distinct, global unicast.
TEST(Catalog, Ipv6PercentMakesThatShareOfMadeUpAddressesIpv6) {
  constexpr size_t kN = 200'000;
  AddressList list(kN, 3);
  AddressList v4(kN);
  EXPECT_NEAR(static_cast<double>(list.ipv6_count()) / (kN - kBuiltinAddresses), 0.03, 0.002);
  for (size_t i = 0; i < kBuiltinAddresses; ++i) ASSERT_FALSE(list.is_v6(i)) << i;
  // Spread: every tenth of the list, and the first ranks, hold some.
  for (size_t part = 0; part < 10; ++part) {
    size_t v6 = 0;
    for (size_t i = part * kN / 10; i < (part + 1) * kN / 10; ++i) v6 += list.is_v6(i);
    EXPECT_NEAR(static_cast<double>(v6) / (kN / 10), 0.03, 0.005) << "part " << part;
  }
  size_t first_ranks = 0;
  for (size_t i = 0; i < 300; ++i) first_ranks += list.is_v6(i);
  EXPECT_GE(first_ranks, 2u);
  EXPECT_LE(first_ranks, 20u);

  std::unordered_set<std::string> texts;
  for (size_t i = 0; i < kN; ++i) {
    EXPECT_EQ(list.is_v6(i), is_ipv6_index(i, 3)) << i;
    if (!list.is_v6(i)) {
      // Every other index keeps the address it has without IPv6.
      ASSERT_EQ(list[i], v4[i]) << i;
      continue;
    }
    const std::string text = list.text(i);
    const auto parsed = core::parse_ip(text);
    ASSERT_TRUE(parsed && parsed->is_v6) << text;
    ASSERT_EQ(core::to_string(*parsed), text) << "not canonical";
    uint64_t hi = 0, lo = 0;
    made_up_ipv6(i, hi, lo);
    ASSERT_EQ(parsed->bits, (core::Ip6{hi, lo})) << text;
    const uint64_t first32 = hi >> 32;
    ASSERT_EQ(first32 >> 29, 1u) << text << ": not in 2000::/3";
    ASSERT_NE(first32, 0x20010db8u) << text << ": documentation prefix";
    ASSERT_NE(first32, 0x20010000u) << text << ": Teredo";
    ASSERT_NE(first32 >> 16, 0x2002u) << text << ": 6to4";
    ASSERT_TRUE(texts.insert(text).second) << "duplicate " << text;
  }
}

TEST(Catalog, Ipv6AddressesComeInSeveralShapes) {
  AddressList list(100'000, 10);
  size_t compressed = 0, full = 0, eui64 = 0;
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list.is_v6(i)) continue;
    const std::string t = list.text(i);
    EXPECT_LE(t.size(), 39u);
    if (t.find("::") != std::string::npos) ++compressed;
    if (t.find("ff:fe") != std::string::npos) ++eui64;
    if (std::count(t.begin(), t.end(), ':') == 7) ++full;
  }
  EXPECT_GT(compressed, list.ipv6_count() / 5) << "server-style ::N addresses";
  EXPECT_GT(full, list.ipv6_count() / 5) << "full interface identifiers";
  EXPECT_GT(eui64, list.ipv6_count() / 20) << "EUI-64 interface identifiers";
}

TEST(Catalog, Ipv6ListsArePrefixesOfLongerOnesAndHundredPercentIsAllMadeUp) {
  AddressList shorter(2000, 3), longer(50'000, 3);
  for (size_t i = 0; i < shorter.size(); ++i) ASSERT_EQ(shorter.text(i), longer.text(i)) << i;
  AddressList all(1000, 100);
  EXPECT_EQ(all.ipv6_count(), 1000 - kBuiltinAddresses);
  for (size_t i = kBuiltinAddresses; i < all.size(); ++i) ASSERT_TRUE(all.is_v6(i)) << i;
  EXPECT_EQ(all.text(0), "222.186.237.75");
}

}  // namespace
}  // namespace netpulse::generate
