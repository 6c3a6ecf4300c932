// AggMap: per-key byte and record sums for one pane or one window, in a flat open-addressing
// table (linear probing, backward-shift deletion). Written here rather than taken from a library
// because it is the engine's inner loop: a slot is 12 bytes for 32-bit keys, an empty slot is
// one whose record count is 0 (so no separate occupancy array), and erase keeps probes short
// without tombstones as keys leave a sliding window.
//
// A slot keeps a key's bytes in 32 bits: the tables are mostly cache misses (a pane's table is
// probed by every record, the window's by every folded key): 12-byte slots instead of 16 took
// 17% off the peak memory on issue 12's data and 1-3% off two threads' time, for 5 more
// instructions a record (docs/engine-performance-log.md). A key whose
// bytes reach 2^32 - 1 (kEscaped) keeps them, whole, in a side map (wide_), and its slot says
// kEscaped: an elephant flow's address, a handful a window; every path that reads or changes a
// slot's bytes checks for it, and the check costs one compare on the common path.
//
// A key's home slot is taken from the HIGH bits of its (rotated) hash, so the slot order of
// every table is the same order, whatever its size: walking a pane's table (or its compacted
// copy) visits the window's table front to back, which keeps the window's pages and cache lines
// in use for many keys in a row instead of one random miss per key. The rotation keeps the
// hash's own high bits, which pick an IPv6 key's shard (shard_of), out of the slot index, so one
// shard's keys still spread over all its slots (an IPv4 key's shard is the top of key_hash's
// first product, which the slot index mixes with the rest: shard_hash).
//
// Large tables ask the kernel for huge pages: the window's table is tens of MiB and every fold
// touches it at random places, so 4 KiB pages would miss the TLB on almost every key.
// Not thread-safe; one owner.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "core/ip_addr.hpp"
#include "engine/huge_pages.hpp"

namespace netpulse::engine {

struct Agg {
  uint64_t bytes = 0;
  uint32_t records = 0;
};

inline uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// An IPv4 address's (or a protocol id's) hash, in two multiplies instead of mix64's: hashed up
// to four times a record then (routing, the pane's add, the window's fold in and out; routing
// now takes shard_hash, one multiply), mix64 was 6% of a record's instructions. The xor-shift
// between the multiplies brings the product's high bits down to the low 32 that slot_order()
// indexes with: a single multiply left addresses on strides of 4096 and gateways (x.y.z.1) in probe
// runs of hundreds of slots; this one's probe lengths match mix64's on those, on sequential
// addresses and on random ones.
inline uint64_t key_hash(uint32_t k) {
  uint64_t x = k * 0x9E3779B97F4A7C15ULL;
  x ^= x >> 32;
  return x * 0xff51afd7ed558ccdULL;
}
inline uint64_t key_hash(const core::Ip6& k) { return mix64(k.hi * 0x9E3779B97F4A7C15ULL ^ k.lo); }

// The hash a pane summary's sketches take for an address (PaneSummary::add_key): mix64, as
// before key_hash changed, because Kafka instances send those sketches to `merge` in their pane
// messages (format 1), and a merge must hash an address as every instance did. Only summarized
// panes and the sketches built for them take it, never a record's ordinary path.
inline uint64_t sketch_hash(uint32_t k) {
  return mix64(k);
}
inline uint64_t sketch_hash(const core::Ip6& k) {
  return key_hash(k);
}
inline uint64_t sketch_hash(const core::IpAddr& a) {
  return a.is_v6 ? sketch_hash(a.bits) : sketch_hash(a.v4_value());
}

// The slot order of a key: its hash rotated by 32 bits (see above). Tables index with its top
// bits.
template <class K>
inline uint64_t slot_order(const K& k) {
  return std::rotl(key_hash(k), 32);
}

// Values a loop computes for a key kAhead steps before it uses them (the key's slot_order(),
// hashed once to prefetch the key's slot and kept for the add): step i writes key i + kAhead's
// value and then reads key i's, so twice kAhead slots keep the two apart.
template <size_t kAhead, class V = uint64_t>
class AheadRing {
  static_assert(std::has_single_bit(kAhead), "a ring of 2 * kAhead values");

