// Fresh memory on huge pages, for the engine's large tables (AggMap) and closed panes' arrays
// (FlatArena): mappings of their own, 2 MiB aligned, faulted in for writing before use, on huge
// pages while the host hands them over quickly and on 4 KiB pages after the first that was slow.
// Written here, not taken from a library: what it does is this VM's page costs, measured
// (bench/page_cost.cpp), and no allocator we could link decides by them.
#pragma once

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

namespace netpulse::engine {

// How long faulting in 2 MiB on a huge page may take before the rest of the mapping falls back
// to 4 KiB pages (see populate_range). A variable so that tests can force the fallback.
// What 2 MiB costs on this VM (2026-12-05, 64 pieces a run; bench/page_cost.cpp measures it
// the same way): a huge page the host still has, 0.15 ms; one the host has taken back, 3.6-5.4
// ms; 4 KiB pages, 3.3-4.2 ms every time, of which populating them is only 0.4-0.5 ms: the
// first store to each page from user space then costs the hypervisor a fault of its own (2.9-3.7
// ms per 2 MiB). The patience was once 2 ms, set against the populate alone: one slow huge
// page then put every later table of the run on 4 KiB pages, which cost as much per page as
// the slow huge ones and never came out cheaper. It is twice what 4 KiB pages cost, so only a
// host whose huge pages are pathological puts the tables back on small ones.
inline std::atomic<int64_t> huge_page_patience_us{8000};
// Set at the first 2 MiB that took longer: every later mapping of the process goes on 4 KiB
// pages. Two stalls of 24 ms in one traced run on 2026-12-05 are what it guards against.
// Tests reset it.
inline std::atomic<bool> huge_pages_slow{false};

namespace huge_pages {

inline constexpr size_t kPage = size_t{2} << 20;

// `bytes` rounded up to whole huge pages.
inline size_t whole(size_t bytes) {
  return (bytes + kPage - 1) / kPage * kPage;
}

// A fresh anonymous mapping of `bytes`, 2 MiB aligned, not yet faulted in.
inline void* map_aligned(size_t bytes) {
  void* raw =
      ::mmap(nullptr, bytes + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kPage - 1) / kPage * kPage;
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t tail = aligned + bytes, end = start + bytes + kPage;
  if (end > tail) ::munmap(reinterpret_cast<void*>(tail), end - tail);
  return reinterpret_cast<void*>(aligned);
}

inline int64_t thread_cpu_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

// A store of zero to each page of zeroed memory (volatile, so it is not optimized away). The
// stores are a page apart from p, which need not be page-aligned: the last byte's page too.
inline void touch_for_write(char* p, size_t bytes) {
  volatile char* v = p;
  for (size_t at = 0; at < bytes; at += 4096) v[at] = 0;
  v[bytes - 1] = 0;
}

// Faults fresh memory in for writing. Every page is written before it is read: a first read of
// an untouched page maps the kernel's shared zero page, and the write that follows faults again
// for a page of its own and flushes the TLB of every core running one of the process's threads
// (an IPI each, a VM exit each on a virtual machine); on a huge page it first splits the huge
// zero page, so the memory ends up on 4 KiB pages after all. With two threads, perf put 9% of a
// run in those IPIs (a third of its first 100 ms). Where the kernel does not know
// MADV_POPULATE_WRITE (before 5.14) or refuses it otherwise (a sandbox's filter), a store per
// page does it. False when the memory is not there (ENOMEM: the caller throws bad_alloc, as a
// failed allocation does, instead of storing into it and calling the OOM killer).
inline bool populate_for_write(char* p, size_t bytes) {
#ifdef MADV_POPULATE_WRITE
  if (::madvise(p, bytes, MADV_POPULATE_WRITE) == 0) return true;
  if (errno == ENOMEM) return false;
#endif
  touch_for_write(p, bytes);
  return true;
}

// 4 KiB pages: populated, then stored to once each from here. Under shadow page tables (this
// VM) the populate fills only the guest's tables, and the first store to each page faults into
// the hypervisor (0.5 ms per 2 MiB populated, 3.6 ms stored to); storing here pays that where
// the pages are prepared (ahead of a table's growth, say) rather than on the keys' first
// stores, in the middle of a window. Elsewhere it is a store per page.
inline bool populate_small(char* p, size_t bytes) {
  if (!populate_for_write(p, bytes)) return false;
  touch_for_write(p, bytes);
  return true;
}

// Faults in [from, to) of the fresh mapping of `bytes` at p (from 2 MiB aligned) on huge pages,
// 2 MiB at a time, and falls back to 4 KiB pages for the rest of it, and for every later
// mapping, at the first 2 MiB that is slow (huge_pages_slow). On a virtual machine whose
// balloon reports free memory to the host (Firecracker here), the host takes back the free 2
// MiB blocks a huge page is made of, and the first write to each costs the host's faults:
// populating 16 MiB took 40-90 ms in half the runs on 2026-12-05, against 1.4 ms when the blocks
// were still there, and a table's growth stalled its shard (and, at the barrier, the whole
// engine) that long. Pages of 4 KiB come from memory the kernel still has (5.3 ms for 16 MiB,
// always). A piece is timed in the thread's CPU time, which the host's faults are part of and
// the thread being preempted is not, so a busy machine does not put the memory on small pages.
// small_pages: the rest of the mapping is already on 4 KiB pages, and is set when a piece turns
// out slow. False when the memory is not there. The caller advised the mapping MADV_HUGEPAGE.
inline bool populate_range(char* p, size_t from, size_t to, size_t bytes, bool& small_pages) {
#if defined(MADV_HUGEPAGE) && defined(MADV_NOHUGEPAGE)
  for (size_t at = from; at < to; at += kPage) {
    if (!small_pages && huge_pages_slow.load(std::memory_order_relaxed)) {
      ::madvise(p + at, bytes - at, MADV_NOHUGEPAGE);
      small_pages = true;
    }
    if (small_pages) return populate_small(p + at, to - at);
    const size_t piece = std::min(kPage, to - at);
    const int64_t start = thread_cpu_us();
    if (!populate_for_write(p + at, piece)) return false;
    if (thread_cpu_us() - start > huge_page_patience_us.load(std::memory_order_relaxed)) {
      huge_pages_slow.store(true, std::memory_order_relaxed);
      if (at + piece < bytes) {
        ::madvise(p + at + piece, bytes - at - piece, MADV_NOHUGEPAGE);
        small_pages = true;
      }
    }
  }
  return true;
#else
  (void)bytes, (void)small_pages;
  return populate_for_write(p + from, to - from);
#endif
}

// Advises the fresh mapping of `bytes` at p onto huge pages and faults all of it in (see
// populate_range). False when the memory is not there.
inline bool populate_huge(char* p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  ::madvise(p, bytes, MADV_HUGEPAGE);
#endif
  bool small_pages = false;
  return populate_range(p, 0, bytes, bytes, small_pages);
}

// A fresh mapping of `bytes` (whole huge pages) faulted in for writing, zeroed. Throws
// bad_alloc when the memory is not there.
inline char* map_populated(size_t bytes) {
  char* p = static_cast<char*>(map_aligned(bytes));
  if (!populate_huge(p, bytes)) {
    ::munmap(p, bytes);
    throw std::bad_alloc();
  }
  return p;
}

// Memory the engine's mappings gave back, kept faulted in for the next ones. On this VM fresh
// memory costs a fault in the hypervisor (0.15-5 ms per 2 MiB on huge pages, 3.3-4.2 ms on 4
// KiB pages), memory already faulted in nothing; and the window's table, as it doubles through
// a run, gives back almost as much as it ends up holding (2, 4, 8, then 16 MiB for a table of
// 32 MiB on the issue-12 file), which the closed panes' slabs (FlatArena) and the next tables
// can take instead of faulting in their own. Runs are kept whole, handed out from their front,
// best fit; up to a cap (the memory budget's reserve sets it: Pipeline), beyond which they are
// unmapped. Thread-safe: shards on several threads share it.
class PageCache {
 public:
  static constexpr size_t kDefaultCap = size_t{64} << 20;

