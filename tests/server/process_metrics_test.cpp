// The process's figures in /metrics against what the test measures itself: descriptors it opens,
// threads it starts, CPU it burns and memory it allocates move them by that much.
#include "server/process_metrics.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace netpulse::server {
namespace {

double vm_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) * 1024;
  return 0;
}

class ProcessMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override { add_process_metrics(metrics_); }
  double value(const std::string& name) const { return metrics_.value(name); }
  MetricsRegistry metrics_;
};

TEST_F(ProcessMetricsTest, StandardNamesAndTypesInTheExposition) {
  const std::string text = metrics_.prometheus_text();
  for (const char* line :
       {"# TYPE process_resident_memory_bytes gauge\n", "# TYPE process_virtual_memory_bytes gauge\n",
        "# TYPE process_cpu_seconds_total counter\n", "# TYPE process_open_fds gauge\n",
        "# TYPE process_max_fds gauge\n", "# TYPE process_start_time_seconds gauge\n",
        "# TYPE netpulse_threads gauge\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  EXPECT_EQ(text.find("heap") != std::string::npos, heap_metrics_available()) << text;
}

TEST_F(ProcessMetricsTest, ResidentAndVirtualMemoryAgreeWithProc) {
  const double rss = value("process_resident_memory_bytes");
  const double own = vm_rss_bytes();
  EXPECT_GT(rss, 1 << 20);
  EXPECT_NEAR(rss, own, own * 0.2);
  EXPECT_GE(value("process_virtual_memory_bytes"), rss);
}

TEST_F(ProcessMetricsTest, OpenDescriptorsCountExactly) {
  const double before = value("process_open_fds");
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) fds.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
  EXPECT_EQ(value("process_open_fds"), before + 5);
  for (int fd : fds) close(fd);
  EXPECT_EQ(value("process_open_fds"), before);
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  EXPECT_EQ(value("process_max_fds"), static_cast<double>(limit.rlim_cur));
}

TEST_F(ProcessMetricsTest, ThreadsCountStartedThreads) {
  const double before = value("netpulse_threads");
  EXPECT_GE(before, 1);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&] {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return release; });
    });
  EXPECT_EQ(value("netpulse_threads"), before + 3);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  EXPECT_EQ(value("netpulse_threads"), before);
}

TEST_F(ProcessMetricsTest, CpuSecondsGrowWithWork) {
  const double before = value("process_cpu_seconds_total");
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  volatile uint64_t spin = 0;
  while (std::chrono::steady_clock::now() < until) spin = spin + 1;
  // 300 ms of wall time on this thread; a busy machine may give it less of the CPU.
  EXPECT_GT(value("process_cpu_seconds_total") - before, 0.05);
}

TEST_F(ProcessMetricsTest, StartTimeIsThisProcesssStart) {
  const double now = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  const double started = value("process_start_time_seconds");
  EXPECT_LE(started, now + 1);
  // The test binary started moments ago (a slow sanitizer start included).
  EXPECT_GT(started, now - 600);
}

TEST_F(ProcessMetricsTest, HeapInUseFollowsAllocations) {
  if (!heap_metrics_available()) GTEST_SKIP() << "sanitizer build: malloc is not glibc's";
  // One mallinfo2() serves the reads of 100 ms: wait that long for a fresh one.
  auto in_use = [this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    return value("netpulse_heap_in_use_bytes");
  };
  constexpr size_t kSize = 64 << 20;
  const double before = in_use();
  char* block = static_cast<char*>(std::malloc(kSize));
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kSize);
  const double during = in_use();
  EXPECT_GE(during - before, kSize);
  EXPECT_LT(during - before, kSize + (4 << 20));
  std::free(block);
  EXPECT_LT(in_use(), during - kSize / 2);
  EXPECT_GE(value("netpulse_heap_free_bytes"), 0);
}

}  // namespace
}  // namespace netpulse::server
