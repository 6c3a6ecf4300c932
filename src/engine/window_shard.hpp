// One shard of the engine's window state: the panes (one time unit each) and the running
// aggregate of the current window for the keys this shard owns. With --threads N there are N
// shards; a key (protocol or address) belongs to exactly one, chosen by hash, so shards never
// share a key and their per-window statistics add up exactly. Not thread-safe: one owner thread.
//
// A pane is open (a hash table that records are added to) until the watermark passes its end;
// then close_before() copies it into a flat array in slot order and gives the table back to a
// pool, so the tables are allocated once and reused, and each fold reads a dense array in the
// window table's own order.
//
// The address queries only ever look at keys above a threshold (share, outliers) or at the top
// k. The shard keeps, as the window moves, the set of keys whose bytes reach a level chosen
// below those thresholds; a query then visits that set instead of every key of the window, so
// the work per window is proportional to the keys that changed, not to all keys held.
#pragma once

#include <array>
#include <bit>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/flow_record.hpp"
#include "core/status.hpp"
#include "engine/agg_map.hpp"
#include "engine/flat_arena.hpp"
#include "engine/history_accumulator.hpp"
#include "engine/packed_entries.hpp"
#include "engine/params.hpp"
#include "engine/record_buffer.hpp"
#include "engine/sketch.hpp"

namespace netpulse::engine {

// Exact sums over the keys of one dimension in a window: n keys, sum of bytes, sum of squares.
// Integers, so the merge across shards is exact and independent of the thread count.
struct DimStats {
  uint64_t n = 0;
  uint64_t s1 = 0;
  unsigned __int128 s2 = 0;

  void on_add(Agg before, uint64_t bytes) {
    if (before.records == 0) ++n;
    s1 += bytes;
    const unsigned __int128 b0 = before.bytes, b1 = before.bytes + bytes;
    s2 += b1 * b1 - b0 * b0;
  }
  void on_sub(Agg before, uint64_t bytes, uint32_t records) {
    if (before.records == records) --n;
    s1 -= bytes;
    const unsigned __int128 b0 = before.bytes, b1 = before.bytes - bytes;
    s2 -= b0 * b0 - b1 * b1;
  }
  DimStats& operator+=(const DimStats& o) {
    n += o.n;
    s1 += o.s1;
    s2 += o.s2;
    return *this;
  }
};

// A pane's address dimension under the memory budget (spec section 9). Once `summarized`, the
// pane's address tables hold, for every address x, a lower bound: stored(x) <= true(x) <=
// stored(x) + floor (stored(x) = 0 for an address not held). `removed` is the mass of bytes no
// longer held, so the dimension's sum stays exact; the sketches saw every address with its
// true bytes. An exact pane may carry the sketches alone (summarized = false), built when a
// window that also holds summarized panes needed them.
struct PaneSummary {
  bool summarized = false;
  uint64_t floor = 0;
  uint64_t removed = 0;
  HyperLogLog keys;
  F2Sketch squares;