  // Never destroyed: a thread still giving back a table while the process exits (a server's
  // thread, say) finds it whole.
  static PageCache& instance() {
    static PageCache* const cache = new PageCache;
    return *cache;
  }

  // `bytes` (whole huge pages) of memory faulted in for writing, its contents undefined; null
  // when no run held is that long.
  char* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    size_t best = runs_.size();
    for (size_t i = 0; i < runs_.size(); ++i)
      if (runs_[i].bytes >= bytes && (best == runs_.size() || runs_[i].bytes < runs_[best].bytes))
        best = i;
    if (best == runs_.size()) return nullptr;
    Run& run = runs_[best];
    char* p = run.base;
    run.base += bytes;
    run.bytes -= bytes;
    if (run.bytes == 0) {
      run = runs_.back();
      runs_.pop_back();
    }
    held_ -= bytes;
    return p;
  }

  // Keeps [p, p + bytes) (2 MiB aligned, whole huge pages, faulted in, ours to unmap), or
  // unmaps it when the cache would pass its cap.
  void give(char* p, size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (held_ + bytes <= cap_) {
        runs_.push_back(Run{p, bytes});
        held_ += bytes;
        return;
      }
    }
    ::munmap(p, bytes);
  }

  // Unmaps every run held (a memory budget's first step).
  void clear() {
    std::vector<Run> runs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      runs.swap(runs_);
      held_ = 0;
    }
    for (const Run& run : runs) ::munmap(run.base, run.bytes);
  }
  // Sets the cap, and unmaps every run held.
  void set_cap(size_t cap) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      cap_ = cap;
    }
    clear();
  }
  size_t cap() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cap_;
  }
  size_t held_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_;
  }

 private:
  struct Run {
    char* base;
    size_t bytes;
  };
  mutable std::mutex mu_;
  std::vector<Run> runs_;
  size_t held_ = 0;
  size_t cap_ = kDefaultCap;
};

}  // namespace huge_pages
}  // namespace netpulse::engine
