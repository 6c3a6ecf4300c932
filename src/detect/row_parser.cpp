#include "detect/row_parser.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace netpulse::detect {

namespace {

inline unsigned digit(char c) {
  return static_cast<unsigned>(static_cast<uint8_t>(c) - '0');
}

constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
                             1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19};

inline uint64_t load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The low n bytes of a little-endian word (n <= 8).
inline uint64_t low_bytes(uint64_t v, size_t n) {
  return n >= 8 ? v : v & ((uint64_t{1} << (8 * n)) - 1);
}

// Names (category values, labels) to indexes. A name of up to 16 bytes is keyed by its bytes as
// two words and its length; the table's multiplier is chosen at construction so that the
// vocabulary's keys land in distinct slots (a perfect hash: one probe and one comparison of two
// words). Longer names, which no vocabulary has today, are compared byte by byte.
class NameTable {
 public:
  template <typename Names>
  explicit NameTable(const Names& names) {
    std::vector<Key> keys;
    for (size_t i = 0; i < std::size(names); ++i) {
      const std::string_view n = names[i];
      if (n.size() > kKeyBytes) {
        long_.emplace_back(n, static_cast<int>(i));
      } else {
        char buf[kKeyBytes] = {};
        std::memcpy(buf, n.data(), n.size());
        keys.push_back(key(buf, n.size(), static_cast<int>(i)));
      }
    }
    size_t slots = 16;
    while (slots < 8 * keys.size()) slots *= 2;
    mask_ = slots - 1;
    shift_ = static_cast<unsigned>(64 - std::countr_zero(slots));
    // Deterministic search (SplitMix64 steps) for a multiplier with no collision; failing that
    // (not seen), the fewest, and lookups probe on.
    uint64_t state = 0x9E3779B97F4A7C15ull;
    size_t best_collisions = SIZE_MAX;
    uint64_t best = 0;
    std::vector<uint8_t> used(slots);
    for (int attempt = 0; attempt < 4096 && best_collisions > 0; ++attempt) {
      state += 0x9E3779B97F4A7C15ull;
      uint64_t z = state;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      const uint64_t mult = (z ^ (z >> 31)) | 1;
      std::fill(used.begin(), used.end(), 0);
      size_t collisions = 0;
      for (const Key& k : keys) {
        const size_t s = slot(k.lo, k.hi, k.len, mult, shift_);
        collisions += used[s];
        used[s] = 1;
      }
      if (collisions < best_collisions) {
        best_collisions = collisions;
        best = mult;
      }
    }
    mult_ = best;
    slots_.assign(slots, Key{});
    for (const Key& k : keys) {
      for (size_t s = slot(k.lo, k.hi, k.len, mult_, shift_);; s = (s + 1) & mask_) {
        if (slots_[s].index < 0) {
          slots_[s] = k;
          break;
        }
      }
    }
  }

  // REQUIRES: 16 bytes readable at p (the name is [p, p + n)).
  int find_padded(const char* p, size_t n) const {
    if (n > kKeyBytes) return find_long(p, n);
    const uint64_t lo = low_bytes(load64(p), n);
    const uint64_t hi = n > 8 ? low_bytes(load64(p + 8), n - 8) : 0;
    const auto len = static_cast<int32_t>(n);
    for (size_t s = slot(lo, hi, len, mult_, shift_);; s = (s + 1) & mask_) {
      const Key& k = slots_[s];
      if (k.lo == lo && k.hi == hi && k.len == len) return k.index;
      if (k.index < 0) return -1;
    }
  }

  int find(const char* p, size_t n) const {
    if (n > kKeyBytes) return find_long(p, n);
    char buf[kKeyBytes] = {};
    std::memcpy(buf, p, n);
    return find_padded(buf, n);
  }

 private:
  static constexpr size_t kKeyBytes = 16;
  struct Key {
    uint64_t lo = 0, hi = 0;
    int32_t len = -1;  // -1: an empty slot (no name matches it)
    int32_t index = -1;
  };
  static Key key(const char* padded, size_t n, int index) {
    return Key{load64(padded), load64(padded + 8), static_cast<int32_t>(n), index};
  }
  static size_t slot(uint64_t lo, uint64_t hi, int32_t len, uint64_t mult, unsigned shift) {
    const uint64_t x = lo ^ (hi * 0x9E3779B97F4A7C15ull) ^ static_cast<uint64_t>(len);
    return static_cast<size_t>((x * mult) >> shift);
  }
  int find_long(const char* p, size_t n) const {
    for (const auto& [name, index] : long_)
      if (name.size() == n && std::memcmp(name.data(), p, n) == 0) return index;
    return -1;
  }

  std::vector<Key> slots_;
  size_t mask_ = 0;
  unsigned shift_ = 64;
  uint64_t mult_ = 1;
  std::vector<std::pair<std::string_view, int>> long_;
};

const NameTable& category_table(size_t feature) {
  static const NameTable protocols(feature_info(kProtocolType).vocabulary);
  static const NameTable services(feature_info(kService).vocabulary);
  static const NameTable flags(feature_info(kFlag).vocabulary);
  return feature == kProtocolType ? protocols : feature == kService ? services : flags;
}

const NameTable& label_table() {
  static const NameTable labels(label_names());
  return labels;
}