  void add_key(uint64_t hash, uint64_t bytes) {
    keys.add(std::rotl(hash, 32));
    squares.add(hash, static_cast<int64_t>(bytes));
  }
};

// Per-key sums of one pane or one window, for both dimensions.
struct KeySums {
  AggMap<uint32_t> protocols;
  AggMap<uint32_t> ip4;
  AggMap<core::Ip6> ip6;
  // An open pane: past this many address keys, its address dimension becomes a summary (see
  // PaneSummarizer::add). SIZE_MAX: no budget.
  size_t ip_limit = SIZE_MAX;
  std::unique_ptr<PaneSummary> summary;
};

// The memory budget's step for an open pane (see window_shard.cpp): once its address table
// reaches its limit (the caller decides when), the pane becomes a Misra-Gries summary of m
// keys. Shared by the engine's shards and by Kafka instances' panes. Not thread-safe.
class PaneSummarizer {
 public:
  explicit PaneSummarizer(size_t m = 0) : m_(m) {}
  size_t keys() const { return m_; }
  // After `bytes` of the address with hash `hash` were added to sums: starts the summary the
  // first time (the sketches take the keys held, the table drops to m keys), else updates the
  // sketches and decrements when the table holds 2m keys.
  void over_limit(KeySums& sums, uint64_t hash, uint64_t bytes);
  // The Misra-Gries step: takes the (m+1)-th largest count from every key, drops the keys
  // left with nothing, raises the floor. REQUIRES: sums.summary.
  void decrement(KeySums& sums);
  // Adds `bytes` to address ip of an open pane; past sums.ip_limit the pane goes on as a
  // summary. One predictable compare on the exact path; a summarized pane (limit 0) always
  // goes on to over_limit(). The engine's shards and Kafka instances' panes both add this way
  // (and Adder4 keeps the same limit as limit4()).
  [[gnu::always_inline]] void add(KeySums& sums, const core::IpAddr& ip, uint32_t bytes) {
    if (!ip.is_v6) sums.ip4.add(ip.v4_value(), bytes, 1);
    else sums.ip6.add(ip.bits, bytes, 1);
    if (sums.ip4.size() + sums.ip6.size() >= sums.ip_limit) [[unlikely]]
      over_limit(sums, sketch_hash(ip), bytes);
  }
  // add() of IPv4 addresses, for a loop that adds a run of records to one open pane: the pane's
  // IPv4 table and its limit held in locals (AggMap::Inserter) until done(), and each address's
  // slot_order() computed by the caller (to prefetch its slot a few records earlier), so it is
  // hashed once (a summarized pane's sketches hash it again, with sketch_hash). Its IPv6
  // addresses go through add(), after done().
  class Adder4 {
   public:
    Adder4() = default;
    Adder4(PaneSummarizer& summarizer, KeySums& sums)
        : summarizer_(&summarizer), sums_(&sums), ip4_(sums.ip4), limit4_(limit4(sums)) {}
    void prefetch_at(uint64_t order) const { ip4_.prefetch_at(order); }
    [[gnu::always_inline]] void add4_at(uint32_t v4, uint64_t order, uint32_t bytes) {
      ip4_.add_at(v4, order, bytes, 1);
      if (ip4_.size() >= limit4_) [[unlikely]] {
        ip4_.done();
        limit4_ = over_limit(*summarizer_, *sums_, v4, bytes);
        ip4_ = AggMap<uint32_t>::Inserter(sums_->ip4);
      }
    }
    void done() { ip4_.done(); }

   private:
    // add()'s limit on the IPv4 keys alone: the IPv6 keys do not change meanwhile.
    static size_t limit4(const KeySums& sums) {
      return sums.ip_limit > sums.ip6.size() ? sums.ip_limit - sums.ip6.size() : 0;
    }
    // PaneSummarizer::over_limit, and the limit after it (static: the Adder4's address does not
    // escape the loop using it, so its fields can stay in registers).
    [[gnu::noinline]] static size_t over_limit(PaneSummarizer& summarizer, KeySums& sums,
                                               uint32_t v4, uint32_t bytes) {
      summarizer.over_limit(sums, sketch_hash(v4), bytes);
      return limit4(sums);
    }

    PaneSummarizer* summarizer_ = nullptr;
    KeySums* sums_ = nullptr;
    AggMap<uint32_t>::Inserter ip4_;
    size_t limit4_ = 0;
  };
  // The (m+1)-th largest of `bytes` (reordered): what a cut to m keys takes away. REQUIRES:
  // bytes.size() > m.
  static uint64_t cut_value(std::vector<uint64_t>& bytes, size_t m);
  // For a closed summarized pane: at most m keys. REQUIRES: sums.summary. m = 0 (no budget,
  // e.g. a merge without one given panes that Kafka instances summarized): keeps every key.
  void trim(KeySums& sums) {
    if (m_ != 0 && sums.ip4.size() + sums.ip6.size() > m_) decrement(sums);
  }

