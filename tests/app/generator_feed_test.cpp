// The in-process link from the generator to the engine.
#include "app/generator_feed.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace netpulse::app {
namespace {

using namespace std::chrono_literals;

TEST(GeneratorFeed, CoalescesWritesIntoBlocks) {
  GeneratorFeed feed;
  ASSERT_TRUE(feed.begin(""));
  ASSERT_TRUE(feed.write("a\n", 2, 1));
  ASSERT_TRUE(feed.write("b\nc\n", 4, 2));
  ingest::Block block;
  ASSERT_EQ(feed.next(block, 10ms), ingest::BlockSource::Next::kBlock);
  EXPECT_EQ(std::string(block.data, block.size), "a\nb\nc\n");
  EXPECT_EQ(feed.records_written(), 3u);
  EXPECT_EQ(feed.next(block, 10ms), ingest::BlockSource::Next::kTimeout);
}

TEST(GeneratorFeed, CloseDeliversPendingThenEnds) {
  GeneratorFeed feed;
  ASSERT_TRUE(feed.write("a\n", 2, 1));
  feed.close();
  EXPECT_FALSE(feed.write("b\n", 2, 1));
  EXPECT_TRUE(feed.reader_gone());
  EXPECT_EQ(feed.error(), "");  // a closed feed is a normal end for the engine
  ingest::Block block;
  ASSERT_EQ(feed.next(block, 10ms), ingest::BlockSource::Next::kBlock);
  EXPECT_EQ(std::string(block.data, block.size), "a\n");
  EXPECT_EQ(feed.next(block, 10ms), ingest::BlockSource::Next::kEnd);
}

TEST(GeneratorFeed, WriterWaitsWhileFullAndCloseReleasesIt) {
  GeneratorFeed feed(4);
  ASSERT_TRUE(feed.write("abcd\n", 5, 1));  // over capacity: the next write waits
  std::atomic<int> result{-1};
  std::thread writer([&] { result = feed.write("e\n", 2, 1) ? 1 : 0; });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(result.load(), -1);
  ingest::Block block;
  ASSERT_EQ(feed.next(block, 10ms), ingest::BlockSource::Next::kBlock);  // makes room
  writer.join();
  EXPECT_EQ(result.load(), 1);

  ASSERT_EQ(feed.next(block, 10ms), ingest::BlockSource::Next::kBlock);
  ASSERT_TRUE(feed.write("12345\n", 6, 1));
  std::thread blocked([&] { result = feed.write("x\n", 2, 1) ? 1 : 0; });
  std::this_thread::sleep_for(20ms);
  feed.close();
  blocked.join();
  EXPECT_EQ(result.load(), 0);
}

TEST(GeneratorFeed, RoomComesBackDownAfterABurst) {
  GeneratorFeed feed;  // bound: 8 MiB
  const std::string line = std::string(99, 'x') + "\n";
  auto write_lines = [&](int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(feed.write(line.data(), line.size(), 1));
  };
  ingest::Block block;
  write_lines(40'000);  // 4 MB piled up while the engine was away
  ASSERT_EQ(feed.next(block, 10ms), ingest::BlockSource::Next::kBlock);
  EXPECT_EQ(block.size, 4'000'000u);
  // A steady trickle again: the block after it has only the room the trickle needs.
  write_lines(10);
  ASSERT_EQ(feed.next(block, 10ms), ingest::BlockSource::Next::kBlock);
  EXPECT_EQ(block.size, 1000u);
  EXPECT_LE(feed.room(), size_t{64} << 10);
  // A steady stream: twice the last block's text, so the next block's appends do not regrow.
  write_lines(1000);
  ASSERT_EQ(feed.next(block, 10ms), ingest::BlockSource::Next::kBlock);
  EXPECT_EQ(block.size, 100'000u);
  const size_t room = feed.room();
  EXPECT_GE(room, 200'000u);
  EXPECT_LT(room, 400'000u);
  write_lines(1000);
  EXPECT_EQ(feed.room(), room);
}

}  // namespace
}  // namespace netpulse::app
