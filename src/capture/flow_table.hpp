// The bounded flow table of packet capture: bidirectional flow keys in canonical order (so both
// directions of a conversation find one entry), an open-addressing hash index over a pool of
// entries, and an intrusive least-recently-seen list that idle expiry scans from its old end
// and eviction takes from. Also the small map that gives later IP fragments the ports of their
// first fragment. Not thread-safe: one table per capture thread.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ip_addr.hpp"
#include "core/packet_decode.hpp"

namespace netpulse::capture {

// A flow's identity: both endpoints (address and port), the IP protocol and the VLAN tags. The
// endpoint that sorts first (address, then port) is `a`, so a packet and its reply give the
// same key. ICMP and ICMPv6 keep type * 256 + code in the ports, as NetFlow exporters do: an
// echo request and its reply are two one-way flows.
struct FlowKey {
  core::Ip6 addr_a;
  core::Ip6 addr_b;
  uint16_t port_a = 0;
  uint16_t port_b = 0;
  uint16_t vlan = 0;
  uint16_t inner_vlan = 0;
  uint8_t ip_protocol = 0;
  uint8_t ip_version = 0;  // 4 or 6: 10.0.0.1 and ::a00:1 stay apart
  friend bool operator==(const FlowKey&, const FlowKey&) = default;
};

// The key of a packet sent from (src, src_port) to (dst, dst_port) in info's IP protocol and
// VLANs. *a_to_b tells whether the packet went from endpoint a to endpoint b (true for both
// directions when the two endpoints are the same).
FlowKey make_flow_key(const core::PacketInfo& info, uint16_t src_port, uint16_t dst_port,
                      bool* a_to_b);

// A well-mixed 64-bit hash of a key, computed once per packet and carried with it.
uint64_t hash_flow_key(const FlowKey& key);

// A map from FlowKey to entries holding a V, at most max_entries of them.
//
// Entries live in a pool and are named by a uint32 id, valid from insert() to erase(). Invariants:
// every live entry is in the index exactly once and in the age list exactly once; the age list runs
// from the least recently touched entry (oldest()) to the most recent, so with non-decreasing
// times it is sorted by last_seen_ms. insert() may grow the pool and so invalidates references
// and pointers to entries (ids stay valid); nothing else does.
template <typename V>
class FlowTable {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  struct Entry {
    FlowKey key;
    int64_t last_seen_ms = 0;
    uint32_t hash32 = 0;     // low 32 bits of the key's hash
    uint32_t older = kNone;  // age list neighbours (next free entry while free)
    uint32_t newer = kNone;
    V value{};
  };

  // REQUIRES: 1 <= max_entries < 2^30.
  explicit FlowTable(size_t max_entries) : max_entries_(max_entries) {
    assert(max_entries >= 1 && max_entries < (size_t{1} << 30));
    size_t cap = 16;
    while (cap < 2 * max_entries) cap *= 2;
    max_slots_ = cap;
    slots_.assign(std::min<size_t>(cap, 1024), 0);
    mask_ = slots_.size() - 1;
    pool_.reserve(std::min<size_t>(max_entries, 4096));
  }

  size_t size() const { return size_; }
  size_t max_size() const { return max_entries_; }
  bool full() const { return size_ >= max_entries_; }

  // The entry with this key, or kNone. `hash` is hash_flow_key(key) (or any function of the key:
  // tests pass colliding ones).
  uint32_t find(const FlowKey& key, uint64_t hash) const {
    const uint32_t h = static_cast<uint32_t>(hash);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const uint64_t s = slots_[i];
      if (s == 0) return kNone;
      if (static_cast<uint32_t>(s >> 32) == h) {
        const uint32_t id = static_cast<uint32_t>(s) - 1;
        if (pool_[id].key == key) return id;
      }
    }
  }