 private:
  size_t m_;
  std::vector<uint64_t> bytes_;
  std::vector<AggMap<uint32_t>::Entry> kept4_;
  std::vector<AggMap<core::Ip6>::Entry> kept6_;
};

// What the memory budget allows one shard (spec section 9); see budget_for().
struct ShardBudget {
  size_t bytes = 0;          // 0: unbounded, exact always
  size_t summary_keys = 0;   // m: address keys a summarized pane keeps
  size_t open_keys = 0;      // address keys of an open pane before it is summarized
};
// The budget of each of `shards` shards under config.memory_limit, or why it is too small for
// config.max_window (an invalid argument).
core::Result<ShardBudget> budget_for(const EngineConfig& config, uint32_t shards);
// The most memory the PageCache may keep under config.memory_limit: half of what the budget
// keeps out of the window state, at most PageCache::kDefaultCap.
size_t page_cache_cap(const EngineConfig& config);

// A window's approximation, added up over shards: the largest floor (every listed address's
// bytes are within it), the mass no longer held by any key, and the sketches.
struct WindowApprox {
  bool any = false;
  uint64_t floor = 0;
  uint64_t removed = 0;
  HyperLogLog keys;
  F2Sketch squares;
  // The address dimension's statistics estimated from the sketches, given the exact-table
  // statistics summed over shards.
  DimStats estimate(const DimStats& held) const;
  // Marks info approximate and replaces its address statistics, when any shard summarized.
  template <class Info>
  void apply(Info& info) const {
    if (!any) return;
    info.ip_approximate = true;
    info.ip_error_bytes = floor;
    info.ip = estimate(info.ip);
  }
};

// What the queries read of a shard's current window.
struct WindowAggregate {
  KeySums keys;
  DimStats protocol;  // protocol.s1 is the window's total bytes
  DimStats ip;
  uint64_t records = 0;
};

// Which shard owns a key: the high bits of a hash of it (the maps index with other bits, see
// slot_order()).
inline uint32_t shard_of(uint64_t hash, uint32_t shards) {
  return static_cast<uint32_t>(((hash >> 32) * shards) >> 32);
}
// An IPv4 key's hash for its shard: the first of key_hash()'s multiplies. Routing hashes every
// record; only the product's high bits are taken, and those spread the address sets a network
// has evenly (Fibonacci hashing: sequential addresses, strides, every /24's gateway; the test
// ShardOf.SpreadsUsualAddressSetsEvenlyOverTheShards).
inline uint64_t shard_hash(uint32_t v4) {
  return v4 * 0x9E3779B97F4A7C15ULL;
}
inline uint32_t shard_of(const core::IpAddr& a, uint32_t shards) {
  return shard_of(a.is_v6 ? key_hash(a.bits) : shard_hash(a.v4_value()), shards);
}

class WindowShard {
 public:
  WindowShard(uint32_t index, uint32_t shards, const EngineConfig& config);
  ~WindowShard();

  // Adds records. With one shard (routed = false): a batch of the input's records, in input
  // order; a record is late when its time is below the running maximum event time (from
  // entering_max, the greatest time of every record before the batch, on) - lateness, as the
  // input order decides. With several, a block's records: the parsing thread copied each record
  // to the shard of its address (see Pipeline::route and route_keys), leaving out those late
  // against the records before them in the block; a shard then drops those late against the
  // earlier blocks (time below entering_max - lateness): together, the decision one thread
  // reading in order makes. Returns the late records among those here as primary.
  struct Input {
    const core::FlowRecord* records = nullptr;
    size_t count = 0;
    bool routed = false;  // several shards: records are this shard's copies
    // Routed with --ip-key host: a route tag (below) per record; otherwise all are kPrimary.
    const uint8_t* tags = nullptr;
    // Routed as key records (Pipeline::route_keys, KeyStream): count is the stream's units here,
    // records null; key_base the stream's base time.
    const PackedKey* keys = nullptr;
    core::TimeMs key_base = 0;
    core::TimeMs entering_max = kNoTime;  // greatest time of all earlier records (see above)
  };
  uint64_t consume(const Input& in);

  // Route tags. kPrimary: the shard of the record's first address (src; dst with --ip-key dst):
  // it counts the record, its protocol and that address. kAlso: (--ip-key host) the dst belongs
  // to the same shard. kSecondary: only the dst is this shard's.
  static constexpr uint8_t kPrimary = 0, kAlso = 1, kSecondary = 2;
  static constexpr core::TimeMs kNoTime = INT64_MIN;