 public:
  V& operator[](size_t i) { return values_[i % (2 * kAhead)]; }

 private:
  V values_[2 * kAhead];
};

template <class K>
class AggMap {
 public:
  // A key's sums, as the map hands them out (for_each, drain, find, entry_of).
  struct Entry {
    K key;
    uint32_t records;
    uint64_t bytes;
  };
  // A slot of the table (slots_begin()): read its bytes through bytes_of().
  struct Slot {
    K key;
    uint32_t records;  // 0: empty slot
    uint32_t bytes;    // kEscaped: the key's bytes are in the side map
  };
  static constexpr uint32_t kEscaped = UINT32_MAX;

  AggMap() { allocate(kMinSlots); }
  ~AggMap() { release(); }
  AggMap(const AggMap& o) : size_(o.size_), load8_(o.load8_) {
    allocate(o.capacity_);
    std::memcpy(static_cast<void*>(slots_), o.slots_, o.capacity_ * sizeof(Slot));
    if (o.wide_ && !o.wide_->empty()) wide_ = std::make_unique<Wide>(*o.wide_);
  }
  AggMap& operator=(const AggMap& o) {
    if (this != &o) {
      AggMap copy(o);
      swap(copy);
    }
    return *this;
  }
  AggMap(AggMap&& o) noexcept { allocate(kMinSlots), swap(o); }
  AggMap& operator=(AggMap&& o) noexcept {
    swap(o);
    return *this;
  }
  void swap(AggMap& o) noexcept {
    std::swap(slots_, o.slots_);
    std::swap(capacity_, o.capacity_);
    std::swap(shift_, o.shift_);
    std::swap(size_, o.size_);
    std::swap(mapped_, o.mapped_);
    std::swap(next_, o.next_);
    std::swap(next_capacity_, o.next_capacity_);
    std::swap(next_ready_, o.next_ready_);
    std::swap(next_small_pages_, o.next_small_pages_);
    std::swap(load8_, o.load8_);
    std::swap(grow_at_, o.grow_at_);
    std::swap(wide_, o.wide_);
  }

  // The most of its slots a table fills before it doubles, in eighths (4, half, by default; at
  // most 7). Linear probing's probes grow with the load, but a table that is mostly cache misses
  // (the window's: tens of MiB, visited at random by every fold) gains more from being half the
  // size: half the fresh memory to fault in, twice the share of it in the cache.
  void set_max_load(unsigned eighths) {
    load8_ = std::clamp(eighths, 4u, 7u);
    grow_at_ = capacity_ * load8_ / 8;
  }
  unsigned max_load() const { return load8_; }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  // The slots, and the part of the table it grows into that grow_ahead() has faulted in.
  size_t memory_bytes() const {
    return (mapped_ ? map_bytes(capacity_) : capacity_ * sizeof(Slot)) + next_ready_ + wide_bytes();
  }

  // Gives back the table grow_ahead() mapped (a memory budget's first step).
  void drop_ahead() { drop_next(); }

