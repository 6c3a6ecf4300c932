#include "generate/tcp_broadcast_sink.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "core/net.hpp"

namespace netpulse::generate {
namespace {

using namespace std::chrono_literals;

// A consumer that reads everything until EOF on its own thread.
class Reader {
 public:
  explicit Reader(uint16_t port) {
    const core::Result<int> fd = core::connect_tcp("127.0.0.1", port, "test");
    EXPECT_TRUE(fd.ok()) << fd.status().message();
    fd_ = fd.value_or(-1);
    thread_ = std::thread([this] {
      char buf[65536];
      while (true) {
        const ssize_t n = ::read(fd_, buf, sizeof buf);
        if (n <= 0) break;
        std::lock_guard lock(mu_);
        text_.append(buf, static_cast<size_t>(n));
      }
      done_ = true;
    });
  }
  ~Reader() {
    if (thread_.joinable()) {
      ::shutdown(fd_, SHUT_RDWR);
      thread_.join();
    }
    ::close(fd_);
  }
  // Closes the connection (a consumer that goes away).
  void hang_up() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
  }
  bool wait_done(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (!done_ && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(5ms);
    if (done_ && thread_.joinable()) thread_.join();
    return done_;
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  int fd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::string text_;
  std::atomic<bool> done_{false};
};

bool wait_for_consumers(TcpBroadcastSink& sink, size_t n) {
  for (int i = 0; i < 400; ++i) {
    if (sink.consumers().size() == n) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

std::string block(int i) {
  std::string s;
  for (int k = 0; k < 100; ++k) s += "record " + std::to_string(i) + "." + std::to_string(k) + "\n";
  return s;
}

std::unique_ptr<TcpBroadcastSink> start(TcpBroadcastSink::Options o = {}) {
  std::string why;
  auto sink = TcpBroadcastSink::start("127.0.0.1", 0, std::move(o), &why);
  EXPECT_TRUE(sink) << why;
  EXPECT_NE(sink->port(), 0);
  return sink;
}

TEST(TcpBroadcastSink, EachConsumerGetsTheHeaderThenWhatWasWrittenSinceItConnected) {
  auto sink = start();
  ASSERT_TRUE(sink->begin("time,protocol,src,dst,bytes\n"));
  std::string expected_a = "time,protocol,src,dst,bytes\n", expected_b = expected_a;
  ASSERT_TRUE(sink->write("before anyone\n", 14, 1));  // nobody connected: goes nowhere
  Reader a(sink->port());
  ASSERT_TRUE(wait_for_consumers(*sink, 1));
  for (int i = 0; i < 10; ++i) {
    const std::string b = block(i);
    ASSERT_TRUE(sink->write(b.data(), b.size(), 100));
    expected_a += b;
  }
  Reader b(sink->port());
  ASSERT_TRUE(wait_for_consumers(*sink, 2));
  for (int i = 10; i < 20; ++i) {
    const std::string blk = block(i);
    ASSERT_TRUE(sink->write(blk.data(), blk.size(), 100));
    expected_a += blk;
    expected_b += blk;
  }
  const auto totals = sink->close(2s);
  EXPECT_EQ(totals.consumers, 2u);
  EXPECT_EQ(totals.dropped_records, 0u);
  ASSERT_TRUE(a.wait_done(2s));
  ASSERT_TRUE(b.wait_done(2s));
  EXPECT_EQ(a.text(), expected_a);
  EXPECT_EQ(b.text(), expected_b);
}

TEST(TcpBroadcastSink, AConsumerLeavingMidStreamDoesNotDisturbTheOthers) {
  auto sink = start();
  sink->begin("");
  Reader stays(sink->port());
  Reader leaves(sink->port());
  ASSERT_TRUE(wait_for_consumers(*sink, 2));
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    if (i == 50) leaves.hang_up();
    const std::string b = block(i);
    ASSERT_TRUE(sink->write(b.data(), b.size(), 100));
    expected += b;
  }
  EXPECT_TRUE(wait_for_consumers(*sink, 1));
  sink->close(2s);
  ASSERT_TRUE(stays.wait_done(2s));
  EXPECT_EQ(stays.text(), expected);
  EXPECT_LT(leaves.text().size(), expected.size());
}

TEST(TcpBroadcastSink, ASlowConsumerLosesWholeBlocksAndNeverStallsTheWriter) {
  TcpBroadcastSink::Options o;
  o.max_queue_bytes = 1 << 20;
  std::mutex mu;
  std::vector<std::string> notices;
  o.on_notice = [&](const std::string& line) {
    std::lock_guard lock(mu);
    notices.push_back(line);
  };
  auto sink = start(o);
  sink->begin("");
  // The slow consumer connects but never reads.
  const core::Result<int> connected = core::connect_tcp("127.0.0.1", sink->port(), "slow");
  ASSERT_TRUE(connected.ok()) << connected.status().message();
  const int slow = *connected;
  const std::string slow_peer = "127.0.0.1:" + std::to_string(core::local_port(slow));
  Reader fast(sink->port());
  ASSERT_TRUE(wait_for_consumers(*sink, 2));

  const std::string line = std::string(64 * 1024 - 1, 'x') + "\n";
  const int blocks = 1024;  // 64 MB: far beyond the slow one's socket buffers and queue
  auto fast_queued = [&] {
    for (const auto& c : sink->consumers())
      if (c.peer != slow_peer) return c.queued_bytes;
    return size_t{0};
  };
  for (int i = 0; i < blocks; ++i) {
    // Keep pace with the fast reader (even on a loaded machine), never with the slow one.
    while (fast_queued() > o.max_queue_bytes / 2) std::this_thread::sleep_for(200us);
    ASSERT_TRUE(sink->write(line.data(), line.size(), 1));
  }
  uint64_t slow_dropped = 0, fast_dropped = 0;
  for (const auto& c : sink->consumers())
    (c.peer == slow_peer ? slow_dropped : fast_dropped) += c.records_dropped;
  EXPECT_GT(slow_dropped, 500u);  // at most ~16 MB fit in its socket buffers and queue
  EXPECT_EQ(fast_dropped, 0u);
  {
    std::lock_guard lock(mu);
    ASSERT_FALSE(notices.empty());
    bool told = false;
    for (const auto& n : notices)
      told |= n == "consumer " + slow_peer + " is too slow: dropping records for it";
    EXPECT_TRUE(told);
  }

  const auto totals = sink->close(3s);
  EXPECT_EQ(totals.dropped_records, slow_dropped);
  ASSERT_TRUE(fast.wait_done(3s));
  EXPECT_EQ(fast.text().size(), line.size() * blocks);  // the fast one lost nothing
  // What reached the slow one is whole lines only.
  std::string got;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(slow, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  ::close(slow);
  EXPECT_EQ(got.size() % line.size(), 0u);
  EXPECT_EQ(got.size() / line.size() + slow_dropped + totals.unsent_records,
            static_cast<uint64_t>(blocks));
}

}  // namespace
}  // namespace netpulse::generate