// Parses a plain decimal number ("0", "491", "0.17") ending at ',' or end; leaves p at the end.
inline bool parse_number(const char*& p, const char* end, float& out) {
  const char* q = p;
  uint64_t m = 0;
  int digits = 0;
  int frac = -1;
  for (; q != end && *q != ','; ++q) {
    const unsigned d = digit(*q);
    if (d <= 9) {
      m = m * 10 + d;
      ++digits;
      if (frac >= 0) ++frac;
    } else if (*q == '.' && frac < 0 && digits > 0) {
      frac = 0;
    } else {
      p = q;
      return false;
    }
  }
  p = q;
  if (digits == 0 || digits > 19 || frac == 0) return false;
  out =
      frac <= 0 ? static_cast<float>(m) : static_cast<float>(static_cast<double>(m) / kPow10[frac]);
  return true;
}

inline const char* field_end(const char* p, const char* end) {
  while (p != end && *p != ',') ++p;
  return p;
}

#if defined(__x86_64__)

// The fast path, in two steps. Indexing (one kernel per instruction set) reads a line of up to
// kFastLine bytes as four 64-byte words, turns the bytes of each class (line end, comma, dot,
// digit) into 64-bit masks, bit i for byte i of the word, and lists the commas' offsets.
// Checking (shared) then validates the numeric columns all at once with mask arithmetic, a word
// at a time (carries pass the top bits on), looks the names up, and converts only the columns
// asked for. No branch depends on a field's length except for numbers over 8 bytes.
constexpr unsigned kFastLine = 256;
// Bytes the fast path may read from a line's start: the words, then 8- and 16-byte loads at the
// start of a field.
constexpr size_t kWindow = kFastLine + 64;

#define NETPULSE_AVX2 __attribute__((target("avx2,bmi,popcnt"), always_inline)) inline

enum class Fast : uint8_t { kOk, kBlank, kNo };

struct LineIndex {
  unsigned length;  // the offset of the line's '\n', or kFastLine when it has none there
  unsigned n;       // the row's bytes: the line without a '\r' at its end
  unsigned words;   // the words that hold bytes [0, n]
  unsigned commas;
  uint64_t comma[4], dot[4], digit[4];  // bytes [0, n) only; 0 past `words`
  // bounds[0] = 0xFF: a comma "before" column 0 (+1 wraps to 0); bounds[k + 1]: comma k, and
  // bounds[commas + 1] = n. Room for a 64-byte store at any comma.
  alignas(64) uint8_t bounds[kFeatureCount + 3 + 64];
};

// Bits [0, x) of word i of a 256-bit mask.
inline uint64_t below(unsigned x, unsigned i) {
  const int b = static_cast<int>(x) - 64 * static_cast<int>(i);
  return b >= 64 ? ~uint64_t{0} : b <= 0 ? 0 : (uint64_t{1} << b) - 1;
}
// Bit x, in word i.
inline uint64_t bit_at(unsigned x, unsigned i) {
  return (x >> 6) == i ? uint64_t{1} << (x & 63) : 0;
}

// The line length and the row's end, from the line-end masks. kNo: no '\n' in the window.
// (The kernels then answer kNo for a row without 40 to 42 commas: too few or too many columns,
// which the reference reports.)
inline Fast index_ends(const char* w, const uint64_t (&nl)[4], LineIndex& ix) {
  unsigned len = kFastLine;
  for (int i = 3; i >= 0; --i)
    if (nl[i]) len = 64 * static_cast<unsigned>(i) + static_cast<unsigned>(std::countr_zero(nl[i]));
  ix.length = len;
  if (len == kFastLine) return Fast::kNo;
  unsigned n = len;
  if (n > 0 && w[n - 1] == '\r') --n;
  ix.n = n;
  ix.words = n / 64 + 1;
  return n == 0 ? Fast::kBlank : Fast::kOk;
}

// The 64-bit mask of two 32-byte compare results.
NETPULSE_AVX2 uint64_t bits(__m256i lo, __m256i hi) {
  return static_cast<uint32_t>(_mm256_movemask_epi8(lo)) |
         static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_epi8(hi))) << 32;
}
NETPULSE_AVX2 __m256i is_digit(__m256i x) {
  const __m256i zero = _mm256_set1_epi8('0');
  const __m256i nine = _mm256_set1_epi8('9');
  return _mm256_cmpeq_epi8(_mm256_min_epu8(_mm256_max_epu8(x, zero), nine), x);
}