  // Spreads a large table's next growth over the calls before it. Growing a table of millions
  // of keys doubles it in one go: a new mapping faulted in, then every key moved. The moving
  // is quick (2.3 ms for 250,000 keys); the faulting in is not, on a virtual machine whose
  // balloon hands free memory back to the host: the host supplies each page again, and 16 MiB
  // took 8-28 ms on 2026-12-05 (1-2 ms when the host still had the memory), while the other
  // shards, their own tables a few windows from the same growth, waited at the engine's
  // barrier. So once the table is an eighth short of its most load (3/8 full at the default
  // half), this maps the table it will grow into and faults in the share of it that the keys
  // added since have earned, all of it by the time the table is full and grows into it. A table
  // that stops short of the growth holds that share (at most what the growth itself would take)
  // until it falls under a quarter full. Called between batches of adds (the engine: once a window
  // move); tables whose next size would not be mapped on their own are left alone. Only a head
  // start: when the memory is not there, the table it mapped is given back and the growth, if it
  // comes, does all the work.
  void grow_ahead() {
    if (capacity_ * 2 * sizeof(Slot) < kHugeBytes) return;  // not mapped on its own
    const size_t next_bytes = map_bytes(capacity_ * 2);
    if (size_ * 4 < capacity_) {
      drop_next();
      return;
    }
    if (size_ * 8 < capacity_ * (load8_ - 1)) return;
    // The share due: none an eighth below the most load, all of it at the most, in whole 2 MiB
    // pieces.
    const long double share = static_cast<long double>(size_ * 8 - capacity_ * (load8_ - 1)) /
                              static_cast<long double>(capacity_);
    size_t due = static_cast<size_t>(share * static_cast<long double>(next_bytes));
    due = std::min(next_bytes, huge_pages::whole(due));
    if (due <= next_ready_) return;
    try {
      if (next_ == nullptr) {
        next_ = static_cast<Slot*>(huge_pages::map_aligned(next_bytes));
        next_capacity_ = capacity_ * 2;
        next_ready_ = 0;
        next_small_pages_ = false;
#ifdef MADV_HUGEPAGE
        ::madvise(next_, next_bytes, MADV_HUGEPAGE);
#endif
      }
      if (!huge_pages::populate_range(reinterpret_cast<char*>(next_), next_ready_, due, next_bytes,
                                      next_small_pages_))
        throw std::bad_alloc();
      next_ready_ = due;
    } catch (const std::bad_alloc&) {
      drop_next();
    }
  }

  // Adds to key's sums; returns the sums before.
  [[gnu::always_inline]] Agg add(const K& key, uint64_t bytes, uint32_t records) {
    return add_at(key, slot_order(key), bytes, records);
  }
  // As add(), given the key's slot_order(key): a loop that prefetched the key's slot a few keys
  // earlier computed it then, and hashes each key once instead of twice.
  [[gnu::always_inline]] Agg add_at(const K& key, uint64_t order, uint64_t bytes,
                                    uint32_t records) {
    if (size_ >= grow_at_) [[unlikely]]
      grow();
    return add_in(this, slots_, capacity_ - 1, home_at(order), key, bytes, records, size_);
  }

  // Adds keys to one table with its fields held in locals, for a loop that adds a run of keys to
  // it: through the map, each store into a slot may alias the map's own fields (a slot's bytes
  // and the map's size are both unsigned longs), so every add loaded them again, and the size
  // went to memory and back. Nothing else may use the map while an Inserter adds to it, until
  // done() writes the size back.
  class Inserter {
   public:
    Inserter() = default;
    explicit Inserter(AggMap& map) : map_(&map), s_(state_of(map)) {}
    size_t size() const { return s_.size; }
    void prefetch_at(uint64_t order) const {
      __builtin_prefetch(&s_.slots[static_cast<size_t>(order >> s_.shift)]);
    }
    // As AggMap::add_at; `bytes` of 32 bits (a record's) take a cheaper check for the escape.
    template <class B>
    [[gnu::always_inline]] Agg add_at(const K& key, uint64_t order, B bytes, uint32_t records) {
      if (s_.size >= s_.grow_at) [[unlikely]]
        s_ = grown(map_, s_.size);
      return add_in(map_, s_.slots, s_.mask, static_cast<size_t>(order >> s_.shift), key, bytes,
                    records, s_.size);
    }
    void done() { map_->size_ = s_.size; }

