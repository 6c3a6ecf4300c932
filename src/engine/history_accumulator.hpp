// The engine's side of traffic history (issue 17): per minute of event time, the bytes and
// records of every conversation (source, destination, protocol) the engine accepted, plus exact
// per-protocol sums and totals. Source and destination rollups are the conversations'
// marginals, so one sum per record serves all four dimensions.
//
// Two halves, so the engine's hot path stays cheap. In flow data nearly every record is a
// conversation of its own within a minute, so a per-minute conversation table grows to millions
// of entries and every update would be a cache miss on the engine's thread (measured: 2-3x the
// engine's cost per record). Instead:
//  - HistoryLog (one per shard, on the engine's threads): appends each record the shard accepts
//    as its primary shard (every accepted record exactly once; late records never get here, so
//    history and windows count the same records) to a per-minute chunk: 16 bytes, written in
//    sequence. Full chunks and the minutes the watermark has passed go out from the pipeline's
//    serial step as a HistoryBatch.
//  - HistoryAggregator (on the history recorder's thread): sums the chunks into per-minute
//    conversation tables, with the slots of records a few places ahead prefetched, and hands out
//    each minute once the batch says it is complete.
// Bounded: a minute keeps at most max_conversations conversations; records of conversations
// that do not fit are counted in overflow (and in the exact protocol sums and totals), so the
// rollup built from it can state how much it may miss (app/history_recorder.hpp).
//
// Sampled minutes (a log made with a sample size K). Summing every record exactly costs 30-60 ns
// a record on the recorder's thread, and on two cores there is no spare core to hide it in
// (measured: 16-96% of `process`'s throughput, against a 5% target). With K, a minute keeps
// its totals and protocol sums exact (the shard sums them into an array as it logs) and, for
// the rest, a threshold sample of about K records (Duffield, Lund and Thorup, "Learn more,
// sample less", IEEE/ACM ToN 2005): with a threshold D, a record of w bytes (at least 1) is
// kept with probability min(1, w / D) and counts as max(w, D) bytes and max(1, D / w) records.
// Every subset sum (a source's, a conversation's) is then unbiased, a record of D bytes or
// more is exact, and a key's standard error is at most sqrt(D * estimate).
//  - Selection costs one add and one compare a record: records are kept systematically, each
//    one that carries the shard's running byte count across the next point of a grid D bytes
//    apart (the grid's phase drawn at random whenever D changes), which keeps a record with
//    probability w / D as independent draws would, without a hash or a random number a record.
//  - D adapts per shard and minute: a minute starts exact (D = 0, every record kept); when a
//    shard holds 2 K_s candidates (K_s = K / shards) it thins them: D becomes their bytes / K_s
//    the first time and doubles after, and a candidate kept with probability p_old stays with
//    probability p_new / p_old (a coin from a hash of the record), so every record kept has
//    probability min(1, w / D) under the final D. A minute of at most 2 K_s records a shard is
//    exact; the candidates never exceed 2 K_s a shard.
//  - The same records on the same number of threads give the same history; a different number
//    of threads routes them to different shards, so a sampled minute's estimates differ (within
//    their bounds).
//
// Written here on AggMap rather than with a general hash map: it runs once per record, and a
// 12-byte IPv4 conversation key in a 24-byte slot keeps it cheap. Neither class is thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "core/flow_record.hpp"
#include "engine/agg_map.hpp"

