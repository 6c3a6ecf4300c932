// The engine's per-block record buffers (whole records and key streams): what is written, by
// any kind of store, reads back in order, across growth and reuse.
#include "engine/record_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "key_stream_support.hpp"

namespace netpulse::engine {
namespace {

core::FlowRecord record(uint32_t i) {
  core::FlowRecord r;
  r.time = 1'600'000'000'000 + i;
  r.protocol = i % 19;
  r.bytes = i * 7 + 1;
  r.src = i % 5 == 0 ? core::IpAddr{core::Ip6{0x20010db8'00000000ull + i, i}, true}
                     : core::IpAddr::v4(0x0a000000u + i);
  r.dst = core::IpAddr::v4(0xc0a80000u + i * 3);
  return r;
}

TEST(RecordBuffer, StreamedAndOrdinaryStoresReadBackInOrderAcrossGrowthAndReuse) {
  RecordBuffer buf;
  EXPECT_TRUE(buf.empty());
  for (int round = 0; round < 3; ++round) {
    buf.clear();
    buf.reserve(100);  // smaller than what follows: the buffer must grow and keep its contents
    const uint32_t n = 5000 + round * 1000;
    for (uint32_t i = 0; i < n; ++i) {
      if ((i + round) % 3 == 0) {
        buf.push_back(record(i));
      } else if ((i + round) % 3 == 1) {
        buf.push_streamed(record(i));
      } else if (i % 7 != 0 || i + 3 > n) {
        buf.push_streamed(record(i));
      } else {
        // Room for five made first (growing the buffer when it is short of them), three used.
        buf.make_room(5);
        for (uint32_t k = 0; k < 3; ++k) buf.push_streamed(record(i + k));
        i += 2;
      }
    }
    RecordBuffer::finish();
    ASSERT_EQ(buf.size(), n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buf.data()) % 64, 0u) << "records must fill whole lines";
    for (uint32_t i = 0; i < n; ++i) {
      const core::FlowRecord want = record(i);
      const core::FlowRecord& got = buf.data()[i];
      ASSERT_EQ(got.time, want.time) << i;
      ASSERT_EQ(got.protocol, want.protocol) << i;
      ASSERT_EQ(got.bytes, want.bytes) << i;
      ASSERT_TRUE(got.src == want.src) << i;
      ASSERT_TRUE(got.dst == want.dst) << i;
    }
  }
}

// A shard's key records from a block (KeyStream): IPv4 keys within ±2^31 ms of the stream's
// first record packed in one unit, the others (IPv6 keys, times further off either way, the
// extremes of int64) escaped into three; every record reads back in order, with its family, its
// protocol id and its time, across growth and reuse.
TEST(RecordBuffer, KeyStreamReadsBackEveryRecordInOrderAcrossGrowthAndReuse) {
  KeyStream stream;
  for (int round = 0; round < 3; ++round) {
    stream.clear();
    stream.reserve(3);  // odd: growth copies part of a line
    const uint32_t n = 4001 + round * 1000;
    std::vector<KeyRecord> want;
    size_t escaped = 0;
    for (uint32_t i = 0; i < n; ++i) {
      core::FlowRecord r = record(i);
      // Times around the base: within an int32 of it both ways, just past it both ways, far off.
      const int64_t offsets[] = {0,
                                 -1,
                                 INT32_MAX,
                                 INT32_MIN,
                                 int64_t{INT32_MAX} + 1,
                                 int64_t{INT32_MIN} - 1,
                                 int64_t{1} << 40,
                                 -(int64_t{1} << 40)};
      if (i > 0 && i % 7 == 0) r.time = want.front().time + offsets[(i / 7) % 8];
      if (i == 100) r.time = INT64_MAX;
      if (i == 101) r.time = INT64_MIN;
      const KeyRecord k{r.time, r.protocol | (r.src.is_v6 ? KeyRecord::kV6 : 0), r.bytes,
                        r.src.bits};
      const int64_t dt =
          static_cast<int64_t>(static_cast<uint64_t>(r.time) -
                               static_cast<uint64_t>(want.empty() ? r.time : want.front().time));
      const bool far = i == 100 || i == 101 || dt < INT32_MIN || dt > INT32_MAX;
      escaped += r.src.is_v6 || far;
      want.push_back(k);
      testing::append_keys(stream, {r});  // a batch of one: the stream grows record by record
    }
    RecordBuffer::finish();
    EXPECT_EQ(stream.base(), want.front().time);
    ASSERT_EQ(stream.size(), n + 2 * escaped) << "a packed record takes one unit, another three";
    EXPECT_EQ(reinterpret_cast<uintptr_t>(stream.data()) % 64, 0u);
    size_t at = 0;
    for (uint32_t i = 0; i < n; ++i) {
      ASSERT_LT(at, stream.size()) << i;
      KeyRecord got;
      at += KeyStream::decode(stream.data(), at, stream.base(), got);
      ASSERT_EQ(got.time, want[i].time) << i;
      ASSERT_EQ(got.protocol_id(), want[i].protocol_id()) << i;
      ASSERT_EQ(got.bytes, want[i].bytes) << i;
      ASSERT_TRUE(got.address() == want[i].address()) << i;
    }
    EXPECT_EQ(at, stream.size());
  }
}

// Batched appends (prepare() once, then put4() or put_escaped() per record from end() on, as
// routing does; testing::append_keys): a time whose offset from the base overflows int64 but wraps
// into 32 bits is packed, and reads back exactly (decode() adds the offset back with the same
// wrapping); one just outside is escaped.
TEST(RecordBuffer, KeyStreamBatchesPackOffsetsThatWrapAndReadThemBack) {
  KeyStream stream;
  const core::TimeMs base = INT64_MIN + 10;
  const core::TimeMs times[] = {base,     INT64_MAX - 5, base + INT32_MAX,
                                base - 1, INT64_MAX,     base + int64_t{INT32_MAX} + 1};
  const bool packed[] = {true, true, true, true, true, false};
  std::vector<core::FlowRecord> batch;
  for (size_t i = 0; i < std::size(times); ++i) {
    core::FlowRecord r;
    r.time = times[i];
    r.protocol = 3;
    r.bytes = 100 + static_cast<uint32_t>(i);
    r.src = core::IpAddr::v4(0x0A000001u + static_cast<uint32_t>(i));
    batch.push_back(r);
  }
  testing::append_keys(stream, batch);
  RecordBuffer::finish();
  EXPECT_EQ(stream.base(), base);
  size_t at = 0;
  for (size_t i = 0; i < std::size(times); ++i) {
    KeyRecord got;
    const size_t used = KeyStream::decode(stream.data(), at, stream.base(), got);
    EXPECT_EQ(used, packed[i] ? 1u : 3u) << i;
    at += used;
    EXPECT_EQ(got.time, times[i]) << i;
    EXPECT_EQ(got.protocol_id(), 3u) << i;
    EXPECT_EQ(got.bytes, 100 + i) << i;
    EXPECT_TRUE(got.address() == core::IpAddr::v4(0x0A000001u + static_cast<uint32_t>(i))) << i;
  }
  EXPECT_EQ(at, stream.size());
}

TEST(RecordBuffer, ReleaseGivesTheRoomBackAndTheBufferWorksAfter) {
  RecordBuffer buf;
  buf.reserve(100'000);
  EXPECT_EQ(buf.capacity(), 100'000u);
  for (uint32_t i = 0; i < 10; ++i) buf.push_back(record(i));
  buf.release();
  EXPECT_EQ(buf.capacity(), 0u);
  EXPECT_EQ(buf.size(), 0u);
  for (uint32_t i = 0; i < 3000; ++i) buf.push_streamed(record(i));
  RecordBuffer::finish();
  ASSERT_EQ(buf.size(), 3000u);
  EXPECT_LT(buf.capacity(), 100'000u);
  for (uint32_t i = 0; i < 3000; ++i) ASSERT_EQ(buf.data()[i].bytes, record(i).bytes) << i;
}

}  // namespace
}  // namespace netpulse::engine