   private:
    struct State {
      Slot* slots = nullptr;
      size_t mask = 0;
      int shift = 64;
      size_t size = 0;
      size_t grow_at = 0;
    };
    static State state_of(const AggMap& map) {
      return State{map.slots_, map.capacity_ - 1, map.shift_, map.size_, map.grow_at_};
    }
    // Static, and the state returned: the Inserter's address does not escape the loop using it,
    // so its fields can stay in registers.
    [[gnu::noinline, gnu::cold]] static State grown(AggMap* map, size_t size) {
      map->size_ = size;
      map->grow();
      return state_of(*map);
    }

    AggMap* map_ = nullptr;
    State s_;
  };

  // Subtracts from key's sums, removing the key when its records reach 0; returns the sums
  // before. REQUIRES: key holds at least `records` records and `bytes` bytes.
  // Always inlined: GCC left it out of line in the fold's loop over packed entries, a call per
  // key.
  [[gnu::always_inline]] Agg sub(const K& key, uint64_t bytes, uint32_t records) {
    return sub_at(key, slot_order(key), bytes, records);
  }
  // As sub(), given the key's slot_order(key) (see add_at).
  [[gnu::always_inline]] Agg sub_at(const K& key, uint64_t order, uint64_t bytes,
                                    uint32_t records) {
    const size_t mask = capacity_ - 1;
    size_t i = home_at(order);
    while (!(slots_[i].key == key) || slots_[i].records == 0) i = (i + 1) & mask;
    Slot& e = slots_[i];
    if (e.bytes == kEscaped) [[unlikely]]
      return sub_wide(i, bytes, records);
    const Agg before{e.bytes, e.records};
    e.bytes -= static_cast<uint32_t>(bytes);
    e.records -= records;
    if (e.records == 0) erase_slot(i);
    return before;
  }

  // The key's sums; nullopt when the map does not hold it.
  std::optional<Entry> find(const K& key) const {
    const size_t mask = capacity_ - 1;
    for (size_t i = home(key);; i = (i + 1) & mask) {
      const Slot& e = slots_[i];
      if (e.records == 0) return std::nullopt;
      if (e.key == key) return entry_of(e);
    }
  }

  // A slot's bytes and whole entry. REQUIRES: the slot is one of this map's, not empty.
  uint64_t bytes_of(const Slot& s) const {
    return s.bytes != kEscaped ? s.bytes : wide_->at(s.key);
  }
  Entry entry_of(const Slot& s) const {
    return Entry{s.key, s.records, bytes_of(s)};
  }
  // Keys whose bytes the side map holds (tests, statistics).
  size_t escaped_count() const {
    return wide_ ? wide_->size() : 0;
  }

  // Hints the cache to fetch key's home slot (for loops that know their next keys early).
  void prefetch(const K& key) const {
    prefetch_at(slot_order(key));
  }
  // The same for a key whose slot_order() the caller holds.
  void prefetch_at(uint64_t order) const {
    __builtin_prefetch(&slots_[home_at(order)]);
  }

  // The raw slots, in slot order, for scans that filter before touching a key (empty slots:
  // records == 0, bytes == 0; a slot's bytes through bytes_of()).
  const Slot* slots_begin() const {
    return slots_;
  }
  const Slot* slots_end() const {
    return slots_ + capacity_;
  }

  // Calls f(const Entry&) on every key, in slot order.
  template <class F>
  void for_each(F&& f) const {
    for (const Slot* e = slots_; e != slots_ + capacity_; ++e)
      if (e->records != 0) f(entry_of(*e));
  }

  // Makes room for n keys without growing on the way (a new pane sized like the last one).
  void reserve(size_t n) {
    const size_t want = slots_for(n);
    if (want <= capacity_) return;
    rehash(want);
  }

  // Gives memory back when at most an eighth of the slots are used (a window after a flood).
  void shrink() {
    if (capacity_ <= kMinSlots || size_ * 8 > capacity_) return;
    fit(size_);
  }
  // Makes the table as small as room for n keys allows (n >= size()).
  void fit(size_t n) {
    const size_t want = slots_for(n);
    if (want < capacity_) rehash(want);
  }