namespace netpulse::engine {

inline constexpr core::TimeMs kHistoryMinuteMs = 60'000;

// A conversation between two IPv4 addresses (almost all of them).
struct Conv4 {
  uint32_t src = 0;
  uint32_t dst = 0;
  uint32_t protocol = 0;
  friend bool operator==(const Conv4&, const Conv4&) = default;
};
// Any other: at least one IPv6 address.
struct Conv6 {
  core::IpAddr src;
  core::IpAddr dst;
  uint32_t protocol = 0;
  friend bool operator==(const Conv6&, const Conv6&) = default;
};
inline uint64_t key_hash(const Conv4& k) {
  return mix64((uint64_t{k.src} << 32 | k.dst) ^ (uint64_t{k.protocol} * 0x9E3779B97F4A7C15ULL));
}
inline uint64_t key_hash(const Conv6& k) {
  uint64_t h = k.src.bits.hi * 0x9E3779B97F4A7C15ULL ^ k.src.bits.lo;
  h = mix64(h) ^ (k.dst.bits.hi * 0xC2B2AE3D27D4EB4FULL) ^ k.dst.bits.lo;
  h ^= uint64_t{k.protocol} << 40 | uint64_t{k.src.is_v6} << 1 | uint64_t{k.dst.is_v6};
  return mix64(h);
}

// Records of one minute, as logged by one shard.
struct HistoryChunk {
  struct Rec4 {
    Conv4 key;
    uint32_t bytes;
  };
  struct Rec6 {
    Conv6 key;
    uint32_t bytes;
  };
  core::TimeMs start = 0;  // the minute, a multiple of kHistoryMinuteMs
  std::vector<Rec4> v4;
  std::vector<Rec6> v6;
  // A sampled log's minute: v4 and v6 hold its candidates, `delta` is D (0: every record
  // kept, exact), and the protocol sums are exact (the totals are theirs).
  bool sampled = false;
  uint64_t delta = 0;
  uint64_t seen = 0;  // bytes (at least 1 a record) of every record logged: the grid's position
  uint64_t next = 0;  // the grid's next point: a record taking `seen` to it or past is kept
  uint32_t thinned = 0;  // times thinned: a coin's seed
  struct Sum {
    uint64_t bytes = 0;
    uint64_t records = 0;
  };
  static constexpr uint32_t kDirectProtocols = 64;  // ids below: an array, not a table
  std::array<Sum, kDirectProtocols> direct{};
  AggMap<uint32_t> protocols;  // the other ids
  size_t size() const { return v4.size() + v6.size(); }
};

// What the pipeline hands out from its serial step: chunks, and the time below which every
// record has been logged (no minute ending at or before it gets more records).
struct HistoryBatch {
  std::vector<HistoryChunk> chunks;
  core::TimeMs complete_below = std::numeric_limits<core::TimeMs>::min();
  size_t records() const {
    size_t n = 0;
    for (const auto& c : chunks) n += c.size();
    return n;
  }
};

// Chunk buffers go back from the aggregator to the logs: a fresh 1 MiB buffer per chunk would
// be a fresh mapping whose pages the kernel zeroes (measured: 18% of a run's time). Thread-safe.
class HistoryChunkPool {
 public:
  void give(std::vector<HistoryChunk::Rec4>&& v) {
    v.clear();
    std::lock_guard lock(mu_);
    if (free_.size() < kMaxFree) free_.push_back(std::move(v));
  }
  // An empty buffer, with room for a chunk when one was given back.
  std::vector<HistoryChunk::Rec4> take() {
    std::lock_guard lock(mu_);
    if (free_.empty()) return {};
    auto v = std::move(free_.back());
    free_.pop_back();
    return v;
  }

 private:
  static constexpr size_t kMaxFree = 64;
  std::mutex mu_;
  std::vector<std::vector<HistoryChunk::Rec4>> free_;
};

class HistoryLog {
 public:
  // sample: K_s, the candidates a minute keeps in this shard, about (see above); 0 logs every
  // record.
  explicit HistoryLog(HistoryChunkPool* pool = nullptr, size_t sample = 0)
      : pool_(pool), sample_(sample) {}

  // A chunk goes out when it holds this many records (1 MiB of IPv4 records).
  static constexpr size_t kChunkRecords = 65536;

  // Small enough to inline into the shard's loop: sampled, an array add, an add and a compare
  // for most records; keeping one, and the exact log, are calls.
  void add(const core::FlowRecord& r) {
    HistoryChunk& c = (cur_ && r.time >= cur_->start && r.time < cur_end_) ? *cur_ : chunk_slow(r.time);
    if (sample_ == 0) [[unlikely]] {
      log(c, r);
      return;
    }
    if (r.protocol < HistoryChunk::kDirectProtocols) [[likely]] {
      c.direct[r.protocol].bytes += r.bytes;
      ++c.direct[r.protocol].records;
    } else {
      c.protocols.add(r.protocol, r.bytes, 1);
    }
    c.seen += r.bytes ? r.bytes : 1;
    if (c.seen >= c.next) [[unlikely]] keep(c, r, sample_);
  }

  // The same threshold sample on a chunk of one's own (a Kafka instance's pane, kafka/
  // partition_state.hpp): offers r to c's candidates, keeping about `sample` to 2 `sample` of
  // them (0: every record, exact). Protocol sums and totals are the caller's.
  static void sample(HistoryChunk& c, const core::FlowRecord& r, size_t sample) {
    c.sampled = true;
    c.seen += r.bytes ? r.bytes : 1;
    if (c.seen >= c.next) [[unlikely]] keep(c, r, sample);
  }

  // Moves out the full chunks, and every chunk of a minute that ends at or before `bound`.
  void take(core::TimeMs bound, std::vector<HistoryChunk>& out);

 private:
  HistoryChunk& chunk_slow(core::TimeMs t);
  [[gnu::noinline]] static void keep(HistoryChunk& c, const core::FlowRecord& r, size_t sample);
  [[gnu::noinline]] void log(HistoryChunk& c, const core::FlowRecord& r) {
    if (!r.src.is_v6 && !r.dst.is_v6) {
      c.v4.push_back({Conv4{r.src.v4_value(), r.dst.v4_value(), r.protocol}, r.bytes});
      if (c.v4.size() >= kChunkRecords) [[unlikely]] flush_current();
    } else {
      c.v6.push_back({Conv6{r.src, r.dst, r.protocol}, r.bytes});
      if (c.v6.size() >= kChunkRecords / 4) [[unlikely]] flush_current();
    }
  }
  void flush_current();
  static void thin(HistoryChunk& c, size_t sample);  // raises D until the candidates fit again