__attribute__((target("avx2,bmi,popcnt"))) Fast index_avx2(const char* w, LineIndex& ix) {
  const __m256i nl_v = _mm256_set1_epi8('\n');
  uint64_t nl[4];
  for (int i = 0; i < 4; ++i) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 64 * i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 64 * i + 32));
    nl[i] = bits(_mm256_cmpeq_epi8(a, nl_v), _mm256_cmpeq_epi8(b, nl_v));
  }
  const Fast ends = index_ends(w, nl, ix);
  if (ends != Fast::kOk) return ends;
  const __m256i comma_v = _mm256_set1_epi8(',');
  const __m256i dot_v = _mm256_set1_epi8('.');
  unsigned commas = 0;
  for (unsigned i = 0; i < 4; ++i) {
    if (i >= ix.words) {
      ix.comma[i] = ix.dot[i] = ix.digit[i] = 0;
      continue;
    }
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 64 * i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 64 * i + 32));
    const uint64_t in_row = below(ix.n, i);
    ix.comma[i] = bits(_mm256_cmpeq_epi8(a, comma_v), _mm256_cmpeq_epi8(b, comma_v)) & in_row;
    ix.dot[i] = bits(_mm256_cmpeq_epi8(a, dot_v), _mm256_cmpeq_epi8(b, dot_v)) & in_row;
    ix.digit[i] = bits(is_digit(a), is_digit(b)) & in_row;
    commas += static_cast<unsigned>(_mm_popcnt_u64(ix.comma[i]));
  }
  ix.commas = commas;
  if (commas < kFeatureCount - 1 || commas > kFeatureCount + 1) return Fast::kNo;
  ix.bounds[0] = 0xFF;
  uint8_t* at = ix.bounds + 1;
  for (unsigned i = 0; i < ix.words; ++i) {
    uint64_t m = ix.comma[i];
    uint8_t* next = at + _mm_popcnt_u64(m);
    const auto base = static_cast<uint8_t>(64 * i);
    while (m) {  // four at a time; slots past the count are overwritten next
      for (int j = 0; j < 4; ++j) {
        at[j] = static_cast<uint8_t>(base + _tzcnt_u64(m));
        m = _blsr_u64(m);
      }
      at += 4;
    }
    at = next;
  }
  *at = static_cast<uint8_t>(ix.n);
  return Fast::kOk;
}

// AVX-512 (BW and VBMI2): a compare per class and word straight into a mask, and the commas'
// offsets packed by one compress per word.
__attribute__((target("avx512f,avx512bw,avx512vbmi2,bmi,popcnt"))) Fast index_avx512(
    const char* w, LineIndex& ix) {
  __m512i v[4];
  uint64_t nl[4];
  const __m512i nl_v = _mm512_set1_epi8('\n');
  for (int i = 0; i < 4; ++i) {
    v[i] = _mm512_loadu_si512(w + 64 * i);
    nl[i] = _mm512_cmpeq_epi8_mask(v[i], nl_v);
  }
  const Fast ends = index_ends(w, nl, ix);
  if (ends != Fast::kOk) return ends;
  const __m512i comma_v = _mm512_set1_epi8(',');
  const __m512i dot_v = _mm512_set1_epi8('.');
  const __m512i zero_v = _mm512_set1_epi8('0');
  const __m512i ten_v = _mm512_set1_epi8(10);
  unsigned commas = 0;
  for (unsigned i = 0; i < 4; ++i) {
    const uint64_t in_row = below(ix.n, i);  // 0 past `words`
    ix.comma[i] = _mm512_cmpeq_epi8_mask(v[i], comma_v) & in_row;
    ix.dot[i] = _mm512_cmpeq_epi8_mask(v[i], dot_v) & in_row;
    ix.digit[i] = _mm512_cmplt_epu8_mask(_mm512_sub_epi8(v[i], zero_v), ten_v) & in_row;
    commas += static_cast<unsigned>(_mm_popcnt_u64(ix.comma[i]));
  }
  ix.commas = commas;
  if (commas < kFeatureCount - 1 || commas > kFeatureCount + 1) return Fast::kNo;
  ix.bounds[0] = 0xFF;
  uint8_t* at = ix.bounds + 1;
  const __m512i offsets = _mm512_set_epi8(
      63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41,
      40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18,
      17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  for (unsigned i = 0; i < ix.words; ++i) {
    const __m512i packed = _mm512_maskz_compress_epi8(
        ix.comma[i], _mm512_add_epi8(offsets, _mm512_set1_epi8(static_cast<char>(64 * i))));
    _mm512_storeu_si512(at, packed);  // the bounds array has room past the commas
    at += _mm_popcnt_u64(ix.comma[i]);
  }
  *at = static_cast<uint8_t>(ix.n);
  return Fast::kOk;
}

// Nonzero bytes where p[k] - p[k - 1] > limit, for k in [0, 32).
NETPULSE_AVX2 __m256i gaps_over(const uint8_t* p, __m256i limit) {
  const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p - 1));
  return _mm256_subs_epu8(_mm256_sub_epi8(a, b), limit);
}

// A checked number of more than 8 bytes (rare: a byte count of 9 digits or more), one by one.
inline float long_number(const char* s, unsigned len) {
  uint64_t m = 0;
  unsigned frac = 0;
  bool after_dot = false;
  for (unsigned i = 0; i < len; ++i) {
    const unsigned d = digit(s[i]);
    if (d <= 9) {
      m = m * 10 + d;
      frac += after_dot;
    } else {
      after_dot = true;
    }
  }
  return frac == 0 ? static_cast<float>(m)
                   : static_cast<float>(static_cast<double>(m) / kPow10[frac]);
}

// Rates ("d.dd", m <= 100 hundredths: every rate column's value): the reference's
// (float)((double)m / 100) is (float)(m * 0.01) for each of them, checked here at compile time,
// so they need neither a division nor a table.
constexpr int kHundredths = 101;
constexpr bool hundredths_by_multiplication() {
  for (int m = 0; m < kHundredths; ++m)
    if (static_cast<float>(m * 0.01) != static_cast<float>(static_cast<double>(m) / kPow10[2]))
      return false;
  return true;
}
static_assert(hundredths_by_multiplication());