  // Empties the map and gives its memory back (a reused table starts small again).
  void reset() {
    release();
    allocate(kMinSlots);
  }

  // Empties the map, keeping its memory: one pass that zeroes the occupied slots, calling
  // f(entry) on each first (a closing pane copies itself out this way). Cheaper than reset()
  // plus regrowing for a table that is filled again to about the same size.
  template <class F>
  void drain(F&& f) {
    for (Slot* e = slots_; e != slots_ + capacity_; ++e) {
      if (e->records == 0) continue;
      f(static_cast<const Entry&>(entry_of(*e)));
      e->records = 0;
      e->bytes = 0;
    }
    size_ = 0;
    if (wide_) wide_->clear();
  }

 private:
  static constexpr size_t kMinSlots = 16;
  // The fewest slots that hold n keys within the most load.
  size_t slots_for(size_t n) const {
    size_t want = kMinSlots;
    while (want * load8_ < n * 8) want *= 2;
    return want;
  }
  // Tables from this size on are mapped on their own, on huge pages, in whole huge pages (a table
  // of 1.5 MiB takes 2 MiB; memory_bytes() counts it so). On 4 KiB pages a table of 1 MiB took
  // 3-4 ms to fault in on this VM (2 MiB: 6.5 ms), paid again by each pane table the pool does
  // not hold. (With 16-byte slots a pane's table on issue 12's data was 1 MiB, and mapped; with
  // 12-byte slots it is 768 KiB on one thread, 384 KiB a shard on two, from malloc.)
  static constexpr size_t kHugeBytes = size_t{1} << 20;
  // The bytes a mapped table of `slots` takes: whole huge pages.
  static size_t map_bytes(size_t slots) {
    return huge_pages::whole(slots * sizeof(Slot));
  }

  size_t home(const K& key) const {
    return home_at(slot_order(key));
  }
  size_t home_at(uint64_t order) const {
    return static_cast<size_t>(order >> shift_);
  }
  // The slots and what follows from their number.
  void set_capacity(size_t slots) {
    capacity_ = slots;
    shift_ = 64 - std::countr_zero(slots);
    grow_at_ = slots * load8_ / 8;
  }

  // Large tables come from the PageCache (cleared here) or straight from mmap, 2 MiB aligned and
  // advised onto huge pages; the kernel hands those over zeroed, so they are not cleared a
  // second time. They go back to the PageCache. Every table's pages are written before the
  // table is read (see huge_pages::populate_for_write for why); the table's slots are all
  // touched soon anyway, as keys hash evenly over them.
  void allocate(size_t slots) {
    void* p = nullptr;
    // mapped_ changes only with slots_, at the end: a throw here leaves the old table whole.
    const bool mapped = slots * sizeof(Slot) >= kHugeBytes;
    const size_t bytes = mapped ? map_bytes(slots) : slots * sizeof(Slot);
    if (mapped) {
      if (char* cached = huge_pages::PageCache::instance().take(bytes)) {
        std::memset(cached, 0, bytes);
        p = cached;
      } else {
        p = huge_pages::map_populated(bytes);
      }
    } else {
      // calloc skips clearing a block fresh from mmap (the kernel's pages are zero): a store
      // per page then faults them in for writing. (malloc + memset would not: the compiler
      // turns that pair into calloc.)
      p = std::calloc(slots, sizeof(Slot));
      if (!p) throw std::bad_alloc();
      huge_pages::touch_for_write(static_cast<char*>(p), bytes);
    }
    slots_ = static_cast<Slot*>(p);
    mapped_ = mapped;
    set_capacity(slots);
  }
  // Frees the slots: the map holds nothing after it. size_ must go with them: reset() once left
  // it, so a table emptied and refilled with the same 19 protocols every window counted 19 more
  // keys each time and doubled its slots every time the count passed half of them (4 MiB after
  // an hour of windows, the soak of 2026-12-04, and re-grown from 16 slots at every window).
  void release() {
    free_slots(slots_, capacity_, mapped_);
    slots_ = nullptr;
    capacity_ = 0;
    grow_at_ = 0;
    size_ = 0;
    drop_next();
    wide_.reset();
  }
  void drop_next() {
    if (next_ != nullptr) ::munmap(next_, map_bytes(next_capacity_));
    next_ = nullptr;
    next_capacity_ = 0;
    next_ready_ = 0;
  }