  // Adds an entry with a value-initialized V at the new end of the age list.
  // REQUIRES: !full(); no entry has this key.
  uint32_t insert(const FlowKey& key, uint64_t hash, int64_t now_ms) {
    assert(!full());
    assert(find(key, hash) == kNone);
    if ((size_ + 1) * 2 > slots_.size() && slots_.size() < max_slots_) grow();
    uint32_t id;
    if (free_ != kNone) {
      id = free_;
      free_ = pool_[id].older;
      pool_[id] = Entry{};
    } else {
      id = static_cast<uint32_t>(pool_.size());
      pool_.emplace_back();
    }
    Entry& e = pool_[id];
    e.key = key;
    e.hash32 = static_cast<uint32_t>(hash);
    e.last_seen_ms = now_ms;
    place(e.hash32, id);
    link_newest(id);
    ++size_;
    return id;
  }

  // Marks an entry seen at now_ms: it moves to the new end of the age list.
  void touch(uint32_t id, int64_t now_ms) {
    pool_[id].last_seen_ms = now_ms;
    if (newest_ == id) return;
    unlink(id);
    link_newest(id);
  }

  // Removes an entry; its id becomes free for reuse. REQUIRES: id is live.
  void erase(uint32_t id) {
    Entry& e = pool_[id];
    size_t i = e.hash32 & mask_;
    while (static_cast<uint32_t>(slots_[i]) != id + 1) i = (i + 1) & mask_;
    // Backward-shift deletion: move later members of the probe run into the hole, so lookups
    // never need tombstones.
    size_t hole = i;
    for (size_t j = (i + 1) & mask_; slots_[j] != 0; j = (j + 1) & mask_) {
      const size_t home = static_cast<uint32_t>(slots_[j] >> 32) & mask_;
      // Move j into the hole unless its home lies cyclically in (hole, j].
      const bool home_after_hole =
          hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!home_after_hole) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = 0;
    unlink(id);
    e.value = V{};
    e.older = free_;
    e.newer = kNone;
    free_ = id;
    --size_;
  }

  Entry& operator[](uint32_t id) { return pool_[id]; }
  const Entry& operator[](uint32_t id) const { return pool_[id]; }

  // Ends of the age list (kNone when empty) and the step from an entry to the next newer one.
  uint32_t oldest() const { return oldest_; }
  uint32_t newest() const { return newest_; }
  uint32_t newer(uint32_t id) const { return pool_[id].newer; }

 private:
  void place(uint32_t hash32, uint32_t id) {
    size_t i = hash32 & mask_;
    while (slots_[i] != 0) i = (i + 1) & mask_;
    slots_[i] = uint64_t{hash32} << 32 | (uint64_t{id} + 1);
  }

  void grow() {
    std::vector<uint64_t> old(slots_.size() * 2, 0);
    old.swap(slots_);
    mask_ = slots_.size() - 1;
    for (uint64_t s : old) {
      if (s != 0) place(static_cast<uint32_t>(s >> 32), static_cast<uint32_t>(s) - 1);
    }
  }

  void link_newest(uint32_t id) {
    Entry& e = pool_[id];
    e.older = newest_;
    e.newer = kNone;
    if (newest_ != kNone) pool_[newest_].newer = id;
    newest_ = id;
    if (oldest_ == kNone) oldest_ = id;
  }

  void unlink(uint32_t id) {
    Entry& e = pool_[id];
    if (e.older != kNone)
      pool_[e.older].newer = e.newer;
    else
      oldest_ = e.newer;
    if (e.newer != kNone)
      pool_[e.newer].older = e.older;
    else
      newest_ = e.older;
  }

  size_t max_entries_;
  size_t max_slots_;
  size_t size_ = 0;
  size_t mask_ = 0;
  // Index: hash32 << 32 | (id + 1); 0 marks an empty slot. At most half full (linear probing).
  std::vector<uint64_t> slots_;
  std::vector<Entry> pool_;
  uint32_t free_ = kNone;
  uint32_t oldest_ = kNone;
  uint32_t newest_ = kNone;
};