  HistoryChunkPool* pool_;
  size_t sample_;
  std::map<core::TimeMs, HistoryChunk> open_;  // by minute
  std::vector<HistoryChunk> full_;
  HistoryChunk* cur_ = nullptr;
  core::TimeMs cur_end_ = 0;
};

// Which conversations a full minute holds, as a blocked Bloom filter (two bits in one 64-bit
// word per key, about 16 bits per key): once the table is full most records are of
// conversations it will never take, and asking the table (a cache miss each) costs more than
// summing them. One word per lookup, prefetched like the table's slots. No false negatives:
// built from the table when it fills, and the table takes no new key after that.
struct HeldFilter {
  std::vector<uint64_t> words;
  uint64_t mask = 0;  // word index mask
  bool built() const { return !words.empty(); }
  void build(size_t keys) {
    size_t n = 16;
    while (n * 4 < keys) n *= 2;  // 64 bits per 4 keys
    words.assign(n, 0);
    mask = n - 1;
  }
  void add(uint64_t h) { words[h & mask] |= bits(h); }
  bool may_hold(uint64_t h) const {
    const uint64_t b = bits(h);
    return (words[h & mask] & b) == b;
  }
  void prefetch(uint64_t h) const { __builtin_prefetch(&words[h & mask]); }

 private:
  static uint64_t bits(uint64_t h) { return uint64_t{1} << (h >> 52 & 63) | uint64_t{1} << (h >> 58); }
};

// One minute's sums.
struct HistoryPart {
  core::TimeMs start = 0;  // a multiple of kHistoryMinuteMs
  AggMap<Conv4> conv4;
  AggMap<Conv6> conv6;
  AggMap<uint32_t> protocols;  // exact: overflow included
  uint64_t total_bytes = 0;    // exact
  uint64_t total_records = 0;
  uint64_t overflow_bytes = 0;  // records of conversations that did not fit
  uint64_t overflow_records = 0;
  HeldFilter held;  // built when the tables fill
  // A sampled minute: the greatest threshold D of its shards' samples (0: exact). Its
  // conversations hold estimates, every key's within a standard error of sqrt(tau * bytes).
  uint64_t tau = 0;
};

// A finished minute (its parts' conversations are disjoint; one part from the aggregator).
struct HistoryMinute {
  core::TimeMs start = 0;
  std::vector<std::unique_ptr<HistoryPart>> parts;
};

class HistoryAggregator {
 public:
  // max_conversations: conversations one minute keeps (> 0).
  explicit HistoryAggregator(size_t max_conversations) : max_(max_conversations) {}

  // Gives back a minute's part once it has been turned into buckets: the next minute sums into
  // its tables (emptied), instead of growing fresh ones, whose huge pages the kernel must zero
  // and whose release interrupts the engine's core to flush its TLB (perf: 40% of the
  // recorder's time, and IPIs on the engine's).
  void recycle(std::unique_ptr<HistoryPart> part) {
    if (part && !spare_) spare_ = std::move(part);
  }

  // Sums the batch's chunks (their buffers go back to `pool`, if any), then hands each minute
  // the batch completes to `done`, ascending.
  template <class F>
  void add(HistoryBatch batch, F&& done, HistoryChunkPool* pool = nullptr) {
    for (auto& c : batch.chunks) {
      sum(c);
      if (pool && c.v4.capacity() >= HistoryLog::kChunkRecords) pool->give(std::move(c.v4));
    }
    batch.chunks.clear();
    while (!minutes_.empty() && minutes_.begin()->first + kHistoryMinuteMs <= batch.complete_below) {
      HistoryMinute m;
      m.start = minutes_.begin()->first;
      const HistoryPart& part = *minutes_.begin()->second;
      last_size_ = part.conv4.size() + part.conv6.size();
      m.parts.push_back(std::move(minutes_.begin()->second));
      minutes_.erase(minutes_.begin());
      done(std::move(m));
    }
  }

 private:
  void sum(const HistoryChunk& c);
  HistoryPart& part_for(core::TimeMs start);
  void sum_sampled(HistoryPart& p, const HistoryChunk& c);

  size_t max_;
  size_t last_size_ = 0;  // conversations of the last minute handed out: a new one's reservation
  std::unique_ptr<HistoryPart> spare_;
  std::map<core::TimeMs, std::unique_ptr<HistoryPart>> minutes_;
};

}  // namespace netpulse::engine