  // Out of line and cold: inlined, the rehash made add() a function GCC would not inline in
  // turn, so every record paid a call that saved six registers and set up a stack frame.
  [[gnu::noinline, gnu::cold]] void grow() {
    rehash(capacity_ * 2);
  }

  void rehash(size_t want) {
    Slot* old = slots_;
    const size_t old_capacity = capacity_;
    const bool old_mapped = mapped_;
    if (next_ != nullptr && next_capacity_ == want) {
      // The table grow_ahead() prepared: fault in what is left of it.
      const size_t bytes = map_bytes(want);
      if (!huge_pages::populate_range(reinterpret_cast<char*>(next_), next_ready_, bytes, bytes,
                                      next_small_pages_))
        throw std::bad_alloc();
      slots_ = next_;
      mapped_ = true;
      set_capacity(want);
      next_ = nullptr;
      next_capacity_ = 0;
      next_ready_ = 0;
    } else {
      allocate(want);
      drop_next();  // a growth to another size (reserve) or a shrink: not needed
    }
    const size_t mask = capacity_ - 1;
    for (const Slot* e = old; e != old + old_capacity; ++e) {
      if (e->records == 0) continue;
      size_t i = home(e->key);
      while (slots_[i].records != 0) i = (i + 1) & mask;
      slots_[i] = *e;
    }
    free_slots(old, old_capacity, old_mapped);
  }
  // Gives back the slots of a table of `capacity` (mapped: its whole mapping, to the PageCache).
  // One place for both release() and rehash(): their two copies once disagreed on a mapping's
  // size, and a growth out of a 1 MiB table left half of its 2 MiB mapped.
  static void free_slots(Slot* slots, size_t capacity, bool mapped) {
    if (mapped)
      huge_pages::PageCache::instance().give(reinterpret_cast<char*>(slots), map_bytes(capacity));
    else
      std::free(slots);
  }

  // Backward-shift deletion: pull later members of the probe run into the hole.
  void erase_slot(size_t hole) {
    const size_t mask = capacity_ - 1;
    size_t i = hole;
    while (true) {
      i = (i + 1) & mask;
      Slot& e = slots_[i];
      if (e.records == 0) break;
      const size_t h = home(e.key);
      // Move e into the hole if its home is not in (hole, i] (cyclically).
      const bool between = hole <= i ? (h > hole && h <= i) : (h > hole || h <= i);
      if (!between) {
        slots_[hole] = e;
        hole = i;
      }
    }
    slots_[hole].records = 0;
    slots_[hole].bytes = 0;
    --size_;
  }

