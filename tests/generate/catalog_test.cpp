#include "generate/catalog.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
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

}  // namespace
}  // namespace netpulse::generate
