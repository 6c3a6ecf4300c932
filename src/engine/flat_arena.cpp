#include "engine/flat_arena.hpp"

#include <algorithm>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define NETPULSE_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define NETPULSE_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define NETPULSE_POISON(p, n) ((void)(p), (void)(n))
#define NETPULSE_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace netpulse::engine {

FlatArena::~FlatArena() {
  for (const auto& [base, slab] : slabs_) {
    NETPULSE_UNPOISON(reinterpret_cast<char*>(base), slab.size);
    huge_pages::PageCache::instance().give(reinterpret_cast<char*>(base), slab.size);
  }
}

void* FlatArena::allocate(size_t bytes) {
  if (bytes < kSmall) {
    void* p = std::malloc(bytes);
    if (p == nullptr) throw std::bad_alloc();
    small_bytes_ += bytes;
    return p;
  }
  const size_t n = rounded(bytes);
  auto it = slabs_.find(current_);
  if (it == slabs_.end() || it->second.size - it->second.used < n) it = new_slab(n);
  Slab& slab = it->second;
  char* p = reinterpret_cast<char*>(it->first) + slab.used;
  slab.used += n;
  ++slab.live;
  live_bytes_ += n;
  NETPULSE_UNPOISON(p, bytes);
  return p;
}

void FlatArena::deallocate(void* p, size_t bytes) noexcept {
  if (bytes < kSmall) {
    std::free(p);
    small_bytes_ -= bytes;
    return;
  }
  auto it = slabs_.upper_bound(reinterpret_cast<uintptr_t>(p));
  --it;  // the slab at or before p: p is inside it
  Slab& slab = it->second;
  live_bytes_ -= rounded(bytes);
  NETPULSE_POISON(p, rounded(bytes));
  if (--slab.live != 0) return;
  if (it->first == current_) {
    slab.used = 0;
    return;
  }
  release(it);
}

void FlatArena::seal() {
  if (auto it = slabs_.find(current_); it != slabs_.end() && it->second.live == 0) release(it);
  current_ = 0;
}

std::map<uintptr_t, FlatArena::Slab>::iterator FlatArena::new_slab(size_t n) {
  auto& cache = huge_pages::PageCache::instance();
  const size_t full = std::max(kSlab, huge_pages::whole(n));
  size_t size = full;
  char* p = cache.take(full);
  if (p == nullptr && n <= huge_pages::kPage && (p = cache.take(huge_pages::kPage)) != nullptr)
    size = huge_pages::kPage;
  if (p == nullptr) p = huge_pages::map_populated(full);
  slab_bytes_ += size;
  if (auto old = slabs_.find(current_); old != slabs_.end() && old->second.live == 0) release(old);
  current_ = reinterpret_cast<uintptr_t>(p);
  NETPULSE_POISON(p, size);
  return slabs_.emplace(current_, Slab{size, 0, 0}).first;
}

void FlatArena::release(std::map<uintptr_t, Slab>::iterator it) {
  const auto [base, slab] = *it;
  slab_bytes_ -= slab.size;
  if (base == current_) current_ = 0;
  slabs_.erase(it);
  NETPULSE_UNPOISON(reinterpret_cast<char*>(base), slab.size);
  huge_pages::PageCache::instance().give(reinterpret_cast<char*>(base), slab.size);
}

}  // namespace netpulse::engine