// Converts four numbers the masks have checked ("0", "491", "0.17": digits, at most one '.'
// inside, at most 19 bytes) at once, one per 64-bit lane, to the floats the reference makes:
// (float)m, or (float)((double)m / 10^frac) with m the digits without the '.' and frac the
// digits after it (m / 1.0 is m, so both are one formula). The columns may repeat.
NETPULSE_AVX2 void convert4(const char* w, const uint8_t* bounds, const uint8_t* columns,
                            FeatureRow& out) {
  uint32_t start[4], len[4];
  for (int i = 0; i < 4; ++i) {
    start[i] = static_cast<uint8_t>(bounds[columns[i]] + 1);
    len[i] = bounds[columns[i] + 1] - start[i];
  }
  const __m256i lens = _mm256_setr_epi64x(len[0], len[1], len[2], len[3]);
  // Each field in the top len bytes of its lane; the bytes below are 0, i.e. leading zeros
  // (a field over 8 bytes shifts out whole and is redone below).
  const __m256i loaded = _mm256_setr_epi64x(
      static_cast<long long>(load64(w + start[0])), static_cast<long long>(load64(w + start[1])),
      static_cast<long long>(load64(w + start[2])), static_cast<long long>(load64(w + start[3])));
  const __m256i x = _mm256_sllv_epi64(
      loaded, _mm256_slli_epi64(_mm256_sub_epi64(_mm256_set1_epi64x(8), lens), 3));
  // The '.' taken out: the bytes up to it move up a byte, over it.
  const __m256i dot = _mm256_cmpeq_epi8(x, _mm256_set1_epi8('.'));
  const __m256i no_dot = _mm256_cmpeq_epi64(dot, _mm256_setzero_si256());
  const __m256i upto = _mm256_andnot_si256(
      no_dot,
      _mm256_or_si256(_mm256_xor_si256(dot, _mm256_sub_epi64(dot, _mm256_set1_epi64x(1))), dot));
  const __m256i y = _mm256_or_si256(_mm256_andnot_si256(upto, x),
                                    _mm256_and_si256(_mm256_slli_epi64(x, 8), upto));
  // Eight digits per lane, the first (most significant) in the low byte: pairs, fours, eight.
  const __m256i digits = _mm256_and_si256(y, _mm256_set1_epi8(0x0F));
  const __m256i pairs = _mm256_maddubs_epi16(digits, _mm256_set1_epi16(0x010A));  // 10, 1
  const __m256i fours = _mm256_madd_epi16(pairs, _mm256_set1_epi32(0x00010064));  // 100, 1
  const __m256i m = _mm256_add_epi64(_mm256_mul_epu32(fours, _mm256_set1_epi64x(10000)),
                                     _mm256_srli_epi64(fours, 32));  // < 10^8
  // frac: the bytes above the '.', 0 without one.
  const __m256i frac = _mm256_andnot_si256(
      no_dot,
      _mm256_sad_epu8(_mm256_andnot_si256(upto, _mm256_set1_epi8(1)), _mm256_setzero_si256()));
  const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
  const __m128i m32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(m, low_halves));
  const __m128i frac32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(frac, low_halves));
  // Whole numbers: (float)m. Rates: m * 0.01. Others (not in NSL-KDD): the formula.
  __m128 value = _mm_cvtepi32_ps(m32);
  const __m128i dotted = _mm_cmpgt_epi32(frac32, _mm_setzero_si128());
  if (!_mm_testz_si128(dotted, dotted)) {
    const __m128i rate = _mm_and_si128(_mm_cmpeq_epi32(frac32, _mm_set1_epi32(2)),
                                       _mm_cmplt_epi32(m32, _mm_set1_epi32(kHundredths)));
    if (_mm_testc_si128(rate, dotted)) {  // every dotted lane is a rate
      const __m128 rates =
          _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_cvtepi32_pd(m32), _mm256_set1_pd(0.01)));
      value = _mm_blendv_ps(value, rates, _mm_castsi128_ps(dotted));
    } else {
      const __m256d scale = _mm256_i64gather_pd(kPow10, frac, 8);
      value = _mm256_cvtpd_ps(_mm256_div_pd(_mm256_cvtepi32_pd(m32), scale));
    }
  }
  // Four adjacent columns: increasing, so a span of 3 without the repeats that pad the end.
  if (columns[3] == columns[0] + 3 && columns[2] != columns[3]) {
    _mm_storeu_ps(out.data() + columns[0], value);
  } else {
    alignas(16) float v[4];
    _mm_store_ps(v, value);
    for (int i = 0; i < 4; ++i) out[columns[i]] = v[i];
  }
  if ((len[0] > 8) | (len[1] > 8) | (len[2] > 8) | (len[3] > 8))
    for (int i = 0; i < 4; ++i)
      if (len[i] > 8) out[columns[i]] = long_number(w + start[i], len[i]);
}

// GCC 12's AVX-512 headers fill "undefined" lanes from a self-initialized variable, which
// -Wmaybe-uninitialized reports once inlined (a false positive: those lanes are never read).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define NETPULSE_AVX512                                                                        \
  __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512vbmi2,bmi,popcnt"), \
                 always_inline)) inline