// Remembers the labels of flows that ended (idle timeout, eviction) after their application
// protocol was detected, so that when the same conversation goes on (a connection quiet for
// longer than the idle timeout, a flow pushed out of a full table) its new flow carries the name
// its beginning earned instead of a port guess: the beginning is where detection happens, and it
// will not come again. ndpiReader, whose flows practically never expire within a file, labels
// such packets with the detection too. Fixed size, direct-mapped, no allocation after
// construction; an entry is forgotten when overwritten or kLifetimeMs after the flow's last
// packet.
class EndedFlowLabels {
 public:
  static constexpr int64_t kLifetimeMs = 600'000;

  // Slots: a power of two near `flows` (the table's limit), between 64 and 65536.
  explicit EndedFlowLabels(size_t flows);

  // hash32: the low 32 bits of hash_flow_key(key); last_seen_ms: the flow's last packet. The
  // label's bytes must outlive the entry (clear() when they go).
  void remember(const FlowKey& key, uint32_t hash32, std::string_view label, int64_t last_seen_ms);
  // The label remembered for key, or an empty view.
  std::string_view find(const FlowKey& key, uint32_t hash32, int64_t now_ms) const;
  void clear();

 private:
  struct Slot {
    FlowKey key;
    std::string_view label;  // empty: unused
    int64_t time_ms = 0;
  };
  std::vector<Slot> slots_;
};

// Remembers the ports of first fragments for a while, so that later fragments (which carry no
// transport header) join their packet's flow. Fixed size, no allocation after construction: a
// new entry overwrites whatever shared its slot, and entries older than kLifetimeMs are ignored
// (IPv4 reassembly gives up after 15 to 120 s; fragments arrive within milliseconds).
class FragmentPorts {
 public:
  static constexpr size_t kSlots = 4096;  // a power of two
  static constexpr int64_t kLifetimeMs = 30'000;

  // Later fragments that came before their first fragment (a sender may send a datagram's
  // fragments last first): their packet and what they add up to, until the first fragment
  // tells their ports.
  struct Held {
    core::PacketInfo info;  // the first of them to arrive
    uint64_t bytes = 0;
    uint64_t packets = 0;
    int64_t first_ms = 0;
    int64_t last_ms = 0;
  };

  FragmentPorts() : slots_(kSlots) {}

  // A first fragment of (info.src, info.dst, info.ip_id, info.ip_protocol) had these ports.
  // Returns true with *held filled when later fragments of the datagram were held.
  bool remember(const core::PacketInfo& info, int64_t now_ms, Held* held);
  // The ports of a later fragment's first fragment, if remembered.
  bool find(const core::PacketInfo& info, int64_t now_ms, uint16_t* src_port,
            uint16_t* dst_port) const;
  // Holds a later fragment whose first fragment has not come. Returns true with *evicted
  // filled when the slot held another datagram's fragments (which the caller then counts
  // without ports).
  bool hold(const core::PacketInfo& info, int64_t now_ms, Held* evicted);
  // Hands out (and forgets) the held fragments older than kLifetimeMs at now_ms, or all of
  // them when now_ms is INT64_MAX.
  template <typename Fn>
  void expire_held(int64_t now_ms, Fn&& fn) {
    if (held_count_ == 0) return;
    for (Slot& s : slots_)
      if (s.holding && (now_ms == INT64_MAX || now_ms - s.held.last_ms > kLifetimeMs)) {
        s.holding = false;
        --held_count_;
        fn(s.held);
      }
  }

 private:
  struct Slot {
    core::PacketInfo first;  // the first fragment: its datagram's identity and ports
    int64_t time_ms = 0;
    bool used = false;     // holds a first fragment's ports
    bool holding = false;  // holds later fragments waiting for their first
    Held held;
  };
  static size_t slot_of(const core::PacketInfo& info);
  static bool same_datagram(const core::PacketInfo& a, const core::PacketInfo& b);
  std::vector<Slot> slots_;
  size_t held_count_ = 0;
};

}  // namespace netpulse::capture
