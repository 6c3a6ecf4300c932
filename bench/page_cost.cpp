// What fresh memory costs on this machine, per 2 MiB: on huge pages, and on 4 KiB pages split
// into populating them (MADV_POPULATE_WRITE) and the first store to each page after that. On a
// machine with nested or shadow page tables (a Firecracker VM here) the first store faults into
// the hypervisor even after the populate, and that cost, not the populate, is what 4 KiB pages
// cost; AggMap's huge-page patience (engine/agg_map.hpp) is set from these figures.
//
//   build/bench/page_cost [pieces]      # default 64 pieces of 2 MiB each way
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

constexpr size_t kPiece = size_t{2} << 20;

void store_each_page(char* p, size_t bytes) {
  volatile char* v = p;
  for (size_t at = 0; at < bytes; at += 4096) v[at] = 1;
}

char* map_aligned(size_t bytes) {
  void* raw =
      ::mmap(nullptr, bytes + kPiece, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) {
    std::perror("page_cost: mmap");
    std::exit(1);
  }
  const auto start = reinterpret_cast<uintptr_t>(raw);
  return reinterpret_cast<char*>((start + kPiece - 1) / kPiece * kPiece);
}

}  // namespace

int main(int argc, char** argv) {
  const size_t pieces = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 64;
  if (pieces == 0) {
    std::fprintf(stderr, "usage: page_cost [pieces of 2 MiB, at least 1]\n");
    return 2;
  }
#if defined(MADV_HUGEPAGE) && defined(MADV_POPULATE_WRITE)
  char* huge = map_aligned(pieces * kPiece);
  ::madvise(huge, pieces * kPiece, MADV_HUGEPAGE);
  std::vector<double> times;
  for (size_t i = 0; i < pieces; ++i) {
    const auto t = Clock::now();
    ::madvise(huge + i * kPiece, kPiece, MADV_POPULATE_WRITE);
    store_each_page(huge + i * kPiece, kPiece);
    times.push_back(ms_since(t));
  }
  std::sort(times.begin(), times.end());
  double sum = 0;
  for (double t : times) sum += t;
  std::printf(
      "huge pages:  %.2f ms per 2 MiB on average; median %.2f, 90th percentile %.2f, max %.2f\n",
      sum / static_cast<double>(pieces), times[pieces / 2], times[pieces * 9 / 10], times.back());

  char* small = map_aligned(pieces * kPiece);
  ::madvise(small, pieces * kPiece, MADV_NOHUGEPAGE);
  const auto t0 = Clock::now();
  ::madvise(small, pieces * kPiece, MADV_POPULATE_WRITE);
  const double populate = ms_since(t0);
  const auto t1 = Clock::now();
  store_each_page(small, pieces * kPiece);
  const double stores = ms_since(t1);
  std::printf(
      "4 KiB pages: %.2f ms per 2 MiB: populating %.2f, then the first store to each page %.2f\n",
      (populate + stores) / static_cast<double>(pieces), populate / static_cast<double>(pieces),
      stores / static_cast<double>(pieces));
  return 0;
#else
  std::fprintf(stderr, "page_cost: needs MADV_HUGEPAGE and MADV_POPULATE_WRITE (Linux 5.14)\n");
  return 1;
#endif
}