  // Records this shard counted per pane since the last call (each record counts in exactly one
  // shard: the owner of its protocol). Clears the list.
  void take_pane_counts(std::vector<std::pair<int64_t, uint64_t>>& out);

  // The sums of pane `index`, to be filled with sums computed elsewhere (`netpulse merge` adds
  // up the panes that Kafka instances published). REQUIRES: no window moved over this pane yet.
  KeySums& pane_sums(int64_t index);

  // Panes below `bound` receive no more records (the watermark passed them): compact them.
  void close_before(int64_t bound);

  // Makes the window aggregate cover panes [lo, hi), adding and subtracting whole panes.
  void move_window(int64_t lo, int64_t hi);
  const WindowAggregate& window() const { return window_; }

  // Calls f(const core::IpAddr&, uint64_t bytes) for a set of the window's address keys that
  // holds every key with at least `floor` bytes and this shard's `k` keys with the most bytes
  // (those a top-k can take from it), and maybe others. Visits the tracked candidates when
  // they are enough; otherwise every key, and then picks a new level to track.
  template <class F>
  void for_each_candidate(uint64_t floor, size_t k, F&& f);

  // Drops panes below `bound` that the window no longer covers.
  void evict_before(int64_t bound);

  // The memory budget (default: unbounded). Call before the first record.
  void set_budget(const ShardBudget& budget) {
    budget_ = budget;
    summarizer_ = PaneSummarizer(budget.summary_keys);
  }
  const ShardBudget& budget() const { return budget_; }
  // Whether the current window holds a summarized pane, and then its floor and sketches.
  bool window_approximate() const { return approx_panes_ > 0; }
  void add_approx(WindowApprox& out);

  // Traffic history: every record this shard accepts as its primary shard is also logged here
  // (null: no history). The pipeline owns the log.
  void set_history(HistoryLog* history) { history_ = history; }

  size_t pane_count() const { return panes_.size(); }
  size_t memory_bytes() const;
  // The closed panes' arrays: bytes the shard's arena holds, and bytes of arrays alive in it.
  size_t flat_held_bytes() const { return arena_->held_bytes(); }
  size_t flat_live_bytes() const { return arena_->live_bytes(); }
  // Copies the closed panes' arrays into fresh slabs, leaving no holes (the shard does it itself
  // when the holes outgrow the arrays, and under its memory budget).
  void compact_flats();
  // Keys tracked as candidates (tests and statistics).
  size_t candidate_count() const { return cand4_.size() + cand6_.size(); }

 private:
  using Entry4 = AggMap<uint32_t>::Entry;
  using Entry6 = AggMap<core::Ip6>::Entry;

  // A closed pane: its entries in slot order, in the shard's arena (see FlatArena).
  struct FlatSums {
    std::vector<Entry4, FlatAlloc<Entry4>> protocols;
    PackedEntries ip4;  // most of a pane's keys: 8 bytes each (see PackedEntries)
    std::vector<Entry6, FlatAlloc<Entry6>> ip6;
    FlatSums() = default;
    explicit FlatSums(FlatArena* arena)
        : protocols(FlatAlloc<Entry4>(arena)), ip4(arena), ip6(FlatAlloc<Entry6>(arena)) {}
    void clear() {
      protocols.clear();
      ip4.clear();
      ip6.clear();
    }
  };

  struct Pane {
    int64_t index = 0;
    std::unique_ptr<KeySums> open;  // while records may arrive; from the pool
    FlatSums flat;                  // after close (may also hold entries while open: see close)
    uint64_t round_records = 0;
    std::unique_ptr<PaneSummary> summary;  // see PaneSummary; null: exact, no sketches
  };