// convert4 for eight numbers at once, with AVX-512: the fields' bounds picked from the comma
// offsets by one byte permute each; the fields themselves, when they lie within 64 bytes, by a
// byte permute of one 64-byte load (else by a gather); and the values stored by one masked
// store when the columns lie within 16 (`at`: bit c - columns[0] for each column c; 0 if not).
NETPULSE_AVX512 void convert8(const char* w, __m512i bounds, const uint8_t* columns,
                              uint16_t at, FeatureRow& out) {
  const __m512i cols =
      _mm512_zextsi128_si512(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(columns)));
  const __m128i before = _mm512_castsi512_si128(_mm512_permutexvar_epi8(cols, bounds));
  const __m128i after = _mm512_castsi512_si128(
      _mm512_permutexvar_epi8(_mm512_add_epi8(cols, _mm512_set1_epi8(1)), bounds));
  const __m512i start = _mm512_cvtepu8_epi64(_mm_add_epi8(before, _mm_set1_epi8(1)));
  const __m512i end = _mm512_cvtepu8_epi64(after);
  const __m512i len = _mm512_sub_epi64(end, start);
  // Each field in the top len bytes of its lane; the bytes below are 0, i.e. leading zeros (a
  // field over 8 bytes comes out 0 and is redone below).
  __m512i x;
  // The first field's start (0xFF + 1 wraps to 0 for column 0) and the last one's end.
  const auto first = static_cast<unsigned>(static_cast<uint8_t>(_mm_extract_epi8(before, 0) + 1));
  const auto last = static_cast<unsigned>(_mm_extract_epi8(after, 7));
  if (last - first <= 64) {
    // Byte j of lane i is byte end_i - 8 + j of the row, kept if j >= 8 - len_i.
    const __m512i lane_byte0 = _mm512_set_epi8(
        56, 56, 56, 56, 56, 56, 56, 56, 48, 48, 48, 48, 48, 48, 48, 48, 40, 40, 40, 40, 40, 40,
        40, 40, 32, 32, 32, 32, 32, 32, 32, 32, 24, 24, 24, 24, 24, 24, 24, 24, 16, 16, 16, 16,
        16, 16, 16, 16, 8, 8, 8, 8, 8, 8, 8, 8, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i j = _mm512_set_epi8(
        7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1,
        0, 7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2,
        1, 0);
    const __m512i base = _mm512_permutexvar_epi8(
        lane_byte0, _mm512_sub_epi64(end, _mm512_set1_epi64(8 + first)));
    const __m512i lead =
        _mm512_permutexvar_epi8(lane_byte0, _mm512_sub_epi64(_mm512_set1_epi64(8), len));
    const __mmask64 keep = _mm512_cmpge_epu8_mask(j, lead);  // none for a long field
    x = _mm512_maskz_permutexvar_epi8(keep, _mm512_add_epi8(base, j),
                                      _mm512_loadu_si512(w + first));
  } else {
    x = _mm512_sllv_epi64(_mm512_i64gather_epi64(start, w, 1),
                          _mm512_slli_epi64(_mm512_sub_epi64(_mm512_set1_epi64(8), len), 3));
  }
  const __m512i dot = _mm512_movm_epi8(_mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('.')));
  const __mmask8 dotted = _mm512_test_epi64_mask(dot, dot);
  const __m512i upto = _mm512_maskz_or_epi64(
      dotted, _mm512_xor_si512(dot, _mm512_sub_epi64(dot, _mm512_set1_epi64(1))), dot);
  const __m512i y = _mm512_or_si512(_mm512_andnot_si512(upto, x),
                                    _mm512_and_si512(_mm512_slli_epi64(x, 8), upto));
  const __m512i digits = _mm512_and_si512(y, _mm512_set1_epi8(0x0F));
  const __m512i pairs = _mm512_maddubs_epi16(digits, _mm512_set1_epi16(0x010A));  // 10, 1
  const __m512i fours = _mm512_madd_epi16(pairs, _mm512_set1_epi32(0x00010064));  // 100, 1
  const __m512i m = _mm512_add_epi64(_mm512_mul_epu32(fours, _mm512_set1_epi64(10000)),
                                     _mm512_srli_epi64(fours, 32));  // < 10^8
  __m256 value = _mm512_cvtepi64_ps(m);
  if (dotted) {
    const __m512i frac = _mm512_maskz_mov_epi64(
        dotted,
        _mm512_sad_epu8(_mm512_andnot_si512(upto, _mm512_set1_epi8(1)), _mm512_setzero_si512()));
    const __mmask8 rate = _mm512_mask_cmpeq_epu64_mask(dotted, frac, _mm512_set1_epi64(2)) &
                          _mm512_cmplt_epu64_mask(m, _mm512_set1_epi64(kHundredths));
    if ((dotted & ~rate) == 0) {
      value = _mm256_mask_blend_ps(
          rate, value,
          _mm512_cvtpd_ps(_mm512_mul_pd(_mm512_cvtepi64_pd(m), _mm512_set1_pd(0.01))));
    } else {
      value = _mm512_cvtpd_ps(
          _mm512_div_pd(_mm512_cvtepi64_pd(m), _mm512_i64gather_pd(frac, kPow10, 8)));
    }
  }
  if (at != 0) {
    // The masked lanes alone are written: none past the row's last column.
    _mm512_mask_storeu_ps(out.data() + columns[0], at,
                          _mm512_maskz_expand_ps(at, _mm512_castps256_ps512(value)));
  } else {
    alignas(32) float v[8];
    _mm256_store_ps(v, value);
    for (int i = 0; i < 8; ++i) out[columns[i]] = v[i];
  }
  const __mmask8 long_fields = _mm512_cmpgt_epu64_mask(len, _mm512_set1_epi64(8));
  if (long_fields) {  // rare: over 8 bytes, one by one
    alignas(64) uint64_t starts[8], lens[8];
    _mm512_store_si512(starts, start);
    _mm512_store_si512(lens, len);
    for (int i = 0; i < 8; ++i)
      if (long_fields >> i & 1)
        out[columns[i]] = long_number(w + starts[i], static_cast<unsigned>(lens[i]));
  }
}

