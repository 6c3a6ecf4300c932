// Parsed records (one shard's share of a block, with several threads), in a buffer reused round
// after round.
//
// With several threads, a block's records are written by the thread that parses it, one buffer
// per shard, and read by the shard's thread. The next time the buffer is filled, its cache lines
// are still held by the core that read them, so each ordinary store first fetches the line back
// and invalidates the other copy: with two threads, `perf` put 15% of the run's CPU time in those
// stores (parse_block: 151 samples on one thread, 891 on two, for the same records).
// push_streamed() writes a record with non-temporal stores instead: a whole 64-byte line (one
// record, or two key records written one after the other) goes to memory without being read, and
// the reader, who walks the records in order, streams them back in. (One thread needs no buffer:
// it adds each parsed batch to its shard at once.)
//
// Thread-safety: none; one writer, then readers after a barrier (which orders the streamed
// stores: finish() fences them).
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#include "core/flow_record.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace netpulse::engine {

// What a shard needs of a routed record when it keys by one address (--ip-key src or dst) and
// keeps no history: half a FlowRecord, so routing streams half the bytes and the shard reads
// half the cache lines.
struct KeyRecord {
  // The top bit of `protocol` says the key is IPv6 (interned protocol ids stay far below it:
  // 2^31 labels would take tens of GiB).
  static constexpr uint32_t kV6 = uint32_t{1} << 31;
  core::TimeMs time;
  uint32_t protocol;  // the protocol id, | kV6 for an IPv6 key
  uint32_t bytes;
  core::Ip6 key;
  uint32_t protocol_id() const { return protocol & ~kV6; }
  core::IpAddr address() const { return core::IpAddr{key, (protocol & kV6) != 0}; }
};

// A key record in 16 bytes, for the common case: an IPv4 key and a time within ±24 days of the
// stream's base time (KeyStream). Routing writes, and the shard reads, every record once more
// than one thread does: at 32 bytes a record, those streamed stores were 78% of routing's time
// and half of all records' bytes read again (perf, two threads, the issue-12 file).
struct PackedKey {
  // In `protocol`: this unit is an escape, and the next two units hold a whole KeyRecord (an
  // IPv6 key, or a time too far from the base).
  static constexpr uint32_t kEscape = uint32_t{1} << 31;
  int32_t time;  // ms from the stream's base
  uint32_t protocol;
  uint32_t bytes;
  uint32_t v4;
};

template <class Record>
class BasicRecordBuffer {
 public:
  static_assert(sizeof(Record) % 16 == 0 && 64 % sizeof(Record) == 0,
                "records tile cache lines in 16-byte stores");

  const Record* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  // How many times room was allocated (for tests: a buffer reused block after block should not
  // be allocated anew for every block).
  size_t allocations() const { return allocations_; }
  void clear() { size_ = 0; }

  // Room for n records in all (kept across rounds until release()).
  void reserve(size_t n) {
    if (n <= capacity_) return;
    ++allocations_;
    Storage bigger(static_cast<Record*>(::operator new (n * sizeof(Record), std::align_val_t{64})));
    if (size_ > 0) std::memcpy(bigger.get(), data_.get(), size_ * sizeof(Record));
    data_ = std::move(bigger);
    capacity_ = n;
  }

  // Frees the room (the next reserve() or push allocates anew).
  void release() {
    data_.reset();
    size_ = 0;
    capacity_ = 0;
  }

  void push_back(const Record& r) {
    room_for(1);
    std::memcpy(data_.get() + size_, &r, sizeof r);
    ++size_;
  }

  // Room for n more records, so that the next n appends need not grow the buffer (those
  // through push_streamed_spare() do not check).
  void make_room(size_t n) { room_for(n); }

  // As push_back, with stores that bypass the cache (see above).
  void push_streamed(const Record& r) {
#if defined(__x86_64__)
    room_for(1);
    auto* to = reinterpret_cast<__m128i*>(data_.get() + size_);
    const auto* from = reinterpret_cast<const __m128i*>(&r);
    for (size_t i = 0; i < sizeof(Record) / 16; ++i)
      _mm_stream_si128(to + i, _mm_loadu_si128(from + i));
    ++size_;
#else
    push_back(r);
#endif
  }

#if defined(__x86_64__)
  // As push_streamed, for a 16-byte record already in a register (its bytes in memory order).
  void push_streamed(__m128i r) {
    room_for(1);
    push_streamed_spare(r);
  }
  // The same into room make_room() made (no growth check).
  void push_streamed_spare(__m128i r) {
    static_assert(sizeof(Record) == 16);
    assert(size_ < capacity_);
    _mm_stream_si128(reinterpret_cast<__m128i*>(data_.get() + size_), r);
    ++size_;
  }
#endif

  // Makes streamed stores visible to other threads' ordinary loads (before the barrier that
  // hands the block over).
  static void finish() {
#if defined(__x86_64__)
    _mm_sfence();
#endif
  }

 private:
  // Every append's growth: doubling, from 1024 records (or to what n needs, when more).
  void room_for(size_t n) {
    if (n > capacity_ - size_) [[unlikely]]
      reserve(std::max(size_ + n, capacity_ < 1024 ? size_t{1024} : capacity_ * 2));
  }