  Pane& pane_for(core::TimeMs t) {
    if (cur_ && t >= cur_start_ && t < cur_end_) return *cur_;
    return pane_slow(t);
  }
  // The open pane a consume loop's run of records goes to, its time range, and its IPv4 table
  // held in locals while records fall in it (PaneSummarizer::Adder4): through the pane, every
  // record loaded the pane and its table's fields again, 8-10 instructions a record. A loop
  // enters the run's pane with into(), adds addresses with add_address() (or through `adder`,
  // IPv4 only), and leaves the run with leave() before anything else may touch the pane. (A
  // loop that throws, an allocation failing, leaves the table's size behind: the engine stops
  // then, see consume(). A destructor writing it back cost 7 instructions a record: GCC kept the
  // run in memory for the unwinding.)
  struct PaneRun {
    Pane* pane = nullptr;
    core::TimeMs start = 0, end = 0;
    PaneSummarizer::Adder4 adder;
    bool holds(core::TimeMs t) const { return t >= start && t < end; }
  };
  [[gnu::always_inline]] void into(PaneRun& run, core::TimeMs t) {
    if (run.holds(t)) [[likely]]
      return;
    leave(run);
    run.pane = &pane_for(t);
    run.start = cur_start_;
    run.end = cur_end_;
    run.adder = PaneSummarizer::Adder4(summarizer_, *run.pane->open);
  }
  [[gnu::always_inline]] void leave(PaneRun& run) {
    if (run.pane) run.adder.done();
    run.pane = nullptr;
    run.start = run.end = 0;
  }
  // add_ip() into the run's pane; `order` is a's slot_order() when a is IPv4.
  [[gnu::always_inline]] void add_address(PaneRun& run, const core::IpAddr& a, uint64_t order,
                                          uint32_t bytes) {
    if (!a.is_v6) [[likely]] {
      run.adder.add4_at(a.v4_value(), order, bytes);
      return;
    }
    run.adder.done();
    add_ip(*run.pane->open, a, bytes);
    run.adder = PaneSummarizer::Adder4(summarizer_, *run.pane->open);
  }
  Pane& pane_slow(core::TimeMs t);
  KeySums& open_sums(Pane& pane);
  [[gnu::always_inline]] void add_ip(KeySums& sums, const core::IpAddr& ip, uint32_t bytes) {
    summarizer_.add(sums, ip, bytes);
  }
  void summarize(Pane& pane);
  void enforce_budget();
  bool in_window(const Pane& pane) const {
    return has_window_ && pane.index >= lo_ && pane.index < hi_;
  }
  // A primary record's protocol and key address(es), into the run's pane (after into()).
  // `order`: slot_order() of the record's key address (its src, or dst with --ip-key dst), used
  // when that address is IPv4. kKey: ip_key_, when the caller's loop knows it.
  template <IpKey kKey>
  void add_primary(PaneRun& run, const core::FlowRecord& r, bool dst_here, uint64_t order);
  void add_primary(PaneRun& run, const core::FlowRecord& r, bool dst_here, uint64_t order);
  // A primary record's protocol, and the record counted in its pane's round_records.
  [[gnu::always_inline]] void add_protocol(Pane& pane, uint32_t id, uint32_t bytes) {
    if (&pane == batch_pane_ && id < kBatchProtocols) [[likely]] {
      batch_protocols_[id].bytes += bytes;
      ++batch_protocols_[id].records;
      batch_ids_ |= uint64_t{1} << id;
    } else {
      add_protocol_slow(pane, id, bytes);
    }
  }
  void add_protocol_slow(Pane& pane, uint32_t id, uint32_t bytes);
  void count_records(Pane& pane, uint64_t n) {
    if (pane.round_records == 0) touched_.push_back(&pane);
    pane.round_records += n;
  }
  void flush_protocols();
  template <IpKey kKey>
  uint64_t consume_in_order(const Input& in);
  uint64_t consume_routed(const Input& in);
  uint64_t consume_keys(const Input& in);
  // A routed record below this time is late. The parser dropped the records late within their
  // block; what is left is late only against the earlier blocks.
  core::TimeMs routed_late_bound(const Input& in) const {
    return in.entering_max == kNoTime ? kNoTime : in.entering_max - lateness_ms_;
  }
  void fold(const Pane& pane, bool add);
  void fold_range(int64_t lo, int64_t hi, bool add);
  void retire(Pane& pane);