// The AVX-512 kernel's conversions, eight columns at a time.
// REQUIRES: count is a multiple of 8.
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512vbmi2,bmi,popcnt"),
               noinline)) void
convert_avx512(const char* w, const LineIndex& ix, const uint8_t* columns, const uint16_t* at,
               size_t count, FeatureRow& out) {
  const __m512i bounds = _mm512_load_si512(ix.bounds);
  for (size_t k = 0; k < count; k += 8) convert8(w, bounds, columns + k, at[k / 8], out);
}

#pragma GCC diagnostic pop

struct FastTables {
  NameTable protocols{feature_info(kProtocolType).vocabulary};
  NameTable services{feature_info(kService).vocabulary};
  NameTable flags{feature_info(kFlag).vocabulary};
  NameTable labels{label_names()};
};

const FastTables& fast_tables() {
  static const FastTables tables;
  return tables;
}

struct FastOptions {
  ParserKernel kernel;
  const uint8_t* columns;  // the numeric columns to convert, in order, then repeats of the last
  const uint16_t* at;      // per group of 8 columns: convert8's `at`
  size_t column_count;     // a multiple of 4 for AVX2, of 8 for AVX-512
  bool require_label;
  bool check_label;
};

// Checks an indexed row and converts it. kNo: the fast path does not accept the row
// (malformed, or unusual: a field over 19 bytes, a name over 16); the reference decides.
__attribute__((target("avx2,bmi,popcnt"))) Fast check_row(const char* w, const LineIndex& ix,
                                                          const FastTables& t,
                                                          const FastOptions& o, FeatureRow& out,
                                                          int* label) {
  const uint8_t* const pos = ix.bounds + 1;  // pos[k]: comma k
  const unsigned n = ix.n;
  const unsigned first = pos[0];                         // end of column 0
  const unsigned cat_end = pos[kFlag];                   // the comma after the categories
  const unsigned features_end = pos[kFeatureCount - 1];  // a comma, or the row's end

  // At most 19 bytes in each numeric field (a longer one, rare, goes to the reference, which
  // takes up to 19 digits and a dot): the distances between commas 3 to 40, in two overlapping
  // runs of 32.
  {
    const __m256i limit = _mm256_set1_epi8(20);
    const __m256i over =
        _mm256_or_si256(gaps_over(pos + 4, limit), gaps_over(pos + 9, limit));  // commas 4..40
    if (!_mm256_testz_si256(over, over) || first > 19) return Fast::kNo;
  }

  // The numeric columns (0, and 4 to 40), a word at a time: only digits, dots and commas;
  // every field starts and ends with a digit (so none is empty, and no '.' comes first or
  // last); at most one '.' per field. For the last: add 1 just after each dot and let the
  // carry run over the bytes that are neither dot nor comma; it stops at the next dot or
  // comma and sets that bit. A set bit on a dot: two dots without a comma between them.
  // The difficulty: 1 to 9 digits.
  const unsigned difficulty = ix.commas == kFeatureCount + 1 ? pos[kFeatureCount] + 1 : n;
  if (n - difficulty > 9 || (ix.commas == kFeatureCount + 1 && difficulty == n))
    return Fast::kNo;
  uint64_t bad = 0;
  uint64_t comma_carry = 0, not_digit_carry = 1, dot_carry = 0;
  bool add_carry = false;
  for (unsigned i = 0; i < ix.words; ++i) {
    const uint64_t dig = ix.digit[i];
    const uint64_t dot = ix.dot[i];
    const uint64_t c = ix.comma[i];
    const uint64_t numbers = below(first, i) | (below(features_end, i) & ~below(cat_end + 1, i));
    bad |= numbers & ~(dig | dot | c);
    // Field starts: byte 0, and after commas 3 to 39.
    const uint64_t starters = c & below(features_end, i) & ~below(cat_end, i);
    const uint64_t starts = starters << 1 | comma_carry | (i == 0 ? 1 : 0);
    comma_carry = starters >> 63;
    bad |= starts & ~dig;
    // Field ends: before comma 0, commas 4 to 39, and the end of the features.
    const uint64_t enders = (c & below(features_end, i) & ~below(cat_end + 1, i)) |
                            bit_at(first, i) | bit_at(features_end, i);
    const uint64_t not_digit_before = ~dig << 1 | not_digit_carry;
    not_digit_carry = ~dig >> 63;
    bad |= enders & not_digit_before;
    // One dot per field.
    const uint64_t dots = dot & numbers;
    const uint64_t stops = c | dots | bit_at(features_end, i);
    const uint64_t after_dot = dots << 1 | dot_carry;
    dot_carry = dots >> 63;
    unsigned long long sum;
    const bool c1 = __builtin_uaddll_overflow(after_dot, ~stops, &sum);
    const bool c2 = __builtin_uaddll_overflow(sum, add_carry ? 1 : 0, &sum);
    add_carry = c1 || c2;
    bad |= sum & dots;
    bad |= below(n, i) & ~below(difficulty, i) & ~dig;
  }
  if (bad) return Fast::kNo;

  const unsigned s1 = first + 1, s2 = pos[kService - 1] + 1u, s3 = pos[kFlag - 1] + 1u;
  const int protocol = t.protocols.find_padded(w + s1, s2 - 1 - s1);
  const int service = t.services.find_padded(w + s2, s3 - 1 - s2);
  const int flag = t.flags.find_padded(w + s3, cat_end - s3);
  if ((protocol | service | flag) < 0) return Fast::kNo;
  out[kProtocolType] = static_cast<float>(protocol);
  out[kService] = static_cast<float>(service);
  out[kFlag] = static_cast<float>(flag);
  int label_value = -1;
  if (ix.commas == kFeatureCount - 1) {
    if (o.require_label) return Fast::kNo;
  } else if (o.check_label) {
    const unsigned s = features_end + 1;
    unsigned e = pos[kFeatureCount];
    if (e != s && w[e - 1] == '.') --e;  // KDD'99 writes "smurf."
    label_value = t.labels.find_padded(w + s, e - s);
    if (label_value < 0) return Fast::kNo;
  }

  if (o.kernel == ParserKernel::kAvx512) {
    convert_avx512(w, ix, o.columns, o.at, o.column_count, out);
  } else {
    for (size_t k = 0; k < o.column_count; k += 4) convert4(w, ix.bounds, o.columns + k, out);
  }
  if (label) *label = label_value;
  return Fast::kOk;
}

