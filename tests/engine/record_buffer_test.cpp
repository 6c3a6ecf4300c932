// The engine's per-block record buffers (whole records and key records): what is written, by
// either kind of store, reads back in order, across growth and reuse.
#include "engine/record_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>

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
      if ((i + round) % 3 == 0) buf.push_back(record(i));
      else buf.push_streamed(record(i));
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

// Key records are half a line: two to a line, streamed one at a time (the second half of a line
// written by a later push), IPv6 flag and protocol id kept apart.
TEST(RecordBuffer, KeyRecordsReadBackWithTheirFamilyAcrossGrowthAndReuse) {
  KeyRecordBuffer buf;
  for (int round = 0; round < 3; ++round) {
    buf.clear();
    buf.reserve(3);  // odd: growth copies half a line
    const uint32_t n = 4001 + round * 1000;
    for (uint32_t i = 0; i < n; ++i) {
      const core::FlowRecord r = record(i);
      const KeyRecord k{r.time, r.protocol | (r.src.is_v6 ? KeyRecord::kV6 : 0), r.bytes,
                        r.src.bits};
      if ((i + round) % 4 == 0)
        buf.push_back(k);
      else
        buf.push_streamed(k);
    }
    KeyRecordBuffer::finish();
    ASSERT_EQ(buf.size(), n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buf.data()) % 64, 0u);
    for (uint32_t i = 0; i < n; ++i) {
      const core::FlowRecord want = record(i);
      const KeyRecord& got = buf.data()[i];
      ASSERT_EQ(got.time, want.time) << i;
      ASSERT_EQ(got.protocol_id(), want.protocol) << i;
      ASSERT_EQ(got.bytes, want.bytes) << i;
      ASSERT_TRUE(got.address() == want.src) << i;
    }
  }
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
