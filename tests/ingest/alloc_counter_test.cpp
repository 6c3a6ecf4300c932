// Replaces the global allocation functions of the ingest test binary with counting ones, so tests
// can check that the parser's hot path does not allocate per line. Counting is per thread and
// off unless a test turns it on (see flow_parser_test.cpp). Kept in its own file so the compiler
// never inlines these into standard containers and mismatches them with the library's.
#include <cstddef>
#include <cstdlib>
#include <new>

namespace netpulse::ingest::testing {
// constinit (here and where they are declared): no dynamic initialization, so no TLS wrapper
// call, which UBSan took for a store through a null pointer.
thread_local constinit bool count_allocations = false;
thread_local constinit std::size_t allocations = 0;
}  // namespace netpulse::ingest::testing

namespace {
void* counted_alloc(std::size_t n) {
  if (netpulse::ingest::testing::count_allocations) ++netpulse::ingest::testing::allocations;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