ParserKernel best_kernel() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("bmi") ||
      !__builtin_cpu_supports("popcnt"))
    return ParserKernel::kScalar;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vbmi2"))
    return ParserKernel::kAvx512;
  return ParserKernel::kAvx2;
}

#else

ParserKernel best_kernel() {
  return ParserKernel::kScalar;
}

#endif  // __x86_64__

ParserKernel best_kernel_cached() {
  static const ParserKernel best = best_kernel();
  return best;
}

std::atomic<ParserKernel>& kernel_slot() {
  static std::atomic<ParserKernel> kernel{best_kernel_cached()};
  return kernel;
}

#if defined(__x86_64__)

// Parses the line at w (kWindow bytes readable) with the chosen kernel; *line_length: the
// offset of its '\n', or kFastLine when there is none in the first kFastLine bytes (then the
// answer is kNo).
inline Fast fast_path(const char* w, const FastOptions& o, FeatureRow& out, int* label,
                      unsigned* line_length) {
  LineIndex ix;
  const Fast r = o.kernel == ParserKernel::kAvx512 ? index_avx512(w, ix) : index_avx2(w, ix);
  *line_length = ix.length;
  if (r != Fast::kOk) return r;
  return check_row(w, ix, fast_tables(), o, out, label);
}

#endif  // __x86_64__

}  // namespace

const char* describe(RowStatus s) {
  switch (s) {
    case RowStatus::kOk:
      return "ok";
    case RowStatus::kBlank:
      return "blank line";
    case RowStatus::kTooFewColumns:
      return "too few columns (41 features, then label and difficulty)";
    case RowStatus::kTooManyColumns:
      return "too many columns (41 features, then label and difficulty)";
    case RowStatus::kBadNumber:
      return "not a number";
    case RowStatus::kUnknownCategory:
      return "unknown category value";
    case RowStatus::kMissingLabel:
      return "missing label";
    case RowStatus::kUnknownLabel:
      return "unknown label";
    case RowStatus::kBadDifficulty:
      return "difficulty is not a whole number";
  }
  return "unknown";
}

RowParser::RowParser(bool require_label, bool check_label, FeatureMask convert)
    : require_label_(require_label), check_label_(require_label || check_label) {
  size_t n = 0;
  for (size_t c = 0; c < kFeatureCount; ++c)
    if ((convert >> c & 1) && (c < kProtocolType || c > kFlag))
      numeric_columns_[n++] = static_cast<uint8_t>(c);
  numeric_count4_ = (n + 3) / 4 * 4;
  numeric_count8_ = (n + 7) / 8 * 8;
  for (size_t i = n; i < numeric_count8_; ++i) numeric_columns_[i] = numeric_columns_[n - 1];
  for (size_t g = 0; g < numeric_count8_ / 8; ++g) {
    const uint8_t* c = &numeric_columns_[8 * g];
    if (c[7] - c[0] >= 16) continue;
    for (int i = 0; i < 8; ++i) group_at_[g] |= static_cast<uint16_t>(1u << (c[i] - c[0]));
  }
}