  struct Free {
    void operator()(Record* p) const { ::operator delete (p, std::align_val_t{64}); }
  };
  using Storage = std::unique_ptr<Record, Free>;
  Storage data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
  size_t allocations_ = 0;
};

using RecordBuffer = BasicRecordBuffer<core::FlowRecord>;
static_assert(sizeof(core::FlowRecord) == 64, "a record fills one cache line");
static_assert(sizeof(KeyRecord) == 32, "a key record is half of one");
static_assert(sizeof(PackedKey) == 16, "a packed key is a quarter of one");
static_assert(std::is_trivially_copyable_v<KeyRecord>, "an escaped record is copied as bytes");

// One shard's key records from one block, in input order, most of them packed (PackedKey): the
// others as an escape unit followed by the whole record in two units. Written with streamed
// stores (see above) by the parsing thread, read by the shard's.
class KeyStream {
 public:
  const PackedKey* data() const { return units_.data(); }
  size_t size() const { return units_.size(); }  // in units: a record takes one or three
  size_t capacity() const { return units_.capacity(); }
  size_t allocations() const { return units_.allocations(); }
  core::TimeMs base() const { return base_; }
  void clear() { units_.clear(); }
  void release() { units_.release(); }
  void reserve(size_t units) { units_.reserve(units); }

  // Appends a record keyed by `key`; the whole KeyRecord is built only for an escape.
  // REQUIRES: protocol < 2^31 (protocol ids are interned, far below it).
  void push_streamed(core::TimeMs time, uint32_t protocol, uint32_t bytes,
                     const core::IpAddr& key) {
    prepare(1, time);
    if (key.is_v6)
      push_escaped(time, protocol, bytes, key);
    else
      push4_prepared(time, protocol, bytes, key.v4_value());
  }

  // Batched appends (routing a parse batch): room for n more records, escapes included, and
  // the base from `time` when the stream is empty. Then up to n push4_prepared() or
  // push_streamed() calls.
  void prepare(size_t n, core::TimeMs time) {
    if (units_.empty()) base_ = time;
    units_.make_room(3 * n);
  }
  // As push_streamed() for an IPv4 key, after prepare(). The offset from the base wraps (as
  // unit_time() adds it back), so it fits when its low 32 bits, sign-extended, give it back.
  void push4_prepared(core::TimeMs time, uint32_t protocol, uint32_t bytes, uint32_t v4) {
    const auto dt =
        static_cast<int64_t>(static_cast<uint64_t>(time) - static_cast<uint64_t>(base_));
    if (static_cast<int32_t>(dt) == dt) [[likely]] {
#if defined(__x86_64__)
      // The unit is put together in a register: built in memory as a PackedKey, it was written
      // in two 8-byte halves and read back whole for the streamed store, a load the CPU cannot
      // forward from the two stores (a third of routing's time in `perf annotate`).
      units_.push_streamed_spare(_mm_set_epi32(static_cast<int>(v4), static_cast<int>(bytes),
                                               static_cast<int>(protocol), static_cast<int>(dt)));
#else
      units_.push_back(PackedKey{static_cast<int32_t>(dt), protocol, bytes, v4});
#endif
      return;
    }
    push_escaped(time, protocol, bytes, core::IpAddr::v4(v4));
  }

  // A packed unit's time (of a stream with this base). Wrapping: the unit's offset may be one
  // that wrapped (push4_prepared).
  static core::TimeMs unit_time(core::TimeMs base, const PackedKey& u) {
    return static_cast<core::TimeMs>(static_cast<uint64_t>(base) +
                                     static_cast<uint64_t>(int64_t{u.time}));
  }

  // The record whose first unit is units[i] (of a stream with this base), and how many units
  // it takes (1 or 3).
  static size_t decode(const PackedKey* units, size_t i, core::TimeMs base, KeyRecord& out) {
    const PackedKey& u = units[i];
    if (!(u.protocol & PackedKey::kEscape)) [[likely]] {
      out.time = unit_time(base, u);
      out.protocol = u.protocol;
      out.bytes = u.bytes;
      out.key = core::Ip6{0, u.v4};
      return 1;
    }
    std::memcpy(static_cast<void*>(&out), units + i + 1, sizeof out);
    return 3;
  }

 private:
  // An escape unit and the whole record (out of line: routing's loop keeps only the packed path).
  [[gnu::noinline]] void push_escaped(core::TimeMs time, uint32_t protocol, uint32_t bytes,
                                      const core::IpAddr& key) {
    const KeyRecord r{time, protocol | (key.is_v6 ? KeyRecord::kV6 : 0), bytes, key.bits};
    units_.push_streamed(PackedKey{0, PackedKey::kEscape, 0, 0});
    PackedKey halves[2];
    std::memcpy(halves, &r, sizeof r);
    units_.push_streamed(halves[0]);
    units_.push_streamed(halves[1]);
  }

  BasicRecordBuffer<PackedKey> units_;
  core::TimeMs base_ = 0;
};

}  // namespace netpulse::engine