  // Candidate tracking (see for_each_candidate).
  using Histogram = std::array<uint64_t, 66>;  // keys per bit width of their bytes
  void retrack(uint64_t floor, size_t k, const Histogram& h);
  void maybe_raise(uint64_t floor, size_t k, const Histogram& h);
  static uint64_t pick_level(uint64_t floor, size_t k, const Histogram& h);

  uint32_t index_;
  uint32_t shards_;
  int64_t unit_ms_;
  int64_t lateness_ms_;
  IpKey ip_key_;

  // Declared before everything that holds its arrays (panes_, flat_pool_), so it outlives them.
  std::unique_ptr<FlatArena> arena_ = std::make_unique<FlatArena>();
  std::map<int64_t, Pane> panes_;
  Pane* cur_ = nullptr;
  core::TimeMs cur_start_ = 0, cur_end_ = 0;
  std::vector<Pane*> touched_;
  // A consume call's protocol sums for one open pane, batch_pane_, by id (ids are dense,
  // interned from 0): an indexed add instead of a hashed one per record; batch_ids_ marks the
  // ids used. Flushed into the pane's table, and their records into its round_records, when a
  // record's pane differs and at the end of every consume call (dropped if it throws), so
  // nothing else sees them; batch_pane_ is null between calls.
  static constexpr uint32_t kBatchProtocols = 64;
  std::array<Agg, kBatchProtocols> batch_protocols_{};
  uint64_t batch_ids_ = 0;
  Pane* batch_pane_ = nullptr;
  size_t last_pane_ip_keys_ = 0;
  std::vector<std::unique_ptr<KeySums>> table_pool_;
  std::vector<FlatSums> flat_pool_;

  WindowAggregate window_;
  bool has_window_ = false;
  int64_t lo_ = 0, hi_ = 0;

  // Every window key with bytes >= level_ is in cand4_/cand6_ (as a key with one record);
  // level_ == UINT64_MAX: not tracking.
  uint64_t level_ = UINT64_MAX;
  AggMap<uint32_t> cand4_;
  AggMap<core::Ip6> cand6_;
  std::vector<uint32_t> scratch4_;
  std::vector<core::Ip6> scratch6_;

  // Memory budget: summarized panes in the window and the sum of their floors and removed bytes.
  ShardBudget budget_;
  size_t approx_panes_ = 0;
  uint64_t approx_floor_ = 0;
  uint64_t approx_removed_ = 0;
  PaneSummarizer summarizer_;
  HistoryLog* history_ = nullptr;
  std::vector<uint64_t> bytes_scratch_;
};

template <class F>
void WindowShard::for_each_candidate(uint64_t floor, size_t k, F&& f_exact) {
  // A summarized window's tables hold lower bounds; stored + approx_floor_ bounds each address
  // from above, and that is what the queries compare and list (no false negatives).
  const uint64_t up = approx_floor_;
  floor = floor > up ? floor - up : 0;
  auto f = [&](const core::IpAddr& key, uint64_t bytes) { f_exact(key, bytes + up); };
  Histogram h{};
  const WindowAggregate& w = window_;
  if (level_ != UINT64_MAX && level_ <= floor && candidate_count() >= k) {
    cand4_.for_each([&](const Entry4& c) {
      const uint64_t bytes = w.keys.ip4.find(c.key)->bytes;
      ++h[std::bit_width(bytes)];
      f(core::IpAddr::v4(c.key), bytes);
    });
    cand6_.for_each([&](const Entry6& c) {
      const uint64_t bytes = w.keys.ip6.find(c.key)->bytes;
      ++h[std::bit_width(bytes)];
      f(core::IpAddr::v6(c.key), bytes);
    });
    maybe_raise(floor, k, h);
    return;
  }
  w.keys.ip4.for_each([&](const Entry4& e) {
    ++h[std::bit_width(e.bytes)];
    f(core::IpAddr::v4(e.key), e.bytes);
  });
  w.keys.ip6.for_each([&](const Entry6& e) {
    ++h[std::bit_width(e.bytes)];
    f(core::IpAddr::v6(e.key), e.bytes);
  });
  retrack(floor, k, h);
}

}  // namespace netpulse::engine