RowStatus RowParser::parse_reference(const char* begin, const char* end, FeatureRow& out,
                                     int* label, RowError* err) const {
  if (end != begin && end[-1] == '\r') --end;
  if (begin == end) return RowStatus::kBlank;
  const char* p = begin;
  auto fail = [&](RowStatus s, int column, const char* from, const char* to) {
    if (err) *err = RowError{s, column, std::string_view(from, static_cast<size_t>(to - from))};
    return s;
  };

  for (size_t c = 0; c < kFeatureCount; ++c) {
    if (c > 0) {
      if (p == end) return fail(RowStatus::kTooFewColumns, static_cast<int>(c), p, p);
      ++p;  // the ','
    }
    const char* start = p;
    if (c >= kProtocolType && c <= kFlag) {
      p = field_end(p, end);
      const int index = category_table(c).find(start, static_cast<size_t>(p - start));
      if (index < 0) return fail(RowStatus::kUnknownCategory, static_cast<int>(c), start, p);
      out[c] = static_cast<float>(index);
    } else if (!parse_number(p, end, out[c])) {
      return fail(RowStatus::kBadNumber, static_cast<int>(c), start, field_end(p, end));
    }
  }

  int label_value = -1;
  if (p != end) {
    ++p;
    const char* start = p;
    p = field_end(p, end);
    if (check_label_) {
      const char* stop = p;
      if (stop != start && stop[-1] == '.') --stop;  // KDD'99 writes "smurf."
      label_value = label_table().find(start, static_cast<size_t>(stop - start));
      if (label_value < 0)
        return fail(RowStatus::kUnknownLabel, static_cast<int>(kFeatureCount), start, p);
    }
    if (p != end) {
      ++p;
      start = p;
      p = field_end(p, end);
      bool ok = p != start && p - start <= 9;
      for (const char* q = start; ok && q != p; ++q) ok = digit(*q) <= 9;
      if (!ok)
        return fail(RowStatus::kBadDifficulty, static_cast<int>(kFeatureCount + 1), start, p);
      if (p != end)
        return fail(RowStatus::kTooManyColumns, static_cast<int>(kFeatureCount + 2), p + 1, end);
    }
  } else if (require_label_) {
    return fail(RowStatus::kMissingLabel, static_cast<int>(kFeatureCount), p, p);
  }
  if (label) *label = label_value;
  return RowStatus::kOk;
}

ParserKernel parser_kernel() {
  return kernel_slot().load(std::memory_order_relaxed);
}

void set_parser_kernel(ParserKernel kernel) {
  const ParserKernel best = best_kernel_cached();
  kernel_slot().store(kernel > best ? best : kernel, std::memory_order_relaxed);
}

#if defined(__x86_64__)
// (A member, so that it sees the private columns; FastOptions is local to this file.)
struct RowParser::Options {
  static FastOptions make(const RowParser& p, ParserKernel kernel) {
    return FastOptions{kernel, p.numeric_columns_.data(), p.group_at_.data(),
                       kernel == ParserKernel::kAvx512 ? p.numeric_count8_ : p.numeric_count4_,
                       p.require_label_, p.check_label_};
  }
};
#endif

std::optional<RowStatus> RowParser::parse_fast(const char* begin, const char* end,
                                               FeatureRow& out, int* label) const {
#if defined(__x86_64__)
  const ParserKernel kernel = parser_kernel();
  const auto size = static_cast<size_t>(end - begin);
  if (size < kFastLine && kernel != ParserKernel::kScalar) {
    // The line may end anywhere in memory: the fast path reads a padded copy.
    alignas(64) char pad[kWindow] = {};
    std::memcpy(pad, begin, size);
    pad[size] = '\n';
    unsigned length;
    const Fast r = fast_path(pad, Options::make(*this, kernel), out, label, &length);
    if (length == size) {  // else a '\n' inside the line: the reference takes it as a byte
      if (r == Fast::kOk) return RowStatus::kOk;
      if (r == Fast::kBlank) return RowStatus::kBlank;
    }
  }
#else
  (void)begin, (void)end, (void)out, (void)label;
#endif
  return std::nullopt;
}

RowStatus RowParser::parse(const char* begin, const char* end, FeatureRow& out, int* label,
                           RowError* err) const {
  if (const auto fast = parse_fast(begin, end, out, label)) return *fast;
  return parse_reference(begin, end, out, label, err);
}

RowStatus RowParser::parse_line(const char* begin, const char* limit, const char** line_end,
                                FeatureRow& out, int* label, RowError* err) const {
  const auto avail = static_cast<size_t>(limit - begin);
#if defined(__x86_64__)
  const ParserKernel kernel = parser_kernel();
  if (kernel != ParserKernel::kScalar) {
    alignas(64) char pad[kWindow];
    const char* w = begin;
    if (avail < kWindow) {  // near the end of the bytes: read a padded copy
      std::memset(pad, 0, sizeof pad);
      const size_t n = std::min<size_t>(avail, kFastLine);
      std::memcpy(pad, begin, n);
      if (n < kFastLine) pad[n] = '\n';
      w = pad;
    }
    unsigned length;
    const Fast r = fast_path(w, Options::make(*this, kernel), out, label, &length);
    if (length < kFastLine) {
      *line_end = begin + length;
      if (r == Fast::kOk) return RowStatus::kOk;
      if (r == Fast::kBlank) return RowStatus::kBlank;
    } else {
      const void* nl = std::memchr(begin + kFastLine, '\n', avail - kFastLine);
      *line_end = nl ? static_cast<const char*>(nl) : limit;
    }
    return parse_reference(begin, *line_end, out, label, err);
  }
#endif
  const void* nl = std::memchr(begin, '\n', avail);
  *line_end = nl ? static_cast<const char*>(nl) : limit;
  return parse_reference(begin, *line_end, out, label, err);
}

}  // namespace netpulse::detect
