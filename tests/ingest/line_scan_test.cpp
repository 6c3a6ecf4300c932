// Tests for ingest/line_scan: find_newlines at every SIMD level this CPU has against a plain loop,
// over random blocks of every length up to 300 at every alignment of a 64-byte line and every
// density of line ends, and over blocks that touch an inaccessible page, where any read outside
// the block would crash.
#include "ingest/line_scan.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace netpulse::ingest {
namespace {

std::vector<uint32_t> plain_newlines(const char* data, size_t size) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < size; ++i)
    if (data[i] == '\n') out.push_back(static_cast<uint32_t>(i));
  return out;
}

// The levels this CPU can run; restores the level in force when it ends.
class EachLevel {
 public:
  EachLevel() : saved_(simd_level()) {
    for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2}) {
      set_simd_level(l);
      if (simd_level() == l) levels_.push_back(l);
    }
  }
  ~EachLevel() { set_simd_level(saved_); }
  const std::vector<SimdLevel>& levels() const { return levels_; }

 private:
  SimdLevel saved_;
  std::vector<SimdLevel> levels_;
};

const char* name(SimdLevel l) {
  return l == SimdLevel::kScalar ? "scalar" : "avx2";
}

// Fills [p, p + n) with random bytes, a '\n' with probability `density`. The other bytes are
// never '\n' but often its neighbours and bytes with the top bit set.
void fill(char* p, size_t n, double density, std::mt19937_64& rng) {
  static const char kOthers[] = {'\x09', '\x0b', '\x8a', '\x0a' ^ 0x20, 'a', ' ', '\0', '\xff'};
  std::uniform_real_distribution<double> u(0, 1);
  for (size_t i = 0; i < n; ++i) {
    if (u(rng) < density) {
      p[i] = '\n';
    } else {
      const char c = rng() % 2 ? kOthers[rng() % sizeof kOthers] : static_cast<char>(rng());
      p[i] = c == '\n' ? 'x' : c;
    }
  }
}

TEST(FindNewlines, LevelsAreClampedToTheCpu) {
  EachLevel each;
  ASSERT_FALSE(each.levels().empty());
  EXPECT_EQ(each.levels().front(), SimdLevel::kScalar);
  const SimdLevel saved = simd_level();
  set_simd_level(SimdLevel::kAvx2);
  const SimdLevel best = simd_level();
  set_simd_level(SimdLevel::kScalar);
  EXPECT_EQ(simd_level(), SimdLevel::kScalar);
#if defined(__x86_64__)
  EXPECT_EQ(best == SimdLevel::kAvx2, __builtin_cpu_supports("avx2") != 0);
#else
  EXPECT_EQ(best, SimdLevel::kScalar);
#endif
  set_simd_level(saved);
}

TEST(FindNewlines, EveryLengthAlignmentAndDensity) {
  EachLevel each;
  std::mt19937_64 rng(31);
  std::vector<char> buf(300 + 64 + 64);
  for (SimdLevel level : each.levels()) {
    set_simd_level(level);
    for (double density : {0.0, 0.01, 0.05, 0.2, 0.5, 0.9, 1.0}) {
      for (size_t size = 0; size <= 300; ++size) {
        const size_t offset = rng() % 64;
        fill(buf.data(), buf.size(), 0.5, rng);  // line ends outside the block must not count
        fill(buf.data() + offset, size, density, rng);
        const char* data = buf.data() + offset;
        // Offsets are appended after what out holds.
        std::vector<uint32_t> out = {7, 7};
        find_newlines(data, size, out);
        std::vector<uint32_t> want = {7, 7};
        for (uint32_t o : plain_newlines(data, size)) want.push_back(o);
        ASSERT_EQ(out, want) << name(level) << " size " << size << " offset " << offset
                             << " density " << density;
      }
    }
  }
}

TEST(FindNewlines, LongBlocks) {
  EachLevel each;
  std::mt19937_64 rng(32);
  // Large enough for many flushes of the kernel's offset buffer, with runs of every density.
  std::string block(3 << 20, '\0');
  for (size_t at = 0; at < block.size();) {
    const size_t run = std::min<size_t>(block.size() - at, 1 + rng() % 20000);
    fill(block.data() + at, run, rng() % 4 == 0 ? 1.0 : 1.0 / static_cast<double>(1 + rng() % 100),
         rng);
    at += run;
  }
  const std::vector<uint32_t> want = plain_newlines(block.data(), block.size());
  for (SimdLevel level : each.levels()) {
    set_simd_level(level);
    for (size_t cut : {block.size(), block.size() - 1, block.size() - 63, size_t{4096 * 3 + 5}}) {
      std::vector<uint32_t> out;
      find_newlines(block.data(), cut, out);
      const std::vector<uint32_t> expect(
          want.begin(), std::lower_bound(want.begin(), want.end(), static_cast<uint32_t>(cut)));
      ASSERT_EQ(out, expect) << name(level) << " " << cut;
    }
  }
}

// Three pages: inaccessible, readable, inaccessible. A block at either edge of the middle page
// crashes the test if the scan reads a byte before or after it.
class GuardedPage : public ::testing::Test {
 protected:
  void SetUp() override {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* m = mmap(nullptr, 3 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(m, MAP_FAILED);
    base_ = static_cast<char*>(m);
    ASSERT_EQ(mprotect(base_, page_, PROT_NONE), 0);
    ASSERT_EQ(mprotect(base_ + 2 * page_, page_, PROT_NONE), 0);
  }
  void TearDown() override { munmap(base_, 3 * page_); }
  char* first() const { return base_ + page_; }
  char* end() const { return base_ + 2 * page_; }

  size_t page_ = 0;
  char* base_ = nullptr;
};

TEST_F(GuardedPage, BlocksAtThePageEdgesAreNotOverRead) {
  EachLevel each;
  std::mt19937_64 rng(33);
  for (SimdLevel level : each.levels()) {
    set_simd_level(level);
    for (double density : {0.0, 0.1, 1.0}) {
      for (size_t size = 0; size <= 300; ++size) {
        // Ending exactly at the page end.
        char* data = end() - size;
        fill(data, size, density, rng);
        std::vector<uint32_t> out;
        find_newlines(data, size, out);
        ASSERT_EQ(out, plain_newlines(data, size)) << name(level) << " size " << size;
        // Starting exactly at the page start.
        fill(first(), size, density, rng);
        out.clear();
        find_newlines(first(), size, out);
        ASSERT_EQ(out, plain_newlines(first(), size)) << name(level) << " size " << size;
      }
    }
    // The whole page.
    fill(first(), page_, 0.02, rng);
    std::vector<uint32_t> out;
    find_newlines(first(), page_, out);
    ASSERT_EQ(out, plain_newlines(first(), page_)) << name(level);
  }
}

}  // namespace
}  // namespace netpulse::ingest
