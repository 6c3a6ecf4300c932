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

  // Room for n more records, so that the next n appends need not grow the buffer.
  void make_room(size_t n) { room_for(n); }
  // Appends by a loop that keeps its place itself: it writes records from end() on, into room
  // make_room() made, and end_at() takes in those before `at`.
  Record* end() { return data_.get() + size_; }
  void end_at(const Record* at) {
    assert(at >= data_.get() && static_cast<size_t>(at - data_.get()) <= capacity_);
    size_ = static_cast<size_t>(at - data_.get());
  }

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

  // Batched appends (routing a parse batch) by a loop that keeps its place itself:
  // prepare(n, time) makes room for n more records, escapes included, and sets the base from
  // `time` when the stream is empty; then put4() and put_escaped() write records from end() on,
  // each returning the place after the record it wrote, and end_at() takes them in. (Appending
  // through the stream, its size went to memory and back for every record.)
  void prepare(size_t n, core::TimeMs time) {
    if (units_.empty()) base_ = time;
    units_.make_room(3 * n);
  }
  PackedKey* end() { return units_.end(); }
  void end_at(PackedKey* at) { units_.end_at(at); }

  // A time's offset from a base. It wraps (as unit_time() adds it back), so it packs when its
  // low 32 bits, sign-extended, give it back.
  static int64_t offset(core::TimeMs time, core::TimeMs base) {
    return static_cast<int64_t>(static_cast<uint64_t>(time) - static_cast<uint64_t>(base));
  }
  static bool packs(int64_t offset) { return static_cast<int32_t>(offset) == offset; }

  // An IPv4-keyed record whose offset packs(), in one unit at `at`. REQUIRES (here and in
  // put_escaped): protocol < 2^31 (protocol ids are interned, far below it).
  static PackedKey* put4(PackedKey* at, int64_t offset, uint32_t protocol, uint32_t bytes,
                         uint32_t v4) {
#if defined(__x86_64__)
    // The unit is put together in a register: built in memory as a PackedKey, it was written in
    // two 8-byte halves and read back whole for the streamed store, a load the CPU cannot
    // forward from the two stores (a third of routing's time in `perf annotate`).
    _mm_stream_si128(reinterpret_cast<__m128i*>(at),
                     _mm_set_epi32(static_cast<int>(v4), static_cast<int>(bytes),
                                   static_cast<int>(protocol), static_cast<int>(offset)));
#else
    *at = PackedKey{static_cast<int32_t>(offset), protocol, bytes, v4};
#endif
    return at + 1;
  }
  // Any record: an escape unit, then the whole KeyRecord in two units (out of line: routing's
  // loop keeps only the packed path).
  [[gnu::noinline]] static PackedKey* put_escaped(PackedKey* at, core::TimeMs time,
                                                  uint32_t protocol, uint32_t bytes,
                                                  const core::IpAddr& key) {
    const KeyRecord r{time, protocol | (key.is_v6 ? KeyRecord::kV6 : 0), bytes, key.bits};
    PackedKey units[3] = {{0, PackedKey::kEscape, 0, 0}, {}, {}};
    std::memcpy(static_cast<void*>(units + 1), &r, sizeof r);
#if defined(__x86_64__)
    for (int i = 0; i < 3; ++i)
      _mm_stream_si128(reinterpret_cast<__m128i*>(at + i),
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(units + i)));
#else
    std::memcpy(static_cast<void*>(at), units, sizeof units);
#endif
    return at + 3;
  }

  // A packed unit's time (of a stream with this base). Wrapping: the unit's offset may be one
  // that wrapped (offset()).
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
  BasicRecordBuffer<PackedKey> units_;
  core::TimeMs base_ = 0;
};

}  // namespace netpulse::engine
