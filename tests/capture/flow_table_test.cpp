// Tests for capture/flow_table: canonical keys (both directions meet), the hash index against
// std::unordered_map under random inserts, finds and erases with hashes that collide on purpose
// (all equal, or a few values) so the probing and backward-shift deletion paths run, the age
// list order, and the fragment-port map.
#include "capture/flow_table.hpp"

#include <gtest/gtest.h>

#include <list>
#include <random>
#include <unordered_map>

namespace netpulse::capture {
namespace {

core::PacketInfo packet(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
                        uint8_t proto = 6) {
  core::PacketInfo p;
  p.src = core::IpAddr::v4(src);
  p.dst = core::IpAddr::v4(dst);
  p.src_port = sport;
  p.dst_port = dport;
  p.ip_protocol = proto;
  p.ip_version = 4;
  return p;
}

TEST(FlowKey, BothDirectionsGiveOneKey) {
  bool ab1, ab2;
  const FlowKey k1 = make_flow_key(packet(1, 2, 1000, 80), 1000, 80, &ab1);
  const FlowKey k2 = make_flow_key(packet(2, 1, 80, 1000), 80, 1000, &ab2);
  EXPECT_EQ(k1, k2);
  EXPECT_NE(ab1, ab2);
  EXPECT_EQ(hash_flow_key(k1), hash_flow_key(k2));
  // Same address both ends: the ports decide.
  bool ab3, ab4;
  const FlowKey k3 = make_flow_key(packet(5, 5, 10, 20), 10, 20, &ab3);
  const FlowKey k4 = make_flow_key(packet(5, 5, 20, 10), 20, 10, &ab4);
  EXPECT_EQ(k3, k4);
  EXPECT_NE(ab3, ab4);
}

TEST(FlowKey, ProtocolVlanAndFamilySeparate) {
  bool ab;
  const FlowKey base = make_flow_key(packet(1, 2, 3, 4), 3, 4, &ab);
  EXPECT_NE(base, make_flow_key(packet(1, 2, 3, 4, 17), 3, 4, &ab));
  core::PacketInfo vlan = packet(1, 2, 3, 4);
  vlan.vlan = 10;
  EXPECT_NE(base, make_flow_key(vlan, 3, 4, &ab));
  core::PacketInfo inner = packet(1, 2, 3, 4);
  inner.inner_vlan = 10;
  EXPECT_NE(base, make_flow_key(inner, 3, 4, &ab));
  core::PacketInfo six = packet(1, 2, 3, 4);
  six.src = core::IpAddr::v6(core::Ip6{0, 1});
  six.dst = core::IpAddr::v6(core::Ip6{0, 2});
  six.ip_version = 6;
  EXPECT_NE(base, make_flow_key(six, 3, 4, &ab));
}

// Random operations against std::unordered_map and a std::list of ages, for several hash
// functions (the real one, and ones that collide on purpose).
TEST(FlowTable, MatchesAReferenceUnderCollidingHashes) {
  using HashFn = uint64_t (*)(const FlowKey&);
  const HashFn hashes[] = {
      [](const FlowKey& k) -> uint64_t { return hash_flow_key(k); },
      [](const FlowKey&) -> uint64_t { return 42; },  // all equal
      [](const FlowKey& k) -> uint64_t {
        return uint64_t{k.port_a} % 3 * 0x10001;
      },  // three values
      [](const FlowKey& k) -> uint64_t {
        return hash_flow_key(k) & 0xff0000000fULL;
      },  // same tag, few homes
  };
  for (HashFn hash : hashes) {
    for (size_t max : {size_t{1}, size_t{7}, size_t{64}, size_t{700}}) {
      std::mt19937 rng(static_cast<uint32_t>(max));
      FlowTable<int> table(max);
      struct Ref {
        uint32_t id;
        int value;
        std::list<uint16_t>::iterator age;
      };
      std::unordered_map<uint16_t, Ref> ref;  // by port_a
      std::list<uint16_t> ages;               // oldest first
      auto key_of = [](uint16_t n) {
        bool ab;
        FlowKey k = make_flow_key(packet(1, 2, n, 65535), n, 65535, &ab);
        return k;
      };
      int64_t now = 0;
      for (int step = 0; step < 20000; ++step) {
        const uint16_t n = static_cast<uint16_t>(rng() % (max * 2 + 3));
        const FlowKey k = key_of(n);
        const uint32_t found = table.find(k, hash(k));
        const auto it = ref.find(n);
        ASSERT_EQ(found != FlowTable<int>::kNone, it != ref.end()) << step;
        ++now;
        const int op = static_cast<int>(rng() % 3);
        if (it != ref.end()) {
          ASSERT_EQ(found, it->second.id);
          ASSERT_EQ(table[found].value, it->second.value);
          ASSERT_EQ(table[found].key, k);
          if (op == 0) {
            table.erase(found);
            ages.erase(it->second.age);
            ref.erase(it);
          } else {
            table.touch(found, now);
            ages.splice(ages.end(), ages, it->second.age);
          }
        } else if (op != 0) {
          if (table.full()) {
            const uint32_t old = table.oldest();
            ASSERT_EQ(table[old].key, key_of(ages.front()));
            ref.erase(ages.front());
            ages.pop_front();
            table.erase(old);
          }
          const uint32_t id = table.insert(k, hash(k), now);
          EXPECT_EQ(table[id].value, 0);  // value-initialized, also when reused
          table[id].value = step;
          ages.push_back(n);
          ref[n] = Ref{id, step, std::prev(ages.end())};
        }
        ASSERT_EQ(table.size(), ref.size());
      }
      // The age list, walked from the old end, is the reference's order, with rising times.
      auto a = ages.begin();
      int64_t last = -1;
      for (uint32_t id = table.oldest(); id != FlowTable<int>::kNone; id = table.newer(id), ++a) {
        ASSERT_NE(a, ages.end());
        EXPECT_EQ(table[id].key, key_of(*a));
        EXPECT_GE(table[id].last_seen_ms, last);
        last = table[id].last_seen_ms;
      }
      EXPECT_EQ(a, ages.end());
    }
  }
}

TEST(FlowTable, GrowsToItsLimit) {
  FlowTable<uint64_t> table(100'000);
  for (uint32_t i = 0; i < 100'000; ++i) {
    bool ab;
    const FlowKey k = make_flow_key(packet(i, 7, 1, 2), 1, 2, &ab);
    table[table.insert(k, hash_flow_key(k), i)].value = i;
  }
  EXPECT_TRUE(table.full());
  for (uint32_t i = 0; i < 100'000; i += 997) {
    bool ab;
    const FlowKey k = make_flow_key(packet(i, 7, 1, 2), 1, 2, &ab);
    const uint32_t id = table.find(k, hash_flow_key(k));
    ASSERT_NE(id, FlowTable<uint64_t>::kNone);
    EXPECT_EQ(table[id].value, i);
  }
  EXPECT_EQ(table[table.oldest()].value, 0u);
  EXPECT_EQ(table[table.newest()].value, 99'999u);
}

TEST(FragmentPorts, RemembersFirstFragments) {
  FragmentPorts map;
  core::PacketInfo first = packet(1, 2, 5353, 53, 17);
  first.ip_id = 9;
  FragmentPorts::Held held;
  EXPECT_FALSE(map.remember(first, 1000, &held));
  core::PacketInfo later = packet(1, 2, 0, 0, 17);
  later.ip_id = 9;
  uint16_t s = 0, d = 0;
  ASSERT_TRUE(map.find(later, 1001, &s, &d));
  EXPECT_EQ(s, 5353);
  EXPECT_EQ(d, 53);
  later.ip_id = 10;
  EXPECT_FALSE(map.find(later, 1001, &s, &d));
  later.ip_id = 9;
  later.dst = core::IpAddr::v4(3);
  EXPECT_FALSE(map.find(later, 1001, &s, &d));
  later.dst = core::IpAddr::v4(2);
  EXPECT_FALSE(map.find(later, 1000 + FragmentPorts::kLifetimeMs + 1, &s, &d));  // too old
}

TEST(FragmentPorts, HoldsLaterFragmentsUntilTheirFirstComes) {
  FragmentPorts map;
  core::PacketInfo later = packet(1, 2, 0, 0, 17);
  later.ip_id = 9;
  later.ip_length = 500;
  FragmentPorts::Held out;
  EXPECT_FALSE(map.hold(later, 1000, &out));
  EXPECT_FALSE(map.hold(later, 1002, &out));
  core::PacketInfo first = packet(1, 2, 5353, 53, 17);
  first.ip_id = 9;
  ASSERT_TRUE(map.remember(first, 1003, &out));
  EXPECT_EQ(out.bytes, 1000u);
  EXPECT_EQ(out.packets, 2u);
  EXPECT_EQ(out.first_ms, 1000);
  EXPECT_EQ(out.last_ms, 1002);
  EXPECT_FALSE(map.remember(first, 1004, &out));  // handed out once

  // Never claimed: handed out by expiry, or all at once at the end.
  later.ip_id = 11;
  EXPECT_FALSE(map.hold(later, 2000, &out));
  int expired = 0;
  map.expire_held(2000 + FragmentPorts::kLifetimeMs, [&](const FragmentPorts::Held&) { ++expired; });
  EXPECT_EQ(expired, 0);
  map.expire_held(2001 + FragmentPorts::kLifetimeMs, [&](const FragmentPorts::Held& h) {
    ++expired;
    EXPECT_EQ(h.info.ip_id, 11u);
  });
  EXPECT_EQ(expired, 1);
  EXPECT_FALSE(map.hold(later, 9000, &out));
  map.expire_held(INT64_MAX, [&](const FragmentPorts::Held&) { ++expired; });
  EXPECT_EQ(expired, 2);
}

}  // namespace
}  // namespace netpulse::capture
