#include "server/process_metrics.hpp"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

namespace netpulse::server {

namespace {

// /proc/self/statm: sizes in pages; field 0 is the virtual size, field 1 the resident set.
double statm_bytes(int field) {
  std::ifstream in("/proc/self/statm");
  double pages = 0;
  for (int i = 0; i <= field && in >> pages; ++i) {
  }
  return in ? pages * static_cast<double>(sysconf(_SC_PAGESIZE)) : 0;
}

double open_fds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec))
    ++n;
  // The listing's own descriptor is among the entries.
  return n > 0 ? n - 1 : 0;
}

double threads() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::stod(line.substr(8));
  return 0;
}

// Seconds since the epoch: the boot time (/proc/stat btime) plus the process's start in clock
// ticks after boot (/proc/self/stat field 22, counted after the command name's closing paren,
// since the name may hold spaces). 0 when /proc cannot tell.
double start_time_seconds() {
  std::ifstream stat("/proc/stat");
  std::string key;
  double btime = 0;
  while (stat >> key) {
    if (key == "btime") {
      stat >> btime;
      break;
    }
    stat.ignore(1 << 20, '\n');
  }
  std::ifstream self("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(self)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (btime == 0 || paren == std::string::npos) return 0;
  std::istringstream fields(text.substr(paren + 2));  // field 3 (state) onwards
  std::string field;
  for (int i = 3; i < 22 && fields >> field; ++i) {
  }
  double ticks = 0;
  if (!(fields >> ticks)) return 0;
  return btime + ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// mallinfo2() walks every arena's free lists with that arena locked, so a thread allocating
// there waits for the walk. One walk serves every read within 100 ms: a scrape reads both heap
// series, and /metrics, /api/status and the status tick come close together.
struct mallinfo2 heap_totals() {
  static std::mutex mu;
  static std::chrono::steady_clock::time_point taken;
  static struct mallinfo2 last {};
  std::lock_guard lock(mu);
  const auto now = std::chrono::steady_clock::now();
  if (now - taken >= std::chrono::milliseconds(100)) {
    last = mallinfo2();
    taken = now;
  }
  return last;
}

}  // namespace

bool heap_metrics_available() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;  // the sanitizer's allocator serves malloc; glibc's totals would say nothing
#else
  return true;
#endif
}

void add_process_metrics(MetricsRegistry& m) {
  m.add("process_resident_memory_bytes", "Resident memory size in bytes", MetricType::kGauge,
        [] { return statm_bytes(1); });
  m.add("process_virtual_memory_bytes", "Virtual memory size in bytes", MetricType::kGauge,
        [] { return statm_bytes(0); });
  m.add("process_cpu_seconds_total", "User and system CPU time spent in seconds",
        MetricType::kCounter, cpu_seconds);
  m.add("process_open_fds", "Number of open file descriptors", MetricType::kGauge, open_fds);
  m.add("process_max_fds", "Maximum number of open file descriptors", MetricType::kGauge, [] {
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    return limit.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(limit.rlim_cur);
  });
  const double started = start_time_seconds();
  m.add("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds",
        MetricType::kGauge, [started] { return started; });
  m.add("netpulse_threads", "Threads of the process", MetricType::kGauge, threads);
  if (!heap_metrics_available()) return;
  m.add("netpulse_heap_in_use_bytes",
        "Bytes allocated and not freed (glibc malloc, every arena and mmapped block)",
        MetricType::kGauge, [] {
          const struct mallinfo2 mi = heap_totals();
          return static_cast<double>(mi.uordblks + mi.hblkhd);
        });
  m.add("netpulse_heap_free_bytes",
        "Bytes freed but kept by glibc malloc in its arenas (resident or not)",
        MetricType::kGauge, [] { return static_cast<double>(heap_totals().fordblks); });
}

}  // namespace netpulse::server
