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

}  // namespace
}  // namespace netpulse::app
