// The memory of an hour roll-up (docs/history.md, issue 16's soak): builds the hour bucket of one
// dimension from a store's minute buckets the way the store writer does (one minute at a time
// into store::RollUp) on a thread of its own, so in a malloc arena of its own as the writer's
// thread is, and prints resident memory before, at the peak, after, and after malloc_trim(0).
// The soak's store (bench/out/soak/soak.db, after a run across an hour boundary) has complete
// hours of 200,000 records/s.
//
//   build/bench/rollup_memory sqlite:bench/out/soak/soak.db              # the last full hour
//   build/bench/rollup_memory sqlite:bench/out/soak/soak.db --dimension src --hour 1796385600000
#include <malloc.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "store/history.hpp"
#include "store/store.hpp"

namespace {

using namespace netpulse;
using store::Dimension;
using store::Resolution;

long rss_kib() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4;
}

int usage(const char* why) {
  std::fprintf(stderr,
               "rollup_memory: %s\nusage: rollup_memory STORE_URI [--dimension "
               "protocol|src|dst|conversation] [--hour START_MS]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage("a store URI is needed");
  const std::string uri = argv[1];
  Dimension dimension = Dimension::kConversation;
  std::optional<core::TimeMs> hour;
  for (int i = 2; i < argc; i += 2) {
    if (i + 1 == argc) {
      return usage((std::string(argv[i]) + " needs a value").c_str());
    }
    if (std::strcmp(argv[i], "--dimension") == 0) {
      const auto d = store::parse_dimension(argv[i + 1]);
      if (!d) return usage("unknown dimension");
      dimension = *d;
    } else if (std::strcmp(argv[i], "--hour") == 0) {
      char* end = nullptr;
      hour = std::strtoll(argv[i + 1], &end, 10);
      if (end == argv[i + 1] || *end != '\0') return usage("--hour takes a time in milliseconds");
    } else {
      return usage((std::string("unknown option ") + argv[i]).c_str());
    }
  }
  std::string why;
  auto s = store::open_store(uri, &why);
  if (!s) return usage(why.c_str());
  if (!hour) {  // the last hour with all 60 minutes
    std::map<core::TimeMs, int> minutes;
    for (const store::HistoryKey& k : s->history_index(dimension, 0, INT64_MAX)) {
      if (k.resolution == Resolution::kMinute && k.origin.empty()) ++minutes[k.start / 3'600'000];
    }
    for (const auto& [h, n] : minutes) {
      if (n == 60) hour = h * 3'600'000;
    }
    if (!hour) return usage("no hour with 60 minute buckets in the store");
  }
  const long before = rss_kib();
  size_t parts = 0, entries = 0;
  double seconds = 0;
  std::thread writer([&] {
    const auto start = std::chrono::steady_clock::now();
    store::RollUp rollup(Resolution::kHour, *hour, 10'000);
    for (core::TimeMs t = *hour; t < *hour + 3'600'000; t += 60'000) {
      for (const store::HistoryBucket& b :
           s->history_range(Resolution::kMinute, dimension, "", t, t + 60'000)) {
        rollup.add(b);
      }
    }
    parts = rollup.parts();
    entries = std::move(rollup).take().entries.size();
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  });
  writer.join();
  const long after = rss_kib();
  rusage usage_now{};
  getrusage(RUSAGE_SELF, &usage_now);
  malloc_trim(0);
  std::printf(
      "rollup_memory: %s hour %lld: %zu minutes, %zu entries kept, %.2f s; resident memory "
      "%ld KiB before, peak +%ld KiB, after +%ld KiB, after malloc_trim +%ld KiB\n",
      store::to_string(dimension), static_cast<long long>(*hour), parts, entries, seconds, before,
      usage_now.ru_maxrss - before, after - before, rss_kib() - before);
}