  // add_at's probe, on a table's slots, size mask and size, for AggMap and its Inserter (map:
  // the table's map, for a key's bytes past 32 bits). B: uint64_t, or uint32_t for a record's
  // bytes, whose sum with a slot's is checked by the add's own carry (3.5 instructions a record
  // fewer in consume_in_order, with the spills the 64-bit check brought).
  template <class B>
  [[gnu::always_inline]] static Agg add_in(AggMap* map, Slot* slots, size_t mask, size_t home,
                                           const K& key, B bytes, uint32_t records, size_t& size) {
    static_assert(std::is_same_v<B, uint64_t> || std::is_same_v<B, uint32_t>);
    for (size_t i = home;; i = (i + 1) & mask) {
      Slot& e = slots[i];
      if (e.records == 0) {
        e.key = key;
        e.records = records;
        ++size;
        if (bytes < kEscaped) [[likely]]
          e.bytes = static_cast<uint32_t>(bytes);
        else
          add_wide(map, e, 0, bytes);
        return Agg{};
      }
      if (e.key == key) {
        // The sum reaches kEscaped, or the key is escaped already (kEscaped - kEscaped is 0;
        // kEscaped plus anything carries, or stays kEscaped).
        uint32_t sum;
        bool wide;
        if constexpr (std::is_same_v<B, uint32_t>) {
          wide = __builtin_add_overflow(e.bytes, bytes, &sum) || sum == kEscaped;
        } else {
          wide = bytes >= uint64_t{kEscaped} - e.bytes;
          sum = e.bytes + static_cast<uint32_t>(bytes);
        }
        if (wide) [[unlikely]] {
          const uint32_t records_before = e.records;
          return Agg{add_wide(map, e, records, bytes), records_before};
        }
        const Agg before{e.bytes, e.records};
        e.records += records;
        e.bytes = sum;
        return before;
      }
    }
  }

  // The side map of the keys whose bytes do not fit a slot.
  struct KeyHasher {
    size_t operator()(const K& k) const { return static_cast<size_t>(key_hash(k)); }
  };
  using Wide = std::unordered_map<K, uint64_t, KeyHasher>;
  size_t wide_bytes() const {
    if (!wide_) return 0;
    // A node (the pair, its link and its cached hash) per key, and a pointer per bucket.
    return wide_->size() * (sizeof(typename Wide::value_type) + 2 * sizeof(void*)) +
           wide_->bucket_count() * sizeof(void*);
  }
  // Adds `bytes` to a slot's key whose sum will not fit 32 bits (or already does not), after
  // adding `records` to its records; returns its bytes before. Out of line and cold; static, so
  // an Inserter's state stays in registers.
  [[gnu::noinline, gnu::cold]] static uint64_t add_wide(AggMap* map, Slot& e, uint32_t records,
                                                        uint64_t bytes) {
    if (!map->wide_) map->wide_ = std::make_unique<Wide>();
    uint64_t& whole = (*map->wide_)[e.key];
    const uint64_t before = e.bytes == kEscaped ? whole : e.bytes;
    whole = before + bytes;
    e.bytes = kEscaped;
    e.records += records;
    return before;
  }
  // sub_at for a key whose slot is escaped: back into the slot once its bytes fit again.
  [[gnu::noinline, gnu::cold]] Agg sub_wide(size_t i, uint64_t bytes, uint32_t records) {
    Slot& e = slots_[i];
    const auto it = wide_->find(e.key);
    const Agg before{it->second, e.records};
    it->second -= bytes;
    e.records -= records;
    if (e.records == 0 || it->second < kEscaped) {
      e.bytes = static_cast<uint32_t>(it->second);
      wide_->erase(it);
    }
    if (e.records == 0) erase_slot(i);
    return before;
  }

  Slot* slots_ = nullptr;
  size_t capacity_ = 0;
  int shift_ = 64;
  size_t size_ = 0;
  bool mapped_ = false;
  // The table grow_ahead() maps ahead of the next growth (null: none), its slots, the bytes of
  // it faulted in, and whether it fell back to 4 KiB pages.
  Slot* next_ = nullptr;
  size_t next_capacity_ = 0;
  size_t next_ready_ = 0;
  bool next_small_pages_ = false;
  unsigned load8_ = 4;  // see set_max_load
  // add() grows the table first when it holds this many keys: the most load, in keys.
  size_t grow_at_ = 0;
  std::unique_ptr<Wide> wide_;  // null until a key's bytes pass 32 bits
};

}  // namespace netpulse::engine
